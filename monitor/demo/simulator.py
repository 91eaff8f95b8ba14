"""The hall simulator: backfill past days quickly, or keep producing traffic live.

Both modes write the same rows: a backfill to instant T writes each row as it stood at T
(its latest version stamped at or before T), and a live run writes each version when
its clock passes it. So a hall backfilled to T1 and then run live to T2 holds exactly
what a backfill to T2 holds — the determinism the tests rely on.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from monitor.clock import Clock
from monitor.config import Config
from monitor.deadlines import DeadlinePolicy
from monitor.demo.catalogue import Catalogue, build_catalogue
from monitor.demo.database import HallDatabase
from monitor.demo.plan import DayPlan, DayPlanner, Expectation, ViolationRates, compact, yuan
from monitor.demo.schema import HALL_TABLES, SXML, Table
from monitor.scan import build_calendar

log = structlog.get_logger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class SimulationSpec:
    """What hall to simulate: the seed decides everything else."""

    seed: int = 2026
    centers: int = 2
    windows: int = 30
    arrivals_per_window: float = 20.0  # per window and working day, before the weekday factor
    scale: float = 1.0  # multiplies the windows, and so the arrivals (a province in one hall)
    rates: ViolationRates = field(default_factory=ViolationRates)


@dataclass
class Produced:
    """What a backfill or a live tick wrote."""

    rows: Counter[str] = field(default_factory=Counter)  # by table
    injected: Counter[str] = field(default_factory=Counter)  # violations, by kind

    def count(self, expectations: list[Expectation]) -> None:
        """Injected violations among ``expectations``: one per kind and subject case/row."""
        seen = {(e.violation, e.case_id or e.subject_id) for e in expectations if e.injected}
        self.injected.update(kind for kind, _ in seen)


def days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


class HallSimulator:
    """A deterministic service center, built from a spec and the daemon's configuration.

    The configuration gives the calendar and the rule parameters (thresholds, grace
    periods), so the simulator's ground truth counts time exactly as the daemon will.
    """

    def __init__(self, spec: SimulationSpec, config: Config, tz: ZoneInfo = SHANGHAI) -> None:
        self.spec = spec
        self.tz = tz
        self.catalogue: Catalogue = build_catalogue(
            spec.centers, max(1, round(spec.windows * spec.scale))
        )
        self.calendar = build_calendar(config)
        self.policy = DeadlinePolicy(tz=tz, end_of_day=config.calendar.end_of_day)
        self.planner = DayPlanner(
            self.catalogue,
            self.calendar,
            self.policy,
            config.rules,
            seed=spec.seed,
            rates=spec.rates,
            arrivals_per_window=spec.arrivals_per_window,
        )

    def catalogue_rows(self, since: dt.date) -> list[dict[str, Any]]:
        """The item catalogue (SXML), as published on the simulation's first day."""
        stamp = compact(dt.datetime.combine(since, dt.time(0), tzinfo=self.tz), self.tz)
        return [
            {
                "SXBM": item.code,
                "SXMC": item.name,
                "BMBM": item.department,
                "BJLX": "1" if item.immediate else "2",
                "FDSX": str(item.statutory_limit_days),
                "CNSX": str(item.promised_limit_days),
                "SFBZ": yuan(item.fee_standard_fen),
                "QXSFRQ": None
                if item.fee_abolished_on is None
                else f"{item.fee_abolished_on:%Y%m%d}",
                "TBCXSX": None
                if item.max_suspension_days is None
                else str(item.max_suspension_days),
                "GXSJ": stamp,
            }
            for item in self.catalogue.items
        ]

    def plans(self, day: dt.date) -> Iterator[DayPlan]:
        for center in self.catalogue.centers:
            yield self.planner.plan(center, day)

    def day_rows(
        self, day: dt.date, end: dt.datetime
    ) -> tuple[dict[str, list[dict[str, Any]]], list[Expectation]]:
        """A day's rows as they stood at ``end`` (by table name), and its ground truth."""
        rows: dict[str, list[dict[str, Any]]] = {}
        expectations: list[Expectation] = []
        for plan in self.plans(day):
            for history in plan.histories:
                row = history.as_of(end)
                if row is not None:
                    rows.setdefault(history.table.name, []).append(row)
            expectations.extend(plan.expectations)
        return rows, expectations

    def backfill(
        self, db: HallDatabase, first: dt.date, end: dt.datetime, workers: int = 1
    ) -> Produced:
        """Write the hall from ``first`` through ``end`` as it stood at ``end``.

        Into empty tables in bulk; over an earlier run (same seed and first day) row by
        row, which changes nothing that was already there. With ``workers`` > 1, days are
        planned in that many processes while this one writes (each day is planned from
        its own random stream, so the rows are the same).
        """
        replace = not db.is_empty()
        if replace:
            run = db.run()
            if run.get("first_day") != first.isoformat() or run.get("seed") != str(self.spec.seed):
                raise ValueError(
                    f"the database holds a simulation with seed {run.get('seed')} from "
                    f"{run.get('first_day')}; reset it to start another"
                )
        produced = Produced()
        db.write({SXML: self.catalogue_rows(first)}, replace=replace)
        produced.rows["SXML"] += len(self.catalogue.items)
        tables = {table.name: table for table in HALL_TABLES}
        span = list(days(first, end.astimezone(self.tz).date()))
        for rows, expectations in self._planned(span, end, workers):
            db.write({tables[name]: batch for name, batch in rows.items()}, replace=replace)
            db.write_ground_truth(expectations, replace=replace)
            for name, batch in rows.items():
                produced.rows[name] += len(batch)
            produced.count(expectations)
        db.set_run(seed=str(self.spec.seed), first_day=first.isoformat(), through=end.isoformat())
        log.info(
            "hall_backfilled",
            first_day=first.isoformat(),
            through=end.isoformat(),
            rows=dict(produced.rows),
        )
        return produced

    def _planned(
        self, span: list[dt.date], end: dt.datetime, workers: int
    ) -> Iterator[tuple[dict[str, list[dict[str, Any]]], list[Expectation]]]:
        if workers <= 1 or len(span) <= 1:
            yield from (self.day_rows(day, end) for day in span)
            return
        # Forked workers inherit this simulator; only the days' rows travel back.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_adopt, initargs=(self,)
        ) as pool:
            yield from pool.map(_day_rows, span, itertools.repeat(end))

    def live(self, db: HallDatabase, first: dt.date, since: dt.datetime) -> LiveHall:
        return LiveHall(self, db, first, since)


