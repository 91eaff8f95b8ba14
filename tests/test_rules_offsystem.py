"""Scenario tests of the off-system family (体外循环), with hand-checked times and dates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import (
    Case,
    CaseResult,
    Evaluation,
    Finding,
    Item,
    ItemKind,
    Payment,
    Severity,
    Snapshot,
    Ticket,
    TicketStatus,
)
from rules import FAMILIES, evaluate_all, offsystem
from rules.context import RuleContext
from rules.parameters import RuleParameters
from tests.hall_time import POLICY, cal, eod, t

KEY_A = "ak_applicant_a_0123456789abcdef"
KEY_B = "ak_applicant_b_fedcba9876543210"
PAYER = "ak_payer_key_55aa55aa55aa55aa"

TICKET = "offsystem.ticket_without_case"
PAYMENT = "offsystem.payment_without_case"
BACKFILL = "offsystem.backfilled_case"
DOUBLE = "offsystem.double_acceptance"

# 2026 around here (official schedule): Sun Sep 20 and Sat Oct 10 are make-up working
# days; Fri Sep 25 and Oct 1-7 are off.


def item(code: str = "I1", kind: ItemKind = ItemKind.PROMISED, department: str = "D1") -> Item:
    promised = 0 if kind is ItemKind.IMMEDIATE else 10
    return Item(
        code=code,
        department=department,
        kind=kind,
        statutory_limit_days=20,
        promised_limit_days=promised,
    )


ITEMS = {i.code: i for i in (item("I1"), item("I2"), item("IM", ItemKind.IMMEDIATE))}


def case(
    case_id: str,
    accepted: dt.datetime,
    *,
    item_code: str = "I1",
    window: str | None = "W07",
    department: str | None = "D1",
    applicant: str | None = None,
    recorded: dt.datetime | None = None,
    concluded: dt.datetime | None = None,
    result: CaseResult | None = None,
    reference: str | None = None,
) -> Case:
    if concluded is not None and result is None:
        result = CaseResult.APPROVED
    return Case(
        id=case_id,
        item=item_code,
        center="CTR",
        department=department,
        window=window,
        applicant_key=applicant,
        accepted_at=accepted,
        recorded_at=recorded,
        concluded_at=concluded,
        result=result,
        payment_reference=reference,
    )


def ticket(
    ticket_id: str = "T1",
    called: dt.datetime | None = None,
    finished: dt.datetime | None = None,
    *,
    window: str | None = "W07",
    department: str | None = "D1",
    applicant: str | None = None,
    service: str | None = "I1",
    status: TicketStatus = TicketStatus.SERVED,
    consultation: bool = False,
) -> Ticket:
    called = called or t(2026, 10, 9, 10, 0)
    finished = finished or called + dt.timedelta(minutes=10)
    return Ticket(
        id=ticket_id,
        number="A012",
        center="CTR",
        department=department,
        window=window,
        service=service,
        applicant_key=applicant,
        issued_at=called - dt.timedelta(minutes=20),
        called_at=called,
        finished_at=finished,
        status=status,
        consultation=consultation,
    )


def payment(
    payment_id: str = "P1",
    *,
    account: str = "6222 0001",
    amount_fen: int = 8000,
    paid: dt.datetime | None = None,
    reference: str | None = "REF1",
    case_id: str | None = None,
    center: str | None = "CTR",
) -> Payment:
    return Payment(
        id=payment_id,
        account=account,
        amount_fen=amount_fen,
        paid_at=paid or t(2026, 10, 9, 11, 0),
        reference=reference,
        payer_key=PAYER,
        case_id=case_id,
        center=center,
    )


def params(**offsystem_section: Any) -> RuleParameters:
    return RuleParameters.model_validate({"offsystem": offsystem_section})


ACCOUNTS = RuleParameters.model_validate(
    {"fees": {"designated_accounts": {"CTR": ["6222 0001"], "CTR2": ["6222 0002"]}}}
)


def run(
    at: dt.datetime,
    *,
    cases: Iterable[Case] = (),
    tickets: Iterable[Ticket] = (),
    payments: Iterable[Payment] = (),
    parameters: RuleParameters | None = None,
) -> list[Finding]:
    snapshot = Snapshot(
        items=ITEMS,
        cases={c.id: c for c in cases},
        tickets={x.id: x for x in tickets},
        payments={p.id: p for p in payments},
    )
    ctx = RuleContext(cal(), POLICY, at, parameters or RuleParameters())
    findings = offsystem.evaluate(snapshot, ctx)
    for f in findings:
        assert f.rule in (TICKET, PAYMENT, BACKFILL, DOUBLE)
        assert f.severity == (Severity.YELLOW if f.rule == BACKFILL else Severity.RED)
        assert f.calendar_version == cal().version
        dumped = f.model_dump_json()
        for secret in (KEY_A, KEY_B, PAYER):
            assert secret not in dumped
        assert "applicant_key" not in f.evidence and "payer_key" not in f.evidence
        if f.due_at is not None:
            assert f.due_at.utcoffset() == dt.timedelta(hours=8)
    # Each subject at most once per rule: one finding per fingerprint.
    assert len({f.fingerprint for f in findings}) == len(findings)
    return findings


def of(findings: list[Finding], rule: str) -> list[Finding]:
    return sorted((f for f in findings if f.rule == rule), key=lambda f: f.subject_id)


def ids(findings: list[Finding], rule: str) -> list[str]:
    return [f.subject_id for f in of(findings, rule)]


# -- offsystem.ticket_without_case -------------------------------------------------------
# Ticket T1: called Fri 2026-10-09 10:00 at W07 (D1), finished 10:10; default grace 30
# minutes, so a case must be accepted in [10:00, 10:40:00] and the ticket is judged from
# 10:40:01.


def test_ticket_grace_edge_exactly_at_and_one_second_after() -> None:
    assert run(t(2026, 10, 9, 10, 40, 0), tickets=[ticket()]) == []
    findings = run(t(2026, 10, 9, 10, 40, 1), tickets=[ticket()])
    [f] = of(findings, TICKET)
    assert f.subject_kind == "ticket"
    assert f.subject_id == "T1"
    assert f.case_id is None
    assert (f.center, f.department, f.window, f.item) == ("CTR", "D1", "W07", "I1")
    assert f.due_at == t(2026, 10, 9, 10, 40)
    assert f.calendar_confirmed is True
    assert f.evidence == {
        "ticket_number": "A012",
        "service": "I1",
        "called_at": "2026-10-09T10:00:00+08:00",
        "finished_at": "2026-10-09T10:10:00+08:00",
        "grace_minutes": 30,
        "searched": "window",
        "applicant_matched": False,
    }


def test_ticket_item_only_when_service_is_a_catalogued_item() -> None:
    [f] = run(t(2026, 10, 9, 12), tickets=[ticket(service="KIOSK-7")])
    assert f.item is None
    assert f.evidence["service"] == "KIOSK-7"


@pytest.mark.parametrize(
    ("accepted", "covered"),
    [
        (t(2026, 10, 9, 9, 59, 59), False),  # before the call: another applicant's case
        (t(2026, 10, 9, 10, 0, 0), True),  # at the call
        (t(2026, 10, 9, 10, 5), True),
        (t(2026, 10, 9, 10, 40, 0), True),  # the last second of the grace
        (t(2026, 10, 9, 10, 40, 1), False),
    ],
)
def test_ticket_covered_by_case_accepted_within_call_and_grace(
    accepted: dt.datetime, covered: bool
) -> None:
    findings = run(t(2026, 10, 9, 12), tickets=[ticket()], cases=[case("C1", accepted)])
    assert ids(findings, TICKET) == ([] if covered else ["T1"])


def test_ticket_case_at_another_window_does_not_cover() -> None:
    other_window = case("C1", t(2026, 10, 9, 10, 5), window="W08")
    assert ids(run(t(2026, 10, 9, 12), tickets=[ticket()], cases=[other_window]), TICKET) == ["T1"]


def test_ticket_with_only_a_department_matches_any_window_of_it() -> None:
    tk = ticket(window=None)
    at = t(2026, 10, 9, 12)
    assert run(at, tickets=[tk], cases=[case("C1", t(2026, 10, 9, 10, 5), window="W99")]) == []
    other = case("C1", t(2026, 10, 9, 10, 5), window="W99", department="D2")
    [f] = run(at, tickets=[tk], cases=[other])
    assert f.evidence["searched"] == "department"
    assert f.window is None


def test_ticket_without_window_or_department_is_not_judged() -> None:
    assert run(t(2026, 10, 9, 12), tickets=[ticket(window=None, department=None)]) == []


def test_consultation_tickets_are_ignored() -> None:
    at = t(2026, 10, 9, 12)
    assert run(at, tickets=[ticket(consultation=True)]) == []
    p = params(consultation_services=["ZX01", "ZX02"])
    assert run(at, tickets=[ticket(service="ZX02")], parameters=p) == []
    # A service code that is not listed is a real service.
    assert ids(run(at, tickets=[ticket(service="ZX03")], parameters=p), TICKET) == ["T1"]
    # Without the configuration, the code means nothing.
    assert ids(run(at, tickets=[ticket(service="ZX02")]), TICKET) == ["T1"]


@pytest.mark.parametrize(
    "status",
    [TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.ABSENT, TicketStatus.CANCELLED],
)
def test_only_served_tickets_are_judged(status: TicketStatus) -> None:
    assert run(t(2026, 10, 9, 12), tickets=[ticket(status=status)]) == []


def test_ticket_finished_after_the_instant_does_not_exist_yet() -> None:
    late = ticket(called=t(2026, 10, 9, 11, 50), finished=t(2026, 10, 9, 12, 30))
    assert run(t(2026, 10, 9, 12), tickets=[late]) == []
    assert ids(run(t(2026, 10, 9, 13, 0, 1), tickets=[late]), TICKET) == ["T1"]


def test_ticket_applicant_key_matches_the_same_applicant_in_the_department() -> None:
    at = t(2026, 10, 9, 12)
    tk = ticket(applicant=KEY_A)
    # The department's back office (another window, same department) registered it.
    same_person = case("C1", t(2026, 10, 9, 10, 20), window="W12", applicant=KEY_A)
    findings = run(at, tickets=[tk], cases=[same_person])
    assert findings == []
    # A case of a different applicant at the very window does not cover the ticket.
    other_person = case("C2", t(2026, 10, 9, 10, 5), applicant=KEY_B)
    [f] = run(at, tickets=[tk], cases=[other_person])
    assert f.evidence["applicant_matched"] is True
    # A case without an applicant key at the window does (window and time matching).
    assert run(at, tickets=[tk], cases=[case("C3", t(2026, 10, 9, 10, 5))]) == []
    # The same applicant in another department does not.
    elsewhere = case("C4", t(2026, 10, 9, 10, 20), window="W30", department="D9", applicant=KEY_A)
    assert ids(run(at, tickets=[tk], cases=[elsewhere]), TICKET) == ["T1"]


def test_ticket_without_applicant_key_matches_any_case_at_the_window() -> None:
    keyed_case = case("C1", t(2026, 10, 9, 10, 5), applicant=KEY_B)
    assert run(t(2026, 10, 9, 12), tickets=[ticket()], cases=[keyed_case]) == []


def test_one_case_covers_one_ticket() -> None:
    t1 = ticket("T1", t(2026, 10, 9, 10, 0), t(2026, 10, 9, 10, 10))  # due 10:40
    t2 = ticket("T2", t(2026, 10, 9, 10, 12), t(2026, 10, 9, 10, 20))  # due 10:50
    one = [case("C1", t(2026, 10, 9, 10, 15))]
    # Greedy by deadline: T1 (due first) takes C1; T2 has nothing left.
    assert ids(run(t(2026, 10, 9, 12), tickets=[t1, t2], cases=one), TICKET) == ["T2"]
    two = [*one, case("C2", t(2026, 10, 9, 10, 16))]
    assert run(t(2026, 10, 9, 12), tickets=[t1, t2], cases=two) == []


def test_greedy_takes_the_earliest_free_case() -> None:
    # T1 [10:00, 10:40], T2 [10:30, 11:05]; cases at 10:32 and 10:50. T1 takes 10:32
    # (the earliest in its range), leaving 10:50 for T2: both covered.
    t1 = ticket("T1", t(2026, 10, 9, 10, 0), t(2026, 10, 9, 10, 10))
    t2 = ticket("T2", t(2026, 10, 9, 10, 30), t(2026, 10, 9, 10, 35))
    cases = [case("C1", t(2026, 10, 9, 10, 32)), case("C2", t(2026, 10, 9, 10, 50))]
    assert run(t(2026, 10, 9, 12), tickets=[t1, t2], cases=cases) == []


def test_applicant_match_comes_before_window_match() -> None:
    # Keyless T1 is due first, but the one case belongs to T2's applicant: T2 keeps it,
    # and T1 is the ticket without a case.
    t1 = ticket("T1", t(2026, 10, 9, 10, 0), t(2026, 10, 9, 10, 10))
    t2 = ticket("T2", t(2026, 10, 9, 10, 5), t(2026, 10, 9, 10, 20), applicant=KEY_A)
    cases = [case("C1", t(2026, 10, 9, 10, 15), applicant=KEY_A)]
    assert ids(run(t(2026, 10, 9, 12), tickets=[t1, t2], cases=cases), TICKET) == ["T1"]


def test_a_later_ticket_never_steals_an_earlier_tickets_case() -> None:
    # The answer for T1 must not change when later tickets arrive.
    t1 = ticket("T1", t(2026, 10, 9, 10, 0), t(2026, 10, 9, 10, 10))
    cases = [case("C1", t(2026, 10, 9, 10, 15))]
    later = [ticket(f"T{n}", t(2026, 10, 9, 10, 12), t(2026, 10, 9, 10, 14)) for n in (2, 3)]
    at = t(2026, 10, 9, 12)
    assert run(at, tickets=[t1], cases=cases) == []
    assert "T1" not in ids(run(at, tickets=[t1, *later], cases=cases), TICKET)


def test_ticket_case_typed_in_after_the_instant_does_not_cover_yet() -> None:
    backfilled = case("C1", t(2026, 10, 9, 10, 5), recorded=t(2026, 10, 12, 9))
    assert ids(run(t(2026, 10, 9, 12), tickets=[ticket()], cases=[backfilled]), TICKET) == ["T1"]
    # Once it is typed in it covers the ticket (the backfill is reported instead).
    findings = run(t(2026, 10, 12, 10), tickets=[ticket()], cases=[backfilled])
    assert ids(findings, TICKET) == []
    assert ids(findings, BACKFILL) == ["C1"]


def test_ticket_grace_department_and_item_overrides() -> None:
    p = params(
        overrides={
            "departments": {"D1": {"ticket_grace_minutes": 60}},
            "items": {"I2": {"ticket_grace_minutes": 10}},
        }
    )
    tk = ticket()  # service I1, department D1 -> 60 minutes: due 11:10
    assert run(t(2026, 10, 9, 11, 10), tickets=[tk], parameters=p) == []
    [f] = run(t(2026, 10, 9, 11, 10, 1), tickets=[tk], parameters=p)
    assert f.due_at == t(2026, 10, 9, 11, 10)
    assert f.evidence["grace_minutes"] == 60
    # A case at 10:55 is within the department's grace.
    in_grace = case("C1", t(2026, 10, 9, 10, 55))
    assert run(t(2026, 10, 9, 12), tickets=[tk], cases=[in_grace], parameters=p) == []
    # The item's 10 minutes win over the department's 60: due 10:20.
    [f] = run(t(2026, 10, 9, 10, 20, 1), tickets=[ticket(service="I2")], parameters=p)
    assert f.evidence["grace_minutes"] == 10
    # Another department keeps the global 30 minutes.
    [f] = run(t(2026, 10, 9, 10, 40, 1), tickets=[ticket(department="D2")], parameters=p)
    assert f.evidence["grace_minutes"] == 30
    # A global setting of 0: due at the end of the service itself.
    [f] = run(t(2026, 10, 9, 10, 10, 1), tickets=[tk], parameters=params(ticket_grace_minutes=0))
    assert f.due_at == t(2026, 10, 9, 10, 10)


def test_ticket_searches_in_bulk_resolve_each_service_and_departments_grace() -> None:
    """One bulk call over tickets of several (service, department) pairs: each ticket
    gets its own pair's grace (resolved once per pair), as ticket_search alone gives."""
    p = params(
        overrides={
            "departments": {"D1": {"ticket_grace_minutes": 60}},
            "items": {"I2": {"ticket_grace_minutes": 10}},
        }
    )
    ctx = RuleContext(cal(), POLICY, t(2026, 10, 10), p)
    tickets = [
        ticket("T1"),  # I1 in D1: 60
        ticket("T2", service="I2"),  # the item's 10
        ticket("T3", department="D2"),  # the global 30
        ticket("T4"),  # I1 in D1 again: 60
        ticket("T5", service="I2", department="D2"),  # 10
        ticket("T6", consultation=True),  # expects no case
    ]
    consultation: frozenset[str] = frozenset()
    searches = list(offsystem.ticket_searches(tickets, ctx, consultation))
    assert [(s.ticket.id, s.grace) for s in searches] == [
        ("T1", dt.timedelta(minutes=60)),
        ("T2", dt.timedelta(minutes=10)),
        ("T3", dt.timedelta(minutes=30)),
        ("T4", dt.timedelta(minutes=60)),
        ("T5", dt.timedelta(minutes=10)),
    ]
    singles = [offsystem.ticket_search(x, ctx, consultation) for x in tickets]
    assert searches == [s for s in singles if s is not None]


