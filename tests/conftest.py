"""Shared fixtures: real stores (SQLite and a throwaway PostgreSQL) and a real mock server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server for the whole session (initdb + pg_ctl in a temp dir)."""
    from pg import postgres_or_skip, throwaway_postgres

    bindir = postgres_or_skip()
    with throwaway_postgres(bindir) as url:
        yield url


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL server, dropped afterwards."""
    from pg import fresh_database

    with fresh_database(pg_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The hub's store on each backend we support: SQLite file, fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.sqlite'}"
    return str(request.getfixturevalue("fresh_pg_url"))


@pytest.fixture
def store(database_url: str) -> Iterator[Engine]:
    """A migrated, empty store on each backend (a test module may define its own ``store``)."""
    from hub.store.engine import open_store

    engine = open_store(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def mock_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Start the simulated national systems on a free loopback port: ``mock_server(citizens=600)``."""
    from declared_connections import declared_connections

    from mocks.server import MockServer
    from mocks.settings import MockSettings

    started: list[Any] = []

    def start(**options: Any) -> Any:
        server = MockServer(MockSettings(**{"citizens": 600, "seed": 7, **options}))
        server.__enter__()
        started.append(server)
        # The declared systems' Airflow connections point at the newest mock, as `lgsp run`'s do. The test's own
        # monkeypatch holds them: one undo, after the test's, so that no later test inherits them.
        for name, uri in declared_connections(server).items():
            monkeypatch.setenv(name, uri)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
