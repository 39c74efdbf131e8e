"""The API as agencies meet it: a real uvicorn server on loopback, on SQLite and PostgreSQL, and `lgsp api serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import ADDRESS, APPLICANT, FATHER, MOTHER, NAMES, SPOUSE, Api, Clock, family, seed, sharing_config
from typer.testing import CliRunner

from hub import ledger
from hub.api.app import build_app
from hub.api.server import ApiServer, is_loopback, refuse_demo_secrets
from hub.cli.api import api_app
from hub.settings import load_settings
from hub.sharing.client_secrets import hash_secret
from hub.store.engine import open_store
from lgsp.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def served(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The API on a free loopback port over a migrated store (SQLite, then PostgreSQL)."""
    for name in ("LGSP_API_SIGNING_KEY", "LGSP_LEDGER_KEY", "LGSP_SHARING_CONFIG", "LGSP_DEMO"):
        monkeypatch.delenv(name, raising=False)
    engine = open_store(database_url)
    clock = Clock()
    with (
        ApiServer(build_app(load_settings(home=tmp_path / "home"), engine, clock=clock)) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        yield Api(http, engine, clock)
    engine.dispose()


def _session(api: Api) -> dict[str, Any]:
    """A morning of requests: reads, a refused read, consent, prefill, revocation, the feed, subscriptions."""
    outcomes: dict[str, Any] = {}
    outcomes["read"] = api.get(f"/v1/citizens/{APPLICANT}?purpose=health_insurance", "bhxh-app").status_code
    outcomes["refused"] = api.get(f"/v1/citizens/{SPOUSE}?purpose=vaccination", "so-y-te-app").status_code
    consent_id = api.consent(agency="TU-PHAP", procedure="TT-LL-01", purpose="judicial_record")
    body = {"procedure": "TT-LL-01", "citizen_id": APPLICANT, "consent_id": consent_id}
    outcomes["prefill"] = api.post("/v1/prefill", "tu-phap-app", json=body).status_code
    outcomes["preview"] = api.get(f"/v1/consents/{consent_id}/preview", "cong-dvc-consent").status_code
    outcomes["revoke"] = api.delete(f"/v1/consents/{consent_id}", "cong-dvc-consent").status_code
    outcomes["after revoke"] = api.post("/v1/prefill", "tu-phap-app", json=body).status_code
    page = api.get(
        "/v1/changes?dataset=citizen&purpose=civil_status_registration&since=2026-01-01T00:00:00&limit=3", "tu-phap-app"
    )
    outcomes["feed"] = [page.status_code, len(page.json()["items"])]
    rest = api.get(
        f"/v1/changes?dataset=citizen&purpose=civil_status_registration&limit=3&cursor={page.json()['next_cursor']}",
        "tu-phap-app",
    )
    outcomes["feed"] += [rest.status_code, len(rest.json()["items"])]
    created = api.post(
        "/v1/subscriptions", "cong-an-app", json={"dataset": "citizen", "purpose": "residence_registration"}
    )
    outcomes["subscribe"] = created.status_code
    outcomes["unsubscribe"] = api.delete(
        f"/v1/subscriptions/{created.json()['subscription_id']}", "cong-an-app"
    ).status_code
    outcomes["hostile"] = api.get("/v1/citizens/'%20OR%201=1--?purpose=health_insurance", "bhxh-app").status_code
    outcomes["consent_id"] = consent_id
    return outcomes


def test_a_session_over_a_real_server_leaves_an_intact_ledger_without_personal_values(served: Api) -> None:
    api = served
    seed(api.engine, family())
    outcomes = _session(api)
    consent_id = outcomes.pop("consent_id")
    assert outcomes == {
        "read": 200,
        "refused": 403,
        "prefill": 200,
        "preview": 200,
        "revoke": 200,
        "after revoke": 403,
        "feed": [200, 3, 200, 1],
        "subscribe": 201,
        "unsubscribe": 200,
        "hostile": 422,
    }
    check = ledger.verify(api.engine)
    assert check.intact, check.reason
    rows = api.ledger()
    assert check.entries == len(rows) >= 12
    actions = [row["action"] for row in rows]
    assert actions[0] == "registry_load" and actions.count("prefill") == 2
    assert {(row["action"], row["outcome"], row["detail"]) for row in rows} >= {
        ("api_read", "denied", "agreement_expired"),
        ("prefill", "denied", "consent_revoked"),
    }
    dumped = json.dumps(rows, default=str, ensure_ascii=False)
    for personal in (APPLICANT, FATHER, MOTHER, SPOUSE, *NAMES, ADDRESS, "1990-05-17", consent_id):
        assert personal not in dumped, personal


def test_the_request_id_crosses_the_wire(served: Api) -> None:
    response = served.http.get("/openapi.json", headers={"X-Request-Id": "wire-1"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "wire-1"
    refused = served.http.get("/v1/citizens/001090000011?purpose=x", headers={"X-Request-Id": "x" * 200})
    assert refused.status_code == 401 and len(refused.headers["x-request-id"]) == 32


def test_lgsp_api_serve_works_on_a_fresh_home(tmp_path: Path) -> None:
    process = serve(tmp_path / "home")
    try:
        base_url = _ready(process)
        with httpx.Client(base_url=base_url, timeout=30) as http:
            assert http.get("/openapi.json").status_code == 200
            token = http.post(
                "/v1/token",
                data={"grant_type": "client_credentials", "client_id": "bhxh-app", "client_secret": "demo-only-secret"},
            )
            assert token.status_code == 200
            missing = http.get(
                f"/v1/citizens/{APPLICANT}?purpose=health_insurance",
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
            assert missing.status_code == 404  # the registry was loaded; nobody is published yet
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert (tmp_path / "home" / "hub.sqlite").exists()


def serve(home: Path, *options: str, **env: str) -> subprocess.Popen[str]:
    """``lgsp api serve`` on a free port in its own process, on ``home`` and none of this shell's LGSP_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli.api", "serve", "--port", "0", *options],
        cwd=ROOT,
        env={**clean, "LGSP_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ready(process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("READY "):
            return line.split()[1]
        if not line and process.poll() is not None:
            raise AssertionError(f"serve exited: {process.stderr.read() if process.stderr else ''}")
    raise AssertionError("serve did not get ready in 60 s")


def test_serve_refuses_a_public_host_while_demo_secrets_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    for name in ("LGSP_DATABASE_URL", "LGSP_SHARING_CONFIG", "LGSP_DEMO"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(api_app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "demo secret" in result.output and "LGSP_DEMO=true" in result.output and "bhxh-app" in result.output


def test_the_demo_guard_passes_loopback_the_demo_flag_and_real_secrets(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    settings = load_settings(home=tmp_path / "home")
    build_app(settings, engine)
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        refuse_demo_secrets(engine, host, settings)
    refuse_demo_secrets(engine, "10.0.0.5", load_settings(home=tmp_path / "home", demo=True))
    with pytest.raises(ConfigError, match="cong-dvc-consent"):
        refuse_demo_secrets(engine, "10.0.0.5", settings)

    def real_secrets(agencies: dict[str, Any], _agreements: dict[str, Any]) -> None:
        for agency in agencies["agencies"]:
            for client in agency["clients"]:
                client["secret_hash"] = hash_secret(f"a real secret for {client['client_id']}")

    real = load_settings(home=tmp_path / "home", sharing_config=sharing_config(tmp_path / "config", real_secrets))
    build_app(real, engine)
    refuse_demo_secrets(engine, "10.0.0.5", real)
    engine.dispose()
