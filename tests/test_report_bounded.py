"""The bulletin read period by period equals the bulletin read from the whole store.

``jiancha report`` reads only what its month (and the previous one) needs
(:func:`monitor.monthly.load_inputs` with periods: SQL bounds on the SLA rows and the
ledger). Here random stores — cases judged several times, concluded late, recorded after
the month, cards opened, resolved and reopened across months, several centers — are
reported month by month both ways, and every figure, row and note must agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterable
from pathlib import Path

import pytest

from monitor.deadlines import DeadlinePolicy
from monitor.kpis import MonthFigures
from monitor.model import Evaluation, Finding, Severity
from monitor.monthly import (
    FEE_RULES,
    OVERDUE_RULES,
    DayPoint,
    MonthReport,
    Period,
    PlaceRow,
    ReportInputs,
    _active,
    _new,
    _open_at,
    _rank,
    _red_cards_by_case,
    build_report,
    cases_at,
    concluded_by,
    load_inputs,
    month_period,
    open_intervals,
    previous_month,
)
from monitor.sla import CaseSla, judge
from monitor.store import LedgerChanges, LedgerEntry, StateStore
from tests.hall_time import POLICY, cal, t
from tests.test_sla import ITEM, case

NOW = t(2026, 12, 2, 9)
MONTHS = ("2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12")
CENTERS = (None, "HZ", "NB")
YELLOW = ("case.due_soon", "offsystem.backfilled_case")
RULES = (*OVERDUE_RULES, *FEE_RULES, *YELLOW)
TEMPLATE = judge(case(), ITEM, cal(), POLICY, t(2026, 10, 9, 17))
FIRST = t(2026, 6, 20)  # the first instant a random store knows of


def month_figures(
    cases: Iterable[CaseSla],
    ratings: Iterable[Evaluation],
    period: Period,
    policy: DeadlinePolicy,
) -> MonthFigures:
    """The plain definition :func:`monitor.monthly.figures_by` is held to: the KPIs'
    counts over the cases (already chosen for the period) and ratings given."""
    month = MonthFigures()
    for row in cases:
        concluded = concluded_by(row, period.end)
        if period.contains(row.accepted_at):
            on_site = (
                row.decided
                and concluded is not None
                and policy.local_date(concluded) == policy.local_date(row.accepted_at)
            )
            month.add_accepted(
                concluded=concluded is not None,
                immediate=row.item_kind == "immediate",
                on_site=on_site,
            )
        if row.decided and period.contains(concluded):
            month.add_decided(
                on_time=bool(row.on_time),
                statutory_days=row.statutory_limit_days,
                promised_days=row.promised_limit_days,
                used_days=row.used_working_days,
            )
    for rating in ratings:
        if period.contains(rating.rated_at):
            month.add_rating(rating.level)
    return month


def instant(rng: random.Random, after: dt.datetime, days: float = 40) -> dt.datetime:
    return after + dt.timedelta(seconds=rng.randrange(1, int(days * 86_400)))


def random_rows(rng: random.Random, cases: int) -> list[CaseSla]:
    """Each case judged one to three times, its conclusion sometimes only known later."""
    rows = []
    for n in range(cases):
        accepted = instant(rng, FIRST, days=160)
        concluded = instant(rng, accepted, days=50) if rng.random() < 0.8 else None
        if concluded is not None and rng.random() < 0.1:  # exactly at a day's close
            concluded = POLICY.end_of(POLICY.local_date(concluded))
        if rng.random() < 0.05:
            accepted = POLICY.end_of(POLICY.local_date(accepted))
        if rng.random() < 0.03:  # bad source data: concluded before its acceptance
            concluded = accepted - dt.timedelta(days=rng.randint(1, 40))
        row = dataclasses.replace(
            TEMPLATE,
            case_id=f"C{n:04d}",
            center=rng.choice(CENTERS[1:]),
            department=rng.choice(("SCJG", "GTZY", None)),
            window=rng.choice(("W1", "W2", "W3", None)),
            item_kind=rng.choice(("promised", "immediate")),
            statutory_limit_days=rng.choice((0, 10, 20)),
            promised_limit_days=rng.choice((0, 3, 5)),
            accepted_at=accepted,
            promised_due_at=instant(rng, accepted, days=15),
            calendar_version=rng.choice((cal().version, "unknown-calendar")),
        )
        recorded = instant(rng, accepted, days=3)
        for _ in range(rng.randint(1, 3)):
            known = concluded if concluded is not None and concluded <= recorded else None
            if known is None and concluded is not None and rng.random() < 0.2:
                known = concluded  # a conclusion first seen by a later row
            decided = known is not None and rng.random() < 0.85
            rows.append(
                dataclasses.replace(
                    row,
                    recorded_at=recorded,
                    concluded_at=known,
                    decided=decided,
                    used_working_days=rng.randint(0, 25) if known else None,
                    working_days_late=rng.randint(-5, 10) if known else None,
                    on_time=rng.random() < 0.7 if decided else None,
                )
            )
            recorded = instant(rng, recorded, days=30)
    return sorted(rows, key=lambda r: r.recorded_at)


def random_ledger(rng: random.Random, findings: int, cases: int) -> LedgerChanges:
    """Findings of cases (some without SLA rows) and payments, opened, resolved and
    reopened; their events appended in time order, as the daemon appends them."""
    changes = LedgerChanges()
    events = []
    for n in range(findings):
        rule = rng.choice(RULES)
        case_id = f"C{rng.randrange(cases + cases // 10):04d}"
        payment = rule == "offsystem.payment_without_case"
        finding = Finding(
            rule=rule,
            severity=Severity.YELLOW if rule in YELLOW else Severity.RED,
            subject_kind="payment" if payment else "case",
            subject_id=f"P{n:06d}" if payment else f"{case_id}#{n}",
            case_id=None if payment else case_id,
            center=rng.choice(CENTERS[1:]),
            department=rng.choice(("SCJG", "GTZY")),
            window=rng.choice(("W1", "W2", "W3")),
            item="I1",
            evidence={"concluded_at": instant(rng, FIRST, days=120).isoformat()},
            calendar_version=cal().version,
        )
        at = instant(rng, FIRST, days=150)
        if rng.random() < 0.1:
            at = POLICY.end_of(POLICY.local_date(at))
        entry = LedgerEntry(finding, "open", at, at, None, frozenset({"approval"}))
        changes.touch(entry)
        name = "opened"
        for _ in range(rng.randint(1, 4)):
            events.append((at, entry, name))
            at = instant(rng, at, days=25)
            name = "resolved" if name in ("opened", "reopened") else "reopened"
    for at, entry, name in sorted(events, key=lambda e: e[0]):
        changes.event(entry, at, name)
    return changes


def reports(store: StateStore, month: str, *, bounded: bool) -> list[MonthReport]:
    period = month_period(month, POLICY, NOW)
    previous = month_period(previous_month(month), POLICY, NOW)
    inputs = load_inputs(store, period=period, previous=previous) if bounded else load_inputs(store)
    return [build_report(inputs, period, previous, POLICY, NOW, center) for center in CENTERS]


def check_bounded_reads(store: StateStore, seed: int) -> None:
    """Fill ``store`` at random and compare the two reads month by month."""
    rng = random.Random(seed)
    store.open()
    try:
        store.record_provenance(cal(), {"seed": seed}, FIRST)
        rows = random_rows(rng, 300)
        store.append_sla(rows)
        store.save_ledger(random_ledger(rng, 400, 300))
        read = set()
        for month in MONTHS:
            plain = reports(store, month, bounded=False)
            assert reports(store, month, bounded=True) == plain, month
            period = month_period(month, POLICY, NOW)
            previous = month_period(previous_month(month), POLICY, NOW)
            read.add(len(load_inputs(store, period=period, previous=previous).sla))
        assert min(read) < len(rows)  # some months did not need every row
        assert any(r.red_cases for r in reports(store, "2026-10", bounded=True))
    finally:
        store.close()


@pytest.mark.parametrize("seed", range(4))
def test_the_bounded_read_gives_the_same_bulletins(seed: int, tmp_path: Path) -> None:
    check_bounded_reads(StateStore(f"sqlite:///{tmp_path / 'state.db'}"), seed)


@pytest.mark.postgres
@pytest.mark.integration
def test_the_bounded_read_on_postgresql_in_a_shard_schema(postgres_url: str) -> None:
    check_bounded_reads(StateStore(postgres_url, "hz01"), 7)


@pytest.mark.mariadb
@pytest.mark.integration
def test_the_bounded_read_on_mariadb(mariadb_url: str) -> None:
    check_bounded_reads(StateStore(mariadb_url), 8)


def test_a_store_without_rows_of_the_month_still_knows_it_watched_before(tmp_path: Path) -> None:
    """A month in which no case was open is not a month the daemon never recorded."""
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.open()
    try:
        early = dataclasses.replace(
            TEMPLATE, accepted_at=t(2026, 6, 1, 10), concluded_at=t(2026, 6, 2, 10)
        )
        store.append_sla([dataclasses.replace(early, recorded_at=t(2026, 6, 2, 17))])
        for bounded in (False, True):
            (whole, here, elsewhere) = reports(store, "2026-10", bounded=bounded)
            assert whole.kpis[0].value == 0 and whole.kpis[0].previous == 0
            assert not whole.notes
            assert here.kpis[0].value == 0
            assert elsewhere.kpis[0].value is None and elsewhere.notes
        assert not load_inputs(
            store,
            period=month_period("2026-10", POLICY, NOW),
            previous=month_period("2026-09", POLICY, NOW),
        ).sla
    finally:
        store.close()


# --- the one-pass counts against their definitions -------------------------------------------


def plain_counts(
    inputs: ReportInputs, month: str, center: str | None
) -> tuple[list[DayPoint], list[PlaceRow], list[PlaceRow], float | None]:
    """The daily trend and the places as first written: every day's instant against every
    case and finding, :func:`month_figures` place by place."""
    period = month_period(month, POLICY, NOW)
    cases = {k: r for k, r in cases_at(inputs.sla, period).items() if center in (None, r.center)}
    ratings = [e for e in inputs.evaluations if center in (None, e.center)]
    spans = open_intervals(inputs.events)
    findings = {
        fp: e
        for fp, e in inputs.findings.items()
        if center in (None, e.finding.center) and fp in spans
    }
    trend = [
        DayPoint(
            day,
            sum(
                1
                for r in cases.values()
                if r.accepted_at <= instant
                and ((c := concluded_by(r, period.end)) is None or c > instant)
            ),
            sum(
                1
                for fp, e in findings.items()
                if e.finding.rule == "case.overdue" and _open_at(spans[fp], instant)
            ),
        )
        for day in period.days(POLICY)
        for instant in [min(POLICY.end_of(day), period.last_instant)]
    ]
    active = {fp: e for fp, e in findings.items() if _active(spans[fp], period)}
    new = {fp for fp in active if _new(spans[fp], period)}
    red_by_case = _red_cards_by_case(active, new, cases, period)

    def places(windows: bool) -> list[PlaceRow]:
        def place(department: str | None, window: str | None) -> tuple[str, str | None]:
            return (department or "—", (window or "—") if windows else None)

        rows = []
        keys = {place(r.department, r.window) for r in cases.values()}
        keys |= {place(r.department, r.window) for r in ratings}
        keys |= {place(e[0].finding.department, e[0].finding.window) for e in red_by_case.values()}
        keys |= {place(active[fp].finding.department, active[fp].finding.window) for fp in new}
        for key in keys:
            figures = month_figures(
                [r for r in cases.values() if place(r.department, r.window) == key],
                [r for r in ratings if place(r.department, r.window) == key],
                period,
                POLICY,
            )
            overdue = sum(
                place(e[0].finding.department, e[0].finding.window) == key
                for e in red_by_case.values()
            )
            cards = [
                active[fp].finding
                for fp in new
                if place(active[fp].finding.department, active[fp].finding.window) == key
            ]
            red = sum(f.severity is Severity.RED for f in cards)
            if figures.accepted or figures.decided or figures.ratings or overdue or cards:
                rows.append(
                    PlaceRow(
                        0,
                        key[0],
                        key[1],
                        figures.accepted,
                        figures.decided,
                        figures.on_time_ratio,
                        overdue,
                        red,
                        len(cards) - red,
                        sum(f.rule in FEE_RULES for f in cards),
                        figures.satisfaction_ratio,
                    )
                )
        return _rank(rows)

    headline = month_figures(cases.values(), ratings, period, POLICY)
    return trend, places(False), places(True), headline.on_time_ratio


def random_ratings(rng: random.Random, count: int) -> list[Evaluation]:
    return [
        Evaluation(
            id=f"E{n:05d}",
            rated_at=instant(rng, FIRST, days=160),
            level=rng.randint(1, 5),
            center=rng.choice(CENTERS[1:]),
            department=rng.choice(("SCJG", "GTZY", None)),
            window=rng.choice(("W1", "W2", "W3", None)),
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("seed", range(3))
def test_one_pass_counts_equal_their_definitions(seed: int, tmp_path: Path) -> None:
    """The trend, the headline and the ranked places counted in one pass equal the
    same figures counted day by day and place by place."""
    rng = random.Random(100 + seed)
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.open()
    try:
        store.record_provenance(cal(), {"seed": seed}, FIRST)
        store.append_sla(random_rows(rng, 300))
        store.save_ledger(random_ledger(rng, 400, 300))
        inputs = dataclasses.replace(load_inputs(store), evaluations=random_ratings(rng, 200))
    finally:
        store.close()
    for month in ("2026-08", "2026-09", "2026-10", "2026-12"):
        period = month_period(month, POLICY, NOW)
        previous = month_period(previous_month(month), POLICY, NOW)
        for center in CENTERS:
            report = build_report(inputs, period, previous, POLICY, NOW, center)
            trend, departments, windows, on_time = plain_counts(inputs, month, center)
            assert report.trend == trend, (month, center)
            assert report.departments == departments, (month, center)
            assert report.windows == windows, (month, center)
            assert {k.key: k.value for k in report.kpis}["on_time_ratio"] == on_time
            assert any(p.overdue for p in report.trend) or month != "2026-10"
