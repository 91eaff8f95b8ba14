"""docker-compose.yml: parses, mounts only files that exist, keeps secrets out, wires the stack.

No Docker engine runs here, so the file is checked as data: every bind mount exists in
the repository, the Prometheus configuration it mounts passes ``promtool check config``
with the rules it mounts beside it, the Alertmanager container gets every variable its
render.sh needs, Grafana's provisioning points where the dashboards are mounted, and
every ``${VAR:?…}`` the file requires is in .env.example.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import _parser
from tests.services import run_binary

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"postgres", "simulator", "jiancha", "prometheus", "alertmanager", "grafana"}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    return data


def mounts(service: str) -> dict[str, Path]:
    """Container path -> repository path of the service's bind mounts."""
    found = {}
    for volume in compose()["services"][service].get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("."):
            found[container] = ROOT / host
    return found


def test_the_whole_stack_is_there_with_healthchecks() -> None:
    services = compose()["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert "healthcheck" in service, name
        assert service.get("restart") == "unless-stopped", name


def test_mounts_exist_and_volumes_are_named() -> None:
    data = compose()
    for name, service in data["services"].items():
        for volume in service.get("volumes", []):
            host = volume.split(":", 1)[0]
            if host.startswith("."):
                assert (ROOT / host).exists(), f"{name} mounts missing {host}"
            else:
                assert host in data["volumes"], f"{name} uses undeclared volume {host}"
    assert set(data["volumes"]) == {
        "postgres-data",
        "prometheus-data",
        "alertmanager-data",
        "grafana-data",
    }


def test_daemon_watches_the_simulated_hall_the_simulator_writes() -> None:
    services = compose()["services"]
    daemon, simulator = services["jiancha"], services["simulator"]
    run = _parser().parse_args(daemon["command"])  # the real command line accepts them
    assert run.command == "run"  # the daemon, not a one-shot scan
    config = ROOT / str(run.config).removeprefix("/app/")
    assert config == ROOT / "examples" / "demo_hall" / "jiancha.yaml"
    text = config.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z_]+)(?::-[^}]*)?\}", text))
    needed = {"DEMO_HALL_URL", "JIANCHA_STATE_URL", "ALERTMANAGER_URLS"}
    assert needed <= used
    environment = daemon["environment"]
    assert needed <= set(environment)
    assert environment["ALERTMANAGER_URLS"] == "http://alertmanager:9093"
    assert environment["JIANCHA_STATE_URL"].startswith("postgresql+psycopg://")
    assert "JIANCHA_CLOCK_START" not in environment  # real time, like the simulator
    # The simulator writes, live, into the database the daemon polls.
    simulate = _parser().parse_args(simulator["command"])
    assert simulate.command == "simulate" and simulate.live and simulate.speed == 1
    assert simulator["environment"]["DEMO_HALL_URL"] == environment["DEMO_HALL_URL"]
    assert environment["DEMO_HALL_URL"].startswith("postgresql+psycopg://")
    assert environment["DEMO_HALL_URL"].endswith("@postgres:5432/hall")
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "hall"
    assert daemon["depends_on"]["simulator"] == {"condition": "service_healthy"}


def test_prometheus_config_in_compose_passes_promtool(tmp_path: Path) -> None:
    """The mounted prometheus.yml, with the mounted rules where the container has them."""
    mounted = mounts("prometheus")
    etc = tmp_path / "etc" / "prometheus"
    for container, host in mounted.items():
        if container.startswith("/etc/prometheus/"):
            target = etc / container.removeprefix("/etc/prometheus/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if host.is_dir():
                shutil.copytree(host, target)
            else:
                shutil.copyfile(host, target)
    command = compose()["services"]["prometheus"]["command"]
    config = next(c for c in command if c.startswith("--config.file=")).split("=", 1)[1]
    assert config == "/etc/prometheus/prometheus.yml"
    result = run_binary("promtool", "check", "config", etc / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout
    scrape = yaml.safe_load((etc / "prometheus.yml").read_text("utf-8"))
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]
    }
    assert targets["jiancha"] == ["jiancha:9708"]
    alertmanagers = scrape["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == ["alertmanager:9093"]


def test_alertmanager_renders_its_config_from_the_environment() -> None:
    service = compose()["services"]["alertmanager"]
    mounted = mounts("alertmanager")
    source = mounted["/etc/alertmanager/jiancha"]
    assert (source / "render.sh").is_file()
    command = " ".join(service["command"])
    assert "render.sh /etc/alertmanager/jiancha /alertmanager/config" in command
    assert "--config.file=/alertmanager/config/alertmanager.yml" in command
    render = (source / "render.sh").read_text(encoding="utf-8")
    (names,) = re.findall(r"for name in ([A-Z_ ]+); do", render)
    assert set(names.split()) == set(service["environment"])


def test_grafana_provisioning_matches_the_mounts() -> None:
    mounted = mounts("grafana")
    provisioning = yaml.safe_load(
        (mounted["/etc/grafana/provisioning/dashboards"] / "jiancha.yml").read_text("utf-8")
    )
    path = provisioning["providers"][0]["options"]["path"]
    assert mounted[path] == ROOT / "grafana" / "dashboards"
    environment = compose()["services"]["grafana"]["environment"]
    home = environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (mounted[str(Path(home).parent)] / Path(home).name).is_file()
    datasources = yaml.safe_load(
        (mounted["/etc/grafana/provisioning/datasources"] / "jiancha.yml").read_text("utf-8")
    )
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"


def test_compose_keeps_secrets_out() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "change-me" not in text
    for service in compose()["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|HASH_KEY", key):
                assert str(value).startswith("${"), key
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    defined = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    assert required <= defined
    assert {"POSTGRES_PASSWORD", "JIANCHA_APPLICANT_HASH_KEY", "GRAFANA_ADMIN_PASSWORD"} <= defined


def test_dockerfile_copies_existing_paths() -> None:
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


@pytest.mark.parametrize(
    ("service", "binary"), [("prometheus", "prometheus"), ("alertmanager", "amtool")]
)
def test_images_are_the_versions_the_configs_are_tested_with(service: str, binary: str) -> None:
    """The compose images run the release of the Debian binaries the tests use."""
    result = run_binary(binary, "--version")
    tested = re.search(r"version (\d+\.\d+\.\d+)", result.stdout + result.stderr)
    assert tested, result.stdout + result.stderr
    image = compose()["services"][service]["image"]
    assert image.endswith(f":v{tested.group(1)}"), (image, tested.group(1))
