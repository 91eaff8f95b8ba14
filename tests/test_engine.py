"""The incremental engine says exactly what the rules say, at every instant, after any change."""

from __future__ import annotations

import datetime as dt
import gc
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import (
    Changes,
    Engine,
    FewCases,
    Ratings,
    Verdict,
    Verdicts,
    _Index,
    brought_to,
    finding_order,
    may_be_backfilled,
    next_boundary,
    ticks,
)
from monitor.model import (
    Case,
    CaseResult,
    Evaluation,
    Finding,
    Item,
    Payment,
    Snapshot,
    Step,
    Suspension,
    Ticket,
    TicketStatus,
)
from monitor.snapshot import Assembler, Records, snapshot_of
from rules import evaluate_all
from rules import evaluation as evaluation_rules
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, cal, eod, t

START = t(2026, 9, 1, 9)
NOTHING = Changes(frozenset())
ITEMS = {
    "I0": Item(code="I0", statutory_limit_days=5, promised_limit_days=0, fee_standard_fen=8000),
    "I3": Item(
        code="I3", statutory_limit_days=7, promised_limit_days=3, max_suspension_days={"*": 2}
    ),
    "I10": Item(
        code="I10",
        statutory_limit_days=20,
        promised_limit_days=10,
        fee_standard_fen=5000,
        fee_abolished_on=dt.date(2026, 9, 20),
    ),
    # Long enough to be quiet for weeks (what the engine's pre-selection takes), across
    # the Mid-Autumn and National Day holidays and their make-up Sunday and Saturday.
    "I20": Item(code="I20", statutory_limit_days=30, promised_limit_days=20, fee_standard_fen=8000),
}
ACCOUNTS = {
    "fees": {"designated_accounts": {"HZ": ["A1"]}},
    "offsystem": {"consultation_services": ["ZX"], "ticket_grace_minutes": 120},
}
PARAMETERS = [
    RuleParameters.model_validate(ACCOUNTS),
    RuleParameters.model_validate(
        {
            **ACCOUNTS,
            "due_soon_days": 4,
            "overrides": {"items": {"I0": {"warn_immediate": True}}},
            "offsystem": {**ACCOUNTS["offsystem"], "backfill_hours": 2},
        }
    ),
    RuleParameters.model_validate(
        {
            **ACCOUNTS,
            "overrides": {
                "items": {"I20": {"due_soon_ratio": 0.5}, "I3": {"due_soon_days": 0}},
                "departments": {"D2": {"due_soon_days": 2, "warn_immediate": True}},
            },
            "fees": {
                **ACCOUNTS["fees"],
                "payable_at": "conclusion",
                "flag_below_standard": False,
            },
        }
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
    recorded = None
    if draw(st.integers(0, 3)) == 0:
        recorded = accepted + dt.timedelta(minutes=draw(st.integers(0, 80 * 60)))
    case = Case(
        id=f"C{number}",
        item=draw(st.sampled_from(sorted(ITEMS))),
        center="HZ",
        department=draw(st.sampled_from(["D1", "D2"])),
        window=draw(st.sampled_from(["W1", "W2"])),
        applicant_key=draw(st.sampled_from([None, "K1", "K2"])),
        accepted_at=accepted,
        promised_due_at=promised,
        concluded_at=concluded,
        result=result,
        recorded_at=recorded,
        fee_due_fen=draw(st.sampled_from([0, 5000, 8000])),
        payment_reference=draw(st.sampled_from([None, "R1", "R2", f"R{number}"])),
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


@st.composite
def payments(draw: st.DrawFn, number: int) -> Payment:
    return Payment(
        id=f"P{number}",
        account=draw(st.sampled_from(["A1", "A1", "B9"])),
        amount_fen=draw(st.sampled_from([8000, 5000, -5000, 3000])),
        paid_at=START + dt.timedelta(hours=draw(hours)),
        reference=draw(st.sampled_from([None, "R1", "R2", "R3", "RX"])),
        case_id=draw(st.sampled_from([None, "C0", "C1", "C5", "CX"])),
        center=draw(st.sampled_from([None, "HZ"])),
    )


@st.composite
def tickets(draw: st.DrawFn, number: int) -> Ticket:
    """Queue tickets near the cases' acceptance times, some crossing midnight."""
    called = START + dt.timedelta(hours=draw(hours), minutes=draw(st.integers(0, 59)))
    finished = called + dt.timedelta(minutes=draw(st.sampled_from([5, 20, 90, 600])))
    return Ticket(
        id=f"T{number}",
        department=draw(st.sampled_from([None, "D1", "D2"])),
        window=draw(st.sampled_from([None, "W1", "W2"])),
        service=draw(st.sampled_from([None, "I3", "ZX"])),
        applicant_key=draw(st.sampled_from([None, "K1", "K2"])),
        issued_at=called - dt.timedelta(minutes=5),
        called_at=called,
        finished_at=finished,
        status=draw(
            st.sampled_from([TicketStatus.SERVED, TicketStatus.SERVED, TicketStatus.ABSENT])
        ),
        consultation=draw(st.booleans()) and draw(st.booleans()),
    )


@st.composite
def ratings(draw: st.DrawFn, number: int) -> Evaluation:
    """Ratings of the cases (or of none), good and bad, some followed up, some late."""
    rated = START + dt.timedelta(
        hours=draw(hours),
        minutes=draw(st.integers(0, 59)),
        microseconds=draw(st.sampled_from([0, 500_000])),
    )
    followed = None
    if draw(st.booleans()):
        followed = rated + dt.timedelta(
            days=draw(st.integers(0, 40)), seconds=draw(st.integers(0, 24 * 3600 - 1))
        )
    return Evaluation(
        id=f"E{number}",
        department=draw(st.sampled_from([None, "D1", "D2"])),
        case_id=draw(st.sampled_from([None, "C0", "C1", "CX"])),
        rated_at=rated,
        level=draw(st.integers(1, 5)),
        followed_up_at=followed,
    )


def _records(
    hall: list[tuple[Case, list[Step], list[Suspension]]],
    deposits: list[Payment] = (),
    queue: list[Ticket] = (),
    rated: list[Evaluation] = (),
) -> Records:
    records = Records()
    for item in ITEMS.values():
        records.add("items", item)
    for case, steps, suspensions in hall:
        records.add("cases", case)
        for step in steps:
            records.add("steps", (case.id, step))
        for suspension in suspensions:
            records.add("suspensions", (case.id, suspension))
    for payment in deposits:
        records.add("payments", payment)
    for ticket in queue:
        records.add("tickets", ticket)
    for rating in rated:
        records.add("evaluations", rating)
    return records


def _drawn_records(data: st.DataObject, size: int, paid: int, served: int) -> Records:
    """A drawn hall: ``size`` cases, ``paid`` payments and ``served`` queue tickets (and
    up to six ratings)."""
    return _records(
        [data.draw(cases(n)) for n in range(size)],
        [data.draw(payments(n)) for n in range(paid)],
        [data.draw(tickets(n)) for n in range(served)],
        [data.draw(ratings(n)) for n in range(data.draw(st.integers(0, 6)))],
    )


def _instants(draw: st.DrawFn | st.DataObject) -> list[dt.datetime]:
    """Increasing instants: random ones, plus midnights and the second after a deadline."""
    offsets = draw(st.lists(st.integers(0, 24 * 3600 * 60), min_size=1, max_size=8))
    instants = {START + dt.timedelta(seconds=s) for s in offsets}
    instants |= {eod(2026, 9, 14) + dt.timedelta(seconds=1), t(2026, 10, 8), t(2026, 10, 12, 1)}
    return sorted(instants)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    size=st.integers(1, 12),
    paid=st.integers(0, 6),
    served=st.integers(0, 10),
    parameters=st.sampled_from(PARAMETERS),
)
def test_the_engine_agrees_with_the_rules_as_time_moves_and_records_change(
    data: st.DataObject, size: int, paid: int, served: int, parameters: RuleParameters
) -> None:
    records = _drawn_records(data, size, paid, served)
    assembler = Assembler(cal(), POLICY)
    assembler.update(records)
    engine = Engine()
    # current=False, ordered=False (as the daemon asks): brought_to each finding, sorted,
    # gives the same.
    as_judged = Engine()
    kept: dict[str, object] = {}
    changes: Changes | None = None
    previous_at = dt.datetime.min.replace(tzinfo=dt.UTC)
    serial = as_judged.serial
    for at in _instants(data.draw):
        snapshot = snapshot_of(records, assembler.cases, frozenset({"cases", "payments"}))
        ctx = _ctx(at, parameters)
        expected = _reference(snapshot, ctx)
        assert engine.evaluate(snapshot, ctx, changes) == expected, at
        found = as_judged.evaluate(snapshot, ctx, changes, current=False, ordered=False)
        assert sorted((brought_to(f, at) for f in found), key=finding_order) == expected, at
        assert len(found) == len(expected), at  # counted as stored, not gathered
        # What it says it judged again is all that differs from last time: every other
        # finding is the very object given then.
        report = as_judged.rejudged
        assert (report.findings is None) == (changes is None or at < previous_at), at
        now = {f.fingerprint: f for f in found}
        for fp in kept.keys() | now.keys():
            if report.findings is not None and fp in report.findings:
                assert report.findings[fp] is now.get(fp), (at, fp)
            elif report.findings is not None:
                assert kept.get(fp) is now.get(fp), (at, fp)
        assert report.after == serial and report.serial != serial
        serial = report.serial
        previous_at = at
        # A finding given as judged earlier is the very object given last time.
        for f in found:
            if brought_to(f, at) is not f:
                assert kept.get(f.fingerprint) is f, at
        kept = {f.fingerprint: f for f in found}
        # Before the next evaluation: a case changes (e.g. concluded) or goes, a payment
        # arrives, changes or goes.
        changed_cases: set[str] = set()
        changed_payments: set[str] = set()
        for _ in range(data.draw(st.integers(0, 2))):
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
            changed_cases.add(f"C{number}")
        for _ in range(data.draw(st.integers(0, 2))):
            number = data.draw(st.integers(0, paid + 1))
            if data.draw(st.integers(0, 3)) == 0:
                records.discard("payments", f"P{number}")
            else:
                records.add("payments", data.draw(payments(number)))
            changed_payments.add(f"P{number}")
        changed_tickets: set[str] = set()
        for _ in range(data.draw(st.integers(0, 2))):
            number = data.draw(st.integers(0, served + 1))
            if data.draw(st.integers(0, 3)) == 0:
                records.discard("tickets", f"T{number}")
            else:
                records.add("tickets", data.draw(tickets(number)))
            changed_tickets.add(f"T{number}")
        changed_ratings: set[str] = set()
        for _ in range(data.draw(st.integers(0, 2))):
            number = data.draw(st.integers(0, 7))
            if data.draw(st.integers(0, 3)) == 0:
                records.discard("evaluations", f"E{number}")
            else:
                records.add("evaluations", data.draw(ratings(number)))
            changed_ratings.add(f"E{number}")
        rejoined, _ = assembler.update(records, {"cases": changed_cases})
        changes = Changes(
            frozenset(rejoined),
            frozenset(changed_payments),
            frozenset(changed_tickets),
            evaluations=frozenset(changed_ratings),
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    size=st.integers(1, 12),
    paid=st.integers(0, 6),
    served=st.integers(0, 10),
    parameters=st.sampled_from(PARAMETERS),
)
def test_judging_makes_no_reference_cycles(
    data: st.DataObject, size: int, paid: int, served: int, parameters: RuleParameters
) -> None:
    """The engine freezes what its evaluation leaves alive instead of letting the cyclic
    collector walk it (monitor/collector.py): a reference cycle made while judging would
    be kept until the daemon closes. With freezing switched off, nothing an evaluation
    (first, incremental, or with every subject judged again) leaves behind is cyclic
    garbage."""
    records = _drawn_records(data, size, paid, served)
    instants = _instants(data.draw)
    assembler = Assembler(cal(), POLICY)
    assembler.update(records)
    snapshot = snapshot_of(records, assembler.cases, frozenset({"cases", "payments"}))
    every = Changes(
        frozenset(assembler.cases), frozenset(records.payments), frozenset(records.tickets)
    )
    engine = Engine()
    with patch.object(gc, "freeze"):
        gc.collect()
        gc.disable()
        try:
            changes: Changes | None = None
            for at in instants:
                engine.evaluate(snapshot, _ctx(at, parameters), changes)
                changes = every
            Engine().evaluate(snapshot, _ctx(instants[-1], parameters), None)
            assert gc.collect() == 0
        finally:
            gc.enable()


def _one_case_accepted_on_14_september() -> Snapshot:
    """The snapshot of one case of item I3, accepted 2026-09-14 09:00 (overdue, and
    statutorily overdue, by 30 September)."""
    records = _records([(Case(id="C1", item="I3", accepted_at=t(2026, 9, 14, 9)), [], [])])
    assembler = Assembler(cal(), POLICY)
    assembler.update(records)
    return snapshot_of(records, assembler.cases, None)


def test_an_earlier_instant_or_new_parameters_judge_everything_again() -> None:
    snapshot = _one_case_accepted_on_14_september()
    engine = Engine()
    late = _ctx(t(2026, 9, 30, 10))
    assert [f.rule for f in engine.evaluate(snapshot, late, None)] == [
        "case.overdue",
        "case.statutory_overdue",
    ]
    before = _ctx(t(2026, 9, 14, 10))
    assert engine.evaluate(snapshot, before, NOTHING) == _reference(snapshot, before) == []
    strict = _ctx(t(2026, 9, 15, 10), PARAMETERS[1])  # due_soon_days 4: yellow already
    assert [f.rule for f in engine.evaluate(snapshot, strict, NOTHING)] == ["case.due_soon"]


def test_unordered_findings_are_counted_and_read_only_until_the_next_evaluation() -> None:
    """``ordered=False`` gives the findings gathered when read, their number known before;
    read after the engine's next evaluation (whose verdicts are not theirs) they fail
    rather than give the next evaluation's."""
    snapshot = _one_case_accepted_on_14_september()
    engine = Engine()
    late = _ctx(t(2026, 9, 30, 10))
    found = engine.evaluate(snapshot, late, None, ordered=False)
    assert len(found) == 2
    unread = engine.evaluate(snapshot, late, NOTHING, ordered=False)
    assert sorted(f.rule for f in unread) == ["case.overdue", "case.statutory_overdue"]
    with pytest.raises(RuntimeError, match="after the next evaluation"):
        list(found)


def test_seconds_late_follows_the_clock_without_judging_again() -> None:
    case = Case(id="C1", item="I3", accepted_at=t(2026, 9, 14, 9))
    records = _records([(case, [], [])])
    assembler = Assembler(cal(), POLICY)
    assembler.update(records)
    snapshot = snapshot_of(records, assembler.cases, None)
    engine = Engine()
    engine.evaluate(snapshot, _ctx(t(2026, 9, 30, 10)), None)
    judged = dict(engine.overdue.by_subject)
    later = _ctx(t(2026, 9, 30, 10, 5))
    (overdue, _statutory) = engine.evaluate(snapshot, later, NOTHING)
    assert engine.overdue.by_subject == judged  # not judged again
    assert overdue.evidence["seconds_late"] == int((later.at - overdue.due_at).total_seconds())
    assert engine.evaluate(snapshot, later, NOTHING) == _reference(snapshot, later)


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


def test_verdicts_keep_one_object_per_boundary_and_come_due_by_it() -> None:
    verdicts: Verdicts[str] = Verdicts()
    first, again = t(2026, 10, 1), t(2026, 10, 1)  # one instant, two objects
    assert first == again and first is not again
    for key, until in (("a", first), ("b", again), ("c", t(2026, 10, 2)), ("d", None)):
        verdicts.store(key, Verdict((), (), START, until))
    assert verdicts.by_subject["b"].until is verdicts.by_subject["a"].until
    assert verdicts.by_subject["b"].until == again and verdicts.by_subject["d"].until is None
    verdicts.store("a", Verdict((), (), START, t(2026, 10, 2)))  # judged again
    assert verdicts.expired(first - dt.timedelta(seconds=1)) == set()
    assert verdicts.expired(first) == {"a", "b"}  # "a"'s old boundary (judged again since)
    assert verdicts.expired(t(2026, 10, 3)) == {"a", "c"}
    assert (verdicts.due, verdicts.instants, verdicts.heap, verdicts.waiting) == ({}, {}, [], 0)


def test_an_index_keeps_a_lone_value_bare_and_several_as_a_tuple() -> None:
    index: _Index[str] = _Index()
    index.add("R1", "C1")
    assert (index.get("R1"), index.get("R2"), index.many) == (("C1",), (), {})
    index.add("R1", "C2")
    index.add("R1", "C3")
    assert index.get("R1") == ("C1", "C2", "C3") and index.one == {}
    index.remove("R1", "C2")
    index.remove("R1", "C9")  # not there: nothing
    assert index.get("R1") == ("C1", "C3")
    index.remove("R1", "C1")
    assert (index.one, index.many) == ({"R1": "C3"}, {})
    index.remove("R1", "C3")
    assert (index.one, index.many, index.get("R1")) == ({}, {}, ())


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
    cards = [f.rule for f in _reference(snapshot, on_the_day) if f.rule.startswith("case.")]
    assert [f for f in _reference(snapshot, day_before) if f.rule.startswith("case.")] == []
    assert cards == ["case.due_soon"]


def test_quiet_cases_share_a_verdict_and_a_changed_one_is_judged_again() -> None:
    # I3, accepted Mon Sep 14 (both): due Thu Sep 17, quiet on Sep 15 (yellow from Sep 16).
    first = Case(id="C1", item="I3", accepted_at=t(2026, 9, 14, 9))
    second = Case(id="C2", item="I3", accepted_at=t(2026, 9, 14, 11))
    snapshot = Snapshot(items=ITEMS, cases={"C1": first, "C2": second})
    engine = Engine()
    assert engine.evaluate(snapshot, _ctx(t(2026, 9, 15, 10)), None) == []
    for family in (engine.overdue, engine.fees):
        assert family.by_subject["C1"] is family.by_subject["C2"]
        assert family.by_subject["C1"].findings == ()
    # C1 was accepted weeks earlier after all: overdue now, C2 still quiet.
    moved = first.model_copy(update={"accepted_at": t(2026, 8, 3, 9)})
    changed = Snapshot(items=ITEMS, cases={"C1": moved, "C2": second})
    later = _ctx(t(2026, 9, 15, 11))
    found = engine.evaluate(changed, later, Changes(frozenset({"C1"})))
    assert found == _reference(changed, later)
    assert {f.case_id for f in found} == {"C1"} and "case.overdue" in {f.rule for f in found}


def test_tickets_whose_windows_cross_midnight_compete_for_one_case() -> None:
    """A ticket served late at night and one early next morning both want the same case:
    their days form one cluster, so only one of them is covered, as the rules say."""
    late = Ticket(
        id="T1",
        window="W1",
        issued_at=t(2026, 9, 14, 23, 0),
        called_at=t(2026, 9, 14, 23, 30),
        finished_at=t(2026, 9, 14, 23, 50),
        status=TicketStatus.SERVED,
    )
    early = late.model_copy(
        update={
            "id": "T2",
            "issued_at": t(2026, 9, 15, 0, 0),
            "called_at": t(2026, 9, 15, 0, 5),
            "finished_at": t(2026, 9, 15, 0, 10),
        }
    )
    case = Case(id="C1", item="I3", window="W1", accepted_at=t(2026, 9, 15, 0, 20))
    records = _records([(case, [], [])], queue=[late, early])
    assembler = Assembler(cal(), POLICY)
    assembler.update(records)
    snapshot = snapshot_of(records, assembler.cases, None)
    ctx = _ctx(t(2026, 9, 16, 10))
    engine = Engine()
    expected = [f for f in _reference(snapshot, ctx) if f.rule == "offsystem.ticket_without_case"]
    assert [f.subject_id for f in expected] == ["T2"]
    found = engine.evaluate(snapshot, ctx, None)
    assert [f for f in found if f.rule == "offsystem.ticket_without_case"] == expected


def test_a_case_typed_in_hours_late_on_its_own_day_is_still_seen() -> None:
    """With backfill_hours 2, a case typed in three hours after acceptance (same day) is
    backfilled: the engine must hand it to the rule although it is not backdated."""
    case = Case(
        id="C1",
        item="I3",
        window="W1",
        accepted_at=t(2026, 9, 14, 9),
        recorded_at=t(2026, 9, 14, 12),
    )
    records = _records([(case, [], [])])
    assembler = Assembler(cal(), POLICY)
    assembler.update(records)
    snapshot = snapshot_of(records, assembler.cases, None)
    ctx = _ctx(t(2026, 9, 14, 13), PARAMETERS[1])
    expected = _reference(snapshot, ctx)
    assert "offsystem.backfilled_case" in [f.rule for f in expected]
    assert Engine().evaluate(snapshot, ctx, None) == expected


def test_late_entry_limits_are_each_item_and_departments_own_in_one_pass() -> None:
    """FewCases keeps the limits of an item and department from case to case: a case of
    another item or department must get its own (overrides by item win over departments)."""
    parameters = RuleParameters.model_validate(
        {
            **ACCOUNTS,
            "offsystem": {
                **ACCOUNTS["offsystem"],
                "overrides": {
                    "departments": {"D1": {"backfill_hours": 10}},
                    "items": {"I3": {"backfill_hours": 4, "instant_conclusion_seconds": 0}},
                },
            },
        }
    )
    accepted = t(2026, 9, 14, 0, 30)
    cases = [
        # typed in 20 hours late on the same day: late for 4 h and 10 h, not for 24 h
        Case(
            id=f"C{n}",
            item=item,
            department=department,
            window="W1",
            accepted_at=accepted,
            recorded_at=accepted + dt.timedelta(hours=20),
        )
        for n, (item, department) in enumerate(
            [("I3", "D1"), ("I0", "D1"), ("I0", "D2"), ("I3", "D2"), ("I0", "D1")]
        )
    ] + [
        # concluded 30 seconds after acceptance: instant for 60 s, not where 0 disables it
        Case(
            id=f"Q{n}",
            item=item,
            department="D2",
            window="W1",
            accepted_at=accepted,
            recorded_at=accepted,
            concluded_at=accepted + dt.timedelta(seconds=30),
        )
        for n, item in enumerate(["I0", "I3", "I0"])
    ]
    records = _records([(case, [], []) for case in cases])
    assembler = Assembler(cal(), POLICY)
    assembler.update(records)
    snapshot = snapshot_of(records, assembler.cases, None)
    ctx = _ctx(t(2026, 9, 15, 9), parameters)
    few = FewCases()
    few.update(snapshot, [c.id for c in cases], ctx)
    assert set(few.scope_of) == {"C0", "C1", "C3", "C4", "Q0", "Q2"}
    assert set(few.scope_of) == {c.id for c in cases if may_be_backfilled(c, ctx)}


def test_few_cases_judge_again_only_the_parts_that_changed_or_reached_a_boundary() -> None:
    """Backfilled cases are judged by burst scope, double acceptances by applicant: an
    evaluation gives the other parts' findings as they were, and a part whose case is
    concluded later (a boundary) is judged again when that instant comes, unchanged."""
    accepted = t(2026, 9, 14, 9)
    late = dt.timedelta(hours=30)  # typed in the next day: late entry and backdated

    def case(n: int, window: str, **fields: object) -> Case:
        values = {"accepted_at": accepted, "recorded_at": accepted + late} | fields
        return Case(id=f"C{n}", item="I3", window=window, **values)  # type: ignore[arg-type]

    cases = [
        case(0, "W1"),
        case(1, "W2"),
        # one applicant, one item, twice: the second accepted while the first is open,
        # which is concluded (its clock stops) only at 2026-09-20 10:00
        case(2, "W3", recorded_at=None, applicant_key="K1", concluded_at=t(2026, 9, 20, 10)),
        case(3, "W3", recorded_at=None, applicant_key="K1", accepted_at=accepted + late),
    ]
    records = _records([(c, [], []) for c in cases])
    assembler = Assembler(cal(), POLICY)
    assembler.update(records)
    judged: list[list[str]] = []
    original = FewCases._judge

    def counted(self: FewCases, snapshot: Snapshot, ctx: RuleContext) -> None:
        judged.append(sorted(f"{kind}:{key}" for kind, key in self._dirty))
        original(self, snapshot, ctx)

    few = FewCases()
    with patch.object(FewCases, "_judge", counted):
        snapshot = snapshot_of(records, assembler.cases, None)
        ctx = _ctx(t(2026, 9, 16, 9))
        few.update(snapshot, [c.id for c in cases], ctx)
        first = sorted(few.findings(snapshot, ctx), key=finding_order)
        assert first == offsystem_rules_found(snapshot, ctx)
        assert sorted((f.rule, f.case_id) for f in first) == [
            ("offsystem.backfilled_case", "C0"),
            ("offsystem.backfilled_case", "C1"),
            ("offsystem.double_acceptance", "C3"),
        ]
        assert judged == [["backfill:('window', 'W1')", "backfill:('window', 'W2')", "double:K1"]]
        # C1 changes: only W2's part is judged again; W1's finding is the very object.
        records.add("cases", cases[1].model_copy(update={"recorded_at": accepted}))
        rejoined, _ = assembler.update(records, {"cases": {"C1"}})
        snapshot = snapshot_of(records, assembler.cases, None)
        ctx = _ctx(t(2026, 9, 17, 9))
        few.update(snapshot, rejoined, ctx)
        second = sorted(few.findings(snapshot, ctx), key=finding_order)
        assert second == offsystem_rules_found(snapshot, ctx)
        assert [f.case_id for f in second if f.rule == "offsystem.backfilled_case"] == ["C0"]
        assert judged[1:] == [["backfill:('window', 'W2')"]]
        c0 = next(f for f in first if f.case_id == "C0")
        assert next(f for f in second if f.case_id == "C0") is c0
        # Nothing changes, but C2's conclusion comes: K1's part is judged again.
        assert sorted(few.findings(snapshot, _ctx(t(2026, 9, 18, 9))), key=finding_order) == second
        assert judged[2:] == []
        ctx = _ctx(t(2026, 9, 20, 10))
        third = sorted(few.findings(snapshot, ctx), key=finding_order)
        assert third == offsystem_rules_found(snapshot, ctx) != second
        assert judged[2:] == [["double:K1"]]


def offsystem_rules_found(snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
    """What the two rules find over the whole snapshot (in the rules' order)."""
    return [
        f
        for f in _reference(snapshot, ctx)
        if f.rule in ("offsystem.backfilled_case", "offsystem.double_acceptance")
    ]


def test_ratings_judge_again_only_a_changed_rating_its_case_or_its_boundary() -> None:
    """A bad rating is judged at its rating, again when it or its case changes or at the
    first second after its follow-up was due, and when its late follow-up is recorded;
    a good one never reaches the rule."""
    rated = t(2026, 9, 14, 10)  # follow-up due at the end of 2026-10-10 (15 working days)
    case = Case(id="C1", item="I3", department="D1", window="W1", accepted_at=rated)
    late = Evaluation(id="E1", case_id="C1", rated_at=rated, level=5)
    good = Evaluation(id="E2", case_id="C1", rated_at=rated, level=1)
    followed = Evaluation(
        id="E3", rated_at=rated, level=4, followed_up_at=t(2026, 10, 13, 9), department="D2"
    )
    records = _records([(case, [], [])], rated=[late, good, followed])
    assembler = Assembler(cal(), POLICY)
    assembler.update(records)
    snapshot = snapshot_of(records, assembler.cases, None)
    judged: list[str] = []
    rule = evaluation_rules.bad_rating_unresolved

    def counted(rating: Evaluation, *args: object) -> Finding | None:
        judged.append(rating.id)
        return rule(rating, *args)  # type: ignore[arg-type]

    ratings = Ratings()
    with patch.object(evaluation_rules, "bad_rating_unresolved", counted):
        ratings.update(snapshot, None, ())

        def at(instant: dt.datetime) -> list[tuple[str, str]]:
            """The findings at ``instant`` (checked against the rules); ``judged`` says
            which ratings reached the rule."""
            judged.clear()
            ctx = _ctx(instant)
            found = ratings.findings(snapshot, ctx)
            asked = list(judged)
            reference = _reference(snapshot, ctx)
            judged[:] = asked
            assert sorted(found, key=finding_order) == [
                f for f in reference if f.rule == "evaluation.bad_rating_unresolved"
            ]
            return sorted((f.subject_id, f.evidence["state"]) for f in found)

        assert at(t(2026, 9, 15)) == [] and sorted(judged) == ["E1", "E3"]
        assert at(t(2026, 10, 10, 23, 59, 59)) == [] and judged == []
        assert at(t(2026, 10, 11)) == [("E1", "missing"), ("E3", "missing")]
        assert sorted(judged) == ["E1", "E3"]
        assert at(t(2026, 10, 12)) == [("E1", "missing"), ("E3", "missing")] and judged == []
        assert at(t(2026, 10, 13, 9)) == [("E1", "missing"), ("E3", "late")]
        assert judged == ["E3"]
        # The rated case moves to another window: its bad rating is judged again.
        records.add("cases", case.model_copy(update={"window": "W2"}))
        rejoined, _ = assembler.update(records, {"cases": {"C1"}})
        snapshot = snapshot_of(records, assembler.cases, None)
        ratings.update(snapshot, frozenset(), rejoined)
        assert at(t(2026, 10, 14)) == [("E1", "missing"), ("E3", "late")] and judged == ["E1"]
