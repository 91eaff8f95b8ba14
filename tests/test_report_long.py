"""Long lists at province scale: the PDF and HTML print their first rows, the XLSX all.

A province's month has thousands of windows and red cases; laid out in full the PDF
would run to hundreds of pages (and take minutes). The printed bulletin shows the first
:data:`~exporters.report.tables.SHOWN_ROWS` rows of those lists and says how many more
there are and where (the XLSX, which holds every row).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import openpyxl

from exporters.report import write_report
from exporters.report.tables import SHOWN_ROWS
from monitor.monthly import MonthReport, PlaceRow, RedCase, build_report, month_period
from tests.hall_time import POLICY, t
from tests.test_monthly import NOW, inputs

WINDOWS = SHOWN_ROWS + 57
RED_CASES = SHOWN_ROWS - 1  # short enough to print in full


def long_report() -> MonthReport:
    period = month_period("2026-10", POLICY, NOW)
    previous = month_period("2026-09", POLICY, NOW)
    report = build_report(inputs([], [], []), period, previous, POLICY, NOW)
    windows = [
        PlaceRow(n, "SCJG", f"W{n:04d}", 10, 9, 0.9, 1, 2, 0, 0, None)
        for n in range(1, WINDOWS + 1)
    ]
    red = [
        RedCase(f"C{n:04d}", "I1", "SCJG", "W1", t(2026, 10, 9, 10), None, None, 3, (), "v")
        for n in range(RED_CASES)
    ]
    return dataclasses.replace(report, windows=windows, red_cases=red)


def test_the_printed_bulletin_cuts_long_lists_and_the_workbook_keeps_them(
    tmp_path: Path,
) -> None:
    xlsx, html = write_report(long_report(), ["html", "xlsx"], tmp_path)  # in FORMATS order
    page = html.read_text(encoding="utf-8")
    assert f"W{SHOWN_ROWS:04d}" in page and f"W{SHOWN_ROWS + 1:04d}" not in page
    assert f"以上仅列前 {SHOWN_ROWS} 行，另有 {WINDOWS - SHOWN_ROWS} 行未列出" in page
    assert "“窗口排名”工作表" in page
    assert f"C{RED_CASES - 1:04d}" in page and page.count("以上仅列前") == 1

    workbook = openpyxl.load_workbook(xlsx)
    windows = [r for r in workbook["窗口排名"].iter_rows(min_row=3, values_only=True)]
    assert [r[2] for r in windows] == [f"W{n:04d}" for n in range(1, WINDOWS + 1)]
    assert len(list(workbook["红牌办件"].iter_rows(min_row=3))) == RED_CASES
