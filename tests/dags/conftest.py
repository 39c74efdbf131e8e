"""What the tests of a real Airflow cluster share: the hub's store on the session's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import fresh_database
from sqlalchemy import Engine

from hub.settings import load_settings
from hub.sharing.registry import load_configured
from hub.store.engine import open_store


@pytest.fixture
def store_url(pg_url: str) -> Iterator[str]:
    """A second fresh database on the session's PostgreSQL (``fresh_pg_url`` is Airflow's): the hub's store."""
    with fresh_database(pg_url, prefix="store") as url:
        yield url


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Engine]:
    """The store migrated, with config/sharing in force (agencies, agreements, subscriptions)."""
    engine = open_store(store_url)
    load_configured(engine, load_settings(home=tmp_path))
    yield engine
    engine.dispose()
