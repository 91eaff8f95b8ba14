"""Incremental rule evaluation: the rules re-judge only what changed or reached a boundary.

The rules (``rules/``) are pure functions of a snapshot and an instant, and stay the only
place where a violation is decided. What this engine adds is *when* a rule needs to look
at a subject again. For every case it keeps the overdue family's verdict (its findings)
together with the interval in which that verdict cannot change:

* the case itself (its steps, suspensions, item) has not changed — the daemon says which
  cases it re-joined since the last evaluation;
* the instant has not reached the case's next **boundary**: the first second after its
  promised or statutory deadline or a step's deadline, the first day of its yellow card
  (remaining working days at or below the threshold), the next event of its history
  (acceptance, conclusion, a step or suspension starting or ending), and — for a case
  that carries a finding or has a suspension — the next local midnight, when counted
  working days (``remaining_working_days``, ``working_days_late``, used suspension days)
  move on.

Everything inside that interval is the same as the rules would say again, except
``seconds_late``, which ticks with the clock and is brought up to the instant here. A
later instant outside it, an earlier instant (``scan --at`` into the past), a new
calendar or new parameters recompute everything, so SLA state is still recomputed
deterministically from the case history (DESIGN.md §5). The other families are run as
they are over the snapshot. ``tests/test_engine.py`` checks the engine against
:func:`rules.evaluate_all` on generated halls and moving instants.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.calendar import CalendarRangeError, WorkingCalendar
from monitor.deadlines import case_deadlines, step_due_at
from monitor.model import Case, Finding, Item, Snapshot
from rules import FAMILIES
from rules import overdue as overdue_rules
from rules.context import RuleContext

SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The overdue family's findings for one case as of ``since``, valid until ``until``."""

    case: Case
    item: Item
    findings: tuple[Finding, ...]
    ticking: tuple[bool, ...]  # whether each finding's seconds_late follows the clock
    since: dt.datetime
    until: dt.datetime | None  # None: no boundary ahead


def ticks(finding: Finding) -> bool:
    """Whether a finding's ``seconds_late`` is counted up to the evaluation instant.

    Open cases and open steps are late until *now*; a concluded case or an ended step was
    late until its end, which does not move.
    """
    if "seconds_late" not in finding.evidence:
        return False
    if finding.rule == overdue_rules.OVERDUE:
        return True
    if finding.rule == overdue_rules.STATUTORY_OVERDUE:
        return bool(finding.evidence.get("state") == "open")
    if finding.rule == overdue_rules.STEP_OVERDUE:
        return finding.evidence.get("ended_at") is None
    return False


def _yellow_from(promise: dt.date, threshold: int, calendar: WorkingCalendar) -> dt.date:
    """The first day whose remaining working days up to ``promise`` are at most ``threshold``."""
    day = promise
    try:
        while calendar.working_days_between(day - dt.timedelta(days=1), promise) <= threshold:
            day -= dt.timedelta(days=1)
    except CalendarRangeError:
        return calendar.first_day
    return day


def next_boundary(
    case: Case, item: Item, ctx: RuleContext, has_findings: bool
) -> dt.datetime | None:
    """The first instant after ``ctx.at`` at which the case's overdue findings may change.

    A lower bound: re-judging earlier is harmless, later would be wrong. The properties
    in ``tests/test_engine.py`` hold it to the rules' own answers.
    """
    at, policy = ctx.at, ctx.policy
    candidates: list[dt.datetime] = [case.accepted_at]
    if case.concluded_at is not None:
        candidates.append(case.concluded_at)
    for step in case.steps:
        candidates.append(step.started_at)
        if step.ended_at is not None:
            candidates.append(step.ended_at)
    for suspension in case.suspensions:
        candidates.append(suspension.started_at)
        if suspension.ended_at is not None:
            candidates.append(suspension.ended_at)
    if has_findings or case.suspensions:
        tomorrow = policy.local_date(at) + dt.timedelta(days=1)
        candidates.append(dt.datetime.combine(tomorrow, dt.time(0), tzinfo=policy.tz))
    if case.accepted_at <= at:
        deadlines = case_deadlines(case, item, ctx.calendar, policy, at)
        candidates += [deadlines.promised_due_at + SECOND, deadlines.statutory_due_at + SECOND]
        threshold = ctx.parameters.due_soon_threshold(
            case.item, case.department, item.promised_limit_days
        )
        promise = policy.local_date(deadlines.promised_due_at)
        first = _yellow_from(promise, threshold, ctx.calendar)
        candidates.append(dt.datetime.combine(first, dt.time(0), tzinfo=policy.tz))
        for step in case.steps:
            due = step_due_at(step, case, ctx.calendar, policy, at)
            if due is not None:
                candidates.append(due + SECOND)
    ahead = [c for c in candidates if c > at]
    return min(ahead) if ahead else None


