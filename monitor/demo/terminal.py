"""The demo's live summary in the terminal, read from the daemon's own ``/metrics``.

It is just another client of the exporter (as a wall-screen dashboard would be): open
and suspended cases, yellow and red cards, and the open findings by rule.
"""

from __future__ import annotations

import datetime as dt
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from exporters.alertmanager import RULE_TITLES

_WEEKDAYS = "一二三四五六日"


@dataclass
class HallSummary:
    cases_open: int = 0
    cases_suspended: int = 0
    due_soon: int = 0
    overdue: int = 0
    findings: Counter[str] = field(default_factory=Counter)  # open findings by rule


_TOTALS = {
    "jiancha_cases_open": "cases_open",
    "jiancha_cases_suspended": "cases_suspended",
    "jiancha_cases_due_soon": "due_soon",
    "jiancha_cases_overdue": "overdue",
}


def summarize(exposition: str) -> HallSummary:
    """Totals over every center and department of one ``/metrics`` scrape."""
    summary = HallSummary()
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name in _TOTALS:
                attribute = _TOTALS[sample.name]
                setattr(summary, attribute, getattr(summary, attribute) + int(sample.value))
            elif sample.name == "jiancha_findings_open":
                summary.findings[sample.labels["rule"]] += int(sample.value)
    return summary


def render(summary: HallSummary, hall_time: dt.datetime) -> str:
    head = (
        f"[大厅时钟 {hall_time:%Y-%m-%d %H:%M} 周{_WEEKDAYS[hall_time.weekday()]}] "
        f"在办 {summary.cases_open} · 挂起 {summary.cases_suspended} · "
        f"黄牌 {summary.due_soon} · 红牌(超期) {summary.overdue}"
    )
    rules = " · ".join(
        f"{RULE_TITLES.get(rule, rule)} {n}" for rule, n in sorted(summary.findings.items()) if n
    )
    return f"{head}\n    {rules or '暂无监察发现'}"


class SummaryPrinter(threading.Thread):
    """Prints the summary every ``interval`` seconds until stopped."""

    def __init__(
        self, metrics_url: str, hall_clock: Callable[[], dt.datetime], interval: float = 10.0
    ) -> None:
        super().__init__(name="demo-summary", daemon=True)
        self.metrics_url = metrics_url
        self.hall_clock = hall_clock
        self.interval = interval
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                continue  # not serving yet, or shutting down
            print(render(summarize(text), self.hall_clock()), flush=True)