_WORKER_SIMULATOR: HallSimulator | None = None


def _adopt(simulator: HallSimulator) -> None:
    global _WORKER_SIMULATOR
    _WORKER_SIMULATOR = simulator


def _day_rows(
    day: dt.date, end: dt.datetime
) -> tuple[dict[str, list[dict[str, Any]]], list[Expectation]]:
    assert _WORKER_SIMULATOR is not None
    return _WORKER_SIMULATOR.day_rows(day, end)


class LiveHall:
    """The hall going on after ``since``: each row version is written when its time comes."""

    def __init__(
        self, simulator: HallSimulator, db: HallDatabase, first: dt.date, since: dt.datetime
    ) -> None:
        self.simulator = simulator
        self.db = db
        self.since = since
        self._order = itertools.count()
        self._queue: list[tuple[dt.datetime, int, Table, dict[str, Any]]] = []
        self._pending: dict[tuple[str, tuple[Any, ...]], tuple[Table, dict[str, Any]]] = {}
        self.planned_through = since.astimezone(simulator.tz).date()
        for day in days(first, self.planned_through):
            for plan in simulator.plans(day):
                self._enqueue(plan, after=since)

    def _enqueue(self, plan: DayPlan, after: dt.datetime) -> None:
        for history in plan.histories:
            for instant, row in history.versions:
                if instant > after:
                    heapq.heappush(self._queue, (instant, next(self._order), history.table, row))

    def advance(self, now: dt.datetime) -> Produced:
        """Write everything that has happened by ``now``; plan the days it entered."""
        produced = Produced()
        today = now.astimezone(self.simulator.tz).date()
        while self.planned_through < today:
            self.planned_through += dt.timedelta(days=1)
            expectations: list[Expectation] = []
            for plan in self.simulator.plans(self.planned_through):
                self._enqueue(plan, after=self.since)
                expectations.extend(plan.expectations)
            self.db.write_ground_truth(expectations, replace=True)
            produced.count(expectations)
        while self._queue and self._queue[0][0] <= now:
            _, _, table, row = heapq.heappop(self._queue)
            key = tuple(row[c.name] for c in table.primary_key.columns)
            self._pending[(table.name, key)] = (table, row)  # a later version wins
        if self._pending:
            batches: dict[Table, list[dict[str, Any]]] = {}
            for table, row in self._pending.values():
                batches.setdefault(table, []).append(row)
            self.db.write(batches, replace=True)  # kept pending if this raises
            for table, batch in batches.items():
                produced.rows[table.name] += len(batch)
            self._pending.clear()
        self.db.set_run(through=now.isoformat())
        return produced

    def run(self, clock: Clock, stop: threading.Event, tick_seconds: float = 1.0) -> None:
        """Advance with ``clock`` every ``tick_seconds`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.advance(clock.now())
            except Exception as exc:  # a locked or unreachable database: try next tick
                log.warning("simulator_write_failed", error=str(exc).splitlines()[0])
            stop.wait(tick_seconds)
