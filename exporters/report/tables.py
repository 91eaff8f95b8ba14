"""The bulletin's tables, defined once: headers, typed values, and their text for people."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exporters.alertmanager import RULE_TITLES
from monitor.monthly import MonthReport
from monitor.store import ParameterSet

SEVERITY = {"red": "红牌", "yellow": "黄牌"}
TZ_FORMAT = "%Y-%m-%d %H:%M"

# What the figures mean, printed with every bulletin.
CONVENTIONS = (
    "指标定义：办结率＝本期受理且期末前办结件数／本期受理件数；按时办结率＝本期作出决定且在承诺时限内办结件数"
    "／本期作出决定件数（撤回、不予受理、退回、作废不计）；即办件比例＝本期受理的即办件／本期受理件数；"
    "现场办结率＝本期受理且当日作出决定件数／本期受理件数；承诺提速率＝Σ(法定时限－承诺时限)／Σ法定时限、"
    "实际提速率＝Σ(法定时限－实际用时)／Σ法定时限（均按工作日，对本期作出决定且法定时限大于零的办件，"
    "实际用时不含特别程序）；满意率＝非常满意与满意评价／全部评价。",
    "红牌、黄牌为本期新增的问题；红牌办件清单列出本期内处于超期状态或本期发现超期办结的办件，"
    "收费异常列出本期内任何时候处于未解决状态的问题。",
    "时限、超期与按时办结均取自守护进程评估当时记录的研判结果及其日历版本，事后更正日历或规则参数不改变本期数字。",
    "收费异常的涉及金额：应缴未入专户为应收金额；缴入非指定账户为该账户所收金额；收费金额不符为实收（未缴时为应收）"
    "与收费标准之差；擅自收费为所收或应收金额；有费无件为到账金额。",
    "本报告不含申请人姓名、身份证号码等个人信息；交易流水号与账号仅显示末尾数位。",
)


@dataclass(frozen=True)
class Heading:
    """The bulletin's title and what it covers, as printed."""

    title: str
    period: str
    scope: str
    generated: str


def heading(report: MonthReport) -> Heading:
    period = report.period
    tz = period.start.tzinfo
    assert tz is not None
    if period.complete:
        ending = f"{period.last_instant.astimezone(tz):{TZ_FORMAT}}"
    else:
        ending = f"{period.end.astimezone(tz):{TZ_FORMAT}}（月中，截至生成时）"
    return Heading(
        title=f"{period.month[:4]}年{int(period.month[5:])}月电子监察通报",
        period=f"{period.start.astimezone(tz):%Y-%m-%d} 至 {ending}",
        scope=f"中心 {report.center}" if report.center else "全部中心",
        generated=report.generated_at.astimezone(tz).strftime(TZ_FORMAT),
    )


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]
    kind: str | Callable[[Any], str] = "text"  # text, code, count, ratio, points, yuan, time, date

    def kind_of(self, row: Any) -> str:
        return self.kind(row) if callable(self.kind) else self.kind


# The lists that grow with the hall (windows, red cases, fee rows) show this many rows in
# the PDF and HTML; the XLSX holds every row (a province's month has tens of thousands).
SHOWN_ROWS = 100


@dataclass(frozen=True)
class Table:
    sheet: str
    title: str
    columns: tuple[Column, ...]
    rows: list[Any]
    empty: str = "本期无。"
    shown: int | None = None  # rows printed in the PDF and HTML (None: all)

    @property
    def printed(self) -> list[Any]:
        """The rows the PDF and HTML print."""
        return self.rows if self.shown is None else self.rows[: self.shown]

    @property
    def omitted(self) -> str | None:
        """The line printed under a cut table: how many rows more, and where they are."""
        if self.shown is None or len(self.rows) <= self.shown:
            return None
        return (
            f"以上仅列前 {self.shown} 行，另有 {len(self.rows) - self.shown} 行未列出；"
            f"全部 {len(self.rows)} 行见同名 XLSX 文件的“{self.sheet}”工作表。"
        )


def yuan(fen: int | None) -> Decimal | None:
    """Fen as yuan with two decimals (None stays None: printed "—")."""
    return None if fen is None else Decimal(fen).scaleb(-2).quantize(Decimal("0.01"))


def text(kind: str, value: Any, tz: dt.tzinfo) -> str:
    """A typed value as the bulletin prints it."""
    if value is None:
        return "—"
    if kind == "ratio":
        return f"{value * 100:.1f}%"
    if kind == "points":
        return f"{value * 100:+.1f} 个百分点"
    if kind == "change":
        return f"{value:+d}"
    if kind == "yuan":
        return f"{value:,.2f}"
    if kind == "time":
        return value.astimezone(tz).strftime(TZ_FORMAT)
    if kind == "date":
        return value.isoformat()
    return str(value)


def _kpi_kind(kpi: Any) -> str:
    return "ratio" if kpi.kind == "ratio" else "count"


def _change_kind(kpi: Any) -> str:
    return "points" if kpi.kind == "ratio" else "change"


def _change(kpi: Any) -> Any:
    change = kpi.change
    return None if change is None else (change if kpi.kind == "ratio" else int(change))


