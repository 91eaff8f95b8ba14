"""The state store: what the daemon knows between polls and across restarts.

Tables (SQLAlchemy Core; SQLite by default, PostgreSQL in production):

- ``jiancha_entities`` — the latest version of every polled record, keyed by
  (source, entity, key), as the canonical model's JSON;
- ``jiancha_entity_journal`` — the versions written since the last compaction, in the
  order they were written (a deletion as a version without payload): a poll appends
  its changed records here instead of updating them in place, and the daemon's
  compaction job merges them into ``jiancha_entities`` (:meth:`StateStore.compact`);
  whoever reads the records reads both, the journal's latest version winning;
- ``jiancha_watermarks`` — per source and entity, how far incremental polling got;
- ``jiancha_files`` — statement files consumed (by content digest), so each counts once;
- ``jiancha_findings`` — the findings ledger: one row per fingerprint, never deleted,
  with its state (open, escalated, resolved), first_seen / last_seen / resolved_at,
  evidence, calendar version and whether its alert's end has reached Alertmanager;
- ``jiancha_finding_confirmations`` — per set of sources, the last evaluation that
  confirmed every open finding depending on exactly those sources: an open finding was
  last seen at the later of its ``last_seen`` (when its row was last written) and its
  sources' ``confirmed_at`` (the view ``jiancha_findings_seen`` shows the ledger so);
- ``jiancha_finding_events`` — the ledger's history (opened, escalated, resolved,
  reopened), which the monthly report reads;
- ``jiancha_case_sla`` — each case's deadlines and outcome as the daemon judged them,
  appended when the judgment changes (:mod:`monitor.sla`), never updated;
- ``jiancha_calendars`` — every calendar version an evaluation used, day by day, so a
  report can count with the calendar of the day even after it was corrected;
- ``jiancha_parameter_sets`` — the rule parameters and calendar settings in force from
  an instant on (appended when a restarted daemon runs with different ones).

Every write is one transaction: a poll's records, its watermark and its files commit
together or not at all, so a crash between a poll and its commit re-polls instead of
losing or doubling anything. Times are stored as UTC and returned timezone-aware.
The schema is versioned with Alembic (``monitor/migrations``): a new store is created
and stamped, an older one upgraded, and one written by a newer version refused rather
than silently misread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    any_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, make_url

from monitor.calendar import WorkingCalendar
from monitor.model import Case, Evaluation, Finding, Item, Payment, Step, Suspension, Ticket
from monitor.sla import CaseSla, Known
from monitor.sources.base import ProcessedFile

log = structlog.get_logger(__name__)

VERSION_TABLE = "jiancha_alembic_version"
# From this many rows on, PostgreSQL upserts and appends go through COPY (one round trip
# per batch instead of one statement per thousand rows).
COPY_UPSERT_ROWS = 500
# Journal versions merged per transaction by a compaction (see StateStore.compact).
COMPACT_BATCH = 50_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes stored as naive UTC (portable), read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        # MySQL/MariaDB DATETIME drops fractions of a second unless asked to keep them.
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("the state store only takes timezone-aware times")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


metadata = MetaData()

# Room left on each page of the records (PostgreSQL) for a changed record's new version:
# see migration 0005.
ENTITIES_FILLFACTOR = 90

entities_table = Table(
    "jiancha_entities",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("entity", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
    postgresql_with={"fillfactor": ENTITIES_FILLFACTOR},
)

# A version of a record, appended by a poll (payload None: deleted at the source). No
# index but the key of the rows' order: appending reads no page of the records' table
# (an update in place reads the page of the version it replaces, most often from disk
# in a province's store), and compaction reads the journal whole. See migration 0006.
journal_table = Table(
    "jiancha_entity_journal",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("source", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("key", String(255), nullable=False),
    Column("payload", Text),
    Column("stored_at", UtcDateTime, nullable=False),
)

# The columns a record's version is written with, in the records' table and the journal.
VERSION_COLUMNS = ("source", "entity", "key", "payload", "stored_at")

watermarks_table = Table(
    "jiancha_watermarks",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("entity", String(32), primary_key=True),
    Column("watermark", UtcDateTime),
    Column("full_poll_at", UtcDateTime),
)

files_table = Table(
    "jiancha_files",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("name", String(512), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("reason", String(64)),
    Column("detail", Text, nullable=False),
    Column("processed_at", UtcDateTime, nullable=False),
)

# Room left on each page of the findings ledger (PostgreSQL) for rows written again: see
# migration 0003.
FINDINGS_FILLFACTOR = 70

findings_table = Table(
    "jiancha_findings",
    metadata,
    Column("fingerprint", String(512), primary_key=True),
    Column("rule", String(64), nullable=False, index=True),
    Column("severity", String(16), nullable=False),
    Column("subject_kind", String(32), nullable=False),
    Column("subject_id", String(255), nullable=False),
    Column("case_id", String(255), index=True),
    Column("center", String(64)),
    Column("department", String(64)),
    Column("window", String(64)),
    Column("item", String(64)),
    Column("state", String(16), nullable=False, index=True),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime),
    Column("due_at", UtcDateTime),
    Column("evidence", Text, nullable=False),
    Column("calendar_version", String(128), nullable=False),
    Column("calendar_confirmed", Boolean, nullable=False),
    Column("sources", String(512), nullable=False),  # comma list: what it depends on
    Column("opened_count", Integer, nullable=False),
    Column("alert_ended", Boolean, nullable=False),  # Alertmanager has the end of it
    postgresql_with={"fillfactor": FINDINGS_FILLFACTOR},
)

# An evaluation confirms every open finding whose sources are all settled. It writes that
# once per set of sources (a handful), not into each finding's row (180,000 at a million
# cases); a row's last_seen is written when the row is. The view jiancha_findings_seen
# (create_findings_seen_view) is the ledger with last_seen the later of the two: what the
# store reads the ledger through, and what a person querying it should read.
confirmations_table = Table(
    "jiancha_finding_confirmations",
    metadata,
    Column("sources", String(512), primary_key=True),  # as jiancha_findings.sources
    Column("confirmed_at", UtcDateTime, nullable=False),
)
findings_seen_view = Table(
    "jiancha_findings_seen",
    MetaData(),  # a view: not created with the tables
    *(Column(column.name, column.type) for column in findings_table.c),
)


def create_findings_seen_view(
    conn: Connection, schema: str | None, columns: Sequence[str] | None = None
) -> None:
    """Create the view ``jiancha_findings_seen``: every ledger row, an open finding's
    ``last_seen`` the later of its row's and its sources' confirmation.

    It names the ledger's ``columns`` (default: all of them now). A migration passes
    those of its own revision, so that it still runs after a later one adds a column; a
    revision that changes the ledger's columns drops the view and creates it again."""
    quote = conn.dialect.identifier_preparer.quote

    def name(table: Table) -> str:
        return f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)

    selected = ", ".join(
        f"CASE WHEN f.state = '{OPEN}' AND c.confirmed_at > f.last_seen "
        "THEN c.confirmed_at ELSE f.last_seen END AS last_seen"
        if column == "last_seen"
        else f"f.{quote(column)}"
        for column in (columns or [c.name for c in findings_table.c])
    )
    conn.exec_driver_sql(
        f"CREATE VIEW {name(findings_seen_view)} AS SELECT {selected} "
        f"FROM {name(findings_table)} f "
        f"LEFT OUTER JOIN {name(confirmations_table)} c ON c.sources = f.sources"
    )


