"""Tests of case and step deadlines, suspensions and remaining days, with hand-counted answers."""

from __future__ import annotations

import datetime as dt
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.calendar import WorkingCalendar
from monitor.deadlines import (
    CaseDeadlines,
    DeadlinePolicy,
    _case_deadlines,
    case_deadlines,
    is_suspended,
    remaining_working_days,
    step_due_at,
    suspension_working_days,
)
from monitor.model import Case, Item, Step, Suspension
from tests.hall_time import POLICY, SH, eod, t

UTC = dt.UTC
D = dt.date

# Calendars used below (hand-checked):
#   February 2026           March 2026              September 2026          October 2026
#   Mo Tu We Th Fr Sa Su    Mo Tu We Th Fr Sa Su    Mo Tu We Th Fr Sa Su    Mo Tu We Th Fr Sa Su
#                      1                       1        1  2  3  4  5  6              1  2  3  4
#    2  3  4  5  6  7  8     2  3  4  5  6  7  8     7  8  9 10 11 12 13     5  6  7  8  9 10 11
#    9 10 11 12 13 14 15     9 10 11 12 13 14 15    14 15 16 17 18 19 20    12 13 14 15 16 17 18
#   16 17 18 19 20 21 22    16 17 18 19 20 21 22    21 22 23 24 25 26 27    19 20 21 22 23 24 25
#   23 24 25 26 27 28       23 24 25 26 27 28 29    28 29 30                26 27 28 29 30 31
#                           30 31
# 2026 official: Feb 15-23 off, Sat Feb 14 and Sat Feb 28 worked; Sep 25 (Mid-Autumn) off;
# Oct 1-7 off, Sun Sep 20 and Sat Oct 10 worked. March 2026 has no holiday.


@cache
def cal() -> WorkingCalendar:
    return WorkingCalendar(2024, 2028, confirmed_until=D(2026, 12, 31))


def item(promised: int, statutory: int | None = None) -> Item:
    return Item(
        code="I1",
        name="food business licence",
        statutory_limit_days=promised if statutory is None else statutory,
        promised_limit_days=promised,
    )


def susp(seq: int, start: dt.datetime, end: dt.datetime | None) -> Suspension:
    return Suspension(seq=seq, kind="补正", started_at=start, ended_at=end)


def case(
    accepted: dt.datetime,
    *,
    suspensions: tuple[Suspension, ...] = (),
    concluded: dt.datetime | None = None,
    promised_due: dt.datetime | None = None,
    steps: tuple[Step, ...] = (),
) -> Case:
    return Case(
        id="C1",
        item="I1",
        accepted_at=accepted,
        concluded_at=concluded,
        promised_due_at=promised_due,
        suspensions=suspensions,
        steps=steps,
    )


def deadlines(c: Case, it: Item, at: dt.datetime, policy: DeadlinePolicy = POLICY) -> CaseDeadlines:
    return case_deadlines(c, it, cal(), policy, at)


# -- counting from acceptance ----------------------------------------------------------


def test_issue_case_national_day() -> None:
    # Accepted Wed 2026-09-30 10:00, promised 5 working days. Sep 30 itself not counted;
    # Oct 1-7 off; Oct 8 Thu = 1, Oct 9 Fri = 2, Oct 10 Sat (make-up) = 3, Oct 11 Sun off,
    # Oct 12 Mon = 4, Oct 13 Tue = 5 -> due 2026-10-13 23:59:59 +08:00.
    # Statutory 20: Oct 13 = 5, Oct 14..16 = 6..8, Oct 19..23 = 9..13, Oct 26..30 = 14..18,
    # Nov 2 Mon = 19, Nov 3 Tue = 20 -> due 2026-11-03.
    r = deadlines(case(t(2026, 9, 30, 10)), item(5, 20), t(2026, 10, 9, 10))
    assert r.promised_due_at == eod(2026, 10, 13)
    assert r.promised_due_at.isoformat() == "2026-10-13T23:59:59+08:00"
    assert r.statutory_due_at == eod(2026, 11, 3)
    assert r.suspended_working_days == 0
    assert not r.suspended_now
    assert r.calendar_confirmed
    assert r.source_due_mismatch_days is None
    assert r.clock_stopped_at is None


