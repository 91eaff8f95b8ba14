"""Incremental rule evaluation: the rules re-judge only what changed or reached a boundary.

The rules (``rules/``) are pure functions of a snapshot and an instant, and stay the only
place where a violation is decided. What this engine adds is *when* a rule needs to look
at a subject again. For every case (and every deposit) it keeps a family's verdict — its
findings — together with the interval in which that verdict cannot change:

* nothing it was judged from has changed: the case itself (the daemon says which cases it
  re-joined since the last evaluation: a new version, a step, a suspension, an item),
  or a payment that matches it by reference or case id, or — for a deposit — a case that
  carries its reference or id;
* the instant has not reached the subject's next **boundary**: the first second after a
  deadline (promised, statutory, a step's, a fee's or a deposit's grace), the first day
  of a yellow card (remaining working days at or below the threshold), the next event of
  its history (acceptance, typing in, conclusion, a step or suspension starting or
  ending, a payment being made), and — for a case that carries an overdue finding or has
  a suspension — the next local midnight, when counted working days
  (``remaining_working_days``, ``working_days_late``, used suspension days) move on.

Inside that interval the rules would say the same again, except ``seconds_late``, which
ticks with the clock and is brought up to the instant here. An earlier instant (``scan
--at`` into the past), a new calendar or new parameters judge everything again, so SLA
state is still recomputed deterministically from the case history (DESIGN.md §5).
When many cases must be judged (a fresh start: every case), most of them are plain: the
overdue rules would find nothing or a simple card, the fee rules nothing.
:mod:`monitor.preselect` settles cases of plain shapes over arrays — the overdue family's
verdicts with their cards and boundaries, exactly as the rules and :func:`judge_overdue`
give them; the fee family's quiet ones — so that the rules only see the others.
Queue tickets are matched per cluster of days (:class:`TicketClusters`), the settled ones
(every day before today, at a fresh start) in bulk over arrays (:mod:`monitor.ticketmatch`),
today's in parts whose matching goes on as tickets finish and cases come
(:class:`rules.offsystem.Matching`);
backfilled cases and double acceptances are judged over the few cases that can show them,
by part (a burst scope, an applicant), and a part again only when it changes or reaches a
boundary (:class:`FewCases`); bad ratings one by one, the same way (:class:`Ratings`).
``tests/test_engine.py`` holds the engine to :func:`rules.evaluate_all` on generated halls,
changes and moving instants.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from monitor.calendar import CalendarRangeError, WorkingCalendar
from monitor.collector import collector_paused
from monitor.deadlines import case_deadlines, step_due_at
from monitor.model import Case, Finding, Item, Payment, Snapshot, TicketStatus
from monitor.preselect import FeePreselection, OverduePreselection, fees_quiet
from monitor.ticketmatch import match_key as _match_key
from monitor.ticketmatch import unmatched as unmatched_in_bulk
from rules import evaluation as evaluation_rules
from rules import fees as fee_rules
from rules import offsystem as offsystem_rules
from rules import overdue as overdue_rules
from rules.common import case_known, end_of_working_days_after, past
from rules.context import RuleContext
from rules.parameters import ByPlace, OffsystemPlace

SECOND = dt.timedelta(seconds=1)
_SERIALS = itertools.count(1)  # numbers of evaluations (see Rejudged)
_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass(frozen=True)
class Changes:
    """What changed since the previous evaluation."""

    cases: frozenset[str]  # cases the assembler joined again (or dropped)
    payments: frozenset[str] = frozenset()  # payments delivered or deleted
    tickets: frozenset[str] = frozenset()  # queue tickets delivered or deleted
    items: bool = False  # the catalogue changed
    evaluations: frozenset[str] | None = None  # ratings delivered or deleted (None: unknown)


@dataclass(frozen=True)
class Rejudged:
    """What one evaluation judged again, relative to the evaluation before it.

    ``findings``: by fingerprint, every finding that may differ from the previous
    evaluation's — its version now, or None if it is gone — or None when everything was
    judged again (a fresh start, an earlier instant, a new catalogue, calendar or
    parameters) or the findings were brought to the instant (``current``). Every other
    finding is the very object the previous evaluation gave.
    """

    serial: int  # this evaluation's number (unique in the process)
    after: int | None  # the number of the evaluation it is relative to
    findings: dict[str, Finding | None] | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A family's findings for one subject as of ``since``, valid until ``until``.

    Judged from the subject and ``inputs`` (compared by identity): for a case its item and
    payments, for a deposit the cases it could match. The subject itself is not kept: the
    verdict of a subject the daemon reports changed is dropped before judging
    (:meth:`Engine._evaluate`). So a verdict without findings can serve many subjects
    (:meth:`Verdicts.quiet`), and a case's item alone is a tuple shared by the item's
    cases (:meth:`Engine._alone`).
    """

    inputs: tuple[object, ...]
    findings: tuple[Finding, ...]
    since: dt.datetime
    until: dt.datetime | None  # None: no boundary ahead
    ticking: tuple[bool, ...] = ()  # per finding: seconds_late follows the clock


@dataclass
class Verdicts(Generic[_K]):
    """Verdicts by subject, the subjects that carry findings, and their boundaries: the
    subjects by boundary instant, with a heap of those instants.

    Few instants are boundaries (a hall's deadlines end at the same second of a few
    days): each verdict's ``until`` is made the one object kept for its instant.
    """

    by_subject: dict[_K, Verdict] = field(default_factory=dict)
    active: set[_K] = field(default_factory=set)
    due: dict[dt.datetime, list[_K]] = field(default_factory=dict)
    instants: dict[dt.datetime, dt.datetime] = field(default_factory=dict)  # due's keys
    heap: list[dt.datetime] = field(default_factory=list)  # of due's keys
    waiting: int = 0  # entries in due (some of subjects judged again since)
    shared: dict[tuple[int, dt.datetime | None], Verdict] = field(default_factory=dict)
    count: int = 0  # findings of every subject (of the verdicts of ``active``)

    def expired(self, at: dt.datetime) -> set[_K]:
        """Subjects whose boundary has come (some may have been judged again since)."""
        found: set[_K] = set()
        while self.heap and self.heap[0] <= at:
            instant = heapq.heappop(self.heap)
            keys = self.due.pop(instant)
            del self.instants[instant]
            self.waiting -= len(keys)
            found.update(keys)
        return found

    def still_valid(self, key: _K, inputs: tuple[object, ...], at: dt.datetime) -> bool:
        verdict = self.by_subject.get(key)
        return (
            verdict is not None
            and len(verdict.inputs) == len(inputs)
            and all(a is b for a, b in zip(verdict.inputs, inputs, strict=True))
            and verdict.since <= at
            and (verdict.until is None or at < verdict.until)
        )

    def quiet(
        self, inputs: tuple[object, ...], since: dt.datetime, until: dt.datetime | None
    ) -> Verdict:
        """A verdict without findings: one object for all those judged from the same
        ``inputs`` (a tuple shared by many subjects) at the same instant with the same
        boundary, within one evaluation (:meth:`Engine._evaluate` empties ``shared``)."""
        shared = self.shared
        verdict = shared.get((id(inputs), until))
        if verdict is None or verdict.inputs is not inputs or verdict.since != since:
            verdict = Verdict(inputs, (), since, self.instant(until))
            shared[(id(inputs), until)] = verdict
        return verdict

    def instant(self, until: dt.datetime | None) -> dt.datetime | None:
        """The object kept for ``until``'s instant (``until`` itself if none is)."""
        return until if until is None else self.instants.get(until, until)

    def _wait(self, key: _K, until: dt.datetime) -> dt.datetime:
        """Make ``key`` wait for ``until``; the object kept for that instant."""
        self.waiting += 1
        keys = self.due.get(until)
        if keys is None:
            self.due[until] = [key]
            self.instants[until] = until
            heapq.heappush(self.heap, until)
            return until
        keys.append(key)
        return self.instants[until]

    def store(self, key: _K, verdict: Verdict) -> None:
        if verdict.until is not None:
            until = self._wait(key, verdict.until)
            if until is not verdict.until:  # an instant already kept: that object
                v = verdict
                verdict = Verdict(v.inputs, v.findings, v.since, until, v.ticking)
        old = self.by_subject.get(key)
        if old is not None:
            self.count -= len(old.findings)
        self.by_subject[key] = verdict
        if verdict.findings:
            self.count += len(verdict.findings)
            self.active.add(key)
        else:
            self.active.discard(key)
        if self.waiting > 2 * len(self.by_subject) + 1000:
            self._compact()

    def store_all(self, verdicts: Iterable[tuple[_K, Verdict]]) -> None:
        """:meth:`store` each (key, verdict), in one loop without a call per subject."""
        by_subject, active, due, instants = self.by_subject, self.active, self.due, self.instants
        waiting = count = 0
        for key, verdict in verdicts:
            until = verdict.until
            if until is not None:
                waiting += 1
                keys = due.get(until)
                if keys is None:
                    due[until] = [key]
                    instants[until] = until
                    heapq.heappush(self.heap, until)
                else:
                    keys.append(key)
                    kept = instants[until]
                    if kept is not until:  # an instant already kept: that object
                        v = verdict
                        verdict = Verdict(v.inputs, v.findings, v.since, kept, v.ticking)
            if key in active:
                count -= len(by_subject[key].findings)
            by_subject[key] = verdict
            if verdict.findings:
                count += len(verdict.findings)
                active.add(key)
            else:
                active.discard(key)
        self.waiting += waiting
        self.count += count
        self._compact()

    def store_shared(self, keys: list[_K], verdict: Verdict) -> None:
        """:meth:`store` one verdict (one object: see :meth:`quiet`) for all ``keys``, in bulk."""
        if not keys:
            return
        until = verdict.until
        if until is not None:
            kept = self.instants.get(until)
            if kept is None:
                self.due[until] = list(keys)
                self.instants[until] = until
                heapq.heappush(self.heap, until)
            else:
                self.due[until].extend(keys)
                if kept is not until:  # an instant already kept: that object
                    v = verdict
                    verdict = Verdict(v.inputs, v.findings, v.since, kept, v.ticking)
            self.waiting += len(keys)
        if self.active:  # the findings of those that had some go
            by_subject, active = self.by_subject, self.active
            self.count -= sum(len(by_subject[k].findings) for k in keys if k in active)
        self.by_subject.update(dict.fromkeys(keys, verdict))
        if verdict.findings:
            self.count += len(verdict.findings) * len(keys)
            self.active.update(keys)
        elif self.active:
            self.active.difference_update(keys)
        self._compact()

    def _compact(self) -> None:
        """Drop the entries of verdicts judged again since, when they outnumber the
        current ones: keep the current one per subject."""
        if self.waiting > 2 * len(self.by_subject) + 1000:
            self.due, self.instants, self.heap, self.waiting = {}, {}, [], 0
            for k, v in self.by_subject.items():
                if v.until is not None:
                    self._wait(k, v.until)

    def drop(self, key: _K) -> None:
        old = self.by_subject.pop(key, None)
        if old is not None:
            self.count -= len(old.findings)
        self.active.discard(key)

    def findings(self, at: dt.datetime, current: bool = True) -> list[Finding]:
        """The findings of every subject; ``current``: ticking ones brought to ``at``
        (else as judged: see :meth:`Engine.evaluate`)."""
        found: list[Finding] = []
        if not current:
            for key in self.active:
                found.extend(self.by_subject[key].findings)
            return found
        for key in self.active:
            found.extend(_brought_to(self.by_subject[key], at))
        return found


