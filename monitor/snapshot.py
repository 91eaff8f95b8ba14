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
from typing import Any, TypeVar

from monitor.calendar import CalendarRangeError, WorkingCalendar
from monitor.deadlines import DeadlinePolicy
from monitor.model import Case, Evaluation, Item, Payment, Snapshot, Step, Suspension, Ticket
from monitor.sources.mapping import Reject

_Child = TypeVar("_Child", Step, Suspension)


@dataclass
class Records:
    """Mapped records of every entity, as delivered (later versions win)."""

    items: dict[str, Item] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    steps: dict[tuple[str, int], Step] = field(default_factory=dict)
    suspensions: dict[tuple[str, int], Suspension] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)

    def add(self, entity: str, record: object) -> None:
        if entity in ("tickets", "evaluations", "payments"):
            assert isinstance(record, Ticket | Evaluation | Payment)
            getattr(self, entity)[record.id] = record
        elif entity == "items":
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

    def discard(self, entity: str, key: str) -> None:
        """Forget a record by its store key (``record_key``): deleted at the source."""
        table: dict[Any, Any] = getattr(self, entity)
        if entity in ("steps", "suspensions"):
            case_id, _, seq = key.rpartition("/")
            table.pop((case_id, int(seq)), None)
        else:
            table.pop(key, None)


def _by_case(
    entity: str,
    children: dict[tuple[str, int], _Child],
    cases: dict[str, Case],
    rejects: list[Reject],
) -> dict[str, tuple[_Child, ...]]:
    """Children (steps or suspensions) grouped by their case, in ``seq`` order."""
    grouped: dict[str, list[_Child]] = defaultdict(list)
    for (case_id, seq), child in sorted(children.items()):
        if case_id in cases:
            grouped[case_id].append(child)
        else:
            rejects.append(
                Reject(entity, f"{case_id}/{seq}", "unknown_case", f"no case {case_id!r}")
            )
    return {case_id: tuple(group) for case_id, group in grouped.items()}


def _outside(
    calendar: WorkingCalendar | None, policy: DeadlinePolicy, case: Case, item: Item
) -> str | None:
    """Why the calendar cannot judge this case, if it cannot."""
    if calendar is None:
        return None
    accepted = policy.local_date(case.accepted_at)
    try:
        calendar.nth_working_day_after(accepted, item.statutory_limit_days)
        if case.promised_due_at is not None:  # the vendor's own 承诺办结时间
            calendar.is_working_day(policy.local_date(case.promised_due_at))
    except CalendarRangeError as exc:
        return str(exc)
    return None


def assemble(
    records: Records,
    calendar: WorkingCalendar | None = None,
    policy: DeadlinePolicy | None = None,
    delivered: frozenset[str] | None = None,
) -> tuple[Snapshot, list[Reject]]:
    """Join children to their cases; reject what cannot be judged.

    With a ``calendar``, a case whose acceptance, statutory deadline or source-supplied
    promised date lies outside the calendar's years is rejected (``outside_calendar``)
    rather than left to fail the whole evaluation later. ``delivered`` names the entities
    the configured sources deliver (see :meth:`Snapshot.watches`).
    """
    policy = policy or DeadlinePolicy()
    rejects: list[Reject] = []
    steps = _by_case("steps", records.steps, records.cases, rejects)
    suspensions = _by_case("suspensions", records.suspensions, records.cases, rejects)
    cases: dict[str, Case] = {}
    for case_id, case in records.cases.items():
        if case.item not in records.items:
            rejects.append(
                Reject("cases", case_id, "unknown_item", f"item {case.item!r} is not catalogued")
            )
            continue
        problem = _outside(calendar, policy, case, records.items[case.item])
        if problem is not None:
            rejects.append(Reject("cases", case_id, "outside_calendar", problem))
            continue
        update: dict[str, object] = {}
        if case.department is None and records.items[case.item].department is not None:
            # A vendor that keeps the department on the item only: inherit it.
            update["department"] = records.items[case.item].department
        if case.steps != steps.get(case_id, ()):
            update["steps"] = steps.get(case_id, ())
        if case.suspensions != suspensions.get(case_id, ()):
            update["suspensions"] = suspensions.get(case_id, ())
        cases[case_id] = case.model_copy(update=update) if update else case
    snapshot = Snapshot(
        items=dict(records.items),
        cases=cases,
        tickets=dict(records.tickets),
        evaluations=dict(records.evaluations),
        payments=dict(records.payments),
        delivered=delivered,
    )
    return snapshot, rejects
