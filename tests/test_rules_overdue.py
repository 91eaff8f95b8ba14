"""Scenario tests of the overdue rule family (yellow and red cards), with hand-counted deadlines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import cache
from typing import Any

import pytest

from monitor.calendar import WorkingCalendar
from monitor.model import (
    Case,
    CaseResult,
    Finding,
    Item,
    ItemKind,
    Severity,
    Snapshot,
    Step,
    Suspension,
)
from rules import evaluate_all, overdue
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, SH, cal, eod, t

UTC = dt.UTC
D = dt.date
APPLICANT = "applicant-keyed-hash-7f3a9c51"

DUE_SOON = "case.due_soon"
OVERDUE = "case.overdue"
CONCLUDED_LATE = "case.concluded_late"
STATUTORY_OVERDUE = "case.statutory_overdue"
STEP_OVERDUE = "case.step_overdue"
SUSPENSION_OVERDUE = "case.suspension_overdue"

SEVERITY = {
    DUE_SOON: Severity.YELLOW,
    OVERDUE: Severity.RED,
    CONCLUDED_LATE: Severity.RED,
    STATUTORY_OVERDUE: Severity.RED,
    STEP_OVERDUE: Severity.YELLOW,
    SUSPENSION_OVERDUE: Severity.YELLOW,
}

# Calendars used below (official 2026 China schedule, hand-checked):
#   September 2026          October 2026            November 2026
#   Mo Tu We Th Fr Sa Su    Mo Tu We Th Fr Sa Su    Mo Tu We Th Fr Sa Su
#       1  2  3  4  5  6              1  2  3  4                       1
#    7  8  9 10 11 12 13     5  6  7  8  9 10 11     2  3  4  5  6  7  8
#   14 15 16 17 18 19 20    12 13 14 15 16 17 18     9 10 11 12 13 14 15
#   21 22 23 24 25 26 27    19 20 21 22 23 24 25    16 17 18 19 20 21 22
#   28 29 30                26 27 28 29 30 31       23 24 25 26 27 28 29
# Sun Sep 20 and Sat Oct 10 are make-up working days; Fri Sep 25 (Mid-Autumn) and
# Oct 1-7 (National Day) are off.
#
# Scenario A (used throughout): item I1, promised 10, statutory 20, accepted Mon
# 2026-09-21 09:30. Sep 21 itself is not counted:
#   Sep 22 = 1, Sep 23 = 2, Sep 24 = 3, (Sep 25 holiday, Sep 26/27 weekend),
#   Sep 28 = 4, Sep 29 = 5, Sep 30 = 6, (Oct 1-7 off), Oct 8 = 7, Oct 9 = 8,
#   Sat Oct 10 (make-up) = 9, (Sun Oct 11), Mon Oct 12 = 10
#   -> promised due 2026-10-12 23:59:59 +08:00.
#   Oct 13 = 11, 14 = 12, 15 = 13, 16 = 14, 19 = 15, 20 = 16, 21 = 17, 22 = 18, 23 = 19,
#   Mon Oct 26 = 20 -> statutory due 2026-10-26 23:59:59 +08:00.
# Default yellow threshold for limit 10: max(1, ceil(0.2 * 10)) = 2.
# Remaining working days (after today, up to and including Oct 12):
#   Sep 28: Sep 29, 30, Oct 8, 9, 10, 12 = 6;  Sep 29: 5;  Sep 30: 4;  Oct 3 (holiday): 4;
#   Oct 8: Oct 9, 10, 12 = 3;  Oct 9: Oct 10, 12 = 2;  Oct 10: 1;  Sun Oct 11: 1;  Oct 12: 0.


ACCEPTED_A = dt.datetime(2026, 9, 21, 9, 30, tzinfo=SH)


@cache
def early_cal() -> WorkingCalendar:
    """The same calendar, but only confirmed up to 2026-10-01."""
    return WorkingCalendar(2024, 2028, confirmed_until=D(2026, 10, 1))


def item(
    code: str = "I1",
    promised: int = 10,
    statutory: int = 20,
    *,
    kind: ItemKind = ItemKind.PROMISED,
    max_suspension: dict[str, int] | None = None,
) -> Item:
    return Item(
        code=code,
        name="食品经营许可",
        department="D1",
        kind=kind,
        statutory_limit_days=statutory,
        promised_limit_days=promised,
        max_suspension_days=max_suspension or {},
    )


def case(
    accepted: dt.datetime = ACCEPTED_A,
    *,
    case_id: str = "C1",
    item_code: str = "I1",
    department: str = "D1",
    concluded: dt.datetime | None = None,
    result: CaseResult | None = None,
    promised_due: dt.datetime | None = None,
    steps: tuple[Step, ...] = (),
    suspensions: tuple[Suspension, ...] = (),
) -> Case:
    if concluded is not None and result is None:
        result = CaseResult.APPROVED
    return Case(
        id=case_id,
        item=item_code,
        center="CTR",
        department=department,
        window="W07",
        applicant_key=APPLICANT,
        accepted_at=accepted,
        promised_due_at=promised_due,
        concluded_at=concluded,
        result=result,
        steps=steps,
        suspensions=suspensions,
    )


def susp(seq: int, start: dt.datetime, end: dt.datetime | None, kind: str = "补正") -> Suspension:
    return Suspension(seq=seq, kind=kind, started_at=start, ended_at=end)


def step(
    seq: int, start: dt.datetime, end: dt.datetime | None, limit: int | None, name: str = "承办"
) -> Step:
    return Step(seq=seq, name=name, started_at=start, ended_at=end, limit_days=limit)


def check_invariants(findings: Iterable[Finding], calendar: WorkingCalendar) -> None:
    """What every overdue finding must satisfy, whatever the scenario."""
    for f in findings:
        assert f.severity == SEVERITY[f.rule]
        assert f.calendar_version == calendar.version
        assert f.due_at is not None
        assert f.due_at.utcoffset() == dt.timedelta(hours=8)
        assert f.calendar_confirmed == (f.due_at.date() <= calendar.confirmed_until)
        assert f.case_id is not None
        assert f.center == "CTR"
        assert f.window == "W07"
        assert f.item is not None
        # Never the applicant, not even its keyed hash.
        assert APPLICANT not in f.model_dump_json()
        assert APPLICANT not in repr(f.evidence)
        assert "applicant_key" not in f.evidence


def run(
    cases: Iterable[Case],
    items: Iterable[Item],
    at: dt.datetime,
    parameters: RuleParameters | None = None,
    calendar: WorkingCalendar | None = None,
) -> list[Finding]:
    calendar = calendar or cal()
    ctx = RuleContext(calendar, POLICY, at, parameters or RuleParameters())
    findings = overdue.evaluate(list(cases), {i.code: i for i in items}, ctx)
    check_invariants(findings, calendar)
    return findings


def rules_of(findings: Iterable[Finding]) -> list[str]:
    return sorted(f.rule for f in findings)


def only(findings: list[Finding], rule: str) -> Finding:
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, findings
    return matching[0]


def has(evidence: dict[str, Any], **expected: Any) -> bool:
    missing = {k: v for k, v in expected.items() if evidence.get(k, object()) != v}
    assert not missing, f"evidence {evidence} differs on {missing}"
    return True


ITEM_A = item("I1", 10, 20)
DUE_A = eod(2026, 10, 12)
STATUTORY_A = eod(2026, 10, 26)


# -- the due instant boundary ----------------------------------------------------------


def test_exactly_at_due_instant_is_yellow_with_zero_remaining() -> None:
    findings = run([case()], [ITEM_A], eod(2026, 10, 12))
    assert rules_of(findings) == [DUE_SOON]
    f = findings[0]
    assert f.severity == Severity.YELLOW
    assert f.subject_kind == "case"
    assert f.subject_id == "C1"
    assert f.case_id == "C1"
    assert f.department == "D1"
    assert f.item == "I1"
    assert f.due_at == DUE_A
    assert f.due_at.isoformat() == "2026-10-12T23:59:59+08:00"
    assert has(
        f.evidence,
        remaining_working_days=0,
        threshold_days=2,
        accepted_at="2026-09-21T09:30:00+08:00",
        promised_limit_days=10,
        statutory_limit_days=20,
        promised_due_at="2026-10-12T23:59:59+08:00",
        statutory_due_at="2026-10-26T23:59:59+08:00",
        suspended_working_days=0,
    )
    assert "concluded_at" not in f.evidence
    assert "working_days_late" not in f.evidence


def test_one_second_after_due_is_red_only() -> None:
    findings = run([case()], [ITEM_A], t(2026, 10, 13, 0, 0, 0))
    # The yellow card gave way to the red one: only the red finding remains.
    assert rules_of(findings) == [OVERDUE]
    f = findings[0]
    assert f.severity == Severity.RED
    assert f.subject_id == "C1"
    assert f.due_at == DUE_A
    assert f.fingerprint == "case.overdue|case|C1"
    # (Oct 12, Oct 13] = Oct 13 -> 1 working day late; 1 second after 23:59:59.
    assert has(
        f.evidence,
        working_days_late=1,
        seconds_late=1,
        promised_due_at="2026-10-12T23:59:59+08:00",
        suspended_working_days=0,
    )
    assert "remaining_working_days" not in f.evidence
    assert "threshold_days" not in f.evidence


def test_boundary_with_utc_instants() -> None:
    # 2026-10-12T15:59:59Z is exactly 23:59:59 in Shanghai; 16:00:00Z is one second after.
    at_due = dt.datetime(2026, 10, 12, 15, 59, 59, tzinfo=UTC)
    findings = run([case()], [ITEM_A], at_due)
    assert rules_of(findings) == [DUE_SOON]
    assert findings[0].evidence["remaining_working_days"] == 0
    findings = run([case()], [ITEM_A], dt.datetime(2026, 10, 12, 16, 0, 0, tzinfo=UTC))
    assert rules_of(findings) == [OVERDUE]
    assert findings[0].due_at is not None
    assert findings[0].due_at.isoformat() == "2026-10-12T23:59:59+08:00"


def test_acceptance_date_is_hall_local_date() -> None:
    # 2026-09-20T16:30Z is Mon Sep 21 00:30 in Shanghai: counted from Sep 21 -> due Oct 12.
    # (Counting from the UTC date, Sun Sep 20, would give Oct 10.)
    accepted = dt.datetime(2026, 9, 20, 16, 30, tzinfo=UTC)
    findings = run([case(accepted)], [ITEM_A], t(2026, 10, 11, 10))
    assert rules_of(findings) == [DUE_SOON]
    assert findings[0].due_at == DUE_A
    assert findings[0].evidence["remaining_working_days"] == 1  # Oct 12


# -- case.due_soon ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "remaining"),
    [
        (t(2026, 9, 21, 9, 30), None),  # right after acceptance: 10 remaining
        (t(2026, 9, 30, 10), None),  # 4
        (t(2026, 10, 3, 10), None),  # National Day: Oct 8, 9, 10, 12 = 4
        (t(2026, 10, 8, 10), None),  # 3 > threshold 2
        (t(2026, 10, 9, 10), 2),  # Sat Oct 10 (make-up) and Mon Oct 12
        (t(2026, 10, 10, 10), 1),
        (t(2026, 10, 11, 10), 1),  # Sunday: Oct 12 still ahead
        (t(2026, 10, 12, 0, 0, 0), 0),
        (t(2026, 10, 12, 18), 0),
    ],
)
def test_due_soon_limit_10_threshold_2(at: dt.datetime, remaining: int | None) -> None:
    findings = run([case()], [ITEM_A], at)
    if remaining is None:
        assert findings == []
    else:
        assert rules_of(findings) == [DUE_SOON]
        assert has(findings[0].evidence, remaining_working_days=remaining, threshold_days=2)
        assert findings[0].due_at == DUE_A


def test_due_soon_limit_15_threshold_3() -> None:
    # Item promised 15, statutory 15, accepted Sep 21: as scenario A up to Oct 12 = 10,
    # Oct 13 = 11, 14 = 12, 15 = 13, 16 = 14, Mon Oct 19 = 15 -> due Oct 19.
    # Threshold max(1, ceil(0.2 * 15)) = 3.
    it = item("I15", 15, 15)
    c = case(item_code="I15")
    # Oct 13: Oct 14, 15, 16, 19 = 4 -> no yellow.
    assert run([c], [it], t(2026, 10, 13, 10)) == []
    # Oct 14: Oct 15, 16, 19 = 3 -> yellow.
    findings = run([c], [it], t(2026, 10, 14, 10))
    assert rules_of(findings) == [DUE_SOON]
    assert findings[0].due_at == eod(2026, 10, 19)
    assert has(findings[0].evidence, remaining_working_days=3, threshold_days=3)


def test_due_soon_limit_3_threshold_1() -> None:
    # Item promised 3, statutory 10, accepted Sep 21: Sep 22, 23, 24 -> due Thu Sep 24.
    # Threshold max(1, ceil(0.6)) = 1.
    it = item("I3", 3, 10)
    c = case(item_code="I3")
    assert run([c], [it], t(2026, 9, 22, 10)) == []  # Sep 23, 24 = 2
    findings = run([c], [it], t(2026, 9, 23, 10))  # Sep 24 = 1
    assert rules_of(findings) == [DUE_SOON]
    assert findings[0].due_at == eod(2026, 9, 24)
    assert has(findings[0].evidence, remaining_working_days=1, threshold_days=1)


def test_global_fixed_days_threshold() -> None:
    # due_soon_days = 3: at Oct 8 (remaining 3) the card is shown.
    findings = run([case()], [ITEM_A], t(2026, 10, 8, 10), RuleParameters(due_soon_days=3))
    assert rules_of(findings) == [DUE_SOON]
    assert has(findings[0].evidence, remaining_working_days=3, threshold_days=3)


def test_item_fixed_days_override() -> None:
    p = RuleParameters.model_validate({"overrides": {"items": {"I1": {"due_soon_days": 4}}}})
    assert run([case()], [ITEM_A], t(2026, 9, 29, 10), p) == []  # remaining 5
    findings = run([case()], [ITEM_A], t(2026, 9, 30, 10), p)  # remaining 4
    assert rules_of(findings) == [DUE_SOON]
    assert has(findings[0].evidence, remaining_working_days=4, threshold_days=4)


def test_department_fixed_days_override() -> None:
    p = RuleParameters.model_validate({"overrides": {"departments": {"D1": {"due_soon_days": 0}}}})
    # D1: only on the due day itself.
    assert run([case()], [ITEM_A], t(2026, 10, 9, 10), p) == []
    findings = run([case()], [ITEM_A], t(2026, 10, 12, 10), p)
    assert rules_of(findings) == [DUE_SOON]
    assert has(findings[0].evidence, remaining_working_days=0, threshold_days=0)
    # Another department keeps the default threshold 2.
    findings = run([case(department="D2")], [ITEM_A], t(2026, 10, 9, 10), p)
    assert rules_of(findings) == [DUE_SOON]
    assert has(findings[0].evidence, remaining_working_days=2, threshold_days=2)


def test_item_ratio_not_overruled_by_department_fixed_days() -> None:
    # Item ratio 0.5 -> max(1, ceil(0.5 * 10)) = 5, although D1 says 0 days.
    p = RuleParameters.model_validate(
        {
            "overrides": {
                "items": {"I1": {"due_soon_ratio": 0.5}},
                "departments": {"D1": {"due_soon_days": 0}},
            }
        }
    )
    assert run([case()], [ITEM_A], t(2026, 9, 28, 10), p) == []  # remaining 6
    for at, remaining in ((t(2026, 9, 29, 10), 5), (t(2026, 9, 30, 10), 4)):
        findings = run([case()], [ITEM_A], at, p)
        assert rules_of(findings) == [DUE_SOON]
        assert has(findings[0].evidence, remaining_working_days=remaining, threshold_days=5)
    # Another item of D1 (promised 10 too) follows the department: nothing at Oct 9.
    other = item("I2", 10, 20)
    assert run([case(item_code="I2")], [other], t(2026, 10, 9, 10), p) == []


# -- immediate items (即办件) ------------------------------------------------------------
# Item IM: immediate, promised 0, statutory 5. Accepted Fri 2026-10-09 10:00: due at the
# end of the acceptance day, Oct 9 23:59:59. Statutory: Sat Oct 10 = 1, Oct 12 = 2,
# Oct 13 = 3, Oct 14 = 4, Oct 15 = 5 -> Oct 15.

ITEM_IM = item("IM", 0, 5, kind=ItemKind.IMMEDIATE)
IMMEDIATE_CASE = case(t(2026, 10, 9, 10), item_code="IM")


def test_immediate_no_yellow_by_default() -> None:
    assert run([IMMEDIATE_CASE], [ITEM_IM], t(2026, 10, 9, 15)) == []
    assert run([IMMEDIATE_CASE], [ITEM_IM], eod(2026, 10, 9)) == []


def test_immediate_red_after_acceptance_day() -> None:
    findings = run([IMMEDIATE_CASE], [ITEM_IM], t(2026, 10, 10, 0, 0, 0))
    assert rules_of(findings) == [OVERDUE]
    f = findings[0]
    assert f.due_at == eod(2026, 10, 9)
    # (Oct 9, Oct 10] = Sat Oct 10, a make-up working day -> 1 working day late.
    assert has(f.evidence, working_days_late=1, seconds_late=1, promised_limit_days=0)
    # Still red only when warnings for immediate items are on.
    findings = run(
        [IMMEDIATE_CASE], [ITEM_IM], t(2026, 10, 10, 0, 0, 0), RuleParameters(warn_immediate=True)
    )
    assert rules_of(findings) == [OVERDUE]


def test_immediate_statutory_overdue() -> None:
    # At Fri Oct 16 00:00:00: statutory (Oct 15, Oct 16] = 1; promised
    # (Oct 9, Oct 16] = Oct 10, 12, 13, 14, 15, 16 = 6.
    findings = run([IMMEDIATE_CASE], [ITEM_IM], t(2026, 10, 16, 0, 0, 0))
    assert rules_of(findings) == [OVERDUE, STATUTORY_OVERDUE]
    assert only(findings, STATUTORY_OVERDUE).due_at == eod(2026, 10, 15)
    assert has(only(findings, STATUTORY_OVERDUE).evidence, working_days_late=1, state="open")
    assert has(only(findings, OVERDUE).evidence, working_days_late=6)


@pytest.mark.parametrize(
    "parameters",
    [
        {"warn_immediate": True},
        {"overrides": {"items": {"IM": {"warn_immediate": True}}}},
        {"overrides": {"departments": {"D1": {"warn_immediate": True}}}},
    ],
)
def test_immediate_yellow_when_enabled(parameters: dict[str, Any]) -> None:
    p = RuleParameters.model_validate(parameters)
    findings = run([IMMEDIATE_CASE], [ITEM_IM], t(2026, 10, 9, 15), p)
    assert rules_of(findings) == [DUE_SOON]
    # Threshold max(1, ceil(0.2 * 0)) = 1; due today -> 0 remaining.
    assert has(findings[0].evidence, remaining_working_days=0, threshold_days=1)
    assert findings[0].due_at == eod(2026, 10, 9)


def test_immediate_item_level_off_beats_department_on() -> None:
    p = RuleParameters.model_validate(
        {
            "overrides": {
                "items": {"IM": {"warn_immediate": False}},
                "departments": {"D1": {"warn_immediate": True}},
            }
        }
    )
    assert run([IMMEDIATE_CASE], [ITEM_IM], t(2026, 10, 9, 15), p) == []


# -- case.overdue ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "late"),
    [
        (t(2026, 10, 13, 10), 1),  # Oct 13
        (t(2026, 10, 16, 10), 4),  # Oct 13, 14, 15, 16
        (t(2026, 10, 17, 10), 4),  # Saturday adds nothing
        (t(2026, 10, 19, 9), 5),  # + Mon Oct 19
        (STATUTORY_A, 10),  # Oct 13..16, 19..23, 26 = 10; statutory not yet passed
    ],
)
def test_overdue_working_days_late(at: dt.datetime, late: int) -> None:
    findings = run([case()], [ITEM_A], at)
    assert rules_of(findings) == [OVERDUE]
    assert has(
        findings[0].evidence,
        working_days_late=late,
        seconds_late=int((at - DUE_A).total_seconds()),
    )


def test_overdue_on_a_holiday_is_zero_working_days_late() -> None:
    # Item I3 (promised 3, statutory 10), accepted Sep 21: due Thu Sep 24.
    # Statutory: Sep 22, 23, 24, 28, 29, 30, Oct 8, 9, 10, 12 -> Oct 12.
    it = item("I3", 3, 10)
    c = case(item_code="I3")
    # Fri Sep 25 00:00:00 is a holiday: red, (Sep 24, Sep 25] has no working day.
    findings = run([c], [it], t(2026, 9, 25, 0, 0, 0))
    assert rules_of(findings) == [OVERDUE]
    assert has(findings[0].evidence, working_days_late=0, seconds_late=1)
    # Mon Sep 28: (Sep 24, Sep 28] = Sep 28 -> 1.
    findings = run([c], [it], t(2026, 9, 28, 10))
    assert rules_of(findings) == [OVERDUE]
    assert findings[0].evidence["working_days_late"] == 1


def test_source_promise_date_is_used_and_mismatch_reported() -> None:
    # The source says 承诺办结时间 Oct 14; catalogue says Oct 12; (Oct 12, Oct 14] = 2 -> kept.
    c = case(promised_due=t(2026, 10, 14, 0, 0, 0))
    findings = run([c], [ITEM_A], t(2026, 10, 13, 10))
    assert rules_of(findings) == [DUE_SOON]
    assert has(findings[0].evidence, remaining_working_days=1, source_due_mismatch_working_days=2)
    findings = run([c], [ITEM_A], t(2026, 10, 15, 0, 0, 0))
    assert rules_of(findings) == [OVERDUE]
    assert findings[0].due_at == eod(2026, 10, 14)
    assert has(findings[0].evidence, working_days_late=1, source_due_mismatch_working_days=2)


# -- suspensions and the case cards ----------------------------------------------------


def test_open_suspension_silences_yellow_and_red() -> None:
    # Suspended Mon Oct 12 09:00 (专家评审), never resumed.
    s = susp(1, t(2026, 10, 12, 9), None, "专家评审")
    c = case(suspensions=(s,))
    for at in (t(2026, 10, 12, 10), t(2026, 10, 13, 10), t(2026, 10, 20, 10), t(2026, 11, 2, 10)):
        assert run([c], [ITEM_A], at) == []
    # Control: the same case without the suspension is red at Oct 13 (and statutory later).
    assert rules_of(run([case()], [ITEM_A], t(2026, 10, 13, 10))) == [OVERDUE]
    assert rules_of(run([case()], [ITEM_A], t(2026, 11, 2, 10))) == [OVERDUE, STATUTORY_OVERDUE]


def test_suspension_running_as_of_at_though_ended_later() -> None:
    # Suspended Oct 12 09:00, resumed Mon Oct 19 09:00 in the record.
    s = susp(1, t(2026, 10, 12, 9), t(2026, 10, 19, 9))
    c = case(suspensions=(s,))
    assert run([c], [ITEM_A], t(2026, 10, 14, 10)) == []
    # After the resume: (Oct 12, Oct 19] = Oct 13, 14, 15, 16, 19 = 5 working days.
    # Promised Oct 12 + 5 = Oct 13, 14, 15, 16, 19 -> due Mon Oct 19.
    findings = run([c], [ITEM_A], t(2026, 10, 19, 10))
    assert rules_of(findings) == [DUE_SOON]
    assert findings[0].due_at == eod(2026, 10, 19)
    assert has(findings[0].evidence, remaining_working_days=0, suspended_working_days=5)
    findings = run([c], [ITEM_A], t(2026, 10, 20, 0, 0, 0))
    assert rules_of(findings) == [OVERDUE]
    assert has(findings[0].evidence, working_days_late=1, suspended_working_days=5)


def test_finished_suspension_extends_deadline() -> None:
    # 补正 from Tue Sep 22 10:00 to Thu Sep 24 16:00: (Sep 22, Sep 24] = Sep 23, 24 = 2.
    # Promised Oct 12 + 2 = Oct 13, Oct 14 -> due Wed Oct 14.
    # Statutory Oct 26 + 2 = Oct 27, Oct 28 -> due Wed Oct 28.
    c = case(suspensions=(susp(1, t(2026, 9, 22, 10), t(2026, 9, 24, 16)),))
    # Oct 13 00:00:00 would be red without the suspension; now 1 day remains (Oct 14).
    findings = run([c], [ITEM_A], t(2026, 10, 13, 0, 0, 0))
    assert rules_of(findings) == [DUE_SOON]
    assert has(
        findings[0].evidence,
        remaining_working_days=1,
        threshold_days=2,
        suspended_working_days=2,
        promised_due_at="2026-10-14T23:59:59+08:00",
        statutory_due_at="2026-10-28T23:59:59+08:00",
    )
    findings = run([c], [ITEM_A], eod(2026, 10, 14))
    assert rules_of(findings) == [DUE_SOON]
    assert findings[0].evidence["remaining_working_days"] == 0
    findings = run([c], [ITEM_A], t(2026, 10, 15, 0, 0, 0))
    assert rules_of(findings) == [OVERDUE]
    assert findings[0].due_at == eod(2026, 10, 14)
    assert has(findings[0].evidence, working_days_late=1, suspended_working_days=2)


# -- case.concluded_late ---------------------------------------------------------------


@pytest.mark.parametrize("result", [CaseResult.APPROVED, CaseResult.DENIED, CaseResult.FORWARDED])
def test_concluded_late_for_decisions(result: CaseResult) -> None:
    c = case(concluded=t(2026, 10, 13, 9), result=result)
    findings = run([c], [ITEM_A], t(2026, 10, 20, 10))
    assert rules_of(findings) == [CONCLUDED_LATE]
    f = findings[0]
    assert f.severity == Severity.RED
    assert f.due_at == DUE_A
    # (Oct 12, Oct 13] = 1 working day; Oct 13 09:00 - Oct 12 23:59:59 = 9 h 1 s = 32401 s.
    assert has(
        f.evidence,
        working_days_late=1,
        seconds_late=32401,
        concluded_at="2026-10-13T09:00:00+08:00",
    )


def test_concluded_late_judged_at_the_conclusion_instant() -> None:
    c = case(concluded=t(2026, 10, 13, 9))
    findings = run([c], [ITEM_A], t(2026, 10, 13, 9))  # at == concluded_at: concluded
    assert rules_of(findings) == [CONCLUDED_LATE]
    # Evaluated much later, the lateness does not grow.
    findings = run([c], [ITEM_A], t(2026, 12, 1, 9))
    assert rules_of(findings) == [CONCLUDED_LATE]
    assert has(findings[0].evidence, working_days_late=1, seconds_late=32401)


@pytest.mark.parametrize("concluded", [t(2026, 9, 22, 10), t(2026, 10, 12, 17), eod(2026, 10, 12)])
def test_concluded_on_time_is_silent(concluded: dt.datetime) -> None:
    c = case(concluded=concluded)
    assert run([c], [ITEM_A], t(2026, 10, 20, 10)) == []
    # No yellow either for a concluded case, even on its due day.
    assert run([c], [ITEM_A], max(concluded, t(2026, 10, 12, 18))) == []


@pytest.mark.parametrize(
    "result", [CaseResult.WITHDRAWN, CaseResult.REFUSED, CaseResult.RETURNED, CaseResult.VOID]
)
@pytest.mark.parametrize(
    "concluded",
    [t(2026, 10, 13, 9), t(2026, 10, 28, 10)],  # past the promise; past the statutory limit
)
def test_clock_stoppers_are_never_late(result: CaseResult, concluded: dt.datetime) -> None:
    c = case(concluded=concluded, result=result)
    assert run([c], [ITEM_A], t(2026, 11, 20, 10)) == []


def test_conclusion_after_at_is_open_as_of_at() -> None:
    # Concluded (approved) Oct 14 in the record; as of Oct 13 10:00 still open -> red.
    c = case(concluded=t(2026, 10, 14, 9))
    findings = run([c], [ITEM_A], t(2026, 10, 13, 10))
    assert rules_of(findings) == [OVERDUE]
    assert "concluded_at" not in findings[0].evidence
    assert has(findings[0].evidence, working_days_late=1)
    # Withdrawn only later: as of Oct 13 the withdrawal has not happened -> red.
    c = case(concluded=t(2026, 10, 20, 9), result=CaseResult.WITHDRAWN)
    assert rules_of(run([c], [ITEM_A], t(2026, 10, 13, 10))) == [OVERDUE]
    # Concluded Oct 20; as of Oct 9 it is an open case 2 days from its deadline -> yellow.
    c = case(concluded=t(2026, 10, 20, 9))
    findings = run([c], [ITEM_A], t(2026, 10, 9, 10))
    assert rules_of(findings) == [DUE_SOON]
    assert findings[0].evidence["remaining_working_days"] == 2


# -- case.statutory_overdue ------------------------------------------------------------


def test_statutory_overdue_open() -> None:
    findings = run([case()], [ITEM_A], t(2026, 10, 27, 0, 0, 0))
    assert rules_of(findings) == [OVERDUE, STATUTORY_OVERDUE]
    s = only(findings, STATUTORY_OVERDUE)
    assert s.severity == Severity.RED
    assert s.subject_id == "C1"
    assert s.due_at == STATUTORY_A
    # (Oct 26, Oct 27] = 1.
    assert has(s.evidence, state="open", working_days_late=1, seconds_late=1)
    # Promise: (Oct 12, Oct 27] = Oct 13..16 (4), 19..23 (9), 26, 27 = 11.
    o = only(findings, OVERDUE)
    assert o.due_at == DUE_A
    assert has(o.evidence, working_days_late=11)
    assert "state" not in o.evidence


def test_statutory_not_passed_at_its_due_instant() -> None:
    assert rules_of(run([case()], [ITEM_A], STATUTORY_A)) == [OVERDUE]


def test_statutory_overdue_concluded() -> None:
    # Approved Wed Oct 28 10:00: statutory (Oct 26, Oct 28] = 2 working days late;
    # promise (Oct 12, Oct 28] = Oct 13..16, 19..23, 26, 27, 28 = 12.
    c = case(concluded=t(2026, 10, 28, 10))
    findings = run([c], [ITEM_A], t(2026, 11, 2, 10))
    assert rules_of(findings) == [CONCLUDED_LATE, STATUTORY_OVERDUE]
    s = only(findings, STATUTORY_OVERDUE)
    assert s.due_at == STATUTORY_A
    assert has(
        s.evidence, state="concluded", working_days_late=2, concluded_at="2026-10-28T10:00:00+08:00"
    )
    assert has(only(findings, CONCLUDED_LATE).evidence, working_days_late=12)


def test_concluded_exactly_at_statutory_due_is_only_late_on_promise() -> None:
    c = case(concluded=STATUTORY_A, result=CaseResult.DENIED)
    assert rules_of(run([c], [ITEM_A], t(2026, 11, 2, 10))) == [CONCLUDED_LATE]


# -- case.step_overdue -----------------------------------------------------------------
# Step 1 (承办) starts Mon Sep 21 09:30 with a limit of 3 working days:
# Sep 22, 23, 24 -> step due Thu Sep 24 23:59:59. Scenario A's case itself is far from
# its deadline at these instants (6 remaining on Sep 28, 4 on Sep 30).


def test_step_overdue_ended_late() -> None:
    c = case(steps=(step(1, t(2026, 9, 21, 9, 30), t(2026, 9, 28, 9), 3),))
    findings = run([c], [ITEM_A], t(2026, 9, 28, 10))
    assert rules_of(findings) == [STEP_OVERDUE]
    f = findings[0]
    assert f.severity == Severity.YELLOW
    assert f.subject_kind == "step"
    assert f.subject_id == "C1/1"
    assert f.case_id == "C1"
    assert f.due_at == eod(2026, 9, 24)
    # (Sep 24, Sep 28] = Sep 28 only (Sep 25 holiday, weekend) -> 1;
    # Sep 28 09:00 - Sep 24 23:59:59 = 3 days 9 h 1 s = 291601 s.
    assert has(
        f.evidence,
        step="承办",
        started_at="2026-09-21T09:30:00+08:00",
        ended_at="2026-09-28T09:00:00+08:00",
        limit_days=3,
        working_days_late=1,
        seconds_late=291601,
    )


def test_step_within_limit_is_silent() -> None:
    c = case(steps=(step(1, t(2026, 9, 21, 9, 30), t(2026, 9, 24, 18), 3),))
    assert run([c], [ITEM_A], t(2026, 9, 28, 10)) == []
    # Ended exactly at its due instant: still in time.
    c = case(steps=(step(1, t(2026, 9, 21, 9, 30), eod(2026, 9, 24), 3),))
    assert run([c], [ITEM_A], t(2026, 9, 28, 10)) == []
    # No limit: never judged.
    c = case(steps=(step(1, t(2026, 9, 21, 9, 30), None, None),))
    assert run([c], [ITEM_A], t(2026, 9, 30, 10)) == []


def test_open_step_boundary() -> None:
    c = case(steps=(step(1, t(2026, 9, 21, 9, 30), None, 3),))
    assert run([c], [ITEM_A], eod(2026, 9, 24)) == []
    findings = run([c], [ITEM_A], t(2026, 9, 25, 0, 0, 0))
    assert rules_of(findings) == [STEP_OVERDUE]
    # Sep 25 is a holiday: 0 working days late, 1 second late.
    assert has(findings[0].evidence, ended_at=None, working_days_late=0, seconds_late=1)
    # Sep 30: (Sep 24, Sep 30] = Sep 28, 29, 30 = 3.
    findings = run([c], [ITEM_A], t(2026, 9, 30, 10))
    assert has(findings[0].evidence, working_days_late=3)


def test_step_ending_after_at_is_open_as_of_at() -> None:
    # Ends Oct 8 in the record; as of Sep 28 10:00 it is still running and late.
    c = case(steps=(step(1, t(2026, 9, 21, 9, 30), t(2026, 10, 8, 9), 3),))
    findings = run([c], [ITEM_A], t(2026, 9, 28, 10))
    assert rules_of(findings) == [STEP_OVERDUE]
    assert has(findings[0].evidence, ended_at=None, working_days_late=1)


def test_suspension_during_step_extends_it() -> None:
    # 补正 Sep 22 10:00 -> Sep 24 16:00: (Sep 22, Sep 24] = 2, so the step may take 3 + 2 = 5
    # working days after Sep 21: Sep 22, 23, 24, 28, 29 -> due Tue Sep 29.
    # (The case: promised Oct 12 + 2 = Oct 14; at Oct 1 10:00 6 days remain.)
    s = susp(1, t(2026, 9, 22, 10), t(2026, 9, 24, 16))
    ok = case(steps=(step(1, t(2026, 9, 21, 9, 30), t(2026, 9, 29, 17), 3),), suspensions=(s,))
    assert run([ok], [ITEM_A], t(2026, 10, 1, 10)) == []
    late = case(steps=(step(1, t(2026, 9, 21, 9, 30), t(2026, 9, 30, 9), 3),), suspensions=(s,))
    findings = run([late], [ITEM_A], t(2026, 10, 1, 10))
    assert rules_of(findings) == [STEP_OVERDUE]
    assert findings[0].due_at == eod(2026, 9, 29)
    assert has(findings[0].evidence, working_days_late=1)  # (Sep 29, Sep 30]


def test_open_step_not_judged_while_case_suspended_or_concluded() -> None:
    open_step = step(1, t(2026, 9, 21, 9, 30), None, 3)
    # Control: an open step, case running -> Sep 28, 29, 30 = 3 days late.
    findings = run([case(steps=(open_step,))], [ITEM_A], t(2026, 9, 30, 10))
    assert rules_of(findings) == [STEP_OVERDUE]
    # The case is suspended since Sep 28 10:00: the open step is not judged.
    suspended = case(steps=(open_step,), suspensions=(susp(1, t(2026, 9, 28, 10), None),))
    assert run([suspended], [ITEM_A], t(2026, 9, 30, 10)) == []
    # The case concluded Sep 28 (on time) with the step never closed: not judged.
    concluded = case(steps=(open_step,), concluded=t(2026, 9, 28, 10))
    assert run([concluded], [ITEM_A], t(2026, 10, 5, 10)) == []


def test_ended_step_judged_even_while_case_suspended() -> None:
    # Step ended late on Sep 28 09:00; the case is suspended from Sep 28 10:00.
    c = case(
        steps=(step(1, t(2026, 9, 21, 9, 30), t(2026, 9, 28, 9), 3),),
        suspensions=(susp(1, t(2026, 9, 28, 10), None),),
    )
    findings = run([c], [ITEM_A], t(2026, 9, 30, 10))
    assert rules_of(findings) == [STEP_OVERDUE]
    assert findings[0].due_at == eod(2026, 9, 24)


def test_several_steps_have_their_own_subject_ids() -> None:
    # Step 1: due Sep 24, ended Sep 28 (late). Step 2 (审核) starts Sep 28 09:00 with
    # limit 1: due Tue Sep 29; still open at Oct 8 10:00 -> (Sep 29, Oct 8] = Sep 30,
    # Oct 8 = 2 late. Step 3 (批准) starts after the instant: ignored.
    # (Case at Oct 8: remaining 3 > 2, no yellow.)
    c = case(
        steps=(
            step(1, t(2026, 9, 21, 9, 30), t(2026, 9, 28, 9), 3),
            step(2, t(2026, 9, 28, 9), None, 1, name="审核"),
            step(3, t(2026, 10, 9, 9), None, 0, name="批准"),
        )
    )
    findings = run([c], [ITEM_A], t(2026, 10, 8, 10))
    assert rules_of(findings) == [STEP_OVERDUE, STEP_OVERDUE]
    by_id = {f.subject_id: f for f in findings}
    assert set(by_id) == {"C1/1", "C1/2"}
    assert by_id["C1/2"].due_at == eod(2026, 9, 29)
    assert has(by_id["C1/2"].evidence, step="审核", working_days_late=2, ended_at=None)
    assert all(f.subject_kind == "step" and f.case_id == "C1" for f in findings)


def test_unnamed_step_reports_its_sequence() -> None:
    c = case(steps=(Step(seq=4, started_at=t(2026, 9, 21, 9, 30), limit_days=3),))
    findings = run([c], [ITEM_A], t(2026, 9, 28, 10))
    assert findings[0].subject_id == "C1/4"
    assert findings[0].evidence["step"] == "4"


# -- case.suspension_overdue -----------------------------------------------------------

ITEM_S = item("I1", 10, 20, max_suspension={"专家评审": 5, "*": 10})


def test_suspension_overdue_ended() -> None:
    # 专家评审 Sep 21 10:00 -> Oct 9 10:00: (Sep 21, Oct 9] = Sep 22, 23, 24, 28, 29, 30,
    # Oct 8, 9 = 8 working days > 5 allowed. Allowed end: 5th working day after Sep 21 =
    # Sep 29. (The case: Oct 12 + 8 = Oct 22, 10 days remaining on Oct 9: no card.)
    s = susp(1, t(2026, 9, 21, 10), t(2026, 10, 9, 10), "专家评审")
    findings = run([case(suspensions=(s,))], [ITEM_S], t(2026, 10, 9, 11))
    assert rules_of(findings) == [SUSPENSION_OVERDUE]
    f = findings[0]
    assert f.severity == Severity.YELLOW
    assert f.subject_kind == "suspension"
    assert f.subject_id == "C1/1"
    assert f.case_id == "C1"
    assert f.due_at == eod(2026, 9, 29)
    assert has(
        f.evidence,
        procedure="专家评审",
        started_at="2026-09-21T10:00:00+08:00",
        ended_at="2026-10-09T10:00:00+08:00",
        allowed_working_days=5,
        used_working_days=8,
    )


def test_suspension_within_allowance_is_silent() -> None:
    # Sep 21 -> Sep 29: Sep 22, 23, 24, 28, 29 = 5 = allowed.
    s = susp(1, t(2026, 9, 21, 10), t(2026, 9, 29, 16), "专家评审")
    assert run([case(suspensions=(s,))], [ITEM_S], t(2026, 10, 9, 11)) == []


def test_running_suspension_overdue_and_case_silent() -> None:
    s = susp(1, t(2026, 9, 21, 10), None, "专家评审")
    c = case(suspensions=(s,))
    # Sep 29 23:00: (Sep 21, Sep 29] = 5 -> not yet.
    assert run([c], [ITEM_S], t(2026, 9, 29, 23)) == []
    # Sep 30 10:00: 6 > 5. The case is suspended: no yellow or red for the case.
    findings = run([c], [ITEM_S], t(2026, 9, 30, 10))
    assert rules_of(findings) == [SUSPENSION_OVERDUE]
    assert has(findings[0].evidence, ended_at=None, used_working_days=6, allowed_working_days=5)
    # Long after the case's own deadline, still only the suspension finding.
    # Nov 2: Sep 22..24 (3), 28..30 (6), Oct 8..10 (9), 12..16 (14), 19..23 (19),
    # 26..30 (24), Nov 2 (25).
    findings = run([c], [ITEM_S], t(2026, 11, 2, 10))
    assert rules_of(findings) == [SUSPENSION_OVERDUE]
    assert findings[0].evidence["used_working_days"] == 25


def test_suspension_wildcard_allowance() -> None:
    # 补正 has no own entry: "*" = 10. Sep 21 -> Oct 9 = 8 <= 10: silent.
    s = susp(1, t(2026, 9, 21, 10), t(2026, 10, 9, 10), "补正")
    assert run([case(suspensions=(s,))], [ITEM_S], t(2026, 10, 9, 11)) == []
    # Sep 21 -> Oct 13: 8 + Oct 10, 12, 13 = 11 > 10; allowed end: 10th working day after
    # Sep 21 = Oct 12 (scenario A count).
    s = susp(1, t(2026, 9, 21, 10), t(2026, 10, 13, 10), "补正")
    findings = run([case(suspensions=(s,))], [ITEM_S], t(2026, 10, 13, 11))
    assert rules_of(findings) == [SUSPENSION_OVERDUE]
    assert findings[0].due_at == eod(2026, 10, 12)
    assert has(findings[0].evidence, allowed_working_days=10, used_working_days=11)


def test_suspension_without_allowance_is_not_judged() -> None:
    it = item("I1", 10, 20, max_suspension={"专家评审": 5})
    s = susp(1, t(2026, 9, 21, 10), t(2026, 10, 13, 10), "听证")
    assert run([case(suspensions=(s,))], [it], t(2026, 10, 13, 11)) == []
    # An item with no allowances at all.
    assert run([case(suspensions=(s,))], [ITEM_A], t(2026, 10, 13, 11)) == []


def test_suspension_starting_after_at_is_ignored() -> None:
    s = susp(1, t(2026, 9, 21, 10), t(2026, 10, 13, 10), "专家评审")
    assert run([case(suspensions=(s,))], [ITEM_S], t(2026, 9, 21, 9, 59, 59)) == []


def test_several_suspensions_have_their_own_subject_ids() -> None:
    # 1: Sep 21 -> Sep 30 = Sep 22, 23, 24, 28, 29, 30 = 6 > 5.
    # 2: Oct 8 -> Oct 16 = Oct 9, 10, 12, 13, 14, 15, 16 = 7 > 5; allowed end: 5th working
    #    day after Oct 8 = Oct 9, 10, 12, 13, 14 -> Oct 14.
    # (The case: Oct 12 + 13 -> far away, no card.)
    c = case(
        suspensions=(
            susp(1, t(2026, 9, 21, 10), t(2026, 9, 30, 10), "专家评审"),
            susp(2, t(2026, 10, 8, 10), t(2026, 10, 16, 10), "专家评审"),
        )
    )
    findings = run([c], [ITEM_S], t(2026, 10, 16, 11))
    by_id = {f.subject_id: f for f in findings}
    assert rules_of(findings) == [SUSPENSION_OVERDUE, SUSPENSION_OVERDUE]
    assert set(by_id) == {"C1/1", "C1/2"}
    assert by_id["C1/1"].evidence["used_working_days"] == 6
    assert by_id["C1/2"].evidence["used_working_days"] == 7
    assert by_id["C1/2"].due_at == eod(2026, 10, 14)


def test_unclosed_suspension_of_a_concluded_case_stops_at_conclusion() -> None:
    # 补正 started Tue Sep 22 10:00 and its row was never closed; the case was refused
    # (补正超时驳回) on Thu Sep 24 10:00. The suspension cannot outlast the case: it used
    # (Sep 22, Sep 24] = 2 working days <= 10 allowed, so no finding -- evaluated on Oct 20
    # or on any later day. (case_deadlines clips suspensions at the conclusion the same way.)
    c = case(
        suspensions=(susp(1, t(2026, 9, 22, 10), None, "补正"),),
        concluded=t(2026, 9, 24, 10),
        result=CaseResult.REFUSED,
    )
    assert run([c], [ITEM_S], t(2026, 10, 20, 10)) == []


# -- a case accepted after the instant ---------------------------------------------------


def test_case_accepted_after_at_produces_nothing() -> None:
    # Accepted Sep 21 09:30; evaluated one second earlier, with everything that could fire.
    c = case(
        steps=(step(1, t(2026, 9, 21, 9, 30), None, 0),),
        suspensions=(susp(1, t(2026, 9, 21, 9, 30), None, "专家评审"),),
    )
    assert run([c], [ITEM_S], t(2026, 9, 21, 9, 29, 59)) == []
    # An immediate item accepted tomorrow: nothing today.
    later = case(t(2026, 10, 10, 9), item_code="IM")
    assert run([later], [ITEM_IM], eod(2026, 10, 9)) == []


def test_case_of_unknown_item_is_skipped() -> None:
    assert run([case(item_code="NOPE")], [ITEM_A], t(2026, 10, 20, 10)) == []


# -- calendar version and confirmation -------------------------------------------------


def test_findings_carry_calendar_version_and_confirmation() -> None:
    # Calendar confirmed only up to Oct 1, 2026. At Fri Oct 9 10:00:
    # P1 (I3, due Sep 24): red, due date confirmed.
    # S1 (scenario A + step due Sep 24 ended Sep 28): step finding confirmed; the case's
    #     yellow card (due Oct 12, 2 remaining) is not.
    # S2 (I7, 补正 allowed 7, running since Sep 21 10:00): (Sep 21, Oct 9] = 8 > 7; allowed
    #     end = 7th working day after Sep 21 = Oct 8 -> not confirmed.
    calendar = early_cal()
    i3 = item("I3", 3, 10)
    i7 = item("I7", 10, 20, max_suspension={"补正": 7})
    p1 = case(case_id="P1", item_code="I3")
    s1 = case(case_id="S1", steps=(step(1, t(2026, 9, 21, 9, 30), t(2026, 9, 28, 9), 3),))
    s2 = case(
        case_id="S2", item_code="I7", suspensions=(susp(1, t(2026, 9, 21, 10), None, "补正"),)
    )
    findings = run([p1, s1, s2], [i3, ITEM_A, i7], t(2026, 10, 9, 10), calendar=calendar)
    got = {(f.rule, f.subject_id): (f.due_at, f.calendar_confirmed) for f in findings}
    assert got == {
        (OVERDUE, "P1"): (eod(2026, 9, 24), True),
        (STEP_OVERDUE, "S1/1"): (eod(2026, 9, 24), True),
        (DUE_SOON, "S1"): (eod(2026, 10, 12), False),
        (SUSPENSION_OVERDUE, "S2/1"): (eod(2026, 10, 8), False),
    }
    assert {f.calendar_version for f in findings} == {calendar.version}
    assert calendar.version != cal().version


def test_statutory_beyond_confirmed_horizon() -> None:
    calendar = early_cal()
    findings = run([case()], [ITEM_A], t(2026, 10, 27, 0, 0, 0), calendar=calendar)
    assert rules_of(findings) == [OVERDUE, STATUTORY_OVERDUE]
    assert not any(f.calendar_confirmed for f in findings)
    # With the default calendar (2026 confirmed to Dec 31) the same findings are confirmed.
    findings = run([case()], [ITEM_A], t(2026, 10, 27, 0, 0, 0))
    assert all(f.calendar_confirmed for f in findings)
    assert {f.calendar_version for f in findings} == {cal().version}


# -- rules.evaluate_all ------------------------------------------------------------------


def test_evaluate_all_sorted_by_rule_and_subject() -> None:
    # At Tue Oct 27 00:00:00:
    # B1, A9: scenario A -> overdue and statutory_overdue; A9 also a late step (A9/2).
    # Z1: I3 accepted Thu Oct 22: Oct 23 = 1, Oct 26 = 2, Oct 27 = 3 -> due today, yellow.
    # K1: IS (20/20, any suspension 1 day) accepted Mon Oct 19; 听证 Oct 20 -> Oct 23 =
    #     Oct 21, 22, 23 = 3 > 1 -> suspension_overdue K1/1. Its own deadline is weeks away.
    # Y1: accepted Oct 28, after the instant -> nothing.
    i3 = item("I3", 3, 10)
    i_s = item("IS", 20, 20, max_suspension={"*": 1})
    snapshot = Snapshot(
        items={i.code: i for i in (ITEM_A, i3, i_s)},
        cases={
            "B1": case(case_id="B1"),
            "Z1": case(t(2026, 10, 22, 10), case_id="Z1", item_code="I3"),
            "K1": case(
                t(2026, 10, 19, 9),
                case_id="K1",
                item_code="IS",
                suspensions=(susp(1, t(2026, 10, 20, 10), t(2026, 10, 23, 10), "听证"),),
            ),
            "Y1": case(t(2026, 10, 28, 9), case_id="Y1"),
            "A9": case(
                case_id="A9",
                steps=(step(2, t(2026, 9, 21, 10), t(2026, 9, 28, 9), 3, name="审核"),),
            ),
        },
    )
    at = t(2026, 10, 27, 0, 0, 0)
    ctx = RuleContext(cal(), POLICY, at, RuleParameters())
    everything = evaluate_all(snapshot, ctx)
    # All cases share one applicant: B1 and A9 (same item, both open) are also a double
    # acceptance, which the off-system family reports; this test is about the overdue one.
    assert [f.subject_id for f in everything if f.rule == "offsystem.double_acceptance"] == ["B1"]
    findings = [f for f in everything if f.rule.startswith("case.")]
    check_invariants(findings, cal())
    assert [(f.rule, f.subject_kind, f.subject_id) for f in findings] == [
        (DUE_SOON, "case", "Z1"),
        (OVERDUE, "case", "A9"),
        (OVERDUE, "case", "B1"),
        (STATUTORY_OVERDUE, "case", "A9"),
        (STATUTORY_OVERDUE, "case", "B1"),
        (STEP_OVERDUE, "step", "A9/2"),
        (SUSPENSION_OVERDUE, "suspension", "K1/1"),
    ]
    assert only(findings, DUE_SOON).due_at == eod(2026, 10, 27)
    assert only(findings, SUSPENSION_OVERDUE).due_at == eod(2026, 10, 21)  # Oct 20 + 1
    assert has(only(findings, SUSPENSION_OVERDUE).evidence, used_working_days=3)
    # Same findings as the family itself returns, only ordered.
    direct = overdue.evaluate(snapshot.cases.values(), snapshot.items, ctx)
    assert sorted(f.fingerprint for f in direct) == sorted(f.fingerprint for f in findings)
    assert evaluate_all(Snapshot(), ctx) == []


# -- sub-second instants on the due day ------------------------------------------------


def test_conclusion_within_the_last_second_of_due_day_is_on_time() -> None:
    # Concluded 2026-10-12 23:59:59.5, i.e. on the due date. The law counts days, and the
    # red card fires "the first second after the due instant" (DESIGN §1): not late.
    c = case(concluded=dt.datetime(2026, 10, 12, 23, 59, 59, 500000, tzinfo=SH))
    assert run([c], [ITEM_A], t(2026, 10, 20, 10)) == []


def test_open_case_within_the_last_second_of_due_day_is_not_red() -> None:
    at = dt.datetime(2026, 10, 12, 23, 59, 59, 999999, tzinfo=SH)
    findings = run([case()], [ITEM_A], at)
    assert rules_of(findings) == [DUE_SOON]


# -- a case typed in after the fact (补录) ------------------------------------------------


def test_a_backfilled_case_has_no_card_before_it_was_typed_in_and_arrives_red() -> None:
    # Scenario A, but typed into the approval system only on Oct 14: until then it did
    # not exist there; from then on its deadline still counts from the acceptance.
    backfilled = case().model_copy(update={"recorded_at": dt.datetime(2026, 10, 14, 10, tzinfo=SH)})
    assert run([backfilled], [ITEM_A], t(2026, 10, 9, 12)) == []  # would be yellow
    assert run([backfilled], [ITEM_A], t(2026, 10, 13, 12)) == []  # would be red
    findings = run([backfilled], [ITEM_A], t(2026, 10, 14, 10, 1))
    assert rules_of(findings) == [OVERDUE]
    assert only(findings, OVERDUE).due_at == DUE_A
