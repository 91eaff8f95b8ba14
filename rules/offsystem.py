"""Off-system handling (体外循环): work done outside the supervised approval system.

Basis: the 政务服务“一网通办” requirement that every application be accepted, handled
and concluded inside the approval system (全流程网上留痕; 国务院关于在线政务服务的若干规定,
国务院令第716号, art. 6 and 9), and the electronic supervision (电子监察) practice of
cross-checking the queue system, the bank statement and the approval system to catch
体外循环: a window serves an applicant but registers nothing (有号无件), money is paid
with no case behind it (有费无件), a case is typed in long after the fact (事后补录), or one
application is accepted twice, at the window and at the department (两头受理).

Pure functions: (snapshot, context) -> findings; the instant is ``ctx.at``. Everything
is judged **as of** that instant: a ticket finished, a payment made or a case typed in
(``recorded_at``, else its acceptance time) after it does not exist yet.

What is deliberately not judged: tickets that name neither a window nor a department
(they cannot be attributed), payments outside the designated accounts (they are the fee
family's business), and subjects whose working-day grace falls outside the calendar's
years (never guessed).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

from monitor.calendar import CalendarRangeError
from monitor.deadlines import clock_stopped_at
from monitor.model import (
    Case,
    CaseResult,
    Finding,
    Item,
    ItemKind,
    Payment,
    Severity,
    Snapshot,
    Ticket,
    TicketStatus,
)
from rules.common import (
    case_finding,
    case_known,
    end_of_working_days_after,
    finding,
    iso,
    past,
    yuan,
)
from rules.context import RuleContext
from rules.parameters import ByPlace, OffsystemPlace

TICKET_WITHOUT_CASE = "offsystem.ticket_without_case"
PAYMENT_WITHOUT_CASE = "offsystem.payment_without_case"
BACKFILLED_CASE = "offsystem.backfilled_case"
DOUBLE_ACCEPTANCE = "offsystem.double_acceptance"

# Results that mean the record never was a valid acceptance: a deleted/voided entry
# (作废/删除, typically the duplicate itself being cleaned up) or an application refused
# outright (不予受理). Withdrawn and returned cases were real acceptances and do count.
_NOT_AN_ACCEPTANCE = frozenset({CaseResult.VOID, CaseResult.REFUSED})

# -- offsystem.ticket_without_case -------------------------------------------------------

Scope = tuple[str, ...]
_CASE_ORDER = attrgetter("accepted_at", "id")  # the order of a scope's cases (_Slots)


class _Slots:
    """Cases of one scope sorted by acceptance time, each of which can cover one ticket.

    ``take`` finds the earliest case not yet used in a time range: a binary search,
    then a skip list of used entries (path-compressed), so a whole day of matching
    costs O((tickets + cases) log cases), never tickets × cases.
    """

    def __init__(self, cases: list[Case]) -> None:
        cases.sort(key=_CASE_ORDER)
        self._cases = cases
        self._times = [c.accepted_at for c in cases]
        self._next = list(range(len(cases) + 1))  # next index that may still be free

    def _find(self, index: int) -> int:
        root = index
        while self._next[root] != root:
            root = self._next[root]
        while self._next[index] != root:
            self._next[index], index = root, self._next[index]
        return root

    def take(self, start: dt.datetime, end: dt.datetime, used: set[str]) -> Case | None:
        index = self._find(bisect_left(self._times, start))
        while index < len(self._cases) and self._times[index] <= end:
            case = self._cases[index]
            self._next[index] = index + 1  # used now, or already used via another scope
            if case.id not in used:
                used.add(case.id)
                return case
            index = self._find(index + 1)
        return None

    def reset(self) -> None:
        """Every case free again (as made)."""
        self._next = list(range(len(self._cases) + 1))

    def append(self, case: Case, order: tuple[dt.datetime, str]) -> bool:
        """Add a case that sorts after every case here; False (nothing added) if it
        does not."""
        cases = self._cases
        if cases and order <= _CASE_ORDER(cases[-1]):
            return False
        # The end marker (free: its own next) becomes the new case's index, free.
        cases.append(case)
        self._times.append(case.accepted_at)
        self._next.append(len(cases))
        return True


class TicketSearch(NamedTuple):  # one per served ticket: immutable, cheap to make, no dict
    """What a served ticket needs to be covered by a case (:func:`ticket_search`)."""

    ticket: Ticket
    start: dt.datetime
    due_at: dt.datetime  # finished_at + grace: the case must be accepted by then
    grace: dt.timedelta
    place: Scope  # ("window", code) or ("department", code): where a case must be
    applicant_place: Scope | None  # where the same applicant's case must be, if keyed


def _is_consultation(ticket: Ticket, consultation_services: frozenset[str]) -> bool:
    return ticket.consultation or (
        ticket.service is not None and ticket.service in consultation_services
    )


@lru_cache(maxsize=4096)
def _place(kind: str, code: str) -> Scope:
    """A ticket's place, ``(kind, code)``: one tuple for each window or department, not
    one for each served ticket (two million of them in a province)."""
    return (kind, code)


def ticket_search(
    ticket: Ticket,
    ctx: RuleContext,
    consultation: frozenset[str],
    places: ByPlace[OffsystemPlace] | None = None,
) -> TicketSearch | None:
    """What a served ticket needs to be covered by a case, or None if it expects none.

    ``places``: ``ctx.parameters.offsystem.places``, for a caller that holds it (see
    :func:`ticket_searches`)."""
    if ticket.status is not TicketStatus.SERVED or _is_consultation(ticket, consultation):
        return None
    if ticket.called_at is None or ticket.finished_at is None or ticket.finished_at > ctx.at:
        return None
    if ticket.window is not None:
        place = _place("window", ticket.window)
    elif ticket.department is not None:
        place = _place("department", ticket.department)
    else:
        return None
    applicant_place: Scope | None = None
    if ticket.applicant_key is not None:
        # The same applicant's case counts anywhere in the window's department (the back
        # office may register it); without a department, at the window itself.
        if ticket.department is not None:
            applicant_place = ("applicant", ticket.applicant_key, "department", ticket.department)
        else:
            applicant_place = ("applicant", ticket.applicant_key, *place)
    if places is None:
        places = ctx.parameters.offsystem.places
    grace = places[(ticket.service, ticket.department)].ticket_grace
    return TicketSearch(
        ticket=ticket,
        start=min(ticket.called_at, ticket.finished_at),
        due_at=ticket.finished_at + grace,
        grace=grace,
        place=place,
        applicant_place=applicant_place,
    )


def ticket_searches(
    tickets: Iterable[Ticket], ctx: RuleContext, consultation: frozenset[str]
) -> Iterator[TicketSearch]:
    """:func:`ticket_search` of every ticket that expects a case."""
    places = ctx.parameters.offsystem.places
    for ticket in tickets:
        search = ticket_search(ticket, ctx, consultation, places)
        if search is not None:
            yield search


def search_scopes(s: TicketSearch) -> list[Scope]:
    """Every scope a ticket's search may take its case from: its place's scopes for
    tickets without a key and for keyed ones, then its applicant's own (if keyed)."""
    scopes: list[Scope] = [("any", *s.place), ("keyless", *s.place)]
    if s.applicant_place is not None:
        scopes.append(s.applicant_place)
    return scopes


