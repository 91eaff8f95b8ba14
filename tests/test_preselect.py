"""Pre-selection proves only what the overdue rules would say themselves: nothing, until when."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy
from monitor.engine import Engine, judge_fees, next_boundary
from monitor.model import Case, CaseResult, Item, Payment, Snapshot, Step
from monitor.preselect import CalendarArrays, FeePreselection, OverduePreselection, fees_quiet
from rules import evaluate_all
from rules import fees as fee_rules
from rules import overdue as overdue_rules
from rules.common import case_known
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, cal, eod, t

START = t(2026, 9, 1, 9)
ITEMS = {
    "I0": Item(code="I0", statutory_limit_days=5, promised_limit_days=0),
    "I1": Item(code="I1", statutory_limit_days=1, promised_limit_days=1),
    "I3": Item(code="I3", statutory_limit_days=7, promised_limit_days=3),
    "I10": Item(code="I10", statutory_limit_days=20, promised_limit_days=10),
    "I20": Item(code="I20", statutory_limit_days=20, promised_limit_days=20),
}
PARAMETERS = [
    RuleParameters(),
    RuleParameters.model_validate({"due_soon_days": 4, "warn_immediate": True}),
    RuleParameters.model_validate(
        {
            "overrides": {
                "items": {"I10": {"due_soon_ratio": 0.5}, "I0": {"warn_immediate": True}},
                "departments": {"D2": {"due_soon_days": 0}},
            }
        }
    ),
]
minutes = st.integers(min_value=0, max_value=60 * 24 * 50)


@st.composite
def plain_cases(draw: st.DrawFn, number: int) -> Case:
    """Cases without suspensions (what pre-selection considers), around holidays."""
    accepted = START + dt.timedelta(minutes=draw(minutes))
    concluded, result = None, None
    if draw(st.integers(0, 3)) == 0:
        concluded = accepted + dt.timedelta(minutes=draw(minutes))
        result = draw(st.sampled_from([None, *CaseResult]))
    promised = None
    if draw(st.integers(0, 4)) == 0:
        promised = accepted + dt.timedelta(days=draw(st.integers(0, 25)))
    recorded = None
    if draw(st.integers(0, 4)) == 0:
        recorded = accepted + dt.timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    steps = []
    for seq in range(draw(st.integers(0, 2))):
        started = accepted + dt.timedelta(minutes=draw(minutes) // 4)
        ended = None
        if draw(st.booleans()):
            ended = started + dt.timedelta(minutes=draw(minutes) // 4, microseconds=250_000)
        limit = draw(st.sampled_from([None, 0, 1, 3]))
        if limit is not None and draw(st.integers(0, 3)) == 0:  # ended about its due second
            due = POLICY.end_of(cal().nth_working_day_after(POLICY.local_date(started), limit))
            ended = due + draw(st.sampled_from(AROUND))
        steps.append(Step(seq=seq, started_at=started, ended_at=ended, limit_days=limit))
    return Case(
        id=f"C{number}",
        item=draw(st.sampled_from(sorted(ITEMS))),
        department=draw(st.sampled_from(["D1", "D2"])),
        accepted_at=accepted,
        promised_due_at=promised,
        concluded_at=concluded,
        result=result,
        recorded_at=recorded,
        steps=tuple(steps),
    )


AROUND = [dt.timedelta(0), dt.timedelta(microseconds=999_999), dt.timedelta(seconds=1)]


def _instant(draw: st.DrawFn, hall: list[Case], parameters: RuleParameters) -> dt.datetime:
    """A random instant, or one around the boundary some case has at a random instant."""
    if draw(st.booleans()):
        case = draw(st.sampled_from(hall))
        before = _random_instant(draw)
        ctx = RuleContext(calendar=cal(), policy=POLICY, at=before, parameters=parameters)
        boundary = next_boundary(case, ITEMS[case.item], ctx, False)
        if boundary is not None:
            return boundary - draw(st.sampled_from(AROUND))
    return _random_instant(draw)


def _random_instant(draw: st.DrawFn) -> dt.datetime:
    special = [eod(2026, 9, 30), eod(2026, 9, 30) + dt.timedelta(seconds=1), t(2026, 10, 8)]
    return draw(
        st.one_of(
            st.sampled_from(special),
            st.builds(lambda m: START + dt.timedelta(minutes=m), minutes),
            st.builds(lambda s: START + dt.timedelta(seconds=s, microseconds=500_000), minutes),
        )
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 40), parameters=st.sampled_from(PARAMETERS))
def test_a_quiet_case_has_no_overdue_finding_until_its_boundary(
    data: st.DataObject, size: int, parameters: RuleParameters
) -> None:
    hall = [data.draw(plain_cases(n)) for n in range(size)]
    at = _instant(data.draw, hall, parameters)
    ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)
    quiet = OverduePreselection(cal(), POLICY).quiet(((c, ITEMS[c.item]) for c in hall), ctx)
    for case in hall:
        item = ITEMS[case.item]
        said = overdue_rules.evaluate([case], ITEMS, ctx)
        if case.id in quiet:
            assert case_known(case, at)
            assert said == []
            assert quiet[case.id] == next_boundary(case, item, ctx, False)


def test_most_young_open_cases_are_quiet_and_the_others_are_judged() -> None:
    at = t(2026, 9, 2, 10)
    young = Case(id="young", item="I20", accepted_at=t(2026, 9, 2, 9))
    yellow = Case(id="yellow", item="I1", accepted_at=t(2026, 9, 1, 9))
    red = Case(id="red", item="I3", accepted_at=t(2026, 8, 20, 9))
    concluded = Case(
        id="concluded",
        item="I20",
        accepted_at=t(2026, 9, 1, 9),
        concluded_at=t(2026, 9, 2, 9),
        result=CaseResult.APPROVED,
    )
    later = Case(
        id="later",
        item="I20",
        accepted_at=t(2026, 9, 1, 9),
        concluded_at=t(2026, 9, 3, 9),
        result=CaseResult.APPROVED,
    )
    ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=RuleParameters())
    hall = [young, yellow, red, concluded, later]
    quiet = OverduePreselection(cal(), POLICY).quiet(((c, ITEMS[c.item]) for c in hall), ctx)
    assert set(quiet) == {"young", "later"}
    assert quiet["later"] == t(2026, 9, 3, 9)  # the conclusion comes before any deadline
    assert quiet["young"] == next_boundary(young, ITEMS["I20"], ctx, False)


def test_cases_outside_the_calendar_go_to_the_rules() -> None:
    short = WorkingCalendar(2026, 2026, confirmed_until=dt.date(2026, 12, 31))
    at = t(2026, 12, 20, 10)
    near_end = Case(id="end", item="I20", accepted_at=t(2026, 12, 18, 9))
    ctx = RuleContext(calendar=short, policy=POLICY, at=at, parameters=RuleParameters())
    assert OverduePreselection(short, POLICY).quiet([(near_end, ITEMS["I20"])], ctx) == {}


def test_the_calendar_arrays_answer_as_the_calendar_does() -> None:
    calendar = cal()
    policy = DeadlinePolicy(end_of_day=dt.time(18, 0))
    arrays = CalendarArrays.build(calendar, policy)
    for n in range(0, 60):
        day = dt.date(2026, 9, 1) + dt.timedelta(days=n)
        offset = (day - calendar.first_day).days
        noon = dt.datetime.combine(day, dt.time(12), POLICY.tz).timestamp()
        assert int(arrays.day_of(np.array([noon]))[0]) == offset
        assert arrays.end_of_day[offset] == policy.end_of(day).timestamp()
        assert arrays.count_through[offset] - arrays.count_through[offset - 1] == int(
            calendar.is_working_day(day)
        )
        third = int(arrays.nth[arrays.count_through[offset] + 2])
        assert calendar.first_day + dt.timedelta(days=third) == calendar.nth_working_day_after(
            day, 3
        )


def _random_hall(rng: random.Random, size: int) -> list[Case]:
    hall = []
    for number in range(size):
        accepted = START + dt.timedelta(minutes=rng.randrange(60 * 24 * 50))
        concluded = result = promised = recorded = None
        if rng.random() < 0.25:
            concluded = accepted + dt.timedelta(minutes=rng.randrange(60 * 24 * 30))
            result = rng.choice([None, *CaseResult])
        if rng.random() < 0.2:
            promised = accepted + dt.timedelta(days=rng.randrange(25))
        if rng.random() < 0.2:
            recorded = accepted + dt.timedelta(minutes=rng.randrange(3 * 24 * 60))
        steps = []
        for seq in range(rng.choice([0, 0, 1, 2])):
            started = accepted + dt.timedelta(minutes=rng.randrange(60 * 24 * 8))
            ended = None
            if rng.random() < 0.5:
                ended = started + dt.timedelta(minutes=rng.randrange(60 * 24 * 8))
            limit = rng.choice([None, 0, 1, 3])
            steps.append(Step(seq=seq, started_at=started, ended_at=ended, limit_days=limit))
        hall.append(
            Case(
                id=f"C{number}",
                item=rng.choice(sorted(ITEMS)),
                department=rng.choice(["D1", "D2"]),
                accepted_at=accepted,
                promised_due_at=promised,
                concluded_at=concluded,
                result=result,
                recorded_at=recorded,
                steps=tuple(steps),
            )
        )
    return hall


def test_the_engine_with_preselection_agrees_with_the_rules_on_a_bigger_hall() -> None:
    """Hundreds of plain cases over two months, judged afresh at many instants."""
    hall = _random_hall(random.Random(8), 400)
    snapshot = Snapshot(items=ITEMS, cases={c.id: c for c in hall})
    for parameters in PARAMETERS:
        for hours in range(0, 24 * 60, 29):
            at = START + dt.timedelta(hours=hours, seconds=hours % 7)
            ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)
            assert Engine().evaluate(snapshot, ctx, None) == evaluate_all(snapshot, ctx), at


FEE_ITEMS = {
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
FEE_PARAMETERS = [
    RuleParameters.model_validate({"fees": {"designated_accounts": {"HZ": ["A1"]}}}),
    RuleParameters.model_validate(
        {"fees": {"payable_at": "conclusion", "flag_below_standard": False}}
    ),
]


@st.composite
def fee_cases(draw: st.DrawFn) -> tuple[Case, tuple[Payment, ...]]:
    """A case and the payments referring to it, mostly of the plain shapes and near misses."""
    accepted = START + dt.timedelta(minutes=draw(minutes) // 3)
    concluded, result = None, None
    if draw(st.booleans()):
        concluded = accepted + dt.timedelta(minutes=draw(minutes) // 3)
        result = draw(st.sampled_from([None, *CaseResult]))
    case = Case(
        id="C1",
        item=draw(st.sampled_from(sorted(FEE_ITEMS))),
        center=draw(st.sampled_from([None, "HZ"])),
        department="D1",
        accepted_at=accepted,
        concluded_at=concluded,
        result=result,
        fee_due_fen=draw(st.sampled_from([0, 5000, 8000])),
        payment_reference=draw(st.sampled_from([None, "R1", "R1"])),
    )
    standard = FEE_ITEMS[case.item].fee_standard_fen
    if draw(st.booleans()):
        due = draw(st.sampled_from([standard, standard + 4000, max(0, standard - 4000)]))
        case = case.model_copy(update={"fee_due_fen": due, "payment_reference": "R1"})
    payments = []
    if draw(st.booleans()):  # the fee paid as it should be (at some time)
        paid = accepted + dt.timedelta(minutes=draw(minutes) // 3)
        payments.append(
            Payment(id="PX", account="A1", amount_fen=standard, paid_at=paid, reference="R1")
        )
    for number in range(draw(st.sampled_from([0, 0, 1, 2]))):
        payments.append(
            Payment(
                id=f"P{number}",
                account=draw(st.sampled_from(["A1", "A1", "B9"])),
                amount_fen=draw(st.sampled_from([8000, 8000, 4000, -4000, 5000])),
                paid_at=accepted + dt.timedelta(minutes=draw(minutes) // 3),
                reference=draw(st.sampled_from(["R1", "R1", None, "R2"])),
                case_id=draw(st.sampled_from([None, "C1"])),
            )
        )
    return case, tuple(payments)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drawn=fee_cases(),
    data=st.data(),
    parameters=st.sampled_from(FEE_PARAMETERS),
    monitored=st.booleans(),
)
def test_a_quiet_fee_case_has_no_fee_finding(
    drawn: tuple[Case, tuple[Payment, ...]],
    data: st.DataObject,
    parameters: RuleParameters,
    monitored: bool,
) -> None:
    case, payments = drawn
    item = FEE_ITEMS[case.item]
    moments = [case.accepted_at, *(p.paid_at for p in payments)]
    at = data.draw(st.sampled_from(moments)) + dt.timedelta(minutes=data.draw(minutes) // 4)
    ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)
    grace = fee_rules.fee_grace_due(case, ctx)
    if case_known(case, at) and fees_quiet(case, item, payments, monitored, grace, ctx):
        index = fee_rules.PaymentIndex.build({p.id: p for p in payments}, at, monitored)
        assert list(fee_rules.case_fee_findings(case, item, index, ctx)) == []


def test_only_deposits_made_by_the_instant_make_a_fee_case_quiet() -> None:
    parameters = FEE_PARAMETERS[0]
    case = Case(
        id="C1",
        item="F80",
        center="HZ",
        accepted_at=t(2026, 9, 1, 9),
        fee_due_fen=8000,
        payment_reference="R1",
    )
    paid = Payment(id="P1", account="A1", amount_fen=8000, paid_at=t(2026, 9, 9, 9), reference="R1")
    wrong = paid.model_copy(update={"account": "B9"})
    halves = tuple(
        Payment(id=f"H{n}", account="A1", amount_fen=4000, paid_at=paid.paid_at, case_id="C1")
        for n in (1, 2)
    )
    for at, payments, quiet in [
        (t(2026, 9, 9, 10), (paid,), True),
        (t(2026, 9, 8, 10), (paid,), False),  # past the grace, the deposit not made yet
        (t(2026, 9, 2, 10), (paid,), False),  # not made yet: the rules decide
        (t(2026, 9, 2, 10), (), True),  # within the grace
        (t(2026, 9, 9, 10), (wrong,), False),
        (t(2026, 9, 9, 10), halves, False),  # linked by case id only: neither pays exactly
        (t(2026, 9, 9, 10), (paid, paid.model_copy(update={"id": "P2"})), False),
    ]:
        ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)
        grace = fee_rules.fee_grace_due(case, ctx)
        assert fees_quiet(case, FEE_ITEMS["F80"], payments, True, grace, ctx) is quiet, at
        index = fee_rules.PaymentIndex.build({p.id: p for p in payments}, at, True)
        found = list(fee_rules.case_fee_findings(case, FEE_ITEMS["F80"], index, ctx))
        assert not (quiet and found)


def test_pre_selection_counts_local_days_across_a_daylight_saving_change() -> None:
    """Europe/Berlin leaves summer time on 2026-10-25: days of 25 hours, still one day each."""
    policy = DeadlinePolicy(tz=ZoneInfo("Europe/Berlin"), end_of_day=dt.time(18, 0))
    hall = _random_hall(random.Random(25), 300)
    shift = dt.timedelta(days=45)
    hall = [
        c.model_copy(
            update={
                "accepted_at": c.accepted_at + shift,
                "concluded_at": None if c.concluded_at is None else c.concluded_at + shift,
                "promised_due_at": None if c.promised_due_at is None else c.promised_due_at + shift,
                "recorded_at": None if c.recorded_at is None else c.recorded_at + shift,
                "steps": tuple(
                    s.model_copy(
                        update={
                            "started_at": s.started_at + shift,
                            "ended_at": None if s.ended_at is None else s.ended_at + shift,
                        }
                    )
                    for s in c.steps
                ),
            }
        )
        for c in hall
    ]
    snapshot = Snapshot(items=ITEMS, cases={c.id: c for c in hall})
    for hours in range(0, 24 * 40, 23):
        at = START + shift + dt.timedelta(hours=hours, seconds=hours % 5)
        ctx = RuleContext(calendar=cal(), policy=policy, at=at, parameters=PARAMETERS[0])
        assert Engine().evaluate(snapshot, ctx, None) == evaluate_all(snapshot, ctx), at


GRACE_PARAMETERS = [
    *FEE_PARAMETERS,
    RuleParameters.model_validate(
        {
            "fees": {
                "grace_working_days": 0,
                "overrides": {
                    "items": {
                        "F80": {"grace_working_days": 5},
                        "FX": {"payable_at": "conclusion"},
                    },
                    "departments": {"D2": {"grace_working_days": 1, "flag_below_standard": False}},
                },
            }
        }
    ),
]


@st.composite
def unpaid_fee_cases(draw: st.DrawFn, number: int) -> Case:
    """A case no payment refers to: plain fee shapes and near misses, around holidays."""
    accepted = START + dt.timedelta(minutes=draw(minutes), seconds=draw(st.sampled_from([0, 30])))
    concluded, result = None, None
    if draw(st.booleans()):
        concluded = accepted + dt.timedelta(minutes=draw(minutes) // 3, microseconds=250_000)
        result = draw(st.sampled_from([None, *CaseResult]))
    recorded = None
    if draw(st.integers(0, 4)) == 0:
        recorded = accepted + dt.timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    item = draw(st.sampled_from(sorted(FEE_ITEMS)))
    standard = FEE_ITEMS[item].fee_standard_fen
    return Case(
        id=f"C{number}",
        item=item,
        center=draw(st.sampled_from([None, "HZ"])),
        department=draw(st.sampled_from(["D1", "D2"])),
        accepted_at=accepted,
        recorded_at=recorded,
        concluded_at=concluded,
        result=result,
        fee_due_fen=draw(st.sampled_from([0, standard, standard + 4000, max(0, standard - 4000)])),
        payment_reference=draw(st.sampled_from([None, "R1"])),
    )


def _fee_instant(draw: st.DrawFn, hall: list[Case], ctx_of: object) -> dt.datetime:
    """A random instant, or (mostly) one around some case's grace due or its conclusion."""
    if draw(st.integers(0, 3)) > 0:
        case = draw(st.sampled_from(hall))
        assert callable(ctx_of)
        grace = fee_rules.fee_grace_due(case, ctx_of(case.accepted_at))
        due = None if grace is None else grace + dt.timedelta(seconds=1)
        around = [case.concluded_at, due, due]
        boundary = draw(st.sampled_from(around))
        if boundary is not None:
            return boundary - draw(st.sampled_from(AROUND))
    return _random_instant(draw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    size=st.integers(1, 30),
    parameters=st.sampled_from(GRACE_PARAMETERS),
    monitored=st.booleans(),
)
def test_a_quiet_unpaid_fee_case_is_what_judge_fees_says(
    data: st.DataObject, size: int, parameters: RuleParameters, monitored: bool
) -> None:
    """Every case the arrays settle has no fee finding, and the boundary judge_fees gives."""
    hall = [data.draw(unpaid_fee_cases(n)) for n in range(size)]

    def ctx_of(at: dt.datetime) -> RuleContext:
        return RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)

    at = _fee_instant(data.draw, hall, ctx_of)
    _check_fee_preselection(FeePreselection(cal(), POLICY), hall, monitored, ctx_of(at))


