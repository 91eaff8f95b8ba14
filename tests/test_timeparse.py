"""Tests of parse_time / parse_date over every time shape vendor systems deliver."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from monitor.timeparse import TimeParseError, parse_date, parse_time

SH = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
# 2026-10-09T10:00:00+08:00 == 2026-10-09T02:00:00Z
TEN_AM = dt.datetime(2026, 10, 9, 10, 0, 0, tzinfo=SH)
EPOCH = 1_791_511_200


def test_epoch_constant_is_ten_am_beijing() -> None:
    assert TEN_AM.timestamp() == EPOCH


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20261009100000", dt.datetime(2026, 10, 9, 10, 0, 0, tzinfo=SH)),
        ("20261009101530", dt.datetime(2026, 10, 9, 10, 15, 30, tzinfo=SH)),
        ("20261009", dt.datetime(2026, 10, 9, tzinfo=SH)),
        ("202610091015", dt.datetime(2026, 10, 9, 10, 15, tzinfo=SH)),
        ("  20261009100000  ", TEN_AM),
        ("2026-10-09T10:00:00", TEN_AM),
        ("2026-10-09 10:00:00", TEN_AM),
        ("2026-10-09", dt.datetime(2026, 10, 9, tzinfo=SH)),
        ("2026/10/09 10:00:00", TEN_AM),
        (b"20261009100000", TEN_AM),
    ],
)
def test_text_shapes(value: object, expected: dt.datetime) -> None:
    parsed = parse_time(value, SH)
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == dt.timedelta(hours=8)


def test_compact_gets_the_given_zone_not_beijing_by_default() -> None:
    utc = ZoneInfo("UTC")
    parsed = parse_time("20261009100000", utc)
    assert parsed == dt.datetime(2026, 10, 9, 10, tzinfo=UTC)
    assert parsed is not None and parsed.tzinfo == utc


@pytest.mark.parametrize(
    ("value", "offset"),
    [
        ("2026-10-09T02:00:00+00:00", dt.timedelta(0)),
        ("2026-10-09T02:00:00Z", dt.timedelta(0)),
        ("2026-10-09T10:00:00+08:00", dt.timedelta(hours=8)),
        ("2026-10-09T11:00:00+09:00", dt.timedelta(hours=9)),
    ],
)
def test_iso_with_offset_keeps_its_offset(value: str, offset: dt.timedelta) -> None:
    parsed = parse_time(value, SH)
    assert parsed is not None
    assert parsed.utcoffset() == offset
    assert parsed == TEN_AM  # same instant


def test_naive_datetime_gets_the_zone() -> None:
    parsed = parse_time(dt.datetime(2026, 10, 9, 10, 0), SH)
    assert parsed == TEN_AM
    assert parsed is not None and parsed.tzinfo == SH


def test_aware_datetime_is_kept_as_is() -> None:
    aware = dt.datetime(2026, 10, 9, 2, 0, tzinfo=UTC)
    parsed = parse_time(aware, SH)
    assert parsed is aware
    assert parsed.utcoffset() == dt.timedelta(0)
    tokyo = dt.datetime(2026, 10, 9, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert parse_time(tokyo, SH).utcoffset() == dt.timedelta(hours=9)  # type: ignore[union-attr]


def test_date_object_is_local_midnight() -> None:
    assert parse_time(dt.date(2026, 10, 9), SH) == dt.datetime(2026, 10, 9, tzinfo=SH)


@pytest.mark.parametrize(
    "value",
    [
        EPOCH,
        float(EPOCH),
        Decimal(EPOCH),
        str(EPOCH),
        f"{EPOCH}.0",
        EPOCH * 1000,
        float(EPOCH * 1000),
        Decimal(EPOCH * 1000),
        str(EPOCH * 1000),
    ],
)
def test_epoch_seconds_and_milliseconds(value: object) -> None:
    parsed = parse_time(value, SH)
    assert parsed == TEN_AM
    assert parsed is not None and parsed.utcoffset() == dt.timedelta(hours=8)


def test_fractional_epoch_keeps_the_fraction() -> None:
    parsed = parse_time(Decimal(f"{EPOCH}.5"), SH)
    assert parsed == TEN_AM + dt.timedelta(milliseconds=500)
    assert parse_time(EPOCH * 1000 + 250, SH) == TEN_AM + dt.timedelta(milliseconds=250)


def test_epoch_zero_is_1970() -> None:
    assert parse_time(0, SH) == dt.datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "   ", b""])
def test_null_and_empty_are_none(value: object) -> None:
    assert parse_time(value, SH) is None
    assert parse_date(value, SH) is None


@pytest.mark.parametrize(
    "value",
    [
        "20261309",  # month 13
        "20261309100000",
        "2026-13-09T10:00:00",
        "20260230",  # 30 February
        "20261009250000",  # hour 25
        "hello",
        "2026-10-09 10h00",
        "十月九日",
        "12:00:00",
        "2026.10.09",
        -1,
        -1.5,
        Decimal("-5"),
        "-1",
        -(EPOCH * 1000),
        True,
        False,
        [2026, 10, 9],
        {"year": 2026},
        float("inf"),
        10**30,
    ],
)
def test_errors(value: object) -> None:
    with pytest.raises(TimeParseError):
        parse_time(value, SH)


@pytest.mark.parametrize("value", [float("nan"), Decimal("NaN")])
def test_nan_is_a_time_parse_error(value: object) -> None:
    # NaN arrives from float/numeric columns (PostgreSQL and Oracle allow it); it must be
    # a TimeParseError so the row is rejected, not an exception that aborts the poll.
    with pytest.raises(TimeParseError):
        parse_time(value, SH)


def test_error_is_a_value_error() -> None:
    assert issubclass(TimeParseError, ValueError)


def test_parse_date_shapes() -> None:
    assert parse_date("20261009", SH) == dt.date(2026, 10, 9)
    assert parse_date("20261009235959", SH) == dt.date(2026, 10, 9)
    assert parse_date("2026-10-09", SH) == dt.date(2026, 10, 9)
    assert parse_date(dt.date(2026, 10, 9), SH) == dt.date(2026, 10, 9)
    assert parse_date(dt.datetime(2026, 10, 9, 23, 0), SH) == dt.date(2026, 10, 9)
    assert parse_date(EPOCH, SH) == dt.date(2026, 10, 9)


def test_parse_date_reduces_an_aware_time_to_the_local_date() -> None:
    # 2026-10-08 20:00 UTC is 2026-10-09 04:00 in Beijing.
    assert parse_date(dt.datetime(2026, 10, 8, 20, 0, tzinfo=UTC), SH) == dt.date(2026, 10, 9)
    assert parse_date("2026-10-08T20:00:00+00:00", SH) == dt.date(2026, 10, 9)


def test_parse_date_errors() -> None:
    with pytest.raises(TimeParseError):
        parse_date("20261309", SH)
    with pytest.raises(TimeParseError):
        parse_date(True, SH)


@pytest.mark.parametrize(
    "text",
    [
        "2026-10-09 11:31:00",
        "2026-10-09T11:31:00",
        "2026-10-09 11:31:0x",
        "2026-13-09 11:31:00",
        "2026-10-09 25:31:00",
        "2026-10-09X11:31:00",
        "2026-10-09 11:31:00+08:00",
        " 2026-10-09 11:31:00 ",
        "2026/10/09 11:31:00",
    ],
)
def test_the_iso_fast_path_says_what_the_general_path_says(text: str) -> None:
    """The shortcut for ``YYYY-MM-DD hh:mm:ss`` reads exactly what the general path reads."""
    tz = ZoneInfo("Asia/Shanghai")

    def general(value: str) -> object:
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("/", "-"))
        except ValueError:
            return TimeParseError
        return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=tz)

    try:
        got: object = parse_time(text, tz)
    except TimeParseError:
        got = TimeParseError
    assert got == general(text)
    if isinstance(got, dt.datetime):
        assert got.tzinfo == general(text).tzinfo  # type: ignore[union-attr]
