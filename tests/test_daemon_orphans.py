"""A step read before its case (committed between the two SELECTs) is not a reject; a step
whose case is still missing after the source polled again is, counted once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from monitor.demo import load_example
from tests.example_hall import SHANGHAI
from tests.test_daemon_resync import _daemon, _execute

NEXT_MORNING = dt.datetime(2026, 10, 10, 9, 0, tzinfo=SHANGHAI)


def _rejected(daemon: object, reason: str = "unknown_case") -> float:
    registry = daemon.metrics.registry  # type: ignore[attr-defined]
    value = registry.get_sample_value(
        "jiancha_rows_rejected_total", {"source": "approval", "reason": reason}
    )
    return value or 0.0


def _step(url: str, case_id: str) -> None:
    _execute(
        url,
        "INSERT INTO SP_HJ VALUES "
        f"('{case_id}', 1, '1', '承办', '20261009140000', NULL, '5', '20261009140000')",
    )


def test_a_step_whose_case_comes_with_the_next_poll_is_never_rejected(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    load_example(url)
    daemon = _daemon(tmp_path, url, NEXT_MORNING)
    try:
        assert daemon.poll("approval")
        daemon.evaluate(NEXT_MORNING)
        assert _rejected(daemon) == 0  # BJ404/1 (the example's real orphan) waits a poll
        # The case and its step are committed between the cases and the steps SELECTs:
        # this poll sees the step only.
        _step(url, "BJ900")
        assert daemon.poll("approval")
        daemon.evaluate(NEXT_MORNING)
        _execute(
            url,
            "INSERT INTO SL_BJ (SBLSH, SXBM, ZXBM, BMBM, CKBM, SLSJ, SLZTDM, GXSJ) VALUES "
            "('BJ900', '330100-001', 'HZ01', 'SCJ', 'W03', '20261009140000', '1', "
            "'20261009140000')",
        )
        assert daemon.poll("approval")
        daemon.evaluate(NEXT_MORNING)
        assert "BJ900" in daemon.records.cases
        assert 1 in daemon.records.steps["BJ900"]
        # Only the example's step of a case nobody registered is an orphan: counted once.
        assert _rejected(daemon) == 1
        assert daemon.poll("approval")
        daemon.evaluate(NEXT_MORNING)
        assert _rejected(daemon) == 1
    finally:
        daemon.close()


def test_an_orphan_is_counted_after_its_source_polled_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    load_example(url)
    daemon = _daemon(tmp_path, url, NEXT_MORNING)
    try:
        assert daemon.poll("approval")
        daemon.evaluate(NEXT_MORNING)
        daemon.evaluate(NEXT_MORNING)  # no new poll: still waiting
        assert _rejected(daemon) == 0
        assert daemon.poll("approval")
        daemon.evaluate(NEXT_MORNING)
        assert _rejected(daemon) == 1
    finally:
        daemon.close()


def test_after_a_restart_an_orphan_waits_for_the_first_poll(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    load_example(url)
    first = _daemon(tmp_path, url, NEXT_MORNING)
    assert first.poll("approval")
    first.close()
    daemon = _daemon(tmp_path, url, NEXT_MORNING)  # records loaded from the state store
    try:
        daemon.evaluate(NEXT_MORNING)
        assert _rejected(daemon) == 0
        assert daemon.poll("approval")
        daemon.evaluate(NEXT_MORNING)
        assert _rejected(daemon) == 1
    finally:
        daemon.close()
