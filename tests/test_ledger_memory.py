"""The ledger's memory of the previous reconciliation changes nothing but the work done.

Random sequences of evaluations — findings that stay the very same object, tick, change,
vanish and come back, owners that change, sources that go down and come back, writes
that fail — are reconciled twice: without memory (every finding compared) and with it.
Both must give exactly the same ledger changes at every step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.ledger import Memory, dependencies, reconcile
from monitor.model import Finding, Severity
from monitor.store import OPEN, LedgerEntry

SH = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 10, 13, 9, 0, tzinfo=SH)
RULES = [
    ("case.overdue", Severity.RED, "case"),
    ("case.due_soon", Severity.YELLOW, "case"),
    ("case.statutory_overdue", Severity.RED, "case"),
    ("fee.amount_mismatch", Severity.RED, "case"),
    ("offsystem.ticket_without_case", Severity.RED, "ticket"),
    ("offsystem.payment_without_case", Severity.RED, "payment"),
]
SOURCES = ("approval", "queue", "bank")


def _finding(rng: random.Random, rule: int, subject: int) -> Finding:
    name, severity, kind = RULES[rule]
    case = f"C{subject}"
    return Finding(
        rule=name,
        severity=severity,
        subject_kind=kind,
        subject_id=case if kind == "case" else f"{kind[0].upper()}{subject}",
        case_id=case if kind == "case" or rng.random() < 0.5 else None,
        center="HZ01",
        department=rng.choice(["SCJG", "GA"]),
        item=f"I{subject % 3}",
        due_at=T0 - dt.timedelta(hours=subject),
        evidence={"working_days_late": rng.randint(0, 2), "seconds_late": rng.randint(0, 99)},
    )


def _tick(finding: Finding) -> Finding:
    evidence = finding.evidence | {"seconds_late": finding.evidence["seconds_late"] + 60}
    return finding.model_copy(update={"evidence": evidence})


def _apply(ledger: dict[str, LedgerEntry], changes: Any) -> None:
    for entry in changes.entries.values():
        if entry.state == OPEN:
            ledger[entry.fingerprint] = entry
        else:
            ledger.pop(entry.fingerprint, None)


@pytest.mark.parametrize("seed", range(40))
def test_reconciling_with_memory_equals_reconciling_everything(seed: int) -> None:
    rng = random.Random(seed)
    owners: dict[tuple[str, str], str] = {}

    def owner(entity: str, key: str) -> str | None:
        return owners.get((entity, key))

    def sources_of(entity: str) -> list[str]:
        return {"cases": ["approval"], "payments": ["bank"]}.get(entity, [])

    def depends_on(finding: Finding) -> frozenset[str]:
        return dependencies(finding, owner, sources_of)

    world: dict[tuple[int, int], Finding] = {}
    judged: dict[tuple[int, int], Finding] = {}  # as judged: not ticked since
    plain: dict[str, LedgerEntry] = {}
    remembered: dict[str, LedgerEntry] = {}
    as_judged: dict[str, LedgerEntry] = {}  # given the findings as judged, and refresh
    judged_memory = Memory()
    resolved: dict[str, LedgerEntry] = {}  # what a store lookup finds (both sides agree)
    memory = Memory()
    unsettled: set[str] = set()
    at = T0
    for _step in range(30):
        changed: dict[str, set[str]] = {}
        for _ in range(rng.randint(0, 6)):
            key = (rng.randrange(len(RULES)), rng.randrange(12))
            roll = rng.random()
            if roll < 0.4:
                world[key] = judged[key] = _finding(rng, *key)
            elif roll < 0.6:
                world.pop(key, None)
                judged.pop(key, None)
            elif key in world and world[key].case_id is not None:
                # The case's record delivered again (perhaps by another source).
                case_id = world[key].case_id or ""
                owners[("cases", case_id)] = rng.choice(SOURCES)
                changed.setdefault("cases", set()).add(case_id)
        for _ in range(rng.randint(0, 2)):
            entity, key = rng.choice(
                [("items", f"I{rng.randrange(3)}"), ("tickets", f"T{rng.randrange(12)}")]
            )
            owners[(entity, key)] = rng.choice(SOURCES)
            changed.setdefault(entity, set()).add(key)
        for key, finding in list(world.items()):
            if finding.rule == "case.overdue" and rng.random() < 0.5:
                world[key] = _tick(finding)
        if rng.random() < 0.2:
            unsettled = set(rng.sample(SOURCES, rng.randint(0, 2)))
        at += dt.timedelta(minutes=rng.choice([1, 2, 5, 11]))
        findings = list(world.values())

        def lookup(fingerprints: list[str]) -> dict[str, LedgerEntry]:
            return {fp: resolved[fp] for fp in fingerprints if fp in resolved}

        expected = reconcile(plain, findings, depends_on, set(unsettled), at, lookup=lookup)
        got = reconcile(
            remembered,
            findings,
            depends_on,
            set(unsettled),
            at,
            lookup=lookup,
            memory=memory,
            changed=changed,
        )
        assert got.entries == expected.entries
        assert got.events == expected.events
        current = {f.fingerprint: f for f in findings}
        stale = reconcile(
            as_judged,
            list(judged.values()),
            depends_on,
            set(unsettled),
            at,
            lookup=lookup,
            memory=judged_memory,
            changed=changed,
            refresh=lambda f, current=current: current[f.fingerprint],
        )
        assert stale.entries == expected.entries
        assert stale.events == expected.events
        if rng.random() < 0.1:
            # The write failed: nothing is applied, and the daemon starts a new memory.
            memory = Memory()
            judged_memory = Memory()
            continue
        _apply(plain, expected)
        _apply(remembered, got)
        _apply(as_judged, stale)
        memory.commit()
        judged_memory.commit()
        for entry in expected.entries.values():
            if entry.state != OPEN:
                resolved[entry.fingerprint] = dataclasses.replace(entry, alert_ended=True)
        assert plain == remembered == as_judged


def test_memory_skips_unchanged_findings() -> None:
    """The work skipped is real: an unchanged finding is not asked for its sources."""
    finding = _finding(random.Random(1), 0, 1)
    asked: list[Finding] = []

    def depends_on(f: Finding) -> frozenset[str]:
        asked.append(f)
        return frozenset({"approval"})

    memory = Memory()
    ledger: dict[str, LedgerEntry] = {}
    _apply(ledger, reconcile(ledger, [finding], depends_on, set(), T0, memory=memory, changed={}))
    memory.commit()
    changes = reconcile(
        ledger,
        [finding],
        depends_on,
        set(),
        T0 + dt.timedelta(minutes=1),
        memory=memory,
        changed={},
    )
    assert not changes
    assert asked == [finding]
