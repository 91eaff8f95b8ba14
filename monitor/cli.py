"""The ``jiancha`` command line: scan, run, report, check-config and demo.

Exit codes: 0 success; 2 configuration error (the message names the key); 3 a source
could not be polled (nothing is printed as findings: an unreachable system must never
read as "no violations").
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import SecretStr, ValidationError

from exporters.findings import render_table, to_json_line
from monitor.config import ConfigError, load_config
from monitor.logs import configure_logging
from monitor.settings import Settings
from monitor.sources.base import SourceError
from monitor.store import StoreError

EXIT_CONFIG = 2
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

    check = commands.add_parser("check-config", help="validate a configuration without running")
    check.add_argument("config", type=Path)

    demo = commands.add_parser(
        "demo", help="build the example hall and run the daemon on it (Ctrl-C stops)"
    )
    demo.add_argument("--workdir", type=Path, default=Path("var/demo"))
    demo.add_argument(
        "--at",
        type=_instant,
        default=_instant("2026-10-09T10:00:00+08:00"),
        help="the hall's clock starts here and runs on in real time",
    )
    demo.add_argument("--once", action="store_true", help="scan once, print, and exit")
    return parser


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
    from monitor.report import STEPS, generate, terminal_progress

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
    now = dt.datetime.now(settings.tz)
    try:
        if sys.stderr.isatty():
            total = len(centers) * (STEPS - 3 + len(formats or config.report.formats)) + 3
            with terminal_progress(total) as step:
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
        else:
            written = generate(
                config,
                args.month,
                now,
                settings.tz,
                centers=centers,
                formats=formats,
                directory=args.out,
            )
    except ReportError as exc:
        raise ConfigError(f"--month: {exc}") from None
    for path in written:
        print(path)
    return 0


def _demo(workdir: Path, at: dt.datetime, once: bool, settings: Settings) -> int:
    """The example hall with its window system, scanned once or watched by the daemon."""
    import os

    from monitor.demo import ExampleWindowSystem, build_demo

    config_path = build_demo(workdir)
    (workdir / "jiancha-state.db").unlink(missing_ok=True)  # every demo starts afresh
    with ExampleWindowSystem() as window_system:
        os.environ["WINDOW_API_URL"] = window_system.url
        if once:
            print(f"demo hall built in {workdir}; findings as of {at.isoformat()}:")
            return _scan(config_path, at, "table", settings)
        from monitor.daemon import run

        settings = settings.model_copy(
            update={
                "clock_start": settings.clock_start or at,
                # A fixed key for the demo's fictitious applicants, so no warning.
                "applicant_hash_key": settings.applicant_hash_key or SecretStr("jiancha-demo"),
            }
        )
        endpoint = f"http://{settings.listen_address}:{settings.listen_port}"
        print(
            f"demo hall in {workdir}, hall clock from {settings.clock_start.isoformat()}\n"
            f"  metrics  {endpoint}/metrics\n  health   {endpoint}/healthz, /readyz\n"
            "Ctrl-C stops.",
            flush=True,
        )
        return run(load_config(config_path), settings)


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
            return _demo(args.workdir, args.at, args.once, settings)
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
