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
from collections.abc import Callable, Iterable, Mapping

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
# Evidence that changes every cycle without changing the finding (seconds keep ticking).
_VOLATILE_EVIDENCE = frozenset({"seconds_late"})
# How often an unchanged open finding's last_seen is written back.
LAST_SEEN_EVERY = dt.timedelta(minutes=10)


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


_IDENTITY_FIELDS = tuple(f for f in Finding.model_fields if f != "evidence")


def _same(a: Finding, b: Finding) -> bool:
    """Whether two versions of a finding differ only by evidence that ticks by itself."""
    if a is b:
        return True
    fields_a, fields_b = a.__dict__, b.__dict__
    if any(fields_a[f] != fields_b[f] for f in _IDENTITY_FIELDS):
        return False
    strip = _VOLATILE_EVIDENCE
    return {k: v for k, v in a.evidence.items() if k not in strip} == {
        k: v for k, v in b.evidence.items() if k not in strip
    }


def reconcile(
    ledger: Mapping[str, LedgerEntry],
    findings: Iterable[Finding],
    depends_on: Callable[[Finding], frozenset[str]],
    unsettled: set[str],
    at: dt.datetime,
    lookup: Callable[[list[str]], Mapping[str, LedgerEntry]] = lambda _fingerprints: {},
) -> LedgerChanges:
    """What changes in the ledger given this evaluation's findings.

    ``ledger`` holds the open entries (and those whose alert end is still unsent);
    ``lookup`` finds other entries by fingerprint (resolved ones that may reopen), asked
    once for all the fingerprints this evaluation does not hold in memory.
    Entries are not mutated: changed copies are returned, to be applied once stored.
    """
    changes = LedgerChanges()
    current = {f.fingerprint: f for f in findings}
    red_rules: dict[str, set[str]] = {}
    for f in current.values():
        if f.severity is Severity.RED and f.case_id:
            red_rules.setdefault(f.case_id, set()).add(f.rule)

    dependencies_of = {fp: depends_on(f) for fp, f in current.items()}
    unknown = [
        fp
        for fp in current
        if fp not in ledger and not dependencies_of[fp] & unsettled  # held ones stay unknown
    ]
    earlier = lookup(unknown) if unknown else {}

    for fingerprint, finding in current.items():
        sources = dependencies_of[fingerprint]
        held = bool(sources & unsettled)
        entry = ledger.get(fingerprint)
        if entry is not None and entry.state == OPEN:
            if held:
                continue
            if not _same(entry.finding, finding) or entry.sources != sources:
                changes.touch(
                    dataclasses.replace(entry, finding=finding, sources=sources, last_seen=at)
                )
            elif at - entry.last_seen >= LAST_SEEN_EVERY:
                # Written anyway: take the ticking evidence (seconds_late) along with it.
                changes.touch(dataclasses.replace(entry, finding=finding, last_seen=at))
            continue
        if held:
            continue  # never raised from data that may be stale
        previous = entry or earlier.get(fingerprint)
        if previous is None:
            opened = LedgerEntry(
                finding=finding,
                state=OPEN,
                first_seen=at,
                last_seen=at,
                resolved_at=None,
                sources=sources,
            )
            changes.event(opened, at, "opened")
        else:
            reopened = dataclasses.replace(
                previous,
                finding=finding,
                state=OPEN,
                last_seen=at,
                resolved_at=None,
                sources=sources,
                opened_count=previous.opened_count + 1,
                alert_ended=False,
            )
            changes.event(reopened, at, "reopened")

    for fingerprint, entry in ledger.items():
        if entry.state != OPEN or fingerprint in current or entry.sources & unsettled:
            continue
        replaced_by = ESCALATES.get(entry.finding.rule, frozenset())
        escalated = bool(replaced_by & red_rules.get(entry.finding.case_id or "", set()))
        ended = dataclasses.replace(
            entry,
            state=ESCALATED if escalated else RESOLVED,
            resolved_at=at,
            alert_ended=False,
        )
        changes.event(ended, at, ended.state)
    return changes
