"""Fees (收费): money outside the designated account, wrong amounts, fees without authority.

Basis: 行政许可法 art. 58 (a licence is free unless a law or administrative regulation
says otherwise; fees follow the published standard), art. 59 (fees are paid in full to
the treasury, none kept or shared: 收支两条线), and the 行政事业性收费 rules that route
every fee through a designated bank account (收费专户) by the payment reference
(缴款码 / 缴款单号) the approval system issues — never in cash at the window. Supervision
looks for 收费未纳入收费专户, 超标准收费 and 擅自收费 (乱收费).

Matching a case to its money: every payment whose ``reference`` equals the case's
``payment_reference`` (deposits and reversals alike, so a refund corrects an amount);
failing that, a deposit the bank or finance system links by ``case_id`` *and* whose
amount equals the fee due (a case number typed into a transfer memo is weak evidence
alone) — the earliest such one. Only payments made by ``ctx.at`` exist. Amounts are
integer fen throughout, shown as yuan strings in evidence; no float is involved.

Pure functions: (snapshot, context) -> findings, no I/O, the instant is ``ctx.at``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.calendar import CalendarRangeError
from monitor.deadlines import clock_stopped_at
from monitor.model import Case, Finding, Item, Payment, Severity, Snapshot
from rules.common import case_finding, case_known, end_of_working_days_after, iso, past, yuan
from rules.context import RuleContext
from rules.parameters import FeePayableAt

NOT_IN_DESIGNATED_ACCOUNT = "fee.not_in_designated_account"
AMOUNT_MISMATCH = "fee.amount_mismatch"
UNAUTHORIZED = "fee.unauthorized"


@dataclass(frozen=True)
class PaymentIndex:
    """The payments made by the instant, by reference and by linked case id."""

    by_reference: Mapping[str, Sequence[Payment]]
    by_case: Mapping[str, Sequence[Payment]]
    monitored: bool  # some payment source delivers statements at all

    @classmethod
    def build(
        cls, payments: Mapping[str, Payment], at: dt.datetime, monitored: bool
    ) -> PaymentIndex:
        by_reference: dict[str, list[Payment]] = defaultdict(list)
        by_case: dict[str, list[Payment]] = defaultdict(list)
        for payment in sorted(payments.values(), key=lambda p: (p.paid_at, p.id)):
            if payment.paid_at > at:
                continue
            if payment.reference:
                by_reference[payment.reference].append(payment)
            if payment.case_id:
                by_case[payment.case_id].append(payment)
        return cls(by_reference, by_case, monitored=monitored)


@dataclass(frozen=True)
class CaseMoney:
    """A case's payments: the matched ones, and every deposit linked to it at all."""

    matched_by: str | None  # "reference", "case_id" or None
    matched: tuple[Payment, ...]
    linked_deposits: tuple[Payment, ...]  # matched deposits plus any case_id-linked one

    @property
    def deposits(self) -> tuple[Payment, ...]:
        return tuple(p for p in self.matched if p.is_deposit)

    @property
    def net_fen(self) -> int:
        return sum(p.amount_fen for p in self.matched)


def case_money(case: Case, index: PaymentIndex) -> CaseMoney:
    """The payments matched to ``case``: by reference first, else by a linked case id."""
    linked = [p for p in index.by_case.get(case.id, ()) if p.is_deposit]
    if case.payment_reference and case.payment_reference in index.by_reference:
        matched = tuple(index.by_reference[case.payment_reference])
        by: str | None = "reference"
    else:
        exact = [p for p in linked if p.amount_fen == case.fee_due_fen]
        matched = tuple(exact[:1])
        by = "case_id" if matched else None
    deposits = {p.id: p for p in matched if p.is_deposit} | {p.id: p for p in linked}
    return CaseMoney(by, matched, tuple(deposits.values()))


def _payments_evidence(payments: Sequence[Payment], ctx: RuleContext, center: str | None) -> Any:
    fees = ctx.parameters.fees
    return [
        {
            "id": p.id,
            "account": p.account,
            "amount_fen": p.amount_fen,
            "amount_yuan": yuan(p.amount_fen),
            "paid_at": iso(p.paid_at),
            "designated": fees.is_designated(p.account, center),
        }
        for p in payments
    ]


