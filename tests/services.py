"""Helpers for real-service tests: CI-aware skip/fail, free ports, binaries, servers, databases."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import httpx
import psycopg
import pymysql
import pytest
from psycopg import sql

CONNECT_TIMEOUT_S = 3

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN_DB = "postgres"

MARIADB_HOST = "127.0.0.1"
MARIADB_PORT = 3306
MARIADB_USER = "root"

DB_PREFIX = "jiancha_t_"


def in_ci() -> bool:
    """True when running under CI (env CI=true), where missing services are failures."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Fail the current test under CI, skip it otherwise, with ``reason``."""
    if in_ci():
        pytest.fail(
            f"{reason} (CI=true: a missing service or binary is a failure, not a skip)",
            pytrace=False,
        )
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """Return the absolute path of executable ``name``, or fail (CI) / skip (local)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"required binary {name!r} not found on PATH")
    return path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unique_db_name() -> str:
    """Return a fresh database name ``jiancha_t_<12 hex digits>``."""
    return f"{DB_PREFIX}{uuid.uuid4().hex[:12]}"


def pg_user() -> str:
    """PostgreSQL user for tests (env JIANCHA_TEST_PG_USER, default ``postgres``)."""
    return os.environ.get("JIANCHA_TEST_PG_USER", "postgres")


# --------------------------------------------------------------------------- PostgreSQL


def pg_admin_connect(
    host: str = PG_HOST, port: int = PG_PORT, dbname: str = PG_ADMIN_DB
) -> psycopg.Connection:
    """Open an autocommit admin connection to PostgreSQL, or fail (CI) / skip (local)."""
    try:
        return psycopg.connect(
            host=host,
            port=port,
            user=pg_user(),
            dbname=dbname,
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL not reachable at {host}:{port} as {pg_user()!r}: {exc}".strip())


def postgres_database_exists(name: str) -> bool:
    """Whether database ``name`` exists on the test PostgreSQL server (fresh connection)."""
    with pg_admin_connect() as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a throw-away PostgreSQL database, yield its SQLAlchemy URL, then drop it."""
    name = unique_db_name()
    user = pg_user()
    with pg_admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with pg_admin_connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ----------------------------------------------------------------------------- MariaDB


def mariadb_admin_connect(
    host: str = MARIADB_HOST, port: int = MARIADB_PORT
) -> pymysql.connections.Connection:
    """Open an autocommit admin connection to MariaDB, or fail (CI) / skip (local)."""
    try:
        return pymysql.connect(
            host=host,
            port=port,
            user=MARIADB_USER,
            password="",
            charset="utf8mb4",
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=True,
        )
    except pymysql.err.OperationalError as exc:
        unavailable(f"MariaDB not reachable at {host}:{port} as {MARIADB_USER!r}: {exc}")


def mariadb_database_exists(name: str) -> bool:
    """Whether database ``name`` exists on the test MariaDB server (fresh connection)."""
    conn = mariadb_admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def _mariadb_drop(name: str) -> None:
    """Kill sessions still using ``name`` (like PostgreSQL's FORCE), then drop it."""
    conn = mariadb_admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 30")
            cur.execute(
                "SELECT ID FROM information_schema.PROCESSLIST"
                " WHERE DB = %s AND ID <> CONNECTION_ID()",
                (name,),
            )
            for (session_id,) in cur.fetchall():
                # The session may have ended on its own in the meantime.
                with contextlib.suppress(pymysql.err.MySQLError):
                    cur.execute("KILL CONNECTION %s", (int(session_id),))
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@contextmanager
def mariadb_database() -> Iterator[str]:
    """Create a throw-away MariaDB database (utf8mb4), yield its SQLAlchemy URL, then drop it."""
    name = unique_db_name()
    conn = mariadb_admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
    try:
        yield f"mysql+pymysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{name}?charset=utf8mb4"
    finally:
        _mariadb_drop(name)


# ------------------------------------------------------------------- server binaries


def log_tail(path: Path, chars: int = 3000) -> str:
    """The end of a process's log file, for failure messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """Terminate ``process`` (kill it when it does not stop in time)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def start_server(
    command: list[str], log_file: Path, ready_url: str, timeout: float = 20
) -> subprocess.Popen[bytes]:
    """Start a server (output appended to ``log_file``); wait until ``ready_url`` answers 200.

    Bounded: a server that exits, or is not ready within ``timeout`` seconds, is stopped
    and reported with the end of its log.
    """
    name = Path(command[0]).name
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: {log_tail(log_file)}")
            try:
                if client.get(ready_url).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    stop_process(process)
    raise RuntimeError(f"{name} not ready within {timeout} s: {log_tail(log_file)}")


def run_binary(
    name: str, *args: str | Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command-line tool (promtool, amtool) to completion; its output as text."""
    return subprocess.run(
        [require_binary(name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
