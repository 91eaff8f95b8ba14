"""Ticket matching in bulk (:func:`monitor.ticketmatch.unmatched`) and carried on
(:meth:`rules.offsystem.Matching.extend`) gives what the rule gives.

:func:`rules.offsystem.unmatched_searches` is the definition: random halls of several
windows, departments (one sharing a window's code), services and applicant keys (the
empty key too), cases typed in late, instants to the microsecond and edge times exactly
on a ticket's call or deadline; then a fixed sweep of a case's acceptance and typing-in
around a ticket's bounds. A full evaluation of :class:`monitor.engine.TicketClusters`
(whose settled clusters are matched in bulk) is held to the rule's findings too.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import _SETTLED, TicketClusters
from monitor.model import Case, Item, Snapshot, Ticket, TicketStatus
from monitor.ticketmatch import match_key, micros, unmatched
from rules import offsystem
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, cal, t

START = t(2026, 9, 1, 9)
ITEMS = {"I1": Item(code="I1", statutory_limit_days=5, promised_limit_days=3)}
PARAMETERS = RuleParameters.model_validate(
    {
        "offsystem": {
            "consultation_services": ["ZX"],
            "ticket_grace_minutes": 30,
            "overrides": {"items": {"I2": {"ticket_grace_minutes": 90}}},
        }
    }
)
# "D2" is a window's code and a department's: the two places must stay apart.
WINDOWS = [None, "W1", "W2", "W3", "D2"]
DEPARTMENTS = [None, "D1", "D2", "D3"]
KEYS = [None, "", "K1", "K2", "K3"]
MINUTE = dt.timedelta(minutes=1)


def _ctx(at: dt.datetime) -> RuleContext:
    return RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=PARAMETERS)


def _instant(draw: st.DrawFn) -> dt.datetime:
    minutes = draw(st.integers(0, 2)) * 60 * 24 + draw(st.integers(0, 240))
    micro = draw(st.sampled_from([0, 0, 1, 500_000, 999_999]))
    return START + dt.timedelta(minutes=minutes, microseconds=micro)


@st.composite
def tickets(draw: st.DrawFn, number: int) -> Ticket:
    called = _instant(draw)
    finished = called + dt.timedelta(
        minutes=draw(st.sampled_from([0, 5, 20, 90])),
        microseconds=draw(st.sampled_from([0, 1, 999_999])),
    )
    return Ticket(
        id=f"T{number:03d}",
        department=draw(st.sampled_from(DEPARTMENTS)),
        window=draw(st.sampled_from(WINDOWS)),
        service=draw(st.sampled_from([None, "I1", "I2", "ZX"])),
        applicant_key=draw(st.sampled_from(KEYS)),
        issued_at=called - MINUTE,
        called_at=called if draw(st.integers(0, 9)) else None,
        finished_at=finished if draw(st.integers(0, 9)) else None,
        status=draw(st.sampled_from([TicketStatus.SERVED] * 4 + [TicketStatus.ABSENT])),
        consultation=draw(st.integers(0, 7)) == 0,
    )


@st.composite
def cases(draw: st.DrawFn, number: int, tickets: list[Ticket]) -> Case:
    accepted = _instant(draw)
    window = draw(st.sampled_from(WINDOWS))
    department = draw(st.sampled_from(DEPARTMENTS))
    served = [x for x in tickets if x.called_at is not None and x.finished_at is not None]
    if served and draw(st.booleans()):  # on a ticket's bound, to the microsecond
        ticket = draw(st.sampled_from(served))
        if draw(st.integers(0, 3)):  # at its place
            window, department = ticket.window, ticket.department
        grace = PARAMETERS.offsystem.ticket_grace(ticket.service, ticket.department)
        bound = draw(
            st.sampled_from([min(ticket.called_at, ticket.finished_at), ticket.finished_at + grace])
        )
        accepted = bound + dt.timedelta(microseconds=draw(st.sampled_from([-1, 0, 0, 1])))
    recorded = None
    if draw(st.integers(0, 3)) == 0:
        recorded = accepted + dt.timedelta(minutes=draw(st.integers(0, 600)))
    return Case(
        id=f"C{draw(st.integers(0, 999)):03d}-{number}",  # ids not in acceptance order
        item="I1",
        center="HZ",
        department=department,
        window=window,
        applicant_key=draw(st.sampled_from(KEYS)),
        accepted_at=accepted,
        recorded_at=recorded,
    )


def _searches(queue: list[Ticket], at: dt.datetime) -> list[offsystem.TicketSearch]:
    consultation = frozenset(PARAMETERS.offsystem.consultation_services)
    return list(offsystem.ticket_searches(queue, _ctx(at), consultation))


def _both(tickets: list[Ticket], hall: list[Case], at: dt.datetime) -> tuple[list, list]:
    """The rule's unmatched searches and the bulk matcher's, at ``at``."""
    ctx = _ctx(at)
    searches = _searches(tickets, at)
    rule = offsystem.unmatched_searches(searches, hall, ctx)
    bulk = unmatched(searches, [c.id for c in hall], [match_key(c) for c in hall], at)
    return rule, bulk


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), served=st.integers(0, 25), size=st.integers(0, 25))
def test_bulk_matching_is_the_rules(data: st.DataObject, served: int, size: int) -> None:
    queue = [data.draw(tickets(n)) for n in range(served)]
    hall = [data.draw(cases(n, queue)) for n in range(size)]
    at = START + dt.timedelta(minutes=data.draw(st.integers(0, 60 * 24 * 4)))
    rule, bulk = _both(queue, hall, at)
    assert bulk == rule


def test_a_sweep_around_a_tickets_bounds() -> None:
    """A ticket at W1 called 9:00:00, finished 9:10:00, due 9:40:00; cases accepted from
    just before its call to just after its deadline, typed in before or after the
    instant; with a second ticket competing for the case."""
    called = START
    ticket = Ticket(
        id="T1",
        window="W1",
        department="D1",
        applicant_key="K1",
        issued_at=called,
        called_at=called,
        finished_at=called + 10 * MINUTE,
        status=TicketStatus.SERVED,
    )
    other = ticket.model_copy(update={"id": "T0", "applicant_key": None})
    due = called + 40 * MINUTE
    micro = dt.timedelta(microseconds=1)
    outcomes = set()
    for accepted in [called - micro, called, called + micro, due - micro, due, due + micro]:
        for key in [None, "K1", "K2"]:
            for typed_in in [None, due + MINUTE]:
                for at in [due + MINUTE - micro, due + MINUTE, due + 2 * MINUTE]:
                    for queue in ([ticket], [ticket, other]):
                        case = Case(
                            id="C1",
                            item="I1",
                            window="W1",
                            department="D1",
                            applicant_key=key,
                            accepted_at=accepted,
                            recorded_at=typed_in,
                        )
                        rule, bulk = _both(queue, [case], at)
                        assert bulk == rule, (accepted, key, typed_in, at, len(queue))
                        outcomes.add(tuple(s.ticket.id for s in rule))
    assert {(), ("T1",), ("T0",)} <= outcomes  # the sweep crosses the bounds both ways


def test_micros_are_exact() -> None:
    """Instants to the microsecond, across the era, come back exactly."""
    instants = [
        START + dt.timedelta(days=d, microseconds=m)
        for d in (-20000, -1, 0, 1, 3000)
        for m in (0, 1, 499_999, 999_999)
    ]
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    expected = [(i - epoch) // dt.timedelta(microseconds=1) for i in instants]
    assert micros(instants).tolist() == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), served=st.integers(0, 20), size=st.integers(0, 20))
def test_a_full_evaluation_gives_the_rules_findings(
    data: st.DataObject, served: int, size: int
) -> None:
    """Fresh clusters, days after the tickets (settled: matched in bulk) or among them;
    then a change to every ticket day, matched again with splits and parts."""
    queue = {f"T{n:03d}": data.draw(tickets(n)) for n in range(served)}
    hall_list = [data.draw(cases(n, list(queue.values()))) for n in range(size)]
    hall = {c.id: c for c in hall_list}
    at = START + dt.timedelta(minutes=data.draw(st.integers(0, 60 * 24 * 6)))
    snapshot = Snapshot(items=ITEMS, cases=hall, tickets=queue)
    clusters = TicketClusters()
    clusters.update(snapshot, set(queue), set(hall), _ctx(at))
    found = clusters.findings(snapshot, _ctx(at))
    expected = list(offsystem.tickets_without_case(snapshot, _ctx(at)))
    assert sorted(found, key=lambda f: f.subject_id) == sorted(expected, key=lambda f: f.subject_id)
    later = at + dt.timedelta(minutes=data.draw(st.integers(0, 60 * 24)))
    changed = {i: x.model_copy(update={"number": "X"}) for i, x in queue.items()}
    snapshot = Snapshot(items=ITEMS, cases=hall, tickets=changed)
    clusters.update(snapshot, set(changed), (), _ctx(later))
    found = clusters.findings(snapshot, _ctx(later))
    expected = list(offsystem.tickets_without_case(snapshot, _ctx(later)))
    assert sorted(found, key=lambda f: f.subject_id) == sorted(expected, key=lambda f: f.subject_id)
    assert not any(_SETTLED in c.parts for c in clusters.clusters.values())


def test_settled_clusters_are_matched_in_bulk_then_split_when_changed() -> None:
    """Days whose deadlines all passed are matched in bulk (no split, no parts); a change
    to one builds its split and parts, and the next change there rematches one part."""
    day = START
    queue = {
        "T1": Ticket(
            id="T1",
            window="W1",
            department="D1",
            issued_at=day,
            called_at=day,
            finished_at=day + 10 * MINUTE,
            status=TicketStatus.SERVED,
        ),
    }
    queue["T2"] = queue["T1"].model_copy(update={"id": "T2", "window": "W3", "department": "D3"})
    at = day + dt.timedelta(hours=3)
    clusters = TicketClusters()
    snapshot = Snapshot(items=ITEMS, tickets=queue, cases={})
    clusters.update(snapshot, queue, (), _ctx(at))
    assert {f.subject_id for f in clusters.findings(snapshot, _ctx(at))} == {"T1", "T2"}
    (cluster,) = clusters.clusters.values()
    assert cluster.split is None and set(cluster.parts) == {_SETTLED}
    hall = {"C1": Case(id="C1", item="I1", window="W1", department="D1", accepted_at=day)}
    snapshot = Snapshot(items=ITEMS, tickets=queue, cases=hall)
    clusters.update(snapshot, (), ["C1"], _ctx(at))
    assert {f.subject_id for f in clusters.findings(snapshot, _ctx(at))} == {"T2"}
    (cluster,) = clusters.clusters.values()
    assert cluster.split is not None and len(cluster.parts) == 2
    gone, now = clusters.rematched  # the bulk findings count as replaced
    assert {f.subject_id for f in gone} == {"T1", "T2"} and {f.subject_id for f in now} == {"T2"}
    w3 = next(p for p in cluster.parts.values() if "T2" in p.tickets)
    hall["C2"] = hall["C1"].model_copy(update={"id": "C2", "accepted_at": day + MINUTE})
    snapshot = Snapshot(items=ITEMS, tickets=queue, cases=hall)
    clusters.update(snapshot, (), ["C2"], _ctx(at))
    assert {f.subject_id for f in clusters.findings(snapshot, _ctx(at))} == {"T2"}
    (cluster,) = clusters.clusters.values()
    assert next(p for p in cluster.parts.values() if "T2" in p.tickets) is w3


def test_cases_accepted_at_one_instant_are_taken_in_the_order_of_their_ids() -> None:
    """C1 (applicant K1) and C2 (no key) accepted at the same instant at W1: the ticket
    without a key, due first, takes C1 (the lower id), which leaves C2 for the keyed
    ticket of another applicant (a keyless case only)."""
    called = START
    first = Ticket(
        id="T1",
        window="W1",
        department="D1",
        issued_at=called,
        called_at=called,
        finished_at=called + 10 * MINUTE,
        status=TicketStatus.SERVED,
    )
    second = first.model_copy(
        update={"id": "T2", "applicant_key": "K2", "finished_at": called + 20 * MINUTE}
    )
    accepted = called + 5 * MINUTE
    keyless = Case(id="C2", item="I1", window="W1", department="D1", accepted_at=accepted)
    keyed = keyless.model_copy(update={"id": "C1", "applicant_key": "K1"})
    for hall in ([keyless, keyed], [keyed, keyless]):
        rule, bulk = _both([first, second], hall, called + dt.timedelta(hours=2))
        assert rule == bulk == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), served=st.integers(0, 25), size=st.integers(0, 25))
def test_a_matching_carried_on_is_the_matching_of_everything(
    data: st.DataObject, served: int, size: int
) -> None:
    """As the instant moves, tickets finish and cases arrive — mostly once they exist in
    the approval system, some earlier or later — and :meth:`offsystem.Matching.extend`
    carries the matching on with them: where it says it can, its unmatched searches are
    those of everything matched afresh; where it cannot, matching starts afresh."""
    queue = [data.draw(tickets(n)) for n in range(served)]
    hall = [data.draw(cases(n, queue)) for n in range(size)]
    offsets = sorted(set(data.draw(st.lists(st.integers(0, 60 * 24 * 4), min_size=1, max_size=6))))
    instants = [START + dt.timedelta(minutes=m) for m in offsets]
    arrival = {}  # each case's first instant in the matching
    for case in hall:
        known = max(case.accepted_at, case.recorded_at or case.accepted_at)
        step = next((n for n, at in enumerate(instants) if at >= known), len(instants))
        if data.draw(st.integers(0, 3)) == 0:
            step = data.draw(st.integers(0, len(instants)))
        arrival[case.id] = step
    matching = None
    given_searches: set[str] = set()
    for n, at in enumerate(instants):
        ctx = _ctx(at)
        searches = _searches(queue, at)
        arrived = [c for c in hall if arrival[c.id] <= n]
        expected = offsystem.unmatched_searches(searches, arrived, ctx)
        new_searches = [s for s in searches if s.ticket.id not in given_searches]
        new_cases = [c for c in hall if arrival[c.id] == n]
        if matching is None or not matching.extend(new_searches, new_cases, ctx):
            matching = offsystem.Matching(searches, arrived, ctx)
        assert matching.unmatched == expected, at
        given_searches = {s.ticket.id for s in searches}


def _ticket(number: int, finished: int, key: str | None = None) -> Ticket:
    """T<number> served at W1 (D1), called at START, finished ``finished`` minutes later
    (due 30 minutes after that)."""
    return Ticket(
        id=f"T{number}",
        window="W1",
        department="D1",
        applicant_key=key,
        issued_at=START,
        called_at=START,
        finished_at=START + finished * MINUTE,
        status=TicketStatus.SERVED,
    )


def _case(number: int, accepted: int, key: str | None = None) -> Case:
    return Case(
        id=f"C{number}",
        item="I1",
        window="W1",
        department="D1",
        applicant_key=key,
        accepted_at=START + accepted * MINUTE,
    )


def test_a_matching_goes_on_with_what_comes_after_it_and_not_with_what_would_move_it() -> None:
    """T1 (finished 9:10, due 9:40) found no case. A ticket finishing later with a case
    accepted after T1's deadline carries the matching on; a case accepted before T1's
    deadline would have been T1's, so the matching starts afresh — as it must when a
    case comes after one it sorts before. A ticket finishing later, of an applicant,
    that wants the case a ticket without a key took in the second pass gets it (the
    first pass comes first), and the second pass is done again."""
    at = START + 2 * 60 * MINUTE
    first = _ticket(1, 10)
    matching = offsystem.Matching(_searches([first], at), [], _ctx(at))
    assert [s.ticket.id for s in matching.unmatched] == ["T1"]
    second = _ticket(2, 20)
    assert matching.extend(_searches([second], at), [_case(1, 45)], _ctx(at))
    assert [s.ticket.id for s in matching.unmatched] == ["T1"]  # T2 took C1
    assert not matching.extend([], [_case(2, 35)], _ctx(at))  # T1 would take C2
    assert not matching.extend([], [], _ctx(at))  # spent: the caller starts afresh

    # T1 took C1; C2 (10:50) waits. C3, accepted at 10:00, comes after C2 but sorts
    # before it: T2 (due 10:20) must find it, so the matching starts afresh.
    matching = offsystem.Matching(_searches([first], at), [_case(1, 5), _case(2, 110)], _ctx(at))
    assert matching.unmatched == []
    assert not matching.extend(_searches([_ticket(2, 50)], at), [_case(3, 60)], _ctx(at))

    # T1 (no key) takes C1 (applicant K1) in the second pass; T2 (K1), due later, takes
    # it in the first pass, which comes first: the second pass is done again, and T1,
    # with C2 (no key) accepted after its deadline, is left without a case.
    keyless = _ticket(1, 10)
    matching = offsystem.Matching(_searches([keyless], at), [_case(1, 5, "K1")], _ctx(at))
    assert matching.unmatched == []
    assert matching.extend(_searches([_ticket(2, 20, "K1")], at), [_case(2, 45)], _ctx(at))
    assert [s.ticket.id for s in matching.unmatched] == ["T1"]
    assert matching.extend(_searches([_ticket(3, 30)], at), [], _ctx(at))  # T3 takes C2
    everything = _searches([keyless, _ticket(2, 20, "K1"), _ticket(3, 30)], at)
    fresh = offsystem.Matching(everything, [_case(1, 5, "K1"), _case(2, 45)], _ctx(at))
    assert matching.unmatched == fresh.unmatched and len(fresh.unmatched) == 1


def test_new_cases_given_in_any_order_carry_the_matching_on() -> None:
    """Cases that all sort after the matching's own carry it on in whatever order they
    come (a poll delivers them so): T2 and T3 take C2 and C3 as a fresh matching would."""
    at = START + 2 * 60 * MINUTE
    matching = offsystem.Matching(_searches([_ticket(1, 10)], at), [_case(1, 5)], _ctx(at))
    assert matching.unmatched == []
    later = [_case(3, 50), _case(2, 40)]  # C3 sorts after C2, and comes first
    searches = _searches([_ticket(2, 20), _ticket(3, 30)], at)
    assert matching.extend(searches, later, _ctx(at))
    everything = _searches([_ticket(1, 10), _ticket(2, 20), _ticket(3, 30)], at)
    fresh = offsystem.Matching(everything, [_case(1, 5), *later], _ctx(at))
    assert matching.unmatched == fresh.unmatched == []
