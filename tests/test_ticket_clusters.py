"""Ticket matching by clusters of days and parts of shared places says what the rule says.

``offsystem.ticket_without_case`` over a hall of several windows and departments —
mostly one department per window, sometimes a case that joins two (a window that
accepts for another department) — as tickets and cases come, change and go, and the
instant moves: :class:`monitor.engine.TicketClusters` must give exactly the findings of
:func:`rules.offsystem.tickets_without_case`, and match again only the parts that changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import TicketClusters, _split
from monitor.model import Case, Item, Snapshot, Ticket, TicketStatus
from rules import offsystem
from rules.context import RuleContext
from rules.offsystem import tickets_without_case
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, cal, t

START = t(2026, 9, 1, 9)
ITEMS = {"I1": Item(code="I1", statutory_limit_days=5, promised_limit_days=3)}
PARAMETERS = RuleParameters.model_validate(
    {"offsystem": {"consultation_services": ["ZX"], "ticket_grace_minutes": 60}}
)
DEPARTMENT_OF = {"W1": "D1", "W2": "D1", "W3": "D2", "W4": "D3"}
minutes = st.integers(min_value=0, max_value=60 * 24 * 4)
MINUTE = dt.timedelta(minutes=1)


def _ctx(at: dt.datetime) -> RuleContext:
    return RuleContext(calendar=cal(), policy=POLICY, at=at, parameters=PARAMETERS)


@st.composite
def cases(draw: st.DrawFn, number: int) -> Case:
    window = draw(st.sampled_from([None, "W1", "W2", "W3", "W4"]))
    department = DEPARTMENT_OF.get(window or "", "D1")
    if draw(st.integers(0, 9)) == 0:
        department = draw(st.sampled_from(["D1", "D2", "D3"]))  # joins two parts
    accepted = START + dt.timedelta(minutes=draw(minutes))
    recorded = None
    if draw(st.integers(0, 3)) == 0:
        recorded = accepted + dt.timedelta(minutes=draw(st.integers(0, 600)))
    return Case(
        id=f"C{number}",
        item="I1",
        center="HZ",
        department=department if draw(st.integers(0, 5)) else None,
        window=window,
        applicant_key=draw(st.sampled_from([None, "K1", "K2", "K3"])),
        accepted_at=accepted,
        recorded_at=recorded,
    )


@st.composite
def tickets(draw: st.DrawFn, number: int) -> Ticket:
    window = draw(st.sampled_from([None, "W1", "W2", "W3", "W4"]))
    department = DEPARTMENT_OF.get(window or "") or draw(st.sampled_from([None, "D1", "D3"]))
    called = START + dt.timedelta(minutes=draw(minutes))
    finished = called + dt.timedelta(minutes=draw(st.sampled_from([5, 20, 90, 700])))
    return Ticket(
        id=f"T{number}",
        department=department,
        window=window,
        service=draw(st.sampled_from([None, "I1", "ZX"])),
        applicant_key=draw(st.sampled_from([None, "K1", "K2", "K3"])),
        issued_at=called - dt.timedelta(minutes=5),
        called_at=called,
        finished_at=finished,
        status=draw(
            st.sampled_from([TicketStatus.SERVED, TicketStatus.SERVED, TicketStatus.ABSENT])
        ),
        consultation=draw(st.integers(0, 5)) == 0,
    )


def _served(
    number: int, window: str, day: dt.datetime, key: str | None = None, finished: int = 10
) -> Ticket:
    """Ticket T<number>, issued and called at ``day``, served at ``window`` (its
    department's) and finished ``finished`` minutes later."""
    return Ticket(
        id=f"T{number}",
        window=window,
        department=DEPARTMENT_OF[window],
        applicant_key=key,
        issued_at=day,
        called_at=day,
        finished_at=day + dt.timedelta(minutes=finished),
        status=TicketStatus.SERVED,
    )


def _sorted(findings: list) -> list:
    return sorted(findings, key=lambda f: f.subject_id)


def _shape(parts: list) -> set:
    return {
        (frozenset(s.ticket.id for s in searches), frozenset(c.id for c in cases))
        for searches, cases in parts
    }


def _assert_splits_as_built_afresh(clusters: TicketClusters, snapshot: Snapshot) -> None:
    """Each cluster's split, however it was kept up to date, is the plain :func:`_parts`
    of its tickets and cases (and the same split built afresh), with current cases."""
    for cluster in clusters.clusters.values():
        split = cluster.split
        if split is None:
            continue
        searches = list(split.searches.values())
        cases = [snapshot.cases[i] for i in split.keys]
        parts = split.parts(snapshot)
        assert _shape(parts) == _shape(_parts(searches, cases))
        assert _shape(parts) == _shape(_split(searches, cases, split.keys).parts(snapshot))
        assert all(snapshot.cases[c.id] is c for _, members in parts for c in members)


def _parts(
    searches: list[offsystem.TicketSearch], cases: list[Case]
) -> list[tuple[list[offsystem.TicketSearch], list[Case]]]:
    """The plain definition of the split :class:`monitor.engine._Split` keeps up to date:
    tickets and cases split where they cannot compete for a case.

    A ticket searches its applicant's scope, then its window's (or department's) scope
    for keyed or for any tickets; a case sits in scopes of its window and department
    (see ``rules.offsystem._case_scopes``). Scopes joined by a ticket that searches both
    or by a case that sits in both are one part; :func:`rules.offsystem.unmatched_tickets`
    over each part gives, together, what it gives over all of them (its greedy order is
    the same within a part, and a part never takes another's case). Cases in no scope a
    ticket searches are left out: they cover nothing.
    """
    parent: dict[tuple[str, ...], tuple[str, ...]] = {}

    def find(scope: tuple[str, ...]) -> tuple[str, ...]:
        root = scope
        while parent[root] != root:
            root = parent[root]
        while parent[scope] != root:
            parent[scope], scope = root, parent[scope]
        return root

    def join(a: tuple[str, ...], b: tuple[str, ...]) -> None:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[root_b] = root_a

    for s in searches:
        scopes = [("any", *s.place), ("keyless", *s.place)]
        if s.applicant_place is not None:
            scopes.append(s.applicant_place)
        for scope in scopes:
            parent.setdefault(scope, scope)
        for scope in scopes[1:]:
            join(scopes[0], scope)
    placed: list[tuple[Case, tuple[str, ...]]] = []
    for case in cases:
        first: tuple[str, ...] | None = None
        for scope in offsystem._case_scopes(case):  # the rule's own scopes
            if scope in parent:
                if first is None:
                    first = scope
                else:
                    join(first, scope)
        if first is not None:
            placed.append((case, first))
    grouped: dict[tuple[str, ...], tuple[list[offsystem.TicketSearch], list[Case]]] = {}
    for s in searches:
        grouped.setdefault(find(("any", *s.place)), ([], []))[0].append(s)
    for case, scope in placed:
        grouped[find(scope)][1].append(case)
    return list(grouped.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(0, 14), served=st.integers(0, 16))
def test_clusters_and_parts_match_as_the_rule_does(
    data: st.DataObject, size: int, served: int
) -> None:
    hall = {f"C{n}": data.draw(cases(n)) for n in range(size)}
    queue = {f"T{n}": data.draw(tickets(n)) for n in range(served)}
    clusters = TicketClusters()
    changed_cases, changed_tickets = set(hall), set(queue)
    offsets = data.draw(st.lists(st.integers(0, 60 * 24 * 6), min_size=1, max_size=8))
    for offset in sorted(offsets):
        at = START + dt.timedelta(minutes=offset)
        ctx = _ctx(at)
        snapshot = Snapshot(items=ITEMS, cases=dict(hall), tickets=dict(queue))
        clusters.update(snapshot, changed_tickets, changed_cases, ctx)
        expected = list(tickets_without_case(snapshot, ctx))
        assert _sorted(clusters.findings(snapshot, ctx)) == _sorted(expected), at
        _assert_splits_as_built_afresh(clusters, snapshot)
        changed_cases = _change_some(data, hall, "C", size, cases)
        changed_tickets = _change_some(data, queue, "T", served, tickets)


def _change_some(
    data: st.DataObject,
    records: dict[str, Any],
    prefix: str,
    upto: int,
    drawn: Callable[[int], st.SearchStrategy[Any]],
) -> set[str]:
    """Up to three of ``records`` (keyed prefix + number) deleted (one in four) or drawn
    anew; their keys."""
    changed: set[str] = set()
    for _ in range(data.draw(st.integers(0, 3))):
        number = data.draw(st.integers(0, upto))
        key = f"{prefix}{number}"
        if data.draw(st.integers(0, 3)) == 0:
            records.pop(key, None)
        else:
            records[key] = data.draw(drawn(number))
        changed.add(key)
    return changed


def test_a_change_at_one_window_leaves_the_other_departments_matched() -> None:
    """Tickets at W1 (D1) and W3 (D2) on one day: a new case at W1 matches W1's part
    again, not W3's (its verdict object is kept). The cluster is first matched while its
    deadlines are ahead (a settled one is matched in bulk, without parts: see the test
    after this one)."""
    day = t(2026, 9, 1, 9)
    queue = {
        "T1": _served(1, "W1", day),
        "T2": _served(2, "W3", day),
    }
    at = day + dt.timedelta(hours=3)
    ctx = _ctx(at)
    clusters = TicketClusters()
    # A case of the week before (outside the day's cluster).
    earlier = Case(
        id="C0", item="I1", window="W1", department="D1", accepted_at=day - dt.timedelta(days=7)
    )
    snapshot = Snapshot(items=ITEMS, tickets=queue, cases={"C0": earlier})
    clusters.update(snapshot, queue, ["C0"], ctx)
    assert clusters.findings(snapshot, _ctx(day + dt.timedelta(minutes=30))) == []
    assert {f.subject_id for f in clusters.findings(snapshot, ctx)} == {"T1", "T2"}
    (before,) = clusters.clusters.values()
    case = Case(
        id="C1",
        item="I1",
        window="W1",
        department="D1",
        accepted_at=day + dt.timedelta(minutes=20),
    )
    snapshot = Snapshot(items=ITEMS, tickets=queue, cases={"C0": earlier, "C1": case})
    clusters.update(snapshot, (), ["C1"], ctx)
    assert {f.subject_id for f in clusters.findings(snapshot, ctx)} == {"T2"}
    (after,) = clusters.clusters.values()
    assert after is not before  # the cluster was matched again...
    kept = [
        frozenset(part.tickets)
        for root, part in after.parts.items()
        if before.parts.get(root) is part
    ]
    assert kept == [frozenset({"T2"})]  # ...but only W1's part of it


def test_a_case_typed_in_late_rematches_its_part_and_deadlines_only_refind() -> None:
    """T1 is served at W1 and due at 10:10; C1 was accepted at 9:20 but typed in only at
    11:00. Before 10:10 nothing is reported; then T1 is (its deadline passed, the same
    matching); from 11:00 C1 exists and covers it (the part is matched again)."""
    day = t(2026, 9, 1, 9)
    ticket = _served(1, "W1", day)
    case = Case(
        id="C1",
        item="I1",
        window="W1",
        department="D1",
        accepted_at=day + dt.timedelta(minutes=20),
        recorded_at=day + dt.timedelta(hours=2),
    )
    snapshot = Snapshot(items=ITEMS, tickets={"T1": ticket}, cases={"C1": case})
    clusters = TicketClusters()
    clusters.update(snapshot, ["T1"], ["C1"], _ctx(day + dt.timedelta(minutes=30)))
    seen = []
    for minutes in (30, 90, 150):
        ctx = _ctx(day + dt.timedelta(minutes=minutes))
        found = clusters.findings(snapshot, ctx)
        assert found == list(tickets_without_case(snapshot, ctx))
        seen.append([f.subject_id for f in found])
    assert seen == [[], ["T1"], []]


def test_a_finishing_ticket_and_a_new_case_extend_the_split() -> None:
    """A ticket finishing later and a case accepted later are added to the cluster's
    split (the same object, kept up to date); a ticket that changes builds it afresh.
    Either way the parts are the plain split's."""
    day = t(2026, 9, 1, 9)

    queue = {
        "T1": _served(1, "W1", day, "K1"),
        "T2": _served(2, "W3", day),
        "T3": _served(3, "W4", day, "K2", finished=50),  # finishes later, at a window of its own
    }
    hall = {
        "C1": Case(id="C1", item="I1", window="W1", department="D1", accepted_at=day),
        "C2": Case(
            id="C2",
            item="I1",
            window="W4",
            department="D3",
            applicant_key="K2",
            accepted_at=day + dt.timedelta(minutes=5),
        ),
    }
    clusters = TicketClusters()
    ctx = _ctx(day + dt.timedelta(minutes=30))
    snapshot = Snapshot(items=ITEMS, tickets=dict(queue), cases=dict(hall))
    clusters.update(snapshot, queue, hall, ctx)
    assert _sorted(clusters.findings(snapshot, ctx)) == _sorted(
        list(tickets_without_case(snapshot, ctx))
    )
    (cluster,) = clusters.clusters.values()
    split = cluster.split
    assert split is not None and set(split.searches) == {"T1", "T2"}
    first = {frozenset(p.tickets): p for p in cluster.parts.values()}
    # T3 finishes; a case is accepted at W3 (joins T2's part): both only added.
    hall["C3"] = Case(
        id="C3",
        item="I1",
        window="W3",
        department="D2",
        accepted_at=day + dt.timedelta(minutes=35),
    )
    ctx = _ctx(day + dt.timedelta(minutes=60))
    snapshot = Snapshot(items=ITEMS, tickets=dict(queue), cases=dict(hall))
    clusters.update(snapshot, (), ["C3"], ctx)
    assert _sorted(clusters.findings(snapshot, ctx)) == _sorted(
        list(tickets_without_case(snapshot, ctx))
    )
    (cluster,) = clusters.clusters.values()
    assert cluster.split is split and set(split.searches) == {"T1", "T2", "T3"}
    _assert_splits_as_built_afresh(clusters, snapshot)
    # Only the parts the additions touched were matched again: W1's is the very part.
    now = {frozenset(p.tickets): p for p in cluster.parts.values()}
    assert set(now) == {frozenset({"T1"}), frozenset({"T2"}), frozenset({"T3"})}
    assert now[frozenset({"T1"})] is first[frozenset({"T1"})]
    assert now[frozenset({"T2"})] is not first[frozenset({"T2"})]
    assert not split.dirty  # taken by the match
    # T1 changes (another window): the split is built afresh.
    queue["T1"] = _served(1, "W3", day, "K1")
    ctx = _ctx(day + dt.timedelta(minutes=70))
    snapshot = Snapshot(items=ITEMS, tickets=dict(queue), cases=dict(hall))
    clusters.update(snapshot, ["T1"], (), ctx)
    assert _sorted(clusters.findings(snapshot, ctx)) == _sorted(
        list(tickets_without_case(snapshot, ctx))
    )
    (cluster,) = clusters.clusters.values()
    assert cluster.split is not split
    _assert_splits_as_built_afresh(clusters, snapshot)


def test_a_case_changed_in_what_matching_does_not_read_keeps_its_part() -> None:
    """C1 covers T1; C1 is concluded (a new version, the same match key) and T2 finishes
    at another department: W1's part keeps its matching (the very part object), and the
    findings are still the rule's. (First matched while its deadlines are ahead, as in
    the test before.)"""
    day = t(2026, 9, 1, 9)
    queue = {
        "T1": _served(1, "W1", day),
        "T2": _served(2, "W3", day),
    }
    case = Case(
        id="C1", item="I1", window="W1", department="D1", accepted_at=day + dt.timedelta(minutes=5)
    )
    clusters = TicketClusters()
    ctx = _ctx(day + dt.timedelta(hours=2))
    snapshot = Snapshot(items=ITEMS, tickets=queue, cases={"C1": case})
    clusters.update(snapshot, queue, ["C1"], ctx)
    assert clusters.findings(snapshot, _ctx(day + dt.timedelta(minutes=30))) == []
    assert [f.subject_id for f in clusters.findings(snapshot, ctx)] == ["T2"]
    (before,) = clusters.clusters.values()
    concluded = case.model_copy(update={"concluded_at": day + dt.timedelta(hours=1)})
    queue["T2"] = queue["T2"].model_copy(update={"finished_at": day + dt.timedelta(minutes=20)})
    ctx = _ctx(day + dt.timedelta(hours=3))
    snapshot = Snapshot(items=ITEMS, tickets=queue, cases={"C1": concluded})
    clusters.update(snapshot, ["T2"], ["C1"], ctx)
    assert _sorted(clusters.findings(snapshot, ctx)) == _sorted(
        list(tickets_without_case(snapshot, ctx))
    )
    (after,) = clusters.clusters.values()
    assert after is not before
    before_parts = {frozenset(p.tickets): p for p in before.parts.values()}
    after_parts = {frozenset(p.tickets): p for p in after.parts.values()}
    assert after_parts[frozenset({"T1"})] is before_parts[frozenset({"T1"})]
    assert after_parts[frozenset({"T2"})] is not before_parts[frozenset({"T2"})]


def test_a_part_that_only_gained_what_comes_after_it_carries_its_matching_on() -> None:
    """T1 at W1 (due 10:10) is covered by C1. T2 finishes later at W1 and C2 is
    accepted after every case there: W1's part carries its matching on (the same one)
    and T2 takes C2. Then T3 finishes and C3 is accepted before C2, in T2's window: W1's
    part is matched afresh (T2 takes C3, T3 takes C2). Findings are the rule's
    throughout."""
    day = t(2026, 9, 1, 9)
    queue = {"T1": _served(1, "W1", day)}
    hall = {
        "C1": Case(id="C1", item="I1", window="W1", department="D1", accepted_at=day + 5 * MINUTE)
    }
    clusters = TicketClusters()

    def judged(at: dt.datetime, tickets: list[str], cases: list[str]) -> offsystem.Matching:
        ctx = _ctx(at)
        snapshot = Snapshot(items=ITEMS, tickets=dict(queue), cases=dict(hall))
        clusters.update(snapshot, tickets, cases, ctx)
        assert _sorted(clusters.findings(snapshot, ctx)) == _sorted(
            list(tickets_without_case(snapshot, ctx))
        )
        (cluster,) = clusters.clusters.values()
        (part,) = cluster.parts.values()
        assert part.matching is not None
        return part.matching

    first = judged(day + 30 * MINUTE, ["T1"], ["C1"])
    assert first.unmatched == []
    queue["T2"] = _served(2, "W1", day + 40 * MINUTE)
    hall["C2"] = hall["C1"].model_copy(update={"id": "C2", "accepted_at": day + 85 * MINUTE})
    second = judged(day + 3 * 60 * MINUTE, ["T2"], ["C2"])
    assert second is first and first.extended == 1 and first.unmatched == []
    queue["T3"] = _served(3, "W1", day + 60 * MINUTE)
    hall["C3"] = hall["C1"].model_copy(update={"id": "C3", "accepted_at": day + 65 * MINUTE})
    third = judged(day + 4 * 60 * MINUTE, ["T3"], ["C3"])
    assert third is not first and third.unmatched == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), served=st.integers(1, 24), size=st.integers(0, 24))
