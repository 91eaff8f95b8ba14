"""Paid fee cases and deposits settled over arrays say what judge_fees / judge_deposit say.

:meth:`FeePreselection.quiet_paid` and :meth:`FeePreselection.quiet_deposits` never
decide a finding; they prove, for plain shapes, that the rules would find nothing, and
give the verdict's boundary the engine's judges give. Held here to those judges on
halls where payments and cases refer to each other in every way the links allow (by
reference, by case id, several payments per case and several cases per payment).
"""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import Engine, _Links, judge_deposit, judge_fees
from monitor.model import Case, CaseResult, Item, Payment, Snapshot
from monitor.preselect import FeePreselection, fees_quiet
from rules import evaluate_all
from rules import fees as fee_rules
from rules.common import case_known, end_of_working_days_after
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, cal, eod, t

START = t(2026, 9, 1, 9)
ITEMS = {
    "F80": Item(code="F80", statutory_limit_days=5, promised_limit_days=3, fee_standard_fen=8000),
    "F0": Item(code="F0", statutory_limit_days=5, promised_limit_days=3),
    "FX": Item(
        code="FX",
        statutory_limit_days=5,
        promised_limit_days=3,
        fee_standard_fen=5000,
        fee_abolished_on=dt.date(2026, 9, 10),
    ),
}
PARAMETERS = [
    RuleParameters.model_validate({"fees": {"designated_accounts": {"HZ": ["A1"]}}}),
    RuleParameters.model_validate(
        {
            "fees": {"payable_at": "conclusion", "flag_below_standard": False},
            "offsystem": {"payment_grace_working_days": 0},
        }
    ),
    RuleParameters.model_validate(
        {
            "offsystem": {"payment_grace_working_days": 5},
            "fees": {
                "designated_accounts": {"HZ": ["A1"], "NB": ["N1"]},
                "grace_working_days": 0,
                "overrides": {
                    "items": {
                        "F80": {"grace_working_days": 5},
                        "FX": {"payable_at": "conclusion"},
                    },
                    "departments": {"D2": {"grace_working_days": 1}},
                },
            },
        }
    ),
]
AROUND = [dt.timedelta(0), dt.timedelta(microseconds=999_999), dt.timedelta(seconds=1)]
minutes = st.integers(min_value=0, max_value=60 * 24 * 30)


def _ctx(at: dt.datetime, parameters: RuleParameters) -> RuleContext:
    return RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)


