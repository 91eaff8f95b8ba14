"""The daemon's sections of the configuration (state, daemon, alerting) and its settings."""

from __future__ import annotations

import copy
import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from monitor.config import ConfigError, load_config, parse_config
from monitor.settings import Settings

MINIMAL: dict[str, Any] = {
    "sources": [
        {
            "name": "approval",
            "url": "postgresql+psycopg://jiancha@db.internal/approval",
            "entities": {"cases": {"query": "SELECT SBLSH AS id FROM SL_BJ"}},
        }
    ]
}


def minimal(**top: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(top)
    return data


def config_error(data: dict[str, Any], base: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, base)
    return str(caught.value)


# --- defaults ----------------------------------------------------------------------------------


def test_daemon_sections_default(tmp_path: Path) -> None:
    config = parse_config(minimal(), tmp_path)
    assert config.state.url == f"sqlite:///{tmp_path.resolve() / 'jiancha-state.db'}"
    assert config.daemon.evaluation_interval_seconds == 60
    assert config.daemon.resync_time == dt.time(2, 30)
    assert config.daemon.shutdown_timeout_seconds == 10
    assert config.alerting.alertmanager_urls == []
    assert config.report.enabled and config.report.time == dt.time(6, 0)
    assert config.report.formats == ["pdf", "xlsx", "html"]
    assert config.report.directory == tmp_path.resolve() / "reports"  # next to the config
    assert config.alerting.timeout_seconds == 5
    assert config.alerting.attempts == 3
    assert config.alerting.ends_after_intervals == 4
    assert config.alerting.generator_url is None


def test_daemon_sections_are_read(tmp_path: Path) -> None:
    config = parse_config(
        minimal(
            state={"url": "postgresql+psycopg://jiancha:pw@pg.internal/jiancha"},
            daemon={"evaluation_interval_seconds": 30, "resync_time": "03:15"},
            alerting={
                "alertmanager_urls": ["http://am-1:9093", "https://am-2.internal:9093/"],
                "attempts": 5,
                "ends_after_intervals": 8,
                "generator_url": "http://grafana.internal/d/hall",
            },
        ),
        tmp_path,
    )
    assert config.state.url == "postgresql+psycopg://jiancha:pw@pg.internal/jiancha"
    assert config.daemon.evaluation_interval_seconds == 30
    assert config.daemon.resync_time == dt.time(3, 15)
    assert config.alerting.alertmanager_urls == ["http://am-1:9093", "https://am-2.internal:9093/"]
    assert (config.alerting.attempts, config.alerting.ends_after_intervals) == (5, 8)


# --- errors name the key -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["am-1:9093", "ftp://am-1", "http://", "http:// am"])
def test_a_bad_alertmanager_url_is_named(url: str, tmp_path: Path) -> None:
    message = config_error(
        minimal(alerting={"alertmanager_urls": ["http://ok:9093", url]}), tmp_path
    )
    assert message.startswith("alerting.alertmanager_urls")
    assert repr(url) in message


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("daemon", {"evaluation_interval_seconds": 0}, "daemon.evaluation_interval_seconds"),
        ("daemon", {"evaluation_interval_seconds": 3601}, "daemon.evaluation_interval_seconds"),
        ("daemon", {"resync_time": "25:00"}, "daemon.resync_time"),
        ("daemon", {"interval": 60}, "daemon.interval"),
        ("alerting", {"attempts": 0}, "alerting.attempts"),
        ("alerting", {"ends_after_intervals": 1}, "alerting.ends_after_intervals"),
        ("alerting", {"timeout_seconds": 0}, "alerting.timeout_seconds"),
        ("alerting", {"alertmanager_url": "http://am:9093"}, "alerting.alertmanager_url"),
        ("state", {"url": "not a url"}, "state.url"),
        ("state", {"path": "x.db"}, "state.path"),
        ("report", {"time": "6 am"}, "report.time"),
        ("report", {"formats": ["pdf", "docx"]}, "report.formats[1]"),
        ("report", {"formats": []}, "report.formats"),
        ("report", {"centers": [""]}, "report.centers[0]"),
        ("report", {"when": "monthly"}, "report.when"),
    ],
)
def test_bad_daemon_values_are_named(
    section: str, values: dict[str, Any], key: str, tmp_path: Path
) -> None:
    assert config_error(minimal(**{section: values}), tmp_path).startswith(f"{key}:")