def _check_fee_preselection(
    preselection: FeePreselection, hall: list[Case], monitored: bool, ctx: RuleContext
) -> int:
    """Hold the arrays' quiet cases to judge_fees; how many the arrays settled."""
    at, parameters = ctx.at, ctx.parameters
    pairs = [(c, FEE_ITEMS[c.item]) for c in hall]
    quiet = preselection.quiet(pairs, monitored, ctx)
    for case, item in pairs:
        verdict = judge_fees(case, item, (), monitored, ctx)
        if case.id in quiet:
            assert verdict.findings == (), (case, at)
            assert quiet[case.id] == verdict.until, (case, at)
        elif case_known(case, at):  # known, not settled: the rules' own quiet test said no
            grace = fee_rules.fee_grace_due(case, ctx)
            payable = parameters.fees.payable(case.item, case.department)
            stopped = case.concluded_at is not None and case.concluded_at <= at
            assert not fees_quiet(case, item, (), monitored, grace, ctx) or (
                payable == "conclusion" and stopped
            ), (case, at)
    return len(quiet)


def test_unpaid_fee_cases_around_every_grace_due_are_held_to_judge_fees() -> None:
    """A sweep (no search): every case's grace due and conclusion, to the second and
    around it, for each parameter set, watched or not."""
    rng = random.Random(8)
    hall = []
    for n in range(60):
        accepted = START + dt.timedelta(minutes=rng.randrange(60 * 24 * 45))
        concluded, result = None, None
        if rng.random() < 0.5:
            later = dt.timedelta(minutes=rng.randrange(60 * 24 * 15), microseconds=5)
            concluded, result = accepted + later, rng.choice([None, *CaseResult])
        hall.append(
            Case(
                id=f"C{n}",
                item=rng.choice(sorted(FEE_ITEMS)),
                department=rng.choice(["D1", "D2"]),
                accepted_at=accepted,
                concluded_at=concluded,
                result=result,
                fee_due_fen=rng.choice([0, 5000, 8000, 12000]),
            )
        )
    preselection = FeePreselection(cal(), POLICY)
    settled = 0
    for parameters in GRACE_PARAMETERS:
        instants = set()
        for case in hall:
            grace = fee_rules.fee_grace_due(
                case,
                RuleContext(calendar=cal(), policy=POLICY, at=t(2027, 1, 1), parameters=parameters),
            )
            for boundary in (grace, case.concluded_at):
                if boundary is not None:
                    instants.update(boundary + dt.timedelta(seconds=1) - d for d in AROUND)
                    instants.add(boundary)
        for at in sorted(instants):
            ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)
            for monitored in (True, False):
                settled += _check_fee_preselection(preselection, hall, monitored, ctx)
    assert settled > 0


