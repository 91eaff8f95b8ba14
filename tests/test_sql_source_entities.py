"""The SQL source with queue tickets, evaluator ratings and fee payments on real databases.

Vendor-style tables (pinyin column names, codes, yuan in DECIMAL(12,2)) are mapped by
SELECT aliases onto the canonical Ticket, Evaluation and Payment on PostgreSQL, MariaDB
and SQLite, and every backend must give the same records: money exact to the fen, flags
spelled '1'/'0', 是/否 or as numbers, status codes through value_maps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from monitor.config import EntityQuery, SqlSourceConfig
from monitor.model import TicketStatus
from monitor.privacy import ApplicantHasher
from monitor.sources.sql import SqlSource

SH = ZoneInfo("Asia/Shanghai")
HASHER = ApplicantHasher(b"sql-entities-key")

BACKENDS = [
    pytest.param("postgres_url", marks=[pytest.mark.postgres, pytest.mark.integration]),
    pytest.param("mariadb_url", marks=[pytest.mark.mariadb, pytest.mark.integration]),
    pytest.param("sqlite_url"),
]
# A naive date-time column on each dialect (MariaDB's TIMESTAMP updates itself).
TIMESTAMP = {"postgresql": "TIMESTAMP", "mysql": "DATETIME", "sqlite": "TIMESTAMP"}


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'window.db'}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def timestamp_type(url: str) -> str:
    engine = create_engine(url)
    try:
        return TIMESTAMP[engine.dialect.name]
    finally:
        engine.dispose()


@pytest.fixture
def source_for() -> Iterator[Callable[..., SqlSource]]:
    opened: list[SqlSource] = []

    def make(url: str, **entities: EntityQuery) -> SqlSource:
        config = SqlSourceConfig(name="window", url=url, center="HZ01", entities=entities)
        source = SqlSource(config, SH, HASHER)
        opened.append(source)
        return source

    yield make
    for source in opened:
        source.close()


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=SH)


# --------------------------------------------------------------------------- tickets

TICKET_QUERY = """
SELECT LSH AS id, PH AS number, CKBH AS window, BMBM AS department, YWBM AS service,
       ZJHM AS applicant_id_number, QHSJ AS issued_at, JHSJ AS called_at,
       JSSJ AS finished_at, ZT AS status, SFZX AS consultation, GXSJ AS updated_at
