"""The statement source: bank statements (CSV, XLSX) of the fee accounts, read exactly once.

The caller's side of the contract is simulated by :class:`SqliteLedger`: after each poll
the consumed files and the payments are committed in one transaction, as the daemon's
state store does, and a new source instance over the same database is a restart.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import yaml
from structlog.testing import capture_logs

from monitor.config import StatementSourceConfig, parse_config
from monitor.model import Payment
from monitor.privacy import ApplicantHasher
from monitor.sources import open_source
from monitor.sources.base import (
    EntityBatch,
    MemoryFileLedger,
    ProcessedFile,
    SourceQueryError,
    SourceUnavailable,
)
from monitor.sources.mapping import REJECT_REASONS
from monitor.sources.statement import FILE_REJECT_REASONS, StatementSource

SH = ZoneInfo("Asia/Shanghai")
HASHER = ApplicantHasher(b"statement-test-key")
ACCOUNT = "33050161000000000123"
COLUMNS = {
    "id": "交易流水号",
    "paid_at": "交易时间",
    "amount_yuan": "交易金额",
    "reference": "摘要",
    "payer_name": "对方户名",
    "payer_id_number": "对方证件号码",
}
HEADER = "交易流水号,交易时间,交易金额,摘要,对方户名,对方证件号码\n"
NAMES = ("张三", "李四", "王五")
ID_NUMBERS = ("330106199001011234", "330106198502023456", "33010619700303345X")
LINES = (
    'T001,2026-10-09 09:15:00,"1,234.50",JK0001,张三,330106199001011234\n'
    "T002,2026-10-09 10:00:00,¥80,JK0002,李四,330106198502023456\n"
    "T003,2026-10-09 11:30:00,-20.00,退款,王五,33010619700303345X\n"
)
STATEMENT = HEADER + LINES


def config_for(directory: Path, **overrides: Any) -> StatementSourceConfig:
    data: dict[str, Any] = {
        "name": "bank",
        "kind": "statement_files",
        "directory": directory,
        "columns": COLUMNS,
        "account": ACCOUNT,
        "center": "HZ01",
        "min_age_seconds": 0,
    }
    return StatementSourceConfig.model_validate(data | overrides)


def source_for(directory: Path, ledger: Any = None, **overrides: Any) -> StatementSource:
    return StatementSource(
        config_for(directory, **overrides), SH, HASHER, ledger or MemoryFileLedger()
    )


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, 9, hour, minute, tzinfo=SH)


def amounts(batch: EntityBatch) -> dict[str, int]:
    return {p.id: p.amount_fen for p in batch.records}


class SqliteLedger:
    """The caller's store in miniature: files and payments committed together."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path)
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS files (source TEXT, digest TEXT, name TEXT, "
                "outcome TEXT, reason TEXT, PRIMARY KEY (source, digest))"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS payments (id TEXT PRIMARY KEY, amount_fen INTEGER)"
            )

    def known(self, source: str, digest: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM files WHERE source = ? AND digest = ?", (source, digest)
        ).fetchone()
        return found is not None

    def commit(self, source: str, batch: EntityBatch) -> None:
        with self._db:
            self._db.executemany(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?)",
                [(source, f.digest, f.name, f.outcome, f.reason) for f in batch.files],
            )
            self._db.executemany(
                "INSERT INTO payments VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
                "SET amount_fen = excluded.amount_fen",
                [(p.id, p.amount_fen) for p in batch.records],
            )

    def payments(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT id, amount_fen FROM payments").fetchall())

    def files(self) -> list[tuple[str, str, str | None]]:
        rows = self._db.execute("SELECT name, outcome, reason FROM files ORDER BY name, outcome")
        return rows.fetchall()

    def close(self) -> None:
        self._db.close()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    ledger = SqliteLedger(tmp_path / "state.db")
    yield ledger
    ledger.close()


def poll_and_commit(source: StatementSource, ledger: SqliteLedger) -> EntityBatch:
    batch = source.poll("payments")
    ledger.commit(source.name, batch)
    return batch


# --------------------------------------------------------------------------- reading


def test_csv_statement_maps_chinese_headers_and_exact_amounts(inbox: Path) -> None:
    write(inbox / "20261009.csv", STATEMENT)
    source = open_source(config_for(inbox), SH, HASHER)
    assert source.entities == ("payments",)
    assert source.full_poll_lists_all is False
    assert source.display_url == str(inbox)
    batch = source.poll("payments")
    assert batch.rejects == []
    assert batch.rows == 3
    assert amounts(batch) == {"T001": 123450, "T002": 8000, "T003": -2000}
    first = batch.records[0]
    assert isinstance(first, Payment)
    assert first.account == ACCOUNT  # from the configuration: the statement is per account
    assert first.center == "HZ01"
    assert first.paid_at == at(9, 15)
    assert first.reference == "JK0001"
    # The payer's ID number is preferred for the key; the same person keys the same.
    assert first.payer_key == HASHER.key_for("330106199001011234")
    assert batch.records[2].is_deposit is False
    assert batch.files == [ProcessedFile("20261009.csv", batch.files[0].digest, "accepted", rows=3)]
    assert len(batch.files[0].digest) == 64


def test_amount_spellings_banks_use_are_exact(inbox: Path) -> None:
    write(
        inbox / "s.csv",
        HEADER + 'A1,2026-10-09 09:00,"￥1,000.00",,,\n'
        "A2,2026-10-09 09:00,(20.00),,,\n"
        "A3,2026-10-09 09:00,80元,,,\n"
        "A4,2026-10-09 09:00,-¥0.01,,,\n"
        "A5,2026-10-09 09:00, 19.99 ,,,\n"
        "A6,2026-10-09 09:00,RMB 5,,,\n",
    )
    batch = source_for(inbox).poll("payments")
    assert batch.rejects == []
    assert amounts(batch) == {
        "A1": 100000,
        "A2": -2000,
        "A3": 8000,
        "A4": -1,
        "A5": 1999,
        "A6": 500,
    }


def test_xlsx_statement_reads_numbers_exactly_and_skips_title_and_footer(inbox: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["中国工商银行 收费专户交易明细"])
    sheet.append(["账号：" + ACCOUNT])
    sheet.append(list(COLUMNS.values()))
    sheet.append(["X1", dt.datetime(2026, 10, 9, 9, 15), 1234.5, "JK1", "张三", ID_NUMBERS[0]])
    sheet.append(["X2", dt.datetime(2026, 10, 9, 10, 0), 80, "JK2", "李四", ID_NUMBERS[1]])
    sheet.append(["X3", "2026-10-09 11:30:00", -20.0, "退款", "王五", ID_NUMBERS[2]])
    sheet.append(["X4", dt.datetime(2026, 10, 9, 12, 0), 19.99, "JK4", None, None])
    sheet.append(["X5", dt.datetime(2026, 10, 9, 12, 5), "￥1,000.00", "JK5", None, None])
    # 0.07 is not exact in binary, yet is read as the 7 fen shown in Excel; an amount
    # with a third decimal is rejected, never rounded.
    sheet.append(["X6", dt.datetime(2026, 10, 9, 12, 10), 12.345, "JK6", None, None])
    sheet.append(["X7", dt.datetime(2026, 10, 9, 12, 15), 0.07, "JK7", None, None])
    sheet.append([2026100900008, dt.datetime(2026, 10, 9, 12, 20), 5, None, None, None])
    sheet.append([])
    sheet.append(["合计", None, 1314.56, None, None, None])
    sheet.append(["打印时间：2026-10-09 18:00", None, None, None, None, None])
    workbook.save(inbox / "icbc.xlsx")

    batch = source_for(inbox, skip_rows=2).poll("payments")
    assert amounts(batch) == {
        "X1": 123450,
        "X2": 8000,
        "X3": -2000,
        "X4": 1999,
        "X5": 100000,
        "X7": 7,
        "2026100900008": 500,  # a numeric id cell keeps its digits, without ".0"
    }
    assert [(r.key, r.reason) for r in batch.rejects] == [("X6", "bad_number")]
    assert "icbc.xlsx line 9" in batch.rejects[0].detail
    assert batch.rows == 8
    assert batch.records[0].paid_at == at(9, 15)
    assert batch.records[2].paid_at == at(11, 30)
    assert [(f.name, f.outcome, f.rows) for f in batch.files] == [("icbc.xlsx", "accepted", 8)]


def test_gb18030_statement(inbox: Path) -> None:
    write(inbox / "gbk.csv", STATEMENT.replace(",", "\t"), encoding="gb18030")
    batch = source_for(inbox, encoding="gb18030", delimiter="\t").poll("payments")
    assert amounts(batch) == {"T001": 123450, "T002": 8000, "T003": -2000}
    assert batch.records[0].payer_key == HASHER.key_for("330106199001011234")


def test_wrong_encoding_rejects_the_file(inbox: Path) -> None:
    write(inbox / "gbk.csv", STATEMENT, encoding="gb18030")
    batch = source_for(inbox).poll("payments")  # configured utf-8-sig
    assert batch.records == []
    assert [(f.outcome, f.reason) for f in batch.files] == [("rejected", "bad_encoding")]


def test_skip_rows_and_blank_lines_above_the_header(inbox: Path) -> None:
    write(inbox / "s.csv", "收费专户交易明细\n账号:" + ACCOUNT + "\n\n" + STATEMENT)
    batch = source_for(inbox, skip_rows=2).poll("payments")
    assert sorted(amounts(batch)) == ["T001", "T002", "T003"]
    # Without skip_rows the title line is taken for the header: no configured column.
    other = source_for(inbox).poll("payments")
    assert [f.reason for f in other.files] == ["missing_column"]


def test_footer_and_trailer_lines_are_skipped_not_rejected(inbox: Path) -> None:
    write(
        inbox / "s.csv",
        STATEMENT + "T004,2026-10-09 12:00:00,1.00,合计缴费,,\n"  # has an id: a transaction
        ',,"1,295.50",合计,,\n'
        '总计：4笔,,"1,295.50",,,\n'
        "打印时间：2026-10-09 18:00\n"
        "经办人：,复核：\n",
    )
    batch = source_for(inbox).poll("payments")
    assert batch.rejects == []
    assert batch.rows == 4
    assert sorted(amounts(batch)) == ["T001", "T002", "T003", "T004"]
    assert batch.files[0].outcome == "accepted"


def test_footer_markers_are_configurable(inbox: Path) -> None:
    write(inbox / "s.csv", STATEMENT + '本日汇总,,"1,294.50",,,\n')
    default = source_for(inbox).poll("payments")
    assert [(r.key, r.reason) for r in default.rejects] == [("本日汇总", "missing_field")]
    configured = source_for(inbox, footer_markers=["汇总"]).poll("payments")
    assert configured.rejects == []
    assert configured.rows == 3


def test_page_subtotals_do_not_end_the_table(inbox: Path) -> None:
    write(
        inbox / "s.csv",
        HEADER + "P1,2026-10-09 09:00,10.00,,,\n本页合计,,10.00,,,\nP2,2026-10-09 10:00,5.00,,,\n",
    )
    assert amounts(source_for(inbox).poll("payments")) == {"P1": 1000, "P2": 500}


def test_missing_column_rejects_the_file_naming_it(inbox: Path) -> None:
    write(inbox / "s.csv", STATEMENT.replace("交易金额", "发生额"))
    batch = source_for(inbox).poll("payments")
    assert batch.records == [] and batch.rows == 0
    (rejected,) = batch.files
    assert (rejected.outcome, rejected.reason) == ("rejected", "missing_column")
    assert "交易金额" in rejected.detail and "amount_yuan" in rejected.detail


def test_a_bad_line_is_a_row_reject_and_the_rest_is_accepted(inbox: Path) -> None:
    write(
        inbox / "s.csv",
        HEADER + "G1,2026-10-09 09:00,10.00,,,\n"
        "B1,2026-10-09 09:00,十元,,张三,330106199001011234\n"
        ",2026-10-09 09:00,10.00,,李四,330106198502023456\n"
        "B3,2026-10-09 09:00,1.005,,,\n"
        "B4,yesterday,1.00,,,\n"
        "B5,2026-10-09 09:00,,,,\n"
        "G2,2026-10-09 10:00,20.00,,,\n",
    )
    batch = source_for(inbox).poll("payments")
    assert amounts(batch) == {"G1": 1000, "G2": 2000}
    assert [(r.key, r.reason) for r in batch.rejects] == [
        ("B1", "bad_number"),
        (None, "missing_field"),
        ("B3", "bad_number"),
        ("B4", "bad_time"),
        ("B5", "missing_field"),
    ]
    assert {r.reason for r in batch.rejects} <= set(REJECT_REASONS)
    assert "s.csv line 4" in batch.rejects[1].detail
    assert [(f.outcome, f.rows) for f in batch.files] == [("accepted", 7)]


def test_debit_lines_are_negative_payments(inbox: Path) -> None:
    write(
        inbox / "dc.csv",
        "流水号,时间,借方金额,贷方金额\n"
        "D1,20261009090000,,80.00\n"
        "D2,20261009100000,20.00,0.00\n"
        "D3,20261009110000,5.00,6.00\n",
    )
    pair = source_for(
        inbox,
        columns={
            "id": "流水号",
            "paid_at": "时间",
            "debit_yuan": "借方金额",
            "credit_yuan": "贷方金额",
        },
    ).poll("payments")
    assert amounts(pair) == {"D1": 8000, "D2": -2000}
    assert [(r.key, r.reason) for r in pair.rejects] == [("D3", "bad_value")]

    shutil.rmtree(inbox)
    inbox.mkdir()
    write(
        inbox / "flag.csv",
        "流水号,时间,金额,借贷标志\nF1,20261009090000,80.00,2\nF2,20261009100000,20.00,1\n"
        "F3,20261009100000,-20.00,1\nF4,20261009100000,1.00,9\n",
    )
    flagged = source_for(
        inbox,
        columns={"id": "流水号", "paid_at": "时间", "amount_yuan": "金额", "direction": "借贷标志"},
        value_maps={"direction": {"1": "debit", "2": "credit"}},
    ).poll("payments")
    assert amounts(flagged) == {"F1": 8000, "F2": -2000, "F3": -2000}
    assert [(r.key, r.reason) for r in flagged.rejects] == [("F4", "bad_value")]


def test_date_and_time_in_two_columns_and_chinese_dates(inbox: Path) -> None:
    write(
        inbox / "s.csv",
        "流水号,交易日期,交易时间,金额,账号\n"
        "S1,20261009,91500,1.00,\n"
        "S2,2026年10月9日,10:05:00,2.00,6222000011112222\n"
        "S3,2026/10/9,,3.00,\n"
        "S4,2026-10-09,25:00:00,4.00,\n",
    )
    batch = source_for(
        inbox,
        columns={
            "id": "流水号",
            "paid_date": "交易日期",
            "paid_time": "交易时间",
            "amount_yuan": "金额",
            "account": "账号",
        },
    ).poll("payments")
    assert {p.id: (p.paid_at, p.account) for p in batch.records} == {
        "S1": (at(9, 15), ACCOUNT),  # the configured account where the cell is empty
        "S2": (at(10, 5), "6222000011112222"),
        "S3": (at(0), ACCOUNT),
    }
    assert [(r.key, r.reason) for r in batch.rejects] == [("S4", "bad_time")]


# --------------------------------------------------------------------------- atomic files


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(STATEMENT[:-1], id="no-final-newline"),
        pytest.param(STATEMENT[: STATEMENT.index("¥80")], id="cut-mid-row"),
        pytest.param(HEADER + LINES.splitlines(keepends=True)[0] + "T002,2026\n", id="short-row"),
        pytest.param(HEADER + 'T001,2026-10-09 09:15:00,"1,23', id="inside-quotes"),
        pytest.param(
            STATEMENT.encode()[: STATEMENT.encode().index("王".encode()) + 1],
            id="cut-mid-character",
        ),
    ],
)
def test_a_half_written_csv_is_rejected_whole_then_read_when_complete(
    inbox: Path, sqlite_ledger: SqliteLedger, partial: str | bytes
) -> None:
    path = write(inbox / "s.csv", partial)
    first = poll_and_commit(source_for(inbox, sqlite_ledger), sqlite_ledger)
    assert first.records == [] and first.rejects == []
    assert [(f.outcome, f.reason) for f in first.files] == [("rejected", "truncated")]
    assert first.files[0].detail
    # Rejected is consumed too: the same bytes are not read again.
    assert source_for(inbox, sqlite_ledger).poll("payments").files == []

    write(path, STATEMENT)
    second = poll_and_commit(source_for(inbox, sqlite_ledger), sqlite_ledger)
    assert amounts(second) == {"T001": 123450, "T002": 8000, "T003": -2000}
    assert sqlite_ledger.files() == [
        ("s.csv", "accepted", None),
        ("s.csv", "rejected", "truncated"),
    ]


