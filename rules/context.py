"""What every rule receives besides the data: the calendar, the clock and the parameters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy
from rules.parameters import RuleParameters


@dataclass(frozen=True)
class RuleContext:
    calendar: WorkingCalendar
    policy: DeadlinePolicy
    at: dt.datetime  # the evaluation instant; rules never read a clock themselves
    parameters: RuleParameters

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise ValueError("the evaluation instant must be timezone-aware")
