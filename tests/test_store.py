"""The state store on SQLite and PostgreSQL: records, watermarks, files, the findings ledger."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from monitor.model import (
    Case,
    CaseResult,
    Evaluation,
    Finding,
    Item,
    ItemKind,
    Payment,
    Severity,
    Step,
    Suspension,
    Ticket,
    TicketStatus,
)
from monitor.sources.base import ProcessedFile
from monitor.store import (
    COPY_UPSERT_ROWS,
    ESCALATED,
    OPEN,
    RESOLVED,
    VERSION_TABLE,
    LedgerChanges,
    LedgerEntry,
    StateStore,
    StoreError,
    decode_record,
    encode_record,
    entities_table,
    findings_seen_view,
    journal_table,
    metadata,
    record_key,
)
from tests.services import postgres_database

SH = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
T0 = dt.datetime(2026, 10, 9, 10, 0, tzinfo=SH)  # = 02:00 UTC

ITEM = Item(
    code="I1",
    name="食品经营许可",
    department="SCJG",
    kind=ItemKind.PROMISED,
    statutory_limit_days=20,
    promised_limit_days=10,
    fee_standard_fen=5000,
    fee_abolished_on=dt.date(2027, 1, 1),
    max_suspension_days={"补正": 5, "*": 10},
)
STEP = Step(seq=2, name="审核", started_at=T0, ended_at=T0 + dt.timedelta(hours=3), limit_days=2)
SUSPENSION = Suspension(seq=1, kind="专家评审", started_at=T0, ended_at=None)
CASE = Case(
    id="SB-2026-0001",
    item="I1",
    center="HZ01",
    department="SCJG",
    window="W07",
    applicant_key="k-3f9a",
    received_at=T0 - dt.timedelta(hours=1),
    accepted_at=T0,
    promised_due_at=dt.datetime(2026, 10, 23, 23, 59, 59, tzinfo=SH),
    concluded_at=T0 + dt.timedelta(days=3),
    result=CaseResult.APPROVED,
    recorded_at=T0 + dt.timedelta(minutes=5),
    fee_due_fen=5000,
    payment_reference="JK-1",
    steps=(STEP,),
    suspensions=(SUSPENSION,),
)
TICKET = Ticket(
    id="Q-20261009-0012",
    number="A012",
    center="HZ01",
    department="SCJG",
    window="W07",
    service="I1",
    issued_at=T0,
    called_at=T0 + dt.timedelta(minutes=4),
    finished_at=T0 + dt.timedelta(minutes=20),
    status=TicketStatus.SERVED,
    consultation=False,
)
EVALUATION = Evaluation(
    id="E1",
    center="HZ01",
    department="SCJG",
    window="W07",
    staff_id="S9",
    case_id=CASE.id,
    rated_at=T0 + dt.timedelta(hours=1),
    level=4,
    comment="等太久",
)
PAYMENT = Payment(
    id="TX-77",
    account="6222-0001",
    amount_fen=-1234,
    paid_at=T0 + dt.timedelta(hours=2),
    reference="JK-1",
    payer_key="p-1",
    case_id=CASE.id,
    center="HZ01",
)

ROUND_TRIPS = [
    ("items", ITEM, "I1"),
    ("cases", CASE, "SB-2026-0001"),
    ("steps", (CASE.id, STEP), "SB-2026-0001/2"),
    ("suspensions", (CASE.id, SUSPENSION), "SB-2026-0001/1"),
    ("tickets", TICKET, "Q-20261009-0012"),
    ("evaluations", EVALUATION, "E1"),
    ("payments", PAYMENT, "TX-77"),
]


# --- (de)serialisation, no database ----------------------------------------------------------


@pytest.mark.parametrize(("entity", "record", "key"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_every_entity_round_trips_through_encode_and_decode(
    entity: str, record: Any, key: str
) -> None:
    assert record_key(entity, record) == key
    decoded = decode_record(entity, encode_record(entity, record))
    assert decoded == record
    assert type(decoded) is type(record)
    if isinstance(record, tuple):
        assert type(decoded[1]) is type(record[1])


def test_decoded_case_keeps_its_step_and_suspension_tuples_and_aware_times() -> None:
    decoded = decode_record("cases", encode_record("cases", CASE))
    assert isinstance(decoded.steps, tuple) and decoded.steps == (STEP,)
    assert isinstance(decoded.suspensions, tuple) and decoded.suspensions == (SUSPENSION,)
    assert decoded.accepted_at.utcoffset() == dt.timedelta(hours=8)
    assert decoded.accepted_at == T0


def test_child_payload_keeps_chinese_readable() -> None:
    payload = encode_record("suspensions", (CASE.id, SUSPENSION))
    assert "专家评审" in payload


# --- the store on each backend ---------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture(scope="module")
def postgres_module_url() -> Iterator[str]:
    """One throw-away PostgreSQL database for this module; each test drops its tables."""
    with postgres_database() as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite_url", id="sqlite"),
        pytest.param("postgres_module_url", id="postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb_url", id="mariadb", marks=pytest.mark.mariadb),
    ]
)
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = str(request.getfixturevalue(request.param))
    yield url
    engine = create_engine(url)
    with engine.begin() as conn:  # the next test starts from an empty database
        conn.execute(text(f"DROP VIEW IF EXISTS {findings_seen_view.name}"))
        metadata.drop_all(conn)
        conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
    engine.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    state = StateStore(store_url)
    state.open()
    yield state
    state.close()


def _reopen(store: StateStore) -> StateStore:
    store.close()
    again = StateStore(str(store.engine.url.render_as_string(hide_password=False)))
    again.open()
    return again


def _records(store: StateStore) -> dict[tuple[str, str, str], Any]:
    return {(s, e, k): r for s, e, k, r in store.load_entities()}


def _upserts(*records: tuple[str, Any]) -> list[tuple[str, Any]]:
    return [(record_key(entity, r), r) for entity, r in records]


def test_encoding_is_the_models_json() -> None:
    """encode_record calls the serializer directly: the same text as model_dump_json."""
    for entity, record, _key in ROUND_TRIPS:
        if not isinstance(record, tuple):
            assert encode_record(entity, record) == record.model_dump_json()


def test_every_entity_kind_survives_the_store(store: StateStore) -> None:
    for entity, record, _key in ROUND_TRIPS:
        store.apply_poll("approval", entity, _upserts((entity, record)), [], None, [], T0, False)
    again = _reopen(store)
    try:
        loaded = _records(again)
    finally:
        again.close()
    assert loaded == {("approval", e, k): r for e, r, k in ROUND_TRIPS}


def test_apply_poll_upserts_and_deletes(store: StateStore) -> None:
    first = Ticket(id="T1", issued_at=T0)
    second = Ticket(id="T2", issued_at=T0)
    store.apply_poll(
        "queue", "tickets", _upserts(("tickets", first), ("tickets", second)), [], T0, [], T0, True
    )
    served = first.model_copy(update={"status": TicketStatus.SERVED})
    later = T0 + dt.timedelta(minutes=1)
    store.apply_poll(
        "queue", "tickets", _upserts(("tickets", served)), ["T2"], later, [], later, False
    )
    assert _records(store) == {("queue", "tickets", "T1"): served}


def test_same_key_in_two_sources_or_entities_is_kept_apart(store: StateStore) -> None:
    a = Ticket(id="X", issued_at=T0)
    b = Evaluation(id="X", rated_at=T0, level=1)
    store.apply_poll("queue", "tickets", _upserts(("tickets", a)), [], None, [], T0, False)
    store.apply_poll("rate", "evaluations", _upserts(("evaluations", b)), [], None, [], T0, False)
    store.apply_poll("rate", "tickets", [], ["X"], None, [], T0, False)  # nothing there
    assert _records(store) == {("queue", "tickets", "X"): a, ("rate", "evaluations", "X"): b}


def test_watermark_is_kept_when_a_poll_brings_none(store: StateStore) -> None:
    mark = dt.datetime(2026, 10, 9, 9, 59, 30, 123456, tzinfo=SH)
    store.apply_poll("approval", "cases", [], [], mark, [], T0, True)
    store.apply_poll("approval", "cases", [], [], None, [], T0 + dt.timedelta(minutes=1), False)
    assert store.watermarks() == {("approval", "cases"): mark}
    newer = mark + dt.timedelta(minutes=5)
    store.apply_poll("approval", "cases", [], [], newer, [], T0 + dt.timedelta(minutes=2), False)
    assert store.watermarks() == {("approval", "cases"): newer}


def test_times_are_stored_as_utc_and_returned_aware_and_equal(store: StateStore) -> None:
    mark = dt.datetime(2026, 10, 9, 7, 30, 0, 250000, tzinfo=SH)  # 2026-10-08 23:30:00.25 UTC
    store.apply_poll("approval", "cases", [], [], mark, [], T0, True)
    (returned,) = store.watermarks().values()
    assert returned == mark
    assert returned.utcoffset() == dt.timedelta(0)
    assert returned.date() == dt.date(2026, 10, 8)  # the UTC date, not the Beijing one
    with store.engine.connect() as conn:
        raw = conn.execute(text("SELECT watermark, full_poll_at FROM jiancha_watermarks")).one()
    stored = raw[0] if isinstance(raw[0], dt.datetime) else dt.datetime.fromisoformat(raw[0])
    assert stored == dt.datetime(2026, 10, 8, 23, 30, 0, 250000)  # naive UTC on disk
    assert raw[1] is not None


@pytest.mark.mariadb
def test_mariadb_keeps_fractions_of_a_second(mariadb_url: str) -> None:
    """MySQL/MariaDB DATETIME drops them unless declared with fsp=6."""
    store = StateStore(mariadb_url)
    try:
        store.open()
        mark = dt.datetime(2026, 10, 9, 7, 30, 0, 250001, tzinfo=SH)
        store.apply_poll("approval", "cases", [], [], mark, [], T0, True)
        entry = _entry(_finding("C1"))
        entry.first_seen = T0 + dt.timedelta(microseconds=999999)
        store.save_ledger(LedgerChanges(entries={entry.fingerprint: entry}))
        assert store.watermarks() == {("approval", "cases"): mark}
        assert store.load_ledger() == {entry.fingerprint: entry}
        # A confirmation keeps its fraction too.
        later = entry.last_seen + dt.timedelta(minutes=1, microseconds=250001)
        store.save_ledger(LedgerChanges(confirmed={entry.sources: later}))
        seen = dataclasses.replace(entry, last_seen=later)
        assert store.load_ledger() == {entry.fingerprint: seen}
    finally:
        store.close()


def test_naive_times_are_refused(store: StateStore) -> None:
    with pytest.raises(StatementError, match="timezone-aware"):
        store.apply_poll("approval", "cases", [], [], dt.datetime(2026, 10, 9), [], T0, False)
    assert store.watermarks() == {}


def _file(name: str | None, digest: str) -> ProcessedFile:
    return ProcessedFile(name=name, digest=digest, outcome="accepted", rows=3, detail="")  # type: ignore[arg-type]


def test_files_are_recorded_and_known(store: StateStore) -> None:
    assert not store.known("bank", "d1")
    rejected = ProcessedFile("坏.csv", "d2", "rejected", 0, "bad_header", "缺少列 交易金额")
    store.apply_poll(
        "bank",
        "payments",
        _upserts(("payments", PAYMENT)),
        [],
        None,
        [_file("a.csv", "d1"), rejected],
        T0,
        False,
    )
    assert store.known("bank", "d1")
    assert store.known("bank", "d2")
    assert not store.known("other_bank", "d1")  # consumed per source
    assert not store.known("bank", "d3")


def test_a_failed_poll_commits_nothing(store: StateStore) -> None:
    """Records, deletions, watermark and files commit together or not at all."""
    before_mark = T0 - dt.timedelta(hours=1)
    kept = Payment(id="P0", account="A", amount_fen=100, paid_at=T0)
    store.apply_poll(
        "bank",
        "payments",
        _upserts(("payments", kept)),
        [],
        before_mark,
        [_file("old.csv", "d0")],
        T0,
        True,
    )
    new = Payment(id="P1", account="A", amount_fen=200, paid_at=T0)
    # The second file has no name: NOT NULL is violated after records and watermark went in.
    with pytest.raises(IntegrityError):
        store.apply_poll(
            "bank",
            "payments",
            _upserts(("payments", new)),
            ["P0"],
            T0 + dt.timedelta(hours=1),
            [_file("new.csv", "d1"), _file(None, "d2")],
            T0 + dt.timedelta(hours=1),
            False,
        )
    assert _records(store) == {("bank", "payments", "P0"): kept}
    assert store.watermarks() == {("bank", "payments"): before_mark}
    assert store.known("bank", "d0")
    assert not store.known("bank", "d1")
    assert not store.known("bank", "d2")


def test_a_failure_after_the_writes_rolls_them_back(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upsert = StateStore._upsert

    def failing(self: StateStore, conn: Any, table: Any, rows: Any, keys: Any) -> None:
        real_upsert(self, conn, table, rows, keys)
        if table.name == "jiancha_files":
            raise RuntimeError("disk full")

    monkeypatch.setattr(StateStore, "_upsert", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        store.apply_poll(
            "bank",
            "payments",
            _upserts(("payments", PAYMENT)),
            [],
            T0,
            [_file("a.csv", "d1")],
            T0,
            True,
        )
    monkeypatch.setattr(StateStore, "_upsert", real_upsert)
    assert _records(store) == {}
    assert store.watermarks() == {}
    assert not store.known("bank", "d1")


def _revisions(store: StateStore) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def test_a_new_store_is_stamped_with_the_newest_revision(store: StateStore) -> None:
    assert _revisions(store) == ["0006"]


def test_a_store_from_a_newer_version_is_refused(store: StateStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    url = store.engine.url.render_as_string(hide_password=False)
    newer = StateStore(url)
    try:
        with pytest.raises(StoreError, match="schema revision 9999, which this jiancha does not"):
            newer.open()
    finally:
        newer.close()


def test_tables_without_a_revision_are_not_taken_over(store: StateStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    again = StateStore(store.engine.url.render_as_string(hide_password=False))
    try:
        with pytest.raises(StoreError, match="has jiancha tables but no"):
            again.open()
    finally:
        again.close()


def test_opening_twice_keeps_one_revision(store: StateStore) -> None:
    again = _reopen(store)
    try:
        assert _revisions(again) == ["0006"]
        assert again.ping()
    finally:
        again.close()


def test_an_unusable_store_raises_store_error(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'missing-dir' / 'state.db'}")
    with pytest.raises(StoreError, match="state store"):
        store.open()
    assert not store.ping()
    store.close()


# --- the findings ledger ----------------------------------------------------------------------


def _finding(subject: str, rule: str = "case.overdue", **changes: Any) -> Finding:
    data: dict[str, Any] = {
        "rule": rule,
        "severity": Severity.YELLOW if rule == "case.due_soon" else Severity.RED,
        "subject_kind": "case",
        "subject_id": subject,
        "case_id": subject,
        "center": "HZ01",
        "department": "SCJG",
        "window": "W07",
        "item": "I1",
        "due_at": dt.datetime(2026, 10, 8, 23, 59, 59, tzinfo=SH),
        "evidence": {"working_days_late": 1, "步骤": "审核", "promised_limit_days": 10},
        "calendar_confirmed": False,
        "calendar_version": "holidays-0.60+override-3f2a",
    }
    data.update(changes)
    return Finding(**data)


def _entry(finding: Finding, state: str = OPEN, alert_ended: bool = False) -> LedgerEntry:
    return LedgerEntry(
        finding=finding,
        state=state,
        first_seen=T0,
        last_seen=T0 + dt.timedelta(minutes=10),
        resolved_at=None if state == OPEN else T0 + dt.timedelta(hours=1),
        sources=frozenset({"approval", "catalogue"}),
        opened_count=2,
        alert_ended=alert_ended,
    )


def test_ledger_rows_survive_a_restart(store: StateStore) -> None:
    open_entry = _entry(_finding("C1"))
    resolved_unsent = _entry(_finding("C2"), RESOLVED)
    resolved_sent = _entry(_finding("C3"), RESOLVED, alert_ended=True)
    escalated_sent = _entry(_finding("C4", rule="case.due_soon"), ESCALATED, alert_ended=True)
    escalated_unsent = _entry(_finding("C5", rule="case.due_soon"), ESCALATED)
    changes = LedgerChanges()
    for entry in (open_entry, resolved_unsent, resolved_sent, escalated_sent, escalated_unsent):
        changes.touch(entry)
    store.save_ledger(changes)
    again = _reopen(store)
    try:
        loaded = again.load_ledger()
        assert set(loaded) == {
            open_entry.fingerprint,
            resolved_unsent.fingerprint,
            escalated_unsent.fingerprint,
        }
        assert loaded[open_entry.fingerprint] == open_entry
        assert loaded[resolved_unsent.fingerprint] == resolved_unsent
        # Ended and sent: not loaded, but still found by fingerprint (it may reopen).
        assert again.ledger_entry(resolved_sent.fingerprint) == resolved_sent
        assert again.ledger_entry(escalated_sent.fingerprint) == escalated_sent
        assert again.ledger_entry("case.overdue|case|nope") is None
        # Asked in bulk (one evaluation's unknown fingerprints): only the existing ones.
        asked = [resolved_sent.fingerprint, "case.overdue|case|nope", open_entry.fingerprint]
        assert again.ledger_entries(asked) == {
            resolved_sent.fingerprint: resolved_sent,
            open_entry.fingerprint: open_entry,
        }
        assert again.ledger_entries([]) == {}
        assert len(again.all_findings()) == 5
    finally:
        again.close()


def test_ledger_entry_fields_round_trip_exactly(store: StateStore) -> None:
    entry = _entry(_finding("C1", due_at=None, window=None, evidence={}))
    store.save_ledger(LedgerChanges(entries={entry.fingerprint: entry}))
    found = store.ledger_entry(entry.fingerprint)
    assert found == entry
    assert found is not None
    assert found.first_seen.tzinfo is not None and found.first_seen == T0
    assert found.sources == frozenset({"approval", "catalogue"})
    assert found.finding.calendar_confirmed is False


def test_saving_again_updates_the_row(store: StateStore) -> None:
    entry = _entry(_finding("C1"))
    store.save_ledger(LedgerChanges(entries={entry.fingerprint: entry}))
    later = T0 + dt.timedelta(hours=2)
    resolved = LedgerEntry(
        finding=entry.finding,
        state=RESOLVED,
        first_seen=entry.first_seen,
        last_seen=later,
        resolved_at=later,
        sources=frozenset(),
        opened_count=2,
    )
    store.save_ledger(LedgerChanges(entries={entry.fingerprint: resolved}))
    assert store.all_findings() == [resolved]


def test_a_confirmation_is_the_last_seen_of_its_sources_open_entries(store: StateStore) -> None:
    """An open entry was last seen at the later of its row's last_seen and its sources'
    confirmation; an ended one, or one of other sources, keeps its row's. Every read of
    the ledger says so, and so does the view a person queries."""
    approval = frozenset({"approval"})
    same = _entry(_finding("C1"))  # sources approval + catalogue, last_seen T0 + 10 min
    other = dataclasses.replace(_entry(_finding("C2")), sources=approval)
    ended = _entry(_finding("C3"), RESOLVED)
    written_later = dataclasses.replace(
        _entry(_finding("C4")), last_seen=T0 + dt.timedelta(hours=5)
    )
    entries = [same, other, ended, written_later]
    store.save_ledger(LedgerChanges(entries={e.fingerprint: e for e in entries}))
    later = T0 + dt.timedelta(hours=3)
    changes = LedgerChanges(confirmed={same.sources: later})
    assert changes  # a confirmation alone is something to write
    store.save_ledger(changes)
    moved = dataclasses.replace(same, last_seen=later)
    expected = [moved, other, ended, written_later]
    loaded = store.load_ledger()
    assert loaded == {e.fingerprint: e for e in expected}
    assert store.ledger_entries([e.fingerprint for e in entries]) == loaded
    assert store.all_findings() == sorted(expected, key=lambda e: e.fingerprint)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(findings_seen_view.c.fingerprint, findings_seen_view.c.last_seen)
        )
        assert {fp: seen for fp, seen in rows} == {e.fingerprint: e.last_seen for e in expected}
    # A later confirmation moves it on; none moves it back; rewriting the row wins.
    store.save_ledger(LedgerChanges(confirmed={same.sources: later + dt.timedelta(hours=1)}))
    assert store.ledger_entry(same.fingerprint) == dataclasses.replace(
        same, last_seen=later + dt.timedelta(hours=1)
    )
    store.save_ledger(LedgerChanges(confirmed={same.sources: T0}))
    assert store.ledger_entry(same.fingerprint) == same
    store.save_ledger(LedgerChanges(confirmed={same.sources: later}))
    rewritten = dataclasses.replace(same, last_seen=later + dt.timedelta(minutes=1))
    store.save_ledger(LedgerChanges(entries={same.fingerprint: rewritten}))
    assert store.ledger_entry(same.fingerprint) == rewritten


def test_mark_alerts_ended_drops_entries_from_the_loaded_ledger(store: StateStore) -> None:
    open_entry = _entry(_finding("C1"))
    resolved = _entry(_finding("C2"), RESOLVED)
    changes = LedgerChanges()
    changes.touch(open_entry)
    changes.touch(resolved)
    store.save_ledger(changes)
    store.mark_alerts_ended([resolved.fingerprint])
    assert set(store.load_ledger()) == {open_entry.fingerprint}
    ended = store.ledger_entry(resolved.fingerprint)
    assert ended is not None and ended.alert_ended
    store.mark_alerts_ended([])  # nothing to do, no error


def test_finding_events_are_appended_in_order(store: StateStore) -> None:
    entry = _entry(_finding("C1"))
    first = LedgerChanges()
    first.event(entry, T0, "opened")
    store.save_ledger(first)
    second = LedgerChanges()
    later = T0 + dt.timedelta(hours=1)
    second.event(_entry(entry.finding, RESOLVED), later, "resolved")
    second.event(_entry(entry.finding, OPEN), later, "reopened")
    store.save_ledger(second)
    store.save_ledger(LedgerChanges())  # empty: nothing written
    events = store.finding_events()
    assert events == [
        (entry.fingerprint, T0, "opened"),
        (entry.fingerprint, later, "resolved"),
        (entry.fingerprint, later, "reopened"),
    ]
    assert all(at.utcoffset() == dt.timedelta(0) for _, at, _ in events)
    # The last event's entry is what the row holds.
    found = store.ledger_entry(entry.fingerprint)
    assert found is not None and found.state == OPEN


def test_an_empty_change_set_is_falsy() -> None:
    assert not LedgerChanges()
    changes = LedgerChanges()
    changes.touch(_entry(_finding("C1")))
    assert changes


# --- bulk writes (PostgreSQL: COPY into a temporary table, then one upsert) ---------------


def test_a_bulk_poll_upserts_like_single_rows(store: StateStore) -> None:
    """Above COPY_UPSERT_ROWS rows PostgreSQL takes the COPY path: same rows come back,
    a key repeated within one poll keeps its last version, existing rows are updated."""
    count = COPY_UPSERT_ROWS + 7
    tickets = [Ticket(id=f"T{n}", issued_at=T0 + dt.timedelta(seconds=n)) for n in range(count)]
    store.apply_poll(
        "queue", "tickets", _upserts(*(("tickets", t) for t in tickets)), [], T0, [], T0, True
    )
    served = [t.model_copy(update={"status": TicketStatus.SERVED}) for t in tickets[: count - 1]]
    again = Ticket(id="T0", issued_at=T0, number="A001")  # T0 twice: the last one wins
    rows = _upserts(*(("tickets", t) for t in served), ("tickets", again))
    later = T0 + dt.timedelta(minutes=1)
    store.apply_poll("queue", "tickets", rows, [], later, [], later, False)
    expected = {("queue", "tickets", t.id): t for t in [again, *served[1:], tickets[-1]]}
    assert _records(store) == expected
    assert store.watermarks() == {("queue", "tickets"): later}


def test_a_first_bulk_poll_copies_straight_in_like_an_upsert(store: StateStore) -> None:
    """A first poll of a source's entity (nothing of it stored: PostgreSQL copies the
    rows straight into the table) stores what an upsert would: a key repeated within
    the poll keeps its last version, another source's rows of the entity stay, and the
    next poll of the same source updates its rows."""
    count = COPY_UPSERT_ROWS + 5
    other = Ticket(id="T1", issued_at=T0, number="B001")
    store.apply_poll("kiosk", "tickets", _upserts(("tickets", other)), [], T0, [], T0, True)
    tickets = [Ticket(id=f"T{n}", issued_at=T0 + dt.timedelta(seconds=n)) for n in range(count)]
    again = Ticket(id="T3", issued_at=T0, number="A003")  # T3 twice: the last one wins
    first = _upserts(*(("tickets", t) for t in tickets), ("tickets", again))
    store.apply_poll("queue", "tickets", first, [], T0, [], T0, True)
    expected = {("queue", "tickets", t.id): t for t in tickets}
    expected[("queue", "tickets", "T3")] = again
    expected[("kiosk", "tickets", "T1")] = other
    assert _records(store) == expected
    served = [t.model_copy(update={"status": TicketStatus.SERVED}) for t in tickets]
    later = T0 + dt.timedelta(minutes=1)
    store.apply_poll(
        "queue", "tickets", _upserts(*(("tickets", t) for t in served)), [], later, [], later, True
    )
    expected.update({("queue", "tickets", t.id): t for t in served})
    assert _records(store) == expected


# --- the journal: later polls append versions, compaction merges them --------------------


def _in_place(store: StateStore) -> dict[tuple[str, str, str], Any]:
    """The records' table alone, without the journal."""
    t = entities_table
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.c.source, t.c.entity, t.c.key, t.c.payload)).all()
    return {(s, e, k): decode_record(e, p) for s, e, k, p in rows}