def _case_scopes(case: Case) -> list[Scope]:
    """Every scope in which a case can cover a ticket.

    ("any", place) for tickets without an applicant key, ("keyless", place) for keyed
    tickets at the window, ("applicant", key, place) for the applicant's own tickets.
    """
    scopes: list[Scope] = []
    key = case.applicant_key
    for place in (("window", case.window), ("department", case.department)):
        if place[1] is None:
            continue
        scopes.append(("any", *place))
        if key is None:
            scopes.append(("keyless", *place))
        else:
            scopes.append(("applicant", key, *place))
    return scopes


def unmatched_tickets(
    tickets: Iterable[Ticket], cases: Iterable[Case], ctx: RuleContext
) -> list[TicketSearch]:
    """Served tickets that no case covers, whether or not their grace has passed yet.

    One case covers at most one ticket. Tickets are matched greedily in the order of
    their deadline (finished_at + grace), each taking the earliest free case accepted
    between its call and its deadline — the greedy order that covers the most tickets,
    and one in which a ticket's fate never depends on tickets finished after it. First
    every ticket with an applicant key looks for a case of the same applicant in its
    department; then the rest look at the window (or department): a keyed ticket only
    at cases without a key (a case of a *different* applicant never covers it), a
    ticket without a key at any case.
    """
    consultation = frozenset(ctx.parameters.offsystem.consultation_services)
    return unmatched_searches(ticket_searches(tickets, ctx, consultation), cases, ctx)


