"""The mapping's fast paths agree with its general ones, on generated rows.

Time parsing and the text helpers take a shortcut for values of exactly ``str`` or
``datetime`` type (what drivers return); a subclass of either goes the general way
(``isinstance`` dispatch, ``str()``). Mapping every generated row — well-formed and
malformed alike — once as delivered and once with its values wrapped in subclasses must
give the same record or the same reject (reason and detail).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.privacy import ApplicantHasher
from monitor.sources.base import EntityBatch
from monitor.sources.mapping import MAPPERS, RowContext, RowMapper
from monitor.timeparse import TimeParseError, parse_time

SH = ZoneInfo("Asia/Shanghai")


class _Text(str):
    """A str the fast paths do not recognise."""


class _Instant(dt.datetime):
    """A datetime the fast paths do not recognise."""


class _Whole(int):
    """An int the fast paths do not recognise."""


class _Amount(Decimal):
    """A Decimal the fast paths do not recognise."""


def _general(value: Any) -> Any:
    if type(value) is str:
        return _Text(value)
    if type(value) is dt.datetime:
        return _Instant(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
        )
    if type(value) is int:
        return _Whole(value)
    if type(value) is Decimal:
        return _Amount(value)
    return value


TIMES: list[Any] = [
    None,
    "",
    "  ",
    dt.datetime(2026, 9, 11, 14, 54),
    dt.datetime(2026, 9, 11, 14, 54, 7, 500, tzinfo=SH),
    dt.datetime(2026, 9, 11, 6, 54, tzinfo=dt.UTC),
    dt.date(2026, 9, 11),
    "20260911145400",
    " 20260911145400 ",
    "20261311145400",  # month 13
    "20260230120000",  # 30 February
    "2026091114540x",
    "２０２６０９１１１４５４００",  # full-width digits: not ASCII
    "20260911",
    "202609111454",
    "2026-09-11 14:54:00",
    "2026-09-11T14:54:00+08:00",
    "2026-02-30 12:00:00",
    "2026/09/11 14:54",
    "1757573640",
    "garbage",
    1757573640,
    1757573640000,
    20260911145400,
    True,
    Decimal("1757573640.5"),
    b"20260911145400",
]
TEXTS: list[Any] = [None, "", " ", "A1", " B2 ", "中心", 12, Decimal("3.0")]
NUMBERS: list[Any] = [
    *(None, "", "3", " 4 ", "x", "-1", "2.5", 7, -2, 0, Decimal("1.00"), Decimal("-3")),
    *("1e400", Decimal("2.5"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")),
]
MONEY: list[Any] = [
    *(None, "12.30", "¥1,200.00", "1.005", "x", Decimal("3.10"), Decimal("-0.50"), 500),
    *(Decimal("1.005"), Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"), -7),
]
FLAGS: list[Any] = [None, True, False, "1", "否", "maybe", "", 0]
IDENTITIES: list[Any] = [None, "", " ", "11010519491231002X", "张三", 110105]
RESULTS: list[Any] = [None, "0", "1", "2", "9", "approved"]
STATUSES: list[Any] = [None, "1", "2", "9", "served", "lost"]
LEVELS: list[Any] = [None, "1", "5", "6", "非常满意", "x", 3]

FIELDS: dict[str, dict[str, list[Any]]] = {
    "items": {
        "code": TEXTS,
        "name": TEXTS,
        "department": TEXTS,
        "kind": [None, "1", "2", "3", "immediate"],
        "statutory_limit_days": NUMBERS,
        "promised_limit_days": NUMBERS,
        "fee_standard_yuan": MONEY,
        "fee_abolished_on": TIMES,
        "max_suspension_days": NUMBERS,
    },
    "cases": {
        "id": TEXTS,
        "item": TEXTS,
        "center": TEXTS,
        "department": TEXTS,
        "window": TEXTS,
        "applicant_id_number": IDENTITIES,
        "applicant_name": IDENTITIES,
        "received_at": TIMES,
        "accepted_at": TIMES,
        "promised_due_at": TIMES,
        "concluded_at": TIMES,
        "result": RESULTS,
        "recorded_at": TIMES,
        "fee_due_yuan": MONEY,
        "payment_reference": TEXTS,
    },
    "steps": {
        "case_id": TEXTS,
        "seq": NUMBERS,
        "name": TEXTS,
        "started_at": TIMES,
        "ended_at": TIMES,
        "limit_days": NUMBERS,
    },
    "suspensions": {
        "case_id": TEXTS,
        "seq": NUMBERS,
        "kind": [None, "1", "2", "3", " 2 "],  # through value_maps.kind, as items
        "started_at": TIMES,
        "ended_at": TIMES,
    },
    "tickets": {
        "id": TEXTS,
        "number": TEXTS,
        "center": TEXTS,
        "service": TEXTS,
        "applicant_id_number": IDENTITIES,
        "issued_at": TIMES,
        "called_at": TIMES,
        "finished_at": TIMES,
        "status": STATUSES,
        "consultation": FLAGS,
    },
    "evaluations": {
        "id": TEXTS,
        "case_id": TEXTS,
        "rated_at": TIMES,
        "level": LEVELS,
        "comment": TEXTS,
        "followed_up_at": TIMES,
    },
    "payments": {
        "id": TEXTS,
        "account": TEXTS,
        "amount_yuan": MONEY,
        "amount_fen": NUMBERS,
        "paid_at": TIMES,
        "reference": TEXTS,
        "payer_name": IDENTITIES,
        "case_id": TEXTS,
    },
}
VALUE_MAPS: dict[str, dict[str, str]] = {
    "kind": {"1": "immediate", "2": "promised"},
    "result": {"0": "approved", "1": "returned", "2": "void"},
    "status": {"1": "waiting", "2": "served"},
    "level": {"非常满意": "1"},
}
CTX = RowContext(
    tz=SH, hasher=ApplicantHasher(b"fast-test-key"), value_maps=VALUE_MAPS, default_center="C0"
)


def _outcome(entity: str, row: dict[str, Any]) -> tuple[Any, ...]:
    batch = EntityBatch()
    updated = RowMapper("test").map(entity, row, CTX, batch)
    if batch.rejects:
        (reject,) = batch.rejects
        return ("reject", reject.key, reject.reason, reject.detail)
    (record,) = batch.records
    return ("record", record, updated, batch.watermark)


def _rows(entity: str, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    fields = FIELDS[entity]
    rows = []
    for _ in range(count):
        row = {field: rng.choice(pool) for field, pool in fields.items()}
        row["updated_at"] = rng.choice(TIMES)
        if rng.random() < 0.5:  # half of the rows: the required times are well formed
            for field in ("accepted_at", "started_at", "issued_at", "rated_at", "paid_at"):
                if field in row:
                    row[field] = rng.choice([*TIMES[3:6], "20260911145400"])
        rows.append(row)
    return rows


@pytest.mark.parametrize("entity", sorted(MAPPERS))
def test_fast_paths_map_as_the_general_ones(entity: str) -> None:
    outcomes = set()
    for row in _rows(entity, 1500, seed=len(entity)):
        fast = _outcome(entity, row)
        general = _outcome(entity, {k: _general(v) for k, v in row.items()})
        assert fast == general, row
        outcomes.add(fast[0] if fast[0] == "record" else fast[2])
    assert "record" in outcomes and len(outcomes) > 2  # records and several reject reasons


@pytest.mark.parametrize("value", TIMES)
def test_fast_time_parsing_is_the_general_one(value: Any) -> None:
    def parsed(v: Any) -> Any:
        try:
            result = parse_time(v, SH)
        except TimeParseError as exc:
            return ("error", str(exc))
        return result if result is None else (result, result.utcoffset())

    assert parsed(value) == parsed(_general(value))