def test_ticket_searches_share_one_place_per_window_or_department() -> None:
    """A province serves millions of tickets at a few thousand windows: each search's
    place is the window's (or department's) one tuple, of the same value as before."""
    ctx = RuleContext(cal(), POLICY, t(2026, 10, 10), params())
    tickets = [
        ticket("T1"),
        ticket("T2", applicant="K1"),
        ticket("T3", window="W08"),
        ticket("T4", window=None, applicant="K2"),
        ticket("T5", window=None),
    ]
    s1, s2, s3, s4, s5 = offsystem.ticket_searches(tickets, ctx, frozenset())
    assert s1.place == ("window", "W07") and s1.place is s2.place
    assert s3.place == ("window", "W08")
    assert s4.place == ("department", "D1") and s4.place is s5.place
    assert s2.applicant_place == ("applicant", "K1", "department", "D1")
    assert s4.applicant_place == ("applicant", "K2", "department", "D1")
    keyed_at_window = offsystem.ticket_search(
        ticket("T6", department=None, applicant="K3"), ctx, frozenset()
    )
    assert keyed_at_window is not None
    assert keyed_at_window.applicant_place == ("applicant", "K3", "window", "W07")


def _max_matching(tickets: list[tuple[int, int]], cases: list[int]) -> int:
    """Maximum number of tickets covered, by augmenting paths (the brute-force truth)."""
    owner: dict[int, int] = {}

    def assign(ti: int, seen: set[int]) -> bool:
        start, end = tickets[ti]
        for ci, minute in enumerate(cases):
            if start <= minute <= end and ci not in seen:
                seen.add(ci)
                if ci not in owner or assign(owner[ci], seen):
                    owner[ci] = ti
                    return True
        return False

    return sum(assign(ti, set()) for ti in range(len(tickets)))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 120), st.integers(0, 40)), max_size=9),
    st.lists(st.integers(0, 200), max_size=9),
)
def test_greedy_covers_as_many_tickets_as_possible(
    spans: list[tuple[int, int]], case_minutes: list[int]
) -> None:
    """Tickets at one window (no applicant keys): as many covered as any matching could."""
    base = t(2026, 10, 9, 8, 0)
    tickets = [
        ticket(
            f"T{n}",
            base + dt.timedelta(minutes=start),
            base + dt.timedelta(minutes=start + length),
        )
        for n, (start, length) in enumerate(spans)
    ]
    cases = [case(f"C{n}", base + dt.timedelta(minutes=m)) for n, m in enumerate(case_minutes)]
    findings = run(t(2026, 10, 9, 20), tickets=tickets, cases=cases)
    intervals = [(start, start + length + 30) for start, length in spans]
    assert len(spans) - len(findings) == _max_matching(intervals, case_minutes)


