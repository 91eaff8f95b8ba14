"""The monthly supervision bulletin's figures (月度电子监察通报), from the state store alone.

Nothing here is recounted with today's calendar or parameters. Per case the bulletin
uses the SLA row the daemon recorded (:mod:`monitor.sla`) that was in force at the end
of the period — or, for a conclusion within the period that the daemon only saw after
it ended, the first row that knew of it. Findings come from the ledger and its event
history; lateness of a case still open at the end is counted with the calendar version
recorded with its row (kept day by day in the store). So regenerating October in
December gives October's numbers, and the bulletin lists the calendar versions and the
parameter sets it rests on.

Counting conventions (the KPIs themselves are defined in :mod:`monitor.kpis`):

* a period is ``[start, end)`` in hall time: a calendar month, or the month to date;
* a finding is *new* in the period when it opened (or reopened) within it, *open at the
  end* when it was open at the last instant of the period, and *active* when it was open
  at any time in it; cards (红牌/黄牌) count new findings, lists show active ones;
* an overdue case (超期件) is a case with an active red finding of the overdue family
  (:data:`OVERDUE_RULES`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from monitor.calendar import CalendarRangeError, WorkingCalendar
from monitor.deadlines import DeadlinePolicy
from monitor.kpis import MonthFigures
from monitor.model import Evaluation, Item, Severity
from monitor.sla import CaseSla
from monitor.store import LedgerEntry, ParameterSet, StateStore

OVERDUE_RULES = ("case.overdue", "case.concluded_late", "case.statutory_overdue")
FEE_RULES = (
    "fee.not_in_designated_account",
    "fee.amount_mismatch",
    "fee.unauthorized",
    "offsystem.payment_without_case",
)
_OPENING = frozenset({"opened", "reopened"})
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ReportError(ValueError):
    """The report cannot be made as asked (a bad month, a month not begun yet)."""


# --- the period ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    month: str  # "2026-10"
    start: dt.datetime
    end: dt.datetime  # exclusive: the next month's first instant, or now
    complete: bool  # the whole month (False: month to date)

    def contains(self, instant: dt.datetime | None) -> bool:
        return instant is not None and self.start <= instant < self.end

    def days(self, policy: DeadlinePolicy) -> list[dt.date]:
        first, last = policy.local_date(self.start), policy.local_date(self.last_instant)
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]

    @property
    def last_instant(self) -> dt.datetime:
        return self.end - dt.timedelta(microseconds=1)


def in_utc(period: Period) -> Period:
    """The same period with its bounds in UTC (the instants are the same)."""
    return dataclasses.replace(
        period, start=period.start.astimezone(dt.UTC), end=period.end.astimezone(dt.UTC)
    )


def month_period(month: str, policy: DeadlinePolicy, now: dt.datetime) -> Period:
    """The period of ``month`` ("YYYY-MM"), cut at ``now`` if it is still running."""
    match = _MONTH.match(month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ReportError(f"month {month!r} is not of the form YYYY-MM")
    year, number = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, number, 1, tzinfo=policy.tz)
    following = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=policy.tz)
    if start > now:
        raise ReportError(f"month {month} has not begun yet (now {now.isoformat()})")
    complete = following <= now
    return Period(month, start, following if complete else now, complete)


def previous_month(month: str) -> str:
    year, number = (int(x) for x in month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


# --- what the store holds ------------------------------------------------------------------


@dataclass
class ReportInputs:
    """Everything a bulletin is computed from, read from the state store once.

    ``first_accepted`` is set when ``sla`` holds only the rows of the cases that touch
    the periods read (:func:`load_inputs` with periods): the earliest acceptance of each
    center's rows in the whole store, which tells a period with no case of its own from
    one the daemon never recorded. None: ``sla`` is every row of the store.
    """

    sla: list[CaseSla]
    findings: dict[str, LedgerEntry]
    events: list[tuple[str, dt.datetime, str]]
    calendars: dict[str, WorkingCalendar]
    parameter_sets: list[ParameterSet]
    items: dict[str, Item]
    evaluations: list[Evaluation]
    first_accepted: dict[str | None, dt.datetime] | None = None


def load_inputs(
    store: StateStore,
    step: Callable[[str], None] = lambda _: None,
    *,
    period: Period | None = None,
    previous: Period | None = None,
) -> ReportInputs:
    """What the bulletin of ``period`` (with ``previous`` for the change column) is made
    from: only the SLA rows of the cases that touch either period, and the findings that
    may have been open in ``period`` with their history. Without periods, everything the
    store holds (the plain read; the bulletins of any period made from it are the same)."""
    step("读取办件研判记录")
    first_accepted = None
    if period is not None and previous is not None:
        start, end = min(period.start, previous.start), max(period.end, previous.end)
        sla = list(store.sla_rows_touching(start, end, rules=OVERDUE_RULES, opening=_OPENING))
        first_accepted = store.sla_first_accepted()
    else:
        sla = list(store.sla_rows())
    step("读取问题台账")
    if period is not None and previous is not None:
        entries, events = store.findings_open_in(period.start, period.end, _OPENING)
    else:
        entries, events = store.all_findings(), store.finding_events()
    findings = {e.fingerprint: e for e in entries}
    step("读取事项与评价")
    items: dict[str, Item] = {}
    evaluations: list[Evaluation] = []
    for _source, entity, _key, record in store.entities_of(("items", "evaluations")):
        if entity == "items":
            items[record.code] = record
        else:
            evaluations.append(record)
    return ReportInputs(
        sla,
        findings,
        events,
        store.calendars(),
        store.parameter_sets(),
        items,
        evaluations,
        first_accepted,
    )


# --- the bulletin's content ---------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    kind: str  # "count" or "ratio"
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class RuleRow:
    rule: str
    severity: str
    new: int
    open_at_end: int


@dataclass(frozen=True)
class PlaceRow:
    rank: int
    department: str
    window: str | None
    accepted: int
    decided: int
    on_time_ratio: float | None
    overdue_cases: int
    red: int
    yellow: int
    fee_issues: int
    satisfaction_ratio: float | None


@dataclass(frozen=True)
class RedCase:
    case_id: str
    item: str
    department: str
    window: str
    accepted_at: dt.datetime | None
    due_at: dt.datetime | None
    concluded_at: dt.datetime | None
    working_days_late: int | None
    rules: tuple[str, ...]
    calendar_version: str


@dataclass(frozen=True)
class FeeRow:
    """One fee discrepancy, with the amount at issue (涉及金额, see :func:`fee_row`)."""

    rule: str
    subject: str  # case id, or a payment shown by the end of its transaction id
    item: str
    window: str
    standard_fen: int | None  # the item's fee standard, where the finding states it
    due_fen: int | None  # the fee the case charged (应收); None for a payment alone
    paid_fen: int
    at_issue_fen: int
    note: str


@dataclass(frozen=True)
class DayPoint:
    day: dt.date
    open: int
    overdue: int


@dataclass
class MonthReport:
    period: Period
    previous: Period
    center: str | None
    generated_at: dt.datetime
    kpis: list[Kpi]
    rules: list[RuleRow]
    departments: list[PlaceRow]
    windows: list[PlaceRow]
    red_cases: list[RedCase]
    fees: list[FeeRow]
    trend: list[DayPoint]
    calendar_versions: list[tuple[str, dt.date | None, int]]  # version, confirmed, uses
    parameter_sets: list[ParameterSet]
    item_names: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- counting -----------------------------------------------------------------------------


def cases_at(rows: Iterable[CaseSla], period: Period) -> dict[str, CaseSla]:
    """Each case's SLA row for the period (see the module docstring), oldest rows first."""
    in_force: dict[str, CaseSla] = {}
    late_conclusion: dict[str, CaseSla] = {}
    first_after: dict[str, CaseSla] = {}
    for row in rows:
        if row.recorded_at < period.end:
            in_force[row.case_id] = row
            continue
        first_after.setdefault(row.case_id, row)
        if row.concluded_at is not None and row.concluded_at < period.end:
            late_conclusion.setdefault(row.case_id, row)
    chosen: dict[str, CaseSla] = {}
    for case_id in in_force.keys() | first_after.keys():
        row = in_force.get(case_id)
        if (row is None or row.concluded_at is None) and case_id in late_conclusion:
            row = late_conclusion[case_id]
        row = row or first_after[case_id]
        if row.accepted_at < period.end:
            chosen[case_id] = row
    return chosen


