"""Outbox delivery to the real portal mock: order, exactly-once in effect, dead letters, retries, refusals."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update

from hub import ledger
from hub.settings import Settings, load_settings
from hub.sharing.delivery import TOPIC, backoff, connect_portal, deliver
from hub.sharing.outbox import ACKNOWLEDGED, DEAD, PENDING, SENT, counts, delivery_delays, enqueue
from hub.store.engine import open_store
from hub.store.reference import current_communes
from hub.store.tables import audit_ledger, outbox
from lgsp.errors import FatalSourceError
from schemas.procedures import load_catalogue

VN = timezone(timedelta(hours=7))
LIFECYCLE = ("TiepNhan", "DangXuLy", "CoKetQua", "DaTraKetQua")
REJECTED = ("TiepNhan", "DangXuLy", "TuChoi")
NOW = datetime(2026, 1, 10, 2, 0)  # naive UTC, as the store keeps it
CATALOGUE = load_catalogue()
COMMUNES = [row["commune_code"] for row in current_communes()[:40]]


def portal_settings(server: Any, tmp_path: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "home": tmp_path,
        "portal_url": f"{server.base_url}/portal/v1",
        "portal_api_key": "demo-only-key",
        "backoff_seconds": 0.01,
        "operation_timeout": 5,
        "max_attempts": 3,
    }
    return load_settings(**{**options, **overrides})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    yield engine
    engine.dispose()


def code(i: int) -> str:
    return f"H38.01-260105-{i:04d}"


def body(i: int, status: str, step: int) -> dict[str, str]:
    """A dossier's status as the one-stop system reports it: procedure, unit and channel stay, time moves on."""
    procedure = list(CATALOGUE.values())[i % len(CATALOGUE)]
    unit = "TINH" if procedure.competent == "province" else COMMUNES[i % len(COMMUNES)]
    at = datetime(2026, 1, 5, 8, 0, tzinfo=VN) + timedelta(minutes=7 * i, hours=5 * step)
    return {
        "TrangThai": status,
        "ThoiDiem": at.isoformat(),
        "MaThuTuc": procedure.code,
        "MaDonViXuLy": unit,
        "KenhNop": "TrucTuyen" if i % 3 else "TrucTiep",
    }


def put(engine: Engine, i: int, status: str, step: int, payload: dict[str, str] | None = None) -> None:
    with engine.begin() as conn:
        assert enqueue(
            conn,
            topic=TOPIC,
            aggregate_id=code(i),
            payload=payload or body(i, status, step),
            idempotency_key=f"{code(i)}/{status}",
            now=NOW,
        )


def histories(dossiers: int) -> dict[int, tuple[str, ...]]:
    """Every fourth dossier is still open, every seventh was rejected, the rest ran their course (or part of it)."""
    return {i: REJECTED if i % 7 == 0 else LIFECYCLE[: 1 + (i % 4)] for i in range(1, dossiers + 1)}


def enqueue_interleaved(engine: Engine, plan: dict[int, tuple[str, ...]]) -> int:
    """Statuses in the order a sync sees them: every dossier's first status, then every second one, ..."""
    total = 0
    for step in range(max(map(len, plan.values()))):
        for i, statuses in plan.items():
            if step < len(statuses):
                put(engine, i, statuses[step], step)
                total += 1
    return total


def rows(engine: Engine, *where: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox).where(*where).order_by(outbox.c.message_id)))


def stats(server: Any) -> dict[str, int]:
    return httpx.get(f"{server.base_url}/portal/v1/_admin/stats").json()  # type: ignore[no-any-return]


def held(settings: Settings) -> dict[str, dict[str, Any]]:
    with connect_portal(settings) as portal:
        return {item["MaHoSo"]: item for item in portal.list_held()}


