"""``jiancha report``: make the monthly bulletin of a state store, on demand or on the 1st.

The figures come from the state store only (:mod:`monitor.monthly`), so a report can be
made while the daemon runs (SQLite in WAL mode, or PostgreSQL) and regenerated at any
time with the same numbers. On a terminal the steps show as a progress bar (rich);
under the daemon they are only logged, and the report is made in a process of its own
(:func:`generate_apart`).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import resource
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from exporters.report import write_report
from monitor.collector import collector_paused
from monitor.config import Config
from monitor.deadlines import DeadlinePolicy
from monitor.logs import configure_logging
from monitor.monthly import build_report, load_inputs, month_period, previous_month
from monitor.store import StateStore

log = structlog.get_logger(__name__)

READING_STEPS = 3  # SLA records, the ledger, items and ratings


def no_progress(_: str) -> None:
    """Steps go unreported (not a terminal, or the daemon)."""


def step_count(centers: int, formats: int) -> int:
    """How many steps :func:`generate` reports: reading, then per bulletin its figures,
    its charts and each format."""
    return READING_STEPS + centers * (2 + formats)


def generate(
    config: Config,
    month: str,
    now: dt.datetime,
    tz: ZoneInfo,
    *,
    centers: Sequence[str | None] = (None,),
    formats: Sequence[str] | None = None,
    directory: Path | None = None,
    step: Callable[[str], None] = no_progress,
) -> list[Path]:
    """Write the bulletin of ``month`` (one per entry of ``centers``; None: all centers)."""
    policy = DeadlinePolicy(tz=tz, end_of_day=config.calendar.end_of_day)
    period = month_period(month, policy, now)
    previous = month_period(previous_month(month), policy, now)
    written: list[Path] = []
    with collector_paused():
        store = StateStore(config.state.url, config.state.schema_name)
        try:
            store.open()
            inputs = load_inputs(store, step, period=period, previous=previous)
        finally:
            store.close()
        for center in centers:
            step(f"统计 {center or '全部中心'}")
            report = build_report(inputs, period, previous, policy, now, center)
            written += write_report(
                report,
                formats or config.report.formats,
                directory or config.report.directory,
                step,
            )
    log.info("report_written", month=month, files=[str(p) for p in written])
    return written


@dataclass(frozen=True)
class Written:
    """What :func:`generate_apart` wrote, and the most memory its process held."""

    paths: list[Path]
    peak_rss_bytes: int


def generate_apart(
    config: Config,
    month: str,
    now: dt.datetime,
    tz: ZoneInfo,
    *,
    centers: Sequence[str | None] = (None,),
    log_format: str = "auto",
    log_level: str = "INFO",
) -> Written:
    """:func:`generate` in a process of its own, as the daemon makes its monthly report.

    The process is spawned (a fresh interpreter, not a fork of a daemon that holds a
    province's cases and runs threads), reads the state store like ``jiancha report``
    and exits when done. So the report's libraries and fonts (WeasyPrint, fontTools,
    matplotlib, openpyxl) and the month's rows — together a quarter of a gigabyte more
    in a daemon holding a province — never stay in its memory, its minutes of counting
    and layout do not hold the interpreter's lock the polls and evaluations need, and a
    writer that fails or crashes fails the report alone (raised here, for the job to
    record)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as process:
        return process.submit(
            _generate_here, config, month, now, tz, tuple(centers), log_format, log_level
        ).result()


def _generate_here(
    config: Config,
    month: str,
    now: dt.datetime,
    tz: ZoneInfo,
    centers: tuple[str | None, ...],
    log_format: str,
    log_level: str,
) -> Written:
    """The child process of :func:`generate_apart`: the daemon's logging, then the report."""
    configure_logging(log_format, log_level)
    paths = generate(config, month, now, tz, centers=centers)
    return Written(paths, _own_peak_rss())


def _own_peak_rss() -> int:
    """This process's own peak RSS in bytes: Linux's ``VmHWM`` of its memory. Not
    ``ru_maxrss``, which a spawned process starts with its parent's (Linux carries the
    peak of the forked copy over the exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def terminal_progress(total: int) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on stderr, advanced by each step's description."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task("月度电子监察通报", total=total)

        def step(description: str) -> None:
            progress.update(task, advance=1, description=description)

        yield step
        progress.update(task, completed=total, description="完成")
