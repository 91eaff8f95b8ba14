"""The ``jiancha`` command line: scan, run, report, check-config, demo, simulate and grafana sync.

Exit codes: 0 success; 2 configuration error (the message names the key); 3 a source
could not be polled (nothing is printed as findings: an unreachable system must never
read as "no violations").
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr, ValidationError

from exporters.findings import render_table, to_json_line
from monitor.config import ConfigError, load_config
from monitor.logs import configure_logging
from monitor.settings import Settings
from monitor.sources.base import SourceError
from monitor.store import StoreError

if TYPE_CHECKING:
    from monitor.demo.plan import ViolationRates
    from monitor.demo.simulator import SimulationSpec

EXIT_CONFIG = 2
# The example hall's rows are from just before this instant (examples/vendor_pinyin).
EXAMPLE_AT = dt.datetime.fromisoformat("2026-10-09T10:00:00+08:00")
EXIT_SOURCE = 3


def _instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. +08:00)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jiancha", description="电子监察 supervision daemon")
    commands = parser.add_subparsers(dest="command", required=True)

    scan = commands.add_parser("scan", help="poll every source once and print the findings")
    scan.add_argument("--config", required=True, type=Path)
    scan.add_argument("--at", type=_instant, help="evaluation instant, ISO 8601 with offset")
    scan.add_argument("--format", choices=("json", "table"), default="json")

    run = commands.add_parser("run", help="run the supervision daemon until SIGTERM/SIGINT")
    run.add_argument("--config", required=True, type=Path)

    window = commands.add_parser(
        "example-window-api", help="serve the example hall's window-system API (for compose)"
    )
    window.add_argument("--host", default="127.0.0.1")
    window.add_argument("--port", type=int, default=8089)

    report = commands.add_parser(
        "report", help="write the monthly supervision bulletin (月度电子监察通报)"
    )
    report.add_argument("--config", required=True, type=Path)
    report.add_argument("--month", required=True, help="YYYY-MM (the current month: to date)")
    report.add_argument(
        "--center", action="append", help="one center only (repeat for several bulletins)"
    )
    report.add_argument("--format", help="comma list of pdf, xlsx, html (default: report.formats)")
    report.add_argument("--out", type=Path, help="directory (default: report.directory)")
    report.add_argument(
        "--at",
        type=_instant,
        help="generate as of this instant, ISO 8601 with offset (default: now; a simulated "
        "hall's clock)",
    )

    check = commands.add_parser("check-config", help="validate a configuration without running")
    check.add_argument("config", type=Path)

    demo = commands.add_parser(
        "demo",
        help="simulate a service center and run the daemon on it (Ctrl-C stops)",
        description="Backfill a simulated hall (SQLite in --workdir), replay the daemon's "
        "findings over it, then run the hall and the daemon live on an accelerated clock.",
    )
    demo.add_argument("--workdir", type=Path, default=Path("var/demo"))
    _hall_arguments(demo)
    demo.add_argument("--days", type=int, default=21, help="days to backfill (default 21)")
    demo.add_argument(
        "--speed", type=float, default=120.0, help="hall clock speed (default 120× real time)"
    )
    demo.add_argument(
        "--at", type=_instant, help="hall clock start (default 08:45 of the last working day)"
    )
    ending = demo.add_mutually_exclusive_group()
    ending.add_argument("--once", action="store_true", help="backfill, scan once, print, exit")
    ending.add_argument(
        "--no-live",
        action="store_true",
        help="backfill and replay, then exit (the state store is ready for jiancha report)",
    )
    demo.add_argument(
        "--no-replay", action="store_true", help="skip replaying the findings over the backfill"
    )
    demo.add_argument(
        "--example",
        action="store_true",
        help="the small hand-counted example hall instead (examples/vendor_pinyin)",
    )

    simulate = commands.add_parser(
        "simulate",
        help="write a simulated hall into a database (and keep it going live)",
        description="Create the hall's vendor tables at --url, backfill --days up to --end "
        "(resuming an earlier run of the same seed), and with --live go on producing "
        "traffic until SIGTERM/SIGINT.",
    )
    simulate.add_argument(
        "--url",
        default=os.environ.get("DEMO_HALL_URL"),
        help="SQLAlchemy URL of the hall database (default: $DEMO_HALL_URL)",
    )
    _hall_arguments(simulate)
    simulate.add_argument("--days", type=int, default=21, help="days to backfill (default 21)")
    simulate.add_argument("--end", type=_instant, help="backfill up to here (default: now)")
    simulate.add_argument("--reset", action="store_true", help="drop the hall's tables first")
    simulate.add_argument(
        "--config-out", type=Path, help="write the daemon's configuration for this hall here"
    )
    simulate.add_argument("--live", action="store_true", help="keep producing traffic")
    simulate.add_argument(
        "--workers", type=int, default=1, help="processes planning the backfill (default 1)"
    )
    simulate.add_argument(
        "--speed", type=float, default=1.0, help="live clock speed (default: real time)"
    )

    grafana = commands.add_parser("grafana", help="Grafana: dashboards and datasource")
    grafana_commands = grafana.add_subparsers(dest="grafana_command", required=True)
    sync = grafana_commands.add_parser(
        "sync",
        help="create or update the folder 电子监察, the datasource and the dashboards "
        "on an existing Grafana (idempotent; reports what changed)",
    )
    sync.add_argument("--url", required=True, help="Grafana's URL, e.g. http://grafana:3000")
    sync.add_argument(
        "--token",
        default=os.environ.get("GRAFANA_TOKEN"),
        help="service account token (default: $GRAFANA_TOKEN, which keeps it out of ps)",
    )
    sync.add_argument(
        "--prometheus-url",
        default="http://prometheus:9090",
        help="the Prometheus that scrapes jiancha, as Grafana's server reaches it",
    )
    return parser


def _hall_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=2026, help="same seed, same hall")
    parser.add_argument("--centers", type=int, default=2, choices=(1, 2, 3))
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the windows and arrivals (default 1)"
    )
    parser.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="VIOLATION=RATE",
        help="how often a violation is injected, e.g. left_open=0.05 (repeatable; "
        "0 switches one off; see ViolationRates in monitor/demo/plan.py)",
    )


def _spec(args: argparse.Namespace) -> SimulationSpec:
    from monitor.demo.simulator import SimulationSpec

    if args.days < 1:
        raise ConfigError(f"--days: must be at least 1, got {args.days}")
    if getattr(args, "workers", 1) < 1:
        raise ConfigError(f"--workers: must be at least 1, got {args.workers}")
    if args.scale <= 0:
        raise ConfigError(f"--scale: must be positive, got {args.scale}")
    if getattr(args, "speed", 1.0) <= 0:
        raise ConfigError(f"--speed: must be positive, got {args.speed}")
    return SimulationSpec(
        seed=args.seed, centers=args.centers, scale=args.scale, rates=_rates(args.rate)
    )


def _rates(assignments: list[str]) -> ViolationRates:
    from monitor.demo.plan import ViolationRates

    names = {f.name for f in dataclasses.fields(ViolationRates)}
    rates: dict[str, float] = {}
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        if name not in names:
            raise ConfigError(
                f"--rate: unknown violation {name!r}; expected one of {', '.join(sorted(names))}"
            )
        try:
            rates[name] = float(value)
        except ValueError:
            raise ConfigError(f"--rate {name}: {value!r} is not a number") from None
    try:
        return ViolationRates(**rates)
    except ValueError as exc:
        raise ConfigError(f"--rate {exc}") from None


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        key = "JIANCHA_" + "_".join(str(p) for p in error["loc"]).upper()
        raise ConfigError(f"{key}: {error['msg']}") from None


def _scan(config_path: Path, at: dt.datetime | None, fmt: str, settings: Settings) -> int:
    from monitor.scan import scan

    config = load_config(config_path)
    at = at or dt.datetime.now(settings.tz)
    result = scan(config, settings, at)
    if fmt == "json":
        for finding in result.findings:
            print(to_json_line(finding))
    else:
        print(render_table(result.findings))
        if result.rejects:
            print(f"{len(result.rejects)} rows rejected (see log)")
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from exporters.report import FORMATS
    from monitor.monthly import ReportError
    from monitor.report import generate, no_progress, step_count, terminal_progress

    config = load_config(args.config)
    formats = None
    if args.format:
        formats = [f.strip() for f in args.format.split(",") if f.strip()]
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown or not formats:
            raise ConfigError(
                f"--format: {args.format!r}; expected a comma list of pdf, xlsx, html"
            )
    centers = args.center or [None]
    now = args.at or dt.datetime.now(settings.tz)
    total = step_count(len(centers), len(formats or config.report.formats))
    progress = terminal_progress(total) if sys.stderr.isatty() else nullcontext(no_progress)
    try:
        with progress as step:
            written = generate(
                config,
                args.month,
                now,
                settings.tz,
                centers=centers,
                formats=formats,
                directory=args.out,
                step=step,
            )
    except ReportError as exc:
        raise ConfigError(f"--month: {exc}") from None
    for path in written:
        print(path)
    return 0


def _grafana_sync(url: str, token: str | None, prometheus_url: str) -> int:
    import niquests
    from grafana_client.client import GrafanaException

    from grafana.sync import CREATED, UNCHANGED, UPDATED, connect, load_dashboards, sync

    try:
        changes = sync(connect(url, token), prometheus_url, load_dashboards())
    except GrafanaException as exc:
        print(f"jiancha: grafana sync: Grafana answered {exc.message}", file=sys.stderr)
        return 1
    except niquests.exceptions.RequestException as exc:
        print(f"jiancha: grafana sync: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    for change in changes:
        print(change)
    counts = {a: sum(c.action == a for c in changes) for a in (CREATED, UPDATED, UNCHANGED)}
    print(", ".join(f"{n} {action}" for action, n in counts.items()))
    return 0


def _example_demo(workdir: Path, at: dt.datetime | None, once: bool, settings: Settings) -> int:
    """The hand-counted example hall with its window system, scanned once or watched."""
    from monitor.demo import ExampleWindowSystem, build_demo

    at = at or EXAMPLE_AT
    config_path = build_demo(workdir)
    (workdir / "jiancha-state.db").unlink(missing_ok=True)  # every demo starts afresh
    with ExampleWindowSystem() as window_system:
        os.environ["WINDOW_API_URL"] = window_system.url
        if once:
            print(f"example hall built in {workdir}; findings as of {at.isoformat()}:")
            return _scan(config_path, at, "table", settings)
        from monitor.daemon import run

        settings = settings.model_copy(
            update={
                "clock_start": settings.clock_start or at,
                "applicant_hash_key": settings.applicant_hash_key or SecretStr("jiancha-demo"),
            }
        )
        endpoint = f"http://{settings.listen_address}:{settings.listen_port}"
        print(
            f"example hall in {workdir}, hall clock from {at.isoformat()}\n"
            f"  metrics  {endpoint}/metrics\n  health   {endpoint}/healthz, /readyz\n"
            "Ctrl-C stops.",
            flush=True,
        )
        return run(load_config(config_path), settings)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    if args.example:
        return _example_demo(args.workdir, args.at, args.once, settings)
    from monitor.demo.run import run_demo

    if "JIANCHA_LOG_LEVEL" not in os.environ:  # the terminal belongs to the summary
        configure_logging(settings.log_format, "WARNING")
    return run_demo(
        args.workdir,
        settings,
        spec=_spec(args),
        backfill_days=args.days,
        speed=args.speed,
        at=args.at,
        once=args.once,
        replay_history=not args.no_replay,
        live=not args.no_live,
    )


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.demo.run import run_simulate

    if not args.url:
        raise ConfigError("--url: the hall database is required (or set DEMO_HALL_URL)")

    return run_simulate(
        args.url,
        settings,
        spec=_spec(args),
        backfill_days=args.days,
        end=args.end,
        reset=args.reset,
        config_out=args.config_out,
        live=args.live,
        speed=args.speed,
        workers=args.workers,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings()
        configure_logging(settings.log_format, settings.log_level)
        if args.command == "scan":
            return _scan(args.config, args.at, args.format, settings)
        if args.command == "run":
            from monitor.daemon import run

            return run(load_config(args.config), settings)
        if args.command == "report":
            return _report(args, settings)
        if args.command == "check-config":
            config = load_config(args.config)
            print(f"{args.config}: ok ({len(config.sources)} sources)")
            return 0
        if args.command == "example-window-api":
            from monitor.demo import ExampleWindowSystem

            with ExampleWindowSystem(host=args.host, port=args.port) as system:
                print(f"example window system at {system.url}/api/tickets", flush=True)
                stop = {signal.SIGINT, signal.SIGTERM}
                signal.pthread_sigmask(signal.SIG_BLOCK, stop)
                signal.sigwait(stop)
            return 0
        if args.command == "demo":
            return _demo(args, settings)
        if args.command == "simulate":
            return _simulate(args, settings)
        if args.command == "grafana":
            return _grafana_sync(args.url, args.token, args.prometheus_url)
    except ConfigError as exc:
        print(f"jiancha: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SourceError as exc:
        print(f"jiancha: {exc}", file=sys.stderr)
        return EXIT_SOURCE
    except StoreError as exc:
        print(f"jiancha: {exc}", file=sys.stderr)
        return EXIT_SOURCE
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