def test_ticket_matching_at_scale() -> None:
    # 3000 tickets 10 s apart at one window, each case 5 s into its ticket. Every case
    # lies in the grace of the 180 tickets before it too; greedy matching still gives
    # each ticket its own case, and with the last 10 cases missing, the last 10 tickets
    # are the ones without a case.
    base = t(2026, 10, 9, 8, 0)
    tickets = [
        ticket(
            f"T{n:04}", base + dt.timedelta(seconds=10 * n), base + dt.timedelta(seconds=10 * n + 8)
        )
        for n in range(3000)
    ]
    cases = [case(f"C{n:04}", base + dt.timedelta(seconds=10 * n + 5)) for n in range(3000)]
    assert run(t(2026, 10, 10, 8), tickets=tickets, cases=cases) == []
    findings = run(t(2026, 10, 10, 8), tickets=tickets, cases=cases[:2990])
    assert ids(findings, TICKET) == [f"T{n:04}" for n in range(2990, 3000)]


# -- offsystem.payment_without_case ------------------------------------------------------
# P1: 80.00 yuan into CTR's designated account 6222 0001, Fri 2026-10-09 11:00. Grace 3
# working days: Sat Oct 10 (make-up) = 1, Mon Oct 12 = 2, Tue Oct 13 = 3 -> judged from
# Wed Oct 14 00:00:00.


