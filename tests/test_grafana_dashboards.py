"""The committed dashboards: generated from grafana/build.py, Chinese, with units and colours.

Whether their PromQL returns data is tested against a real Prometheus scraping a real
daemon (tests/test_stack_live.py); here, that it parses (promtool) and that the JSON is
what the code builds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import DATASOURCE_UID, FOLDER_UID, PACKAGE_DIR
from grafana.build import RED, YELLOW, build_all
from tests.dashboard_queries import dashboards, panels, queries, variable_queries
from tests.services import run_binary

CJK = re.compile(r"[\u4e00-\u9fff]")
EXPECTED = {
    "hall-overview.json": ("jiancha-hall", "电子监察 · 大厅总览"),
    "department.json": ("jiancha-department", "电子监察 · 部门/窗口"),
    "fees.json": ("jiancha-fees", "电子监察 · 收费监管"),
    "health.json": ("jiancha-health", "电子监察 · 系统运行"),
}


def test_committed_json_is_what_the_code_builds() -> None:
    built = build_all()
    committed = {
        path.name: path.read_text("utf-8") for path in (PACKAGE_DIR / "dashboards").glob("*.json")
    }
    assert committed.keys() == built.keys()
    for name, text in built.items():
        assert committed[name] == text, f"{name} is stale: run .venv/bin/python -m grafana.build"


def test_four_dashboards_with_stable_uids_and_chinese_titles() -> None:
    found = {name: (model["uid"], model["title"]) for name, model in dashboards().items()}
    assert found == EXPECTED


def test_variables_of_the_drill_down() -> None:
    names = {
        name: [v["name"] for v in model["templating"].get("list", [])]
        for name, model in dashboards().items()
    }
    assert names["department.json"] == ["center", "department", "window"]
    assert names["hall-overview.json"] == ["center"]
    assert names["fees.json"] == ["center"]
    assert names["health.json"] == []


def unit_of(panel: dict[str, Any]) -> set[str]:
    units = {panel["fieldConfig"]["defaults"].get("unit")}
    for override in panel["fieldConfig"].get("overrides", []):
        units |= {p["value"] for p in override["properties"] if p["id"] == "unit"}
    return units - {None}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_panel_has_a_chinese_title_a_unit_and_the_jiancha_datasource(name: str) -> None:
    model = dashboards()[name]
    assert CJK.search(model["description"])
    for panel in panels(model):
        assert CJK.search(panel["title"]), panel["title"]
        assert unit_of(panel), f"{name}: {panel['title']} has no unit"
        assert panel["datasource"]["uid"] == DATASOURCE_UID
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["refId"], panel["title"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_thresholds_colour_yellow_and_red(name: str) -> None:
    colours = set()
    for panel in panels(dashboards()[name]):
        if panel["type"] == "stat":
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            assert steps[0]["value"] is None, panel["title"]
            values = [s["value"] for s in steps[1:]]
            assert values == sorted(values), panel["title"]
            colours |= {s["color"] for s in steps}
    assert {YELLOW, RED} <= colours


def test_rule_ids_are_shown_in_chinese() -> None:
    model = dashboards()["hall-overview.json"]
    table = next(p for p in panels(model) if p["title"] == "在办监察发现（按规则）")
    override = next(
        o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "规则"
    )
    mapping = next(p for p in override["properties"] if p["id"] == "mappings")["value"][0]
    assert mapping["options"]["case.overdue"]["text"] == "超期未办结"
    assert mapping["options"]["fee.not_in_designated_account"]["text"] == "收费未进专户"


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule) after Grafana's variables are filled."""
    exprs = [expr for *_, expr in queries()] + [
        f"count by (x) ({selector})" for *_, selector in variable_queries()
    ]
    assert len(exprs) > 60
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [{"record": f"q:{i}:x", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    result = run_binary("promtool", "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_points_at_the_dashboards_and_the_datasource() -> None:
    provisioning = PACKAGE_DIR / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "jiancha.yml").read_text("utf-8"))
    assert [d["uid"] for d in datasources["datasources"]] == [DATASOURCE_UID]
    providers = yaml.safe_load((provisioning / "dashboards" / "jiancha.yml").read_text("utf-8"))
    (provider,) = providers["providers"]
    assert provider["folder"] == "电子监察"
    assert provider["folderUid"] == FOLDER_UID
    assert provider["type"] == "file"
