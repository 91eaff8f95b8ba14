"""Polls append their records' versions to a journal; a compaction job merges it.

Every poll used to upsert its changed records into ``jiancha_entities`` in place. In a
province's store that table is far bigger than the database's buffers (1.6 GB at a
million open cases), and an update reads the page of the version it replaces: 3,000
concluded cases are 3,000 random pages, most of them from disk once the machine has let
them go. Measured at a million open cases (bench/province.py, six cycles of 10,000
changed source rows), the polls' writes took 0.41-0.72 s of each cycle and the machine
read 29-127 MB back from disk; appended to an unindexed table, 0.13-0.20 s and about
1 MB.

``jiancha_entity_journal`` holds the versions written since the last compaction, in the
order they were written; a deletion is a version without payload. The daemon's
compaction job (``daemon.compact_interval_seconds``) merges them into
``jiancha_entities``, away from the polls' and the evaluation's path, and whoever reads
the records reads both. An upgraded store starts with an empty journal.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from monitor.store import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


TABLE = "jiancha_entity_journal"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text()),
        sa.Column("stored_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    # The versions not merged yet would be lost: refuse rather than drop them.
    schema = context.config.attributes.get("schema")
    table = f'"{schema}"."{TABLE}"' if schema else f'"{TABLE}"'
    if op.get_bind().exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one():
        raise RuntimeError(
            "jiancha_entity_journal holds versions not merged into jiancha_entities yet: "
            "run the daemon until its compaction job has merged them, then downgrade"
        )
    op.drop_table(TABLE)
