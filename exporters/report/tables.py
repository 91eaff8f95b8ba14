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


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]
    kind: str | Callable[[Any], str] = "text"  # text, count, ratio, points, yuan, time, date

    def kind_of(self, row: Any) -> str:
        return self.kind(row) if callable(self.kind) else self.kind


@dataclass(frozen=True)
class Table:
    sheet: str
    title: str
    columns: tuple[Column, ...]
    rows: list[Any]
    empty: str = "本期无。"


def yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2).quantize(Decimal("0.01"))


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

    def item(code: str) -> str:
        return f"{names[code]}（{code}）" if code in names else code

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
    department = Column("部门", lambda r: r.department)
    window = Column("窗口", lambda r: r.window)
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
                Column("规则", lambda r: r.rule),
                Column("问题", lambda r: RULE_TITLES.get(r.rule, r.rule)),
                Column("级别", lambda r: SEVERITY.get(r.severity, r.severity)),
                Column("本月新增", lambda r: r.new, "count"),
                Column("月末未解决", lambda r: r.open_at_end, "count"),
            ),
            report.rules,
        ),
        Table("部门排名", "三、部门排名", (place[0], department, *place[1:]), report.departments),
        Table(
            "窗口排名", "四、窗口排名", (place[0], department, window, *place[1:]), report.windows
        ),
        Table(
            "红牌办件",
            "五、红牌办件清单",
            (
                Column("办件编号", lambda r: r.case_id),
                Column("事项", lambda r: item(r.item)),
                Column("部门", lambda r: r.department),
                Column("窗口", lambda r: r.window),
                Column("受理时间", lambda r: r.accepted_at, "time"),
                Column("承诺办结时限", lambda r: r.due_at, "time"),
                Column("办结时间", lambda r: r.concluded_at, "time"),
                Column("超期工作日", lambda r: r.working_days_late, "count"),
                Column("问题", lambda r: "、".join(RULE_TITLES.get(x, x) for x in r.rules)),
            ),
            report.red_cases,
        ),
        Table(
            "收费异常",
            "六、收费异常（金额单位：元）",
            (
                Column("问题", lambda r: RULE_TITLES.get(r.rule, r.rule)),
                Column("办件/交易", lambda r: r.subject),
                Column("事项", lambda r: item(r.item) if r.item else "—"),
                Column("窗口", lambda r: r.window or "—"),
                Column("应收", lambda r: yuan(r.due_fen), "yuan"),
                Column("实收", lambda r: yuan(r.paid_fen), "yuan"),
                Column("差额", lambda r: yuan(r.difference_fen), "yuan"),
                Column("情形", lambda r: r.note),
            ),
            report.fees,
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
                Column("日历版本", lambda v: v[0]),
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
                Column("参数集", lambda p: p[1]),
                Column("参数", lambda p: p[2]),
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