def test_payment_grace_edge_crossing_a_make_up_day() -> None:
    assert run(eod(2026, 10, 13), payments=[payment()], parameters=ACCOUNTS) == []
    findings = run(t(2026, 10, 14), payments=[payment()], parameters=ACCOUNTS)
    [f] = of(findings, PAYMENT)
    assert (f.subject_kind, f.subject_id, f.center) == ("payment", "P1", "CTR")
    assert (f.case_id, f.department, f.window, f.item) == (None, None, None, None)
    assert f.due_at == eod(2026, 10, 13)
    assert f.evidence == {
        "account": "6222 0001",
        "amount_fen": 8000,
        "amount_yuan": "80.00",
        "paid_at": "2026-10-09T11:00:00+08:00",
        "reference": "REF1",
        "linked_case_id": None,
        "grace_working_days": 3,
    }


def test_payment_with_a_case_behind_it() -> None:
    at = t(2026, 10, 20)
    by_reference = case("C1", t(2026, 10, 9, 10), reference="REF1")
    assert run(at, payments=[payment()], cases=[by_reference]) == []
    linked = payment(reference=None, case_id="C1")
    assert run(at, payments=[linked], cases=[case("C1", t(2026, 10, 9, 10))]) == []
    # A reference of no case and a case id nobody knows: no case behind it.
    stray = payment(reference="REF-X", case_id="C404")
    [f] = run(at, payments=[stray], cases=[by_reference])
    assert f.evidence["linked_case_id"] == "C404"
    # A case that is not known yet at the instant (typed in later) is not behind it.
    later = case("C1", t(2026, 10, 9, 10), reference="REF1", recorded=t(2026, 10, 21))
    assert ids(run(at, payments=[payment()], cases=[later]), PAYMENT) == ["P1"]


