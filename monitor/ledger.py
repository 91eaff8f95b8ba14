"""Reconcile one evaluation's findings with the findings ledger.

The ledger remembers every finding ever raised, by fingerprint (rule + subject). At each
evaluation a finding that is new opens; one that is still there stays open (its
evidence refreshed); one that is gone resolves — or, for a yellow card whose case now
carries a red one, is marked *escalated*. A finding raised again after it resolved
reopens under the same fingerprint, so nothing is ever duplicated.

The stale-data guard lives here: a finding depends on the sources that delivered its
subject and, for rules that compare across systems (a ticket without a case, a fee
without a deposit), on every source of the other side. While any of those sources is
*unsettled* — failing, or not yet polled since the daemon started — the finding is
held exactly as it was: not resolved because its subject seems to have vanished, and
not newly raised from data that may be out of date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from monitor.model import Finding, Severity
from monitor.store import ESCALATED, OPEN, RESOLVED, LedgerChanges, LedgerEntry

# Rules that compare a subject with the entities of other sources: the finding also
# depends on every source that delivers those entities.
CROSS_INPUTS: dict[str, tuple[str, ...]] = {
    "offsystem.ticket_without_case": ("cases",),
    "offsystem.payment_without_case": ("cases",),
    "offsystem.double_acceptance": ("cases",),
    "fee.not_in_designated_account": ("payments",),
    "fee.amount_mismatch": ("payments",),
    "fee.unauthorized": ("payments",),
}
# The entity a finding's subject is, when it is not a case. A step or suspension may come
# from another source than its case (a workflow system beside the acceptance system);
# its record key is "<case id>/<seq>", which is also the finding's subject id.
SUBJECT_ENTITIES = {
    "ticket": "tickets",
    "payment": "payments",
    "evaluation": "evaluations",
    "step": "steps",
    "suspension": "suspensions",
}
# A yellow card, and the red cards on the same case that replace it (escalation). Any
# other red finding on the case (a fee, an off-system one) does not: the yellow card then
# resolves on its own account.
ESCALATES: dict[str, frozenset[str]] = {
    "case.due_soon": frozenset({"case.overdue", "case.concluded_late", "case.statutory_overdue"}),
}
# Evidence that changes every cycle without changing the finding (seconds keep ticking):
# an unchanged finding is not written again for it. The stored evidence stays as of when
# the finding was last written; alerts count it up to when they are pushed.
_VOLATILE_EVIDENCE = frozenset({"seconds_late"})


def dependencies(
    finding: Finding,
    owner: Callable[[str, str], str | None],
    sources_of: Callable[[str], Iterable[str]],
) -> frozenset[str]:
    """The sources a finding was computed from.

    ``owner(entity, key)`` names the source that delivered a record; ``sources_of(entity)``
    lists every source that delivers an entity.
    """
    found: set[str | None] = set()
    if finding.case_id is not None:
        found.add(owner("cases", finding.case_id))
    if finding.item is not None:
        found.add(owner("items", finding.item))
    entity = SUBJECT_ENTITIES.get(finding.subject_kind)
    if entity is not None:
        found.add(owner(entity, finding.subject_id))
    for other in CROSS_INPUTS.get(finding.rule, ()):
        found.update(sources_of(other))
    return frozenset(s for s in found if s is not None)


_IDENTITY_FIELDS = tuple(f for f in Finding.__pydantic_fields__ if f != "evidence")
_MISSING = object()


def _same(a: Finding, b: Finding) -> bool:
    """Whether two versions of a finding differ only by evidence that ticks by itself."""
    if a is b:
        return True
    for name in _IDENTITY_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if x is not y and x != y:
            return False
    evidence_a, evidence_b = a.evidence, b.evidence
    if evidence_a.keys() == evidence_b.keys():
        # The usual case (a copy brought to a later instant): compare value by value.
        strip = _VOLATILE_EVIDENCE
        for key, x in evidence_a.items():
            if key in strip:
                continue
            y = evidence_b.get(key, _MISSING)
            if x is not y and x != y:
                return False
        return True
    strip = _VOLATILE_EVIDENCE
    return {k: v for k, v in evidence_a.items() if k not in strip} == {
        k: v for k, v in evidence_b.items() if k not in strip
    }


def _touched(finding: Finding, changed: Mapping[str, Collection[str]]) -> bool:
    """Whether a record whose owner decides the finding's sources was delivered or
    deleted (so :func:`dependencies` may answer otherwise than last time)."""
    if finding.case_id is not None and finding.case_id in changed.get("cases", ()):
        return True
    if finding.item is not None and finding.item in changed.get("items", ()):
        return True
    entity = SUBJECT_ENTITIES.get(finding.subject_kind)
    return entity is not None and finding.subject_id in changed.get(entity, ())


@dataclass
class Memory:
    """What the previous reconciliation saw, so the next one can skip what is the same.

    ``findings`` and ``sources`` are the previous evaluation's findings (by fingerprint)
    and what they depended on; ``unsettled`` the sources then unsettled. A finding that is
    the very object it was last time, with the same unsettled sources and none of its
    records delivered again, reconciles as it did then: it stays as it is.

    Given what the engine judged again since (:class:`monitor.engine.Rejudged`, relative
    to the evaluation ``serial`` names), the next reconciliation looks only at those
    findings, the ones whose records were delivered again (found through ``keyed``: the
    fingerprints by case id and subject id). ``source_sets`` holds the sources of every
    open entry (and perhaps of some that ended): the sets a reconciliation confirms.

    :func:`reconcile` leaves what it saw in ``pending``; the owner calls :meth:`commit`
    once the changes are stored (after a failed write it drops the memory, so nothing is
    skipped that was not applied). Nothing the memory holds is mutated by a reconcile.
    """

    findings: dict[str, Finding] = field(default_factory=dict)
    sources: dict[str, frozenset[str]] = field(default_factory=dict)
    unsettled: frozenset[str] | None = None
    pending: Memory | None = None  # what the last reconcile would leave behind
    serial: int | None = None  # the engine evaluation ``findings`` come from
    keyed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source_sets: frozenset[frozenset[str]] = frozenset()

    def commit(self) -> None:
        """The last reconciliation's changes are stored: remember what it saw."""
        if self.pending is not None:
            pending = self.pending
            self.findings, self.sources, self.unsettled = (
                pending.findings,
                pending.sources,
                pending.unsettled,
            )
            self.serial, self.keyed = pending.serial, pending.keyed
            self.source_sets = pending.source_sets
            self.pending = None


