"""The incremental engine says exactly what the rules say, at every instant, after any change."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import Engine, next_boundary, ticks
from monitor.model import Case, CaseResult, Finding, Item, Snapshot, Step, Suspension
from monitor.snapshot import Assembler, Records, snapshot_of
from rules import evaluate_all
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, cal, eod, t

START = t(2026, 9, 1, 9)
ITEMS = {
    "I0": Item(code="I0", statutory_limit_days=5, promised_limit_days=0),
    "I3": Item(
        code="I3", statutory_limit_days=7, promised_limit_days=3, max_suspension_days={"*": 2}
    ),
    "I10": Item(code="I10", statutory_limit_days=20, promised_limit_days=10),
}
PARAMETERS = [
    RuleParameters(),
    RuleParameters.model_validate(
        {"due_soon_days": 4, "overrides": {"items": {"I0": {"warn_immediate": True}}}}
    ),
]


def _ctx(at: dt.datetime, parameters: RuleParameters = PARAMETERS[0]) -> RuleContext:
    return RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=parameters)


def _reference(snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
    return evaluate_all(snapshot, ctx)


hours = st.integers(min_value=0, max_value=24 * 45)


@st.composite
def cases(draw: st.DrawFn, number: int) -> tuple[Case, list[Step], list[Suspension]]:
    accepted = START + dt.timedelta(hours=draw(hours), minutes=draw(st.integers(0, 59)))
    concluded = None
    result = None
    if draw(st.booleans()):
        concluded = accepted + dt.timedelta(hours=draw(hours))
        result = draw(st.sampled_from([None, *CaseResult]))
    promised = None
    if draw(st.integers(0, 5)) == 0:
        promised = accepted + dt.timedelta(days=draw(st.integers(0, 12)))
    case = Case(
        id=f"C{number}",
        item=draw(st.sampled_from(sorted(ITEMS))),
        department=draw(st.sampled_from(["D1", "D2"])),
        window="W1",
        accepted_at=accepted,
        promised_due_at=promised,
        concluded_at=concluded,
        result=result,
    )
    steps = []
    for seq in range(draw(st.integers(0, 2))):
        started = accepted + dt.timedelta(hours=draw(hours))
        ended = started + dt.timedelta(hours=draw(hours)) if draw(st.booleans()) else None
        steps.append(
            Step(
                seq=seq,
                started_at=started,
                ended_at=ended,
                limit_days=draw(st.sampled_from([None, 0, 1, 2])),
            )
        )
    suspensions = []
    for seq in range(draw(st.integers(0, 2))):
        started = accepted + dt.timedelta(hours=draw(hours))
        ended = started + dt.timedelta(hours=draw(hours)) if draw(st.booleans()) else None
        suspensions.append(Suspension(seq=seq, kind="补正", started_at=started, ended_at=ended))
    return case, steps, suspensions


def _records(hall: list[tuple[Case, list[Step], list[Suspension]]]) -> Records:
    records = Records()
    for item in ITEMS.values():
        records.add("items", item)
    for case, steps, suspensions in hall:
        records.add("cases", case)
        for step in steps:
            records.add("steps", (case.id, step))
        for suspension in suspensions:
            records.add("suspensions", (case.id, suspension))
    return records


def _instants(draw: st.DrawFn | st.DataObject) -> list[dt.datetime]:
    """Increasing instants: random ones, plus midnights and the second after a deadline."""
    offsets = draw(st.lists(st.integers(0, 24 * 3600 * 60), min_size=1, max_size=8))
    instants = {START + dt.timedelta(seconds=s) for s in offsets}
    instants |= {eod(2026, 9, 14) + dt.timedelta(seconds=1), t(2026, 10, 8), t(2026, 10, 12, 1)}
    return sorted(instants)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 12), parameters=st.sampled_from(PARAMETERS))
def test_the_engine_agrees_with_the_rules_as_time_moves_and_cases_change(
    data: st.DataObject, size: int, parameters: RuleParameters
) -> None:
    hall = [data.draw(cases(n)) for n in range(size)]
    records = _records(hall)
    assembler = Assembler(cal(), POLICY)
    changed, _ = assembler.update(records)
    engine = Engine()
    first = True
    for at in _instants(data.draw):
        if not first and data.draw(st.booleans()):
            # Between two evaluations, a case changes (new version, e.g. concluded) or goes.
            number = data.draw(st.integers(0, size - 1))
            if data.draw(st.integers(0, 3)) == 0:
                records.discard("cases", f"C{number}")
            else:
                case, steps, suspensions = data.draw(cases(number))
                records.add("cases", case)
                for step in steps:
                    records.add("steps", (case.id, step))
                for suspension in suspensions:
                    records.add("suspensions", (case.id, suspension))
            changed, _ = assembler.update(records, {"cases": {f"C{number}"}, "steps": set()})
        snapshot = snapshot_of(records, assembler.cases, None)
        ctx = _ctx(at, parameters)
        assert engine.evaluate(snapshot, ctx, None if first else changed) == _reference(
            snapshot, ctx
        ), at
        changed, first = set(), False


def test_an_earlier_instant_or_new_parameters_judge_everything_again() -> None:
    records = _records([(Case(id="C1", item="I3", accepted_at=t(2026, 9, 14, 9)), [], [])])
    assembler = Assembler(cal(), POLICY)
    changed, _ = assembler.update(records)
    snapshot = snapshot_of(records, assembler.cases, None)
    engine = Engine()
    late = _ctx(t(2026, 9, 30, 10))
    assert [f.rule for f in engine.evaluate(snapshot, late, changed)] == [
        "case.overdue",
        "case.statutory_overdue",
    ]
    before = _ctx(t(2026, 9, 14, 10))
    assert engine.evaluate(snapshot, before, set()) == _reference(snapshot, before) == []
    strict = _ctx(t(2026, 9, 15, 10), PARAMETERS[1])  # due_soon_days 4: yellow already
    assert [f.rule for f in engine.evaluate(snapshot, strict, set())] == ["case.due_soon"]


def test_seconds_late_follows_the_clock_without_judging_again() -> None:
    case = Case(id="C1", item="I3", accepted_at=t(2026, 9, 14, 9))
    records = _records([(case, [], [])])
    assembler = Assembler(cal(), POLICY)
    changed, _ = assembler.update(records)
    snapshot = snapshot_of(records, assembler.cases, None)
    engine = Engine()
    engine.evaluate(snapshot, _ctx(t(2026, 9, 30, 10)), changed)
    later = _ctx(t(2026, 9, 30, 10, 5))
    (overdue, _statutory) = engine.evaluate(snapshot, later, set())
    assert overdue.evidence["seconds_late"] == int((later.at - overdue.due_at).total_seconds())
    assert engine.evaluate(snapshot, later, set()) == _reference(snapshot, later)


@pytest.mark.parametrize(
    ("rule", "evidence", "expected"),
    [
        ("case.overdue", {"seconds_late": 1}, True),
        ("case.concluded_late", {"seconds_late": 1}, False),
        ("case.statutory_overdue", {"seconds_late": 1, "state": "open"}, True),
        ("case.statutory_overdue", {"seconds_late": 1, "state": "concluded"}, False),
        ("case.step_overdue", {"seconds_late": 1, "ended_at": None}, True),
        ("case.step_overdue", {"seconds_late": 1, "ended_at": "2026-09-30T10:00:00+08:00"}, False),
        ("case.due_soon", {"remaining_working_days": 1}, False),
    ],
)
def test_which_findings_tick(rule: str, evidence: dict[str, object], expected: bool) -> None:
    finding = Finding(
        rule=rule, severity="red", subject_kind="case", subject_id="C1", evidence=evidence
    )
    assert ticks(finding) is expected


def test_a_quiet_case_waits_for_its_yellow_card() -> None:
    # I10, accepted Mon Sep 14: due Mon Sep 28 (10 working days); threshold 2 -> yellow
    # from Thu Sep 24 (Sep 25 is Mid-Autumn, Sep 27 a make-up Sunday: 2 days left).
    case = Case(id="C1", item="I10", accepted_at=t(2026, 9, 14, 9))
    at = t(2026, 9, 15, 10)
    boundary = next_boundary(case, ITEMS["I10"], _ctx(at), has_findings=False)
    assert boundary is not None
    day_before = _ctx(boundary - dt.timedelta(seconds=1))
    on_the_day = _ctx(boundary)
    snapshot = Snapshot(items=ITEMS, cases={"C1": case})
    assert _reference(snapshot, day_before) == []
    assert [f.rule for f in _reference(snapshot, on_the_day)] == ["case.due_soon"]
