"""The four Grafana dashboards of jiancha, built as code; writes grafana/dashboards/*.json.

Built with grafana-foundation-sdk (typed builders of Grafana's own schema, so a misspelt
option fails here, not silently in Grafana) and committed as JSON, which is what file
provisioning and ``jiancha grafana sync`` read: running Grafana needs no SDK. Regenerate
after editing this file (tests fail while the JSON and this code disagree)::

    .venv/bin/python -m grafana.build

Every query names only series the daemon exports (exporters/metrics.py) or the recording
rules (exporters/prometheus/rules/recording.yml) record; a test runs each of them
against a real Prometheus scraping a real daemon. Hall-facing text is Chinese.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.dashboard import Row
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)

from exporters.alertmanager import RULE_TITLES
from grafana import DASHBOARD_DIR, DATASOURCE_UID

DATASOURCE = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
TAGS = ["jiancha", "电子监察"]

GREEN, YELLOW, RED, BLUE = "green", "#EAB839", "red", "blue"
SEVERITY_TEXT = {"red": ("红牌", RED), "yellow": ("黄牌", YELLOW)}
TIMELINESS_TEXT = {"on_time": "按时办结", "late": "超期办结"}
OUTCOME_TEXT = {"ok": "成功", "failed": "失败", "accepted": "已入账", "rejected": "已拒收"}

# Grafana variable selectors (multi-value, "All" = every value).
C = 'center=~"$center"'
CD = 'center=~"$center", department=~"$department"'
CDW = 'center=~"$center", department=~"$department", window=~"$window"'


# --- thresholds and mappings ---------------------------------------------------------------


def more_is_worse(yellow: float, red: float) -> list[Threshold]:
    return [Threshold(None, GREEN), Threshold(yellow, YELLOW), Threshold(red, RED)]


def less_is_worse(yellow_below: float, green_from: float) -> list[Threshold]:
    return [Threshold(None, RED), Threshold(yellow_below, YELLOW), Threshold(green_from, GREEN)]


NEUTRAL = [Threshold(None, BLUE)]


def value_map(texts: dict[str, str | tuple[str, str]]) -> ValueMap:
    options = {}
    for index, (value, shown) in enumerate(texts.items()):
        text, color = shown if isinstance(shown, tuple) else (shown, None)
        options[value] = ValueMappingResult(text=text, color=color, index=index)
    return ValueMap(options=options)


RULE_MAP = value_map(dict(RULE_TITLES))
SEVERITY_MAP = value_map(dict(SEVERITY_TEXT))
UP_MAP = value_map({"1": ("正常", GREEN), "0": ("故障", RED)})


# --- panels ------------------------------------------------------------------------------------


def query(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> Any:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    if instant:
        q = q.instant().format("table")
    return q


def stat_panel(
    title: str,
    expr: str,
    unit: str,
    steps: list[Threshold],
    *,
    description: str = "",
    mappings: Sequence[ValueMap] = (),
    width: int = 4,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(query(expr, title))
        .unit(unit)
        .thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
        .no_value("0" if unit in {"short", "currencyCNY"} else "无数据")
        .height(5)
        .span(width)
    )
    if mappings:
        panel = panel.mappings(list(mappings))
    return panel


def time_series(
    title: str,
    targets: Sequence[tuple[str, str]],
    unit: str,
    *,
    description: str = "",
    steps: list[Threshold] | None = None,
    width: int = 12,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(width)
        .fill_opacity(10)
    )
    for index, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, ref=chr(ord("A") + index)))
    if steps is not None:
        panel = panel.thresholds(
            dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)
        )
    return panel


def table_panel(
    title: str,
    columns: Sequence[tuple[str, str, str]],
    keys: Sequence[tuple[str, str]],
    *,
    description: str = "",
    width: int = 24,
    sort_by: str | None = None,
) -> table.Panel:
    """One row per key (e.g. department), one column per instant query.

    ``columns``: (expression, column title, unit); ``keys``: (label, column title).
    """
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .height(9)
        .span(width)
    )
    rename: dict[str, str] = dict(keys)
    for index, (expr, column, unit) in enumerate(columns):
        ref = chr(ord("A") + index)
        panel = panel.with_target(query(expr, column, instant=True, ref=ref))
        value = "Value" if len(columns) == 1 else f"Value #{ref}"
        rename[value] = column
        # Overrides match the names shown after the organize transformation below.
        panel = panel.override_by_name(column, [DynamicConfigValue("unit", unit)])
    label_names = [label for label, _ in keys]
    panel = panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    panel = panel.with_transformation(
        DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {"Time": True},
                "indexByName": {name: i for i, name in enumerate([*label_names, *rename])},
                "renameByName": rename,
            },
        )
    )
    for label, mapping in (("rule", RULE_MAP), ("severity", SEVERITY_MAP)):
        if label in label_names:
            panel = panel.override_by_name(
                rename[label],
                [
                    DynamicConfigValue("mappings", [mapping]),
                    DynamicConfigValue("custom.cellOptions", {"type": "color-text"}),
                ],
            )
    if sort_by:
        panel = panel.sort_by([common.TableSortByFieldState().display_name(sort_by).desc(True)])
    return panel


def findings_by_rule(selector: str) -> table.Panel:
    return table_panel(
        "在办监察发现（按规则）",
        [(f"sum by (rule, severity) (jiancha_findings_open{{{selector}}})", "在办发现", "short")],
        [("rule", "规则"), ("severity", "等级")],
        width=12,
        sort_by="在办发现",
    )


def variable(name: str, label: str, definition: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(definition)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


CENTER = variable("center", "中心", "label_values(jiancha_cases_open, center)")
DEPARTMENT = variable(
    "department", "部门", 'label_values(jiancha_cases_open{center=~"$center"}, department)'
)
WINDOW = variable(
    "window",
    "窗口",
    'label_values({__name__=~"jiancha_cases_(due_soon|overdue)", '
    'center=~"$center", department=~"$department"}, window)',
)


def base(uid: str, title: str, description: str, *variables: Any) -> dashboard.Dashboard:
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("1m")
        .time("now-24h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .editable()
    )
    for v in variables:
        board = board.with_variable(v)
    return board


# --- (a) 大厅总览 -----------------------------------------------------------------------------


def hall_overview() -> dashboard.Dashboard:
    return (
        base(
            "jiancha-hall",
            "电子监察 · 大厅总览",
            "监察室大屏：在办、预警、超期、监察发现、本月指标与各部门情况。",
            CENTER,
        )
        .with_row(Row("办件概况"))
        .with_panel(stat_panel("在办件", f"sum(jiancha_cases_open{{{C}}})", "short", NEUTRAL))
        .with_panel(
            stat_panel(
                "即将超期（黄牌）",
                f"sum(jiancha_cases_due_soon{{{C}}})",
                "short",
                more_is_worse(1, 10),
                description="剩余工作日不超过预警阈值的在办件。",
            )
        )
        .with_panel(
            stat_panel(
                "超期未办结（红牌）",
                f"sum(jiancha_cases_overdue{{{C}}})",
                "short",
                more_is_worse(1, 1),
                description="已过承诺办结时限仍未办结的办件。",
            )
        )
        .with_panel(
            stat_panel(
                "最久超期",
                f"max(jiancha_oldest_overdue_age_seconds{{{C}}})",
                "dtdurations",
                more_is_worse(1, 5 * 86400),
            )
        )
        .with_panel(
            stat_panel(
                "特别程序（暂停计时）",
                f"sum(jiancha_cases_suspended{{{C}}})",
                "short",
                NEUTRAL,
            )
        )
        .with_panel(
            stat_panel(
                "收费未进专户",
                f"sum(jiancha_fee_unreconciled_yuan{{{C}}})",
                "currencyCNY",
                more_is_worse(0.01, 0.01),
            )
        )
        .with_row(Row("本月指标"))
        .with_panel(
            stat_panel(
                "本月受理",
                f"sum(jiancha_month_cases_accepted{{{C}}})",
                "short",
                NEUTRAL,
            )
        )
        .with_panel(
            stat_panel(
                "按时办结率",
                f"sum(jiancha_month_cases_decided_on_time{{{C}}})"
                f" / sum(jiancha_month_cases_decided{{{C}}})",
                "percentunit",
                less_is_worse(0.9, 0.98),
                description="本月办结的办件中在承诺时限内办结的比例。",
            )
        )
        .with_panel(
            stat_panel(
                "办结率",
                f"sum(jiancha_month_cases_accepted_concluded{{{C}}})"
                f" / sum(jiancha_month_cases_accepted{{{C}}})",
                "percentunit",
                less_is_worse(0.6, 0.8),
                description="本月受理的办件中已办结的比例。",
            )
        )
        .with_panel(
            stat_panel(
                "即办件比例",
                f"sum(jiancha_month_cases_immediate{{{C}}})"
                f" / sum(jiancha_month_cases_accepted{{{C}}})",
                "percentunit",
                NEUTRAL,
            )
        )
        .with_panel(
            stat_panel(
                "满意率",
                f"sum(jiancha_month_ratings_satisfied{{{C}}}) / sum(jiancha_month_ratings{{{C}}})",
                "percentunit",
                less_is_worse(0.9, 0.95),
                description="本月评价中“非常满意”“满意”所占比例。",
            )
        )
        .with_panel(
            stat_panel(
                "全省按时办结率",
                "jiancha:month_on_time:ratio",
                "percentunit",
                less_is_worse(0.9, 0.98),
                description="Prometheus 所见全部中心（含各分片）本月按时办结率：比例按总数计算。",
            )
        )
        .with_row(Row("监察发现"))
        .with_panel(findings_by_rule(C))
        .with_panel(
            time_series(
                "新增监察发现（每小时）",
                [
                    (
                        "sum by (severity) (increase(jiancha_findings_detected_total[1h]))",
                        "{{severity}}",
                    )
                ],
                "short",
                description="每小时新发现（或重新出现）的问题，红牌与黄牌分列。",
            )
            .override_by_name("red", [DynamicConfigValue("displayName", "红牌")])
            .override_by_name("yellow", [DynamicConfigValue("displayName", "黄牌")])
        )
        .with_row(Row("各部门"))
        .with_panel(
            table_panel(
                "各部门情况",
                [
                    (f"sum by (center, department) (jiancha_cases_open{{{C}}})", "在办件", "short"),
                    (
                        f"sum by (center, department) (jiancha_cases_due_soon{{{C}}})",
                        "黄牌",
                        "short",
                    ),
                    (
                        f"sum by (center, department) (jiancha_cases_overdue{{{C}}})",
                        "红牌",
                        "short",
                    ),
                    (
                        f"max by (center, department) (jiancha_oldest_overdue_age_seconds{{{C}}})",
                        "最久超期",
                        "dtdurations",
                    ),
                    (
                        f"sum by (center, department) (jiancha_findings_open{{{C}}})",
                        "在办发现",
                        "short",
                    ),
                    (
                        f"sum by (center, department) (jiancha_fee_unreconciled_yuan{{{C}}})",
                        "未进专户",
                        "currencyCNY",
                    ),
                    (
                        f"center_department:jiancha_cases_concluded_on_time:ratio{{{C}}}",
                        "按时办结率（累计）",
                        "percentunit",
                    ),
                ],
                # A department code is a unit of one center: never add two centers' up.
                [("center", "中心"), ("department", "部门")],
                sort_by="红牌",
            )
        )
        .with_row(Row("趋势"))
        .with_panel(
            time_series(
                "在办、黄牌、红牌趋势",
                [
                    (f"sum(center:jiancha_cases_open:sum{{{C}}})", "在办件"),
                    (f"sum(center:jiancha_cases_due_soon:sum{{{C}}})", "黄牌"),
                    (f"sum(center:jiancha_cases_overdue:sum{{{C}}})", "红牌"),
                ],
                "short",
                width=24,
            )
        )
    )


# --- (b) 部门/窗口 ----------------------------------------------------------------------------


def department_drilldown() -> dashboard.Dashboard:
    return (
        base(
            "jiancha-department",
            "电子监察 · 部门/窗口",
            "按中心、部门、窗口查看预警、超期、监察发现与办结情况。",
            CENTER,
            DEPARTMENT,
            WINDOW,
        )
        .with_row(Row("部门"))
        .with_panel(stat_panel("在办件", f"sum(jiancha_cases_open{{{CD}}})", "short", NEUTRAL))
        .with_panel(
            stat_panel(
                "特别程序（暂停计时）",
                f"sum(jiancha_cases_suspended{{{CD}}})",
                "short",
                NEUTRAL,
            )
        )
        .with_panel(
            stat_panel(
                "黄牌",
                f"sum(jiancha_cases_due_soon{{{CDW}}})",
                "short",
                more_is_worse(1, 10),
            )
        )
        .with_panel(
            stat_panel(
                "红牌",
                f"sum(jiancha_cases_overdue{{{CDW}}})",
                "short",
                more_is_worse(1, 1),
            )
        )
        .with_panel(
            stat_panel(
                "最久超期",
                f"max(jiancha_oldest_overdue_age_seconds{{{CD}}})",
                "dtdurations",
                more_is_worse(1, 5 * 86400),
            )
        )
        .with_panel(
            stat_panel(
                "按时办结率（累计）",
                f'sum(jiancha_cases_concluded_total{{{CD}, timeliness="on_time"}})'
                f" / sum(jiancha_cases_concluded_total{{{CD}}})",
                "percentunit",
                less_is_worse(0.9, 0.98),
                description="守护进程已知的全部已办结办件中按时办结的比例。",
            )
        )
        .with_row(Row("窗口"))
        .with_panel(
            table_panel(
                "各窗口黄牌、红牌",
                [
                    (
                        f"sum by (department, window) (jiancha_cases_due_soon{{{CDW}}})",
                        "黄牌",
                        "short",
                    ),
                    (
                        f"sum by (department, window) (jiancha_cases_overdue{{{CDW}}})",
                        "红牌",
                        "short",
                    ),
                ],
                [("department", "部门"), ("window", "窗口")],
                width=12,
                sort_by="红牌",
            )
        )
        .with_panel(
            time_series(
                "各窗口红牌趋势",
                [(f"sum by (window) (jiancha_cases_overdue{{{CDW}}})", "{{window}}")],
                "short",
            )
        )
        .with_row(Row("监察发现与办结"))
        .with_panel(findings_by_rule(CD))
        .with_panel(
            time_series(
                "办结情况（每小时）",
                [
                    (
                        "sum by (timeliness) "
                        f"(increase(jiancha_cases_concluded_total{{{CD}}}[1h]))",
                        "{{timeliness}}",
                    )
                ],
                "short",
            )
            .override_by_name("on_time", [DynamicConfigValue("displayName", "按时办结")])
            .override_by_name("late", [DynamicConfigValue("displayName", "超期办结")])
        )
    )


# --- (c) 收费监管 -----------------------------------------------------------------------------

FEE_RULES = 'rule=~"fee\\\\..*|offsystem.payment_without_case"'


def fee_supervision() -> dashboard.Dashboard:
    def count(rule: str, title: str, description: str) -> stat.Panel:
        return stat_panel(
            title,
            f'sum(jiancha_findings_open{{{C}, rule="{rule}"}})',
            "short",
            more_is_worse(1, 1),
            description=description,
        )

    return (
        base(
            "jiancha-fees",
            "电子监察 · 收费监管",
            "收费是否全部进入收费专户、是否按标准收费、有无擅自收费与有费无件。",
            CENTER,
        )
        .with_row(Row("收费问题"))
        .with_panel(
            stat_panel(
                "未进专户金额",
                f"sum(jiancha_fee_unreconciled_yuan{{{C}}})",
                "currencyCNY",
                more_is_worse(0.01, 0.01),
                description="应收费用在宽限期内没有对应的专户入账（或进了其他账户）的金额。",
            )
        )
        .with_panel(
            count(
                "fee.not_in_designated_account",
                "收费未进专户（件）",
                "应收费用没有进入收费专户的办件数。",
            )
        )
        .with_panel(
            count("fee.amount_mismatch", "收费金额不符", "实收或应收金额与收费标准不一致。")
        )
        .with_panel(count("fee.unauthorized", "擅自收费", "免费事项或已取消收费的事项被收费。"))
        .with_panel(
            count(
                "offsystem.payment_without_case",
                "有费无件",
                "专户收到的款项找不到对应的办件（体外循环）。",
            )
        )
        .with_panel(
            stat_panel(
                "本月受理",
                f"sum(jiancha_month_cases_accepted{{{C}}})",
                "short",
                NEUTRAL,
            )
        )
        .with_row(Row("各部门"))
        .with_panel(
            table_panel(
                "各部门收费问题",
                [
                    (
                        f"sum by (department, rule) (jiancha_findings_open{{{C}, {FEE_RULES}}})",
                        "在办发现",
                        "short",
                    )
                ],
                [("department", "部门"), ("rule", "问题")],
                width=12,
                sort_by="在办发现",
            )
        )
        .with_panel(
            table_panel(
                "各部门未进专户金额",
                [
                    (
                        f"sum by (department) (jiancha_fee_unreconciled_yuan{{{C}}})",
                        "未进专户金额",
                        "currencyCNY",
                    )
                ],
                [("department", "部门")],
                width=12,
                sort_by="未进专户金额",
            )
        )
        .with_row(Row("趋势与对账"))
        .with_panel(
            time_series(
                "未进专户金额趋势",
                [
                    (
                        f"sum by (department) (jiancha_fee_unreconciled_yuan{{{C}}})",
                        "{{department}}",
                    )
                ],
                "currencyCNY",
            )
        )
        .with_panel(
            time_series(
                "银行流水文件与入账记录（每小时）",
                [
                    (
                        "sum by (outcome) (increase(jiancha_statement_files_total[1h]))",
                        "流水文件 {{outcome}}",
                    ),
                    (
                        'sum(increase(jiancha_rows_ingested_total{entity="payments"}[1h]))',
                        "入账记录",
                    ),
                ],
                "short",
                description="银行送来的对账流水（按是否接收）与读入的入账记录数。",
            )
        )
    )


# --- (d) 系统运行 -----------------------------------------------------------------------------


def daemon_health() -> dashboard.Dashboard:
    return (
        base(
            "jiancha-health",
            "电子监察 · 系统运行",
            "守护进程、数据源、状态库、告警推送与工作日历的运行状况。",
        )
        .with_row(Row("守护进程"))
        .with_panel(
            stat_panel(
                "守护进程",
                'min(up{job="jiancha"})',
                "none",
                [Threshold(None, RED), Threshold(1, GREEN)],
                mappings=[UP_MAP],
            )
        )
        .with_panel(
            stat_panel(
                "主用节点数",
                "sum(jiancha_leader)",
                "short",
                [Threshold(None, RED), Threshold(1, GREEN), Threshold(2, RED)],
                description="持有主用锁、正在采集和监察的守护进程数，应为 1。",
            )
        )
        .with_panel(
            stat_panel(
                "状态库",
                "min(jiancha_state_store_up)",
                "none",
                [Threshold(None, RED), Threshold(1, GREEN)],
                mappings=[UP_MAP],
            )
        )
        .with_panel(
            stat_panel(
                "距上次监察",
                "time() - max(jiancha_last_evaluation_timestamp_seconds)",
                "s",
                more_is_worse(300, 900),
            )
        )
        .with_panel(
            stat_panel(
                "日历确认剩余天数",
                "(min(jiancha_calendar_confirmed_until_timestamp_seconds) - time()) / 86400",
                "d",
                less_is_worse(30, 60),
                description="官方节假日安排已确认到的日期距今天数；少于 30 天会告警。",
            )
        )
        .with_panel(
            stat_panel(
                "期限超出已确认日历",
                "sum(jiancha_deadlines_unconfirmed)",
                "short",
                more_is_worse(1, 100),
                description="期限落在尚未公布的节假日安排中的在办发现数。",
            )
        )
        .with_row(Row("数据源"))
        .with_panel(
            table_panel(
                "数据源状态",
                [
                    ("jiancha_source_up", "状态", "none"),
                    (
                        "time() - jiancha_source_last_success_timestamp_seconds",
                        "距上次成功采集",
                        "s",
                    ),
                    ("source:jiancha_source_staleness:intervals", "过期周期数", "short"),
                    ("jiancha_source_consecutive_failures", "连续失败次数", "short"),
                    ("jiancha_source_poll_interval_seconds", "采集周期", "s"),
                ],
                [("source", "数据源")],
                width=12,
            ).override_by_name("状态", [DynamicConfigValue("mappings", [UP_MAP])])
        )
        .with_panel(
            time_series(
                "采集耗时（p95）",
                [
                    (
                        "histogram_quantile(0.95, sum by (source, le) "
                        "(rate(jiancha_poll_duration_seconds_bucket[$__rate_interval])))",
                        "{{source}}",
                    )
                ],
                "s",
            )
        )
        .with_panel(
            time_series(
                "采集次数",
                [
                    (
                        "sum by (source, outcome) (rate(jiancha_polls_total[$__rate_interval]))",
                        "{{source}} {{outcome}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            time_series(
                "读入行数",
                [
                    (
                        "sum by (source, entity) "
                        "(rate(jiancha_rows_ingested_total[$__rate_interval]))",
                        "{{source}} {{entity}}",
                    )
                ],
                "rowsps",
            )
        )
        .with_panel(
            time_series(
                "拒收行数（每小时，按原因）",
                [
                    (
                        "sum by (source, reason) (increase(jiancha_rows_rejected_total[1h]))",
                        "{{source}} {{reason}}",
                    )
                ],
                "short",
                description="无法映射的源数据行（原因见日志，日志中每行只记一次）。",
            )
        )
        .with_row(Row("监察与告警"))
        .with_panel(
            time_series(
                "监察耗时（p95）",
                [
                    (
                        "histogram_quantile(0.95, sum by (le) "
                        "(rate(jiancha_rule_evaluation_duration_seconds_bucket"
                        "[$__rate_interval])))",
                        "规则评估",
                    )
                ],
                "s",
            )
        )
        .with_panel(
            time_series(
                "状态库写入耗时（p95）",
                [
                    (
                        "histogram_quantile(0.95, sum by (write, le) "
                        "(rate(jiancha_state_store_write_seconds_bucket[$__rate_interval])))",
                        "{{write}}",
                    )
                ],
                "s",
                description="写入状态库的耗时：poll 为每次采集写入的记录与水位，ledger 为"
                "每次评估的台账变更，sla 为 SLA 记录，compact 为把采集追加的记录版本合并进"
                "记录表（后台任务）。采集或评估变慢而数据源正常时，先看这里。",
            )
        )
        .with_panel(
            time_series(
                "告警推送",
                [
                    (
                        "sum by (outcome) "
                        "(rate(jiancha_alertmanager_pushes_total[$__rate_interval]))",
                        "{{outcome}}",
                    ),
                ],
                "ops",
            )
            .override_by_name("ok", [DynamicConfigValue("displayName", "成功")])
            .override_by_name(
                "failed",
                [
                    DynamicConfigValue("displayName", "失败"),
                    DynamicConfigValue("color", {"mode": "fixed", "fixedColor": RED}),
                ],
            )
        )
        .with_panel(
            time_series(
                "发出的办件告警",
                [("sum(jiancha_alerts_active)", "办件告警")],
                "short",
            )
        )
        .with_panel(
            table_panel(
                "版本",
                [("jiancha_build_info", "实例数", "short")],
                [("instance", "实例"), ("version", "版本")],
                width=12,
            )
        )
    )


BUILDERS = {
    "hall-overview.json": hall_overview,
    "department.json": department_drilldown,
    "fees.json": fee_supervision,
    "health.json": daemon_health,
}


def render(board: dashboard.Dashboard) -> str:
    """The dashboard as stable, reviewable JSON (sorted keys, Chinese kept readable)."""
    model = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    for index, panel in enumerate(_panels(model), start=1):
        panel["id"] = index  # unique panel ids; the SDK leaves them all 0
    return json.dumps(model, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in model.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def build_all() -> dict[str, str]:
    return {name: render(builder()) for name, builder in BUILDERS.items()}


def main(directory: Path = DASHBOARD_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in build_all().items():
        (directory / name).write_text(text, encoding="utf-8")
        print(f"wrote {directory / name}")


if __name__ == "__main__":
    main()
