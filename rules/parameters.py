"""Rule parameters: thresholds and grace periods with defaults, overridable per item or department.

Resolution order for every parameter: the item's override, then its department's
override, then the global value. The configuration's ``rules:`` section is this model:
the overdue family's values at the top level (for compatibility), every other family in
its own section (``offsystem:``, ``fees:``, ``evaluation:``) with its own ``overrides``.
Every default gives a working system with no configuration at all.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable
from typing import Annotated, Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OverdueOverride(_Strict):
    """Per-item or per-department values; unset fields fall through to the next level."""

    due_soon_days: Annotated[int, Field(ge=0)] | None = None
    due_soon_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    due_soon_min_days: Annotated[int, Field(ge=0)] | None = None
    warn_immediate: bool | None = None


class Overrides(_Strict):
    items: dict[str, OverdueOverride] = Field(default_factory=dict)
    departments: dict[str, OverdueOverride] = Field(default_factory=dict)


NonNegative = Annotated[int, Field(ge=0)]
Code = Annotated[str, Field(min_length=1)]


def _resolve(family: Any, field: str, item: str | None, department: str | None) -> Any:
    """A family parameter's value: the item's override, the department's, or the global one."""
    overrides = family.overrides
    if not overrides.items and not overrides.departments:
        return getattr(family, field)
    levels = (
        overrides.items.get(item) if item is not None else None,
        overrides.departments.get(department) if department is not None else None,
    )
    for level in levels:
        if level is not None:
            value = getattr(level, field)
            if value is not None:
                return value
    return getattr(family, field)


Place = tuple[str | None, str | None]  # (item, department)
_V = TypeVar("_V")


class ByPlace(dict[Place, _V], Generic[_V]):
    """A family's values resolved for each (item, department), each place once, looked up
    like a dict: ``places[(item, department)]``. A pass over a million cases meets a few
    hundred places; it holds this and looks each case's up without a call. The models
    are frozen, so what is resolved stays true.

    A cache, not a value: any two compare equal, so that what has been looked up never
    decides whether two parameter sets are the same."""

    def __init__(
        self, resolve: Callable[[Any, str | None, str | None], _V], family: Any = None
    ) -> None:
        super().__init__()
        self.resolve = resolve
        self.family = family  # whose values: set by of()

    def __missing__(self, place: Place) -> _V:
        value = self[place] = self.resolve(self.family, *place)
        return value

    @staticmethod
    def of(family: Any) -> ByPlace[Any]:
        """``family``'s own (its ``_places`` private attribute), bound on first use — a
        copy of the family (which copies the private attributes) gets its own then."""
        private = family.__pydantic_private__
        places: ByPlace[Any] = private["_places"]
        if places.family is not family:
            places = private["_places"] = ByPlace(places.resolve, family)
        return places

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByPlace)

    def __ne__(self, other: object) -> bool:
        return not isinstance(other, ByPlace)

    __hash__ = None  # type: ignore[assignment]


# -- off-system handling (体外循环) ------------------------------------------------------


class OffsystemOverride(_Strict):
    """Per-item or per-department off-system values; unset fields fall through."""

    ticket_grace_minutes: NonNegative | None = None
    backfill_hours: NonNegative | None = None
    instant_conclusion_seconds: NonNegative | None = None
    double_acceptance: bool | None = None


class OffsystemOverrides(_Strict):
    items: dict[str, OffsystemOverride] = Field(default_factory=dict)
    departments: dict[str, OffsystemOverride] = Field(default_factory=dict)


class OffsystemPlace(NamedTuple):
    """The off-system limits of one (item, department) (:attr:`OffsystemParameters.places`)."""

    ticket_grace: dt.timedelta
    backfill_threshold: dt.timedelta
    instant_conclusion: dt.timedelta


