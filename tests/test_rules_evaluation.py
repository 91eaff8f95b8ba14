"""Scenario tests of the evaluation family: 差评 follow-up within 15 working days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest

from monitor.calendar import WorkingCalendar
from monitor.model import Case, Evaluation, Finding, Item, Severity, Snapshot
from rules import FAMILIES, evaluation
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, SH, cal, eod, t

UTC = dt.UTC
RULE = "evaluation.bad_rating_unresolved"
COMMENT = "窗口人员态度恶劣，张三 13800000000"

# Calendars used below (official 2026 China schedule):
#   September 2026          October 2026
#   Mo Tu We Th Fr Sa Su    Mo Tu We Th Fr Sa Su
#       1  2  3  4  5  6              1  2  3  4
#    7  8  9 10 11 12 13     5  6  7  8  9 10 11
#   14 15 16 17 18 19 20    12 13 14 15 16 17 18
#   21 22 23 24 25 26 27    19 20 21 22 23 24 25
#   28 29 30                26 27 28 29 30 31
# Fri Sep 25 (Mid-Autumn) and Oct 1-7 (National Day) are off; Sat Oct 10 is a make-up
# working day (调休).
#
# Rating R1: level 5, Tue 2026-09-22 15:00. The rating day is not counted:
#   Sep 23 = 1, 24 = 2, 28 = 3, 29 = 4, 30 = 5, Oct 8 = 6, 9 = 7, Sat Oct 10 = 8,
#   Oct 12 = 9, 13 = 10, 14 = 11, 15 = 12, 16 = 13, 19 = 14, Tue Oct 20 = 15
#   -> follow-up due 2026-10-20 23:59:59 (it would be Oct 21 without the make-up day).

RATED = dt.datetime(2026, 9, 22, 15, 0, tzinfo=SH)


DUE = eod(2026, 10, 20)


def rating(
    evaluation_id: str = "R1",
    *,
    level: int = 5,
    rated: dt.datetime = RATED,
    followed: dt.datetime | None = None,
    department: str | None = "D1",
    case_id: str | None = None,
) -> Evaluation:
    return Evaluation(
        id=evaluation_id,
        center="CTR",
        department=department,
        window="W07",
        staff_id="S042",
        case_id=case_id,
        rated_at=rated,
        level=level,
        comment=COMMENT,
        followed_up_at=followed,
    )


CASE = Case(
    id="C1",
    item="I9",
    center="CTR",
    department="D9",
    window="W19",
    accepted_at=t(2026, 9, 21, 10),
)
ITEM = Item(code="I9", department="D9", statutory_limit_days=20, promised_limit_days=10)


def run(
    at: dt.datetime,
    ratings: Iterable[Evaluation],
    parameters: RuleParameters | None = None,
    calendar: WorkingCalendar | None = None,
) -> list[Finding]:
    calendar = calendar or cal()
    snapshot = Snapshot(
        items={ITEM.code: ITEM},
        cases={CASE.id: CASE},
        evaluations={r.id: r for r in ratings},
    )
    ctx = RuleContext(calendar, POLICY, at, parameters or RuleParameters())
    findings = evaluation.evaluate(snapshot, ctx)
    for f in findings:
        assert f.rule == RULE
        assert f.severity == Severity.YELLOW
        assert f.subject_kind == "evaluation"
        assert f.calendar_version == calendar.version
        assert f.due_at is not None and f.due_at.utcoffset() == dt.timedelta(hours=8)
        assert COMMENT not in f.model_dump_json()
        assert "comment" not in f.evidence
    return findings


def params(**section: Any) -> RuleParameters:
    return RuleParameters.model_validate({"evaluation": section})


def test_never_followed_up_edge_of_the_15th_working_day() -> None:
    assert run(DUE, [rating()]) == []
    [f] = run(t(2026, 10, 21, 0, 0, 0), [rating()])
    assert (f.subject_id, f.case_id) == ("R1", None)
    assert (f.center, f.department, f.window, f.item) == ("CTR", "D1", "W07", None)
    assert f.due_at == DUE
    assert f.calendar_confirmed is True
    assert f.evidence == {
        "level": 5,
        "rated_at": "2026-09-22T15:00:00+08:00",
        "followup_working_days": 15,
        "followed_up_at": None,
        "state": "missing",
        "staff_id": "S042",
    }


def test_without_the_make_up_day_the_due_date_would_be_a_day_later() -> None:
    # The make-up Saturday Oct 10 is what makes Oct 20 the 15th working day.
    no_make_up = WorkingCalendar(2024, 2028, extra_holidays=[dt.date(2026, 10, 10)])
    assert run(t(2026, 10, 21, 0, 0, 0), [rating()], calendar=no_make_up) == []
    [f] = run(t(2026, 10, 22, 0, 0, 0), [rating()], calendar=no_make_up)
    assert f.due_at == eod(2026, 10, 21)


@pytest.mark.parametrize(
    ("followed", "state"),
    [
        (t(2026, 9, 23, 10), None),  # the next day
        (t(2026, 10, 10, 10), None),  # on the make-up Saturday
        (t(2026, 10, 20, 23, 59, 59), None),  # the last second
        (t(2026, 10, 21, 0, 0, 0), "late"),  # one second late
        (t(2026, 10, 23, 16), "late"),
    ],
)
def test_followed_up_on_time_or_late(followed: dt.datetime, state: str | None) -> None:
    findings = run(t(2026, 10, 26, 9), [rating(followed=followed)])
    if state is None:
        assert findings == []
        return
    [f] = findings
    assert f.evidence["state"] == state
    assert f.evidence["followed_up_at"] == followed.isoformat()


def test_late_follow_up_counts_working_days_late() -> None:
    # Due Tue Oct 20; followed up Fri Oct 23: Oct 21, 22, 23 = 3 working days late.
    [f] = run(t(2026, 10, 26, 9), [rating(followed=t(2026, 10, 23, 16))])
    assert f.evidence["working_days_late"] == 3
    [f] = run(t(2026, 10, 26, 9), [rating(followed=t(2026, 10, 21, 0, 0, 0))])
    assert f.evidence["working_days_late"] == 1


def test_follow_up_after_the_instant_does_not_exist_yet() -> None:
    later = rating(followed=t(2026, 10, 23, 16))
    [f] = run(t(2026, 10, 22, 9), [later])
    assert f.evidence["state"] == "missing"
    assert f.evidence["followed_up_at"] is None
    assert "working_days_late" not in f.evidence


@pytest.mark.parametrize(
    ("level", "bad"), [(1, False), (2, False), (3, False), (4, True), (5, True)]
)
def test_only_levels_4_and_5_are_bad(level: int, bad: bool) -> None:
    findings = run(t(2026, 10, 26, 9), [rating(level=level)])
    assert [f.subject_id for f in findings] == (["R1"] if bad else [])


def test_rating_after_the_instant_does_not_exist_yet() -> None:
    assert run(t(2026, 9, 22, 14), [rating(rated=t(2026, 9, 22, 15))]) == []


def test_rating_on_a_sunday_counts_from_monday() -> None:
    # Sun Oct 11: Oct 12 = 1 ... Oct 16 = 5, 19-23 = 10, 26-30 = 15 -> Fri Oct 30.
    sunday = rating(rated=t(2026, 10, 11, 10))
    assert run(eod(2026, 10, 30), [sunday]) == []
    [f] = run(t(2026, 10, 31), [sunday])
    assert f.due_at == eod(2026, 10, 30)


def test_rating_date_is_the_hall_local_date() -> None:
    # 2026-09-21T16:30Z is Tue Sep 22 00:30 in Shanghai: the same due date as R1.
    [f] = run(t(2026, 10, 21), [rating(rated=dt.datetime(2026, 9, 21, 16, 30, tzinfo=UTC))])
    assert f.due_at == DUE


def test_department_override() -> None:
    # 10 working days for D1: Sep 23, 24, 28, 29, 30, Oct 8, 9, 10, 12, Tue Oct 13.
    p = params(overrides={"departments": {"D1": {"followup_working_days": 10}}})
    assert run(eod(2026, 10, 13), [rating()], p) == []
    [f] = run(t(2026, 10, 14), [rating()], p)
    assert f.due_at == eod(2026, 10, 13)
    assert f.evidence["followup_working_days"] == 10
    # Another department keeps the 15 days.
    assert run(t(2026, 10, 14), [rating(department="D2")], p) == []


def test_global_setting_and_item_override_through_the_rated_case() -> None:
    p = params(followup_working_days=5, overrides={"items": {"I9": {"followup_working_days": 10}}})
    # Not linked to a case: the global 5 days -> Sep 23, 24, 28, 29, Wed Sep 30.
    [f] = run(t(2026, 10, 1), [rating()], p)
    assert f.due_at == eod(2026, 9, 30)
    # Linked to case C1 (item I9): 10 days -> Oct 13; place filled from the case.
    linked = rating(case_id="C1", department=None)
    assert run(t(2026, 10, 1), [linked], p) == []
    [f] = run(t(2026, 10, 14), [linked], p)
    assert f.due_at == eod(2026, 10, 13)
    assert (f.case_id, f.item, f.department, f.window) == ("C1", "I9", "D9", "W07")


def test_unconfirmed_calendar_is_flagged() -> None:
    early = WorkingCalendar(2024, 2028, confirmed_until=dt.date(2026, 10, 1))
    [f] = run(t(2026, 10, 21), [rating()], calendar=early)
    assert f.calendar_confirmed is False
    assert f.calendar_version == early.version


def test_rating_outside_the_calendar_is_not_guessed() -> None:
    # Rated in late 2028: the 15th working day after lies beyond the calendar's years.
    far = rating(rated=t(2028, 12, 20, 10))
    assert run(t(2028, 12, 31, 12), [far]) == []


def test_family_registered() -> None:
    assert FAMILIES["evaluation"] is evaluation.evaluate
