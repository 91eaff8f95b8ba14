"""SQL source: poll an approval system's database through any SQLAlchemy URL.

Each configured entity is a SELECT whose column aliases are canonical field names; a
``:since`` bind parameter, when the query uses one, makes the poll incremental (the
watermark is the largest ``updated_at`` seen, minus an overlap so rows committed late
are not missed). Connections are read-only where the dialect allows it and every
statement has a timeout. Rows are streamed (server-side cursors), mapped one by one, and
a row that does not map is rejected with its reason; the poll goes on. PostgreSQL's times
and dates are read as the text the server writes, so that a time it holds and Python
cannot ('infinity', a date BC) rejects its row rather than failing the poll.

The source decides nothing about violations: it only turns rows into canonical records.
Errors are typed by intent (see :mod:`monitor.sources.base`): the database cannot be
reached (:class:`SourceUnavailable`) or the SQL itself is wrong (:class:`SourceQueryError`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from psycopg.types.string import TextLoader
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from monitor.config import SqlSourceConfig
from monitor.privacy import ApplicantHasher
from monitor.sources.base import (
    EntityBatch,
    SourceQueryError,
    SourceUnavailable,
    overlapping_since,
    since_value,
)
from monitor.sources.mapping import RowContext, RowMapper

log = structlog.get_logger(__name__)

_FETCH_BATCH = 5000


def _engine_options(url: URL, config: SqlSourceConfig) -> dict[str, Any]:
    backend = url.get_backend_name()
    timeout_ms = int(config.statement_timeout_seconds * 1000)
    connect = int(max(1, config.connect_timeout_seconds))
    if backend == "postgresql":
        return {
            "connect_args": {
                "connect_timeout": connect,
                "options": (
                    "-c default_transaction_read_only=on"
                    f" -c statement_timeout={timeout_ms} -c DateStyle=ISO"
                ),
                "application_name": f"jiancha:{config.name}",
            }
        }
    if backend in {"mysql", "mariadb"}:
        return {"connect_args": {"connect_timeout": connect}}
    if backend == "sqlite":
        return {"connect_args": {"timeout": config.statement_timeout_seconds}}
    return {}


def _session_guards(engine: Engine, config: SqlSourceConfig) -> None:
    """Per-connection settings that connect args do not make: read-only mode and the
    statement timeout (MySQL, MariaDB, SQLite), PostgreSQL's times read as text."""
    backend = engine.url.get_backend_name()
    seconds = config.statement_timeout_seconds

    if backend == "postgresql" and engine.url.get_driver_name() == "psycopg":

        @event.listens_for(engine, "connect")
        def _postgresql(dbapi_connection: Any, _record: Any) -> None:
            # Times and dates as the server writes them (ISO: DateStyle is set at
            # connect), read by monitor.timeparse like any vendor's text. PostgreSQL holds
            # times Python cannot ('infinity', dates BC, years past 9999): the driver's
            # own loaders would fail the fetch, and the whole poll with it; as text such
            # a row is rejected with its reason and the poll goes on.
            for name in ("timestamp", "timestamptz", "date"):
                dbapi_connection.adapters.register_loader(name, TextLoader)

    elif backend in {"mysql", "mariadb"}:

        @event.listens_for(engine, "connect")
        def _mysql(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT VERSION()")
            mariadb = "mariadb" in str(cursor.fetchone()[0]).lower()
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            if mariadb:
                cursor.execute(f"SET SESSION max_statement_time = {seconds:.3f}")
            else:
                cursor.execute(f"SET SESSION max_execution_time = {int(seconds * 1000)}")
            cursor.close()

    elif backend == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA query_only = ON")


class SqlSource:
    """One approval-system database, polled entity by entity."""

    full_poll_lists_all = True

    def __init__(self, config: SqlSourceConfig, tz: ZoneInfo, hasher: ApplicantHasher) -> None:
        self.config = config
        self.name = config.name
        self.entities = config.entity_names
        url = make_url(config.url)
        if config.password is not None:
            url = url.set(password=config.password.get_secret_value())
        self.display_url = url.render_as_string(hide_password=True)
        self._tz = tz
        self._hasher = hasher
        # pre_ping and recycle let the pool recover from a restarted database by itself.
        self.engine = create_engine(
            url, pool_pre_ping=True, pool_recycle=1800, **_engine_options(url, config)
        )
        _session_guards(self.engine, config)
        self._rows = RowMapper(config.name)
        # By entity: rows the next incremental poll may leave out (see _Unchanged).
        self._unchanged: dict[str, dict[tuple[Any, ...], tuple[str, dt.datetime]]] = {}

    def close(self) -> None:
        self.engine.dispose()

    def _rebuild(self) -> None:
        """Drop every pooled connection after a connection error: the next poll starts
        from fresh connections (pre-ping would catch stale ones too, one by one)."""
        self.engine.dispose()

    def next_since(self, watermark: dt.datetime | None) -> dt.datetime | None:
        return overlapping_since(watermark, self.config.overlap_seconds)

    def poll(self, entity: str, since: dt.datetime | None = None) -> EntityBatch:
        """Run the entity's SELECT (rows changed since ``since``, or all) and map the rows."""
        spec = self.config.entities[entity]
        statement = text(spec.query)
        params = (
            {"since": since_value(since, self._tz, self.config.since_format)}
            if "since" in statement.compile().params
            else {}
        )
        ctx = RowContext(
            tz=self._tz,
            hasher=self._hasher,
            value_maps=spec.value_maps,
            default_center=self.config.center,
        )
        batch = EntityBatch()
        rows = _Unchanged(
            self._unchanged.get(entity, {}) if since is not None else {},
            dt.timedelta(seconds=self.config.overlap_seconds),
        )
        try:
            with self.engine.connect() as connection:
                result = connection.execution_options(
                    stream_results=True, yield_per=_FETCH_BATCH
                ).execute(statement, params)
                # Oracle and DB2 upper-case unquoted aliases: match names case-blind.
                names = result.keys()
                columns = [name.lower() for name in names]
                records, known, skip = batch.records, rows.known, rows.skip
                map_row, mapped = self._rows.map, rows.mapped
                for row in result:  # streamed: _FETCH_BATCH rows fetched at a time
                    batch.rows += 1
                    values = tuple(row)
                    if known and skip(values, batch):
                        continue
                    before = len(records)
                    updated = map_row(entity, dict(zip(columns, values, strict=True)), ctx, batch)
                    if len(records) > before:
                        mapped(values, entity, records[-1], updated, batch.watermark)
        except OperationalError as exc:
            self._rebuild()
            raise SourceUnavailable(self.name, _describe(exc)) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                self._rebuild()
                raise SourceUnavailable(self.name, _describe(exc)) from exc
            raise SourceQueryError(self.name, f"{entity}: {_describe(exc)}") from exc
        except SQLAlchemyError as exc:
            raise SourceQueryError(self.name, f"{entity}: {_describe(exc)}") from exc
        kept = rows.kept(batch.watermark)

        def applied() -> None:
            self._unchanged[entity] = kept

        batch.applied = applied
        return batch


class _Unchanged:
    """Rows an incremental poll can leave out: read, unchanged, since the last poll.

    The overlap window makes every poll read again the rows stamped in its last minutes
    (often most of what it reads). A row whose every value equals a row the previous
    *applied* poll of the entity mapped to a record — the only row of that poll with
    its key — maps to a record equal to the one the source delivered last, so the daemon
    would find it unchanged and skip it: it is left out before it is mapped (its
    update time still counts for the watermark). Only rows that can be read again are
    kept (stamped within the overlap of the watermark); a full poll leaves nothing out,
    so rows deleted at the source never stay behind.
    """

    _PRUNE_EVERY = 50_000

    def __init__(
        self, known: dict[tuple[Any, ...], tuple[str, dt.datetime]], overlap: dt.timedelta
    ) -> None:
        self.known = known
        self.overlap = overlap
        self.seen: dict[tuple[Any, ...], tuple[str, dt.datetime]] = {}
        self.keys: set[str] = set()
        self.repeated: set[str] = set()
        self._prune_at = self._PRUNE_EVERY
        self._record_key = _record_key()

    def _key(self, key: str) -> None:
        if key in self.keys:
            self.repeated.add(key)
        else:
            self.keys.add(key)

    def skip(self, values: tuple[Any, ...], batch: EntityBatch) -> bool:
        hit = self.known.get(values)
        if hit is None:
            return False
        key, updated = hit
        self._key(key)
        self.seen[values] = hit
        if batch.watermark is None or updated > batch.watermark:
            batch.watermark = updated
        return True

    def mapped(
        self,
        values: tuple[Any, ...],
        entity: str,
        record: Any,
        updated: dt.datetime | None,
        watermark: dt.datetime | None,
    ) -> None:
        key = self._record_key(entity, record)
        self._key(key)
        if updated is None:
            return
        if watermark is not None and updated < watermark - self.overlap:
            return  # already outside the overlap: kept() would never keep it
        self.seen[values] = (key, updated)
        if len(self.seen) >= self._prune_at and watermark is not None:
            horizon = watermark - self.overlap
            self.seen = {v: h for v, h in self.seen.items() if h[1] >= horizon}
            self._prune_at = len(self.seen) + self._PRUNE_EVERY

    def kept(self, watermark: dt.datetime | None) -> dict[tuple[Any, ...], tuple[str, dt.datetime]]:
        """What the next poll may leave out, once this one is applied."""
        if watermark is None:
            return {}
        horizon = watermark - self.overlap
        repeated = self.repeated
        return {v: h for v, h in self.seen.items() if h[1] >= horizon and h[0] not in repeated}


def _record_key() -> Callable[[str, Any], str]:
    """monitor.store.record_key, imported on first use (the store imports the sources' base)."""
    global _RECORD_KEY
    if _RECORD_KEY is None:
        from monitor.store import record_key

        _RECORD_KEY = record_key
    return _RECORD_KEY


_RECORD_KEY: Callable[[str, Any], str] | None = None


def _describe(exc: SQLAlchemyError) -> str:
    """The database's own message, without the SQL text or bound values."""
    original = getattr(exc, "orig", None)
    message = str(original if original is not None else exc).strip().splitlines()
    return message[0] if message else type(exc).__name__
