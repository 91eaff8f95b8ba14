"""docker-compose.yml and the Dockerfile reference only files that exist in the repository."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_mounts_and_configs_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert set(compose["services"]) >= {"approval-db", "window-api", "jiancha"}
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            host = volume.split(":", 1)[0]
            if host.startswith("."):
                assert (ROOT / host).is_file(), f"{name} mounts missing {host}"
            else:
                assert host in compose["volumes"], f"{name} uses undeclared volume {host}"
    command = compose["services"]["jiancha"]["command"]
    assert command[0] == "run"  # the daemon, not a one-shot scan
    config = command[command.index("--config") + 1]
    assert (ROOT / config.removeprefix("/app/")).is_file()


def test_compose_environment_fills_every_variable_the_example_config_needs() -> None:
    """Each ${VAR} without a default in the example config is set for the daemon."""
    import re

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    environment = compose["services"]["jiancha"]["environment"]
    text = (ROOT / "examples/vendor_pinyin/jiancha.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z_]+)(?::-[^}]*)?\}", text))
    assert {"APPROVAL_DB_URL", "WINDOW_API_URL", "JIANCHA_STATE_URL"} <= used
    assert {"APPROVAL_DB_URL", "WINDOW_API_URL", "JIANCHA_STATE_URL"} <= set(environment)


def test_compose_keeps_secrets_out() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "PASSWORD: ${" in text  # taken from the environment / .env
    assert "change-me" not in text
    assert (ROOT / ".env.example").is_file()


def test_dockerfile_copies_existing_paths() -> None:
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
