"""Unit tests of RuleParameters: due-soon threshold resolution order and validation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from rules.parameters import (
    FeePayableAt,
    FeePlace,
    OffsystemPlace,
    OverdueOverride,
    Overrides,
    RuleParameters,
    normalise_account,
)


def params(
    items: dict[str, dict[str, Any]] | None = None,
    departments: dict[str, dict[str, Any]] | None = None,
    **globals_: Any,
) -> RuleParameters:
    """RuleParameters as the configuration's ``rules:`` section would give them."""
    data: dict[str, Any] = dict(globals_)
    data["overrides"] = {"items": items or {}, "departments": departments or {}}
    return RuleParameters.model_validate(data)


# -- defaults: max(1, ceil(20 % of the limit)) -----------------------------------------


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (0, 1),  # ceil(0) = 0 -> minimum 1
        (1, 1),  # ceil(0.2) = 1
        (3, 1),  # ceil(0.6) = 1
        (5, 1),  # 0.2 * 5 = 1 exactly
        (6, 2),  # ceil(1.2) = 2: rounded up, not to nearest
        (7, 2),  # ceil(1.4) = 2
        (10, 2),  # 2 exactly
        (11, 3),  # ceil(2.2) = 3
        (15, 3),  # 3 exactly
        (20, 4),
        (30, 6),
        (45, 9),
        (60, 12),
    ],
)
def test_default_threshold(limit: int, expected: int) -> None:
    assert RuleParameters().due_soon_threshold("I1", "D1", limit) == expected
    assert RuleParameters().due_soon_threshold("I1", None, limit) == expected


def test_defaults_values() -> None:
    p = RuleParameters()
    assert p.due_soon_ratio == 0.2
    assert p.due_soon_min_days == 1
    assert p.due_soon_days is None
    assert p.warn_immediate is False
    assert p.overrides == Overrides()


@pytest.mark.parametrize(
    ("ratio", "limit", "expected"),
    [
        (0.14, 50, 7),  # 0.14 * 50 is 7.000000000000001 in floats; must be 7, not 8
        (0.28, 25, 7),  # 7.000000000000001 -> 7
        (0.28, 50, 14),  # 14.000000000000002 -> 14
        (0.1, 30, 3),
        (0.3, 10, 3),
        (0.15, 20, 3),
        (1.0, 12, 12),
        (0.0, 12, 1),  # minimum
        (0.5, 5, 3),  # ceil(2.5)
    ],
)
def test_global_ratio_with_float_noise(ratio: float, limit: int, expected: int) -> None:
    assert params(due_soon_ratio=ratio).due_soon_threshold("I1", "D1", limit) == expected


def test_global_min_days() -> None:
    p = params(due_soon_min_days=3)
    assert p.due_soon_threshold("I1", "D1", 10) == 3  # max(3, 2)
    assert p.due_soon_threshold("I1", "D1", 20) == 4  # max(3, 4)
    p = params(due_soon_min_days=0, due_soon_ratio=0.0)
    assert p.due_soon_threshold("I1", "D1", 10) == 0


def test_global_fixed_days_beats_ratio() -> None:
    p = params(due_soon_days=5, due_soon_ratio=0.5, due_soon_min_days=2)
    for limit in (0, 3, 10, 40):
        assert p.due_soon_threshold("I1", "D1", limit) == 5
    assert params(due_soon_days=0).due_soon_threshold("I1", None, 20) == 0


# -- resolution order: item, then department, then global ------------------------------


def test_item_fixed_days_beats_department_fixed_days() -> None:
    p = params(items={"I1": {"due_soon_days": 4}}, departments={"D1": {"due_soon_days": 1}})
    assert p.due_soon_threshold("I1", "D1", 10) == 4
    # Another item of the same department takes the department's value.
    assert p.due_soon_threshold("I2", "D1", 10) == 1
    # Another item in another department: global default (limit 10 -> 2).
    assert p.due_soon_threshold("I2", "D2", 10) == 2


def test_item_ratio_not_overruled_by_department_fixed_days() -> None:
    p = params(items={"I1": {"due_soon_ratio": 0.5}}, departments={"D1": {"due_soon_days": 0}})
    # Item ratio 0.5 of 10 -> 5; the department's fixed 0 days must not win.
    assert p.due_soon_threshold("I1", "D1", 10) == 5
    # ceil(0.5 * 3) = 2.
    assert p.due_soon_threshold("I1", "D1", 3) == 2
    # Other items of the department do get the fixed 0.
    assert p.due_soon_threshold("I2", "D1", 10) == 0