def _ended_without_decision(case: Case, at: dt.datetime) -> bool:
    """Withdrawn, refused, returned or voided by ``at``: no decision, so no fee owed."""
    return (
        clock_stopped_at(case, at) is not None
        and case.result is not None
        and case.result.stops_clock_without_decision
    )


def fee_grace_due(case: Case, ctx: RuleContext) -> dt.datetime | None:
    """When the deposit must be on the statement; None while the fee is not due yet.

    The grace (``grace_working_days``, 3) counts from the acceptance date, or — for items
    whose practice is to pay when the decision is handed over (``payable_at:
    conclusion``) — from the conclusion date, and until the case concludes such a fee
    is not due at all. A deadline beyond the calendar's years is not guessed (None).
    """
    fees = ctx.parameters.fees
    if fees.payable(case.item, case.department) is FeePayableAt.CONCLUSION:
        anchor = clock_stopped_at(case, ctx.at)
        if anchor is None:
            return None
    else:
        anchor = case.accepted_at
    try:
        return end_of_working_days_after(anchor, fees.grace(case.item, case.department), ctx)
    except CalendarRangeError:
        return None


def _fee_evidence(case: Case) -> dict[str, Any]:
    return {
        "accepted_at": iso(case.accepted_at),
        "fee_due_fen": case.fee_due_fen,
        "fee_due_yuan": yuan(case.fee_due_fen),
        "payment_reference": case.payment_reference,
    }


def not_in_designated_account(
    case: Case, money: CaseMoney, index: PaymentIndex, ctx: RuleContext
) -> Finding | None:
    """``fee.not_in_designated_account``: the fee did not reach the 收费专户.

    行政许可法 art. 59 and 收支两条线: every fee goes into the center's designated account.
    Red when a deposit matched to the case landed in any other account (at once: waiting
    cures nothing), or when the case has a fee due and no matched deposit is on the
    statement by the end of the grace period (see :func:`fee_grace_due`). Cases that
    ended without a decision (withdrawn, refused, returned, voided) owe no fee. A hall
    with no payment source configured (:meth:`Snapshot.watches`) has no statement to
    reconcile with, and is not reported as unpaid case by case.
    """
    deposits = money.deposits
    if deposits:
        fees = ctx.parameters.fees
        if all(fees.is_designated(p.account, case.center) for p in deposits):
            return None
        reason = "wrong_account"
        due = fee_grace_due(case, ctx)
    else:
        if case.fee_due_fen == 0 or not index.monitored:
            return None
        if _ended_without_decision(case, ctx.at):
            return None
        due = fee_grace_due(case, ctx)
        if due is None or not past(ctx.at, due):
            return None
        reason = "no_deposit"
    return case_finding(
        NOT_IN_DESIGNATED_ACCOUNT,
        Severity.RED,
        case,
        ctx,
        due_at=due,
        evidence=_fee_evidence(case)
        | {
            "reason": reason,
            "matched_by": money.matched_by,
            "payable_at": ctx.parameters.fees.payable(case.item, case.department).value,
            "grace_working_days": ctx.parameters.fees.grace(case.item, case.department),
            "payments": _payments_evidence(deposits, ctx, case.center),
        },
    )


def applicable_standard(case: Case, item: Item, ctx: RuleContext) -> tuple[int, str | None]:
    """The fee standard in force on the acceptance date, and why it is zero if it is.

    An item whose fee was abolished (取消收费) on or before the local acceptance date is
    free; abolished the day after, the old standard still applied to the case.
    """
    if item.fee_abolished_on is not None and item.fee_abolished_on <= ctx.policy.local_date(
        case.accepted_at
    ):
        return 0, "abolished"
    if item.fee_standard_fen == 0:
        return 0, "free_item"
    return item.fee_standard_fen, None