def tables(report: MonthReport) -> list[Table]:
    names = report.item_names
    tz = report.period.start.tzinfo
    fees_total = Decimal(sum(r.at_issue_fen for r in report.fees)).scaleb(-2)

    def item(code: str) -> str:
        return f"{names[code]}（{code}）" if code in names else code

    def day(instant: dt.datetime | None) -> dt.date | None:
        """A deadline is the end of a working day: its date says it."""
        return None if instant is None else instant.astimezone(tz).date()

    place = (
        Column("排名", lambda r: r.rank, "count"),
        Column("受理", lambda r: r.accepted, "count"),
        Column("办结", lambda r: r.decided, "count"),
        Column("按时办结率", lambda r: r.on_time_ratio, "ratio"),
        Column("超期件", lambda r: r.overdue_cases, "count"),
        Column("红牌", lambda r: r.red, "count"),
        Column("黄牌", lambda r: r.yellow, "count"),
        Column("收费异常", lambda r: r.fee_issues, "count"),
        Column("满意率", lambda r: r.satisfaction_ratio, "ratio"),
    )
    department = Column("部门", lambda r: r.department, "code")
    window = Column("窗口", lambda r: r.window, "code")
    return [
        Table(
            "主要指标",
            "一、主要指标",
            (
                Column("指标", lambda k: k.label),
                Column("本月", lambda k: k.value, _kpi_kind),
                Column("上月", lambda k: k.previous, _kpi_kind),
                Column("变化", _change, _change_kind),
            ),
            report.kpis,
        ),
        Table(
            "问题分类",
            "二、问题分类统计（按规则与级别）",
            (
                Column("规则", lambda r: r.rule, "code"),
                Column("问题", lambda r: RULE_TITLES.get(r.rule, r.rule)),
                Column("级别", lambda r: SEVERITY.get(r.severity, r.severity)),
                Column("本月新增", lambda r: r.new, "count"),
                Column("期末未解决", lambda r: r.open_at_end, "count"),
            ),
            report.rules,
        ),
        Table("部门排名", "三、部门排名", (place[0], department, *place[1:]), report.departments),
        Table(
            "窗口排名",
            "四、窗口排名",
            (place[0], department, window, *place[1:]),
            report.windows,
            shown=SHOWN_ROWS,
        ),
        Table(
            "红牌办件",
            "五、红牌办件清单",
            (
                Column("办件编号", lambda r: r.case_id, "code"),
                Column("事项", lambda r: item(r.item)),
                Column("部门", lambda r: r.department, "code"),
                Column("窗口", lambda r: r.window, "code"),
                Column("受理时间", lambda r: r.accepted_at, "time"),
                Column("承诺办结时限", lambda r: day(r.due_at), "date"),
                Column("办结时间", lambda r: r.concluded_at, "time"),
                Column("超期工作日", lambda r: r.working_days_late, "count"),
                Column("问题", lambda r: "、".join(RULE_TITLES.get(x, x) for x in r.rules)),
            ),
            report.red_cases,
            shown=SHOWN_ROWS,
        ),
        Table(
            "收费异常",
            f"六、收费异常（金额单位：元；涉及金额合计 {fees_total:,.2f}）",
            (
                Column("问题", lambda r: RULE_TITLES.get(r.rule, r.rule)),
                Column("情形", lambda r: r.note),
                Column("办件/交易", lambda r: r.subject, "code"),
                Column("事项", lambda r: item(r.item) if r.item else "—"),
                Column("窗口", lambda r: r.window or "—", "code"),
                Column("收费标准", lambda r: yuan(r.standard_fen), "yuan"),
                Column("应收", lambda r: yuan(r.due_fen), "yuan"),
                Column("实收", lambda r: yuan(r.paid_fen), "yuan"),
                Column("涉及金额", lambda r: yuan(r.at_issue_fen), "yuan"),
            ),
            report.fees,
            shown=SHOWN_ROWS,
        ),
        Table(
            "每日趋势",
            "七、每日在办件与超期件",
            (
                Column("日期", lambda p: p.day, "date"),
                Column("在办件", lambda p: p.open, "count"),
                Column("超期件", lambda p: p.overdue, "count"),
            ),
            report.trend,
        ),
        Table(
            "日历版本",
            "八、计算依据：日历版本",
            (
                Column("日历版本", lambda v: v[0], "code"),
                Column("官方日历确认至", lambda v: v[1], "date"),
                Column("引用次数", lambda v: v[2], "count"),
            ),
            report.calendar_versions,
        ),
        Table(
            "规则参数",
            "九、计算依据：规则参数",
            (
                Column("生效自", lambda p: p[0], "time"),
                Column("参数集", lambda p: p[1], "code"),
                Column("参数", lambda p: p[2], "code"),
                Column("取值", lambda p: p[3]),
            ),
            list(parameter_rows(report.parameter_sets)),
        ),
    ]


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        yield prefix, ", ".join(str(v) for v in value)
    else:
        yield prefix, "—" if value in ({}, [], None) else str(value)


_LONG_NUMBER = re.compile(r"\d[\d ]{8,}\d")


def parameter_rows(
    sets: list[ParameterSet],
) -> Iterator[tuple[dt.datetime, str, str, str]]:
    """Each parameter in force, flattened; account numbers shown by their last 4 digits."""
    for parameter_set in sets:
        for key, value in flatten(parameter_set.parameters):
            masked = _LONG_NUMBER.sub(lambda m: "…" + m.group()[-4:], value)
            yield parameter_set.since, parameter_set.digest, key, masked
