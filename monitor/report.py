"""``jiancha report``: make the monthly bulletin of a state store, on demand or on the 1st.

The figures come from the state store only (:mod:`monitor.monthly`), so a report can be
made while the daemon runs (SQLite in WAL mode, or PostgreSQL) and regenerated at any
time with the same numbers. On a terminal the steps show as a progress bar (rich);
under the daemon they are only logged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from exporters.report import write_report
from monitor.collector import collector_paused
from monitor.config import Config
from monitor.deadlines import DeadlinePolicy
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
