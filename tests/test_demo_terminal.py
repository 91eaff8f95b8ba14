"""The demo's terminal summary: totals over every center and department of a scrape."""

from __future__ import annotations

import datetime as dt

from monitor.demo.terminal import render, summarize

SCRAPE = """\
# TYPE jiancha_cases_open gauge
jiancha_cases_open{center="ZX01",department="GA"} 40
jiancha_cases_open{center="ZX02",department="SCJ"} 2
# TYPE jiancha_cases_overdue gauge
jiancha_cases_overdue{center="ZX01",department="GA",window="ZX01-W01"} 3
jiancha_cases_overdue{center="ZX02",department="SCJ",window=""} 1
# TYPE jiancha_cases_due_soon gauge
jiancha_cases_due_soon{center="ZX01",department="GA",window="ZX01-W01"} 5
# TYPE jiancha_findings_open gauge
jiancha_findings_open{center="ZX01",department="GA",rule="case.overdue",severity="red"} 3
jiancha_findings_open{center="ZX02",department="SCJ",rule="case.overdue",severity="red"} 1
jiancha_findings_open{center="ZX02",rule="offsystem.payment_without_case",severity="red"} 2
"""


def test_totals_and_findings_by_rule_in_chinese() -> None:
    summary = summarize(SCRAPE)
    assert (summary.cases_open, summary.overdue, summary.due_soon) == (42, 4, 5)
    assert summary.cases_suspended == 0
    assert summary.findings == {"case.overdue": 4, "offsystem.payment_without_case": 2}
    text = render(summary, dt.datetime(2026, 11, 30, 10, 5))
    assert text.startswith("[大厅时钟 2026-11-30 10:05 周一] 在办 42")
    assert "红牌(超期) 4" in text and "黄牌 5" in text
    assert "超期未办结 4" in text and "有费无件（体外循环） 2" in text


def test_a_hall_without_findings_says_so() -> None:
    assert "暂无监察发现" in render(summarize(""), dt.datetime(2026, 11, 29, 9, 0))