finding_events_table = Table(
    "jiancha_finding_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(512), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("event", String(16), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
)

case_sla_table = Table(
    "jiancha_case_sla",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(255), nullable=False, index=True),
    Column("recorded_at", UtcDateTime, nullable=False, index=True),
    Column("facts", String(32), nullable=False),
    Column("center", String(64)),
    Column("department", String(64)),
    Column("window", String(64)),
    Column("item", String(64), nullable=False),
    Column("item_kind", String(16), nullable=False),
    Column("statutory_limit_days", Integer, nullable=False),
    Column("promised_limit_days", Integer, nullable=False),
    Column("accepted_at", UtcDateTime, nullable=False),
    Column("concluded_at", UtcDateTime),
    Column("result", String(16)),
    Column("decided", Boolean, nullable=False),
    Column("promised_due_at", UtcDateTime, nullable=False),
    Column("statutory_due_at", UtcDateTime, nullable=False),
    Column("suspended_working_days", Integer, nullable=False),
    Column("used_working_days", Integer),
    Column("working_days_late", Integer),
    Column("on_time", Boolean),
    Column("statutory_on_time", Boolean),
    Column("calendar_version", String(128), nullable=False),
    Column("calendar_confirmed", Boolean, nullable=False),
)

calendars_table = Table(
    "jiancha_calendars",
    metadata,
    Column("version", String(128), primary_key=True),
    Column("region", String(64)),
    Column("first_day", Date, nullable=False),
    Column("confirmed_until", Date, nullable=False),
    Column("working_days", Text, nullable=False),  # "0"/"1" per day from first_day
    Column("recorded_at", UtcDateTime, nullable=False),
)

parameter_sets_table = Table(
    "jiancha_parameter_sets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("since", UtcDateTime, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("calendar_version", String(128), nullable=False),
    Column("parameters", Text, nullable=False),  # JSON
)

_SLA_FIELDS = tuple(c.name for c in case_sla_table.columns if c.name != "id")
assert tuple(f.name for f in fields(CaseSla)) == _SLA_FIELDS  # rows built positionally
# Columns whose values recur from row to row (places, items, when a batch was recorded,
# deadlines at a day's end, the calendar): one object for each distinct value.
_SLA_SHARED = frozenset(
    _SLA_FIELDS.index(name)
    for name in (
        "recorded_at",
        "center",
        "department",
        "window",
        "item",
        "item_kind",
        "result",
        "promised_due_at",
        "statutory_due_at",
        "calendar_version",
    )
)
# What a report reads of an SLA row: every column but the facts digest, which only the
# recorder compares (32 characters a row, a month of rows held at once), read as "".
_SLA_READ = tuple(
    literal("").label(name) if name == "facts" else case_sla_table.c[name] for name in _SLA_FIELDS
)