@pytest.mark.parametrize(
    ("accepted", "limit", "due"),
    [
        # Fri Sep 18: Sep 19 Sat off, Sep 20 Sun make-up = 1, Sep 21 Mon = 2.
        (t(2026, 9, 18, 16), 2, D(2026, 9, 21)),
        (t(2026, 9, 18, 16), 1, D(2026, 9, 20)),
        # Thu Sep 24: Sep 25 Mid-Autumn, 26/27 weekend, Sep 28 = 1, 29 = 2, 30 = 3, Oct 8 = 4.
        (t(2026, 9, 24, 9), 4, D(2026, 10, 8)),
        # Fri Oct 9: Sat Oct 10 make-up = 1, Mon Oct 12 = 2, Oct 13 = 3.
        (t(2026, 10, 9, 9), 3, D(2026, 10, 13)),
        # Fri Feb 13: Sat Feb 14 = 1, Feb 15-23 off, Feb 24 = 2, 25 = 3, 26 = 4, 27 = 5.
        (t(2026, 2, 13, 11), 5, D(2026, 2, 27)),
        # Thu Feb 26: Feb 27 = 1, Sat Feb 28 = 2, Mar 2 = 3.
        (t(2026, 2, 26, 11), 3, D(2026, 3, 2)),
        # Accepted on a holiday (Feb 17): counting starts Feb 24 = 1, 25 = 2.
        (t(2026, 2, 17, 11), 2, D(2026, 2, 25)),
    ],
)
def test_hand_counted_deadlines(accepted: dt.datetime, limit: int, due: dt.date) -> None:
    r = deadlines(case(accepted), item(limit), accepted)
    assert r.promised_due_at == POLICY.end_of(due)
    assert r.statutory_due_at == POLICY.end_of(due)


def test_acceptance_day_not_counted() -> None:
    # Accepted Mon 2026-03-02 at 08:00: the 1st working day is Tue Mar 3, not Mar 2.
    r = deadlines(case(t(2026, 3, 2, 8)), item(1), t(2026, 3, 2, 9))
    assert r.promised_due_at == eod(2026, 3, 3)
    # Limit 5: Mar 3, 4, 5, 6, Mon Mar 9.
    r = deadlines(case(t(2026, 3, 2, 8)), item(5), t(2026, 3, 2, 9))
    assert r.promised_due_at == eod(2026, 3, 9)


def test_accepted_on_sunday_starts_monday() -> None:
    # Sun 2026-03-08: Mon Mar 9 = 1; Mar 9..13 = 1..5.
    r = deadlines(case(t(2026, 3, 8, 10)), item(1), t(2026, 3, 8, 10))
    assert r.promised_due_at == eod(2026, 3, 9)
    r = deadlines(case(t(2026, 3, 8, 10)), item(5), t(2026, 3, 8, 10))
    assert r.promised_due_at == eod(2026, 3, 13)
    # Saturday Mar 7 gives the same answers.
    r = deadlines(case(t(2026, 3, 7, 10)), item(5), t(2026, 3, 7, 10))
    assert r.promised_due_at == eod(2026, 3, 13)


def test_limit_zero_is_end_of_acceptance_day() -> None:
    r = deadlines(case(t(2026, 3, 2, 10, 30)), item(0, 0), t(2026, 3, 2, 11))
    assert r.promised_due_at.isoformat() == "2026-03-02T23:59:59+08:00"
    assert r.statutory_due_at.isoformat() == "2026-03-02T23:59:59+08:00"
    # Also on a non-working day: the acceptance day itself (Sun Mar 8).
    r = deadlines(case(t(2026, 3, 8, 10)), item(0, 0), t(2026, 3, 8, 11))
    assert r.promised_due_at == eod(2026, 3, 8)


def test_acceptance_date_is_the_hall_local_date() -> None:
    # 2026-03-01 17:30 UTC is Mon 2026-03-02 01:30 in Shanghai: the acceptance date is
    # Mar 2, so limit 1 -> Tue Mar 3 (not Mon Mar 2, as the UTC date Sun Mar 1 would give).
    accepted = dt.datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
    r = deadlines(case(accepted), item(1), accepted)
    assert r.promised_due_at == eod(2026, 3, 3)
    assert r.promised_due_at.utcoffset() == dt.timedelta(hours=8)


def test_end_of_day_configurable() -> None:
    policy = DeadlinePolicy(end_of_day=dt.time(17, 30))
    r = deadlines(case(t(2026, 9, 30, 10)), item(5), t(2026, 9, 30, 10), policy)
    # Same date as the issue case (Oct 13), at 17:30.
    assert r.promised_due_at.isoformat() == "2026-10-13T17:30:00+08:00"
    assert policy.end_of(D(2026, 3, 2)) == t(2026, 3, 2, 17, 30)
    assert DeadlinePolicy().end_of(D(2026, 3, 2)) == eod(2026, 3, 2)


def test_statutory_and_promised_counted_separately() -> None:
    # Accepted Mon Mar 2; promised 3 -> Mar 5 Thu; statutory 10 -> Mar 3..6 (4),
    # Mar 9..13 (9), Mon Mar 16 = 10.
    r = deadlines(case(t(2026, 3, 2, 9)), item(3, 10), t(2026, 3, 2, 9))
    assert r.promised_due_at == eod(2026, 3, 5)
    assert r.statutory_due_at == eod(2026, 3, 16)


# -- suspensions -----------------------------------------------------------------------
# Base case for this section: accepted Mon 2026-03-02 09:00, promised 5 -> due Mon Mar 9
# (Mar 3, 4, 5, 6, 9); statutory 10 -> Mon Mar 16.

BASE_ACCEPTED = t(2026, 3, 2, 9)
BASE_ITEM = item(5, 10)


