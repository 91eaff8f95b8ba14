"""The state store migrates itself: an existing store is upgraded through new revisions.

Revision 0002 (report records) is checked against a store as revision 0001 left it, on
SQLite and PostgreSQL, and each later revision against a store as the one before left
it. A later jiancha is simulated with a copy of ``monitor/migrations`` plus a revision
that adds a column on top of the newest one: a store is brought to it on open, its rows
kept, and the older jiancha then refuses it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

import monitor.store as store_module
from monitor.calendar import WorkingCalendar
from monitor.model import Finding, Item, Severity
from monitor.store import (
    MIGRATIONS,
    OPEN,
    VERSION_TABLE,
    LedgerChanges,
    LedgerEntry,
    StateStore,
    confirmations_table,
    decode_record,
    entities_table,
    files_table,
    finding_events_table,
    findings_seen_view,
    findings_table,
    journal_table,
    metadata,
    watermarks_table,
)
from tests.services import postgres_database

BASELINE_TABLES = [
    entities_table,
    watermarks_table,
    files_table,
    findings_table,
    finding_events_table,
]
REPORT_TABLES = {"jiancha_case_sla", "jiancha_calendars", "jiancha_parameter_sets"}


def _head() -> str:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _later_revision(down: str) -> str:
    return f'''"""Findings get a reviewer note."""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jiancha_findings", sa.Column("review_note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("jiancha_findings", "review_note")
'''


def _later_migrations(tmp_path: Path) -> Path:
    later = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, later, ignore=shutil.ignore_patterns("__pycache__"))
    (later / "versions" / "9001_review_note.py").write_text(
        _later_revision(_head()), encoding="utf-8"
    )
    return later


def _columns(store: StateStore) -> set[str]:
    with store.engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("jiancha_findings")}


def _tables(store: StateStore, schema: str | None = None) -> set[str]:
    with store.engine.connect() as conn:
        return set(inspect(conn).get_table_names(schema=schema))


def _revision(store: StateStore, schema: str | None = None) -> str:
    versions = f'"{schema}".{VERSION_TABLE}' if schema else VERSION_TABLE
    with store.engine.connect() as conn:
        return str(conn.execute(text(f"SELECT version_num FROM {versions}")).scalar_one())


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with postgres_database() as url:
        yield url


def test_a_baseline_store_gets_the_report_tables(empty_url: str) -> None:
    engine = create_engine(empty_url)
    with engine.begin() as conn:  # the store as jiancha at revision 0001 created it
        metadata.create_all(conn, tables=BASELINE_TABLES)
        conn.execute(text(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text(f"INSERT INTO {VERSION_TABLE} VALUES ('0001')"))
        conn.execute(
            text(
                "INSERT INTO jiancha_watermarks (source, entity, watermark) "
                "VALUES ('approval', 'cases', NULL)"
            )
        )
    engine.dispose()
    store = StateStore(empty_url)
    try:
        assert not REPORT_TABLES & _tables(store)
        store.open()
        assert _revision(store) == _head()
        assert _tables(store) >= REPORT_TABLES
        assert store.watermarks() == {("approval", "cases"): None}  # rows kept
        # The migrated tables take what the store writes.
        at = dt.datetime(2026, 10, 9, 10, tzinfo=dt.UTC)
        calendar = WorkingCalendar(2025, 2027)
        store.record_provenance(calendar, {"rules": {"due_soon_ratio": 0.2}}, at)
        assert store.calendars()[calendar.version].working_days_text() == (
            calendar.working_days_text()
        )
        (parameters,) = store.parameter_sets()
        assert parameters.since == at and parameters.parameters["rules"]["due_soon_ratio"] == 0.2
        assert store.latest_sla() == {}
    finally:
        store.close()


def _fillfactor(
    url: str, schema: str = "public", table: str = "jiancha_findings"
) -> list[str] | None:
    engine = create_engine(url)
    with engine.connect() as conn:
        options = conn.execute(
            text(
                "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relname = :table AND n.nspname = :schema"
            ),
            {"schema": schema, "table": table},
        ).scalar_one()
    engine.dispose()
    return options


@pytest.mark.postgres
@pytest.mark.parametrize("schema", [None, "shard_hz"])
def test_the_ledger_and_the_records_leave_room_on_their_pages(schema: str | None) -> None:
    """Revisions 0003 and 0005: a new PostgreSQL store's ledger and records have their
    fillfactors, and a store as revision 0002 left it gets them on open (in a shard's
    schema too)."""
    expected = {"jiancha_findings": ["fillfactor=70"], "jiancha_entities": ["fillfactor=90"]}
    with postgres_database() as url:
        new = StateStore(url, schema=schema)
        new.open()
        new.close()
        for table, options in expected.items():
            assert _fillfactor(url, schema or "public", table) == options
        engine = create_engine(url)
        prefix = f'"{schema}".' if schema else ""
        versions = f"{prefix}{VERSION_TABLE}"
        with engine.begin() as conn:  # as revision 0002 left it
            _as_0003_left_it(conn, schema)
            for table in expected:
                conn.execute(text(f"ALTER TABLE {prefix}{table} RESET (fillfactor)"))
            conn.execute(text(f"UPDATE {versions} SET version_num = '0002'"))
        engine.dispose()
        for table in expected:
            assert _fillfactor(url, schema or "public", table) is None
        old = StateStore(url, schema=schema)
        old.open()
        with old.engine.connect() as conn:
            assert conn.execute(text(f"SELECT version_num FROM {versions}")).scalar() == _head()
        old.close()
        for table, options in expected.items():
            assert _fillfactor(url, schema or "public", table) == options


# SQLite, PostgreSQL, and PostgreSQL with the store in a shard's schema.
EVERY_BACKEND = pytest.mark.parametrize(
    ("backend", "schema"),
    [
        ("sqlite", None),
        pytest.param("postgres", None, marks=pytest.mark.postgres),
        pytest.param("postgres", "shard_hz", marks=pytest.mark.postgres),
    ],
)


def _on(backend: str, tmp_path: Path, check: Callable[[str], None]) -> None:
    """Run ``check`` on an empty database of the backend, given its URL."""
    if backend == "sqlite":
        check(f"sqlite:///{tmp_path / 'state.db'}")
    else:
        with postgres_database() as url:
            check(url)


def _as_0003_left_it(conn: Any, schema: str | None) -> None:
    """Take away what revisions 0004 and 0006 add: the confirmations and the view, the
    journal."""
    prefix = f'"{schema}".' if schema else ""
    conn.execute(text(f"DROP VIEW {prefix}{findings_seen_view.name}"))
    conn.execute(text(f"DROP TABLE {prefix}{confirmations_table.name}"))
    _as_0005_left_it(conn, schema)


def _as_0005_left_it(conn: Any, schema: str | None) -> None:
    """Take away what revision 0006 adds: the journal."""
    prefix = f'"{schema}".' if schema else ""
    conn.execute(text(f"DROP TABLE {prefix}{journal_table.name}"))


@EVERY_BACKEND
def test_a_store_at_0003_gets_the_confirmations_and_their_view(
    backend: str, schema: str | None, tmp_path: Path
) -> None:
    """Revision 0004: a store as 0003 left it, with an open finding, gets the table of
    confirmations and the view of the ledger (in a shard's schema too); its rows read as
    written until an evaluation confirms them."""
    _on(backend, tmp_path, lambda url: _upgraded_from_0003(url, schema))


def _upgraded_from_0003(url: str, schema: str | None) -> None:
    at = dt.datetime(2026, 10, 9, 10, tzinfo=dt.UTC)
    entry = LedgerEntry(
        finding=Finding(
            rule="case.overdue", severity=Severity.RED, subject_kind="case", subject_id="C1"
        ),
        state=OPEN,
        first_seen=at,
        last_seen=at,
        resolved_at=None,
        sources=frozenset({"approval"}),
    )
    new = StateStore(url, schema=schema)
    new.open()
    new.save_ledger(LedgerChanges(entries={entry.fingerprint: entry}))
    with new.engine.begin() as conn:
        _as_0003_left_it(conn, schema)
        versions = f'"{schema}".{VERSION_TABLE}' if schema else VERSION_TABLE
        conn.execute(text(f"UPDATE {versions} SET version_num = '0003'"))
    new.close()
    old = StateStore(url, schema=schema)
    old.open()
    try:
        with old.engine.connect() as conn:
            assert conn.execute(text(f"SELECT version_num FROM {versions}")).scalar() == _head()
        assert old.load_ledger() == {entry.fingerprint: entry}
        later = at + dt.timedelta(minutes=3)
        old.save_ledger(LedgerChanges(confirmed={entry.sources: later}))
        assert old.load_ledger()[entry.fingerprint].last_seen == later
    finally:
        old.close()


def test_an_existing_store_is_upgraded_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    today = StateStore(url)
    today.open()
    with today.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jiancha_watermarks (source, entity, watermark) "
                "VALUES ('approval', 'cases', NULL)"
            )
        )
    assert _revision(today) == _head() and "review_note" not in _columns(today)
    today.close()

    monkeypatch.setattr(store_module, "MIGRATIONS", _later_migrations(tmp_path))
    tomorrow = StateStore(url)
    tomorrow.open()
    assert _revision(tomorrow) == "9001"
    assert "review_note" in _columns(tomorrow)
    assert tomorrow.watermarks() == {("approval", "cases"): None}  # rows kept
    tomorrow.close()


def test_the_running_version_refuses_what_the_later_one_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setattr(store_module, "MIGRATIONS", _later_migrations(tmp_path))
    later = StateStore(url)
    later.open()
    later.close()
    monkeypatch.undo()
    older = StateStore(url)
    with pytest.raises(store_module.StoreError, match="revision 9001"):
        older.open()
    older.close()


@EVERY_BACKEND
def test_a_store_at_0005_gets_the_journal_and_keeps_its_records(
    backend: str, schema: str | None, tmp_path: Path
) -> None:
    """Revision 0006: a store as 0005 left it, with records, gets the journal (in a
    shard's schema too); its records read as they were, a poll's change goes to the
    journal and a compaction merges it."""
    _on(backend, tmp_path, lambda url: _upgraded_from_0005(url, schema))


def _upgraded_from_0005(url: str, schema: str | None) -> None:
    at = dt.datetime(2026, 10, 9, 10, tzinfo=dt.UTC)
    first, second = _item("I1", 5), _item("I2", 3)
    new = StateStore(url, schema=schema)
    new.open()
    new.apply_poll("approval", "items", [("I1", first), ("I2", second)], [], at, [], at, True)
    with new.engine.begin() as conn:
        _as_0005_left_it(conn, schema)
        versions = f'"{schema}".{VERSION_TABLE}' if schema else VERSION_TABLE
        conn.execute(text(f"UPDATE {versions} SET version_num = '0005'"))
    assert journal_table.name not in _tables(new, schema)
    new.close()
    old = StateStore(url, schema=schema)
    old.open()
    try:
        assert _revision(old, schema) == _head()
        assert journal_table.name in _tables(old, schema)
        assert dict((k, r) for _, _, k, r in old.load_entities()) == {"I1": first, "I2": second}
        changed = first.model_copy(update={"promised_limit_days": 4})
        old.apply_poll("approval", "items", [("I1", changed)], ["I2"], at, [], at, False)
        assert old.journal_size() == 2
        assert dict((k, r) for _, _, k, r in old.load_entities()) == {"I1": changed}
        assert old.compact() == 2
        assert old.journal_size() == 0
        assert dict((k, r) for _, _, k, r in old.load_entities()) == {"I1": changed}
    finally:
        old.close()


def _item(code: str, days: int) -> Item:
    return Item(code=code, statutory_limit_days=days + 5, promised_limit_days=days)


def test_going_back_to_0005_refuses_versions_not_merged(tmp_path: Path) -> None:
    """Downgrading from 0006 drops the journal only once compaction has emptied it."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = StateStore(url)
    store.open()
    at = dt.datetime(2026, 10, 9, 10, tzinfo=dt.UTC)
    store.apply_poll("approval", "items", [("I1", _item("I1", 5))], [], at, [], at, True)
    store.apply_poll("approval", "items", [("I1", _item("I1", 4))], [], at, [], at, False)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            with pytest.raises(RuntimeError, match="not merged"):
                command.downgrade(config, "0005")
        assert journal_table.name in _tables(store)
        store.compact()
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
        assert journal_table.name not in _tables(store)
        assert _revision(store) == "0005"
        with store.engine.connect() as conn:
            (payload,) = conn.execute(text("SELECT payload FROM jiancha_entities")).scalars()
        assert decode_record("items", payload).promised_limit_days == 4
    finally:
        store.close()