def _sla_rows(rows: Iterable[Sequence[Any]]) -> Iterator[CaseSla]:
    """SLA rows as :class:`CaseSla`, equal values of the recurring columns shared: a
    report holds a month's rows, and the driver gives every row its own strings and
    datetimes."""
    shared: dict[Any, Any] = {}
    keep = shared.setdefault
    for row in rows:
        yield CaseSla(
            *(keep(value, value) if i in _SLA_SHARED else value for i, value in enumerate(row))
        )


@dataclass(frozen=True)
class ParameterSet:
    """The rule parameters and calendar settings a daemon evaluated with, from ``since`` on."""

    since: dt.datetime
    digest: str
    calendar_version: str
    parameters: dict[str, Any]


class StoreError(Exception):
    """The state store cannot be used (unreachable, or written by a newer version)."""


# --- entity (de)serialisation -----------------------------------------------------------

_MODELS: dict[str, type[Any]] = {
    "items": Item,
    "cases": Case,
    "tickets": Ticket,
    "evaluations": Evaluation,
    "payments": Payment,
}
# The entities that belong to a case (keyed by case id and sequence number), and their records.
CHILD_ENTITIES: dict[str, type[Step] | type[Suspension]] = {
    "steps": Step,
    "suspensions": Suspension,
}


def record_key(entity: str, record: Any) -> str:
    """The record's identity within its source and entity."""
    if entity in CHILD_ENTITIES:
        case_id, child = record
        return f"{case_id}/{child.seq}"
    if entity == "items":
        return str(record.code)
    return str(record.id)


def child_key(key: str) -> tuple[str, int]:
    """A step's or suspension's :func:`record_key` as its case id and sequence number."""
    case_id, _, seq = key.rpartition("/")
    return case_id, int(seq)


def encode_record(entity: str, record: Any) -> str:
    if entity in CHILD_ENTITIES:
        case_id, child = record
        return json.dumps(
            {"case_id": case_id, "record": child.model_dump(mode="json")}, ensure_ascii=False
        )
    # record.model_dump_json() without its keyword handling: the same JSON.
    return str(record.__pydantic_serializer__.to_json(record).decode())


def decode_record(entity: str, payload: str) -> Any:
    if entity in CHILD_ENTITIES:
        data = json.loads(payload)
        return data["case_id"], CHILD_ENTITIES[entity].model_validate(data["record"])
    return _MODELS[entity].model_validate_json(payload)


# --- the findings ledger ------------------------------------------------------------------

OPEN = "open"
ESCALATED = "escalated"  # a yellow card that gave way to a red one
RESOLVED = "resolved"


@dataclass(slots=True)
class LedgerEntry:
    """One row of the findings ledger, as the daemon keeps it in memory."""

    finding: Finding
    state: str
    first_seen: dt.datetime
    # When the row was last written; as the store reads it back, when the finding was
    # last confirmed (the later of that and its sources' confirmation).
    last_seen: dt.datetime
    resolved_at: dt.datetime | None
    sources: frozenset[str]
    opened_count: int = 1
    alert_ended: bool = False

    @property
    def fingerprint(self) -> str:
        return self.finding.fingerprint


@dataclass
class LedgerChanges:
    """What one reconciliation changed: rows to write and events to append.

    ``confirmed`` holds the sets of sources whose open findings were all confirmed (found
    again, none of their sources unsettled), with the instant they were: the open
    entries not rewritten keep their rows, and were last seen then.
    """

    entries: dict[str, LedgerEntry] = field(default_factory=dict)
    events: list[tuple[str, dt.datetime, str, str, str]] = field(default_factory=list)
    confirmed: dict[frozenset[str], dt.datetime] = field(default_factory=dict)

    def touch(self, entry: LedgerEntry) -> None:
        self.entries[entry.fingerprint] = entry

    def event(self, entry: LedgerEntry, at: dt.datetime, name: str) -> None:
        self.touch(entry)
        finding = entry.finding
        self.events.append((entry.fingerprint, at, name, finding.rule, finding.severity.value))

    def __bool__(self) -> bool:
        return bool(self.entries or self.events or self.confirmed)


def _finding_row(entry: LedgerEntry) -> dict[str, Any]:
    f = entry.finding
    return {
        "fingerprint": entry.fingerprint,
        "rule": f.rule,
        "severity": f.severity.value,
        "subject_kind": f.subject_kind,
        "subject_id": f.subject_id,
        "case_id": f.case_id,
        "center": f.center,
        "department": f.department,
        "window": f.window,
        "item": f.item,
        "state": entry.state,
        "first_seen": entry.first_seen,
        "last_seen": entry.last_seen,
        "resolved_at": entry.resolved_at,
        "due_at": f.due_at,
        "evidence": json.dumps(f.evidence, ensure_ascii=False, sort_keys=True),
        "calendar_version": f.calendar_version,
        "calendar_confirmed": f.calendar_confirmed,
        "sources": _sources_text(entry.sources),
        "opened_count": entry.opened_count,
        "alert_ended": entry.alert_ended,
    }