def test_suspension_adds_working_days_start_not_counted() -> None:
    # Suspended Tue Mar 3 10:00, resumed Thu Mar 5 16:00: (Mar 3, Mar 5] = Mar 4, Mar 5 = 2.
    # Promised Mar 9 + 2 working days = Mar 10, Mar 11 -> Wed Mar 11.
    # Statutory Mar 16 + 2 = Wed Mar 18.
    s = susp(1, t(2026, 3, 3, 10), t(2026, 3, 5, 16))
    r = deadlines(case(BASE_ACCEPTED, suspensions=(s,)), BASE_ITEM, t(2026, 3, 6, 9))
    assert r.suspended_working_days == 2
    assert r.promised_due_at == eod(2026, 3, 11)
    assert r.statutory_due_at == eod(2026, 3, 18)
    assert not r.suspended_now


def test_suspension_same_day_adds_nothing() -> None:
    # (Mar 3, Mar 3] is empty.
    s = susp(1, t(2026, 3, 3, 10), t(2026, 3, 3, 16))
    r = deadlines(case(BASE_ACCEPTED, suspensions=(s,)), BASE_ITEM, t(2026, 3, 6, 9))
    assert r.suspended_working_days == 0
    assert r.promised_due_at == eod(2026, 3, 9)


def test_suspension_over_weekend_counts_working_days_only() -> None:
    # Fri Mar 6 -> Mon Mar 9: (Mar 6, Mar 9] = Sat, Sun, Mon -> 1 working day.
    # Promised Mar 9 + 1 = Tue Mar 10.
    s = susp(1, t(2026, 3, 6, 15), t(2026, 3, 9, 9))
    r = deadlines(case(BASE_ACCEPTED, suspensions=(s,)), BASE_ITEM, t(2026, 3, 9, 10))
    assert r.suspended_working_days == 1
    assert r.promised_due_at == eod(2026, 3, 10)


def test_suspension_over_holiday() -> None:
    # Accepted Mon Sep 28 2026, promised 5: Sep 29 = 1, Sep 30 = 2, Oct 8 = 3, Oct 9 = 4,
    # Sat Oct 10 = 5 -> due Oct 10. Suspended Wed Sep 30 -> Fri Oct 9:
    # (Sep 30, Oct 9] = Oct 8, Oct 9 = 2 working days. Oct 10 + 2 = Mon Oct 12, Tue Oct 13.
    s = susp(1, t(2026, 9, 30, 11), t(2026, 10, 9, 9))
    r = deadlines(case(t(2026, 9, 28, 9), suspensions=(s,)), item(5), t(2026, 10, 9, 10))
    assert r.suspended_working_days == 2
    assert r.promised_due_at == eod(2026, 10, 13)


def test_overlapping_suspensions_count_once() -> None:
    # A: Mar 3 -> Mar 5, B: Mar 4 -> Mar 6. Union (Mar 3, Mar 6] = Mar 4, 5, 6 = 3
    # (not 2 + 2 = 4). Promised Mar 9 + 3 = Mar 10, 11, 12 -> Thu Mar 12.
    a = susp(1, t(2026, 3, 3, 10), t(2026, 3, 5, 10))
    b = susp(2, t(2026, 3, 4, 10), t(2026, 3, 6, 10))
    r = deadlines(case(BASE_ACCEPTED, suspensions=(a, b)), BASE_ITEM, t(2026, 3, 10, 9))
    assert r.suspended_working_days == 3
    assert r.promised_due_at == eod(2026, 3, 12)
    # Order in the tuple does not matter.
    r2 = deadlines(case(BASE_ACCEPTED, suspensions=(b, a)), BASE_ITEM, t(2026, 3, 10, 9))
    assert r2 == r


def test_nested_and_disjoint_suspensions() -> None:
    # Outer Mar 3 -> Mar 10 = (Mar 3, Mar 10] = 4, 5, 6, 9, 10 = 5; inner Mar 4 -> Mar 5
    # inside it adds nothing. Disjoint Mar 12 -> Mar 13: 13 = 1. Total 6.
    outer = susp(1, t(2026, 3, 3, 10), t(2026, 3, 10, 10))
    inner = susp(2, t(2026, 3, 4, 10), t(2026, 3, 5, 10))
    later = susp(3, t(2026, 3, 12, 10), t(2026, 3, 13, 10))
    r = deadlines(
        case(BASE_ACCEPTED, suspensions=(outer, inner, later)), BASE_ITEM, t(2026, 3, 16, 9)
    )
    assert r.suspended_working_days == 6
    # Mar 9 + 6: Mar 10, 11, 12, 13, 16, 17 -> Tue Mar 17.
    assert r.promised_due_at == eod(2026, 3, 17)


