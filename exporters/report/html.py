"""The bulletin as one self-contained HTML page (charts inlined), also the PDF's source."""

from __future__ import annotations

import base64

from jinja2 import Environment, PackageLoader, select_autoescape

from exporters.report.charts import Charts
from exporters.report.tables import tables, text
from monitor.monthly import MonthReport

NUMERIC = frozenset({"count", "ratio", "points", "change", "yuan"})

_ENV = Environment(
    loader=PackageLoader("exporters.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
)

CONVENTIONS = (
    "指标定义：办结率＝本期受理且期末前办结件数／本期受理件数；按时办结率＝本期作出决定且在承诺时限内办结件数"
    "／本期作出决定件数（撤回、不予受理、退回、作废不计）；即办件比例＝本期受理的即办件／本期受理件数；"
    "现场办结率＝本期受理且当日作出决定件数／本期受理件数；承诺提速率＝Σ(法定时限－承诺时限)／Σ法定时限、"
    "实际提速率＝Σ(法定时限－实际用时)／Σ法定时限（均按工作日，对本期作出决定且法定时限大于零的办件，"
    "实际用时不含特别程序）；满意率＝非常满意与满意评价／全部评价。",
    "红牌、黄牌为本期新增的问题；红牌办件清单与收费异常列出本期内任何时候处于未解决状态的问题。",
    "时限、超期与按时办结均取自守护进程评估当时记录的研判结果及其日历版本，事后更正日历或规则参数不改变本期数字。",
    "本报告不含申请人姓名、身份证号码等个人信息；交易流水号与账号仅显示末尾数位。",
)


def render(report: MonthReport, charts: Charts) -> str:
    tz = report.period.start.tzinfo
    assert tz is not None
    period = report.period
    ending = period.last_instant.astimezone(tz)
    views = []
    for table in tables(report):
        rows = [
            [
                (text(column.kind_of(row), column.value(row), tz), column.kind_of(row) in NUMERIC)
                for column in table.columns
            ]
            for row in table.rows
        ]
        views.append(
            {
                "sheet": table.sheet,
                "title": table.title,
                "headers": [c.header for c in table.columns],
                "rows": rows,
                "empty": table.empty,
            }
        )
    state = "" if period.complete else "（月中，截至生成时）"
    return _ENV.get_template("bulletin.html.j2").render(
        title=f"{period.month[:4]}年{int(period.month[5:])}月电子监察通报",
        period=f"{period.start.astimezone(tz):%Y-%m-%d} 至 {ending:%Y-%m-%d %H:%M}{state}",
        scope=f"中心 {report.center}" if report.center else "全部中心",
        generated=report.generated_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        tables=views,
        charts={
            name: base64.b64encode(getattr(charts, name)).decode()
            for name in ("trend", "rules", "departments")
        },
        notes=[*CONVENTIONS, *report.notes],
    )