def concluded_by(row: CaseSla, end: dt.datetime) -> dt.datetime | None:
    return row.concluded_at if row.concluded_at is not None and row.concluded_at < end else None


def figures_by(
    cases: Iterable[CaseSla],
    ratings: Iterable[Evaluation],
    period: Period,
    policy: DeadlinePolicy,
    groupings: Sequence[Callable[[str | None, str | None], Hashable]],
) -> list[dict[Hashable, MonthFigures]]:
    """The KPIs' counts of every group of several groupings at once, in one pass over the
    cases (already chosen for the period) and ratings: each grouping maps a (department,
    window) to its group. A group with nothing counted in the period is absent."""
    tables: list[defaultdict[Hashable, MonthFigures]] = [
        defaultdict(MonthFigures) for _ in groupings
    ]
    for row in cases:
        concluded = concluded_by(row, period.end)
        accepted = period.contains(row.accepted_at)
        decided = row.decided and period.contains(concluded)
        if not (accepted or decided):
            continue
        place = row.department, row.window
        groups = [t[key(*place)] for t, key in zip(tables, groupings, strict=True)]
        if accepted:
            on_site = (
                row.decided
                and concluded is not None
                and policy.local_date(concluded) == policy.local_date(row.accepted_at)
            )
            for figures in groups:
                figures.add_accepted(
                    concluded=concluded is not None,
                    immediate=row.item_kind == "immediate",
                    on_site=on_site,
                )
        if decided:
            for figures in groups:
                figures.add_decided(
                    on_time=bool(row.on_time),
                    statutory_days=row.statutory_limit_days,
                    promised_days=row.promised_limit_days,
                    used_days=row.used_working_days,
                )
    for rating in ratings:
        if period.contains(rating.rated_at):
            for t, key in zip(tables, groupings, strict=True):
                t[key(rating.department, rating.window)].add_rating(rating.level)
    return [dict(t) for t in tables]