@st.composite
def paid_cases(draw: st.DrawFn, number: int) -> Case:
    """A case that payments may refer to: mostly owing its item's standard fee."""
    accepted = START + dt.timedelta(minutes=draw(minutes), seconds=draw(st.sampled_from([0, 30])))
    concluded, result = None, None
    if draw(st.booleans()):
        concluded = accepted + dt.timedelta(minutes=draw(minutes) // 3, microseconds=250_000)
        result = draw(st.sampled_from([None, *CaseResult]))
    recorded = None
    if draw(st.integers(0, 4)) == 0:
        recorded = accepted + dt.timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    item = draw(st.sampled_from(sorted(ITEMS)))
    standard = ITEMS[item].fee_standard_fen
    return Case(
        id=f"C{number}",
        item=item,
        center=draw(st.sampled_from([None, "HZ", "HZ", "NB"])),
        department=draw(st.sampled_from(["D1", "D2"])),
        accepted_at=accepted,
        recorded_at=recorded,
        concluded_at=concluded,
        result=result,
        fee_due_fen=draw(st.sampled_from([standard, standard, standard + 4000, 0])),
        payment_reference=draw(st.sampled_from([f"R{number}", f"R{number}", "RS", None])),
    )


@st.composite
def deposits(draw: st.DrawFn, number: int, hall: list[Case]) -> Payment:
    """A payment of one of the hall's cases: as it should be (the case's standard fee
    under its reference into the designated account, soon after acceptance), or that
    with one or two things wrong — account, amount (part of it, a reversal), reference
    (another, none), case id, time (before acceptance, days later, not a whole second)."""
    case = draw(st.sampled_from(hall))
    standard = ITEMS[case.item].fee_standard_fen
    fields = {
        "account": "A1" if case.center != "NB" else "N1",
        "amount_fen": standard,
        "paid_at": case.accepted_at + dt.timedelta(minutes=10),
        "reference": case.payment_reference,
        "case_id": case.id,
        "center": case.center,
    }
    wrong = {
        "account": ["B9", "A1", "N1"],
        "amount_fen": [standard // 2, standard - standard // 2, -standard, 8000, 0],
        "paid_at": [
            case.accepted_at - dt.timedelta(minutes=30),
            case.accepted_at + dt.timedelta(days=3),
            case.accepted_at + dt.timedelta(days=9, microseconds=500_000),
        ],
        "reference": ["RS", "RX", None],
        "case_id": [None, "CX"],
        "center": [None, "HZ"],
    }
    for name in draw(st.lists(st.sampled_from(sorted(wrong)), max_size=2)):
        fields[name] = draw(st.sampled_from(wrong[name]))
    return Payment(id=f"P{number}", **fields)


def _linked(hall: list[Case], payments: list[Payment]) -> _Links:
    """The links as the engine keeps them."""
    links = _Links()
    for payment in payments:
        links.set_payment(payment.id, payment)
    for case in hall:
        links.set_case(case.id, case)
    return links


def _check(
    hall: list[Case], payments: list[Payment], monitored: bool, ctx: RuleContext
) -> tuple[int, int]:
    """Hold the arrays to judge_fees and judge_deposit; how many cases and payments they
    settled. Also: every case and deposit of a plain shape is settled (the arrays do not
    leave the common shapes to the rules)."""
    at = ctx.at
    links = _linked(hall, payments)
    preselection = FeePreselection(cal(), POLICY)
    paid = [(c, ITEMS[c.item], links.payments_of(c)) for c in hall if links.payments_of(c)]
    quiet = preselection.quiet_paid(paid, ctx)
    for case, item, linked in paid:
        verdict = judge_fees(case, item, linked, monitored, ctx)
        if case.id in quiet:
            assert verdict.findings == (), (case, linked, at)
            assert quiet[case.id] == verdict.until, (case, linked, at)
        elif case_known(case, at):
            grace = fee_rules.fee_grace_due(case, ctx)
            payable = ctx.parameters.fees.payable(case.item, case.department)
            stopped = case.concluded_at is not None and case.concluded_at <= at
            assert not fees_quiet(case, item, linked, monitored, grace, ctx) or (
                payable == "conclusion" and stopped
            ), (case, linked, at)
    pairs = [(p, links.cases_of(p)) for p in payments]
    settled = preselection.quiet_deposits(pairs, ctx)
    for payment, cases in pairs:
        verdict = judge_deposit(payment, cases, ctx)
        if payment.id in settled:
            assert verdict.findings == (), (payment, cases, at)
            assert settled[payment.id] == verdict.until, (payment, cases, at)
        else:  # to the rules: a deposit made by the instant that no known case matches
            known = [c for c in cases if case_known(c, at)]
            assert payment.is_deposit and payment.paid_at <= at, (payment, at)
            assert not any(
                (payment.reference and c.payment_reference == payment.reference)
                or (payment.case_id and c.id == payment.case_id)
                for c in known
            ), (payment, cases, at)
    return len(quiet), len(settled)


def _boundaries(
    hall: list[Case], payments: list[Payment], parameters: RuleParameters
) -> list[dt.datetime]:
    """Every instant a verdict of this hall may turn at: grace dues (cases, deposits),
    conclusions, typing in, payments."""
    late = _ctx(t(2028, 1, 1), parameters)
    found: list[dt.datetime] = []
    for case in hall:
        found += [case.accepted_at, case.recorded_at, case.concluded_at]
        grace = fee_rules.fee_grace_due(case, _ctx(case.accepted_at, parameters))
        found += [grace, fee_rules.fee_grace_due(case, late)]
    for payment in payments:
        grace_days = parameters.offsystem.payment_grace_working_days
        found += [payment.paid_at, end_of_working_days_after(payment.paid_at, grace_days, late)]
    return [b for b in found if b is not None]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    size=st.integers(1, 8),
    paid=st.integers(1, 12),
    parameters=st.sampled_from(PARAMETERS),
    monitored=st.booleans(),
)
def test_paid_cases_and_deposits_settled_over_arrays_are_what_the_judges_say(
    data: st.DataObject, size: int, paid: int, parameters: RuleParameters, monitored: bool
) -> None:
    hall = [data.draw(paid_cases(n)) for n in range(size)]
    payments = [data.draw(deposits(n, hall)) for n in range(paid)]
    boundaries = _boundaries(hall, payments, parameters)
    at = data.draw(st.sampled_from(boundaries)) + data.draw(
        st.sampled_from([-AROUND[2], -AROUND[1], *AROUND, dt.timedelta(hours=5)])
    )
    ctx = _ctx(at, parameters)
    _check(hall, payments, monitored, ctx)
    snapshot = Snapshot(
        items=ITEMS,
        cases={c.id: c for c in hall},
        payments={p.id: p for p in payments},
        delivered=frozenset({"payments"} if monitored else set()),
    )
    assert Engine().evaluate(snapshot, ctx, None) == evaluate_all(snapshot, ctx), at


def _sweep_hall(rng: random.Random) -> tuple[list[Case], list[Payment]]:
    """Cases paid as they should be, and near misses of each condition, with deposits."""
    hall: list[Case] = []
    payments: list[Payment] = []
    for n in range(24):
        item = rng.choice(sorted(ITEMS))
        standard = ITEMS[item].fee_standard_fen
        accepted = START + dt.timedelta(minutes=rng.randrange(60 * 24 * 30))
        concluded = None
        if rng.random() < 0.4:
            concluded = accepted + dt.timedelta(minutes=rng.randrange(60 * 24 * 10), microseconds=5)
        case = Case(
            id=f"C{n}",
            item=item,
            center=rng.choice(["HZ", "HZ", None, "NB"]),
            department=rng.choice(["D1", "D2"]),
            accepted_at=accepted,
            concluded_at=concluded,
            result=rng.choice([None, None, *CaseResult]) if concluded else None,
            fee_due_fen=standard if rng.random() < 0.8 else standard + 1,
            payment_reference=f"R{n}",
        )
        hall.append(case)
        paid_at = accepted + dt.timedelta(minutes=rng.choice([10, 60 * 24 * 4]))
        shape = rng.randrange(7)  # 0: as it should be; 1, 6: in two parts; 2-5: misses
        amounts = [standard] if shape not in (1, 6) else [standard // 2, standard - standard // 2]
        for k, amount in enumerate(amounts):
            payments.append(
                Payment(
                    id=f"P{n}.{k}",
                    account="B9" if shape == 2 else "A1",
                    amount_fen=amount + (1 if shape == 3 else 0),
                    paid_at=paid_at,
                    # 6: the second part linked by case id only (not matched by reference)
                    reference=None
                    if shape == 4 or (shape, k) == (6, 1)
                    else case.payment_reference,
                    case_id=case.id,
                )
            )
        if shape == 5:  # a refund of part of it
            payments.append(
                Payment(
                    id=f"P{n}.r", account="A1", amount_fen=-100, paid_at=paid_at, case_id=case.id
                )
            )
    payments.append(  # a deposit without a case (有费无件)
        Payment(id="PX", account="A1", amount_fen=8000, paid_at=t(2026, 9, 28, 10), reference="RX")
    )
    return hall, payments


def test_paid_cases_and_deposits_around_every_boundary_are_held_to_the_judges() -> None:
    """A sweep (no search): each boundary of each case and deposit, to the second and
    around it, for each parameter set, watched or not."""
    hall, payments = _sweep_hall(random.Random(8))
    cases_settled = deposits_settled = 0
    for parameters in PARAMETERS:
        instants = set()
        for boundary in _boundaries(hall, payments, parameters):
            instants.add(boundary)
            instants.update(boundary + dt.timedelta(seconds=1) - d for d in AROUND)
        for at in sorted(instants):
            for monitored in (True, False):
                cases, deposits_ = _check(hall, payments, monitored, _ctx(at, parameters))
                cases_settled += cases
                deposits_settled += deposits_
    assert cases_settled > 0 and deposits_settled > 0


def test_a_paid_case_settled_over_arrays_and_its_near_misses_left_to_the_rules() -> None:
    parameters = PARAMETERS[0]  # payable at acceptance, 3 working days' grace; HZ: A1
    accepted = t(2026, 9, 28, 9)  # Mon; Oct 1-7 off: the grace ends Thu Oct 8 (Sep 29, 30)
    case = Case(
        id="C1",
        item="F80",
        center="HZ",
        accepted_at=accepted,
        fee_due_fen=8000,
        payment_reference="R1",
    )
    paid = Payment(
        id="P1", account="A1", amount_fen=8000, paid_at=t(2026, 9, 28, 10), reference="R1"
    )
    at = t(2026, 9, 29, 10)
    item = ITEMS["F80"]
    preselection = FeePreselection(cal(), POLICY)
    settled = preselection.quiet_paid([(case, item, (paid,))], _ctx(at, parameters))
    assert settled == {"C1": eod(2026, 10, 8) + dt.timedelta(seconds=1)}
    after = _ctx(t(2026, 10, 9, 0), parameters)
    assert preselection.quiet_paid([(case, item, (paid,))], after) == {"C1": None}
    for misses in [
        (paid.model_copy(update={"account": "B9"}),),  # not the designated account
        (paid.model_copy(update={"amount_fen": 7999}),),  # not the standard
        (paid.model_copy(update={"reference": None, "case_id": "C1"}),),  # linked by id only
        (paid.model_copy(update={"paid_at": t(2026, 9, 30, 9)}),),  # not made yet
        (paid, paid.model_copy(update={"id": "P2", "amount_fen": -8000})),  # reversed
    ]:
        assert preselection.quiet_paid([(case, item, misses)], _ctx(at, parameters)) == {}
    # The deposit: matched by its case, quiet; its grace (3 working days) ends Oct 8 too.
    assert preselection.quiet_deposits([(paid, (case,))], _ctx(at, parameters)) == {
        "P1": eod(2026, 10, 8) + dt.timedelta(seconds=1)
    }
    typed_in_later = case.model_copy(update={"recorded_at": t(2026, 10, 9, 9)})
    assert preselection.quiet_deposits([(paid, (typed_in_later,))], _ctx(at, parameters)) == {}
