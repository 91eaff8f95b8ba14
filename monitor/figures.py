"""Hall figures: the counts and month-to-date KPIs a supervision office watches.

Computed after each evaluation from the snapshot and the findings that are open in
the ledger (so a finding held while its source is down still counts), keyed only by
bounded dimensions — center, department, window, rule, severity — never by a case or
a person. Exporters render these; they compute nothing themselves.

Month-to-date KPIs (:mod:`monitor.kpis` defines them) are counted in the hall's time
zone; a case is late when a red finding of :data:`LATE_RULES` is open on it.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy, is_suspended, working_days_used
from monitor.kpis import MonthFigures
from monitor.model import Case, Finding, Item, ItemKind, Snapshot

__all__ = ["FigureBook", "HallFigures", "MonthFigures", "compute_figures"]

LATE_RULES = frozenset({"case.concluded_late", "case.statutory_overdue"})
FEE_GAP_RULES = frozenset({"fee.not_in_designated_account"})

Place = tuple[str, str]  # (center, department)
WindowPlace = tuple[str, str, str]  # (center, department, window)


def _label(value: str | None) -> str:
    return value or ""


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
    # Decided this month (with its item known): the limits and working days it took.
    decided_this_month: bool
    statutory_days: int
    promised_days: int
    used_days: int | None
    accepted_this_month: bool
    immediate: bool
    on_site: bool  # decided on its acceptance day


def case_share(
    case: Case,
    item: Item | None,
    at: dt.datetime,
    policy: DeadlinePolicy,
    calendar: WorkingCalendar | None,
) -> CaseShare:
    today = policy.local_date(at)
    month_start = today.replace(day=1)
    decided = not case.is_open and (
        case.result is None or not case.result.stops_clock_without_decision
    )
    concluded_on = None if case.concluded_at is None else policy.local_date(case.concluded_at)
    decided_this_month = (
        decided
        and item is not None
        and concluded_on is not None
        and month_start <= concluded_on <= today
    )
    used = None
    if decided_this_month and calendar is not None:
        assert case.concluded_at is not None
        used = working_days_used(case, calendar, policy, case.concluded_at)
    accepted_on = policy.local_date(case.accepted_at)
    return CaseShare(
        place=(_label(case.center), _label(case.department)),
        open=case.is_open,
        suspended=case.is_open and is_suspended(case, at),
        decided=decided,
        decided_this_month=decided_this_month,
        statutory_days=0 if item is None else item.statutory_limit_days,
        promised_days=0 if item is None else item.promised_limit_days,
        used_days=used,
        accepted_this_month=month_start <= accepted_on <= today,
        immediate=item is not None and item.kind is ItemKind.IMMEDIATE,
        on_site=case.concluded_at is not None
        and (case.result is None or not case.result.stops_clock_without_decision)
        and concluded_on == accepted_on,
    )


def _add_share(month: MonthFigures, share: CaseShare, late: bool) -> None:
    if share.decided_this_month:
        month.add_decided(
            on_time=not late,
            statutory_days=share.statutory_days,
            promised_days=share.promised_days,
            used_days=share.used_days,
        )
    if share.accepted_this_month:
        month.add_accepted(
            concluded=not share.open, immediate=share.immediate, on_site=share.on_site
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


def _nonzero(counts: Counter[Any]) -> Counter[Any]:
    return Counter({key: count for key, count in counts.items() if count})


class FindingTally:
    """:func:`_finding_figures`'s counts, kept up to date one changed finding at a time.

    The finding parts that depend on nothing but the finding are summed by difference;
    what depends on the instant (the oldest overdue age) or on the snapshot (the fee
    due of a case whose fee is unreconciled) is computed at :meth:`fill` from the few
    values kept for it.
    """

    def __init__(self) -> None:
        self.findings: dict[str, Finding] = {}
        self._open: Counter[tuple[str, str, str, str]] = Counter()
        self._unconfirmed = 0
        self._late: Counter[str] = Counter()  # case id -> its open late findings
        self._due_soon: Counter[WindowPlace] = Counter()
        self._overdue: Counter[WindowPlace] = Counter()
        self._overdue_due: dict[Place, Counter[dt.datetime]] = {}
        self._fee_gaps: dict[str, tuple[Place, str]] = {}  # fingerprint -> (place, case id)

    def _count(self, fingerprint: str, f: Finding, sign: int) -> None:
        center, department = _label(f.center), _label(f.department)
        self._open[(f.rule, f.severity.value, center, department)] += sign
        if not f.calendar_confirmed:
            self._unconfirmed += sign
        if f.case_id is None:
            return
        if f.rule in LATE_RULES:
            self._late[f.case_id] += sign
            if not self._late[f.case_id]:
                del self._late[f.case_id]
        where = (center, department, _label(f.window))
        if f.rule == "case.due_soon":
            self._due_soon[where] += sign
        elif f.rule == "case.overdue":
            self._overdue[where] += sign
            if f.due_at is not None:
                dues = self._overdue_due.setdefault((center, department), Counter())
                dues[f.due_at] += sign
                if not dues[f.due_at]:
                    del dues[f.due_at]
                if not dues:
                    del self._overdue_due[(center, department)]
        elif f.rule in FEE_GAP_RULES:
            if sign > 0:
                self._fee_gaps[fingerprint] = ((center, department), f.case_id)
            else:
                self._fee_gaps.pop(fingerprint, None)

    def set(self, fingerprint: str, finding: Finding | None) -> None:
        """The finding open under ``fingerprint`` now (None: none is)."""
        old = self.findings.get(fingerprint)
        if old is finding:
            return
        if old is not None:
            self._count(fingerprint, old, -1)
            del self.findings[fingerprint]
        if finding is not None:
            self._count(fingerprint, finding, +1)
            self.findings[fingerprint] = finding

    def reset(self, open_findings: Iterable[Finding]) -> None:
        self.__init__()  # type: ignore[misc]
        for f in open_findings:
            self.set(f.fingerprint, f)

    def fill(self, figures: HallFigures, snapshot: Snapshot) -> set[str]:
        """What :func:`_finding_figures` adds to ``figures``; the cases made late."""
        figures.findings_open.update(_nonzero(self._open))
        figures.unconfirmed_deadlines += self._unconfirmed
        figures.due_soon.update(_nonzero(self._due_soon))
        figures.overdue.update(_nonzero(self._overdue))
        at = figures.at
        for place, dues in self._overdue_due.items():
            age = (at - min(dues)).total_seconds()
            figures.oldest_overdue_seconds[place] = max(
                age, figures.oldest_overdue_seconds.get(place, 0.0)
            )
        for place, case_id in self._fee_gaps.values():
            case = snapshot.cases.get(case_id)
            if case is not None:
                figures.unreconciled_fee_fen[place] += case.fee_due_fen
        return set(self._late)


def _rating_figures(figures: HallFigures, snapshot: Snapshot, policy: DeadlinePolicy) -> None:
    today = policy.local_date(figures.at)
    month_start = today.replace(day=1)
    for rating in snapshot.evaluations.values():
        if month_start <= policy.local_date(rating.rated_at) <= today:
            figures.month.setdefault(_label(rating.center), MonthFigures()).add_rating(rating.level)


def compute_figures(
    snapshot: Snapshot,
    open_findings: Iterable[Finding],
    at: dt.datetime,
    policy: DeadlinePolicy,
    calendar: WorkingCalendar | None = None,
) -> HallFigures:
    """The hall's figures at ``at``; without a ``calendar`` the speed-up KPIs stay empty."""
    figures = HallFigures(at=at)
    late_cases = _finding_figures(figures, open_findings, snapshot)
    for case in snapshot.cases.values():
        share = case_share(case, snapshot.items.get(case.item), at, policy, calendar)
        month = figures.month.setdefault(share.place[0], MonthFigures())
        if share.open:
            figures.cases_open[share.place] += 1
            if share.suspended:
                figures.cases_suspended[share.place] += 1
        late = case.id in late_cases
        if share.decided:
            figures.concluded[(*share.place, "late" if late else "on_time")] += 1
        _add_share(month, share, late)
    _rating_figures(figures, snapshot, policy)
    return figures


