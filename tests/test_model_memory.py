"""What keeps the canonical records small, and that it changes nothing they do.

Records are slotted pydantic dataclasses (``monitor.model.record``) and their short
codes are interned (``monitor.model.Code``). These tests pin that a record holds no
``__dict__``, and that records still refuse what pydantic refused, copy with an update
without validating (as ``BaseModel.model_copy``), and compare, hash, dump, pickle and
copy by their values.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import pickle
import sys
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

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


def test_records_keep_their_values_in_slots() -> None:
    """No per-record ``__dict__``: a ticket is its object header and one slot per field."""
    records = [
        map_ticket(ticket_row("T1"), CTX),
        map_case(case_row("SB1"), CTX),
        map_step({"case_id": "SB1", "seq": 1, "name": "承办", "started_at": "2026-10-09"}, CTX)[1],
        Finding(rule="overdue", severity=Severity.RED, subject_kind="case", subject_id="SB1"),
    ]
    for record in records:
        assert not hasattr(record, "__dict__"), type(record).__name__
        fields = type(record).__pydantic_fields__
        assert sys.getsizeof(record) <= 64 + 8 * len(fields), type(record).__name__


def test_records_are_frozen_and_refuse_unknown_fields() -> None:
    ticket = map_ticket(ticket_row("T1"), CTX)
    with pytest.raises(AttributeError):
        ticket.window = "W0013"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Ticket.model_validate({**ticket.model_dump(), "name": "张三"})
    with pytest.raises(TypeError, match="no field 'name'"):
        ticket.model_copy(update={"name": "张三"})


def test_copy_with_update_changes_only_the_copy_and_does_not_validate() -> None:
    ticket = map_ticket(ticket_row("T1"), CTX)
    updated = ticket.model_copy(update={"applicant_key": "k", "window": "W0013"})
    assert (updated.applicant_key, updated.window) == ("k", "W0013")
    assert (ticket.applicant_key, ticket.window) == (None, "W0012")
    assert updated.issued_at is ticket.issued_at and updated != ticket
    assert ticket.model_copy() == ticket and ticket.model_copy() is not ticket
    # As pydantic's model_copy: the tests build states the validator would refuse.
    case = map_case(case_row("SB1"), CTX)
    early = case.accepted_at - dt.timedelta(days=1)
    assert case.model_copy(update={"concluded_at": early}).concluded_at == early
    with pytest.raises(ValidationError, match="concluded before it was accepted"):
        Case.model_validate({**case.model_dump(), "concluded_at": early})


def test_records_compare_hash_pickle_copy_and_dump_as_their_values_say() -> None:
    ticket = map_ticket(ticket_row("T1"), CTX)
    built = [
        pickle.loads(pickle.dumps(ticket)),
        copy.copy(ticket),
        copy.deepcopy(ticket),
        Ticket.model_validate(ticket.model_dump()),
        Ticket.model_validate_json(ticket.model_dump_json()),
    ]
    for other in built:
        assert other == ticket and other is not ticket
        assert hash(other) == hash(ticket)
    assert ticket.model_dump() == {
        "id": "T1",
        "number": "A012",
        "center": "C01",
        "department": "D0003",
        "window": "W0012",
        "service": "S000123",
        "applicant_key": None,
        "issued_at": dt.datetime(2026, 10, 9, 9, 0, tzinfo=SH),
        "called_at": dt.datetime(2026, 10, 9, 9, 10, tzinfo=SH),
        "finished_at": None,
        "status": "served",
        "consultation": False,
    }
    assert ticket.model_dump(mode="json")["issued_at"] == "2026-10-09T09:00:00+08:00"
    assert list(json.loads(ticket.model_dump_json())) == list(Ticket.__pydantic_fields__)


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


def test_a_findings_fingerprint_is_one_string_however_often_it_is_asked() -> None:
    def overdue(subject_id: str) -> Finding:
        return Finding(
            rule="case.overdue",
            severity=Severity.RED,
            subject_kind="case",
            subject_id=fresh(subject_id),
        )

    first, again = overdue("SB1"), overdue("SB1")
    assert first.fingerprint == "case.overdue|case|SB1"
    assert first.fingerprint is first.fingerprint is again.fingerprint
    assert overdue("SB2").fingerprint == "case.overdue|case|SB2"
