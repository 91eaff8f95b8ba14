"""The example hall's expected findings at 2026-10-09 10:00, worked out by hand.

examples/vendor_pinyin/seed.sql explains each case; the counting is repeated here so a
reader can check it without running anything. 2026 calendar: Sep 20 (Sun) and Oct 10
(Sat) are make-up working days; Sep 25 and Oct 1–7 are off.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from monitor.config import Config, parse_config
from monitor.demo import EXAMPLE_DIR

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = dt.datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI)
AT_ISO = "2026-10-09T10:00:00+08:00"

# The keys of one `jiancha scan --format json` line, in order (DESIGN.md one-shot contract
# plus the calendar fields every finding carries).
CONTRACT = [
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
]

# (rule, subject_id) -> due_at
EXPECTED: dict[tuple[str, str], str] = {
    # BJ001: accepted Mon Sep 21, 10 days: 22 23 24 28 29 30 O8 O9 O10 O12 -> Oct 12;
    # remaining after Oct 9: Oct 10, Oct 12 = 2 <= max(1, ceil(0.2*10)) = 2.
    ("case.due_soon", "BJ001"): "2026-10-12T23:59:59+08:00",
    # BJ002: accepted Mon Sep 14, 10 days: 15 16 17 18 20 21 22 23 24 28 -> Sep 28, open.
    ("case.overdue", "BJ002"): "2026-09-28T23:59:59+08:00",
    # BJ003: accepted Thu Sep 17, 3 days: 18 20 21 -> Sep 21; concluded Sep 28 11:00.
    # Statutory 7: 22 23 24 28 -> Sep 28 23:59:59, so the law itself was kept.
    ("case.concluded_late", "BJ003"): "2026-09-21T23:59:59+08:00",
    # BJ004: accepted Thu Sep 10, 3 days: 11 14 15 -> Sep 15; statutory 7: 16 17 18 20.
    ("case.overdue", "BJ004"): "2026-09-15T23:59:59+08:00",
    ("case.statutory_overdue", "BJ004"): "2026-09-20T23:59:59+08:00",
    # BJ006: 专家评审 since Sep 22, 5 days allowed: 23 24 28 29 30 -> Sep 30; used 7.
    ("case.suspension_overdue", "BJ006/1"): "2026-09-30T23:59:59+08:00",
    # BJ008: immediate item accepted Oct 8 16:00, still open the next morning.
    ("case.overdue", "BJ008"): "2026-10-08T23:59:59+08:00",
    # BJ009: 审核 step from Sep 29, 2 days: Sep 30, Oct 8 -> Oct 8; still open.
    ("case.step_overdue", "BJ009/2"): "2026-10-08T23:59:59+08:00",
    # BJ010: the vendor's own promise, Sep 29, is used (catalogue: Oct 9, 3 days later).
    ("case.overdue", "BJ010"): "2026-09-29T23:59:59+08:00",
}

# Rows the example rejects: (entity, key, reason).
EXPECTED_REJECTS = {
    ("cases", "BJ012", "bad_time"),
    ("cases", "BJ013", "unknown_item"),
    ("steps", "BJ404/1", "unknown_case"),
}

# Sensitive values present in the example data that must never be printed.
SENSITIVE = ("张三", "李四", "330106199001011234", "330106198502023456", "91330106MA2AAAAA1X")


def example_config(url: str) -> Config:
    """The example configuration with its source pointed at ``url``."""
    data = yaml.safe_load((EXAMPLE_DIR / "jiancha.yaml").read_text(encoding="utf-8"))
    data["sources"][0]["url"] = url
    return parse_config(data, Path(EXAMPLE_DIR))
