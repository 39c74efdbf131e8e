"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` in a temp dir.

Usage (from any test module or conftest; pytest puts ``tests/`` on ``sys.path``
because ``tests/conftest.py`` is not inside a package, so this imports as ``pg``)::

    from pg import postgres_or_skip, throwaway_postgres

    @pytest.fixture(scope="session")
    def pg_url() -> Iterator[str]:
        bindir = postgres_or_skip()
        with throwaway_postgres(bindir) as url:
            yield url

The server listens on a Unix socket inside the temp dir only (``listen_addresses=''``),
on a port number picked free on loopback, so parallel sessions never collide and
nothing is reachable from the network. Authentication is ``trust`` for the
``postgres`` superuser: the cluster lives for one test session and is deleted after.

``initdb`` refuses to run as root, and so does ``postgres``. When we are root (as in
the development containers), the cluster is created and run as an unprivileged
system user (``postgres`` if it exists, else ``nobody``) through ``runuser``; the
temp dir is created directly under the system temp dir (pytest's ``tmp_path`` is
mode 0700 under root's directory, which that user could not traverse) and chowned.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_SERVICE_USERS = ("postgres", "nobody")


def find_postgres_bindir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    # Debian/Ubuntu keep the server binaries off PATH; newest major first.
    candidates += sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: _major(p.parent.name),
        reverse=True,
    )
    for bindir in candidates:
        if all((bindir / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


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
def throwaway_postgres(bindir: Path, *, database: str = "postgres") -> Iterator[str]:
    """Run a fresh cluster for the duration of the block; yields a SQLAlchemy URL.

    Raises:
        RuntimeError: ``initdb`` or ``pg_ctl start`` failed (the message carries their output).
    """
    runas = _service_user()
    root = Path(tempfile.mkdtemp(prefix="lgsp-pg-"))
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    if runas is not None:
        for path in (root, sockets):
            os.chown(path, runas.pw_uid, runas.pw_gid)
    port = _free_port()
    pg_ctl = str(bindir / "pg_ctl")
    try:
        _run(
            runas,
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            what="initdb",
        )
        server_options = (
            f"-p {port} -k {sockets} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        _run(
            runas,
            [pg_ctl, "-D", str(data), "-l", str(log), "-o", server_options, "-w", "-t", "30", "start"],
            what="pg_ctl start",
            log=log,
        )
        try:
            yield f"postgresql+psycopg://postgres@/{database}?host={sockets}&port={port}"
        finally:
            _run(runas, [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], what="pg_ctl stop", check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


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


def _service_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in _SERVICE_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(
        "running as root and neither a 'postgres' nor a 'nobody' user exists: "
        "PostgreSQL refuses to run as root; create one of them"
    )


def _run(
    runas: pwd.struct_passwd | None,
    argv: list[str],
    *,
    what: str,
    log: Path | None = None,
    check: bool = True,
) -> None:
    """Run one PostgreSQL tool, as ``runas`` if given; raise with its output on failure."""
    if runas is not None:
        argv = ["runuser", "-u", runas.pw_name, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        server_log = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise RuntimeError(
            f"{what} failed with exit code {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}{server_log}"
        )


def _free_port() -> int:
    """A TCP port nobody listens on right now (names the socket file)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _major(version: str) -> int:
    """'15' -> 15; anything else sorts last."""
    return int(version) if version.isdigit() else -1
