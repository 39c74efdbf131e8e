"""The population stream is declared (config/systems/national_population.yaml): its runs carry the system's name.

The stream was ``population.citizens``; a declared stream is ``<system>.<stream>``, and the
system is ``national_population`` (the name its provenance always carried). Renaming the
stream where the store keeps it lets the next run continue from the committed cursor, and
keeps the quarantine and the runs' history under one name. The audit ledger is not touched:
its entries are hash-chained, and say what was true when they were written.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD, NEW = "population.citizens", "national_population.citizens"
_TABLES = ("sync_state", "sync_run", "quarantine")


def upgrade() -> None:
    """Rename the stream in the cursor, the runs and the quarantine."""
    _rename(OLD, NEW)


def downgrade() -> None:
    """Give the stream its hand-written name back."""
    _rename(NEW, OLD)


def _rename(old: str, new: str) -> None:
    for name in _TABLES:
        table = sa.table(name, sa.column("stream", sa.String))
        op.execute(table.update().where(table.c.stream == old).values(stream=new))
