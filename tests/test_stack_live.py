"""The monitoring stack end to end: a real daemon, a real Prometheus, a real Alertmanager.

``jiancha run`` watches the example hall (SQLite approval system, statement folder, the
example window system's REST API) with a hall clock at 2026-10-09 10:00 and one-second
intervals, pushing its case alerts to an Alertmanager running the shipped configuration
(rendered by its render.sh; only its group timers shortened). Prometheus scrapes the
daemon every second with the shipped recording rules and alerting rules (``for``
shortened to 0 s: the expressions are the shipped ones).

1. Every PromQL expression of every dashboard panel, every dashboard variable and every
   recording rule returns at least one series: a metric renamed in the exporter, or
   misspelt in a dashboard, fails here.
2. The window system goes away: the daemon marks the source down, Prometheus fires
   JianchaSourceDown into Alertmanager, which inhibits that source's case alerts (not
   the others) and notifies the operators' WeChat Work party and the webhook, in Chinese.
   WeChat Work and the webhook receiver are local fakes (they cannot run here); the fake
   WeChat answers its API as documented (gettoken, then message/send).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from monitor.demo import EXAMPLE_DIR, ExampleWindowSystem, build_demo
from tests.alertmanager import Alertmanager, render_shipped_config, running_alertmanager
from tests.dashboard_queries import queries, variable_queries
from tests.prometheus import Prometheus, running_prometheus
from tests.test_daemon_restart import Jiancha

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "exporters" / "prometheus" / "rules"
WAIT_S = 45.0
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], *logs: Callable[[], str]) -> T:
    deadline = time.monotonic() + WAIT_S
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n---\n".join(log()[-2000:] for log in logs)
            pytest.fail(f"timed out after {WAIT_S} s waiting for {what}\n{tails}")
        time.sleep(0.25)


class Notifications:
    """The webhook receiver and WeChat Work's API, recording what Alertmanager sends."""

    TOKEN = "fake-access-token"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.webhook: list[dict[str, Any]] = []
        self.wechat: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, list[str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/cgi-bin/gettoken":
                    with outer.lock:
                        outer.token_requests.append(parse_qs(url.query))
                    self._json({"errcode": 0, "errmsg": "ok", "access_token": outer.TOKEN})
                else:
                    self._json({"errcode": 404}, 404)

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if url.path == "/webhook":
                    with outer.lock:
                        outer.webhook.append(body)
                    self._json({})
                elif url.path == "/cgi-bin/message/send":
                    # WeChat answers 200 with an errcode; a wrong token is errcode 40014.
                    if parse_qs(url.query).get("access_token") != [outer.TOKEN]:
                        self._json({"errcode": 40014, "errmsg": "invalid access_token"})
                        return
                    with outer.lock:
                        outer.wechat.append(body)
                    self._json({"errcode": 0, "errmsg": "ok"})
                else:
                    self._json({"errcode": 404}, 404)

            def _json(self, body: object, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@dataclass
class Stack:
    daemon: Jiancha
    prometheus: Prometheus
    alertmanager: Alertmanager
    window: ExampleWindowSystem
    notifications: Notifications

    def logs(self) -> tuple[Callable[[], str], ...]:
        return (self.daemon.log, self.prometheus.log, self.alertmanager.log)


def daemon_config(workdir: Path) -> Path:
    """The example configuration, every source polled and rules evaluated each second."""
    config_path = build_demo(workdir)
    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for source in data["sources"]:
        source["poll_interval_seconds"] = 1
        if source["kind"] == "http":
            source["timeout_seconds"] = 2
    data["daemon"]["evaluation_interval_seconds"] = 1
    config_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return config_path


def alertmanager_config(directory: Path, notifications: Notifications) -> Path:
    """The shipped configuration as render.sh fills it, its group timers shortened."""
    config_file = render_shipped_config(
        directory,
        ALERT_WEBHOOK_URL=f"{notifications.url}/webhook",
        WECHAT_API_URL=f"{notifications.url}/cgi-bin/",
        WECHAT_CORP_ID="ww-test-corp",
        WECHAT_API_SECRET="test-secret",
        WECHAT_AGENT_ID="1000002",
    )
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return config_file


def prometheus_config(workdir: Path, daemon_port: int, alertmanager_port: int) -> dict[str, Any]:
    """Scrape the daemon each second with the shipped rules; alert rules with ``for: 0s``."""
    workdir.mkdir(parents=True, exist_ok=True)
    alerts = yaml.safe_load((RULES_DIR / "alerts.yml").read_text(encoding="utf-8"))
    for group in alerts["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["for"] = "0s"
    (workdir / "alerts.yml").write_text(yaml.safe_dump(alerts, allow_unicode=True), "utf-8")
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_DIR / "recording.yml"), str(workdir / "alerts.yml")],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "jiancha",  # the name the dashboards and alert rules select
                "static_configs": [{"targets": [f"127.0.0.1:{daemon_port}"]}],
            }
        ],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    notifications = Notifications()
    window = ExampleWindowSystem(EXAMPLE_DIR / "window_api")
    daemon: Jiancha | None = None
    try:
        window.__enter__()
        config_file = alertmanager_config(workdir / "am-config", notifications)
        with running_alertmanager(workdir / "am", config_file=config_file) as alertmanager:
            daemon = Jiancha(
                daemon_config(workdir / "hall"),
                workdir / "jiancha.log",
                WINDOW_API_URL=window.url,
                ALERTMANAGER_URLS=alertmanager.url,
                JIANCHA_STATE_URL=f"sqlite:///{workdir / 'state.db'}",
            )
            config = prometheus_config(workdir / "prom-config", daemon.port, alertmanager.port)
            with running_prometheus(workdir / "prometheus", config) as prometheus:
                yield Stack(daemon, prometheus, alertmanager, window, notifications)
    finally:
        if daemon is not None:
            daemon.kill()
        window.__exit__(None, None, None)
        notifications.close()


