"""Replay supervision over a backfilled hall, so the findings ledger carries its history.

A daemon started on a freshly backfilled hall would see weeks of cases at once and open
every finding "now". Instead the daemon polls the hall once and evaluates at the close
of every past working day: rules judge **as of** the instant (a conclusion, a payment or
a case typed in later does not exist yet), so each finding opens, escalates and resolves
on the day it would have in a live hall — which is what the monthly report reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from monitor.clock import Clock
from monitor.config import Config
from monitor.daemon import Daemon
from monitor.demo.simulator import days
from monitor.settings import Settings
from monitor.sources.base import SourceError

CLOSING_TIME = dt.time(17, 30)


def replay_instants(
    daemon: Daemon, first: dt.date, until: dt.datetime, at: dt.time = CLOSING_TIME
) -> list[dt.datetime]:
    """The close of every working day from ``first`` before ``until``, then ``until``."""
    instants = [
        dt.datetime.combine(day, at, tzinfo=daemon.tz)
        for day in days(first, daemon.policy.local_date(until))
        if daemon.calendar.is_working_day(day)
    ]
    return [t for t in instants if t < until] + [until]


def replay(
    config: Config,
    settings: Settings,
    first: dt.date,
    until: dt.datetime,
    progress: Callable[[int, int, dt.datetime], None] | None = None,
) -> int:
    """Poll every source once, evaluate at each past closing time; the evaluations made."""
    daemon = Daemon(config, settings, clock=Clock(settings.tz, until))
    daemon.start()
    try:
        for name, state in daemon.sources.items():
            if not daemon.poll(name, full=True):
                raise SourceError(f"source {name} could not be polled: {state.last_error}")
        instants = replay_instants(daemon, first, until)
        for done, instant in enumerate(instants, 1):
            daemon.run_evaluation(instant)
            if progress is not None:
                progress(done, len(instants), instant)
        return len(instants)
    finally:
        daemon.close()
