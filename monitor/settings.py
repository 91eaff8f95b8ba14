"""Process settings from the environment (``JIANCHA_`` prefix) and secret files.

Settings are what differs between deployments of the same configuration: the hall's time
zone, the key of the applicant hash, log format. Secrets (the hash key, database
passwords) are ``SecretStr`` and may come from files in ``secrets_dir`` (Docker secrets);
they never appear in a log line or a repr.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SECRETS_DIR = Path("/run/secrets")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="JIANCHA_",
        extra="ignore",
        secrets_dir=_SECRETS_DIR if _SECRETS_DIR.is_dir() else None,
    )

    timezone: str = "Asia/Shanghai"
    end_of_day: dt.time = dt.time(23, 59, 59)
    # Key of the keyed hash that replaces applicant ID numbers. Set it in production and
    # keep it stable: a new key makes yesterday's applicants unrecognisable today.
    applicant_hash_key: SecretStr | None = None
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    # The daemon's HTTP endpoint (/metrics, /healthz, /readyz).
    listen_address: str = "127.0.0.1"
    listen_port: int = Field(default=9708, ge=0, le=65535)
    metrics_username: str | None = None
    metrics_password: SecretStr | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # A simulated clock for demos and rehearsals: start at this instant and run
    # ``clock_speed`` times faster than real time. Unset in production.
    clock_start: dt.datetime | None = None
    clock_speed: float = Field(default=1.0, gt=0, le=100000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("clock_start")
    @classmethod
    def _aware_clock(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("must carry a UTC offset, e.g. 2026-10-09T09:00:00+08:00")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        if (self.metrics_username is None) != (self.metrics_password is None):
            raise ValueError("metrics_username and metrics_password go together")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
