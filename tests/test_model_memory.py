"""What the canonical records share to stay small, and that sharing changes nothing.

Records with the same fields given share one ``__pydantic_fields_set__`` (see
``monitor.model._Canonical``), and their short codes are interned (``monitor.model.Code``).
Sharing a mutable set is safe only while nothing changes it in place: these tests pin
that copying with an update leaves every other record's set as it was, and that the
records still compare, hash, dump, pickle and copy as before.
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from typing import Any
from zoneinfo import ZoneInfo

from monitor.model import Case, Finding, Severity, Step, Suspension, Ticket
from monitor.privacy import ApplicantHasher
from monitor.sources.mapping import RowContext, map_case, map_step, map_suspension, map_ticket
from monitor.store import decode_record, encode_record

SH = ZoneInfo("Asia/Shanghai")
CTX = RowContext(tz=SH, hasher=ApplicantHasher(b"memory-test-key"), value_maps={})


def fresh(text: str) -> str:
    """An equal string that is a new object (as each row a driver returns brings)."""
    return "".join(list(text))


def ticket_row(ticket_id: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": fresh(ticket_id),
        "number": fresh("A012"),
        "center": fresh("C01"),
        "department": fresh("D0003"),
        "window": fresh("W0012"),
        "service": fresh("S000123"),
        "issued_at": "2026-10-09 09:00:00",
        "called_at": "2026-10-09 09:10:00",
        "status": fresh("served"),
    }
    row.update(changes)
    return row


def case_row(case_id: str) -> dict[str, Any]:
    return {
        "id": fresh(case_id),
        "item": fresh("SX001"),
        "center": fresh("C01"),
        "department": fresh("D0003"),
        "window": fresh("W0012"),
        "accepted_at": "2026-10-09 09:00:00",
        "applicant_id_number": "11010519491231002X",
    }


def test_records_mapped_alike_share_one_fields_set() -> None:
    first, second = map_ticket(ticket_row("T1"), CTX), map_ticket(ticket_row("T2"), CTX)
    assert first.model_fields_set == second.model_fields_set
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__
    # A record with other fields given has its own (equally shared) set.
    bare = map_ticket(ticket_row("T3", called_at=None, service=None), CTX)
    assert bare.model_fields_set == first.model_fields_set - {"called_at", "service"}
    again = map_ticket(ticket_row("T4", called_at=None, service=None), CTX)
    assert bare.__pydantic_fields_set__ is again.__pydantic_fields_set__


def test_copy_with_update_leaves_the_shared_set_alone() -> None:
    first, second = map_ticket(ticket_row("T1"), CTX), map_ticket(ticket_row("T2"), CTX)
    before = set(first.model_fields_set)
    dumped = second.model_dump(exclude_unset=True)
    assert "applicant_key" not in before
    for deep in (False, True):
        updated = first.model_copy(update={"applicant_key": "k"}, deep=deep)
        assert updated.model_fields_set == before | {"applicant_key"}
        assert updated.applicant_key == "k"
    assert first.model_fields_set == before and second.model_fields_set == before
    assert second.model_dump(exclude_unset=True) == dumped
    assert first.applicant_key is None


def test_every_way_of_building_shares_the_set() -> None:
    ticket = map_ticket(ticket_row("T1"), CTX)
    shared = ticket.__pydantic_fields_set__
    built = [
        pickle.loads(pickle.dumps(ticket)),
        copy.deepcopy(ticket),
        ticket.model_copy(deep=True),
        Ticket.model_validate(ticket.model_dump(exclude_unset=True)),
        Ticket.model_construct(shared, **ticket.model_dump()),
    ]
    for other in built:
        assert other == ticket
        assert hash(other) == hash(ticket)
        assert other.__pydantic_fields_set__ is shared
    # Built from a set the caller keeps: the caller's set is not the shared one.
    mine = set(shared)
    constructed = Ticket.model_construct(mine, **ticket.model_dump())
    mine.add("applicant_key")
    assert constructed.model_fields_set == shared


def test_records_compare_and_dump_as_their_values_say() -> None:
    ticket = map_ticket(ticket_row("T1"), CTX)
    full = Ticket.model_validate_json(ticket.model_dump_json())
    # Different sets given, equal values: equal, as pydantic compares values only.
    assert full.model_fields_set != ticket.model_fields_set
    assert full == ticket
    assert ticket.model_dump(exclude_unset=True) == {
        "id": "T1",
        "number": "A012",
        "center": "C01",
        "department": "D0003",
        "window": "W0012",
        "service": "S000123",
        "issued_at": dt.datetime(2026, 10, 9, 9, 0, tzinfo=SH),
        "called_at": dt.datetime(2026, 10, 9, 9, 10, tzinfo=SH),
        "status": "served",
    }
    assert ticket.model_copy(update={"window": "W0013"}) != ticket


def test_codes_are_interned_when_mapped_and_when_decoded() -> None:
    mapped = [map_ticket(ticket_row(f"T{n}"), CTX) for n in range(2)]
    decoded = [decode_record("tickets", encode_record("tickets", t)) for t in mapped]
    cases = [map_case(case_row(f"SB{n}"), CTX) for n in range(2)]
    cases += [decode_record("cases", encode_record("cases", c)) for c in cases]
    for tickets in (mapped, decoded, [mapped[0], decoded[1]]):
        first, second = tickets
        for name in ("number", "center", "department", "window", "service"):
            assert getattr(first, name) is getattr(second, name), name
    for name in ("item", "center", "department", "window"):
        assert len({id(getattr(c, name)) for c in cases}) == 1, name
    assert cases[0].center is mapped[0].center


def test_identities_are_not_interned() -> None:
    first, second = map_ticket(ticket_row("T1"), CTX), map_ticket(ticket_row("T1"), CTX)
    assert first.id == second.id and first.id is not second.id
    one, other = map_case(case_row("SB1"), CTX), map_case(case_row("SB1"), CTX)
    assert one.id == other.id and one.id is not other.id


def test_children_and_findings_intern_their_codes() -> None:
    step_row = {"case_id": "SB1", "seq": 1, "name": fresh("承办"), "started_at": "2026-10-09"}
    steps = [map_step(dict(step_row), CTX)[1] for _ in range(2)]
    assert steps[0].name is steps[1].name
    assert steps[0].__pydantic_fields_set__ is steps[1].__pydantic_fields_set__
    kind_row = {"case_id": "SB1", "seq": 1, "kind": fresh("补正"), "started_at": "2026-10-09"}
    suspensions = [map_suspension(dict(kind_row), CTX)[1] for _ in range(2)]
    assert suspensions[0].kind is suspensions[1].kind
    assert isinstance(steps[0], Step) and isinstance(suspensions[0], Suspension)
    findings = [
        Finding(
            rule="overdue",
            severity=Severity.RED,
            subject_kind="case",
            subject_id=f"SB{n}",
            center=fresh("C01"),
            item=fresh("SX001"),
        )
        for n in range(2)
    ]
    assert findings[0].center is findings[1].center and findings[0].item is findings[1].item
    assert isinstance(map_case(case_row("SB1"), CTX), Case)
