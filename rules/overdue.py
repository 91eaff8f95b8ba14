"""Overdue family: yellow and red cards (黄牌预警 / 红牌) for case time limits.

Legal basis: 行政许可法 art. 42 (a decision within 20 days, +10 with approval; 45 +15
for joint handling in a center), art. 82 (limits count working days, holidays excluded),
art. 45 (hearing, inspection, testing, appraisal and expert review time is excluded);
the 承诺时限 is the center's published promise (承诺件), stricter than the law. The
card system is the practice of electronic supervision systems (电子监察红黄牌): yellow
before the deadline, red once it has passed, the yellow card giving way to the red.

Pure functions: (cases, items, context) -> findings. No I/O; the instant is passed in.
Cases that were withdrawn, refused, returned or voided stop their clock at that moment
and are never overdue; a suspended case is neither yellow nor red while it is suspended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from monitor.deadlines import (
    CaseDeadlines,
    case_deadlines,
    clock_stopped_at,
    is_suspended,
    remaining_working_days,
    step_due_at,
    suspension_working_days,
)
from monitor.model import Case, Finding, Item, Severity, Step, Suspension
from rules.common import case_finding, case_known
from rules.common import iso as _iso
from rules.common import past as _past
from rules.context import RuleContext

DUE_SOON = "case.due_soon"
OVERDUE = "case.overdue"
CONCLUDED_LATE = "case.concluded_late"
STATUTORY_OVERDUE = "case.statutory_overdue"
STEP_OVERDUE = "case.step_overdue"
SUSPENSION_OVERDUE = "case.suspension_overdue"


def _case_evidence(case: Case, item: Item, deadlines: CaseDeadlines) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "accepted_at": _iso(case.accepted_at),
        "promised_limit_days": item.promised_limit_days,
        "statutory_limit_days": item.statutory_limit_days,
        "promised_due_at": _iso(deadlines.promised_due_at),
        "statutory_due_at": _iso(deadlines.statutory_due_at),
        "suspended_working_days": deadlines.suspended_working_days,
    }
    if deadlines.clock_stopped_at is not None:
        evidence["concluded_at"] = _iso(deadlines.clock_stopped_at)
    if deadlines.source_due_mismatch_days is not None:
        evidence["source_due_mismatch_working_days"] = deadlines.source_due_mismatch_days
    return evidence


def _lateness(due_at: dt.datetime, until: dt.datetime, ctx: RuleContext) -> dict[str, Any]:
    return {
        "working_days_late": -remaining_working_days(due_at, ctx.calendar, ctx.policy, until),
        "seconds_late": int((until - due_at).total_seconds()),
    }


def case_cards(case: Case, item: Item, ctx: RuleContext) -> Iterator[Finding]:
    """``case.due_soon``, ``case.overdue``, ``case.concluded_late``, ``case.statutory_overdue``.

    Yellow (due_soon): open, not suspended, remaining working days at or below the
    threshold (max(1, ceil(20 % of the promised limit)) unless configured). Red
    (overdue): open from the first second after the promised due instant; the yellow
    card is then withdrawn. Red (concluded_late): concluded after the promised due
    instant. Red (statutory_overdue): past the statutory deadline, open or concluded —
    a breach of the law itself, reported beside the broken promise.
    """
    at = ctx.at
    deadlines = case_deadlines(case, item, ctx.calendar, ctx.policy, at)
    stopped = deadlines.clock_stopped_at
    if stopped is not None and case.result is not None and case.result.stops_clock_without_decision:
        return
    if stopped is None and deadlines.suspended_now:
        return
    evidence = _case_evidence(case, item, deadlines)
    until = stopped or at
    statutory_passed = _past(until, deadlines.statutory_due_at)
    promise_passed = _past(until, deadlines.promised_due_at)

    if statutory_passed:
        yield case_finding(
            STATUTORY_OVERDUE,
            Severity.RED,
            case,
            ctx,
            due_at=deadlines.statutory_due_at,
            evidence=evidence
            | {"state": "open" if stopped is None else "concluded"}
            | _lateness(deadlines.statutory_due_at, until, ctx),
        )
    if promise_passed:
        yield case_finding(
            OVERDUE if stopped is None else CONCLUDED_LATE,
            Severity.RED,
            case,
            ctx,
            due_at=deadlines.promised_due_at,
            evidence=evidence | _lateness(deadlines.promised_due_at, until, ctx),
        )
        return
    if stopped is not None or statutory_passed:  # a red case carries no yellow card
        return
    if item.promised_limit_days == 0 and not ctx.parameters.warns_immediate(
        case.item, case.department
    ):
        return
    remaining = remaining_working_days(deadlines.promised_due_at, ctx.calendar, ctx.policy, at)
    threshold = ctx.parameters.due_soon_threshold(
        case.item, case.department, item.promised_limit_days
    )
    if remaining <= threshold:
        yield case_finding(
            DUE_SOON,
            Severity.YELLOW,
            case,
            ctx,
            due_at=deadlines.promised_due_at,
            evidence=evidence | {"remaining_working_days": remaining, "threshold_days": threshold},
        )


def _step_overdue(case: Case, step: Step, ctx: RuleContext) -> Finding | None:
    at = ctx.at
    due = step_due_at(step, case, ctx.calendar, ctx.policy, at)
    if due is None:
        return None
    ended = step.ended_at if step.ended_at is not None and step.ended_at <= at else None
    until = ended or at
    if not _past(until, due):
        return None
    return case_finding(
        STEP_OVERDUE,
        Severity.YELLOW,
        case,
        ctx,
        due_at=due,
        subject_kind="step",
        subject_id=f"{case.id}/{step.seq}",
        evidence={
            "step": step.name or str(step.seq),
            "started_at": _iso(step.started_at),
            "ended_at": _iso(ended),
            "limit_days": step.limit_days,
        }
        | _lateness(due, until, ctx),
    )


def step_cards(case: Case, ctx: RuleContext) -> Iterator[Finding]:
    """``case.step_overdue``: one handling step (环节) exceeded its own limit.

    Each step of the approval chain (承办, 审核, 批准) has an internal limit set by the
    center's process rules (流程时限); a step that overruns it is warned even when the
    case as a whole is still within its promise. Suspensions during the step extend it.
    A step still open while the case is suspended or closed is not judged.
    """
    open_allowed = clock_stopped_at(case, ctx.at) is None and not is_suspended(case, ctx.at)
    for step in case.steps:
        if step.started_at > ctx.at:
            continue
        still_open = step.ended_at is None or step.ended_at > ctx.at
        if still_open and not open_allowed:
            continue
        finding = _step_overdue(case, step, ctx)
        if finding is not None:
            yield finding


def suspension_cards(case: Case, item: Item, ctx: RuleContext) -> Iterator[Finding]:
    """``case.suspension_overdue``: a special procedure lasted longer than allowed.

    行政许可法 art. 45 lets hearing, testing, expert review and 补正 stop the clock, and
    the catalogue caps how long each may take (e.g. 专家评审 within N working days);
    otherwise a suspension becomes a way to hide an overdue case. Counted in working
    days over (start, end], or up to the evaluation instant while still running.
    """
    # A suspension row never closed by the vendor ends, at the latest, with the case.
    horizon = clock_stopped_at(case, ctx.at) or ctx.at
    for suspension in case.suspensions:
        if suspension.started_at > horizon:
            continue
        allowed = item.max_suspension_for(suspension.kind)
        if allowed is None:
            continue
        used = _suspension_days(suspension, horizon, ctx)
        if used <= allowed:
            continue
        start = ctx.policy.local_date(suspension.started_at)
        due = ctx.policy.end_of(ctx.calendar.nth_working_day_after(start, allowed))
        running = suspension.ended_at is None or suspension.ended_at > horizon
        yield case_finding(
            SUSPENSION_OVERDUE,
            Severity.YELLOW,
            case,
            ctx,
            due_at=due,
            subject_kind="suspension",
            subject_id=f"{case.id}/{suspension.seq}",
            evidence={
                "procedure": suspension.kind,
                "started_at": _iso(suspension.started_at),
                "ended_at": None if running else _iso(suspension.ended_at),
                "allowed_working_days": allowed,
                "used_working_days": used,
            },
        )


def _suspension_days(suspension: Suspension, horizon: dt.datetime, ctx: RuleContext) -> int:
    return suspension_working_days((suspension,), ctx.calendar, ctx.policy, horizon)


def evaluate(cases: Iterable[Case], items: Mapping[str, Item], ctx: RuleContext) -> list[Finding]:
    """All overdue-family findings for the cases in the approval system at ``ctx.at``.

    A case typed in after its acceptance (补录) does not exist before it was typed in; from
    then on its deadlines count from the acceptance, so it may arrive already red.
    """
    findings: list[Finding] = []
    for case in cases:
        if not case_known(case, ctx.at):
            continue
        item = items.get(case.item)
        if item is None:  # sources reject such cases; nothing to judge against
            continue
        findings.extend(case_cards(case, item, ctx))
        findings.extend(step_cards(case, ctx))
        findings.extend(suspension_cards(case, item, ctx))
    return findings
