"""The day planner: a hall open on working days only, busy in the right hours, and a
ground truth that names, for every injected violation, the rule that must find it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.demo.catalogue import build_catalogue
from monitor.demo.config import render_config
from monitor.demo.plan import VIOLATION_RULES, DayPlan, ViolationRates
from monitor.demo.schema import PD_QH, SL_BJ
from monitor.demo.simulator import HallSimulator, SimulationSpec
from tests.demo_hall import SHANGHAI


def _simulator(tmp_path: Path, spec: SimulationSpec | None = None) -> HallSimulator:
    spec = spec or SimulationSpec()
    path = tmp_path / "jiancha.yaml"
    path.write_text(render_config(build_catalogue(spec.centers, spec.windows)), encoding="utf-8")
    return HallSimulator(spec, load_config(path))


def _plan(simulator: HallSimulator, day: dt.date) -> DayPlan:
    plan = DayPlan()
    for part in simulator.plans(day):
        plan.histories += part.histories
        plan.expectations += part.expectations
    return plan


def _tickets(plan: DayPlan) -> list[dict[str, object]]:
    return [h.versions[0][1] for h in plan.histories if h.table is PD_QH]


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (dt.date(2026, 10, 1), False),  # 国庆节
        (dt.date(2026, 10, 4), False),  # a Sunday inside the holiday
        (dt.date(2026, 10, 9), True),  # Friday after the holiday
        (dt.date(2026, 10, 10), True),  # Saturday, a 调休 make-up working day
        (dt.date(2026, 10, 11), False),  # an ordinary Sunday
    ],
)
def test_the_hall_opens_on_working_days_only(tmp_path: Path, day: dt.date, open_: bool) -> None:
    simulator = _simulator(tmp_path)
    assert simulator.calendar.is_working_day(day) is open_
    assert bool(_tickets(_plan(simulator, day))) is open_


def test_tickets_are_taken_in_opening_hours_and_called_in_order(tmp_path: Path) -> None:
    simulator = _simulator(tmp_path)
    tickets = _tickets(_plan(simulator, dt.date(2026, 11, 23)))
    assert len(tickets) > 400  # two centers, about thirty windows, a Monday
    for ticket in tickets:
        taken = dt.datetime.strptime(str(ticket["QHSJ"]), "%Y%m%d%H%M%S").time()
        assert dt.time(9) <= taken < dt.time(12) or dt.time(13, 30) <= taken < dt.time(17)
    called = [
        h.versions[1][1]
        for h in _plan(simulator, dt.date(2026, 11, 23)).histories
        if h.table is PD_QH and len(h.versions) > 1 and h.versions[1][1]["ZT"] == "1"
    ]
    by_department: dict[object, list[tuple[str, str]]] = {}
    for row in called:
        by_department.setdefault((row["ZXBM"], row["BMBM"]), []).append(
            (str(row["QHSJ"]), str(row["JHSJ"]))
        )
    for rows in by_department.values():
        rows.sort()
        calls = [c for _, c in rows]
        assert calls == sorted(calls)  # first come, first called


def test_mondays_are_busier_than_fridays(tmp_path: Path) -> None:
    simulator = _simulator(tmp_path)
    mondays = [dt.date(2026, 11, 2) + dt.timedelta(weeks=w) for w in range(6)]
    fridays = [d + dt.timedelta(days=4) for d in mondays]
    monday = statistics.mean(len(_tickets(_plan(simulator, d))) for d in mondays)
    friday = statistics.mean(len(_tickets(_plan(simulator, d))) for d in fridays)
    assert monday > friday * 1.15


def test_every_injected_violation_names_the_rule_that_must_find_it(tmp_path: Path) -> None:
    simulator = _simulator(tmp_path, SimulationSpec(rates=ViolationRates().scaled(3)))
    expectations = []
    for offset in range(10):
        expectations += _plan(
            simulator, dt.date(2026, 11, 2) + dt.timedelta(days=offset)
        ).expectations
    found: dict[str, set[str]] = {}
    for e in expectations:
        if e.injected:
            found.setdefault(e.violation, set()).add(e.rule)
    assert set(found) == set(VIOLATION_RULES)
    for violation, rule in VIOLATION_RULES.items():
        assert rule in found[violation], violation
    for e in expectations:  # a finding is never expected before its subject exists
        assert e.expected_until is None or e.expected_from < e.expected_until


def test_without_injections_only_natural_yellow_cards_are_expected(tmp_path: Path) -> None:
    rates = ViolationRates(**{f.name: 0.0 for f in dataclasses.fields(ViolationRates)})
    simulator = _simulator(tmp_path, SimulationSpec(rates=rates))
    plan = _plan(simulator, dt.date(2026, 11, 24))
    assert plan.expectations, "1-day items are yellow from acceptance until concluded"
    for e in plan.expectations:
        assert not e.injected and e.rule == "case.due_soon"
        # …and concluded the same day, so the card is gone by the evening.
        assert e.expected_until is not None
        assert e.expected_until.astimezone(SHANGHAI).date() == dt.date(2026, 11, 24)
    cases = [h for h in plan.histories if h.table is SL_BJ]
    assert len(cases) > 300


def test_rates_must_be_probabilities() -> None:
    with pytest.raises(ValueError, match=r"left_open: 1.5 is not a probability"):
        ViolationRates(left_open=1.5)
    with pytest.raises(ValueError, match=r"late_conclusion"):
        ViolationRates(late_conclusion=-0.1)
    assert ViolationRates(payment_without_case=3.0).payment_without_case == 3.0
