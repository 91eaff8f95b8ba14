"""The bulletin's charts (matplotlib, Agg) with a CJK font: daily trend, rules, departments."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from exporters.alertmanager import RULE_TITLES
from monitor.monthly import MonthReport

# Debian's fonts-noto-cjk; Simplified Chinese glyph forms first.
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC")


class FontMissing(RuntimeError):
    """No CJK font is installed: charts would print empty boxes (tofu)."""


def _installed_cjk() -> str | None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in installed), None)


def cjk_family() -> str:
    """The CJK family the charts are drawn in.

    matplotlib keeps the list of fonts it found when it first ran (cached on disk), so a
    font installed since — Debian's fonts-noto-cjk put in after a first report was
    tried — is not on it: the system's CJK fonts are then added to it before giving up."""
    family = _installed_cjk()
    if family is None:
        for path in font_manager.findSystemFonts():
            if "CJK" in os.path.basename(path):
                font_manager.fontManager.addfont(path)
        family = _installed_cjk()
    if family is None:
        raise FontMissing(
            "no CJK font found for the report charts; install Debian's fonts-noto-cjk"
        )
    return family


@dataclass(frozen=True)
class Charts:
    trend: bytes  # PNG
    rules: bytes
    departments: bytes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def render(report: MonthReport) -> Charts:
    family = cjk_family()
    with plt.rc_context({"font.family": [family], "axes.unicode_minus": False}):
        figure, axes = plt.subplots(figsize=(8, 3.2))
        days = [p.day.day for p in report.trend]
        axes.plot(days, [p.open for p in report.trend], marker="o", label="在办件")
        axes.plot(days, [p.overdue for p in report.trend], marker="s", label="超期件", color="red")
        axes.set_title(f"{report.period.month} 每日在办件与超期件")
        axes.set_xlabel("日")
        axes.set_ylabel("件数")
        axes.legend()
        axes.grid(alpha=0.3)
        trend = _png(figure)

        figure, axes = plt.subplots(figsize=(8, 3.6))
        counts: dict[str, int] = {}
        for row in report.rules:
            title = RULE_TITLES.get(row.rule, row.rule)
            counts[title] = counts.get(title, 0) + row.new
        labels = list(counts) or ["（无）"]
        axes.barh(labels, [counts.get(label, 0) for label in labels], color="#c0392b")
        axes.invert_yaxis()
        axes.set_title("本月新增问题（按规则）")
        axes.set_xlabel("件数")
        rules = _png(figure)

        figure, axes = plt.subplots(figsize=(8, 3.6))
        top = report.departments[:15]
        names = [r.department for r in top] or ["（无）"]
        axes.barh(names, [r.red for r in top] or [0], color="#c0392b", label="红牌")
        axes.barh(
            names,
            [r.yellow for r in top] or [0],
            left=[r.red for r in top] or [0],
            color="#f1c40f",
            label="黄牌",
        )
        axes.invert_yaxis()
        axes.set_title("部门排名（红牌、黄牌）")
        axes.set_xlabel("张数")
        axes.legend()
        departments = _png(figure)
    return Charts(trend, rules, departments)