def _tickets(*tickets: Ticket) -> list[tuple[str, Any]]:
    return _upserts(*(("tickets", t) for t in tickets))


def test_later_polls_append_versions_that_compaction_merges(store: StateStore) -> None:
    """A first poll goes straight into the records' table; later ones append each
    changed record and each deletion to the journal, which the store reads over the
    records (its latest version winning, a deletion hiding the record). Compaction, in
    batches, leaves the records' table as the store read it and the journal empty."""
    t1, t2, t3 = (Ticket(id=f"T{n}", issued_at=T0) for n in (1, 2, 3))
    store.apply_poll("queue", "tickets", _tickets(t1, t2, t3), [], T0, [], T0, True)
    assert store.journal_size() == 0
    first = {("queue", "tickets", t.id): t for t in (t1, t2, t3)}
    assert _in_place(store) == first == _records(store)

    called = t1.model_copy(update={"called_at": T0 + dt.timedelta(minutes=1)})
    served = called.model_copy(update={"status": TicketStatus.SERVED})
    t4 = Ticket(id="T4", issued_at=T0)
    back = t2.model_copy(update={"number": "A002"})
    later = T0 + dt.timedelta(minutes=1)
    polls: list[tuple[list[tuple[str, Any]], list[str]]] = [
        (_tickets(called, t4), ["T2"]),  # T2 deleted at the source
        (_tickets(served), ["T4"]),  # T4 only ever in the journal, deleted
        (_tickets(back), []),  # T2 back again
    ]
    for upserts, deletes in polls:
        store.apply_poll("queue", "tickets", upserts, deletes, later, [], later, False)
    expected = {("queue", "tickets", "T1"): served, ("queue", "tickets", "T2"): back}
    expected[("queue", "tickets", "T3")] = t3
    assert store.journal_size() == 6
    assert _in_place(store) == first  # nothing updated in place
    assert _records(store) == expected
    assert {k: r for _, _, k, r in store.entities_of(["tickets"])} == {
        k: r for (_, _, k), r in expected.items()
    }
    assert list(store.entities_of(["cases"])) == []

    assert store.compact(batch=4) == 6  # two batches, in the order written
    assert store.journal_size() == 0
    assert _in_place(store) == expected == _records(store)
    assert store.compact() == 0
    again = _reopen(store)
    try:
        assert _records(again) == expected
    finally:
        again.close()


