"""The shipped Alertmanager configuration: renders, passes amtool, routes, inhibits, speaks Chinese.

Everything runs the real Debian binaries on exporters/prometheus/alertmanager/ as
render.sh fills it with the values of .env.example: ``amtool check-config``, ``amtool
config routes test`` for each routing promise, ``amtool template render`` for the
messages, and a real Alertmanager for the inhibition rules.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.alertmanager import SHIPPED_DIR, render_shipped_config, running_alertmanager
from tests.services import run_binary

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEYS = {"wechat_api_secret", "wechat_api_corp_id", "wechat_api_url", "url", "agent_id"}

pytestmark = pytest.mark.integration


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_shipped_config(tmp_path_factory.mktemp("am"), **env_example())


def amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_binary("amtool", *args)


def walk(node: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in walk(v, k)]
    if isinstance(node, list):
        return [pair for v in node for pair in walk(v, key)]
    return [(key, node)]


def test_the_committed_file_holds_placeholders_not_secrets() -> None:
    raw = yaml.safe_load((SHIPPED_DIR / "alertmanager.yml").read_text(encoding="utf-8"))
    values = [value for key, value in walk(raw) if key in SECRET_KEYS]
    assert len(values) >= 8
    assert all(str(v).startswith("${") and str(v).endswith("}") for v in values), values


def test_rendered_config_passes_amtool_check_config(rendered: Path) -> None:
    result = amtool("check-config", rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 inhibit rules" in result.stdout
    assert "6 receivers" in result.stdout
    assert "1 templates" in result.stdout
    text = rendered.read_text(encoding="utf-8")
    assert env_example()["WECHAT_API_SECRET"] in text
    assert "${" not in text.split("templates:", 1)[1]


def test_render_keeps_awkward_secrets_exact(tmp_path: Path) -> None:
    """Quotes, ampersands, pipes and backslashes reach Alertmanager unchanged."""
    secret = "a'b&c|d\\e"
    url = "http://oa.example/api?x=1&y=2"
    values = env_example() | {"WECHAT_API_SECRET": secret, "ALERT_WEBHOOK_URL": url}
    config = yaml.safe_load(render_shipped_config(tmp_path, **values).read_text("utf-8"))
    assert config["global"]["wechat_api_secret"] == secret
    webhook = next(r for r in config["receivers"] if r["name"] == "supervision-webhook")
    assert webhook["webhook_configs"][0]["url"] == url


def test_render_refuses_a_missing_variable_and_names_it(tmp_path: Path) -> None:
    values = env_example()
    del values["WECHAT_API_SECRET"]
    with pytest.raises(subprocess.CalledProcessError) as failure:
        render_shipped_config(tmp_path, **values)
    assert failure.value.returncode == 2
    assert b"WECHAT_API_SECRET is not set" in failure.value.stderr
    assert not (tmp_path / "alertmanager.yml").exists()


ROUTES = [
    # (labels, receivers in order) — every alert is recorded by the webhook first.
    (
        "alertname=JianchaFinding severity=red department=BDC case_id=BJ002 source=approval",
        "supervision-webhook,dept-bdc-wechat,supervision-wechat",
    ),
    (
        "alertname=JianchaFinding severity=red department=SCJ case_id=BJ004",
        "supervision-webhook,dept-scj-wechat,supervision-wechat",
    ),
    (
        "alertname=JianchaFinding severity=red department=ZJJ",
        "supervision-webhook,supervision-wechat",
    ),
    (
        "alertname=JianchaFinding severity=yellow department=BDC",
        "supervision-webhook,dept-bdc-wechat",
    ),
    ("alertname=JianchaFinding severity=yellow department=HBJ", "supervision-webhook,record-only"),
    (
        "alertname=JianchaSourceDown severity=red category=system source=window",
        "supervision-webhook,ops-wechat",
    ),
    (
        "alertname=JianchaDataStale severity=yellow category=system source=fee_bank",
        "supervision-webhook,ops-wechat",
    ),
    ("alertname=JianchaDaemonDown severity=red category=system", "supervision-webhook,ops-wechat"),
    (
        "alertname=JianchaOverdueBacklog severity=red category=hall center=HZ01 department=BDC",
        "supervision-webhook,dept-bdc-wechat,supervision-wechat",
    ),
]


@pytest.mark.parametrize(("labels", "receivers"), ROUTES, ids=[r[0] for r in ROUTES])
def test_routes(rendered: Path, labels: str, receivers: str) -> None:
    result = amtool(
        "config", "routes", "test", f"--config.file={rendered}",
        f"--verify.receivers={receivers}", *labels.split(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_routes_test_catches_a_wrong_expectation(rendered: Path) -> None:
    result = amtool(
        "config", "routes", "test", f"--config.file={rendered}",
        "--verify.receivers=supervision-webhook,ops-wechat",
        "alertname=JianchaFinding", "severity=red", "department=BDC",
    )  # fmt: skip
    assert result.returncode != 0


def render_message(data: dict[str, Any], tmp_path: Path) -> str:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = amtool(
        "template", "render", f"--template.glob={SHIPPED_DIR / 'templates' / '*.tmpl'}",
        '--template.text={{ template "jiancha.wechat.message" . }}',
        f"--template.data={data_file}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


CASE_ALERT = {
    "status": "firing",
    "labels": {
        "alertname": "JianchaFinding",
        "rule": "case.overdue",
        "severity": "red",
        "case_id": "BJ002",
        "center": "HZ01",
        "department": "BDC",
        "window": "W01",
        "source": "approval",
    },
    "annotations": {
        "summary": "【红牌】超期未办结：办件 BJ002（不动产登记）",
        "description": "办件 BJ002，事项：不动产登记，部门：BDC，窗口：W01，"
        "到期时间：2026-09-28 23:59，已超期 6 个工作日。",
    },
    "startsAt": "2026-10-09T02:00:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
}
BACKLOG_ALERT = {
    "status": "resolved",
    "labels": {
        "alertname": "JianchaOverdueBacklog",
        "severity": "red",
        "category": "hall",
        "center": "HZ01",
        "department": "BDC",
    },
    "annotations": {
        "summary": "BDC 超期未办结积压 5 件",
        "description": "中心 HZ01 部门 BDC 有 5 件超过承诺时限仍未办结（阈值 5 件）。",
        "runbook": "督查科通知该部门首席代表逐件核查超期原因。",
    },
    "startsAt": "2026-10-09T01:00:00Z",
    "endsAt": "2026-10-09T03:30:00Z",
}


def test_wechat_message_reads_as_chinese_with_beijing_times(tmp_path: Path) -> None:
    message = render_message(
        {
            "receiver": "dept-bdc-wechat",
            "status": "firing",
            "alerts": [CASE_ALERT, BACKLOG_ALERT],
            "groupLabels": {"center": "HZ01", "department": "BDC"},
            "commonLabels": {"center": "HZ01", "department": "BDC", "severity": "red"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
        },
        tmp_path,
    )
    lines = message.strip().splitlines()
    assert lines[0] == "【电子监察·告警】中心 HZ01 部门 BDC 告警 1 条，已消除 1 条"
    assert "▶ 【红牌】超期未办结：办件 BJ002（不动产登记）" in lines
    assert "办件编号：BJ002　窗口：W01" in lines
    assert "数据来源：approval" in lines
    assert "开始时间：2026-10-09 10:00" in lines  # 02:00 UTC in Beijing time
    assert "✔ 已消除：BDC 超期未办结积压 5 件" in lines
    assert "处置：督查科通知该部门首席代表逐件核查超期原因。" in lines
    assert "开始时间：2026-10-09 09:00　消除时间：2026-10-09 11:30" in lines


def test_all_resolved_message(tmp_path: Path) -> None:
    message = render_message(
        {
            "receiver": "ops-wechat",
            "status": "resolved",
            "alerts": [BACKLOG_ALERT],
            "groupLabels": {},
            "commonLabels": BACKLOG_ALERT["labels"],
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
        },
        tmp_path,
    )
    assert message.startswith("【电子监察·已恢复】中心 HZ01 部门 BDC 已消除 1 条\n")
    assert "▶" not in message


def post_alerts(url: str, alerts: list[dict[str, dict[str, str]]]) -> None:
    now = dt.datetime.now(dt.UTC)
    body = [
        {
            **alert,
            "startsAt": now.isoformat(),
            "endsAt": (now + dt.timedelta(minutes=10)).isoformat(),
        }
        for alert in alerts
    ]
    httpx.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def test_inhibition_in_a_real_alertmanager(tmp_path: Path) -> None:
    """Source down hides that source's case alerts; red hides yellow of the same case only."""
    config = render_shipped_config(tmp_path / "config", **env_example())
    with running_alertmanager(tmp_path / "am", config_file=config) as am:
        finding = {"alertname": "JianchaFinding", "center": "HZ01", "department": "BDC"}
        post_alerts(
            am.url,
            [
                {"labels": {"alertname": "JianchaSourceDown", "severity": "red",
                            "category": "system", "source": "window"}},
                {"labels": finding | {"rule": "offsystem.ticket_without_case", "severity": "red",
                                      "source": "window"}},
                {"labels": finding | {"rule": "case.overdue", "severity": "red",
                                      "case_id": "BJ002", "source": "approval"}},
                {"labels": finding | {"rule": "case.step_overdue", "severity": "yellow",
                                      "case_id": "BJ002", "source": "approval"}},
                {"labels": finding | {"rule": "case.due_soon", "severity": "yellow",
                                      "case_id": "BJ001", "source": "approval"}},
                # No case behind it: a red card elsewhere must not hide it.
                {"labels": finding | {"rule": "evaluation.bad_rating_unresolved",
                                      "severity": "yellow", "source": "approval"}},
            ],
        )  # fmt: skip
        states = {
            (a["labels"].get("rule", a["labels"]["alertname"])): a["status"]["state"]
            for a in am.alerts()
        }
    assert states == {
        "JianchaSourceDown": "active",
        "offsystem.ticket_without_case": "suppressed",  # its source is down
        "case.overdue": "active",
        "case.step_overdue": "suppressed",  # the red card of BJ002 covers it
        "case.due_soon": "active",  # BJ001 has no red card
        "evaluation.bad_rating_unresolved": "active",
    }