def _judge(case: Case, item: Item, ctx: RuleContext) -> _Verdict:
    if case.accepted_at > ctx.at:
        findings: tuple[Finding, ...] = ()
    else:
        findings = (
            *overdue_rules.case_cards(case, item, ctx),
            *overdue_rules.step_cards(case, ctx),
            *overdue_rules.suspension_cards(case, item, ctx),
        )
    return _Verdict(
        case=case,
        item=item,
        findings=findings,
        ticking=tuple(ticks(f) for f in findings),
        since=ctx.at,
        until=next_boundary(case, item, ctx, bool(findings)),
    )


def _brought_to(verdict: _Verdict, at: dt.datetime) -> Iterable[Finding]:
    if at == verdict.since:
        return verdict.findings
    return [
        f.model_copy(
            update={"evidence": f.evidence | {"seconds_late": int((at - f.due_at).total_seconds())}}
        )
        if ticking and f.due_at is not None
        else f
        for f, ticking in zip(verdict.findings, verdict.ticking, strict=True)
    ]


class Engine:
    """Evaluates every rule family, the overdue family incrementally (see module doc)."""

    def __init__(self) -> None:
        self._verdicts: dict[str, _Verdict] = {}
        self._active: set[str] = set()  # cases whose verdict has findings
        self._boundaries: list[tuple[dt.datetime, str]] = []  # heap of (until, case id)
        self._context: tuple[object, ...] | None = None
        self._at: dt.datetime | None = None

    def evaluate(
        self, snapshot: Snapshot, ctx: RuleContext, changed_cases: Iterable[str] | None
    ) -> list[Finding]:
        """Every family's findings at ``ctx.at``, sorted as :func:`rules.evaluate_all` sorts.

        ``changed_cases`` names the cases whose record, steps, suspensions or item changed
        since the previous call; None means unknown (everything is judged again).
        """
        findings = self._overdue(snapshot, ctx, changed_cases)
        for name, family in FAMILIES.items():
            if name != "overdue":
                findings.extend(family(snapshot, ctx))
        return sorted(findings, key=lambda f: (f.rule, f.subject_kind, f.subject_id))

    def _overdue(
        self, snapshot: Snapshot, ctx: RuleContext, changed: Iterable[str] | None
    ) -> list[Finding]:
        context = (ctx.calendar, ctx.policy, ctx.parameters)
        fresh = (
            changed is None
            or self._context is None
            or any(a is not b for a, b in zip(context, self._context, strict=True))
            or self._at is None
            or ctx.at < self._at
        )
        if fresh:
            self._verdicts, self._active, self._boundaries = {}, set(), []
            due: set[str] = set(snapshot.cases)
        else:
            assert changed is not None
            due = set(changed)
            while self._boundaries and self._boundaries[0][0] <= ctx.at:
                _, case_id = heapq.heappop(self._boundaries)
                due.add(case_id)
        self._context, self._at = context, ctx.at
        for case_id in due:
            self._rejudge(case_id, snapshot, ctx)
        found: list[Finding] = []
        for case_id in self._active:
            found.extend(_brought_to(self._verdicts[case_id], ctx.at))
        return found

    def _rejudge(self, case_id: str, snapshot: Snapshot, ctx: RuleContext) -> None:
        case = snapshot.cases.get(case_id)
        item = None if case is None else snapshot.items.get(case.item)
        previous = self._verdicts.get(case_id)
        if case is None or item is None:
            self._verdicts.pop(case_id, None)
            self._active.discard(case_id)
            return
        if (
            previous is not None
            and previous.case is case
            and previous.item is item
            and (previous.until is None or ctx.at < previous.until)
        ):
            return  # a stale heap entry, or a change that left the case as it was
        verdict = _judge(case, item, ctx)
        self._verdicts[case_id] = verdict
        if verdict.findings:
            self._active.add(case_id)
        else:
            self._active.discard(case_id)
        if verdict.until is not None:
            heapq.heappush(self._boundaries, (verdict.until, case_id))
        if len(self._boundaries) > 2 * len(self._verdicts) + 1000:
            # Entries of verdicts judged again since: keep one per case, the current one.
            self._boundaries = [
                (v.until, c) for c, v in self._verdicts.items() if v.until is not None
            ]
            heapq.heapify(self._boundaries)
