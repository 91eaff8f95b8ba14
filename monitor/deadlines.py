"""Legal deadlines of a case, recomputed from its event history at an instant.

What the law says and how it is counted here (DESIGN.md §1):

* The day of acceptance is not counted. A case with a limit of N working days is due at
  the **end of the Nth working day after the acceptance date** (so an application
  accepted on a Sunday starts counting on Monday). The end of day is configurable,
  23:59:59 by default. A limit of 0 (即办件) is due at the end of the acceptance day.
* Special procedures (特别程序, 行政许可法 art. 45: 补正, hearing, inspection, testing,
  expert review …) stop the clock. A suspension from S to E extends the deadline by the
  working days in (S, E], S not counted. Overlapping suspensions count once. A suspension
  still running at the evaluation instant counts up to that instant, and pauses the case.
* When the source supplies its own promised date (承诺办结时间), that date is the promise;
  if it differs from the catalogue's limit by more than one working day the difference
  is kept as evidence. Only the date is used: the law counts whole days, and vendors
  store midnight or end-of-day indiscriminately.
* Everything is evaluated **as of** the instant: events after it (a later conclusion, a
  later suspension) do not exist yet. This is what makes ``jiancha scan --at`` honest and
  a past month reproducible.
* Every figure is recomputed from the history at every evaluation, never accumulated,
  so a corrected calendar or parameter recomputes everything deterministically.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from monitor.calendar import WorkingCalendar
from monitor.model import Case, Item, Step, Suspension

DEFAULT_END_OF_DAY = dt.time(23, 59, 59)
HALL_TIMEZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """How dates become instants: the hall's time zone and the end of a working day."""

    tz: ZoneInfo = HALL_TIMEZONE
    end_of_day: dt.time = DEFAULT_END_OF_DAY

    def local_date(self, instant: dt.datetime) -> dt.date:
        return instant.astimezone(self.tz).date()

    def end_of(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.end_of_day, tzinfo=self.tz)


@dataclass(frozen=True, slots=True)
class CaseDeadlines:
    """A case's deadlines and clock state as of one instant."""

    promised_due_at: dt.datetime
    statutory_due_at: dt.datetime
    suspended_working_days: int  # added to both deadlines by special procedures
    suspended_now: bool
    calendar_confirmed: bool  # both due dates within the confirmed part of the calendar
    source_due_mismatch_days: int | None  # source 承诺办结时间 minus catalogue, if > 1 day
    clock_stopped_at: dt.datetime | None  # conclusion (or withdrawal …) as of the instant


def suspension_working_days(
    suspensions: tuple[Suspension, ...],
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    at: dt.datetime,
    *,
    not_before: dt.date | None = None,
    until: dt.date | None = None,
) -> int:
    """Working days in the union of the suspensions' (S, E] spans, as of ``at``.

    ``not_before`` and ``until`` clip the spans, for limits that only concern part of a
    case's life (a step).
    """
    at_date = policy.local_date(at)
    spans: list[tuple[dt.date, dt.date]] = []
    for suspension in suspensions:
        if suspension.started_at > at:
            continue
        start = policy.local_date(suspension.started_at)
        ended = suspension.ended_at
        end = at_date if ended is None or ended > at else policy.local_date(ended)
        if not_before is not None:
            start = max(start, not_before)
        if until is not None:
            end = min(end, until)
        if end > start:
            spans.append((start, end))
    total = 0
    current_start: dt.date | None = None
    current_end: dt.date | None = None
    for start, end in sorted(spans):
        if current_end is not None and start <= current_end:
            current_end = max(current_end, end)
            continue
        if current_start is not None and current_end is not None:
            total += calendar.working_days_between(current_start, current_end)
        current_start, current_end = start, end
    if current_start is not None and current_end is not None:
        total += calendar.working_days_between(current_start, current_end)
    return total


def is_suspended(case: Case, at: dt.datetime) -> bool:
    return any(
        s.started_at <= at and (s.ended_at is None or s.ended_at > at) for s in case.suspensions
    )


def clock_stopped_at(case: Case, at: dt.datetime) -> dt.datetime | None:
    """The conclusion instant if the case had concluded by ``at``, else None (still open)."""
    if case.concluded_at is not None and case.concluded_at <= at:
        return case.concluded_at
    return None


