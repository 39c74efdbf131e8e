"""Ledger checkpoints: where the last intact walk of the hash chain ended, so the next need not start at 1.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table of ledger checkpoints."""
    op.create_table(
        "ledger_checkpoint",
        sa.Column("checkpoint_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=False),
        sa.Column("whole_chain", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("checkpoint_id", name=op.f("pk_ledger_checkpoint")),
    )


def downgrade() -> None:
    """Drop the table of ledger checkpoints."""
    op.drop_table("ledger_checkpoint")
