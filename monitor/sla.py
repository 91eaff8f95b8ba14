"""SLA records: each case's deadlines and outcome as the daemon judged them, kept for reports.

Live figures are recomputed from the history at every evaluation (DESIGN.md §5), but a
monthly bulletin must not change when the calendar or a parameter is corrected later:
October regenerated in December has to give October's numbers. So the daemon appends a
:class:`CaseSla` row to the state store whenever its judgment of a case changes, with
the calendar version it used, and the report reads those rows instead of recounting.

When a row is appended (a case's *facts* are what it looks like as of the instant:
acceptance, place, item limits, the suspensions begun and ended by then, the conclusion
once it has happened):

* the first time the daemon sees the case accepted;
* whenever its facts change (a suspension begins or ends, the case concludes, the
  source corrects it);
* while a suspension is running, when the deadlines it pushes out change (once a
  working day);
* for an **open** case, when the calendar version changes (the daemon restarted with a
  corrected calendar). A **concluded** case is never re-judged for a calendar change:
  its outcome was settled with the calendar of its day.

Counting is the law's (DESIGN.md §1, :mod:`monitor.deadlines`): *used* working days run
from the day after acceptance to the conclusion date, less special-procedure days;
*working days late* is the working days from the promised due date to the conclusion
date; on time means concluded no later than the promised due instant (in whole
seconds, as the overdue rules judge it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy, case_deadlines, working_days_used
from monitor.model import Case, Item, Snapshot


@dataclass(frozen=True, slots=True)
class CaseSla:
    """One judgment of one case, as of ``recorded_at`` (a row of ``jiancha_case_sla``)."""

    case_id: str
    recorded_at: dt.datetime
    facts: str  # digest of the facts judged: unchanged facts are not judged again
    center: str | None
    department: str | None
    window: str | None
    item: str
    item_kind: str
    statutory_limit_days: int
    promised_limit_days: int
    accepted_at: dt.datetime
    concluded_at: dt.datetime | None  # None: open as of recorded_at
    result: str | None
    decided: bool  # concluded with a decision (not withdrawn, refused, returned, void)
    promised_due_at: dt.datetime
    statutory_due_at: dt.datetime
    suspended_working_days: int
    used_working_days: int | None  # concluded cases only
    working_days_late: int | None  # concluded: promised due date -> conclusion date
    on_time: bool | None  # decided cases only
    statutory_on_time: bool | None
    calendar_version: str
    calendar_confirmed: bool

    @property
    def dues(self) -> tuple[dt.datetime, dt.datetime, int]:
        return self.promised_due_at, self.statutory_due_at, self.suspended_working_days


class Known(NamedTuple):
    """What the recorder remembers of a case's last row (loaded from the store at start)."""

    facts: str
    calendar_version: str
    open: bool
    dues: tuple[dt.datetime, dt.datetime, int]


def _within(instant: dt.datetime, due_at: dt.datetime) -> bool:
    """Concluded by the due instant, in whole seconds (as :func:`rules.common.past`)."""
    return instant.replace(microsecond=0) <= due_at


def case_facts(case: Case, item: Item, at: dt.datetime) -> tuple[Any, ...]:
    """The case as of ``at``: what its judgment depends on (besides the calendar)."""
    concluded = (
        case.concluded_at if case.concluded_at is not None and case.concluded_at <= at else None
    )
    suspensions = tuple(
        (s.started_at, s.ended_at if s.ended_at is not None and s.ended_at <= at else None)
        for s in case.suspensions
        if s.started_at <= at
    )
    return (
        case.center,
        case.department,
        case.window,
        case.item,
        item.kind.value,
        item.statutory_limit_days,
        item.promised_limit_days,
        case.accepted_at,
        case.promised_due_at,
        concluded,
        None if concluded is None or case.result is None else case.result.value,
        suspensions,
    )


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, tuple):
        # Plain values (most of the facts) as they are, without a call each.
        return tuple([_canonical(v) if isinstance(v, dt.datetime | tuple) else v for v in value])
    return value


def facts_digest(facts: tuple[Any, ...]) -> str:
    """A digest of the facts that is the same in every process (unlike ``hash()``)."""
    return hashlib.blake2b(repr(_canonical(facts)).encode(), digest_size=16).hexdigest()


