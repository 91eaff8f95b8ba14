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
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.deadlines import DeadlinePolicy, is_suspended
from monitor.model import Finding, ItemKind, Snapshot

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


def compute_figures(
    snapshot: Snapshot,
    open_findings: Iterable[Finding],
    at: dt.datetime,
    policy: DeadlinePolicy,
) -> HallFigures:
    figures = HallFigures(at=at)
    findings = list(open_findings)
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

    today = policy.local_date(at)
    month_start = today.replace(day=1)
    for case in snapshot.cases.values():
        center, department = _label(case.center), _label(case.department)
        month = figures.month.setdefault(center, MonthFigures())
        if case.is_open:
            figures.cases_open[(center, department)] += 1
            if is_suspended(case, at):
                figures.cases_suspended[(center, department)] += 1
        else:
            late = case.id in late_cases
            decided = case.result is None or not case.result.stops_clock_without_decision
            if decided:
                timeliness = "late" if late else "on_time"
                figures.concluded[(center, department, timeliness)] += 1
            assert case.concluded_at is not None
            if decided and month_start <= policy.local_date(case.concluded_at) <= today:
                month.decided += 1
                month.decided_on_time += not late
        if month_start <= policy.local_date(case.accepted_at) <= today:
            month.accepted += 1
            month.accepted_concluded += not case.is_open
            item = snapshot.items.get(case.item)
            month.immediate += item is not None and item.kind is ItemKind.IMMEDIATE
    for rating in snapshot.evaluations.values():
        if month_start <= policy.local_date(rating.rated_at) <= today:
            month = figures.month.setdefault(_label(rating.center), MonthFigures())
            month.ratings += 1
            month.satisfied += rating.level <= 2
    return figures
