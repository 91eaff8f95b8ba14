"""Render findings for ``jiancha scan``: one JSON object per line, or a table for people.

The JSON shape is the one-shot contract of DESIGN.md (rule, severity, subject_kind,
subject_id, center, department, window, item, due_at, evidence) plus the calendar
fields every finding carries; keys are stable and times are ISO 8601 with offset.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from monitor.model import Finding

CONTRACT_FIELDS = (
    "rule",
    "severity",
    "subject_kind",
    "subject_id",
    "center",
    "department",
    "window",
    "item",
    "due_at",
    "evidence",
    "calendar_confirmed",
    "calendar_version",
)


def to_json_line(finding: Finding) -> str:
    data = finding.model_dump(mode="json")
    return json.dumps({key: data[key] for key in CONTRACT_FIELDS}, ensure_ascii=False)


def render_table(findings: Iterable[Finding]) -> str:
    """A fixed-width table: 规则, 级别, 对象, 部门, 窗口, 事项, 到期."""
    header = ("规则 rule", "级别", "对象 subject", "部门", "窗口", "事项", "到期 due")
    rows = [
        (
            f.rule,
            {"red": "红牌", "yellow": "黄牌"}[f.severity.value],
            f"{f.subject_kind}:{f.subject_id}",
            f.department or "-",
            f.window or "-",
            f.item or "-",
            f.due_at.strftime("%Y-%m-%d %H:%M") if f.due_at else "-",
        )
        for f in findings
    ]
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    lines.append(f"{len(rows)} findings")
    return "\n".join(lines)


def _width(text: str) -> int:
    # CJK characters take two terminal columns.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
