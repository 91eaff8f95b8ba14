"""The SQL source against real PostgreSQL and MariaDB (and SQLite): mapping, :since, rejects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from monitor.config import EntityQuery
from monitor.demo import load_example
from monitor.privacy import ApplicantHasher
from monitor.scan import scan
from monitor.settings import Settings
from monitor.sources.base import SourceUnavailable
from monitor.sources.sql import SqlSource
from tests.example_hall import AT, EXPECTED, EXPECTED_REJECTS, SHANGHAI, example_config
from tests.services import free_port

BACKENDS = [
    pytest.param("postgres_url", marks=[pytest.mark.postgres, pytest.mark.integration]),
    pytest.param("mariadb_url", marks=[pytest.mark.mariadb, pytest.mark.integration]),
    pytest.param("sqlite_url"),
]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hall.db'}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


@pytest.fixture
def example_url(db_url: str) -> str:
    load_example(db_url)
    return db_url


def _execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


@pytest.fixture
def source_for() -> Iterator:
    sources: list[SqlSource] = []

    def make(url: str, **entities: str) -> SqlSource:
        config = example_config(url, "http://127.0.0.1:9").sources[0]
        if entities:
            queries = {name: EntityQuery(query=query) for name, query in entities.items()}
            config = config.model_copy(update={"entities": queries})
        source = SqlSource(config, SHANGHAI, ApplicantHasher(b"k"))
        sources.append(source)
        return source

    yield make
    for source in sources:
        source.close()


def test_scan_finds_the_same_on_every_database(example_url: str, window_api: str) -> None:
    result = scan(example_config(example_url, window_api), Settings(applicant_hash_key="k"), AT)
    got = {(f.rule, f.subject_id): f.due_at and f.due_at.isoformat() for f in result.findings}
    assert got == EXPECTED
    assert {(r.entity, r.key, r.reason) for _, r in result.rejects} == EXPECTED_REJECTS
    # 24 accepted cases (BJ014 was never accepted), one of them unreadable.
    assert result.rows[("approval", "cases")] == 24
    assert len(result.snapshot.cases) == 22  # minus BJ012 (bad time) and BJ013 (unknown item)
    # Payments from the statement folder (the 合计 line is no payment), tickets and ratings
    # from the window system's API.
    assert len(result.snapshot.payments) == 7
    assert len(result.snapshot.tickets) == 6
    assert len(result.snapshot.evaluations) == 4


def test_incremental_poll_with_since_sees_only_changes(example_url: str, source_for) -> None:
    source = source_for(example_url)
    first = source.poll("cases")
    assert first.rows == 24
    # The newest GXSJ among accepted cases is BJ015's, 2026-10-09 11:31:00.
    assert first.watermark == dt.datetime(2026, 10, 9, 11, 31, tzinfo=SHANGHAI)

    _execute(
        example_url,
        "UPDATE SL_BJ SET BJSJ = '20261009120000', BJJGDM = '0', GXSJ = '20261009120000' "
        "WHERE SBLSH = 'BJ002'",
        "INSERT INTO SL_BJ VALUES ('BJ099', '330100-001', 'HZ01', 'SCJ', 'W03', '某人', "
        "'330106200001010000', '20261009120000', '20261009120500', '1', NULL, NULL, NULL, "
        "'20261009120500', 0.00, '20261009120500')",
    )
    since = source.next_since(first.watermark)
    assert since == dt.datetime(2026, 10, 9, 11, 26, tzinfo=SHANGHAI)  # 5 minutes overlap
    second = source.poll("cases", since)
    # BJ015 is inside the overlap window and comes again; BJ002 changed; BJ099 is new.
    assert sorted(c.id for c in second.records) == ["BJ002", "BJ015", "BJ099"]
    bj002 = next(c for c in second.records if c.id == "BJ002")
    assert bj002.concluded_at == dt.datetime(2026, 10, 9, 12, 0, tzinfo=SHANGHAI)
    assert second.watermark == dt.datetime(2026, 10, 9, 12, 5, tzinfo=SHANGHAI)
    third = source.poll("cases", source.next_since(second.watermark))
    assert sorted(c.id for c in third.records) == ["BJ002", "BJ099"]

    # Once the daemon has applied a poll, its rows read again unchanged are left out
    # (their update time still counts); a changed row is mapped again.
    assert third.applied is not None
    third.applied()
    fourth = source.poll("cases", source.next_since(third.watermark))
    assert (fourth.rows, fourth.records) == (2, [])
    assert fourth.watermark == third.watermark
    assert fourth.applied is not None
    fourth.applied()
    _execute(example_url, "UPDATE SL_BJ SET BJJGDM = '1' WHERE SBLSH = 'BJ002'")
    fifth = source.poll("cases", source.next_since(fourth.watermark))
    assert [c.id for c in fifth.records] == ["BJ002"]
    # A full poll leaves nothing out.
    assert len(source.poll("cases").records) == len(first.records) + 1


MALFORMED_TABLE = """
CREATE TABLE BAD_CASES (
    SBLSH VARCHAR(40), SXBM VARCHAR(32), SLSJ VARCHAR(20), BJSJ VARCHAR(20),
    BJJGDM VARCHAR(2), SFJE VARCHAR(20), GXSJ VARCHAR(14)
)
"""
MALFORMED_ROWS = [
    # key, item, accepted, concluded, result, fee, updated -> expected reason (None: kept)
    ("G1", "330100-001", "20261008100000", None, None, "80.00", "20261008100000", None),
    ("G2", "330100-002", "2026-10-08 09:00:00", "20261008093000", "0", "0", "20261008093000", None),
    (None, "330100-001", "20261008100000", None, None, None, "20261008100000", "missing_field"),
    ("B2", "330100-001", "20261308100000", None, None, None, "20261008100000", "bad_time"),
    ("B3", "330100-001", "20261008100000", None, None, "12.345", "20261008100000", "bad_number"),
    (
        "B4",
        "330100-001",
        "20261008100000",
        "20261008110000",
        "9",
        None,
        "20261008110000",
        "bad_value",
    ),
    (
        "B5",
        "330100-001",
        "20261008100000",
        "20261007100000",
        "0",
        None,
        "20261008100000",
        "invalid",
    ),
    ("B6", "330100-001", "20261008100000", None, None, None, "yesterday", "bad_time"),
    (None, None, None, None, None, None, "20261008100000", "missing_field"),
]


def test_malformed_rows_are_rejected_and_good_rows_kept(example_url: str, source_for) -> None:
    _execute(example_url, MALFORMED_TABLE)
    for row in MALFORMED_ROWS:
        values = ", ".join("NULL" if v is None else f"'{v}'" for v in row[:7])
        _execute(example_url, f"INSERT INTO BAD_CASES VALUES ({values})")
    source = source_for(
        example_url,
        cases="SELECT SBLSH AS id, SXBM AS item, SLSJ AS accepted_at, BJSJ AS concluded_at, "
        "BJJGDM AS result, SFJE AS fee_due_yuan, GXSJ AS updated_at FROM BAD_CASES "
        "WHERE GXSJ >= :since",
    )
    source.config.entities["cases"].value_maps["result"] = {"0": "approved"}
    batch = source.poll("cases")
    assert batch.rows == len(MALFORMED_ROWS)
    assert sorted(c.id for c in batch.records) == ["G1", "G2"]
    assert {c.id: c.fee_due_fen for c in batch.records} == {"G1": 8000, "G2": 0}
    expected = sorted((r[0] or "", r[7]) for r in MALFORMED_ROWS if r[7] is not None)
    assert sorted((r.key or "", r.reason) for r in batch.rejects) == expected
    assert all(r.detail for r in batch.rejects)


def test_negative_limit_in_the_catalogue_is_rejected(example_url: str, source_for) -> None:
    _execute(example_url, "UPDATE SXML SET CNSX = '-1' WHERE SXBM = '330100-003'")
    batch = source_for(example_url).poll("items")
    assert {(r.key, r.reason) for r in batch.rejects} == {("330100-003", "negative_limit")}
    assert len(batch.records) == 5  # the other five items of the catalogue


@pytest.mark.postgres
@pytest.mark.integration
def test_postgres_session_is_read_only_with_a_statement_timeout(
    postgres_url: str, source_for
) -> None:
    load_example(postgres_url)
    source = source_for(postgres_url)
    with source.engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "30s"
        with pytest.raises(DBAPIError, match="read-only"):
            connection.execute(text("DELETE FROM SL_BJ"))


@pytest.mark.mariadb
@pytest.mark.integration
def test_mariadb_session_is_read_only_with_a_statement_timeout(
    mariadb_url: str, source_for
) -> None:
    load_example(mariadb_url)
    source = source_for(mariadb_url)
    with source.engine.connect() as connection:
        assert float(connection.execute(text("SELECT @@max_statement_time")).scalar()) == 30.0
        with pytest.raises(DBAPIError, match="READ ONLY"):
            connection.execute(text("DELETE FROM SL_BJ"))


def test_sqlite_session_is_read_only(sqlite_url: str, source_for) -> None:
    load_example(sqlite_url)
    source = source_for(sqlite_url)
    with source.engine.connect() as connection, pytest.raises(DBAPIError, match="readonly"):
        connection.execute(text("DELETE FROM SL_BJ"))


@pytest.mark.postgres
@pytest.mark.integration
def test_postgres_statement_timeout_reports_the_source_unavailable(
    postgres_url: str, source_for
) -> None:
    source = source_for(postgres_url, cases="SELECT pg_sleep(3) AS id")
    slow = SqlSource(
        source.config.model_copy(update={"statement_timeout_seconds": 0.5}),
        SHANGHAI,
        ApplicantHasher(b"k"),
    )
    try:
        with pytest.raises(SourceUnavailable, match="statement timeout"):
            slow.poll("cases")
    finally:
        slow.close()


def test_unreachable_database_raises_source_unavailable(source_for) -> None:
    source = source_for(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    with pytest.raises(SourceUnavailable, match="source approval"):
        source.poll("cases")


NATIVE_TYPES = {
    "postgresql": "TIMESTAMP",
    "mysql": "DATETIME",
    "sqlite": "TIMESTAMP",
}


def test_native_datetime_columns_and_datetime_since(db_url: str, source_for) -> None:
    """Vendors with real datetime columns: naive values are Beijing time, :since binds naive."""
    column_type = NATIVE_TYPES[create_engine(db_url).dialect.name]
    _execute(
        db_url,
        f"CREATE TABLE ITEMS (CODE VARCHAR(10), FDSX INTEGER, CNSX INTEGER, GXSJ {column_type})",
        "INSERT INTO ITEMS VALUES ('A', 20, 10, '2026-10-08 09:00:00')",
        "INSERT INTO ITEMS VALUES ('B', 5, 0, '2026-10-09 09:00:00')",
    )
    base = source_for(db_url).config
    config = base.model_copy(
        update={
            "since_format": "datetime",
            "entities": {
                "items": base.entities["items"].model_copy(
                    update={
                        "query": "SELECT CODE AS code, FDSX AS statutory_limit_days, "
                        "CNSX AS promised_limit_days, GXSJ AS updated_at FROM ITEMS "
                        "WHERE GXSJ >= :since",
                        "value_maps": {},
                    }
                )
            },
        }
    )
    source = SqlSource(config, SHANGHAI, ApplicantHasher(b"k"))
    try:
        everything = source.poll("items")
        assert sorted(i.code for i in everything.records) == ["A", "B"]
        assert {i.code: i.kind.value for i in everything.records} == {
            "A": "promised",
            "B": "immediate",
        }
        assert everything.watermark == dt.datetime(2026, 10, 9, 9, 0, tzinfo=SHANGHAI)
        since = dt.datetime(2026, 10, 9, 8, 0, tzinfo=SHANGHAI)
        assert [i.code for i in source.poll("items", since).records] == ["B"]
        # The same instant expressed in UTC selects the same rows.
        assert [i.code for i in source.poll("items", since.astimezone(dt.UTC)).records] == ["B"]
    finally:
        source.close()


def test_upper_case_aliases_are_matched(sqlite_url: str, source_for) -> None:
    """Oracle returns unquoted aliases in upper case; the mapping must not care."""
    load_example(sqlite_url)
    source = source_for(
        sqlite_url,
        items='SELECT SXBM AS "CODE", FDSX AS "STATUTORY_LIMIT_DAYS", '
        'CNSX AS "PROMISED_LIMIT_DAYS", GXSJ AS "UPDATED_AT" FROM SXML',
    )
    batch = source.poll("items")
    assert batch.rejects == []
    assert len(batch.records) == 6
    assert batch.watermark is not None


@pytest.mark.postgres
@pytest.mark.integration
def test_postgres_rows_are_mapped_as_they_are_fetched(
    postgres_url: str, source_for, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll streams: rows come a fetch batch at a time from a server-side cursor and are
    mapped before the next batch is fetched, never all held at once (a province's first
    poll reads millions)."""
    import psycopg

    from monitor.sources import sql
    from monitor.sources.mapping import RowMapper

    monkeypatch.setattr(sql, "_FETCH_BATCH", 2)
    events: list[str] = []
    fetchmany, map_row = psycopg.ServerCursor.fetchmany, RowMapper.map

    def fetching(cursor: psycopg.ServerCursor, size: int = 0) -> list:
        rows = fetchmany(cursor, size)
        events.append(f"fetch {size}: {len(rows)}")
        return rows

    def mapping(mapper: RowMapper, *args: object) -> object:
        events.append("map")
        return map_row(mapper, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(psycopg.ServerCursor, "fetchmany", fetching)
    monkeypatch.setattr(RowMapper, "map", mapping)
    source = source_for(
        postgres_url,
        items="SELECT 'I' || g AS code, 5 AS statutory_limit_days, 3 AS promised_limit_days "
        "FROM generate_series(1, 9) AS g",
    )
    batch = source.poll("items")
    assert [item.code for item in batch.records] == [f"I{n}" for n in range(1, 10)]
    # (SQLAlchemy first fetches one row to learn the result's shape.)
    asked = [int(e.split()[1].rstrip(":")) for e in events if e.startswith("fetch")]
    assert len(asked) >= 5 and all(0 < size <= 2 for size in asked), events
    assert events.index("map") < max(i for i, e in enumerate(events) if e.startswith("fetch"))


@pytest.mark.postgres
@pytest.mark.integration
def test_postgres_times_out_of_pythons_range_are_rejected_rows(
    postgres_url: str, source_for
) -> None:
    """PostgreSQL holds times Python's datetime cannot ('infinity', dates BC, years past
    9999): such a row is rejected with its reason and the poll goes on, rather than the
    driver's fetch failing the whole poll; zoned, fractional and plain times read as the
    instants they are."""
    database = create_engine(postgres_url).url.database
    _execute(
        postgres_url,
        # A server that writes dates its own way: the source's sessions use ISO.
        f"ALTER DATABASE \"{database}\" SET DateStyle = 'SQL, DMY'",
        "CREATE TABLE QH (ID VARCHAR(8), QHSJ TIMESTAMP, JSSJ TIMESTAMPTZ, FQRQ DATE)",
        "INSERT INTO QH VALUES ('plain', '2026-10-08 09:00:00', NULL, '2026-10-08'),"
        " ('zoned', '2026-10-08 09:00:00.25', '2026-10-08 01:30:00.5+00', NULL),"
        " ('endless', 'infinity', NULL, NULL), ('ancient', '0044-03-15 12:00 BC', NULL, NULL),"
        " ('far', '12026-01-01 00:00', NULL, NULL), ('open', '2026-10-08 09:00', 'infinity', NULL)",
        "CREATE TABLE SX (CODE VARCHAR(8), FQRQ DATE)",
        "INSERT INTO SX VALUES ('I1', '2026-10-08'), ('I2', 'infinity'), ('I3', NULL)",
    )
    source = source_for(
        postgres_url,
        tickets="SELECT ID AS id, QHSJ AS issued_at, JSSJ AS finished_at FROM QH ORDER BY ID",
        items="SELECT CODE AS code, 5 AS statutory_limit_days, 3 AS promised_limit_days,"
        " FQRQ AS fee_abolished_on FROM SX ORDER BY CODE",
    )
    with source.engine.connect() as connection:
        assert str(connection.execute(text("SHOW DateStyle")).scalar()).startswith("ISO,")
    with create_engine(postgres_url).connect() as connection:  # what it is without ours
        assert connection.execute(text("SHOW DateStyle")).scalar() == "SQL, DMY"
    tickets = source.poll("tickets")
    assert {t.id: (t.issued_at, t.finished_at) for t in tickets.records} == {
        "plain": (dt.datetime(2026, 10, 8, 9, tzinfo=SHANGHAI), None),
        "zoned": (
            dt.datetime(2026, 10, 8, 9, 0, 0, 250_000, tzinfo=SHANGHAI),
            dt.datetime(2026, 10, 8, 9, 30, 0, 500_000, tzinfo=SHANGHAI),
        ),
    }
    assert sorted((r.key, r.reason) for r in tickets.rejects) == [
        ("ancient", "bad_time"),
        ("endless", "bad_time"),
        ("far", "bad_time"),
        ("open", "bad_time"),
    ]
    assert all("infinity" in r.detail for r in tickets.rejects if r.key in ("endless", "open"))
    items = source.poll("items")
    assert {i.code: i.fee_abolished_on for i in items.records} == {
        "I1": dt.date(2026, 10, 8),
        "I3": None,
    }
    assert [(r.key, r.reason) for r in items.rejects] == [("I2", "bad_time")]
