"""One center's working day, planned in full: arrivals, the queue, cases and their whole futures.

How the simulated hall works (all times in Beijing time, working days from the same
calendar the daemon uses, so the hall is closed on holidays and open on 调休 Saturdays):

* Applicants arrive 09:00–12:00 and 13:30–17:00, busiest at opening and after lunch,
  busier on Mondays; each takes a ticket for an item of a department, swiping the ID
  card at the kiosk. A department's windows call its tickets in order.
* A ticket is cancelled, called and absent (过号), consultation only (咨询), or business:
  then the window registers a case during the service. An immediate item (即办件) is
  concluded at the window; a promised item (承诺件) goes through 承办 → 审核 → 批准 over
  the following working days, sometimes with a special procedure (补正, 专家评审 …) that
  stops the clock, and a clean case concludes before its yellow card would show. A fee
  is paid by the 缴款单号 into the center's designated account. Applicants rate the
  service; a bad rating is followed up within days.
* Violations are injected at configurable rates (:class:`ViolationRates`), each exactly
  where supervision looks for it, and every finding the daemon must then raise is
  written down as an :class:`Expectation` with the instant from which it must be visible
  and until which it must stay (the ground truth).

Each day is planned from its own random stream (seed, center, date), so a day's plan
never depends on which other days were planned or in which order: the same seed gives
the same hall, whether backfilled in one go or produced live.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from sqlalchemy import Table

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy
from monitor.demo.catalogue import STEPS, Catalogue, CatalogueItem, Center, Window
from monitor.demo.people import Applicant, new_applicant
from monitor.demo.schema import (
    HCP_PJ,
    PD_QH,
    SF_JKD,
    SL_BJ,
    SP_HJ,
    TBCX,
    YH_JYMX,
)
from rules.parameters import RuleParameters

SECOND = dt.timedelta(seconds=1)
CALL_DELAY = dt.timedelta(
    seconds=30
)  # a ticket is called at the earliest this long after it is taken

# Arrival density over the opening hours: (start, end, relative rate).
_HOURS: tuple[tuple[dt.time, dt.time, float], ...] = (
    (dt.time(9, 0), dt.time(10, 0), 1.4),
    (dt.time(10, 0), dt.time(11, 0), 1.3),
    (dt.time(11, 0), dt.time(12, 0), 1.0),
    (dt.time(13, 30), dt.time(14, 0), 0.7),
    (dt.time(14, 0), dt.time(15, 0), 1.2),
    (dt.time(15, 0), dt.time(16, 0), 1.1),
    (dt.time(16, 0), dt.time(17, 0), 0.8),
)
# Busier on Mondays; a 调休 weekend working day is a quiet one.
_WEEKDAY = (1.2, 1.05, 1.0, 0.95, 0.9, 0.8, 0.8)
# Special procedures (TBCXZL) and how often each stops a clock.
_PROCEDURES = (
    ("1", "补正", 0.5),
    ("3", "检验检测", 0.1),
    ("4", "专家评审", 0.2),
    ("5", "现场核查", 0.2),
)
_LEVELS = (0.70, 0.20, 0.06, 0.03, 0.01)  # 非常满意 … 非常不满意
_BAD_COMMENTS = ("等了很久没人理", "材料要求说得不清楚", "跑了好几趟", "态度不好", "系统老是卡")


@dataclass(frozen=True)
class ViolationRates:
    """How often each violation is injected.

    Per business ticket unless noted; a case carries at most one injected violation.
    Fee violations count among the cases of fee-charging items (``unauthorized_fee``
    among the cases of free items), ``suspension_overrun`` among special procedures,
    ``bad_rating_ignored`` among bad ratings, ``payment_without_case`` is the expected
    number per center and working day.
    """

    ticket_without_case: float = 0.008  # 有号无件: served, no case ever registered
    late_conclusion: float = 0.02  # concluded after the promised deadline
    left_open: float = 0.008  # never concluded
    slow_conclusion: float = 0.03  # on time, but only after the yellow card showed
    step_overrun: float = 0.01  # one handling step over its own limit
    backfilled_case: float = 0.006  # typed in days after its acceptance (补录)
    instant_conclusion: float = 0.004  # promised item accepted and concluded at once
    double_acceptance: float = 0.004  # the same application accepted again next day
    wrong_account: float = 0.05  # fee paid into the center's basic account
    fee_missing: float = 0.04  # fee due, never paid into the designated account
    over_standard: float = 0.05  # charged above the item's standard (超标准收费)
    unauthorized_fee: float = 0.003  # a fee for a free or abolished item (擅自收费)
    suspension_overrun: float = 0.25  # a special procedure longer than allowed
    bad_rating_ignored: float = 0.3  # a 差评 never followed up
    malformed_row: float = 0.002  # a case row whose acceptance time cannot be read
    payment_without_case: float = 0.4  # 有费无件 deposits per center and working day

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (f.name != "payment_without_case" and value > 1):
                raise ValueError(f"{f.name}: {value} is not a probability")

    def scaled(self, factor: float) -> ViolationRates:
        """Every rate times ``factor`` (probabilities capped at 1)."""
        return ViolationRates(
            **{
                f.name: getattr(self, f.name) * factor
                if f.name == "payment_without_case"
                else min(1.0, getattr(self, f.name) * factor)
                for f in fields(self)
            }
        )


# The rule each injected violation is primarily found by.
VIOLATION_RULES: dict[str, str] = {
    "ticket_without_case": "offsystem.ticket_without_case",
    "late_conclusion": "case.concluded_late",
    "left_open": "case.overdue",
    "slow_conclusion": "case.due_soon",
    "step_overrun": "case.step_overdue",
    "suspension_overrun": "case.suspension_overdue",
    "backfilled_case": "offsystem.backfilled_case",
    "instant_conclusion": "offsystem.backfilled_case",
    "double_acceptance": "offsystem.double_acceptance",
    "wrong_account": "fee.not_in_designated_account",
    "fee_missing": "fee.not_in_designated_account",
    "over_standard": "fee.amount_mismatch",
    "unauthorized_fee": "fee.unauthorized",
    "bad_rating_ignored": "evaluation.bad_rating_unresolved",
    "payment_without_case": "offsystem.payment_without_case",
    # The approval system's row cannot be read (rejected as bad_time, and counted), so the
    # daemon sees no case behind the served ticket.
    "malformed_row": "offsystem.ticket_without_case",
}
WARNING = "warning"  # a natural yellow card on a clean case (not injected)
# Violations that are about a case's time line: its overdue-family findings belong to them.
TIMELINE_VIOLATIONS = frozenset({"late_conclusion", "left_open", "slow_conclusion", "step_overrun"})


@dataclass(frozen=True)
class Expectation:
    """A finding the daemon must raise on ``[expected_from, expected_until)``."""

    violation: str
    rule: str
    subject_kind: str
    subject_id: str
    expected_from: dt.datetime
    expected_until: dt.datetime | None = None
    injected: bool = True
    case_id: str | None = None
    center: str | None = None
    department: str | None = None
    window: str | None = None
    item: str | None = None

    def visible_at(self, at: dt.datetime) -> bool:
        return self.expected_from <= at and (
            self.expected_until is None or at < self.expected_until
        )


@dataclass
class History:
    """One vendor row through time: its versions, each stamped with its update time."""

    table: Table
    versions: list[tuple[dt.datetime, dict[str, Any]]] = field(default_factory=list)

    def as_of(self, at: dt.datetime) -> dict[str, Any] | None:
        latest = None
        for instant, row in self.versions:
            if instant > at:
                break
            latest = row
        return latest


@dataclass
class DayPlan:
    histories: list[History] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def compact(instant: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    """Vendor time text: ``YYYYMMDDhhmmss`` in the hall's zone."""
    if instant is None:
        return None
    if instant.tzinfo is not tz:
        instant = instant.astimezone(tz)
    t = instant  # formatted by hand: strftime is the planner's hottest call
    return f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"


def yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2).quantize(Decimal("0.01"))


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson count (Knuth for small means, the normal approximation for large ones)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _spread(rng: random.Random, total: int, limits: tuple[int, ...]) -> list[int]:
    """``total`` working days split over steps at random, within each step's limit first."""
    days = [0] * len(limits)
    for _ in range(total):
        room = [i for i, limit in enumerate(limits) if days[i] < limit]
        days[rng.choice(room or list(range(len(limits))))] += 1
    return days


@dataclass
class _Ticket:
    id: str
    number: str
    department: str
    item: CatalogueItem
    applicant: Applicant
    issued_at: dt.datetime
    outcome: str  # business, consultation, absent, cancelled
    window: Window | None = None
    called_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None  # service end (business/consultation)
    closed_at: dt.datetime | None = None  # absent/cancelled: when the status changed


@dataclass
class _Step:
    seq: int
    limit: int
    started_at: dt.datetime
    ended_at: dt.datetime | None


@dataclass
class _Suspension:
    code: str
    kind: str
    started_at: dt.datetime
    ended_at: dt.datetime
    working_days: int


@dataclass
class _Case:
    id: str
    item: CatalogueItem
    center: str
    department: str
    window: str | None
    applicant: Applicant
    received_at: dt.datetime
    accepted_at: dt.datetime
    recorded_at: dt.datetime
    concluded_at: dt.datetime | None = None
    steps: list[_Step] = field(default_factory=list)
    suspension: _Suspension | None = None
    fee_due_fen: int = 0
    violation: str | None = None

    @property
    def reference(self) -> str | None:
        return f"JK{self.id}" if self.fee_due_fen else None


# --------------------------------------------------------------------------- the planner


