"""Open the hub's database: SQLite under LGSP_HOME by default, PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from hub.store.migrate import alembic_config, upgrade
from lgsp.errors import ConfigError, StoreError


def make_engine(database_url: str, *, pool_size: int = 5, pre_ping: bool = True) -> Engine:
    """An engine for the URL, with SQLite tuned for one writer and concurrent readers.

    ``pool_size``: connections kept open. A server whose threads read at once (the API) keeps
    one per thread: past the pool, each checkout opens a connection and each return closes it.
    ``pre_ping``: PostgreSQL connections are tested (a round trip) at each checkout; a server that
    checks out several per request and can answer one with an error after a restart turns it off.

    ``hide_parameters``: SQLAlchemy otherwise copies bound values (names, ids, birth
    dates) into every database error message, and so into task logs.

    Raises:
        ConfigError: the URL cannot be parsed or names a driver we do not ship.
    """
    url = _parse(database_url)
    try:
        if url.get_backend_name() == "sqlite":
            if url.database:
                _make_folder(Path(url.database).parent)
            engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True, pool_size=pool_size)
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        if url.get_backend_name() == "postgresql":
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is what we install
            return create_engine(url, pool_pre_ping=pre_ping, hide_parameters=True, pool_size=pool_size)
    except SQLAlchemyError as exc:  # e.g. postgresql+nosuchdriver: the plugin does not load
        raise ConfigError(
            f"LGSP_DATABASE_URL names the driver '{url.drivername}', which is not installed: "
            "use postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB or sqlite:///PATH"
        ) from exc
    raise ConfigError(
        f"LGSP_DATABASE_URL names an unsupported database '{url.get_backend_name()}': use SQLite or PostgreSQL"
    )


def _parse(database_url: str) -> URL:
    try:
        return make_url(database_url)
    except Exception:  # noqa: BLE001 - any parse failure is the same mistake
        # Not chained, and the URL not echoed: what failed to parse may hold a password.
        raise ConfigError("LGSP_DATABASE_URL is not a database URL (e.g. postgresql+psycopg://...)") from None


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the store's folder {folder}: {exc.strerror}; fix LGSP_HOME or LGSP_DATABASE_URL"
        ) from exc


def display_url(database_url: str) -> str:
    """The store's URL as messages may show it: a SQLite file's path, else the URL with the password masked."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


_CAUSES = (  # what the driver's text says -> what to tell the user (the text itself is never quoted)
    (("password authentication failed", "no password supplied"), "the server refused the password: fix it"),
    (('role "',), "the server knows no such user: fix the user name"),
    (("does not exist",), "the database does not exist: create it (createdb) or fix its name"),
    (("file is not a database",), "the file is not an SQLite database: fix LGSP_HOME or LGSP_DATABASE_URL"),
    (("unable to open database file",), "SQLite cannot open the file: check the folder's permissions"),
    (("timeout", "timed out"), "the server did not answer in time: check the host and the network"),
    (
        ("refused", "could not connect", "no such file or directory"),
        "nothing answers there: start the database server, or fix the host and port",
    ),
)


def _unreachable(database_url: str, exc: SQLAlchemyError) -> str:
    """Why the store did not let us in, read from the driver's text (not quoted: it may carry values)."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    default = f"{type(exc).__name__}; check that the database is running and reachable"
    cause = next((said for needles, said in _CAUSES if any(n in text for n in needles)), default)
    return f"cannot open the store at {display_url(database_url)}: {cause}"


_WAL_KEEP_BYTES = 64 * 2**20
_PAGE_BYTES = 8192


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API and auditors read while a sync publishes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    # Set before the first table, then fixed for the file's life: a golden citizen (2.6 KB, most of it
    # provenance) filled a 4 KB page alone; 8 KB pages hold three, a third less to write and read.
    cursor.execute(f"PRAGMA page_size={_PAGE_BYTES}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A big transaction must hold all its pages in the -wal file until it commits (a first load is
    # written aside in chunks for that: hub.pipeline.citizen_merge); once checkpointed, the file is cut
    # back to this size rather than keeping its peak on disk for good.
    cursor.execute(f"PRAGMA journal_size_limit={_WAL_KEEP_BYTES}")
    # Debian builds SQLite with secure_delete on: every freed page is zeroed and written again, so
    # dropping a 1M run's staging rows wrote 1 GB of log (15 s). FAST still zeroes deleted rows on
    # the pages a delete writes anyway; what it leaves in free pages, the golden tables hold too.
    cursor.execute("PRAGMA secure_delete=FAST")
    cursor.close()


def open_store(database_url: str) -> Engine:
    """Migrate the schema to the newest revision and return an engine on it.

    Raises:
        StoreError: the database cannot be reached or migrated.
    """
    engine = make_engine(database_url)
    try:
        engine.connect().close()  # a new SQLite file is made by our pragmas (its page size), not by Alembic's engine
        upgrade(database_url)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(_unreachable(database_url, exc)) from exc
    return engine


def open_existing_store(database_url: str) -> Engine:
    """An engine on a store that exists at the newest schema; nothing is created or migrated (read-only commands).

    A mistyped LGSP_HOME must not silently become a new, empty store that answers "nothing".

    Raises:
        ConfigError: the URL cannot be parsed or names a driver we do not ship.
        StoreError: there is no store there (no SQLite file; a database without lgsp's tables), it
            cannot be reached, or its schema is not this code's newest.
    """
    url = _parse(database_url)
    make_one = "run `lgsp run` or `lgsp upgrade-db` to make one (or fix LGSP_HOME / LGSP_DATABASE_URL)"
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        raise StoreError(f"no store at {url.database}: {make_one}")
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        engine.dispose()
        if 'database "' in str(getattr(exc, "orig", "")) and "does not exist" in str(getattr(exc, "orig", "")):
            raise StoreError(f"no store at {display_url(database_url)}: no such database; {make_one}") from exc
        raise StoreError(_unreachable(database_url, exc)) from exc
    problem = _schema_problem(database_url, revision, make_one)
    if problem:
        engine.dispose()
        raise StoreError(problem)
    return engine


def _schema_problem(database_url: str, revision: str | None, make_one: str) -> str:
    """What is wrong with the store's schema revision for this code, or "" if it is the newest."""
    if revision is None:
        return f"no store at {display_url(database_url)}: the database has none of lgsp's tables; {make_one}"
    scripts = ScriptDirectory.from_config(alembic_config(database_url))
    if revision in scripts.get_heads():
        return ""
    try:
        scripts.get_revision(revision)
    except CommandError:
        return (
            f"the database at {display_url(database_url)} is at schema revision {revision}, which is not lgsp's: "
            "is this lgsp older than the store, or is LGSP_DATABASE_URL another application's database?"
        )
    return (
        f"the store at {display_url(database_url)} is at schema revision {revision}, older than this lgsp's "
        f"{', '.join(scripts.get_heads())}: run `lgsp upgrade-db`"
    )


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