FROM PDJH WHERE GXSJ >= :since ORDER BY LSH
"""
STATUS_CODES = {"0": "waiting", "1": "called", "2": "served", "3": "absent", "4": "cancelled"}


@pytest.mark.parametrize(
    ("flag_type", "yes", "no"),
    [
        pytest.param("CHAR(1)", "'1'", "'0'", id="1-0"),
        pytest.param("VARCHAR(4)", "'是'", "'否'", id="shi-fou"),
        pytest.param("SMALLINT", "1", "0", id="number"),
    ],
)
def test_queue_tickets(db_url: str, source_for, flag_type: str, yes: str, no: str) -> None:
    ts = timestamp_type(db_url)
    execute(
        db_url,
        f"CREATE TABLE PDJH (LSH VARCHAR(32) PRIMARY KEY, PH VARCHAR(10), CKBH VARCHAR(10), "
        f"BMBM VARCHAR(10), YWBM VARCHAR(32), ZJHM VARCHAR(18), QHSJ {ts}, JHSJ {ts}, "
        f"JSSJ {ts}, ZT CHAR(1), SFZX {flag_type}, GXSJ {ts})",
        "INSERT INTO PDJH VALUES ('20261009-0001', 'A001', 'W01', 'SCJ', NULL, NULL, "
        f"'2026-10-09 09:00:00', '2026-10-09 09:05:00', '2026-10-09 09:12:00', '2', {yes}, "
        "'2026-10-09 09:12:00')",
        "INSERT INTO PDJH VALUES ('20261009-0002', 'A002', 'W01', 'SCJ', '330100-001', "
        "'330106199001011234', '2026-10-09 09:01:00', '2026-10-09 09:20:00', "
        f"'2026-10-09 09:40:00', '2', {no}, '2026-10-09 09:40:00')",
        "INSERT INTO PDJH VALUES ('20261009-0003', 'A003', 'W02', 'GAJ', NULL, NULL, "
        f"'2026-10-09 09:02:00', '2026-10-09 09:30:00', NULL, '3', {no}, "
        "'2026-10-09 09:31:00')",
        "INSERT INTO PDJH VALUES ('20261009-0004', 'A004', NULL, 'GAJ', NULL, NULL, "
        "'2026-10-09 09:03:00', NULL, NULL, '0', NULL, '2026-10-09 09:03:00')",
        "INSERT INTO PDJH VALUES ('20261009-0005', 'A005', 'W02', 'GAJ', NULL, NULL, "
        f"'2026-10-09 09:04:00', NULL, NULL, '9', {no}, '2026-10-09 09:04:00')",
        "INSERT INTO PDJH VALUES ('20261009-0006', 'A006', 'W02', 'GAJ', NULL, NULL, "
        f"NULL, NULL, NULL, '0', {no}, '2026-10-09 09:50:00')",
    )
    source = source_for(
        db_url, tickets=EntityQuery(query=TICKET_QUERY, value_maps={"status": STATUS_CODES})
    )
    batch = source.poll("tickets")
    assert batch.rows == 6
    tickets = {t.id: t for t in batch.records}
    assert sorted(tickets) == ["20261009-0001", "20261009-0002", "20261009-0003", "20261009-0004"]
    assert [(r.key, r.reason) for r in batch.rejects] == [
        ("20261009-0005", "bad_value"),
        ("20261009-0006", "missing_field"),
    ]
    first, second = tickets["20261009-0001"], tickets["20261009-0002"]
    assert (first.number, first.window, first.department, first.center) == (
        "A001",
        "W01",
        "SCJ",
        "HZ01",
    )
    assert (first.issued_at, first.called_at, first.finished_at) == (
        at(9, 9),
        at(9, 9, 5),
        at(9, 9, 12),
    )
    assert (first.status, first.consultation) == (TicketStatus.SERVED, True)
    assert (second.status, second.consultation, second.service) == (
        TicketStatus.SERVED,
        False,
        "330100-001",
    )
    assert second.applicant_key == HASHER.key_for("330106199001011234")
    assert "330106199001011234" not in repr(batch.records)
    assert (tickets["20261009-0003"].status, tickets["20261009-0003"].finished_at) == (
        TicketStatus.ABSENT,
        None,
    )
    waiting = tickets["20261009-0004"]
    assert (waiting.status, waiting.consultation, waiting.window) == (
        TicketStatus.WAITING,
        False,
        None,
    )
    assert batch.watermark == at(9, 9, 50)

    later = source.poll("tickets", at(9, 9, 35))
    assert sorted(t.id for t in later.records) == ["20261009-0002"]


# --------------------------------------------------------------------------- evaluations

EVALUATION_QUERY = """
SELECT PJBH AS id, CKBH AS window, BMBM AS department, GZRYBH AS staff_id,
       SBLSH AS case_id, PJSJ AS rated_at, MYDDM AS level, PJNR AS comment,
       HFSJ AS followed_up_at, GXSJ AS updated_at
FROM HCPJ ORDER BY PJBH
"""


def test_evaluator_ratings(db_url: str, source_for) -> None:
    ts = timestamp_type(db_url)
    execute(
        db_url,
        f"CREATE TABLE HCPJ (PJBH VARCHAR(32), CKBH VARCHAR(10), BMBM VARCHAR(10), "
        f"GZRYBH VARCHAR(20), SBLSH VARCHAR(40), PJSJ {ts}, MYDDM CHAR(1), "
        f"PJNR VARCHAR(200), HFSJ VARCHAR(14), GXSJ {ts})",
        "INSERT INTO HCPJ VALUES ('PJ1', 'W01', 'SCJ', 'G007', 'BJ001', "
        "'2026-10-09 09:30:00', '1', '办事很快', NULL, '2026-10-09 09:30:00')",
        "INSERT INTO HCPJ VALUES ('PJ2', 'W02', 'GAJ', 'G010', NULL, "
        "'2026-10-09 10:00:00', '5', '等了很久', '20261012093000', '2026-10-12 09:30:00')",
        "INSERT INTO HCPJ VALUES ('PJ3', 'W02', 'GAJ', NULL, NULL, "
        "'2026-10-09 10:10:00', '6', NULL, NULL, '2026-10-09 10:10:00')",
        "INSERT INTO HCPJ VALUES ('PJ4', 'W02', 'GAJ', NULL, NULL, "
        "NULL, '2', NULL, NULL, '2026-10-09 10:20:00')",
        "INSERT INTO HCPJ VALUES ('PJ5', 'W02', 'GAJ', NULL, NULL, "
        "'2026-10-09 10:30:00', 'A', NULL, NULL, '2026-10-09 10:30:00')",
    )
    batch = source_for(db_url, evaluations=EntityQuery(query=EVALUATION_QUERY)).poll("evaluations")
    good = {e.id: e for e in batch.records}
    assert sorted(good) == ["PJ1", "PJ2"]
    assert [(r.key, r.reason) for r in batch.rejects] == [
        ("PJ3", "invalid"),  # level 6 is outside 1..5
        ("PJ4", "missing_field"),
        ("PJ5", "bad_number"),
    ]
    pj1, pj2 = good["PJ1"], good["PJ2"]
    assert (pj1.level, pj1.is_bad, pj1.case_id, pj1.staff_id, pj1.comment) == (
        1,
        False,
        "BJ001",
        "G007",
        "办事很快",
    )
    assert (pj2.level, pj2.is_bad, pj2.rated_at, pj2.followed_up_at) == (
        5,
        True,
        at(9, 10),
        at(12, 9, 30),
    )
    assert pj2.center == "HZ01"
    assert batch.watermark == at(12, 9, 30)


# --------------------------------------------------------------------------- payments

PAYMENT_QUERY = """
SELECT JYLSH AS id, SKZH AS account, JYJE AS amount_yuan, JYSJ AS paid_at,
       JKM AS reference, JKRXM AS payer_name, JKRZJHM AS payer_id_number,
       SBLSH AS case_id, GXSJ AS updated_at
