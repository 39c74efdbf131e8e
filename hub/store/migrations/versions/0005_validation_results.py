"""Great Expectations validation results, sanitized, one per audited run (for the auditors' Data Docs).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table of stored validation results."""
    op.create_table(
        "validation_result",
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("suite", sa.String(length=80), nullable=False),
        sa.Column("validated_at", sa.DateTime(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_validation_result")),
    )


def downgrade() -> None:
    """Drop the table of stored validation results."""
    op.drop_table("validation_result")
