"""Sources: the systems a hall already runs, polled and mapped onto the canonical model."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from monitor.config import HttpSourceConfig, SourceConfig, SqlSourceConfig, StatementSourceConfig
from monitor.privacy import ApplicantHasher
from monitor.sources.base import FileLedger, MemoryFileLedger, Source


def open_source(
    config: SourceConfig,
    tz: ZoneInfo,
    hasher: ApplicantHasher,
    ledger: FileLedger | None = None,
) -> Source:
    """The poller for one configured source. File sources consult ``ledger`` for files
    already consumed (a fresh in-memory one reads every file)."""
    if isinstance(config, SqlSourceConfig):
        from monitor.sources.sql import SqlSource

        return SqlSource(config, tz, hasher)
    if isinstance(config, StatementSourceConfig):
        from monitor.sources.statement import StatementSource

        return StatementSource(config, tz, hasher, ledger or MemoryFileLedger())
    if isinstance(config, HttpSourceConfig):
        from monitor.sources.http import HttpSource

        return HttpSource(config, tz, hasher)
    raise AssertionError(type(config))