KPI_LABELS = (
    ("accepted", "受理件数", "count"),
    ("decided", "办结件数", "count"),
    ("conclusion_ratio", "办结率", "ratio"),
    ("on_time_ratio", "按时办结率", "ratio"),
    ("immediate_ratio", "即办件比例", "ratio"),
    ("on_site_ratio", "现场办结率", "ratio"),
    ("promised_speedup_ratio", "承诺提速率", "ratio"),
    ("actual_speedup_ratio", "实际提速率", "ratio"),
    ("satisfaction_ratio", "满意率", "ratio"),
)


def _kpis(current: MonthFigures | None, previous: MonthFigures | None) -> list[Kpi]:
    """The headline figures; a period the daemon has no record of gives "—", not zeros."""

    def value(figures: MonthFigures | None, key: str) -> float | None:
        return None if figures is None else getattr(figures, key)

    return [
        Kpi(key, label, kind, value(current, key), value(previous, key))
        for key, label, kind in KPI_LABELS
    ]


def open_intervals(
    events: Iterable[tuple[str, dt.datetime, str]],
) -> dict[str, list[tuple[dt.datetime, dt.datetime | None]]]:
    """When each finding was open: [opened, closed) spans from the ledger's history."""
    spans: dict[str, list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
    for fingerprint, at, event in events:
        history = spans[fingerprint]
        if event in _OPENING:
            if not history or history[-1][1] is not None:
                history.append((at, None))
        elif history and history[-1][1] is None:
            history[-1] = (history[-1][0], at)
    return spans


def _open_at(spans: Sequence[tuple[dt.datetime, dt.datetime | None]], instant: dt.datetime) -> bool:
    return any(s <= instant and (e is None or e > instant) for s, e in spans)


def _active(spans: Sequence[tuple[dt.datetime, dt.datetime | None]], period: Period) -> bool:
    return any(s < period.end and (e is None or e > period.start) for s, e in spans)


def _new(spans: Sequence[tuple[dt.datetime, dt.datetime | None]], period: Period) -> bool:
    return any(period.contains(s) for s, _ in spans)


def mask_payment(payment_id: str) -> str:
    """A bank transaction id shown by its last six characters (the bulletin names no
    account holder's transaction in full)."""
    return f"…{payment_id[-6:]}"


_FEE_NOTES = {
    "no_deposit": "应缴未入专户",
    "wrong_account": "缴入非指定账户",
    "free_item": "免费事项收费",
    "abolished": "已取消收费仍收费",
}


def fee_row(entry: LedgerEntry, tz: dt.tzinfo) -> FeeRow:
    """A fee finding as a row of the fee table, amounts in fen from its evidence.

    The amount at issue (涉及金额) is what the finding is about: the fee due that never
    reached the designated account; the deposits that landed in another account; for a
    wrong amount, how far the amount paid (or charged, when nothing was paid) is from
    the item's standard; all that was charged or paid for a free item; a deposit with
    no case behind it.
    """
    finding = entry.finding
    evidence: dict[str, Any] = finding.evidence
    due = int(evidence.get("fee_due_fen") or 0)
    standard: int | None = None
    if finding.rule == "offsystem.payment_without_case":  # no case, so no fee due
        paid = at_issue = int(evidence.get("amount_fen") or 0)
        # The masked transaction id alone is ambiguous: its time identifies it at the bank.
        paid_at = _instant(evidence.get("paid_at"))
        note = "有费无件" if paid_at is None else f"{paid_at.astimezone(tz):%Y-%m-%d %H:%M} 到账"
    elif finding.rule == "fee.not_in_designated_account":
        payments = evidence.get("payments") or []
        paid = sum(int(p.get("amount_fen") or 0) for p in payments)
        note = _FEE_NOTES.get(str(evidence.get("reason")), "")
        if evidence.get("reason") == "wrong_account":
            at_issue = sum(
                int(p.get("amount_fen") or 0) for p in payments if not p.get("designated")
            )
        else:
            at_issue = due
    elif finding.rule == "fee.amount_mismatch":
        paid = int(evidence.get("paid_fen") or 0)
        standard = int(evidence.get("fee_standard_fen") or 0)
        note = "、".join(evidence.get("issues_zh") or [])
        charged = paid if evidence.get("payment_ids") else due
        at_issue = abs(charged - standard)
    else:  # fee.unauthorized: nothing was owed
        paid = int(evidence.get("paid_fen") or 0)
        standard = 0
        note = _FEE_NOTES.get(str(evidence.get("reason")), "")
        at_issue = max(due, paid)
    return FeeRow(
        rule=finding.rule,
        subject=finding.case_id or mask_payment(finding.subject_id),
        item=finding.item or "",
        window=finding.window or "",
        standard_fen=standard,
        due_fen=None if finding.rule == "offsystem.payment_without_case" else due,
        paid_fen=paid,
        at_issue_fen=at_issue,
        note=note,
    )


def _rank(rows: list[PlaceRow]) -> list[PlaceRow]:
    ordered = sorted(
        rows,
        key=lambda r: (
            -r.red,
            -r.overdue_cases,
            2.0 if r.on_time_ratio is None else r.on_time_ratio,
            r.department,
            r.window or "",
        ),
    )
    return [dataclasses.replace(r, rank=n) for n, r in enumerate(ordered, start=1)]


def build_report(
    inputs: ReportInputs,
    period: Period,
    previous: Period,
    policy: DeadlinePolicy,
    generated_at: dt.datetime,
    center: str | None = None,
) -> MonthReport:
    """The bulletin of ``period`` (optionally of one center) from recorded inputs."""
    shown, shown_previous = period, previous
    # Counted in UTC, as the store's instants are: comparing instants of one time zone is
    # many times faster than across zones, and a month has hundreds of thousands of them.
    period, previous = in_utc(period), in_utc(previous)

    def here(place: str | None) -> bool:
        return center is None or place == center

    cases = {k: r for k, r in cases_at(inputs.sla, period).items() if here(r.center)}
    earlier = {k: r for k, r in cases_at(inputs.sla, previous).items() if here(r.center)}
    ratings = [e for e in inputs.evaluations if here(e.center)]

    def recorded(chosen: dict[str, CaseSla], span: Period) -> bool:
        """Does the store hold a record of a case (of the center) accepted by its end?"""
        if chosen or inputs.first_accepted is None:
            return bool(chosen)
        return any(here(c) and first < span.end for c, first in inputs.first_accepted.items())

    has_cases, has_earlier = recorded(cases, period), recorded(earlier, previous)
    # The headline's, the departments' and the windows' figures, in one pass.
    whole, by_department, by_window = figures_by(
        cases.values(), ratings, period, policy, (_whole, _department, _window)
    )
    (before,) = figures_by(earlier.values(), ratings, previous, policy, (_whole,))
    kpis = _kpis(
        whole.get(None, MonthFigures()) if has_cases else None,
        before.get(None, MonthFigures()) if has_earlier else None,
    )

    spans = open_intervals(inputs.events)
    findings = {
        fp: e for fp, e in inputs.findings.items() if here(e.finding.center) and fp in spans
    }
    active = {fp: e for fp, e in findings.items() if _active(spans[fp], period)}
    new = {fp for fp in active if _new(spans[fp], period)}

    rule_counts: Counter[tuple[str, str]] = Counter()
    open_counts: Counter[tuple[str, str]] = Counter()
    for fp, entry in active.items():
        key = (entry.finding.rule, entry.finding.severity.value)
        rule_counts[key] += fp in new
        open_counts[key] += _open_at(spans[fp], period.last_instant)
    rules = [
        RuleRow(rule, severity, rule_counts[(rule, severity)], open_counts[(rule, severity)])
        for rule, severity in sorted(rule_counts.keys() | open_counts.keys())
    ]

    red_by_case = _red_cards_by_case(active, new, cases, period)

    departments = _places(by_department, _department, active, new, red_by_case)
    windows = _places(by_window, _window, active, new, red_by_case)
    red_cases = _red_cases(red_by_case, cases, inputs.calendars, period, policy)
    fees = sorted(
        (fee_row(e, policy.tz) for e in active.values() if e.finding.rule in FEE_RULES),
        key=lambda r: (r.rule, r.subject),
    )
    trend = _trend(cases, findings, spans, period, policy)

    used: Counter[str] = Counter(
        r.calendar_version
        for r in cases.values()
        if period.contains(r.accepted_at) or period.contains(concluded_by(r, period.end))
    )
    versions = [
        (
            v,
            inputs.calendars[v].confirmed_until if v in inputs.calendars else None,
            n,
        )
        for v, n in sorted(used.items())
    ]
    notes = []
    if not has_cases:
        notes.append("本期没有办件研判记录（守护进程尚未在本期评估过办件），指标从缺。")
    if not has_earlier:
        notes.append("上月没有办件研判记录，上月指标与变化从缺。")
    unknown = sorted(v for v, confirmed, _ in versions if confirmed is None)
    if unknown:
        notes.append("以下日历版本未存档，相关超期工作日数取自问题证据：" + "、".join(unknown))
    return MonthReport(
        period=shown,
        previous=shown_previous,
        center=center,
        generated_at=generated_at,
        kpis=kpis,
        rules=rules,
        departments=departments,
        windows=windows,
        red_cases=red_cases,
        fees=fees,
        trend=trend,
        calendar_versions=versions,
        parameter_sets=parameters_in_force(inputs.parameter_sets, period),
        item_names={code: item.name for code, item in inputs.items.items() if item.name},
        notes=notes,
    )


def _trend(
    cases: dict[str, CaseSla],
    findings: dict[str, LedgerEntry],
    spans: dict[str, list[tuple[dt.datetime, dt.datetime | None]]],
    period: Period,
    policy: DeadlinePolicy,
) -> list[DayPoint]:
    """Each day's cases open and overdue findings (case.overdue) open at its close (or
    at the period's last instant), counted in one pass: each case and each span of a
    finding marks the run of closing instants it covers."""
    days = period.days(policy)
    instants = [min(policy.end_of(day), period.last_instant).astimezone(dt.UTC) for day in days]
    count = len(instants)

    def run(opened: dt.datetime, closed: dt.datetime | None) -> range:
        """The indices of the instants in [opened, closed)."""
        return range(
            bisect_left(instants, opened),
            count if closed is None else bisect_left(instants, closed),
        )

    open_cases = [0] * (count + 1)  # differences: +1 where a run starts, -1 after it
    for row in cases.values():
        cover = run(row.accepted_at, concluded_by(row, period.end))
        if cover:
            open_cases[cover.start] += 1
            open_cases[cover.stop] -= 1
    overdue = [0] * count
    for fp, entry in findings.items():
        if entry.finding.rule == "case.overdue":
            for index in set().union(*(run(s, e) for s, e in spans[fp])):
                overdue[index] += 1
    return [
        DayPoint(day, opened, overdue[index])
        for index, (day, opened) in enumerate(zip(days, accumulate(open_cases), strict=False))
    ]


def _red_cards_by_case(
    active: dict[str, LedgerEntry],
    new: set[str],
    cases: dict[str, CaseSla],
    period: Period,
) -> dict[str, list[LedgerEntry]]:
    """Red cards of the overdue family, by case, for the cases that are the period's.

    A late conclusion stays on the ledger for good, but a case concluded before the
    period began is an earlier month's red case — unless its card is new in this one
    (concluded late on the previous month's last evening, judged the next working day).
    """
    by_case: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in active.values():
        f = entry.finding
        if f.rule in OVERDUE_RULES and f.case_id is not None:
            by_case[f.case_id].append(entry)

    def concluded_before(case_id: str, entries: list[LedgerEntry]) -> bool:
        row = cases.get(case_id)
        if row is not None:
            concluded = row.concluded_at
        else:  # judged before SLA records were kept: what the ledger says
            concluded = _instant(entries[0].finding.evidence.get("concluded_at"))
        return concluded is not None and concluded < period.start

    return {
        case_id: entries
        for case_id, entries in by_case.items()
        if any(e.fingerprint in new for e in entries) or not concluded_before(case_id, entries)
    }


def parameters_in_force(sets: Sequence[ParameterSet], period: Period) -> list[ParameterSet]:
    """The sets in force at some time in the period (the last one begun before it, and
    those begun within it); the earliest set if none had begun by then."""
    before = [s for s in sets if s.since <= period.start]
    within = [s for s in sets if period.start < s.since < period.end]
    chosen = before[-1:] + within
    return chosen or list(sets[:1])


Place = tuple[str, str | None]  # department, and window for the window table


def _whole(_department: str | None, _window: str | None) -> None:
    """The headline's grouping: one group, the whole (center's) hall."""


def _department(department: str | None, _window: str | None) -> Place:
    return (department or "—", None)


def _window(department: str | None, window: str | None) -> Place:
    return (department or "—", window or "—")


def _places(
    figures: dict[Hashable, MonthFigures],
    place: Callable[[str | None, str | None], Place],
    active: dict[str, LedgerEntry],
    new: set[str],
    red_by_case: dict[str, list[LedgerEntry]],
) -> list[PlaceRow]:
    """Departments (or windows: ``place``) with anything to show in the period, ranked:
    the same figures as the headline's (``figures``, from :func:`figures_by`), and the
    cards of the period."""
    overdue: Counter[Place] = Counter()
    for entries in red_by_case.values():
        f = entries[0].finding
        overdue[place(f.department, f.window)] += 1
    red: Counter[Place] = Counter()
    yellow: Counter[Place] = Counter()
    fee: Counter[Place] = Counter()
    for fp in new:
        f = active[fp].finding
        key = place(f.department, f.window)
        (red if f.severity is Severity.RED else yellow)[key] += 1
        fee[key] += f.rule in FEE_RULES
    rows = []
    for key in figures.keys() | overdue.keys() | red.keys() | yellow.keys():
        assert isinstance(key, tuple)
        counted = figures.get(key) or MonthFigures()
        if not (counted.accepted or counted.decided or counted.ratings) and not (
            overdue[key] or red[key] or yellow[key]
        ):
            continue  # only cases of earlier months, nothing that happened in this one
        rows.append(
            PlaceRow(
                rank=0,
                department=key[0],
                window=key[1],
                accepted=counted.accepted,
                decided=counted.decided,
                on_time_ratio=counted.on_time_ratio,
                overdue_cases=overdue[key],
                red=red[key],
                yellow=yellow[key],
                fee_issues=fee[key],
                satisfaction_ratio=counted.satisfaction_ratio,
            )
        )
    return _rank(rows)


def _red_cases(
    red_by_case: dict[str, list[LedgerEntry]],
    cases: dict[str, CaseSla],
    calendars: dict[str, WorkingCalendar],
    period: Period,
    policy: DeadlinePolicy,
) -> list[RedCase]:
    listed = []
    for case_id, entries in red_by_case.items():
        f = entries[0].finding
        row = cases.get(case_id)
        rules = tuple(sorted({e.finding.rule for e in entries}))
        promised = [e.finding for e in entries if e.finding.rule != "case.statutory_overdue"]
        evidence = (promised or [f])[0].evidence
        if row is None:  # judged before SLA records were kept: what the ledger says
            listed.append(
                RedCase(
                    case_id,
                    f.item or "",
                    f.department or "",
                    f.window or "",
                    _instant(evidence.get("accepted_at")),
                    (promised or [f])[0].due_at,
                    _instant(evidence.get("concluded_at")),
                    evidence.get("working_days_late"),
                    rules,
                    f.calendar_version,
                )
            )
            continue
        concluded = concluded_by(row, period.end)
        late: int | None
        if concluded is not None:
            late = row.working_days_late
        else:
            calendar = calendars.get(row.calendar_version)
            try:
                late = (
                    None
                    if calendar is None
                    else calendar.working_days_between(
                        policy.local_date(row.promised_due_at),
                        policy.local_date(period.last_instant),
                    )
                )
            except CalendarRangeError:
                late = None
            if late is None:
                late = evidence.get("working_days_late")
        listed.append(
            RedCase(
                case_id,
                row.item,
                row.department or "",
                row.window or "",
                row.accepted_at,
                row.promised_due_at,
                concluded,
                late,
                rules,
                row.calendar_version,
            )
        )
    return sorted(listed, key=lambda r: (-(r.working_days_late or 0), r.case_id))


def _instant(text: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if isinstance(text, str) else None