def finding_order(finding: Finding) -> tuple[str, str, str]:
    """The order :func:`rules.evaluate_all` gives findings in (rule, subject): unique, as
    a finding's fingerprint is."""
    return (finding.rule, finding.subject_kind, finding.subject_id)


def _and(due: AbstractSet[str], expired: set[str]) -> AbstractSet[str]:
    """Subjects to judge: ``due`` and those whose boundary has come (``due`` itself, not
    a copy, when none has)."""
    return due | expired if expired else due


def _first_after(at: dt.datetime, candidates: Iterable[dt.datetime | None]) -> dt.datetime | None:
    ahead = [c for c in candidates if c is not None and c > at]
    return min(ahead) if ahead else None


def _midnight_after(at: dt.datetime, ctx: RuleContext) -> dt.datetime:
    tomorrow = ctx.policy.local_date(at) + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0), tzinfo=ctx.policy.tz)


def brought_to(finding: Finding, at: dt.datetime) -> Finding:
    """The finding as judged at ``at``, when only the clock moved since it was judged:
    a ticking ``seconds_late`` (see :func:`ticks`) counted up to ``at``."""
    if finding.due_at is None or not ticks(finding):
        return finding
    late = int((at - finding.due_at).total_seconds())
    if finding.evidence.get("seconds_late") == late:
        return finding
    return finding.model_copy(update={"evidence": finding.evidence | {"seconds_late": late}})


def _brought_to(verdict: Verdict, at: dt.datetime) -> Iterable[Finding]:
    if at == verdict.since or not any(verdict.ticking):
        return verdict.findings
    return [
        f.model_copy(
            update={"evidence": f.evidence | {"seconds_late": int((at - f.due_at).total_seconds())}}
        )
        if ticking and f.due_at is not None
        else f
        for f, ticking in zip(verdict.findings, verdict.ticking, strict=True)
    ]


# --- the overdue family (per case) --------------------------------------------------------


def ticks(finding: Finding) -> bool:
    """Whether a finding's ``seconds_late`` is counted up to the evaluation instant.

    Open cases and open steps are late until *now*; a concluded case or an ended step was
    late until its end, which does not move.
    """
    if "seconds_late" not in finding.evidence:
        return False
    if finding.rule == overdue_rules.OVERDUE:
        return True
    if finding.rule == overdue_rules.STATUTORY_OVERDUE:
        return bool(finding.evidence.get("state") == "open")
    if finding.rule == overdue_rules.STEP_OVERDUE:
        return finding.evidence.get("ended_at") is None
    return False


def _known_from(case: Case) -> dt.datetime:
    """From when a case exists in the approval system (see rules.common.case_known)."""
    if case.recorded_at is None:
        return case.accepted_at
    return max(case.accepted_at, case.recorded_at)


def _yellow_from(promise: dt.date, threshold: int, calendar: WorkingCalendar) -> dt.date:
    """The first day whose remaining working days up to ``promise`` are at most ``threshold``."""
    try:
        return calendar.first_day_within(promise, threshold)
    except CalendarRangeError:
        return calendar.first_day


def next_boundary(
    case: Case, item: Item, ctx: RuleContext, has_findings: bool
) -> dt.datetime | None:
    """The first instant after ``ctx.at`` at which the case's overdue findings may change.

    A lower bound: judging again earlier is harmless, later would be wrong. The properties
    in ``tests/test_engine.py`` hold it to the rules' own answers.
    """
    at, policy = ctx.at, ctx.policy
    candidates: list[dt.datetime | None] = [_known_from(case), case.concluded_at]
    for child in (*case.steps, *case.suspensions):
        candidates += [child.started_at, child.ended_at]
    if has_findings or case.suspensions:
        candidates.append(_midnight_after(at, ctx))
    if case.accepted_at <= at:
        deadlines = case_deadlines(case, item, ctx.calendar, policy, at)
        candidates += [deadlines.promised_due_at + SECOND, deadlines.statutory_due_at + SECOND]
        threshold = ctx.parameters.due_soon_threshold(
            case.item, case.department, item.promised_limit_days
        )
        promise = policy.local_date(deadlines.promised_due_at)
        first = _yellow_from(promise, threshold, ctx.calendar)
        candidates.append(dt.datetime.combine(first, dt.time(0), tzinfo=policy.tz))
        for step in case.steps:
            due = step_due_at(step, case, ctx.calendar, policy, at)
            candidates.append(None if due is None else due + SECOND)
    return _first_after(at, candidates)


def judge_overdue(
    case: Case, item: Item, ctx: RuleContext, inputs: tuple[object, ...] | None = None
) -> Verdict:
    """The overdue family's verdict on a case; ``inputs``: its item alone, if the caller
    has that tuple."""
    if not case_known(case, ctx.at):  # not in the approval system yet (as the rules skip it)
        findings: tuple[Finding, ...] = ()
    else:
        findings = (
            *overdue_rules.case_cards(case, item, ctx),
            *overdue_rules.step_cards(case, ctx),
            *overdue_rules.suspension_cards(case, item, ctx),
        )
    return Verdict(
        inputs=(item,) if inputs is None else inputs,
        findings=findings,
        since=ctx.at,
        until=next_boundary(case, item, ctx, bool(findings)),
        ticking=tuple(ticks(f) for f in findings),
    )


# --- fees (per case) and deposits without a case (per payment) ---------------------------


def judge_fees(
    case: Case,
    item: Item,
    payments: tuple[Payment, ...],
    monitored: bool,
    ctx: RuleContext,
    inputs: tuple[object, ...] | None = None,
) -> Verdict:
    """The fee findings of one case, from the payments that match it by reference or id
    (``inputs``: its item and those payments, if the caller has that tuple).

    A case of a plain shape that provably has none (:func:`monitor.preselect.fees_quiet`)
    is not shown to the rules.
    """
    at = ctx.at
    findings: tuple[Finding, ...] = ()
    grace = fee_rules.fee_grace_due(case, ctx)
    if case_known(case, at) and not fees_quiet(case, item, payments, monitored, grace, ctx):
        index = fee_rules.PaymentIndex.build({p.id: p for p in payments}, at, monitored)
        findings = tuple(fee_rules.case_fee_findings(case, item, index, ctx))
    candidates = [_known_from(case), case.concluded_at, None if grace is None else grace + SECOND]
    return Verdict(
        inputs=(item, *payments) if inputs is None else inputs,
        findings=findings,
        since=at,
        until=_first_after(at, [*candidates, *(p.paid_at for p in payments)]),
    )


def judge_deposit(payment: Payment, cases: tuple[Case, ...], ctx: RuleContext) -> Verdict:
    """``offsystem.payment_without_case`` for one deposit, given the cases it could match."""
    at = ctx.at
    known = [c for c in cases if case_known(c, at)]
    references = {c.payment_reference for c in known if c.payment_reference}
    found = offsystem_rules.payment_without_case(payment, references, {c.id for c in known}, ctx)
    try:
        grace = end_of_working_days_after(
            payment.paid_at, ctx.parameters.offsystem.payment_grace_working_days, ctx
        )
    except CalendarRangeError:
        grace = None
    candidates = [payment.paid_at, None if grace is None else grace + SECOND]
    return Verdict(
        inputs=cases,
        findings=() if found is None else (found,),
        since=at,
        until=_first_after(at, [*candidates, *(_known_from(c) for c in cases)]),
    )


class _Index(Generic[_V]):
    """Values by key where a key nearly always has one: a lone value is kept as it is (a
    dictionary entry, no container), two or more as a tuple (replaced when one comes or
    goes)."""

    def __init__(self) -> None:
        self.one: dict[str, _V] = {}
        self.many: dict[str, tuple[_V, ...]] = {}

    def get(self, key: str) -> tuple[_V, ...]:
        value = self.one.get(key)  # values are never None
        if value is not None:
            return (value,)
        return self.many.get(key, ())

    def add(self, key: str, value: _V) -> None:
        if key in self.many:
            self.many[key] = (*self.many[key], value)
        elif key in self.one:
            self.many[key] = (self.one.pop(key), value)
        else:
            self.one[key] = value

    def remove(self, key: str, value: _V) -> None:
        """Take ``value`` (what equals it) from under ``key``."""
        if key in self.one:
            if self.one[key] == value:
                del self.one[key]
            return
        values = self.many.get(key)
        if values is None:
            return
        rest = tuple(v for v in values if v != value)
        if len(rest) > 1:
            self.many[key] = rest
        else:
            del self.many[key]
            if rest:
                self.one[key] = rest[0]


