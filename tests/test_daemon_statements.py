"""The daemon with a bank statement folder: each file counts once, across restarts too.

The statement source only reads; the daemon commits a poll's payments together with the
files it consumed in the state store, and asks the store which contents it has seen. So
the same statement delivered twice (even renamed) is read once, a half-written one is
rejected and taken again when complete, and a restart between files neither loses nor
doubles a payment.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from monitor.clock import Clock
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.settings import Settings
from monitor.store import StateStore, files_table
from tests.example_hall import SHANGHAI

AT = dt.datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI)
HEADER = "交易流水号,交易时间,交易金额,缴款单号,对方户名\n"
FIRST = (
    HEADER
    + 'T001,2026-10-08 09:15:00,"1,234.50",JK0001,张三\nT002,2026-10-08 10:00:00,¥80,JK0002,李四\n'
)
SECOND = HEADER + "T003,2026-10-09 09:00:00,200.00,JK0003,王五\n"


def _config(tmp_path: Path) -> Any:
    data = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "calendar": {"first_year": 2024, "last_year": 2030},
        "sources": [
            {
                "name": "bank",
                "kind": "statement_files",
                "directory": str(tmp_path / "inbox"),
                "account": "33050161000000000123",
                "center": "HZ01",
                "min_age_seconds": 0,
                "columns": {
                    "id": "交易流水号",
                    "paid_at": "交易时间",
                    "amount_yuan": "交易金额",
                    "reference": "缴款单号",
                    "payer_name": "对方户名",
                },
            }
        ],
    }
    return parse_config(data, tmp_path)


def _daemon(tmp_path: Path) -> Daemon:
    daemon = Daemon(
        _config(tmp_path),
        Settings(applicant_hash_key="k"),
        clock=Clock(SHANGHAI, AT),
    )
    daemon.start()
    return daemon


def _stored(tmp_path: Path) -> tuple[dict[str, str], list[tuple[str, str, str | None]]]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = StateStore(url)  # the records as the store reads them: the journal's too
    payments = {k: p for _, entity, k, p in store.load_payloads() if entity == "payments"}
    store.close()
    engine = create_engine(url)
    with engine.connect() as conn:
        files = [
            (row.name, row.outcome, row.reason)
            for row in conn.execute(select(files_table).order_by(files_table.c.name))
        ]
        assert conn.execute(select(func.count()).select_from(files_table)).scalar_one() == len(
            files
        )
    engine.dispose()
    return payments, files


def test_same_statement_twice_and_renamed_counts_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "fee_20261008.csv").write_text(FIRST, encoding="utf-8")
    daemon = _daemon(tmp_path)
    assert daemon.poll("bank")
    assert sorted(daemon.records.payments) == ["T001", "T002"]
    assert daemon.records.payments["T001"].amount_fen == 123450
    assert daemon.records.payments["T002"].amount_fen == 8000

    # The bank delivers the same content again under another name.
    (inbox / "fee_20261008_resend.csv").write_text(FIRST, encoding="utf-8")
    assert daemon.poll("bank")
    payments, files = _stored(tmp_path)
    assert sorted(payments) == ["T001", "T002"]
    assert files == [("fee_20261008.csv", "accepted", None)]  # the copy was never read
    daemon.close()


def test_truncated_statement_is_rejected_then_taken_when_complete(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cut = FIRST[: FIRST.index("JK0002")]  # cut mid-line, no final newline
    statement = inbox / "fee_20261008.csv"
    statement.write_text(cut, encoding="utf-8")
    daemon = _daemon(tmp_path)
    assert daemon.poll("bank")  # the source is fine; the file is not
    assert daemon.records.payments == {}
    payments, files = _stored(tmp_path)
    assert payments == {}
    assert files == [("fee_20261008.csv", "rejected", "truncated")]
    ingested = daemon.metrics.registry.get_sample_value(
        "jiancha_rows_ingested_total", {"source": "bank", "entity": "payments"}
    )
    assert ingested == 0  # a rejected file yields no rows at all
    files_metric = daemon.metrics.registry.get_sample_value(
        "jiancha_statement_files_total", {"source": "bank", "outcome": "rejected"}
    )
    assert files_metric == 1

    assert daemon.poll("bank")  # unchanged: not retried, still nothing
    assert daemon.records.payments == {}

    statement.write_text(FIRST, encoding="utf-8")  # the transfer completes
    assert daemon.poll("bank")
    assert sorted(daemon.records.payments) == ["T001", "T002"]
    _, files = _stored(tmp_path)
    assert sorted(outcome for _, outcome, _ in files) == ["accepted", "rejected"]
    daemon.close()


def test_restart_between_files_loses_and_doubles_nothing(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "fee_20261008.csv").write_text(FIRST, encoding="utf-8")
    first = _daemon(tmp_path)
    assert first.poll("bank")
    first.close()

    (inbox / "fee_20261009.csv").write_text(SECOND, encoding="utf-8")
    second = _daemon(tmp_path)  # a restart: everything it knows comes from the store
    assert sorted(second.records.payments) == ["T001", "T002"]
    assert second.poll("bank")
    assert sorted(second.records.payments) == ["T001", "T002", "T003"]
    payments, files = _stored(tmp_path)
    assert sorted(payments) == ["T001", "T002", "T003"]
    assert [name for name, _, _ in files] == ["fee_20261008.csv", "fee_20261009.csv"]
    ingested = second.metrics.registry.get_sample_value(
        "jiancha_rows_ingested_total", {"source": "bank", "entity": "payments"}
    )
    assert ingested == 1  # only the new file's line was read after the restart
    second.close()


def test_a_crash_before_the_commit_rereads_the_file(tmp_path: Path, monkeypatch) -> None:
    """The file is recorded only with its payments: a failed commit leaves it unread."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "fee_20261008.csv").write_text(FIRST, encoding="utf-8")
    daemon = _daemon(tmp_path)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed between the poll and its commit")

    monkeypatch.setattr(daemon.store, "apply_poll", crash)
    with pytest.raises(RuntimeError):
        daemon.poll("bank")
    daemon.close()
    assert _stored(tmp_path) == ({}, [])

    monkeypatch.undo()
    restarted = _daemon(tmp_path)
    assert restarted.poll("bank")
    assert sorted(restarted.records.payments) == ["T001", "T002"]
    restarted.close()
