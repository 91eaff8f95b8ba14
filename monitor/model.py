"""Canonical model: the one picture of a service hall that sources, rules and exporters share.

Every vendor schema is mapped onto these records (pydantic dataclasses) at the source;
rules read them and produce :class:`Finding` objects. Times are always timezone-aware
(sources attach the hall's zone, Asia/Shanghai by default, to naive values), money is
integer fen, and limits are whole working days.

Applicants appear only as ``applicant_key``: a keyed hash of the ID number (see
:mod:`monitor.privacy`), so that the same person can be matched across cases while the
name and the ID number are never stored, logged or exported.
"""

from __future__ import annotations

import datetime as dt
import enum
import operator
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.fields import FieldInfo
from pydantic_core import SchemaSerializer, SchemaValidator


def _require_aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return value


AwareDatetime = Annotated[dt.datetime, AfterValidator(_require_aware)]
# The longest statutory limits in the catalogues are a few hundred working days.
WorkingDays = Annotated[int, Field(ge=0, le=1000)]
Fen = Annotated[int, Field(ge=0)]


Code = Annotated[str, AfterValidator(sys.intern)]
"""A short code that many records repeat: a center, department, window, service or item
code, a ticket number, an account, a step name, a suspension kind, a rule name.

Interned as it is validated (mapped from a row, or decoded from the state store at
start), so that a million records share one copy of ``"C01"`` instead of each holding
its own (49 bytes or more apiece). Identities — record ids, applicant keys — are not
codes: they rarely repeat, and interning them would only grow the interpreter's table.
"""


class Record:
    """Base of the canonical records: slotted, frozen pydantic dataclasses (see :func:`record`).

    A pydantic ``BaseModel`` keeps each instance's values in a ``__dict__`` of its own
    (with a set of the fields given beside it): some 550 bytes for a ticket, four times
    its values' share of the record. A province's hall holds millions of records, so
    they are dataclasses with ``__slots__`` (about 140 bytes for a ticket), still
    validated by pydantic when built. This base gives them the few ``BaseModel`` methods
    the project uses, with the same meaning: :meth:`model_copy` does not validate (it
    is how the engine and the tests derive a record from another), dumps and
    validation go through the class's own pydantic serializer and validator.
    """

    __slots__ = ()
    __pydantic_fields__: ClassVar[dict[str, FieldInfo]]
    __pydantic_validator__: ClassVar[SchemaValidator]
    __pydantic_serializer__: ClassVar[SchemaSerializer]

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        return cls.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> Self:
        return cls.__pydantic_validator__.validate_json(data)  # type: ignore[no-any-return]

    def model_dump(self, *, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        return self.__pydantic_serializer__.to_python(self, mode=mode)  # type: ignore[no-any-return]

    def model_dump_json(self) -> str:
        return self.__pydantic_serializer__.to_json(self).decode()

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        """A shallow copy with ``update``'s values instead, not validated (as pydantic's)."""
        layout = _LAYOUTS[type(self)]
        values = list(layout.values_of(self))
        for name, value in (update or {}).items():
            at = layout.index.get(name)
            if at is None:
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            values[at] = value
        copied = object.__new__(type(self))
        for slot, value in zip(layout.slots, values, strict=True):
            slot.__set__(copied, value)  # past the frozen __setattr__, as __init__ does
        return copied


class _Layout(NamedTuple):
    """A record class's fields, for :meth:`Record.model_copy`."""

    values_of: Callable[[Any], tuple[Any, ...]]  # every field's value, in order
    index: dict[str, int]
    slots: tuple[Any, ...]  # the class's slot descriptors, in the same order


_LAYOUTS: dict[type, _Layout] = {}

_T = TypeVar("_T", bound=type[Record])
_RECORD = ConfigDict(extra="forbid")


def record(cls: _T) -> _T:
    """Make ``cls`` a canonical record: a frozen pydantic dataclass with slots, built by
    keyword only (fields keep their declared order), extra fields refused."""
    made = pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=_RECORD)(cls)
    names = tuple(made.__pydantic_fields__)
    _LAYOUTS[made] = _Layout(
        operator.attrgetter(*names) if len(names) > 1 else lambda r: (getattr(r, names[0]),),
        {name: at for at, name in enumerate(names)},
        tuple(made.__dict__[name] for name in names),
    )
    return made  # type: ignore[no-any-return]


