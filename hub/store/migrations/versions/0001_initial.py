"""Initial schema: golden citizen, staging, audit findings, quarantine, sync state and runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.store.reference import current_communes

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table and seed today's communes."""
    admin_unit = op.create_table(
        "admin_unit",
        sa.Column("commune_code", sa.String(length=8), nullable=False),
        sa.Column("province_code", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("commune_code", name=op.f("pk_admin_unit")),
    )
    op.create_table(
        "audit_finding",
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "row_id", "rule", name=op.f("pk_audit_finding")),
    )
    op.create_table(
        "citizen",
        sa.Column("personal_id", sa.String(length=32), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=False),
        sa.Column("nationality", sa.String(length=8), nullable=False),
        sa.Column("ethnicity", sa.String(length=8), nullable=False),
        sa.Column("religion", sa.String(length=8), nullable=False),
        sa.Column("hometown", sa.String(length=200), nullable=False),
        sa.Column("residence_province", sa.String(length=8), nullable=False),
        sa.Column("residence_commune", sa.String(length=8), nullable=False),
        sa.Column("residence_detail", sa.String(length=300), nullable=False),
        sa.Column("father_id", sa.String(length=32), nullable=True),
        sa.Column("mother_id", sa.String(length=32), nullable=True),
        sa.Column("spouse_id", sa.String(length=32), nullable=True),
        sa.Column("marital_status", sa.String(length=12), nullable=False),
        sa.Column("death_date", sa.Date(), nullable=True),
        sa.Column("source_updated_at", sa.DateTime(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=False),
        sa.Column("published_run_id", sa.String(length=250), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("personal_id", name=op.f("pk_citizen")),
    )
    op.create_table(
        "quality_result",
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.Column("expectation", sa.String(length=120), nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "rule", name=op.f("pk_quality_result")),
    )
    op.create_table(
        "quarantine",
        sa.Column("quarantine_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream", sa.String(length=80), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("personal_id", sa.Text(), nullable=True),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("quarantined_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_run_id", sa.String(length=250), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("quarantine_id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("stream", "payload_hash", name=op.f("uq_quarantine_stream")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quarantine_run_id"), ["run_id"], unique=False)

    op.create_table(
        "staging_citizen",
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("page_no", sa.Integer(), nullable=False),
        sa.Column("personal_id", sa.Text(), nullable=True),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.Text(), nullable=True),
        sa.Column("gender", sa.Text(), nullable=True),
        sa.Column("nationality", sa.Text(), nullable=True),
        sa.Column("ethnicity", sa.Text(), nullable=True),
        sa.Column("religion", sa.Text(), nullable=True),
        sa.Column("hometown", sa.Text(), nullable=True),
        sa.Column("residence_province", sa.Text(), nullable=True),
        sa.Column("residence_commune", sa.Text(), nullable=True),
        sa.Column("residence_detail", sa.Text(), nullable=True),
        sa.Column("father_id", sa.Text(), nullable=True),
        sa.Column("mother_id", sa.Text(), nullable=True),
        sa.Column("spouse_id", sa.Text(), nullable=True),
        sa.Column("marital_status", sa.Text(), nullable=True),
        sa.Column("death_date", sa.Text(), nullable=True),
        sa.Column("source_updated_at", sa.Text(), nullable=True),
        sa.Column("contract_error", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_staging_citizen")),
    )
    with op.batch_alter_table("staging_citizen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staging_citizen_run_id"), ["run_id"], unique=False)
        batch_op.create_index("ix_staging_citizen_run_person", ["run_id", "personal_id"], unique=False)

    op.create_table(
        "sync_run",
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("stream", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("cursor_from", sa.String(length=64), nullable=True),
        sa.Column("cursor_to", sa.String(length=64), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("read", sa.Integer(), nullable=False),
        sa.Column("published", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rules_failed", sa.Text(), nullable=True),
        sa.Column("extract_seconds", sa.Float(), nullable=True),
        sa.Column("audit_seconds", sa.Float(), nullable=True),
        sa.Column("publish_seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_sync_run")),
    )
    op.create_table(
        "sync_state",
        sa.Column("stream", sa.String(length=80), nullable=False),
        sa.Column("cursor", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_sync_state")),
    )

    # Reference data the residence rule checks against (vietnam-provinces, July 2025 units).
    op.bulk_insert(admin_unit, current_communes())


def downgrade() -> None:
    """Drop every table."""
    op.drop_table("sync_state")
    op.drop_table("sync_run")
    with op.batch_alter_table("staging_citizen", schema=None) as batch_op:
        batch_op.drop_index("ix_staging_citizen_run_person")
        batch_op.drop_index(batch_op.f("ix_staging_citizen_run_id"))

    op.drop_table("staging_citizen")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_run_id"))

    op.drop_table("quarantine")
    op.drop_table("quality_result")
    op.drop_table("citizen")
    op.drop_table("audit_finding")
    op.drop_table("admin_unit")
