"""The YAML configuration: sources, calendar and rule parameters, validated up front.

Every key is checked before anything runs; an error names the offending key as a path
(``sources[0].entities.cases.query``) so an operator can fix the file without reading
code. ``${VAR}`` (or ``${VAR:-default}``) in a string is replaced from the environment,
so passwords live in the environment or in secret files, not in the YAML. Relative
paths (SQLite files, the calendar override) are relative to the configuration file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from rules.parameters import RuleParameters


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Every entity a source can deliver, in the order a poll goes through them so that
# references (case -> item, step -> case) resolve within one pass.
ENTITY_NAMES = (
    "items",
    "cases",
    "steps",
    "suspensions",
    "tickets",
    "evaluations",
    "payments",
)
SourceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


def _known_entity_names(names: list[str] | set[str] | dict[str, Any]) -> None:
    unknown = sorted(set(names) - set(ENTITY_NAMES))
    if unknown:
        raise ValueError(f"unknown entity {unknown[0]!r}; expected one of {ENTITY_NAMES}")
    if not names:
        raise ValueError("at least one entity is required")


def _sqlalchemy_url(value: str) -> str:
    try:
        make_url(value)
    except ArgumentError as exc:
        raise ValueError(f"not a SQLAlchemy URL: {exc}") from None
    return value


class EntityQuery(_Strict):
    """One entity of a SQL source: a SELECT whose column aliases are canonical field names."""

    query: str
    # Vendor codes to canonical values, per field: {"result": {"0": "approved", ...}}
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("query")
    @classmethod
    def _is_select(cls, value: str) -> str:
        code = re.sub(r"--[^\n]*|/\*.*?\*/", " ", value, flags=re.DOTALL)
        if not re.match(r"^\s*(select|with)\b", code, re.IGNORECASE):
            raise ValueError("must be a SELECT (or WITH … SELECT) statement")
        return value


class SqlSourceConfig(_Strict):
    """A database (approval system, window system, finance system) polled with SELECTs."""

    name: SourceName
    kind: Literal["sql"] = "sql"
    url: str
    password: SecretStr | None = None
    center: str | None = None  # default center for rows that do not name one
    statement_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 30
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 10
    # How :since is bound: a naive local datetime, an aware one, a YYYYMMDDhhmmss
    # string (pinyin schemas), or epoch seconds.
    since_format: Literal["datetime", "aware", "compact", "epoch"] = "datetime"
    overlap_seconds: Annotated[int, Field(ge=0)] = 300
    poll_interval_seconds: Annotated[int, Field(gt=0)] = 60
    entities: dict[str, EntityQuery]

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return _sqlalchemy_url(value)

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: dict[str, EntityQuery]) -> dict[str, EntityQuery]:
        _known_entity_names(value)
        return value

    @property
    def entity_names(self) -> tuple[str, ...]:
        return tuple(e for e in ENTITY_NAMES if e in self.entities)


class StatementSourceConfig(_Strict):
    """A watched folder of bank statements (CSV or XLSX) of the designated fee accounts.

    ``columns`` maps canonical payment fields to the statement's column headers, e.g.
    ``{id: 交易流水号, amount_yuan: 交易金额, paid_at: 交易时间, reference: 摘要}``.
    """

    name: SourceName
    kind: Literal["statement_files"]
    directory: Path
    patterns: list[str] = Field(default_factory=lambda: ["*.csv", "*.xlsx"])
    encoding: str = "utf-8-sig"  # many bank exports are gb18030
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    skip_rows: Annotated[int, Field(ge=0)] = 0  # title lines above the header row
    columns: dict[str, str]
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    account: str | None = None  # receiving account when the statement does not repeat it
    center: str | None = None
    # A file modified less than this long ago may still be being written: wait.
    min_age_seconds: Annotated[float, Field(ge=0)] = 2
    poll_interval_seconds: Annotated[int, Field(gt=0)] = 60
    # A summary line (合计/总计…): one of these in its first non-empty cell, or in any cell
    # of a line without a transaction id. It is skipped, and after it only complete
    # transaction lines are read (the rest is the trailer: printing time, signatures).
    footer_markers: list[str] = Field(default_factory=lambda: ["合计", "总计", "小计", "累计"])
    # A CSV that does not end with a line break is taken for a half-written file. Turn off
    # only for a bank whose complete exports lack the final line break.
    require_final_newline: bool = True

    @property
    def entity_names(self) -> tuple[str, ...]:
        return ("payments",)


class HttpAuth(_Strict):
    kind: Literal["bearer", "basic"]
    token: SecretStr | None = None  # bearer
    username: str | None = None  # basic
    password: SecretStr | None = None  # basic


class HttpPagination(_Strict):
    """How a list endpoint pages: by page number, by offset, by a cursor, or not at all."""

    style: Literal["none", "page", "offset", "cursor"] = "none"
    page_param: str = "page"
    size_param: str = "size"
    page_size: Annotated[int, Field(gt=0, le=10000)] = 100
    first_page: int = 1
    offset_param: str = "offset"
    cursor_param: str = "cursor"
    next_cursor_path: str = "next"  # dotted path of the next cursor in the response
    max_pages: Annotated[int, Field(gt=0)] = 10000


class HttpEntity(_Strict):
    """One entity of an HTTP JSON source: a list endpoint and its field mapping."""

    path: str
    params: dict[str, str] = Field(default_factory=dict)
    records_path: str = ""  # dotted path of the list in the response ("" = the body)
    # canonical field -> dotted JSON path; fields not named are taken by their own name
    fields: dict[str, str] = Field(default_factory=dict)
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    since_param: str | None = None  # query parameter for incremental polling
    pagination: HttpPagination = Field(default_factory=HttpPagination)


class HttpSourceConfig(_Strict):
    """A window system (queue, evaluators) that exposes REST endpoints returning JSON."""

    name: SourceName
    kind: Literal["http"]
    base_url: str
    auth: HttpAuth | None = None
    center: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 10
    verify_tls: bool = True
    since_format: Literal["datetime", "aware", "compact", "epoch"] = "aware"
    overlap_seconds: Annotated[int, Field(ge=0)] = 300
    poll_interval_seconds: Annotated[int, Field(gt=0)] = 60
    entities: dict[str, HttpEntity]

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: dict[str, HttpEntity]) -> dict[str, HttpEntity]:
        _known_entity_names(value)
        return value

    @property
    def entity_names(self) -> tuple[str, ...]:
        return tuple(e for e in ENTITY_NAMES if e in self.entities)


def _source_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "sql"))
    return str(getattr(value, "kind", "sql"))


SOURCE_KINDS = ("sql", "statement_files", "http")
SourceConfig = Annotated[
    Annotated[SqlSourceConfig, Tag("sql")]
    | Annotated[StatementSourceConfig, Tag("statement_files")]
    | Annotated[HttpSourceConfig, Tag("http")],
    Discriminator(_source_kind),
]


class CalendarConfig(_Strict):
    first_year: Annotated[int, Field(ge=1990, le=2100)] = 2015
    last_year: Annotated[int, Field(ge=1990, le=2100)] = dt.date.today().year + 5
    override: Path | None = None
    region: str | None = None
    end_of_day: dt.time = dt.time(23, 59, 59)


class StateConfig(_Strict):
    """Where the daemon keeps entities, watermarks and the findings ledger."""

    url: str = "sqlite:///jiancha-state.db"  # relative paths: next to the config file
    # One PostgreSQL schema per shard of centers, so daemons sharing a database never
    # see (or resolve) each other's records and findings. None: the default schema.
    schema_name: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return _sqlalchemy_url(value)

    @model_validator(mode="after")
    def _schema_needs_postgresql(self) -> StateConfig:
        if self.schema_name and make_url(self.url).get_backend_name() != "postgresql":
            raise ValueError("schema_name needs a PostgreSQL url")
        return self


class DaemonConfig(_Strict):
    """The scheduler of ``jiancha run``."""

    evaluation_interval_seconds: Annotated[int, Field(gt=0, le=3600)] = 60
    resync_time: dt.time = dt.time(2, 30)  # nightly full poll that notices deletions
    # The polls' records, appended to the state store's journal, are merged into its
    # records' table this often (away from the polls and the evaluation).
    compact_interval_seconds: Annotated[int, Field(gt=0, le=86400)] = 300
    shutdown_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10
    # Active/standby on a PostgreSQL state store: daemons with the same lock name take
    # turns; the standby retries this often. Default: the shard's state.schema_name, so
    # shards lead independently, or "jiancha".
    lock_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    standby_retry_seconds: Annotated[float, Field(gt=0, le=600)] = 5


class AlertingConfig(_Strict):
    """Per-case alerts pushed to Alertmanager (none configured: no pushing)."""

    alertmanager_urls: list[str] = Field(default_factory=list)
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 5
    attempts: Annotated[int, Field(ge=1, le=10)] = 3
    # Alerts are re-sent every cycle with endsAt this many evaluation intervals ahead.
    ends_after_intervals: Annotated[int, Field(ge=2, le=100)] = 4
    generator_url: str | None = None  # link shown in Alertmanager, e.g. the dashboard

    @field_validator("alertmanager_urls", mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        """``${ALERTMANAGER_URLS}`` arrives as text: comma- or space-separated URLs."""
        if isinstance(value, str):
            return [u for u in re.split(r"[\s,]+", value.strip().strip("[]")) if u]
        return value

    @field_validator("alertmanager_urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value


ReportFormat = Literal["pdf", "xlsx", "html"]


class ReportConfig(_Strict):
    """The monthly bulletin the daemon writes on the 1st for the month just ended."""

    enabled: bool = True
    time: dt.time = dt.time(6, 0)  # on the 1st, hall time
    directory: Path = Path("reports")  # relative paths: next to the config file
    formats: list[ReportFormat] = Field(default_factory=lambda: ["pdf", "xlsx", "html"])
    # Besides the whole hall, one bulletin per center listed here.
    centers: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)

    @field_validator("formats")
    @classmethod
    def _some_format(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one format is required")
        return list(dict.fromkeys(value))


class Config(_Strict):
    sources: list[SourceConfig]
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    rules: RuleParameters = Field(default_factory=RuleParameters)
    state: StateConfig = Field(default_factory=StateConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """The file the configuration was loaded from, if any."""
        return self._path

    def evaluation_settings(self) -> dict[str, Any]:
        """What findings and deadlines depend on besides the data: the rule parameters
        and the calendar settings (recorded with the evaluations for reports)."""
        calendar = self.calendar.model_dump(mode="json")
        if self.calendar.override is not None:
            calendar["override"] = self.calendar.override.name
        return {"rules": self.rules.model_dump(mode="json"), "calendar": calendar}

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in value]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise ValueError(f"source name {duplicate!r} is used twice")
        if not value:
            raise ValueError("at least one source is required")
        return value


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for i, part in enumerate(loc):
        # Skip the source union's tag: it is not a key the operator wrote.
        tag = i >= 2 and loc[i - 2] == "sources" and isinstance(loc[i - 1], int)
        if tag and part in SOURCE_KINDS:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


# ${VAR} or ${VAR:-default}, as in a shell or docker compose.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(node: Any, loc: tuple[int | str, ...] = ()) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, (*loc, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, (*loc, i)) for i, v in enumerate(node)]
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name not in os.environ and default is not None:
                return default
            if name not in os.environ:
                raise ConfigError(f"{_key_path(loc)}: environment variable {name} is not set")
            return os.environ[name]

        return _ENV_REF.sub(replace, node)
    return node


def _relative_sqlite(url: str, base: Path) -> str:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str((base / database).resolve())).render_as_string(
        hide_password=False
    )


def parse_config(data: Any, base_dir: Path, path: Path | None = None) -> Config:
    """Validate a loaded YAML document; raise :class:`ConfigError` naming the bad key."""
    if not isinstance(data, dict):
        raise ConfigError("(top level): the configuration must be a mapping")
    data = _interpolate(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        shown = [f"{_key_path(e['loc'])}: {e['msg']}" for e in exc.errors()[:3]]
        more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
        raise ConfigError("; ".join(shown) + more) from None
    for source in config.sources:
        if isinstance(source, SqlSourceConfig):
            source.url = _relative_sqlite(source.url, base_dir)
        elif isinstance(source, StatementSourceConfig) and not source.directory.is_absolute():
            source.directory = (base_dir / source.directory).resolve()
    config.state.url = _relative_sqlite(config.state.url, base_dir)
    if not config.report.directory.is_absolute():
        config.report.directory = (base_dir / config.report.directory).resolve()
    if config.calendar.override is not None and not config.calendar.override.is_absolute():
        config.calendar.override = (base_dir / config.calendar.override).resolve()
    if config.calendar.override is not None and not config.calendar.override.is_file():
        raise ConfigError(f"calendar.override: file {config.calendar.override} does not exist")
    if config.calendar.first_year > config.calendar.last_year:
        raise ConfigError("calendar.first_year: is after calendar.last_year")
    config._path = path
    return config


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, path.parent.resolve(), path)
