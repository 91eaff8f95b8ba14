"""The overdue family over arrays says exactly what judge_overdue says, or leaves the case to it.

:meth:`monitor.preselect.OverduePreselection.settle` settles plain cases — quiet ones and
those carrying a yellow or red card, with no suspension or one — without the rules. Every
verdict it gives (findings, their fields, whether each ticks, the boundary) is held here
to :func:`monitor.engine.judge_overdue`, which asks the rules: over generated cases around
the yellow, red and statutory boundaries, holidays and make-up days (Mid-Autumn and
National Day 2026), source promises, suspensions and steps, and in a fixed sweep to the
second around each due instant.
"""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.deadlines import DeadlinePolicy, case_deadlines
from monitor.engine import Engine, Verdict, Verdicts, judge_overdue
from monitor.model import Case, CaseResult, Finding, Item, Severity, Snapshot, Step, Suspension
from monitor.preselect import OverduePreselection
from rules import evaluate_all
from rules import overdue as overdue_rules
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, cal, eod, t

START = t(2026, 9, 1, 9)
SECOND = dt.timedelta(seconds=1)
ITEMS = {
    "I0": Item(code="I0", statutory_limit_days=3, promised_limit_days=0),
    "I1": Item(code="I1", statutory_limit_days=1, promised_limit_days=1),
    "I3": Item(
        code="I3", statutory_limit_days=5, promised_limit_days=3, max_suspension_days={"*": 2}
    ),
    "I10": Item(
        code="I10",
        statutory_limit_days=20,
        promised_limit_days=10,
        max_suspension_days={"补正": 5},
    ),
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
AROUND = [
    dt.timedelta(0),
    dt.timedelta(microseconds=1),
    dt.timedelta(microseconds=999_999),
    SECOND,
    -SECOND,
    dt.timedelta(microseconds=-500_000),
]
minutes = st.integers(min_value=0, max_value=60 * 24 * 40)


@st.composite
def overdue_cases(draw: st.DrawFn, number: int) -> Case:
    """Mostly open cases of the shapes the arrays settle, and near misses of each."""
    accepted = START + dt.timedelta(
        minutes=draw(minutes), microseconds=draw(st.sampled_from([0, 1]))
    )
    concluded, result = None, None
    if draw(st.integers(0, 5)) == 0:
        concluded = accepted + dt.timedelta(minutes=draw(minutes))
        result = draw(st.sampled_from([None, *CaseResult]))
    promised = None
    if draw(st.integers(0, 4)) == 0:
        promised = accepted + dt.timedelta(days=draw(st.integers(0, 25)))
    recorded = None
    if draw(st.integers(0, 6)) == 0:
        recorded = accepted + dt.timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    steps = []
    for seq in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        started = accepted + dt.timedelta(minutes=draw(minutes) // 4)
        ended = None
        if draw(st.booleans()):
            ended = started + dt.timedelta(minutes=draw(minutes) // 4, microseconds=250_000)
        steps.append(
            Step(
                seq=seq,
                name=draw(st.sampled_from(["", "承办"])),
                started_at=started,
                ended_at=ended,
                limit_days=draw(st.sampled_from([None, 0, 3, 10])),
            )
        )
    suspensions = []
    for seq in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        started = accepted + dt.timedelta(minutes=draw(minutes) // 3)
        ended = None
        if draw(st.integers(0, 2)) > 0:
            ended = started + dt.timedelta(minutes=draw(minutes) // 3, microseconds=500_000)
        kind = draw(st.sampled_from(["补正", "听证", "专家评审"]))
        suspensions.append(Suspension(seq=seq, kind=kind, started_at=started, ended_at=ended))
    return Case(
        id=f"C{number}",
        item=draw(st.sampled_from(sorted(ITEMS))),
        center=draw(st.sampled_from([None, "HZ"])),
        department=draw(st.sampled_from(["D1", "D2", None])),
        window=draw(st.sampled_from([None, "W1"])),
        accepted_at=accepted,
        promised_due_at=promised,
        concluded_at=concluded,
        result=result,
        recorded_at=recorded,
        steps=tuple(steps),
        suspensions=tuple(suspensions),
    )


def _settled(
    hall: list[Case], ctx: RuleContext, policy: DeadlinePolicy = POLICY
) -> dict[str, tuple[tuple[Finding, ...], tuple[bool, ...], dt.datetime | None]]:
    """What the arrays settled, by case id, each case once; the others left to the rules."""
    batch = OverduePreselection(ctx.calendar, policy).settle(
        [(c, ITEMS[c.item]) for c in hall], ctx
    )
    settled: dict[str, tuple[tuple[Finding, ...], tuple[bool, ...], dt.datetime | None]] = {}
    for item, until, ids in batch.quiet:
        for case_id in ids:
            assert case_id not in settled
            assert ITEMS[next(c for c in hall if c.id == case_id).item] is item
            settled[case_id] = ((), (), until)
    for case_id, item, findings, ticking, until in batch.found:
        assert case_id not in settled
        assert findings, case_id
        assert ITEMS[next(c for c in hall if c.id == case_id).item] is item
        settled[case_id] = (findings, ticking, until)
    left = [c.id for c, _ in batch.rules]
    assert len(left) == len(set(left))
    assert set(left).isdisjoint(settled)
    assert set(left) | set(settled) == {c.id for c in hall}
    return settled


def _held_to_the_rules(hall: list[Case], ctx: RuleContext) -> dict[str, int]:
    """Hold every verdict the arrays settled to judge_overdue's; how many of each kind."""
    counts = {"quiet": 0, "found": 0, "suspended": 0, "rules": 0}
    settled = _settled(hall, ctx, ctx.policy)
    for case in hall:
        if case.id not in settled:
            counts["rules"] += 1
            continue
        verdict = judge_overdue(case, ITEMS[case.item], ctx)
        assert settled[case.id] == (verdict.findings, verdict.ticking, verdict.until), (
            case,
            ctx.at,
        )
        counts["found" if verdict.findings else "quiet"] += 1
        counts["suspended"] += bool(case.suspensions)
    return counts


def _instant(draw: st.DrawFn, hall: list[Case], parameters: RuleParameters) -> dt.datetime:
    """Mostly an instant around some case's next boundary (its due instants' next seconds,
    its yellow card's first midnight, the next midnight, its own events), or any instant."""
    if draw(st.integers(0, 3)) > 0:
        case = draw(st.sampled_from(hall))
        before = START + dt.timedelta(minutes=draw(minutes))
        ctx = RuleContext(calendar=cal(), policy=POLICY, at=before, parameters=parameters)
        boundary = judge_overdue(case, ITEMS[case.item], ctx).until
        if boundary is not None:
            return boundary - draw(st.sampled_from(AROUND))
    special = [eod(2026, 9, 30), eod(2026, 9, 30) + SECOND, t(2026, 10, 8), t(2026, 10, 10, 9)]
    return draw(
        st.one_of(
            st.sampled_from(special),
            st.builds(lambda m: START + dt.timedelta(minutes=m), minutes),
            st.builds(lambda s: START + dt.timedelta(seconds=s, microseconds=500_000), minutes),
        )
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 30), parameters=st.sampled_from(PARAMETERS))
def test_what_the_arrays_settle_is_what_judge_overdue_says(
    data: st.DataObject, size: int, parameters: RuleParameters
) -> None:
    hall = [data.draw(overdue_cases(n)) for n in range(size)]
    at = _instant(data.draw, hall, parameters)
    ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)
    _held_to_the_rules(hall, ctx)


def _due_instants(case: Case, ctx: RuleContext) -> list[dt.datetime]:
    """The instants a case's cards turn at: its promised and statutory due instants, the
    midnight of its yellow card, its suspension's start and end."""
    item = ITEMS[case.item]
    deadlines = case_deadlines(case, item, ctx.calendar, ctx.policy, ctx.at)
    threshold = ctx.parameters.due_soon_threshold(
        case.item, case.department, item.promised_limit_days
    )
    promise = ctx.policy.local_date(deadlines.promised_due_at)
    yellow = ctx.calendar.first_day_within(promise, threshold)
    instants = [
        deadlines.promised_due_at,
        deadlines.statutory_due_at,
        dt.datetime.combine(yellow, dt.time(0), tzinfo=ctx.policy.tz),
    ]
    for suspension in case.suspensions:
        instants += [suspension.started_at, suspension.ended_at]
    return [i for i in instants if i is not None]


def _sweep_hall() -> list[Case]:
    """Cases accepted before, inside and after the holidays, some with a source promise,
    a suspension (ended, running, starting later) or a step."""
    hall = []
    accepted = [
        t(2026, 9, 1, 9),
        t(2026, 9, 18, 16, 30),  # a Friday before the make-up Sunday 09-20
        t(2026, 9, 20, 10),  # the make-up Sunday itself
        t(2026, 9, 24, 23, 59, 59),  # the eve of Mid-Autumn
        t(2026, 9, 30, 9),  # the eve of National Day
        t(2026, 10, 4, 11),  # inside the holiday
        t(2026, 10, 10, 9),  # the make-up Saturday
    ]
    for n, when in enumerate(accepted):
        for code in sorted(ITEMS):
            hall.append(Case(id=f"P{n}{code}", item=code, department="D1", accepted_at=when))
        hall.append(
            Case(
                id=f"S{n}",
                item="I10",
                department="D1",
                accepted_at=when,
                promised_due_at=when + dt.timedelta(days=6),
            )
        )
        for k, (start, days) in enumerate([(1, 2), (2, None), (3, 9), (20, 1)]):
            started = when + dt.timedelta(days=start, hours=1)
            ended = None if days is None else started + dt.timedelta(days=days)
            hall.append(
                Case(
                    id=f"U{n}{k}",
                    item="I3" if k % 2 else "I10",
                    department="D2" if k == 3 else "D1",
                    accepted_at=when,
                    suspensions=(
                        Suspension(seq=1, kind="补正", started_at=started, ended_at=ended),
                    ),
                )
            )
        hall.append(
            Case(
                id=f"T{n}",
                item="I20",
                department="D1",
                accepted_at=when,
                steps=(Step(seq=1, started_at=when, limit_days=10),),
            )
        )
    return hall


def test_a_sweep_to_the_second_around_every_due_instant() -> None:
    """At each case's due instants, the second before, the microsecond after, half a second
    and a second after: the arrays' verdicts are judge_overdue's."""
    hall = _sweep_hall()
    totals = {"quiet": 0, "found": 0, "suspended": 0, "rules": 0}
    for parameters in PARAMETERS:
        at = t(2026, 9, 1, 9)
        first = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)
        instants = sorted({i for c in hall for i in _due_instants(c, first)})
        for instant in instants:
            for offset in (
                -SECOND,
                dt.timedelta(0),
                dt.timedelta(microseconds=1),
                SECOND / 2,
                SECOND,
            ):
                ctx = RuleContext(
                    calendar=cal(), policy=POLICY, at=instant + offset, parameters=parameters
                )
                for kind, count in _held_to_the_rules(hall, ctx).items():
                    totals[kind] += count
    # The sweep is not vacuous: the arrays settled quiet, carded and suspended cases.
    assert totals["quiet"] > 1000 and totals["found"] > 1000 and totals["suspended"] > 500, totals


def test_cards_settled_over_arrays_in_a_small_hall() -> None:
    """Yellow, red, statutory red, a running suspension, one too long, two suspensions."""
    at = t(2026, 9, 29, 10)
    young = Case(id="young", item="I20", accepted_at=t(2026, 9, 28, 9))
    yellow = Case(id="yellow", item="I3", accepted_at=t(2026, 9, 24, 9))
    red = Case(id="red", item="I10", accepted_at=t(2026, 9, 10, 9))
    statutory = Case(id="statutory", item="I1", accepted_at=t(2026, 9, 21, 9))
    paused = Case(
        id="paused",
        item="I3",
        accepted_at=t(2026, 9, 17, 9),
        suspensions=(Suspension(seq=1, kind="补正", started_at=t(2026, 9, 28, 9)),),
    )
    too_long = Case(
        id="too_long",
        item="I3",
        accepted_at=t(2026, 9, 10, 9),
        suspensions=(
            Suspension(
                seq=1, kind="补正", started_at=t(2026, 9, 11, 9), ended_at=t(2026, 9, 22, 9)
            ),
        ),
    )
    twice = Case(
        id="twice",
        item="I20",
        accepted_at=t(2026, 9, 1, 9),
        suspensions=(
            Suspension(seq=1, kind="补正", started_at=t(2026, 9, 2, 9), ended_at=t(2026, 9, 3, 9)),
            Suspension(seq=2, kind="听证", started_at=t(2026, 9, 7, 9), ended_at=t(2026, 9, 8, 9)),
        ),
    )
    hall = [young, yellow, red, statutory, paused, too_long, twice]
    ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=RuleParameters())
    settled = _settled(hall, ctx)
    assert set(settled) == {"young", "yellow", "red", "statutory", "paused"}
    assert settled["young"][0] == () and settled["paused"][0] == ()
    assert [f.rule for f in settled["yellow"][0]] == [overdue_rules.DUE_SOON]
    assert settled["yellow"][1] == (False,)
    assert [f.rule for f in settled["red"][0]] == [overdue_rules.OVERDUE]
    assert settled["red"][0][0].severity is Severity.RED
    # Ten working days after 09-10, the make-up Sunday 09-20 among them; Mid-Autumn off.
    assert settled["red"][0][0].due_at == eod(2026, 9, 23)
    assert settled["red"][0][0].evidence["working_days_late"] == 3  # 09-24, 09-28, 09-29
    assert [f.rule for f in settled["statutory"][0]] == [
        overdue_rules.STATUTORY_OVERDUE,
        overdue_rules.OVERDUE,
    ]
    assert settled["statutory"][1] == (True, True)
    # A case with a card is judged again at the next midnight, when its counts move on.
    assert settled["red"][2] == t(2026, 9, 30)
    _held_to_the_rules(hall, ctx)


def test_the_engine_with_the_arrays_agrees_with_the_rules_on_a_hall_with_suspensions() -> None:
    """Hundreds of cases, a third suspended, judged afresh at many instants."""
    rng = random.Random(11)
    hall = []
    for number in range(300):
        accepted = START + dt.timedelta(minutes=rng.randrange(60 * 24 * 40))
        suspensions = ()
        if rng.random() < 0.35:
            started = accepted + dt.timedelta(minutes=rng.randrange(60 * 24 * 10))
            ended = None
            if rng.random() < 0.6:
                ended = started + dt.timedelta(minutes=rng.randrange(60 * 24 * 8))
            suspensions = (Suspension(seq=1, kind="补正", started_at=started, ended_at=ended),)
        hall.append(
            Case(
                id=f"C{number}",
                item=rng.choice(sorted(ITEMS)),
                department=rng.choice(["D1", "D2"]),
                accepted_at=accepted,
                suspensions=suspensions,
            )
        )
    snapshot = Snapshot(items=ITEMS, cases={c.id: c for c in hall})
    for parameters in PARAMETERS:
        for hours in range(0, 24 * 50, 31):
            at = START + dt.timedelta(hours=hours, seconds=hours % 7)
            ctx = RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)
            engine = Engine()
            assert engine.evaluate(snapshot, ctx, None) == evaluate_all(snapshot, ctx), at
            for case in hall:
                verdict = engine.overdue.by_subject[case.id]
                expected = judge_overdue(case, ITEMS[case.item], ctx)
                assert (verdict.findings, verdict.until, verdict.ticking) == (
                    expected.findings,
                    expected.until,
                    expected.ticking,
                ), (case, at)


