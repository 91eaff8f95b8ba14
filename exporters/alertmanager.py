"""Per-case alerts for Alertmanager's v2 API (``POST /api/v2/alerts``).

Every open finding is an alert, re-sent each cycle with ``endsAt`` a few intervals ahead
(as Prometheus does: 4 × the interval), so Alertmanager resolves it by itself if the
daemon dies; a finding that resolved is sent once more with ``endsAt`` = now. Labels
identify the alert and route it (alertname, rule, severity, case id, subject, center,
department, window; ``source``, the system that delivered the subject — what a
source-down alert inhibits by — and ``sources``, all it depends on); annotations carry
the Chinese text for people. A case id is fine here — Alertmanager groups, silences and
pages by it — but never a name or an ID number.

Alertmanager being unreachable is retried a bounded number of times, counted, and
reported to the caller; it never raises into the daemon.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from monitor.model import Finding, Severity

log = structlog.get_logger(__name__)

ALERTNAME = "JianchaFinding"

RULE_TITLES = {
    "case.due_soon": "即将超期",
    "case.overdue": "超期未办结",
    "case.concluded_late": "超期办结",
    "case.statutory_overdue": "超法定时限",
    "case.step_overdue": "环节超时",
    "case.suspension_overdue": "特别程序超时",
    "offsystem.ticket_without_case": "有号无件（体外循环）",
    "offsystem.payment_without_case": "有费无件（体外循环）",
    "offsystem.backfilled_case": "事后补录",
    "offsystem.double_acceptance": "两头受理",
    "fee.not_in_designated_account": "收费未进专户",
    "fee.amount_mismatch": "收费金额不符",
    "fee.unauthorized": "擅自收费",
    "evaluation.bad_rating_unresolved": "差评未整改",
}
CARD = {Severity.RED: "红牌", Severity.YELLOW: "黄牌"}


def _when(instant: dt.datetime | None, tz: dt.tzinfo) -> str:
    return "—" if instant is None else instant.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _lateness(evidence: dict[str, Any]) -> str:
    days = evidence.get("working_days_late")
    if isinstance(days, int) and days > 0:
        return f"已超期 {days} 个工作日"
    seconds = evidence.get("seconds_late")
    if isinstance(seconds, int) and seconds > 0:
        hours, minutes = divmod(seconds // 60, 60)
        return f"已超时 {hours} 小时 {minutes} 分"
    remaining = evidence.get("remaining_working_days")
    if isinstance(remaining, int):
        return f"剩余 {remaining} 个工作日"
    return ""


@dataclass(frozen=True)
class AlertContext:
    """Names a person can read, looked up by the daemon for one finding."""

    item_name: str = ""
    department_name: str = ""
    source: str | None = None  # the system that delivered the subject (inhibition key)
    sources: tuple[str, ...] = ()  # every source the finding depends on


def render_alert(
    finding: Finding,
    context: AlertContext,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    tz: dt.tzinfo,
    generator_url: str | None = None,
) -> dict[str, Any]:
    """One alert in the v2 API's ``postableAlert`` shape."""
    labels = {
        "alertname": ALERTNAME,
        "rule": finding.rule,
        "severity": finding.severity.value,
        "subject_kind": finding.subject_kind,
        "subject_id": finding.subject_id,
        "case_id": finding.case_id,
        "center": finding.center,
        "department": finding.department,
        "window": finding.window,
        "item": finding.item,
        "source": context.source,
        "sources": ",".join(context.sources) or None,
    }
    title = RULE_TITLES.get(finding.rule, finding.rule)
    item = context.item_name or finding.item or "—"
    department = context.department_name or finding.department or "—"
    subject = f"办件 {finding.case_id}" if finding.case_id else f"{finding.subject_id}"
    lateness = _lateness(finding.evidence)
    summary = f"【{CARD[finding.severity]}】{title}：{subject}（{item}）"
    description = (
        f"{subject}，事项：{item}，部门：{department}，窗口：{finding.window or '—'}，"
        f"到期时间：{_when(finding.due_at, tz)}" + (f"，{lateness}" if lateness else "") + "。"
    )
    alert: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {
            "summary": summary,
            "description": description,
            "due_at": "" if finding.due_at is None else finding.due_at.isoformat(),
        },
        "startsAt": starts_at.astimezone(dt.UTC).isoformat(),
        "endsAt": ends_at.astimezone(dt.UTC).isoformat(),
    }
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


class AlertmanagerPusher:
    """Sends alert batches to every configured Alertmanager (they deduplicate)."""

    def __init__(
        self,
        urls: Sequence[str],
        timeout_seconds: float = 5,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
    ) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self._client = httpx.Client(timeout=timeout_seconds)

    def close(self) -> None:
        self._client.close()

    def push(self, alerts: list[dict[str, Any]]) -> dict[str, bool]:
        """Post ``alerts`` to each Alertmanager; whether each one accepted them."""
        outcome: dict[str, bool] = {}
        for url in self.urls:
            outcome[url] = self._push_one(url, alerts)
        return outcome

    def _push_one(self, url: str, alerts: list[dict[str, Any]]) -> bool:
        endpoint = f"{url}/api/v2/alerts"
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._client.post(endpoint, json=alerts)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return True
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if 400 <= response.status_code < 500:
                    attempt = self.attempts  # a bad request does not get better by retrying
            log.warning(
                "alertmanager_push_failed",
                alertmanager=url,
                attempt=attempt,
                alerts=len(alerts),
                problem=problem,
            )
            if attempt < self.attempts:
                time.sleep(self.backoff_seconds * attempt)
            else:
                break
        return False
