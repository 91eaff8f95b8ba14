"""The simulated hall's database: create its tables, write rows in bulk or as updates.

Any SQLAlchemy URL works (SQLite by default, PostgreSQL, MariaDB). Fresh tables are
filled in bulk — PostgreSQL through ``COPY … FROM STDIN``, the others with one
multi-row ``INSERT`` per batch — and rows that already exist are replaced (delete by
primary key, insert) inside one transaction, so a reader never sees half a tick. A SQLite
hall runs in WAL mode, so the daemon can poll while the simulator writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, create_engine, event, inspect, select
from sqlalchemy.engine import make_url

from monitor.demo.plan import Expectation
from monitor.demo.schema import SIM_GROUND_TRUTH, SIM_RUN, TABLES, Table

Rows = Mapping[Table, Sequence[Mapping[str, Any]]]


def expectation_row(e: Expectation) -> dict[str, Any]:
    return {
        "ID": f"{e.rule}|{e.subject_kind}|{e.subject_id}|{e.expected_from.isoformat()}",
        "VIOLATION": e.violation,
        "INJECTED": int(e.injected),
        "RULE": e.rule,
        "SUBJECT_KIND": e.subject_kind,
        "SUBJECT_ID": e.subject_id,
        "CASE_ID": e.case_id,
        "CENTER": e.center,
        "DEPARTMENT": e.department,
        "WINDOW_CODE": e.window,
        "ITEM": e.item,
        "EXPECTED_FROM": e.expected_from.isoformat(),
        "EXPECTED_UNTIL": None if e.expected_until is None else e.expected_until.isoformat(),
    }


def _expectation(row: Mapping[str, Any]) -> Expectation:
    until = row["EXPECTED_UNTIL"]
    return Expectation(
        violation=row["VIOLATION"],
        injected=bool(row["INJECTED"]),
        rule=row["RULE"],
        subject_kind=row["SUBJECT_KIND"],
        subject_id=row["SUBJECT_ID"],
        case_id=row["CASE_ID"],
        center=row["CENTER"],
        department=row["DEPARTMENT"],
        window=row["WINDOW_CODE"],
        item=row["ITEM"],
        expected_from=dt.datetime.fromisoformat(row["EXPECTED_FROM"]),
        expected_until=None if not until else dt.datetime.fromisoformat(until),
    )


class HallDatabase:
    """The database the simulator writes and the daemon polls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url)
        self.backend = make_url(url).get_backend_name()
        if self.backend == "sqlite":
            event.listen(self.engine, "connect", _sqlite_wal)

    def close(self) -> None:
        self.engine.dispose()

    def create(self, *, reset: bool = False) -> None:
        """Create the tables that are missing (dropping them all first with ``reset``)."""
        if reset:
            for table in reversed(TABLES):
                if self._exists(table):
                    table.drop(self.engine, checkfirst=False)
        for table in TABLES:
            if not self._exists(table):
                table.create(self.engine, checkfirst=False)

    def _exists(self, table: Table) -> bool:
        # The names are unquoted, so PostgreSQL holds them folded to lower case, which
        # SQLAlchemy's own check (by the name as written) would not find.
        name = table.name.lower() if self.backend == "postgresql" else table.name
        return inspect(self.engine).has_table(name)

    def is_empty(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(select(SIM_RUN).limit(1)).first() is None

    # -- writing -------------------------------------------------------------------------

    def write(self, rows: Rows, *, replace: bool) -> None:
        """Write every table's rows in one transaction; ``replace`` updates existing rows."""
        with self.engine.begin() as connection:
            for table, batch in rows.items():
                if not batch:
                    continue
                if replace:
                    _delete(connection, table, batch)
                if self.backend == "postgresql" and not replace:
                    _copy(connection, table, batch)
                else:
                    connection.execute(table.insert(), [dict(r) for r in batch])

    def write_ground_truth(self, expectations: Iterable[Expectation], *, replace: bool) -> None:
        self.write({SIM_GROUND_TRUTH: [expectation_row(e) for e in expectations]}, replace=replace)

    def set_run(self, **values: str) -> None:
        self.write({SIM_RUN: [{"NAME": k, "VALUE": v} for k, v in values.items()]}, replace=True)

    # -- reading (tests, the demo's resumption) -------------------------------------------

    def run(self) -> dict[str, str]:
        with self.engine.connect() as connection:
            return {r.NAME: r.VALUE for r in connection.execute(select(SIM_RUN))}

    def ground_truth(self) -> list[Expectation]:
        with self.engine.connect() as connection:
            result = connection.execute(select(SIM_GROUND_TRUTH))
            return [_expectation(r._mapping) for r in result]

    def rows(self, table: Table) -> list[tuple[Any, ...]]:
        """Every row of ``table`` in primary-key order."""
        with self.engine.connect() as connection:
            query = select(table).order_by(*table.primary_key.columns)
            return [tuple(r) for r in connection.execute(query)]


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _delete(connection: Connection, table: Table, batch: Sequence[Mapping[str, Any]]) -> None:
    keys = list(table.primary_key.columns)
    statement = table.delete().where(and_(*(c == bindparam(f"k_{c.name}") for c in keys)))
    connection.execute(statement, [{f"k_{c.name}": r[c.name] for c in keys} for r in batch])


def _copy(connection: Connection, table: Table, batch: Sequence[Mapping[str, Any]]) -> None:
    """PostgreSQL bulk load: ``COPY table (columns) FROM STDIN`` through psycopg."""
    names = [c.name for c in table.columns]
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:  # type: ignore[attr-defined]
        statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            for row in batch:
                copy.write_row([row.get(n) for n in names])
