"""The daemon's clock: real time in the hall's zone, or a simulated, faster one."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from monitor import clock as clock_module
from monitor.clock import Clock

SH = ZoneInfo("Asia/Shanghai")


class FakeMonotonic:
    def __init__(self, start: float = 1000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    monkeypatch.setattr(clock_module.time, "monotonic", fake)
    return fake


def test_real_clock_is_aware_in_the_hall_zone() -> None:
    clock = Clock(SH)
    before = dt.datetime.now(dt.UTC)
    now = clock.now()
    after = dt.datetime.now(dt.UTC)
    assert not clock.simulated
    assert now.tzinfo is SH
    assert now.utcoffset() == dt.timedelta(hours=8)
    assert before <= now <= after


def test_simulated_clock_starts_at_its_start(monotonic: FakeMonotonic) -> None:
    start = dt.datetime(2026, 10, 12, 23, 50, tzinfo=SH)
    clock = Clock(SH, start)
    assert clock.simulated
    assert clock.now() == start
    assert clock.now().tzinfo is SH


def test_simulated_clock_runs_speed_times_faster(monotonic: FakeMonotonic) -> None:
    start = dt.datetime(2026, 10, 12, 23, 50, tzinfo=SH)
    clock = Clock(SH, start, speed=60)
    monotonic.value += 10  # ten real seconds = ten simulated minutes
    assert clock.now() == dt.datetime(2026, 10, 13, 0, 0, tzinfo=SH)
    monotonic.value += 0.5
    assert clock.now() == dt.datetime(2026, 10, 13, 0, 0, 30, tzinfo=SH)


def test_simulated_start_in_another_zone_is_shown_in_the_hall_zone(
    monotonic: FakeMonotonic,
) -> None:
    start = dt.datetime(2026, 10, 12, 15, 50, tzinfo=dt.UTC)
    now = Clock(SH, start, speed=2).now()
    assert now == start
    assert now.tzinfo is SH
    assert (now.hour, now.minute) == (23, 50)


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Clock(SH, dt.datetime(2026, 10, 12, 23, 50))


@pytest.mark.parametrize("speed", [0, -1.5])
def test_the_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Clock(SH, dt.datetime(2026, 10, 12, tzinfo=SH), speed=speed)
