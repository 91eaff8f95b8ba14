"""Prometheus rules and config of the stack: promtool-clean, unit-tested, Chinese, complete.

``promtool check rules`` and ``promtool test rules`` run the real Debian binary on the
files in exporters/prometheus/; the suite also makes sure every alerting rule has a unit
test that sees it fire and one that sees it stay quiet, so a new rule cannot ship untested.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services import run_binary

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "exporters" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*_test.yml"))
CJK = re.compile(r"[\u4e00-\u9fff]")

pytestmark = pytest.mark.integration


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_binary("promtool", *args)


def rules(kind: str) -> list[dict[str, Any]]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            found += [rule for rule in group["rules"] if kind in rule]
    return found


def test_rule_files_exist() -> None:
    assert [p.name for p in RULE_FILES] == ["alerts.yml", "recording.yml"]
    assert [p.name for p in TEST_FILES] == ["alerts_test.yml", "recording_test.yml"]


def test_promtool_check_rules_is_clean() -> None:
    result = promtool("check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    result = promtool("test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_fail_when_a_rule_changes(tmp_path: Path) -> None:
    """The unit tests pin the thresholds: a looser backlog rule is caught."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    for path in RULE_FILES:
        text = path.read_text(encoding="utf-8")
        (tmp_path / "rules" / path.name).write_text(
            text.replace("jiancha_cases_overdue:sum >= 5", "jiancha_cases_overdue:sum >= 4"),
            encoding="utf-8",
        )
    test_file = tmp_path / "tests" / "alerts_test.yml"
    test_file.write_text((PROMETHEUS_DIR / "tests" / "alerts_test.yml").read_text("utf-8"))
    result = promtool("test", "rules", test_file)
    assert result.returncode != 0
    assert "JianchaOverdueBacklog" in result.stdout + result.stderr


def test_prometheus_config_is_valid_and_loads_the_rules() -> None:
    result = promtool("check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in rules("alert")}
    assert names == {
        "JianchaDaemonDown",
        "JianchaSourceDown",
        "JianchaDataStale",
        "JianchaStateStoreDown",
        "JianchaAlertmanagerPushFailing",
        "JianchaCalendarUnconfirmed",
        "JianchaOverdueBacklog",
        "JianchaOldestOverdue",
    }
    assert names - fired == set(), "alerts never seen firing"
    assert names - quiet == set(), "alerts never seen staying quiet"


def test_every_alert_speaks_chinese_and_routes() -> None:
    for rule in rules("alert"):
        annotations, labels = rule["annotations"], rule["labels"]
        assert set(annotations) == {"summary", "description", "runbook"}, rule["alert"]
        assert all(CJK.search(text) for text in annotations.values()), rule["alert"]
        assert labels["severity"] in {"red", "yellow"}, rule["alert"]
        assert labels["category"] in {"system", "hall"}, rule["alert"]


def test_recording_rules_follow_the_naming_convention() -> None:
    for rule in rules("record"):
        level, metric, operation = rule["record"].split(":")
        assert metric.startswith("jiancha_") or level == "jiancha", rule["record"]
        assert operation, rule["record"]