class _Links:
    """Which payments and cases refer to each other: by reference (缴款单号) or case id."""

    def __init__(self) -> None:
        self.payments_by_reference: _Index[Payment] = _Index()
        self.payments_by_case: _Index[Payment] = _Index()
        self.cases_by_reference: _Index[str] = _Index()
        self.payments: dict[str, Payment] = {}
        self.cases: dict[str, Case] = {}

    def set_payment(self, payment_id: str, payment: Payment | None) -> list[Payment]:
        """Record a payment's new version (None: gone); the old and new versions."""
        versions = []
        old = self.payments.pop(payment_id, None)
        if old is not None:
            versions.append(old)
            for index, key in (
                (self.payments_by_reference, old.reference),
                (self.payments_by_case, old.case_id),
            ):
                if key:
                    index.remove(key, old)
        if payment is not None:
            versions.append(payment)
            self.payments[payment_id] = payment
            for index, key in (
                (self.payments_by_reference, payment.reference),
                (self.payments_by_case, payment.case_id),
            ):
                if key:
                    index.add(key, payment)
        return versions

    def set_case(self, case_id: str, case: Case | None) -> list[Case]:
        versions = []
        old = self.cases.pop(case_id, None)
        if old is not None:
            versions.append(old)
            if old.payment_reference:
                self.cases_by_reference.remove(old.payment_reference, case_id)
        if case is not None:
            versions.append(case)
            self.cases[case_id] = case
            if case.payment_reference:
                self.cases_by_reference.add(case.payment_reference, case_id)
        return versions

    def payments_of(self, case: Case) -> tuple[Payment, ...]:
        by_case = self.payments_by_case.get(case.id)
        by_reference = (
            self.payments_by_reference.get(case.payment_reference) if case.payment_reference else ()
        )
        if not by_reference or by_case == by_reference:  # most often: the one payment twice
            found = by_case
        elif not by_case:
            found = by_reference
        else:
            found = tuple({p.id: p for p in (*by_case, *by_reference)}.values())
        if len(found) < 2:
            return found
        return tuple(sorted(found, key=lambda p: p.id))

    def cases_of(self, payment: Payment) -> tuple[Case, ...]:
        by_reference = self.cases_by_reference.get(payment.reference) if payment.reference else ()
        linked = payment.case_id if payment.case_id and payment.case_id in self.cases else None
        ids: Iterable[str] = by_reference
        if linked is not None and linked not in by_reference:
            ids = (*by_reference, linked)
        return tuple(self.cases[i] for i in sorted(ids))


# --- queue tickets without a case (matched per cluster of days) ----------------------------

FAR = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
# The key of a settled cluster's one part (_Cluster.parts): no scope is a 1-tuple.
_SETTLED: tuple[str, ...] = ("settled",)


@dataclass
class _Part:
    """Tickets and cases of a cluster that compete only with each other, and their verdict."""

    tickets: dict[str, object]  # by id: the ticket objects it was matched with
    cases: dict[str, object]  # by id: the cases' match keys (_match_key) it was matched with
    unmatched: tuple[offsystem_rules.TicketSearch, ...]  # the matching: valid until rematch
    rematch: dt.datetime | None  # a case in it becomes known (typed in): matched again
    findings: tuple[Finding, ...]  # the unmatched tickets past their deadline
    since: dt.datetime
    until: dt.datetime | None  # the next deadline: findings again, from the same matching
    # The matching itself, to go on from when tickets or cases are added, and how far it
    # had gone then (:attr:`rules.offsystem.Matching.extended`): once it went on for one
    # part, it is no longer any other's.
    matching: offsystem_rules.Matching | None = None
    extended: int = 0


@dataclass
class _Cluster:
    """Days whose ticket search windows overlap, matched together, and its verdict."""

    version: tuple[object, ...]
    findings: tuple[Finding, ...]
    since: dt.datetime
    until: dt.datetime | None
    parts: dict[Scope, _Part] = field(default_factory=dict)  # by the split's root scope
    split: _Split | None = None  # how its tickets and cases were split into parts
    case_days: tuple[dt.date, ...] = ()  # the days of the cases it was matched with
    waiting: tuple[tuple[str, dt.date], ...] = ()  # its tickets then still being served
    # How many tickets it searched and cases it had, per ("tickets"/"cases", day).
    counts: dict[tuple[str, dt.date], int] = field(default_factory=dict)


Scope = offsystem_rules.Scope


def _root(parent: dict[Scope, Scope], scope: Scope) -> Scope:
    """The root of ``scope``'s part in the union-find ``parent``, its path compressed on the
    way (a root is its own parent: the very object)."""
    root = scope
    while parent[root] is not root:
        root = parent[root]
    while parent[scope] is not root:
        parent[scope], scope = root, parent[scope]
    return root


class _Split:
    """A cluster's tickets and cases split where they cannot compete for a case, kept up
    to date as tickets and cases are added.

    A case sits in scopes of its window and department (``rules.offsystem._case_scopes``).
    Scopes joined by a ticket that searches both or by a case that sits in both are one
    part; :func:`rules.offsystem.unmatched_tickets` over each part gives, together, what
    it gives over all of them (its greedy order is the same within a part, and a part
    never takes another's case). Cases in no scope a ticket searches cover nothing.

    The union-find over the scopes the tickets search, joined by each ticket's scopes
    and by each case's scopes among them, is the same whatever order tickets and cases
    come in; so a ticket or case added is joined in where it belongs, and only a ticket
    or case that changed or went (which may split a part) builds the split afresh. A
    cluster is mostly matched again because tickets finished or cases were accepted:
    additions only.

    Each part's members are kept by its root scope (``members``), and the roots whose
    members changed since :meth:`take_dirty` last asked are ``dirty``: the parts of the
    other roots are the very ones matched last time.
    """

    def __init__(self) -> None:
        self.parent: dict[Scope, Scope] = {}
        self.searches: dict[str, offsystem_rules.TicketSearch] = {}  # by ticket id
        self.keys: dict[str, tuple[object, ...]] = {}  # each case's match key, by id
        self.cases_in: dict[Scope, list[str]] = {}  # case ids by each of their scopes
        self.placed: dict[str, Scope] = {}  # case id -> a scope of it some ticket searches
        # By root scope: the part's ticket ids and (placed) case ids.
        self.members: dict[Scope, tuple[list[str], list[str]]] = {}
        self.dirty: set[Scope] = set()  # roots whose members changed since take_dirty

    def _find(self, scope: Scope) -> Scope:
        return _root(self.parent, scope)

    def _union(self, root_a: Scope, root_b: Scope) -> Scope:
        """Two parts' roots made one part; its root (the larger part's)."""
        if root_a is root_b:  # roots are the very objects _find gives
            return root_a
        members = self.members
        tickets_a, cases_a = members[root_a]
        tickets_b, cases_b = members[root_b]
        if len(tickets_a) + len(cases_a) < len(tickets_b) + len(cases_b):
            root_a, root_b = root_b, root_a  # the larger part's lists take the other
        self.parent[root_b] = root_a
        tickets, cases = members.pop(root_b)
        members[root_a][0].extend(tickets)
        members[root_a][1].extend(cases)
        self.dirty.discard(root_b)
        self.dirty.add(root_a)
        return root_a

    def _join(self, a: Scope, b: Scope) -> None:
        self._union(self._find(a), self._find(b))

    def _place(self, case_id: str, scope: Scope) -> None:
        self.placed[case_id] = scope
        root = self._find(scope)
        self.members[root][1].append(case_id)
        self.dirty.add(root)

    def add_search(self, s: offsystem_rules.TicketSearch) -> None:
        self.searches[s.ticket.id] = s
        scopes = offsystem_rules.search_scopes(s)
        parent = self.parent
        for scope in scopes:
            if scope in parent:
                continue
            parent[scope] = scope
            self.members[scope] = ([], [])
            self.dirty.add(scope)
            for case_id in self.cases_in.get(scope, ()):
                placed = self.placed.get(case_id)
                if placed is None:
                    self._place(case_id, scope)
                else:
                    self._join(placed, scope)
        root = self._find(scopes[0])  # scopes[0]'s root as each other scope is joined to it
        for scope in scopes[1:]:
            root = self._union(root, self._find(scope))
        self.members[root][0].append(s.ticket.id)
        self.dirty.add(root)

    def add_case(self, case: Case, key: tuple[object, ...]) -> None:
        self.keys[case.id] = key
        first: Scope | None = None
        for scope in offsystem_rules._case_scopes(case):  # the rule's own scopes
            self.cases_in.setdefault(scope, []).append(case.id)
            if scope in self.parent:
                if first is None:
                    first = scope
                    self._place(case.id, scope)
                else:
                    self._join(first, scope)

    def take_dirty(self) -> set[Scope]:
        """The roots whose members changed since the last call (and forget them)."""
        dirty, self.dirty = self.dirty, set()
        return dirty

    def part(
        self, root: Scope, snapshot: Snapshot
    ) -> tuple[list[offsystem_rules.TicketSearch], list[Case]]:
        """One part's tickets' searches and cases (their current versions)."""
        ticket_ids, case_ids = self.members[root]
        searches, cases = self.searches, snapshot.cases
        return [searches[i] for i in ticket_ids], [cases[i] for i in case_ids]

    def extend(
        self,
        searches: list[offsystem_rules.TicketSearch],
        cases: list[Case],
        keys: dict[str, tuple[object, ...]],
    ) -> bool:
        """Add what is new; False (and unchanged) if anything changed or went."""
        known, mine = self.searches, self.keys
        new_searches: list[offsystem_rules.TicketSearch] = []
        kept = 0
        for s in searches:
            old = known.get(s.ticket.id)
            if old is None:
                new_searches.append(s)
            elif old is not s:
                return False
            else:
                kept += 1
        if kept != len(known):  # one went
            return False
        new_cases: list[Case] = []
        kept = 0
        for case in cases:
            key = mine.get(case.id)
            if key is None:
                new_cases.append(case)
            elif key is not keys[case.id]:
                return False
            else:
                kept += 1
        if kept != len(mine):
            return False
        for case in new_cases:
            self.add_case(case, keys[case.id])
        for s in new_searches:
            self.add_search(s)
        return True

    def parts(
        self, snapshot: Snapshot
    ) -> list[tuple[list[offsystem_rules.TicketSearch], list[Case]]]:
        """The parts now, with the cases' current versions."""
        return [self.part(root, snapshot) for root in self.members]


