"""Pre-selection: the cases the overdue rules need not see, because they provably say nothing.

Judging a hall again from scratch (a restart, a new calendar, ``scan``) calls the overdue
rules for every case, yet most open cases are quiet: far from their promise, no yellow
card, no red one. This module finds those cases over arrays (NumPy), so that the engine
asks the rules only about the others. It never decides that a case *has* a finding; it
only proves, for a simple kind of case, that :func:`rules.overdue.case_cards`,
``step_cards`` and ``suspension_cards`` would all return nothing at the instant, and
when that could change (what :func:`monitor.engine.next_boundary` says).

A case is considered only when its deadlines are the plain ones of DESIGN.md §1: no steps,
no suspensions (so no extension and no pause), in the approval system at the instant
(:func:`rules.common.case_known`) and not concluded by then. For such a case, with the
acceptance date A, the promised limit P and the statutory limit S of its item:

* promise = the Pth working day after A (or the source's 承诺办结时间 date), statutory
  due date = the Sth working day after A, each due at the end of its day;
* it is quiet when neither due instant has passed (in whole seconds) and either the
  remaining working days from today to the promise exceed the yellow threshold, or the
  item is immediate (P = 0) and does not warn immediate items;
* its verdict holds until the first of: a due instant's next second, the midnight that
  starts its yellow card (:meth:`WorkingCalendar.first_day_within`), its conclusion.

Anything outside the calendar's range, or any other kind of case, goes to the rules.

The fee family has the same kind of batch (:class:`FeePreselection`): the cases whose fee
is plain (:func:`fees_quiet`: no payment refers to them, or they are paid in full into a
designated account under their reference), and the deposits a known case matches,
settled over the same arrays. ``tests/test_preselect.py``,
``tests/test_preselect_paid.py`` and ``tests/test_engine.py`` hold the engine with this
pre-selection to :func:`rules.evaluate_all` and to the engine's judges.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy, clock_stopped_at
from monitor.model import Case, Item, Payment
from rules.common import past
from rules.context import RuleContext
from rules.parameters import FeePayableAt

_NONE = np.iinfo(np.int64).max  # "no such instant" in an int64 column of epoch seconds
_NO_DAY = np.iinfo(np.int64).max  # "no such day" in an int64 column of day offsets
_UNPAID = -1  # "no payment refers to the case" in a column of sums paid (fen)


class _Instants:
    """Epoch seconds (``_NONE``: no instant) as aware datetimes in ``tz``, one object per
    distinct instant: a batch's boundaries are few (ends of days, midnights, …)."""

    def __init__(self, tz: dt.tzinfo) -> None:
        self.tz = tz
        self.known: dict[int, dt.datetime] = {}

    def __call__(self, seconds: int) -> dt.datetime | None:
        if seconds == _NONE:
            return None
        instant = self.known.get(seconds)
        if instant is None:
            instant = self.known[seconds] = dt.datetime.fromtimestamp(seconds, self.tz)
        return instant


def _exact(
    until: dt.datetime | None, events: Iterable[dt.datetime | None], at: dt.datetime
) -> dt.datetime | None:
    """``until`` brought forward to the first of ``events`` after ``at`` that comes before
    it: the arrays hold whole seconds, a case's own events are kept exact."""
    for event in events:
        if event is not None and event > at and (until is None or event < until):
            until = event
    return until


@dataclass(frozen=True)
class CalendarArrays:
    """A calendar's running counts and a policy's day boundaries as arrays, per day offset."""

    count_through: np.ndarray  # working days from first_day through the day, inclusive
    nth: np.ndarray  # offset of the (k+1)-th working day of the range
    midnight: np.ndarray  # epoch seconds of each day's local midnight (one day more)
    end_of_day: np.ndarray  # epoch seconds of each day's end (DeadlinePolicy.end_of)

    @classmethod
    def build(cls, calendar: WorkingCalendar, policy: DeadlinePolicy) -> CalendarArrays:
        days = (calendar.last_day - calendar.first_day).days + 1
        first = calendar.first_day
        midnight = np.array(
            [
                dt.datetime.combine(first + dt.timedelta(days=n), dt.time(0), policy.tz).timestamp()
                for n in range(days + 1)
            ],
            dtype=np.int64,
        )
        end_of_day = np.array(
            [policy.end_of(first + dt.timedelta(days=n)).timestamp() for n in range(days)],
            dtype=np.int64,
        )
        flags = np.frombuffer(calendar.working_days_text().encode(), dtype=np.uint8) - ord("0")
        count_through = np.cumsum(flags, dtype=np.int64)
        nth = np.flatnonzero(flags).astype(np.int64)
        return cls(count_through, nth, midnight, end_of_day)

    @property
    def days(self) -> int:
        return len(self.end_of_day)

    def day_of(self, instants: np.ndarray) -> np.ndarray:
        """The local day offset of each instant (epoch seconds); -1 or ``days`` outside."""
        return np.searchsorted(self.midnight, instants, side="right") - 1


