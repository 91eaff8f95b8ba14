"""Tests of the scan output: the JSON-lines contract and the human table."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from zoneinfo import ZoneInfo

from exporters.findings import CONTRACT_FIELDS, render_table, to_json_line
from monitor.model import Finding, Severity
from tests.example_hall import CONTRACT

SH = ZoneInfo("Asia/Shanghai")


def overdue() -> Finding:
    return Finding(
        rule="case.overdue",
        severity=Severity.RED,
        subject_kind="case",
        subject_id="SB20261009001",
        case_id="SB20261009001",
        center="HZ01",
        department="市场监管局",
        window="W07",
        item="SX001",
        due_at=dt.datetime(2026, 10, 9, 23, 59, 59, tzinfo=SH),
        evidence={"promised_limit_days": 10, "procedure": "补正", "item_name": "食品经营许可"},
        calendar_confirmed=True,
        calendar_version="cn-2026.1",
    )


def due_soon() -> Finding:
    return Finding(
        rule="case.due_soon",
        severity=Severity.YELLOW,
        subject_kind="step",
        subject_id="SB20261009002/2",
        department=None,
        window=None,
        item="SX002",
        due_at=None,
    )


def test_contract_fields_constant() -> None:
    assert list(CONTRACT_FIELDS) == CONTRACT


def test_json_line_has_exactly_the_contract_keys() -> None:
    line = to_json_line(overdue())
    data = json.loads(line)
    assert list(data) == CONTRACT
    assert "case_id" not in data


def test_json_line_values() -> None:
    data = json.loads(to_json_line(overdue()))
    assert data == {
        "rule": "case.overdue",
        "severity": "red",
        "subject_kind": "case",
        "subject_id": "SB20261009001",
        "center": "HZ01",
        "department": "市场监管局",
        "window": "W07",
        "item": "SX001",
        "due_at": "2026-10-09T23:59:59+08:00",
        "evidence": {"promised_limit_days": 10, "procedure": "补正", "item_name": "食品经营许可"},
        "calendar_confirmed": True,
        "calendar_version": "cn-2026.1",
    }
    assert dt.datetime.fromisoformat(data["due_at"]).utcoffset() == dt.timedelta(hours=8)


def test_json_line_is_one_line_with_readable_chinese() -> None:
    line = to_json_line(overdue())
    assert "\n" not in line
    assert "市场监管局" in line
    assert "补正" in line
    assert "\\u" not in line


def test_json_line_nulls() -> None:
    data = json.loads(to_json_line(due_soon()))
    assert list(data) == CONTRACT
    assert data["due_at"] is None
    assert data["center"] is None
    assert data["department"] is None
    assert data["evidence"] == {}
    assert data["severity"] == "yellow"
    assert data["calendar_confirmed"] is True
    assert data["calendar_version"] == ""


def test_json_line_evidence_times_are_iso() -> None:
    finding = overdue().model_copy(
        update={"evidence": {"accepted_at": dt.datetime(2026, 9, 28, 9, 0, tzinfo=SH)}}
    )
    data = json.loads(to_json_line(finding))
    assert data["evidence"]["accepted_at"] == "2026-09-28T09:00:00+08:00"


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def column_starts(line: str, cells: list[str]) -> list[int]:
    """Display columns at which each cell starts, searching left to right."""
    starts = []
    position = 0
    for cell in cells:
        index = line.index(cell, position)
        starts.append(display_width(line[:index]))
        position = index + len(cell)
    return starts


def test_table_aligns_cjk_and_counts() -> None:
    findings = [overdue(), due_soon()]
    table = render_table(findings)
    lines = table.split("\n")
    assert len(lines) == 1 + len(findings) + 1
    assert lines[-1] == "2 findings"
    header = ["规则 rule", "级别", "对象 subject", "部门", "窗口", "事项", "到期 due"]
    rows = [
        [
            "case.overdue",
            "红牌",
            "case:SB20261009001",
            "市场监管局",
            "W07",
            "SX001",
            "2026-10-09 23:59",
        ],
        ["case.due_soon", "黄牌", "step:SB20261009002/2", "-", "-", "SX002", "-"],
    ]
    table_rows = [header, *rows]
    starts = [column_starts(line, cells) for line, cells in zip(lines, table_rows, strict=False)]
    assert starts[0] == starts[1] == starts[2]
    assert starts[0][0] == 0
    # Columns are separated by at least two columns of space.
    widths = [max(display_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for i in range(1, len(header)):
        assert starts[0][i] == starts[0][i - 1] + widths[i - 1] + 2
    # Every table line has the same display width.
    assert len({display_width(line) for line in lines[:-1]}) == 1


def test_table_due_time_is_local() -> None:
    table = render_table([overdue()])
    assert "2026-10-09 23:59" in table
    assert table.endswith("1 findings")


def test_empty_table() -> None:
    lines = render_table([]).split("\n")
    assert len(lines) == 2
    assert lines[0].startswith("规则 rule")
    assert lines[-1] == "0 findings"


def test_table_accepts_a_generator() -> None:
    table = render_table(f for f in [overdue(), due_soon(), overdue()])
    assert table.endswith("\n3 findings")
