"""Reads on the ledger under load: concurrent requests grouped into commits, several worker processes, failures."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from api_support import APPLICANT, FATHER, MOTHER, NAMES, SPOUSE, Api, Clock, family, seed
from sqlalchemy import Engine, func, select, text
from test_api_server import _ready, serve
from typer.testing import CliRunner

from hub import ledger
from hub.api.app import build_app
from hub.api.server import ApiServer
from hub.cli.api import api_app
from hub.settings import load_settings
from hub.sharing.client_secrets import DEMO_CLIENT_SECRET
from hub.store.engine import open_store
from hub.store.tables import audit_ledger

PEOPLE = (APPLICANT, FATHER, MOTHER, SPOUSE)


@pytest.fixture
def served(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    for name in ("LGSP_API_SIGNING_KEY", "LGSP_LEDGER_KEY", "LGSP_SHARING_CONFIG", "LGSP_DEMO"):
        monkeypatch.delenv(name, raising=False)
    engine = open_store(database_url)
    seed(engine, family())
    clock = Clock()
    with (
        ApiServer(build_app(load_settings(home=tmp_path / "home"), engine, clock=clock)) as server,
        httpx.Client(base_url=server.base_url, timeout=60) as http,
    ):
        yield Api(http, engine, clock)
    engine.dispose()


def read_many(base_url: str, bearer: str, count: int, threads: int = 12) -> list[httpx.Response]:
    """``count`` citizen reads from ``threads`` clients at once."""

    def one(n: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=60) as http:
            return http.get(
                f"/v1/citizens/{PEOPLE[n % len(PEOPLE)]}?purpose=health_insurance",
                headers={"Authorization": f"Bearer {bearer}", "X-Request-Id": f"load-{n}"},
            )

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def entries_for(engine: Engine, prefix: str) -> dict[str, str]:
    """correlation id -> outcome of the entries whose correlation id starts with ``prefix``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_ledger.c.correlation_id, audit_ledger.c.outcome).where(
                audit_ledger.c.correlation_id.startswith(prefix)
            )
        ).all()
    return {row.correlation_id: row.outcome for row in rows}


def test_concurrent_reads_are_each_on_the_ledger_once_and_the_chain_holds(served: Api) -> None:
    answers = read_many(str(served.http.base_url), served.token("bhxh-app"), 120)
    assert [answer.status_code for answer in answers] == [200] * 120
    assert entries_for(served.engine, "load-") == {f"load-{n}": "ok" for n in range(120)}
    check = ledger.verify(served.engine)
    assert check.intact, check.reason
    assert check.entries == len(served.ledger())


def test_a_read_whose_entry_cannot_be_committed_is_not_served(served: Api) -> None:
    if served.engine.dialect.name == "sqlite":
        failing = "CREATE TRIGGER refuse BEFORE INSERT ON audit_ledger BEGIN SELECT RAISE(ABORT, 'refused'); END"
        statements = [failing]
    else:
        statements = [
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_ledger FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
    bearer = served.token("bhxh-app")
    with served.engine.begin() as conn:
        before = conn.execute(select(func.count()).select_from(audit_ledger)).scalar()
        for statement in statements:
            conn.execute(text(statement))
    answer = served.http.get(
        f"/v1/citizens/{APPLICANT}?purpose=health_insurance", headers={"Authorization": f"Bearer {bearer}"}
    )
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    for personal in (APPLICANT, NAMES[0]):
        assert personal not in answer.text
    with served.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_ledger)).scalar() == before
    assert ledger.verify(served.engine).intact


def test_several_worker_processes_on_postgresql_share_one_chain(fresh_pg_url: str, tmp_path: Path) -> None:
    engine = open_store(fresh_pg_url)
    seed(engine, family())
    process = serve(tmp_path / "home", "--workers", "2", LGSP_DATABASE_URL=fresh_pg_url)
    try:
        base_url = _ready(process)
        workers = _children_serving(process.pid)
        with httpx.Client(base_url=base_url, timeout=60) as http:
            form = {"grant_type": "client_credentials", "client_id": "bhxh-app", "client_secret": DEMO_CLIENT_SECRET}
            bearer = http.post("/v1/token", data=form).json()["access_token"]
        answers = read_many(base_url, bearer, 160, threads=16)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert len(workers) == 2
    assert [answer.status_code for answer in answers] == [200] * 160
    assert entries_for(engine, "load-") == {f"load-{n}": "ok" for n in range(160)}
    check = ledger.verify(engine)
    engine.dispose()
    assert check.intact, check.reason


def _children_serving(parent: int) -> list[int]:
    """The worker processes uvicorn's supervisor spawned under ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
        if ppid == parent and b"multiprocessing.spawn" in command and b"resource_tracker" not in command:
            found.append(int(entry.name))
    return found


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LGSP_DATABASE_URL", raising=False)
    result = CliRunner().invoke(api_app, ["serve", "--port", "0", "--workers", "2"])
    assert result.exit_code != 0
    assert "needs PostgreSQL" in result.output