def unmatched_searches(
    searches: Iterable[TicketSearch], cases: Iterable[Case], ctx: RuleContext
) -> list[TicketSearch]:
    """:func:`unmatched_tickets` given the tickets' searches (:func:`ticket_search` at
    ``ctx``: served tickets finished by then that expect a case)."""
    return Matching(searches, cases, ctx).unmatched


_ORDER = attrgetter("due_at", "start", "ticket.id")  # the greedy order of the searches


class Matching:
    """The greedy matching of :func:`unmatched_tickets`, kept so that it can go on when
    tickets and cases are added (:meth:`extend`) instead of being done again whole.

    Tickets come in the order of their deadlines: a ticket that finished last, with the
    usual grace, comes after every ticket matched so far, and a case accepted last sits
    after every case of its scopes. The greedy matching of all of them is then the
    matching so far carried on with the new tickets, provided that no ticket matched
    so far would have taken a new case (none that found nothing searched that scope up
    to the case's acceptance). :meth:`extend` checks exactly that, and says False — the
    caller matches everything again — otherwise. (A new ticket of an applicant that
    wants, in the first pass, a case a ticket so far took in the second only makes the
    second pass be done again: see :meth:`_run`.)
    """

    def __init__(self, searches: Iterable[TicketSearch], cases: Iterable[Case], ctx: RuleContext):
        self.unmatched: list[TicketSearch] = []
        self._at = ctx.at
        self._last: tuple[dt.datetime, dt.datetime, str] | None = None  # last search's order
        self._slots: dict[Scope, _Slots] = {}  # by scope some search takes from
        self._grouped: dict[Scope, list[Case]] = defaultdict(list)  # no search's scope yet
        self._unknown: list[Case] = []  # not in the approval system at ``_at``
        self._first: set[str] = set()  # taken in the first (same applicant) pass
        self._used: set[str] = set()  # taken in either pass
        self._failed: dict[Scope, dt.datetime] = {}  # latest deadline that found none there
        self._second: list[TicketSearch] = []  # the second pass's searches, in order
        self._valid = True
        self.extended = 0  # how many times :meth:`extend` was asked
        self._add_cases(cases)
        self._run(sorted(searches, key=_ORDER))

    def extend(
        self, searches: Iterable[TicketSearch], cases: Iterable[Case], ctx: RuleContext
    ) -> bool:
        """The matching of everything so far and these new searches and cases at
        ``ctx.at``, if it carries on from the one so far; False otherwise, and the
        matching is then spent (the caller starts afresh)."""
        self.extended += 1
        self._valid = self._valid and self._extend(searches, cases, ctx)
        return self._valid

    def _extend(
        self, searches: Iterable[TicketSearch], cases: Iterable[Case], ctx: RuleContext
    ) -> bool:
        at = ctx.at
        if at < self._at or any(case_known(c, at) for c in self._unknown):
            return False  # a case known then is not now, or one not known then is now
        self._at = at
        # In the slots' own order: new cases that sort after every case so far go on
        # whatever order they came in.
        for case in sorted(cases, key=_CASE_ORDER):
            if not case_known(case, at):
                self._unknown.append(case)
                continue
            order = _CASE_ORDER(case)
            for scope in _case_scopes(case):
                slots = self._slots.get(scope)
                if slots is None:
                    self._grouped[scope].append(case)
                    continue
                failed = self._failed.get(scope)
                if (failed is not None and failed >= case.accepted_at) or not slots.append(
                    case, order
                ):
                    return False  # a ticket so far would have taken it
        ordered = sorted(searches, key=_ORDER)
        if ordered and self._last is not None and _ORDER(ordered[0]) <= self._last:
            return False
        self._run(ordered)
        return True

    def _add_cases(self, cases: Iterable[Case]) -> None:
        at, grouped = self._at, self._grouped
        for case in cases:
            if not case_known(case, at):
                self._unknown.append(case)
                continue
            for scope in _case_scopes(case):
                grouped[scope].append(case)

    def _take(self, scope: Scope, s: TicketSearch, used: set[str]) -> Case | None:
        slots = self._slots.get(scope)
        if slots is None:
            slots = self._slots[scope] = _Slots(self._grouped.pop(scope, []))
        found = slots.take(s.start, s.due_at, used)
        if found is None and self._failed.get(scope, s.due_at) <= s.due_at:
            self._failed[scope] = s.due_at
        return found

    def _run(self, ordered: list[TicketSearch]) -> None:
        """Both passes over these searches (in order, after every search so far).

        The first pass never depends on the second: carried on, it is the greedy's. If
        a new ticket takes there a case that a ticket so far took in the second pass,
        the second pass is done again over all its tickets (as the greedy does it after
        the whole first pass); otherwise it goes on with the new ones."""
        if not ordered:
            return
        self._last = _ORDER(ordered[-1])
        first, used = self._first, self._used
        again = False
        remaining: list[TicketSearch] = []
        for s in ordered:
            if s.applicant_place is None:
                remaining.append(s)
                continue
            found = self._take(s.applicant_place, s, first)
            if found is None:
                remaining.append(s)
            elif found.id in used:
                again = True  # a ticket so far took it in the second pass
            else:
                used.add(found.id)
        if again:
            remaining = self._second + remaining
            used = self._used = set(first)
            for scope, slots in self._slots.items():
                if scope[0] != "applicant":
                    slots.reset()
                    self._failed.pop(scope, None)
            self.unmatched = []
            self._second = []
        self._second.extend(remaining)
        unmatched = self.unmatched
        for s in remaining:
            scope = ("keyless", *s.place) if s.ticket.applicant_key else ("any", *s.place)
            if self._take(scope, s, used) is None:
                unmatched.append(s)