def judge(
    case: Case,
    item: Item,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    at: dt.datetime,
    facts: str | None = None,
) -> CaseSla:
    """The case's deadlines and, once concluded, its outcome, as of ``at``."""
    deadlines = case_deadlines(case, item, calendar, policy, at)
    stopped = deadlines.clock_stopped_at
    result = None if stopped is None or case.result is None else case.result.value
    decided = stopped is not None and (
        case.result is None or not case.result.stops_clock_without_decision
    )
    used = late = None
    on_time = statutory_on_time = None
    if stopped is not None:
        used = working_days_used(case, calendar, policy, stopped)
        late = calendar.working_days_between(
            policy.local_date(deadlines.promised_due_at), policy.local_date(stopped)
        )
        if decided:
            on_time = _within(stopped, deadlines.promised_due_at)
            statutory_on_time = _within(stopped, deadlines.statutory_due_at)
    return CaseSla(
        case_id=case.id,
        recorded_at=at,
        facts=facts or facts_digest(case_facts(case, item, at)),
        center=case.center,
        department=case.department,
        window=case.window,
        item=case.item,
        item_kind=item.kind.value,
        statutory_limit_days=item.statutory_limit_days,
        promised_limit_days=item.promised_limit_days,
        accepted_at=case.accepted_at,
        concluded_at=stopped,
        result=result,
        decided=decided,
        promised_due_at=deadlines.promised_due_at,
        statutory_due_at=deadlines.statutory_due_at,
        suspended_working_days=deadlines.suspended_working_days,
        used_working_days=used,
        working_days_late=late,
        on_time=on_time,
        statutory_on_time=statutory_on_time,
        calendar_version=calendar.version,
        calendar_confirmed=deadlines.calendar_confirmed,
    )


def _suspended(case: Case, at: dt.datetime) -> bool:
    return any(
        s.started_at <= at and (s.ended_at is None or s.ended_at > at) for s in case.suspensions
    )


# Cases looked at per batch of rows stored (:meth:`SlaRecorder.batches`).
BATCH_CASES = 20_000
_DIGEST = re.compile("[0-9a-f]{32}")
# The quick hash's bits kept: an int below 2**60 takes 32 bytes, a full hash() 48.
_QUICK_BITS = (1 << 60) - 1


def _loaded_mark(facts: str) -> int | None:
    """A stored row's facts digest (:func:`facts_digest`) as a :attr:`_Kept.mark`: its
    number, complemented (negative); None for anything else, which no facts equal."""
    return ~int(facts, 16) if _DIGEST.fullmatch(facts) else None


# A kept row's calendar version, whether the case was open, and its dues.
_State = tuple[str, bool, tuple[dt.datetime, dt.datetime, int]]


class _Kept(NamedTuple):
    """What the recorder keeps of a case's last row: a :class:`Known` in less memory."""

    # The facts, as the quick in-process hash (60 bits, >= 0) of the facts that gave the
    # row; or, for a row loaded from the store, whose facts this process has not seen
    # yet, its digest's number complemented (< 0; None: no digest).
    mark: int | None
    state: _State  # one object for the cases that share it


def _same_facts(mark: int | None, quick: int, digest: str) -> bool:
    """Whether a kept row's facts are those with this quick hash and digest."""
    if mark is None:
        return False
    return mark == quick if mark >= 0 else ~mark == int(digest, 16)


