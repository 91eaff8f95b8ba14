"""Reconciling an evaluation's findings with the ledger, and what a finding depends on."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.ledger import CROSS_INPUTS, ESCALATES, dependencies, reconcile
from monitor.model import Finding, Severity
from monitor.store import ESCALATED, OPEN, RESOLVED, LedgerEntry

SH = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 10, 13, 9, 0, tzinfo=SH)
SOURCES = frozenset({"approval"})


def overdue(case: str = "C1", **changes: Any) -> Finding:
    data: dict[str, Any] = {
        "rule": "case.overdue",
        "severity": Severity.RED,
        "subject_kind": "case",
        "subject_id": case,
        "case_id": case,
        "center": "HZ01",
        "department": "SCJG",
        "window": "W07",
        "item": "I1",
        "due_at": dt.datetime(2026, 10, 12, 23, 59, 59, tzinfo=SH),
        "evidence": {"working_days_late": 1, "seconds_late": 32401},
    }
    data.update(changes)
    return Finding(**data)


def due_soon(case: str = "C1") -> Finding:
    return overdue(
        case,
        rule="case.due_soon",
        severity=Severity.YELLOW,
        evidence={"remaining_working_days": 1, "threshold_days": 2},
    )


def entry(finding: Finding, **changes: Any) -> LedgerEntry:
    data: dict[str, Any] = {
        "finding": finding,
        "state": OPEN,
        "first_seen": T0 - dt.timedelta(hours=1),
        "last_seen": T0 - dt.timedelta(minutes=1),
        "resolved_at": None,
        "sources": SOURCES,
    }
    data.update(changes)
    return LedgerEntry(**data)


def ledger(*entries: LedgerEntry) -> dict[str, LedgerEntry]:
    return {e.fingerprint: e for e in entries}


def depends(_finding: Finding) -> frozenset[str]:
    return SOURCES


def run(
    current: dict[str, LedgerEntry],
    findings: Iterable[Finding],
    unsettled: Iterable[str] = (),
    at: dt.datetime = T0,
    **kwargs: Any,
):
    return reconcile(current, list(findings), depends, set(unsettled), at, **kwargs)


# --- opening, refreshing, resolving -------------------------------------------------------------


def test_a_new_finding_opens() -> None:
    finding = overdue()
    changes = run({}, [finding])
    assert changes.events == [(finding.fingerprint, T0, "opened", "case.overdue", "red")]
    opened = changes.entries[finding.fingerprint]
    assert opened.state == OPEN
    assert opened.first_seen == opened.last_seen == T0
    assert opened.resolved_at is None
    assert opened.sources == SOURCES
    assert opened.opened_count == 1
    assert opened.alert_ended is False
    assert opened.finding == finding


def test_an_unchanged_finding_is_not_written_but_confirmed_with_its_sources() -> None:
    finding = overdue()
    kept = entry(finding, last_seen=T0)
    later = T0 + dt.timedelta(hours=3)
    changes = run(ledger(kept), [finding], at=later)
    assert changes.events == []
    assert changes.entries == {}
    assert changes.confirmed == {SOURCES: later}  # its last_seen, once per set of sources


def test_only_ticking_seconds_is_no_change() -> None:
    kept = entry(overdue(), last_seen=T0)
    ticking = overdue(evidence={"working_days_late": 1, "seconds_late": 32461})
    changes = run(ledger(kept), [ticking], at=T0 + dt.timedelta(minutes=1))
    assert changes.entries == {} and changes.events == []
    assert changes.confirmed == {SOURCES: T0 + dt.timedelta(minutes=1)}


def test_each_set_of_settled_sources_is_confirmed_once() -> None:
    """Every open entry whose sources are all settled is confirmed: found again, written
    or opened now; a held one (an unsettled source) is not. A set is named once however
    many entries it has; the set of one that ends now may be named too (a confirmation
    counts only for the open entries of its set)."""
    both, window = frozenset({"approval", "window"}), frozenset({"window"})
    sources = {"C1": SOURCES, "C2": SOURCES, "C3": both, "C4": window, "C5": frozenset()}
    current = ledger(
        *(entry(overdue(case), sources=sources[case]) for case in ("C1", "C2", "C3", "C4"))
    )
    changes = reconcile(
        current,
        [overdue("C1"), overdue("C2"), overdue("C3"), overdue("C5")],
        lambda f: sources[f.subject_id],
        {"window"},
        T0,
    )
    assert changes.confirmed == {SOURCES: T0, frozenset(): T0}  # C5 opened with no source
    assert [name for _, _, name, _, _ in changes.events] == ["opened"]  # C4 held
    ending = reconcile(current, [], lambda f: sources[f.subject_id], set(), T0)
    assert ending.confirmed == {SOURCES: T0, both: T0, window: T0}


def test_an_evidence_change_is_written_at_once() -> None:
    kept = entry(overdue(), last_seen=T0)
    worse = overdue(evidence={"working_days_late": 2, "seconds_late": 32461})
    changes = run(ledger(kept), [worse], at=T0 + dt.timedelta(seconds=5))
    assert changes.events == []
    written = changes.entries[kept.fingerprint]
    assert written.finding == worse
    assert written.state == OPEN
    assert written.last_seen == T0 + dt.timedelta(seconds=5)
    assert written.first_seen == kept.first_seen


def test_a_field_change_outside_evidence_is_written() -> None:
    kept = entry(overdue(), last_seen=T0)
    moved = overdue(window="W08")
    assert run(ledger(kept), [moved]).entries[kept.fingerprint].finding.window == "W08"


def test_a_change_of_sources_is_written() -> None:
    kept = entry(overdue(), last_seen=T0)
    changes = reconcile(
        ledger(kept), [overdue()], lambda _f: frozenset({"approval", "catalogue"}), set(), T0
    )
    assert changes.entries[kept.fingerprint].sources == frozenset({"approval", "catalogue"})


def test_a_finding_that_is_gone_resolves() -> None:
    kept = entry(overdue())
    changes = run(ledger(kept), [])
    assert changes.events == [(kept.fingerprint, T0, "resolved", "case.overdue", "red")]
    resolved = changes.entries[kept.fingerprint]
    assert resolved.state == RESOLVED
    assert resolved.resolved_at == T0
    assert resolved.alert_ended is False  # the end still has to reach Alertmanager


def test_a_yellow_card_gives_way_to_a_red_one_as_escalated() -> None:
    assert "case.due_soon" in ESCALATES
    yellow = entry(due_soon("C1"))
    other_yellow = entry(due_soon("C2"))
    red = overdue("C1")
    changes = run(ledger(yellow, other_yellow), [red, due_soon("C2")])
    names = {fp: name for fp, _, name, _, _ in changes.events}
    assert names == {yellow.fingerprint: "escalated", red.fingerprint: "opened"}
    assert changes.entries[yellow.fingerprint].state == ESCALATED
    assert changes.entries[yellow.fingerprint].resolved_at == T0


@pytest.mark.parametrize("red_rule", ["case.concluded_late", "case.statutory_overdue"])
def test_other_red_case_cards_escalate_too(red_rule: str) -> None:
    yellow = entry(due_soon("C1"))
    changes = run(ledger(yellow), [overdue("C1", rule=red_rule)])
    assert changes.entries[yellow.fingerprint].state == ESCALATED


@pytest.mark.parametrize(
    "red_rule", ["fee.amount_mismatch", "offsystem.double_acceptance", "case.step_overdue"]
)
def test_an_unrelated_red_finding_on_the_case_is_no_escalation(red_rule: str) -> None:
    """A yellow card that went because the case concluded in time simply resolves."""
    yellow = entry(due_soon("C1"))
    changes = run(ledger(yellow), [overdue("C1", rule=red_rule)])
    assert changes.entries[yellow.fingerprint].state == RESOLVED
    assert (yellow.fingerprint, T0, "resolved", "case.due_soon", "yellow") in changes.events


def test_a_yellow_card_without_a_red_one_simply_resolves() -> None:
    yellow = entry(due_soon("C1"))
    changes = run(ledger(yellow), [overdue("C2")])
    assert changes.entries[yellow.fingerprint].state == RESOLVED


def test_a_yellow_card_is_not_escalated_by_another_yellow_finding() -> None:
    yellow = entry(due_soon("C1"))
    step = overdue(
        "C1",
        rule="case.step_overdue",
        severity=Severity.YELLOW,
        subject_kind="step",
        subject_id="C1/2",
    )
    changes = run(ledger(yellow), [step])
    assert changes.entries[yellow.fingerprint].state == RESOLVED


def test_a_resolved_finding_that_comes_back_reopens_via_lookup() -> None:
    finding = overdue()
    gone = entry(
        finding,
        state=RESOLVED,
        resolved_at=T0 - dt.timedelta(minutes=30),
        opened_count=2,
        alert_ended=True,
    )
    fresh = overdue("C2")
    asked: list[list[str]] = []

    def lookup(fingerprints: list[str]) -> dict[str, LedgerEntry]:
        asked.append(sorted(fingerprints))
        return {fp: gone for fp in fingerprints if fp == finding.fingerprint}

    changes = run({}, [finding, fresh], lookup=lookup)
    assert asked == [sorted([finding.fingerprint, fresh.fingerprint])]  # one question
    assert sorted(changes.events) == sorted(
        [
            (finding.fingerprint, T0, "reopened", "case.overdue", "red"),
            (fresh.fingerprint, T0, "opened", "case.overdue", "red"),
        ]
    )
    reopened = changes.entries[finding.fingerprint]
    assert reopened.state == OPEN
    assert reopened.opened_count == 3
    assert reopened.resolved_at is None
    assert reopened.alert_ended is False
    assert reopened.last_seen == T0
    assert reopened.first_seen == gone.first_seen


def test_a_resolved_entry_still_in_memory_reopens_without_lookup() -> None:
    finding = overdue()
    gone = entry(finding, state=RESOLVED, resolved_at=T0 - dt.timedelta(minutes=1))

    def lookup(_fingerprints: list[str]) -> dict[str, LedgerEntry]:
        raise AssertionError("the in-memory entry is enough")

    changes = run(ledger(gone), [finding], lookup=lookup)
    assert changes.entries[finding.fingerprint].opened_count == 2
    assert changes.events[0][2] == "reopened"


def test_resolved_entries_not_in_the_findings_are_left_alone() -> None:
    gone = entry(overdue(), state=RESOLVED, resolved_at=T0 - dt.timedelta(minutes=1))
    assert not run(ledger(gone), [])


# --- the stale-data guard ---------------------------------------------------------------------


def test_an_unsettled_source_holds_new_findings() -> None:
    assert not run({}, [overdue()], unsettled={"approval"})


def test_an_unsettled_source_holds_resolution() -> None:
    assert not run(ledger(entry(overdue())), [], unsettled={"approval"})


def test_an_unsettled_source_holds_updates() -> None:
    kept = entry(overdue(), last_seen=T0 - dt.timedelta(minutes=30))
    worse = overdue(evidence={"working_days_late": 5, "seconds_late": 1})
    assert not run(ledger(kept), [worse], unsettled={"approval"})


def test_an_unsettled_source_holds_reopening() -> None:
    gone = entry(overdue(), state=RESOLVED, resolved_at=T0 - dt.timedelta(minutes=1))
    assert not run(ledger(gone), [overdue()], unsettled={"approval"})


def test_an_unrelated_unsettled_source_holds_nothing() -> None:
    kept = entry(overdue("C1"))
    changes = run(ledger(kept), [overdue("C2")], unsettled={"queue"})
    assert {name for _, _, name, _, _ in changes.events} == {"opened", "resolved"}


def test_a_held_yellow_card_is_not_escalated() -> None:
    yellow = entry(due_soon("C1"))
    assert not run(ledger(yellow), [overdue("C1")], unsettled={"approval"})


def test_entries_are_not_mutated() -> None:
    kept = entry(overdue(), last_seen=T0 - dt.timedelta(minutes=10))
    yellow = entry(due_soon("C2"))
    gone = entry(overdue("C3"), state=RESOLVED, resolved_at=T0 - dt.timedelta(minutes=1))
    current = ledger(kept, yellow, gone)
    before = copy.deepcopy(current)
    worse = overdue(evidence={"working_days_late": 2, "seconds_late": 1})
    changes = run(current, [worse, overdue("C2"), overdue("C3")])
    assert current == before
    for fingerprint, changed in changes.entries.items():
        assert changed is not current.get(fingerprint)


# --- dependencies ---------------------------------------------------------------------------------

OWNERS = {
    ("cases", "C1"): "approval",
    ("items", "I1"): "catalogue",
    ("tickets", "Q1"): "queue",
    ("payments", "P1"): "bank_a",
    ("evaluations", "E1"): "rating",
}
PROVIDERS = {
    "cases": ["approval", "approval_old"],
    "payments": ["bank_a", "bank_b"],
    "tickets": ["queue"],
}


def deps(finding: Finding) -> frozenset[str]:
    return dependencies(
        finding, lambda entity, key: OWNERS.get((entity, key)), lambda e: PROVIDERS.get(e, [])
    )


def test_a_case_finding_depends_on_the_case_and_item_owners() -> None:
    assert deps(overdue("C1")) == {"approval", "catalogue"}


def test_unknown_owners_are_left_out() -> None:
    assert deps(overdue("C9", item="I9")) == frozenset()


def test_a_ticket_without_case_depends_on_the_ticket_and_every_case_source() -> None:
    finding = Finding(
        rule="offsystem.ticket_without_case",
        severity=Severity.RED,
        subject_kind="ticket",
        subject_id="Q1",
        center="HZ01",
    )
    assert CROSS_INPUTS[finding.rule] == ("cases",)
    assert deps(finding) == {"queue", "approval", "approval_old"}


@pytest.mark.parametrize(
    "rule", ["fee.not_in_designated_account", "fee.amount_mismatch", "fee.unauthorized"]
)
def test_fee_findings_depend_on_every_payment_source(rule: str) -> None:
    finding = overdue("C1", rule=rule, evidence={})
    assert deps(finding) == {"approval", "catalogue", "bank_a", "bank_b"}


def test_a_payment_finding_depends_on_its_payment_and_every_case_source() -> None:
    finding = Finding(
        rule="offsystem.payment_without_case",
        severity=Severity.RED,
        subject_kind="payment",
        subject_id="P1",
    )
    assert deps(finding) == {"bank_a", "approval", "approval_old"}


def test_an_evaluation_finding_depends_on_its_rating_source() -> None:
    finding = Finding(
        rule="evaluation.bad_rating_unresolved",
        severity=Severity.YELLOW,
        subject_kind="evaluation",
        subject_id="E1",
    )
    assert deps(finding) == {"rating"}


def test_a_step_finding_also_depends_on_the_source_of_the_step() -> None:
    owners = {**OWNERS, ("steps", "C1/2"): "workflow", ("suspensions", "C1/1"): "workflow"}

    def deps_with_steps(finding: Finding) -> frozenset[str]:
        return dependencies(finding, lambda e, k: owners.get((e, k)), lambda _e: [])

    step = overdue("C1", rule="case.step_overdue", subject_kind="step", subject_id="C1/2")
    suspension = overdue(
        "C1", rule="case.suspension_overdue", subject_kind="suspension", subject_id="C1/1"
    )
    assert deps_with_steps(step) == {"approval", "catalogue", "workflow"}
    assert deps_with_steps(suspension) == {"approval", "catalogue", "workflow"}


# --- the order findings come in ---------------------------------------------------------------


def test_findings_in_any_order_are_written_in_the_engine_order() -> None:
    # The daemon gives the engine's findings unsorted: what is written, and in what
    # order, is what the sorted findings give (rule, then subject; the ends last).
    findings = [overdue(f"C{n}") for n in range(3)] + [due_soon(f"C{n}") for n in range(3, 5)]
    kept = ledger(entry(due_soon("C1")))
    expected = run(kept, sorted(findings, key=lambda f: (f.rule, f.subject_kind, f.subject_id)))
    assert [(fp, event) for fp, _, event, _, _ in expected.events] == [
        ("case.due_soon|case|C3", "opened"),
        ("case.due_soon|case|C4", "opened"),
        ("case.overdue|case|C0", "opened"),
        ("case.overdue|case|C1", "opened"),
        ("case.overdue|case|C2", "opened"),
        ("case.due_soon|case|C1", "escalated"),
    ]
    for shuffled in (findings[::-1], findings[2:] + findings[:2]):
        got = run(kept, shuffled)
        assert list(got.entries.items()) == list(expected.entries.items())
        assert got.events == expected.events
