"""Throughput of the working-day calendar and of full case deadline computations.

What it measures (wall clock, ``time.perf_counter``, single process):

1. building ``WorkingCalendar(2015, 2035)`` (the ``holidays.China`` schedule for 21 years
   plus the per-day precomputation that makes every query O(1));
2. 1,000,000 ``WorkingCalendar.nth_working_day_after`` calls on random dates of 2025-2026
   with limits 0-20 (the core of every deadline);
3. 200,000 ``monitor.deadlines.case_deadlines`` calls on varied, realistic cases: random
   acceptance instants in 2025-2026, promised limits 0-20 with a statutory limit at or
   above it, about a third with one to three suspensions (some still open), some with a
   source-supplied promised date, some concluded, evaluated at an instant after acceptance.

Inputs are generated (and the records built) before the clock starts, with a fixed
seed, so only the computation is timed. Run from the repository root::

    .venv/bin/python bench/calendar_throughput.py [--calls N] [--cases N] [--seed S]

It takes well under 30 seconds on a laptop and prints one line per measurement.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from zoneinfo import ZoneInfo

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy, case_deadlines
from monitor.model import Case, Item, Suspension

TZ = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2025, 1, 1, tzinfo=TZ)
SPAN_MINUTES = 2 * 365 * 24 * 60  # acceptance instants over 2025-2026
DISTINCT_CASES = 200_000  # distinct case objects (cycled through if --cases is larger)


def random_items(rng: random.Random) -> list[Item]:
    """Catalogue items with promised limits 0-20 and statutory limits at or above them."""
    items = []
    for promised in range(21):
        statutory = min(promised + rng.choice([0, 0, 5, 10, 15, 20]), 60)
        items.append(
            Item(
                code=f"I{promised:02d}",
                statutory_limit_days=statutory,
                promised_limit_days=promised,
            )
        )
    return items


def random_case(rng: random.Random, seq: int, item: Item) -> tuple[Case, dt.datetime]:
    """One case with its evaluation instant: suspensions, source promise, conclusion mixed in."""
    accepted = START + dt.timedelta(minutes=rng.randrange(SPAN_MINUTES))
    at = accepted + dt.timedelta(minutes=rng.randrange(60 * 24 * 45))
    suspensions: list[Suspension] = []
    if rng.random() < 0.35:
        cursor = accepted
        for s in range(rng.randint(1, 3)):
            cursor += dt.timedelta(minutes=rng.randrange(60 * 24 * 10))
            ended = None
            if rng.random() < 0.8:
                ended = cursor + dt.timedelta(minutes=rng.randrange(60 * 24 * 15))
            suspensions.append(Suspension(seq=s, kind="补正", started_at=cursor, ended_at=ended))
            if ended is None:
                break
            cursor = ended
    promised_due = None
    if rng.random() < 0.2:
        promised_due = accepted + dt.timedelta(days=item.promised_limit_days * 1.4 + 1)
    concluded = None
    if rng.random() < 0.5:
        concluded = accepted + dt.timedelta(minutes=rng.randrange(60 * 24 * 40))
    case = Case(
        id=f"C{seq}",
        item=item.code,
        accepted_at=accepted,
        promised_due_at=promised_due,
        concluded_at=concluded,
        suspensions=tuple(suspensions),
    )
    return case, at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="nth_working_day_after calls")
    parser.add_argument("--cases", type=int, default=200_000, help="case_deadlines calls")
    parser.add_argument("--seed", type=int, default=20261001)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    t0 = time.perf_counter()
    calendar = WorkingCalendar(2015, 2035, confirmed_until=dt.date(2026, 12, 31))
    build = time.perf_counter() - t0
    print(f"calendar build 2015-2035:       {build * 1000:10.1f} ms  ({calendar.version})")

    first = dt.date(2025, 1, 1).toordinal()
    days = [dt.date.fromordinal(first + rng.randrange(730)) for _ in range(10_000)]
    limits = [rng.randint(0, 20) for _ in range(10_000)]
    pairs = [(days[i % 10_000], limits[(i * 7) % 10_000]) for i in range(10_000)]
    nth = calendar.nth_working_day_after
    rounds, rest = divmod(args.calls, len(pairs))
    t0 = time.perf_counter()
    for _ in range(rounds):
        for day, n in pairs:
            nth(day, n)
    for day, n in pairs[:rest]:
        nth(day, n)
    elapsed = time.perf_counter() - t0
    print(
        f"nth_working_day_after x{args.calls:,}: {elapsed:8.2f} s  "
        f"{args.calls / elapsed:12,.0f} deadlines/s"
    )

    items = random_items(rng)
    policy = DeadlinePolicy()
    distinct = min(DISTINCT_CASES, args.cases) or 1
    workload = []
    for seq in range(distinct):
        item = rng.choice(items)
        case, at = random_case(rng, seq, item)
        workload.append((case, item, at))
    suspended = sum(1 for case, _, _ in workload if case.suspensions)
    rounds, rest = divmod(args.cases, len(workload))
    t0 = time.perf_counter()
    for _ in range(rounds):
        for case, item, at in workload:
            case_deadlines(case, item, calendar, policy, at)
    for case, item, at in workload[:rest]:
        case_deadlines(case, item, calendar, policy, at)
    elapsed = time.perf_counter() - t0
    print(
        f"case_deadlines x{args.cases:,}:        {elapsed:8.2f} s  "
        f"{args.cases / elapsed:12,.0f} cases/s  "
        f"({distinct:,} distinct cases, {suspended / distinct:.0%} with suspensions)"
    )


if __name__ == "__main__":
    main()
