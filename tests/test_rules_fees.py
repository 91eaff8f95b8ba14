"""Scenario tests of the fee family (收费专户, 超标准收费, 擅自收费), amounts in integer fen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Case, CaseResult, Finding, Item, Payment, Severity, Snapshot
from rules import FAMILIES, fees
from rules.common import yuan
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, cal, eod, t

UTC = dt.UTC
PAYER = "ak_payer_key_55aa55aa55aa55aa"
APPLICANT = "ak_applicant_0123456789abcdef"

NOT_DESIGNATED = "fee.not_in_designated_account"
MISMATCH = "fee.amount_mismatch"
UNAUTHORIZED = "fee.unauthorized"

# 2026 around here (official schedule): Sat Oct 10 is a make-up working day; Oct 1-7 off.
# Case F1: accepted Fri 2026-10-09 09:00, 80.00 yuan due, reference REF-F1. Grace 3
# working days: Sat Oct 10 = 1, Mon Oct 12 = 2, Tue Oct 13 = 3 -> due 2026-10-13 23:59:59.


def item(code: str, standard: int, abolished: dt.date | None = None) -> Item:
    return Item(
        code=code,
        department="BDC",
        statutory_limit_days=20,
        promised_limit_days=5,
        fee_standard_fen=standard,
        fee_abolished_on=abolished,
    )


ITEMS = {
    i.code: i
    for i in (
        item("IF", 8000),  # 80.00 yuan
        item("IF2", 8000),
        item("FREE", 0),
        item("AB", 5000, dt.date(2026, 9, 29)),  # fee abolished from Tue Sep 29
    )
}


def case(
    case_id: str = "F1",
    accepted: dt.datetime | None = None,
    *,
    item_code: str = "IF",
    fee_due: int = 8000,
    reference: str | None = "REF-F1",
    department: str = "BDC",
    center: str = "CTR",
    concluded: dt.datetime | None = None,
    result: CaseResult | None = None,
) -> Case:
    if concluded is not None and result is None:
        result = CaseResult.APPROVED
    return Case(
        id=case_id,
        item=item_code,
        center=center,
        department=department,
        window="W09",
        applicant_key=APPLICANT,
        accepted_at=accepted or t(2026, 10, 9, 9),
        concluded_at=concluded,
        result=result,
        fee_due_fen=fee_due,
        payment_reference=reference,
    )


def pay(
    payment_id: str = "P1",
    amount: int = 8000,
    *,
    reference: str | None = "REF-F1",
    account: str = "6222 0001",
    paid: dt.datetime | None = None,
    case_id: str | None = None,
) -> Payment:
    return Payment(
        id=payment_id,
        account=account,
        amount_fen=amount,
        paid_at=paid or t(2026, 10, 9, 9, 30),
        reference=reference,
        payer_key=PAYER,
        case_id=case_id,
        center="CTR",
    )


# Some other hall payment, so that the snapshot has a statement source at all.
UNRELATED = pay("P-OTHER", 1200, reference="REF-OTHER", paid=t(2026, 9, 1, 10))

ACCOUNTS: dict[str, Any] = {"CTR": ["6222 0001"], "CTR2": ["6222 0002"], "*": ["6222 9999"]}


def params(**fees_section: Any) -> RuleParameters:
    fees_section.setdefault("designated_accounts", ACCOUNTS)
    return RuleParameters.model_validate({"fees": fees_section})


def run(
    at: dt.datetime,
    cases: Iterable[Case],
    payments: Iterable[Payment] = (UNRELATED,),
    parameters: RuleParameters | None = None,
    delivered: frozenset[str] | None = None,
) -> list[Finding]:
    snapshot = Snapshot(
        items=ITEMS,
        cases={c.id: c for c in cases},
        payments={p.id: p for p in payments},
        delivered=delivered,
    )
    ctx = RuleContext(cal(), POLICY, at, parameters or params())
    findings = fees.evaluate(snapshot, ctx)
    for f in findings:
        assert f.rule in (NOT_DESIGNATED, MISMATCH, UNAUTHORIZED)
        assert f.severity == Severity.RED
        assert f.subject_kind == "case" and f.case_id == f.subject_id
        subject = snapshot.cases[f.subject_id]
        assert (f.center, f.department, f.window, f.item) == (
            subject.center,
            subject.department,
            subject.window,
            subject.item,
        )
        assert f.calendar_version == cal().version
        dumped = f.model_dump_json()
        assert PAYER not in dumped and APPLICANT not in dumped
        _no_float(f.evidence)
    assert len({f.fingerprint for f in findings}) == len(findings)
    return findings


def _no_float(value: Any) -> None:
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for v in value.values():
            _no_float(v)
    if isinstance(value, list):
        for v in value:
            _no_float(v)


def rules_of(findings: Iterable[Finding]) -> list[str]:
    return sorted(f.rule for f in findings)


def only(findings: list[Finding], rule: str) -> Finding:
    [f] = [f for f in findings if f.rule == rule]
    return f


# -- fee.not_in_designated_account -------------------------------------------------------


def test_no_deposit_grace_edge_crossing_a_make_up_day() -> None:
    assert run(eod(2026, 10, 13), [case()]) == []
    findings = run(t(2026, 10, 14), [case()])
    assert rules_of(findings) == [NOT_DESIGNATED]
    f = findings[0]
    assert (f.subject_id, f.item) == ("F1", "IF")
    assert f.due_at == eod(2026, 10, 13)
    assert f.calendar_confirmed is True
    assert f.evidence == {
        "accepted_at": "2026-10-09T09:00:00+08:00",
        "fee_due_fen": 8000,
        "fee_due_yuan": "80.00",
        "payment_reference": "REF-F1",
        "reason": "no_deposit",
        "matched_by": None,
        "payable_at": "acceptance",
        "grace_working_days": 3,
        "payments": [],
    }


def test_deposit_by_reference_into_the_designated_account() -> None:
    assert run(t(2026, 10, 20), [case()], [pay()]) == []
    # The "*" accounts serve every center.
    assert run(t(2026, 10, 20), [case()], [pay(account="6222 9999")]) == []
    # Account numbers compare without their spaces.
    assert run(t(2026, 10, 20), [case()], [pay(account="62220001")]) == []


@pytest.mark.parametrize("account", ["8888 1234", "6222 0002"])  # unknown; another center's
def test_deposit_into_another_account_is_reported_at_once(account: str) -> None:
    # At 09:31, long before the grace period ends: waiting would not cure it.
    findings = run(t(2026, 10, 9, 9, 31), [case()], [pay(account=account)])
    assert rules_of(findings) == [NOT_DESIGNATED]
    f = findings[0]
    assert f.evidence["reason"] == "wrong_account"
    assert f.evidence["matched_by"] == "reference"
    assert f.evidence["payments"] == [
        {
            "id": "P1",
            "account": account,
            "amount_fen": 8000,
            "amount_yuan": "80.00",
            "paid_at": "2026-10-09T09:30:00+08:00",
            "designated": False,
        }
    ]
    assert f.due_at == eod(2026, 10, 13)


def test_half_in_the_designated_account_half_elsewhere() -> None:
    payments = [pay("P1", 4000), pay("P2", 4000, account="8888 1234")]
    findings = run(t(2026, 10, 9, 12), [case()], payments)
    f = only(findings, NOT_DESIGNATED)
    assert [p["designated"] for p in f.evidence["payments"]] == [True, False]
    assert rules_of(findings) == [NOT_DESIGNATED]  # the amount itself is right


def test_no_accounts_configured_means_every_statement_account_is_designated() -> None:
    plain = RuleParameters()
    assert run(t(2026, 10, 20), [case()], [pay(account="anything")], plain) == []
    assert rules_of(run(t(2026, 10, 14), [case()], parameters=plain)) == [NOT_DESIGNATED]


def test_case_id_link_needs_the_exact_amount() -> None:
    linked = pay(reference=None, case_id="F1")
    assert run(t(2026, 10, 20), [case()], [linked]) == []
    # A linked deposit of another amount is not this case's payment: unpaid after grace.
    wrong = pay(amount=7000, reference=None, case_id="F1")
    findings = run(t(2026, 10, 20), [case()], [wrong])
    assert rules_of(findings) == [NOT_DESIGNATED]
    assert findings[0].evidence["reason"] == "no_deposit"
    # The case has no reference of its own: the link is the only way.
    assert run(t(2026, 10, 20), [case(reference=None)], [linked]) == []


def test_reference_takes_precedence_over_the_case_id_link() -> None:
    by_reference = pay("P1", 9000)
    by_link = pay("P2", 8000, reference=None, case_id="F1")
    findings = run(t(2026, 10, 20), [case()], [by_reference, by_link])
    assert rules_of(findings) == [MISMATCH]
    f = findings[0]
    assert f.evidence["matched_by"] == "reference"
    assert f.evidence["payment_ids"] == ["P1"]
    assert f.evidence["paid_fen"] == 9000


def test_no_statement_source_at_all_is_not_reported_case_by_case() -> None:
    assert run(t(2026, 10, 20), [case()], payments=[]) == []
    no_bank = frozenset({"items", "cases"})
    assert run(t(2026, 10, 20), [case()], payments=[], delivered=no_bank) == []


def test_a_bank_source_that_delivered_nothing_yet_still_watches_fees() -> None:
    """The first fee of the year goes unpaid: an empty statement folder is no excuse."""
    with_bank = frozenset({"items", "cases", "payments"})
    findings = run(t(2026, 10, 20), [case()], payments=[], delivered=with_bank)
    assert rules_of(findings) == [NOT_DESIGNATED]


def test_payment_after_the_instant_does_not_exist_yet() -> None:
    late = pay(paid=t(2026, 10, 14, 10))
    assert rules_of(run(t(2026, 10, 14, 9), [case()], [UNRELATED, late])) == [NOT_DESIGNATED]
    assert run(t(2026, 10, 14, 10), [case()], [UNRELATED, late]) == []


@pytest.mark.parametrize(
    "result", [CaseResult.WITHDRAWN, CaseResult.REFUSED, CaseResult.RETURNED, CaseResult.VOID]
)
def test_case_ended_without_decision_owes_no_fee(result: CaseResult) -> None:
    ended = case(concluded=t(2026, 10, 9, 10), result=result)
    assert run(t(2026, 10, 20), [ended]) == []
    # A denial is a decision: the fee stays due.
    denied = case(concluded=t(2026, 10, 9, 10), result=CaseResult.DENIED)
    assert rules_of(run(t(2026, 10, 20), [denied])) == [NOT_DESIGNATED]


def test_fee_payable_at_conclusion() -> None:
    p = params(overrides={"items": {"IF": {"payable_at": "conclusion"}}})
    # Open: the fee is not due yet, however long the case takes.
    assert run(t(2026, 10, 30), [case()], parameters=p) == []
    # Concluded Mon Oct 12 10:00: Oct 13 = 1, 14 = 2, 15 = 3 -> due Oct 15 23:59:59.
    done = case(concluded=t(2026, 10, 12, 10))
    assert run(eod(2026, 10, 15), [done], parameters=p) == []
    findings = run(t(2026, 10, 16), [done], parameters=p)
    f = only(findings, NOT_DESIGNATED)
    assert f.due_at == eod(2026, 10, 15)
    assert f.evidence["payable_at"] == "conclusion"
    # The conclusion only counts once it happened.
    assert run(t(2026, 10, 12, 9), [done], parameters=p) == []
    # Other items keep paying at acceptance.
    other = case(item_code="IF2")
    assert rules_of(run(t(2026, 10, 14), [other], parameters=p)) == [NOT_DESIGNATED]


def test_fee_grace_department_and_item_overrides() -> None:
    p = params(
        grace_working_days=5,
        overrides={
            "departments": {"BDC": {"grace_working_days": 1}},
            "items": {"IF2": {"grace_working_days": 0}},
        },
    )
    # Department BDC: 1 working day -> Sat Oct 10 (make-up).
    assert run(eod(2026, 10, 10), [case()], parameters=p) == []
    f = only(run(t(2026, 10, 11), [case()], parameters=p), NOT_DESIGNATED)
    assert f.due_at == eod(2026, 10, 10)
    assert f.evidence["grace_working_days"] == 1
    # Item IF2: 0 days -> the end of the acceptance day.
    f = only(run(t(2026, 10, 10), [case(item_code="IF2")], parameters=p), NOT_DESIGNATED)
    assert f.due_at == eod(2026, 10, 9)
    # Another department: the global 5 -> Oct 10, 12, 13, 14, 15.
    f = only(run(t(2026, 10, 16), [case(department="GA")], parameters=p), NOT_DESIGNATED)
    assert f.due_at == eod(2026, 10, 15)


def test_grace_counts_from_the_local_acceptance_date() -> None:
    # 2026-10-08T16:30Z is Fri Oct 9 00:30 in Shanghai: due Oct 13, not Oct 12.
    utc_case = case(accepted=dt.datetime(2026, 10, 8, 16, 30, tzinfo=UTC))
    assert run(eod(2026, 10, 13), [utc_case]) == []
    assert rules_of(run(t(2026, 10, 14), [utc_case])) == [NOT_DESIGNATED]


# -- fee.amount_mismatch -----------------------------------------------------------------


def test_paid_more_than_due() -> None:
    findings = run(t(2026, 10, 9, 12), [case()], [pay(amount=9000)])
    assert rules_of(findings) == [MISMATCH]
    f = findings[0]
    assert f.due_at is None
    assert f.evidence == {
        "accepted_at": "2026-10-09T09:00:00+08:00",
        "fee_due_fen": 8000,
        "fee_due_yuan": "80.00",
        "payment_reference": "REF-F1",
        "issues": ["paid_differs"],
        "issues_zh": ["实收与应收不符"],
        "over_standard": False,
        "fee_standard_fen": 8000,
        "fee_standard_yuan": "80.00",
        "matched_by": "reference",
        "paid_fen": 9000,
        "paid_yuan": "90.00",
        "difference_fen": 1000,
        "payment_ids": ["P1"],
    }


def test_matched_deposits_are_summed_and_refunds_net_out() -> None:
    at = t(2026, 10, 9, 12)
    split = [pay("P1", 5000), pay("P2", 3000)]
    assert run(at, [case()], split) == []
    refunded = [pay("P1", 9000), pay("P2", -1000)]
    assert run(at, [case()], refunded) == []
    fully_refunded = [pay("P1", 8000), pay("P2", -8000)]
    f = only(run(at, [case()], fully_refunded), MISMATCH)
    assert (f.evidence["paid_fen"], f.evidence["difference_fen"]) == (0, -8000)


def test_fee_due_above_the_standard_is_over_standard() -> None:
    findings = run(t(2026, 10, 9, 12), [case(fee_due=9000)], [pay(amount=9000)])
    f = only(findings, MISMATCH)
    assert f.evidence["issues"] == ["over_standard"]
    assert f.evidence["issues_zh"] == ["超标准收费"]
    assert f.evidence["over_standard"] is True
    assert f.evidence["difference_fen"] == 0


def test_over_standard_and_paid_differs_together_make_one_finding() -> None:
    f = only(run(t(2026, 10, 9, 12), [case(fee_due=9000)], [pay(amount=9500)]), MISMATCH)
    assert f.evidence["issues"] == ["paid_differs", "over_standard"]


def test_fee_due_below_the_standard() -> None:
    reduced = case(fee_due=4000)
    f = only(run(t(2026, 10, 9, 12), [reduced], [pay(amount=4000)]), MISMATCH)
    assert f.evidence["issues"] == ["below_standard"]
    assert f.evidence["over_standard"] is False
    # Reductions (减免) are normal for this department: not reported.
    p = params(overrides={"departments": {"BDC": {"flag_below_standard": False}}})
    assert run(t(2026, 10, 9, 12), [reduced], [pay(amount=4000)], p) == []
    # ... but the item can insist.
    p = params(
        overrides={
            "departments": {"BDC": {"flag_below_standard": False}},
            "items": {"IF": {"flag_below_standard": True}},
        }
    )
    assert rules_of(run(t(2026, 10, 9, 12), [reduced], [pay(amount=4000)], p)) == [MISMATCH]


def test_below_standard_not_reported_for_a_refused_case() -> None:
    refused = case(fee_due=0, concluded=t(2026, 10, 9, 10), result=CaseResult.REFUSED)
    assert run(t(2026, 10, 9, 12), [refused]) == []


def test_amounts_beyond_float_precision_compare_exactly() -> None:
    # 2**53 + 1 fen is not representable as a float: equal as float, different as int.
    big = 2**53
    assert float(big) == float(big + 1)
    heavy = item("BIG", big)
    snapshot_items = {**ITEMS, "BIG": heavy}
    c = case(item_code="BIG", fee_due=big)
    ctx = RuleContext(cal(), POLICY, t(2026, 10, 9, 12), params())
    snapshot = Snapshot(items=snapshot_items, cases={"F1": c}, payments={"P1": pay(amount=big + 1)})
    [f] = fees.evaluate(snapshot, ctx)
    assert f.rule == MISMATCH
    assert f.evidence["difference_fen"] == 1
    assert f.evidence["paid_yuan"] == "90071992547409.93"


@settings(max_examples=200, deadline=None)
@given(
    fee_due=st.integers(0, 10**15),
    amounts=st.lists(st.integers(-(10**15), 10**15).filter(bool), min_size=1, max_size=4),
)
def test_mismatch_iff_net_differs(fee_due: int, amounts: list[int]) -> None:
    """With the standard equal to the fee due, only the paid sum can differ — exactly."""
    standard_item = item("IP", fee_due) if fee_due else item("IP", 1)
    c = case(item_code="IP", fee_due=fee_due)
    payments = {f"P{n}": pay(f"P{n}", amount) for n, amount in enumerate(amounts)}
    snapshot = Snapshot(items={"IP": standard_item}, cases={"F1": c}, payments=payments)
    ctx = RuleContext(cal(), POLICY, t(2026, 10, 9, 12), RuleParameters())
    findings = [f for f in fees.evaluate(snapshot, ctx) if f.rule == MISMATCH]
    net = sum(amounts)
    paid_differs = net != fee_due
    below = fee_due == 0  # standard 1 fen, nothing due
    assert bool(findings) == (paid_differs or below)
    if findings:
        evidence = findings[0].evidence
        assert ("paid_differs" in evidence["issues"]) == paid_differs
        assert evidence["paid_fen"] == net
        assert Decimal(evidence["paid_yuan"]) * 100 == net
        assert evidence["difference_fen"] == net - fee_due


@given(st.integers(-(10**20), 10**20))
def test_yuan_strings_are_exact(fen: int) -> None:
    text = yuan(fen)
    assert Decimal(text) * 100 == fen
    assert len(text.split(".")[1]) == 2


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0.00"), (1, "0.01"), (8000, "80.00"), (-50, "-0.50"), (123456, "1234.56")],
)
def test_yuan_examples(fen: int, text: str) -> None:
    assert yuan(fen) == text


# -- fee.unauthorized --------------------------------------------------------------------


def test_fee_due_for_a_free_item() -> None:
    free = case(item_code="FREE", fee_due=2000)
    findings = run(t(2026, 10, 9, 12), [free], [pay(amount=2000)])
    # Charged without authority, and not also a "wrong amount".
    assert rules_of(findings) == [UNAUTHORIZED]
    f = findings[0]
    assert f.item == "FREE"
    assert f.due_at is None
    assert f.evidence == {
        "accepted_at": "2026-10-09T09:00:00+08:00",
        "fee_due_fen": 2000,
        "fee_due_yuan": "20.00",
        "payment_reference": "REF-F1",
        "reason": "free_item",
        "fee_standard_fen": 0,
        "fee_abolished_on": None,
        "accepted_on": "2026-10-09",
        "paid_fen": 2000,
        "paid_yuan": "20.00",
        "payment_ids": ["P1"],
    }


def test_deposit_for_a_free_item_without_a_fee_due() -> None:
    at = t(2026, 10, 9, 12)
    free = case(item_code="FREE", fee_due=0)
    assert run(at, [free]) == []
    assert rules_of(run(at, [free], [pay(amount=500)])) == [UNAUTHORIZED]
    # Linked by case id only, and of any amount: money was taken for a free case.
    linked = pay(amount=500, reference=None, case_id="F1")
    f = only(run(at, [free], [linked]), UNAUTHORIZED)
    assert (f.evidence["paid_fen"], f.evidence["payment_ids"]) == (500, ["P1"])


def test_free_item_fee_due_but_never_deposited_is_also_not_in_the_account() -> None:
    free = case(item_code="FREE", fee_due=2000)
    assert rules_of(run(t(2026, 10, 14), [free])) == [NOT_DESIGNATED, UNAUTHORIZED]


@pytest.mark.parametrize(
    ("accepted", "unauthorized"),
    [
        (t(2026, 9, 28, 23, 59, 59), False),  # abolished the day after acceptance
        (t(2026, 9, 29, 0, 0, 0), True),  # abolished on the acceptance day
        (t(2026, 9, 30, 10), True),
        # 2026-09-28T16:30Z is Sep 29 00:30 in Shanghai: the local date decides.
        (dt.datetime(2026, 9, 28, 16, 30, tzinfo=UTC), True),
        (dt.datetime(2026, 9, 28, 15, 59, 59, tzinfo=UTC), False),
    ],
)
def test_abolished_fee_boundary(accepted: dt.datetime, unauthorized: bool) -> None:
    c = case(accepted=accepted, item_code="AB", fee_due=5000)
    findings = run(t(2026, 9, 30, 12), [c], [pay(amount=5000, paid=t(2026, 9, 30, 9))])
    if unauthorized:
        assert rules_of(findings) == [UNAUTHORIZED]
        assert findings[0].evidence["reason"] == "abolished"
        assert findings[0].evidence["fee_abolished_on"] == "2026-09-29"
        assert findings[0].evidence["fee_standard_fen"] == 5000
    else:
        # The old standard still applied, and 50.00 was due and paid: nothing wrong.
        assert findings == []


def test_abolished_item_case_without_fee_is_not_below_standard() -> None:
    c = case(accepted=t(2026, 9, 30, 10), item_code="AB", fee_due=0, reference=None)
    assert run(t(2026, 9, 30, 12), [c]) == []


def test_case_accepted_after_the_instant_is_not_judged() -> None:
    assert run(t(2026, 10, 9, 8), [case(item_code="FREE", fee_due=100)]) == []


def test_family_registered() -> None:
    assert FAMILIES["fees"] is fees.evaluate
