"""Tests of the YAML configuration (errors name the key) and of process Settings."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import SecretStr, ValidationError

from monitor.config import ConfigError, load_config, parse_config
from monitor.settings import Settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "vendor_pinyin" / "jiancha.yaml"

MINIMAL: dict[str, Any] = {
    "sources": [
        {
            "name": "approval",
            "url": "sqlite:///hall.db",
            "entities": {"cases": {"query": "SELECT SBLSH AS id FROM SL_BJ WHERE GXSJ >= :since"}},
        }
    ]
}


def minimal(**top: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(top)
    return data


def source(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL["sources"][0])
    data.update(changes)
    return data


def config_error(data: Any, base: Path = REPO) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, base)
    return str(caught.value)


# --- the example and good configurations -------------------------------------------------


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.path == EXAMPLE
    assert [(s.name, s.kind) for s in config.sources] == [
        ("approval", "sql"),
        ("fee_bank", "statement_files"),
        ("window", "http"),
    ]
    approval = config.sources[0]
    assert approval.kind == "sql"
    assert approval.center == "HZ01"
    assert approval.since_format == "compact"
    assert set(approval.entities) == {"items", "cases", "steps", "suspensions"}
    assert approval.entities["cases"].value_maps["result"]["5"] == "refused"
    assert approval.entities["suspensions"].value_maps["kind"]["1"] == "补正"
    assert approval.url == f"sqlite:///{EXAMPLE.parent.resolve() / 'hall.db'}"
    assert config.calendar.first_year == 2024
    assert config.calendar.last_year == 2030
    assert config.calendar.end_of_day == dt.time(23, 59, 59)
    assert config.rules.due_soon_ratio == 0.2
    assert config.rules.overrides.departments["BDC"].due_soon_days == 2
    statements = config.sources[1]
    assert statements.directory == EXAMPLE.parent.resolve() / "statements"
    assert config.rules.fees.is_designated("33050161000000000123", "HZ01")
    assert not config.rules.fees.is_designated("33050161000000007788", "HZ01")


def test_example_config_loads_from_a_string_path() -> None:
    assert load_config(str(EXAMPLE)).sources[0].name == "approval"


def test_minimal_config_defaults(tmp_path: Path) -> None:
    config = parse_config(minimal(), tmp_path)
    src = config.sources[0]
    assert src.since_format == "datetime"
    assert src.overlap_seconds == 300
    assert src.password is None
    assert config.rules.due_soon_ratio == 0.2
    assert config.calendar.override is None
    assert config.path is None


# --- errors name the key -----------------------------------------------------------------


def test_unknown_top_level_key() -> None:
    message = config_error(minimal(sourcez=[]))
    assert message.startswith("sourcez:")


def test_unknown_key_inside_a_source() -> None:
    message = config_error(minimal(sources=[source(urll="sqlite://")]))
    assert message.startswith("sources[0].urll:")


def test_misspelt_required_key_inside_a_source() -> None:
    data = source(urll="sqlite://")
    del data["url"]
    message = config_error(minimal(sources=[data]))
    assert "sources[0].url" in message  # names the missing url (and/or the stray urll)


def test_unknown_key_in_second_source() -> None:
    message = config_error(minimal(sources=[source(), source(name="bank", colour="red")]))
    assert message.startswith("sources[1].colour:")


def test_bad_entity_name() -> None:
    bad = source(entities={"casez": {"query": "SELECT 1"}})
    message = config_error(minimal(sources=[bad]))
    assert message.startswith("sources[0].entities:")
    assert "casez" in message


def test_empty_entities() -> None:
    assert config_error(minimal(sources=[source(entities={})])).startswith("sources[0].entities:")


@pytest.mark.parametrize(
    "query",
    ["DELETE FROM SL_BJ", "UPDATE SL_BJ SET x = 1", "DROP TABLE SL_BJ", "selectx * from t", ""],
)
def test_non_select_query(query: str) -> None:
    bad = source(entities={"cases": {"query": query}})
    message = config_error(minimal(sources=[bad]))
    assert message.startswith("sources[0].entities.cases.query:")


@pytest.mark.parametrize(
    "query", ["select id from t", "  SELECT 1", "WITH x AS (SELECT 1) SELECT * FROM x"]
)
def test_select_and_with_accepted(query: str, tmp_path: Path) -> None:
    config = parse_config(minimal(sources=[source(entities={"cases": {"query": query}})]), tmp_path)
    assert config.sources[0].entities["cases"].query == query


def test_unknown_key_in_entity() -> None:
    bad = source(entities={"cases": {"query": "SELECT 1", "value_map": {}}})
    message = config_error(minimal(sources=[bad]))
    assert message.startswith("sources[0].entities.cases.value_map:")


def test_bad_since_format() -> None:
    message = config_error(minimal(sources=[source(since_format="iso")]))
    assert message.startswith("sources[0].since_format:")


def test_duplicate_source_names() -> None:
    message = config_error(minimal(sources=[source(), source()]))
    assert message.startswith("sources:")
    assert "approval" in message


def test_no_sources() -> None:
    assert config_error(minimal(sources=[])).startswith("sources:")
    assert config_error({}).startswith("sources:")


@pytest.mark.parametrize("name", ["Approval", "approval-db", "1st", "", "a" * 64, "审批"])
def test_bad_source_name(name: str) -> None:
    message = config_error(minimal(sources=[source(name=name)]))
    assert message.startswith("sources[0].name:")


def test_bad_url() -> None:
    message = config_error(minimal(sources=[source(url="not a url")]))
    assert message.startswith("sources[0].url:")


def test_bad_timeout() -> None:
    message = config_error(minimal(sources=[source(statement_timeout_seconds=0)]))
    assert message.startswith("sources[0].statement_timeout_seconds:")


def test_rules_ratio_out_of_range() -> None:
    message = config_error(minimal(rules={"due_soon_ratio": 2}))
    assert message.startswith("rules.due_soon_ratio:")


def test_rules_unknown_override_key() -> None:
    rules = {"overrides": {"departments": {"BDC": {"due_soon_dayz": 2}}}}
    message = config_error(minimal(rules=rules))
    assert message.startswith("rules.overrides.departments.BDC.due_soon_dayz:")


def test_calendar_years_reversed() -> None:
    message = config_error(minimal(calendar={"first_year": 2030, "last_year": 2024}))
    assert message.startswith("calendar.first_year:")


def test_top_level_must_be_a_mapping() -> None:
    assert config_error(["sources"]).startswith("(top level):")
    assert config_error(None).startswith("(top level):")


# --- environment interpolation -------------------------------------------------------------


def test_env_interpolation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JIANCHA_TEST_DB_PASSWORD", "s3cret!")
    monkeypatch.setenv("JIANCHA_TEST_DB_HOST", "db.example")
    data = minimal(
        sources=[
            source(
                url="postgresql+psycopg://jiancha@${JIANCHA_TEST_DB_HOST}/approval",
                password="${JIANCHA_TEST_DB_PASSWORD}",
            )
        ]
    )
    config = parse_config(data, tmp_path)
    src = config.sources[0]
    assert src.url == "postgresql+psycopg://jiancha@db.example/approval"
    assert isinstance(src.password, SecretStr)
    assert src.password.get_secret_value() == "s3cret!"
    assert "s3cret!" not in repr(config)


def test_missing_env_var_names_key_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIANCHA_TEST_UNSET", raising=False)
    data = minimal(sources=[source(password="${JIANCHA_TEST_UNSET}")])
    message = config_error(data)
    assert message.startswith("sources[0].password:")
    assert "JIANCHA_TEST_UNSET" in message


def test_missing_env_var_in_load_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JIANCHA_TEST_UNSET", raising=False)
    data = minimal()
    data["sources"][0]["entities"]["cases"]["query"] = "SELECT * FROM ${JIANCHA_TEST_UNSET}"
    path = tmp_path / "jiancha.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^sources\[0\]\.entities\.cases\.query: .*UNSET"):
        load_config(path)


# --- files -----------------------------------------------------------------------------------


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("sources: [\n  - name: a\n  url: : :\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError, match="cannot read configuration") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^\(top level\)"):
        load_config(path)


def test_relative_sqlite_resolved_against_config_dir(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    path = folder / "jiancha.yaml"
    data = minimal(sources=[source(url="sqlite:///data/hall.db")])
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(path)
    assert config.sources[0].url == f"sqlite:///{folder.resolve() / 'data' / 'hall.db'}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/jiancha/hall.db",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql+psycopg://jiancha:pw@db.example:5432/approval",
        "mysql+pymysql://jiancha@db.example/hall",
    ],
)
def test_other_urls_untouched(url: str, tmp_path: Path) -> None:
    config = parse_config(minimal(sources=[source(url=url)]), tmp_path)
    assert config.sources[0].url == url


def test_calendar_override_must_exist(tmp_path: Path) -> None:
    message = config_error(minimal(calendar={"override": "holidays.yaml"}), tmp_path)
    assert message.startswith("calendar.override:")
    assert str(tmp_path / "holidays.yaml") in message


def test_calendar_override_relative_to_config_dir(tmp_path: Path) -> None:
    (tmp_path / "holidays.yaml").write_text("{}\n", encoding="utf-8")
    config = parse_config(minimal(calendar={"override": "holidays.yaml"}), tmp_path)
    assert config.calendar.override == (tmp_path / "holidays.yaml").resolve()
    absolute = (tmp_path / "holidays.yaml").resolve()
    config = parse_config(minimal(calendar={"override": str(absolute)}), REPO)
    assert config.calendar.override == absolute


# --- Settings --------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "JIANCHA_TIMEZONE",
        "JIANCHA_END_OF_DAY",
        "JIANCHA_APPLICANT_HASH_KEY",
        "JIANCHA_LOG_FORMAT",
        "JIANCHA_LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.timezone == "Asia/Shanghai"
    assert settings.tz == ZoneInfo("Asia/Shanghai")
    assert settings.end_of_day == dt.time(23, 59, 59)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "Asia/Peking "])
def test_settings_unknown_timezone(clean_env: pytest.MonkeyPatch, zone: str) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Settings(timezone=zone)


def test_settings_unknown_timezone_from_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JIANCHA_TIMEZONE", "Nowhere/Town")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings()


def test_settings_env_prefix(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JIANCHA_TIMEZONE", "Asia/Urumqi")
    clean_env.setenv("JIANCHA_END_OF_DAY", "18:00:00")
    clean_env.setenv("JIANCHA_LOG_FORMAT", "json")
    clean_env.setenv("TIMEZONE", "Europe/Paris")  # without the prefix: ignored
    settings = Settings()
    assert settings.timezone == "Asia/Urumqi"
    assert settings.tz == ZoneInfo("Asia/Urumqi")
    assert settings.end_of_day == dt.time(18, 0)
    assert settings.log_format == "json"


def test_settings_hash_key_is_secret(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JIANCHA_APPLICANT_HASH_KEY", "very-secret-hash-key")
    settings = Settings()
    assert isinstance(settings.applicant_hash_key, SecretStr)
    assert settings.applicant_hash_key.get_secret_value() == "very-secret-hash-key"
    assert "very-secret-hash-key" not in repr(settings)
    assert "very-secret-hash-key" not in str(settings)
    assert "very-secret-hash-key" not in settings.model_dump_json()


def test_settings_hash_key_absent(clean_env: pytest.MonkeyPatch) -> None:
    assert Settings().applicant_hash_key is None