def tickets_without_case(snapshot: Snapshot, ctx: RuleContext) -> Iterator[Finding]:
    """``offsystem.ticket_without_case``: a served ticket with no case registered for it.

    体外循环 practice (有号无件): an applicant was called and served at a window, the
    service was not consultation only, and yet no case was accepted at that window (or
    by that department) between the call and ``ticket_grace_minutes`` (30 by default)
    after the service ended. Consultation tickets (the ticket's flag, or its service in
    ``consultation_services``) expect no case. Judged only once the grace has passed:
    red from the first second after ``finished_at + grace``.
    """
    for s in unmatched_tickets(snapshot.tickets.values(), snapshot.cases.values(), ctx):
        if past(ctx.at, s.due_at):
            yield ticket_finding(s, snapshot.items, ctx)


def ticket_finding(s: TicketSearch, items: Container[str], ctx: RuleContext) -> Finding:
    """The red finding of a served ticket that no case covers."""
    ticket = s.ticket
    return finding(
        TICKET_WITHOUT_CASE,
        Severity.RED,
        ctx,
        subject_kind="ticket",
        subject_id=ticket.id,
        center=ticket.center,
        department=ticket.department,
        window=ticket.window,
        item=ticket.service if ticket.service in items else None,
        due_at=s.due_at,
        calendar_dependent=False,
        evidence={
            "ticket_number": ticket.number,
            "service": ticket.service,
            "called_at": iso(ticket.called_at),
            "finished_at": iso(ticket.finished_at),
            "grace_minutes": int(s.grace.total_seconds() // 60),
            "searched": s.place[0],
            "applicant_matched": s.applicant_place is not None,
        },
    )


# -- offsystem.payment_without_case ------------------------------------------------------


def payments_without_case(snapshot: Snapshot, ctx: RuleContext) -> Iterator[Finding]:
    """``offsystem.payment_without_case``: a deposit with no case behind it (有费无件).

    Fees are collected only for registered cases, through the 缴款码 the approval system
    issues (行政事业性收费 收支两条线; 行政许可法 art. 59). A deposit into a designated
    account (收费专户) of its center whose reference is no case's payment reference and
    whose linked case id (if any) is no known case is money taken outside the system.
    The case may be registered late: red only after ``payment_grace_working_days``
    (3 by default) — the end of the 3rd working day after the payment date.
    """
    references: set[str] = set()
    case_ids: set[str] = set()
    for case in snapshot.cases.values():
        if case_known(case, ctx.at):
            case_ids.add(case.id)
            if case.payment_reference:
                references.add(case.payment_reference)
    for payment in snapshot.payments.values():
        found = payment_without_case(payment, references, case_ids, ctx)
        if found is not None:
            yield found


def payment_without_case(
    payment: Payment, references: Container[str], case_ids: Container[str], ctx: RuleContext
) -> Finding | None:
    """One deposit judged against the payment references and ids of the known cases."""
    fees = ctx.parameters.fees
    if not payment.is_deposit or payment.paid_at > ctx.at:
        return None
    center = payment.center or fees.center_of_account(payment.account)
    if not fees.is_designated(payment.account, center):
        return None
    if payment.reference and payment.reference in references:
        return None
    if payment.case_id and payment.case_id in case_ids:
        return None
    try:
        due = end_of_working_days_after(
            payment.paid_at, ctx.parameters.offsystem.payment_grace_working_days, ctx
        )
    except CalendarRangeError:
        return None
    return _payment_finding(payment, center, due, ctx) if past(ctx.at, due) else None


def _payment_finding(
    payment: Payment, center: str | None, due: dt.datetime, ctx: RuleContext
) -> Finding:
    return finding(
        PAYMENT_WITHOUT_CASE,
        Severity.RED,
        ctx,
        subject_kind="payment",
        subject_id=payment.id,
        center=center,
        due_at=due,
        evidence={
            "account": payment.account,
            "amount_fen": payment.amount_fen,
            "amount_yuan": yuan(payment.amount_fen),
            "paid_at": iso(payment.paid_at),
            "reference": payment.reference,
            "linked_case_id": payment.case_id,
            "grace_working_days": ctx.parameters.offsystem.payment_grace_working_days,
        },
    )


# -- offsystem.backfilled_case -----------------------------------------------------------


@dataclass
class _Backfill:
    patterns: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    due_at: dt.datetime | None = None


def _late_entry(case: Case, ctx: RuleContext) -> tuple[dict[str, Any], dt.datetime] | None:
    if case.recorded_at is None:
        return None
    threshold = ctx.parameters.offsystem.backfill_threshold(case.item, case.department)
    delay = case.recorded_at - case.accepted_at
    if delay <= threshold:
        return None
    evidence = {
        "entry_delay_seconds": int(delay.total_seconds()),
        "backfill_threshold_hours": int(threshold.total_seconds() // 3600),
    }
    return evidence, case.accepted_at + threshold


def _instant_conclusion(case: Case, item: Item, ctx: RuleContext) -> dict[str, Any] | None:
    if item.kind is not ItemKind.PROMISED:
        return None
    concluded = clock_stopped_at(case, ctx.at)
    if concluded is None:
        return None
    if case.result is not None and case.result.stops_clock_without_decision:
        return None  # refused or voided on the spot: no decision was faked
    limit = ctx.parameters.offsystem.instant_conclusion(case.item, case.department)
    took = concluded - case.accepted_at
    if took >= limit:
        return None
    return {
        "concluded_at": iso(concluded),
        "conclusion_seconds": int(took.total_seconds()),
        "instant_conclusion_seconds": int(limit.total_seconds()),
    }


def burst_scope(case: Case) -> Scope | None:
    """Where a case's burst of backdated entries is looked for: its window, else its
    department (None: neither, so it is in no burst)."""
    if case.window is not None:
        return ("window", case.window)
    if case.department is not None:
        return ("department", case.department)
    return None


def burst_members(cases: Iterable[Case], ctx: RuleContext) -> dict[str, dict[str, Any]]:
    """Case id -> evidence of the burst it was typed in with, for backdated bursts.

    A *backdated* case was accepted on a day before the day it was typed in. A burst is
    at least ``burst_min_cases`` backdated cases of one window (or department, for cases
    without a window) typed in within ``burst_span_minutes`` of each other and accepted
    on at least ``burst_min_days`` different days: a pile of paper applications entered
    in one sitting. Overlapping bursts merge into one.
    """
    params = ctx.parameters.offsystem
    span = dt.timedelta(minutes=params.burst_span_minutes)
    local = ctx.policy.local_date
    by_scope: dict[Scope, list[tuple[dt.datetime, str, dt.date]]] = defaultdict(list)
    for case in cases:
        scope = burst_scope(case)
        if scope is None or case.recorded_at is None:
            continue
        accepted_on = local(case.accepted_at)
        if accepted_on < local(case.recorded_at):
            by_scope[scope].append((case.recorded_at, case.id, accepted_on))

    members: dict[str, dict[str, Any]] = {}
    for entries in by_scope.values():
        if len(entries) < params.burst_min_cases:
            continue
        entries.sort()
        clusters: list[tuple[int, int]] = []  # inclusive index ranges
        days: Counter[dt.date] = Counter()
        left = 0
        for right, (recorded, _, accepted_on) in enumerate(entries):
            days[accepted_on] += 1
            while recorded - entries[left][0] > span:
                days[entries[left][2]] -= 1
                if not days[entries[left][2]]:
                    del days[entries[left][2]]
                left += 1
            if right - left + 1 < params.burst_min_cases or len(days) < params.burst_min_days:
                continue
            if clusters and left <= clusters[-1][1]:
                clusters[-1] = (clusters[-1][0], right)
            else:
                clusters.append((left, right))
        for first, last in clusters:
            chunk = entries[first : last + 1]
            evidence = {
                "burst_cases": len(chunk),
                "burst_recorded_from": iso(chunk[0][0]),
                "burst_recorded_to": iso(chunk[-1][0]),
                "burst_acceptance_days": len({e[2] for e in chunk}),
            }
            for _, case_id, _ in chunk:
                members[case_id] = evidence
    return members


def backfilled_cases(snapshot: Snapshot, ctx: RuleContext) -> Iterator[Finding]:
    """``offsystem.backfilled_case``: a case typed in after the fact (事后补录).

    一网通办 requires the acceptance to be registered as it happens (全流程留痕); a case
    entered afterwards hides work done outside the system and makes its clock start
    whenever the window likes. Three patterns, one yellow finding per case naming every
    pattern it shows: ``late_entry`` — typed in more than ``backfill_hours`` (24) after
    its acceptance time; ``instant_conclusion`` — a promised item (承诺件) accepted and
    concluded less than ``instant_conclusion_seconds`` (60) apart, both typed in at once
    after the decision was already made (refusals and voids excepted); ``burst`` — typed
    in within a burst of backdated cases (see :func:`burst_members`).
    """
    known = [c for c in snapshot.cases.values() if case_known(c, ctx.at)]
    found: dict[str, _Backfill] = defaultdict(_Backfill)
    for case in known:
        late = _late_entry(case, ctx)
        if late is not None:
            found[case.id].patterns.append("late_entry")
            found[case.id].evidence.update(late[0])
            found[case.id].due_at = late[1]
        item = snapshot.items.get(case.item)
        instant = None if item is None else _instant_conclusion(case, item, ctx)
        if instant is not None:
            found[case.id].patterns.append("instant_conclusion")
            found[case.id].evidence.update(instant)
    for case_id, evidence in burst_members(known, ctx).items():
        found[case_id].patterns.append("burst")
        found[case_id].evidence.update(evidence)
    for case_id, backfill in found.items():
        case = snapshot.cases[case_id]
        yield case_finding(
            BACKFILLED_CASE,
            Severity.YELLOW,
            case,
            ctx,
            due_at=backfill.due_at,
            calendar_dependent=False,
            evidence={
                "patterns": backfill.patterns,
                "accepted_at": iso(case.accepted_at),
                "recorded_at": iso(case.recorded_at),
            }
            | backfill.evidence,
        )


# -- offsystem.double_acceptance ---------------------------------------------------------


def _counts_as_acceptance(case: Case, at: dt.datetime) -> bool:
    if not case_known(case, at):
        return False
    ended = clock_stopped_at(case, at) is not None
    return not (ended and case.result in _NOT_AN_ACCEPTANCE)


def double_acceptances(cases: Iterable[Case], ctx: RuleContext) -> Iterator[tuple[Case, Case, int]]:
    """(later case, first case still open at its acceptance, how many were open) triples."""
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in cases:
        if case.applicant_key is not None and _counts_as_acceptance(case, ctx.at):
            groups[(case.applicant_key, case.item)].append(case)
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda c: (c.accepted_at, c.id))
        still_open: list[Case] = []
        for case in group:
            still_open = [
                o for o in still_open if o.concluded_at is None or o.concluded_at > case.accepted_at
            ]
            if still_open and ctx.parameters.offsystem.checks_double_acceptance(
                case.item, case.department
            ):
                yield case, still_open[0], len(still_open)
            still_open.append(case)


def double_accepted_cases(snapshot: Snapshot, ctx: RuleContext) -> Iterator[Finding]:
    """``offsystem.double_acceptance``: one application accepted twice (两头受理).

    一窗受理 (国办发〔2018〕45号 一窗受理、集成服务): an application is accepted once, at the
    hall's window, and routed to the department; being accepted again by the department
    (or at another window, or in another system) while the first is still open runs the
    work outside supervision. Same applicant key, same item, a second case accepted while
    an earlier one is open (not concluded, or concluded after the second's acceptance).
    The finding is on the later case and names the earliest still-open one. Voided
    (作废/删除) and refused (不予受理) cases were never acceptances and are ignored;
    withdrawn and returned ones count. Items applied for per object (per vehicle, per
    shop) can be exempted with ``double_acceptance: false``.
    """
    for case, first, open_count in double_acceptances(snapshot.cases.values(), ctx):
        first_concluded = clock_stopped_at(first, ctx.at)
        yield case_finding(
            DOUBLE_ACCEPTANCE,
            Severity.RED,
            case,
            ctx,
            calendar_dependent=False,
            evidence={
                "accepted_at": iso(case.accepted_at),
                "first_case_id": first.id,
                "first_accepted_at": iso(first.accepted_at),
                "first_window": first.window,
                "first_department": first.department,
                "first_concluded_at": iso(first_concluded),
                "same_window": first.window == case.window,
                "open_cases": open_count,
            },
        )


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
    """All off-system findings at ``ctx.at``."""
    return [
        *tickets_without_case(snapshot, ctx),
        *payments_without_case(snapshot, ctx),
        *backfilled_cases(snapshot, ctx),
        *double_accepted_cases(snapshot, ctx),
    ]
