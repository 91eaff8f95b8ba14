"""Province-scale benchmark: one daemon over a big hall in PostgreSQL, against the read floor.

Builds the hall of ``bench/hall.py`` (``--cases`` open cases, twice as many queue
tickets, half as many bank deposits) in a fresh PostgreSQL database with COPY, then
measures in one run, with the daemon in this process and its state store in a second
fresh database (both dropped at the end):

- **read floor** — a bare psycopg fetch (server-side cursor) of every configured query;
- **ingest** — the daemon's first poll of every source (map, store, remember), as a
  throughput ratio to the read floor of the same rows;
- **full evaluation** — every rule over the whole hall: the first one after ingest
  (every finding opened in the ledger) and a second, steady one;
- **incremental cycle** — 10,000 rows changed at the source (cases concluded, new
  cases, tickets and deposits), then poll + store + evaluate + metrics, end to end;
- **/metrics scrape** — over HTTP from the daemon's endpoint, median of five;
- **peak RSS** of this process (the generator runs in a child process);
- **monthly report** for a 300 k-case month — a hook until issue 7 lands.

Writes a Markdown table (machine, date, command, load) to ``--output`` and, with
``--profile``, the top hot spots of a full evaluation and an incremental cycle. Run
from the repository root::

    .venv/bin/python bench/province.py --cases 1000000 --output bench/RESULTS.md --profile
    .venv/bin/python bench/province.py --smoke        # 20 k cases: checks it runs, not timings
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import platform
import pstats
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client import generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hall import AT, QUERIES, SHANGHAI, SINCE_FORMATS, HallSpec, compact, daemon_config, naive

from exporters.http import MetricsServer
from monitor.clock import Clock
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.engine import Engine
from monitor.logs import configure_logging
from monitor.settings import Settings
from monitor.sources.base import since_value

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHANGED_ROWS = 10_000


@dataclass
class Figure:
    """One line of the results table."""

    target: str
    goal: str
    measured: str
    met: bool | None  # None: not measured
    note: str = ""


@dataclass
class Run:
    spec: HallSpec
    figures: list[Figure] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)
    findings: int = 0


def _dsn(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


@contextmanager
def fresh_databases(*suffixes: str) -> Iterator[list[str]]:
    """Uniquely named empty databases, dropped on the way out whatever happens."""
    stem = f"jiancha_bench_{uuid.uuid4().hex[:8]}"
    names = [f"{stem}_{s}" for s in suffixes]
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield names
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _timed(run: Run, label: str, step: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = step()
    run.timings[label] = time.perf_counter() - started
    print(f"  {label:<28} {run.timings[label]:8.2f} s", flush=True)
    return result


def _profiled(run: Run, label: str, step: Callable[[], Any], top: int = 15) -> None:
    profile = cProfile.Profile()
    profile.runcall(step)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    header = next((ln.strip() for ln in lines if "function calls" in ln), "")
    run.profiles[label] = "\n".join([header, *lines[start:]])


def read_floor(source_dsn: str) -> tuple[float, int]:
    """Seconds and rows of a bare psycopg fetch of every configured query (full poll)."""
    rows = 0
    started = time.perf_counter()
    with psycopg.connect(source_dsn) as conn:
        for name, entities in QUERIES.items():
            since = since_value(None, SHANGHAI, SINCE_FORMATS[name])
            for query in entities.values():
                with conn.cursor(name="floor") as cursor:
                    cursor.itersize = 5000
                    cursor.execute(query.replace(":since", "%(since)s"), {"since": since})
                    while batch := cursor.fetchmany(5000):
                        rows += len(batch)
        conn.rollback()
    return time.perf_counter() - started, rows


def change_rows(source_dsn: str, count: int, at: dt.datetime, tag: str) -> int:
    """``count`` rows changed at the source, stamped ``at``: a busy minute of a province.

    Three tenths conclude open cases; the rest are new cases of a fee item, each with
    its 缴款单, its queue ticket and its deposit (four rows per new case).
    """
    stamp, moment = compact(at), naive(at)
    concluded = count * 3 // 10
    new = (count - concluded) // 4
    with psycopg.connect(source_dsn) as conn:
        conn.execute(
            "UPDATE SL_BJ SET BJSJ = %s, BJJGDM = '6', GXSJ = %s WHERE SBLSH IN "
            "(SELECT SBLSH FROM SL_BJ WHERE BJSJ IS NULL ORDER BY SBLSH LIMIT %s)",
            (stamp, stamp, concluded),
        )
        item, department, fee = conn.execute(
            "SELECT SXBM, BMBM, SFBZ FROM SXML WHERE SFBZ > 0 ORDER BY SXBM LIMIT 1"
        ).fetchone()
        center = conn.execute("SELECT MIN(ZXBM) FROM SL_BJ").fetchone()[0]
        window = f"{center}W00"
        accepted = at - dt.timedelta(minutes=3)
        with conn.cursor().copy("COPY SL_BJ FROM STDIN") as copy:
            for n in range(new):
                copy.write_row(
                    (
                        f"{tag}{n:09d}",
                        item,
                        center,
                        department,
                        window,
                        None,
                        f"44{tag}{n:012d}",
                        compact(accepted),
                        compact(accepted),
                        "1",
                        None,
                        None,
                        None,
                        stamp,
                        fee,
                        stamp,
                    )
                )
        with conn.cursor().copy("COPY SF_JKD FROM STDIN") as copy:
            for n in range(new):
                copy.write_row((f"JK{tag}{n:09d}", f"{tag}{n:09d}", fee, stamp))
        with conn.cursor().copy("COPY PD_QH FROM STDIN") as copy:
            for n in range(new):
                copy.write_row(
                    (
                        f"T{tag}{n:09d}",
                        f"N{n % 1000:03d}",
                        center,
                        department,
                        window,
                        item,
                        None,
                        naive(accepted) - dt.timedelta(minutes=9),
                        naive(accepted) - dt.timedelta(minutes=5),
                        moment,
                        "2",
                        False,
                        moment,
                    )
                )
        with conn.cursor().copy("COPY YH_JYLS FROM STDIN") as copy:
            for n in range(count - concluded - 3 * new):  # the rest: deposits
                copy.write_row(
                    (
                        f"YH{tag}{n:09d}",
                        f"3305016100{center}0123",
                        fee,
                        moment,
                        f"JK{tag}{n:09d}",
                        "缴款人",
                        f"{tag}{n:09d}",
                        center,
                        moment,
                    )
                )
        conn.commit()
    return count


def scrape(port: int, times: int = 5) -> tuple[float, int]:
    """Median seconds of a /metrics scrape over HTTP, and the size of the exposition."""
    durations = []
    size = 0
    for _ in range(times):
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as reply:
            size = len(reply.read())
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), size


def monthly_report_hook(run: Run) -> Figure:
    """The monthly report (issue 7) for a 300 k-case month: measured once it exists."""
    try:
        import exporters.report  # noqa: F401  # type: ignore[import-not-found]
    except ImportError:
        return Figure(
            "monthly report, 300 k-case month",
            "≤ 60 s",
            "not measured",
            None,
            "HOOK: issue 7 (monthly report) is not on main yet — measure_monthly_report()",
        )
    return Figure(
        "monthly report, 300 k-case month", "≤ 60 s", "not measured", None, "hook not wired"
    )


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(run: Run, profile: bool) -> None:
    spec = run.spec
    with fresh_databases("source", "state") as (source_db, state_db):
        print(f"hall: {spec.cases} open cases into {source_db}", flush=True)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("hall.py")),
                "--url",
                _dsn(source_db),
                "--cases",
                str(spec.cases),
                "--seed",
                str(spec.seed),
            ],
            check=True,
        )
        run.timings["generate (COPY)"] = time.perf_counter() - started

        floor_s, floor_rows = _timed(
            run, "read floor (bare psycopg)", lambda: read_floor(_dsn(source_db))
        )
        run.rows["source rows"] = floor_rows

        data = daemon_config(
            f"postgresql+psycopg://postgres@127.0.0.1:5432/{source_db}",
            f"postgresql+psycopg://postgres@127.0.0.1:5432/{state_db}",
            spec,
        )
        workdir = Path(tempfile.mkdtemp(prefix="jiancha-bench-"))
        config = parse_config(data, workdir)
        settings = Settings(applicant_hash_key="bench")
        clock = Clock(SHANGHAI, AT)
        daemon = Daemon(config, settings, clock=clock)
        server = MetricsServer("127.0.0.1", 0, daemon.metrics.registry, daemon.readiness)
        server.start()
        try:
            daemon.start()

            def ingest() -> None:
                for name in daemon.sources:
                    if not daemon.poll(name):
                        raise RuntimeError(f"poll of {name} failed")

            _timed(run, "ingest (first poll)", ingest)
            ingest_s = run.timings["ingest (first poll)"]
            first = _timed(run, "first evaluation", lambda: daemon.evaluate(AT))
            run.findings = len(first)
            full_at = AT + dt.timedelta(minutes=1)

            def full() -> None:
                daemon.engine = Engine()  # forget every verdict: each case is judged again
                daemon.evaluate(full_at)

            _timed(run, "full evaluation", full)
            steady_at = AT + dt.timedelta(minutes=1, seconds=30)
            _timed(run, "steady evaluation (no change)", lambda: daemon.evaluate(steady_at))
            scrape_s, scrape_bytes = scrape(server.port)
            run.timings["/metrics scrape"] = scrape_s
            print(f"  {'/metrics scrape':<28} {scrape_s:8.3f} s ({scrape_bytes} bytes)")

            change_at = AT + dt.timedelta(minutes=2)
            change_rows(_dsn(source_db), CHANGED_ROWS, change_at, "N1")
            clock_at = AT + dt.timedelta(minutes=3)

            def cycle() -> None:
                for name in daemon.sources:
                    daemon.poll(name)
                daemon.evaluate(clock_at)
                generate_latest(daemon.metrics.registry)

            _timed(run, "incremental cycle", cycle)
            if profile:
                print("  profiling (not timed) …", flush=True)

                def full_again() -> None:
                    daemon.engine = Engine()
                    daemon.evaluate(AT + dt.timedelta(minutes=4))

                _profiled(run, "full evaluation", full_again)
                change_rows(_dsn(source_db), CHANGED_ROWS, AT + dt.timedelta(minutes=5), "N2")

                def second_cycle() -> None:
                    for name in daemon.sources:
                        daemon.poll(name)
                    daemon.evaluate(AT + dt.timedelta(minutes=6))
                    generate_latest(daemon.metrics.registry)

                _profiled(run, "incremental cycle", second_cycle)
        finally:
            server.stop()
            daemon.close()

    rss = peak_rss_bytes()
    run.figures = [
        Figure(
            f"full rule evaluation, {spec.cases:,} open cases",
            "≤ 5 s",
            f"{run.timings['full evaluation']:.2f} s",
            run.timings["full evaluation"] <= 5,
            "every case judged again by the rules (the engine's verdicts dropped); "
            f"first evaluation, opening every finding: {run.timings['first evaluation']:.2f} s; "
            "steady evaluation with nothing changed: "
            f"{run.timings['steady evaluation (no change)']:.2f} s",
        ),
        Figure(
            f"incremental cycle, {CHANGED_ROWS:,} changed rows",
            "≤ 1 s",
            f"{run.timings['incremental cycle']:.2f} s",
            run.timings["incremental cycle"] <= 1,
            "poll + store + evaluate + metrics",
        ),
        Figure(
            "ingest throughput vs read floor",
            "≥ 50 %",
            f"{floor_s / ingest_s:.0%}",
            floor_s / ingest_s >= 0.5,
            f"{floor_rows:,} rows: floor {floor_s:.1f} s ({floor_rows / floor_s:,.0f} rows/s), "
            f"ingest {ingest_s:.1f} s ({floor_rows / ingest_s:,.0f} rows/s)",
        ),
        Figure(
            "/metrics scrape",
            "≤ 50 ms",
            f"{scrape_s * 1000:.0f} ms",
            scrape_s <= 0.05,
            f"{scrape_bytes:,} bytes, median of 5 over HTTP",
        ),
        Figure(
            f"peak RSS, {spec.cases:,} open cases",
            "≤ 1.5 GB",
            f"{rss / 1e9:.2f} GB",
            rss <= 1.5e9,
            "whole benchmark process (the generator runs in a child)",
        ),
        monthly_report_hook(run),
    ]


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with psycopg.connect(ADMIN_DSN) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM; Python "
        f"{platform.python_version()}; PostgreSQL {server} on 127.0.0.1 (source and state)"
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def report(run: Run, command: str, load_before: str, load_after: str) -> str:
    mark = {True: "met", False: "**missed**", None: "not measured"}
    lines = [
        "# Province-scale benchmark",
        "",
        f"- date: {dt.datetime.now(SHANGHAI):%Y-%m-%d %H:%M %Z}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        f"- load average (1/5/15 min) before: {load_before}; after: {load_after}",
        f"- hall: {run.spec.cases:,} open cases, {run.rows.get('source rows', 0):,} source rows "
        f"in all; {run.findings:,} findings at the first evaluation",
        "",
        "| target | goal | measured | | notes |",
        "|---|---|---|---|---|",
    ]
    for f in run.figures:
        lines.append(f"| {f.target} | {f.goal} | {f.measured} | {mark[f.met]} | {f.note} |")
    lines += ["", "## Steps", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {label} | {seconds:.2f} |" for label, seconds in run.timings.items()]
    for label, text in run.profiles.items():
        lines += ["", f"## Hot spots: {label} (cProfile, by own time)", "", "```", text, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, help="write the Markdown results here")
    parser.add_argument("--profile", action="store_true", help="add the top hot spots")
    parser.add_argument(
        "--smoke", action="store_true", help="20 k cases: check the benchmark runs (CI)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.cases = 20_000
    configure_logging("json", "ERROR")
    load_before = load()
    run = Run(HallSpec(args.cases, seed=args.seed))
    measure(run, args.profile)
    text = report(run, shlex.join(["python", *sys.argv]), load_before, load())
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    print(text)
    expected = 6
    if len(run.figures) != expected or any(
        f.met is None and "HOOK" not in f.note for f in run.figures
    ):
        print("benchmark incomplete: a target was not measured", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
