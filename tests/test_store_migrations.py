"""The state store migrates itself: an existing store is upgraded through new revisions.

Simulated with a copy of ``monitor/migrations`` plus a revision 0002 that adds a column,
as a later version of jiancha would ship it: a store created at 0001 is brought to 0002
on open, its rows kept; a new store is created at the head directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

import monitor.store as store_module
from monitor.store import MIGRATIONS, VERSION_TABLE, StateStore

REVISION_0002 = '''"""Findings get a reviewer note."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jiancha_findings", sa.Column("review_note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("jiancha_findings", "review_note")
'''


def _later_migrations(tmp_path: Path) -> Path:
    later = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, later, ignore=shutil.ignore_patterns("__pycache__"))
    (later / "versions" / "0002_review_note.py").write_text(REVISION_0002, encoding="utf-8")
    return later


def _columns(store: StateStore) -> set[str]:
    with store.engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("jiancha_findings")}


def _revision(store: StateStore) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one())


def test_an_existing_store_is_upgraded_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    today = StateStore(url)
    today.open()
    with today.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jiancha_watermarks (source, entity, watermark) "
                "VALUES ('approval', 'cases', NULL)"
            )
        )
    assert _revision(today) == "0001" and "review_note" not in _columns(today)
    today.close()

    monkeypatch.setattr(store_module, "MIGRATIONS", _later_migrations(tmp_path))
    tomorrow = StateStore(url)
    tomorrow.open()
    assert _revision(tomorrow) == "0002"
    assert "review_note" in _columns(tomorrow)
    assert tomorrow.watermarks() == {("approval", "cases"): None}  # rows kept
    tomorrow.close()


def test_the_running_version_refuses_what_the_later_one_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setattr(store_module, "MIGRATIONS", _later_migrations(tmp_path))
    later = StateStore(url)
    later.open()
    later.close()
    monkeypatch.undo()
    older = StateStore(url)
    with pytest.raises(store_module.StoreError, match="revision 0002"):
        older.open()
    older.close()
