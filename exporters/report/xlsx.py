"""The bulletin as an XLSX workbook: a cover sheet, one sheet per table with typed cells, charts."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
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
    """Write the workbook row by row (openpyxl's write-only mode: a province's month has
    tens of thousands of rows, each written once and never held as cells)."""
    tz = report.period.start.tzinfo
    workbook = Workbook(write_only=True)
    _cover(workbook, report)
    for table in tables(report):
        sheet = workbook.create_sheet(table.sheet)
        rows = []
        for row in table.rows:
            values = []
            for column in table.columns:
                kind, value = column.kind_of(row), column.value(row)
                if kind == "time" and value is not None:  # Excel has no time zones
                    value = value.astimezone(tz).replace(tzinfo=None)
                values.append((value, kind))
            rows.append(values)
        # Widths first: a write-only sheet takes them before its rows.
        for index, column in enumerate(table.columns):
            width = max(
                [len(column.header) * 2 + 2] + [len(str(r[index][0] or "")) + 2 for r in rows]
            )
            sheet.column_dimensions[get_column_letter(index + 1)].width = min(width, 60)
        sheet.freeze_panes = "A3"
        sheet.append([_cell(sheet, table.title, font=Font(bold=True, size=12))])
        sheet.append(
            [
                _cell(
                    sheet,
                    c.header,
                    font=Font(bold=True),
                    fill=HEADER,
                    alignment=Alignment(horizontal="center"),
                )
                for c in table.columns
            ]
        )
        for values in rows:
            sheet.append(
                [
                    _cell(sheet, value, number_format=FORMATS[kind]) if kind in FORMATS else value
                    for value, kind in values
                ]
            )
        chart = CHART_SHEETS.get(table.sheet)
        if chart is not None:
            image = Image(io.BytesIO(getattr(charts, chart)))
            image.width, image.height = image.width * 0.5, image.height * 0.5
            sheet.add_image(image, f"{get_column_letter(len(table.columns) + 2)}2")
    workbook.save(path)


def _cell(sheet: Any, value: Any, **style: Any) -> WriteOnlyCell:
    """A styled cell of a write-only sheet."""
    cell = WriteOnlyCell(sheet, value=value)
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def _cover(workbook: Workbook, report: MonthReport) -> None:
    """The first sheet: what the bulletin covers, what is missing from it, the conventions."""
    head = heading(report)
    sheet = workbook.create_sheet("说明")
    sheet.column_dimensions["A"].width = 10
    sheet.column_dimensions["B"].width = 120
    wrap = Alignment(wrap_text=True, vertical="top")
    sheet.append([_cell(sheet, head.title, font=Font(bold=True, size=14))])
    for label, value in (
        ("统计期间", head.period),
        ("范围", head.scope),
        ("生成时间", head.generated),
    ):
        sheet.append([label, _cell(sheet, value, alignment=wrap)])
    sheet.append([])
    for note in report.notes:
        sheet.append(
            ["注意", _cell(sheet, note, font=Font(bold=True, color="A01818"), alignment=wrap)]
        )
    for note in CONVENTIONS:
        sheet.append(["说明", _cell(sheet, note, alignment=wrap)])