def test_back_to_back_suspensions() -> None:
    # (Mar 3, Mar 5] and (Mar 5, Mar 6]: 4, 5 and 6 = 3, same as one (Mar 3, Mar 6].
    a = susp(1, t(2026, 3, 3, 10), t(2026, 3, 5, 10))
    b = susp(2, t(2026, 3, 5, 10), t(2026, 3, 6, 10))
    r = deadlines(case(BASE_ACCEPTED, suspensions=(a, b)), BASE_ITEM, t(2026, 3, 10, 9))
    assert r.suspended_working_days == 3


def test_open_suspension_pauses_and_counts_to_now() -> None:
    # Suspended Tue Mar 3 10:00, still open. As of Thu Mar 5 12:00: (Mar 3, Mar 5] = 2.
    s = susp(1, t(2026, 3, 3, 10), None)
    c = case(BASE_ACCEPTED, suspensions=(s,))
    r = deadlines(c, BASE_ITEM, t(2026, 3, 5, 12))
    assert r.suspended_now
    assert r.suspended_working_days == 2
    assert r.promised_due_at == eod(2026, 3, 11)  # Mar 9 + 2
    # A day later it has grown to 3 (Mar 4, 5, 6) and the deadline moved with it.
    r = deadlines(c, BASE_ITEM, t(2026, 3, 6, 12))
    assert r.suspended_working_days == 3
    assert r.promised_due_at == eod(2026, 3, 12)
    # On the start day itself: paused, nothing counted yet.
    r = deadlines(c, BASE_ITEM, t(2026, 3, 3, 11))
    assert r.suspended_now
    assert r.suspended_working_days == 0
    assert r.promised_due_at == eod(2026, 3, 9)


def test_suspension_ending_after_at_is_still_running_as_of_at() -> None:
    # Suspended Mar 3 -> Mar 10 in the record, but evaluated at Thu Mar 5 12:00:
    # the resume has not happened yet; counts (Mar 3, Mar 5] = 2 and pauses.
    s = susp(1, t(2026, 3, 3, 10), t(2026, 3, 10, 10))
    r = deadlines(case(BASE_ACCEPTED, suspensions=(s,)), BASE_ITEM, t(2026, 3, 5, 12))
    assert r.suspended_now
    assert r.suspended_working_days == 2
    # After the resume: the full (Mar 3, Mar 10] = 4, 5, 6, 9, 10 = 5, not paused.
    r = deadlines(case(BASE_ACCEPTED, suspensions=(s,)), BASE_ITEM, t(2026, 3, 10, 11))
    assert not r.suspended_now
    assert r.suspended_working_days == 5
    # Mar 9 + 5 = Mar 10, 11, 12, 13, 16 -> Mon Mar 16.
    assert r.promised_due_at == eod(2026, 3, 16)


def test_suspension_starting_after_at_is_ignored() -> None:
    s = susp(1, t(2026, 3, 6, 10), t(2026, 3, 10, 10))
    c = case(BASE_ACCEPTED, suspensions=(s,))
    r = deadlines(c, BASE_ITEM, t(2026, 3, 5, 12))
    assert not r.suspended_now
    assert r.suspended_working_days == 0
    assert r.promised_due_at == eod(2026, 3, 9)
    # Same day, one second before it starts: still ignored.
    r = deadlines(c, BASE_ITEM, t(2026, 3, 6, 9, 59, 59))
    assert not r.suspended_now
    assert r.suspended_working_days == 0
    assert not is_suspended(c, t(2026, 3, 6, 9, 59, 59))
    assert is_suspended(c, t(2026, 3, 6, 10))
    assert not is_suspended(c, t(2026, 3, 10, 10))  # resumed at that instant


def test_conclusion_after_at_means_open() -> None:
    # Concluded Mar 6 in the record; as of Mar 5 it is still open.
    c = case(BASE_ACCEPTED, concluded=t(2026, 3, 6, 15))
    r = deadlines(c, BASE_ITEM, t(2026, 3, 5, 12))
    assert r.clock_stopped_at is None
    r = deadlines(c, BASE_ITEM, t(2026, 3, 6, 15))
    assert r.clock_stopped_at == t(2026, 3, 6, 15)


def test_conclusion_stops_suspension_count() -> None:
    # Suspended Mar 3, never resumed, concluded Thu Mar 5 15:00; evaluated Mar 20:
    # the suspension counts only up to the conclusion: (Mar 3, Mar 5] = 2; not paused.
    s = susp(1, t(2026, 3, 3, 10), None)
    c = case(BASE_ACCEPTED, suspensions=(s,), concluded=t(2026, 3, 5, 15))
    r = deadlines(c, BASE_ITEM, t(2026, 3, 20, 9))
    assert r.clock_stopped_at == t(2026, 3, 5, 15)
    assert not r.suspended_now
    assert r.suspended_working_days == 2
    assert r.promised_due_at == eod(2026, 3, 11)
    # A suspension started after the conclusion does not exist for the case.
    late = susp(2, t(2026, 3, 10, 10), t(2026, 3, 12, 10))
    c = case(BASE_ACCEPTED, suspensions=(late,), concluded=t(2026, 3, 5, 15))
    r = deadlines(c, BASE_ITEM, t(2026, 3, 20, 9))
    assert r.suspended_working_days == 0


