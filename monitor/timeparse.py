"""Parse the time values vendor systems deliver into timezone-aware datetimes.

Service-hall databases store times in every shape (DESIGN.md §3): ``YYYYMMDDhhmmss``
strings (pinyin schemas), ``YYYYMMDD`` dates, ISO text with or without an offset, naive
``datetime`` columns, ``date`` columns, Unix timestamps in seconds or milliseconds, and
``YYYYMMDDhhmmss`` held in a number column.
All are Beijing time unless they carry their own offset or the source says otherwise.
A value that matches none of these raises :class:`TimeParseError` with the value's shape
(never the value itself when it could be personal data — times never are).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo


class TimeParseError(ValueError):
    """A value could not be read as a time."""


_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?$")
# Epoch seconds up to the year 5138 are below 1e11; anything larger is milliseconds.
_MILLISECONDS_FROM = 100_000_000_000


def parse_time(value: object, tz: ZoneInfo) -> dt.datetime | None:
    """``value`` as an aware datetime in ``tz`` (when naive); None for NULL or empty text."""
    if value is None:
        return None
    if type(value) is dt.datetime:  # what most drivers return: the commonest case first
        return value if value.utcoffset() is not None else value.replace(tzinfo=tz)
    if type(value) is str:
        text = value.strip()
        if len(text) == 14 and text.isdigit() and text.isascii():  # the pinyin schemas' shape
            return _compact14(text, tz)
        return _parse_text(text, tz)
    if isinstance(value, dt.datetime):
        return value if value.utcoffset() is not None else value.replace(tzinfo=tz)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=tz)
    if isinstance(value, bool):
        raise TimeParseError("a boolean is not a time")
    if isinstance(value, int) and _COMPACT.match(str(value)) and len(str(value)) in (8, 12, 14):
        # A NUMBER column holding YYYYMMDD[hhmm[ss]]: as epoch seconds these would all
        # be in 1970-1973 or after 2200, never a real service-hall time.
        return parse_time(str(value), tz)
    if isinstance(value, int | float | Decimal):
        return _from_epoch(value, tz)
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if not isinstance(value, str):
        raise TimeParseError(f"cannot read a {type(value).__name__} as a time")
    return _parse_text(value.strip(), tz)


def _compact14(text: str, tz: ZoneInfo) -> dt.datetime:
    """``YYYYMMDDhhmmss`` (14 ASCII digits) in ``tz``."""
    try:
        return dt.datetime(
            int(text[:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:]),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise TimeParseError(f"invalid date in {text!r}: {exc}") from None


def _parse_text(text: str, tz: ZoneInfo) -> dt.datetime | None:
    """A stripped text value as an aware datetime; None when empty."""
    if not text:
        return None
    if len(text) == 19 and text[4] == "-" and text[7] == "-" and text[10] in " T":
        # The commonest text shape, YYYY-MM-DD hh:mm:ss: what the general path below
        # ends in, taken at once (anything it does not read goes the general way).
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=tz)
    if len(text) == 14 and text.isascii() and text.isdigit():  # the pinyin schemas' shape
        return _compact14(text, tz)
    compact = _COMPACT.match(text)
    if compact:
        parts = [int(p) if p else 0 for p in compact.groups()]
        try:
            return dt.datetime(*parts, tzinfo=tz)  # type: ignore[misc]
        except ValueError as exc:
            raise TimeParseError(f"invalid date in {text!r}: {exc}") from None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return _from_epoch(Decimal(text), tz)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise TimeParseError(f"unrecognised time format {text!r}") from None
    return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=tz)


def _from_epoch(value: int | float | Decimal, tz: ZoneInfo) -> dt.datetime:
    seconds = Decimal(str(value))
    if not seconds.is_finite():
        raise TimeParseError(f"{value} is not a timestamp")
    if abs(seconds) >= _MILLISECONDS_FROM:
        seconds /= 1000
    if seconds < 0:
        raise TimeParseError(f"negative timestamp {value}")
    try:
        return dt.datetime.fromtimestamp(float(seconds), tz=tz)
    except (OverflowError, OSError, ValueError) as exc:
        raise TimeParseError(f"timestamp {value} out of range: {exc}") from None


def parse_date(value: object, tz: ZoneInfo) -> dt.date | None:
    """A calendar date from the same shapes (a time is reduced to its local date)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    parsed = parse_time(value, tz)
    return None if parsed is None else parsed.astimezone(tz).date()