class OffsystemParameters(_Strict):
    """Grace periods and thresholds of the off-system family (rules/offsystem.py)."""

    # Ticket service codes that are consultation only (咨询): no case is expected.
    consultation_services: list[Code] = Field(default_factory=list)
    # A served ticket must have its case accepted by finished_at + this.
    ticket_grace_minutes: NonNegative = 30
    # A deposit must have its case registered by the end of the Nth working day after
    # the payment date (bank statements arrive T+1; cases are sometimes registered late).
    payment_grace_working_days: NonNegative = 3
    # A case typed in more than this after its acceptance time is backfilled (补录).
    backfill_hours: NonNegative = 24
    # A promised item (承诺件) accepted and concluded less than this apart (0 disables).
    instant_conclusion_seconds: NonNegative = 60
    # Burst: at least burst_min_cases backdated cases of one window typed in within
    # burst_span_minutes, accepted on at least burst_min_days different earlier days.
    burst_min_cases: Annotated[int, Field(ge=2)] = 5
    burst_span_minutes: NonNegative = 10
    burst_min_days: Annotated[int, Field(ge=1)] = 2
    # Items handled per object (per vehicle, per shop) are legitimately applied for
    # several times at once by one applicant: switch the check off for them.
    double_acceptance: bool = True
    overrides: OffsystemOverrides = Field(default_factory=OffsystemOverrides)

    _places: ByPlace[OffsystemPlace] = PrivateAttr(
        default_factory=lambda: ByPlace(OffsystemParameters._place)
    )

    def _place(self, item: str | None, department: str | None) -> OffsystemPlace:
        return OffsystemPlace(
            self.ticket_grace(item, department),
            self.backfill_threshold(item, department),
            self.instant_conclusion(item, department),
        )

    @property
    def places(self) -> ByPlace[OffsystemPlace]:
        """Each (item, department)'s limits, resolved once (see :class:`ByPlace`)."""
        return ByPlace.of(self)

    def ticket_grace(self, item: str | None, department: str | None) -> dt.timedelta:
        return dt.timedelta(minutes=_resolve(self, "ticket_grace_minutes", item, department))

    def backfill_threshold(self, item: str | None, department: str | None) -> dt.timedelta:
        return dt.timedelta(hours=_resolve(self, "backfill_hours", item, department))

    def instant_conclusion(self, item: str | None, department: str | None) -> dt.timedelta:
        seconds = _resolve(self, "instant_conclusion_seconds", item, department)
        return dt.timedelta(seconds=seconds)

    def checks_double_acceptance(self, item: str | None, department: str | None) -> bool:
        return bool(_resolve(self, "double_acceptance", item, department))


# -- fees (收费) --------------------------------------------------------------------------


class FeePayableAt(enum.StrEnum):
    """When an item's fee falls due, i.e. where the deposit's grace period starts."""

    ACCEPTANCE = "acceptance"  # 受理时缴费: the 缴款码 is issued with the acceptance
    CONCLUSION = "conclusion"  # 办结/领证时缴费: paid when the decision is handed over


class FeeOverride(_Strict):
    """Per-item or per-department fee values; unset fields fall through."""

    grace_working_days: NonNegative | None = None
    payable_at: FeePayableAt | None = None
    flag_below_standard: bool | None = None


class FeeOverrides(_Strict):
    items: dict[str, FeeOverride] = Field(default_factory=dict)
    departments: dict[str, FeeOverride] = Field(default_factory=dict)


def normalise_account(account: str) -> str:
    """Bank account numbers compare without the spaces statements print in groups of four."""
    return "".join(account.split())


ALL_CENTERS = "*"


class FeePlace(NamedTuple):
    """The fee values of one (item, department) (:attr:`FeeParameters.places`)."""

    grace: int  # working days
    payable: FeePayableAt
    flags_below_standard: bool