def test_a_big_poll_of_what_only_the_journal_holds_is_journalled_too(store: StateStore) -> None:
    """Once anything of a source's entity is stored, if only in the journal (a poll's
    version committed while a compaction emptied the records' table of it), even a big
    poll of it is appended: copied into the records' table, it would be overwritten by
    the journal's older version at the next compaction."""
    older = Ticket(id="T2", issued_at=T0)
    with store.engine.begin() as conn:
        conn.execute(
            insert(journal_table),
            [
                {
                    "source": "queue",
                    "entity": "tickets",
                    "key": "T2",
                    "stored_at": T0,
                    "payload": encode_record("tickets", older),
                }
            ],
        )
    many = [Ticket(id=f"T{n}", issued_at=T0, number="B") for n in range(COPY_UPSERT_ROWS + 3)]
    store.apply_poll("queue", "tickets", _tickets(*many), [], T0, [], T0, True)
    assert _in_place(store) == {}
    assert store.journal_size() == 1 + len(many)
    expected = {("queue", "tickets", t.id): t for t in many}
    assert _records(store) == expected
    store.compact()
    assert _in_place(store) == expected


def test_thousands_of_records_are_written_a_thousand_a_statement(store: StateStore) -> None:
    """A big first poll and a big later one store every record; without COPY
    (SQLite, MariaDB) a thousand rows a statement, taken as they are encoded."""
    count = 2_345
    tickets = [Ticket(id=f"T{n}", issued_at=T0) for n in range(count)]
    inserts: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO"):
            inserts.append(statement.split()[2].strip('"`'))

    store.apply_poll("queue", "tickets", _tickets(*tickets), [], T0, [], T0, True)
    served = [t.model_copy(update={"status": TicketStatus.SERVED}) for t in tickets]
    store.apply_poll("queue", "tickets", _tickets(*served), [], T0, [], T0, False)
    event.remove(store.engine, "before_cursor_execute", _seen)
    if store.backend == "postgresql":
        assert "jiancha_entities" not in inserts and "jiancha_entity_journal" not in inserts
    else:
        assert inserts.count("jiancha_entities") == 3
        assert inserts.count("jiancha_entity_journal") == 3
    assert _in_place(store) == {("queue", "tickets", t.id): t for t in tickets}
    assert _records(store) == {("queue", "tickets", t.id): t for t in served}