def test_a_complete_csv_without_final_newline_when_the_bank_never_writes_one(
    inbox: Path,
) -> None:
    write(inbox / "s.csv", STATEMENT[:-1])
    batch = source_for(inbox, require_final_newline=False).poll("payments")
    assert sorted(amounts(batch)) == ["T001", "T002", "T003"]


def xlsx_bytes(tmp_path: Path) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.append(list(COLUMNS.values()))
    workbook.active.append(["X1", "2026-10-09 09:15:00", 10.5, None, None, None])
    workbook.save(tmp_path / "full.xlsx")
    return (tmp_path / "full.xlsx").read_bytes()


def test_a_truncated_xlsx_is_rejected_then_read_when_complete(
    tmp_path: Path, inbox: Path, sqlite_ledger: SqliteLedger
) -> None:
    content = xlsx_bytes(tmp_path)
    path = write(inbox / "s.xlsx", content[: len(content) // 2])
    first = poll_and_commit(source_for(inbox, sqlite_ledger), sqlite_ledger)
    assert first.records == []
    assert [(f.outcome, f.reason) for f in first.files] == [("rejected", "truncated")]
    write(path, content)
    second = poll_and_commit(source_for(inbox, sqlite_ledger), sqlite_ledger)
    assert amounts(second) == {"X1": 1050}


def test_a_file_that_is_not_a_workbook_is_unreadable(inbox: Path) -> None:
    write(inbox / "s.xlsx", "交易流水号,交易金额\n")
    write(inbox / "old.xls", b"\xd0\xcf\x11\xe0" + bytes(60))
    write(inbox / "empty.csv", b"")
    batch = source_for(inbox, patterns=["*.csv", "*.xls", "*.xlsx"]).poll("payments")
    assert {(f.name, f.outcome, f.reason) for f in batch.files} == {
        ("empty.csv", "rejected", "empty"),
        ("old.xls", "rejected", "unreadable"),
        ("s.xlsx", "rejected", "unreadable"),
    }
    assert {f.reason for f in batch.files} <= set(FILE_REJECT_REASONS)


# --------------------------------------------------------------------------- exactly once


def test_the_same_statement_twice_even_renamed_is_read_once(inbox: Path) -> None:
    ledger = MemoryFileLedger()
    write(inbox / "a.csv", STATEMENT)
    write(inbox / "b.csv", STATEMENT)  # the same content twice in one delivery
    source = source_for(inbox, ledger)
    first = source.poll("payments")
    assert [f.name for f in first.files] == ["a.csv"]
    assert len(first.records) == 3
    ledger.record(source.name, first.files)

    write(inbox / "c-resent.csv", STATEMENT)
    again = source.poll("payments")
    assert again.records == [] and again.files == [] and again.rows == 0


def test_without_recording_the_files_they_are_read_again(inbox: Path) -> None:
    """The source persists nothing: consuming is the caller's commit, not the poll."""
    write(inbox / "a.csv", STATEMENT)
    source = source_for(inbox)
    assert len(source.poll("payments").records) == 3
    assert len(source.poll("payments").records) == 3


def test_a_restart_between_files_loses_and_doubles_nothing(tmp_path: Path, inbox: Path) -> None:
    before = SqliteLedger(tmp_path / "state.db")
    write(inbox / "1.csv", STATEMENT)
    poll_and_commit(source_for(inbox, before), before)
    before.close()

    # The daemon restarts; meanwhile the next statement arrives and the first is resent.
    write(inbox / "2.csv", HEADER + "T004,2026-10-09 14:00:00,5.00,JK4,,\n")
    write(inbox / "1-again.csv", STATEMENT)
    after = SqliteLedger(tmp_path / "state.db")
    try:
        batch = poll_and_commit(source_for(inbox, after), after)
        assert [f.name for f in batch.files] == ["2.csv"]
        assert after.payments() == {"T001": 123450, "T002": 8000, "T003": -2000, "T004": 500}
        assert poll_and_commit(source_for(inbox, after), after).files == []
        assert [name for name, _, _ in after.files()] == ["1.csv", "2.csv"]
    finally:
        after.close()


def test_a_file_younger_than_min_age_waits_for_a_later_poll(inbox: Path) -> None:
    ledger = MemoryFileLedger()
    path = write(inbox / "s.csv", STATEMENT)
    source = source_for(inbox, ledger, min_age_seconds=60)
    young = source.poll("payments")
    assert young.files == [] and young.records == []
    old = time.time() - 120
    os.utime(path, (old, old))
    aged = source.poll("payments")
    assert [f.outcome for f in aged.files] == ["accepted"]
    assert len(aged.records) == 3


def test_patterns_are_case_blind_and_lock_files_ignored(inbox: Path) -> None:
    write(inbox / "20261009.CSV", STATEMENT)
    write(inbox / "~$20261009.xlsx", b"lock")
    write(inbox / ".20261010.csv.part", STATEMENT[:10])
    write(inbox / "notes.txt", "not a statement")
    batch = source_for(inbox).poll("payments")
    assert [f.name for f in batch.files] == ["20261009.CSV"]


# --------------------------------------------------------------------------- failures


def test_a_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="source bank"):
        source_for(tmp_path / "unmounted").poll("payments")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"columns": {"paid_at": "时间", "amount_yuan": "金额"}}, "columns.id"),
        ({"columns": COLUMNS | {"amout_yuan": "金额"}}, "amout_yuan"),
        ({"columns": {"id": "号", "paid_at": "时间"}}, "amount_yuan"),
        ({"account": None}, "account"),
        ({"encoding": "no-such-codec"}, "no-such-codec"),
    ],
)
def test_a_configuration_that_fits_no_statement_fails_before_consuming(
    inbox: Path, overrides: dict[str, Any], message: str
) -> None:
    write(inbox / "s.csv", STATEMENT)
    with pytest.raises(SourceQueryError, match=message):
        source_for(inbox, **overrides).poll("payments")


