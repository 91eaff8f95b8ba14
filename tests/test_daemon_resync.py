"""Incremental polling with overlap, and the nightly resync that notices deletions.

The example hall in SQLite, polled by the daemon in-process: a change committed late
(its update time inside the overlap window) is still seen; a row deleted at the source
is invisible to incremental polls (nothing selects it any more) until the full resync,
which removes it from the state store and resolves its findings.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.clock import Clock
from monitor.daemon import Daemon
from monitor.demo import load_example
from monitor.settings import Settings
from monitor.store import RESOLVED, StateStore
from tests.example_hall import AT, SHANGHAI
from tests.test_daemon_integration import hall_config, load_hall_config


def _execute(url: str, statement: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()


def _daemon(tmp_path: Path, url: str, start: dt.datetime = AT) -> Daemon:
    config = load_hall_config(hall_config(url, tmp_path))
    daemon = Daemon(config, Settings(applicant_hash_key="k"), clock=Clock(SHANGHAI, start))
    daemon.start()
    return daemon


def test_late_commit_inside_the_overlap_is_seen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    load_example(url)
    # The next morning: every example row (the newest, BJ015, at Oct 9 11:31) is past.
    daemon = _daemon(tmp_path, url, dt.datetime(2026, 10, 10, 9, 0, tzinfo=SHANGHAI))
    assert daemon.poll("approval")
    assert daemon.records.cases["BJ002"].concluded_at is None
    # Committed now, but stamped two minutes before the newest row already seen: a slow
    # transaction. The 5-minute overlap re-reads it...
    _execute(
        url,
        "UPDATE SL_BJ SET BJSJ = '20261009110000', BJJGDM = '0', GXSJ = '20261009112900' "
        "WHERE SBLSH = 'BJ002'",
    )
    # ...but not one stamped eleven minutes before: only the nightly resync catches that.
    _execute(
        url,
        "UPDATE SL_BJ SET BJSJ = '20261009110000', BJJGDM = '0', GXSJ = '20261009112000' "
        "WHERE SBLSH = 'BJ001'",
    )
    assert daemon.poll("approval")
    assert daemon.records.cases["BJ002"].concluded_at is not None
    assert daemon.records.cases["BJ001"].concluded_at is None
    daemon.resync()
    assert daemon.records.cases["BJ001"].concluded_at is not None
    daemon.close()


def test_resync_notices_rows_deleted_at_the_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    load_example(url)
    daemon = _daemon(tmp_path, url)
    assert daemon.poll("approval")
    daemon.evaluate(AT)
    fingerprint = "case.overdue|case|BJ002"
    assert fingerprint in {e.fingerprint for e in daemon.open_entries()}

    _execute(url, "DELETE FROM SL_BJ WHERE SBLSH = 'BJ002'")  # e.g. deleted by the vendor
    assert daemon.poll("approval")  # incremental: nothing selects the deleted row
    assert "BJ002" in daemon.records.cases

    daemon.resync()
    assert "BJ002" not in daemon.records.cases
    daemon.evaluate(AT)
    assert fingerprint not in {e.fingerprint for e in daemon.open_entries()}
    daemon.close()

    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    keys = {key for _, entity, key, _ in store.load_entities() if entity == "cases"}
    assert "BJ002" not in keys and "BJ001" in keys
    entry = store.ledger_entry(fingerprint)
    assert entry is not None and entry.state == RESOLVED  # kept in the ledger, resolved
    store.close()


def test_resync_polls_every_source_at_once(tmp_path: Path) -> None:
    """Each source in a thread of its own, as the scheduler's poll jobs run: polled one
    after another, the first would wait at the barrier for the others and break it."""
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    load_example(url)
    daemon = _daemon(tmp_path, url)
    state = daemon.sources["approval"]
    daemon.sources.update({"window": state, "bank": state})
    barrier = threading.Barrier(3, timeout=10)
    polled: list[tuple[str, bool, str]] = []

    def poll(name: str, full: bool = False) -> bool:
        barrier.wait()
        polled.append((name, full, threading.current_thread().name))
        return name != "bank"

    daemon.poll = poll  # type: ignore[method-assign]
    assert daemon.poll_all() == {"approval": True, "window": True, "bank": False}
    assert {(name, full) for name, full, _ in polled} == {
        ("approval", False),
        ("window", False),
        ("bank", False),
    }
    assert len({thread for *_, thread in polled}) == 3
    polled.clear()
    daemon.resync()
    assert sorted((name, full) for name, full, _ in polled) == [
        ("approval", True),
        ("bank", True),
        ("window", True),
    ]

    def failing(name: str, full: bool = False) -> bool:
        raise RuntimeError(f"{name} broke")

    daemon.poll = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="broke"):  # not lost in its thread
        daemon.poll_all()
    daemon.sources = {"approval": state}
    daemon.close()


def test_incremental_polls_end_where_one_poll_of_everything_does(tmp_path: Path) -> None:
    """Rounds of changes inside the overlap window (rows read again unchanged, changed,
    new), each polled and evaluated: the daemon ends with the records, findings, ledger
    and hall figures of a fresh daemon that reads everything once."""
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    load_example(url)
    now = dt.datetime(2026, 10, 10, 9, 0, tzinfo=SHANGHAI)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    daemon = _daemon(tmp_path / "a", url, now)
    published: dict[str, object] = {}
    daemon.metrics.publish = lambda figures: published.__setitem__("a", figures)  # type: ignore[method-assign]
    assert daemon.poll("approval")
    daemon.evaluate(now)
    rounds = [
        [
            "UPDATE SL_BJ SET BJSJ = '20261009113200', BJJGDM = '0', GXSJ = '20261009113300' "
            "WHERE SBLSH = 'BJ002'",
            "INSERT INTO SL_BJ VALUES ('BJ099', '330100-001', 'HZ01', 'SCJ', 'W03', '某人', "
            "'330106200001010000', '20261009113000', '20261009113400', '1', NULL, NULL, NULL, "
            "'20261009113400', 0.00, '20261009113400')",
        ],
        [],  # nothing changed: the overlap reads BJ015, BJ002 and BJ099 again
        [
            "UPDATE SL_BJ SET BJSJ = '20261009113500', BJJGDM = '0', GXSJ = '20261009113500' "
            "WHERE SBLSH = 'BJ099'",
        ],
        [
            # Changed without a new update time (a vendor that forgets to stamp).
            "UPDATE SL_BJ SET BJJGDM = '1' WHERE SBLSH = 'BJ002'",
            "DELETE FROM SL_BJ WHERE SBLSH = 'BJ015'",
        ],
    ]
    for number, statements in enumerate(rounds, start=1):
        for statement in statements:
            _execute(url, statement)
        at = now + dt.timedelta(minutes=number)
        daemon.clock = Clock(SHANGHAI, at)
        assert daemon.poll("approval")
        # Rows read again unchanged are left out of the next poll (before mapping).
        assert daemon.sources["approval"].source._unchanged["cases"]  # type: ignore[attr-defined]
        daemon.evaluate(at)
    daemon.resync()  # a deletion is only seen by a full poll
    at = now + dt.timedelta(minutes=len(rounds) + 1)
    findings = daemon.evaluate(at)

    fresh = _daemon(tmp_path / "b", url, at)
    fresh.metrics.publish = lambda figures: published.__setitem__("b", figures)  # type: ignore[method-assign]
    assert fresh.poll("approval")
    assert fresh.evaluate(at) == findings
    assert daemon.records.cases == fresh.records.cases
    assert daemon.records.items == fresh.records.items
    assert daemon.records.cases["BJ002"].result == fresh.records.cases["BJ002"].result
    assert "BJ015" not in daemon.records.cases
    open_now = {e.fingerprint: e.finding for e in daemon.open_entries()}
    open_fresh = {e.fingerprint: e.finding for e in fresh.open_entries()}
    assert open_now.keys() == open_fresh.keys()
    for fingerprint, finding in open_fresh.items():
        ticking = {"seconds_late"}
        assert {k: v for k, v in open_now[fingerprint].evidence.items() if k not in ticking} == {
            k: v for k, v in finding.evidence.items() if k not in ticking
        }
        assert open_now[fingerprint].model_copy(update={"evidence": {}}) == finding.model_copy(
            update={"evidence": {}}
        )
    assert published["a"] == published["b"]
    daemon.close()
    fresh.close()