def amount_mismatch(
    case: Case, money: CaseMoney, standard_fen: int, ctx: RuleContext
) -> Finding | None:
    """``fee.amount_mismatch``: paid or charged amount differs from what is owed (超标准收费).

    行政许可法 art. 58: fees follow the published standard. Red when the net of the matched
    payments (deposits less reversals) differs from the fee due (``paid_differs``), or
    the fee due differs from the item's standard: above it is 超标准收费
    (``over_standard``), below it (``below_standard``) is reported unless the item or
    department sets ``flag_below_standard: false`` (reductions, 减免) or the case ended
    without a decision. Items whose standard is zero are :func:`unauthorized`'s business.
    """
    issues: list[str] = []
    if money.matched and money.net_fen != case.fee_due_fen:
        issues.append("paid_differs")
    if case.fee_due_fen > standard_fen:
        issues.append("over_standard")
    elif (
        case.fee_due_fen < standard_fen
        and ctx.parameters.fees.flags_below_standard(case.item, case.department)
        and not _ended_without_decision(case, ctx.at)
    ):
        issues.append("below_standard")
    if not issues:
        return None
    labels = {
        "paid_differs": "实收与应收不符",
        "over_standard": "超标准收费",
        "below_standard": "低于收费标准",
    }
    return case_finding(
        AMOUNT_MISMATCH,
        Severity.RED,
        case,
        ctx,
        evidence=_fee_evidence(case)
        | {
            "issues": issues,
            "issues_zh": [labels[i] for i in issues],
            "over_standard": "over_standard" in issues,
            "fee_standard_fen": standard_fen,
            "fee_standard_yuan": yuan(standard_fen),
            "matched_by": money.matched_by,
            "paid_fen": money.net_fen,
            "paid_yuan": yuan(money.net_fen),
            "difference_fen": money.net_fen - case.fee_due_fen if money.matched else None,
            "payment_ids": [p.id for p in money.matched],
        },
    )


def unauthorized(
    case: Case, item: Item, money: CaseMoney, reason: str, ctx: RuleContext
) -> Finding | None:
    """``fee.unauthorized``: a fee charged without authority (擅自收费).

    行政许可法 art. 58: no fee unless a law or administrative regulation provides for
    one; a fee that has been abolished (取消收费) is no longer owed. Red when a case of
    a free item — standard zero, or abolished on or before its acceptance date — has a
    fee due, or any deposit matched to it or linked to it by case id.
    """
    charged = money.linked_deposits
    if case.fee_due_fen == 0 and not charged:
        return None
    paid = sum(p.amount_fen for p in charged)
    return case_finding(
        UNAUTHORIZED,
        Severity.RED,
        case,
        ctx,
        evidence=_fee_evidence(case)
        | {
            "reason": reason,
            "fee_standard_fen": item.fee_standard_fen,
            "fee_abolished_on": (
                None if item.fee_abolished_on is None else item.fee_abolished_on.isoformat()
            ),
            "accepted_on": ctx.policy.local_date(case.accepted_at).isoformat(),
            "paid_fen": paid,
            "paid_yuan": yuan(paid),
            "payment_ids": [p.id for p in charged],
        },
    )


def case_fee_findings(
    case: Case, item: Item, index: PaymentIndex, ctx: RuleContext
) -> Iterator[Finding]:
    """Every fee finding of one case. A fee without authority is not also a wrong amount."""
    money = case_money(case, index)
    standard, free_because = applicable_standard(case, item, ctx)
    checks = (
        not_in_designated_account(case, money, index, ctx),
        unauthorized(case, item, money, free_because, ctx)
        if free_because is not None
        else amount_mismatch(case, money, standard, ctx),
    )
    yield from (f for f in checks if f is not None)


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
    """All fee findings at ``ctx.at``."""
    index = PaymentIndex.build(snapshot.payments, ctx.at, snapshot.watches("payments"))
    findings: list[Finding] = []
    for case in snapshot.cases.values():
        if not case_known(case, ctx.at):
            continue
        item = snapshot.items.get(case.item)
        if item is None:
            continue
        findings.extend(case_fee_findings(case, item, index, ctx))
    return findings
