"""``jiancha demo`` end to end: it starts, serves /metrics with red cards on the simulated
hall within a bounded time, prints its summary, and exits cleanly on SIGINT."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openpyxl
import pytest

from monitor.cli import main
from monitor.demo.terminal import summarize
from tests.services import free_port

STARTUP_LIMIT_S = 120  # backfill, replay and the first polls, on a loaded CI machine
STOP_LIMIT_S = 30


@pytest.mark.integration
def test_demo_serves_overdue_cases_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "JIANCHA_LISTEN_PORT": str(port),
        "JIANCHA_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("JIANCHA_LOG_LEVEL", None)
    out = (tmp_path / "demo.out").open("w+", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "demo", "--workdir", str(tmp_path / "demo"),
         "--days", "7", "--speed", "600"],
        stdout=out, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        overdue = 0.0
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                overdue = summarize(text).overdue
                if overdue > 0 and "大厅时钟" in (tmp_path / "demo.out").read_text():
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        log = (tmp_path / "demo.out").read_text(encoding="utf-8")
        assert process.poll() is None, log
        assert overdue > 0, log
        assert "大厅时钟" in log  # the terminal summary, read from /metrics
        assert "replaying supervision" in log
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=STOP_LIMIT_S) == 0, log
        assert "Traceback" not in (tmp_path / "demo.out").read_text(encoding="utf-8")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        out.close()
    # The demo's state store and hall are where it said, for a report or a second look.
    assert (tmp_path / "demo" / "hall.db").is_file()
    assert (tmp_path / "demo" / "jiancha-state.db").is_file()


def test_demo_without_live_leaves_a_state_store_for_the_report(tmp_path: Path, capsys) -> None:
    """An operator's first try: ``jiancha demo --no-live`` backfills and replays, then
    prints the command for the bulletin, which works at once — this month so far, and the
    month before, which the demo never watched."""
    workdir = tmp_path / "demo"
    at = "2026-12-07T08:45:00+08:00"  # a Monday; the hall opens on Thursday Dec 3
    argv = ["demo", "--workdir", str(workdir), "--at", at, "--days", "4", "--no-live"]
    assert main([*argv, "--centers", "1", "--scale", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "replaying supervision" in out
    hint = out.splitlines()[-1]
    command = shlex.split(hint[hint.index("jiancha report") :])[1:]
    assert command == [
        "report", "--config", str(workdir / "jiancha.yaml"), "--month", "2026-12", "--at", at,
    ]  # fmt: skip
    reports = tmp_path / "reports"
    assert main([*command, "--out", str(reports)]) == 0
    previous = [*command[:3], "--month", "2026-11", "--at", at, "--format", "html,xlsx"]
    assert main([*previous, "--out", str(reports)]) == 0
    assert sorted(p.name for p in reports.iterdir()) == [
        "jiancha-report-2026-11.html",
        "jiancha-report-2026-11.xlsx",
        "jiancha-report-2026-12.html",
        "jiancha-report-2026-12.pdf",
        "jiancha-report-2026-12.xlsx",
    ]
    december = openpyxl.load_workbook(reports / "jiancha-report-2026-12.xlsx")["主要指标"]
    accepted = [row for row in december.iter_rows(values_only=True) if row[0] == "受理件数"]
    assert accepted[0][1] > 0 and accepted[0][2] is None  # November: never watched
    november = (reports / "jiancha-report-2026-11.html").read_text(encoding="utf-8")
    assert "本期没有办件研判记录" in november
