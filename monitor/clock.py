"""The daemon's clock: real time, or a simulated instant that runs faster for demos.

Rules never read a clock (they get the instant); the daemon asks this one. A simulated
clock starts at a given instant and advances ``speed`` times faster than the monotonic
clock, so a demo hall can show cards turning yellow and red within minutes, and a
rehearsal can start the night before a deadline.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo


class Clock:
    def __init__(self, tz: ZoneInfo, start: dt.datetime | None = None, speed: float = 1.0) -> None:
        if start is not None and start.utcoffset() is None:
            raise ValueError("the simulated start must be timezone-aware")
        if speed <= 0:
            raise ValueError("the clock speed must be positive")
        self.tz = tz
        self._start = start
        self._speed = speed
        self._origin = time.monotonic()

    @property
    def simulated(self) -> bool:
        return self._start is not None

    def now(self) -> dt.datetime:
        if self._start is None:
            return dt.datetime.now(self.tz)
        elapsed = (time.monotonic() - self._origin) * self._speed
        return (self._start + dt.timedelta(seconds=elapsed)).astimezone(self.tz)
