"""The simulator is deterministic: same seed, same rows — whether backfilled in one go,
resumed, produced live, or written into PostgreSQL (COPY) instead of SQLite."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from monitor.demo.database import HallDatabase
from monitor.demo.schema import SIM_GROUND_TRUTH, SL_BJ, TABLES
from monitor.demo.simulator import SimulationSpec
from tests.demo_hall import SHANGHAI, demo_hall

END = dt.datetime(2026, 11, 26, 11, 20, tzinfo=SHANGHAI)  # a Thursday morning


def _contents(db: HallDatabase) -> dict[str, list[tuple[object, ...]]]:
    return {table.name: db.rows(table) for table in TABLES if table.name != "SIM_RUN"}


def test_same_seed_same_rows_other_seed_other_rows(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    a = demo_hall(tmp_path / "a", END, days=6, spec=SimulationSpec(seed=11))
    # Planned in two worker processes: the same rows.
    b = demo_hall(tmp_path / "b", END, days=6, spec=SimulationSpec(seed=11), workers=2)
    c = demo_hall(tmp_path / "c", END, days=6, spec=SimulationSpec(seed=12))
    first, second, other = _contents(a.db), _contents(b.db), _contents(c.db)
    assert first == second
    assert len(first["SL_BJ"]) > 1000
    assert len(first["SIM_GROUND_TRUTH"]) > 50
    assert other["SL_BJ"] != first["SL_BJ"]
    for hall in (a, b, c):
        hall.db.close()


def test_live_after_a_backfill_writes_what_a_longer_backfill_writes(tmp_path: Path) -> None:
    (tmp_path / "live").mkdir()
    (tmp_path / "batch").mkdir()
    first_day = END.date() - dt.timedelta(days=5)
    live_hall = demo_hall(tmp_path / "live", END, days=5)
    live = live_hall.simulator.live(live_hall.db, first_day, END)
    steps = [END + dt.timedelta(minutes=m) for m in (1, 17, 95, 400)]
    steps += [dt.datetime(2026, 11, 27, 9, 30, tzinfo=SHANGHAI)]  # into the next day
    later = dt.datetime(2026, 11, 27, 15, 5, tzinfo=SHANGHAI)
    written = 0
    for instant in [*steps, later]:
        written += sum(live.advance(instant).rows.values())
    assert written > 500

    batch = demo_hall(tmp_path / "batch", later, days=6)
    assert batch.db.run()["first_day"] == first_day.isoformat()
    live_rows, batch_rows = _contents(live_hall.db), _contents(batch.db)
    for table in live_rows:
        assert live_rows[table] == batch_rows[table], table
    live_hall.db.close()
    batch.db.close()


def test_a_backfill_over_an_earlier_run_changes_nothing_already_there(tmp_path: Path) -> None:
    hall = demo_hall(tmp_path, END, days=4)
    before = _contents(hall.db)
    first_day = END.date() - dt.timedelta(days=4)
    hall.simulator.backfill(hall.db, first_day, END)  # resumed with the same seed: upserts
    assert _contents(hall.db) == before
    with pytest.raises(ValueError, match="seed 2026 from"):
        hall.simulator.backfill(hall.db, first_day - dt.timedelta(days=1), END)
    hall.db.close()


@pytest.mark.parametrize(
    "server",
    [
        pytest.param("postgres_url", marks=pytest.mark.postgres, id="postgresql-copy"),
        pytest.param("mariadb_url", marks=pytest.mark.mariadb, id="mariadb"),
    ],
)
def test_a_database_server_holds_the_same_hall_as_sqlite(
    tmp_path: Path, server: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(server)
    (tmp_path / "server").mkdir()
    (tmp_path / "lite").mkdir()
    remote = demo_hall(tmp_path / "server", END, days=3, url=url)
    lite = demo_hall(tmp_path / "lite", END, days=3)
    remote_rows, lite_rows = _contents(remote.db), _contents(lite.db)
    assert remote_rows.keys() == lite_rows.keys()
    for table in remote_rows:
        assert remote_rows[table] == lite_rows[table], table
    assert len(remote_rows[SL_BJ.name]) > 500 and len(remote_rows[SIM_GROUND_TRUTH.name]) > 10
    remote.db.close()
    lite.db.close()


@pytest.mark.parametrize(
    "server",
    [
        pytest.param(None, id="sqlite"),
        pytest.param("postgres_url", marks=pytest.mark.postgres, id="postgresql"),
        pytest.param("mariadb_url", marks=pytest.mark.mariadb, id="mariadb"),
    ],
)
def test_tables_are_created_once_and_reset_empties_them(
    tmp_path: Path, server: str | None, request: pytest.FixtureRequest
) -> None:
    """A restarted simulator finds its tables (PostgreSQL folds their names to lower case)."""
    url = request.getfixturevalue(server) if server else f"sqlite:///{tmp_path / 'hall.db'}"
    hall = demo_hall(tmp_path, END, days=1, url=url)
    assert hall.db.rows(SL_BJ)
    hall.db.create()  # a restart: everything is there already
    assert hall.db.rows(SL_BJ)
    hall.db.create(reset=True)
    assert all(hall.db.rows(table) == [] for table in TABLES)
    hall.db.close()
