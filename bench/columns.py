"""What the queue tickets would cost held as columns: the lever bench/RESULTS.md names.

Ingest misses its target because every source row becomes a record object (mapped field
by field, validated by pydantic, slotted): 11–18 µs a row against a read floor of 1–3 µs
(bench/RESULTS.md). This probe maps the tickets of a bench hall (``bench/hall.py``, in a
fresh PostgreSQL database, dropped at the end) to columns instead — one array per field:
each code column numbered against a table of its distinct values (stripped, mapped
through the source's value maps once per value), the instants as integer microseconds
since the epoch (UTC), the applicants numbered against their keyed hashes (one HMAC per
distinct identity) — and checks, ticket by ticket, that the columns say what the
daemon's records say. Per row, the best of ``--repeats`` runs of:

- **floor** — a bare psycopg fetch of the tickets' query (server-side cursor, as
  ``bench/province.py``'s read floor);
- **records** — the daemon's SQL source (``SqlSource.poll``: fetch, map, validate);
- **columns** — the arrays made from what the driver returns (a ``datetime`` per
  instant, which NumPy converts one object at a time);
- **columns, times as text** — the same with the driver handing timestamps over as text
  (psycopg's ``TextLoader``), parsed by NumPy in bulk.

Neither the state store's write nor holding the records (about 30 % of ingest) is
measured here, nor anything of the engine: it is the mapping's share, the part of the
columnar change that would come first. Nothing here is used by the daemon. Run from the
repository root::

    .venv/bin/python bench/columns.py --cases 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg.types.string import TextLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hall import QUERIES, SHANGHAI, VALUE_MAPS, HallSpec, daemon_config, load_hall
from province import fetch_rows, fresh_databases

from monitor.config import parse_config
from monitor.model import Ticket, TicketStatus
from monitor.privacy import ApplicantHasher
from monitor.sources.base import since_value
from monitor.sources.sql import SqlSource

FETCH = 5000
CODE_FIELDS = ("number", "center", "department", "window", "service", "status")
TIME_FIELDS = ("issued_at", "called_at", "finished_at", "updated_at")
NONE = -1  # the code of a missing value
NAT = np.iinfo(np.int64).min  # NumPy's NaT as int64 microseconds: a missing instant


class Numbering(dict[Any, int]):
    """Values numbered as they come (0, 1, …): ``numbering[value]`` is its number."""

    def __missing__(self, value: Any) -> int:
        number = self[value] = len(self)
        return number


@dataclass
class TicketColumns:
    """The tickets of one poll as arrays, one entry per row in the order read."""

    ids: list[str]
    codes: dict[str, np.ndarray]  # field -> int32 numbers into labels[field] (NONE: missing)
    labels: dict[str, list[str | None]]  # field -> each number's value (None: blank)
    applicants: np.ndarray  # int32 numbers into applicant_keys
    applicant_keys: list[str | None]
    instants: dict[str, np.ndarray]  # field -> int64 microseconds since the epoch (NAT)
    consultation: np.ndarray  # bool


def _text(value: Any) -> str | None:
    text = None if value is None else str(value).strip()
    return text or None


def _utc_micros(local: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Naive local instants (datetime64[us]) as UTC microseconds, where the zone kept one
    offset over their span (checked each day at noon and at both ends); NaT stays NAT."""
    micros = local.astype(np.int64)
    present = micros[micros != NAT]
    if not len(present):
        return micros
    first, last = (
        dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(v))
        for v in (present.min(), present.max())
    )
    days = (last.date() - first.date()).days
    noons = (
        dt.datetime.combine(first.date(), dt.time(12)) + dt.timedelta(days=d)
        for d in range(days + 1)
    )
    offsets = {tz.utcoffset(instant) for instant in (first, last, *noons)}
    if len(offsets) != 1:
        raise ValueError(f"{tz.key} changed its offset between {first} and {last}")
    (offset,) = offsets
    shift = (offset // dt.timedelta(microseconds=1)) if offset is not None else 0
    return np.where(micros == NAT, NAT, micros - shift)


def ticket_columns(
    dsn: str,
    query: str,
    params: Mapping[str, Any],
    hasher: ApplicantHasher,
    value_maps: Mapping[str, Mapping[str, str]],
    tz: ZoneInfo,
    times_as_text: bool,
) -> TicketColumns:
    """The query's tickets as columns (see the module docstring)."""
    numbering = {field: Numbering() for field in CODE_FIELDS}
    identities = Numbering()
    ids: list[str] = []
    parts: dict[str, list[np.ndarray]] = {f: [] for f in (*CODE_FIELDS, *TIME_FIELDS)}
    applicants: list[np.ndarray] = []
    consultation: list[np.ndarray] = []
    with psycopg.connect(dsn) as connection:
        if times_as_text:
            connection.adapters.register_loader("timestamp", TextLoader)
        with connection.cursor(name="tickets") as cursor:
            cursor.execute(query, params)
            names = [column.name for column in cursor.description or ()]
            while rows := cursor.fetchmany(FETCH):
                columns = dict(zip(names, zip(*rows, strict=True), strict=True))
                ids.extend(map(str, columns["id"]))
                for field in CODE_FIELDS:
                    numbers = map(numbering[field].__getitem__, columns[field])
                    parts[field].append(np.fromiter(numbers, np.int32, len(rows)))
                identity = map(identities.__getitem__, columns["applicant_id_number"])
                applicants.append(np.fromiter(identity, np.int32, len(rows)))
                for field in TIME_FIELDS:
                    parts[field].append(np.array(columns[field], dtype="datetime64[us]"))
                flags = (value is True for value in columns["consultation"])
                consultation.append(np.fromiter(flags, bool, len(rows)))
    labels: dict[str, list[str | None]] = {}
    codes: dict[str, np.ndarray] = {}
    for field in CODE_FIELDS:
        mapping = value_maps.get(field)
        texts = [_text(value) for value in numbering[field]]
        labels[field] = [t if t is None or mapping is None else mapping[t] for t in texts]
        # A blank value is missing: its number becomes NONE.
        blank = np.array([t is None for t in labels[field]], dtype=bool)
        numbers = np.concatenate(parts[field]) if parts[field] else np.empty(0, np.int32)
        codes[field] = np.where(blank[numbers], NONE, numbers).astype(np.int32)
    keys = [None if _text(i) is None else hasher.key_for(i) for i in identities]
    return TicketColumns(
        ids=ids,
        codes=codes,
        labels=labels,
        applicants=np.concatenate(applicants) if applicants else np.empty(0, np.int32),
        applicant_keys=keys,
        instants={
            field: _utc_micros(np.concatenate(parts[field]), tz)
            if parts[field]
            else np.empty(0, np.int64)
            for field in TIME_FIELDS
        },
        consultation=np.concatenate(consultation) if consultation else np.empty(0, bool),
    )


def _micros(instant: dt.datetime | None) -> int:
    if instant is None:
        return int(NAT)
    return (instant - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def disagreements(columns: TicketColumns, records: Sequence[Ticket]) -> list[str]:
    """Where the columns and the daemon's records differ (the first few), ticket by ticket."""
    at = {ticket_id: row for row, ticket_id in enumerate(columns.ids)}
    found: list[str] = []
    if len(at) != len(records):
        found.append(f"{len(at)} tickets in the columns, {len(records)} records")

    def label(field: str, row: int) -> str | None:
        number = int(columns.codes[field][row])
        return None if number == NONE else columns.labels[field][number]

    for ticket in records:
        row = at.get(ticket.id)
        if row is None:
            found.append(f"{ticket.id}: not in the columns")
            continue
        status = label("status", row)
        said = {
            "number": (label("number", row) or "", ticket.number),
            "center": (label("center", row), ticket.center),
            "department": (label("department", row), ticket.department),
            "window": (label("window", row), ticket.window),
            "service": (label("service", row), ticket.service),
            "status": (TicketStatus(status) if status else TicketStatus.WAITING, ticket.status),
            "applicant": (
                columns.applicant_keys[int(columns.applicants[row])],
                ticket.applicant_key,
            ),
            "consultation": (bool(columns.consultation[row]), ticket.consultation),
            **{
                field: (int(columns.instants[field][row]), _micros(getattr(ticket, field)))
                for field in ("issued_at", "called_at", "finished_at")
            },
        }
        found += [f"{ticket.id} {f}: {a!r} != {b!r}" for f, (a, b) in said.items() if a != b]
        if len(found) >= 5:
            break
    return found[:5]


def floor(dsn: str, query: str, params: Mapping[str, Any]) -> int:
    """Fetch every row of ``query`` as ``bench/province.py``'s read floor does; how many."""
    with psycopg.connect(dsn) as connection:
        return fetch_rows(connection, query, params)


def best(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest of ``repeats`` runs and the last run's result."""
    times: list[float] = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


@dataclass
class Probe:
    rows: int
    per_row: dict[str, float]  # µs a row, by way of mapping
    disagreements: list[str]


def probe(cases: int, repeats: int) -> Probe:
    with fresh_databases("source") as (database,):
        dsn = f"postgresql://postgres@127.0.0.1:5432/{database}"
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        load_hall(dsn, HallSpec(cases))
        config = parse_config(daemon_config(url, url, HallSpec(cases)), Path(tempfile.gettempdir()))
        window = next(s for s in config.sources if s.name == "window")
        query = QUERIES["window"]["tickets"].replace(":since", "%(since)s")
        params = {"since": since_value(None, SHANGHAI, window.since_format)}
        value_maps = VALUE_MAPS["window"]["tickets"]

        def records() -> list[Ticket]:
            source = SqlSource(window, SHANGHAI, ApplicantHasher(b"bench"))
            try:
                return source.poll("tickets").records
            finally:
                source.close()

        def columns(as_text: bool) -> Callable[[], TicketColumns]:
            return lambda: ticket_columns(
                dsn, query, params, ApplicantHasher(b"bench"), value_maps, SHANGHAI, as_text
            )

        floor_s, rows = best(repeats, lambda: floor(dsn, query, params))
        records_s, mapped = best(repeats, records)
        objects_s, from_objects = best(repeats, columns(False))
        text_s, from_text = best(repeats, columns(True))
        per_row = {
            "floor (bare psycopg fetch)": floor_s,
            "records (SqlSource.poll)": records_s,
            "columns": objects_s,
            "columns, times as text": text_s,
        }
        return Probe(
            rows,
            {way: seconds / rows * 1e6 for way, seconds in per_row.items()},
            # Both ways of making the columns, each held to the records.
            disagreements(from_objects, mapped) + disagreements(from_text, mapped),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="open cases (2 tickets each)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = probe(args.cases, args.repeats)
    floor_us = result.per_row["floor (bare psycopg fetch)"]
    print(f"{result.rows:,} tickets; best of {args.repeats}")
    print("| way | µs a row | floor / way |\n|---|---|---|")
    for way, us in result.per_row.items():
        print(f"| {way} | {us:.2f} | {floor_us / us:.0%} |")
    for line in result.disagreements:
        print(f"columns and records disagree: {line}", file=sys.stderr)
    return 1 if result.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