def test_a_day_as_it_goes_is_matched_as_the_rule_does(
    data: st.DataObject, served: int, size: int
) -> None:
    """Tickets called and cases accepted through a day in order, as a hall's day goes:
    a ticket comes when it is called (finishing later) or when it finishes, a case once
    it is typed in (some late); the clusters are judged every few arrivals. Parts mostly
    carry their matchings on, or match afresh when an arrival would move them; the
    findings are the rule's every time."""
    day = t(2026, 9, 1, 9)
    arrivals: list[tuple[int, int, Any]] = []  # (minute, order, record)
    minute = 0
    for n in range(served):
        minute += data.draw(st.integers(0, 15))
        window = data.draw(st.sampled_from(["W1", "W2", "W3", "W4"]))
        length = data.draw(st.sampled_from([3, 10, 40]))
        ticket = Ticket(
            id=f"T{n}",
            window=window,
            department=DEPARTMENT_OF[window],
            service=data.draw(st.sampled_from([None, "I1", "ZX"])),
            applicant_key=data.draw(st.sampled_from([None, "K1", "K2", "K3"])),
            issued_at=day + (minute - 1) * MINUTE,
            called_at=day + minute * MINUTE,
            finished_at=day + (minute + length) * MINUTE,
            status=TicketStatus.SERVED,
        )
        comes = minute + (length if data.draw(st.booleans()) else 0)
        arrivals.append((comes, 0, ticket))
    minute = 0
    for n in range(size):
        minute += data.draw(st.integers(0, 20))
        window = data.draw(st.sampled_from(["W1", "W2", "W3", "W4"]))
        late = data.draw(st.sampled_from([0, 0, 0, 45]))
        case = Case(
            id=f"C{n}",
            item="I1",
            center="HZ",
            department=DEPARTMENT_OF[window] if data.draw(st.integers(0, 7)) else "D1",
            window=window,
            applicant_key=data.draw(st.sampled_from([None, "K1", "K2", "K3"])),
            accepted_at=day + minute * MINUTE,
            recorded_at=day + (minute + late) * MINUTE if late else None,
        )
        arrivals.append((minute + late, 1, case))
    arrivals.sort(key=lambda a: (a[0], a[1]))
    clusters = TicketClusters()
    queue: dict[str, Ticket] = {}
    hall: dict[str, Case] = {}
    start = 0
    while start < len(arrivals):
        batch = arrivals[start : start + data.draw(st.integers(1, 4))]
        start += len(batch)
        for _, _, record in batch:
            (queue if isinstance(record, Ticket) else hall)[record.id] = record
        at = day + (batch[-1][0] + data.draw(st.integers(0, 5))) * MINUTE
        ctx = _ctx(at)
        snapshot = Snapshot(items=ITEMS, cases=dict(hall), tickets=dict(queue))
        changed_tickets = {r.id for _, _, r in batch if isinstance(r, Ticket)}
        changed_cases = {r.id for _, _, r in batch if isinstance(r, Case)}
        clusters.update(snapshot, changed_tickets, changed_cases, ctx)
        expected = list(tickets_without_case(snapshot, ctx))
        assert _sorted(clusters.findings(snapshot, ctx)) == _sorted(expected), at
