"""Tests of row mapping (items, cases, steps, suspensions), rejects and snapshot assembly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.model import Case, CaseResult, Item, ItemKind, Step, Suspension
from monitor.privacy import ApplicantHasher
from monitor.snapshot import Records, assemble
from monitor.sources.base import EntityBatch
from monitor.sources.mapping import (
    MAPPERS,
    REJECT_REASONS,
    Reject,
    RowContext,
    RowError,
    RowMapper,
    map_case,
    map_item,
    map_step,
    map_suspension,
    row_key,
)

SH = ZoneInfo("Asia/Shanghai")
HASHER = ApplicantHasher(b"mapping-test-key")
ID_NUMBER = "11010519491231002X"
NAME = "张三"

# The value maps of examples/vendor_pinyin/jiancha.yaml.
VALUE_MAPS: dict[str, dict[str, str]] = {
    "kind": {"1": "immediate", "2": "promised"},
    "result": {
        "0": "approved",
        "1": "returned",
        "2": "void",
        "3": "void",
        "4": "forwarded",
        "5": "refused",
        "6": "approved",
    },
}
CTX = RowContext(tz=SH, hasher=HASHER, value_maps=VALUE_MAPS, default_center="HZ01")
# Value maps are per entity: the suspensions' "kind" is the special procedure type.
SUSPENSION_CTX = RowContext(
    tz=SH,
    hasher=HASHER,
    value_maps={
        "kind": {"1": "补正", "2": "听证", "3": "检验检测", "4": "专家评审", "5": "现场核查"}
    },
)
PLAIN = RowContext(tz=SH, hasher=HASHER, value_maps={})


def at(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=SH)


def item_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "code": "SX001",
        "name": "食品经营许可",
        "department": "SCJG",
        "kind": "2",
        "statutory_limit_days": "20",
        "promised_limit_days": 10,
        "fee_standard_yuan": "0",
        "fee_abolished_on": None,
        "max_suspension_days": None,
        "updated_at": "20261001000000",
    }
    row.update(changes)
    return row


def case_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "SB20261009001",
        "item": "SX001",
        "center": "HZ02",
        "department": "SCJG",
        "window": "W07",
        "applicant_id_number": ID_NUMBER,
        "received_at": "20261009083000",
        "accepted_at": "20261009090000",
        "promised_due_at": None,
        "concluded_at": None,
        "result": None,
        "recorded_at": "20261009090500",
        "fee_due_yuan": None,
        "updated_at": "20261009090500",
    }
    row.update(changes)
    return row


def step_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case_id": "SB20261009001",
        "seq": "1",
        "name": "承办",
        "started_at": "20261009090000",
        "ended_at": "20261009170000",
        "limit_days": "3",
        "updated_at": "20261009170000",
    }
    row.update(changes)
    return row


def suspension_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case_id": "SB20261009001",
        "seq": 1,
        "kind": "1",
        "started_at": "20261010",
        "ended_at": None,
        "updated_at": "20261010000000",
    }
    row.update(changes)
    return row


def reason_of(mapper: Callable[[Mapping[str, Any], RowContext], Any], row: dict[str, Any]) -> str:
    with pytest.raises(RowError) as caught:
        mapper(row, SUSPENSION_CTX if mapper is map_suspension else CTX)
    assert caught.value.reason in REJECT_REASONS
    return caught.value.reason


# --- items -------------------------------------------------------------------------------


def test_map_item_good_row() -> None:
    item = map_item(item_row(), CTX)
    assert item == Item(
        code="SX001",
        name="食品经营许可",
        department="SCJG",
        kind=ItemKind.PROMISED,
        statutory_limit_days=20,
        promised_limit_days=10,
        fee_standard_fen=0,
    )


def test_map_item_full_row() -> None:
    item = map_item(
        item_row(
            kind="1",
            promised_limit_days="0",
            fee_standard_yuan="12.50",
            fee_abolished_on="20250101",
            max_suspension_days="30",
        ),
        CTX,
    )
    assert item.kind is ItemKind.IMMEDIATE
    assert item.promised_limit_days == 0
    assert item.fee_standard_fen == 1250
    assert item.fee_abolished_on == dt.date(2025, 1, 1)
    assert item.max_suspension_days == {"*": 30}
    assert item.max_suspension_for("补正") == 30


def test_map_item_kind_defaults_from_promised_limit() -> None:
    assert map_item(item_row(kind=None, promised_limit_days=0), CTX).kind is ItemKind.IMMEDIATE
    assert map_item(item_row(kind=None, promised_limit_days=5), CTX).kind is ItemKind.PROMISED
    assert map_item(item_row(kind=""), CTX).kind is ItemKind.PROMISED


def test_map_item_whole_number_shapes() -> None:
    for value in (10, "10", " 10 ", "10.0", Decimal("10"), 10.0, "1e1"):
        assert map_item(item_row(promised_limit_days=value), CTX).promised_limit_days == 10


def test_map_item_fee_standard_fen() -> None:
    row = item_row(fee_standard_yuan=None, fee_standard_fen="8000")
    assert map_item(row, CTX).fee_standard_fen == 8000


def test_map_item_missing_code() -> None:
    assert reason_of(map_item, item_row(code=None)) == "missing_field"
    assert reason_of(map_item, item_row(code="   ")) == "missing_field"
    row = item_row()
    del row["code"]
    assert reason_of(map_item, row) == "missing_field"


def test_map_item_missing_limit_is_missing_field() -> None:
    # A missing required column is a missing_field reject, whatever the model says.
    assert reason_of(map_item, item_row(statutory_limit_days=None)) == "missing_field"
    assert reason_of(map_item, item_row(promised_limit_days="")) == "missing_field"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("statutory_limit_days", "abc"),
        ("promised_limit_days", "1.5"),
        ("promised_limit_days", 1.5),
        ("max_suspension_days", "十"),
        ("fee_standard_yuan", "12.345"),
        ("fee_standard_yuan", "abc"),
        ("fee_standard_yuan", "12元"),
        ("fee_standard_fen", "12.5"),
        ("statutory_limit_days", "Infinity"),
        ("fee_standard_yuan", "Infinity"),
    ],
)
def test_map_item_bad_number(field: str, value: object) -> None:
    row = item_row(**{field: value})
    if field == "fee_standard_fen":
        row["fee_standard_yuan"] = None
    assert reason_of(map_item, row) == "bad_number"


@pytest.mark.parametrize(
    "field", ["statutory_limit_days", "promised_limit_days", "max_suspension_days"]
)
def test_map_item_negative_limit(field: str) -> None:
    assert reason_of(map_item, item_row(**{field: "-1"})) == "negative_limit"


def test_map_item_bad_value() -> None:
    assert reason_of(map_item, item_row(kind="3")) == "bad_value"
    with pytest.raises(RowError) as caught:
        map_item(item_row(kind="9"), CTX)
    assert "kind" in caught.value.detail


def test_map_item_bad_time() -> None:
    assert reason_of(map_item, item_row(fee_abolished_on="20251301")) == "bad_time"


def test_map_item_invalid() -> None:
    # Promised limit beyond the statutory one.
    assert reason_of(map_item, item_row(statutory_limit_days=5, promised_limit_days=10)) == (
        "invalid"
    )
    # Kind not a known value when no value map translates it.
    with pytest.raises(RowError) as caught:
        map_item(item_row(kind="weekly"), PLAIN)
    assert caught.value.reason == "invalid"
    # Negative fee standard.
    assert reason_of(map_item, item_row(fee_standard_yuan="-5")) == "invalid"


# --- cases -------------------------------------------------------------------------------


def test_map_case_good_row() -> None:
    case = map_case(case_row(), CTX)
    assert case.id == "SB20261009001"
    assert case.item == "SX001"
    assert case.center == "HZ02"
    assert case.department == "SCJG"
    assert case.window == "W07"
    assert case.received_at == at(9, 8, 30)
    assert case.accepted_at == at(9)
    assert case.recorded_at == at(9, 9, 5)
    assert case.accepted_at.utcoffset() == dt.timedelta(hours=8)
    assert case.concluded_at is None
    assert case.result is None
    assert case.fee_due_fen == 0
    assert case.steps == () and case.suspensions == ()
    assert case.is_open


def test_map_case_concluded() -> None:
    case = map_case(
        case_row(
            concluded_at=dt.datetime(2026, 10, 12, 16, 0),
            promised_due_at="2026-10-23T23:59:59+08:00",
            result="6",
        ),
        CTX,
    )
    assert case.concluded_at == at(12, 16)
    assert case.promised_due_at == dt.datetime(2026, 10, 23, 23, 59, 59, tzinfo=SH)
    assert case.result is CaseResult.APPROVED
    assert not case.is_open


def test_equal_times_within_one_context_share_one_datetime() -> None:
    ctx = RowContext(tz=SH, hasher=HASHER, value_maps=VALUE_MAPS)
    naive = dt.datetime(2026, 10, 9, 9, 0)
    first = map_case(case_row(id="SB1", concluded_at=naive), ctx)
    second = map_case(case_row(id="SB2", concluded_at=dt.datetime(2026, 10, 9, 9, 0)), ctx)
    assert first.accepted_at is second.accepted_at  # the same text
    assert first.concluded_at is second.concluded_at  # equal naive driver values
    assert first.accepted_at == at(9) and first.concluded_at == at(9)
    # Another context (another poll) has its own.
    other = map_case(case_row(id="SB3"), RowContext(tz=SH, hasher=HASHER, value_maps=VALUE_MAPS))
    assert other.accepted_at == first.accepted_at and other.accepted_at is not first.accepted_at


def test_aware_raw_times_keep_their_own_zone() -> None:
    ctx = RowContext(tz=SH, hasher=HASHER, value_maps=VALUE_MAPS)
    beijing = dt.datetime(2026, 10, 9, 9, 0, tzinfo=SH)
    utc = dt.datetime(2026, 10, 9, 1, 0, tzinfo=dt.UTC)  # the same instant
    cases = [
        map_case(case_row(id=f"SB{n}", accepted_at=t), ctx) for n, t in enumerate((beijing, utc))
    ]
    assert cases[0].accepted_at == cases[1].accepted_at
    assert cases[0].accepted_at.tzinfo is SH and cases[1].accepted_at.tzinfo is dt.UTC


def test_shared_times_start_again_when_full_and_bad_times_are_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("monitor.sources.mapping._SHARED_TIMES", 2)
    ctx = RowContext(tz=SH, hasher=HASHER, value_maps=VALUE_MAPS)
    mapped = [
        map_case(case_row(id=f"SB{day}", accepted_at=f"202610{day:02d}090000"), ctx)
        for day in (9, 10, 12, 9)
    ]
    assert [c.accepted_at for c in mapped] == [at(9), at(10), at(12), at(9)]
    assert len(ctx.times) <= 2
    with pytest.raises(RowError) as caught:
        map_case(case_row(accepted_at="20261309090000"), ctx)
    assert caught.value.reason == "bad_time"


def test_the_update_time_moves_the_watermark_and_a_bad_one_rejects_the_row() -> None:
    mapper = RowMapper("approval")
    ctx = RowContext(tz=SH, hasher=HASHER, value_maps=VALUE_MAPS)
    batch = EntityBatch()
    rows = [
        case_row(id="SB1", updated_at="20261009090500"),
        case_row(id="SB2", updated_at="20261009090500"),  # the same instant, shared
        case_row(id="SB3", updated_at="20261309090000"),
        case_row(id="SB4", updated_at="20261009091000"),
    ]
    updated = [mapper.map("cases", row, ctx, batch) for row in rows]
    assert updated[:2] == [at(9, 9, 5)] * 2 and updated[0] is updated[1]
    assert updated[2] is None and updated[3] == at(9, 9, 10)
    assert [c.id for c in batch.records] == ["SB1", "SB2", "SB4"]
    assert batch.watermark == at(9, 9, 10)
    (reject,) = batch.rejects
    assert (reject.key, reject.reason) == ("SB3", "bad_time")
    assert reject.detail.startswith("updated_at: ")


def test_map_case_result_codes() -> None:
    for code, result in [("1", CaseResult.RETURNED), ("3", CaseResult.VOID), (5, "refused")]:
        case = map_case(case_row(concluded_at="20261010", result=code), CTX)
        assert case.result == result


def test_map_case_hashes_the_id_number() -> None:
    case = map_case(case_row(applicant_name=NAME), CTX)
    assert case.applicant_key == HASHER.key_for(ID_NUMBER)
    assert case.applicant_key != HASHER.key_for(NAME)
    dumped = case.model_dump_json()
    assert ID_NUMBER not in dumped
    assert ID_NUMBER.lower() not in dumped
    assert NAME not in dumped
    assert "applicant_id_number" not in dumped
    assert "applicant_name" not in dumped
    assert ID_NUMBER not in repr(case)


def test_map_case_normalised_id_number_same_key() -> None:
    a = map_case(case_row(applicant_id_number=" 11010519491231002x "), CTX)
    b = map_case(case_row(applicant_id_number=ID_NUMBER), CTX)
    assert a.applicant_key == b.applicant_key is not None


def test_map_case_uses_name_without_id_number() -> None:
    for missing in (None, ""):
        case = map_case(case_row(applicant_id_number=missing, applicant_name=NAME), CTX)
        assert case.applicant_key == HASHER.key_for(NAME)
        assert NAME not in case.model_dump_json()
    row = case_row(applicant_name=NAME)
    del row["applicant_id_number"]
    assert map_case(row, CTX).applicant_key == HASHER.key_for(NAME)


def test_map_case_blank_id_number_falls_back_to_name() -> None:
    # A CHAR(18) column holding only spaces is no ID number: the name must be used.
    case = map_case(case_row(applicant_id_number="                  ", applicant_name=NAME), CTX)
    assert case.applicant_key == HASHER.key_for(NAME)


def test_map_case_without_identity() -> None:
    case = map_case(case_row(applicant_id_number=None), CTX)
    assert case.applicant_key is None


def test_map_case_default_center() -> None:
    assert map_case(case_row(center=None), CTX).center == "HZ01"
    assert map_case(case_row(center=" "), CTX).center == "HZ01"
    assert map_case(case_row(center="HZ02"), CTX).center == "HZ02"
    assert map_case(case_row(center=None), PLAIN).center is None


@pytest.mark.parametrize(
    ("value", "fen"),
    [
        ("1,234.50", 123450),
        ("¥80", 8000),
        ("￥80.00", 8000),
        (Decimal("0.10"), 10),
        ("0.1", 10),
        (0.1, 10),
        (12, 1200),
        ("1.230", 123),
        (" 5.5 ", 550),
        ("0", 0),
    ],
)
def test_map_case_fee_due_yuan(value: object, fen: int) -> None:
    assert map_case(case_row(fee_due_yuan=value), CTX).fee_due_fen == fen


def test_map_case_fee_due_fen() -> None:
    assert map_case(case_row(fee_due_fen=8000), CTX).fee_due_fen == 8000
    assert map_case(case_row(fee_due_fen="8000"), CTX).fee_due_fen == 8000
    # fen wins over yuan when both are given
    assert map_case(case_row(fee_due_fen=100, fee_due_yuan="5"), CTX).fee_due_fen == 100
    assert map_case(case_row(fee_due_fen="", fee_due_yuan="5"), CTX).fee_due_fen == 500


@pytest.mark.parametrize("field", ["id", "item", "accepted_at"])
def test_map_case_missing_field(field: str) -> None:
    assert reason_of(map_case, case_row(**{field: None})) == "missing_field"
    assert reason_of(map_case, case_row(**{field: ""})) == "missing_field"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accepted_at", "20261309090000"),
        ("accepted_at", "yesterday"),
        ("received_at", "2026-10-32"),
        ("concluded_at", -5),
        ("recorded_at", True),
        ("promised_due_at", "soon"),
    ],
)
def test_map_case_bad_time(field: str, value: object) -> None:
    assert reason_of(map_case, case_row(**{field: value})) == "bad_time"


def test_map_case_nan_time_is_bad_time() -> None:
    assert reason_of(map_case, case_row(accepted_at=float("nan"))) == "bad_time"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fee_due_yuan", "1.234"),
        ("fee_due_yuan", "abc"),
        ("fee_due_yuan", "80元"),
        ("fee_due_fen", "1.5"),
        ("fee_due_fen", "abc"),
    ],
)
def test_map_case_bad_number(field: str, value: object) -> None:
    assert reason_of(map_case, case_row(**{field: value})) == "bad_number"


def test_map_case_bad_value() -> None:
    row = case_row(concluded_at="20261010", result="9")
    with pytest.raises(RowError) as caught:
        map_case(row, CTX)
    assert caught.value.reason == "bad_value"
    assert "result" in caught.value.detail


def test_map_case_invalid() -> None:
    # concluded before accepted
    assert reason_of(map_case, case_row(concluded_at="20261008090000")) == "invalid"
    # result without conclusion
    assert reason_of(map_case, case_row(result="6")) == "invalid"
    # negative fee
    assert reason_of(map_case, case_row(fee_due_fen=-1)) == "invalid"
    assert reason_of(map_case, case_row(fee_due_yuan="¥-1")) == "invalid"


def test_rejects_never_carry_the_identity() -> None:
    rows = [
        case_row(accepted_at="garbage"),
        case_row(result="6"),
        case_row(fee_due_yuan="x"),
        case_row(result="9", concluded_at="20261010"),
        case_row(id=None),
    ]
    for row in rows:
        row["applicant_name"] = NAME
        with pytest.raises(RowError) as caught:
            map_case(row, CTX)
        assert ID_NUMBER not in caught.value.detail
        assert NAME not in caught.value.detail


# --- steps and suspensions -----------------------------------------------------------


def test_map_step_good_row() -> None:
    case_id, step = map_step(step_row(), CTX)
    assert case_id == "SB20261009001"
    assert step == Step(seq=1, name="承办", started_at=at(9), ended_at=at(9, 17), limit_days=3)


def test_map_step_optional_fields() -> None:
    _, step = map_step(step_row(ended_at=None, limit_days=None, name=None), CTX)
    assert step.ended_at is None and step.limit_days is None and step.name == ""


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"case_id": None}, "missing_field"),
        ({"started_at": None}, "missing_field"),
        ({"started_at": "20261399"}, "bad_time"),
        ({"ended_at": "later"}, "bad_time"),
        ({"seq": "abc"}, "bad_number"),
        ({"seq": "1.5"}, "bad_number"),
        ({"limit_days": "1.5"}, "bad_number"),
        ({"limit_days": "-2"}, "negative_limit"),
        ({"started_at": dt.datetime(2026, 10, 9, 9, 0, tzinfo=dt.UTC), "seq": 1}, None),
    ],
)
def test_map_step_rejects(changes: dict[str, Any], reason: str | None) -> None:
    row = step_row(**changes)
    if reason is None:
        map_step(row, CTX)
    else:
        assert reason_of(map_step, row) == reason


def test_map_suspension_good_row() -> None:
    case_id, suspension = map_suspension(suspension_row(), SUSPENSION_CTX)
    assert case_id == "SB20261009001"
    assert suspension == Suspension(seq=1, kind="补正", started_at=at(10, 0))
    _, ended = map_suspension(suspension_row(kind="4", ended_at="20261015"), SUSPENSION_CTX)
    assert ended.kind == "专家评审"
    assert ended.ended_at == at(15, 0)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"case_id": ""}, "missing_field"),
        ({"kind": None}, "missing_field"),
        ({"started_at": None}, "missing_field"),
        ({"started_at": "20261310"}, "bad_time"),
        ({"seq": "x"}, "bad_number"),
        ({"kind": "9"}, "bad_value"),
    ],
)
def test_map_suspension_rejects(changes: dict[str, Any], reason: str) -> None:
    assert reason_of(map_suspension, suspension_row(**changes)) == reason


def test_every_configurable_entity_has_a_mapper_and_a_row_key() -> None:
    from monitor.config import ENTITY_NAMES
    from monitor.sources.mapping import ROW_KEYS

    assert set(MAPPERS) == set(ENTITY_NAMES) == set(ROW_KEYS)
    assert MAPPERS["cases"] is map_case and MAPPERS["items"] is map_item
    assert MAPPERS["steps"] is map_step and MAPPERS["suspensions"] is map_suspension


# --- row keys -------------------------------------------------------------------------


def test_row_key() -> None:
    assert row_key("items", item_row()) == "SX001"
    assert row_key("cases", case_row(id=" SB1 ")) == "SB1"
    assert row_key("steps", step_row()) == "SB20261009001/1"
    assert row_key("suspensions", suspension_row(seq=2)) == "SB20261009001/2"
    assert row_key("steps", step_row(seq=None)) == "SB20261009001/"
    assert row_key("steps", step_row(case_id=None, seq=None)) is None
    assert row_key("cases", case_row(id=None)) is None
    assert row_key("cases", {}) is None


def test_row_key_never_uses_identity_columns() -> None:
    row = case_row(id=None, applicant_name=NAME)
    assert row_key("cases", row) is None
    key = row_key("cases", case_row(applicant_name=NAME))
    assert key is not None and ID_NUMBER not in key and NAME not in key


# --- snapshot assembly ------------------------------------------------------------------


def make_item(code: str = "SX001", department: str | None = "SCJG") -> Item:
    return Item(code=code, department=department, statutory_limit_days=20, promised_limit_days=10)


def make_case(case_id: str = "C1", item: str = "SX001", **changes: Any) -> Case:
    return Case(id=case_id, item=item, accepted_at=at(9), **changes)


def make_step(seq: int, name: str = "") -> Step:
    return Step(seq=seq, name=name, started_at=at(9))


def make_suspension(seq: int, kind: str = "补正") -> Suspension:
    return Suspension(seq=seq, kind=kind, started_at=at(10))


def test_assemble_joins_and_sorts() -> None:
    records = Records()
    records.add("items", make_item())
    records.add("cases", make_case("C1", department="OTHER"))
    records.add("cases", make_case("C2"))
    for seq in (3, 1, 2):
        records.add("steps", ("C1", make_step(seq)))
    records.add("suspensions", ("C1", make_suspension(2)))
    records.add("suspensions", ("C1", make_suspension(1)))
    records.add("steps", ("C2", make_step(1)))
    snapshot, rejects = assemble(records)
    assert rejects == []
    assert set(snapshot.cases) == {"C1", "C2"}
    assert snapshot.items == {"SX001": make_item()}
    c1 = snapshot.cases["C1"]
    assert [s.seq for s in c1.steps] == [1, 2, 3]
    assert [s.seq for s in c1.suspensions] == [1, 2]
    assert c1.department == "OTHER"  # the case's own department is kept
    assert [s.seq for s in snapshot.cases["C2"].steps] == [1]
    assert snapshot.cases["C2"].suspensions == ()


def test_assemble_inherits_department_from_item() -> None:
    records = Records()
    records.add("items", make_item(department="GA"))
    records.add("cases", make_case("C1"))
    snapshot, _ = assemble(records)
    assert snapshot.cases["C1"].department == "GA"


def test_assemble_unknown_case_and_item() -> None:
    records = Records()
    records.add("items", make_item())
    records.add("cases", make_case("C1"))
    records.add("cases", make_case("C9", item="NOPE"))
    records.add("steps", ("GHOST", make_step(1)))
    records.add("suspensions", ("GHOST", make_suspension(4)))
    snapshot, rejects = assemble(records)
    assert set(snapshot.cases) == {"C1"}
    assert sorted((r.entity, r.key, r.reason) for r in rejects) == [
        ("cases", "C9", "unknown_item"),
        ("steps", "GHOST/1", "unknown_case"),
        ("suspensions", "GHOST/4", "unknown_case"),
    ]
    for reject in rejects:
        assert isinstance(reject, Reject)
        assert reject.reason in REJECT_REASONS
    assert any("NOPE" in r.detail for r in rejects if r.entity == "cases")
    assert all("GHOST" in r.detail for r in rejects if r.entity != "cases")


def test_assemble_later_versions_win() -> None:
    records = Records()
    records.add("items", make_item(department="OLD"))
    records.add("items", make_item(department="NEW"))
    records.add("cases", make_case("C1", window="W1"))
    records.add("cases", make_case("C1", window="W2"))
    records.add("steps", ("C1", make_step(1, "承办")))
    records.add("steps", ("C1", make_step(1, "审核")))
    records.add("suspensions", ("C1", make_suspension(1, "补正")))
    records.add("suspensions", ("C1", make_suspension(1, "听证")))
    snapshot, rejects = assemble(records)
    assert rejects == []
    case = snapshot.cases["C1"]
    assert case.window == "W2"
    assert case.department == "NEW"
    assert [s.name for s in case.steps] == ["审核"]
    assert [s.kind for s in case.suspensions] == ["听证"]
    assert snapshot.items["SX001"].department == "NEW"


def test_records_unknown_entity() -> None:
    with pytest.raises(ValueError, match="unknown entity"):
        Records().add("complaints", object())


def test_mapped_rows_assemble() -> None:
    records = Records()
    records.add("items", map_item(item_row(department="SCJG"), CTX))
    records.add("cases", map_case(case_row(department=None), CTX))
    records.add("steps", map_step(step_row(seq="2", name="审核"), CTX))
    records.add("steps", map_step(step_row(seq="1"), CTX))
    records.add("suspensions", map_suspension(suspension_row(), SUSPENSION_CTX))
    snapshot, rejects = assemble(records)
    assert rejects == []
    case = snapshot.cases["SB20261009001"]
    assert case.department == "SCJG"
    assert [s.name for s in case.steps] == ["承办", "审核"]
    assert [s.kind for s in case.suspensions] == ["补正"]