def test_every_dossier_ends_with_its_latest_status_applied_once(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Path
) -> None:
    server, engine = mock_server(), open_store(database_url)
    settings = portal_settings(server, tmp_path)
    plan = histories(45)
    total = enqueue_interleaved(engine, plan)

    summary = deliver(engine, settings, now=NOW)

    assert summary.as_dict() == {"sent": total, "acknowledged": total, "retried": 0, "dead": 0, "blocked": 0}
    portal = held(settings)
    assert {dossier: item["TrangThai"] for dossier, item in portal.items()} == {
        code(i): statuses[-1] for i, statuses in plan.items()
    }
    assert all([u["TrangThai"] for u in portal[code(i)]["LichSu"]] == list(s) for i, s in plan.items())
    acks = {row.idempotency_key: row.ack_id for row in rows(engine)}
    assert all(row.state == ACKNOWLEDGED and row.attempts == 1 for row in rows(engine))
    assert acks == {f"{d}/{u['TrangThai']}": u["MaXacNhan"] for d, item in portal.items() for u in item["LichSu"]}
    assert stats(server) | {"dossiers": 0, "updates": 0} == {
        "accepted": total,
        "duplicates": 0,
        "rejected_400": 0,
        "rejected_409": 0,
        "rejected_422": 0,
        "throttled_429": 0,
        "dossiers": 0,
        "updates": 0,
    }
    assert deliver(engine, settings, now=NOW).sent == 0  # nothing left: nothing is sent again
    assert counts(engine) == {PENDING: 0, SENT: 0, ACKNOWLEDGED: total, DEAD: 0}
    delays = delivery_delays(engine, TOPIC)
    assert delays is not None and delays[0] == delays[1] == 0.0  # a frozen clock: enqueued and acked "at once"
    engine.dispose()


def test_a_429_storm_and_5xx_bursts_are_ridden_out(
    mock_server: Callable[..., Any], store: Engine, tmp_path: Path
) -> None:
    server = mock_server(portal_rate_per_second=20)
    faults = [
        {"fault": "http_429", "count": 3, "system": "portal", "seconds": 0, "after": 2},
        {"fault": "http_503", "count": 2, "system": "portal", "after": 10},
    ]
    for rule in faults:
        httpx.post(f"{server.base_url}/_admin/faults", json=rule).raise_for_status()
    total = enqueue_interleaved(store, {i: LIFECYCLE for i in range(1, 16)})

    summary = deliver(store, portal_settings(server, tmp_path, max_attempts=6), limit=None)

    assert summary.acknowledged == total and summary.dead == summary.retried == 0
    assert stats(server)["throttled_429"] > 0 and stats(server)["accepted"] == total
    assert stats(server)["duplicates"] == 0


def test_a_transient_failure_waits_its_backoff_and_holds_its_dossier_back(
    mock_server: Callable[..., Any], store: Engine, tmp_path: Path
) -> None:
    server = mock_server()
    settings = portal_settings(server, tmp_path, max_attempts=2)
    rule = {"fault": "http_503", "count": 2, "system": "portal", "operation": "put_status"}
    httpx.post(f"{server.base_url}/_admin/faults", json=rule).raise_for_status()
    for step, status in enumerate(LIFECYCLE[:3]):
        put(store, 1, status, step)
    put(store, 2, "TiepNhan", 0)

    first = deliver(store, settings, now=NOW)
    assert (first.sent, first.acknowledged, first.retried, first.blocked) == (2, 1, 1, 2)
    waiting = rows(store, outbox.c.aggregate_id == code(1), outbox.c.sequence == 1)[0]
    assert waiting.state == PENDING and waiting.next_attempt_at == NOW + backoff(1)
    assert "HTTP 503" in waiting.last_error and code(1) not in waiting.last_error

    assert deliver(store, settings, now=NOW + timedelta(seconds=30)).sent == 0  # not due yet
    later = deliver(store, settings, now=NOW + backoff(1))
    assert (later.acknowledged, later.blocked) == (3, 0)
    assert held(settings)[code(1)]["TrangThai"] == "CoKetQua"


def test_a_crash_between_the_call_and_the_ack_does_not_apply_twice(
    mock_server: Callable[..., Any], store: Engine, tmp_path: Path
) -> None:
    server = mock_server()
    settings = portal_settings(server, tmp_path)
    put(store, 1, "TiepNhan", 0)
    put(store, 1, "DangXuLy", 1)
    first = rows(store)[0]
    with connect_portal(settings) as portal:  # the call went out and the portal stored it ...
        answered = portal.put_status(code(1), json.loads(first.payload), first.idempotency_key)
    with store.begin() as conn:  # ... after the claim's commit, and the process died before the ack
        conn.execute(update(outbox).where(outbox.c.message_id == first.message_id).values(state=SENT, attempts=1))

    summary = deliver(store, settings, now=NOW)

    assert (summary.sent, summary.acknowledged) == (2, 2)
    assert rows(store)[0].ack_id == answered.ack_id and rows(store)[0].attempts == 2
    assert stats(server)["accepted"] == 2 and stats(server)["duplicates"] == 1
    assert [u["TrangThai"] for u in held(settings)[code(1)]["LichSu"]] == ["TiepNhan", "DangXuLy"]


