"""Assemble polled records into one consistent :class:`~monitor.model.Snapshot`.

Cases, their steps and their suspensions arrive as separate entities (often separate
tables); here they are joined by case id. A step or suspension for a case that no
source delivered, or a case whose item is not in the catalogue, is rejected with the
reason ``unknown_case`` / ``unknown_item`` — judging a case without its item's limits
would be guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any, TypeVar

from monitor.calendar import CalendarRangeError, WorkingCalendar
from monitor.deadlines import DeadlinePolicy
from monitor.model import Case, Evaluation, Item, Payment, Snapshot, Step, Suspension, Ticket
from monitor.sources.mapping import Reject
from monitor.store import CHILD_ENTITIES, child_key, record_key

_Child = TypeVar("_Child", Step, Suspension)


@dataclass
class Records:
    """Mapped records of every entity, as delivered (later versions win).

    Steps and suspensions are held by their case id, then their sequence number: one
    case is joined again without going through every child of every case, and no
    (case id, seq) tuple is kept per child.
    """

    items: dict[str, Item] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    steps: dict[str, dict[int, Step]] = field(default_factory=dict)
    suspensions: dict[str, dict[int, Suspension]] = field(default_factory=dict)
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
        elif entity in CHILD_ENTITIES:
            case_id, child = record  # type: ignore[misc]
            getattr(self, entity).setdefault(case_id, {})[child.seq] = child
        else:
            raise ValueError(f"unknown entity {entity!r}")

    def get(self, entity: str, key: str) -> Any:
        """The record held under a store key (``record_key``), or None; a step or
        suspension as ``(case id, child)``, as it was delivered."""
        table: dict[str, Any] = getattr(self, entity)
        if entity in CHILD_ENTITIES:
            case_id, seq = child_key(key)
            child = table.get(case_id, {}).get(seq)
            return None if child is None else (case_id, child)
        return table.get(key)

    def keys(self, entity: str) -> Set[str]:
        """The store keys of the records held (a live view where they are the ids)."""
        table: dict[str, Any] = getattr(self, entity)
        if entity in CHILD_ENTITIES:
            return {
                record_key(entity, (case_id, child))
                for case_id, of in table.items()
                for child in of.values()
            }
        return table.keys()

    def count(self, entity: str) -> int:
        """How many records are held."""
        table: dict[str, Any] = getattr(self, entity)
        if entity in CHILD_ENTITIES:
            return sum(len(of) for of in table.values())
        return len(table)

    def discard(self, entity: str, key: str) -> None:
        """Forget a record by its store key (``record_key``): deleted at the source."""
        table: dict[str, Any] = getattr(self, entity)
        if entity in CHILD_ENTITIES:
            case_id, seq = child_key(key)
            siblings = table.get(case_id, {})
            siblings.pop(seq, None)
            if not siblings:
                table.pop(case_id, None)
        else:
            table.pop(key, None)


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


def _children(of: dict[int, _Child] | None) -> tuple[_Child, ...]:
    return () if not of else tuple(child for _, child in sorted(of.items()))


class Assembler:
    """Joins cases to their children and items, keeping the result between calls.

    :meth:`update` re-joins only the cases named as changed (a case, or one of its steps
    or suspensions, delivered or deleted); a changed item re-joins every case. Called
    with ``changed=None`` it joins everything, which is what :func:`assemble` does.
    """

    def __init__(
        self, calendar: WorkingCalendar | None = None, policy: DeadlinePolicy | None = None
    ) -> None:
        self.calendar = calendar
        self.policy = policy or DeadlinePolicy()
        self.cases: dict[str, Case] = {}
        self.orphans: set[str] = set()  # case ids with steps or suspensions but no case

    def update(
        self, records: Records, changed: Mapping[str, Iterable[str]] | None = None
    ) -> tuple[set[str], list[Reject]]:
        """Re-join the changed cases; the ids of the cases looked at, and the rejects."""
        if changed is None or changed.get("items"):
            self.cases, self.orphans = {}, set()
            ids = set(records.cases) | set(records.steps) | set(records.suspensions)
        else:
            ids = set(changed.get("cases", ()))
            for entity in CHILD_ENTITIES:
                ids.update(child_key(key)[0] for key in changed.get(entity, ()))
        # Children still waiting for their case are rejected again every time, as a full
        # assembly would: the daemon decides when such an orphan is settled.
        ids |= self.orphans
        rejects: list[Reject] = []
        for case_id in sorted(ids):
            joined = self._join(case_id, records, rejects)
            if joined is None:
                self.cases.pop(case_id, None)
            else:
                self.cases[case_id] = joined
            if case_id not in records.cases and (
                case_id in records.steps or case_id in records.suspensions
            ):
                self.orphans.add(case_id)
            else:
                self.orphans.discard(case_id)
        return ids, rejects

    def _join(self, case_id: str, records: Records, rejects: list[Reject]) -> Case | None:
        case = records.cases.get(case_id)
        steps = _children(records.steps.get(case_id))
        suspensions = _children(records.suspensions.get(case_id))
        if case is None:
            for entity, children in (("steps", steps), ("suspensions", suspensions)):
                rejects.extend(
                    Reject(entity, f"{case_id}/{c.seq}", "unknown_case", f"no case {case_id!r}")
                    for c in children
                )
            return None
        item = records.items.get(case.item)
        if item is None:
            rejects.append(
                Reject("cases", case_id, "unknown_item", f"item {case.item!r} is not catalogued")
            )
            return None
        problem = _outside(self.calendar, self.policy, case, item)
        if problem is not None:
            rejects.append(Reject("cases", case_id, "outside_calendar", problem))
            return None
        update: dict[str, object] = {}
        if case.department is None and item.department is not None:
            # A vendor that keeps the department on the item only: inherit it.
            update["department"] = item.department
        if case.steps != steps:
            update["steps"] = steps
        if case.suspensions != suspensions:
            update["suspensions"] = suspensions
        return case.model_copy(update=update) if update else case


def snapshot_of(
    records: Records, cases: dict[str, Case], delivered: frozenset[str] | None, copy: bool = True
) -> Snapshot:
    """The rules' view: copies of the record tables (a poll may change them meanwhile).

    ``copy`` False: the tables themselves, for a caller that holds off every change to
    them for as long as it reads the snapshot (the daemon's lock): copying a province's
    tables (millions of entries) is a good part of an evaluation that judges few cases.
    """
    if not copy:
        return Snapshot.model_construct(
            items=records.items,
            cases=cases,
            tickets=records.tickets,
            evaluations=records.evaluations,
            payments=records.payments,
            delivered=delivered,
        )
    return Snapshot.model_construct(
        items=dict(records.items),
        cases=dict(cases),
        tickets=dict(records.tickets),
        evaluations=dict(records.evaluations),
        payments=dict(records.payments),
        delivered=delivered,
    )


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
    assembler = Assembler(calendar, policy)
    _, rejects = assembler.update(records)
    ordered = {
        case_id: assembler.cases[case_id] for case_id in records.cases if case_id in assembler.cases
    }
    return snapshot_of(records, ordered, delivered), rejects
