"""Times and the calendar the rule and deadline tests share: Beijing time, 2024-2028.

2026 around the example dates (official schedule): Sun Sep 20 and Sat Oct 10 are
make-up working days; Fri Sep 25 (Mid-Autumn) and Oct 1-7 (National Day) are off.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy

SH = ZoneInfo("Asia/Shanghai")
POLICY = DeadlinePolicy()


@cache
def cal() -> WorkingCalendar:
    return WorkingCalendar(2024, 2028)


def t(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    """An instant in Beijing time."""
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=SH)


def eod(y: int, m: int, d: int) -> dt.datetime:
    """The end of a day (23:59:59), where deadlines fall."""
    return t(y, m, d, 23, 59, 59)