def _sources_text(sources: Collection[str]) -> str:
    return ",".join(sorted(sources))


def _entry_from_row(row: Any) -> LedgerEntry:
    finding = Finding(
        rule=row.rule,
        severity=row.severity,
        subject_kind=row.subject_kind,
        subject_id=row.subject_id,
        case_id=row.case_id,
        center=row.center,
        department=row.department,
        window=row.window,
        item=row.item,
        due_at=row.due_at,
        evidence=json.loads(row.evidence),
        calendar_confirmed=row.calendar_confirmed,
        calendar_version=row.calendar_version,
    )
    return LedgerEntry(
        finding=finding,
        state=row.state,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved_at=row.resolved_at,
        sources=frozenset(s for s in row.sources.split(",") if s),
        opened_count=row.opened_count,
        alert_ended=row.alert_ended,
    )


# --- the store ------------------------------------------------------------------------------


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers (reports) never block the daemon
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


class StateStore:
    """Entities, watermarks, consumed files and the findings ledger in one database."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        self.schema = schema
        self.display_url = parsed.render_as_string(hide_password=True)
        if schema:
            self.display_url += f" (schema {schema})"
        engine = create_engine(parsed, pool_pre_ping=True, pool_recycle=1800)
        if self.backend == "sqlite":
            _sqlite_pragmas(engine)
        # A shard's tables live in its own schema: the same Table objects, translated.
        self.engine = (
            engine.execution_options(schema_translate_map={None: schema}) if schema else engine
        )

    def open(self) -> None:
        """Create the tables of a new store, or migrate an existing one; refuse a store
        written by a newer jiancha (a revision this one does not know)."""
        try:
            with self.engine.begin() as conn:
                if self.schema:
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                self._migrate(conn)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"state store {self.display_url}: {exc}") from exc

    def _migrate(self, conn: Connection) -> None:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        config.attributes["schema"] = self.schema
        scripts = ScriptDirectory.from_config(config)
        current = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "version_table_schema": self.schema}
        ).get_current_revision()
        if current is None:
            if inspect(conn).has_table(entities_table.name, schema=self.schema):
                raise StoreError(
                    f"state store {self.display_url} has jiancha tables but no "
                    f"{VERSION_TABLE}: not a store this version can vouch for"
                )
            metadata.create_all(conn)
            create_findings_seen_view(conn, self.schema)
            command.stamp(config, "head")
            log.info(
                "state_store_created", store=self.display_url, revision=scripts.get_current_head()
            )
            return
        try:
            scripts.get_revision(current)
        except CommandError:
            raise StoreError(
                f"state store {self.display_url} is at schema revision {current}, which this "
                f"jiancha does not know (it knows up to {scripts.get_current_head()}): "
                "a newer version wrote it"
            ) from None
        if current != scripts.get_current_head():
            command.upgrade(config, "head")
            log.info("state_store_migrated", store=self.display_url, from_revision=current)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(watermarks_table.c.source).limit(1))
        except Exception:
            return False
        return True

    # --- entities -------------------------------------------------------------------------

    def load_entities(self) -> Iterator[tuple[str, str, str, Any]]:
        """Every stored record as (source, entity, key, record)."""
        for source, entity, key, payload in self.load_payloads():
            yield source, entity, key, decode_record(entity, payload)

    def load_payloads(self) -> Iterator[tuple[str, str, str, str]]:
        """Every stored record as (source, entity, key, payload), still encoded."""
        return self._payloads(None)

    def entities_of(self, kinds: Collection[str]) -> Iterator[tuple[str, str, str, Any]]:
        """The stored records of these entities only, as (source, entity, key, record)."""
        for source, entity, key, payload in self._payloads(kinds):
            yield source, entity, key, decode_record(entity, payload)

    def _payloads(self, kinds: Collection[str] | None) -> Iterator[tuple[str, str, str, str]]:
        """The latest version of every record (of these entities), still encoded: the
        records' table, each record the journal holds a later version of replaced by it
        (or left out: deleted), in one snapshot of both."""
        t, j = entities_table, journal_table
        with self.engine.connect() as conn, conn.begin():
            if self.backend == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            journal = select(j.c.source, j.c.entity, j.c.key, j.c.payload).order_by(j.c.id)
            if kinds is not None:
                journal = journal.where(j.c.entity.in_(sorted(kinds)))
            later: dict[tuple[str, str, str], str | None] = {
                (str(s), str(e), str(k)): p for s, e, k, p in conn.execute(journal)
            }
            stored = select(t.c.source, t.c.entity, t.c.key, t.c.payload)
            if kinds is not None:
                stored = stored.where(t.c.entity.in_(sorted(kinds)))
            result = conn.execution_options(stream_results=True, yield_per=5000).execute(stored)
            for source, entity, key, payload in result:
                row = str(source), str(entity), str(key)
                if row not in later:
                    yield (*row, str(payload))
            for (source, entity, key), payload in later.items():
                if payload is not None:
                    yield source, entity, key, str(payload)

    def watermarks(self) -> dict[tuple[str, str], dt.datetime | None]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    watermarks_table.c.source,
                    watermarks_table.c.entity,
                    watermarks_table.c.watermark,
                )
            )
            return {(s, e): w for s, e, w in rows}

    def known(self, source: str, digest: str) -> bool:
        """Whether a file with this content was already consumed (the FileLedger protocol)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(files_table.c.digest).where(
                    files_table.c.source == source, files_table.c.digest == digest
                )
            ).first()
        return found is not None

    def apply_poll(
        self,
        source: str,
        entity: str,
        upserts: Sequence[tuple[str, Any]],
        deletes: Iterable[str],
        watermark: dt.datetime | None,
        files: Sequence[ProcessedFile],
        at: dt.datetime,
        full: bool,
    ) -> None:
        """One poll's changes — records, deletions, watermark, files — in one transaction.

        ``upserts`` are (key, record) each: a record is encoded (:func:`encode_record`)
        as it is written, so that a first poll's millions of payloads are never held
        together (about as much again as the records they encode). The first poll of a
        source's entity copies its records straight into the records' table; a later
        one appends them, and its deletions, to the journal (see :meth:`compact`)."""
        deletes = list(deletes)
        with self.engine.begin() as conn:
            if upserts and not deletes and not self._holds(conn, source, entity):
                # Nothing of this source's entity is stored (its first poll): its rows
                # go straight into the records' table. A key repeated within the rows
                # keeps its last version, as in the journal.
                self._insert_entities(conn, source, entity, dict(upserts), at)
            else:
                versions = [
                    (source, entity, key, encode_record(entity, record), at)
                    for key, record in upserts
                ]
                versions += [(source, entity, key, None, at) for key in deletes]
                self._append(conn, journal_table, versions, len(versions))
            mark: dict[str, Any] = {"source": source, "entity": entity, "watermark": watermark}
            if full:
                mark["full_poll_at"] = at
            if watermark is None:
                # Keep the stored watermark when this poll saw no update times.
                previous = conn.execute(
                    select(watermarks_table.c.watermark).where(
                        watermarks_table.c.source == source, watermarks_table.c.entity == entity
                    )
                ).scalar_one_or_none()
                mark["watermark"] = previous
            self._upsert(conn, watermarks_table, [mark], ("source", "entity"))
            if files:
                self._upsert(
                    conn,
                    files_table,
                    [
                        {
                            "source": source,
                            "digest": f.digest,
                            "name": f.name,
                            "outcome": f.outcome,
                            "rows": f.rows,
                            "reason": f.reason,
                            "detail": f.detail,
                            "processed_at": at,
                        }
                        for f in files
                    ],
                    ("source", "digest"),
                )

    @staticmethod
    def _holds(conn: Connection, source: str, entity: str) -> bool:
        """Whether the store holds any record (or version) of the source's entity."""
        return any(
            conn.execute(
                select(t.c.key).where(t.c.source == source, t.c.entity == entity).limit(1)
            ).first()
            is not None
            for t in (entities_table, journal_table)
        )

    def _append(
        self, conn: Connection, table: Table, rows: Iterable[Sequence[Any]], count: int
    ) -> None:
        """Insert ``count`` records' versions (values of :data:`VERSION_COLUMNS`) into the
        records' table or the journal, in the caller's transaction: through COPY on
        PostgreSQL from :data:`COPY_UPSERT_ROWS` rows, else a thousand rows a statement;
        the rows taken as they are written (a first poll's are never all held at once)."""
        if not count:
            return
        if self.backend == "postgresql" and count >= COPY_UPSERT_ROWS:
            self._copy_rows(conn, self._target(table), table, VERSION_COLUMNS, rows)
            return
        pending = iter(rows)
        while chunk := list(itertools.islice(pending, 1000)):
            conn.execute(
                insert(table), [dict(zip(VERSION_COLUMNS, row, strict=True)) for row in chunk]
            )

    def journal_size(self) -> int:
        """How many versions the journal holds (compaction merges them away)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(journal_table)).scalar_one())

    def compact(self, batch: int = COMPACT_BATCH) -> int:
        """Merge the journal into the records' table: each record's latest version
        written in place of the one stored (or the stored one deleted), the versions
        merged removed from the journal; how many were merged.

        Versions are taken in the order they were written, ``batch`` at a time, each
        batch in a transaction of its own. Polls may append meanwhile: a batch removes
        exactly the versions it read, and one source's versions are appended in order by
        one poll at a time, so no version merged is older than one it has not seen."""
        j, t = journal_table, entities_table
        merged = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(j.c.id, *(j.c[name] for name in VERSION_COLUMNS))
                    .order_by(j.c.id)
                    .limit(batch)
                ).all()
                if not rows:
                    return merged
                # Each record's latest version: (source, entity, key, payload, stored_at).
                latest = {tuple(row[1:4]): tuple(row[1:]) for row in rows}
                gone: dict[tuple[str, str], list[str]] = {}
                kept: list[dict[str, Any]] = []
                for version in latest.values():
                    source, entity, key, payload, _ = version
                    if payload is None:
                        gone.setdefault((source, entity), []).append(key)
                    else:
                        kept.append(dict(zip(VERSION_COLUMNS, version, strict=True)))
                for (source, entity), keys in gone.items():
                    for start in range(0, len(keys), 500):
                        conn.execute(
                            delete(t).where(
                                t.c.source == source,
                                t.c.entity == entity,
                                t.c.key.in_(keys[start : start + 500]),
                            )
                        )
                if kept:
                    self._upsert(conn, t, kept, ("source", "entity", "key"))
                ids = [row[0] for row in rows]
                for start in range(0, len(ids), 1000):
                    conn.execute(delete(j).where(j.c.id.in_(ids[start : start + 1000])))
            merged += len(rows)
            if len(rows) < batch:
                return merged

    def _insert_entities(
        self, conn: Connection, source: str, entity: str, records: dict[str, Any], at: dt.datetime
    ) -> None:
        """Insert records (key -> record, each encoded as it is written) of a source's
        entity into the records' table, in the caller's transaction; none of their keys
        may be stored yet."""
        rows = ((source, entity, k, encode_record(entity, r), at) for k, r in records.items())
        self._append(conn, entities_table, rows, len(records))

    def _upsert(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...]
    ) -> None:
        columns = [c for c in rows[0] if c not in keys]
        if self.backend == "postgresql" and len(rows) >= COPY_UPSERT_ROWS:
            self._copy_upsert(conn, table, rows, keys)
            return
        if self.backend in ("sqlite", "postgresql"):
            dialect = sqlite if self.backend == "sqlite" else postgresql
            for start in range(0, len(rows), 1000):
                statement = dialect.insert(table)
                statement = statement.on_conflict_do_update(
                    index_elements=list(keys),
                    set_={c: statement.excluded[c] for c in columns},
                )
                conn.execute(statement, rows[start : start + 1000])
            return
        for row in rows:  # portable fallback: update, insert when nothing was there
            where = [table.c[k] == row[k] for k in keys]
            done = conn.execute(update(table).where(*where).values({c: row[c] for c in columns}))
            if done.rowcount == 0:
                conn.execute(insert(table).values(row))

    def _target(self, table: Table) -> str:
        return f'"{self.schema}"."{table.name}"' if self.schema else f'"{table.name}"'

    @staticmethod
    def _copy_rows(
        conn: Connection,
        target: str,
        table: Table,
        names: Sequence[str],
        rows: Iterable[Sequence[Any]],
    ) -> None:
        """COPY rows (values of ``table``'s columns ``names``, in that order) into
        ``target``, in the caller's transaction (the same connection). The rows are
        consumed one at a time: a generator keeps no second copy of a big batch."""
        quoted = ", ".join(f'"{n}"' for n in names)
        times = [i for i, n in enumerate(names) if isinstance(table.c[n].type, UtcDateTime)]
        utc = UtcDateTime()
        stored: dict[dt.datetime, dt.datetime | None] = {}  # rows often share an instant
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor().copy(f"COPY {target} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                values = list(row)
                for i in times:
                    value = values[i]
                    if value is not None:
                        if value not in stored:
                            stored[value] = utc.process_bind_param(value, None)
                        values[i] = stored[value]
                copy.write_row(values)

    def _copy_upsert(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...]
    ) -> None:
        """PostgreSQL bulk upsert: COPY into a temporary table, then one INSERT … ON CONFLICT.

        A key repeated within the rows keeps its last version, as the row-by-row upsert
        would.
        """
        unique = list({tuple(row[k] for k in keys): row for row in rows}.values())
        names = list(unique[0])
        quoted = ", ".join(f'"{n}"' for n in names)
        target = self._target(table)
        temporary = f'"jiancha_copy_{table.name}"'
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {temporary} (LIKE {target}) ON COMMIT DROP")
        self._copy_rows(conn, temporary, table, names, ([row[n] for n in names] for row in unique))
        updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in names if n not in keys)
        conflict = ", ".join(f'"{k}"' for k in keys)
        conn.exec_driver_sql(
            f"INSERT INTO {target} ({quoted}) SELECT {quoted} FROM {temporary} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )
        conn.exec_driver_sql(f"DROP TABLE {temporary}")

    # --- findings ledger -----------------------------------------------------------------------

    def load_ledger(self) -> dict[str, LedgerEntry]:
        """Ledger rows the daemon still acts on: open ones and ends not yet sent."""
        with self.engine.connect() as conn:
            v = findings_seen_view
            rows = conn.execute(select(v).where((v.c.state == OPEN) | v.c.alert_ended.is_(False)))
            return {row.fingerprint: _entry_from_row(row) for row in rows}

    def ledger_entry(self, fingerprint: str) -> LedgerEntry | None:
        return self.ledger_entries([fingerprint]).get(fingerprint)

    def ledger_entries(self, fingerprints: Iterable[str]) -> dict[str, LedgerEntry]:
        """The ledger rows of these fingerprints that exist (any state)."""
        keys = list(fingerprints)
        found: dict[str, LedgerEntry] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                rows = conn.execute(
                    select(findings_seen_view).where(
                        findings_seen_view.c.fingerprint.in_(keys[start : start + 500])
                    )
                )
                found.update((row.fingerprint, _entry_from_row(row)) for row in rows)
        return found

    def all_findings(self) -> list[LedgerEntry]:
        with self.engine.connect() as conn:
            v = findings_seen_view
            rows = conn.execute(select(v).order_by(v.c.fingerprint))
            return [_entry_from_row(row) for row in rows]

    def finding_events(self) -> list[tuple[str, dt.datetime, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    finding_events_table.c.fingerprint,
                    finding_events_table.c.at,
                    finding_events_table.c.event,
                ).order_by(finding_events_table.c.id)
            )
            return [(f, at, e) for f, at, e in rows]

    @staticmethod
    def _findings_open_in(start: dt.datetime, end: dt.datetime, opening: Collection[str]) -> Any:
        """The fingerprints that may have been open at some time in ``[start, end)``: those
        with an event within it, and those whose last event before it opened them (a
        superset of the findings a report of the span needs; it decides from their events)."""
        e = finding_events_table
        within = select(e.c.fingerprint).where(e.c.at >= start, e.c.at < end)
        last_before = select(func.max(e.c.id)).where(e.c.at < start).group_by(e.c.fingerprint)
        open_at_start = select(e.c.fingerprint).where(
            e.c.id.in_(last_before), e.c.event.in_(sorted(opening))
        )
        return union(within, open_at_start)

    def findings_open_in(
        self, start: dt.datetime, end: dt.datetime, opening: Collection[str]
    ) -> tuple[list[LedgerEntry], list[tuple[str, dt.datetime, str]]]:
        """Ledger rows that may have been open in ``[start, end)`` (see
        :meth:`_findings_open_in`; ``opening``: the event names that open a finding), and
        their whole event history, as :meth:`all_findings` and :meth:`finding_events`."""
        relevant = self._findings_open_in(start, end, opening)
        v, e = findings_seen_view, finding_events_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(v).where(v.c.fingerprint.in_(relevant)).order_by(v.c.fingerprint)
            )
            entries = [_entry_from_row(row) for row in rows]
            events = conn.execute(
                select(e.c.fingerprint, e.c.at, e.c.event)
                .where(e.c.fingerprint.in_(relevant))
                .order_by(e.c.id)
            )
            return entries, [(fp, at, name) for fp, at, name in events]

    def save_ledger(self, changes: LedgerChanges) -> None:
        """Write changed ledger rows and their events in one transaction."""
        if not changes:
            return
        with self.engine.begin() as conn:
            if changes.entries:
                self._upsert(
                    conn,
                    findings_table,
                    [_finding_row(e) for e in changes.entries.values()],
                    ("fingerprint",),
                )
            if changes.confirmed:
                self._upsert(
                    conn,
                    confirmations_table,
                    [
                        {"sources": _sources_text(sources), "confirmed_at": at}
                        for sources, at in sorted(
                            changes.confirmed.items(), key=lambda c: sorted(c[0])
                        )
                    ],
                    ("sources",),
                )
            if changes.events:
                conn.execute(
                    insert(finding_events_table),
                    [
                        {"fingerprint": f, "at": at, "event": e, "rule": r, "severity": s}
                        for f, at, e, r, s in changes.events
                    ],
                )

    def _set_findings(self, conn: Connection, fingerprints: list[str], **values: Any) -> None:
        """Set a few columns of these ledger rows: one statement per 50,000 fingerprints
        (an array) on PostgreSQL, per 500 (a list) elsewhere."""
        f = findings_table.c.fingerprint
        if self.backend == "postgresql":
            size = 50_000
            keys = bindparam("keys", type_=postgresql.ARRAY(String))
            statement = update(findings_table).where(f == any_(keys)).values(values)
            for start in range(0, len(fingerprints), size):
                conn.execute(statement, {"keys": fingerprints[start : start + size]})
            return
        for start in range(0, len(fingerprints), 500):
            chunk = fingerprints[start : start + 500]
            conn.execute(update(findings_table).where(f.in_(chunk)).values(values))

    def mark_alerts_ended(self, fingerprints: Iterable[str]) -> None:
        with self.engine.begin() as conn:
            self._set_findings(conn, list(fingerprints), alert_ended=True)

    # --- what reports are computed from ----------------------------------------------------

    def append_sla(self, rows: Sequence[CaseSla]) -> None:
        """Append SLA rows (never updated: a later judgment is a new row)."""
        if not rows:
            return
        with self.engine.begin() as conn:
            if self.backend == "postgresql" and len(rows) >= COPY_UPSERT_ROWS:
                values = ([getattr(r, f) for f in _SLA_FIELDS] for r in rows)
                target = self._target(case_sla_table)
                self._copy_rows(conn, target, case_sla_table, _SLA_FIELDS, values)
                return
            for start in range(0, len(rows), 1000):
                conn.execute(
                    insert(case_sla_table),
                    [{f: getattr(r, f) for f in _SLA_FIELDS} for r in rows[start : start + 1000]],
                )

    def latest_sla(self) -> dict[str, Known]:
        """The last SLA row of every case, as the recorder remembers it."""
        t = case_sla_table
        latest = select(func.max(t.c.id)).group_by(t.c.case_id).scalar_subquery()
        query = select(
            t.c.case_id,
            t.c.facts,
            t.c.calendar_version,
            t.c.concluded_at,
            t.c.promised_due_at,
            t.c.statutory_due_at,
            t.c.suspended_working_days,
        ).where(t.c.id.in_(latest))
        with self.engine.connect() as conn:
            return {
                case_id: Known(facts, version, concluded is None, (promised, statutory, suspended))
                for case_id, facts, version, concluded, promised, statutory, suspended in (
                    conn.execute(query)
                )
            }

    def sla_rows(self) -> Iterator[CaseSla]:
        """Every SLA row, oldest first, as a report reads it (``facts`` empty)."""
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=5000).execute(
                select(*_SLA_READ).order_by(case_sla_table.c.id)
            )
            yield from _sla_rows(result)

    def sla_rows_touching(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        rules: Collection[str] = (),
        opening: Collection[str] = (),
    ) -> Iterator[CaseSla]:
        """Every SLA row, oldest first, as a report reads it (``facts`` empty), of the
        cases that touch ``[start, end)``: a row of theirs was accepted before its end and
        was still open at its start (or accepted within it) — and of the cases of findings
        of ``rules`` that may have been open in it (see :meth:`findings_open_in`). A case
        outside both has no row that a report of the span counts."""
        t, f = case_sla_table, findings_table
        touching = select(t.c.case_id).where(
            t.c.accepted_at < end,
            or_(t.c.concluded_at.is_(None), t.c.concluded_at >= start, t.c.accepted_at >= start),
        )
        wanted: Any = touching
        if rules:
            flagged = select(f.c.case_id).where(
                f.c.rule.in_(sorted(rules)),
                f.c.case_id.is_not(None),
                f.c.fingerprint.in_(self._findings_open_in(start, end, opening)),
            )
            # One IN over the union, not IN … OR IN …: PostgreSQL plans the latter as a
            # subplan run again for every row once the ids outgrow work_mem (quadratic at
            # a million cases); the union is a single hash semi-join.
            wanted = union(touching, flagged)
        # Not streamed: a server-side cursor makes PostgreSQL plan for the first rows
        # (cursor_tuple_fraction), which turns the semi-join back into a per-row subplan.
        with self.engine.connect() as conn:
            result = conn.execute(
                select(*_SLA_READ).where(t.c.case_id.in_(wanted)).order_by(t.c.id)
            )
            yield from _sla_rows(result)  # CaseSla's fields, in order

    def sla_first_accepted(self) -> dict[str | None, dt.datetime]:
        """The earliest acceptance among the SLA rows of each center."""
        t = case_sla_table
        with self.engine.connect() as conn:
            return {
                center: first
                for center, first in conn.execute(
                    select(t.c.center, func.min(t.c.accepted_at)).group_by(t.c.center)
                )
            }

    def record_provenance(
        self, calendar: WorkingCalendar, parameters: dict[str, Any], at: dt.datetime
    ) -> None:
        """Keep the calendar version (day by day) and, if they differ from the last set
        recorded, the parameters an evaluation at ``at`` runs with."""
        text = json.dumps(parameters, ensure_ascii=False, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        with self.engine.begin() as conn:
            known = conn.execute(
                select(calendars_table.c.version).where(
                    calendars_table.c.version == calendar.version
                )
            ).first()
            if known is None:
                conn.execute(
                    insert(calendars_table).values(
                        version=calendar.version,
                        region=calendar.region,
                        first_day=calendar.first_day,
                        confirmed_until=calendar.confirmed_until,
                        working_days=calendar.working_days_text(),
                        recorded_at=at,
                    )
                )
            last = conn.execute(
                select(parameter_sets_table.c.digest, parameter_sets_table.c.calendar_version)
                .order_by(parameter_sets_table.c.id.desc())
                .limit(1)
            ).first()
            if last is None or tuple(last) != (digest, calendar.version):
                conn.execute(
                    insert(parameter_sets_table).values(
                        since=at,
                        digest=digest,
                        calendar_version=calendar.version,
                        parameters=text,
                    )
                )

    def calendars(self) -> dict[str, WorkingCalendar]:
        """Every recorded calendar version, restored."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(calendars_table))
            return {
                row.version: WorkingCalendar.restore(
                    row.version, row.first_day, row.working_days, row.confirmed_until, row.region
                )
                for row in rows
            }

    def parameter_sets(self) -> list[ParameterSet]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(parameter_sets_table).order_by(parameter_sets_table.c.id))
            return [
                ParameterSet(r.since, r.digest, r.calendar_version, json.loads(r.parameters))
                for r in rows
            ]
