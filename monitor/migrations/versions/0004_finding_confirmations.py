"""An evaluation confirms open findings per set of sources, not row by row.

Every ten minutes the daemon used to write back the ``last_seen`` of every open finding
still found (at a million cases some 180,000 rows: 5 s of a cycle, and as many dead row
versions). Now each evaluation writes one row per set of sources whose open findings it
confirmed (``jiancha_finding_confirmations``: a handful of rows), and an open finding was
last seen at the later of its row's ``last_seen`` and its sources' ``confirmed_at``. The
view ``jiancha_findings_seen`` is the ledger with that ``last_seen``: the store reads the
ledger through it, and so should a person querying it.

A store upgraded from 0003 has no confirmations yet: its rows read as they were written
until the first evaluation confirms them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from monitor.store import UtcDateTime, create_findings_seen_view, findings_seen_view

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# The ledger's columns at this revision: what the view names.
FINDINGS_COLUMNS = (
    "fingerprint",
    "rule",
    "severity",
    "subject_kind",
    "subject_id",
    "case_id",
    "center",
    "department",
    "window",
    "item",
    "state",
    "first_seen",
    "last_seen",
    "resolved_at",
    "due_at",
    "evidence",
    "calendar_version",
    "calendar_confirmed",
    "sources",
    "opened_count",
    "alert_ended",
)


def upgrade() -> None:
    op.create_table(
        "jiancha_finding_confirmations",
        sa.Column("sources", sa.String(512), primary_key=True),
        sa.Column("confirmed_at", UtcDateTime(), nullable=False),
    )
    create_findings_seen_view(
        op.get_bind(), context.config.attributes.get("schema"), FINDINGS_COLUMNS
    )


def downgrade() -> None:
    schema = context.config.attributes.get("schema")
    quote = op.get_bind().dialect.identifier_preparer.quote
    view = quote(findings_seen_view.name)
    op.execute(f"DROP VIEW {quote(schema)}.{view}" if schema else f"DROP VIEW {view}")
    op.drop_table("jiancha_finding_confirmations")