FROM JKMX WHERE GXSJ >= :since ORDER BY JYLSH
"""
PAYERS = ("张三", "李四", "330106199001011234", "330106198502023456")


def test_fee_payments_in_yuan_are_exact_fen(db_url: str, source_for) -> None:
    ts = timestamp_type(db_url)
    rows = [
        ("J1", "1234.56", "20261009090000", "'张三'", "'330106199001011234'", "'BJ001'"),
        ("J2", "0.07", "20261009091000", "'李四'", "NULL", "NULL"),
        ("J3", "80.00", "20261009092000", "NULL", "'330106198502023456'", "'BJ003'"),
        ("J4", "-20.00", "20261009093000", "'张三'", "'330106199001011234'", "'BJ001'"),
        ("J5", "9999999999.99", "20261009094000", "NULL", "NULL", "NULL"),
        ("J6", "0.10", "2026-10-09 09:50:00", "NULL", "NULL", "NULL"),
        ("J7", "NULL", "20261009100000", "NULL", "NULL", "NULL"),
        ("J8", "5.00", "20261309100000", "NULL", "NULL", "NULL"),
    ]
    execute(
        db_url,
        f"CREATE TABLE JKMX (JYLSH VARCHAR(40), SKZH VARCHAR(32), JYJE DECIMAL(12,2), "
        f"JYSJ VARCHAR(20), JKM VARCHAR(32), JKRXM VARCHAR(40), JKRZJHM VARCHAR(18), "
        f"SBLSH VARCHAR(40), GXSJ {ts})",
        *(
            f"INSERT INTO JKMX VALUES ('{key}', '33050161000000000123', {amount}, '{paid}', "
            f"'JK-{key}', {name}, {id_number}, {case}, '2026-10-09 {9 + n // 4:02}:{n:02}:00')"
            for n, (key, amount, paid, name, id_number, case) in enumerate(rows)
        ),
    )
    source = source_for(db_url, payments=EntityQuery(query=PAYMENT_QUERY))
    batch = source.poll("payments")
    assert {p.id: p.amount_fen for p in batch.records} == {
        "J1": 123456,
        "J2": 7,
        "J3": 8000,
        "J4": -2000,
        "J5": 999999999999,
        "J6": 10,
    }
    assert [(r.key, r.reason) for r in batch.rejects] == [
        ("J7", "missing_field"),
        ("J8", "bad_time"),
    ]
    payments = {p.id: p for p in batch.records}
    j1 = payments["J1"]
    assert (j1.account, j1.paid_at, j1.reference, j1.case_id, j1.center) == (
        "33050161000000000123",
        at(9, 9),
        "JK-J1",
        "BJ001",
        "HZ01",
    )
    # The ID number is the payer's key when there is one, the name otherwise.
    assert j1.payer_key == payments["J4"].payer_key == HASHER.key_for("330106199001011234")
    assert payments["J2"].payer_key == HASHER.key_for("李四")
    assert payments["J5"].payer_key is None
    assert payments["J6"].paid_at == at(9, 9, 50)
    shown = repr(batch.records) + repr(batch.rejects)
    assert not any(secret in shown for secret in PAYERS)

    since = dt.datetime(2026, 10, 9, 2, 5, tzinfo=dt.UTC)  # 10:05 in Beijing
    assert sorted(p.id for p in source.poll("payments", since).records) == ["J6"]