def test_an_invalid_update_goes_dead_and_the_dossier_moves_on(
    mock_server: Callable[..., Any], store: Engine, tmp_path: Path
) -> None:
    server = mock_server()
    settings = portal_settings(server, tmp_path)
    put(store, 1, "TiepNhan", 0)
    put(store, 1, "DaHuy", 1, payload=body(1, "DaHuy", 1))  # a status the portal does not know
    put(store, 1, "DangXuLy", 2)
    put(store, 1, "CoKetQua", 3)

    summary = deliver(store, settings, now=NOW)

    assert (summary.acknowledged, summary.dead) == (3, 1)
    dead = rows(store, outbox.c.state == DEAD)[0]
    assert dead.sequence == 2 and dead.ack_id is None
    assert dead.last_error.startswith("HTTP 422 urn:lgsp:mock:portal:problem:")
    assert code(1) not in dead.last_error and "DaHuy" not in dead.last_error  # no data from the message
    assert held(settings)[code(1)]["TrangThai"] == "CoKetQua"
    with store.connect() as conn:  # every settled update is an exchange on record: 3 acknowledged, 1 dead
        entries = conn.execute(select(audit_ledger).order_by(audit_ledger.c.seq)).mappings().all()
    assert [(e["action"], e["dataset"], e["outcome"]) for e in entries] == [
        ("push", "dossier", ACKNOWLEDGED),
        ("push", "dossier", DEAD),
        ("push", "dossier", ACKNOWLEDGED),
        ("push", "dossier", ACKNOWLEDGED),
    ]
    assert all(code(1) not in json.dumps(dict(e), default=str) for e in entries)  # the dossier code is hashed
    assert ledger.verify(store).intact


def test_a_status_that_would_go_backwards_goes_dead(
    mock_server: Callable[..., Any], store: Engine, tmp_path: Path
) -> None:
    server = mock_server()
    settings = portal_settings(server, tmp_path)
    with connect_portal(settings) as portal:  # another channel already reported the result returned
        assert portal.put_status(code(1), body(1, "DaTraKetQua", 3), "elsewhere-1").status == 202
    put(store, 1, "DangXuLy", 1)

    summary = deliver(store, settings, now=NOW)

    assert summary.dead == 1 and summary.acknowledged == 0
    assert rows(store)[0].last_error.startswith("HTTP 409 urn:lgsp:mock:portal:problem:status-regression")
    assert held(settings)[code(1)]["TrangThai"] == "DaTraKetQua" and stats(server)["rejected_409"] == 1


def test_a_wrong_api_key_stops_delivery_and_leaves_messages_pending(
    mock_server: Callable[..., Any], store: Engine, tmp_path: Path
) -> None:
    server = mock_server()
    total = enqueue_interleaved(store, histories(5))

    with pytest.raises(FatalSourceError, match="HTTP 401") as raised:
        deliver(store, portal_settings(server, tmp_path, portal_api_key="not-the-key"), now=NOW)

    assert "not-the-key" not in str(raised.value)
    assert counts(store)[PENDING] == total and all(row.attempts == 0 for row in rows(store))
    assert [row.last_error is not None for row in rows(store)].count(True) == 1
    assert stats(server)["accepted"] == 0
    assert deliver(store, portal_settings(server, tmp_path), now=NOW).acknowledged == total  # key fixed: all go


def test_a_message_that_could_never_be_sent_goes_dead_without_a_call(
    mock_server: Callable[..., Any], store: Engine, tmp_path: Path
) -> None:
    server = mock_server()
    settings = portal_settings(server, tmp_path)
    put(store, 1, "TiepNhan", 0, payload={"MaHoSo": code(1), **body(1, "TiepNhan", 0)})  # the path carries it
    put(store, 2, "TiepNhan", 0, payload={"MaHoSo": code(3), **body(2, "TiepNhan", 0)})  # another dossier's
    with store.begin() as conn:  # a key that cannot travel in a header
        enqueue(
            conn,
            topic=TOPIC,
            aggregate_id=code(4),
            payload=body(4, "TiepNhan", 0),
            idempotency_key=f"{code(4)}/Tiếp nhận",
            now=NOW,
        )

    summary = deliver(store, settings, now=NOW)

    assert (summary.sent, summary.acknowledged, summary.dead) == (1, 1, 2)
    assert [row.aggregate_id for row in rows(store, outbox.c.state == DEAD)] == [code(2), code(4)]
    assert all(row.last_error.startswith("unsendable") for row in rows(store, outbox.c.state == DEAD))
    assert set(held(settings)) == {code(1)} and stats(server)["rejected_422"] == 0
