"""Evaluations (好差评): a bad rating must be followed up within a working-day limit.

Basis: 国务院办公厅关于建立政务服务“好差评”制度提高政务服务水平的意见 (国办发〔2019〕51号):
every 差评 (不满意 / 非常不满意) is verified, rectified and answered (回访整改), in
principle within 15 working days; several provinces write the same limit into their
rules. The limit counts like a case deadline (DESIGN.md §1): the rating day is not
counted, and the follow-up is due at the end of the Nth working day after it.

Pure functions: (snapshot, context) -> findings, no I/O, the instant is ``ctx.at``. A
follow-up recorded after the instant does not exist yet. The applicant's comment is
never read into a finding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from monitor.calendar import CalendarRangeError
from monitor.model import Case, Evaluation, Finding, Severity, Snapshot
from rules.common import end_of_working_days_after, finding, iso, past
from rules.context import RuleContext

BAD_RATING_UNRESOLVED = "evaluation.bad_rating_unresolved"


class Followup(NamedTuple):
    """What a bad rating's follow-up is judged by."""

    case: Case | None  # the rated case, if known
    department: str | None  # the rating's, else its case's
    item: str | None  # its case's
    days: int  # followup_working_days for that item and department
    due: dt.datetime | None  # the end of the days-th working day after the rating date


def followup(evaluation: Evaluation, cases: Mapping[str, Case], ctx: RuleContext) -> Followup:
    """The rating's follow-up limit and due instant (None outside the calendar's years)."""
    case = cases.get(evaluation.case_id) if evaluation.case_id is not None else None
    department = evaluation.department or (case.department if case else None)
    item = case.item if case else None
    days = ctx.parameters.evaluation.followup_days(item, department)
    try:
        due: dt.datetime | None = end_of_working_days_after(evaluation.rated_at, days, ctx)
    except CalendarRangeError:
        due = None
    return Followup(case, department, item, days, due)


def bad_rating_unresolved(
    evaluation: Evaluation,
    cases: Mapping[str, Case],
    ctx: RuleContext,
    known: Followup | None = None,
) -> Finding | None:
    """``evaluation.bad_rating_unresolved``: a 差评 not followed up in time (国办发〔2019〕51号).

    Yellow for a rating of level 4 (不满意) or 5 (非常不满意) once the end of the
    ``followup_working_days``-th (15) working day after the rating date has passed with
    no follow-up, or with one recorded only after that instant (then it stays, as a late
    follow-up). The limit may be set per department, or per item through the rated case.
    ``known``: the rating's :func:`followup`, for a caller that has it already.
    """
    at = ctx.at
    if not evaluation.is_bad or evaluation.rated_at > at:
        return None
    case, department, item, days, due = known or followup(evaluation, cases, ctx)
    if due is None or not past(at, due):
        return None  # (None: a rating outside the calendar's years cannot be judged)
    followed = evaluation.followed_up_at
    if followed is not None and followed > at:
        followed = None
    if followed is not None and not past(followed, due):
        return None
    evidence = {
        "level": evaluation.level,
        "rated_at": iso(evaluation.rated_at),
        "followup_working_days": days,
        "followed_up_at": iso(followed),
        "state": "missing" if followed is None else "late",
        "staff_id": evaluation.staff_id,
    }
    if followed is not None:
        evidence["working_days_late"] = ctx.calendar.working_days_between(
            ctx.policy.local_date(due), ctx.policy.local_date(followed)
        )
    return finding(
        BAD_RATING_UNRESOLVED,
        Severity.YELLOW,
        ctx,
        subject_kind="evaluation",
        subject_id=evaluation.id,
        case_id=evaluation.case_id,
        center=evaluation.center or (case.center if case else None),
        department=department,
        window=evaluation.window or (case.window if case else None),
        item=item,
        due_at=due,
        evidence=evidence,
    )


def bad_ratings(snapshot: Snapshot, ctx: RuleContext) -> Iterator[Finding]:
    for evaluation in snapshot.evaluations.values():
        found = bad_rating_unresolved(evaluation, snapshot.cases, ctx)
        if found is not None:
            yield found


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
    """All evaluation findings at ``ctx.at``."""
    return list(bad_ratings(snapshot, ctx))
