"""Agreements may ask for the citizen's consent to each read (declared datasets shared under consent).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add agreement.consent_required, false for every agreement loaded so far."""
    with op.batch_alter_table("agreement") as batch:
        batch.add_column(sa.Column("consent_required", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Drop agreement.consent_required."""
    with op.batch_alter_table("agreement") as batch:
        batch.drop_column("consent_required")