def test_item_min_days_not_overruled_by_department_fixed_days() -> None:
    p = params(items={"I1": {"due_soon_min_days": 3}}, departments={"D1": {"due_soon_days": 0}})
    # Item says something about the threshold (min 3), so its formula applies:
    # max(3, ceil(0.2 * 10) = 2) = 3.
    assert p.due_soon_threshold("I1", "D1", 10) == 3
    # max(3, ceil(0.2 * 25) = 5) = 5.
    assert p.due_soon_threshold("I1", "D1", 25) == 5


def test_item_override_without_threshold_fields_falls_through() -> None:
    # An item override that only sets warn_immediate says nothing about the threshold.
    p = params(items={"I1": {"warn_immediate": True}}, departments={"D1": {"due_soon_days": 6}})
    assert p.due_soon_threshold("I1", "D1", 10) == 6
    p = params(items={"I1": {"warn_immediate": True}}, due_soon_days=7)
    assert p.due_soon_threshold("I1", "D1", 10) == 7


def test_department_ratio_not_overruled_by_global_fixed_days() -> None:
    p = params(due_soon_days=5, departments={"D1": {"due_soon_ratio": 0.5}})
    # Department's formula: max(1, ceil(0.5 * 10)) = 5 -- with limit 4: ceil(2) = 2.
    assert p.due_soon_threshold("I1", "D1", 4) == 2
    assert p.due_soon_threshold("I1", "D1", 10) == 5
    # Another department: the global fixed 5 days.
    assert p.due_soon_threshold("I1", "D2", 4) == 5


def test_fields_resolve_independently_across_levels() -> None:
    # Item sets the minimum, department sets the ratio: max(3, ceil(0.5 * 10) = 5) = 5,
    # and with limit 4: max(3, ceil(2)) = 3.
    p = params(items={"I1": {"due_soon_min_days": 3}}, departments={"D1": {"due_soon_ratio": 0.5}})
    assert p.due_soon_threshold("I1", "D1", 10) == 5
    assert p.due_soon_threshold("I1", "D1", 4) == 3
    # Item ratio, global minimum 4: max(4, ceil(0.1 * 10) = 1) = 4.
    p = params(items={"I1": {"due_soon_ratio": 0.1}}, due_soon_min_days=4)
    assert p.due_soon_threshold("I1", None, 10) == 4


def test_fixed_days_beats_ratio_at_the_same_level() -> None:
    p = params(items={"I1": {"due_soon_days": 2, "due_soon_ratio": 0.9}})
    assert p.due_soon_threshold("I1", "D1", 10) == 2
    p = params(departments={"D1": {"due_soon_days": 2, "due_soon_min_days": 9}})
    assert p.due_soon_threshold("I1", "D1", 10) == 2


def test_item_fixed_zero_days_is_respected() -> None:
    # 0 is a value, not "unset".
    p = params(items={"I1": {"due_soon_days": 0}}, departments={"D1": {"due_soon_days": 3}})
    assert p.due_soon_threshold("I1", "D1", 10) == 0


def test_department_override_needs_a_department() -> None:
    p = params(departments={"D1": {"due_soon_days": 5}})
    assert p.due_soon_threshold("I1", None, 10) == 2
    assert p.due_soon_threshold("I1", "D1", 10) == 5


def test_overrides_match_codes_exactly() -> None:
    p = params(items={"I1": {"due_soon_days": 5}}, departments={"D1": {"due_soon_days": 4}})
    assert p.due_soon_threshold("i1", "d1", 10) == 2
    assert p.due_soon_threshold("I10", "D10", 10) == 2


# -- warn_immediate resolution ---------------------------------------------------------


