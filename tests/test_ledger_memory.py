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

from monitor.engine import Rejudged
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


def _order(finding: Finding) -> tuple[str, str, str]:
    return (finding.rule, finding.subject_kind, finding.subject_id)


def _tick(finding: Finding) -> Finding:
    evidence = finding.evidence | {"seconds_late": finding.evidence["seconds_late"] + 60}
    return finding.model_copy(update={"evidence": evidence})


def _apply(ledger: dict[str, LedgerEntry], changes: Any) -> None:
    for entry in changes.entries.values():
        if entry.state == OPEN:
            ledger[entry.fingerprint] = entry
        else:
            ledger.pop(entry.fingerprint, None)


def _confirms_as(got: Any, expected: Any, unsettled: set[str]) -> None:
    """``got`` confirms every set of sources ``expected`` does, at the same instant; it
    may name more (sets it knew of that no open entry has now: harmless, since a
    confirmation counts only for open entries of its set), never an unsettled one."""
    for sources, at in got.confirmed.items():
        assert expected.confirmed.get(sources, at) == at
        assert not sources & unsettled
    assert expected.confirmed.keys() <= got.confirmed.keys()


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
    walked: dict[str, LedgerEntry] = {}  # given what the engine judged again, too
    walked_memory = Memory()
    serial = 0
    before: dict[str, Finding] = {}  # the findings as judged at the previous step
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
        # In the engine's order (the order in which a reconciliation writes).
        findings = sorted(world.values(), key=_order)
        as_given = sorted(judged.values(), key=_order)

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
        _confirms_as(got, expected, unsettled)
        assert got.events == expected.events
        current = {f.fingerprint: f for f in findings}
        stale = reconcile(
            as_judged,
            as_given,
            depends_on,
            set(unsettled),
            at,
            lookup=lookup,
            memory=judged_memory,
            changed=changed,
            refresh=lambda f, current=current: current[f.fingerprint],
        )
        assert stale.entries == expected.entries
        _confirms_as(stale, expected, unsettled)
        assert stale.events == expected.events
        # What the engine would report: the findings that are not the very object of the
        # previous step (now, or None: gone), and some that are (saying more is allowed).
        now = {f.fingerprint: f for f in judged.values()}
        report: dict[str, Finding | None] | None = {
            fp: now.get(fp)
            for fp in before.keys() | now.keys()
            if before.get(fp) is not now.get(fp) or rng.random() < 0.1
        }
        if rng.random() < 0.05:
            report = None  # everything judged again
        serial += 1
        with_report = reconcile(
            walked,
            as_given,
            depends_on,
            set(unsettled),
            at,
            lookup=lookup,
            memory=walked_memory,
            changed=changed,
            refresh=lambda f, current=current: current[f.fingerprint],
            rejudged=Rejudged(serial, serial - 1, report),
        )
        assert with_report.entries == expected.entries
        _confirms_as(with_report, expected, unsettled)
        assert with_report.events == expected.events
        before = now
        if rng.random() < 0.1:
            # The write failed: nothing is applied, and the daemon starts a new memory.
            memory = Memory()
            judged_memory = Memory()
            walked_memory = Memory()
            continue
        _apply(plain, expected)
        _apply(remembered, got)
        _apply(as_judged, stale)
        _apply(walked, with_report)
        memory.commit()
        judged_memory.commit()
        walked_memory.commit()
        for entry in expected.entries.values():
            if entry.state != OPEN:
                resolved[entry.fingerprint] = dataclasses.replace(entry, alert_ended=True)
        assert plain == remembered == as_judged == walked


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
    assert not changes.entries and not changes.events
    assert asked == [finding]


def _yellow(case: str) -> Finding:
    return Finding(
        rule="case.due_soon",
        severity=Severity.YELLOW,
        subject_kind="case",
        subject_id=case,
        case_id=case,
        due_at=T0,
    )