@pytest.mark.parametrize("amount", [0, -8000])
def test_refunds_and_zero_lines_are_not_deposits(amount: int) -> None:
    assert run(t(2026, 10, 20), payments=[payment(amount_fen=amount)]) == []


def test_payment_outside_the_designated_accounts_is_not_this_rules_business() -> None:
    p = payment(account="9999 8888")
    assert run(t(2026, 10, 20), payments=[p], parameters=ACCOUNTS) == []
    # Another center's designated account is not this center's either.
    elsewhere = payment(account="6222 0002")
    assert run(t(2026, 10, 20), payments=[elsewhere], parameters=ACCOUNTS) == []
    # Without any configured accounts, the polled statements are the designated accounts.
    assert ids(run(t(2026, 10, 20), payments=[p]), PAYMENT) == ["P1"]


def test_payment_center_derived_from_the_account() -> None:
    p = payment(center=None, account="62220001")  # spaces do not matter
    [f] = run(t(2026, 10, 20), payments=[p], parameters=ACCOUNTS)
    assert f.center == "CTR"
    star = RuleParameters.model_validate({"fees": {"designated_accounts": {"*": ["7777"]}}})
    [f] = run(t(2026, 10, 20), payments=[payment(center="CTR9", account="7777")], parameters=star)
    assert f.center == "CTR9"


def test_payment_made_after_the_instant_does_not_exist_yet() -> None:
    assert run(t(2026, 10, 9, 10), payments=[payment()]) == []


def test_payment_grace_is_configurable() -> None:
    p = params(payment_grace_working_days=0)
    assert run(eod(2026, 10, 9), payments=[payment()], parameters=p) == []
    [f] = run(t(2026, 10, 10), payments=[payment()], parameters=p)
    assert f.due_at == eod(2026, 10, 9)
    assert f.evidence["grace_working_days"] == 0


# -- offsystem.backfilled_case -----------------------------------------------------------


ACCEPTED = t(2026, 9, 28, 10, 0)


@pytest.mark.parametrize(
    ("recorded", "late"),
    [
        (t(2026, 9, 28, 10, 1), False),
        (t(2026, 9, 29, 10, 0, 0), False),  # exactly 24 h
        (t(2026, 9, 29, 10, 0, 1), True),
        (t(2026, 10, 9, 9, 0), True),
    ],
)
def test_late_entry_threshold_edge(recorded: dt.datetime, late: bool) -> None:
    findings = run(t(2026, 10, 9, 12), cases=[case("C1", ACCEPTED, recorded=recorded)])
    if not late:
        assert findings == []
        return
    [f] = findings
    assert (f.rule, f.subject_kind, f.subject_id, f.case_id) == (BACKFILL, "case", "C1", "C1")
    assert (f.center, f.department, f.window, f.item) == ("CTR", "D1", "W07", "I1")
    assert f.due_at == t(2026, 9, 29, 10, 0)
    assert f.evidence["patterns"] == ["late_entry"]
    assert f.evidence["entry_delay_seconds"] == int((recorded - ACCEPTED).total_seconds())
    assert f.evidence["backfill_threshold_hours"] == 24
    assert f.evidence["accepted_at"] == "2026-09-28T10:00:00+08:00"
    assert f.evidence["recorded_at"] == recorded.isoformat()