def test_warns_immediate_resolution() -> None:
    assert RuleParameters().warns_immediate("I1", "D1") is False
    assert params(warn_immediate=True).warns_immediate("I1", "D1") is True
    p = params(departments={"D1": {"warn_immediate": True}})
    assert p.warns_immediate("I1", "D1") is True
    assert p.warns_immediate("I1", "D2") is False
    assert p.warns_immediate("I1", None) is False
    p = params(
        items={"I1": {"warn_immediate": False}}, departments={"D1": {"warn_immediate": True}}
    )
    assert p.warns_immediate("I1", "D1") is False
    assert p.warns_immediate("I2", "D1") is True
    p = params(items={"I1": {"warn_immediate": True}})
    assert p.warns_immediate("I1", None) is True


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"due_soon_days": -1},
        {"due_soon_min_days": -1},
        {"due_soon_ratio": -0.1},
        {"due_soon_ratio": 1.5},
        {"overrides": {"items": {"I1": {"due_soon_days": -2}}}},
        {"overrides": {"items": {"I1": {"due_soon_min_days": -1}}}},
        {"overrides": {"departments": {"D1": {"due_soon_ratio": -0.5}}}},
        {"overrides": {"departments": {"D1": {"due_soon_ratio": 2}}}},
    ],
)
def test_out_of_range_values_rejected(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RuleParameters.model_validate(data)


@pytest.mark.parametrize(
    ("data", "bad_key"),
    [
        ({"due_soon_dayz": 3}, "due_soon_dayz"),
        ({"grace_minutes": 3}, "grace_minutes"),
        ({"overrides": {"windows": {}}}, "windows"),
        ({"overrides": {"items": {"I1": {"threshold": 2}}}}, "threshold"),
        ({"overrides": {"departments": {"D1": {"due_soon": 2}}}}, "due_soon"),
    ],
)
def test_unknown_keys_rejected(data: dict[str, Any], bad_key: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        RuleParameters.model_validate(data)
    errors = excinfo.value.errors()
    assert any(e["type"] == "extra_forbidden" for e in errors)
    assert any(bad_key in e["loc"] for e in errors)


def test_override_model_directly() -> None:
    assert OverdueOverride().due_soon_days is None
    with pytest.raises(ValidationError):
        OverdueOverride(due_soon_days=-1)
    with pytest.raises(ValidationError):
        OverdueOverride.model_validate({"bogus": 1})
    with pytest.raises(ValidationError):
        Overrides.model_validate({"items": {}, "centers": {}})


def test_parameters_are_frozen() -> None:
    p = RuleParameters()
    with pytest.raises(ValidationError):
        p.due_soon_days = 3  # type: ignore[misc]
    o = OverdueOverride(due_soon_days=1)
    with pytest.raises(ValidationError):
        o.due_soon_days = 2  # type: ignore[misc]


def test_valid_boundaries_accepted() -> None:
    p = params(
        due_soon_ratio=0.0,
        due_soon_min_days=0,
        due_soon_days=0,
        items={"I1": {"due_soon_ratio": 1.0, "due_soon_min_days": 0}},
        departments={"D1": {"due_soon_days": 0, "warn_immediate": False}},
    )
    # Item ratio 1.0 of 7 -> 7.
    assert p.due_soon_threshold("I1", "D1", 7) == 7


# -- the other families' sections: offsystem, fees, evaluation -------------------------

# The exact shape of the new keys of the configuration's rules: section.
FULL_RULES_YAML = """
due_soon_ratio: 0.2
overrides:
  departments:
    BDC: {due_soon_days: 2}
offsystem:
  consultation_services: [ZX01, ZX02]
  ticket_grace_minutes: 30
  payment_grace_working_days: 3
  backfill_hours: 24
  instant_conclusion_seconds: 60
  burst_min_cases: 5
  burst_span_minutes: 10
  burst_min_days: 2
  double_acceptance: true
  overrides:
    items:
      330100-004: {ticket_grace_minutes: 60, double_acceptance: false}
    departments:
      BDC: {backfill_hours: 48, instant_conclusion_seconds: 0}
fees:
  designated_accounts:
    HZ01: ["3301 0400 0000 0001", "33010400000000002"]
    "*": ["3301 0400 9999 0000"]
  grace_working_days: 3
  payable_at: acceptance
  flag_below_standard: true
  overrides:
    items:
      330100-004: {payable_at: conclusion}
    departments:
      BDC: {grace_working_days: 5, flag_below_standard: false}
evaluation:
  followup_working_days: 15
  overrides:
    departments:
      GA: {followup_working_days: 10}
"""


def test_family_defaults_need_no_configuration() -> None:
    p = RuleParameters()
    off = p.offsystem
    assert off.consultation_services == []
    assert off.ticket_grace("I1", "D1") == dt.timedelta(minutes=30)
    assert off.payment_grace_working_days == 3
    assert off.backfill_threshold("I1", "D1") == dt.timedelta(hours=24)
    assert off.instant_conclusion("I1", None) == dt.timedelta(seconds=60)
    assert (off.burst_min_cases, off.burst_span_minutes, off.burst_min_days) == (5, 10, 2)
    assert off.checks_double_acceptance("I1", "D1") is True
    fees = p.fees
    assert fees.designated_accounts == {}
    assert fees.accounts_configured is False
    assert fees.is_designated("any account", "CTR") is True
    assert fees.grace("I1", "D1") == 3
    assert fees.payable("I1", "D1") is FeePayableAt.ACCEPTANCE
    assert fees.flags_below_standard("I1", "D1") is True
    assert p.evaluation.followup_days(None, None) == 15


def test_full_rules_section_parses() -> None:
    p = RuleParameters.model_validate(yaml.safe_load(FULL_RULES_YAML))
    off = p.offsystem
    assert off.consultation_services == ["ZX01", "ZX02"]
    assert off.ticket_grace("330100-004", "BDC") == dt.timedelta(minutes=60)
    assert off.ticket_grace("330100-001", "BDC") == dt.timedelta(minutes=30)
    assert off.backfill_threshold("330100-004", "BDC") == dt.timedelta(hours=48)
    assert off.instant_conclusion("330100-004", "BDC") == dt.timedelta(0)
    assert off.checks_double_acceptance("330100-004", "SCJ") is False
    assert off.checks_double_acceptance("330100-001", "SCJ") is True
    fees = p.fees
    assert fees.payable("330100-004", "BDC") is FeePayableAt.CONCLUSION
    assert fees.payable("330100-001", "BDC") is FeePayableAt.ACCEPTANCE
    assert fees.grace("330100-004", "BDC") == 5
    assert fees.grace("330100-004", "SCJ") == 3
    assert fees.flags_below_standard("330100-001", "BDC") is False
    assert p.evaluation.followup_days(None, "GA") == 10
    assert p.evaluation.followup_days(None, "SCJ") == 15
    # The overdue family's values are untouched by the new sections.
    assert p.due_soon_threshold("X", "BDC", 10) == 2


def test_family_overrides_item_then_department_then_global() -> None:
    p = RuleParameters.model_validate(
        {
            "offsystem": {
                "ticket_grace_minutes": 45,
                "overrides": {
                    "items": {"I1": {"ticket_grace_minutes": 5}},
                    "departments": {"D1": {"ticket_grace_minutes": 15}},
                },
            },
            "evaluation": {
                "overrides": {
                    "items": {"I1": {"followup_working_days": 0}},
                    "departments": {"D1": {"followup_working_days": 7}},
                }
            },
        }
    )
    off = p.offsystem
    assert off.ticket_grace("I1", "D1") == dt.timedelta(minutes=5)
    assert off.ticket_grace("I2", "D1") == dt.timedelta(minutes=15)
    assert off.ticket_grace("I2", "D2") == dt.timedelta(minutes=45)
    assert off.ticket_grace(None, None) == dt.timedelta(minutes=45)
    assert off.ticket_grace(None, "D1") == dt.timedelta(minutes=15)
    # 0 is a value, not "unset".
    assert p.evaluation.followup_days("I1", "D1") == 0
    assert p.evaluation.followup_days("I2", "D1") == 7
    assert p.evaluation.followup_days("I2", None) == 15


def test_places_hold_each_item_and_departments_values_as_resolved() -> None:
    """``places[(item, department)]`` is what the family's methods resolve there, looked
    up once per place; a copy with other values has its own, and what was looked up
    does not make two equal parameter sets differ."""
    data: dict[str, Any] = {
        "offsystem": {
            "backfill_hours": 12,
            "overrides": {
                "items": {"I1": {"ticket_grace_minutes": 5, "instant_conclusion_seconds": 0}},
                "departments": {"D1": {"backfill_hours": 2}},
            },
        },
        "fees": {
            "overrides": {
                "items": {"I1": {"grace_working_days": 1}},
                "departments": {"D1": {"payable_at": "conclusion", "flag_below_standard": False}},
            }
        },
    }
    p = RuleParameters.model_validate(data)
    off, fees = p.offsystem, p.fees
    for item, department in [("I1", "D1"), ("I1", None), ("I2", "D1"), (None, None)]:
        assert off.places[(item, department)] == OffsystemPlace(
            off.ticket_grace(item, department),
            off.backfill_threshold(item, department),
            off.instant_conclusion(item, department),
        )
        assert fees.places[(item, department)] == FeePlace(
            fees.grace(item, department),
            fees.payable(item, department),
            fees.flags_below_standard(item, department),
        )
    assert off.places[("I1", "D1")] == (
        dt.timedelta(minutes=5),
        dt.timedelta(hours=2),
        dt.timedelta(0),
    )
    assert fees.places[("I2", "D1")] == (3, FeePayableAt.CONCLUSION, False)
    assert off.places[("I1", "D1")] is off.places[("I1", "D1")]  # resolved once
    assert len(off.places) == 4
    copy = off.model_copy(update={"backfill_hours": 48})
    assert copy.places[("I2", None)].backfill_threshold == dt.timedelta(hours=48)
    assert off.places[("I2", None)].backfill_threshold == dt.timedelta(hours=12)
    assert RuleParameters.model_validate(data) == p


def test_designated_accounts_per_center_and_for_all() -> None:
    fees = RuleParameters.model_validate(
        {
            "fees": {
                "designated_accounts": {
                    "HZ01": ["3301 0400 0001"],
                    "HZ02": ["3301 0400 0002", "3301 0400 0003"],
                    "HZ03": ["3301 0400 0003"],  # shared by two centers
                    "*": ["9999"],
                }
            }
        }
    ).fees
    assert fees.accounts_configured is True
    assert fees.is_designated("330104000001", "HZ01") is True  # spaces do not matter
    assert fees.is_designated("3301 0400 0001", "HZ02") is False  # another center's
    assert fees.is_designated("3301 0400 0001", "HZ09") is False
    assert fees.is_designated("9999", "HZ09") is True  # "*" serves every center
    assert fees.is_designated("3301 0400 0002", None) is True  # some center's
    assert fees.is_designated("1234", None) is False
    assert fees.center_of_account("3301 0400 0002") == "HZ02"
    assert fees.center_of_account("3301 0400 0003") is None  # ambiguous
    assert fees.center_of_account("9999") is None
    assert normalise_account(" 6222\t0001 ") == "62220001"


@pytest.mark.parametrize(
    "data",
    [
        {"offsystem": {"ticket_grace_minutes": -1}},
        {"offsystem": {"payment_grace_working_days": -1}},
        {"offsystem": {"burst_min_cases": 1}},
        {"offsystem": {"burst_min_days": 0}},
        {"offsystem": {"overrides": {"items": {"I1": {"backfill_hours": -3}}}}},
        {"offsystem": {"consultation_services": [""]}},
        {"fees": {"grace_working_days": -1}},
        {"fees": {"payable_at": "whenever"}},
        {"fees": {"designated_accounts": {"HZ01": ["  "]}}},
        {"fees": {"designated_accounts": {"HZ01": "6222 0001"}}},
        {"fees": {"overrides": {"departments": {"D1": {"payable_at": "later"}}}}},
        {"evaluation": {"followup_working_days": -15}},
        {"evaluation": {"followup_working_days": 1.5}},
    ],
)
def test_family_out_of_range_values_rejected(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RuleParameters.model_validate(data)


@pytest.mark.parametrize(
    ("data", "bad_key"),
    [
        ({"offsystem": {"grace_minutes": 3}}, "grace_minutes"),
        ({"offsystem": {"overrides": {"windows": {}}}}, "windows"),
        (
            {"offsystem": {"overrides": {"items": {"I1": {"burst_min_cases": 3}}}}},
            "burst_min_cases",
        ),
        ({"fees": {"accounts": {}}}, "accounts"),
        (
            {"fees": {"overrides": {"items": {"I1": {"designated_accounts": {}}}}}},
            "designated_accounts",
        ),
        ({"evaluation": {"followup_days": 15}}, "followup_days"),
        ({"consultation_services": ["ZX01"]}, "consultation_services"),  # lives in offsystem
        ({"fee": {}}, "fee"),
    ],
)
def test_family_unknown_keys_rejected(data: dict[str, Any], bad_key: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        RuleParameters.model_validate(data)
    errors = excinfo.value.errors()
    assert any(e["type"] == "extra_forbidden" for e in errors)
    assert any(bad_key in e["loc"] for e in errors)


def test_family_parameters_are_frozen() -> None:
    p = RuleParameters()
    with pytest.raises(ValidationError):
        p.offsystem.ticket_grace_minutes = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        p.fees.grace_working_days = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        p.evaluation.followup_working_days = 5  # type: ignore[misc]
