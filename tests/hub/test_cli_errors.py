"""Bad input to `lgsp`: one clear line on stderr, a non-zero exit, never a traceback, never a password.

Stores that are down, misnamed or missing; ports out of range or in use; option values
out of range; an external system that does not answer. Each case runs through Typer's
CliRunner; the store-down and port-in-use cases also as the real `lgsp` script.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from hub.cli.app import app
from hub.store.migrate import upgrade

LGSP = Path(sys.executable).with_name("lgsp")
PASSWORD = "sekret-pw-123"  # must never be shown
DOWN = f"postgresql+psycopg://lgsp:{PASSWORD}@127.0.0.1:{{port}}/hub"

# Every command that opens the store, with arguments that get it as far as opening it.
STORE_COMMANDS = [
    ["status"],
    ["quarantine"],
    ["report"],
    ["upgrade-db"],
    ["outbox", "list"],
    ["outbox", "replay", "--all-dead"],
    ["outbox", "deliver"],
    ["outbox", "push"],
    ["audit", "verify"],
    ["audit", "export"],
    ["agencies"],
    ["agencies", "load"],
    ["agreements"],
    ["api", "serve", "--port", "0"],
]
# The ones that only read (or act on what a store holds): they never make a store.
READ_ONLY = [command for command in STORE_COMMANDS if command not in (["upgrade-db"], ["agencies", "load"])]
READ_ONLY = [command for command in READ_ONLY if command[0] != "api"]


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LGSP_HOME in a temp dir, no database URL, no endpoint from the environment."""
    for name in list(os.environ):
        if name.startswith(("LGSP_", "AIRFLOW_CONN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def one_clear_line(result: Result) -> str:
    """The failure's stderr, checked: a non-zero exit, one line, no traceback; returned for more checks."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def run_lgsp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real `lgsp` script, as a user runs it."""
    return subprocess.run([str(LGSP), *args], env=env, capture_output=True, text=True, timeout=120)


def clean_env(**values: str) -> dict[str, str]:
    """The process environment without LGSP_* or Airflow connections, plus ``values``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("LGSP_", "AIRFLOW_CONN_"))}
    return {**kept, "COLUMNS": "200", **values}


# --- the store --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_mistyped_home_is_no_store_and_none_is_made(command: list[str], home: Path) -> None:
    line = one_clear_line(CliRunner().invoke(app, command))
    assert f"no store at {home / 'hub.sqlite'}" in line and "lgsp upgrade-db" in line and "LGSP_HOME" in line
    assert not home.exists()  # not the store, not even its folder


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_a_store_that_is_down_is_named_without_its_password(
    command: list[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("LGSP_DATABASE_URL", DOWN.format(port=port))
    result = CliRunner().invoke(app, command)
    line = one_clear_line(result)
    assert result.exit_code == 2
    assert f"postgresql+psycopg://lgsp:***@127.0.0.1:{port}/hub" in line and "nothing answers there" in line
    assert PASSWORD not in result.output


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"postgres ql://lgsp:{PASSWORD}@db/hub", "LGSP_DATABASE_URL is not a database URL"),
        (f"postgresql://lgsp:{PASSWORD}@db:port/hub", "LGSP_DATABASE_URL is not a database URL"),
        (f"postgresql+nosuchdriver://lgsp:{PASSWORD}@db/hub", "driver 'postgresql+nosuchdriver', which is not"),
        (f"mysql://lgsp:{PASSWORD}@db/hub", "unsupported database 'mysql'"),
    ],
)
@pytest.mark.parametrize("command", [["status"], ["upgrade-db"], ["outbox", "list"]], ids=" ".join)
def test_a_url_that_is_not_ours_says_so_without_echoing_it(
    command: list[str], url: str, said: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGSP_DATABASE_URL", url)
    result = CliRunner().invoke(app, command)
    assert said in one_clear_line(result) and result.exit_code == 2
    assert PASSWORD not in result.output


def test_a_file_that_is_no_database_or_an_old_schema_says_what_to_do(home: Path) -> None:
    home.mkdir()
    (home / "hub.sqlite").write_text("these are notes, not a database\n" * 200)
    assert "not an SQLite database" in one_clear_line(CliRunner().invoke(app, ["status"]))
    (home / "hub.sqlite").unlink()
    upgrade(f"sqlite:///{home / 'hub.sqlite'}", "0005")
    line = one_clear_line(CliRunner().invoke(app, ["outbox", "list"]))
    assert "schema revision 0005" in line and "run `lgsp upgrade-db`" in line
    assert CliRunner().invoke(app, ["upgrade-db"]).exit_code == 0
    for command in READ_ONLY:  # a store at the newest schema: they read it
        if command[:2] not in (["outbox", "deliver"], ["outbox", "push"]):  # these need an endpoint too
            result = CliRunner().invoke(app, command)
            assert result.exit_code == 0, (command, result.output)


def test_postgresql_without_lgsp_tables_is_no_store(
    fresh_pg_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGSP_DATABASE_URL", fresh_pg_url)
    for command in (["status"], ["audit", "verify"], ["outbox", "list"]):
        line = one_clear_line(CliRunner().invoke(app, command))
        assert "no store at postgresql+psycopg://" in line and "none of lgsp's tables" in line
    with create_engine(fresh_pg_url).connect() as conn:  # nothing was created
        assert conn.execute(text("select count(*) from pg_tables where schemaname = 'public'")).scalar() == 0
    missing = make_url(fresh_pg_url).set(database="no_such_db").render_as_string(hide_password=False)
    monkeypatch.setenv("LGSP_DATABASE_URL", missing)
    assert "no such database" in one_clear_line(CliRunner().invoke(app, ["status"]))
    assert "the database does not exist" in one_clear_line(CliRunner().invoke(app, ["upgrade-db"]))
    monkeypatch.setenv("LGSP_DATABASE_URL", fresh_pg_url)
    assert CliRunner().invoke(app, ["upgrade-db"]).exit_code == 0
    assert CliRunner().invoke(app, ["status"]).exit_code == 0


@pytest.fixture
def password_role(pg_url: str) -> Iterator[str]:
    """A role that must give its password (scram), on the session's server: its URL with the WRONG password.

    The server trusts every local user; one line at the top of pg_hba.conf, for this role
    only, makes it ask. The line is removed afterwards.
    """
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    role = f"lgsp_pw_{os.getpid()}"
    with admin.connect() as conn:
        hba = Path(conn.execute(text("SHOW hba_file")).scalar_one())
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'the-right-one'"))
        original = hba.read_text()
        hba.write_text(f"local all {role} scram-sha-256\n{original}")
        conn.execute(text("SELECT pg_reload_conf()"))
    try:
        yield make_url(pg_url).set(username=role, password=PASSWORD).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            hba.write_text(original)
            conn.execute(text("SELECT pg_reload_conf()"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def test_a_wrong_password_or_user_is_said_without_the_password(
    password_role: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGSP_DATABASE_URL", password_role)
    for command in (["status"], ["upgrade-db"]):
        result = CliRunner().invoke(app, command)
        line = one_clear_line(result)
        assert "refused the password" in line and ":***@" in line and PASSWORD not in result.output
    nobody = make_url(password_role).set(username="nobody_at_all").render_as_string(hide_password=False)
    monkeypatch.setenv("LGSP_DATABASE_URL", nobody)
    assert "no such user" in one_clear_line(CliRunner().invoke(app, ["status"]))


@pytest.mark.parametrize("command", [["status"], ["upgrade-db"], ["outbox", "list"]], ids=" ".join)
def test_the_real_script_says_the_store_is_down_in_one_line(command: list[str], tmp_path: Path) -> None:
    port = closed_port()
    done = run_lgsp(*command, env=clean_env(LGSP_HOME=str(tmp_path), LGSP_DATABASE_URL=DOWN.format(port=port)))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and f"127.0.0.1:{port}/hub" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr and PASSWORD not in done.stdout + done.stderr


def test_the_real_script_makes_no_store_for_a_mistyped_home(tmp_path: Path) -> None:
    done = run_lgsp("quarantine", env=clean_env(LGSP_HOME=str(tmp_path / "hmoe")))
    assert done.returncode == 2 and done.stderr.startswith("lgsp quarantine failed: no store at")
    assert "Traceback" not in done.stdout + done.stderr and not (tmp_path / "hmoe").exists()


# --- ports and option values ------------------------------------------------------------------

SERVERS = [["api", "serve"], ["mocks", "serve"], ["airflow"]]


@pytest.mark.parametrize("server", SERVERS, ids=" ".join)
@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_named(server: list[str], port: str, home: Path) -> None:
    line = one_clear_line(CliRunner().invoke(app, [*server, "--port", port]))
    assert f"--port {port}: must be between 0 and 65535" in line
    assert not home.exists()


@pytest.mark.parametrize("server", SERVERS, ids=" ".join)
def test_a_port_in_use_is_said_before_anything_starts(server: list[str], busy_port: int, home: Path) -> None:
    line = one_clear_line(CliRunner().invoke(app, [*server, "--port", str(busy_port)]))
    assert line.endswith(f"port {busy_port} on 127.0.0.1 is in use; pick another with --port")
    assert not home.exists()  # the store was not migrated, Airflow not started


@pytest.mark.parametrize("server", SERVERS, ids=" ".join)
def test_the_real_script_says_the_port_is_in_use_in_one_line(server: list[str], busy_port: int, tmp_path: Path) -> None:
    done = run_lgsp(*server, "--port", str(busy_port), env=clean_env(LGSP_HOME=str(tmp_path / "home")))
    assert done.returncode == 2
    assert done.stderr.strip() == f"lgsp {' '.join(server)} failed: port {busy_port} on 127.0.0.1 is in use; " + (
        "pick another with --port"
    )
    assert "Traceback" not in done.stdout + done.stderr and not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    ("command", "named"),
    [
        pytest.param(["run", "--citizens", "0", "--defect-rate", "2"], ["--citizens 0", "--defect-rate 2.0"], id="run"),
        pytest.param(
            ["airflow", "--citizens", "0", "--defect-rate", "-1", "--port", "70000"],
            ["--citizens 0", "--defect-rate -1.0", "--port 70000"],
            id="airflow",
        ),
        pytest.param(
            ["mocks", "serve", "--citizens", "0", "--feed-days", "-3", "--defect-rate", "0.9", "--port", "0"],
            ["--citizens 0", "--feed-days -3", "--defect-rate 0.9"],
            id="mocks serve",
        ),
    ],
)
def test_every_wrong_option_value_is_named(command: list[str], named: list[str], home: Path) -> None:
    line = one_clear_line(CliRunner().invoke(app, command))
    assert all(name in line for name in named), line
    assert not home.exists()  # nothing started


# --- external systems -------------------------------------------------------------------------


def test_an_endpoint_that_does_not_answer_is_named_with_its_origin(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("AIRFLOW_CONN_NATIONAL_POPULATION", f"http://someone:{PASSWORD}@127.0.0.1:{port}/population")
    monkeypatch.setenv("LGSP_MAX_ATTEMPTS", "1")
    result = CliRunner().invoke(app, ["sync", "population"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]  # after the sync's own log lines, if any
    assert f"National Population Database (national_population) at http://127.0.0.1:{port}:" in line
    assert "check that it is running" in line and "AIRFLOW_CONN_NATIONAL_POPULATION" in line
    assert PASSWORD not in result.output and "someone" not in line