def test_suspension_working_days_function() -> None:
    a = susp(1, t(2026, 3, 3, 10), t(2026, 3, 5, 10))
    b = susp(2, t(2026, 3, 4, 10), t(2026, 3, 6, 10))
    at = t(2026, 3, 20)
    assert suspension_working_days((), cal(), POLICY, at) == 0
    assert suspension_working_days((a, b), cal(), POLICY, at) == 3
    # Clipped to start no earlier than Mar 4: (Mar 4, Mar 6] = 5, 6 = 2.
    assert suspension_working_days((a, b), cal(), POLICY, at, not_before=D(2026, 3, 4)) == 2
    # Clipped to end no later than Mar 5: (Mar 3, Mar 5] = 2.
    assert suspension_working_days((a, b), cal(), POLICY, at, until=D(2026, 3, 5)) == 2


# -- source-supplied promise -----------------------------------------------------------


def test_source_promise_used_instead_of_catalogue() -> None:
    # Catalogue: Mar 9. Source says Tue Mar 10 17:00 -> the date Mar 10 is the promise;
    # (Mar 9, Mar 10] = 1 working day apart -> not reported.
    c = case(BASE_ACCEPTED, promised_due=t(2026, 3, 10, 17))
    r = deadlines(c, BASE_ITEM, t(2026, 3, 3, 9))
    assert r.promised_due_at == eod(2026, 3, 10)
    assert r.source_due_mismatch_days is None
    # The statutory deadline still comes from the catalogue.
    assert r.statutory_due_at == eod(2026, 3, 16)


@pytest.mark.parametrize(
    ("source", "mismatch"),
    [
        (t(2026, 3, 9, 0), None),  # same date
        (t(2026, 3, 10, 0), None),  # +1: Mar 10
        (t(2026, 3, 6, 18), None),  # -1: (Mar 6, Mar 9] = Mar 9
        (t(2026, 3, 8, 12), None),  # Sunday: (Mar 8, Mar 9] = 1 -> -1
        (t(2026, 3, 11, 0), 2),  # Mar 10, 11
        (t(2026, 3, 12, 0), 3),  # Mar 10, 11, 12
        (t(2026, 3, 16, 0), 5),  # Mar 10, 11, 12, 13, 16
        (t(2026, 3, 5, 0), -2),  # -(Mar 6, Mar 9)
        (t(2026, 3, 4, 0), -3),  # -(Mar 5, 6, 9)
    ],
)
def test_source_promise_mismatch(source: dt.datetime, mismatch: int | None) -> None:
    r = deadlines(case(BASE_ACCEPTED, promised_due=source), BASE_ITEM, t(2026, 3, 3, 9))
    assert r.source_due_mismatch_days == mismatch
    assert r.promised_due_at == POLICY.end_of(source.date())


def test_source_promise_uses_local_date() -> None:
    # 2026-03-11 16:00 UTC is Mar 12 00:00 in Shanghai -> Mar 12, 3 days after Mar 9.
    source = dt.datetime(2026, 3, 11, 16, 0, tzinfo=UTC)
    r = deadlines(case(BASE_ACCEPTED, promised_due=source), BASE_ITEM, t(2026, 3, 3, 9))
    assert r.promised_due_at == eod(2026, 3, 12)
    assert r.source_due_mismatch_days == 3


def test_source_promise_extended_by_suspension() -> None:
    # Source promise Mar 10; suspended (Mar 3, Mar 5] = 2 -> Mar 11, Mar 12.
    s = susp(1, t(2026, 3, 3, 10), t(2026, 3, 5, 16))
    c = case(BASE_ACCEPTED, promised_due=t(2026, 3, 10, 17), suspensions=(s,))
    r = deadlines(c, BASE_ITEM, t(2026, 3, 6, 9))
    assert r.promised_due_at == eod(2026, 3, 12)


# -- calendar confirmation -------------------------------------------------------------


def test_calendar_confirmed_false_beyond_confirmed_until() -> None:
    short = WorkingCalendar(2024, 2028, confirmed_until=D(2026, 10, 31))
    # Accepted Tue Oct 20 2026, promised 5: Oct 21, 22, 23, 26, 27 -> Oct 27 (confirmed).
    # Statutory 5 too -> confirmed.
    c = case(t(2026, 10, 20, 9))
    r = case_deadlines(c, item(5, 5), short, POLICY, t(2026, 10, 20, 9))
    assert r.promised_due_at == eod(2026, 10, 27)
    assert r.calendar_confirmed
    # Statutory 10: Oct 27 = 5, 28, 29, 30 = 8, Nov 2 = 9, Nov 3 = 10 -> beyond Oct 31.
    r = case_deadlines(c, item(5, 10), short, POLICY, t(2026, 10, 20, 9))
    assert r.statutory_due_at == eod(2026, 11, 3)
    assert not r.calendar_confirmed
    # Promised beyond as well: accepted Fri Oct 30, 1 day -> Mon Nov 2.
    r = case_deadlines(case(t(2026, 10, 30, 9)), item(1), short, POLICY, t(2026, 10, 30, 9))
    assert r.promised_due_at == eod(2026, 11, 2)
    assert not r.calendar_confirmed
    # The last confirmed day itself is confirmed: accepted Fri Oct 30, limit 0 -> Oct 30;
    # with confirmed_until Oct 30 it still counts.
    edge = WorkingCalendar(2024, 2028, confirmed_until=D(2026, 10, 30))
    r = case_deadlines(case(t(2026, 10, 30, 9)), item(0), edge, POLICY, t(2026, 10, 30, 9))
    assert r.calendar_confirmed


