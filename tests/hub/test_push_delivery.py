"""Pushes delivered to the real mock receivers: once each, exactly the granted fields, signed, ledgered, resilient."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import population_sync
import pytest
from sqlalchemy import Engine, func, select
from test_push import (
    SUBSCRIBERS,
    agreed_fields,
    assert_carries_the_golden_record,
    golden,
    load_sharing,
    pushes,
    settings_for,
    sharing_config,
    sync_with_deaths,
)

from hub import ledger
from hub.pipeline import runs
from hub.settings import agency_push_endpoint, load_settings
from hub.sharing.delivery import backoff, deliver_pushes
from hub.sharing.outbox import ACKNOWLEDGED, DEAD, PENDING, replay
from hub.store.engine import open_store
from hub.store.tables import audit_ledger, citizen, outbox
from lgsp.errors import ConfigError, FatalSourceError

SECRET = "demo-only-push-secret"


def connect(monkeypatch: pytest.MonkeyPatch, server: Any, *codes: str, secret: str = SECRET) -> None:
    """Point the agencies' push connections at the mock receivers."""
    origin = server.base_url.split("//", 1)[1]
    for code in codes or tuple(SUBSCRIBERS):
        variable = "AIRFLOW_CONN_AGENCY_PUSH_" + code.upper().replace("-", "_")
        monkeypatch.setenv(variable, f"http://:{secret}@{origin}/agency/v1/{code}/inbox")


def received(server: Any, code: str) -> list[dict[str, Any]]:
    """Everything the agency's receiver recorded, page by page."""
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = httpx.get(f"{server.base_url}/agency/v1/{code}/_received", params={"offset": offset, "limit": 500})
        items += page.json()["items"]
        offset = page.json()["next_offset"]
    return items


def stats(server: Any, code: str) -> dict[str, int]:
    return httpx.get(f"{server.base_url}/agency/v1/{code}/_admin/stats").json()  # type: ignore[no-any-return]


def states(engine: Engine, code: str) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(outbox.c.state, func.count()).where(outbox.c.topic == f"push.{code}").group_by(outbox.c.state)
            )
            .tuples()
            .all()
        )


def push_entries(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(row)
            for row in conn.execute(
                select(audit_ledger).where(audit_ledger.c.action == "push").order_by(audit_ledger.c.seq)
            ).mappings()
        ]


def assert_ledger_intact_and_anonymous(engine: Engine) -> None:
    assert ledger.verify(engine).intact
    with engine.connect() as conn:
        dumped = json.dumps([dict(row) for row in conn.execute(select(audit_ledger)).mappings()], default=str)
        ids = list(conn.execute(select(citizen.c.personal_id)).scalars())
    assert not [pid for pid in ids if pid in dumped]


def test_every_change_reaches_each_subscriber_once_with_exactly_its_fields(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, engine = mock_server(), open_store(database_url)
    settings = settings_for(server, database_url, tmp_path)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)
    population_sync.sync("p1", settings, engine)
    store = golden(engine)

    summaries = deliver_pushes(engine, settings)

    total = len(store)
    assert {code: s.as_dict() for code, s in summaries.items()} == {
        code: {"sent": total, "acknowledged": total, "retried": 0, "dead": 0, "blocked": 0} for code in SUBSCRIBERS
    }
    granted = agreed_fields()
    for code in SUBSCRIBERS:
        arrived = received(server, code)
        assert sorted(item["payload"]["key"] for item in arrived) == sorted(store)  # each changed citizen, once
        for item in arrived:
            assert_carries_the_golden_record(item["payload"], store[item["payload"]["key"]], granted[code])
        assert stats(server, code)["replays"] == 0 and stats(server, code)["rejected_401"] == 0
        with engine.connect() as conn:
            acks = dict(
                conn.execute(select(outbox.c.idempotency_key, outbox.c.ack_id).where(outbox.c.topic == f"push.{code}"))
                .tuples()
                .all()
            )
        assert acks == {item["idempotency_key"]: item["MaXacNhan"] for item in arrived}
    assert not {"residence_detail", "father_id"} & {
        name for item in received(server, "BHXH") for name in item["payload"]["fields"]
    }
    entries = push_entries(engine)  # one per batch, listing the records it carried
    assert sum(entry["record_count"] for entry in entries) == 2 * total
    assert {entry["outcome"] for entry in entries} == {ACKNOWLEDGED}
    bhxh = [entry for entry in entries if entry["agency_code"] == "BHXH"]
    assert {(e["purpose"], e["dataset"], e["fields"]) for e in bhxh} == {
        ("health_insurance", "citizen", ",".join(sorted(granted["BHXH"])))
    }
    assert sum(entry["record_count"] for entry in bhxh) == total and len(bhxh) == stats(server, "BHXH")["batches"]
    assert_ledger_intact_and_anonymous(engine)

    # A re-run of both sends nothing twice.
    assert all(s.sent == 0 for s in deliver_pushes(engine, settings).values())
    assert population_sync.sync("p2", settings, engine).read == 0
    assert deliver_pushes(engine, settings) == {}  # nothing open: no agency is even called
    assert all(stats(server, code)["held"] == total and stats(server, code)["replays"] == 0 for code in SUBSCRIBERS)
    engine.dispose()