class FeeParameters(_Strict):
    """The designated accounts (收费专户) and the grace periods of the fee family."""

    # Center code -> its designated account numbers; "*" lists accounts of every center.
    # Empty (the default): every account in the polled statements is taken as designated
    # (they are the 收费专户's own statements); list them to catch money landing elsewhere.
    designated_accounts: dict[Code, list[Code]] = Field(default_factory=dict)
    # The deposit must be on the statement by the end of the Nth working day after the
    # day the fee fell due (acceptance or conclusion, see payable_at).
    grace_working_days: NonNegative = 3
    payable_at: FeePayableAt = FeePayableAt.ACCEPTANCE
    # A fee due below the item's standard (reductions, 减免) is reported too, unless off.
    flag_below_standard: bool = True
    overrides: FeeOverrides = Field(default_factory=FeeOverrides)

    _by_center: dict[str, frozenset[str]] = PrivateAttr(default_factory=dict)
    _owner: dict[str, str] = PrivateAttr(default_factory=dict)
    _configured: bool = PrivateAttr(default=False)
    _places: ByPlace[FeePlace] = PrivateAttr(default_factory=lambda: ByPlace(FeeParameters._place))

    @field_validator("designated_accounts")
    @classmethod
    def _accounts_not_blank(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for center, accounts in value.items():
            if any(not normalise_account(a) for a in accounts):
                raise ValueError(f"blank account number for center {center!r}")
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._by_center = {
            center: frozenset(normalise_account(a) for a in accounts)
            for center, accounts in self.designated_accounts.items()
        }
        owners: dict[str, set[str]] = {}
        for center, accounts in self._by_center.items():
            if center != ALL_CENTERS:
                for account in accounts:
                    owners.setdefault(account, set()).add(center)
        self._owner = {a: next(iter(c)) for a, c in owners.items() if len(c) == 1}
        self._configured = any(self._by_center.values())

    def _place(self, item: str | None, department: str | None) -> FeePlace:
        return FeePlace(
            self.grace(item, department),
            self.payable(item, department),
            self.flags_below_standard(item, department),
        )

    @property
    def places(self) -> ByPlace[FeePlace]:
        """Each (item, department)'s fee values, resolved once (see :class:`ByPlace`)."""
        return ByPlace.of(self)

    def _private(self) -> dict[str, Any]:
        """The private attributes, read directly: pydantic's attribute access to them costs
        microseconds, and the fee rules ask for every case of the hall."""
        return self.__pydantic_private__  # type: ignore[return-value]

    @property
    def accounts_configured(self) -> bool:
        return bool(self._private()["_configured"])

    def is_designated(self, account: str, center: str | None) -> bool:
        """Whether ``account`` is a designated account of ``center`` (of any, when unknown)."""
        private = self._private()
        if not private["_configured"]:
            return True
        by_center: dict[str, frozenset[str]] = private["_by_center"]
        account = normalise_account(account)
        if account in by_center.get(ALL_CENTERS, frozenset()):
            return True
        if center is None:
            return any(account in accounts for accounts in by_center.values())
        return account in by_center.get(center, frozenset())

    def center_of_account(self, account: str) -> str | None:
        """The one center whose designated list holds ``account``, if exactly one does."""
        owner: dict[str, str] = self._private()["_owner"]
        return owner.get(normalise_account(account))

    def grace(self, item: str | None, department: str | None) -> int:
        return int(_resolve(self, "grace_working_days", item, department))

    def payable(self, item: str | None, department: str | None) -> FeePayableAt:
        return FeePayableAt(_resolve(self, "payable_at", item, department))

    def flags_below_standard(self, item: str | None, department: str | None) -> bool:
        return bool(_resolve(self, "flag_below_standard", item, department))


# -- evaluations (好差评) ------------------------------------------------------------------


class EvaluationOverride(_Strict):
    followup_working_days: NonNegative | None = None


class EvaluationOverrides(_Strict):
    items: dict[str, EvaluationOverride] = Field(default_factory=dict)
    departments: dict[str, EvaluationOverride] = Field(default_factory=dict)


class EvaluationParameters(_Strict):
    """The follow-up limit of a bad rating (差评整改), 15 working days by 国办发〔2019〕51号."""

    followup_working_days: NonNegative = 15
    overrides: EvaluationOverrides = Field(default_factory=EvaluationOverrides)

    def followup_days(self, item: str | None, department: str | None) -> int:
        return int(_resolve(self, "followup_working_days", item, department))


# -- the rules: section ------------------------------------------------------------------


class RuleParameters(_Strict):
    """The ``rules:`` section: the overdue family's values, then one section per family."""

    # Yellow card when remaining working days <= max(min_days, ceil(ratio * limit)),
    # unless a fixed number of days is set for the item or department.
    due_soon_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2
    due_soon_min_days: Annotated[int, Field(ge=0)] = 1
    due_soon_days: Annotated[int, Field(ge=0)] | None = None
    # Immediate items (即办件) are due the same day; warning on every one of them while
    # it is being served is noise, so by default they only get the red card.
    warn_immediate: bool = False
    overrides: Overrides = Field(default_factory=Overrides)
    offsystem: OffsystemParameters = Field(default_factory=OffsystemParameters)
    fees: FeeParameters = Field(default_factory=FeeParameters)
    evaluation: EvaluationParameters = Field(default_factory=EvaluationParameters)

    def _levels(self, item: str, department: str | None) -> list[OverdueOverride]:
        if not self.overrides.items and not self.overrides.departments:
            return []
        levels = [self.overrides.items.get(item)]
        if department is not None:
            levels.append(self.overrides.departments.get(department))
        return [level for level in levels if level is not None]

    def _resolve(self, field: str, item: str, department: str | None) -> Any:
        for override in self._levels(item, department):
            value = getattr(override, field)
            if value is not None:
                return value
        return getattr(self, field)

    def due_soon_threshold(self, item: str, department: str | None, limit_days: int) -> int:
        """Remaining working days at or below which a case gets the yellow card.

        The most specific level that says anything about the threshold decides: an item
        with its own ratio is not overruled by a fixed number of days for its department.
        """
        for override in self._levels(item, department):
            if override.due_soon_days is not None:
                return override.due_soon_days
            if override.due_soon_ratio is not None or override.due_soon_min_days is not None:
                break
        else:
            if self.due_soon_days is not None:
                return self.due_soon_days
        ratio = self._resolve("due_soon_ratio", item, department)
        minimum = self._resolve("due_soon_min_days", item, department)
        # round() first so that 0.14 * 50 is 7, not 7.000000000000001 -> 8.
        return max(int(minimum), math.ceil(round(float(ratio) * limit_days, 9)))

    def warns_immediate(self, item: str, department: str | None) -> bool:
        return bool(self._resolve("warn_immediate", item, department))