# --- the state url -----------------------------------------------------------------------------


def test_relative_sqlite_state_is_next_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "jiancha.yaml"
    path.write_text(
        yaml.safe_dump(minimal(state={"url": "sqlite:///state/jiancha.db"}), allow_unicode=True),
        encoding="utf-8",
    )
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config("../etc/jiancha.yaml")
    assert config.state.url == f"sqlite:///{folder.resolve() / 'state' / 'jiancha.db'}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:////var/lib/jiancha/state.db",
        "postgresql+psycopg://jiancha@pg.internal:5432/jiancha",
    ],
)
def test_other_state_urls_are_untouched(url: str, tmp_path: Path) -> None:
    assert parse_config(minimal(state={"url": url}), tmp_path).state.url == url


def test_state_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIANCHA_TEST_STATE_PW", "s3cret")
    config = parse_config(
        minimal(state={"url": "postgresql+psycopg://jiancha:${JIANCHA_TEST_STATE_PW}@pg/j"}),
        tmp_path,
    )
    assert config.state.url == "postgresql+psycopg://jiancha:s3cret@pg/j"


# --- settings ----------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("JIANCHA_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_settings_defaults_for_the_daemon(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert (settings.listen_address, settings.listen_port) == ("127.0.0.1", 9708)
    assert settings.metrics_username is None and settings.metrics_password is None
    assert settings.tls_cert_file is None and settings.tls_key_file is None
    assert settings.clock_start is None
    assert settings.clock_speed == 1.0


def test_settings_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JIANCHA_LISTEN_ADDRESS", "0.0.0.0")
    clean_env.setenv("JIANCHA_LISTEN_PORT", "19708")
    clean_env.setenv("JIANCHA_METRICS_USERNAME", "prometheus")
    clean_env.setenv("JIANCHA_METRICS_PASSWORD", "scrape-secret")
    clean_env.setenv("JIANCHA_CLOCK_START", "2026-10-12T23:50:00+08:00")
    clean_env.setenv("JIANCHA_CLOCK_SPEED", "60")
    settings = Settings()
    assert (settings.listen_address, settings.listen_port) == ("0.0.0.0", 19708)
    assert settings.metrics_username == "prometheus"
    assert settings.metrics_password is not None
    assert settings.metrics_password.get_secret_value() == "scrape-secret"
    assert "scrape-secret" not in repr(settings)
    assert settings.clock_start == dt.datetime(2026, 10, 12, 15, 50, tzinfo=dt.UTC)
    assert settings.clock_start.utcoffset() == dt.timedelta(hours=8)
    assert settings.clock_speed == 60


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"metrics_username": "prometheus"}, "metrics_username and metrics_password"),
        ({"metrics_password": "pw"}, "metrics_username and metrics_password"),
        ({"tls_cert_file": "/etc/jiancha/tls.crt"}, "tls_cert_file and tls_key_file"),
        ({"tls_key_file": "/etc/jiancha/tls.key"}, "tls_cert_file and tls_key_file"),
        ({"clock_start": "2026-10-12T23:50:00"}, "UTC offset"),
        ({"listen_port": 70000}, "listen_port"),
        ({"clock_speed": 0}, "clock_speed"),
    ],
)
def test_settings_refused(
    clean_env: pytest.MonkeyPatch, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**values)


def test_settings_pairs_together_are_fine(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(
        metrics_username="prometheus",
        metrics_password="pw",
        tls_cert_file="/etc/jiancha/tls.crt",
        tls_key_file="/etc/jiancha/tls.key",
    )
    assert settings.tls_cert_file == Path("/etc/jiancha/tls.crt")
    assert settings.tls_key_file == Path("/etc/jiancha/tls.key")


def test_a_naive_clock_start_from_the_environment_is_refused(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("JIANCHA_CLOCK_START", "2026-10-12 23:50:00")
    with pytest.raises(ValidationError, match="clock_start"):
        Settings()