# The month counters a case's share adds to, summed per center by FigureBook.
_MONTH_FIELDS = (
    "accepted",
    "accepted_concluded",
    "immediate",
    "on_site",
    "decided",
    "speedup_cases",
    "statutory_days",
    "promised_days",
    "used_days",
)


_Parts = tuple[tuple[tuple[str, ...], int], ...]


def _share_totals(share: CaseShare) -> _Parts:
    """What a case of this share adds to :class:`FigureBook`'s totals (its nonzero parts)."""
    center, department = share.place
    alone = MonthFigures()
    _add_share(alone, share, late=False)
    parts = {
        ("cases", center): 1,
        ("open", center, department): int(share.open),
        ("suspended", center, department): int(share.suspended),
        ("concluded", center, department): int(share.decided),
        **{(name, center): getattr(alone, name) for name in _MONTH_FIELDS},
    }
    return tuple((key, value) for key, value in parts.items() if value)


class FigureBook:
    """The case part of the hall figures, kept up to date one changed case at a time.

    Each case's :class:`CaseShare` is remembered and the totals adjusted when the case
    changes or one of its suspensions starts or ends; a new day (the month window moves)
    or an earlier instant counts every case again. Lateness comes from the open findings
    at every call, as in :func:`compute_figures`, which this must always equal.

    Shares are values, and most cases of a hall share theirs with many others (an open
    case of a place and item limits): equal shares are kept once (:meth:`_shared`),
    so a case costs the book a dictionary entry.
    """

    def __init__(self, policy: DeadlinePolicy) -> None:
        self.policy = policy
        self._day: dt.date | None = None
        self._at: dt.datetime | None = None
        self._calendar: WorkingCalendar | None = None
        # Each case's share, as kept in _distinct (with what it adds to the totals).
        self._shares: dict[str, tuple[CaseShare, _Parts]] = {}
        # Each share value once, with what it adds to the totals (see _share_totals).
        self._distinct: dict[CaseShare, tuple[CaseShare, _Parts]] = {}
        self._totals: Counter[tuple[str, ...]] = Counter()
        self._events: list[tuple[dt.datetime, str]] = []  # suspension starts and ends
        # Each rating's part of the month figures (its center, and whether it is a
        # satisfied one; None: not rated this month), and their totals by center.
        self._ratings: dict[str, tuple[str, bool] | None] = {}
        self._rated: Counter[tuple[str, str]] = Counter()  # (center, "ratings"/"satisfied")
        self.tally = FindingTally()  # the open findings' part

    def _count(self, kept: tuple[CaseShare, _Parts], sign: int) -> None:
        totals = self._totals
        for key, value in kept[1]:
            totals[key] += sign * value

    def _shared(self, share: CaseShare) -> tuple[CaseShare, _Parts]:
        """The one object kept for shares equal to ``share``, with its parts (a share is
        hashed once per count, here: thirteen fields)."""
        kept = self._distinct.get(share)
        if kept is None:
            kept = self._distinct[share] = (share, _share_totals(share))
        return kept

    def _recount(
        self, case_id: str, snapshot: Snapshot, at: dt.datetime, calendar: WorkingCalendar | None
    ) -> None:
        old = self._shares.pop(case_id, None)
        if old is not None:
            self._count(old, -1)
        case = snapshot.cases.get(case_id)
        if case is None:
            return
        kept = self._shared(
            case_share(case, snapshot.items.get(case.item), at, self.policy, calendar)
        )
        self._shares[case_id] = kept
        self._count(kept, +1)
        for suspension in case.suspensions:
            for instant in (suspension.started_at, suspension.ended_at):
                if instant is not None and instant > at:
                    heapq.heappush(self._events, (instant, case_id))

    def _rate(
        self, rating_id: str, snapshot: Snapshot, month_start: dt.date, today: dt.date
    ) -> None:
        """Count one rating again (as :func:`_rating_figures` counts each)."""
        old = self._ratings.pop(rating_id, None)
        if old is not None:
            self._rated[(old[0], "ratings")] -= 1
            self._rated[(old[0], "satisfied")] -= old[1]
        rating = snapshot.evaluations.get(rating_id)
        if rating is None:
            return
        share = None
        if month_start <= self.policy.local_date(rating.rated_at) <= today:
            share = (_label(rating.center), rating.level <= 2)
            self._rated[(share[0], "ratings")] += 1
            self._rated[(share[0], "satisfied")] += share[1]
        self._ratings[rating_id] = share

    def figures(
        self,
        snapshot: Snapshot,
        changed_cases: Iterable[str] | None,
        open_findings: Iterable[Finding] | None,
        at: dt.datetime,
        calendar: WorkingCalendar | None = None,
        changed_ratings: Iterable[str] | None = None,
    ) -> HallFigures:
        """What :func:`compute_figures` says; ``changed_cases`` None: all of them changed.

        ``changed_cases`` names every case changed, added or gone since the last call (as
        the daemon's assembler reports them): the others are not compared again.
        ``changed_ratings`` does the same for the ratings (None: every rating is counted
        again).

        ``open_findings`` None: the open findings are those of :attr:`tally`, kept up to
        date by the caller (:meth:`FindingTally.set`); given, the tally is counted again.
        """
        day = self.policy.local_date(at)
        if (
            changed_cases is None
            or day != self._day
            or self._at is None
            or at < self._at
            or calendar is not self._calendar
        ):
            self._shares, self._totals, self._events = {}, Counter(), []
            self._distinct = {}
            due = set(snapshot.cases)
            changed_ratings = None
        else:
            due = set(changed_cases)
            while self._events and self._events[0][0] <= at:
                due.add(heapq.heappop(self._events)[1])
        self._day, self._at, self._calendar = day, at, calendar
        for case_id in due:
            self._recount(case_id, snapshot, at, calendar)
        if len(self._shares) != len(snapshot.cases):
            # A case went without being named changed: found by comparing every case
            # (which the changed cases spare at every other call).
            for case_id in set(self._shares) - set(snapshot.cases):
                self._recount(case_id, snapshot, at, calendar)
        figures = HallFigures(at=at)
        if open_findings is not None:
            self.tally.reset(open_findings)
        late_cases = self.tally.fill(figures, snapshot)
        late: Counter[tuple[str, ...]] = Counter()
        for case_id in late_cases:
            kept = self._shares.get(case_id)
            if kept is not None and kept[0].decided:
                share = kept[0]
                late[share.place] += 1
                late[(share.place[0],)] += share.decided_this_month
        for key, count in self._totals.items():
            if not count:
                continue
            kind, center, *rest = key
            month = figures.month.setdefault(center, MonthFigures())
            place = (center, *rest)
            if kind == "open":
                figures.cases_open[place] = count
            elif kind == "suspended":
                figures.cases_suspended[place] = count
            elif kind == "concluded":
                if count - late[place]:
                    figures.concluded[(*place, "on_time")] = count - late[place]
                if late[place]:
                    figures.concluded[(*place, "late")] = late[place]
            elif kind in _MONTH_FIELDS:
                setattr(month, kind, count)
        for center, month in figures.month.items():
            month.decided_on_time = month.decided - late[(center,)]
        self._count_ratings(figures, snapshot, changed_ratings)
        return figures

    def _count_ratings(
        self, figures: HallFigures, snapshot: Snapshot, changed: Iterable[str] | None
    ) -> None:
        """:func:`_rating_figures`, the ratings named changed counted again (all of them
        if None, or if a rating went without being named)."""
        today = self.policy.local_date(figures.at)
        month_start = today.replace(day=1)
        if changed is None:
            self._ratings, self._rated = {}, Counter()
            changed = snapshot.evaluations
        for rating_id in changed:
            self._rate(rating_id, snapshot, month_start, today)
        if len(self._ratings) != len(snapshot.evaluations):
            for rating_id in set(self._ratings) - set(snapshot.evaluations):
                self._rate(rating_id, snapshot, month_start, today)
        for (center, kind), count in self._rated.items():
            if kind == "ratings" and count:
                month = figures.month.setdefault(center, MonthFigures())
                month.ratings = count
                month.satisfied = self._rated[(center, "satisfied")]
