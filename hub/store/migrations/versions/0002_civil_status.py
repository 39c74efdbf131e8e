"""Civil status: staged and accepted events, and the conflicts between sources.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the civil-status tables."""
    op.create_table(
        "civil_event",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("personal_id", sa.String(length=32), nullable=False),
        sa.Column("spouse_id", sa.String(length=32), nullable=True),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("commune", sa.String(length=8), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_civil_event")),
    )
    with op.batch_alter_table("civil_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_civil_event_outcome"), ["outcome"], unique=False)
        batch_op.create_index(batch_op.f("ix_civil_event_personal_id"), ["personal_id"], unique=False)

    op.create_table(
        "field_conflict",
        sa.Column("conflict_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("personal_id", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("kept_value", sa.Text(), nullable=True),
        sa.Column("kept_source", sa.String(length=60), nullable=False),
        sa.Column("kept_updated_at", sa.DateTime(), nullable=False),
        sa.Column("other_value", sa.Text(), nullable=True),
        sa.Column("other_source", sa.String(length=60), nullable=False),
        sa.Column("other_updated_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("conflict_id", name=op.f("pk_field_conflict")),
        sa.UniqueConstraint(
            "personal_id", "field", "other_source", "other_updated_at", name=op.f("uq_field_conflict_personal_id")
        ),
    )
    with op.batch_alter_table("field_conflict", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_field_conflict_personal_id"), ["personal_id"], unique=False)

    op.create_table(
        "staging_civil_event",
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("page_no", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.Column("event_type", sa.Text(), nullable=True),
        sa.Column("personal_id", sa.Text(), nullable=True),
        sa.Column("spouse_id", sa.Text(), nullable=True),
        sa.Column("event_date", sa.Text(), nullable=True),
        sa.Column("commune", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.Text(), nullable=True),
        sa.Column("contract_error", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_staging_civil_event")),
    )
    with op.batch_alter_table("staging_civil_event", schema=None) as batch_op:
        batch_op.create_index("ix_staging_civil_event_run_event", ["run_id", "event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staging_civil_event_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    """Drop the civil-status tables."""
    with op.batch_alter_table("staging_civil_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staging_civil_event_run_id"))
        batch_op.drop_index("ix_staging_civil_event_run_event")

    op.drop_table("staging_civil_event")
    with op.batch_alter_table("field_conflict", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_field_conflict_personal_id"))

    op.drop_table("field_conflict")
    with op.batch_alter_table("civil_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_civil_event_personal_id"))
        batch_op.drop_index(batch_op.f("ix_civil_event_outcome"))

    op.drop_table("civil_event")