@record
class Center(Record):
    """A service center (政务服务中心)."""

    code: Code
    name: str = ""


@record
class Department(Record):
    """A window unit (窗口单位): public security, market regulation, …"""

    code: Code
    name: str = ""
    center: Code | None = None


@record
class Window(Record):
    """A service window (窗口) of a department in a center."""

    code: Code
    name: str = ""
    center: Code | None = None
    department: Code | None = None


class ItemKind(enum.StrEnum):
    """办件类型 (GB/T 39046: 1 即办件, 2 承诺件)."""

    IMMEDIATE = "immediate"  # 即办件: concluded on the day of acceptance
    PROMISED = "promised"  # 承诺件: concluded within the promised limit


@record
class Item(Record):
    """A catalogued service item (事项) with its time limits and fee standard."""

    code: Code
    name: str = ""
    department: Code | None = None
    kind: ItemKind = ItemKind.PROMISED
    statutory_limit_days: WorkingDays  # 法定时限
    promised_limit_days: WorkingDays  # 承诺时限
    fee_standard_fen: Fen = 0  # 收费标准
    fee_abolished_on: dt.date | None = None  # 取消收费日期
    # Longest allowed suspension per special procedure type (补正, 专家评审, …), in
    # working days; the key "*" applies to every type without its own entry.
    max_suspension_days: dict[str, WorkingDays] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _promise_within_law(self) -> Item:
        if self.promised_limit_days > self.statutory_limit_days:
            raise ValueError(
                f"promised limit {self.promised_limit_days} exceeds statutory limit "
                f"{self.statutory_limit_days}"
            )
        return self

    def max_suspension_for(self, procedure: str) -> int | None:
        return self.max_suspension_days.get(procedure, self.max_suspension_days.get("*"))


class CaseResult(enum.StrEnum):
    """How a case ended (办结结果), normalised from vendor codes such as BJJGDM."""

    APPROVED = "approved"  # 准予 / 出证办结 / 办结
    DENIED = "denied"  # 不予许可: a decision, so it can be late
    FORWARDED = "forwarded"  # 转报: decided here, forwarded upwards
    RETURNED = "returned"  # 退回
    WITHDRAWN = "withdrawn"  # 撤回 by the applicant
    REFUSED = "refused"  # 不予受理 / 补正超时驳回: application refused, no decision owed
    VOID = "void"  # 作废 / 删除

    @property
    def stops_clock_without_decision(self) -> bool:
        """Withdrawn, refused, returned and void cases end the clock and are never late."""
        return self in _CLOCK_STOPPERS


_CLOCK_STOPPERS = frozenset(
    {CaseResult.RETURNED, CaseResult.WITHDRAWN, CaseResult.REFUSED, CaseResult.VOID}
)


@record
class Step(Record):
    """One handling step (环节: 承办, 审核, 批准) with its own limit."""

    seq: int
    name: Code = ""
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    limit_days: WorkingDays | None = None


@record
class Suspension(Record):
    """A special procedure (特别程序) that stops the clock (行政许可法 art. 45)."""

    seq: int
    kind: Code  # 种类: 补正, 听证, 检验, 检测, 专家评审, …
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None  # None: still suspended