def test_calendar_confirmed_false_into_estimated_year() -> None:
    # Accepted Mon Dec 28 2026, 5 days: Dec 29, 30, 31, (Jan 1 New Year), Jan 4, Jan 5 ->
    # due in 2027, which is beyond confirmed_until 2026-12-31.
    r = deadlines(case(t(2026, 12, 28, 9)), item(5), t(2026, 12, 28, 9))
    assert r.promised_due_at.year == 2027
    assert not r.calendar_confirmed


# -- remaining working days ------------------------------------------------------------


def test_remaining_working_days() -> None:
    due = eod(2026, 3, 9)  # Mon

    def rem(at: dt.datetime) -> int:
        return remaining_working_days(due, cal(), POLICY, at)

    assert rem(t(2026, 3, 9, 8)) == 0  # due today
    assert rem(t(2026, 3, 9, 23, 59, 59)) == 0
    assert rem(t(2026, 3, 6, 10)) == 1  # Fri: (Mar 6, Mar 9] = Mar 9
    assert rem(t(2026, 3, 7, 10)) == 1  # Sat: Mar 9
    assert rem(t(2026, 3, 5, 10)) == 2  # Thu: Mar 6, 9
    assert rem(t(2026, 3, 2, 10)) == 5  # Mon: Mar 3, 4, 5, 6, 9
    assert rem(t(2026, 3, 10, 10)) == -1  # Tue: one working day late (Mar 10)
    assert rem(t(2026, 3, 11, 10)) == -2  # Wed: Mar 10, 11
    assert rem(t(2026, 3, 16, 10)) == -5  # Mon: Mar 10..13, 16


def test_remaining_working_days_weekend_after_due() -> None:
    # Due Fri Mar 6; on Sat Mar 7 no working day has passed since the due date:
    # -(working days in (Mar 6, Mar 7]) = 0, the same figure as "due today". The due
    # instant (not this count) is what tells an overdue case apart.
    due = eod(2026, 3, 6)
    assert remaining_working_days(due, cal(), POLICY, t(2026, 3, 7, 10)) == 0
    assert remaining_working_days(due, cal(), POLICY, t(2026, 3, 9, 10)) == -1  # Mon


def test_remaining_working_days_over_national_day() -> None:
    # Due Tue Oct 13 (the issue case). On Wed Sep 30: Oct 8, 9, 10, 12, 13 = 5.
    # On Sat Oct 3: the same 5. On Sat Oct 10 (make-up): Oct 12, 13 = 2.
    due = eod(2026, 10, 13)
    assert remaining_working_days(due, cal(), POLICY, t(2026, 9, 30, 10)) == 5
    assert remaining_working_days(due, cal(), POLICY, t(2026, 10, 3, 10)) == 5
    assert remaining_working_days(due, cal(), POLICY, t(2026, 10, 10, 10)) == 2


def test_remaining_uses_local_dates() -> None:
    # at = Mar 8 16:30 UTC = Mon Mar 9 00:30 Shanghai -> due today -> 0.
    due = eod(2026, 3, 9)
    at = dt.datetime(2026, 3, 8, 16, 30, tzinfo=UTC)
    assert remaining_working_days(due, cal(), POLICY, at) == 0


# -- steps -----------------------------------------------------------------------------


def test_step_without_limit() -> None:
    step = Step(seq=1, name="承办", started_at=t(2026, 3, 3, 9))
    c = case(BASE_ACCEPTED, steps=(step,))
    assert step_due_at(step, c, cal(), POLICY, t(2026, 3, 4, 9)) is None


def test_step_with_limit() -> None:
    # Step started Tue Mar 3 09:00 with 2 days: Mar 4 = 1, Mar 5 = 2 -> Thu Mar 5.
    step = Step(seq=1, name="审核", started_at=t(2026, 3, 3, 9), limit_days=2)
    c = case(BASE_ACCEPTED, steps=(step,))
    assert step_due_at(step, c, cal(), POLICY, t(2026, 3, 4, 9)) == eod(2026, 3, 5)
    # Over the Spring Festival: started Fri Feb 13, 2 days: Sat Feb 14 = 1, Feb 24 = 2.
    step = Step(seq=1, name="审核", started_at=t(2026, 2, 13, 9), limit_days=2)
    c = case(t(2026, 2, 12, 9), steps=(step,))
    assert step_due_at(step, c, cal(), POLICY, t(2026, 2, 13, 9)) == eod(2026, 2, 24)
    # Limit 0: end of its start day.
    step = Step(seq=1, started_at=t(2026, 3, 3, 9), limit_days=0)
    c = case(BASE_ACCEPTED, steps=(step,))
    assert step_due_at(step, c, cal(), POLICY, t(2026, 3, 3, 9)) == eod(2026, 3, 3)