def test_backfilled_case_not_known_before_it_is_typed_in() -> None:
    c = case("C1", ACCEPTED, recorded=t(2026, 10, 9, 9))
    assert run(t(2026, 10, 9, 8), cases=[c]) == []
    assert ids(run(t(2026, 10, 9, 9), cases=[c]), BACKFILL) == ["C1"]


def test_case_without_recorded_at_is_never_backfilled() -> None:
    assert run(t(2026, 10, 9, 12), cases=[case("C1", ACCEPTED)]) == []


def test_backfill_threshold_item_and_department_overrides() -> None:
    recorded = t(2026, 9, 30, 9, 0)  # 47 h after acceptance
    p = params(
        overrides={
            "departments": {"D1": {"backfill_hours": 48}},
            "items": {"I2": {"backfill_hours": 12}},
        }
    )
    at = t(2026, 10, 9, 12)
    assert run(at, cases=[case("C1", ACCEPTED, recorded=recorded)], parameters=p) == []
    other_department = case("C2", ACCEPTED, recorded=recorded, department="D2")
    assert ids(run(at, cases=[other_department], parameters=p), BACKFILL) == ["C2"]
    # The item's 12 h beat the department's 48 h: 13 h late is backfilled.
    strict = case("C3", ACCEPTED, recorded=t(2026, 9, 28, 23), item_code="I2")
    [f] = run(at, cases=[strict], parameters=p)
    assert f.evidence["backfill_threshold_hours"] == 12


@pytest.mark.parametrize(
    ("item_code", "took", "result", "instant"),
    [
        ("I1", dt.timedelta(0), CaseResult.APPROVED, True),
        ("I1", dt.timedelta(seconds=59), CaseResult.APPROVED, True),
        ("I1", dt.timedelta(seconds=60), CaseResult.APPROVED, False),
        ("I1", dt.timedelta(seconds=30), CaseResult.DENIED, True),  # a decision all the same
        ("I1", dt.timedelta(seconds=30), CaseResult.REFUSED, False),  # 不予受理 on the spot
        ("I1", dt.timedelta(seconds=30), CaseResult.VOID, False),  # a typo voided
        ("IM", dt.timedelta(0), CaseResult.APPROVED, False),  # immediate items do that
    ],
)
def test_instant_conclusion_of_a_promised_item(
    item_code: str, took: dt.timedelta, result: CaseResult, instant: bool
) -> None:
    c = case(
        "C1",
        ACCEPTED,
        item_code=item_code,
        recorded=ACCEPTED,
        concluded=ACCEPTED + took,
        result=result,
    )
    findings = run(t(2026, 10, 9, 12), cases=[c])
    assert ids(findings, BACKFILL) == (["C1"] if instant else [])
    if instant:
        [f] = findings
        assert f.evidence["patterns"] == ["instant_conclusion"]
        assert f.evidence["conclusion_seconds"] == int(took.total_seconds())
        assert f.evidence["instant_conclusion_seconds"] == 60
        assert f.due_at is None


def test_instant_conclusion_after_the_instant_is_not_seen() -> None:
    c = case("C1", t(2026, 10, 9, 10), concluded=t(2026, 10, 9, 10, 0, 20))
    assert run(t(2026, 10, 9, 10, 0, 10), cases=[c]) == []
    assert ids(run(t(2026, 10, 9, 10, 0, 20), cases=[c]), BACKFILL) == ["C1"]


def test_instant_conclusion_can_be_switched_off_per_department() -> None:
    c = case("C1", ACCEPTED, concluded=ACCEPTED)
    p = params(overrides={"departments": {"D1": {"instant_conclusion_seconds": 0}}})
    assert run(t(2026, 10, 9, 12), cases=[c], parameters=p) == []


def test_several_patterns_make_one_finding() -> None:
    c = case("C1", ACCEPTED, recorded=t(2026, 10, 9, 9), concluded=ACCEPTED)
    [f] = run(t(2026, 10, 9, 12), cases=[c])
    assert f.evidence["patterns"] == ["late_entry", "instant_conclusion"]
    assert f.due_at == t(2026, 9, 29, 10)


def _burst(
    minutes: list[int], days: list[int], *, window: str = "W07", start: int = 0
) -> list[Case]:
    """Cases typed in on Fri Oct 9 from 16:00 + minute, accepted on Oct <day> 09:00."""
    return [
        case(
            f"B{start + n}",
            t(2026, 10, day, 9, 0),
            window=window,
            recorded=t(2026, 10, 9, 16, 0) + dt.timedelta(minutes=minute),
        )
        for n, (minute, day) in enumerate(zip(minutes, days, strict=True))
    ]


# The late_entry pattern is set aside (1000 h) to look at bursts alone.
NO_LATE = params(backfill_hours=1000)


def test_burst_of_backdated_cases() -> None:
    cases = _burst([0, 2, 4, 6, 8], [8, 8, 9, 8, 8])  # Oct 9 is the recording day itself
    # Oct 9 09:00 is not backdated (same day): only 4 backdated cases, no burst.
    assert run(t(2026, 10, 9, 17), cases=cases, parameters=NO_LATE) == []
    cases = _burst([0, 2, 4, 6, 8], [8, 8, 7, 8, 8])
    findings = run(t(2026, 10, 9, 17), cases=cases, parameters=NO_LATE)
    assert ids(findings, BACKFILL) == ["B0", "B1", "B2", "B3", "B4"]
    for f in findings:
        assert f.evidence["patterns"] == ["burst"]
        assert f.evidence["burst_cases"] == 5
        assert f.evidence["burst_acceptance_days"] == 2
        assert f.evidence["burst_recorded_from"] == "2026-10-09T16:00:00+08:00"
        assert f.evidence["burst_recorded_to"] == "2026-10-09T16:08:00+08:00"
        assert f.due_at is None


