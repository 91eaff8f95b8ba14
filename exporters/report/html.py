"""The bulletin as one self-contained HTML page (charts inlined), also the PDF's source."""

from __future__ import annotations

import base64

from jinja2 import Environment, PackageLoader, select_autoescape

from exporters.report.charts import Charts
from exporters.report.tables import CONVENTIONS, heading, tables, text
from monitor.monthly import MonthReport

# Cell classes: figures right-aligned; figures, codes and times never broken across lines.
CELL_CLASS = {
    **dict.fromkeys(("count", "ratio", "points", "change", "yuan"), "num"),
    **dict.fromkeys(("code", "time", "date"), "nowrap"),
}
WIDE = 8  # tables with this many columns are set smaller

_ENV = Environment(
    loader=PackageLoader("exporters.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
)


def render(report: MonthReport, charts: Charts) -> str:
    tz = report.period.start.tzinfo
    assert tz is not None
    views = []
    for table in tables(report):
        rows = [
            [
                (text(kind, column.value(row), tz), CELL_CLASS.get(kind))
                for column in table.columns
                for kind in [column.kind_of(row)]
            ]
            for row in table.printed
        ]
        views.append(
            {
                "sheet": table.sheet,
                "title": table.title,
                "headers": [c.header for c in table.columns],
                "rows": rows,
                "empty": table.empty,
                "omitted": table.omitted,
                "wide": len(table.columns) >= WIDE,
            }
        )
    return _ENV.get_template("bulletin.html.j2").render(
        heading=heading(report),
        tables=views,
        charts={
            name: base64.b64encode(getattr(charts, name)).decode()
            for name in ("trend", "rules", "departments")
        },
        notes=report.notes,
        conventions=CONVENTIONS,
    )