# --------------------------------------------------------------------------- privacy


def test_payer_names_and_id_numbers_never_reach_records_or_logs(inbox: Path) -> None:
    write(inbox / "ok.csv", STATEMENT)
    write(
        inbox / "bad-rows.csv",
        HEADER + "B1,2026-10-09 09:00,十元,,张三,330106199001011234\n"
        ",2026-10-09 09:00,1.00,,李四,330106198502023456\n",
    )
    write(inbox / "broken.csv", STATEMENT.replace("交易金额", "金额")[:-5])
    with capture_logs() as logs:
        batch = source_for(inbox).poll("payments")
    assert len(batch.records) == 3 and len(batch.rejects) == 2
    assert {f.outcome for f in batch.files} == {"accepted", "rejected"}
    shown = repr(logs) + repr(batch.records) + repr(batch.rejects) + repr(batch.files)
    for secret in NAMES + ID_NUMBERS:
        assert secret not in shown
    assert any(e["event"] == "row_rejected" for e in logs)
    assert any(e["event"] == "statement_rejected" for e in logs)


def test_a_yaml_configuration_with_a_relative_folder(tmp_path: Path) -> None:
    (tmp_path / "statements").mkdir()
    write(tmp_path / "statements" / "s.csv", "\n\n" + STATEMENT, encoding="gb18030")
    document = f"""
sources:
  - name: icbc_fees
    kind: statement_files
    directory: statements
    encoding: gb18030
    skip_rows: 2
    account: "{ACCOUNT}"
    min_age_seconds: 0
    columns: {{id: 交易流水号, paid_at: 交易时间, amount_yuan: 交易金额, reference: 摘要}}
"""
    config = parse_config(yaml.safe_load(document), tmp_path)
    source = open_source(config.sources[0], SH, HASHER)
    assert source.display_url == str(tmp_path / "statements")
    assert amounts(source.poll("payments")) == {"T001": 123450, "T002": 8000, "T003": -2000}
