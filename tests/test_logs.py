"""Log lines: JSON in production (times as ISO 8601), key=value for people."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
import structlog

from monitor.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_json_lines_carry_times_as_iso(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    due = dt.datetime(2026, 10, 8, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    structlog.get_logger("t").warning("late", due_at=due, day=dt.date(2026, 10, 8))
    structlog.get_logger("t").debug("hidden")  # below the level
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["event"] == "late" and line["level"] == "warning"
    assert line["due_at"] == "2026-10-08T23:59:59+08:00"
    assert line["day"] == "2026-10-08"
    assert line["timestamp"].endswith("Z")


def test_console_lines_are_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("console", "DEBUG")
    structlog.get_logger("t").debug("polled", source="approval", rows=3)
    err = capsys.readouterr().err
    assert "polled" in err and "source=approval" in err and "rows=3" in err
    assert not err.lstrip().startswith("{")
