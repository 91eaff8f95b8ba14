"""Baseline: entities, watermarks, consumed files, the findings ledger and its events.

The tables of this revision are created from ``monitor/store.py`` when a store is new
(``metadata.create_all``, then stamped); there is nothing older to upgrade from.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing precedes the baseline."""


def downgrade() -> None:
    """The baseline is not undone: the ledger is never deleted."""
