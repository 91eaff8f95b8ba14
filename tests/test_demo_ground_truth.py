"""Recall and precision of ``jiancha scan`` against the simulator's ground truth.

The simulator writes down every violation it injects, with the instant from which its
finding must be visible and until which it must stay (SIM_GROUND_TRUTH). Here a hall is
backfilled and scanned through the command line, as an operator would, and the findings
are compared with that ground truth, both ways.

Measured (seed 2026, two centers, 30 days up to Fri 2026-10-30 20:00): 9 181 cases,
1 136 violations of all 16 kinds injected; 886 findings are due at that instant (the rest
are not due yet — a bad rating still within its 15 working days, a case still within its
promise — or already over, like a slow case's yellow card once it concluded). Found:
886, all of them expected — recall 1.0, precision 1.0 — none on the 8 256 cases
generated clean, and the 8 unreadable case rows rejected as bad_time. At 10:40 on a
working day the 1-day items being handled carry their natural yellow card, and those are
expected too (627 of 627 there).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from monitor.demo.plan import VIOLATION_RULES, Expectation, ViolationRates
from monitor.demo.simulator import SimulationSpec
from tests.demo_hall import SHANGHAI, DemoHall, demo_hall

Key = tuple[str, str, str]


def scan(
    hall: DemoHall, at: dt.datetime, rejects: Counter[str] | None = None
) -> list[dict[str, Any]]:
    """``jiancha scan --format json`` in a subprocess: one finding per line (and the rows it
    rejected, by reason, from its JSON log)."""
    env = {
        **os.environ,
        "JIANCHA_APPLICANT_HASH_KEY": "ground-truth",
        "JIANCHA_LOG_LEVEL": "WARNING",
        "JIANCHA_LOG_FORMAT": "json",
    }
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "scan", "--config", str(hall.config_path),
         "--at", at.isoformat(), "--format", "json"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    if rejects is not None:
        for line in result.stderr.splitlines():
            event = json.loads(line)
            if event["event"] == "row_rejected":
                rejects[event["reason"]] += 1
    return [json.loads(line) for line in result.stdout.splitlines()]


def compare(
    hall: DemoHall, at: dt.datetime, rejects: Counter[str] | None = None
) -> tuple[dict[Key, Expectation], dict[Key, Any]]:
    expected = {
        (e.rule, e.subject_kind, e.subject_id): e
        for e in hall.db.ground_truth()
        if e.visible_at(at)
    }
    found = {(f["rule"], f["subject_kind"], f["subject_id"]): f for f in scan(hall, at, rejects)}
    recall = len(expected.keys() & found.keys()) / len(expected)
    precision = len(expected.keys() & found.keys()) / len(found)
    print(
        f"\n{at.isoformat()}: expected {len(expected)}, found {len(found)}, "
        f"recall {recall:.4f}, precision {precision:.4f}\n"
        f"  by rule: {dict(Counter(k[0] for k in found))}"
    )
    missing = sorted(expected.keys() - found.keys())[:10]
    extra = sorted(found.keys() - expected.keys())[:10]
    assert not missing and not extra, f"missing {missing}, not expected {extra}"
    return expected, found


def test_every_injected_violation_is_found_and_nothing_else(tmp_path: Path) -> None:
    end = dt.datetime(2026, 10, 30, 20, 0, tzinfo=SHANGHAI)  # Friday evening, hall closed
    hall = demo_hall(tmp_path, end, days=30)
    rejects: Counter[str] = Counter()
    expected, found = compare(hall, end, rejects)
    # Each unreadable case row is rejected with its reason, and nothing else is.
    assert rejects == Counter({"bad_time": hall.produced.injected["malformed_row"]})
    assert rejects["bad_time"] > 0
    assert len(found) > 800
    # Every kind of violation was injected and is visible now, each found by its rule.
    pairs = {(e.violation, e.rule) for e in expected.values() if e.injected}
    assert set(VIOLATION_RULES.items()) <= pairs
    # The evening after closing: no case is in the middle of its handling, so no finding
    # at all is natural — every one stands for something the simulator did wrong on purpose.
    assert all(e.injected for e in expected.values())
    injected_cases = {e.case_id for e in hall.db.ground_truth() if e.injected and e.case_id}
    case_findings = [
        f["subject_id"].split("/")[0]
        for f in found.values()
        if f["subject_kind"] in ("case", "step", "suspension")
    ]
    clean_findings = [case for case in case_findings if case not in injected_cases]
    assert clean_findings == []
    assert hall.produced.rows["SL_BJ"] - len(injected_cases) > 5000  # clean cases judged
    # The injected counts the simulator reports agree with the ground truth it wrote.
    assert hall.produced.injected["payment_without_case"] == len(
        {e.subject_id for e in hall.db.ground_truth() if e.violation == "payment_without_case"}
    )
    hall.db.close()


def test_during_opening_hours_natural_yellow_cards_are_expected_too(tmp_path: Path) -> None:
    at = dt.datetime(2026, 11, 24, 10, 40, tzinfo=SHANGHAI)  # a Tuesday morning
    hall = demo_hall(tmp_path, at, days=20, spec=SimulationSpec(seed=5, centers=3))
    expected, _ = compare(hall, at)
    natural = [e for e in expected.values() if not e.injected]
    assert natural and {e.rule for e in natural} == {"case.due_soon"}
    hall.db.close()


def test_a_hall_without_injections_has_no_findings_after_closing(tmp_path: Path) -> None:
    end = dt.datetime(2026, 11, 20, 19, 0, tzinfo=SHANGHAI)
    rates = ViolationRates(**{f.name: 0.0 for f in dataclasses.fields(ViolationRates)})
    hall = demo_hall(tmp_path, end, days=25, spec=SimulationSpec(seed=9, rates=rates))
    assert hall.produced.rows["SL_BJ"] > 5000
    assert scan(hall, end) == []
    hall.db.close()
