"""The replay gives the findings ledger the hall's history: every finding the ground truth
expects at some closing time is in the ledger, opened at the first closing time it was
due, and the ledger holds nothing the ground truth does not expect."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from monitor.clock import Clock
from monitor.daemon import Daemon
from monitor.demo.replay import replay, replay_instants
from monitor.settings import Settings
from monitor.store import StateStore
from tests.demo_hall import SHANGHAI, demo_hall


def test_replayed_ledger_matches_the_ground_truth_over_time(tmp_path: Path) -> None:
    end = dt.datetime(2026, 11, 27, 8, 45, tzinfo=SHANGHAI)
    first = end.date() - dt.timedelta(days=12)
    hall = demo_hall(tmp_path, end, days=12)
    settings = Settings(applicant_hash_key="replay")
    progress: list[int] = []
    evaluations = replay(hall.config, settings, first, end, lambda done, *_: progress.append(done))

    probe = Daemon(hall.config, settings, clock=Clock(SHANGHAI, end))
    instants = replay_instants(probe, first, end)
    assert evaluations == len(instants) == progress[-1]
    assert instants[-1] == end and all(t.time() == dt.time(17, 30) for t in instants[:-1])
    assert len(instants) == 10  # nine closing times on working days, then the end

    expected: dict[str, dt.datetime] = {}  # fingerprint -> first closing time it is due
    for e in hall.db.ground_truth():
        due = [t for t in instants if e.visible_at(t)]
        if due:
            fingerprint = f"{e.rule}|{e.subject_kind}|{e.subject_id}"
            expected[fingerprint] = min(due[0], expected.get(fingerprint, due[0]))
    store = StateStore(hall.config.state.url)
    store.open()
    ledger = {entry.fingerprint: entry for entry in store.all_findings()}
    store.close()
    assert len(expected) > 300
    assert ledger.keys() == expected.keys()
    for fingerprint, entry in ledger.items():
        assert entry.first_seen == expected[fingerprint], fingerprint
    # Yellow cards that came and went (a slow case concluding) were resolved on the way.
    assert any(e.resolved_at is not None for e in ledger.values())
    hall.db.close()
