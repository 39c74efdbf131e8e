"""Open the hub's database: SQLite under LGSP_HOME by default, PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from connectors.errors import ConfigError, StoreError
from hub.store.migrate import upgrade


def make_engine(database_url: str) -> Engine:
    """An engine for the URL, with SQLite tuned for one writer and concurrent readers.

    ``hide_parameters``: SQLAlchemy otherwise copies bound values (names, ids, birth
    dates) into every database error message, and so into task logs.

    Raises:
        ConfigError: the URL cannot be parsed or names a driver we do not ship.
    """
    try:
        url = make_url(database_url)
    except Exception as exc:
        raise ConfigError("LGSP_DATABASE_URL is not a database URL (e.g. postgresql+psycopg://...)") from exc
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is what we install
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    raise ConfigError(f"unsupported database '{url.get_backend_name()}': use SQLite or PostgreSQL")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API and auditors read while a sync publishes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_store(database_url: str) -> Engine:
    """Migrate the schema to the newest revision and return an engine on it.

    Raises:
        StoreError: the database cannot be reached or migrated.
    """
    engine = make_engine(database_url)
    try:
        upgrade(database_url)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(
            f"cannot migrate the store at {make_url(database_url).render_as_string(hide_password=True)}: "
            f"{type(exc).__name__}; check that the database is running and reachable"
        ) from exc
    return engine


@contextmanager
def store_errors(stage: str) -> Iterator[None]:
    """Turn a database error into a StoreError that names the failure, not the data.

    PostgreSQL's messages quote the offending values ("Key (personal_id)=(...)
    already exists"), so the original error is deliberately not chained: its
    SQLSTATE, constraint and table are carried over instead.

    Raises:
        StoreError: the database refused or lost the stage's work; nothing was committed.
    """
    try:
        yield
    except DBAPIError as exc:
        diag = getattr(exc.orig, "diag", None)
        sqlstate = getattr(exc.orig, "sqlstate", None) or "-"
        where = ", ".join(
            f"{name}={value}" for name in ("constraint_name", "table_name") if (value := getattr(diag, name, None))
        )
        raise StoreError(
            f"{stage}: the database refused the work ({type(exc.orig).__name__}, SQLSTATE {sqlstate}"
            f"{', ' + where if where else ''}); nothing was committed. Check the database's health and re-run."
        ) from None
