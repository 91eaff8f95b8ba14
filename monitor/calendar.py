"""The official working-day calendar and the counting rules of Chinese administrative law.

Counting rules (行政许可法 art. 82 and the State Council's yearly holiday schedule):

* Time limits count **working days**. Saturdays and Sundays are rest days, statutory
  holidays are rest days even on a weekday, and a weekend day that the schedule moves
  to make a long holiday (调休, e.g. Saturday 2026-02-14) **is** a working day.
* The official schedule comes from ``holidays.China``, which carries both the holidays
  and the make-up working days. A YAML override adds local holidays (per region) and
  next year's schedule before the package has it.
* The package quietly *estimates* a year whose schedule is not published yet (no
  make-up days). Such a year must never be trusted silently: every date after
  ``confirmed_until`` is reported as unconfirmed, and every answer carries
  :attr:`WorkingCalendar.version` so a report can be reproduced after a correction.

Queries are O(1): the calendar precomputes, once, a per-day flag and a running count of
working days over its supported range, so a million deadlines cost a million list
look-ups, not a million walks through the calendar. A date outside the range raises
:class:`CalendarRangeError` rather than guessing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import holidays
import yaml
from pydantic import BaseModel, ConfigDict, Field


class CalendarRangeError(ValueError):
    """A date lies outside the years the calendar was built for."""


class RegionOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holidays: list[dt.date] = Field(default_factory=list)
    workdays: list[dt.date] = Field(default_factory=list)


class CalendarOverride(BaseModel):
    """The YAML override file: local holidays, extra working days, confirmed horizon."""

    model_config = ConfigDict(extra="forbid")

    confirmed_until: dt.date | None = None
    holidays: list[dt.date] = Field(default_factory=list)  # extra days off
    workdays: list[dt.date] = Field(default_factory=list)  # extra working days (调休)
    regions: dict[str, RegionOverride] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> CalendarOverride:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls.model_validate(data)


def published_until() -> dt.date:
    """The last day of the latest year for which ``holidays.China`` knows make-up days.

    A year with at least one 调休 Saturday/Sunday in the package was taken from a
    published State Council notice; the years after it are estimates.
    """
    cn = holidays.China(years=range(dt.date.today().year - 1, dt.date.today().year + 3))
    known = [d.year for d in cn.weekend_workdays]
    return dt.date(max(known), 12, 31)


class WorkingCalendar:
    """Working days of one region over a range of years, answered in O(1)."""

    def __init__(
        self,
        first_year: int,
        last_year: int,
        *,
        extra_holidays: Iterable[dt.date] = (),
        extra_workdays: Iterable[dt.date] = (),
        confirmed_until: dt.date | None = None,
        region: str | None = None,
        source_note: str = "",
    ) -> None:
        if first_year > last_year:
            raise ValueError(f"first_year {first_year} is after last_year {last_year}")
        self.first_day = dt.date(first_year, 1, 1)
        self.last_day = dt.date(last_year, 12, 31)
        self.confirmed_until = confirmed_until or published_until()
        self.region = region
        extra_holidays = frozenset(extra_holidays)
        extra_workdays = frozenset(extra_workdays)
        clash = extra_holidays & extra_workdays
        if clash:
            listed = ", ".join(d.isoformat() for d in sorted(clash))
            raise ValueError(f"dates both holiday and workday in the override: {listed}")

        official = holidays.China(years=range(first_year, last_year + 1))
        make_up = frozenset(official.weekend_workdays)
        flags = bytearray(self.last_day.toordinal() - self.first_day.toordinal() + 1)
        for offset in range(len(flags)):
            day = self.first_day + dt.timedelta(days=offset)
            if day in extra_workdays:
                working = True
            elif day in extra_holidays or day in official:
                working = False
            else:
                working = day.weekday() < 5 or day in make_up
            flags[offset] = working
        self._index(flags)

        fingerprint = hashlib.sha256(
            json.dumps(
                {
                    "range": [first_year, last_year],
                    "region": region,
                    "confirmed_until": self.confirmed_until.isoformat(),
                    "holidays": sorted(d.isoformat() for d in extra_holidays),
                    "workdays": sorted(d.isoformat() for d in extra_workdays),
                    "note": source_note,
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()[:12]
        self.version = f"holidays-{holidays.__version__}+{fingerprint}"

    def _index(self, flags: bytearray) -> None:
        """Per-day working flags (one byte per day from first_day) and the running counts."""
        self._base = self.first_day.toordinal()
        self._working = flags
        # _count_through[i]: working days from first_day through first_day + i, inclusive.
        self._count_through = [0] * len(flags)
        # _nth[k]: offset of the (k+1)-th working day of the range.
        self._nth: list[int] = []
        running = 0
        for offset, working in enumerate(flags):
            if working:
                self._nth.append(offset)
                running += 1
            self._count_through[offset] = running

    def working_days_text(self) -> str:
        """The calendar's days as text, "1" working and "0" rest, one per day from first_day.

        With :meth:`restore` it rebuilds this exact calendar later, whatever the
        ``holidays`` package or the override file then say: the state store keeps it
        beside every calendar version a finding or an SLA record names.
        """
        return self._working.translate(bytes.maketrans(b"\x00\x01", b"01")).decode()

    @classmethod
    def restore(
        cls,
        version: str,
        first_day: dt.date,
        working_days: str,
        confirmed_until: dt.date,
        region: str | None = None,
    ) -> WorkingCalendar:
        """The calendar of a recorded version, from :meth:`working_days_text`."""
        if set(working_days) - {"0", "1"}:
            raise ValueError("working_days must be a string of 0 and 1")
        calendar = cls.__new__(cls)
        calendar.first_day = first_day
        calendar.last_day = first_day + dt.timedelta(days=len(working_days) - 1)
        calendar.confirmed_until = confirmed_until
        calendar.region = region
        calendar.version = version
        flags = working_days.encode().translate(bytes.maketrans(b"01", b"\x00\x01"))
        calendar._index(bytearray(flags))
        return calendar

    @classmethod
    def build(
        cls,
        first_year: int,
        last_year: int,
        override: CalendarOverride | None = None,
        region: str | None = None,
    ) -> WorkingCalendar:
        """A calendar from the package plus an override file (its national and regional parts)."""
        override = override or CalendarOverride()
        extra_holidays = list(override.holidays)
        extra_workdays = list(override.workdays)
        if region is not None:
            if region not in override.regions:
                raise ValueError(f"region {region!r} is not in the calendar override")
            extra_holidays += override.regions[region].holidays
            extra_workdays += override.regions[region].workdays
        return cls(
            first_year,
            last_year,
            extra_holidays=extra_holidays,
            extra_workdays=extra_workdays,
            confirmed_until=override.confirmed_until,
            region=region,
        )

    # -- primitive queries -------------------------------------------------------------

    def _offset(self, day: dt.date) -> int:
        offset = day.toordinal() - self._base
        if offset < 0 or offset >= len(self._working):
            raise CalendarRangeError(
                f"{day} is outside the calendar range {self.first_day}..{self.last_day}"
            )
        return offset

    def is_working_day(self, day: dt.date) -> bool:
        return bool(self._working[self._offset(day)])

    def is_confirmed(self, day: dt.date) -> bool:
        """Whether the official schedule for ``day`` is published (not an estimate)."""
        return day <= self.confirmed_until

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]: the start day is not counted. Negative if end < start."""
        return self._count_through[self._offset(end)] - self._count_through[self._offset(start)]

    def nth_working_day_after(self, day: dt.date, n: int) -> dt.date:
        """The Nth working day after ``day`` (``day`` itself never counts); n = 0 gives ``day``."""
        if n < 0:
            raise ValueError(f"n must not be negative, got {n}")
        if n == 0:
            self._offset(day)
            return day
        index = self._count_through[self._offset(day)] + n - 1
        if index >= len(self._nth):
            raise CalendarRangeError(
                f"{n} working days after {day} is beyond the calendar range ending {self.last_day}"
            )
        return dt.date.fromordinal(self._base + self._nth[index])

    def first_day_within(self, day: dt.date, n: int) -> dt.date:
        """The earliest date from which at most ``n`` working days remain up to ``day``.

        That is the first date ``d`` with ``working_days_between(d - 1, day) <= n`` when
        walking back from ``day`` (a yellow card's first day); the calendar's first day
        when the walk would leave the range. One binary search over the running counts.
        """
        if n < 0:
            raise ValueError(f"n must not be negative, got {n}")
        target = self._count_through[self._offset(day)] - n
        offset = bisect.bisect_left(self._count_through, target)
        return dt.date.fromordinal(self._base + offset)
