"""Shards of centers sharing one PostgreSQL database, each in its own schema.

A province runs one daemon per center (or shard) writing to one PostgreSQL (DESIGN.md
§6). If they shared tables, one shard's evaluation would resolve the other's findings
(they are not among its own) and their records would collide on (source, key). Each
shard's ``state.schema_name`` keeps its tables apart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.config import ConfigError, parse_config
from monitor.model import Case, Finding, Severity
from monitor.store import OPEN, LedgerChanges, LedgerEntry, StateStore, decode_record

AT = dt.datetime(2026, 10, 9, 10, 0, tzinfo=dt.UTC)


def _case(center: str) -> Case:
    return Case(id="BJ001", item="330100-001", center=center, accepted_at=AT)


def _opened(case_id: str, center: str) -> LedgerChanges:
    finding = Finding(
        rule="case.overdue",
        severity=Severity.RED,
        subject_kind="case",
        subject_id=case_id,
        case_id=case_id,
        center=center,
    )
    entry = LedgerEntry(
        finding=finding,
        state=OPEN,
        first_seen=AT,
        last_seen=AT,
        resolved_at=None,
        sources=frozenset({"approval"}),
    )
    changes = LedgerChanges()
    changes.event(entry, AT, "opened")
    return changes


@pytest.mark.postgres
@pytest.mark.integration
def test_each_shard_sees_only_its_own_tables(postgres_url: str) -> None:
    east, west = StateStore(postgres_url, "hz01"), StateStore(postgres_url, "hz02")
    try:
        east.open()
        west.open()
        # The same source name and case key in both shards: no collision.
        east.apply_poll("approval", "cases", [("BJ001", _case("HZ01"))], [], None, [], AT, True)
        west.apply_poll("approval", "cases", [("BJ001", _case("HZ02"))], [], None, [], AT, True)
        east.save_ledger(_opened("BJ001", "HZ01"))
        west.save_ledger(_opened("BJ777", "HZ02"))

        assert set(east.load_ledger()) == {"case.overdue|case|BJ001"}
        assert set(west.load_ledger()) == {"case.overdue|case|BJ777"}
        engine = create_engine(postgres_url)
        with engine.connect() as conn:
            payloads = dict(
                conn.execute(
                    text(
                        "SELECT 'hz01', payload FROM hz01.jiancha_entities UNION ALL "
                        "SELECT 'hz02', payload FROM hz02.jiancha_entities"
                    )
                ).all()
            )
            in_public = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE tablename = 'jiancha_entities'")
            ).scalar_one()
        engine.dispose()
        assert {shard: decode_record("cases", p).center for shard, p in payloads.items()} == {
            "hz01": "HZ01",
            "hz02": "HZ02",
        }
        assert in_public == 2  # one per shard schema, none in public
        assert "schema hz01" in east.display_url
    finally:
        east.close()
        west.close()


def test_schema_name_needs_postgresql(tmp_path: Path) -> None:
    data = {
        "state": {"url": "sqlite:///state.db", "schema_name": "hz01"},
        "sources": [
            {
                "name": "approval",
                "url": "sqlite:///hall.db",
                "entities": {"items": {"query": "SELECT 1"}},
            }
        ],
    }
    with pytest.raises(ConfigError, match=r"state: Value error, schema_name needs a PostgreSQL"):
        parse_config(data, tmp_path)
