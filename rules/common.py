"""Small helpers every rule family shares: instants in evidence, deadlines, finding building."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from monitor.model import Case, Finding, Severity
from rules.context import RuleContext


def iso(instant: dt.datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def past(instant: dt.datetime, due_at: dt.datetime) -> bool:
    """Whether ``instant`` is after the due instant, in whole seconds.

    The due instant is the last second of the day (23:59:59); a conclusion stamped
    23:59:59.5 is still within it. Red starts at the first second after.
    """
    return instant.replace(microsecond=0) > due_at


def yuan(fen: int) -> str:
    """An amount in fen as the yuan string a report prints: 8000 -> "80.00". No float."""
    return str(Decimal(fen).scaleb(-2).quantize(Decimal("0.01")))


def end_of_working_days_after(anchor: dt.datetime, days: int, ctx: RuleContext) -> dt.datetime:
    """End of the Nth working day after the anchor's local date (the anchor day not counted).

    The same counting as a case's deadline (DESIGN.md §1); 0 is the end of the anchor day.
    Raises :class:`monitor.calendar.CalendarRangeError` outside the calendar's years.
    """
    day = ctx.calendar.nth_working_day_after(ctx.policy.local_date(anchor), days)
    return ctx.policy.end_of(day)


def case_known(case: Case, at: dt.datetime) -> bool:
    """Whether the case existed in the approval system at ``at``.

    A case is there from the moment it was typed in (``recorded_at``), which is its
    acceptance time when the source does not say; a case backfilled later did not exist
    before, which is exactly what off-system handling hides.
    """
    return case.accepted_at <= at and (case.recorded_at is None or case.recorded_at <= at)


def finding(
    rule: str,
    severity: Severity,
    ctx: RuleContext,
    *,
    subject_kind: str,
    subject_id: str,
    evidence: dict[str, Any],
    case_id: str | None = None,
    center: str | None = None,
    department: str | None = None,
    window: str | None = None,
    item: str | None = None,
    due_at: dt.datetime | None = None,
    calendar_dependent: bool = True,
) -> Finding:
    """A finding in the hall's time zone, stamped with the calendar version.

    ``calendar_dependent`` says whether ``due_at`` was counted in working days: only then
    can an unpublished holiday schedule make it uncertain.
    """
    confirmed = True
    if due_at is not None:
        due_at = due_at.astimezone(ctx.policy.tz)
        if calendar_dependent:
            confirmed = ctx.calendar.is_confirmed(ctx.policy.local_date(due_at))
    return Finding(
        rule=rule,
        severity=severity,
        subject_kind=subject_kind,
        subject_id=subject_id,
        case_id=case_id,
        center=center,
        department=department,
        window=window,
        item=item,
        due_at=due_at,
        evidence=evidence,
        calendar_confirmed=confirmed,
        calendar_version=ctx.calendar.version,
    )


def case_finding(
    rule: str,
    severity: Severity,
    case: Case,
    ctx: RuleContext,
    *,
    evidence: dict[str, Any],
    due_at: dt.datetime | None = None,
    calendar_dependent: bool = True,
    subject_kind: str = "case",
    subject_id: str | None = None,
) -> Finding:
    """A finding about a case (or one of its steps or suspensions, named by
    ``subject_kind``/``subject_id``): place and item taken from the case."""
    return finding(
        rule,
        severity,
        ctx,
        subject_kind=subject_kind,
        subject_id=subject_id or case.id,
        case_id=case.id,
        center=case.center,
        department=case.department,
        window=case.window,
        item=case.item,
        due_at=due_at,
        evidence=evidence,
        calendar_dependent=calendar_dependent,
    )
