"""The PromQL of the committed dashboards, with Grafana's variables filled as "All" would."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from grafana import DASHBOARD_DIR

# What Grafana puts in place of each variable when "All" is selected (allValue ".*"), and
# of $__rate_interval for a short test scrape interval.
VARIABLES = {
    "$__rate_interval": "30s",
    "$center": ".*",
    "$department": ".*",
    "$window": ".*",
}


def dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel except rows, including panels nested in collapsed rows."""
    found = []
    for panel in model["panels"]:
        found += [panel] if panel["type"] != "row" else panel.get("panels", [])
    return found


def fill(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    left = re.findall(r"\$\w+", expr)
    assert not left, f"unknown Grafana variable {left} in {expr!r}"
    return expr


def queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, filled expression) for every target of every panel."""
    return [
        (name, panel["title"], fill(target["expr"]))
        for name, model in dashboards().items()
        for panel in panels(model)
        for target in panel.get("targets", [])
    ]


def variable_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, variable name, label_values selector) of every query variable."""
    found = []
    for name, model in dashboards().items():
        for variable in model.get("templating", {}).get("list", []):
            match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"])
            assert match, variable["query"]
            found.append((name, variable["name"], fill(match.group(1))))
    return found
