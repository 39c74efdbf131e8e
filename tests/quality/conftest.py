"""Fixtures for the quality tests: the store on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A fresh store with every table and today's communes, on each supported backend."""
    if request.param == "sqlite":
        yield request.getfixturevalue("store_engine")
        return
    from hub.store.reference import seed_admin_units
    from hub.store.tables import metadata

    pg = create_engine(request.getfixturevalue("fresh_pg_url"))
    metadata.create_all(pg)
    with pg.begin() as conn:
        seed_admin_units(conn)
    yield pg
    pg.dispose()
