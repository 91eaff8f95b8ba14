"""The bulletin's counting on hand-made ledgers: periods, fee rows, red cases, empty months.

The whole bulletin on a simulated hall is tests/test_report.py; here each convention of
:mod:`monitor.monthly` is checked on a few rows whose answer is worked out by hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from monitor.deadlines import DeadlinePolicy
from monitor.model import Finding, Severity
from monitor.monthly import (
    ReportError,
    ReportInputs,
    build_report,
    fee_row,
    month_period,
    open_intervals,
    previous_month,
)
from monitor.sla import judge
from monitor.store import LedgerEntry
from tests.hall_time import POLICY, SH, cal, t
from tests.test_sla import ITEM, case

NOW = t(2026, 12, 2, 9)


def entry(rule: str, subject: str, evidence: dict[str, Any], **fields: Any) -> LedgerEntry:
    finding = Finding(
        rule=rule,
        severity=Severity.RED,
        subject_kind=fields.pop("subject_kind", "case"),
        subject_id=subject,
        evidence=evidence,
        **fields,
    )
    return LedgerEntry(finding, "open", NOW, NOW, None, frozenset({"approval"}))


def october(policy: DeadlinePolicy = POLICY) -> tuple[Any, Any]:
    return month_period("2026-10", policy, NOW), month_period("2026-09", policy, NOW)


# --- periods ---------------------------------------------------------------------------------


def test_a_month_and_a_month_to_date() -> None:
    period, _ = october()
    assert (period.start, period.end, period.complete) == (t(2026, 10, 1), t(2026, 11, 1), True)
    running = month_period("2026-12", POLICY, NOW)
    assert (running.end, running.complete) == (NOW, False)
    assert previous_month("2026-01") == "2025-12"
    with pytest.raises(ReportError, match="not begun"):
        month_period("2027-01", POLICY, NOW)
    with pytest.raises(ReportError, match="YYYY-MM"):
        month_period("2026-13", POLICY, NOW)


def test_a_finding_is_open_from_its_opening_to_its_resolution() -> None:
    events = [
        ("A", t(2026, 10, 2), "opened"),
        ("A", t(2026, 10, 5), "resolved"),
        ("A", t(2026, 10, 9), "reopened"),
        ("B", t(2026, 10, 3), "opened"),
        ("B", t(2026, 10, 4), "escalated"),  # a yellow card gave way to a red one
    ]
    assert open_intervals(events) == {
        "A": [(t(2026, 10, 2), t(2026, 10, 5)), (t(2026, 10, 9), None)],
        "B": [(t(2026, 10, 3), t(2026, 10, 4))],
    }


# --- fee rows --------------------------------------------------------------------------------


def test_fee_rows_state_the_amount_at_issue() -> None:
    no_deposit = fee_row(
        entry(
            "fee.not_in_designated_account",
            "C1",
            {"fee_due_fen": 8000, "reason": "no_deposit", "payments": []},
            case_id="C1",
        ),
        SH,
    )
    assert (no_deposit.due_fen, no_deposit.paid_fen, no_deposit.at_issue_fen) == (8000, 0, 8000)
    assert no_deposit.note == "应缴未入专户"
    wrong = fee_row(
        entry(
            "fee.not_in_designated_account",
            "C2",
            {
                "fee_due_fen": 8000,
                "reason": "wrong_account",
                "payments": [
                    {"amount_fen": 5000, "designated": False},
                    {"amount_fen": 3000, "designated": True},
                ],
            },
            case_id="C2",
        ),
        SH,
    )
    assert (wrong.paid_fen, wrong.at_issue_fen, wrong.note) == (8000, 5000, "缴入非指定账户")
    over = fee_row(
        entry(
            "fee.amount_mismatch",
            "C3",
            {
                "fee_due_fen": 12000,
                "fee_standard_fen": 8000,
                "paid_fen": 12000,
                "payment_ids": ["P1"],
                "issues_zh": ["超标准收费"],
            },
            case_id="C3",
        ),
        SH,
    )
    # Charged and paid 120 yuan for an 80-yuan standard: 40 yuan too much, not "0.00".
    assert (over.standard_fen, over.due_fen, over.paid_fen, over.at_issue_fen) == (
        8000,
        12000,
        12000,
        4000,
    )
    unpaid_below = fee_row(
        entry(
            "fee.amount_mismatch",
            "C4",
            {"fee_due_fen": 5000, "fee_standard_fen": 8000, "paid_fen": 0, "payment_ids": []},
            case_id="C4",
        ),
        SH,
    )
    assert unpaid_below.at_issue_fen == 3000  # what was charged, nothing paid yet
    unauthorized = fee_row(
        entry(
            "fee.unauthorized",
            "C5",
            {"fee_due_fen": 0, "paid_fen": 2000, "reason": "free_item"},
            case_id="C5",
        ),
        SH,
    )
    assert (unauthorized.standard_fen, unauthorized.at_issue_fen) == (0, 2000)
    assert unauthorized.note == "免费事项收费"


def test_a_payment_is_shown_by_the_end_of_its_id_and_a_case_in_full() -> None:
    payment = fee_row(
        entry(
            "offsystem.payment_without_case",
            "YHZX01202609140004",
            {"amount_fen": 6000, "paid_at": "2026-09-14T08:46:43+00:00"},
            subject_kind="payment",
        ),
        SH,
    )
    assert (payment.subject, payment.due_fen, payment.at_issue_fen) == ("…140004", None, 6000)
    assert payment.note == "2026-09-14 16:46 到账"  # the time tells it apart at the bank
    by_case = fee_row(
        entry(
            "fee.not_in_designated_account",
            "ZX01202609140001",
            {"fee_due_fen": 100, "reason": "no_deposit"},
            case_id="ZX01202609140001",
        ),
        SH,
    )
    assert by_case.subject == "ZX01202609140001"  # digits, but a case id, not a person's


# --- the bulletin ----------------------------------------------------------------------------


def inputs(rows: list[Any], findings: list[LedgerEntry], events: list[Any]) -> ReportInputs:
    return ReportInputs(
        sla=rows,
        findings={e.fingerprint: e for e in findings},
        events=events,
        calendars={cal().version: cal()},
        parameter_sets=[],
        items={"I1": ITEM},
        evaluations=[],
    )


def late(case_id: str, accepted: dt.datetime, concluded: dt.datetime) -> Any:
    decided = case(id=case_id, accepted_at=accepted, concluded_at=concluded)
    return judge(decided, ITEM, cal(), POLICY, concluded)


def test_red_cases_are_the_periods() -> None:
    """A late conclusion stays on the ledger; it is October's red case only if it was open
    in October or its card opened there."""
    september_late = late("C-SEP", t(2026, 9, 1, 10), t(2026, 9, 15, 10))
    evening_late = late("C-EVE", t(2026, 9, 1, 10), t(2026, 9, 30, 18))
    october_late = late("C-OCT", t(2026, 9, 21, 10), t(2026, 10, 20, 10))
    rows = [september_late, evening_late, october_late]
    cards = [
        entry("case.concluded_late", r.case_id, {}, case_id=r.case_id, item="I1") for r in rows
    ]
    events = [
        (cards[0].fingerprint, t(2026, 9, 15, 17, 30), "opened"),
        (cards[1].fingerprint, t(2026, 10, 9, 17, 30), "opened"),  # after the holidays
        (cards[2].fingerprint, t(2026, 10, 20, 17, 30), "opened"),
    ]
    period, previous = october()
    report = build_report(inputs(rows, cards, events), period, previous, POLICY, NOW)
    assert sorted(r.case_id for r in report.red_cases) == ["C-EVE", "C-OCT"]
    (row,) = [r for r in report.rules if r.rule == "case.concluded_late"]
    assert (row.new, row.open_at_end) == (2, 3)  # the ledger's count: every card still open
    august = month_period("2026-08", POLICY, NOW)
    september = build_report(inputs(rows, cards, events), previous, august, POLICY, NOW)
    assert [r.case_id for r in september.red_cases] == ["C-SEP"]


def test_a_month_without_records_shows_no_figures() -> None:
    row = late("C1", t(2026, 10, 12, 10), t(2026, 10, 30, 10))
    period, previous = october()
    report = build_report(inputs([row], [], []), period, previous, POLICY, NOW)
    figures = {k.label: (k.value, k.previous, k.change) for k in report.kpis}
    assert figures["受理件数"] == (1, None, None)  # September: never watched, not zero
    assert figures["按时办结率"] == (0.0, None, None)
    assert any("上月没有办件研判记录" in note for note in report.notes)
    empty = build_report(inputs([], [], []), period, previous, POLICY, NOW)
    assert all(k.value is None and k.previous is None for k in empty.kpis)
    assert any("本期没有办件研判记录" in note for note in empty.notes)


def test_places_are_those_with_something_in_the_period() -> None:
    september = case(id="C-SEP", window="W9", accepted_at=t(2026, 9, 7, 10))
    september = september.model_copy(update={"concluded_at": t(2026, 9, 8, 10)})
    october_case = case(id="C-OCT", window="W1", accepted_at=t(2026, 10, 12, 10))
    rows = [
        judge(september, ITEM, cal(), POLICY, t(2026, 9, 8, 17)),
        judge(october_case, ITEM, cal(), POLICY, t(2026, 10, 12, 17)),
    ]
    period, previous = october()
    report = build_report(inputs(rows, [], []), period, previous, POLICY, NOW)
    assert [(w.window, w.accepted, w.decided) for w in report.windows] == [("W1", 1, 0)]
    august = month_period("2026-08", POLICY, NOW)
    earlier = build_report(inputs(rows, [], []), previous, august, POLICY, NOW)
    assert [(w.window, w.accepted, w.decided) for w in earlier.windows] == [("W9", 1, 1)]