def _split(
    searches: list[offsystem_rules.TicketSearch],
    cases: list[Case],
    keys: dict[str, tuple[object, ...]],
) -> _Split:
    """A split built afresh, in bulk: the same union-find as :meth:`_Split.add_search` and
    :meth:`_Split.add_case` one by one (the scopes the tickets search joined by each
    ticket's scopes and by each case's scopes among them), but the parts' members are
    gathered once at the end rather than carried along at every join."""
    split = _Split()
    parent = split.parent
    firsts: list[Scope] = []  # each search's first scope
    for s in searches:
        split.searches[s.ticket.id] = s
        scopes = offsystem_rules.search_scopes(s)
        root = None
        for scope in scopes:
            if scope not in parent:
                parent[scope] = scope
            other = _root(parent, scope)
            if root is None:
                root = other
            elif other is not root:
                parent[other] = root
        firsts.append(scopes[0])
    cases_in, placed = split.cases_in, split.placed
    for case in cases:
        split.keys[case.id] = keys[case.id]
        root = None
        for scope in offsystem_rules._case_scopes(case):  # the rule's own scopes
            cases_in.setdefault(scope, []).append(case.id)
            if scope in parent:
                other = _root(parent, scope)
                if root is None:
                    placed[case.id] = scope
                    root = other
                elif other is not root:
                    parent[other] = root
    members = split.members
    for scope in parent:
        if parent[scope] is scope:
            members[scope] = ([], [])
    for s, first in zip(searches, firsts, strict=True):
        members[_root(parent, first)][0].append(s.ticket.id)
    for case_id, scope in placed.items():
        members[_root(parent, scope)][1].append(case_id)
    split.dirty = set(members)
    return split