def test_503s_and_429s_are_retried_until_every_push_is_through(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mock_server(citizens=200), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    # Batches of 20: the faults below hit some requests of a run, not its only one.
    settings, engine = settings_for(server, url, tmp_path, push_batch_size=20), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)
    population_sync.sync("p1", settings, engine)
    total = len(golden(engine))
    for rule in (
        {"fault": "http_429", "count": 2, "system": "agency", "seconds": 0, "after": 2},
        {"fault": "http_503", "count": 3, "system": "agency", "operation": "receive.BHXH", "after": 3},
        {"fault": "connection_reset", "count": 1, "system": "agency", "after": 8},
    ):
        httpx.post(f"{server.base_url}/_admin/faults", json=rule).raise_for_status()
    now = runs.utcnow()

    first = deliver_pushes(engine, settings, now=now)  # three 503s in a row outlast the client's 3 attempts

    assert first["TU-PHAP"].acknowledged == total
    assert (first["BHXH"].acknowledged, first["BHXH"].retried) == (total - 20, 20)  # that one batch, whole
    assert deliver_pushes(engine, settings, now=now + timedelta(seconds=30))["BHXH"].sent == 0  # not due yet
    assert deliver_pushes(engine, settings, now=now + backoff(1))["BHXH"].acknowledged == 20
    for code in SUBSCRIBERS:
        assert states(engine, code) == {ACKNOWLEDGED: total}
        assert stats(server, code)["held"] == total and len(received(server, code)) == total
    engine.dispose()


def test_a_receiver_that_refuses_everything_dead_letters_then_replay_delivers(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mock_server(citizens=200), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)
    population_sync.sync("p1", settings, engine)
    total = len(golden(engine))
    httpx.put(f"{server.base_url}/agency/v1/BHXH/_admin/refusal", json={"status": 422}).raise_for_status()

    refused = deliver_pushes(engine, settings)

    assert (refused["BHXH"].dead, refused["BHXH"].acknowledged, refused["TU-PHAP"].acknowledged) == (total, 0, total)
    with engine.connect() as conn:
        errors = set(conn.execute(select(outbox.c.last_error).where(outbox.c.state == DEAD)).scalars())
    assert len(errors) == 1 and errors.pop().startswith("HTTP 422 urn:lgsp:mock:agency:problem:refused")
    dead = [entry for entry in push_entries(engine) if entry["outcome"] == DEAD]
    assert sum(entry["record_count"] for entry in dead) == total
    assert {entry["agency_code"] for entry in dead} == {"BHXH"}

    httpx.delete(f"{server.base_url}/agency/v1/BHXH/_admin/refusal").raise_for_status()  # the agency fixed it
    assert replay(engine, all_dead=True, now=runs.utcnow()) == total
    assert deliver_pushes(engine, settings)["BHXH"].acknowledged == total
    assert sorted(item["payload"]["key"] for item in received(server, "BHXH")) == sorted(golden(engine))
    assert states(engine, "BHXH") == {ACKNOWLEDGED: total}
    assert_ledger_intact_and_anonymous(engine)
    engine.dispose()


def test_a_wrong_secret_stops_that_agency_only(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mock_server(citizens=200), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)
    connect(monkeypatch, server, "BHXH", secret="not-the-agreed-secret")
    population_sync.sync("p1", settings, engine)
    total = len(golden(engine))

    with pytest.raises(FatalSourceError, match=r"agency BHXH.*HTTP 401") as stopped:
        deliver_pushes(engine, settings)

    assert "not-the-agreed-secret" not in str(stopped.value) and "TU-PHAP" not in str(stopped.value)
    assert states(engine, "TU-PHAP") == {ACKNOWLEDGED: total} and len(received(server, "TU-PHAP")) == total
    assert states(engine, "BHXH") == {PENDING: total} and stats(server, "BHXH")["rejected_401"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.max(outbox.c.attempts)).where(outbox.c.topic == "push.BHXH")).scalar() == 0
    connect(monkeypatch, server, "BHXH")  # the operator sets the agreed secret
    assert deliver_pushes(engine, settings)["BHXH"].acknowledged == total
    engine.dispose()


