"""A simulated demo hall for tests: its database, the daemon's configuration, the simulator."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.config import Config, load_config
from monitor.demo.catalogue import build_catalogue
from monitor.demo.config import render_config
from monitor.demo.database import HallDatabase
from monitor.demo.simulator import HallSimulator, Produced, SimulationSpec

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class DemoHall:
    config_path: Path
    config: Config
    simulator: HallSimulator
    db: HallDatabase
    produced: Produced


def demo_hall(
    directory: Path,
    end: dt.datetime,
    days: int,
    spec: SimulationSpec | None = None,
    url: str | None = None,
    workers: int = 1,
) -> DemoHall:
    """A hall backfilled for ``days`` days up to ``end`` (SQLite in ``directory`` by default)."""
    spec = spec or SimulationSpec()
    url = url or f"sqlite:///{directory / 'hall.db'}"
    config_path = directory / "jiancha.yaml"
    config_path.write_text(
        render_config(
            build_catalogue(spec.centers, spec.windows),
            url=url,
            state_url=f"sqlite:///{directory / 'state.db'}",
        ),
        encoding="utf-8",
    )
    config = load_config(config_path)
    simulator = HallSimulator(spec, config)
    db = HallDatabase(url)
    db.create(reset=True)
    produced = simulator.backfill(db, end.date() - dt.timedelta(days=days), end, workers)
    return DemoHall(config_path, config, simulator, db, produced)