class _LocalDays:
    """Local dates (:meth:`DeadlinePolicy.local_date`) as day offsets from ``first_day``.

    An instant already in the policy's zone is not converted (``astimezone`` to its own
    zone gives it back unchanged): its own date is the local one.
    """

    def __init__(self, policy: DeadlinePolicy, first_day: dt.date) -> None:
        self.tz, self.local_date, self.base = policy.tz, policy.local_date, first_day.toordinal()

    def __call__(self, instant: dt.datetime) -> int:
        if instant.tzinfo is self.tz:
            return instant.toordinal() - self.base
        return self.local_date(instant).toordinal() - self.base


def _epoch(instant: dt.datetime | None) -> float:
    return np.nan if instant is None else instant.timestamp()


class _Preselection:
    """A batch pre-selection for one calendar and policy, over their arrays (given, when
    another pre-selection of the same calendar and policy has built them already)."""

    def __init__(
        self,
        calendar: WorkingCalendar,
        policy: DeadlinePolicy,
        arrays: CalendarArrays | None = None,
    ) -> None:
        self.calendar, self.policy = calendar, policy
        self.arrays = arrays if arrays is not None else CalendarArrays.build(calendar, policy)


class OverduePreselection(_Preselection):
    """Finds the quiet cases of a batch (module doc); one per calendar and policy."""

    def quiet(
        self, cases: Iterable[tuple[Case, Item]], ctx: RuleContext
    ) -> dict[str, dt.datetime | None]:
        """The quiet cases among ``cases``: their id and when their verdict may change.

        The others (not returned) must be judged by the rules.
        """
        at = ctx.at
        parameters = ctx.parameters
        limits: dict[tuple[str, str | None], tuple[int, int, int, bool]] = {}
        chosen: list[Case] = []
        rows: list[tuple[float, float, int, int, int, bool]] = []
        steps: list[tuple[int, float, float, int]] = []
        for case, item in cases:
            if case.suspensions:
                continue
            if case.accepted_at > at or (case.recorded_at is not None and case.recorded_at > at):
                continue  # not in the approval system yet
            if case.concluded_at is not None and case.concluded_at <= at:
                continue  # concluded: its clock stopped, the rules judge how it ended
            key = (case.item, case.department)
            limit = limits.get(key)
            if limit is None or limit[0] != item.promised_limit_days:
                promised = item.promised_limit_days
                limit = limits[key] = (
                    promised,
                    item.statutory_limit_days,
                    parameters.due_soon_threshold(case.item, case.department, promised),
                    promised > 0 or parameters.warns_immediate(case.item, case.department),
                )
            for step in case.steps:
                steps.append(
                    (
                        len(rows),
                        step.started_at.timestamp(),
                        _epoch(step.ended_at),
                        -1 if step.limit_days is None else step.limit_days,
                    )
                )
            chosen.append(case)
            rows.append(
                (
                    case.accepted_at.timestamp(),
                    _epoch(case.promised_due_at),
                    limit[0],
                    limit[1],
                    limit[2],
                    limit[3],
                )
            )
        if not rows:
            return {}
        table = np.array(rows, dtype=np.float64)
        boundaries = self._boundaries(table, at)
        if steps:
            self._steps(np.array(steps, dtype=np.float64), boundaries, at)
        quiet: dict[str, dt.datetime | None] = {}
        instant = _Instants(self.policy.tz)
        for case, boundary in zip(chosen, boundaries.tolist(), strict=True):
            if boundary < 0:
                continue
            until = instant(boundary)
            if case.concluded_at is not None or case.steps:
                # The conclusion (later than the instant, else not chosen) and the steps'
                # starts and ends.
                events = [case.concluded_at]
                for step in case.steps:
                    events += [step.started_at, step.ended_at]
                until = _exact(until, events, at)
            quiet[case.id] = until
        return quiet

    def _boundaries(self, table: np.ndarray, at: dt.datetime) -> np.ndarray:
        """Per row: -1 if the rules must judge it, else its next boundary in epoch seconds
        (the calendar's part: due instants and the yellow card's midnight)."""
        arrays = self.arrays
        days, total = arrays.days, len(arrays.nth)
        at_seconds = int(at.replace(microsecond=0).timestamp())  # rules.common.past
        at_day = int(arrays.day_of(np.array([at.timestamp()]))[0])
        accepted = arrays.day_of(table[:, 0])
        source_promise = table[:, 1]
        promised, statutory = table[:, 2].astype(np.int64), table[:, 3].astype(np.int64)
        threshold, warns = table[:, 4].astype(np.int64), table[:, 5] > 0

        valid = (accepted >= 0) & (accepted < days) & (0 <= at_day < days)
        accepted_c = np.clip(accepted, 0, days - 1)

        def nth_after(limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            index = arrays.count_through[accepted_c] + limit - 1
            ok = index < total
            day = np.where(limit == 0, accepted_c, arrays.nth[np.clip(index, 0, total - 1)])
            return day, ok | (limit == 0)

        catalogue, ok_promise = nth_after(promised)
        statutory_day, ok_statutory = nth_after(statutory)
        has_source = ~np.isnan(source_promise)
        source_day = arrays.day_of(np.where(has_source, source_promise, 0))
        ok_source = ~has_source | ((source_day >= 0) & (source_day < days))
        promise = np.where(has_source, np.clip(source_day, 0, days - 1), catalogue)
        valid &= ok_promise & ok_statutory & ok_source

        promised_due = arrays.end_of_day[promise]
        statutory_due = arrays.end_of_day[statutory_day]
        remaining = (
            arrays.count_through[promise] - arrays.count_through[min(max(at_day, 0), days - 1)]
        )
        quiet = (
            valid
            & (at_seconds <= promised_due)
            & (at_seconds <= statutory_due)
            & (~warns | (remaining > threshold))
        )
        yellow = np.searchsorted(
            arrays.count_through, arrays.count_through[promise] - threshold, side="left"
        )
        yellow_at = arrays.midnight[yellow]
        at_exact = at.timestamp()
        candidates = np.stack(
            [
                promised_due + 1,
                statutory_due + 1,
                np.where(yellow_at > at_exact, yellow_at, _NONE),
            ]
        )
        return np.where(quiet, candidates.min(axis=0), -1)

    def _steps(self, steps: np.ndarray, boundaries: np.ndarray, at: dt.datetime) -> None:
        """Fold the steps into their cases' boundaries (in place): a step overdue by the
        instant, or whose due date lies outside the calendar, sends its case to the rules;
        a limited step's due instant is a boundary (``step_due_at``, no suspension)."""
        arrays = self.arrays
        days, total = arrays.days, len(arrays.nth)
        at_exact = at.timestamp()
        at_seconds = int(at.replace(microsecond=0).timestamp())
        row = steps[:, 0].astype(np.int64)
        started, ended, limit = steps[:, 1], steps[:, 2], steps[:, 3].astype(np.int64)
        limited = limit >= 0
        start_day = arrays.day_of(started)
        in_range = (start_day >= 0) & (start_day < days)
        start_c = np.clip(start_day, 0, days - 1)
        index = arrays.count_through[start_c] + limit - 1
        due_day = np.where(limit == 0, start_c, arrays.nth[np.clip(index, 0, total - 1)])
        bad = limited & (~in_range | ((limit > 0) & (index >= total)))
        due = arrays.end_of_day[due_day]
        ended_by = ~np.isnan(ended) & (ended <= at_exact)
        until = np.where(ended_by, np.floor(np.nan_to_num(ended)), at_seconds)
        late = limited & (started <= at_exact) & (until > due)
        rejected = np.zeros(len(boundaries), dtype=bool)
        np.logical_or.at(rejected, row, bad | late)
        ahead = np.where(limited & (due + 1 > at_exact), due + 1, _NONE)
        np.minimum.at(boundaries, row, ahead)
        boundaries[rejected] = -1


class FeePreselection(_Preselection):
    """Settles a batch's plain fee cases and deposits over arrays: what
    :func:`monitor.engine.judge_fees` and :func:`monitor.engine.judge_deposit` would give
    — no finding — and their verdict's boundary as those give it.

    Cases (:meth:`quiet`, :meth:`quiet_paid`), known by the instant, of one of the two
    plain shapes of :func:`fees_quiet` — the same test, over columns: no payment referring
    to them at all, or every payment referring to them a designated deposit under the
    case's own reference, made by the instant, together the item's standard fee. Their
    boundary is the first of the conclusion and the grace due's next second (the case
    and its payments being known already). The grace due
    (:func:`rules.fees.fee_grace_due`) is the end of the Nth working day after the
    acceptance date, N and ``payable_at`` per item and department
    (``ctx.parameters.fees``). Sent to the rules instead: cases not known yet, cases with
    an item payable at conclusion whose clock has stopped (their grace counts from the
    conclusion), acceptance dates or grace days outside the calendar's range, any other
    payment (a reversal, another reference, another account, made later, another sum),
    and every case if the policy's end of day is not a whole second.

    Deposits (:meth:`quiet_deposits`): ``offsystem.payment_without_case`` says nothing of
    a payment that is no deposit or not made yet, or that a known case matches by
    reference or case id; its boundary is the first of the payment, its grace due's next
    second (``payment_grace_working_days`` after the day it was made) and the moment a
    case it could match becomes known. Payments made on a day outside the calendar's
    range, or whose grace ends beyond it, go to the rules.
    """

    def quiet(
        self, cases: Iterable[tuple[Case, Item]], monitored: bool, ctx: RuleContext
    ) -> dict[str, dt.datetime | None]:
        """The quiet cases among ``cases`` (none of them with a payment referring to it):
        their id and when their verdict may change. The others must go to the rules."""
        return self._quiet(((case, item, _UNPAID) for case, item in cases), monitored, ctx)

    def quiet_paid(
        self, cases: Iterable[tuple[Case, Item, tuple[Payment, ...]]], ctx: RuleContext
    ) -> dict[str, dt.datetime | None]:
        """The quiet cases among ``cases``, each with the payments that refer to it (by
        reference or case id, as :meth:`monitor.engine._Links.payments_of` gives them):
        their id and when their verdict may change. The others must go to the rules."""
        at, fees = ctx.at, ctx.parameters.fees
        designated: dict[str | None, dict[str, bool]] = {}  # by center, by account
        plain: list[tuple[Case, Item, int]] = []
        for case, item, payments in cases:
            reference = case.payment_reference
            if not reference or not payments:
                continue
            center = case.center
            accounts = designated.get(center)
            if accounts is None:
                accounts = designated[center] = {}
            total = 0
            for payment in payments:
                amount, account = payment.amount_fen, payment.account
                if amount <= 0 or payment.paid_at > at:
                    break  # a reversal, or a deposit not made yet
                if payment.reference != reference:
                    break  # linked by case id only, or under another reference
                into = accounts.get(account)
                if into is None:
                    into = accounts[account] = fees.is_designated(account, center)
                if not into:
                    break
                total += amount
            else:
                plain.append((case, item, total))
        return self._quiet(plain, False, ctx)

    def _quiet(
        self, cases: Iterable[tuple[Case, Item, int]], monitored: bool, ctx: RuleContext
    ) -> dict[str, dt.datetime | None]:
        """Cases with what their payments sum to (``_UNPAID``: no payment refers to them)."""
        at = ctx.at
        if self.policy.end_of_day.microsecond:
            return {}
        fees = ctx.parameters.fees
        first_day = self.calendar.first_day
        day_of = _LocalDays(self.policy, first_day)
        keys: dict[tuple[str, str | None], tuple[int, bool]] = {}
        abolished: dict[dt.date | None, int] = {None: _NO_DAY}
        chosen: list[Case] = []
        rows: list[tuple[int, int, int, int, int, bool, bool, int]] = []
        for case, item, paid in cases:
            accepted_at, recorded_at = case.accepted_at, case.recorded_at
            if accepted_at > at or (recorded_at is not None and recorded_at > at):
                continue  # not known yet (case_known)
            key = (case.item, case.department)
            shape = keys.get(key)
            if shape is None:
                conclusion = fees.payable(case.item, case.department) is FeePayableAt.CONCLUSION
                shape = keys[key] = (
                    -1 if conclusion else fees.grace(case.item, case.department),
                    fees.flags_below_standard(case.item, case.department),
                )
            stopped = case.concluded_at is not None and case.concluded_at <= at
            if stopped and shape[0] < 0:
                continue  # payable at conclusion, now due: its grace counts from then
            ended = stopped and case.result is not None and case.result.stops_clock_without_decision
            gone = abolished.get(item.fee_abolished_on)
            if gone is None:
                assert item.fee_abolished_on is not None
                gone = abolished[item.fee_abolished_on] = (item.fee_abolished_on - first_day).days
            chosen.append(case)
            rows.append(
                (
                    day_of(accepted_at),
                    shape[0],
                    case.fee_due_fen,
                    item.fee_standard_fen,
                    gone,
                    shape[1],
                    ended,
                    paid,
                )
            )
        if not rows:
            return {}
        boundaries = self._boundaries(rows, monitored, at)
        quiet: dict[str, dt.datetime | None] = {}
        instant = _Instants(self.policy.tz)
        for case, boundary in zip(chosen, boundaries.tolist(), strict=True):
            if boundary < 0:
                continue
            until = instant(boundary)
            concluded = case.concluded_at  # a boundary while it is ahead (see _exact)
            if concluded is not None and concluded > at and (until is None or concluded < until):
                until = concluded
            quiet[case.id] = until
        return quiet

    def _boundaries(
        self,
        rows: list[tuple[int, int, int, int, int, bool, bool, int]],
        monitored: bool,
        at: dt.datetime,
    ) -> np.ndarray:
        """Per row: -1 if the rules must judge it, else the grace due's next second in
        epoch seconds (``_NONE`` when the fee is not due yet)."""
        arrays = self.arrays
        days, total = arrays.days, len(arrays.nth)
        table = np.array(rows, dtype=np.int64)
        accepted, grace, due, standard = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
        gone, flags, ended, paid = table[:, 4], table[:, 5] > 0, table[:, 6] > 0, table[:, 7]
        at_seconds = int(at.replace(microsecond=0).timestamp())  # rules.common.past

        valid = (accepted >= 0) & (accepted < days)
        accepted_c = np.clip(accepted, 0, days - 1)
        acceptance = grace >= 0
        index = arrays.count_through[accepted_c] + grace - 1
        valid &= ~acceptance | (grace == 0) | (index < total)
        grace_day = np.where(grace <= 0, accepted_c, arrays.nth[np.clip(index, 0, total - 1)])
        grace_due = arrays.end_of_day[grace_day]  # meaningful where acceptance

        unpaid = paid == _UNPAID
        owed = (due != 0) & monitored & ~ended
        late = unpaid & acceptance & owed & (at_seconds > grace_due)
        free = (standard == 0) | (gone <= accepted)
        fair = np.where(
            unpaid,
            np.where(
                free,
                due == 0,
                (due == standard) | ((due < standard) & (ended | ~flags)),
            ),
            ~free & (due == standard) & (paid == standard),  # all into the 专户, in full
        )
        ahead = acceptance & (grace_due + 1 > at.timestamp())
        boundary = np.where(ahead, grace_due + 1, _NONE)
        return np.where(valid & ~late & fair, boundary, -1)

    def quiet_deposits(
        self,
        deposits: Iterable[tuple[Payment, tuple[Case, ...]]],
        ctx: RuleContext,
    ) -> dict[str, dt.datetime | None]:
        """The quiet payments among ``deposits``, each with the cases it could match (as
        :meth:`monitor.engine._Links.cases_of` gives them): their id and when their
        verdict may change. The others must go to the rules."""
        at = ctx.at
        if self.policy.end_of_day.microsecond:
            return {}
        day_of = _LocalDays(self.policy, self.calendar.first_day)
        # Each chosen payment with the instants ahead that its verdict may turn at besides
        # its grace due (it is made; a case it could match becomes known), if any.
        chosen: list[tuple[Payment, list[dt.datetime] | None]] = []
        made: list[int] = []
        for payment, cases in deposits:
            events: list[dt.datetime] | None = None
            matched = False
            reference, linked = payment.reference, payment.case_id
            for case in cases:
                accepted_at, recorded_at = case.accepted_at, case.recorded_at
                if accepted_at > at or (recorded_at is not None and recorded_at > at):
                    # Not known yet (case_known): it matches nothing until it is.
                    known_from = (
                        accepted_at if recorded_at is None else max(accepted_at, recorded_at)
                    )
                    events = [*(events or ()), known_from]
                elif (reference and case.payment_reference == reference) or (
                    linked and case.id == linked
                ):
                    matched = True
            paid_at = payment.paid_at
            later = paid_at > at
            if matched or later or payment.amount_fen <= 0:
                if later:
                    events = [*(events or ()), paid_at]
                chosen.append((payment, events))
                made.append(day_of(paid_at))
        if not chosen:
            return {}
        arrays = self.arrays
        days, total = arrays.days, len(arrays.nth)
        grace = ctx.parameters.offsystem.payment_grace_working_days
        day = np.array(made, dtype=np.int64)
        valid = (day >= 0) & (day < days)
        day_c = np.clip(day, 0, days - 1)
        index = arrays.count_through[day_c] + grace - 1
        valid &= (grace == 0) | (index < total)
        grace_day = day_c if grace == 0 else arrays.nth[np.clip(index, 0, total - 1)]
        grace_due = arrays.end_of_day[grace_day]
        boundaries = np.where(
            valid, np.where(grace_due + 1 > at.timestamp(), grace_due + 1, _NONE), -1
        )
        quiet: dict[str, dt.datetime | None] = {}
        instant = _Instants(self.policy.tz)
        for (payment, events), boundary in zip(chosen, boundaries.tolist(), strict=True):
            if boundary >= 0:
                until = instant(boundary)
                quiet[payment.id] = until if events is None else _exact(until, events, at)
        return quiet


def fees_quiet(
    case: Case,
    item: Item,
    payments: tuple[Payment, ...],
    monitored: bool,
    grace: dt.datetime | None,
    ctx: RuleContext,
) -> bool:
    """Whether :func:`rules.fees.case_fee_findings` provably finds nothing for a known case.

    Two plain shapes only, everything else goes to the rules: no payment refers to the
    case at all, and its fee due is the item's standard (or below it where that is not
    reported, or zero for a free item) and not yet owed or not watched; or every payment
    referring to it is a deposit made by the instant under the case's own reference into
    a designated account, and together they pay exactly the standard fee.
    ``payments`` are the ones matching the case by reference or case id, ``grace`` is
    :func:`rules.fees.fee_grace_due`.
    """
    at, fees = ctx.at, ctx.parameters.fees
    free = item.fee_standard_fen == 0 or (
        item.fee_abolished_on is not None
        and item.fee_abolished_on <= ctx.policy.local_date(case.accepted_at)
    )
    standard = 0 if free else item.fee_standard_fen
    ended = (
        clock_stopped_at(case, at) is not None
        and case.result is not None
        and case.result.stops_clock_without_decision
    )
    if not payments:
        owed = case.fee_due_fen != 0 and monitored and not ended
        if owed and grace is not None and past(at, grace):
            return False  # fee.not_in_designated_account: no deposit after the grace
        if free:
            return case.fee_due_fen == 0
        return case.fee_due_fen == standard or (
            case.fee_due_fen < standard
            and (ended or not fees.flags_below_standard(case.item, case.department))
        )
    reference = case.payment_reference
    return (
        not free
        and bool(reference)
        and case.fee_due_fen == standard
        and sum(p.amount_fen for p in payments) == standard
        and all(
            p.is_deposit
            and p.paid_at <= at
            and p.reference == reference
            and fees.is_designated(p.account, case.center)
            for p in payments
        )
    )
