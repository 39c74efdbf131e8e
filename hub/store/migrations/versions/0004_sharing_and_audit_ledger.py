"""Once-only sharing: agencies, agreements, API clients, consents, subscriptions, and the audit ledger.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the sharing tables and the ledger; index citizens by publication for the change feed."""
    op.create_table(
        "agency",
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("push_url", sa.Text(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agency_code", name=op.f("pk_agency")),
    )
    op.create_table(
        "agreement",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("dataset", sa.String(length=40), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("legal_basis", sa.String(length=300), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", name=op.f("pk_agreement")),
    )
    with op.batch_alter_table("agreement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreement_agency_code"), ["agency_code"], unique=False)

    op.create_table(
        "api_client",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_api_client")),
    )
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_client_agency_code"), ["agency_code"], unique=False)

    op.create_table(
        "audit_ledger",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=True),
        sa.Column("purpose", sa.String(length=60), nullable=True),
        sa.Column("legal_basis", sa.String(length=300), nullable=True),
        sa.Column("dataset", sa.String(length=40), nullable=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("record_keys", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_ledger")),
    )
    with op.batch_alter_table("audit_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_ledger_at"), ["at"], unique=False)

    op.create_table(
        "consent",
        sa.Column("consent_id", sa.String(length=64), nullable=False),
        sa.Column("personal_id", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("procedure_code", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("consent_id", name=op.f("pk_consent")),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_personal_id"), ["personal_id"], unique=False)

    head = op.create_table(
        "ledger_head",
        sa.Column("head_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("head_id", name=op.f("pk_ledger_head")),
    )
    # The head row exists from the start, so every append is an UPDATE that takes the lock first.
    op.bulk_insert(head, [{"head_id": 1, "seq": 0, "entry_hash": "0" * 64}])
    op.create_table(
        "subscription",
        sa.Column("subscription_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("dataset", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscription")),
        sa.UniqueConstraint("agency_code", "dataset", "purpose", name=op.f("uq_subscription_agency_code")),
    )
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.create_index("ix_citizen_published_at", ["published_at"], unique=False)
        batch_op.create_index("ix_citizen_published_run_id", ["published_run_id"], unique=False)
    with op.batch_alter_table("civil_event", schema=None) as batch_op:
        batch_op.create_index("ix_civil_event_published_at", ["published_at"], unique=False)


def downgrade() -> None:
    """Drop the sharing tables and the ledger."""
    with op.batch_alter_table("civil_event", schema=None) as batch_op:
        batch_op.drop_index("ix_civil_event_published_at")
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.drop_index("ix_citizen_published_run_id")
        batch_op.drop_index("ix_citizen_published_at")

    op.drop_table("subscription")
    op.drop_table("ledger_head")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_personal_id"))

    op.drop_table("consent")
    with op.batch_alter_table("audit_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_ledger_at"))

    op.drop_table("audit_ledger")
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_client_agency_code"))

    op.drop_table("api_client")
    with op.batch_alter_table("agreement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_agency_code"))

    op.drop_table("agreement")
    op.drop_table("agency")