class Rejudged(Protocol):
    """What an engine evaluation judged again (see :class:`monitor.engine.Rejudged`)."""

    @property
    def serial(self) -> int: ...
    @property
    def after(self) -> int | None: ...
    @property
    def findings(self) -> Mapping[str, Finding | None] | None: ...


def _keys(finding: Finding) -> tuple[str, ...]:
    """What :func:`_touched` looks a finding up by: its case id and its subject id."""
    if finding.case_id is None or finding.case_id == finding.subject_id:
        return (finding.subject_id,)
    return (finding.case_id, finding.subject_id)


def _order(finding: Finding) -> tuple[str, str, str]:
    """The engine's order of findings (and of what a reconciliation writes)."""
    return (finding.rule, finding.subject_kind, finding.subject_id)


def reconcile(
    ledger: Mapping[str, LedgerEntry],
    findings: Iterable[Finding],
    depends_on: Callable[[Finding], frozenset[str]],
    unsettled: set[str],
    at: dt.datetime,
    lookup: Callable[[list[str]], Mapping[str, LedgerEntry]] = lambda _fingerprints: {},
    memory: Memory | None = None,
    changed: Mapping[str, Collection[str]] | None = None,
    refresh: Callable[[Finding], Finding] | None = None,
    rejudged: Rejudged | None = None,
) -> LedgerChanges:
    """What changes in the ledger given this evaluation's findings.

    ``ledger`` holds the open entries (and those whose alert end is still unsent);
    ``lookup`` finds other entries by fingerprint (resolved ones that may reopen), asked
    once for all the fingerprints this evaluation does not hold in memory.
    Entries are not mutated: changed copies are returned, to be applied once stored.

    With a ``memory`` of the previous reconciliation (and ``changed``: the keys of the
    records delivered or deleted since, by entity; None: unknown, so nothing is skipped)
    a finding that did not change since is not compared again (see :class:`Memory`); the
    answer is the same as without it. The memory's ``pending`` is set for
    :meth:`Memory.commit`. With ``rejudged`` too — what the engine judged again since the
    evaluation the memory saw — only those findings and the ones whose records were
    delivered are looked at; otherwise (the first evaluation, a full re-judgement, other
    unsettled sources, a new catalogue) every finding and every open entry is.

    An open finding found again unchanged is not written: the evaluation confirms it with
    every open finding of the same sources, none of them unsettled
    (``LedgerChanges.confirmed``: each set of sources once, however many findings it
    has). Every open entry whose sources are all settled is confirmed at ``at``: its
    finding is still there (else it ends now), changed (written now) or the same.

    ``refresh``: the findings may carry evidence that ticks by itself (``seconds_late``)
    as of an earlier instant (:meth:`monitor.engine.Engine.evaluate` with ``current``
    False); ``refresh`` brings a finding to ``at`` (:func:`monitor.engine.brought_to`)
    and is asked only for those written into an entry. The memory keeps them as given,
    so that an unchanged verdict's finding is the very object next time.

    What is written comes in the engine's order of findings (:func:`_order`: the
    ``findings`` may come in any order), then the entries that end, in the same order.
    """
    frozen_unsettled = frozenset(unsettled)
    remembered = memory if changed is not None else None  # unknown changes: skip nothing
    same_unsettled = remembered is not None and remembered.unsettled == frozen_unsettled
    walk: set[str] | None = None  # None: every finding and entry
    if (
        same_unsettled
        and remembered is not None
        and changed is not None
        and rejudged is not None
        and rejudged.findings is not None
        and remembered.serial is not None
        and rejudged.after == remembered.serial
        and not changed.get("items")
    ):
        current = dict(remembered.findings)
        for fp, f in rejudged.findings.items():
            if f is None:
                current.pop(fp, None)
            else:
                current[fp] = f
        if not isinstance(findings, Collection) or len(findings) == len(current):
            walk = _walk(remembered, rejudged.findings, changed)
    if walk is None:
        # Everything is looked at, in the engine's order whatever order they came in.
        current = {f.fingerprint: f for f in sorted(findings, key=_order)}
    return _reconcile(
        ledger,
        current,
        walk,
        depends_on,
        frozen_unsettled,
        at,
        lookup,
        memory,
        remembered,
        same_unsettled,
        changed,
        refresh or (lambda f: f),
        rejudged.serial if rejudged is not None else None,
    )


