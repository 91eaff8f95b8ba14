"""The bulletin as an XLSX workbook: a cover sheet, one sheet per table with typed cells, charts."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from exporters.report.charts import Charts
from exporters.report.tables import CONVENTIONS, heading, tables
from monitor.monthly import MonthReport

FORMATS = {
    "ratio": "0.0%",
    "points": "+0.0%;-0.0%;0.0%",
    "yuan": "#,##0.00",
    "count": "0",
    "change": "+0;-0;0",
    "time": "yyyy-mm-dd hh:mm",
    "date": "yyyy-mm-dd",
}
HEADER = PatternFill("solid", fgColor="F3E3E3")
CHART_SHEETS = {"问题分类": "rules", "部门排名": "departments", "每日趋势": "trend"}


def write(report: MonthReport, charts: Charts, path: Path) -> None:
    tz = report.period.start.tzinfo
    workbook = Workbook()
    workbook.remove(workbook.active)
    _cover(workbook, report)
    for table in tables(report):
        sheet = workbook.create_sheet(table.sheet)
        sheet.append([table.title])
        sheet["A1"].font = Font(bold=True, size=12)
        sheet.append([c.header for c in table.columns])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
            cell.fill = HEADER
            cell.alignment = Alignment(horizontal="center")
        for row in table.rows:
            values = []
            kinds = []
            for column in table.columns:
                kind, value = column.kind_of(row), column.value(row)
                if kind == "time" and value is not None:  # Excel has no time zones
                    value = value.astimezone(tz).replace(tzinfo=None)
                values.append(value)
                kinds.append(kind)
            sheet.append(values)
            for cell, kind in zip(sheet[sheet.max_row], kinds, strict=True):
                if kind in FORMATS:
                    cell.number_format = FORMATS[kind]
        for index, column in enumerate(table.columns, start=1):
            width = max(
                [len(column.header) * 2 + 2]
                + [len(str(c.value or "")) + 2 for c in sheet[get_column_letter(index)][2:]]
            )
            sheet.column_dimensions[get_column_letter(index)].width = min(width, 60)
        sheet.freeze_panes = "A3"
        chart = CHART_SHEETS.get(table.sheet)
        if chart is not None:
            image = Image(io.BytesIO(getattr(charts, chart)))
            image.width, image.height = image.width * 0.5, image.height * 0.5
            sheet.add_image(image, f"{get_column_letter(len(table.columns) + 2)}2")
    workbook.save(path)


def _cover(workbook: Workbook, report: MonthReport) -> None:
    """The first sheet: what the bulletin covers, what is missing from it, the conventions."""
    head = heading(report)
    sheet = workbook.create_sheet("说明")
    sheet.append([head.title])
    sheet["A1"].font = Font(bold=True, size=14)
    for label, value in (
        ("统计期间", head.period),
        ("范围", head.scope),
        ("生成时间", head.generated),
    ):
        sheet.append([label, value])
    sheet.append([])
    for note in report.notes:
        sheet.append(["注意", note])
        sheet.cell(sheet.max_row, 2).font = Font(bold=True, color="A01818")
    for note in CONVENTIONS:
        sheet.append(["说明", note])
    sheet.column_dimensions["A"].width = 10
    sheet.column_dimensions["B"].width = 120
    for row in sheet.iter_rows(min_row=2):
        row[-1].alignment = Alignment(wrap_text=True, vertical="top")