def test_an_agency_without_an_endpoint_waits_and_the_others_are_served(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server, url = mock_server(citizens=200), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server, "TU-PHAP")
    monkeypatch.delenv("AIRFLOW_CONN_AGENCY_PUSH_BHXH", raising=False)
    population_sync.sync("p1", settings, engine)
    total = len(golden(engine))

    with caplog.at_level(logging.WARNING, logger="hub.sharing.delivery"):
        summaries = deliver_pushes(engine, settings)

    assert set(summaries) == {"TU-PHAP"} and summaries["TU-PHAP"].acknowledged == total
    assert states(engine, "BHXH") == {PENDING: total} and received(server, "BHXH") == []
    # Delivery's own warnings only: an earlier test may have left the root logger at INFO.
    waiting = [
        record.getMessage()
        for record in caplog.records
        if record.name == "hub.sharing.delivery" and record.levelno >= logging.WARNING and "BHXH" in record.getMessage()
    ]
    assert len(waiting) == 1 and f"{total} push(es) wait" in waiting[0]
    engine.dispose()


def test_an_agreement_that_lapses_before_delivery_sends_nothing(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mock_server(citizens=200), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)
    population_sync.sync("p1", settings, engine)
    total = len(golden(engine))
    yesterday = runs.utcnow().date() - timedelta(days=1)
    load_sharing(engine, settings, sharing_config(tmp_path / "lapsed", bhxh_until=yesterday))  # queued, then lapsed

    summaries = deliver_pushes(engine, settings)

    assert (summaries["BHXH"].sent, summaries["BHXH"].dead, summaries["TU-PHAP"].acknowledged) == (0, total, total)
    assert received(server, "BHXH") == []
    with engine.connect() as conn:
        reasons = set(conn.execute(select(outbox.c.last_error).where(outbox.c.state == DEAD)).scalars())
    assert reasons == {"not sent: the agreement no longer allows it (agreement_expired); replay once it is renewed"}
    assert_ledger_intact_and_anonymous(engine)
    engine.dispose()


def test_a_death_from_the_civil_status_register_reaches_bhxh(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mock_server(citizens=1500), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)

    sync_with_deaths(server, settings, engine)
    deliver_pushes(engine, settings)

    deaths = golden(engine, citizen.c.published_run_id == "c2", citizen.c.death_date.is_not(None))
    assert deaths
    arrived, latest = received(server, "BHXH"), {}
    for item in arrived:  # in arrival order: a citizen's pushes arrive in the order queued
        latest[item["payload"]["key"]] = item["payload"]
    for personal_id, record in deaths.items():
        assert latest[personal_id]["run_id"] == "c2"
        assert latest[personal_id]["fields"]["death_date"]["value"] == record["death_date"].isoformat()
        assert latest[personal_id]["fields"]["death_date"]["source"] == "civil_status"
    assert {pid: len(m) for pid, m in pushes(engine, "BHXH").items()} == Counter(
        item["payload"]["key"] for item in arrived
    )
    engine.dispose()


def test_the_push_endpoint_comes_from_the_agency_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_AGENCY_PUSH_TU_PHAP", raising=False)
    settings = load_settings(home=tmp_path)
    assert agency_push_endpoint(settings, "TU-PHAP", "https://tuphap.example.vn/inbox") is None  # no secret: wait

    monkeypatch.setenv("AIRFLOW_CONN_AGENCY_PUSH_TU_PHAP", "http://:s3cret@127.0.0.1:9/agency/v1/TU-PHAP/inbox/")
    endpoint = agency_push_endpoint(settings, "TU-PHAP", "https://ignored.example.vn/inbox")
    assert endpoint is not None and endpoint.url == "http://127.0.0.1:9/agency/v1/TU-PHAP/inbox"
    assert endpoint.password.get_secret_value() == "s3cret"

    monkeypatch.setenv("AIRFLOW_CONN_AGENCY_PUSH_TU_PHAP", json.dumps({"conn_type": "https", "password": "s3cret"}))
    endpoint = agency_push_endpoint(settings, "TU-PHAP", "https://tuphap.example.vn/lgsp/inbox")
    assert endpoint is not None and endpoint.url == "https://tuphap.example.vn/lgsp/inbox"  # the registry's URL
    with pytest.raises(ConfigError, match="needs a URL"):
        agency_push_endpoint(settings, "TU-PHAP", None)

    monkeypatch.setenv("AIRFLOW_CONN_AGENCY_PUSH_TU_PHAP", "https://:demo-only-push-secret@tuphap.example.vn/inbox")
    with pytest.raises(ConfigError, match="non-loopback") as refused:
        agency_push_endpoint(settings, "TU-PHAP", None)
    assert "demo-only-push-secret" not in str(refused.value)
    assert agency_push_endpoint(load_settings(home=tmp_path, demo=True), "TU-PHAP", None) is not None
    monkeypatch.setenv("AIRFLOW_CONN_AGENCY_PUSH_TU_PHAP", "https://tuphap.example.vn/inbox")
    with pytest.raises(ConfigError, match="password"):
        agency_push_endpoint(settings, "TU-PHAP", None)