def test_step_extended_by_suspension_during_step() -> None:
    # Step Tue Mar 3 09:00, 2 days -> Mar 5. Suspension Wed Mar 4 10:00 -> Thu Mar 5 10:00:
    # (Mar 4, Mar 5] = 1 -> Mar 5 + 1 = Fri Mar 6.
    step = Step(seq=1, started_at=t(2026, 3, 3, 9), limit_days=2)
    s = susp(1, t(2026, 3, 4, 10), t(2026, 3, 5, 10))
    c = case(BASE_ACCEPTED, steps=(step,), suspensions=(s,))
    assert step_due_at(step, c, cal(), POLICY, t(2026, 3, 6, 9)) == eod(2026, 3, 6)


def test_step_ignores_suspensions_outside_it() -> None:
    # Suspension before the step (Mon Mar 2 10:00 -> Tue Mar 3 08:00) ends on the step's
    # start day: clipped to (Mar 3, Mar 3] = 0. A suspension after the step ended
    # (Mar 6 -> Mar 9) has not happened as of the step's end. Due stays Mar 5.
    step = Step(seq=2, started_at=t(2026, 3, 3, 9), ended_at=t(2026, 3, 5, 12), limit_days=2)
    before = susp(1, t(2026, 3, 2, 10), t(2026, 3, 3, 8))
    after = susp(2, t(2026, 3, 6, 10), t(2026, 3, 9, 10))
    c = case(BASE_ACCEPTED, steps=(step,), suspensions=(before, after))
    assert step_due_at(step, c, cal(), POLICY, t(2026, 3, 10, 9)) == eod(2026, 3, 5)


# -- properties ------------------------------------------------------------------------

instants = st.datetimes(
    min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2026, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(tzinfo=SH))
limits = st.integers(min_value=0, max_value=40)


@st.composite
def suspension_lists(draw: st.DrawFn, near: dt.datetime) -> tuple[Suspension, ...]:
    out = []
    for seq in range(draw(st.integers(min_value=0, max_value=3))):
        start = near + dt.timedelta(minutes=draw(st.integers(0, 60 * 24 * 40)))
        length = draw(st.none() | st.integers(0, 60 * 24 * 30))
        end = None if length is None else start + dt.timedelta(minutes=length)
        out.append(susp(seq, start, end))
    return tuple(out)