class DayPlanner:
    """Plans center-days of one simulated hall (see the module docstring)."""

    def __init__(
        self,
        catalogue: Catalogue,
        calendar: WorkingCalendar,
        policy: DeadlinePolicy,
        parameters: RuleParameters,
        *,
        seed: int,
        rates: ViolationRates,
        arrivals_per_window: float = 20.0,
    ) -> None:
        self.catalogue = catalogue
        self.calendar = calendar
        self.policy = policy
        self.tz = policy.tz
        self.parameters = parameters
        self.seed = seed
        self.rates = rates
        self.arrivals_per_window = arrivals_per_window
        self._thresholds: dict[str, int] = {}  # item -> yellow threshold (parameters are fixed)
        self._texts: dict[dt.datetime, str | None] = {}  # see _t

    # -- time ------------------------------------------------------------------------

    def wd(self, day: dt.date, n: int) -> dt.date:
        return self.calendar.nth_working_day_after(day, n)

    def local(self, instant: dt.datetime) -> dt.date:
        return self.policy.local_date(instant)

    def start_of(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.tz)

    def _at(self, day: dt.date, clock: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, clock, tzinfo=self.tz)

    def during(
        self, rng: random.Random, day: dt.date, after: dt.datetime | None = None
    ) -> dt.datetime:
        """A moment of the opening hours of ``day`` (after ``after`` if that is the same day)."""
        start, end, _ = rng.choice(_HOURS)
        span = int((self._at(day, end) - self._at(day, start)).total_seconds())
        instant = self._at(day, start) + dt.timedelta(seconds=rng.randrange(span))
        if after is not None and instant <= after:
            instant = after + dt.timedelta(seconds=rng.randrange(120, 1800))
        return instant

    # -- a day -----------------------------------------------------------------------

    def plan(self, center: Center, day: dt.date) -> DayPlan:
        """Everything that starts on ``day`` at ``center``, with its whole future."""
        plan = DayPlan()
        if not self.calendar.is_working_day(day):
            return plan
        rng = random.Random(f"jiancha-demo/{self.seed}/{center.code}/{day.isoformat()}")
        self._texts.clear()
        tickets = self._tickets(rng, center, day)
        stamp = f"{center.code}{day:%Y%m%d}"
        counters = {"case": 0, "payment": 0, "evaluation": 0}

        def next_id(kind: str) -> int:
            counters[kind] += 1
            return counters[kind]

        for ticket in tickets:
            plan.histories.append(self._ticket_history(ticket, center))
            if ticket.outcome != "business":
                continue
            assert ticket.window is not None and ticket.called_at and ticket.finished_at
            violation = self._draw_violation(rng, ticket.item)
            case: _Case | None = None
            if violation != "ticket_without_case":
                case = self._case(rng, ticket, center, f"{stamp}{next_id('case'):04d}", violation)
                self._case_into(plan, case, ticket, center)
            if violation in ("ticket_without_case", "malformed_row"):  # no case to be seen
                grace = self.parameters.offsystem.ticket_grace(ticket.item.code, ticket.department)
                plan.expectations.append(
                    self._expect_ticket(ticket, center, violation, ticket.finished_at + grace)
                )
            if rng.random() < 0.6:
                self._evaluation(
                    rng, plan, ticket, case, center, f"{stamp}{next_id('evaluation'):04d}"
                )
        for _ in range(_poisson(rng, self.rates.payment_without_case)):
            self._payment_without_case(rng, plan, center, day, f"{stamp}{next_id('payment'):04d}")
        return plan

    def _tickets(self, rng: random.Random, center: Center, day: dt.date) -> list[_Ticket]:
        """The day's tickets, called by the department's windows in order."""
        windows = [w for w in self.catalogue.windows if w.center == center.code]
        mean = self.arrivals_per_window * len(windows) * _WEEKDAY[day.weekday()]
        count = _poisson(rng, mean)
        weights = [
            h[2] * (self._at(day, h[1]) - self._at(day, h[0])).total_seconds() for h in _HOURS
        ]
        by_department: dict[str, list[dt.datetime]] = {}
        departments = self.catalogue.departments
        hours = list(itertools.accumulate(weights))
        shares = list(itertools.accumulate(d.share for d in departments))
        for _ in range(count):
            start, end, _ = rng.choices(_HOURS, cum_weights=hours)[0]
            span = int((self._at(day, end) - self._at(day, start)).total_seconds())
            issued = self._at(day, start) + dt.timedelta(seconds=rng.randrange(span))
            department = rng.choices(departments, cum_weights=shares)[0]
            by_department.setdefault(department.code, []).append(issued)

        tickets: list[_Ticket] = []
        serial = 0
        for department in departments:
            arrivals = sorted(by_department.get(department.code, []))
            items = self.catalogue.items_of(department.code)
            popularity = list(itertools.accumulate(i.popularity for i in items))
            free_at = {
                w.code: self._at(day, dt.time(9, 0))
                for w in self.catalogue.windows_of(center.code, department.code)
            }
            window_of = {w.code: w for w in self.catalogue.windows_of(center.code, department.code)}
            for number, issued in enumerate(arrivals, 1):
                serial += 1
                item = rng.choices(items, cum_weights=popularity)[0]
                outcome = rng.choices(
                    ("business", "consultation", "absent", "cancelled"), (0.82, 0.12, 0.04, 0.02)
                )[0]
                ticket = _Ticket(
                    id=f"Q{center.code}{day:%Y%m%d}{serial:04d}",
                    number=f"{department.letter}{number:03d}",
                    department=department.code,
                    item=item,
                    applicant=new_applicant(rng),
                    issued_at=issued,
                    outcome=outcome,
                )
                tickets.append(ticket)
                if outcome == "cancelled":
                    ticket.closed_at = issued + dt.timedelta(minutes=rng.randint(10, 40))
                    continue
                code = min(free_at, key=lambda c: (free_at[c], c))
                ticket.window = window_of[code]
                ticket.called_at = max(issued + CALL_DELAY, free_at[code])
                if outcome == "absent":
                    ticket.closed_at = ticket.called_at + dt.timedelta(minutes=1)
                    free_at[code] = ticket.closed_at
                    continue
                minutes = rng.uniform(3, 8) if outcome == "consultation" else rng.uniform(8, 22)
                ticket.finished_at = ticket.called_at + dt.timedelta(seconds=int(minutes * 60))
                free_at[code] = ticket.finished_at + dt.timedelta(seconds=rng.randint(20, 90))
        return tickets

    def _draw_violation(self, rng: random.Random, item: CatalogueItem) -> str | None:
        """At most one violation for a business ticket, among those its item allows."""
        r = self.rates
        threshold = self._threshold(item)
        spare = max(0, item.promised_limit_days - threshold - 1)  # clean working days
        limits = item.step_limits()
        candidates: list[tuple[str, float]] = [
            ("ticket_without_case", r.ticket_without_case),
            ("late_conclusion", r.late_conclusion),
            ("left_open", r.left_open),
            ("backfilled_case", r.backfilled_case),
        ]
        if not item.immediate:
            candidates += [
                ("slow_conclusion", r.slow_conclusion),
                ("instant_conclusion", r.instant_conclusion),
            ]
            if limits[1] + 1 <= spare:
                candidates.append(("step_overrun", r.step_overrun))
            if not item.charges_fee and spare >= 2:
                candidates.append(("double_acceptance", r.double_acceptance))
        elif not item.charges_fee:  # no steps, no payment: only the case row is lost
            candidates.append(("malformed_row", r.malformed_row))
        if item.charges_fee:
            candidates += [
                ("wrong_account", r.wrong_account),
                ("fee_missing", r.fee_missing),
                ("over_standard", r.over_standard),
            ]
        else:
            candidates.append(("unauthorized_fee", r.unauthorized_fee))
        draw = rng.random()
        for name, rate in candidates:
            if draw < rate:
                return name
            draw -= rate
        return None

    def _threshold(self, item: CatalogueItem) -> int:
        threshold = self._thresholds.get(item.code)
        if threshold is None:
            threshold = self.parameters.due_soon_threshold(
                item.code, item.department, item.promised_limit_days
            )
            self._thresholds[item.code] = threshold
        return threshold

    # -- cases -----------------------------------------------------------------------

    def _case(
        self,
        rng: random.Random,
        ticket: _Ticket,
        center: Center,
        case_id: str,
        violation: str | None,
    ) -> _Case:
        assert ticket.window and ticket.called_at and ticket.finished_at
        item = ticket.item
        service = ticket.finished_at - ticket.called_at
        accepted = ticket.called_at + service * rng.uniform(0.3, 0.6)
        accepted = accepted.replace(microsecond=0)
        recorded = accepted + dt.timedelta(seconds=rng.randint(20, 60))
        if violation == "backfilled_case":
            # Two to four working days later: always more than a day after the fact.
            later = self.wd(self.local(accepted), rng.randint(2, 4))
            recorded = self.during(rng, later)
            threshold = self.parameters.offsystem.backfill_threshold(item.code, item.department)
            assert recorded - accepted > threshold, "backfill_hours above two days"
        case = _Case(
            id=case_id,
            item=item,
            center=center.code,
            department=item.department,
            window=ticket.window.code,
            applicant=ticket.applicant,
            received_at=ticket.issued_at,
            accepted_at=accepted,
            recorded_at=recorded,
            violation=violation,
        )
        self._fee(rng, case, violation)
        if item.immediate:
            self._immediate_timeline(rng, case, ticket.finished_at, violation)
        elif violation == "instant_conclusion":
            case.concluded_at = accepted + dt.timedelta(seconds=rng.randint(10, 50))
            case.recorded_at = case.concluded_at + dt.timedelta(seconds=rng.randint(5, 30))
        else:
            self._promised_timeline(rng, case, violation)
        return case

    def _fee(self, rng: random.Random, case: _Case, violation: str | None) -> None:
        item = case.item
        if item.charges_fee:
            case.fee_due_fen = item.fee_standard_fen
            if violation == "over_standard":
                case.fee_due_fen += rng.choice((2000, 5000, 10000))
        elif violation == "unauthorized_fee":
            case.fee_due_fen = item.fee_standard_fen or rng.choice((2000, 5000, 10000))

    def _immediate_timeline(
        self, rng: random.Random, case: _Case, finished: dt.datetime, violation: str | None
    ) -> None:
        if violation == "left_open":
            return
        if violation == "late_conclusion":
            day = self.wd(self.local(case.accepted_at), rng.randint(1, 2))
            case.concluded_at = self.during(rng, day)
        else:
            case.concluded_at = max(
                case.accepted_at + dt.timedelta(seconds=rng.randint(60, 240)),
                finished - dt.timedelta(seconds=rng.randint(30, 90)),
            )

    def _promised_timeline(self, rng: random.Random, case: _Case, violation: str | None) -> None:
        """Steps, an optional suspension and the conclusion, counted in working days.

        The case works for ``k`` working days in all (its steps' durations); a clean case
        has k ≤ promised − yellow threshold − 1, so it concludes before its yellow card
        (a 1-day item, yellow from acceptance, concludes the same day). A suspension of
        m working days pushes every later event m working days on, exactly as it extends
        the deadline.
        """
        item = case.item
        limit = item.promised_limit_days
        threshold = self._threshold(item)
        spare = max(0, limit - threshold - 1)
        limits = item.step_limits()
        stall: int | None = None
        if violation == "late_conclusion":
            durations = _spread(rng, limit + rng.randint(1, 5), limits)
        elif violation == "left_open":
            durations = _spread(rng, rng.randint(0, limit), limits)
            stall = rng.randrange(len(limits))
        elif violation == "slow_conclusion":
            durations = _spread(rng, rng.randint(max(0, limit - threshold), limit), limits)
        elif violation == "double_acceptance":  # still open the next working day
            durations = _spread(rng, rng.randint(2, spare), limits)
        elif violation == "step_overrun":
            first = rng.randint(0, min(limits[0], spare - limits[1] - 1))
            third = rng.randint(0, min(limits[2], spare - first - limits[1] - 1))
            durations = [first, limits[1] + 1, third]
        else:
            durations = _spread(rng, round(spare * rng.betavariate(2, 2)), limits)

        # A special procedure strictly inside one step, on cases that keep to their promise.
        suspend: tuple[int, int, int] | None = None  # (step, effective day, working days)
        cap = item.max_suspension_days
        candidates = [i for i, d in enumerate(durations) if d >= 2]
        if (
            violation not in TIMELINE_VIOLATIONS - {"step_overrun"}
            and cap
            and candidates
            and (rng.random() < 0.06)
        ):
            step = rng.choice(candidates)
            offset = sum(durations[:step])
            day = offset + rng.randint(1, durations[step] - 1)
            overrun = rng.random() < self.rates.suspension_overrun
            days = cap + rng.randint(1, 3) if overrun else rng.randint(1, cap)
            suspend = (step, day, days)
            if overrun:
                case.violation = case.violation or "suspension_overrun"

        accepted_day = self.local(case.accepted_at)

        def real(effective: int) -> dt.date:
            if suspend is not None and effective > suspend[1]:
                return self.wd(accepted_day, effective + suspend[2])
            return self.wd(accepted_day, effective)

        previous = case.accepted_at
        boundary = 0
        for index, duration in enumerate(durations):
            step = _Step(index + 1, limits[index], previous, None)
            case.steps.append(step)
            if suspend is not None and suspend[0] == index:
                start_day = self.wd(accepted_day, suspend[1])
                started = self.during(rng, start_day, previous)
                ended = self.during(rng, self.wd(accepted_day, suspend[1] + suspend[2]), started)
                code, kind, _ = rng.choices(_PROCEDURES, [p[2] for p in _PROCEDURES])[0]
                case.suspension = _Suspension(code, kind, started, ended, suspend[2])
                previous = ended
            if stall == index:
                return
            boundary += duration
            previous = self.during(rng, real(boundary), previous)
            step.ended_at = previous
        case.concluded_at = previous

    def _case_into(
        self, plan: DayPlan, case: _Case, ticket: _Ticket | None, center: Center
    ) -> None:
        """The case's rows and payments, its double, and what the daemon must find."""
        plan.histories.extend(self._case_histories(case))
        if case.violation != "malformed_row":  # unreadable: the daemon never sees the case
            plan.expectations.extend(self._expect_case(case))
        rng = random.Random(f"jiancha-demo/{self.seed}/{case.id}")
        if case.fee_due_fen and case.violation != "fee_missing":
            self._fee_payment(rng, plan, case, center)
        if case.violation == "backfilled_case" and ticket is not None:
            grace = self.parameters.offsystem.ticket_grace(ticket.item.code, ticket.department)
            due = ticket.finished_at + grace if ticket.finished_at else None
            if due is not None and case.recorded_at > due + SECOND:
                plan.expectations.append(
                    self._expect_ticket(ticket, center, "backfilled_case", due, case.recorded_at)
                )
        if case.violation == "double_acceptance":
            self._double(rng, plan, case, center)

    def _double(self, rng: random.Random, plan: DayPlan, first: _Case, center: Center) -> None:
        """两头受理: the same application accepted again by the department the next day."""
        day = self.wd(self.local(first.accepted_at), 1)
        accepted = self.during(rng, day)
        others = [
            w.code
            for w in self.catalogue.windows_of(center.code, first.department)
            if w.code != first.window
        ]
        second = _Case(
            id=f"{first.id}B",
            item=first.item,
            center=first.center,
            department=first.department,
            window=rng.choice(others) if others else None,  # else the back office
            applicant=first.applicant,
            received_at=accepted - dt.timedelta(minutes=rng.randint(3, 20)),
            accepted_at=accepted,
            recorded_at=accepted + dt.timedelta(seconds=rng.randint(20, 60)),
        )
        self._promised_timeline(rng, second, None)
        plan.histories.extend(self._case_histories(second))
        plan.expectations.extend(self._expect_case(second))
        plan.expectations.append(
            self._expectation(
                second, "double_acceptance", "offsystem.double_acceptance", second.recorded_at
            )
        )

    # -- rows ------------------------------------------------------------------------

    def _t(self, instant: dt.datetime | None) -> str | None:
        """Vendor time text, remembered for the day's plan (row versions repeat instants)."""
        if instant is None:
            return None
        text = self._texts.get(instant)
        if text is None:
            text = self._texts[instant] = compact(instant, self.tz)
        return text

    def _case_histories(self, case: _Case) -> Iterator[History]:
        item = case.item
        promised_day = self.wd(self.local(case.accepted_at), item.promised_limit_days)
        instants = sorted(
            {case.recorded_at}
            | (
                {case.concluded_at}
                if case.concluded_at and case.concluded_at > case.recorded_at
                else set()
            )
        )
        history = History(SL_BJ)
        for instant in instants:
            concluded = (
                case.concluded_at if case.concluded_at and case.concluded_at <= instant else None
            )
            history.versions.append(
                (
                    instant,
                    {
                        "SBLSH": case.id,
                        "SXBM": item.code,
                        "ZXBM": case.center,
                        "BMBM": case.department,
                        "CKBM": case.window,
                        "SQRMC": case.applicant.name,
                        "SQRZJHM": case.applicant.id_number,
                        "SBSJ": self._t(case.received_at),
                        "SLSJ": self._accepted_text(case),
                        "SLZTDM": "1",
                        "CNBJSJ": self._t(self.policy.end_of(promised_day)),
                        "BJSJ": self._t(concluded),
                        "BJJGDM": None if concluded is None else ("6" if item.immediate else "0"),
                        "LRSJ": self._t(case.recorded_at),
                        "SFJE": yuan(case.fee_due_fen),
                        "GXSJ": self._t(instant),
                    },
                )
            )
        yield history
        if case.reference:
            yield History(
                SF_JKD,
                [
                    (
                        case.recorded_at,
                        {
                            "JKDH": case.reference,
                            "SBLSH": case.id,
                            "JKJE": yuan(case.fee_due_fen),
                            "GXSJ": self._t(case.recorded_at),
                        },
                    )
                ],
            )
        for step in case.steps:
            code, name, _ = STEPS[step.seq - 1]
            yield self._timed(
                SP_HJ,
                max(step.started_at, case.recorded_at),
                step.ended_at,
                lambda ended, step=step, code=code, name=name: {
                    "SBLSH": case.id,
                    "HJXH": step.seq,
                    "SPHJDM": code,
                    "HJMC": name,
                    "KSSJ": self._t(step.started_at),
                    "JSSJ": self._t(ended),
                    "HJSX": str(step.limit),
                },
            )
        if case.suspension is not None:
            s = case.suspension
            yield self._timed(
                TBCX,
                max(s.started_at, case.recorded_at),
                s.ended_at,
                lambda ended: {
                    "SBLSH": case.id,
                    "TBCXXH": 1,
                    "TBCXZL": s.code,
                    "TBCXKSRQ": self._t(s.started_at),
                    "TBCXJSRQ": self._t(ended),
                },
            )

    def _accepted_text(self, case: _Case) -> str | None:
        text = self._t(case.accepted_at)
        if case.violation == "malformed_row" and text is not None:
            return f"{text[:4]}13{text[6:]}"  # month 13: a vendor's broken date
        return text

    def _timed(
        self,
        table: Table,
        first: dt.datetime,
        ended: dt.datetime | None,
        render: Callable[[dt.datetime | None], dict[str, Any]],
    ) -> History:
        """A row written at ``first`` and updated when it ends (if that comes later)."""
        history = History(table)
        known_end = ended if ended is not None and ended <= first else None
        history.versions.append((first, render(known_end) | {"GXSJ": self._t(first)}))
        if ended is not None and ended > first:
            history.versions.append((ended, render(ended) | {"GXSJ": self._t(ended)}))
        return history

    def _ticket_history(self, ticket: _Ticket, center: Center) -> History:
        def row(instant: dt.datetime, status: str) -> tuple[dt.datetime, dict[str, Any]]:
            called = ticket.called_at if ticket.called_at and ticket.called_at <= instant else None
            finished = (
                ticket.finished_at if ticket.finished_at and ticket.finished_at <= instant else None
            )
            return (
                instant,
                {
                    "QHXH": ticket.id,
                    "PH": ticket.number,
                    "ZXBM": center.code,
                    "BMBM": ticket.department,
                    "CKBM": ticket.window.code if called and ticket.window else None,
                    "YWBM": ticket.item.code,
                    "SFZH": ticket.applicant.id_number,
                    "QHSJ": self._t(ticket.issued_at),
                    "JHSJ": self._t(called),
                    "JSSJ": self._t(finished),
                    "ZT": status,
                    "ZXBZ": "1" if ticket.outcome == "consultation" else "0",
                    "GXSJ": self._t(instant),
                },
            )

        history = History(PD_QH, [row(ticket.issued_at, "0")])
        if ticket.outcome == "cancelled":
            assert ticket.closed_at
            history.versions.append(row(ticket.closed_at, "4"))
            return history
        assert ticket.called_at
        history.versions.append(row(ticket.called_at, "1"))
        if ticket.outcome == "absent":
            assert ticket.closed_at
            history.versions.append(row(ticket.closed_at, "3"))
        else:
            assert ticket.finished_at
            history.versions.append(row(ticket.finished_at, "2"))
        return history

    def _fee_payment(self, rng: random.Random, plan: DayPlan, case: _Case, center: Center) -> None:
        """The applicant pays by the 缴款单号, usually within the hour, else the next day."""
        if rng.random() < 0.8:
            paid = case.accepted_at + dt.timedelta(minutes=rng.randint(5, 90))
        else:
            paid = self.during(rng, self.wd(self.local(case.accepted_at), 1))
        paid = max(paid, case.recorded_at + SECOND) if case.violation != "backfilled_case" else paid
        account = (
            center.basic_account if case.violation == "wrong_account" else center.designated_account
        )
        payment_id = f"YH{case.id}"
        plan.histories.append(
            History(
                YH_JYMX,
                [
                    (
                        paid,
                        {
                            "JYLSH": payment_id,
                            "SKZH": account,
                            "JYJE": yuan(case.fee_due_fen),
                            "JYSJ": self._t(paid),
                            "JKDH": case.reference,
                            "YWBH": case.id if rng.random() < 0.5 else None,
                            "DFHM": case.applicant.name,
                            "GXSJ": self._t(paid),
                        },
                    )
                ],
            )
        )
        if case.violation == "wrong_account":
            plan.expectations.append(
                self._expectation(
                    case,
                    "wrong_account",
                    "fee.not_in_designated_account",
                    max(paid, case.recorded_at),
                )
            )

    def _payment_without_case(
        self, rng: random.Random, plan: DayPlan, center: Center, day: dt.date, serial: str
    ) -> None:
        """有费无件: money into the designated account by a 缴款单号 no case was issued."""
        paid = self.during(rng, day)
        payment_id = f"YH{serial}X"
        amount = rng.choice((2000, 5000, 8000, 12000, 30000, 55000))
        plan.histories.append(
            History(
                YH_JYMX,
                [
                    (
                        paid,
                        {
                            "JYLSH": payment_id,
                            "SKZH": center.designated_account,
                            "JYJE": yuan(amount),
                            "JYSJ": self._t(paid),
                            "JKDH": f"JKX{serial}",
                            "YWBH": None,
                            "DFHM": new_applicant(rng).name,
                            "GXSJ": self._t(paid),
                        },
                    )
                ],
            )
        )
        grace = self.parameters.offsystem.payment_grace_working_days
        due = self.policy.end_of(self.wd(day, grace))
        plan.expectations.append(
            Expectation(
                "payment_without_case",
                "offsystem.payment_without_case",
                "payment",
                payment_id,
                due + SECOND,
                center=center.code,
            )
        )

    def _evaluation(
        self,
        rng: random.Random,
        plan: DayPlan,
        ticket: _Ticket,
        case: _Case | None,
        center: Center,
        serial: str,
    ) -> None:
        assert ticket.finished_at and ticket.window
        rated = ticket.finished_at + dt.timedelta(seconds=rng.randint(10, 180))
        level = rng.choices(range(1, 6), _LEVELS)[0]
        followed: dt.datetime | None = None
        ignored = False
        if level >= 4:
            ignored = rng.random() < self.rates.bad_rating_ignored
            if not ignored:
                followed = self.during(rng, self.wd(self.local(rated), rng.randint(1, 10)), rated)
        evaluation_id = f"PJ{serial}"
        comment = rng.choice(_BAD_COMMENTS) if level >= 4 else ""
        history = self._timed(
            HCP_PJ,
            rated,
            followed,
            lambda done: {
                "PJBH": evaluation_id,
                "ZXBM": center.code,
                "BMBM": ticket.department,
                "CKBM": ticket.window.code if ticket.window else None,
                "GH": f"{ticket.window.code if ticket.window else ''}-01",
                "SBLSH": case.id if case is not None and case.recorded_at <= rated else None,
                "PJSJ": self._t(rated),
                "MYD": str(level),
                "PJNR": comment,
                "ZGFKSJ": self._t(done),
            },
        )
        plan.histories.append(history)
        if ignored:
            days = self.parameters.evaluation.followup_days(ticket.item.code, ticket.department)
            due = self.policy.end_of(self.wd(self.local(rated), days))
            plan.expectations.append(
                Expectation(
                    "bad_rating_ignored",
                    "evaluation.bad_rating_unresolved",
                    "evaluation",
                    evaluation_id,
                    due + SECOND,
                    center=center.code,
                    department=ticket.department,
                    window=ticket.window.code,
                )
            )

    # -- the ground truth --------------------------------------------------------------

    def _expectation(
        self,
        case: _Case,
        violation: str,
        rule: str,
        start: dt.datetime,
        until: dt.datetime | None = None,
        *,
        subject_kind: str = "case",
        subject_id: str | None = None,
        injected: bool = True,
    ) -> Expectation:
        # Nothing about a case can be seen before it is typed into the approval system.
        return Expectation(
            violation=violation,
            injected=injected,
            rule=rule,
            subject_kind=subject_kind,
            subject_id=subject_id or case.id,
            case_id=case.id,
            center=case.center,
            department=case.department,
            window=case.window,
            item=case.item.code,
            expected_from=max(start, case.recorded_at),
            expected_until=until,
        )

    def _expect_ticket(
        self,
        ticket: _Ticket,
        center: Center,
        violation: str,
        due: dt.datetime,
        until: dt.datetime | None = None,
    ) -> Expectation:
        return Expectation(
            violation,
            "offsystem.ticket_without_case",
            "ticket",
            ticket.id,
            due + SECOND,
            until,
            center=center.code,
            department=ticket.department,
            window=ticket.window.code if ticket.window else None,
            item=ticket.item.code,
        )

    def _expect_case(self, case: _Case) -> Iterator[Expectation]:
        """Every finding the case must carry, each on the interval it is visible.

        The same counting as the law and the rules, from the plan's own figures: the
        deadline is the end of the Nth working day after acceptance plus the suspended
        working days; yellow from the first day whose remaining working days are at or
        below the threshold; red from the first second after the due instant.
        """
        for expectation in self._case_findings(case):
            until = expectation.expected_until
            if until is None or expectation.expected_from < until:
                yield expectation

    def _case_findings(self, case: _Case) -> Iterator[Expectation]:
        item = case.item
        injected = case.violation in TIMELINE_VIOLATIONS
        violation = case.violation if injected else WARNING
        accepted_day = self.local(case.accepted_at)
        extension = case.suspension.working_days if case.suspension else 0
        due = self.policy.end_of(self.wd(accepted_day, item.promised_limit_days + extension))
        statutory = self.policy.end_of(self.wd(accepted_day, item.statutory_limit_days + extension))
        concluded = case.concluded_at

        def late(deadline: dt.datetime) -> bool:
            return concluded is None or concluded.replace(microsecond=0) > deadline

        if not item.immediate:
            threshold = self._threshold(item)
            yellow_days = item.promised_limit_days + extension - threshold
            start = (
                max(self.start_of(self.wd(accepted_day, yellow_days)), case.accepted_at)
                if yellow_days >= 1
                else case.accepted_at
            )
            end = due + SECOND if late(due) else concluded
            assert end is not None
            if start < end:
                yield self._expectation(
                    case, violation, "case.due_soon", start, end, injected=injected
                )
        if (late(due) or late(statutory)) and not injected:
            raise AssertionError(f"planner: clean case {case.id} would be late")
        if late(due):
            if concluded is None or concluded > due + SECOND:
                yield self._expectation(
                    case, violation, "case.overdue", due + SECOND, concluded, injected=injected
                )
            if concluded is not None:
                yield self._expectation(
                    case, violation, "case.concluded_late", concluded, injected=injected
                )
        if late(statutory):
            yield self._expectation(
                case, violation, "case.statutory_overdue", statutory + SECOND, injected=injected
            )
        for step in case.steps:
            step_extension = 0
            s = case.suspension
            if (
                s is not None
                and step.started_at <= s.started_at
                and (step.ended_at is None or s.ended_at <= step.ended_at)
            ):
                step_extension = s.working_days
            step_due = self.policy.end_of(
                self.wd(self.local(step.started_at), step.limit + step_extension)
            )
            if step.ended_at is None or step.ended_at.replace(microsecond=0) > step_due:
                yield self._expectation(
                    case,
                    violation,
                    "case.step_overdue",
                    step_due + SECOND,
                    subject_kind="step",
                    subject_id=f"{case.id}/{step.seq}",
                    injected=injected,
                )
        s = case.suspension
        cap = item.max_suspension_days
        if s is not None and cap is not None and s.working_days > cap:
            from_day = self.wd(self.local(s.started_at), cap + 1)
            yield self._expectation(
                case,
                "suspension_overrun",
                "case.suspension_overdue",
                self.start_of(from_day),
                subject_kind="suspension",
                subject_id=f"{case.id}/1",
            )
        if case.violation in ("backfilled_case", "instant_conclusion"):
            start = case.recorded_at if case.violation == "backfilled_case" else concluded
            assert start is not None
            yield self._expectation(case, case.violation, "offsystem.backfilled_case", start)
        if case.violation == "fee_missing":
            grace = self.parameters.fees.grace(item.code, case.department)
            deadline = self.policy.end_of(self.wd(accepted_day, grace))
            yield self._expectation(
                case, "fee_missing", "fee.not_in_designated_account", deadline + SECOND
            )
        if case.violation == "over_standard":
            yield self._expectation(case, "over_standard", "fee.amount_mismatch", case.recorded_at)
        if case.violation == "unauthorized_fee":
            yield self._expectation(case, "unauthorized_fee", "fee.unauthorized", case.recorded_at)