def _walk(
    memory: Memory,
    rejudged: Mapping[str, Finding | None],
    changed: Mapping[str, Collection[str]],
) -> set[str]:
    """The fingerprints a reconciliation must look at, given the previous one's memory:
    those judged again and those whose records were delivered again (every other
    reconciles as it did last time)."""
    walk = set(rejudged)
    keyed = memory.keyed
    for entity, keys in changed.items():
        if entity != "cases" and entity not in _SUBJECT_ENTITY_NAMES:
            continue
        for key in keys:
            walk.update(keyed.get(key, ()))
    return walk


_SUBJECT_ENTITY_NAMES = frozenset(SUBJECT_ENTITIES.values())


def _reconcile(
    ledger: Mapping[str, LedgerEntry],
    current: dict[str, Finding],
    walk: set[str] | None,
    depends_on: Callable[[Finding], frozenset[str]],
    unsettled: frozenset[str],
    at: dt.datetime,
    lookup: Callable[[list[str]], Mapping[str, LedgerEntry]],
    memory: Memory | None,
    remembered: Memory | None,
    same_unsettled: bool,
    changed: Mapping[str, Collection[str]] | None,
    bring: Callable[[Finding], Finding],
    serial: int | None,
) -> LedgerChanges:
    """:func:`reconcile` over ``walk`` (None: everything) of the ``current`` findings."""
    changes = LedgerChanges()
    previous = remembered.findings if remembered is not None else {}
    previous_sources = remembered.sources if remembered is not None else {}
    touched_nothing = changed is not None and not any(changed.values())
    if walk is None:
        looked_at: Iterable[str] = current
    else:
        looked_at = sorted((fp for fp in walk if fp in current), key=lambda fp: _order(current[fp]))

    dependencies_of: dict[str, frozenset[str]] = {}
    for fp in looked_at:
        f = current[fp]
        known = previous_sources.get(fp)
        if known is not None:
            before = previous[fp]
            if (before is f or (before.case_id == f.case_id and before.item == f.item)) and (
                touched_nothing or not _touched(f, changed or {})
            ):
                dependencies_of[fp] = known  # the same records, owned as they were
                continue
        dependencies_of[fp] = depends_on(f)
    unknown = [
        fp
        for fp in dependencies_of
        if fp not in ledger and not dependencies_of[fp] & unsettled  # held ones stay unknown
    ]
    earlier = lookup(unknown) if unknown else {}

    for fingerprint, sources in dependencies_of.items():
        finding = current[fingerprint]
        entry = ledger.get(fingerprint)
        if (
            same_unsettled
            and entry is not None
            and entry.state == OPEN
            and previous.get(fingerprint) is finding
            and sources is previous_sources.get(fingerprint)
        ):
            continue  # reconciled from this very finding last time (written if it differed)
        held = bool(sources & unsettled)
        if entry is not None and entry.state == OPEN:
            if held:
                continue
            if not _same(entry.finding, finding) or entry.sources != sources:
                changes.touch(
                    dataclasses.replace(
                        entry, finding=bring(finding), sources=sources, last_seen=at
                    )
                )
            continue
        if held:
            continue  # never raised from data that may be stale
        previous_entry = entry or earlier.get(fingerprint)
        if previous_entry is None:
            opened = LedgerEntry(
                finding=bring(finding),
                state=OPEN,
                first_seen=at,
                last_seen=at,
                resolved_at=None,
                sources=sources,
            )
            changes.event(opened, at, "opened")
        else:
            reopened = dataclasses.replace(
                previous_entry,
                finding=bring(finding),
                state=OPEN,
                last_seen=at,
                resolved_at=None,
                sources=sources,
                opened_count=previous_entry.opened_count + 1,
                alert_ended=False,
            )
            changes.event(reopened, at, "reopened")

    # Open entries whose finding is gone (and not held) end.
    candidates = ledger if walk is None else walk
    ending: list[LedgerEntry] = []
    for fingerprint in candidates:
        entry = ledger.get(fingerprint)
        if (
            entry is None
            or entry.state != OPEN
            or fingerprint in current
            or entry.sources & unsettled
        ):
            continue
        ending.append(entry)
    ending.sort(key=lambda e: _order(e.finding))
    escalating = any(e.finding.rule in ESCALATES for e in ending)
    keyed = _keyed(remembered, current, walk) if memory is not None or escalating else {}
    for entry in ending:
        replaced_by = ESCALATES.get(entry.finding.rule, frozenset())
        escalated = False
        if replaced_by:
            case_id = entry.finding.case_id or ""
            reds = {
                f.rule
                for f in (current[fp] for fp in keyed.get(case_id, ()) if fp in current)
                if f.severity is Severity.RED and f.case_id == case_id and f.case_id
            }
            escalated = bool(replaced_by & reds)
        ended = dataclasses.replace(
            entry,
            state=ESCALATED if escalated else RESOLVED,
            resolved_at=at,
            alert_ended=False,
        )
        changes.event(ended, at, ended.state)
    # The sources of every open entry: those the memory knew, else the ledger's, and
    # those of the entries written now.
    if walk is None or remembered is None:
        source_sets = {e.sources for e in ledger.values() if e.state == OPEN}
    else:
        source_sets = set(remembered.source_sets)
    source_sets.update(e.sources for e in changes.entries.values() if e.state == OPEN)
    changes.confirmed = {s: at for s in source_sets if not s & unsettled}
    if memory is not None:
        if walk is None:
            sources = dependencies_of
        else:
            sources = {**previous_sources, **dependencies_of}
            for fp in walk:
                if fp not in current:
                    sources.pop(fp, None)
        memory.pending = Memory(
            current,
            sources,
            unsettled,
            serial=serial,
            keyed=keyed,
            source_sets=frozenset(source_sets),
        )
    return changes


def _keyed(
    remembered: Memory | None, current: dict[str, Finding], walk: set[str] | None
) -> dict[str, tuple[str, ...]]:
    """The current findings' fingerprints by case id and subject id (:func:`_keys`):
    the remembered index with the walked fingerprints moved, or built afresh."""
    if walk is None or remembered is None:
        built: dict[str, list[str]] = {}
        for fp, f in current.items():
            for key in _keys(f):
                built.setdefault(key, []).append(fp)
        return {key: tuple(fps) for key, fps in built.items()}
    keyed = dict(remembered.keyed)
    before = remembered.findings
    for fp in walk:
        old, new = before.get(fp), current.get(fp)
        if old is new:
            continue
        old_keys = () if old is None else _keys(old)
        new_keys = () if new is None else _keys(new)
        for key in old_keys:
            if key not in new_keys:
                left = tuple(x for x in keyed.get(key, ()) if x != fp)
                if left:
                    keyed[key] = left
                else:
                    keyed.pop(key, None)
        for key in new_keys:
            held = keyed.get(key, ())
            if fp not in held:
                keyed[key] = (*held, fp)
    return keyed