class TicketClusters:
    """``offsystem.ticket_without_case``, matched one cluster of days at a time.

    A ticket can only be covered by a case accepted between its call and its deadline
    (see :func:`rules.offsystem.unmatched_tickets`), so tickets whose search windows never
    overlap never compete for a case: the matching of a hall is the union of the
    matchings of such clusters. Tickets are kept by the local day their search starts;
    consecutive days whose windows overlap form one cluster, with the cases accepted
    within its span. A cluster is matched again only when one of its tickets or cases
    changed, a ticket in it finishes, a case in it is typed in, or a deadline in it
    passes — in practice, today's. Even then only its parts that changed are matched
    again: tickets and cases that share no scope never compete.
    """

    def __init__(self) -> None:
        self.searches: dict[str, offsystem_rules.TicketSearch] = {}
        self.ticket_days: dict[dt.date, set[str]] = {}
        self.case_days: dict[dt.date, set[str]] = {}
        self.case_keys: dict[str, tuple[object, ...]] = {}
        self.versions: dict[tuple[str, dt.date], int] = {}
        self.clusters: dict[tuple[dt.date, ...], _Cluster] = {}
        # Each ticket day's earliest search start and latest deadline; a day a ticket left
        # (or changed in) has none until it is found again from all its tickets.
        self._spans: dict[dt.date, tuple[dt.datetime, dt.datetime]] = {}
        # The tickets and cases each ("tickets"/"cases", day) lost, gained or changed
        # since the last findings() call: all a cluster matched then has to look at again
        # (see _additions), however many tickets and cases its days hold.
        self.touched: dict[tuple[str, dt.date], set[str]] = {}
        # The last findings() call's findings of parts replaced, and of their replacements.
        self.rematched: tuple[list[Finding], list[Finding]] = ([], [])

    def _touch(self, kind: str, day: dt.date) -> None:
        self.versions[(kind, day)] = self.versions.get((kind, day), 0) + 1

    def update(
        self, snapshot: Snapshot, tickets: Iterable[str], cases: Iterable[str], ctx: RuleContext
    ) -> None:
        far = RuleContext(ctx.calendar, ctx.policy, FAR, ctx.parameters)
        consultation = frozenset(ctx.parameters.offsystem.consultation_services)
        local = ctx.policy.local_date
        days: set[tuple[str, dt.date]] = set()  # touched now: each day's version moves once
        if not self.searches and not self.case_keys:
            self._load(snapshot, tickets, cases, far, consultation, days)
            for kind, day in days:
                self._touch(kind, day)
            return

        def touched(kind: str, day: dt.date) -> set[str]:
            days.add((kind, day))
            return self.touched.setdefault((kind, day), set())

        ticket_ids = list(dict.fromkeys(tickets))
        for ticket_id in ticket_ids:
            old = self.searches.pop(ticket_id, None)
            if old is not None:
                day = local(old.start)
                self.ticket_days[day].discard(ticket_id)
                touched("tickets", day).add(ticket_id)
                self._spans.pop(day, None)
        found = (snapshot.tickets.get(i) for i in ticket_ids)
        present = (ticket for ticket in found if ticket is not None)
        for search in offsystem_rules.ticket_searches(present, far, consultation):
            ticket_id = search.ticket.id
            self.searches[ticket_id] = search
            day = local(search.start)
            self.ticket_days.setdefault(day, set()).add(ticket_id)
            touched("tickets", day).add(ticket_id)
            span = self._spans.get(day)
            if span is not None:  # widened by what comes; what went needs all of them
                self._spans[day] = (min(span[0], search.start), max(span[1], search.due_at))
        for case_id in cases:
            # Only what matching reads counts as a change (a conclusion does not).
            case = snapshot.cases.get(case_id)
            key = None if case is None else _match_key(case)
            old_key = self.case_keys.pop(case_id, None)
            if old_key == key:
                if old_key is not None:
                    self.case_keys[case_id] = old_key  # the same object: see _Split.extend
                continue
            if old_key is not None:
                day = local(old_key[0])
                self.case_days[day].discard(case_id)
                touched("cases", day).add(case_id)
            if key is not None:
                day = local(key[0])
                self.case_keys[case_id] = key
                self.case_days.setdefault(day, set()).add(case_id)
                touched("cases", day).add(case_id)
        for kind, day in days:  # each day's version moves once
            self._touch(kind, day)

    def _load(
        self,
        snapshot: Snapshot,
        tickets: Iterable[str],
        cases: Iterable[str],
        far: RuleContext,
        consultation: frozenset[str],
        touched: set[tuple[str, dt.date]],
    ) -> None:
        """:meth:`update` of clusters that hold nothing yet (a full evaluation): the same,
        without looking for what each ticket and case replaces, and with only the tickets
        that may expect a case (served, not flagged consultation, finished) given to
        :func:`rules.offsystem.ticket_search`, which returns None for every other; the
        days they fall on go to ``touched``."""
        local = far.policy.local_date
        served = TicketStatus.SERVED
        get_ticket = snapshot.tickets.get
        candidates = [
            ticket
            for ticket in map(get_ticket, tickets)
            if ticket is not None
            and ticket.status is served
            and not ticket.consultation
            and ticket.finished_at is not None
        ]
        searches, ticket_days = self.searches, self.ticket_days
        for search in offsystem_rules.ticket_searches(candidates, far, consultation):
            ticket_id = search.ticket.id
            searches[ticket_id] = search
            day = local(search.start)
            days = ticket_days.get(day)
            if days is None:
                days = ticket_days[day] = set()
                touched.add(("tickets", day))
            days.add(ticket_id)
        keys, case_days = self.case_keys, self.case_days
        get_case = snapshot.cases.get
        for case_id in cases:
            case = get_case(case_id)
            if case is None:
                continue
            key = keys[case_id] = _match_key(case)
            day = local(key[0])
            days = case_days.get(day)
            if days is None:
                days = case_days[day] = set()
                touched.add(("cases", day))
            days.add(case_id)

    def _groups(self) -> list[tuple[list[dt.date], dt.datetime, dt.datetime]]:
        """Clusters of ticket days: (days, earliest search start, latest deadline)."""
        groups: list[tuple[list[dt.date], dt.datetime, dt.datetime]] = []
        for day in sorted(d for d, ids in self.ticket_days.items() if ids):
            span = self._spans.get(day)
            if span is None:
                searches = [self.searches[i] for i in self.ticket_days[day]]
                span = (min(s.start for s in searches), max(s.due_at for s in searches))
                self._spans[day] = span
            start, end = span
            if groups and start <= groups[-1][2]:
                days, first, last = groups[-1]
                groups[-1] = ([*days, day], first, max(last, end))
            else:
                groups.append(([day], start, end))
        return groups

    def findings(self, snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
        at, local = ctx.at, ctx.policy.local_date
        found: list[Finding] = []
        clusters: dict[tuple[dt.date, ...], _Cluster] = {}
        for days, start, end in self._groups():
            first, last = local(start), local(end)
            case_days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
            version = (
                *(self.versions.get(("tickets", d), 0) for d in days),
                *(self.versions.get(("cases", d), 0) for d in case_days),
            )
            key = tuple(days)
            cluster = self.clusters.get(key)
            if (
                cluster is None
                or cluster.version != version
                or at < cluster.since
                or (cluster.until is not None and at >= cluster.until)
            ):
                settled = None
                if cluster is None and end + SECOND <= at:
                    settled = self._settled(days, case_days, version, snapshot, ctx)
                if settled is None:
                    settled = self._match(days, case_days, version, snapshot, ctx, cluster)
                cluster = settled
            clusters[key] = cluster
            found.extend(cluster.findings)
        self.rematched = _replaced(self.clusters, clusters)
        self.clusters = clusters
        self.touched = {}  # every cluster is as matched now
        return found

    def _settled(
        self,
        days: list[dt.date],
        case_days: list[dt.date],
        version: tuple[object, ...],
        snapshot: Snapshot,
        ctx: RuleContext,
    ) -> _Cluster | None:
        """A settled cluster matched in bulk (:func:`monitor.ticketmatch.unmatched`), its
        findings kept without its split and parts; None if it is not settled.

        Settled: every deadline in it passed (in whole seconds) and every case of its days
        in the approval system by ``ctx.at``, so that nothing in it changes with time: it
        is matched again only when a ticket or case of its days changes, which for the
        days before today is rare. A full evaluation matches most clusters this way, and
        builds the split and parts (which only make such a match again cheaper) of those
        that are not settled — today's — and of a settled one when it is first matched
        again. The caller has checked the deadlines."""
        at = ctx.at
        ids = [i for d in case_days for i in self.case_days.get(d, ())]
        keys = [self.case_keys[i] for i in ids]
        for accepted, recorded, *_ in keys:
            if accepted > at or (recorded is not None and recorded > at):
                return None  # typed in after ``at``: it would change the matching then
        searches = [self.searches[i] for d in days for i in self.ticket_days[d]]
        unmatched = unmatched_in_bulk(searches, ids, keys, at)
        part = _past_due(
            _Part({}, {}, tuple(unmatched), None, (), at, None),
            snapshot,
            ctx,
        )
        if part.until is not None:
            return None
        return _Cluster(version, part.findings, at, None, {_SETTLED: part}, None, tuple(case_days))

    def _match(
        self,
        days: list[dt.date],
        case_days: list[dt.date],
        version: tuple[object, ...],
        snapshot: Snapshot,
        ctx: RuleContext,
        previous: _Cluster | None,
    ) -> _Cluster:
        at = ctx.at
        old_parts = {} if previous is None else previous.parts
        parts: dict[Scope, _Part] = {}
        delta = self._additions(days, case_days, version, snapshot, at, previous)
        if delta is not None:
            assert previous is not None and previous.split is not None
            split = previous.split
            new_searches, new_cases, waiting, counts = delta
            for case in new_cases:
                split.add_case(case, self.case_keys[case.id])
            for s in new_searches:
                split.add_search(s)
            extended = True
        else:
            searches, cases, waiting, counts = self._members(days, case_days, snapshot, at)
            split = None if previous is None else previous.split
            extended = split is not None and split.extend(searches, cases, self.case_keys)
            if split is None or not extended:
                split = _split(searches, cases, self.case_keys)
        if extended:
            # Only additions: a part whose members did not change is the one matched then.
            dirty = split.take_dirty()
            for root in split.members:
                part = old_parts.get(root)
                if (
                    part is None
                    or at < part.since
                    or (part.rematch is not None and at >= part.rematch)
                ):
                    part_searches, part_cases = split.part(root, snapshot)
                    part = self._match_part(part_searches, part_cases, snapshot, ctx)
                elif root in dirty:
                    part = self._go_on(part, root, split, snapshot, ctx)
                elif part.until is not None and at >= part.until:
                    part = _past_due(part, snapshot, ctx)
                parts[root] = part
        else:
            split.take_dirty()
            by_tickets = {frozenset(part.tickets): part for part in old_parts.values()}
            for root in split.members:
                part_searches, part_cases = split.part(root, snapshot)
                part = by_tickets.get(frozenset(s.ticket.id for s in part_searches))
                if part is None or not _same_part(
                    part, part_searches, part_cases, self.case_keys, at
                ):
                    part = self._match_part(part_searches, part_cases, snapshot, ctx)
                elif part.until is not None and at >= part.until:
                    part = _past_due(part, snapshot, ctx)
                parts[root] = part
        finishing = [self.searches[i].ticket.finished_at for i, _ in waiting]
        return _Cluster(
            version,
            tuple(f for part in parts.values() for f in part.findings),
            at,
            _first_after(
                at,
                [
                    *(p.until for p in parts.values()),
                    *(p.rematch for p in parts.values()),
                    *finishing,
                ],
            ),
            parts,
            split,
            tuple(case_days),
            tuple(waiting),
            counts,
        )

    def _members(
        self, days: list[dt.date], case_days: list[dt.date], snapshot: Snapshot, at: dt.datetime
    ) -> tuple[
        list[offsystem_rules.TicketSearch],
        list[Case],
        list[tuple[str, dt.date]],
        dict[tuple[str, dt.date], int],
    ]:
        """A cluster's tickets finished by ``at`` (searched), its cases, its tickets still
        being served (not searched, by day) and how many it searches and has per day."""
        searches: list[offsystem_rules.TicketSearch] = []
        waiting: list[tuple[str, dt.date]] = []
        counts: dict[tuple[str, dt.date], int] = {}
        for d in days:
            before = len(searches)
            for i in self.ticket_days[d]:
                search = self.searches[i]
                finished = search.ticket.finished_at
                if finished is not None and finished <= at:  # ticket_search's own condition
                    searches.append(search)
                else:
                    waiting.append((i, d))
            counts[("tickets", d)] = len(searches) - before
        cases: list[Case] = []
        for d in case_days:
            ids = self.case_days.get(d, ())
            cases.extend(snapshot.cases[i] for i in ids)
            counts[("cases", d)] = len(ids)
        return searches, cases, waiting, counts

    def _additions(
        self,
        days: list[dt.date],
        case_days: list[dt.date],
        version: tuple[object, ...],
        snapshot: Snapshot,
        at: dt.datetime,
        previous: _Cluster | None,
    ) -> (
        tuple[
            list[offsystem_rules.TicketSearch],
            list[Case],
            list[tuple[str, dt.date]],
            dict[tuple[str, dt.date], int],
        ]
        | None
    ):
        """What was added to a cluster since it was matched (the tickets that finished
        since and the new ones, the new cases), looking only at the tickets and cases its
        days lost, gained or changed since (:attr:`touched`) and at its tickets then still
        being served; with the :meth:`_members` it would have now. None: something changed
        or went (or its days, or the instant went back), so the split is built again from
        all its members."""
        if (
            previous is None
            or previous.split is None
            or previous.case_days != tuple(case_days)
            or len(previous.version) != len(version)
            or at < previous.since
        ):
            return None
        split = previous.split
        counts = dict(previous.counts)
        searched = len(days)
        touched = self.touched
        new_searches: list[offsystem_rules.TicketSearch] = []
        waiting: list[tuple[str, dt.date]] = []
        for i, d in previous.waiting:
            if i in touched.get(("tickets", d), ()):
                continue  # looked at below
            search = self.searches[i]  # the same (it was not touched)
            finished = search.ticket.finished_at
            if finished is not None and finished <= at:
                new_searches.append(search)
                counts[("tickets", d)] += 1
            else:
                waiting.append((i, d))
        known = split.searches
        for d, v, w in zip(days, version, previous.version, strict=False):
            if v == w:
                continue
            present = self.ticket_days[d]
            for i in touched.get(("tickets", d), ()):
                old = known.get(i)
                if i not in present:
                    if old is not None:
                        return None  # searched before, gone now
                    continue
                search = self.searches[i]
                finished = search.ticket.finished_at
                if finished is not None and finished <= at:
                    if old is None:
                        new_searches.append(search)
                        counts[("tickets", d)] = counts.get(("tickets", d), 0) + 1
                    elif old is not search:
                        return None
                elif old is not None:
                    return None  # searched before, not now: a change
                else:
                    waiting.append((i, d))
        mine = split.keys
        new_cases: list[Case] = []
        for d, v, w in zip(case_days, version[searched:], previous.version[searched:], strict=True):
            if v == w:
                continue
            present = self.case_days.get(d, set())
            for i in touched.get(("cases", d), ()):
                old_key = mine.get(i)
                if i not in present:
                    if old_key is not None:
                        return None  # matched with before, gone from the day now
                elif old_key is None:
                    new_cases.append(snapshot.cases[i])
                elif old_key is not self.case_keys[i]:
                    return None
            counts[("cases", d)] = len(present)
        return new_searches, new_cases, waiting, counts

    def _match_part(
        self,
        searches: list[offsystem_rules.TicketSearch],
        cases: list[Case],
        snapshot: Snapshot,
        ctx: RuleContext,
    ) -> _Part:
        at = ctx.at
        # The searches were made at FAR: ticket_search at ``at`` gives the same for these
        # tickets (finished by ``at``, as _match takes them), so they are not made again.
        matching = offsystem_rules.Matching(searches, cases, ctx)
        return _matched(
            {s.ticket.id: s.ticket for s in searches},
            {c.id: self.case_keys[c.id] for c in cases},
            matching,
            _first_after(at, [_known_from(c) for c in cases]),
            snapshot,
            ctx,
        )

    def _go_on(
        self, part: _Part, root: Scope, split: _Split, snapshot: Snapshot, ctx: RuleContext
    ) -> _Part:
        """The part of ``root``, which only gained tickets or cases since ``part`` was
        matched: its matching carried on with them where it can be
        (:meth:`rules.offsystem.Matching.extend`), else matched again whole.

        While a split is only added to, a root's member lists only grow at their ends (a
        part joined to it is appended too), so what ``part`` has not seen is what follows
        its members there — found without walking the part."""
        matching, tickets, known = part.matching, part.tickets, part.cases
        ticket_ids, case_ids = split.members[root]
        added_tickets, added_cases = ticket_ids[len(tickets) :], case_ids[len(known) :]
        if (
            matching is not None
            and matching.extended == part.extended
            and len(ticket_ids) >= len(tickets)
            and len(case_ids) >= len(known)
            and not any(i in tickets for i in added_tickets)
            and not any(i in known for i in added_cases)
        ):
            new_searches = [split.searches[i] for i in added_tickets]
            new_cases = [snapshot.cases[i] for i in added_cases]
            if matching.extend(new_searches, new_cases, ctx):
                return _matched(
                    {**tickets, **{s.ticket.id: s.ticket for s in new_searches}},
                    {**known, **{c.id: self.case_keys[c.id] for c in new_cases}},
                    matching,
                    _first_after(ctx.at, [part.rematch, *(_known_from(c) for c in new_cases)]),
                    snapshot,
                    ctx,
                )
        searches, cases = split.part(root, snapshot)
        return self._match_part(searches, cases, snapshot, ctx)


def _replaced(
    before: dict[tuple[dt.date, ...], _Cluster], after: dict[tuple[dt.date, ...], _Cluster]
) -> tuple[list[Finding], list[Finding]]:
    """The findings of the parts in ``before`` that ``after`` no longer holds, and of the
    parts in ``after`` that are new (a cluster's findings are its parts')."""
    old = {
        id(p): p for key, c in before.items() if after.get(key) is not c for p in c.parts.values()
    }
    new = {
        id(p): p for key, c in after.items() if before.get(key) is not c for p in c.parts.values()
    }
    return (
        [f for i, p in old.items() if i not in new for f in p.findings],
        [f for i, p in new.items() if i not in old for f in p.findings],
    )


def _kept_if_equal(
    before: list[Finding], now: list[Finding]
) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """``now`` with each finding equal to one of ``before`` (by fingerprint and value)
    given as that object; then the findings of ``before`` gone or replaced, and the new
    or replacing ones."""
    previous = {f.fingerprint: f for f in before}
    kept: list[Finding] = []
    gone: list[Finding] = []
    new: list[Finding] = []
    for finding in now:
        old = previous.pop(finding.fingerprint, None)
        if old is not None and old == finding:
            kept.append(old)
            continue
        kept.append(finding)
        new.append(finding)
        if old is not None:
            gone.append(old)
    gone.extend(previous.values())
    return kept, gone, new


def _matched(
    tickets: dict[str, object],
    cases: dict[str, object],
    matching: offsystem_rules.Matching,
    rematch: dt.datetime | None,
    snapshot: Snapshot,
    ctx: RuleContext,
) -> _Part:
    """The part of these tickets and cases (their match keys) as ``matching`` matched
    them at ``ctx.at``, keeping it to go on from; its findings then (:func:`_past_due`)."""
    return _past_due(
        _Part(
            tickets,
            cases,
            tuple(matching.unmatched),
            rematch,
            (),
            ctx.at,
            None,
            matching,
            matching.extended,
        ),
        snapshot,
        ctx,
    )


def _past_due(part: _Part, snapshot: Snapshot, ctx: RuleContext) -> _Part:
    """The part's findings at ``ctx.at`` from its matching: its members all finished by
    then and no case in it typed in since, the matching is the rule's at this instant too
    (it reads the instant only through them); only which deadlines have passed moves."""
    at = ctx.at
    return dataclasses.replace(
        part,
        findings=tuple(
            offsystem_rules.ticket_finding(s, snapshot.items, ctx)
            for s in part.unmatched
            if past(at, s.due_at)
        ),
        since=at,
        until=_first_after(at, [s.due_at + SECOND for s in part.unmatched]),
    )


def _same_part(
    part: _Part,
    searches: list[offsystem_rules.TicketSearch],
    cases: list[Case],
    keys: dict[str, tuple[object, ...]],
    at: dt.datetime,
) -> bool:
    """Whether a part's matching still holds: the very same tickets, cases with the very
    same match keys (a case concluded or otherwise changed in what matching does not
    read keeps the part's matching: :func:`_match_key` is all it reads of a case), and
    no case in it typed in since (its deadlines passing change only its findings)."""
    if at < part.since or (part.rematch is not None and at >= part.rematch):
        return False
    if len(cases) != len(part.cases):
        return False
    tickets, known = part.tickets, part.cases
    return all(tickets.get(s.ticket.id) is s.ticket for s in searches) and all(
        known.get(c.id) is keys[c.id] for c in cases
    )


# --- backfilled cases and double acceptances (judged over the few cases that can show them)


def may_be_backfilled(
    case: Case, ctx: RuleContext, places: ByPlace[OffsystemPlace] | None = None
) -> bool:
    """Whether a case can ever show a pattern of ``offsystem.backfilled_case``.

    Typed in after its threshold (late entry), or on a later day than its acceptance (a
    backdated case, which bursts are made of), or concluded within the instant-conclusion
    limit of its acceptance. Every other case can be left out of the rule's input without
    changing its answer. ``places``: ``ctx.parameters.offsystem.places``, for a caller
    that holds it over many cases.
    """
    if places is None:
        places = ctx.parameters.offsystem.places
    _grace, threshold, instant = places[(case.item, case.department)]
    if case.recorded_at is not None:
        local = ctx.policy.local_date
        if local(case.accepted_at) < local(case.recorded_at):
            return True
        if case.recorded_at - case.accepted_at > threshold:
            return True
    return case.concluded_at is not None and (case.concluded_at - case.accepted_at < instant)


_FewPart = tuple[str, Any]  # ("backfill", burst scope) or ("double", applicant key)


class FewCases:
    """The cases two rules need to see: possibly backfilled ones, and applications of one
    applicant for one item made more than once (``offsystem.double_acceptance``).

    Cases are grouped by applicant (the key string the cases carry: no object of its own
    per case; nearly every applicant has one case). The cases of an applicant with one
    item twice are the repeated ones.

    Both rules are judged by part, and a part only when it may have changed: the possibly
    backfilled cases of one burst scope (a window, else a department: a burst never spans
    two), the cases of one applicant with several. A part's findings are kept until one
    of its cases changes, comes or goes, or the instant reaches one of its cases'
    acceptance, typing in or conclusion — whether a case is known yet, and concluded, is
    all the instant decides in these two rules.
    """

    def __init__(self) -> None:
        self.scopes: dict[object, set[str]] = {}  # possibly backfilled case ids by scope
        self.scope_of: dict[str, object] = {}  # burst scope by possibly backfilled case id
        self.groups: _Index[str] = _Index()  # case ids by applicant key
        self.group_of: dict[str, str] = {}  # applicant key by case id
        self.verdicts: Verdicts[_FewPart] = Verdicts()  # each part's findings, until when
        self._dirty: set[_FewPart] = set()  # parts to judge again

    def update(self, snapshot: Snapshot, cases: Collection[str], ctx: RuleContext) -> None:
        """Look again at these cases (each id once); the rest are as they were."""
        scopes, scope_of, group_of, groups = self.scopes, self.scope_of, self.group_of, self.groups
        dirty = self._dirty
        held = bool(scope_of or group_of)  # nothing held (a full evaluation): nothing to drop
        get_case = snapshot.cases.get
        places = ctx.parameters.offsystem.places
        for case_id in cases:
            if held:
                if case_id in scope_of:
                    scope = scope_of.pop(case_id)
                    members = scopes[scope]
                    members.discard(case_id)
                    if not members:
                        del scopes[scope]
                    dirty.add(("backfill", scope))
                group = group_of.pop(case_id, None)
                if group is not None:
                    if len(groups.get(group)) > 1:  # a lone case has no findings to drop
                        dirty.add(("double", group))
                    groups.remove(group, case_id)
            case = get_case(case_id)
            if case is None:
                continue
            if may_be_backfilled(case, ctx, places):
                scope = offsystem_rules.burst_scope(case)
                scope_of[case_id] = scope
                scopes.setdefault(scope, set()).add(case_id)
                dirty.add(("backfill", scope))
            applicant = case.applicant_key
            if applicant is not None:
                group_of[case_id] = applicant
                groups.add(applicant, case_id)
                if len(groups.get(applicant)) > 1:
                    dirty.add(("double", applicant))

    def findings(self, snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
        self._dirty.update(self.verdicts.expired(ctx.at))
        if self._dirty:
            self._judge(snapshot, ctx)
        return self.verdicts.findings(ctx.at, current=False)

    def _judge(self, snapshot: Snapshot, ctx: RuleContext) -> None:
        """Judge the parts that may have changed, in one call of each rule."""
        dirty, self._dirty = self._dirty, set()
        cases, at = snapshot.cases, ctx.at
        backfill: list[str] = []
        repeated: list[str] = []
        until: dict[_FewPart, dt.datetime | None] = {}
        for part in dirty:
            kind, key = part
            if kind == "backfill":
                ids: Collection[str] = self.scopes.get(key, ())
                backfill.extend(ids)
            else:
                ids = self.groups.get(key)
                if len(ids) > 1:
                    items = Counter(cases[i].item for i in ids)
                    repeated.extend(i for i in ids if items[cases[i].item] > 1)
            # Judged again, whatever changes, at its cases' next acceptance, typing in or
            # conclusion.
            until[part] = _first_after(
                at,
                (
                    instant
                    for i in ids
                    for instant in (
                        cases[i].accepted_at,
                        cases[i].recorded_at,
                        cases[i].concluded_at,
                    )
                ),
            )
        found = (
            *offsystem_rules.backfilled_cases(_with_cases(snapshot, backfill), ctx),
            *offsystem_rules.double_accepted_cases(_with_cases(snapshot, repeated), ctx),
        )
        by_part: dict[_FewPart, list[Finding]] = {}
        for finding in found:
            case_id = finding.case_id
            assert case_id is not None
            part = (
                ("backfill", self.scope_of[case_id])
                if finding.rule == offsystem_rules.BACKFILLED_CASE
                else ("double", self.group_of[case_id])
            )
            by_part.setdefault(part, []).append(finding)
        for part, boundary in until.items():
            _keep(self.verdicts, part, tuple(by_part.get(part, ())), at, boundary)


class Ratings:
    """``evaluation.bad_rating_unresolved``, judged one bad rating at a time: again only
    when the rating or its case changes, or the instant reaches the rating's next
    boundary — its rating instant, its follow-up (a follow-up recorded later does not
    exist yet) or the first second after the follow-up was due. A good rating has no
    finding and is not kept; a hall holds every rating it ever had."""

    def __init__(self) -> None:
        self.verdicts: Verdicts[str] = Verdicts()  # each bad rating's finding, until when
        self.by_case: _Index[str] = _Index()  # bad rating ids by case id
        self.case_of: dict[str, str] = {}  # case id by bad rating id
        self._dirty: set[str] = set()  # bad ratings to judge again (or forget)

    def update(
        self, snapshot: Snapshot, ratings: Iterable[str] | None, cases: Iterable[str]
    ) -> None:
        """Look again at these ratings (None: every one) and at the bad ratings of these
        cases."""
        by_case, case_of, dirty = self.by_case, self.case_of, self._dirty
        for rating_id in snapshot.evaluations if ratings is None else ratings:
            case_id = case_of.pop(rating_id, None)
            if case_id is not None:
                by_case.remove(case_id, rating_id)
            rating = snapshot.evaluations.get(rating_id)
            if rating is not None and rating.is_bad and rating.case_id is not None:
                case_of[rating_id] = rating.case_id
                by_case.add(rating.case_id, rating_id)
            dirty.add(rating_id)
        for case_id in cases:
            dirty.update(by_case.get(case_id))

    def findings(self, snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
        dirty, self._dirty = self._dirty, set()
        verdicts, at = self.verdicts, ctx.at
        dirty.update(verdicts.expired(at))
        for rating_id in dirty:
            rating = snapshot.evaluations.get(rating_id)
            if rating is None or not rating.is_bad:
                verdicts.drop(rating_id)
                continue
            known = evaluation_rules.followup(rating, snapshot.cases, ctx)
            finding = evaluation_rules.bad_rating_unresolved(rating, snapshot.cases, ctx, known)
            due = known.due
            boundary = _first_after(
                at,
                (
                    rating.rated_at,
                    rating.followed_up_at,
                    None if due is None else due.replace(microsecond=0) + SECOND,
                ),
            )
            _keep(verdicts, rating_id, () if finding is None else (finding,), at, boundary)
        return verdicts.findings(at, current=False)


def _keep(
    verdicts: Verdicts[_K],
    key: _K,
    findings: tuple[Finding, ...],
    at: dt.datetime,
    until: dt.datetime | None,
) -> None:
    """Store what ``key`` was judged to; forget it if that is nothing, for good (no
    findings, no boundary ahead): a hall's parts and ratings only ever come."""
    if findings or until is not None:
        verdicts.store(key, Verdict((), findings, at, until))
    else:
        verdicts.drop(key)


def _with_cases(snapshot: Snapshot, ids: Iterable[str]) -> Snapshot:
    cases = {i: snapshot.cases[i] for i in sorted(ids)}
    return Snapshot.model_construct(**{**snapshot.__dict__, "cases": cases})


class _Judged:
    """Collects what an evaluation judged again, for :class:`Rejudged`: the findings of
    the versions replaced (gone) and of their replacements (now)."""

    def __init__(self, known: bool) -> None:
        self.known = known  # False: everything is judged again, nothing is collected
        self.gone: list[Finding] = []
        self.now: list[Finding] = []

    @contextmanager
    def verdicts(self, verdicts: Verdicts[str], keys: set[str]) -> Iterator[None]:
        """Around judging these subjects again: their verdicts that changed."""
        if not self.known:
            yield
            return
        table = verdicts.by_subject
        before = [(key, table.get(key)) for key in keys]
        yield
        for key, old in before:
            new = table.get(key)
            if old is not new:
                if old is not None:
                    self.gone.extend(old.findings)
                if new is not None:
                    self.now.extend(new.findings)

    def replaced(self, old: Iterable[Finding], new: Iterable[Finding]) -> None:
        """Findings given before, and those given instead of them now."""
        if self.known:
            self.gone.extend(old)
            self.now.extend(new)

    def report(self) -> dict[str, Finding | None] | None:
        if not self.known:
            return None
        found: dict[str, Finding | None] = {f.fingerprint: None for f in self.gone}
        found.update((f.fingerprint, f) for f in self.now)
        return found


class Found(Collection[Finding]):
    """An evaluation's findings, gathered from the families' verdicts only when first read.

    Its length is known without gathering them — each family counts its findings as it
    stores verdicts (:attr:`Verdicts.count`) — so a caller that needs only that (the
    ledger, when the engine's report of what it judged again says the rest) never walks
    every open finding of the hall. Read it before the engine evaluates again: the
    verdicts are then no longer these, and reading fails."""

    def __init__(self, engine: Engine, count: int, gather: Callable[[], list[Finding]]) -> None:
        self._engine, self._serial = engine, engine.serial
        self._count = count
        self._gather: Callable[[], list[Finding]] | None = gather
        self._found: list[Finding] = []

    def _list(self) -> list[Finding]:
        if self._gather is not None:
            if self._engine.serial != self._serial:
                raise RuntimeError("an evaluation's findings read after the next evaluation")
            self._found, self._gather = self._gather(), None
        return self._found

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Finding]:
        return iter(self._list())

    def __contains__(self, finding: object) -> bool:
        return finding in self._list()


# --- the engine -------------------------------------------------------------------------------


class Engine:
    """Evaluates every rule family, each judging again only what it must (module doc)."""

    def __init__(self) -> None:
        self._context: tuple[object, ...] | None = None
        # The pre-selections of the last (calendar, policy), sharing its arrays.
        self._preselections: (
            tuple[tuple[object, ...], OverduePreselection, FeePreselection] | None
        ) = None
        self._at: dt.datetime | None = None
        self.serial = next(_SERIALS)  # no two engines' evaluations share a number
        # What the last evaluation judged again (see Rejudged); the ledger reads it.
        self.rejudged = Rejudged(self.serial, None, None)
        self._other: list[Finding] = []  # findings judged afresh at every evaluation
        self._forget()

    def _forget(self) -> None:
        self.overdue: Verdicts[str] = Verdicts()
        self.fees: Verdicts[str] = Verdicts()
        self.deposits: Verdicts[str] = Verdicts()
        self.tickets = TicketClusters()
        self.few = FewCases()
        self.ratings = Ratings()
        self._links = _Links()
        self._items: dict[str, tuple[Item]] = {}  # each item alone: see _alone

    def _alone(self, item: Item) -> tuple[Item]:
        """The tuple of ``item`` alone, one per item: the inputs of most case verdicts."""
        alone = self._items.get(item.code)
        if alone is None or alone[0] is not item:
            alone = self._items[item.code] = (item,)
        return alone

    def evaluate(
        self,
        snapshot: Snapshot,
        ctx: RuleContext,
        changes: Changes | None,
        current: bool = True,
        ordered: bool = True,
    ) -> Collection[Finding]:
        """Every family's findings at ``ctx.at``, sorted as :func:`rules.evaluate_all` sorts
        (``ordered`` False: in no particular order, for a caller that does not need them
        sorted — sorting every open finding at each evaluation grows with the hall — and
        gathered only when read: see :class:`Found`).

        ``changes`` says what changed since the previous call; None means unknown (every
        subject is judged again).

        ``current`` False: a finding whose subject was not judged again is given as it
        was judged — the very object of the previous call — with a ticking
        ``seconds_late`` not brought to ``ctx.at``; :func:`brought_to` brings it. Every
        other part is as judged at ``ctx.at``. It saves a copy of every open overdue
        finding per call, for a caller (the ledger) that needs few of them current.

        The cyclic garbage collector is paused meanwhile: judging allocates a great many
        short-lived objects and makes no reference cycles, and every collection it would
        trigger walks the hall's millions of records again (a third of a full evaluation).
        What survives (verdicts, findings, indexes) is frozen, not walked, at the end.
        """
        with collector_paused(freeze=True):
            findings = self._evaluate(snapshot, ctx, changes, current)
            return sorted(findings, key=finding_order) if ordered else findings

    def _evaluate(
        self, snapshot: Snapshot, ctx: RuleContext, changes: Changes | None, current: bool
    ) -> Found:
        monitored = snapshot.watches("payments")
        context = (ctx.calendar, ctx.policy, ctx.parameters, monitored)
        fresh = (
            changes is None
            or self._context is None
            or any(a is not b for a, b in zip(context, self._context, strict=True))
            or self._at is None
            or ctx.at < self._at
            or changes.items
        )
        cases: AbstractSet[str]
        payments: AbstractSet[str]
        tickets: AbstractSet[str]
        if fresh:
            # The held tables' own keys, not copies: a province's are millions of ids,
            # and every set made of them would be held through the whole evaluation.
            self._forget()
            cases, payments, tickets = (
                snapshot.cases.keys(),
                snapshot.payments.keys(),
                snapshot.tickets.keys(),
            )
        else:
            assert changes is not None
            cases, payments = set(changes.cases), set(changes.payments)
            tickets = set(changes.tickets)
        self._context, self._at = context, ctx.at
        cases_for_fees, deposits = self._relink(snapshot, cases, payments, fresh)
        judged = _Judged(not fresh and not current)
        # A verdict does not keep its subject (see Verdict): a changed subject's verdict
        # goes before it is judged again — within judged.verdicts, so that its findings
        # count as replaced.
        overdue_due = _and(cases, self.overdue.expired(ctx.at))
        with judged.verdicts(self.overdue, overdue_due):
            if not fresh:
                for case_id in cases:
                    self.overdue.drop(case_id)
            self._overdue_all(overdue_due, snapshot, ctx)
        fees_due = _and(cases_for_fees, self.fees.expired(ctx.at))
        with judged.verdicts(self.fees, fees_due):
            if not fresh:
                for case_id in cases:
                    self.fees.drop(case_id)
            self._fees_all(fees_due, snapshot, ctx, monitored)
        deposits_due = _and(deposits, self.deposits.expired(ctx.at))
        with judged.verdicts(self.deposits, deposits_due):
            if not fresh:
                for payment_id in payments:
                    self.deposits.drop(payment_id)
            self._deposits_all(deposits_due, ctx)
        self.overdue.shared.clear()
        self.fees.shared.clear()
        self.tickets.update(snapshot, tickets, cases, ctx)
        self.few.update(snapshot, cases, ctx)
        if fresh:
            self.ratings.update(snapshot, None, ())
        else:
            assert changes is not None
            self.ratings.update(snapshot, changes.evaluations, cases)
        ticket_findings = self.tickets.findings(snapshot, ctx)
        judged.replaced(*self.tickets.rematched)
        # Judged afresh every time; what came out the same is given as the very object it
        # was, so that only what changed counts as judged again.
        other, gone, new = _kept_if_equal(
            self._other,
            [*self.few.findings(snapshot, ctx), *self.ratings.findings(snapshot, ctx)],
        )
        judged.replaced(gone, new)
        self._other = other
        after, self.serial = self.serial, next(_SERIALS)
        self.rejudged = Rejudged(self.serial, after, judged.report())
        at = ctx.at

        def gather() -> list[Finding]:
            return [
                *self.overdue.findings(at, current),
                *self.fees.findings(at),
                *self.deposits.findings(at),
                *ticket_findings,
                *other,
            ]

        count = self.overdue.count + self.fees.count + self.deposits.count
        return Found(self, count + len(ticket_findings) + len(other), gather)

    def _relink(
        self,
        snapshot: Snapshot,
        cases: AbstractSet[str],
        payments: AbstractSet[str],
        fresh: bool = False,
    ) -> tuple[AbstractSet[str], AbstractSet[str]]:
        """Update the links; the cases whose fees and the deposits whose match may change.

        ``fresh``: the links start empty and every case and payment is judged anyway, so
        nothing needs to be looked up while linking (and they are those given).
        """
        links = self._links
        if fresh:
            for payment_id in payments:
                links.set_payment(payment_id, snapshot.payments.get(payment_id))
            for case_id in cases:
                links.set_case(case_id, snapshot.cases.get(case_id))
            return cases, payments
        fee_cases, deposits = set(cases), set(payments)
        for payment_id in payments:
            for payment in links.set_payment(payment_id, snapshot.payments.get(payment_id)):
                fee_cases.update(c.id for c in links.cases_of(payment))
        for case_id in cases:
            for case in links.set_case(case_id, snapshot.cases.get(case_id)):
                deposits.update(p.id for p in links.payments_of(case))
        return fee_cases, deposits

    def _overdue_all(
        self, case_ids: AbstractSet[str], snapshot: Snapshot, ctx: RuleContext
    ) -> None:
        """Judge the overdue family of these cases again: the plain ones over arrays
        (:meth:`monitor.preselect.OverduePreselection.settle`: quiet, or carrying a card),
        the others by the rules."""
        verdicts, at = self.overdue, ctx.at
        cases, items = snapshot.cases, snapshot.items
        pending: list[tuple[Case, Item]] = []
        if verdicts.by_subject:
            for case_id in case_ids:
                case = cases.get(case_id)
                item = None if case is None else items.get(case.item)
                if case is None or item is None:
                    verdicts.drop(case_id)
                elif not verdicts.still_valid(case_id, (item,), at):
                    pending.append((case, item))
        elif len(case_ids) == len(cases) and case_ids <= cases.keys():
            # Every case, none kept (a fresh start): in the snapshot's order, which is
            # the order the records were made in (far fewer cache misses than the set's).
            pending = [(c, i) for c in cases.values() if (i := items.get(c.item)) is not None]
        else:  # none kept: nothing to drop, nothing still valid
            for case_id in case_ids:
                case = cases.get(case_id)
                item = None if case is None else items.get(case.item)
                if case is not None and item is not None:
                    pending.append((case, item))
        if not pending:
            return
        batch = self._preselected(ctx)[0].settle(pending, ctx)
        for item, until, ids in batch.quiet:
            verdicts.store_shared(ids, verdicts.quiet(self._alone(item), at, until))
        verdicts.store_all(
            (case_id, Verdict(self._alone(item), findings, at, until, ticking))
            for case_id, item, findings, ticking, until in batch.found
        )
        self._settle(verdicts, batch.rules, {}, ctx, lambda c, i, a: judge_overdue(c, i, ctx, a))

    def _fees_all(
        self, case_ids: AbstractSet[str], snapshot: Snapshot, ctx: RuleContext, monitored: bool
    ) -> None:
        """Judge the fee family of these cases again: the quiet ones of plain shapes over
        arrays (:class:`monitor.preselect.FeePreselection`: without a payment referring
        to them, or paid in full into a designated account), the others by the rules
        (:func:`judge_fees`)."""
        pending: list[tuple[Case, Item]] = []
        paid: list[tuple[Case, Item, tuple[Payment, ...]]] = []
        paid_inputs: list[tuple[object, ...]] = []  # each paid case's item and payments
        cases, items, payments_of = snapshot.cases, snapshot.items, self._links.payments_of
        verdicts, judged = self.fees, self.fees.by_subject  # (none judged yet: a fresh start)
        for case_id in case_ids:
            case = cases.get(case_id)
            item = None if case is None else items.get(case.item)
            if case is None or item is None:
                verdicts.drop(case_id)
                continue
            payments = payments_of(case)
            if payments:
                inputs = (item, *payments)
                if case_id not in judged or not verdicts.still_valid(case_id, inputs, ctx.at):
                    paid.append((case, item, payments))
                    paid_inputs.append(inputs)
            elif case_id not in judged or not verdicts.still_valid(
                case_id, self._alone(item), ctx.at
            ):
                pending.append((case, item))
        preselection = self._preselected(ctx)[1] if pending or paid else None
        if paid:
            assert preselection is not None
            quiet = preselection.quiet_paid(paid, ctx)
            for (case, item, payments), inputs in zip(paid, paid_inputs, strict=True):
                if case.id in quiet:
                    verdict = Verdict(inputs, (), ctx.at, quiet[case.id])
                else:
                    verdict = judge_fees(case, item, payments, monitored, ctx, inputs)
                self.fees.store(case.id, verdict)
        if not pending:
            return
        assert preselection is not None
        quiet = preselection.quiet(pending, monitored, ctx)
        self._settle(
            self.fees,
            pending,
            quiet,
            ctx,
            lambda c, i, a: judge_fees(c, i, (), monitored, ctx, a),
        )

    def _preselected(self, ctx: RuleContext) -> tuple[OverduePreselection, FeePreselection]:
        """The overdue and fee pre-selections of ``ctx``'s calendar and policy."""
        key = (ctx.calendar, ctx.policy)
        if self._preselections is None or self._preselections[0] != key:
            overdue = OverduePreselection(ctx.calendar, ctx.policy)
            fees = FeePreselection(ctx.calendar, ctx.policy, overdue.arrays)
            self._preselections = (key, overdue, fees)
        return self._preselections[1], self._preselections[2]

    def _settle(
        self,
        verdicts: Verdicts[str],
        pending: list[tuple[Case, Item]],
        quiet: dict[str, dt.datetime | None],
        ctx: RuleContext,
        judge: Callable[[Case, Item, tuple[Item]], Verdict],
    ) -> None:
        """Store a family's verdicts on ``pending`` cases (each judged from its item alone):
        the pre-selection's ``quiet`` ones, with the boundary it gave, and the others as
        ``judge`` finds them; a verdict without findings is one shared object
        (:meth:`Verdicts.quiet`)."""
        for case, item in pending:
            alone = self._alone(item)
            if case.id in quiet:
                verdict = verdicts.quiet(alone, ctx.at, quiet[case.id])
            else:
                verdict = judge(case, item, alone)
                if not verdict.findings:
                    verdict = verdicts.quiet(alone, verdict.since, verdict.until)
            verdicts.store(case.id, verdict)

    def _deposits_all(self, payment_ids: AbstractSet[str], ctx: RuleContext) -> None:
        """Judge these payments again as deposits possibly without a case: those that
        match a known case (or are no deposit, or not made yet) over arrays
        (:meth:`monitor.preselect.FeePreselection.quiet_deposits`), the others by the
        rules (:func:`judge_deposit`)."""
        pending: list[tuple[Payment, tuple[Case, ...]]] = []
        for payment_id in payment_ids:
            payment = self._links.payments.get(payment_id)
            if payment is None:
                self.deposits.drop(payment_id)
                continue
            cases = self._links.cases_of(payment)
            if not self.deposits.still_valid(payment_id, cases, ctx.at):
                pending.append((payment, cases))
        if not pending:
            return
        quiet = self._preselected(ctx)[1].quiet_deposits(pending, ctx)
        for payment, cases in pending:
            if payment.id in quiet:
                verdict = Verdict(cases, (), ctx.at, quiet[payment.id])
            else:
                verdict = judge_deposit(payment, cases, ctx)
            self.deposits.store(payment.id, verdict)