def settled(stack: Stack) -> bool:
    """Several scrapes of a daemon that has evaluated, pushed alerts and been evaluated on."""
    p = stack.prometheus
    return bool(
        p.query('count_over_time(up{job="jiancha"}[1m]) >= 6 and up{job="jiancha"} == 1')
        and p.query("jiancha_findings_open")
        and p.query('count_over_time(jiancha_alertmanager_pushes_total{outcome="ok"}[1m]) >= 3')
        and p.query("count_over_time(center:jiancha_cases_open:sum[1m]) >= 3")
    )


def recording_rules() -> list[tuple[str, str]]:
    found = []
    data = yaml.safe_load((RULES_DIR / "recording.yml").read_text(encoding="utf-8"))
    for group in data["groups"]:
        found += [(rule["record"], rule["expr"]) for rule in group["rules"]]
    return found


def test_every_dashboard_query_and_recording_rule_returns_series(stack: Stack) -> None:
    wait_for(
        "the daemon to be scraped and evaluated a few times", lambda: settled(stack), *stack.logs()
    )
    checks = [(f"{name} · {title}", expr) for name, title, expr in queries()]
    checks += [(f"{name} · ${variable}", expr) for name, variable, expr in variable_queries()]
    for record, expr in recording_rules():
        checks += [(f"recording rule {record}", record), (f"expr of {record}", expr)]
    assert len(checks) > 80
    empty = [(where, expr) for where, expr in checks if not stack.prometheus.query(expr)]
    assert empty == [], "queries without any series:\n" + "\n".join(f"{w}: {e}" for w, e in empty)


def test_source_down_fires_end_to_end_into_alertmanager(stack: Stack) -> None:
    am = stack.alertmanager
    wait_for(
        "case alerts of the window system in Alertmanager",
        lambda: am.active(source="window"),
        *stack.logs(),
    )
    assert am.active(source="approval")
    stack.window.__exit__(None, None, None)  # the window system goes away

    def source_down() -> list[dict[str, Any]]:
        return am.active(alertname="JianchaSourceDown", source="window")

    (alert,) = wait_for(
        "JianchaSourceDown{source=window} in Alertmanager", source_down, *stack.logs()
    )
    assert alert["labels"]["severity"] == "red"
    assert alert["labels"]["category"] == "system"
    assert alert["annotations"]["summary"] == "数据源 window 连续采集失败"
    assert alert["generatorURL"].startswith(stack.prometheus.url)
    assert alert["receivers"] == [{"name": "supervision-webhook"}, {"name": "ops-wechat"}]

    # Inhibition: the window system's case alerts are suppressed by it, the others not.
    def window_cases_suppressed() -> bool:
        cases = am.alerts(alertname="JianchaFinding", source="window")
        return bool(cases) and all(a["status"]["state"] == "suppressed" for a in cases)

    wait_for("the window system's case alerts to be inhibited", window_cases_suppressed)
    for case in am.alerts(alertname="JianchaFinding", source="window"):
        assert case["status"]["inhibitedBy"] == [alert["fingerprint"]]
    assert am.active(alertname="JianchaFinding", source="approval")

    # Notifications: the operators' WeChat party in Chinese, and the webhook record.
    def wechat_message() -> dict[str, Any] | None:
        with stack.notifications.lock:
            sent = list(stack.notifications.wechat)
        return next((m for m in sent if "数据源 window 连续采集失败" in m["text"]["content"]), None)

    message = wait_for("the WeChat Work message about the source", wechat_message, *stack.logs())
    assert message["toparty"] == "9"  # ops-wechat
    assert message["agentid"] == "1000002"
    assert message["msgtype"] == "text"
    content = message["text"]["content"]
    assert content.startswith("【电子监察·告警】")
    assert "处置：查看 jiancha 日志中的 source_down 事件" in content
    assert "数据来源：window" in content
    token_request = stack.notifications.token_requests[0]
    assert token_request == {"corpid": ["ww-test-corp"], "corpsecret": ["test-secret"]}

    def webhook_record() -> dict[str, Any] | None:
        with stack.notifications.lock:
            sent = list(stack.notifications.webhook)
        return next(
            (m for m in sent if m["commonLabels"].get("alertname") == "JianchaSourceDown"), None
        )

    record = wait_for("the webhook record of the source-down alert", webhook_record)
    assert record["receiver"] == "supervision-webhook"
    assert record["alerts"][0]["labels"]["source"] == "window"
