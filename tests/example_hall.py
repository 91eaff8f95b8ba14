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
EXPECTED: dict[tuple[str, str], str | None] = {
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
    # --- off-system handling, fees and ratings (grace periods: 30 min, 3 working days) ---
    # Ticket C001 at W07 served Oct 8 14:10-14:30; no case at W07 (or ZJJ) by 15:00.
    ("offsystem.ticket_without_case", "Q20261008-0002"): "2026-10-08T15:00:00+08:00",
    # 1,300.00 deposited Sep 28 with 缴款单号 JK0999, which no case carries; grace Sep 29,
    # Sep 30, Oct 8 -> Oct 8.
    ("offsystem.payment_without_case", "ICBC20260928004"): "2026-10-08T23:59:59+08:00",
    # BJ017 accepted Sep 28 09:30, typed in Oct 8 15:00: more than 24 h later.
    ("offsystem.backfilled_case", "BJ017"): "2026-09-29T09:30:00+08:00",
    # BJ019 accepted at W05 on Sep 30 while BJ018 (same applicant, same item) is open.
    ("offsystem.double_acceptance", "BJ019"): None,
    # BJ020's 80.00 never arrived; BJ021's went to the basic account 7788 (accepted Sep 28:
    # grace Sep 29, Sep 30, Oct 8).
    ("fee.not_in_designated_account", "BJ020"): "2026-10-08T23:59:59+08:00",
    ("fee.not_in_designated_account", "BJ021"): "2026-10-08T23:59:59+08:00",
    # BJ022 paid 60.00 of 80.00; BJ023 was charged 120.00 against a standard of 80.00.
    ("fee.amount_mismatch", "BJ022"): None,
    ("fee.amount_mismatch", "BJ023"): None,
    # BJ024 charged for a free item; BJ025 for one whose fee was abolished on Sep 1.
    ("fee.unauthorized", "BJ024"): None,
    ("fee.unauthorized", "BJ025"): None,
    # PJ0001 非常不满意 on Thu Sep 10, never followed up; 15 working days: Sep 11 14 15 16
    # 17 18 20 21 22 23 24 28 29 30, Oct 8 -> Oct 8.
    ("evaluation.bad_rating_unresolved", "PJ0001"): "2026-10-08T23:59:59+08:00",
}
# Every rule of the design's table (and the rating follow-up) fires on the example.
EXPECTED_RULES = {rule for rule, _ in EXPECTED}

# Rows the example rejects: (entity, key, reason).
EXPECTED_REJECTS = {
    ("cases", "BJ012", "bad_time"),
    ("cases", "BJ013", "unknown_item"),
    ("steps", "BJ404/1", "unknown_case"),
}

# Sensitive values present in the example data that must never be printed.
SENSITIVE = (
    "张三",
    "李四",
    "330106199001011234",
    "330106198502023456",
    "91330106MA2AAAAA1X",
    "朱二十",
    "330106198001010033",
    "330106199802020011",  # a ticket's ID card
    "尤二二",  # a payer in a bank statement
    "等了很久没人理",  # a rating's comment
)


def example_config(url: str, window_url: str) -> Config:
    """The example configuration: its approval system at ``url``, its window system's API
    at ``window_url`` (an :class:`~monitor.demo.ExampleWindowSystem`)."""
    data = yaml.safe_load((EXAMPLE_DIR / "jiancha.yaml").read_text(encoding="utf-8"))
    sources = {source["name"]: source for source in data["sources"]}
    sources["approval"]["url"] = url
    sources["window"]["base_url"] = window_url
    return parse_config(data, Path(EXAMPLE_DIR))