def test_unpaid_fee_cases_settled_over_arrays_and_the_others_left_to_the_rules() -> None:
    parameters = FEE_PARAMETERS[0]  # payable at acceptance, 3 working days' grace
    accepted = t(2026, 9, 28, 9)  # Mon; Oct 1-7 off: the grace ends Thu Oct 8 (Sep 29, 30)
    fresh = Case(id="fresh", item="F80", accepted_at=accepted, fee_due_fen=8000)
    free = Case(id="free", item="F0", accepted_at=accepted)
    overcharged = Case(id="over", item="F80", accepted_at=accepted, fee_due_fen=12000)
    later = Case(id="later", item="F80", accepted_at=accepted, recorded_at=t(2026, 10, 9, 9))
    concluding = fresh.model_copy(update={"id": "concluding", "concluded_at": t(2026, 9, 29, 9)})
    hall = [fresh, free, overcharged, later, concluding]
    pairs = [(c, FEE_ITEMS[c.item]) for c in hall]
    at = t(2026, 9, 28, 10)
    ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)
    quiet = FeePreselection(cal(), POLICY).quiet(pairs, True, ctx)
    assert set(quiet) == {"fresh", "free", "concluding"}
    assert quiet["fresh"] == eod(2026, 10, 8) + dt.timedelta(seconds=1)
    assert quiet["concluding"] == t(2026, 9, 29, 9)
    last = RuleContext(calendar=cal(), policy=POLICY, at=eod(2026, 10, 8), parameters=parameters)
    assert FeePreselection(cal(), POLICY).quiet(pairs, True, last)["fresh"] == t(2026, 10, 9, 0)
    after = RuleContext(calendar=cal(), policy=POLICY, at=t(2026, 10, 9, 0), parameters=parameters)
    settled = FeePreselection(cal(), POLICY).quiet(pairs, True, after)
    assert "fresh" not in settled  # unpaid past its grace: the rules report it
    assert settled["free"] is None  # nothing owed, nothing ahead
    assert FeePreselection(cal(), POLICY).quiet(pairs, False, after)["fresh"] is None


def test_unpaid_fee_cases_near_the_calendar_end_go_to_the_rules() -> None:
    short = WorkingCalendar(2026, 2026, confirmed_until=dt.date(2026, 12, 31))
    case = Case(id="end", item="F80", accepted_at=t(2026, 12, 30, 9), fee_due_fen=8000)
    at = t(2026, 12, 30, 10)
    ctx = RuleContext(calendar=short, policy=POLICY, at=at, parameters=FEE_PARAMETERS[0])
    assert FeePreselection(short, POLICY).quiet([(case, FEE_ITEMS["F80"])], True, ctx) == {}
