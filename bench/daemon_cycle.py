"""One daemon's cycle on a larger hall: poll, evaluate, restart (a first measure, not the
province-scale benchmark).

Loads the example hall into a SQLite file, adds ``--cases`` open cases spread over five
weeks of September–October 2026 at one window, and drives the daemon in-process with its
hall clock at 2026-10-09 10:00 (SQLite state store beside it). Wall clock per step:

- ``first poll``: every row read, mapped and written to the state store;
- ``first evaluation``: every rule, and every finding opened in the ledger;
- ``steady evaluation``: the same again with nothing new (what each cycle costs);
- ``incremental poll``: nothing changed at the source;
- ``restart``: a new daemon loading the state store.

Run from the repository root::

    .venv/bin/python bench/daemon_cycle.py [--cases N] [--seed S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import create_engine, text

from monitor.clock import Clock
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.demo import EXAMPLE_DIR, load_example
from monitor.logs import configure_logging
from monitor.settings import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = dt.datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI)
ITEMS = ("330100-001", "330100-003", "330100-005")


def _hall(directory: Path, cases: int, seed: int) -> str:
    url = f"sqlite:///{directory / 'hall.db'}"
    load_example(url)
    rng = random.Random(seed)
    rows = []
    for number in range(cases):
        day = dt.date(2026, 9, 1) + dt.timedelta(days=rng.randrange(38))
        stamp = f"{day:%Y%m%d}{rng.randrange(8, 17):02d}0000"
        rows.append(
            {
                "id": f"C{number:07d}",
                "item": rng.choice(ITEMS),
                "at": stamp,
                "idn": f"33010619{rng.randrange(10**10):010d}",
            }
        )
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO SL_BJ VALUES (:id, :item, 'HZ01', 'SCJ', 'W03', NULL, :idn, :at,"
                " :at, '1', NULL, NULL, NULL, :at, 0.00, :at)"
            ),
            rows,
        )
    engine.dispose()
    return url


def _config(directory: Path, url: str) -> Any:
    data = yaml.safe_load((EXAMPLE_DIR / "jiancha.yaml").read_text(encoding="utf-8"))
    data["sources"] = [s for s in data["sources"] if s["name"] == "approval"]
    data["sources"][0]["url"] = url
    data["state"] = {"url": f"sqlite:///{directory / 'state.db'}"}
    data["alerting"] = {"alertmanager_urls": []}
    return parse_config(data, directory)


def _timed(label: str, step: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = step()
    print(f"{label:<20} {time.perf_counter() - started:7.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    configure_logging("json", "ERROR")
    settings = Settings(applicant_hash_key="bench")
    with tempfile.TemporaryDirectory() as workdir:
        directory = Path(workdir)
        config = _config(directory, _hall(directory, args.cases, args.seed))
        daemon = Daemon(config, settings, clock=Clock(SHANGHAI, AT))
        daemon.start()
        _timed("first poll", lambda: daemon.poll("approval"))
        findings = _timed("first evaluation", lambda: daemon.evaluate(AT))
        _timed("steady evaluation", lambda: daemon.evaluate(AT))
        _timed("incremental poll", lambda: daemon.poll("approval"))
        daemon.close()
        again = Daemon(config, settings, clock=Clock(SHANGHAI, AT))
        _timed("restart", again.start)
        again.close()
        print(f"{args.cases} added cases, {len(findings)} findings")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
