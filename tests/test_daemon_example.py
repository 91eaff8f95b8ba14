"""The daemon on the whole example hall (SQL, statement folder, window API) agrees with
``jiancha scan``, and knows which source each finding stands on."""

from __future__ import annotations

from pathlib import Path

from monitor.clock import Clock
from monitor.daemon import Daemon
from monitor.demo import build_demo
from monitor.settings import Settings
from monitor.store import OPEN
from tests.example_hall import AT, EXPECTED, SHANGHAI, example_config


def test_daemon_finds_what_scan_finds_and_names_the_sources(
    tmp_path: Path, window_api: str
) -> None:
    build_demo(tmp_path)
    config = example_config(f"sqlite:///{tmp_path / 'hall.db'}", window_api)
    config.state.url = f"sqlite:///{tmp_path / 'state.db'}"
    daemon = Daemon(config, Settings(applicant_hash_key="k"), clock=Clock(SHANGHAI, AT))
    daemon.start()
    try:
        daemon.evaluate(AT)
        assert daemon.open_entries() == []  # nothing polled yet: nothing is raised
        for name in ("approval", "fee_bank", "window"):
            assert daemon.poll(name)
        daemon.evaluate(AT)
        entries = {(e.finding.rule, e.finding.subject_id): e for e in daemon.open_entries()}
        assert {
            key: e.finding.due_at and e.finding.due_at.isoformat() for key, e in entries.items()
        } == EXPECTED
        assert all(e.state == OPEN for e in entries.values())

        def source(rule: str, subject: str) -> str | None:
            return daemon.subject_source(entries[(rule, subject)].finding)

        assert source("case.overdue", "BJ002") == "approval"
        assert source("case.step_overdue", "BJ009/2") == "approval"
        assert source("offsystem.ticket_without_case", "Q20261008-0002") == "window"
        assert source("offsystem.payment_without_case", "ICBC20260928004") == "fee_bank"
        assert source("evaluation.bad_rating_unresolved", "PJ0001") == "window"
        assert source("fee.amount_mismatch", "BJ022") == "approval"
        # A fee finding stands on the case and on the bank's statements.
        assert entries[("fee.amount_mismatch", "BJ022")].sources == {"approval", "fee_bank"}
        assert entries[("offsystem.ticket_without_case", "Q20261008-0002")].sources == {
            "window",
            "approval",
        }
    finally:
        daemon.close()