def test_findings_over_arrays_across_a_daylight_saving_change() -> None:
    """Europe/Berlin leaves summer time on 2026-10-25 (a 25-hour day): still one day each."""
    policy = DeadlinePolicy(tz=ZoneInfo("Europe/Berlin"), end_of_day=dt.time(18, 0))
    berlin = ZoneInfo("Europe/Berlin")
    rng = random.Random(25)
    hall = []
    for number in range(200):
        accepted = dt.datetime(2026, 10, 1, 9, tzinfo=berlin) + dt.timedelta(
            minutes=rng.randrange(60 * 24 * 30)
        )
        suspensions = ()
        if rng.random() < 0.3:
            started = accepted + dt.timedelta(hours=rng.randrange(24 * 6))
            suspensions = (Suspension(seq=1, kind="补正", started_at=started),)
        item = rng.choice(sorted(ITEMS))
        hall.append(Case(id=f"C{number}", item=item, accepted_at=accepted, suspensions=suspensions))
    found = 0
    for hours in range(0, 24 * 40, 23):
        at = dt.datetime(2026, 10, 1, 9, tzinfo=berlin) + dt.timedelta(hours=hours)
        ctx = RuleContext(calendar=cal(), policy=policy, at=at, parameters=PARAMETERS[0])
        settled = _settled(hall, ctx, policy)
        for case in hall:
            if case.id in settled:
                expected = judge_overdue(case, ITEMS[case.item], ctx)
                assert settled[case.id][:2] == (expected.findings, expected.ticking), (case, at)
                found += bool(expected.findings)
    assert found > 100


