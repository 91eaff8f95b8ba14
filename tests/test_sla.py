"""SLA records: a case's judgment as of an instant, and when the recorder appends a new one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.calendar import WorkingCalendar
from monitor.model import Case, CaseResult, Item, ItemKind, Snapshot, Suspension
from monitor.sla import CaseSla, Known, SlaRecorder, facts_digest, judge
from monitor.store import COPY_UPSERT_ROWS, StateStore
from tests.hall_time import POLICY, cal, eod, t
from tests.services import postgres_database
from tests.test_engine import ITEMS as ENGINE_ITEMS
from tests.test_engine import cases as engine_cases

ITEM = Item(code="I1", statutory_limit_days=20, promised_limit_days=5)
NOW_ITEM = Item(code="I0", kind=ItemKind.IMMEDIATE, statutory_limit_days=0, promised_limit_days=0)


def case(**changes: object) -> Case:
    data: dict[str, object] = {
        "id": "C1",
        "item": "I1",
        "center": "HZ",
        "department": "SCJG",
        "window": "W1",
        "accepted_at": t(2026, 10, 9, 10),  # Fri; Sat Oct 10 is a make-up working day
    }
    data.update(changes)
    return Case(**data)  # type: ignore[arg-type]


def snapshot(*cases: Case) -> Snapshot:
    return Snapshot(items={"I1": ITEM, "I0": NOW_ITEM}, cases={c.id: c for c in cases})


def test_an_open_case_has_its_deadlines_and_no_outcome() -> None:
    row = judge(case(), ITEM, cal(), POLICY, t(2026, 10, 12, 9))
    # 5 working days after Fri Oct 9: Sat 10, Mon 12, Tue 13, Wed 14, Thu 15.
    assert row.promised_due_at == eod(2026, 10, 15)
    assert row.concluded_at is None and row.on_time is None and row.used_working_days is None
    assert (row.decided, row.calendar_version) == (False, cal().version)


def test_a_late_decision_counts_working_days() -> None:
    late = case(concluded_at=t(2026, 10, 19, 9), result=CaseResult.APPROVED)
    row = judge(late, ITEM, cal(), POLICY, t(2026, 11, 1))
    # Fri Oct 16 and Mon Oct 19 after the due date Thu Oct 15.
    assert (row.on_time, row.statutory_on_time, row.working_days_late) == (False, True, 2)
    assert row.used_working_days == 7 and row.decided
    # The conclusion does not exist yet as of Oct 18.
    assert judge(late, ITEM, cal(), POLICY, t(2026, 10, 18)).concluded_at is None


def test_suspension_days_are_not_used_days() -> None:
    suspended = case(
        concluded_at=t(2026, 10, 20, 9),
        result=CaseResult.APPROVED,
        suspensions=(
            Suspension(seq=1, kind="补正", started_at=t(2026, 10, 12), ended_at=t(2026, 10, 14)),
        ),
    )
    row = judge(suspended, ITEM, cal(), POLICY, t(2026, 11, 1))
    assert row.suspended_working_days == 2  # Tue 13, Wed 14
    assert row.promised_due_at == eod(2026, 10, 19)
    assert (row.used_working_days, row.on_time, row.working_days_late) == (6, False, 1)


def test_withdrawn_cases_have_no_timeliness() -> None:
    gone = case(concluded_at=t(2026, 10, 30), result=CaseResult.WITHDRAWN)
    row = judge(gone, ITEM, cal(), POLICY, t(2026, 11, 1))
    assert row.concluded_at is not None and not row.decided and row.on_time is None


def test_the_recorder_appends_only_what_changed() -> None:
    recorder = SlaRecorder(cal(), POLICY)
    open_case = case()
    later = case(id="C2", accepted_at=t(2026, 10, 20))
    rows = recorder.changes(snapshot(open_case, later), t(2026, 10, 12))
    assert [r.case_id for r in rows] == ["C1"]  # C2 not accepted yet
    recorder.commit(rows)
    assert recorder.changes(snapshot(open_case, later), t(2026, 10, 13)) == []
    concluded = case(concluded_at=t(2026, 10, 14), result=CaseResult.APPROVED)
    # Known to the source before it happened: nothing changes until the instant passes.
    assert recorder.changes(snapshot(concluded), t(2026, 10, 13, 23)) == []
    (row,) = recorder.changes(snapshot(concluded), t(2026, 10, 14, 1))
    assert row.on_time and row.used_working_days == 4  # Sat 10, Mon 12, Tue 13, Wed 14
    recorder.commit([row])
    assert recorder.changes(snapshot(concluded), t(2026, 12, 1)) == []


def test_rows_come_in_batches_and_a_batch_not_stored_is_looked_at_again() -> None:
    cases = [case(id=f"C{n}") for n in range(5)]
    whole = SlaRecorder(cal(), POLICY).changes(snapshot(*cases), t(2026, 10, 12))
    recorder = SlaRecorder(cal(), POLICY)
    batches = recorder.batches(snapshot(*cases), t(2026, 10, 12), size=2)
    first = next(batches)
    assert [r.case_id for r in first] == ["C0", "C1"]
    recorder.commit(first)  # stored
    second = next(batches)
    assert [r.case_id for r in second] == ["C2", "C3"]
    batches.close()  # its store failed: C2 and C3 not committed, C4 not looked at
    # Told that nothing changed, the next call still writes what was not stored.
    later = recorder.changes(snapshot(*cases), t(2026, 10, 12, 1), changed=[])
    assert [r.case_id for r in later] == ["C2", "C3", "C4"]
    assert later == [dataclasses.replace(r, recorded_at=t(2026, 10, 12, 1)) for r in whole[2:]]
    recorder.commit(later)
    assert recorder.changes(snapshot(*cases), t(2026, 10, 12, 2), changed=[]) == []


def test_a_running_suspension_is_recorded_when_it_moves_the_deadline() -> None:
    recorder = SlaRecorder(cal(), POLICY)
    suspended = case(suspensions=(Suspension(seq=1, kind="检测", started_at=t(2026, 10, 12)),))
    first = recorder.changes(snapshot(suspended), t(2026, 10, 12, 12))
    recorder.commit(first)
    assert recorder.changes(snapshot(suspended), t(2026, 10, 12, 18)) == []  # same day
    (moved,) = recorder.changes(snapshot(suspended), t(2026, 10, 13, 9))
    assert moved.promised_due_at > first[0].promised_due_at


def test_equal_deadlines_are_kept_once_and_a_loaded_digest_still_matches(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.open()
    twins = (case(), case(id="C2"))  # the same acceptance and item: the same deadlines
    recorder = SlaRecorder(cal(), POLICY)
    rows = recorder.changes(snapshot(*twins), t(2026, 10, 12, 12))
    store.append_sla(rows)
    recorder.commit(rows)
    loaded = SlaRecorder(cal(), POLICY)
    loaded.load(store.latest_sla())
    for kept in (recorder._known, loaded._known):
        assert kept["C1"].state is kept["C2"].state  # version, open, dues: one object
    # In memory a row's facts are their quick hash; loaded, their digest until seen again.
    assert recorder._known["C1"].mark is not None and recorder._known["C1"].mark >= 0
    assert loaded._known["C1"].mark == ~int(rows[0].facts, 16)
    assert loaded.changes(snapshot(*twins), t(2026, 10, 12, 13)) == []
    assert loaded._known["C1"].mark == recorder._known["C1"].mark  # seen: the quick hash
    moved = case(id="C2", window="W2")  # its facts changed: a new row, for it alone
    assert [r.case_id for r in loaded.changes(snapshot(twins[0], moved), t(2026, 10, 12, 14))] == [
        "C2"
    ]
    store.close()


def test_a_loaded_row_whose_facts_are_no_digest_is_written_again() -> None:
    """The recorder keeps a loaded row's facts digest as a number: facts that are not a
    digest (a hand-edited row, an older format) equal none, so the case's row is written
    again rather than mistaken for unchanged."""
    recorder = SlaRecorder(cal(), POLICY)
    (row,) = recorder.changes(snapshot(case()), t(2026, 10, 12, 12))
    known = Known(row.facts, row.calendar_version, True, row.dues)
    for facts, again in [(row.facts, False), (row.facts.upper(), True), ("legacy", True)]:
        loaded = SlaRecorder(cal(), POLICY)
        loaded.load({"C1": known._replace(facts=facts)})
        rewritten = loaded.changes(snapshot(case()), t(2026, 10, 12, 13))
        assert [r.case_id for r in rewritten] == (["C1"] if again else []), facts


def test_a_new_calendar_rejudges_open_cases_only(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.open()
    recorder = SlaRecorder(cal(), POLICY)
    open_case = case()
    done = case(id="C2", concluded_at=t(2026, 10, 12), result=CaseResult.APPROVED)
    rows = recorder.changes(snapshot(open_case, done), t(2026, 10, 12, 12))
    store.append_sla(rows)
    recorder.commit(rows)
    assert {r.case_id for r in store.sla_rows()} == {"C1", "C2"}

    # A restart with the same calendar: nothing new, even before any quick hash exists.
    same = SlaRecorder(cal(), POLICY)
    same.load(store.latest_sla())
    assert same.changes(snapshot(open_case, done), t(2026, 10, 12, 13)) == []

    # A restart with a corrected calendar (Tue Oct 13 a local holiday).
    corrected = WorkingCalendar(2024, 2028, extra_holidays=[dt.date(2026, 10, 13)])
    restarted = SlaRecorder(corrected, POLICY)
    restarted.load(store.latest_sla())
    (row,) = restarted.changes(snapshot(open_case, done), t(2026, 10, 12, 14))
    assert row.case_id == "C1" and row.calendar_version == corrected.version
    assert row.promised_due_at == eod(2026, 10, 16)
    store.append_sla([row])
    restarted.commit([row])
    history = [(r.case_id, r.calendar_version) for r in store.sla_rows()]
    assert history == [
        ("C1", cal().version),
        ("C2", cal().version),
        ("C1", corrected.version),
    ]
    store.close()


# --- incremental calls write the rows a full look at every case writes --------------------


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 8))
def test_told_what_changed_the_recorder_writes_what_a_full_look_writes(
    data: st.DataObject, size: int
) -> None:
    hall: dict[str, Case] = {}
    for n in range(size):
        case, _, suspensions = data.draw(engine_cases(n))
        hall[case.id] = case.model_copy(update={"suspensions": tuple(suspensions)})
    full, told = SlaRecorder(cal(), POLICY), SlaRecorder(cal(), POLICY)
    base = data.draw(st.integers(0, 50 * 86400))
    offsets = sorted(data.draw(st.lists(st.integers(0, 3 * 86400), min_size=1, max_size=6)))
    changed: set[str] | None = None
    for offset in offsets:
        at = t(2026, 9, 1) + dt.timedelta(seconds=base + offset)
        snapshot = Snapshot(items=ENGINE_ITEMS, cases=dict(hall))
        expected = full.changes(snapshot, at)
        found = told.changes(snapshot, at, changed)
        assert sorted(found, key=lambda r: r.case_id) == sorted(expected, key=lambda r: r.case_id)
        full.commit(expected)
        told.commit(found)
        changed = set()
        for _ in range(data.draw(st.integers(0, 2))):
            number = data.draw(st.integers(0, size - 1))
            if data.draw(st.booleans()):
                hall.pop(f"C{number}", None)
            else:
                case, _, suspensions = data.draw(engine_cases(number))
                hall[case.id] = case.model_copy(update={"suspensions": tuple(suspensions)})
            changed.add(f"C{number}")


def test_told_nothing_changed_a_running_suspension_is_still_judged_every_day() -> None:
    case = Case(
        id="C1",
        item="I3",
        accepted_at=t(2026, 9, 14, 9),
        suspensions=(Suspension(seq=1, kind="补正", started_at=t(2026, 9, 15, 9)),),
    )
    snapshot = Snapshot(items=ENGINE_ITEMS, cases={"C1": case})
    recorder = SlaRecorder(cal(), POLICY)
    recorder.commit(recorder.changes(snapshot, t(2026, 9, 16, 10), None))
    rows = recorder.changes(snapshot, t(2026, 9, 17, 10), set())  # one working day on
    assert [r.case_id for r in rows] == ["C1"]
    assert rows[0].suspended_working_days == 2


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 6))
def test_told_nothing_changed_the_recorder_writes_at_midnights_what_a_full_look_writes(
    data: st.DataObject, size: int
) -> None:
    # A running suspension's row is looked at again at the next local midnight (its
    # deadlines move with the date): instants a second either side of midnights.
    hall: dict[str, Case] = {}
    for n in range(size):
        case, _, suspensions = data.draw(engine_cases(n))
        hall[case.id] = case.model_copy(update={"suspensions": tuple(suspensions)})
    snapshot = Snapshot(items=ENGINE_ITEMS, cases=hall)
    full, told = SlaRecorder(cal(), POLICY), SlaRecorder(cal(), POLICY)
    first = data.draw(st.integers(0, 45))
    days = sorted(data.draw(st.lists(st.integers(0, 6), min_size=1, max_size=5)))
    changed: set[str] | None = None
    for day in days:
        for jitter in data.draw(st.lists(st.integers(-2, 2), min_size=1, max_size=3, unique=True)):
            at = t(2026, 9, 1) + dt.timedelta(days=first + day, seconds=jitter)
            if told._at is not None and at < told._at:
                continue
            expected = full.changes(snapshot, at)
            found = told.changes(snapshot, at, changed)
            key = lambda r: r.case_id  # noqa: E731
            assert sorted(found, key=key) == sorted(expected, key=key), at
            full.commit(expected)
            told.commit(found)
            changed = set()


def test_a_running_suspension_is_looked_at_again_exactly_at_each_midnight() -> None:
    # Suspended from Wed Sep 16 to Tue Sep 29: the deadlines move on each working day
    # (Sun Sep 20 is a make-up one; Sat 19, Fri 25 Mid-Autumn and its weekend are off),
    # from the first second of it.
    case = Case(
        id="C1",
        item="I3",
        accepted_at=t(2026, 9, 14, 9),
        suspensions=(
            Suspension(
                seq=1, kind="补正", started_at=t(2026, 9, 16, 9), ended_at=t(2026, 9, 29, 15)
            ),
        ),
    )
    snapshot = Snapshot(items=ENGINE_ITEMS, cases={"C1": case})
    full, told = SlaRecorder(cal(), POLICY), SlaRecorder(cal(), POLICY)
    changed: set[str] | None = None
    moved = []
    for day in range(16, 31):
        for at in (t(2026, 9, day) - dt.timedelta(seconds=1), t(2026, 9, day), t(2026, 9, day, 12)):
            expected = full.changes(snapshot, at)
            found = told.changes(snapshot, at, changed)
            assert found == expected, at
            full.commit(expected)
            told.commit(found)
            changed = set()
            moved += [(at, r.suspended_working_days) for r in found]
    assert moved[2:5] == [(t(2026, 9, 17), 1), (t(2026, 9, 18), 2), (t(2026, 9, 20), 3)]
    assert (t(2026, 9, 28), 8) in moved
    assert not {at.day for at, _ in moved} & {19, 25, 26, 27}  # days off: nothing moves


@pytest.mark.postgres
def test_many_rows_are_appended_in_bulk_and_read_back() -> None:
    """Above COPY_UPSERT_ROWS rows PostgreSQL appends with COPY: same rows, ids in order."""
    with postgres_database() as url:
        store = StateStore(url)
        store.open()
        try:
            cases = [case(id=f"C{n:04d}") for n in range(COPY_UPSERT_ROWS + 5)]
            rows = SlaRecorder(cal(), POLICY).changes(snapshot(*cases), t(2026, 10, 12, 12))
            store.append_sla(rows)
            assert list(store.sla_rows()) == as_read(rows)
            assert {k.facts for k in store.latest_sla().values()} == {r.facts for r in rows}
            assert set(store.latest_sla()) == {c.id for c in cases}
        finally:
            store.close()


def _plain_canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, tuple):
        return tuple(_plain_canonical(v) for v in value)
    return value


_instants = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),
    max_value=dt.datetime(2030, 1, 1),
    timezones=st.sampled_from([dt.UTC, POLICY.tz]),
)
_plain = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans(), _instants)


@settings(max_examples=200, deadline=None)
@given(
    facts=st.recursive(
        st.tuples(_plain, _plain),
        lambda inner: st.lists(st.one_of(_plain, inner), max_size=5).map(tuple),
        max_leaves=20,
    )
)
def test_facts_digest_is_the_plain_canonical_digest(facts: tuple[Any, ...]) -> None:
    """The digest is stored with every SLA row: its faster canonical form must give the
    very same text as the plain recursive one."""
    plain = hashlib.blake2b(repr(_plain_canonical(facts)).encode(), digest_size=16).hexdigest()
    assert facts_digest(facts) == plain


def as_read(rows: list[CaseSla]) -> list[CaseSla]:
    """Rows as a report reads them back: without the facts digest."""
    return [dataclasses.replace(r, facts="") for r in rows]


def test_rows_read_back_share_their_recurring_values_and_equal_what_was_stored(
    tmp_path: Path,
) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.open()
    twins = (case(), case(id="C2"))  # one place, item and acceptance: the same deadlines
    rows = SlaRecorder(cal(), POLICY).changes(snapshot(*twins), t(2026, 10, 12, 12))
    store.append_sla(rows)
    period = (t(2026, 10, 1), t(2026, 11, 1))
    for read in (list(store.sla_rows()), list(store.sla_rows_touching(*period))):
        assert read == as_read(rows)
        assert all(r.facts for r in rows)  # stored, for the recorder (latest_sla)
        first, second = read
        for name in ("recorded_at", "center", "item", "promised_due_at", "calendar_version"):
            assert getattr(first, name) is getattr(second, name), name
    store.close()
