"""A PostgreSQL cluster of its own: ``initdb`` + ``pg_ctl`` in a temp dir, for the tests and ``lgsp airflow``.

The server listens on a Unix socket inside the temp dir only (``listen_addresses=''``),
on a port number picked free on loopback, so parallel sessions never collide and
nothing is reachable from the network. Authentication is ``trust`` for the
``postgres`` superuser: the cluster lives as long as its block and is deleted after.

``initdb`` refuses to run as root, and so does ``postgres``. When we are root (as in
the development containers), the cluster is created and run as an unprivileged
system user (``postgres`` if it exists, else ``nobody``) through ``runuser``; the
temp dir is created directly under the system temp dir (a home dir of mode 0700
could not be traversed by that user) and chowned.
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
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - our argv
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