@pytest.mark.postgres
def test_compaction_leaves_a_version_committed_while_it_ran(
    postgres_module_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sources' polls commit in their own order: a version written earlier may
    commit after a later one, and while a compaction runs. The compaction merges and
    removes only the versions it read; the one committed meanwhile stays in the journal,
    and is read."""
    store = StateStore(postgres_module_url, "journal_race")
    store.open()
    try:
        queued = Ticket(id="Q1", issued_at=T0)
        store.apply_poll("queue", "tickets", _tickets(queued), [], T0, [], T0, True)
        slow = Payment(id="P1", account="6222", amount_fen=100, paid_at=T0)
        served = queued.model_copy(update={"status": TicketStatus.SERVED})
        with store.engine.connect() as bank:
            poll = bank.begin()  # the bank's poll: its version written first...
            bank.execute(
                insert(journal_table),
                [
                    {
                        "source": "bank",
                        "entity": "payments",
                        "key": "P1",
                        "payload": encode_record("payments", slow),
                        "stored_at": T0,
                    }
                ],
            )
            store.apply_poll("queue", "tickets", _tickets(served), [], T0, [], T0, False)
            merge = store._upsert

            def committed_meanwhile(*args: Any) -> None:
                if poll.is_active:
                    poll.commit()  # ...and committed after the compaction read the journal
                merge(*args)

            monkeypatch.setattr(store, "_upsert", committed_meanwhile)
            assert store.compact() == 1  # the ticket's version: all it could see
        assert not poll.is_active
        assert store.journal_size() == 1
        assert _records(store) == {
            ("queue", "tickets", "Q1"): served,
            ("bank", "payments", "P1"): slow,
        }
        assert store.compact() == 1
        assert _in_place(store) == _records(store)
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql('DROP SCHEMA "journal_race" CASCADE')
        store.close()


def test_a_bulk_ledger_save_round_trips_times_and_flags(store: StateStore) -> None:
    entries = {
        entry.fingerprint: entry
        for entry in (_entry(_finding(f"C{n}")) for n in range(COPY_UPSERT_ROWS + 3))
    }
    store.save_ledger(LedgerChanges(entries=entries))
    loaded = store.load_ledger()
    assert loaded == entries
    first = loaded["case.overdue|case|C0"]
    assert first.first_seen == T0 and first.finding.calendar_confirmed is False
    resolved = {
        fp: dataclasses.replace(e, state=RESOLVED, resolved_at=T0, alert_ended=True)
        for fp, e in entries.items()
    }
    store.save_ledger(LedgerChanges(entries=resolved))
    assert store.load_ledger() == {}
    assert store.all_findings() == sorted(resolved.values(), key=lambda e: e.fingerprint)


@pytest.mark.postgres
def test_bulk_writes_of_a_shard_stay_in_its_schema(postgres_module_url: str) -> None:
    shard = StateStore(postgres_module_url, "bulk_shard")
    shard.open()
    try:
        tickets = [Ticket(id=f"S{n}", issued_at=T0) for n in range(COPY_UPSERT_ROWS)]
        shard.apply_poll(
            "queue", "tickets", _upserts(*(("tickets", t) for t in tickets)), [], T0, [], T0, True
        )
        assert len(_records(shard)) == COPY_UPSERT_ROWS
        served = [t.model_copy(update={"status": TicketStatus.SERVED}) for t in tickets]
        shard.apply_poll(
            "queue", "tickets", _upserts(*(("tickets", t) for t in served)), [], T0, [], T0, False
        )  # a bulk append to the shard's journal
        assert shard.journal_size() == COPY_UPSERT_ROWS
        assert shard.compact() == COPY_UPSERT_ROWS
        assert _in_place(shard) == {("queue", "tickets", t.id): t for t in served}
        entry = _entry(_finding("C1"))
        shard.save_ledger(LedgerChanges(entries={entry.fingerprint: entry}))
        seen = dataclasses.replace(entry, last_seen=T0 + dt.timedelta(hours=1))
        shard.save_ledger(LedgerChanges(confirmed={entry.sources: seen.last_seen}))
        assert shard.load_ledger() == {entry.fingerprint: seen}  # through the shard's view
        with shard.engine.connect() as conn:
            public = conn.execute(
                text("SELECT to_regclass('public.jiancha_entities') IS NOT NULL")
            ).scalar_one()
        assert public is False or _public_count(postgres_module_url) == 0
    finally:
        with shard.engine.begin() as conn:
            conn.exec_driver_sql('DROP SCHEMA "bulk_shard" CASCADE')
        shard.close()


def _public_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM jiancha_entities")).scalar_one())
    finally:
        engine.dispose()
