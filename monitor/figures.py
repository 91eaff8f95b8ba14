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
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy, is_suspended, working_days_used
from monitor.kpis import MonthFigures
from monitor.model import Finding, ItemKind, Snapshot

__all__ = ["HallFigures", "MonthFigures", "compute_figures"]

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


def compute_figures(
    snapshot: Snapshot,
    open_findings: Iterable[Finding],
    at: dt.datetime,
    policy: DeadlinePolicy,
    calendar: WorkingCalendar | None = None,
) -> HallFigures:
    """The hall's figures at ``at``; without a ``calendar`` the speed-up KPIs stay empty."""
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
        item = snapshot.items.get(case.item)
        if case.is_open:
            figures.cases_open[(center, department)] += 1
            if is_suspended(case, at):
                figures.cases_suspended[(center, department)] += 1
        else:
            assert case.concluded_at is not None
            late = case.id in late_cases
            decided = case.result is None or not case.result.stops_clock_without_decision
            if decided:
                timeliness = "late" if late else "on_time"
                figures.concluded[(center, department, timeliness)] += 1
            if (
                decided
                and item is not None
                and month_start <= policy.local_date(case.concluded_at) <= today
            ):
                month.add_decided(
                    on_time=not late,
                    statutory_days=item.statutory_limit_days,
                    promised_days=item.promised_limit_days,
                    used_days=None
                    if calendar is None
                    else working_days_used(case, calendar, policy, case.concluded_at),
                )
        accepted_on = policy.local_date(case.accepted_at)
        if month_start <= accepted_on <= today:
            on_site = (
                case.concluded_at is not None
                and (case.result is None or not case.result.stops_clock_without_decision)
                and policy.local_date(case.concluded_at) == accepted_on
            )
            month.add_accepted(
                concluded=not case.is_open,
                immediate=item is not None and item.kind is ItemKind.IMMEDIATE,
                on_site=on_site,
            )
    for rating in snapshot.evaluations.values():
        if month_start <= policy.local_date(rating.rated_at) <= today:
            figures.month.setdefault(_label(rating.center), MonthFigures()).add_rating(rating.level)
    return figures
