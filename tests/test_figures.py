"""Hall figures from a small hand-built hall: counts by place and month-to-date KPIs."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.calendar import WorkingCalendar
from monitor.deadlines import DeadlinePolicy
from monitor.figures import FigureBook, MonthFigures, compute_figures
from monitor.model import (
    Case,
    CaseResult,
    Evaluation,
    Finding,
    Item,
    ItemKind,
    Severity,
    Snapshot,
    Suspension,
)
from tests.hall_time import cal
from tests.test_engine import ITEMS as ENGINE_ITEMS
from tests.test_engine import cases

SH = ZoneInfo("Asia/Shanghai")
POLICY = DeadlinePolicy()
AT = dt.datetime(2026, 11, 10, 10, 0, tzinfo=SH)


def t(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SH)


ITEMS = {
    "I1": Item(code="I1", name="食品经营许可", statutory_limit_days=20, promised_limit_days=10),
    "I2": Item(
        code="I2",
        name="居住证签注",
        kind=ItemKind.IMMEDIATE,
        statutory_limit_days=0,
        promised_limit_days=0,
    ),
}


def case(
    case_id: str,
    accepted: dt.datetime,
    concluded: dt.datetime | None = None,
    result: CaseResult | None = None,
    *,
    item: str = "I1",
    center: str = "HZ01",
    department: str = "SCJG",
    window: str = "W1",
    **changes: Any,
) -> Case:
    if concluded is not None and result is None and "no_result" not in changes:
        result = CaseResult.APPROVED
    changes.pop("no_result", None)
    return Case(
        id=case_id,
        item=item,
        center=center,
        department=department,
        window=window,
        accepted_at=accepted,
        concluded_at=concluded,
        result=result,
        **changes,
    )


CASES = [
    # November by Beijing time although 2026-10-31 16:30 UTC.
    case("C1", t(11, 1, 0, 30)),
    # October: 23:30 on Oct 31 in Beijing (15:30 UTC); decided in November, late.
    case("C2", t(10, 31, 23, 30), t(11, 3)),
    case("C3", t(11, 2), t(11, 2, 15), item="I2", fee_due_fen=12345),  # 即办件, on time
    case("C4", t(11, 3), t(11, 4), CaseResult.WITHDRAWN, department="GA"),
    case("C5", t(11, 4), t(11, 4, 11), CaseResult.REFUSED, department="GA"),
    case("C6", t(10, 10), t(10, 30), department="GA"),  # decided last month
    # Open, suspended since Nov 5 (still running), overdue since Oct 10.
    case("C7", t(9, 1), suspensions=(Suspension(seq=1, kind="专家评审", started_at=t(11, 5)),)),
    # Open; its suspension lies in the future of AT, so it is not suspended yet.
    case("C8", t(11, 5), suspensions=(Suspension(seq=1, kind="补正", started_at=t(11, 20)),)),
    case("C9", t(11, 6), t(11, 9), CaseResult.DENIED, center="HZ02", department="GA"),
    case("C10", t(11, 6), t(11, 7), no_result=True, fee_due_fen=1),  # concluded, no result
    case("C11", t(10, 20), t(11, 1, 0, 10)),  # decided Nov 1 00:10 Beijing = Oct 31 UTC
    case("C12", t(10, 15), window="W2"),  # open, overdue
    # Concluded after its suspension ended: counted neither open nor suspended.
    case(
        "C13",
        t(10, 1),
        t(10, 20),
        department="GA",
        suspensions=(Suspension(seq=1, kind="补正", started_at=t(10, 5), ended_at=t(10, 8)),),
    ),
]


def evaluation(rating_id: str, rated: dt.datetime, level: int, center: str = "HZ01") -> Evaluation:
    return Evaluation(id=rating_id, center=center, rated_at=rated, level=level)


EVALUATIONS = [
    evaluation("E1", t(11, 2), 1),
    evaluation("E2", t(11, 3), 2),
    evaluation("E3", t(11, 4), 3),
    evaluation("E4", t(11, 5), 5),
    evaluation("E5", t(11, 1, 0, 1), 4),  # Nov 1 in Beijing, Oct 31 in UTC: November
    evaluation("E6", t(10, 31, 23, 59), 1),  # October
    evaluation("E7", t(11, 11), 1),  # after AT: not yet
    evaluation("E8", t(11, 9), 2, center="HZ02"),
]

SNAPSHOT = Snapshot(
    items=ITEMS,
    cases={c.id: c for c in CASES},
    evaluations={e.id: e for e in EVALUATIONS},
)


def finding(rule: str, case_id: str | None, **changes: Any) -> Finding:
    data: dict[str, Any] = {
        "rule": rule,
        "severity": Severity.YELLOW if rule == "case.due_soon" else Severity.RED,
        "subject_kind": "case",
        "subject_id": case_id or "X",
        "case_id": case_id,
        "center": "HZ01",
        "department": "SCJG",
        "window": "W1",
        "item": "I1",
    }
    data.update(changes)
    return Finding(**data)


FINDINGS = [
    finding("case.overdue", "C7", due_at=dt.datetime(2026, 10, 10, 23, 59, 59, tzinfo=SH)),
    finding(
        "case.overdue",
        "C12",
        window="W2",
        due_at=dt.datetime(2026, 11, 2, 23, 59, 59, tzinfo=SH),
    ),
    finding("case.due_soon", "C1"),
    finding("case.concluded_late", "C2"),
    finding("case.statutory_overdue", "C2"),
    finding("fee.not_in_designated_account", "C3"),
    finding("fee.not_in_designated_account", "C10"),
    finding("fee.not_in_designated_account", "GONE"),  # case no longer known
    finding(
        "offsystem.ticket_without_case",
        None,
        subject_kind="ticket",
        department="GA",
        window=None,
        item=None,
        calendar_confirmed=False,
    ),
]


@pytest.fixture(scope="module")
def figures():
    return compute_figures(SNAPSHOT, FINDINGS, AT, POLICY)


def test_open_and_suspended_cases_by_place(figures) -> None:
    assert figures.at == AT
    assert figures.cases_open == {("HZ01", "SCJG"): 4}  # C1, C7, C8, C12
    assert figures.cases_suspended == {("HZ01", "SCJG"): 1}  # C7 only


def test_cards_by_window(figures) -> None:
    assert figures.due_soon == {("HZ01", "SCJG", "W1"): 1}
    assert figures.overdue == {("HZ01", "SCJG", "W1"): 1, ("HZ01", "SCJG", "W2"): 1}


def test_oldest_overdue_age(figures) -> None:
    # Oct 10 23:59:59 -> Nov 10 10:00:00 = 30 days + 10 h 0 min 1 s.
    assert figures.oldest_overdue_seconds == {("HZ01", "SCJG"): 30 * 86400 + 36001}


def test_findings_open_by_rule_severity_and_place(figures) -> None:
    assert figures.findings_open == {
        ("case.overdue", "red", "HZ01", "SCJG"): 2,
        ("case.due_soon", "yellow", "HZ01", "SCJG"): 1,
        ("case.concluded_late", "red", "HZ01", "SCJG"): 1,
        ("case.statutory_overdue", "red", "HZ01", "SCJG"): 1,
        ("fee.not_in_designated_account", "red", "HZ01", "SCJG"): 3,
        ("offsystem.ticket_without_case", "red", "HZ01", "GA"): 1,
    }
    assert figures.unconfirmed_deadlines == 1


def test_unreconciled_fee_in_fen(figures) -> None:
    assert figures.unreconciled_fee_fen == {("HZ01", "SCJG"): 12346}


def test_concluded_by_timeliness_excludes_withdrawn_and_refused(figures) -> None:
    assert figures.concluded == {
        ("HZ01", "SCJG", "late"): 1,  # C2
        ("HZ01", "SCJG", "on_time"): 3,  # C3, C10, C11
        ("HZ01", "GA", "on_time"): 2,  # C6, C13 (C4 withdrawn, C5 refused)
        ("HZ02", "GA", "on_time"): 1,  # C9 denied: a decision
    }


def test_month_kpis_of_the_first_center(figures) -> None:
    month = figures.month["HZ01"]
    # Accepted in November (Beijing): C1, C3, C4, C5, C8, C10.
    assert month.accepted == 6
    assert month.accepted_concluded == 4  # C3, C4, C5, C10
    assert month.immediate == 1  # C3
    # Decided in November: C2 (late), C3, C10, C11; C4/C5 are no decision, C6 was October.
    assert month.decided == 4
    assert month.decided_on_time == 3
    # November ratings: E1 1, E2 2, E3 3, E4 5, E5 4.
    assert month.ratings == 5
    assert month.satisfied == 2
    assert month.conclusion_ratio == pytest.approx(4 / 6)
    assert month.on_time_ratio == 0.75
    assert month.immediate_ratio == pytest.approx(1 / 6)
    assert month.satisfaction_ratio == 0.4


def test_on_site_and_speedup_kpis_count_working_days() -> None:
    figures = compute_figures(SNAPSHOT, FINDINGS, AT, POLICY, WorkingCalendar(2024, 2028))
    month = figures.month["HZ01"]
    # Accepted in November and decided the same day: C3 only (C5 was refused that day).
    assert (month.on_site, month.accepted) == (1, 6)
    assert month.on_site_ratio == pytest.approx(1 / 6)
    # Decided in November with a statutory limit (I1: 20 days, promised 10): C2, C10, C11
    # (C3 is an immediate item, statutory 0). Working days used: C2 Sat Oct 31 -> Tue
    # Nov 3: Nov 2, 3 = 2; C10 Fri Nov 6 -> Sat Nov 7: 0; C11 Tue Oct 20 -> Sun Nov 1:
    # Oct 21-23, 26-30 = 8.
    assert (month.speedup_cases, month.statutory_days, month.promised_days) == (3, 60, 30)
    assert month.used_days == 10
    assert month.promised_speedup_ratio == 0.5
    assert month.actual_speedup_ratio == pytest.approx(50 / 60)


def test_speedup_needs_the_calendar(figures) -> None:
    month = figures.month["HZ01"]
    assert month.speedup_cases == 0
    assert month.promised_speedup_ratio is None and month.actual_speedup_ratio is None
    assert month.on_site == 1  # counted in calendar days: no working-day calendar needed


def test_month_kpis_of_the_second_center(figures) -> None:
    month = figures.month["HZ02"]
    assert (month.accepted, month.accepted_concluded, month.decided, month.decided_on_time) == (
        1,
        1,
        1,
        1,
    )
    assert month.satisfaction_ratio == 1.0
    assert month.immediate_ratio == 0.0


def test_month_starts_at_midnight_beijing_time() -> None:
    at = dt.datetime(2026, 11, 1, 0, 45, tzinfo=SH)  # still October 31 in UTC
    figures = compute_figures(SNAPSHOT, [], at, POLICY)
    month = figures.month["HZ01"]
    assert month.accepted == 1  # C1 at 00:30; C2 at 23:30 the day before is October
    assert month.decided == 1  # C11 at 00:10
    assert month.ratings == 1  # E5 at 00:01; E6 at 23:59 the day before is October
    assert month.satisfaction_ratio == 0.0


def test_statutory_overdue_alone_makes_a_decision_late() -> None:
    figures = compute_figures(SNAPSHOT, [finding("case.statutory_overdue", "C11")], AT, POLICY)
    month = figures.month["HZ01"]
    assert (month.decided, month.decided_on_time) == (4, 3)
    assert figures.concluded[("HZ01", "SCJG", "late")] == 1


def test_no_findings_means_everything_on_time() -> None:
    figures = compute_figures(SNAPSHOT, [], AT, POLICY)
    assert figures.month["HZ01"].on_time_ratio == 1.0
    assert not figures.overdue and not figures.findings_open
    assert not figures.oldest_overdue_seconds and not figures.unreconciled_fee_fen


def test_empty_months_have_no_ratios() -> None:
    empty = MonthFigures()
    assert empty.conclusion_ratio is None
    assert empty.on_time_ratio is None
    assert empty.immediate_ratio is None
    assert empty.satisfaction_ratio is None
    assert empty.on_site_ratio is None
    assert empty.promised_speedup_ratio is None and empty.actual_speedup_ratio is None
    figures = compute_figures(Snapshot(), [], AT, POLICY)
    assert figures.month == {}


def test_missing_place_labels_become_empty_strings() -> None:
    snapshot = Snapshot(cases={"X1": Case(id="X1", item="I1", accepted_at=t(11, 9))})
    figures = compute_figures(snapshot, [finding("case.due_soon", "X1", center=None)], AT, POLICY)
    assert figures.cases_open == {("", ""): 1}
    assert figures.due_soon == {("", "SCJG", "W1"): 1}
    assert figures.month[""].accepted == 1


# --- the incremental book equals the reference at every instant ---------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(0, 10))
def test_the_figure_book_equals_compute_figures_as_time_moves_and_cases_change(
    data: st.DataObject, size: int
) -> None:
    snapshot_cases = {}
    for n in range(size):
        found, steps, suspensions = data.draw(cases(n))
        snapshot_cases[found.id] = found.model_copy(
            update={"steps": tuple(steps), "suspensions": tuple(suspensions)}
        )
    ratings = {n: data.draw(_ratings(n)) for n in range(data.draw(st.integers(0, 4)))}
    book = FigureBook(POLICY)
    calendar = data.draw(st.sampled_from([None, cal()]))
    changed: set[str] | None = None
    rated: set[str] | None = None
    base = data.draw(st.integers(0, 50 * 86400))  # several instants within two days
    instants = sorted(
        base + offset
        for offset in data.draw(st.lists(st.integers(0, 2 * 86400), min_size=1, max_size=6))
    )
    for offset in instants:
        at = dt.datetime(2026, 9, 1, tzinfo=SH) + dt.timedelta(seconds=offset)
        snapshot = Snapshot(
            items=ENGINE_ITEMS,
            cases=dict(snapshot_cases),
            evaluations={r.id: r for r in ratings.values()},
        )
        late = [
            finding(rule, case_id)
            for case_id in data.draw(st.sets(st.sampled_from([*snapshot_cases, "C99"])))
            for rule in (data.draw(st.sampled_from(["case.concluded_late", "case.due_soon"])),)
        ]
        assert book.figures(snapshot, changed, late, at, calendar, rated) == compute_figures(
            snapshot, late, at, POLICY, calendar
        )
        changed, rated = set(), set()
        for _ in range(data.draw(st.integers(0, 2))):  # ratings given, corrected, deleted
            number = data.draw(st.integers(0, 4))
            if data.draw(st.booleans()):
                ratings.pop(number, None)
            else:
                ratings[number] = data.draw(_ratings(number))
            rated.add(f"R{number}")
        for _ in range(data.draw(st.integers(0, 2))):
            number = data.draw(st.integers(0, max(size - 1, 0)))
            if data.draw(st.booleans()):
                snapshot_cases.pop(f"C{number}", None)
            else:
                found, _, suspensions = data.draw(cases(number))
                snapshot_cases[found.id] = found.model_copy(
                    update={"suspensions": tuple(suspensions)}
                )
            changed.add(f"C{number}")


@st.composite
def _ratings(draw: st.DrawFn, number: int) -> Evaluation:
    # Rated in August, September or October (the months the instants above fall in).
    return Evaluation(
        id=f"R{number}",
        center=draw(st.sampled_from([None, "HZ", "NB"])),
        rated_at=dt.datetime(2026, 8, 25, tzinfo=SH)
        + dt.timedelta(hours=draw(st.integers(0, 24 * 70))),
        level=draw(st.integers(1, 5)),
    )


def test_the_figure_book_counts_ratings_given_corrected_and_deleted_within_a_day() -> None:
    def rating(number: int, level: int, center: str | None = "HZ", day: int = 10) -> Evaluation:
        return Evaluation(
            id=f"R{number}",
            center=center,
            rated_at=dt.datetime(2026, 9, day, 9, tzinfo=SH),
            level=level,
        )

    book = FigureBook(POLICY)
    ratings = {
        r.id: r for r in (rating(1, 1), rating(2, 5), rating(3, 2, "NB"), rating(4, 1, day=1))
    }
    steps: list[tuple[dict[str, Evaluation], set[str] | None]] = [
        (dict(ratings), None),
        ({**ratings, "R1": rating(1, 4)}, {"R1"}),  # corrected: no longer satisfied
        ({k: v for k, v in ratings.items() if k != "R3"}, {"R1", "R3"}),  # R3 deleted, R1 back
        ({**ratings, "R5": rating(5, 2, None), "R6": rating(6, 1, day=20)}, {"R3", "R5", "R6"}),
        ({"R2": ratings["R2"]}, {"R1", "R3", "R4", "R5", "R6"}),
    ]
    for hour, (present, rated) in enumerate(steps, start=9):
        at = dt.datetime(2026, 9, 15, hour, tzinfo=SH)
        snapshot = Snapshot(items=ENGINE_ITEMS, evaluations=present)
        figures = book.figures(snapshot, set(), [], at, None, rated)
        assert figures == compute_figures(snapshot, [], at, POLICY), hour
    assert figures.month == {"HZ": MonthFigures(ratings=1)}  # R2 alone, not satisfied


def test_the_figure_book_sees_a_suspension_start_later_the_same_day() -> None:
    suspended = Case(
        id="S1",
        item="I3",
        center="HZ01",
        department="SCJG",
        accepted_at=dt.datetime(2026, 9, 14, 9, tzinfo=SH),
        suspensions=(
            Suspension(seq=1, kind="补正", started_at=dt.datetime(2026, 9, 15, 14, tzinfo=SH)),
        ),
    )
    snapshot = Snapshot(items=ENGINE_ITEMS, cases={"S1": suspended})
    book = FigureBook(POLICY)
    morning = dt.datetime(2026, 9, 15, 10, tzinfo=SH)
    afternoon = dt.datetime(2026, 9, 15, 15, tzinfo=SH)
    assert book.figures(snapshot, None, [], morning).cases_suspended == {}
    figures = book.figures(snapshot, set(), [], afternoon)
    assert figures.cases_suspended == {("HZ01", "SCJG"): 1}
    assert figures == compute_figures(snapshot, [], afternoon, POLICY)


# --- the finding tally, kept by difference, equals the findings counted again -------------

TALLY_RULES = [
    "case.overdue",
    "case.due_soon",
    "case.concluded_late",
    "case.statutory_overdue",
    "fee.not_in_designated_account",
    "offsystem.ticket_without_case",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_finding_tally_equals_the_findings_counted_again(data: st.DataObject) -> None:
    snapshot = SNAPSHOT
    book = FigureBook(POLICY)
    open_findings: dict[str, Finding] = {}
    book.figures(snapshot, None, [], AT)
    for step in range(data.draw(st.integers(1, 8))):
        for _ in range(data.draw(st.integers(0, 6))):
            case_id = data.draw(st.sampled_from([*snapshot.cases, "C99", None]))
            rule = data.draw(st.sampled_from(TALLY_RULES))
            made = finding(
                rule,
                case_id,
                subject_id=f"{case_id}",
                department=data.draw(st.sampled_from(["SCJG", "GA"])),
                window=data.draw(st.sampled_from(["W1", None])),
                due_at=data.draw(
                    st.sampled_from([None, AT - dt.timedelta(days=2), AT + dt.timedelta(hours=1)])
                ),
                calendar_confirmed=data.draw(st.booleans()),
            )
            if data.draw(st.booleans()):
                open_findings[made.fingerprint] = made
                book.tally.set(made.fingerprint, made)
            else:
                open_findings.pop(made.fingerprint, None)
                book.tally.set(made.fingerprint, None)
        at = AT + dt.timedelta(minutes=step)
        assert book.figures(snapshot, set(), None, at) == compute_figures(
            snapshot, list(open_findings.values()), at, POLICY
        )
