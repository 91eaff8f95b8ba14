"""Tests of the working-day calendar against hand-counted 2026 State Council schedule facts."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monitor.calendar import CalendarOverride, CalendarRangeError, WorkingCalendar

D = dt.date
# Fixed horizon so the tests do not depend on today's date (published_until() does).
CONFIRMED = D(2026, 12, 31)

# 2026 schedule (国务院办公厅关于2026年部分节假日安排的通知), as used below:
#   September 2026          October 2026            February 2026
#   Mo Tu We Th Fr Sa Su    Mo Tu We Th Fr Sa Su    Mo Tu We Th Fr Sa Su
#       1  2  3  4  5  6              1  2  3  4                       1
#    7  8  9 10 11 12 13     5  6  7  8  9 10 11     2  3  4  5  6  7  8
#   14 15 16 17 18 19 20    12 13 14 15 16 17 18     9 10 11 12 13 14 15
#   21 22 23 24 25 26 27    19 20 21 22 23 24 25    16 17 18 19 20 21 22
#   28 29 30                26 27 28 29 30 31       23 24 25 26 27 28
# National Day: Oct 1-7 off; Sun Sep 20 and Sat Oct 10 are make-up working days.
# Mid-Autumn: Fri Sep 25 off.
# Spring Festival: Feb 15-23 off; Sat Feb 14 and Sat Feb 28 are make-up working days.


@cache
def cal() -> WorkingCalendar:
    return WorkingCalendar(2024, 2028, confirmed_until=CONFIRMED)


# -- 2026 facts ------------------------------------------------------------------------


@pytest.mark.parametrize("day", [D(2026, 10, d) for d in range(1, 8)])
def test_national_day_week_is_off(day: dt.date) -> None:
    assert not cal().is_working_day(day)


@pytest.mark.parametrize("day", [D(2026, 2, d) for d in range(15, 24)])
def test_spring_festival_is_off(day: dt.date) -> None:
    assert not cal().is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [D(2026, 9, 20), D(2026, 10, 10), D(2026, 2, 14), D(2026, 2, 28)],
    ids=["sun-sep-20", "sat-oct-10", "sat-feb-14", "sat-feb-28"],
)
def test_make_up_weekend_days_are_working(day: dt.date) -> None:
    assert day.weekday() >= 5  # really a weekend day
    assert cal().is_working_day(day)


def test_ordinary_days() -> None:
    c = cal()
    assert c.is_working_day(D(2026, 10, 8))  # Thursday after the holiday
    assert c.is_working_day(D(2026, 3, 2))  # plain Monday
    assert not c.is_working_day(D(2026, 3, 7))  # plain Saturday
    assert not c.is_working_day(D(2026, 3, 8))  # plain Sunday
    assert not c.is_working_day(D(2026, 9, 19))  # Saturday before the Sep 20 make-up day
    assert not c.is_working_day(D(2026, 10, 11))  # Sunday after the Oct 10 make-up day
    assert not c.is_working_day(D(2026, 9, 25))  # Mid-Autumn Festival, a Friday


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # Wed Sep 30; Oct 1-7 off -> 1st = Thu Oct 8.
        (D(2026, 9, 30), 1, D(2026, 10, 8)),
        # Oct 8 Thu=1, Oct 9 Fri=2, Oct 10 Sat (make-up)=3.
        (D(2026, 9, 30), 3, D(2026, 10, 10)),
        # ... Oct 11 Sun off, Oct 12 Mon=4, Oct 13 Tue=5.
        (D(2026, 9, 30), 5, D(2026, 10, 13)),
        # Fri Sep 18: Sep 19 Sat off, Sep 20 Sun make-up = 1st.
        (D(2026, 9, 18), 1, D(2026, 9, 20)),
        # ... Sep 21 Mon = 2nd.
        (D(2026, 9, 18), 2, D(2026, 9, 21)),
        # Sat Sep 19 (off): Sep 20 = 1st.
        (D(2026, 9, 19), 1, D(2026, 9, 20)),
        # Sun Sep 20 itself never counts: Sep 21 = 1st.
        (D(2026, 9, 20), 1, D(2026, 9, 21)),
        # Thu Sep 24: Sep 25 Fri Mid-Autumn off, 26/27 weekend, Mon Sep 28 = 1st.
        (D(2026, 9, 24), 1, D(2026, 9, 28)),
        # Mon Sep 28: Sep 29=1, Sep 30=2, Oct 1-7 off, Oct 8=3.
        (D(2026, 9, 28), 3, D(2026, 10, 8)),
        # Fri Oct 9: Sat Oct 10 make-up = 1st; Oct 11 Sun off; Mon Oct 12 = 2nd.
        (D(2026, 10, 9), 1, D(2026, 10, 10)),
        (D(2026, 10, 9), 2, D(2026, 10, 12)),
        # Any day of the holiday week: Oct 8 = 1st, Oct 9 = 2nd.
        (D(2026, 10, 4), 1, D(2026, 10, 8)),
        (D(2026, 10, 7), 2, D(2026, 10, 9)),
        # Fri Feb 13: Sat Feb 14 make-up = 1st; Feb 15-23 off; Tue Feb 24 = 2nd.
        (D(2026, 2, 13), 1, D(2026, 2, 14)),
        (D(2026, 2, 13), 2, D(2026, 2, 24)),
        # Thu Feb 12: Feb 13=1, Feb 14=2, Feb 24=3, 25=4, 26=5.
        (D(2026, 2, 12), 5, D(2026, 2, 26)),
        # Sat Feb 14 (working) itself not counted: Feb 24 = 1st.
        (D(2026, 2, 14), 1, D(2026, 2, 24)),
        # Fri Feb 27: Sat Feb 28 make-up = 1st; Mar 1 Sun off; Mon Mar 2 = 2nd.
        (D(2026, 2, 27), 1, D(2026, 2, 28)),
        (D(2026, 2, 27), 2, D(2026, 3, 2)),
        # Tue Feb 24: 25=1, 26=2, 27=3, Sat 28=4, Mon Mar 2=5.
        (D(2026, 2, 24), 5, D(2026, 3, 2)),
        # n = 0 gives the day itself, even a non-working one.
        (D(2026, 10, 3), 0, D(2026, 10, 3)),
        (D(2026, 3, 2), 0, D(2026, 3, 2)),
    ],
)
def test_nth_working_day_after(start: dt.date, n: int, expected: dt.date) -> None:
    assert cal().nth_working_day_after(start, n) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (D(2026, 9, 30), D(2026, 9, 30), 0),  # same day
        (D(2026, 10, 3), D(2026, 10, 3), 0),  # same day, non-working
        (D(2026, 9, 30), D(2026, 10, 7), 0),  # (Sep 30, Oct 7]: all holiday
        (D(2026, 9, 30), D(2026, 10, 8), 1),  # Oct 8
        (D(2026, 9, 30), D(2026, 10, 10), 3),  # Oct 8, 9, 10 (Sat make-up)
        (D(2026, 9, 30), D(2026, 10, 11), 3),  # Oct 11 Sunday adds nothing
        # Sep 29, Sep 30, Oct 8, Oct 9, Oct 10, Oct 12.
        (D(2026, 9, 28), D(2026, 10, 12), 6),
        # Sep 20 (make-up), 21, 22, 23, 24 (25 Mid-Autumn), 28, 29, 30, Oct 8, 9, 10.
        (D(2026, 9, 18), D(2026, 10, 10), 11),
        (D(2026, 10, 8), D(2026, 9, 30), -1),  # reversed: minus (Sep 30, Oct 8]
        (D(2026, 10, 12), D(2026, 9, 28), -6),
        (D(2026, 2, 14), D(2026, 2, 24), 1),  # only Feb 24
        # Feb 14, 24, 25, 26, 27, 28.
        (D(2026, 2, 13), D(2026, 2, 28), 6),
        (D(2026, 2, 28), D(2026, 2, 13), -6),
    ],
)
def test_working_days_between(start: dt.date, end: dt.date, expected: int) -> None:
    assert cal().working_days_between(start, end) == expected


def test_range_errors() -> None:
    c = cal()
    below, above = D(2023, 12, 31), D(2029, 1, 1)
    with pytest.raises(CalendarRangeError):
        c.is_working_day(below)
    with pytest.raises(CalendarRangeError):
        c.is_working_day(above)
    with pytest.raises(CalendarRangeError):
        c.working_days_between(below, D(2026, 1, 5))
    with pytest.raises(CalendarRangeError):
        c.working_days_between(D(2026, 1, 5), above)
    with pytest.raises(CalendarRangeError):
        c.nth_working_day_after(below, 1)
    with pytest.raises(CalendarRangeError):
        c.nth_working_day_after(above, 0)
    # Fri 2028-12-29 is the last working day of the range (Dec 30/31 are a weekend):
    # one more working day would fall in 2029.
    assert c.nth_working_day_after(D(2028, 12, 28), 1) == D(2028, 12, 29)
    with pytest.raises(CalendarRangeError):
        c.nth_working_day_after(D(2028, 12, 29), 1)
    with pytest.raises(CalendarRangeError):
        c.nth_working_day_after(D(2028, 12, 1), 30)
    # The range edges themselves are fine.
    c.is_working_day(D(2024, 1, 1))
    c.is_working_day(D(2028, 12, 31))
    assert issubclass(CalendarRangeError, ValueError)


def test_negative_n_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        cal().nth_working_day_after(D(2026, 3, 2), -1)


def test_bad_year_range_rejected() -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(2027, 2026, confirmed_until=CONFIRMED)


# -- is_confirmed ----------------------------------------------------------------------


def test_is_confirmed_uses_confirmed_until() -> None:
    c = WorkingCalendar(2026, 2027, confirmed_until=D(2026, 12, 31))
    assert c.confirmed_until == D(2026, 12, 31)
    assert c.is_confirmed(D(2026, 1, 1))
    assert c.is_confirmed(D(2026, 12, 31))  # inclusive
    assert not c.is_confirmed(D(2027, 1, 1))
    early = WorkingCalendar(2026, 2027, confirmed_until=D(2026, 6, 30))
    assert early.is_confirmed(D(2026, 6, 30))
    assert not early.is_confirmed(D(2026, 7, 1))


# -- YAML override ---------------------------------------------------------------------

OVERRIDE_YAML = """\
confirmed_until: 2026-11-30
holidays:
  - 2026-03-04    # Wednesday: a local day off
