"""What an operator does with the outbox: list it, replay dead letters, measure delays; and how the portal is set up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from connectors.auth import ApiKeyAuth
from connectors.portal import PortalClient
from connectors.rest import RestClient
from hub.cli.outbox import outbox_app
from hub.settings import Settings, load_settings, portal_endpoint
from hub.sharing.delivery import TOPIC, connect_portal, deliver
from hub.sharing.outbox import ACKNOWLEDGED, DEAD, PENDING, delivery_delays, enqueue, list_messages, replay
from hub.store.engine import open_store
from hub.store.tables import outbox
from lgsp.errors import ConfigError

NOW = datetime(2026, 1, 10, 2, 0)
CODE = "H38.01-260105-0001"


def portal_settings(server: Any, tmp_path: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "home": tmp_path,
        "portal_url": f"{server.base_url}/portal/v1",
        "portal_api_key": "demo-only-key",
        "backoff_seconds": 0.01,
        "operation_timeout": 5,
        "max_attempts": 2,
    }
    return load_settings(**{**options, **overrides})


def update_body(status: str, hour: int) -> dict[str, str]:
    return {
        "TrangThai": status,
        "ThoiDiem": f"2026-01-05T{hour:02d}:00:00+07:00",
        "MaThuTuc": "TT-KS-01",
        "MaDonViXuLy": "TINH",
        "KenhNop": "TrucTuyen",
    }


def enqueue_one(engine: Engine, dossier: str, status: str, hour: int, now: datetime = NOW) -> None:
    with engine.begin() as conn:
        enqueue(
            conn,
            topic=TOPIC,
            aggregate_id=dossier,
            payload=update_body(status, hour),
            idempotency_key=f"{dossier}/{status}",
            now=now,
        )


def test_replay_requeues_a_message_that_died_in_an_outage(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server()
    database_url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    monkeypatch.setenv("LGSP_DATABASE_URL", database_url)
    engine, settings = open_store(database_url), portal_settings(server, tmp_path)
    enqueue_one(engine, CODE, "TiepNhan", 8)
    enqueue_one(engine, "H38.01-260105-0002", "TiepNhan", 9)
    outage = {"fault": "http_503", "count": 2, "system": "portal", "operation": "put_status"}
    httpx.post(f"{server.base_url}/_admin/faults", json=outage).raise_for_status()
    assert deliver(engine, settings, now=NOW, max_attempts=1).dead == 1  # one attempt allowed: it dies

    cli = CliRunner()
    listing = cli.invoke(outbox_app, ["list", "--state", "dead"], env={"COLUMNS": "220"})
    assert listing.exit_code == 0, listing.output
    assert "dead: 1" in listing.output and CODE in listing.output and "gave up after 1 attempts" in listing.output
    dead_id = list_messages(engine, DEAD)[0].message_id

    replayed = cli.invoke(outbox_app, ["replay", "--id", str(dead_id), "--id", "999"])
    assert replayed.exit_code == 0 and "re-queued 1 dead message" in replayed.output
    again = list_messages(engine, PENDING)[0]
    assert (again.message_id, again.attempts) == (dead_id, 0)
    assert again.last_error is not None and again.last_error.startswith("replayed ")
    assert "before: gave up after 1 attempts" in again.last_error

    assert deliver(engine, settings).acknowledged == 1  # the wall clock: replay made it due "now"
    assert [row.state for row in list_messages(engine)] == [ACKNOWLEDGED, ACKNOWLEDGED]
    with connect_portal(settings) as portal:
        held = portal.get_status(CODE)
        assert held is not None and held["MaXacNhan"] == list_messages(engine)[-1].ack_id
    assert cli.invoke(outbox_app, ["replay", "--all-dead"]).output.startswith("re-queued 0")
    engine.dispose()


def test_replay_needs_ids_or_all_dead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    with pytest.raises(ValueError, match="either"):
        replay(engine, now=NOW)
    with pytest.raises(ValueError, match="either"):
        replay(engine, message_ids=[1], all_dead=True, now=NOW)
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    monkeypatch.delenv("LGSP_DATABASE_URL", raising=False)
    assert CliRunner().invoke(outbox_app, ["replay"]).exit_code == 2
    assert CliRunner().invoke(outbox_app, ["list", "--state", "lost"]).exit_code == 2
    engine.dispose()


def test_delivery_delays_are_median_and_p95_of_enqueue_to_ack(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Path
) -> None:
    server, engine = mock_server(), open_store(database_url)
    assert delivery_delays(engine, TOPIC) is None
    for i in range(1, 21):  # enqueued i minutes before the run, acknowledged at NOW
        enqueue_one(engine, f"H38.01-260105-{i:04d}", "TiepNhan", 8, now=NOW - timedelta(minutes=i))
    assert deliver(engine, portal_settings(server, tmp_path), now=NOW).acknowledged == 20

    median, p95 = delivery_delays(engine, TOPIC) or (-1.0, -1.0)
    assert median == pytest.approx(10.5 * 60, abs=0.01) and p95 == pytest.approx(19.05 * 60, abs=0.01)
    with engine.begin() as conn:  # a dead message does not count, nor does another topic
        conn.execute(update(outbox).where(outbox.c.message_id == 1).values(state=DEAD))
    assert delivery_delays(engine, "other.topic") is None
    assert delivery_delays(engine, TOPIC) != (median, p95)
    engine.dispose()


def test_the_portal_lists_what_it_holds_page_by_page(mock_server: Callable[..., Any], tmp_path: Path) -> None:
    server = mock_server()
    settings = portal_settings(server, tmp_path)
    with connect_portal(settings) as portal:
        for i in range(1, 16):
            assert portal.put_status(f"H38.01-260105-{i:04d}", update_body("TiepNhan", 8), f"k{i}").status == 202
        assert portal.get_status("H38.01-999999-0001") is None
    client = RestClient(
        "portal", f"{server.base_url}/portal/v1", timeout=5, auth=ApiKeyAuth("X-API-Key", SecretStr("demo-only-key"))
    )
    with PortalClient(client, page_size=4) as paged:  # 4 pages, the last one short
        assert [item["MaHoSo"] for item in paged.list_held()] == [f"H38.01-260105-{i:04d}" for i in range(1, 16)]


def test_the_portal_endpoint_comes_from_the_environment_or_an_airflow_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LGSP_PORTAL_URL", "LGSP_PORTAL_API_KEY", "AIRFLOW_CONN_NATIONAL_PORTAL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_NATIONAL_PORTAL"):
        portal_endpoint(load_settings(home=tmp_path))

    monkeypatch.setenv("AIRFLOW_CONN_NATIONAL_PORTAL", "http://:s3cret-key@portal.example.vn:8443/portal/v1")
    endpoint = portal_endpoint(load_settings(home=tmp_path))
    assert endpoint.url == "http://portal.example.vn:8443/portal/v1"
    assert endpoint.password.get_secret_value() == "s3cret-key"

    monkeypatch.setenv("LGSP_PORTAL_URL", "http://127.0.0.1:9/portal/v1/")
    monkeypatch.setenv("LGSP_PORTAL_API_KEY", "env-key")
    endpoint = portal_endpoint(load_settings(home=tmp_path))
    assert (endpoint.url, endpoint.password.get_secret_value()) == ("http://127.0.0.1:9/portal/v1", "env-key")

    monkeypatch.setenv("LGSP_PORTAL_URL", "https://portal.example.vn/portal/v1")
    monkeypatch.setenv("LGSP_PORTAL_API_KEY", "demo-only-key")
    with pytest.raises(ConfigError, match="non-loopback") as refused:
        portal_endpoint(load_settings(home=tmp_path))
    assert "demo-only-key" not in str(refused.value)


def test_deliver_and_list_from_the_command_line(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server()
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    monkeypatch.delenv("LGSP_DATABASE_URL", raising=False)
    monkeypatch.setenv("LGSP_PORTAL_URL", f"{server.base_url}/portal/v1")
    monkeypatch.setenv("LGSP_PORTAL_API_KEY", "demo-only-key")
    engine = open_store(load_settings().resolved_database_url())
    for hour, status in enumerate(("TiepNhan", "DangXuLy", "CoKetQua"), start=8):
        enqueue_one(engine, CODE, status, hour)

    delivered = CliRunner().invoke(outbox_app, ["deliver", "--limit", "2"])
    assert delivered.exit_code == 0, delivered.output
    assert '"acknowledged": 2' in delivered.output and '"blocked": 0' in delivered.output
    listing = CliRunner().invoke(outbox_app, ["list"], env={"COLUMNS": "220"})
    assert "pending: 1" in listing.output and "acknowledged: 2" in listing.output and "XN00000002" in listing.output
    monkeypatch.setenv("LGSP_PORTAL_API_KEY", "wrong-key")
    refused = CliRunner().invoke(outbox_app, ["deliver"])
    assert refused.exit_code == 2 and "HTTP 401" in refused.output and "wrong-key" not in refused.output
    engine.dispose()