class SlaRecorder:
    """Decides which cases get a new SLA row at an evaluation (see the module docstring).

    In memory per case (:class:`_Kept`): its last row's facts as a quick in-process hash
    (an unchanged case costs one tuple hash per evaluation), and the row's calendar
    version, openness and deadlines as one object shared by the cases that have the same
    (cases accepted the same day under the same limits). The facts digest of a row
    loaded from the store is kept only until the case's facts are seen again.
    """

    def __init__(self, calendar: WorkingCalendar, policy: DeadlinePolicy) -> None:
        self.calendar = calendar
        self.policy = policy
        self._known: dict[str, _Kept] = {}
        self._pending: dict[str, _Kept] = {}
        # Equal states kept once; emptied when they outgrow the cases (what they shared
        # stays shared).
        self._states: dict[_State, _State] = {}
        # For incremental calls: the last instant and a heap of the next events after
        # which a case's row may differ: its acceptance, conclusion, a suspension's start
        # or end, and — while a suspension runs — the next local midnight (the working
        # days it pushes the deadlines out by move on with the date, and only then).
        self._at: dt.datetime | None = None
        self._events: list[tuple[dt.datetime, str]] = []
        # The candidates of the last batches() from its unfinished batch on, if it did
        # not finish (a batch failed to be stored): looked at again by the next call.
        self._unstored: tuple[list[Case], int] = ([], 0)

    def _kept(
        self,
        mark: int | None,
        calendar_version: str,
        open_: bool,
        dues: tuple[dt.datetime, dt.datetime, int],
    ) -> _Kept:
        """A row's :class:`_Kept`, its state the object kept for equal ones."""
        if len(self._states) > len(self._known) + len(self._pending) + 1000:
            self._states = {}
        state = (calendar_version, open_, dues)
        return _Kept(mark, self._states.setdefault(state, state))

    def load(self, latest: Mapping[str, Known]) -> None:
        """The last row of every case, as the state store has it."""
        self._known, self._states = {}, {}
        for case_id, k in latest.items():
            self._known[case_id] = self._kept(
                _loaded_mark(k.facts), k.calendar_version, k.open, k.dues
            )

    def _candidates(
        self, snapshot: Snapshot, at: dt.datetime, changed: Iterable[str] | None
    ) -> list[Case]:
        """The cases whose row may differ from the last call's: all of them without
        ``changed`` (or at an earlier instant); else the changed ones, those uncommitted
        or not looked at (a batch that was not stored), and those with an event since
        (a midnight while a suspension of theirs runs)."""
        if changed is None or self._at is None or at < self._at:
            self._events = []
            ids: Iterable[str] = snapshot.cases
        else:
            rest, start = self._unstored  # batches not stored (and their pending rows)
            due = set(changed) | set(self._pending) | {c.id for c in rest[start:]}
            while self._events and self._events[0][0] <= at:
                due.add(heapq.heappop(self._events)[1])
            ids = sorted(due)
        self._unstored = ([], 0)
        self._at = at
        midnight = dt.datetime.combine(
            self.policy.local_date(at) + dt.timedelta(days=1), dt.time(0), tzinfo=self.policy.tz
        )
        cases: list[Case] = []
        for case_id in ids:
            case = snapshot.cases.get(case_id)
            if case is None:
                continue
            for instant in (
                case.accepted_at,
                case.concluded_at,
                *(t for s in case.suspensions for t in (s.started_at, s.ended_at)),
            ):
                if instant is not None and instant > at:
                    heapq.heappush(self._events, (instant, case_id))
            open_now = case.concluded_at is None or case.concluded_at > at
            if open_now and _suspended(case, at):
                heapq.heappush(self._events, (midnight, case_id))
            cases.append(case)
        return cases

    def changes(
        self, snapshot: Snapshot, at: dt.datetime, changed: Iterable[str] | None = None
    ) -> list[CaseSla]:
        """The rows to append for an evaluation at ``at``; :meth:`commit` once stored.

        ``changed`` names the cases changed since the previous call (None: unknown, every
        case is looked at); the others are looked at again only when an event of theirs
        has come or while one of their suspensions runs.
        """
        return self._judged(self._candidates(snapshot, at, changed), snapshot, at)

    def batches(
        self,
        snapshot: Snapshot,
        at: dt.datetime,
        changed: Iterable[str] | None = None,
        size: int = BATCH_CASES,
    ) -> Iterator[list[CaseSla]]:
        """:meth:`changes` in batches of at most ``size`` cases looked at, each to be
        stored and :meth:`commit`-ted before the next is asked for. A first evaluation
        writes a row for every case: a province's rows at once would be a million objects
        held together on top of everything else. A batch not committed is looked at
        again at the next call, as with :meth:`changes`."""
        candidates = self._candidates(snapshot, at, changed)
        for start in range(0, len(candidates), size):
            self._unstored = (candidates, start)
            yield self._judged(candidates[start : start + size], snapshot, at)
        self._unstored = ([], 0)

    def _judged(self, candidates: list[Case], snapshot: Snapshot, at: dt.datetime) -> list[CaseSla]:
        """The rows of these candidates, each remembered as pending."""
        self._pending = {}
        rows: list[CaseSla] = []
        version = self.calendar.version
        for case in candidates:
            if case.accepted_at > at:
                continue
            item = snapshot.items.get(case.item)
            if item is None:
                continue
            facts = case_facts(case, item, at)
            quick = hash(facts) & _QUICK_BITS
            kept = self._known.get(case.id)
            running = facts[9] is None and _suspended(case, at)
            digest = None
            if kept is not None and not running:
                kept_version, kept_open, _ = kept.state
                if not kept_open or kept_version == version:
                    if kept.mark == quick:
                        continue
                    digest = facts_digest(facts)
                    if _same_facts(kept.mark, quick, digest):  # a loaded digest, seen now
                        self._known[case.id] = kept._replace(mark=quick)
                        continue
            if digest is None:
                digest = facts_digest(facts)
            row = judge(case, item, self.calendar, self.policy, at, digest)
            if (
                kept is not None
                and kept.state[0] == version
                and kept.state[2] == row.dues
                and _same_facts(kept.mark, quick, digest)
            ):  # a running suspension that has not moved the deadlines today
                self._known[case.id] = kept._replace(mark=quick)
                continue
            rows.append(row)
            self._pending[case.id] = self._kept(quick, version, row.concluded_at is None, row.dues)
        return rows

    def commit(self, rows: Iterable[CaseSla]) -> None:
        """The rows of the last :meth:`changes` are in the store: remember them."""
        for row in rows:
            self._known[row.case_id] = self._pending.pop(row.case_id)
        self._pending = {}
