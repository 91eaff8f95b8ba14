"""The demo hall's daemon configuration, and ``jiancha simulate`` from the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.demo.catalogue import build_catalogue
from monitor.demo.config import render_config
from monitor.demo.database import HallDatabase
from monitor.demo.plan import VIOLATION_RULES
from monitor.demo.schema import SL_BJ

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "demo_hall" / "jiancha.yaml"


def test_the_committed_example_is_the_rendering_for_three_centers() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == render_config(build_catalogue(3))
    config = load_config(EXAMPLE)
    assert [s.name for s in config.sources] == ["approval", "window", "bank"]
    accounts = config.rules.fees.designated_accounts
    assert set(accounts) == {"ZX01", "ZX02", "ZX03"}
    for center in build_catalogue(3).centers:
        assert config.rules.fees.is_designated(center.designated_account, center.code)
        assert not config.rules.fees.is_designated(center.basic_account, center.code)


def test_simulate_writes_a_hall_and_its_config_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    out = tmp_path / "jiancha.yaml"
    end = "2026-11-25T12:00:00+08:00"
    args = ["simulate", "--url", url, "--days", "3", "--seed", "4"]
    assert main([*args, "--end", end, "--config-out", str(out)]) == 0
    assert "cases" in capsys.readouterr().out
    assert main(["check-config", str(out)]) == 0
    db = HallDatabase(url)
    cases = db.rows(SL_BJ)
    assert len(cases) > 500
    run = db.run()
    assert run["seed"] == "4" and run["first_day"] == "2026-11-22"
    # Again, later: resumes from the same first day, keeps what was there, adds the rest.
    assert main([*args, "--end", "2026-11-25T16:00:00+08:00"]) == 0
    later = db.rows(SL_BJ)
    assert len(later) > len(cases)
    kept = {row[0] for row in cases}
    assert kept <= {row[0] for row in later}
    assert dt.datetime.fromisoformat(db.run()["through"]).hour == 16
    db.close()
    # Another seed on the same database is refused, naming the option.
    capsys.readouterr()
    assert main([*args[:-1], "5", "--end", end]) == 2
    assert "--url:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--days", "0"),
        ("--scale", "-1"),
        ("--speed", "0"),
        ("--workers", "0"),
        ("--rate", "left_open=2"),
        ("--rate", "left_open=many"),
        ("--rate", "late=0.1"),
    ],
)
def test_simulate_names_a_bad_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    assert main(["simulate", "--url", url, option, value]) == 2
    assert option in capsys.readouterr().err


def test_rates_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    end = "2026-11-25T20:00:00+08:00"
    off = [f"--rate={name}=0" for name in VIOLATION_RULES]
    assert main(["simulate", "--url", url, "--days", "4", "--end", end, *off]) == 0
    db = HallDatabase(url)
    assert {e.violation for e in db.ground_truth()} <= {"warning"}  # nothing injected
    db.close()
    url = f"sqlite:///{tmp_path / 'other.db'}"
    args = ["simulate", "--url", url, "--days", "4", "--end", end, "--rate", "left_open=0.5"]
    assert main(args) == 0
    db = HallDatabase(url)
    left_open = {e.case_id for e in db.ground_truth() if e.violation == "left_open"}
    assert len(left_open) > 200  # about half of the cases whose items allow it
    db.close()
