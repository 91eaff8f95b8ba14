"""Prove the real-service fixtures and helpers in tests/services.py work as promised."""

from __future__ import annotations

import socket

import psycopg
import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests import services
from tests.services import (
    DB_PREFIX,
    free_port,
    mariadb_database,
    mariadb_database_exists,
    postgres_database,
    postgres_database_exists,
    require_binary,
)

ROW_TEXT = "受理 → 办结 ✓"


def _roundtrip(url: str) -> None:
    """Create a table, insert a row with Chinese text and read it back through SQLAlchemy."""
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        table = sa.Table(
            "probe",
            meta,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("note", sa.String(64), nullable=False),
        )
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1, "note": ROW_TEXT}])
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.id, table.c.note)).all()
        assert [tuple(r) for r in rows] == [(1, ROW_TEXT)]
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- helpers


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_require_binary_found() -> None:
    path = require_binary("sh")
    assert path.endswith("/sh")


def test_require_binary_missing_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-binary-jiancha"):
        require_binary("no-such-binary-jiancha")


def test_require_binary_missing_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-binary-jiancha"):
        require_binary("no-such-binary-jiancha")


@pytest.mark.parametrize("ci", ["true", ""])
def test_unreachable_services_fail_in_ci_skip_outside(
    monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    dead_port = free_port()  # nothing listens there
    with pytest.raises(expected, match="PostgreSQL not reachable"):
        services.pg_admin_connect(port=dead_port)
    with pytest.raises(expected, match="MariaDB not reachable"):
        services.mariadb_admin_connect(port=dead_port)


# ------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_url_roundtrip(postgres_url: str) -> None:
    url = make_url(postgres_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.database is not None and url.database.startswith(DB_PREFIX)
    assert postgres_database_exists(url.database)
    _roundtrip(postgres_url)


@pytest.mark.postgres
def test_postgres_database_dropped_even_with_open_session() -> None:
    with postgres_database() as url:
        name = make_url(url).database
        assert name is not None
        _roundtrip(url)
        # A session still connected at teardown must not block the drop (WITH (FORCE)).
        held = psycopg.connect(
            host=services.PG_HOST, port=services.PG_PORT, user=services.pg_user(), dbname=name
        )
        assert postgres_database_exists(name)
    try:
        assert not postgres_database_exists(name)
    finally:
        held.close()


# ---------------------------------------------------------------------------- MariaDB


@pytest.mark.mariadb
def test_mariadb_url_roundtrip(mariadb_url: str) -> None:
    url = make_url(mariadb_url)
    assert url.drivername == "mysql+pymysql"
    assert url.query.get("charset") == "utf8mb4"
    assert url.database is not None and url.database.startswith(DB_PREFIX)
    assert mariadb_database_exists(url.database)
    _roundtrip(mariadb_url)
    engine = sa.create_engine(mariadb_url)
    try:
        with engine.connect() as conn:
            charset = conn.execute(sa.text("SELECT @@character_set_database")).scalar_one()
        assert charset == "utf8mb4"
    finally:
        engine.dispose()


@pytest.mark.mariadb
def test_mariadb_database_dropped_even_with_open_session() -> None:
    with mariadb_database() as url:
        name = make_url(url).database
        assert name is not None
        _roundtrip(url)
        held = pymysql.connect(
            host=services.MARIADB_HOST,
            port=services.MARIADB_PORT,
            user=services.MARIADB_USER,
            password="",
            database=name,
        )
        with held.cursor() as cur:  # an open transaction holding a metadata lock
            cur.execute("BEGIN")
            cur.execute("SELECT * FROM probe")
        assert mariadb_database_exists(name)
    try:
        assert not mariadb_database_exists(name)
    finally:
        held.close()
