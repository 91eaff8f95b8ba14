"""`jiancha scan` end to end on the example vendor schema (SQLite), through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.demo import EXAMPLE_DIR, build_demo, load_example
from tests.example_hall import AT_ISO, CONTRACT, EXPECTED, EXPECTED_RULES, SENSITIVE
from tests.services import free_port

_WINDOW_API: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _window_system(window_api: str) -> None:
    """Every scan here also polls the example's window system (an HTTP source)."""
    _WINDOW_API["WINDOW_API_URL"] = window_api


def _jiancha(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | _WINDOW_API
    env |= {"JIANCHA_APPLICANT_HASH_KEY": "test-key", "JIANCHA_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("hall"))


def test_scan_prints_the_hand_computed_findings(demo_config: Path) -> None:
    run = _jiancha("scan", "--config", str(demo_config), "--at", AT_ISO, "--format", "json")
    assert run.returncode == 0, run.stderr
    findings = [json.loads(line) for line in run.stdout.splitlines()]
    got = {(f["rule"], f["subject_id"]): f["due_at"] for f in findings}
    assert got == EXPECTED
    assert {f["rule"] for f in findings} == EXPECTED_RULES
    assert len(EXPECTED_RULES) == 14  # all 13 rules of DESIGN.md and the rating follow-up
    for finding in findings:
        assert list(finding) == CONTRACT
        assert finding["center"] == "HZ01"
        assert finding["calendar_confirmed"] is True
        assert finding["calendar_version"].startswith("holidays-")
    by_key = {(f["rule"], f["subject_id"]): f for f in findings}
    assert by_key[("case.overdue", "BJ002")]["severity"] == "red"
    # Sep 29, Sep 30, Oct 8 and Oct 9 have passed since the Sep 28 deadline.
    assert by_key[("case.overdue", "BJ002")]["evidence"]["working_days_late"] == 4
    assert by_key[("case.due_soon", "BJ001")]["evidence"]["remaining_working_days"] == 2
    assert by_key[("case.due_soon", "BJ001")]["severity"] == "yellow"
    assert by_key[("case.overdue", "BJ010")]["evidence"]["source_due_mismatch_working_days"] == -3
    assert by_key[("case.suspension_overdue", "BJ006/1")]["evidence"]["used_working_days"] == 7
    assert by_key[("case.statutory_overdue", "BJ004")]["evidence"]["state"] == "open"
    assert by_key[("case.step_overdue", "BJ009/2")]["subject_kind"] == "step"
    assert by_key[("offsystem.ticket_without_case", "Q20261008-0002")]["window"] == "W07"
    assert by_key[("offsystem.payment_without_case", "ICBC20260928004")]["subject_kind"] == (
        "payment"
    )
    mismatch = by_key[("fee.amount_mismatch", "BJ023")]["evidence"]
    assert json.dumps(mismatch).count("12000") >= 1  # 120.00 yuan charged, in fen


def test_scan_never_prints_names_or_id_numbers(demo_config: Path) -> None:
    for fmt in ("json", "table"):
        run = _jiancha("scan", "--config", str(demo_config), "--at", AT_ISO, "--format", fmt)
        assert run.returncode == 0, run.stderr
        for secret in SENSITIVE:
            assert secret not in run.stdout
            assert secret not in run.stderr


def test_scan_logs_each_rejected_row_with_its_reason(demo_config: Path) -> None:
    run = _jiancha("scan", "--config", str(demo_config), "--at", AT_ISO)
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    rejected = {(e["entity"], e["key"], e["reason"]) for e in events if "reason" in e}
    assert rejected == {
        ("cases", "BJ012", "bad_time"),
        ("cases", "BJ013", "unknown_item"),
        ("steps", "BJ404/1", "unknown_case"),
    }


def test_table_format_is_readable(demo_config: Path) -> None:
    run = _jiancha("scan", "--config", str(demo_config), "--at", AT_ISO, "--format", "table")
    assert run.returncode == 0, run.stderr
    assert "红牌" in run.stdout and "黄牌" in run.stdout
    assert f"{len(EXPECTED)} findings" in run.stdout


def test_bad_config_key_exits_2_and_names_the_key(demo_config: Path, tmp_path: Path) -> None:
    text = demo_config.read_text(encoding="utf-8").replace("since_format:", "since_fromat:")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    for args in (("scan", "--config", str(bad)), ("check-config", str(bad))):
        run = _jiancha(*args)
        assert run.returncode == 2
        assert "sources[0].since_fromat" in run.stderr
        assert run.stdout == ""


def test_check_config_accepts_the_example(demo_config: Path) -> None:
    run = _jiancha("check-config", str(demo_config))
    assert run.returncode == 0, run.stderr
    assert "ok" in run.stdout


def test_unreachable_source_is_an_error_not_a_clean_hall(demo_config: Path, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    text = demo_config.read_text(encoding="utf-8").replace(
        "url: ${APPROVAL_DB_URL:-sqlite:///hall.db}",
        f"url: postgresql+psycopg://nobody@127.0.0.1:{port}/none",
    )
    config = tmp_path / "down.yaml"
    config.write_text(text, encoding="utf-8")
    run = _jiancha("scan", "--config", str(config), "--at", AT_ISO)
    assert run.returncode == 3
    assert run.stdout == ""
    assert "source approval" in run.stderr


@pytest.mark.postgres
@pytest.mark.integration
def test_database_password_never_printed(postgres_url: str, tmp_path: Path) -> None:
    load_example(postgres_url)
    secret = "Pw-0f-the-approval-DB"
    config = tmp_path / "pg.yaml"
    template = (EXAMPLE_DIR / "jiancha.yaml").read_text(encoding="utf-8")
    config.write_text(
        template.replace("${APPROVAL_DB_URL:-sqlite:///hall.db}", postgres_url)
        .replace("    center: HZ01", f"    center: HZ01\n    password: {secret}", 1)
        .replace("${FEE_STATEMENT_DIR:-statements}", str(EXAMPLE_DIR / "statements")),
        encoding="utf-8",
    )
    # PostgreSQL here trusts loopback, so the password is sent and ignored: the scan works.
    run = _jiancha("scan", "--config", str(config), "--at", AT_ISO)
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == len(EXPECTED)
    assert "***" in run.stderr  # the URL is logged, masked
    # And when the database is down, the error names the source but not the password.
    down = config.read_text(encoding="utf-8").replace(
        postgres_url.rsplit("@", 1)[1].split("/")[0], f"127.0.0.1:{free_port()}"
    )
    config.write_text(down, encoding="utf-8")
    failed = _jiancha("scan", "--config", str(config), "--at", AT_ISO)
    assert failed.returncode == 3
    for output in (run.stdout, run.stderr, failed.stdout, failed.stderr):
        assert secret not in output


def test_at_without_offset_is_refused(demo_config: Path) -> None:
    run = _jiancha("scan", "--config", str(demo_config), "--at", "2026-10-09T10:00:00")
    assert run.returncode == 2
    assert "UTC offset" in run.stderr


@pytest.mark.parametrize(
    "change",
    [
        # accepted in 2019, before calendar.first_year 2024
        "SLSJ = '20190102090000', SBSJ = NULL",
        # the vendor's own promised date in 2099, after calendar.last_year 2030
        "CNBJSJ = '20991231000000'",
    ],
)
def test_case_outside_the_calendar_is_rejected_not_fatal(tmp_path: Path, change: str) -> None:
    config_path = build_demo(tmp_path)
    engine = create_engine(f"sqlite:///{tmp_path / 'hall.db'}")
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE SL_BJ SET {change} WHERE SBLSH = 'BJ002'"))
    engine.dispose()
    run = _jiancha("scan", "--config", str(config_path), "--at", AT_ISO)
    assert run.returncode == 0, run.stderr
    subjects = {json.loads(line)["subject_id"] for line in run.stdout.splitlines()}
    assert "BJ002" not in subjects
    assert {s for _, s in EXPECTED} - {"BJ002"} <= subjects
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert any(e.get("key") == "BJ002" and e.get("reason") == "outside_calendar" for e in events)


def test_instant_outside_the_calendar_is_a_config_error(demo_config: Path) -> None:
    run = _jiancha("scan", "--config", str(demo_config), "--at", "2041-01-02T10:00:00+08:00")
    assert run.returncode == 2
    assert "calendar.first_year..last_year" in run.stderr
