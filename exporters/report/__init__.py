"""The monthly bulletin (月度电子监察通报) rendered as PDF, XLSX and HTML: rendering only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from monitor.monthly import MonthReport

FORMATS = ("pdf", "xlsx", "html")


def report_name(report: MonthReport) -> str:
    suffix = f"-{report.center}" if report.center else ""
    return f"jiancha-report-{report.period.month}{suffix}"


def write_report(
    report: MonthReport,
    formats: Sequence[str],
    directory: Path,
    step: Callable[[str], None] = lambda _: None,
) -> list[Path]:
    """Write the bulletin in each format into ``directory``; the files written."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown report format {unknown[0]!r}; expected {', '.join(FORMATS)}")
    from exporters.report import charts, html, pdf, xlsx

    directory.mkdir(parents=True, exist_ok=True)
    base = directory / report_name(report)
    step("绘制图表")
    figures = charts.render(report)
    written = []
    page = html.render(report, figures) if {"html", "pdf"} & set(formats) else ""
    for fmt in FORMATS:
        if fmt not in formats:
            continue
        step(f"生成 {fmt.upper()}")
        path = base.with_suffix(f".{fmt}")
        partial = path.with_name(path.name + ".partial")
        if fmt == "html":
            partial.write_text(page, encoding="utf-8")
        elif fmt == "pdf":
            partial.write_bytes(pdf.render(page))
        else:
            xlsx.write(report, figures, partial)
        partial.replace(path)  # a reader never sees half a file
        written.append(path)
    return written
