"""Pre-selection: the overdue verdicts of plain cases, settled over arrays instead of the rules.

Judging a hall again from scratch (a restart, a new calendar, ``scan``) calls the overdue
rules for every case, yet most open cases are plain: far from their promise or carrying a
simple yellow or red card. This module settles those cases over arrays (NumPy), so that
the engine asks the rules only about the others. For a plain case it proves what
:func:`rules.overdue.case_cards`, ``step_cards`` and ``suspension_cards`` would return at
the instant — nothing, or the case's cards with exactly the rules' fields — and when that
could change (what :func:`monitor.engine.next_boundary` says).

A case is plain when its deadlines are those of DESIGN.md §1 with at most one suspension:
in the approval system at the instant (:func:`rules.common.case_known`), not concluded by
then, no step overdue, and either no suspension or one suspension and no steps. For such
a case, with the acceptance date A, the promised limit P and the statutory limit S of its
item, and E the working days in its suspension's span (S, E] up to the instant's date:

* promise = the Pth working day after A (or the source's 承诺办结时间 date), statutory
  due date = the Sth working day after A, each moved E working days on and due at the
  end of its day;
* while the suspension runs the case has no card; otherwise it is red (case.overdue)
  once the promise has passed and red (case.statutory_overdue) once the statutory due
  instant has (in whole seconds), else yellow (case.due_soon) when the remaining working
  days from today to the promise are at most the yellow threshold — unless the item is
  immediate (P = 0) and does not warn immediate items;
* its verdict holds until the first of: a due instant's next second, the midnight that
  starts its yellow card (:meth:`WorkingCalendar.first_day_within`), its own next event
  (conclusion, a step's or suspension's start or end) and, for a case with a card or a
  suspension, the next midnight (its counted working days move on).

Anything outside the calendar's range, a suspension longer than its item allows (a
finding), a step overdue (a finding), an end of day that is not a whole second (for the
cards), or any other kind of case, goes to the rules.

The fee family has the same kind of batch (:class:`FeePreselection`): the cases whose fee
is plain (:func:`fees_quiet`: no payment refers to them, or they are paid in full into a
designated account under their reference), and the deposits a known case matches,
settled over the same arrays. ``tests/test_preselect.py``,
``tests/test_preselect_paid.py`` and ``tests/test_engine.py`` hold the engine with this
pre-selection to :func:`rules.evaluate_all` and to the engine's judges;
``tests/test_overdue_batch.py`` holds every overdue verdict settled over arrays to
:func:`monitor.engine.judge_overdue`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy, clock_stopped_at
from monitor.model import Case, Finding, Item, Payment, Severity
from rules import overdue as overdue_rules
from rules.common import iso, past
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
    """Local dates (:meth:`DeadlinePolicy.local_date`) as day offsets from ``first_day``
    (None: proleptic ordinals, :meth:`datetime.date.toordinal`).

    An instant already in the policy's zone is not converted (``astimezone`` to its own
    zone gives it back unchanged): its own date is the local one.
    """

    def __init__(self, policy: DeadlinePolicy, first_day: dt.date | None = None) -> None:
        self.tz, self.local_date = policy.tz, policy.local_date
        self.base = 0 if first_day is None else first_day.toordinal()

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


@dataclass
class OverdueBatch:
    """What :meth:`OverduePreselection.settle` made of a batch of cases.

    ``quiet``: the quiet cases, in groups judged from the same item with the same boundary
    (item, boundary, case ids); ``found``: the cases whose findings the arrays settled, as
    (case id, item, findings, ticking, boundary) — ``ticking`` per finding as
    :func:`monitor.engine.ticks` says; ``rules``: the cases the rules must judge.
    """

    quiet: list[tuple[Item, dt.datetime | None, list[str]]]
    found: list[tuple[str, Item, tuple[Finding, ...], tuple[bool, ...], dt.datetime | None]]
    rules: list[tuple[Case, Item]]


@dataclass
class _Rows:
    """The columns of a batch's plain cases (one row each), gathered in one pass.

    Dates are ordinals of local dates; ``steps`` and ``suspensions`` hold one entry per
    step or suspension with the row it belongs to.
    """

    cases: list[Case] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    source: list[int] = field(default_factory=list)  # the source's promised date, 0: none
    shape: list[int] = field(default_factory=list)  # index in items / keys
    items: list[Item] = field(default_factory=list)  # per (item, department) met
    keys: list[tuple[str, str | None]] = field(default_factory=list)
    # row, start date, started by the instant, epoch seconds of its end if ended by the
    # instant (else NaN), limit (-1: none)
    steps: list[tuple[int, int, bool, float, int]] = field(default_factory=list)
    # row, start date, started by the instant, end date (0: not ended by the instant),
    # the longest allowed (-1: no limit)
    suspensions: list[tuple[int, int, bool, int, int]] = field(default_factory=list)
    exact: list[int] = field(default_factory=list)  # rows with an event after the instant


@dataclass(frozen=True)
class _Deadlines:
    """Per row of a batch: its deadlines over the calendar's arrays (module doc)."""

    valid: np.ndarray  # every date within the calendar's range
    promise: np.ndarray  # day offset of the promised due date (extended)
    statutory: np.ndarray  # day offset of the statutory due date (extended)
    mismatch: np.ndarray  # source promise minus the catalogue's, in working days (or 0)
    promised_due: np.ndarray  # epoch seconds of the due instants (whole seconds)
    statutory_due: np.ndarray
    yellow_at: np.ndarray  # epoch seconds of the midnight that starts the yellow card