# The answers of case_deadlines at the last instant asked, by case, with what each was
# asked: within one evaluation the rules, the engine (a case's cards, then its next
# boundary) and the SLA recorder (the changed cases' rows) ask the same questions.
# Records are frozen, so the same objects at the same instant give the same deadlines.
# Each answer is checked against everything it was asked (threads may share this), and
# the memory is dropped at another instant or once it holds _MEMO_LIMIT cases.
_MEMO_LIMIT = 20_000
_Asked = tuple[Case, Item, WorkingCalendar, "DeadlinePolicy", dt.datetime, "CaseDeadlines"]
_memo: dict[int, _Asked] = {}
_memo_at: dt.datetime | None = None


def case_deadlines(
    case: Case,
    item: Item,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    at: dt.datetime,
) -> CaseDeadlines:
    """Promised and statutory deadlines of ``case`` as of ``at``."""
    global _memo, _memo_at
    memo = _memo
    if at != _memo_at or len(memo) >= _MEMO_LIMIT:
        memo, _memo_at = {}, at
        _memo = memo
    asked = memo.get(id(case))
    if (
        asked is not None
        and asked[0] is case
        and asked[1] is item
        and asked[2] is calendar
        and asked[3] is policy
        and asked[4] == at
    ):
        return asked[5]
    deadlines = _case_deadlines(case, item, calendar, policy, at)
    memo[id(case)] = (case, item, calendar, policy, at, deadlines)
    return deadlines


def _case_deadlines(
    case: Case,
    item: Item,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    at: dt.datetime,
) -> CaseDeadlines:
    stopped = clock_stopped_at(case, at)
    horizon = stopped or at
    extension = suspension_working_days(case.suspensions, calendar, policy, horizon)
    accepted = policy.local_date(case.accepted_at)

    catalogue_promise = calendar.nth_working_day_after(accepted, item.promised_limit_days)
    mismatch: int | None = None
    if case.promised_due_at is not None:
        promise = policy.local_date(case.promised_due_at)
        difference = calendar.working_days_between(catalogue_promise, promise)
        if abs(difference) > 1:
            mismatch = difference
    else:
        promise = catalogue_promise
    statutory = calendar.nth_working_day_after(accepted, item.statutory_limit_days)

    promised_due = calendar.nth_working_day_after(promise, extension)
    statutory_due = calendar.nth_working_day_after(statutory, extension)
    return CaseDeadlines(
        promised_due_at=policy.end_of(promised_due),
        statutory_due_at=policy.end_of(statutory_due),
        suspended_working_days=extension,
        suspended_now=stopped is None and is_suspended(case, at),
        calendar_confirmed=calendar.is_confirmed(promised_due)
        and calendar.is_confirmed(statutory_due),
        source_due_mismatch_days=mismatch,
        clock_stopped_at=stopped,
    )


def step_due_at(
    step: Step,
    case: Case,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    at: dt.datetime,
) -> dt.datetime | None:
    """End of the step's own limit, extended by suspensions during the step; None if unlimited."""
    if step.limit_days is None:
        return None
    start = policy.local_date(step.started_at)
    step_end = step.ended_at if step.ended_at is not None and step.ended_at <= at else at
    extension = suspension_working_days(
        case.suspensions,
        calendar,
        policy,
        step_end,
        not_before=start,
    )
    due = calendar.nth_working_day_after(start, step.limit_days + extension)
    return policy.end_of(due)


def working_days_used(
    case: Case, calendar: WorkingCalendar, policy: DeadlinePolicy, until: dt.datetime
) -> int:
    """How long the hall took by ``until`` (the conclusion): working days after the
    acceptance date up to ``until``'s date, less the days of special procedures."""
    accepted = policy.local_date(case.accepted_at)
    elapsed = calendar.working_days_between(accepted, policy.local_date(until))
    return elapsed - suspension_working_days(case.suspensions, calendar, policy, until)


def remaining_working_days(
    due_at: dt.datetime, calendar: WorkingCalendar, policy: DeadlinePolicy, at: dt.datetime
) -> int:
    """Working days after today up to and including the due date: 0 when due today.

    Negative once the due date has passed (the number of working days late).
    """
    return calendar.working_days_between(policy.local_date(at), policy.local_date(due_at))