@record
class Case(Record):
    """An application case (办件) as registered in the approval system."""

    id: str  # 办件编号 / 申办流水号 (SBLSH)
    item: Code  # item code (事项编码)
    center: Code | None = None
    department: Code | None = None
    window: Code | None = None
    applicant_key: str | None = None  # keyed hash; never a name or an ID number
    received_at: AwareDatetime | None = None  # 申报时间 (SBSJ)
    accepted_at: AwareDatetime  # 受理时间 (SLSJ)
    promised_due_at: AwareDatetime | None = None  # 承诺办结时间 when the source has one
    concluded_at: AwareDatetime | None = None  # 办结时间 (BJSJ)
    result: CaseResult | None = None
    recorded_at: AwareDatetime | None = None  # when the row was typed into the system
    fee_due_fen: Fen = 0
    payment_reference: str | None = None  # 缴款码 / 缴款单号 issued for the fee
    steps: tuple[Step, ...] = ()
    suspensions: tuple[Suspension, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        if self.concluded_at is not None and self.concluded_at < self.accepted_at:
            raise ValueError("concluded before it was accepted")
        if self.result is not None and self.concluded_at is None:
            raise ValueError("has a result but no conclusion time")
        return self

    @property
    def is_open(self) -> bool:
        return self.concluded_at is None


class TicketStatus(enum.StrEnum):
    """What became of a queue ticket (排队叫号)."""

    WAITING = "waiting"  # issued, not yet called
    CALLED = "called"  # called to a window, being served
    SERVED = "served"  # service finished at the window
    ABSENT = "absent"  # called, applicant did not come (过号)
    CANCELLED = "cancelled"  # withdrawn before being called


@record
class Ticket(Record):
    """A queue ticket from the window system: who was served where and when."""

    id: str  # the queue system's unique serial (ticket numbers repeat every day)
    number: Code = ""  # 票号 as printed, e.g. A012
    center: Code | None = None
    department: Code | None = None
    window: Code | None = None
    service: Code | None = None  # service/item code chosen at the kiosk, when known
    applicant_key: str | None = None  # when the kiosk swiped an ID card; keyed hash
    issued_at: AwareDatetime
    called_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    status: TicketStatus = TicketStatus.WAITING
    consultation: bool = False  # 咨询 only: no case is expected


@record
class Evaluation(Record):
    """A rating from the evaluator (评价器, 好差评).

    ``level`` follows GB/T 39046 A.8: 1 非常满意, 2 满意, 3 基本满意, 4 不满意,
    5 非常不满意. ``followed_up_at`` is when the follow-up (回访/整改反馈) of a bad
    rating was recorded.
    """

    id: str
    center: Code | None = None
    department: Code | None = None
    window: Code | None = None
    staff_id: Code | None = None
    case_id: str | None = None
    rated_at: AwareDatetime
    level: Annotated[int, Field(ge=1, le=5)]
    comment: str = ""  # free text from the applicant: never logged or exported as a label
    followed_up_at: AwareDatetime | None = None

    @property
    def is_bad(self) -> bool:
        return self.level >= 4


@record
class Payment(Record):
    """One line of the fee account's bank statement (or the finance system's 缴款 record).

    ``amount_fen`` is positive for a deposit into ``account`` and negative for money
    leaving it (a refund or a reversal).
    """

    id: str  # bank transaction id (交易流水号)
    account: Code  # receiving account number (收款账号)
    amount_fen: int
    paid_at: AwareDatetime
    reference: str | None = None  # 缴款码 / 缴款单号
    payer_key: str | None = None  # keyed hash of the payer's ID number or name
    case_id: str | None = None  # when the bank or finance system links the case
    center: Code | None = None

    @property
    def is_deposit(self) -> bool:
        return self.amount_fen > 0


class Severity(enum.StrEnum):
    YELLOW = "yellow"  # 黄牌预警
    RED = "red"  # 红牌


@record
class Finding(Record):
    """One supervision finding: what rule fired on what subject, with its evidence."""

    rule: Code
    severity: Severity
    subject_kind: Code  # case, step, suspension, ticket, payment, …
    subject_id: str
    case_id: str | None = None
    center: Code | None = None
    department: Code | None = None
    window: Code | None = None
    item: Code | None = None
    due_at: AwareDatetime | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    calendar_confirmed: bool = True
    calendar_version: Code = ""

    @property
    def fingerprint(self) -> str:
        """Stable identity across evaluations: rule + subject (the subject id carries the phase).

        Interned: the ledger, its memory and the figures keep an open finding's
        fingerprint in several places (four at first, made by as many calls), one string
        serves them all."""
        return sys.intern(f"{self.rule}|{self.subject_kind}|{self.subject_id}")


class Snapshot(BaseModel):
    """Everything the rules see at one evaluation: the latest version of each entity."""

    model_config = ConfigDict(extra="forbid")

    items: dict[str, Item] = Field(default_factory=dict)
    cases: dict[str, Case] = Field(default_factory=dict)
    tickets: dict[str, Ticket] = Field(default_factory=dict)
    evaluations: dict[str, Evaluation] = Field(default_factory=dict)
    payments: dict[str, Payment] = Field(default_factory=dict)
    # Which entities some configured source delivers (None: not said; then an entity
    # counts as delivered when any record of it is present). A hall whose bank source
    # has delivered no payment yet is still watched for unpaid fees.
    delivered: frozenset[str] | None = None

    def watches(self, entity: str) -> bool:
        if self.delivered is not None:
            return entity in self.delivered
        return bool(getattr(self, entity))
