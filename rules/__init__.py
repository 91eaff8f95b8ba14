"""Supervision rules: one module per family, each a pure function of (data, context) -> findings."""

from __future__ import annotations

from collections.abc import Callable

from monitor.model import Finding, Snapshot
from rules import evaluation, fees, offsystem, overdue
from rules.context import RuleContext

Family = Callable[[Snapshot, RuleContext], list[Finding]]

FAMILIES: dict[str, Family] = {
    "overdue": lambda snapshot, ctx: overdue.evaluate(snapshot.cases.values(), snapshot.items, ctx),
    "offsystem": offsystem.evaluate,
    "fees": fees.evaluate,
    "evaluation": evaluation.evaluate,
}


def evaluate_all(snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
    """Every family's findings, in a stable order (rule, subject)."""
    findings = [f for family in FAMILIES.values() for f in family(snapshot, ctx)]
    return sorted(findings, key=lambda f: (f.rule, f.subject_kind, f.subject_id))
