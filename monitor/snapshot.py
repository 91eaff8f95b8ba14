"""Assemble polled records into one consistent :class:`~monitor.model.Snapshot`.

Cases, their steps and their suspensions arrive as separate entities (often separate
tables); here they are joined by case id. A step or suspension for a case that no
source delivered, or a case whose item is not in the catalogue, is rejected with the
reason ``unknown_case`` / ``unknown_item`` — judging a case without its item's limits
would be guessing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from monitor.model import Case, Item, Snapshot, Step, Suspension
from monitor.sources.mapping import Reject


@dataclass
class Records:
    """Mapped records of every entity, as delivered (later versions win)."""

    items: dict[str, Item] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    steps: dict[tuple[str, int], Step] = field(default_factory=dict)
    suspensions: dict[tuple[str, int], Suspension] = field(default_factory=dict)

    def add(self, entity: str, record: object) -> None:
        if entity == "items":
            assert isinstance(record, Item)
            self.items[record.code] = record
        elif entity == "cases":
            assert isinstance(record, Case)
            self.cases[record.id] = record
        elif entity == "steps":
            case_id, step = record  # type: ignore[misc]
            self.steps[(case_id, step.seq)] = step
        elif entity == "suspensions":
            case_id, suspension = record  # type: ignore[misc]
            self.suspensions[(case_id, suspension.seq)] = suspension
        else:
            raise ValueError(f"unknown entity {entity!r}")


def assemble(records: Records) -> tuple[Snapshot, list[Reject]]:
    rejects: list[Reject] = []
    steps: dict[str, list[Step]] = defaultdict(list)
    suspensions: dict[str, list[Suspension]] = defaultdict(list)
    for (case_id, seq), step in records.steps.items():
        if case_id in records.cases:
            steps[case_id].append(step)
        else:
            rejects.append(
                Reject("steps", f"{case_id}/{seq}", "unknown_case", f"no case {case_id!r}")
            )
    for (case_id, seq), suspension in records.suspensions.items():
        if case_id in records.cases:
            suspensions[case_id].append(suspension)
        else:
            rejects.append(
                Reject("suspensions", f"{case_id}/{seq}", "unknown_case", f"no case {case_id!r}")
            )
    cases: dict[str, Case] = {}
    for case_id, case in records.cases.items():
        if case.item not in records.items:
            rejects.append(
                Reject("cases", case_id, "unknown_item", f"item {case.item!r} is not catalogued")
            )
            continue
        cases[case_id] = case.model_copy(
            update={
                # A vendor that keeps the department on the item only: inherit it.
                "department": case.department or records.items[case.item].department,
                "steps": tuple(sorted(steps.get(case_id, ()), key=lambda s: s.seq)),
                "suspensions": tuple(sorted(suspensions.get(case_id, ()), key=lambda s: s.seq)),
            }
        )
    return Snapshot(items=dict(records.items), cases=cases), rejects