def test_given_what_was_judged_again_only_those_are_looked_at() -> None:
    """A cycle given the engine's report looks at the findings judged again and the ones
    whose records were delivered — and changes the ledger exactly as a reconciliation of
    every finding does: here a finding that vanished resolves, a yellow card replaced by
    a red one escalates, a new one opens, and the unchanged ones are confirmed with their
    sources, not written."""
    asked: list[str] = []

    def depends_on(f: Finding) -> frozenset[str]:
        asked.append(f.subject_id)
        return frozenset({"approval"})

    many = {f"C{n}": _yellow(f"C{n}") for n in range(50)}
    memory = Memory()
    ledger: dict[str, LedgerEntry] = {}
    plain: dict[str, LedgerEntry] = {}
    first = list(many.values())
    for target, mem in ((ledger, memory), (plain, None)):
        _apply(target, reconcile(target, first, depends_on, set(), T0, memory=mem, changed={}))
    memory.commit()
    # Five minutes on, C7 has changed (written again).
    at = T0 + dt.timedelta(minutes=5)
    seven = many["C7"].model_copy(update={"evidence": {"remaining_working_days": 1}})
    many["C7"] = seven
    for target, mem in ((ledger, memory), (plain, None)):
        changes = reconcile(
            target,
            list(many.values()),
            depends_on,
            set(),
            at,
            memory=mem,
            changed={},
            rejudged=Rejudged(2, 1, {seven.fingerprint: seven}),
        )
        assert list(changes.entries) == [seven.fingerprint]
        _apply(target, changes)
    memory.commit()
    assert ledger == plain
    # Then: C3 vanished, C4's yellow card is replaced by a red one, C60 is new, C9's case
    # was delivered again.
    at = T0 + dt.timedelta(minutes=11)
    red = Finding(
        rule="case.overdue",
        severity=Severity.RED,
        subject_kind="case",
        subject_id="C4",
        case_id="C4",
        due_at=T0,
    )
    gone = [many.pop("C3"), many.pop("C4")]
    many["C4!"], many["C60"] = red, _yellow("C60")
    findings = sorted(many.values(), key=_order)
    report = {gone[0].fingerprint: None, gone[1].fingerprint: None}
    report |= {red.fingerprint: red, many["C60"].fingerprint: many["C60"]}
    asked.clear()
    expected = reconcile(plain, findings, depends_on, set(), at)
    assert sorted(asked) == sorted(f.subject_id for f in findings)  # every one
    asked.clear()
    got = reconcile(
        ledger,
        findings,
        depends_on,
        set(),
        at,
        memory=memory,
        changed={"cases": {"C9"}},
        rejudged=Rejudged(3, 2, report),
    )
    assert got.entries == expected.entries
    assert got.confirmed == expected.confirmed == {frozenset({"approval"}): at}
    assert got.events == expected.events
    assert sorted(asked) == ["C4", "C60", "C9"]  # the new ones and the delivered one
    states = {fp: e.state for fp, e in got.entries.items()}
    assert states[gone[0].fingerprint] == "resolved"
    assert states[gone[1].fingerprint] == "escalated"
    assert many["C10"].fingerprint not in got.entries  # unchanged: confirmed, not written


def test_a_report_about_another_evaluation_looks_at_everything() -> None:
    """The engine's report is relative to the evaluation before it: given after some
    other evaluation than the one the memory saw, every finding is looked at again (here
    one that the report, being about evaluation 2 only, does not name)."""
    findings = [_yellow(f"C{n}") for n in range(5)]
    memory = Memory()
    ledger: dict[str, LedgerEntry] = {}

    def depends_on(_f: Finding) -> frozenset[str]:
        return frozenset({"approval"})

    first = Rejudged(1, 0, None)
    _apply(
        ledger,
        reconcile(
            ledger, findings, depends_on, set(), T0, memory=memory, changed={}, rejudged=first
        ),
    )
    memory.commit()
    assert memory.serial == 1
    for n in (1, 2):
        findings[n] = findings[n].model_copy(update={"evidence": {"remaining_working_days": n}})
    at = T0 + dt.timedelta(minutes=1)
    # Evaluation 2 (unseen) changed C1; evaluation 3 changed C2.
    skipped = Rejudged(3, 2, {findings[2].fingerprint: findings[2]})
    got = reconcile(
        ledger, findings, depends_on, set(), at, memory=memory, changed={}, rejudged=skipped
    )
    assert list(got.entries) == [findings[1].fingerprint, findings[2].fingerprint]
    memory.commit()
    assert memory.serial == 3
    # Relative to what the memory saw, the report is followed: C3's change goes unnamed
    # (a report never leaves one out; this shows it is what is looked at).
    findings[3] = findings[3].model_copy(update={"evidence": {"remaining_working_days": 3}})
    named = Rejudged(4, 3, {})
    got = reconcile(
        ledger, findings, depends_on, set(), at, memory=memory, changed={}, rejudged=named
    )
    assert not got.entries and not got.events
