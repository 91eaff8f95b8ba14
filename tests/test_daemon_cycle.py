"""The daemon's incremental cycle changes the ledger exactly as reconciling everything does.

Each evaluation of a daemon over the example hall is reconciled twice: as the daemon does
it (with its memory of the previous reconciliation and the engine's report of what it
judged again: only those findings and the delivered ones are looked at) and plainly (every
finding against every open entry, no memory). Both must give the same changes, through
polls that change cases and time passing midnights (yellow cards escalating); both confirm
every open entry's sources, and an unchanged entry is never written again.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor import daemon as daemon_module
from monitor.clock import Clock
from monitor.daemon import Daemon
from monitor.demo import build_demo
from monitor.ledger import reconcile
from monitor.settings import Settings
from tests.example_hall import AT, SHANGHAI, example_config


def test_each_cycle_changes_the_ledger_as_reconciling_everything_does(
    tmp_path: Path, window_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    walked: list[int] = []  # per evaluation: how many findings the engine reported
    events: list[str] = []
    written: list[int] = []  # per evaluation: how many entries were written
    confirmed: list[set[frozenset[str]]] = []  # per evaluation: the sets of sources confirmed

    def both(ledger: Any, findings: Any, depends_on: Any, unsettled: Any, at: Any, **kw: Any):
        plain = reconcile(
            dict(ledger),
            list(findings),
            depends_on,
            set(unsettled),
            at,
            lookup=kw["lookup"],
            refresh=kw["refresh"],
        )
        memory, rejudged = kw["memory"], kw["rejudged"]
        if rejudged.findings is not None and rejudged.after == memory.serial:
            walked.append(len(rejudged.findings))
        got = reconcile(ledger, findings, depends_on, unsettled, at, **kw)
        assert got.entries == plain.entries, at
        assert got.events == plain.events, at
        # The daemon's may name sets no open entry has now (they count for none).
        assert plain.confirmed.items() <= got.confirmed.items(), at
        assert set(got.confirmed.values()) <= {at}, at
        events.extend(event for _, _, event, _, _ in got.events)
        written.append(len(got.entries))
        confirmed.append(set(got.confirmed))
        return got

    monkeypatch.setattr(daemon_module, "reconcile", both)
    build_demo(tmp_path)
    hall = tmp_path / "hall.db"
    config = example_config(f"sqlite:///{hall}", window_api)
    config.state.url = f"sqlite:///{tmp_path / 'state.db'}"
    daemon = Daemon(config, Settings(applicant_hash_key="k"), clock=Clock(SHANGHAI, AT))
    daemon.start()
    try:
        for name in ("approval", "fee_bank", "window"):
            assert daemon.poll(name)
        daemon.evaluate(AT)
        opened_entries = daemon.open_entries()
        opened = {e.fingerprint for e in opened_entries}
        assert "case.overdue|case|BJ002" in opened
        steps = [dt.timedelta(minutes=m) for m in (1, 11, 3)] + [dt.timedelta(days=1)] * 4
        at = AT
        for n, step in enumerate(steps):
            at += step
            if n == 2:
                # BJ002 is concluded at the source: its overdue card vanishes.
                with sqlite3.connect(hall) as db:
                    stamp = (at - dt.timedelta(minutes=1)).strftime("%Y%m%d%H%M%S")
                    db.execute(
                        "UPDATE SL_BJ SET BJSJ = ?, BJJGDM = '0', GXSJ = ? WHERE SBLSH = 'BJ002'",
                        (stamp, stamp),
                    )
                assert daemon.poll("approval")
            daemon.clock = Clock(SHANGHAI, at)
            daemon.evaluate(at)
        assert "case.overdue|case|BJ002" not in {e.fingerprint for e in daemon.open_entries()}
    finally:
        daemon.close()
    assert len(walked) == len(steps)  # every cycle after the first took the short way
    assert {"opened", "resolved", "escalated"} <= set(events)
    # A minute after the first evaluation nothing is written, and every entry then open
    # (all sources settled) is confirmed through its sources.
    assert written[1] == 0
    assert {e.sources for e in opened_entries} <= confirmed[1] and opened_entries