@pytest.mark.parametrize(
    ("minutes", "days", "burst"),
    [
        ([0, 1, 2, 3], [7, 8, 8, 8], False),  # only 4 cases
        ([0, 1, 2, 3, 4], [8, 8, 8, 8, 8], False),  # one acceptance day
        ([0, 3, 5, 8, 10], [7, 8, 8, 8, 8], True),  # exactly 10 minutes first to last
        ([0, 3, 5, 8, 11], [7, 8, 8, 8, 8], False),  # 11 minutes
    ],
)
def test_burst_boundaries(minutes: list[int], days: list[int], burst: bool) -> None:
    findings = run(t(2026, 10, 9, 17), cases=_burst(minutes, days), parameters=NO_LATE)
    assert len(of(findings, BACKFILL)) == (5 if burst else 0)


def test_burst_seconds_edge_of_the_span() -> None:
    cases = _burst([0, 3, 5, 8, 10], [7, 8, 8, 8, 8])
    last = cases[-1]
    one_second_more = last.model_copy(
        update={"recorded_at": t(2026, 10, 9, 16, 10, 1)}  # 10 min 1 s after the first
    )
    findings = run(t(2026, 10, 9, 17), cases=[*cases[:-1], one_second_more], parameters=NO_LATE)
    assert findings == []


def test_burst_is_per_window_and_merges_overlaps() -> None:
    split = _burst([0, 1, 2], [7, 8, 8]) + _burst([3, 4], [7, 8], window="W08", start=3)
    assert run(t(2026, 10, 9, 17), cases=split, parameters=NO_LATE) == []
    # Seven cases over 14 minutes: windows [0..8] and [6..14] overlap, one burst of 7.
    cases = _burst([0, 2, 4, 6, 8, 11, 14], [7, 8, 7, 8, 7, 8, 7])
    findings = run(t(2026, 10, 9, 17), cases=cases, parameters=NO_LATE)
    assert len(findings) == 7
    assert {f.evidence["burst_cases"] for f in findings} == {7}


def test_burst_parameters() -> None:
    cases = _burst([0, 1, 2], [7, 8, 8])
    p = params(backfill_hours=1000, burst_min_cases=3, burst_span_minutes=2, burst_min_days=2)
    assert len(run(t(2026, 10, 9, 17), cases=cases, parameters=p)) == 3
    p = params(backfill_hours=1000, burst_min_cases=3, burst_min_days=3)
    assert run(t(2026, 10, 9, 17), cases=cases, parameters=p) == []


def test_burst_with_default_parameters_also_late_entries_one_finding_each() -> None:
    cases = _burst([0, 2, 4, 6, 8], [8, 8, 7, 8, 8])
    findings = run(t(2026, 10, 9, 17), cases=cases)
    assert len(findings) == 5
    for f in findings:
        assert f.evidence["patterns"] == ["late_entry", "burst"]


# -- offsystem.double_acceptance ---------------------------------------------------------
# A: accepted Mon Sep 28 10:00 at window W07; B: the same applicant and item accepted
# Tue Sep 29 10:00 at the department's own window W12.


def _pair(
    first_concluded: dt.datetime | None = None,
    first_result: CaseResult | None = None,
    **second: Any,
) -> list[Case]:
    first = case(
        "A",
        t(2026, 9, 28, 10),
        applicant=KEY_A,
        concluded=first_concluded,
        result=first_result,
    )
    options: dict[str, Any] = {"window": "W12", "applicant": KEY_A} | second
    return [first, case("B", t(2026, 9, 29, 10), **options)]


def test_double_acceptance_while_first_is_open() -> None:
    [f] = run(t(2026, 10, 9, 12), cases=_pair())
    assert (f.rule, f.subject_id, f.case_id, f.window) == (DOUBLE, "B", "B", "W12")
    assert f.due_at is None
    assert f.evidence == {
        "accepted_at": "2026-09-29T10:00:00+08:00",
        "first_case_id": "A",
        "first_accepted_at": "2026-09-28T10:00:00+08:00",
        "first_window": "W07",
        "first_department": "D1",
        "first_concluded_at": None,
        "same_window": False,
        "open_cases": 1,
    }


@pytest.mark.parametrize(
    ("concluded", "double"),
    [
        (t(2026, 9, 29, 9, 0), False),  # concluded before the second acceptance
        (t(2026, 9, 29, 10, 0), False),  # at the same instant: no longer open
        (t(2026, 9, 29, 11, 0), True),  # concluded after it
    ],
)
def test_double_acceptance_first_concluded_before_or_after(
    concluded: dt.datetime, double: bool
) -> None:
    findings = run(t(2026, 10, 9, 12), cases=_pair(concluded))
    assert ids(findings, DOUBLE) == (["B"] if double else [])
    if double:
        assert findings[0].evidence["first_concluded_at"] == "2026-09-29T11:00:00+08:00"


def test_double_acceptance_first_conclusion_after_the_instant_is_unknown() -> None:
    [f] = run(t(2026, 10, 9, 12), cases=_pair(t(2026, 10, 12, 9)))
    assert f.evidence["first_concluded_at"] is None


