"""The records leave room on their pages for a changed record's new version (PostgreSQL).

Every poll upserts the records that changed at the source into ``jiancha_entities``, the
store's biggest table (3.8 M rows, 1.8 GB at a million open cases). No index covers the
columns an update writes (the payload and when it was stored), so PostgreSQL can update
a row in place — a heap-only tuple: no new entry in the primary key, the old version's
space reused — but only when the row's page has room for the new version. Pages filled
by the first poll's COPY have none. Measured at a million open cases, six cycles of
10,000 changed source rows (18,000 records updated, the rest new): 1,842 of the 18,000
updates were heap-only with full pages, 17,941 with a fillfactor of 90; the cycle's
upserts took 0.19-0.26 s against 0.16-0.21 s. The table takes about a tenth more space
(1.79 -> 1.97 GB).

An existing table keeps its full pages until they are rewritten (``VACUUM FULL
jiancha_entities`` in a quiet hour); rows written from now on get the room. SQLite and
MariaDB have no such setting: nothing to do there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import context, op

from monitor.store import ENTITIES_FILLFACTOR

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "jiancha_entities"


def _table() -> str:
    schema = context.config.attributes.get("schema")
    return f'"{schema}"."{TABLE}"' if schema else f'"{TABLE}"'


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {_table()} SET (fillfactor = {ENTITIES_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {_table()} RESET (fillfactor)")
