"""What every source shares: the batch a poll produces, typed failures, the file ledger.

A source turns what a hall's system delivers (SQL rows, statement files, JSON pages)
into canonical records and :class:`~monitor.sources.mapping.Reject` entries. It never
decides what is a violation. A poll either returns an :class:`EntityBatch` or raises a
:class:`SourceError`: :class:`SourceUnavailable` when the system cannot be reached
(retrying can help; findings that depend on it must be held, not resolved) or
:class:`SourceQueryError` when the configuration does not fit the system (only a
config change helps).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # "since the beginning": a full poll


def overlapping_since(watermark: dt.datetime | None, overlap_seconds: int) -> dt.datetime | None:
    """Where the next incremental poll starts: the watermark minus the overlap, so rows
    committed late with an earlier update time are not missed."""
    if watermark is None:
        return None
    return watermark - dt.timedelta(seconds=overlap_seconds)


def since_value(
    since: dt.datetime | None, tz: dt.tzinfo, since_format: str
) -> dt.datetime | str | int:
    """The ``since`` of an incremental poll as the source compares it: a naive local
    datetime, an aware one, a ``YYYYMMDDhhmmss`` string (pinyin schemas) or epoch seconds.
    ``None`` (a full poll) is the epoch."""
    instant = (since or EPOCH).astimezone(tz)
    match since_format:
        case "datetime":
            return instant.replace(tzinfo=None)
        case "aware":
            return instant
        case "compact":
            return instant.strftime("%Y%m%d%H%M%S")
        case "epoch":
            return int(instant.timestamp())
    raise AssertionError(since_format)


class SourceError(Exception):
    """A poll failed as a whole."""

    retryable = True

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"source {source}: {message}")
        self.source = source


class SourceUnavailable(SourceError):
    """The system cannot be reached or timed out; a later poll may succeed."""


class SourceQueryError(SourceError):
    """The configured query or mapping is wrong for this system; only a config change helps."""

    retryable = False


@dataclass(frozen=True)
class ProcessedFile:
    """One delivered file and what became of it (``accepted`` or ``rejected``)."""

    name: str
    digest: str  # sha256 of the content: the same statement under another name is the same
    outcome: str
    rows: int = 0
    reason: str | None = None
    detail: str = ""


@dataclass
class EntityBatch:
    """What one poll of one entity produced."""

    records: list[Any] = field(default_factory=list)
    rejects: list[Any] = field(default_factory=list)  # mapping.Reject
    rows: int = 0
    watermark: dt.datetime | None = None
    # File sources: the files this poll consumed, to be recorded in the same
    # transaction as their records so that each file counts exactly once.
    files: list[ProcessedFile] = field(default_factory=list)
    # Called by the daemon once the batch is applied (stored and held in memory): a source
    # may then trust what it delivered (see SqlSource's unchanged rows).
    applied: Callable[[], None] | None = None


class FileLedger(Protocol):
    """Which file contents a file source has already consumed (accepted or rejected)."""

    def known(self, source: str, digest: str) -> bool: ...


class MemoryFileLedger:
    """A ledger that forgets on exit: right for a one-shot scan, which reads everything."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()

    def known(self, source: str, digest: str) -> bool:
        return (source, digest) in self._seen

    def record(self, source: str, files: list[ProcessedFile]) -> None:
        self._seen.update((source, f.digest) for f in files)


class Source(Protocol):
    """A system the daemon polls, one entity at a time."""

    name: str
    display_url: str  # where it reads from, with any password masked: safe to log
    entities: tuple[str, ...]  # in poll order
    # Whether a full poll lists every live row, so rows it no longer returns were
    # deleted at the source (true for SQL; false for statement folders that get archived).
    full_poll_lists_all: bool

    def poll(self, entity: str, since: dt.datetime | None = None) -> EntityBatch: ...

    def next_since(self, watermark: dt.datetime | None) -> dt.datetime | None: ...

    def close(self) -> None: ...