class OverduePreselection(_Preselection):
    """Settles a batch's plain cases over arrays (module doc); one per calendar and policy."""

    def quiet(
        self, cases: Iterable[tuple[Case, Item]], ctx: RuleContext
    ) -> dict[str, dt.datetime | None]:
        """The quiet cases among ``cases``: their id and when their verdict may change.

        The others (not returned) carry findings or must be judged by the rules.
        """
        return {
            case_id: until for _, until, ids in self.settle(cases, ctx).quiet for case_id in ids
        }

    def settle(self, cases: Iterable[tuple[Case, Item]], ctx: RuleContext) -> OverdueBatch:
        """The batch's quiet cases, the findings of its plain cases that carry a card, and
        the cases left to the rules (:class:`OverdueBatch`)."""
        batch = OverdueBatch([], [], [])
        rows = self._gather(cases, ctx.at, batch.rules)
        if not rows.cases:
            return batch
        at = ctx.at
        arrays, policy, parameters = self.arrays, self.policy, ctx.parameters
        days, count = arrays.days, len(rows.cases)
        limits = np.array(
            [
                (
                    item.promised_limit_days,
                    item.statutory_limit_days,
                    parameters.due_soon_threshold(code, department, item.promised_limit_days),
                    item.promised_limit_days > 0 or parameters.warns_immediate(code, department),
                )
                for item, (code, department) in zip(rows.items, rows.keys, strict=True)
            ],
            dtype=np.int64,
        )
        shape = np.array(rows.shape, dtype=np.int64)
        threshold, warns = limits[shape, 2], limits[shape, 3] > 0
        at_day = (policy.local_date(at) - self.calendar.first_day).days
        at_seconds = int(at.replace(microsecond=0).timestamp())  # rules.common.past
        today = min(max(at_day, 0), days - 1)
        base = self.calendar.first_day.toordinal()
        settled = np.full(count, 0 <= at_day < days)
        extension = np.zeros(count, dtype=np.int64)
        suspended = np.zeros(count, dtype=bool)  # has a suspension: judged again at midnight
        running = np.zeros(count, dtype=bool)  # suspended at the instant: no card
        if rows.suspensions:
            table = np.array(rows.suspensions, dtype=np.int64)
            row = table[:, 0]
            used, in_range = self._suspended(table, at_day)
            suspended[row] = True
            extension[row] = used
            running[row] = (table[:, 2] > 0) & (table[:, 3] == 0)
            # Out of the calendar's range, or longer than allowed (a finding): the rules.
            settled[row] &= in_range & ~((table[:, 4] >= 0) & (used > table[:, 4]))
        source = np.array(rows.source, dtype=np.int64)
        deadlines = self._deadlines(
            np.array(rows.accepted, dtype=np.int64) - base,
            np.where(source > 0, source - base, -1),
            source > 0,
            limits[shape, 0],
            limits[shape, 1],
            threshold,
            extension,
        )
        settled &= deadlines.valid
        promised_due, statutory_due = deadlines.promised_due, deadlines.statutory_due
        remaining = arrays.count_through[deadlines.promise] - arrays.count_through[today]
        statutory_passed = ~running & (at_seconds > statutory_due)
        promise_passed = ~running & (at_seconds > promised_due)
        yellow = ~running & warns & (remaining <= threshold) & ~statutory_passed & ~promise_passed
        carded = statutory_passed | promise_passed | yellow
        if policy.end_of_day.microsecond:  # due instants are not whole seconds: the rules
            settled &= ~carded
        # The instants a verdict may change at: due instants' next seconds, the yellow
        # card's first midnight, and for a case with a finding or a suspension the next
        # midnight (its counted days move on).
        ahead = np.stack(
            [
                promised_due + 1,
                statutory_due + 1,
                deadlines.yellow_at,
                np.where(carded | suspended, arrays.midnight[min(today + 1, days)], _NONE),
            ]
        )
        boundary = np.where(ahead > at.timestamp(), ahead, _NONE).min(axis=0)
        if rows.steps:
            rejected, step_ahead = self._steps(rows.steps, count, at)
            settled &= ~rejected
            np.minimum(boundary, step_ahead, out=boundary)
        exact = np.zeros(count, dtype=bool)
        exact[rows.exact] = True

        instant = _Instants(policy.tz)
        quiet = settled & ~carded
        self._group_quiet(batch, rows, np.flatnonzero(quiet & ~exact), boundary, instant)
        for row in np.flatnonzero(quiet & exact).tolist():
            case = rows.cases[row]
            until = _exact(instant(int(boundary[row])), _events(case), at)
            batch.quiet.append((rows.items[rows.shape[row]], until, [case.id]))
        cards = _Cards(ctx, arrays, at_day)
        for row in np.flatnonzero(settled & carded).tolist():
            case, item = rows.cases[row], rows.items[rows.shape[row]]
            until = instant(int(boundary[row]))
            if exact[row]:
                until = _exact(until, _events(case), at)
            findings, ticking = cards.of(
                case,
                item,
                (int(deadlines.promise[row]), int(deadlines.statutory[row])),
                (int(extension[row]), int(deadlines.mismatch[row]), int(threshold[row])),
                (bool(statutory_passed[row]), bool(promise_passed[row]), bool(yellow[row])),
            )
            batch.found.append((case.id, item, findings, ticking, until))
        for row in np.flatnonzero(~settled).tolist():
            batch.rules.append((rows.cases[row], rows.items[rows.shape[row]]))
        return batch

    def _gather(
        self, cases: Iterable[tuple[Case, Item]], at: dt.datetime, rules: list[tuple[Case, Item]]
    ) -> _Rows:
        """One pass over the cases, reading what the arrays need and nothing else; the
        cases of no plain shape go to ``rules``: several suspensions, a suspension and
        steps, not in the approval system at the instant, concluded by then. An instant in
        the hall's zone has its local date as it is (:meth:`DeadlinePolicy.local_date`)."""
        ordinal = _LocalDays(self.policy)
        rows = _Rows()
        chosen, ids, accepted, source, of_shape = (
            rows.cases,
            rows.ids,
            rows.accepted,
            rows.source,
            rows.shape,
        )
        shapes: dict[tuple[str, str | None], int] = {}
        for case, item in cases:
            suspensions = case.suspensions
            if suspensions and (len(suspensions) > 1 or case.steps):
                rules.append((case, item))
                continue
            accepted_at, recorded, concluded = case.accepted_at, case.recorded_at, case.concluded_at
            if (
                accepted_at > at
                or (recorded is not None and recorded > at)
                or (concluded is not None and concluded <= at)
            ):
                rules.append((case, item))
                continue
            key = (case.item, case.department)
            shape = shapes.get(key)
            if shape is None or rows.items[shape] is not item:
                shape = shapes[key] = len(rows.items)
                rows.items.append(item)
                rows.keys.append(key)
            row = len(chosen)
            if concluded is not None:
                rows.exact.append(row)
            for step in case.steps:
                started, ended = step.started_at, step.ended_at
                ended_by = ended is not None and ended <= at
                if started > at or (ended is not None and not ended_by):
                    rows.exact.append(row)
                rows.steps.append(
                    (
                        row,
                        ordinal(started),
                        started <= at,
                        ended.timestamp() if ended is not None and ended_by else np.nan,
                        -1 if step.limit_days is None else step.limit_days,
                    )
                )
            if suspensions:
                suspension = suspensions[0]
                started, ended = suspension.started_at, suspension.ended_at
                ended_by = ended is not None and ended <= at
                if started > at or (ended is not None and not ended_by):
                    rows.exact.append(row)
                allowed = item.max_suspension_for(suspension.kind)
                rows.suspensions.append(
                    (
                        row,
                        ordinal(started),
                        started <= at,
                        ordinal(ended) if ended is not None and ended_by else 0,
                        -1 if allowed is None else allowed,
                    )
                )
            promised = case.promised_due_at
            chosen.append(case)
            ids.append(case.id)
            accepted.append(ordinal(accepted_at))
            source.append(0 if promised is None else ordinal(promised))
            of_shape.append(shape)
        return rows

    def _suspended(self, table: np.ndarray, at_day: int) -> tuple[np.ndarray, np.ndarray]:
        """Per suspension row (see :class:`_Rows`): the working days it suspends the case
        by the instant (:func:`monitor.deadlines.suspension_working_days` of one
        suspension: its span (S, E] up to the instant's date), and whether its dates are
        within the calendar's range."""
        arrays = self.arrays
        base = self.calendar.first_day.toordinal()
        start = table[:, 1] - base
        end = np.where(table[:, 3] > 0, table[:, 3] - base, at_day)
        counted = (table[:, 2] > 0) & (end > start)
        in_range = (start >= 0) & (start < arrays.days) & (end >= 0) & (end < arrays.days)
        start_c, end_c = np.clip(start, 0, arrays.days - 1), np.clip(end, 0, arrays.days - 1)
        used = arrays.count_through[end_c] - arrays.count_through[start_c]
        return np.where(counted, used, 0), in_range | ~counted

    def _deadlines(
        self,
        accepted: np.ndarray,
        source_day: np.ndarray,
        has_source: np.ndarray,
        promised: np.ndarray,
        statutory: np.ndarray,
        threshold: np.ndarray,
        extension: np.ndarray,
    ) -> _Deadlines:
        """The rows' deadlines (:func:`monitor.deadlines.case_deadlines`), from the day
        offsets of their acceptance and of the source's promise, if any, and the working
        days their suspensions add."""
        arrays = self.arrays
        days, total = arrays.days, len(arrays.nth)
        valid = (accepted >= 0) & (accepted < days)
        accepted_c = np.clip(accepted, 0, days - 1)

        def nth_after(day: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            index = arrays.count_through[day] + n - 1
            later = arrays.nth[np.clip(index, 0, total - 1)]
            return np.where(n == 0, day, later), (n == 0) | (index < total)

        catalogue, ok_promise = nth_after(accepted_c, promised)
        statutory_day, ok_statutory = nth_after(accepted_c, statutory)
        ok_source = ~has_source | ((source_day >= 0) & (source_day < days))
        promise = np.where(has_source, np.clip(source_day, 0, days - 1), catalogue)
        difference = arrays.count_through[promise] - arrays.count_through[catalogue]
        promise, ok_extended = nth_after(promise, extension)
        statutory_day, ok_statutory_extended = nth_after(statutory_day, extension)
        valid &= ok_promise & ok_statutory & ok_source & ok_extended & ok_statutory_extended
        yellow = np.searchsorted(
            arrays.count_through, arrays.count_through[promise] - threshold, side="left"
        )
        return _Deadlines(
            valid=valid,
            promise=promise,
            statutory=statutory_day,
            mismatch=np.where(has_source & (np.abs(difference) > 1), difference, 0),
            promised_due=arrays.end_of_day[promise],
            statutory_due=arrays.end_of_day[statutory_day],
            yellow_at=arrays.midnight[yellow],
        )

    def _steps(
        self, steps: list[tuple[int, int, bool, float, int]], rows: int, at: dt.datetime
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per row: whether a step sends its case to the rules — overdue by the instant (a
        ``case.step_overdue`` finding), or due outside the calendar — and the first next
        second of a limited step's due instant after the instant (``step_due_at``, no
        suspension). ``steps``: see :class:`_Rows`."""
        arrays = self.arrays
        days, total = arrays.days, len(arrays.nth)
        at_exact = at.timestamp()
        at_seconds = int(at.replace(microsecond=0).timestamp())
        table = np.array(steps, dtype=np.float64)
        row = table[:, 0].astype(np.int64)
        start_day = table[:, 1].astype(np.int64) - self.calendar.first_day.toordinal()
        started, ended, limit = table[:, 2] > 0, table[:, 3], table[:, 4].astype(np.int64)
        limited = limit >= 0
        in_range = (start_day >= 0) & (start_day < days)
        start_c = np.clip(start_day, 0, days - 1)
        index = arrays.count_through[start_c] + limit - 1
        due_day = np.where(limit == 0, start_c, arrays.nth[np.clip(index, 0, total - 1)])
        bad = limited & (~in_range | ((limit > 0) & (index >= total)))
        due = arrays.end_of_day[due_day]
        until = np.where(np.isnan(ended), at_seconds, np.floor(np.nan_to_num(ended)))
        late = limited & started & (until > due)
        rejected = np.zeros(rows, dtype=bool)
        np.logical_or.at(rejected, row, bad | late)
        ahead = np.full(rows, _NONE, dtype=np.int64)
        np.minimum.at(ahead, row, np.where(limited & (due + 1 > at_exact), due + 1, _NONE))
        return rejected, ahead

    @staticmethod
    def _group_quiet(
        batch: OverdueBatch,
        rows: _Rows,
        quiet: np.ndarray,
        boundary: np.ndarray,
        instant: _Instants,
    ) -> None:
        """The ``quiet`` rows into ``batch.quiet``, grouped by item and boundary."""
        if not len(quiet):
            return
        index_of: dict[int, int] = {}
        of_shape = np.array(
            [index_of.setdefault(id(item), len(index_of)) for item in rows.items],
            dtype=np.int64,
        )
        items = {index: rows.items[s] for s, index in enumerate(of_shape.tolist())}
        item = of_shape[np.array(rows.shape, dtype=np.int64)[quiet]]
        until = boundary[quiet]
        order = np.lexsort((item, until))
        item, until = item[order], until[order]
        starts = np.flatnonzero(np.r_[True, (item[1:] != item[:-1]) | (until[1:] != until[:-1])])
        ends = [*starts[1:].tolist(), len(order)]
        keys = np.array(rows.ids, dtype=object)[quiet[order]].tolist()
        for start, end in zip(starts.tolist(), ends, strict=True):
            batch.quiet.append(
                (items[int(item[start])], instant(int(until[start])), keys[start:end])
            )


def _events(case: Case) -> list[dt.datetime | None]:
    """A case's own instants that bound a verdict: its conclusion, its steps' and its
    suspensions' starts and ends."""
    events = [case.concluded_at]
    for child in (*case.steps, *case.suspensions):
        events += [child.started_at, child.ended_at]
    return events


class _Cards:
    """The card findings of plain open cases (one suspension at most, no step overdue),
    exactly as :func:`rules.overdue.case_cards` gives them, from the arrays' day offsets."""

    def __init__(self, ctx: RuleContext, arrays: CalendarArrays, at_day: int) -> None:
        self.ctx = ctx
        self.first_day = ctx.calendar.first_day
        self.count_through = arrays.count_through
        self.today = int(arrays.count_through[at_day]) if 0 <= at_day < arrays.days else 0
        self.ends: dict[int, tuple[dt.datetime, str | None, int, int, bool]] = {}

    def _end(self, day: int) -> tuple[dt.datetime, str | None, int, int, bool]:
        """The due instant at the end of a day offset, its ISO text, working days late at
        the instant (``remaining_working_days``, negated), seconds late, and whether the
        calendar is confirmed for that day."""
        known = self.ends.get(day)
        if known is None:
            ctx = self.ctx
            date = self.first_day + dt.timedelta(days=day)
            due = ctx.policy.end_of(date)
            late = self.today - int(self.count_through[day])
            seconds = int((ctx.at - due).total_seconds())
            confirmed = ctx.calendar.is_confirmed(date)
            known = self.ends[day] = (due, iso(due), late, seconds, confirmed)
        return known

    def _card(
        self,
        rule: str,
        severity: Severity,
        case: Case,
        due: tuple[dt.datetime, str | None, int, int, bool],
        evidence: dict[str, Any],
    ) -> Finding:
        """:func:`rules.common.case_finding` of a due instant made by :meth:`_end`."""
        return Finding(
            rule=rule,
            severity=severity,
            subject_kind="case",
            subject_id=case.id,
            case_id=case.id,
            center=case.center,
            department=case.department,
            window=case.window,
            item=case.item,
            due_at=due[0],
            evidence=evidence,
            calendar_confirmed=due[4],
            calendar_version=self.ctx.calendar.version,
        )

    def of(
        self,
        case: Case,
        item: Item,
        due: tuple[int, int],
        days: tuple[int, int, int],
        passed: tuple[bool, bool, bool],
    ) -> tuple[tuple[Finding, ...], tuple[bool, ...]]:
        """A carded case's findings and whether each ticks (``seconds_late`` follows the
        clock). ``due``: the day offsets of the promised and statutory due dates;
        ``days``: suspended working days, the source's mismatch, the yellow threshold;
        ``passed``: the statutory due instant, the promised one, the yellow card's start."""
        statutory_passed, promise_passed, yellow = passed
        extension, mismatch, threshold = days
        promised = self._end(due[0])
        statutory = self._end(due[1])
        evidence: dict[str, Any] = {
            "accepted_at": iso(case.accepted_at),
            "promised_limit_days": item.promised_limit_days,
            "statutory_limit_days": item.statutory_limit_days,
            "promised_due_at": promised[1],
            "statutory_due_at": statutory[1],
            "suspended_working_days": extension,
        }
        if mismatch:
            evidence["source_due_mismatch_working_days"] = mismatch
        findings: list[Finding] = []
        ticking: list[bool] = []
        if statutory_passed:
            lateness = {"working_days_late": statutory[2], "seconds_late": statutory[3]}
            findings.append(
                self._card(
                    overdue_rules.STATUTORY_OVERDUE,
                    Severity.RED,
                    case,
                    statutory,
                    evidence | {"state": "open"} | lateness,
                )
            )
            ticking.append(True)
        if promise_passed:
            lateness = {"working_days_late": promised[2], "seconds_late": promised[3]}
            findings.append(
                self._card(overdue_rules.OVERDUE, Severity.RED, case, promised, evidence | lateness)
            )
            ticking.append(True)
        elif yellow:
            remaining = {"remaining_working_days": -promised[2], "threshold_days": threshold}
            findings.append(
                self._card(
                    overdue_rules.DUE_SOON, Severity.YELLOW, case, promised, evidence | remaining
                )
            )
            ticking.append(False)
        return tuple(findings), tuple(ticking)


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
        first_day = self.calendar.first_day
        day_of = _LocalDays(self.policy, first_day)
        places = ctx.parameters.fees.places
        abolished: dict[dt.date | None, int] = {None: _NO_DAY}
        chosen: list[Case] = []
        rows: list[tuple[int, int, int, int, int, bool, bool, int]] = []
        for case, item, paid in cases:
            accepted_at, recorded_at = case.accepted_at, case.recorded_at
            if accepted_at > at or (recorded_at is not None and recorded_at > at):
                continue  # not known yet (case_known)
            grace, payable, below = places[(case.item, case.department)]
            if payable is FeePayableAt.CONCLUSION:
                grace = -1
            stopped = case.concluded_at is not None and case.concluded_at <= at
            if stopped and grace < 0:
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
                    grace,
                    case.fee_due_fen,
                    item.fee_standard_fen,
                    gone,
                    below,
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