workdays:
  - 2026-03-07    # Saturday: an extra working day
regions:
  xinjiang:
    holidays:
      - 2026-03-10  # Tuesday off in this region only
    workdays:
      - 2026-03-14  # Saturday worked in this region only
"""


def write(tmp_path: Path, text: str, name: str = "calendar.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_override_loads(tmp_path: Path) -> None:
    ov = CalendarOverride.load(write(tmp_path, OVERRIDE_YAML))
    assert ov.confirmed_until == D(2026, 11, 30)
    assert ov.holidays == [D(2026, 3, 4)]
    assert ov.workdays == [D(2026, 3, 7)]
    assert ov.regions["xinjiang"].holidays == [D(2026, 3, 10)]
    assert ov.regions["xinjiang"].workdays == [D(2026, 3, 14)]


def test_override_national_part_applied(tmp_path: Path) -> None:
    c = WorkingCalendar.build(2026, 2026, CalendarOverride.load(write(tmp_path, OVERRIDE_YAML)))
    assert c.region is None
    assert c.confirmed_until == D(2026, 11, 30)
    assert c.is_confirmed(D(2026, 11, 30))
    assert not c.is_confirmed(D(2026, 12, 1))
    assert not c.is_working_day(D(2026, 3, 4))  # extra holiday
    assert c.is_working_day(D(2026, 3, 7))  # extra workday
    # Region not selected: its days stay as the national calendar has them.
    assert c.is_working_day(D(2026, 3, 10))
    assert not c.is_working_day(D(2026, 3, 14))
    # Mon Mar 2: Tue 3 = 1, (Wed 4 off), Thu 5 = 2, Fri 6 = 3, Sat 7 = 4, Mon 9 = 5.
    assert c.nth_working_day_after(D(2026, 3, 2), 5) == D(2026, 3, 9)
    # Official days untouched.
    assert c.is_working_day(D(2026, 9, 20))
    assert not c.is_working_day(D(2026, 10, 1))


def test_override_region_applied_only_when_selected(tmp_path: Path) -> None:
    ov = CalendarOverride.load(write(tmp_path, OVERRIDE_YAML))
    c = WorkingCalendar.build(2026, 2026, ov, region="xinjiang")
    assert c.region == "xinjiang"
    assert not c.is_working_day(D(2026, 3, 10))
    assert c.is_working_day(D(2026, 3, 14))
    # National part still applies with a region.
    assert not c.is_working_day(D(2026, 3, 4))
    assert c.is_working_day(D(2026, 3, 7))
    # Mon Mar 9: (Tue 10 off), Wed 11 = 1, Thu 12 = 2, Fri 13 = 3, Sat 14 = 4, Mon 16 = 5.
    assert c.nth_working_day_after(D(2026, 3, 9), 5) == D(2026, 3, 16)
    national = WorkingCalendar.build(2026, 2026, ov)
    # Same date without the region: Tue 10, 11, 12, 13, Mon 16 = 5th is Mon 16 too, but
    # the 4th differs: Fri 13 nationally, Sat 14 in the region.
    assert national.nth_working_day_after(D(2026, 3, 9), 4) == D(2026, 3, 13)
    assert c.nth_working_day_after(D(2026, 3, 9), 4) == D(2026, 3, 14)
    assert national.version != c.version


def test_unknown_region_raises(tmp_path: Path) -> None:
    ov = CalendarOverride.load(write(tmp_path, OVERRIDE_YAML))
    with pytest.raises(ValueError, match="tibet"):
        WorkingCalendar.build(2026, 2026, ov, region="tibet")
    with pytest.raises(ValueError):
        WorkingCalendar.build(2026, 2026, None, region="xinjiang")


def test_date_in_both_lists_raises(tmp_path: Path) -> None:
    both = "holidays: [2026-03-04]\nworkdays: [2026-03-04]\n"
    ov = CalendarOverride.load(write(tmp_path, both))
    with pytest.raises(ValueError, match="both holiday and workday"):
        WorkingCalendar.build(2026, 2026, ov)
    # A regional workday that is a national override holiday clashes as well.
    mixed = "holidays: [2026-03-04]\nregions:\n  r1:\n    workdays: [2026-03-04]\n"
    ov = CalendarOverride.load(write(tmp_path, mixed, "mixed.yaml"))
    WorkingCalendar.build(2026, 2026, ov)  # region not selected: no clash
    with pytest.raises(ValueError, match="both holiday and workday"):
        WorkingCalendar.build(2026, 2026, ov, region="r1")


def test_override_unknown_key_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        CalendarOverride.load(write(tmp_path, "holiday: [2026-03-04]\n"))


def test_empty_override_file(tmp_path: Path) -> None:
    ov = CalendarOverride.load(write(tmp_path, ""))
    assert ov == CalendarOverride()


def test_version_stable_and_sensitive(tmp_path: Path) -> None:
    written = iter(range(100))

    def version(text: str, region: str | None = None) -> str:
        path = write(tmp_path, text, f"v{next(written)}.yaml")
        return WorkingCalendar.build(2026, 2026, CalendarOverride.load(path), region).version

    base = version(OVERRIDE_YAML)
    # Stable: same content, loaded again (and a fresh calendar object) -> same version.
    assert version(OVERRIDE_YAML) == base
    # Order of the lists does not matter.
    reordered = "confirmed_until: 2026-11-30\nholidays: [2026-03-05, 2026-03-04]\n"
    ordered = "confirmed_until: 2026-11-30\nholidays: [2026-03-04, 2026-03-05]\n"
    assert version(reordered) == version(ordered)
    # Every change shows.
    variants = {
        base,
        version(OVERRIDE_YAML.replace("2026-11-30", "2026-12-31")),
        version(OVERRIDE_YAML.replace("2026-03-04", "2026-03-05")),
        version(OVERRIDE_YAML.replace("2026-03-07", "2026-03-21")),
        version(OVERRIDE_YAML, region="xinjiang"),
        version(OVERRIDE_YAML.replace("2026-03-10", "2026-03-11"), region="xinjiang"),
    }
    assert len(variants) == 6
    assert base.startswith("holidays-")
    # The year range is part of the version too.
    ov = CalendarOverride.load(write(tmp_path, OVERRIDE_YAML))
    assert WorkingCalendar.build(2026, 2027, ov).version != base


# -- properties ------------------------------------------------------------------------

days_2024_2027 = st.dates(min_value=D(2024, 1, 1), max_value=D(2027, 12, 31))
counts = st.integers(min_value=0, max_value=200)


@settings(max_examples=300, deadline=None)
@given(days_2024_2027, st.integers(min_value=1, max_value=199))
def test_nth_strictly_increasing(day: dt.date, n: int) -> None:
    c = cal()
    assert c.nth_working_day_after(day, n) < c.nth_working_day_after(day, n + 1)
    assert c.nth_working_day_after(day, 0) <= day < c.nth_working_day_after(day, 1)


@settings(max_examples=300, deadline=None)
@given(days_2024_2027, st.integers(min_value=1, max_value=200))
def test_nth_is_working_day(day: dt.date, n: int) -> None:
    assert cal().is_working_day(cal().nth_working_day_after(day, n))


@settings(max_examples=300, deadline=None)
@given(days_2024_2027, counts)
def test_between_inverts_nth(day: dt.date, n: int) -> None:
    c = cal()
    target = c.nth_working_day_after(day, n)
    assert c.working_days_between(day, target) == n
    assert c.working_days_between(target, day) == -n


@settings(max_examples=300, deadline=None)
@given(days_2024_2027, st.integers(min_value=0, max_value=60))
def test_nth_matches_naive_walk(day: dt.date, n: int) -> None:
    c = cal()
    current, found = day, 0
    while found < n:
        current += dt.timedelta(days=1)
        if c.is_working_day(current):
            found += 1
    assert c.nth_working_day_after(day, n) == current


@settings(max_examples=300, deadline=None)
@given(days_2024_2027, days_2024_2027)
def test_between_matches_naive_count(a: dt.date, b: dt.date) -> None:
    c = cal()
    lo, hi = min(a, b), max(a, b)
    naive = sum(c.is_working_day(lo + dt.timedelta(days=i)) for i in range(1, (hi - lo).days + 1))
    assert c.working_days_between(lo, hi) == naive
    assert c.working_days_between(hi, lo) == -naive


@settings(max_examples=200, deadline=None)
@given(days_2024_2027)
def test_weekdays_and_weekends_follow_the_schedule(day: dt.date) -> None:
    # March, July, August and November carry no holiday and no make-up day in 2024-2027:
    # there a weekday works and a weekend day rests.
    if day.month in (3, 7, 8, 11):
        assert cal().is_working_day(day) == (day.weekday() < 5)


# --- a recorded version restored ----------------------------------------------------


def test_a_recorded_version_is_restored_exactly() -> None:
    local = WorkingCalendar(
        2025, 2027, extra_holidays=[dt.date(2026, 10, 15)], confirmed_until=dt.date(2026, 12, 31)
    )
    text = local.working_days_text()
    assert len(text) == (local.last_day - local.first_day).days + 1
    assert set(text) == {"0", "1"}
    again = WorkingCalendar.restore(
        local.version, local.first_day, text, local.confirmed_until, local.region
    )
    assert (again.version, again.first_day, again.last_day) == (
        local.version,
        local.first_day,
        local.last_day,
    )
    assert again.confirmed_until == dt.date(2026, 12, 31)
    day = local.first_day
    while day <= local.last_day:
        assert again.is_working_day(day) == local.is_working_day(day)
        day += dt.timedelta(days=1)
    assert not again.is_working_day(dt.date(2026, 10, 15))  # the local holiday came along
    assert again.is_working_day(dt.date(2026, 10, 10))  # a make-up Saturday too
    # Sat Oct 10 (make-up), Mon 12, Tue 13, Wed 14, (Thu 15 off), Fri 16.
    assert again.nth_working_day_after(dt.date(2026, 10, 9), 5) == dt.date(2026, 10, 16)
    assert again.working_days_between(dt.date(2026, 10, 9), dt.date(2026, 10, 19)) == 6
    with pytest.raises(CalendarRangeError):
        again.is_working_day(dt.date(2028, 1, 1))


def test_a_restored_calendar_refuses_text_that_is_not_days() -> None:
    with pytest.raises(ValueError, match="0 and 1"):
        WorkingCalendar.restore("v", dt.date(2026, 1, 1), "01x", dt.date(2026, 12, 31))
