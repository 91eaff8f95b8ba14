"""Hall figures: the counts and month-to-date KPIs a supervision office watches.

Computed after each evaluation from the snapshot and the findings that are open in
the ledger (so a finding held while its source is down still counts), keyed only by
bounded dimensions — center, department, window, rule, severity — never by a case or
a person. Exporters render these; they compute nothing themselves.

KPI definitions (DESIGN.md §1), month to date in the hall's time zone:
办结率 = accepted this month and already concluded / accepted this month;
按时办结率 = decided this month within the promised limit / decided this month;
即办件比例 = immediate items among cases accepted this month;
满意率 = ratings 1–2 (非常满意, 满意) / all ratings this month.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.deadlines import DeadlinePolicy, is_suspended
from monitor.model import Case, Finding, Item, ItemKind, Snapshot

LATE_RULES = frozenset({"case.concluded_late", "case.statutory_overdue"})
FEE_GAP_RULES = frozenset({"fee.not_in_designated_account"})

Place = tuple[str, str]  # (center, department)
WindowPlace = tuple[str, str, str]  # (center, department, window)


def _label(value: str | None) -> str:
    return value or ""


@dataclass
class MonthFigures:
    accepted: int = 0
    accepted_concluded: int = 0
    immediate: int = 0
    decided: int = 0
    decided_on_time: int = 0
    ratings: int = 0
    satisfied: int = 0

    @staticmethod
    def _ratio(part: int, whole: int) -> float | None:
        return None if whole == 0 else part / whole

    @property
    def conclusion_ratio(self) -> float | None:
        return self._ratio(self.accepted_concluded, self.accepted)

    @property
    def on_time_ratio(self) -> float | None:
        return self._ratio(self.decided_on_time, self.decided)

    @property
    def immediate_ratio(self) -> float | None:
        return self._ratio(self.immediate, self.accepted)

    @property
    def satisfaction_ratio(self) -> float | None:
        return self._ratio(self.satisfied, self.ratings)


@dataclass
class HallFigures:
    at: dt.datetime
    cases_open: Counter[Place] = field(default_factory=Counter)
    cases_suspended: Counter[Place] = field(default_factory=Counter)
    due_soon: Counter[WindowPlace] = field(default_factory=Counter)
    overdue: Counter[WindowPlace] = field(default_factory=Counter)
    oldest_overdue_seconds: dict[Place, float] = field(default_factory=dict)
    findings_open: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    unreconciled_fee_fen: Counter[Place] = field(default_factory=Counter)
    concluded: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # + timeliness
    month: dict[str, MonthFigures] = field(default_factory=dict)  # by center
    unconfirmed_deadlines: int = 0


@dataclass(frozen=True, slots=True)
class CaseShare:
    """What one case adds to the hall figures at an instant, its lateness aside."""

    place: Place
    open: bool
    suspended: bool
    decided: bool  # concluded with a decision (not withdrawn, refused, returned, void)
    decided_this_month: bool
    accepted_this_month: bool
    immediate: bool


def case_share(case: Case, item: Item | None, at: dt.datetime, policy: DeadlinePolicy) -> CaseShare:
    today = policy.local_date(at)
    month_start = today.replace(day=1)
    decided = not case.is_open and (
        case.result is None or not case.result.stops_clock_without_decision
    )
    concluded_on = None if case.concluded_at is None else policy.local_date(case.concluded_at)
    return CaseShare(
        place=(_label(case.center), _label(case.department)),
        open=case.is_open,
        suspended=case.is_open and is_suspended(case, at),
        decided=decided,
        decided_this_month=decided
        and concluded_on is not None
        and month_start <= concluded_on <= today,
        accepted_this_month=month_start <= policy.local_date(case.accepted_at) <= today,
        immediate=item is not None and item.kind is ItemKind.IMMEDIATE,
    )


def _finding_figures(
    figures: HallFigures, findings: Iterable[Finding], snapshot: Snapshot
) -> set[str]:
    """Counts from the open findings; the ids of the cases they make late."""
    at = figures.at
    late_cases: set[str] = set()
    for f in findings:
        center, department = _label(f.center), _label(f.department)
        figures.findings_open[(f.rule, f.severity.value, center, department)] += 1
        if not f.calendar_confirmed:
            figures.unconfirmed_deadlines += 1
        if f.case_id is None:
            continue
        if f.rule in LATE_RULES:
            late_cases.add(f.case_id)
        where = (center, department, _label(f.window))
        if f.rule == "case.due_soon":
            figures.due_soon[where] += 1
        elif f.rule == "case.overdue":
            figures.overdue[where] += 1
            if f.due_at is not None:
                age = (at - f.due_at).total_seconds()
                place = (center, department)
                figures.oldest_overdue_seconds[place] = max(
                    age, figures.oldest_overdue_seconds.get(place, 0.0)
                )
        elif f.rule in FEE_GAP_RULES:
            case = snapshot.cases.get(f.case_id)
            if case is not None:
                figures.unreconciled_fee_fen[(center, department)] += case.fee_due_fen
    return late_cases


def _rating_figures(figures: HallFigures, snapshot: Snapshot, policy: DeadlinePolicy) -> None:
    today = policy.local_date(figures.at)
    month_start = today.replace(day=1)
    for rating in snapshot.evaluations.values():
        if month_start <= policy.local_date(rating.rated_at) <= today:
            month = figures.month.setdefault(_label(rating.center), MonthFigures())
            month.ratings += 1
            month.satisfied += rating.level <= 2


def compute_figures(
    snapshot: Snapshot,
    open_findings: Iterable[Finding],
    at: dt.datetime,
    policy: DeadlinePolicy,
) -> HallFigures:
    figures = HallFigures(at=at)
    late_cases = _finding_figures(figures, open_findings, snapshot)
    for case in snapshot.cases.values():
        share = case_share(case, snapshot.items.get(case.item), at, policy)
        month = figures.month.setdefault(share.place[0], MonthFigures())
        if share.open:
            figures.cases_open[share.place] += 1
            figures.cases_suspended[share.place] += share.suspended
        late = case.id in late_cases
        if share.decided:
            figures.concluded[(*share.place, "late" if late else "on_time")] += 1
        if share.decided_this_month:
            month.decided += 1
            month.decided_on_time += not late
        if share.accepted_this_month:
            month.accepted += 1
            month.accepted_concluded += not share.open
            month.immediate += share.immediate
    _rating_figures(figures, snapshot, policy)
    figures.cases_suspended = +figures.cases_suspended
    return figures


class FigureBook:
    """The case part of the hall figures, kept up to date one changed case at a time.

    Each case's :class:`CaseShare` is remembered and the totals adjusted when the case
    changes or one of its suspensions starts or ends; a new day (the month window moves)
    or an earlier instant counts every case again. Lateness comes from the open findings
    at every call, as in :func:`compute_figures`, which this must always equal.
    """

    def __init__(self, policy: DeadlinePolicy) -> None:
        self.policy = policy
        self._day: dt.date | None = None
        self._at: dt.datetime | None = None
        self._shares: dict[str, CaseShare] = {}
        self._totals: Counter[tuple[str, ...]] = Counter()
        self._events: list[tuple[dt.datetime, str]] = []  # suspension starts and ends

    def _count(self, share: CaseShare, sign: int) -> None:
        center, department = share.place
        t = self._totals
        t[("cases", center)] += sign
        t[("open", center, department)] += sign * share.open
        t[("suspended", center, department)] += sign * share.suspended
        t[("decided", center, department)] += sign * share.decided
        t[("decided_month", center)] += sign * share.decided_this_month
        t[("accepted", center)] += sign * share.accepted_this_month
        t[("accepted_concluded", center)] += sign * (share.accepted_this_month and not share.open)
        t[("immediate", center)] += sign * (share.accepted_this_month and share.immediate)

    def _recount(self, case_id: str, snapshot: Snapshot, at: dt.datetime) -> None:
        old = self._shares.pop(case_id, None)
        if old is not None:
            self._count(old, -1)
        case = snapshot.cases.get(case_id)
        if case is None:
            return
        share = case_share(case, snapshot.items.get(case.item), at, self.policy)
        self._shares[case_id] = share
        self._count(share, +1)
        for suspension in case.suspensions:
            for instant in (suspension.started_at, suspension.ended_at):
                if instant is not None and instant > at:
                    heapq.heappush(self._events, (instant, case_id))

    def figures(
        self,
        snapshot: Snapshot,
        changed_cases: Iterable[str] | None,
        open_findings: Iterable[Finding],
        at: dt.datetime,
    ) -> HallFigures:
        day = self.policy.local_date(at)
        if changed_cases is None or day != self._day or self._at is None or at < self._at:
            self._shares, self._totals, self._events = {}, Counter(), []
            due = set(snapshot.cases)
        else:
            due = set(changed_cases) | set(self._shares) - set(snapshot.cases)
            while self._events and self._events[0][0] <= at:
                due.add(heapq.heappop(self._events)[1])
        self._day, self._at = day, at
        for case_id in due:
            self._recount(case_id, snapshot, at)
        figures = HallFigures(at=at)
        late_cases = _finding_figures(figures, open_findings, snapshot)
        late: Counter[tuple[str, ...]] = Counter()
        for case_id in late_cases:
            share = self._shares.get(case_id)
            if share is not None and share.decided:
                late[share.place] += 1
                late[(share.place[0],)] += share.decided_this_month
        for key, count in self._totals.items():
            if not count:
                continue
            kind, center, *rest = key
            if kind == "cases":
                figures.month.setdefault(center, MonthFigures())
                continue
            place = (center, *rest)
            month = figures.month.setdefault(center, MonthFigures())
            if kind == "open":
                figures.cases_open[place] = count
            elif kind == "suspended":
                figures.cases_suspended[place] = count
            elif kind == "decided":
                on_time = count - late[place]
                if on_time:
                    figures.concluded[(*place, "on_time")] = on_time
                if late[place]:
                    figures.concluded[(*place, "late")] = late[place]
            elif kind == "decided_month":
                month.decided = count
                month.decided_on_time = count - late[(center,)]
            else:
                setattr(month, kind, count)
        _rating_figures(figures, snapshot, self.policy)
        return figures
