"""The findings ledger leaves room on its pages for rows written again (PostgreSQL).

Every ten minutes the daemon writes back the ``last_seen`` of every open finding (at a
million cases, some 180,000 rows at once). A column that no index covers can be
updated in place (a heap-only tuple: no index entry written, the old version's space
reused) only when the row's page has room for the new version; pages filled to the brim
move each new version to another page and write all four index entries again. Measured
on 180,000 rows, all open, written back four times: 1.6–1.7 s each and the table grown
from 60 to 335 MB with pages full; 1.3 s falling to 0.8 s and 216 MB with a fillfactor of
70 (a page keeps three tenths free); 0.5 s and 141 MB at 50. A ledger mostly of resolved
findings, written once, pays 1/0.7 of their space for it: 70 is the middle.

An existing table keeps its full pages until they are rewritten (``VACUUM FULL
jiancha_findings`` in a quiet hour); rows written from now on get the room. SQLite and
MariaDB have no such setting: nothing to do there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import context, op

from monitor.store import FINDINGS_FILLFACTOR, findings_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _table() -> str:
    schema = context.config.attributes.get("schema")
    name = f'"{findings_table.name}"'
    return f'"{schema}".{name}' if schema else name


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {_table()} SET (fillfactor = {FINDINGS_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {_table()} RESET (fillfactor)")
