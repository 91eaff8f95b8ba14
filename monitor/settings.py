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

from pydantic import SecretStr, field_validator
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

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
