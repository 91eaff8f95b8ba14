"""``jiancha demo`` and ``jiancha simulate``: the simulated hall with the daemon watching it.

``jiancha demo`` is the README's first command: a SQLite hall in ``var/demo``, a few
weeks backfilled, the daemon's findings replayed over them, then the hall and the daemon
live on one accelerated clock, with a summary in the terminal; Ctrl-C stops both.
``jiancha simulate`` only produces the hall, into any database (the compose stack's
PostgreSQL, a benchmark's), optionally going on live until it is stopped.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading
from pathlib import Path

import yaml
from pydantic import SecretStr

from monitor.calendar import WorkingCalendar
from monitor.clock import Clock
from monitor.config import ConfigError, load_config, parse_config
from monitor.demo.catalogue import build_catalogue
from monitor.demo.config import render_config
from monitor.demo.database import HallDatabase
from monitor.demo.replay import replay
from monitor.demo.simulator import HallSimulator, Produced, SimulationSpec
from monitor.demo.terminal import SummaryPrinter
from monitor.settings import Settings

DEMO_OPENING = dt.time(8, 45)  # the demo's clock starts a quarter of an hour before opening


def demo_start(now: dt.datetime, calendar: WorkingCalendar) -> dt.datetime:
    """08:45 on the latest working day up to ``now``'s date, in ``now``'s zone."""
    day = now.date()
    while not calendar.is_working_day(day):
        day -= dt.timedelta(days=1)
    return dt.datetime.combine(day, DEMO_OPENING, tzinfo=now.tzinfo)


def describe(produced: Produced) -> str:
    rows = produced.rows
    injected = ", ".join(f"{kind} {n}" for kind, n in sorted(produced.injected.items()))
    return (
        f"  {rows['SL_BJ']} cases, {rows['PD_QH']} tickets, {rows['YH_JYMX']} payments, "
        f"{rows['HCP_PJ']} ratings\n  injected: {injected or 'none'}"
    )


def _unlink_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_demo(
    workdir: Path,
    settings: Settings,
    *,
    spec: SimulationSpec,
    backfill_days: int,
    speed: float,
    at: dt.datetime | None,
    once: bool,
    replay_history: bool,
    live: bool = True,
) -> int:
    """Build the demo hall in ``workdir`` and run it with the daemon until Ctrl-C (or,
    not ``live``, stop once the history is replayed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    hall, state = workdir / "hall.db", workdir / "jiancha-state.db"
    _unlink_sqlite(hall)  # every demo starts afresh
    _unlink_sqlite(state)
    config_path = workdir / "jiancha.yaml"
    config_path.write_text(
        render_config(
            build_catalogue(spec.centers, spec.windows),
            url="sqlite:///hall.db",
            state_url="sqlite:///jiancha-state.db",
            poll_seconds=5,
            evaluation_seconds=10,
        ),
        encoding="utf-8",
    )
    config = load_config(config_path)
    simulator = HallSimulator(spec, config, settings.tz)
    start = at or demo_start(dt.datetime.now(settings.tz), simulator.calendar)
    first = start.date() - dt.timedelta(days=backfill_days)
    db = HallDatabase(f"sqlite:///{hall.resolve()}")
    try:
        db.create(reset=True)
        print(f"demo hall in {workdir}: backfilling {first} .. {start:%Y-%m-%d %H:%M}", flush=True)
        print(describe(simulator.backfill(db, first, start)), flush=True)
        settings = settings.model_copy(
            update={
                # A fixed key for the demo's fictitious applicants, so no warning.
                "applicant_hash_key": settings.applicant_hash_key or SecretStr("jiancha-demo"),
            }
        )
        if once:
            from exporters.findings import render_table
            from monitor.scan import scan

            print(f"findings as of {start.isoformat()}:")
            print(render_table(scan(config, settings, start).findings))
            return 0
        if replay_history:
            replay(config, settings, first, start, _replay_progress)
        if not live:
            print(
                f"state store {state}; the bulletin of a month: jiancha report --config "
                f"{config_path} --month {start:%Y-%m} --at {start.isoformat()}",
                flush=True,
            )
            return 0
        return _live(config_path, settings, simulator, db, first, start, speed)
    finally:
        db.close()


def _replay_progress(done: int, total: int, instant: dt.datetime) -> None:
    """One line, rewritten in place on a terminal; only the last one otherwise."""
    line = f"  replaying supervision {instant:%Y-%m-%d} ({done}/{total})"
    if sys.stdout.isatty():
        print(f"\r{line}", end="\n" if done == total else "", flush=True)
    elif done == total:
        print(line, flush=True)


def _live(
    config_path: Path,
    settings: Settings,
    simulator: HallSimulator,
    db: HallDatabase,
    first: dt.date,
    start: dt.datetime,
    speed: float,
) -> int:
    from monitor.daemon import run

    clock = Clock(settings.tz, start, speed)
    live = simulator.live(db, first, start)
    stop = threading.Event()
    producer = threading.Thread(target=live.run, args=(clock, stop), name="hall", daemon=True)
    endpoint = f"http://{settings.listen_address}:{settings.listen_port}"
    printer = SummaryPrinter(f"{endpoint}/metrics", clock.now)
    print(
        f"hall clock from {start:%Y-%m-%d %H:%M}, {speed:g}× real time\n"
        f"  metrics  {endpoint}/metrics\n  health   {endpoint}/healthz, {endpoint}/readyz\n"
        f"  config   {config_path}\nCtrl-C stops.",
        flush=True,
    )
    producer.start()
    printer.start()
    try:
        return run(load_config(config_path), settings, clock=clock)
    finally:
        stop.set()
        printer.stop.set()
        producer.join(timeout=10)


def run_simulate(
    url: str,
    settings: Settings,
    *,
    spec: SimulationSpec,
    backfill_days: int,
    end: dt.datetime | None,
    reset: bool,
    config_out: Path | None,
    live: bool,
    speed: float,
    workers: int = 1,
) -> int:
    """Produce the hall into ``url``; with ``live``, go on until SIGTERM/SIGINT."""
    text = render_config(build_catalogue(spec.centers, spec.windows))
    if config_out is not None:
        config_out.write_text(text, encoding="utf-8")
        print(f"daemon configuration written to {config_out}", flush=True)
    config = parse_config(yaml.safe_load(text), Path.cwd())
    simulator = HallSimulator(spec, config, settings.tz)
    end = end or dt.datetime.now(settings.tz)
    db = HallDatabase(url)
    try:
        db.create(reset=reset)
        previous = db.run()
        first = (
            dt.date.fromisoformat(previous["first_day"])
            if "first_day" in previous
            else end.date() - dt.timedelta(days=backfill_days)
        )
        print(f"hall in {db.engine.url.render_as_string()}: {first} .. {end:%Y-%m-%d %H:%M}")
        try:
            produced = simulator.backfill(db, first, end, workers)
        except ValueError as exc:  # another seed's hall is there
            raise ConfigError(f"--url: {exc} (--reset)") from None
        print(describe(produced), flush=True)
        if not live:
            return 0
        clock = Clock(settings.tz, None if speed == 1 else end, speed)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        print(f"live at {speed:g}× real time; Ctrl-C stops.", flush=True)
        simulator.live(db, first, end).run(clock, stop)
        return 0
    finally:
        db.close()
