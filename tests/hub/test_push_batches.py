"""Pushes in batches to the real mock receivers: per-item answers, secret rotation, order per citizen, lanes."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import population_sync
import pytest
from sqlalchemy import func, select, update
from test_push import SUBSCRIBERS, golden, load_sharing, pushes, settings_for, sharing_config, sync_with_deaths
from test_push_delivery import assert_ledger_intact_and_anonymous, push_entries, received, states, stats

from hub.sharing.delivery import deliver_pushes, lane_of
from hub.sharing.outbox import ACKNOWLEDGED, DEAD, PENDING, SENT
from hub.store.engine import open_store
from hub.store.tables import outbox
from lgsp.errors import FatalSourceError


def connect(monkeypatch: pytest.MonkeyPatch, server: Any, secrets: dict[str, str] | None = None) -> None:
    """Point the agencies' push connections at the mock; ``secrets`` per agency (space-separated: a rotation)."""
    origin = server.base_url.split("//", 1)[1]
    for code in SUBSCRIBERS:
        secret = quote((secrets or {}).get(code, "demo-only-push-secret"), safe="")
        variable = "AIRFLOW_CONN_AGENCY_PUSH_" + code.replace("-", "_")
        monkeypatch.setenv(variable, f"http://:{secret}@{origin}/agency/v1/{code}/inbox")


def keys_of(engine: Any, code: str) -> list[str]:
    with engine.connect() as conn:
        query = select(outbox.c.idempotency_key).where(outbox.c.topic == f"push.{code}").order_by(outbox.c.message_id)
        return list(conn.execute(query).scalars())


def test_a_refused_item_goes_dead_alone_while_its_batch_is_acknowledged(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server, url = mock_server(citizens=200), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)
    population_sync.sync("p1", settings, engine)
    total, refused = len(golden(engine)), keys_of(engine, "BHXH")[7]
    httpx.put(f"{server.base_url}/agency/v1/BHXH/_admin/refusal", json={"status": 409, "ids": [refused]})

    with caplog.at_level(logging.DEBUG):
        done = deliver_pushes(engine, settings)

    assert (done["BHXH"].sent, done["BHXH"].acknowledged, done["BHXH"].dead) == (total, total - 1, 1)
    assert stats(server, "BHXH")["batches"] == 1  # one request carried them all
    assert states(engine, "BHXH") == {ACKNOWLEDGED: total - 1, DEAD: 1}
    with engine.connect() as conn:
        dead = conn.execute(select(outbox.c.idempotency_key, outbox.c.last_error).where(outbox.c.state == DEAD)).one()
    assert dead.idempotency_key == refused and dead.last_error.startswith("HTTP 409 urn:lgsp:mock:agency:problem:")
    entries = [entry for entry in push_entries(engine) if entry["agency_code"] == "BHXH"]
    assert sorted((entry["outcome"], entry["record_count"]) for entry in entries) == [
        (ACKNOWLEDGED, total - 1),
        (DEAD, 1),
    ]
    assert_ledger_intact_and_anonymous(engine)
    assert not [pid for pid in golden(engine) if pid in caplog.text]  # no personal id in any log line
    engine.dispose()


def test_during_a_rotation_the_hub_signs_with_both_secrets_and_either_is_accepted(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BHXH still checks the old secret, TU-PHAP already the new one; the hub holds both (new, old) for each.
    server = mock_server(citizens=120, agency_push_secrets={"BHXH": "old-secret", "TU-PHAP": "whsec_bmV3LXNlY3JldA=="})
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server, dict.fromkeys(SUBSCRIBERS, "whsec_bmV3LXNlY3JldA== old-secret"))
    population_sync.sync("p1", settings, engine)
    total = len(golden(engine))

    assert {code: s.acknowledged for code, s in deliver_pushes(engine, settings).items()} == dict.fromkeys(
        SUBSCRIBERS, total
    )

    # The rotation is over at TU-PHAP but not yet on the hub's side of BHXH: BHXH refuses, TU-PHAP is served.
    with engine.begin() as conn:
        conn.execute(update(outbox).values(state=PENDING, ack_id=None))  # send everything again (replays)
    connect(monkeypatch, server, dict.fromkeys(SUBSCRIBERS, "whsec_bmV3LXNlY3JldA=="))
    with pytest.raises(FatalSourceError, match=r"agency BHXH.*HTTP 401") as stopped:
        deliver_pushes(engine, settings)
    assert "bmV3" not in str(stopped.value) and "old-secret" not in str(stopped.value)
    assert states(engine, "TU-PHAP") == {ACKNOWLEDGED: total} and states(engine, "BHXH") == {PENDING: total}
    assert stats(server, "TU-PHAP")["replays"] == total and stats(server, "BHXH")["rejected_401"] == 1
    engine.dispose()


def test_a_replayed_batch_loads_nothing_twice(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mock_server(citizens=150), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path, push_batch_size=40), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)
    population_sync.sync("p1", settings, engine)
    total = len(golden(engine))
    deliver_pushes(engine, settings)
    first = {item["idempotency_key"]: item["MaXacNhan"] for item in received(server, "TU-PHAP")}
    # A crash after the calls, before the acknowledgements were stored: the messages are left sent.
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.topic == "push.TU-PHAP").values(state=SENT, ack_id=None))

    again = deliver_pushes(engine, settings)

    assert (again["TU-PHAP"].sent, again["TU-PHAP"].acknowledged) == (total, total) and "BHXH" not in again
    assert stats(server, "TU-PHAP")["held"] == total and stats(server, "TU-PHAP")["replays"] == total
    with engine.connect() as conn:
        acks = dict(
            conn.execute(select(outbox.c.idempotency_key, outbox.c.ack_id).where(outbox.c.topic == "push.TU-PHAP"))
            .tuples()
            .all()
        )
    assert acks == first  # the receiver answered each replay with its first acknowledgement
    engine.dispose()


def test_lanes_partition_by_citizen_and_each_citizens_changes_arrive_in_order_across_batches(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mock_server(citizens=1500), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path, push_batch_size=50), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)
    sync_with_deaths(server, settings, engine)  # citizens the second runs changed have two pushes queued
    queued = pushes(engine, "BHXH")
    assert any(len(items) > 1 for items in queued.values())

    first = deliver_pushes(engine, settings, lane=0, lanes=2)

    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.aggregate_id, outbox.c.state).where(outbox.c.topic == "push.BHXH")).all()
    by_lane: dict[int, set[str]] = defaultdict(set)
    for aggregate, state in rows:
        by_lane[lane_of(aggregate, 2)].add(state)
    assert by_lane == {0: {ACKNOWLEDGED}, 1: {PENDING}}  # lane 0 served its citizens only, all of them
    assert first["BHXH"].blocked == 0 and stats(server, "BHXH")["batches"] > 1

    deliver_pushes(engine, settings, lane=1, lanes=2)

    assert states(engine, "BHXH") == {ACKNOWLEDGED: sum(len(items) for items in queued.values())}
    arrived: dict[str, list[str]] = defaultdict(list)
    for item in received(server, "BHXH"):  # arrival order
        arrived[item["payload"]["key"]].append(item["payload"]["run_id"])
    assert arrived == {pid: [payload["run_id"] for payload in items] for pid, items in queued.items()}
    with engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(outbox).where(outbox.c.state != ACKNOWLEDGED)).scalar() == 0
        )
    engine.dispose()
