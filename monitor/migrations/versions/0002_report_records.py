"""Report records: per-case SLA judgments, calendar versions and parameter sets.

What the monthly report is computed from so that a month regenerated later gives the
same numbers (see :mod:`monitor.sla`): ``jiancha_case_sla`` (append-only judgments of
each case with their calendar version), ``jiancha_calendars`` (each calendar version
day by day) and ``jiancha_parameter_sets`` (rule parameters in force from an instant).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jiancha_case_sla",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(255), nullable=False, index=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False, index=True),
        sa.Column("facts", sa.String(32), nullable=False),
        sa.Column("center", sa.String(64)),
        sa.Column("department", sa.String(64)),
        sa.Column("window", sa.String(64)),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("item_kind", sa.String(16), nullable=False),
        sa.Column("statutory_limit_days", sa.Integer(), nullable=False),
        sa.Column("promised_limit_days", sa.Integer(), nullable=False),
        sa.Column("accepted_at", UtcDateTime(), nullable=False),
        sa.Column("concluded_at", UtcDateTime()),
        sa.Column("result", sa.String(16)),
        sa.Column("decided", sa.Boolean(), nullable=False),
        sa.Column("promised_due_at", UtcDateTime(), nullable=False),
        sa.Column("statutory_due_at", UtcDateTime(), nullable=False),
        sa.Column("suspended_working_days", sa.Integer(), nullable=False),
        sa.Column("used_working_days", sa.Integer()),
        sa.Column("working_days_late", sa.Integer()),
        sa.Column("on_time", sa.Boolean()),
        sa.Column("statutory_on_time", sa.Boolean()),
        sa.Column("calendar_version", sa.String(128), nullable=False),
        sa.Column("calendar_confirmed", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "jiancha_calendars",
        sa.Column("version", sa.String(128), primary_key=True),
        sa.Column("region", sa.String(64)),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("confirmed_until", sa.Date(), nullable=False),
        sa.Column("working_days", sa.Text(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "jiancha_parameter_sets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("calendar_version", sa.String(128), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("jiancha_parameter_sets")
    op.drop_table("jiancha_calendars")
    op.drop_table("jiancha_case_sla")
