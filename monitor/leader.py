"""Active/standby: only the daemon holding the leader lock polls, evaluates and alerts.

With a PostgreSQL state store, two daemons (two hosts, one configuration) contend for a
session-level advisory lock named by ``daemon.lock_name`` (one name per shard of
centers). The holder schedules; the other serves ``/metrics`` and ``/healthz``, answers
``/readyz`` with 503 ("standby") and tries again every few seconds. PostgreSQL releases
the lock when the holder's session ends — a clean stop, a crash or a ``kill -9`` — so the
standby takes over within one retry. A leader that loses its lock session stops at once
rather than risk two daemons writing the same ledger.

With SQLite (one file on one host) there is no second daemon to fence off: the lock is
always held.
"""

from __future__ import annotations

import hashlib

import structlog
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = structlog.get_logger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a lock name."""
    digest = hashlib.blake2b(f"jiancha:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class LeaderLock:
    def __init__(self, state_url: str, name: str = "jiancha") -> None:
        url = make_url(state_url)
        self.name = name
        self.key = lock_key(name)
        self.shared = url.get_backend_name() == "postgresql"
        # Its own connection, outside the store's pool: the lock lives as long as it does.
        self._engine = create_engine(url, poolclass=NullPool) if self.shared else None
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        return not self.shared or self._connection is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; whether this process holds it now."""
        if self.held:
            return True
        assert self._engine is not None
        try:
            connection = self._engine.connect()
            acquired = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar_one()
            connection.commit()  # the lock is the session's, not the transaction's
        except Exception as exc:
            log.warning("leader_lock_unavailable", lock=self.name, error=str(exc).splitlines()[0])
            return False
        if acquired:
            self._connection = connection
            log.info("leader_lock_acquired", lock=self.name)
        else:
            connection.close()
        return bool(acquired)

    def still_held(self) -> bool:
        """Whether the session holding the lock is still alive (it may have been cut)."""
        if not self.shared:
            return True
        if self._connection is None:
            return False
        try:
            # A session-level lock is released only by unlocking or by the session ending:
            # a live session still holds it.
            self._connection.execute(text("SELECT 1")).scalar_one()
            self._connection.commit()
        except Exception as exc:
            log.error("leader_lock_lost", lock=self.name, error=str(exc).splitlines()[0])
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except Exception:  # the session is gone already
                log.debug("leader_lock_connection_gone", lock=self.name)

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self._connection.commit()
            except Exception:  # closing the session releases it anyway
                log.debug("leader_lock_unlock_failed", lock=self.name)
            self._drop()
        if self._engine is not None:
            self._engine.dispose()
