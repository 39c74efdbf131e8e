"""Shared fixtures: a real store on SQLite (PostgreSQL fixtures join later)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture
def store_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite store with every table created and reference data seeded."""
    from hub.store.reference import seed_admin_units
    from hub.store.tables import metadata

    engine = create_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        seed_admin_units(conn)
    yield engine
    engine.dispose()
