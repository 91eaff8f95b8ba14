"""Per-case alerts for Alertmanager: rendering, and pushing to a tiny local HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exporters.alertmanager import (
    ALERTNAME,
    RULE_TITLES,
    AlertContext,
    AlertmanagerPusher,
    render_alert,
)
from monitor.model import Finding, Severity
from tests.services import free_port

SH = ZoneInfo("Asia/Shanghai")
STARTS = dt.datetime(2026, 10, 13, 9, 0, tzinfo=SH)
ENDS = dt.datetime(2026, 10, 13, 9, 4, tzinfo=SH)
APPLICANT = "applicant-keyed-hash-7f3a9c51"


def overdue(**changes: Any) -> Finding:
    data: dict[str, Any] = {
        "rule": "case.overdue",
        "severity": Severity.RED,
        "subject_kind": "case",
        "subject_id": "SB-2026-0001",
        "case_id": "SB-2026-0001",
        "center": "HZ01",
        "department": "SCJG",
        "window": "W07",
        "item": "I1",
        "due_at": dt.datetime(2026, 10, 12, 23, 59, 59, tzinfo=SH),
        "evidence": {
            "working_days_late": 2,
            "seconds_late": 90000,
            "applicant_key": APPLICANT,
        },
    }
    data.update(changes)
    return Finding(**data)


CONTEXT = AlertContext(
    item_name="食品经营许可",
    department_name="市场监管局",
    source="approval",
    sources=("approval", "catalogue"),
)


def render(finding: Finding, context: AlertContext = CONTEXT, **kwargs: Any) -> dict[str, Any]:
    return render_alert(finding, context, STARTS, ENDS, SH, **kwargs)


# --- rendering ----------------------------------------------------------------------------------


def test_labels_identify_and_route_the_alert() -> None:
    alert = render(overdue())
    assert alert["labels"] == {
        "alertname": ALERTNAME,
        "rule": "case.overdue",
        "severity": "red",
        "subject_kind": "case",
        "subject_id": "SB-2026-0001",
        "case_id": "SB-2026-0001",
        "center": "HZ01",
        "department": "SCJG",
        "window": "W07",
        "item": "I1",
        "source": "approval",
        "sources": "approval,catalogue",
    }
    assert all(isinstance(v, str) and v for v in alert["labels"].values())


def test_empty_labels_are_omitted() -> None:
    finding = Finding(
        rule="offsystem.ticket_without_case",
        severity=Severity.RED,
        subject_kind="ticket",
        subject_id="Q-20261009-0012",
        center="HZ01",
        window="",
    )
    alert = render(finding, AlertContext())
    assert alert["labels"] == {
        "alertname": ALERTNAME,
        "rule": "offsystem.ticket_without_case",
        "severity": "red",
        "subject_kind": "ticket",
        "subject_id": "Q-20261009-0012",
        "center": "HZ01",
    }
    assert alert["annotations"]["due_at"] == ""
    assert "Q-20261009-0012" in alert["annotations"]["summary"]
    assert "到期时间：—" in alert["annotations"]["description"]


def test_chinese_text_names_item_department_window_due_time_and_lateness() -> None:
    annotations = render(overdue())["annotations"]
    assert annotations["summary"] == "【红牌】超期未办结：办件 SB-2026-0001（食品经营许可）"
    description = annotations["description"]
    assert description == (
        "办件 SB-2026-0001，事项：食品经营许可，部门：市场监管局，窗口：W07，"
        "到期时间：2026-10-12 23:59，已超期 2 个工作日。"
    )
    assert annotations["due_at"] == "2026-10-12T23:59:59+08:00"


def test_due_time_is_shown_in_the_hall_zone() -> None:
    due = dt.datetime(2026, 10, 12, 15, 59, 59, tzinfo=dt.UTC)
    description = render(overdue(due_at=due))["annotations"]["description"]
    assert "到期时间：2026-10-12 23:59" in description


def test_codes_stand_in_for_names_the_daemon_does_not_know() -> None:
    description = render(overdue(), AlertContext())["annotations"]["description"]
    assert "事项：I1，部门：SCJG，窗口：W07" in description


@pytest.mark.parametrize(
    ("evidence", "text"),
    [
        ({"working_days_late": 3, "seconds_late": 5}, "已超期 3 个工作日"),
        ({"working_days_late": 0, "seconds_late": 3 * 3600 + 25 * 60}, "已超时 3 小时 25 分"),
        ({"remaining_working_days": 1, "threshold_days": 2}, "剩余 1 个工作日"),
    ],
)
def test_lateness_wording(evidence: dict[str, Any], text: str) -> None:
    description = render(overdue(evidence=evidence))["annotations"]["description"]
    assert description.endswith(f"，{text}。")


def test_no_lateness_no_trailing_clause() -> None:
    description = render(overdue(evidence={}))["annotations"]["description"]
    assert description.endswith("到期时间：2026-10-12 23:59。")


def test_yellow_card_wording() -> None:
    finding = overdue(
        rule="case.due_soon", severity=Severity.YELLOW, evidence={"remaining_working_days": 0}
    )
    assert render(finding)["annotations"]["summary"].startswith("【黄牌】即将超期：")


def test_every_rule_of_the_design_has_a_title() -> None:
    design_rules = {
        "case.due_soon",
        "case.overdue",
        "case.concluded_late",
        "case.statutory_overdue",
        "case.step_overdue",
        "case.suspension_overdue",
        "offsystem.ticket_without_case",
        "offsystem.payment_without_case",
        "offsystem.backfilled_case",
        "offsystem.double_acceptance",
        "fee.not_in_designated_account",
        "fee.amount_mismatch",
        "fee.unauthorized",
    }
    assert design_rules <= set(RULE_TITLES)
    assert render(overdue(rule="x.unknown"))["annotations"]["summary"].startswith(
        "【红牌】x.unknown"
    )


def test_times_are_utc_iso() -> None:
    alert = render(overdue(), generator_url="http://grafana.local/d/hall")
    assert alert["startsAt"] == "2026-10-13T01:00:00+00:00"
    assert alert["endsAt"] == "2026-10-13T01:04:00+00:00"
    for key in ("startsAt", "endsAt"):
        parsed = dt.datetime.fromisoformat(alert[key])
        assert parsed.utcoffset() == dt.timedelta(0)
    assert alert["generatorURL"] == "http://grafana.local/d/hall"
    assert "generatorURL" not in render(overdue())


def test_never_an_applicant_key() -> None:
    alert = render(overdue(case_id="SB-2026-0001"))
    assert APPLICANT not in json.dumps(alert, ensure_ascii=False)
    json.dumps(alert)  # serialisable as the API wants it


# --- pushing ------------------------------------------------------------------------------------


class _Alertmanager(BaseHTTPRequestHandler):
    statuses: list[int]
    received: list[tuple[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.received.append((self.path, json.loads(self.rfile.read(length))))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        body = b"" if status < 300 else b'{"error":"nope"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


class FakeAlertmanager:
    def __init__(self, statuses: list[int]) -> None:
        handler = type("Handler", (_Alertmanager,), {"statuses": statuses, "received": []})
        self.handler = handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    @property
    def received(self) -> list[tuple[str, Any]]:
        return self.handler.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def alertmanager_with() -> Iterator:
    servers: list[FakeAlertmanager] = []

    def start(*statuses: int) -> FakeAlertmanager:
        server = FakeAlertmanager(list(statuses))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def pushers() -> Iterator:
    made: list[AlertmanagerPusher] = []

    def make(urls: list[str], attempts: int = 3) -> AlertmanagerPusher:
        pusher = AlertmanagerPusher(urls, timeout_seconds=2, attempts=attempts, backoff_seconds=0)
        made.append(pusher)
        return pusher

    yield make
    for pusher in made:
        pusher.close()


ALERTS = [render(overdue())]


def test_push_success(alertmanager_with, pushers) -> None:
    server = alertmanager_with(200)
    pusher = pushers([server.url])
    assert pusher.push(ALERTS) == {server.url.rstrip("/"): True}
    assert server.received == [("/api/v2/alerts", ALERTS)]


def test_server_errors_are_retried_then_reported(alertmanager_with, pushers) -> None:
    server = alertmanager_with(500)
    pusher = pushers([server.url], attempts=3)
    assert pusher.push(ALERTS) == {server.url.rstrip("/"): False}
    assert len(server.received) == 3


def test_a_retry_can_succeed(alertmanager_with, pushers) -> None:
    server = alertmanager_with(503, 200)
    assert pushers([server.url], attempts=3).push(ALERTS) == {server.url.rstrip("/"): True}
    assert len(server.received) == 2


def test_a_bad_request_is_not_retried(alertmanager_with, pushers) -> None:
    server = alertmanager_with(400)
    assert pushers([server.url], attempts=3).push(ALERTS) == {server.url.rstrip("/"): False}
    assert len(server.received) == 1


def test_connection_refused_is_reported_not_raised(pushers) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert pushers([url], attempts=2).push(ALERTS) == {url: False}


def test_each_alertmanager_gets_the_batch(alertmanager_with, pushers) -> None:
    good, bad = alertmanager_with(200), alertmanager_with(500)
    outcome = pushers([good.url, bad.url], attempts=1).push(ALERTS)
    assert outcome == {good.url.rstrip("/"): True, bad.url.rstrip("/"): False}
    assert len(good.received) == len(bad.received) == 1