def test_a_policy_ending_days_within_a_second_leaves_the_cards_to_the_rules() -> None:
    """An end of day of 23:59:59.5: the arrays hold whole seconds, so no card is settled."""
    policy = DeadlinePolicy(end_of_day=dt.time(23, 59, 59, 500_000))
    at = t(2026, 9, 29, 10)
    red = Case(id="red", item="I3", accepted_at=t(2026, 9, 17, 9))
    young = Case(id="young", item="I20", accepted_at=t(2026, 9, 28, 9))
    ctx = RuleContext(calendar=cal(), policy=policy, at=at, parameters=RuleParameters())
    assert set(_settled([red, young], ctx, policy)) == {"young"}


def test_storing_in_bulk_is_storing_one_by_one() -> None:
    """Verdicts.store_all and store_shared leave the tables as store does."""
    at = t(2026, 9, 1, 9)
    item = (ITEMS["I3"],)
    finding = Finding(rule="r", severity=Severity.RED, subject_kind="case", subject_id="a")
    later, last = t(2026, 9, 2), t(2026, 9, 3)
    one, bulk = Verdicts[str](), Verdicts[str]()
    for verdicts in (one, bulk):  # something kept already, with an equal instant
        verdicts.store("old", Verdict(item, (finding,), at, t(2026, 9, 2)))
        verdicts.store("gone", Verdict(item, (finding,), at, None))
    pairs = [
        ("a", Verdict(item, (finding,), at, later)),
        ("gone", Verdict(item, (), at, last)),
        ("c", Verdict(item, (finding,), at, None)),
    ]
    shared = Verdict(item, (), at, later)
    for key, verdict in pairs:
        one.store(key, verdict)
    for key in ("d", "e"):
        one.store(key, shared)
    bulk.store_all(iter(pairs))
    bulk.store_shared(["d", "e"], shared)
    assert bulk.by_subject == one.by_subject
    assert bulk.active == one.active == {"old", "a", "c"}
    assert {k: sorted(v) for k, v in bulk.due.items()} == {k: sorted(v) for k, v in one.due.items()}
    assert sorted(bulk.heap) == sorted(one.heap) and bulk.waiting == one.waiting
    # One object per instant, the one kept already, as store keeps it.
    kept = bulk.instants[later]
    assert kept is not later
    assert all(v.until is kept for v in bulk.by_subject.values() if v.until == later)
    assert bulk.expired(later) == one.expired(later) == {"old", "a", "d", "e"}
    # Each counts its subjects' findings: a quiet verdict shared by one that had some, a
    # subject dropped.
    assert bulk.count == one.count == 3  # old, a, c
    one.store("a", shared)
    one.store("x", shared)
    bulk.store_shared(["a", "x"], shared)
    one.drop("c")
    bulk.drop("c")
    assert bulk.count == one.count == 1 == sum(len(v.findings) for v in one.by_subject.values())
