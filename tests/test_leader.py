"""Active/standby with a PostgreSQL advisory lock (DESIGN.md §5).

Unit level: two LeaderLocks on one state database exclude each other; a lock whose
session is killed is lost and taken by the other. Process level: two ``jiancha run``
with the same configuration — one leads (ready, ``jiancha_leader 1``), the other waits
(``/readyz`` 503 "standby", ``jiancha_leader 0``); ``kill -9`` the leader and the standby
takes over by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from monitor.demo import load_example
from monitor.leader import LeaderLock, lock_key
from tests.services import pg_admin_connect
from tests.test_daemon_integration import hall_config
from tests.test_daemon_restart import Jiancha, metric, ready, spawn, wait_for, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.integration]
__all__ = ["spawn"]  # the fixture, shared with the restart tests


def test_lock_keys_are_stable_and_distinct_per_name() -> None:
    assert lock_key("jiancha") == lock_key("jiancha")
    assert lock_key("jiancha") != lock_key("jiancha-HZ02")
    assert -(2**63) <= lock_key("jiancha") < 2**63


def test_sqlite_state_needs_no_lock(tmp_path: Path) -> None:
    lock = LeaderLock(f"sqlite:///{tmp_path / 'state.db'}")
    assert not lock.shared
    assert lock.try_acquire() and lock.still_held()
    lock.release()


def test_two_daemons_exclude_each_other(postgres_url: str) -> None:
    first, second = LeaderLock(postgres_url), LeaderLock(postgres_url)
    other_shard = LeaderLock(postgres_url, "jiancha-HZ02")
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert other_shard.try_acquire()  # another shard of centers leads on its own
        assert first.still_held()
        first.release()
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        for lock in (first, second, other_shard):
            lock.release()


def test_a_killed_lock_session_is_lost_and_taken_over(postgres_url: str) -> None:
    first, second = LeaderLock(postgres_url), LeaderLock(postgres_url)
    try:
        assert first.try_acquire()
        database = postgres_url.rsplit("/", 1)[1]
        with pg_admin_connect() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks JOIN pg_stat_activity "
                "USING (pid) WHERE locktype = 'advisory' AND datname = %s",
                (database,),
            )
        assert not first.still_held()
        assert second.try_acquire()
    finally:
        first.release()
        second.release()


def test_standby_takes_over_when_the_leader_dies(
    postgres_url: str, tmp_path: Path, spawn: Callable[..., Jiancha]
) -> None:
    hall = tmp_path / "hall.db"
    load_example(f"sqlite:///{hall}")
    data = hall_config(f"sqlite:///{hall}", tmp_path, poll_interval_seconds=1)
    data["state"] = {"url": postgres_url}
    data["daemon"] |= {"standby_retry_seconds": 0.5, "evaluation_interval_seconds": 1}
    config = write_config(tmp_path, data)

    with httpx.Client(timeout=2) as client:
        leader = spawn(config)
        wait_for("the first daemon to be ready", lambda: ready(client, leader), leader)
        standby = spawn(config)
        wait_for(
            "the second daemon to answer as standby",
            lambda: _standby(client, standby),
            standby,
        )
        assert metric(client, leader, "jiancha_leader") == 1
        assert metric(client, standby, "jiancha_leader") == 0
        # The standby does not poll: it has no source metrics of its own.
        assert metric(client, standby, "jiancha_source_up", source="approval") == 0

        leader.kill()  # kill -9: PostgreSQL ends its session and releases the lock
        wait_for("the standby to take over", lambda: ready(client, standby), standby)
        assert metric(client, standby, "jiancha_leader") == 1
        wait_for(
            "the new leader to poll",
            lambda: metric(client, standby, "jiancha_source_up", source="approval") == 1,
            standby,
        )
        assert any(e.get("event") == "leader_lock_acquired" for e in standby.events())


def _standby(client: httpx.Client, daemon: Jiancha) -> bool:
    try:
        response = client.get(f"http://127.0.0.1:{daemon.port}/readyz")
    except httpx.HTTPError:
        return False
    return response.status_code == 503 and "standby" in response.text


def test_a_leader_that_loses_its_lock_stops(
    postgres_url: str, tmp_path: Path, spawn: Callable[..., Jiancha]
) -> None:
    """Better a restart as standby than two daemons writing one ledger."""
    hall = tmp_path / "hall.db"
    load_example(f"sqlite:///{hall}")
    data = hall_config(f"sqlite:///{hall}", tmp_path, poll_interval_seconds=1)
    data["state"] = {"url": postgres_url}
    data["daemon"] |= {"standby_retry_seconds": 0.5}
    leader = spawn(write_config(tmp_path, data))
    with httpx.Client(timeout=2) as client:
        wait_for("the daemon to lead", lambda: ready(client, leader), leader)
    database = postgres_url.rsplit("/", 1)[1]
    with pg_admin_connect() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks JOIN pg_stat_activity "
            "USING (pid) WHERE locktype = 'advisory' AND datname = %s",
            (database,),
        )
    assert leader.process.wait(timeout=15) == 1
    assert any(e.get("event") == "leader_lock_lost" for e in leader.events())