@settings(max_examples=200, deadline=None)
@given(st.data(), instants, limits, limits)
def test_monotonic_in_limit(data: st.DataObject, accepted: dt.datetime, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    suspensions = data.draw(suspension_lists(accepted))
    at = accepted + dt.timedelta(days=data.draw(st.integers(0, 90)))
    c = case(accepted, suspensions=suspensions)
    r_lo = deadlines(c, item(lo, hi), at)
    r_hi = deadlines(c, item(hi, hi), at)
    assert r_lo.promised_due_at <= r_hi.promised_due_at
    assert r_lo.promised_due_at <= r_lo.statutory_due_at
    if lo < hi:
        assert r_lo.promised_due_at < r_hi.promised_due_at


@settings(max_examples=200, deadline=None)
@given(st.data(), instants, st.integers(0, 60 * 24 * 120), limits)
def test_monotonic_in_acceptance(
    data: st.DataObject, early: dt.datetime, gap_minutes: int, limit: int
) -> None:
    # Both cases share the same suspensions; the gap is kept within months so that an
    # open suspension cannot run past the end of the calendar range.
    late = early + dt.timedelta(minutes=gap_minutes)
    suspensions = data.draw(suspension_lists(early))
    at = late + dt.timedelta(days=data.draw(st.integers(0, 90)))
    r_early = deadlines(case(early, suspensions=suspensions), item(limit), at)
    r_late = deadlines(case(late, suspensions=suspensions), item(limit), at)
    assert r_early.promised_due_at <= r_late.promised_due_at
    assert r_early.statutory_due_at <= r_late.statutory_due_at


@settings(max_examples=200, deadline=None)
@given(st.data(), instants, limits)
def test_suspension_never_shortens(data: st.DataObject, accepted: dt.datetime, limit: int) -> None:
    suspensions = data.draw(suspension_lists(accepted))
    extra = data.draw(suspension_lists(accepted))
    extra = tuple(s.model_copy(update={"seq": 100 + s.seq}) for s in extra)
    at = accepted + dt.timedelta(days=data.draw(st.integers(0, 90)))
    it = item(limit, limit + 5)
    base = deadlines(case(accepted, suspensions=suspensions), it, at)
    more = deadlines(case(accepted, suspensions=suspensions + extra), it, at)
    assert more.suspended_working_days >= base.suspended_working_days
    assert more.promised_due_at >= base.promised_due_at
    assert more.statutory_due_at >= base.statutory_due_at
    without = deadlines(case(accepted), it, at)
    assert base.promised_due_at >= without.promised_due_at


@settings(max_examples=200, deadline=None)
@given(instants, limits)
def test_due_is_working_day_and_exact_count(accepted: dt.datetime, limit: int) -> None:
    # Without suspensions: for limit >= 1 the due date is a working day exactly `limit`
    # working days after the acceptance date, and never before the acceptance day.
    r = deadlines(case(accepted), item(limit), accepted)
    due = r.promised_due_at.date()
    day = accepted.date()
    assert cal().working_days_between(day, due) == limit
    assert due >= day
    if limit >= 1:
        assert cal().is_working_day(due)
        assert due > day
    assert r.promised_due_at.time() == dt.time(23, 59, 59)
    assert r.promised_due_at.utcoffset() == dt.timedelta(hours=8)


def naive_suspended_days(c: Case, at: dt.datetime) -> int:
    """Reference: the set of working dates d with S < d <= E over all suspensions, as of at."""
    horizon = c.concluded_at if c.concluded_at is not None and c.concluded_at <= at else at
    days: set[dt.date] = set()
    for s in c.suspensions:
        if s.started_at > horizon:
            continue
        end = s.ended_at if s.ended_at is not None and s.ended_at <= horizon else horizon
        day = s.started_at.astimezone(SH).date() + dt.timedelta(days=1)
        while day <= end.astimezone(SH).date():
            if cal().is_working_day(day):
                days.add(day)
            day += dt.timedelta(days=1)
    return len(days)


def naive_walk(day: dt.date, n: int) -> dt.date:
    while n > 0:
        day += dt.timedelta(days=1)
        n -= cal().is_working_day(day)
    return day


@settings(max_examples=300, deadline=None)
@given(st.data(), instants, limits)
def test_matches_naive_reference(data: st.DataObject, accepted: dt.datetime, limit: int) -> None:
    suspensions = data.draw(suspension_lists(accepted))
    at = accepted + dt.timedelta(minutes=data.draw(st.integers(0, 60 * 24 * 90)))
    concluded = data.draw(st.none() | st.integers(0, 60 * 24 * 90))
    c = Case(
        id="C1",
        item="I1",
        accepted_at=accepted,
        concluded_at=None if concluded is None else accepted + dt.timedelta(minutes=concluded),
        suspensions=suspensions,
    )
    r = deadlines(c, item(limit, limit + 3), at)
    extension = naive_suspended_days(c, at)
    assert r.suspended_working_days == extension
    base = naive_walk(accepted.date(), limit)
    assert r.promised_due_at == eod(*naive_walk(base, extension).timetuple()[:3])
    statutory = naive_walk(accepted.date(), limit + 3)
    assert r.statutory_due_at == eod(*naive_walk(statutory, extension).timetuple()[:3])
    stopped = c.concluded_at is not None and c.concluded_at <= at
    assert r.clock_stopped_at == (c.concluded_at if stopped else None)
    running = any(
        s.started_at <= at and (s.ended_at is None or s.ended_at > at) for s in suspensions
    )
    assert r.suspended_now == (running and not stopped)


# --- the answers kept within an instant ------------------------------------------------------

_ITEM = Item(code="I5", statutory_limit_days=10, promised_limit_days=5)
_ITEM_LONGER = Item(code="I5", statutory_limit_days=20, promised_limit_days=8)
_SUSPENDED = Case(
    id="C1",
    item="I5",
    accepted_at=t(2026, 9, 14, 9),
    suspensions=(Suspension(seq=1, kind="补正", started_at=t(2026, 9, 15, 9)),),
)
_CONCLUDED = _SUSPENDED.model_copy(update={"concluded_at": t(2026, 9, 17, 12)})
_OTHER = Case(id="C1", item="I5", accepted_at=t(2026, 9, 16, 9))  # same id, other record
_INSTANTS = [t(2026, 9, 16, 23, 59, 59), t(2026, 9, 17), t(2026, 9, 18, 12), t(2026, 9, 21, 8)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([_SUSPENDED, _CONCLUDED, _OTHER]),
            st.sampled_from([_ITEM, _ITEM_LONGER]),
            st.sampled_from([*_INSTANTS, _INSTANTS[1].astimezone(UTC)]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_deadlines_asked_again_are_what_counting_again_gives(
    questions: list[tuple[Case, Item, dt.datetime]],
) -> None:
    # Asked back and forth (cases, items, instants, the same instant in another zone):
    # each answer is the one counted afresh.
    for case, item, at in questions:
        assert case_deadlines(case, item, cal(), POLICY, at) == _case_deadlines(
            case, item, cal(), POLICY, at
        ), (case.id, item.statutory_limit_days, at)
