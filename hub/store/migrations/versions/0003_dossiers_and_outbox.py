"""Dossiers from the one-stop system, their routing, and the transactional outbox.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the dossier and outbox tables."""
    op.create_table(
        "dossier",
        sa.Column("dossier_id", sa.String(length=64), nullable=False),
        sa.Column("procedure_code", sa.String(length=32), nullable=False),
        sa.Column("applicant_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("receiving_unit", sa.String(length=16), nullable=False),
        sa.Column("processing_unit", sa.String(length=16), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_id", name=op.f("pk_dossier")),
    )
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dossier_applicant_id"), ["applicant_id"], unique=False)

    op.create_table(
        "dossier_routing",
        sa.Column("dossier_id", sa.String(length=64), nullable=False),
        sa.Column("competent_unit", sa.String(length=16), nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("routed_at", sa.DateTime(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("returned_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("dossier_id", name=op.f("pk_dossier_routing")),
    )
    with op.batch_alter_table("dossier_routing", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dossier_routing_competent_unit"), ["competent_unit"], unique=False)

    op.create_table(
        "dossier_status",
        sa.Column("dossier_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_id", "seq", name=op.f("pk_dossier_status")),
    )
    op.create_table(
        "outbox",
        sa.Column("message_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=60), nullable=False),
        sa.Column("aggregate_id", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("ack_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
        sa.UniqueConstraint("topic", "aggregate_id", "sequence", name=op.f("uq_outbox_topic")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_state"), ["state"], unique=False)

    op.create_table(
        "staging_dossier",
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("page_no", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Text(), nullable=True),
        sa.Column("procedure_code", sa.Text(), nullable=True),
        sa.Column("personal_id", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("received_at", sa.Text(), nullable=True),
        sa.Column("due_at", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("history", sa.Text(), nullable=True),
        sa.Column("receiving_unit", sa.Text(), nullable=True),
        sa.Column("processing_unit", sa.Text(), nullable=True),
        sa.Column("source_updated_at", sa.Text(), nullable=True),
        sa.Column("contract_error", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_staging_dossier")),
    )
    with op.batch_alter_table("staging_dossier", schema=None) as batch_op:
        batch_op.create_index("ix_staging_dossier_run_dossier", ["run_id", "dossier_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staging_dossier_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    """Drop the dossier and outbox tables."""
    with op.batch_alter_table("staging_dossier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staging_dossier_run_id"))
        batch_op.drop_index("ix_staging_dossier_run_dossier")

    op.drop_table("staging_dossier")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_state"))

    op.drop_table("outbox")
    op.drop_table("dossier_status")
    with op.batch_alter_table("dossier_routing", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_routing_competent_unit"))

    op.drop_table("dossier_routing")
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_applicant_id"))

    op.drop_table("dossier")