@pytest.mark.parametrize(
    ("result", "counts"),
    [
        (CaseResult.VOID, False),  # the duplicate deleted: never an acceptance
        (CaseResult.REFUSED, False),  # 不予受理: not accepted
        (CaseResult.WITHDRAWN, True),  # a real acceptance, withdrawn later
        (CaseResult.RETURNED, True),
    ],
)
def test_double_acceptance_ignores_voided_and_refused_first_cases(
    result: CaseResult, counts: bool
) -> None:
    findings = run(t(2026, 10, 9, 12), cases=_pair(t(2026, 10, 8, 9), result))
    assert ids(findings, DOUBLE) == (["B"] if counts else [])
    # Voided only after the instant: at the instant it was a live duplicate.
    late_void = _pair(t(2026, 10, 12, 9), result)
    assert ids(run(t(2026, 10, 9, 12), cases=late_void), DOUBLE) == ["B"]


def test_double_acceptance_voided_second_case_is_ignored() -> None:
    cases = _pair(concluded=t(2026, 9, 29, 10, 30), result=CaseResult.VOID)
    assert run(t(2026, 10, 9, 12), cases=cases) == []


@pytest.mark.parametrize(
    "second",
    [
        {"applicant": KEY_B},
        {"item_code": "I2"},
        {"applicant": None},
    ],
)
def test_double_acceptance_needs_same_applicant_and_item(second: dict[str, Any]) -> None:
    assert run(t(2026, 10, 9, 12), cases=_pair(**second)) == []


def test_double_acceptance_same_window_and_three_cases() -> None:
    cases = [*_pair(window="W07"), case("C", t(2026, 9, 30, 10), applicant=KEY_A)]
    findings = run(t(2026, 10, 9, 12), cases=cases)
    assert ids(findings, DOUBLE) == ["B", "C"]
    b, c = of(findings, DOUBLE)
    assert b.evidence["same_window"] is True
    assert (c.evidence["first_case_id"], c.evidence["open_cases"]) == ("A", 2)


def test_double_acceptance_second_not_yet_accepted() -> None:
    assert run(t(2026, 9, 29, 9), cases=_pair()) == []


def test_double_acceptance_can_be_switched_off_per_item_or_department() -> None:
    off_item = params(overrides={"items": {"I1": {"double_acceptance": False}}})
    assert run(t(2026, 10, 9, 12), cases=_pair(), parameters=off_item) == []
    off_dept = params(overrides={"departments": {"D1": {"double_acceptance": False}}})
    assert run(t(2026, 10, 9, 12), cases=_pair(), parameters=off_dept) == []
    on_item = params(
        double_acceptance=False, overrides={"items": {"I1": {"double_acceptance": True}}}
    )
    assert ids(run(t(2026, 10, 9, 12), cases=_pair(), parameters=on_item), DOUBLE) == ["B"]


# -- registration --------------------------------------------------------------------------


def test_family_registered() -> None:
    assert FAMILIES["offsystem"] is offsystem.evaluate
    assert list(FAMILIES) == ["overdue", "offsystem", "fees", "evaluation"]


def test_evaluate_all_runs_every_family_in_a_stable_order() -> None:
    # At Wed Oct 14 00:00: T1 served Oct 9 with no case; P9 paid Oct 9 with no case
    # (grace to Oct 13); F1 (an immediate item, concluded at once, so no card of the
    # overdue family) has 80.00 due and no deposit; R1 rated 5 on Mon Sep 14 (15 working
    # days: Sep 15-18 = 4, Sun Sep 20 (make-up) = 5, 21-24 = 9, 28-30 = 12, Oct 8, 9 = 14,
    # Sat Oct 10 (make-up) = 15 -> due Oct 10) was never followed up.
    fee_item = Item(
        code="IF",
        department="D1",
        kind=ItemKind.IMMEDIATE,
        statutory_limit_days=5,
        promised_limit_days=0,
        fee_standard_fen=8000,
    )
    f1 = Case(
        id="F1",
        item="IF",
        center="CTR",
        department="D1",
        window="W09",
        accepted_at=t(2026, 10, 9, 15),
        concluded_at=t(2026, 10, 9, 15, 30),
        result=CaseResult.APPROVED,
        fee_due_fen=8000,
        payment_reference="REF-F1",
    )
    rated = Evaluation(id="R1", center="CTR", rated_at=t(2026, 9, 14, 10), level=5)
    snapshot = Snapshot(
        items={**ITEMS, "IF": fee_item},
        cases={"F1": f1},
        tickets={"T1": ticket(window="W01")},
        payments={"P9": payment("P9", reference="REF-X")},
        evaluations={"R1": rated},
    )
    ctx = RuleContext(cal(), POLICY, t(2026, 10, 14), RuleParameters())
    findings = evaluate_all(snapshot, ctx)
    assert [(f.rule, f.subject_kind, f.subject_id) for f in findings] == [
        ("evaluation.bad_rating_unresolved", "evaluation", "R1"),
        ("fee.not_in_designated_account", "case", "F1"),
        (PAYMENT, "payment", "P9"),
        (TICKET, "ticket", "T1"),
    ]
    assert findings[0].due_at == eod(2026, 10, 10)
    assert findings[1].due_at == eod(2026, 10, 13)  # Oct 10 (make-up), 12, 13
