"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` in a temp dir.

Usage (from any test module or conftest; pytest puts ``tests/`` on ``sys.path``
because ``tests/conftest.py`` is not inside a package, so this imports as ``pg``)::

    from pg import postgres_or_skip, throwaway_postgres

    @pytest.fixture(scope="session")
    def pg_url() -> Iterator[str]:
        bindir = postgres_or_skip()
        with throwaway_postgres(bindir) as url:
            yield url

The cluster itself (socket only, ``trust``, run as an unprivileged user under root) is
`hub.local.postgres`, which ``lgsp airflow --executor celery`` uses too; here is pytest's side.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.local.postgres import find_postgres_bindir, throwaway_postgres

__all__ = ["find_postgres_bindir", "fresh_database", "postgres_or_skip", "throwaway_postgres"]


def postgres_or_skip() -> Path:
    """The PostgreSQL bin dir; skips the test if there is none, but fails under CI=true."""
    bindir = find_postgres_bindir()
    if bindir is None:
        reason = (
            "no PostgreSQL server binaries (initdb/pg_ctl/postgres) on PATH or in "
            "/usr/lib/postgresql/*/bin: install PostgreSQL 15 to run the PostgreSQL tests"
        )
        # CI must test both backends: a missing server there is a broken image, not a skip.
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return bindir


@contextmanager
def fresh_database(server_url: str, prefix: str = "t") -> Iterator[str]:
    """A new, empty database on the server at ``server_url``, dropped (connections and all) afterwards."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
