"""One-stop dossiers (the declared stream one_stop.dossiers) against the real REST mock: audited, published,
every status queued for the portal in order."""

from __future__ import annotations

import calendar
import json
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import population_sync
import pytest
from declared_connections import connect_declared
from sqlalchemy import Engine, func, select

from connectors.declared.mapping import RecordMapper
from hub.pipeline import declared, runs
from hub.pipeline.declared import find_stream
from hub.settings import Settings, load_settings
from hub.store.engine import open_store
from hub.store.tables import dossier, dossier_status, outbox, quarantine
from lgsp.errors import FatalSourceError
from schemas.one_stop import INCONSISTENT

STREAM = "one_stop.dossiers"
RULE_FOR_DOSSIER_DEFECT = {
    "unknown_procedure": "procedure_code.one_of",
    "malformed_applicant_id": "personal_id.personal_id",
    "due_before_received": "received_at.before",
    "history_out_of_order": "history.consistent",
    "duplicate_conflict": "dossier_id.unique_in_run",
}
DOSSIERS = 1500
sync = partial(declared.sync, stream=STREAM)
route = partial(declared.followup, stream=STREAM, task="route")
deliver = partial(declared.followup, stream=STREAM, task="deliver")


def settings_for(server: Any, database_url: str, home: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "home": home,
        "database_url": database_url,
        "page_size": 97,
        "backoff_seconds": 0.01,
        "operation_timeout": 5,
    }
    options.update(overrides)
    return load_settings(**options)


def start(
    mock_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, key: str | None = None, **options: Any
) -> Any:
    """The mocks, and the declared one-stop connection pointed at them (with ``key`` if given)."""
    server = mock_server(**{"one_stop_dossiers": DOSSIERS, "one_stop_defect_rate": 0.05, **options})
    connect_declared(monkeypatch, server)
    if key is not None:
        rest = server.base_url.split("://", 1)[1]
        monkeypatch.setenv("AIRFLOW_CONN_ONE_STOP", f"http://api:{key}@{rest}/one-stop/v1")
    return server


def advance(server: Any, days: float) -> int:
    """Move the shared mock clock; returns it as epoch seconds."""
    httpx.post(f"{server.base_url}/population/_admin/clock", json={"advance_days": days}).raise_for_status()
    now = httpx.get(f"{server.base_url}/population/_admin/clock").json()["now"]
    return calendar.timegm(time.strptime(now, "%Y-%m-%dT%H:%M:%SZ"))


def balanced(summary: runs.RunSummary) -> bool:
    return (
        summary.status == runs.PUBLISHED and summary.read == summary.published + summary.quarantined + summary.unchanged
    )


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def quarantined_rules(engine: Engine) -> dict[str, set[str]]:
    """MaHoSo -> the rules its quarantined records broke."""
    found: dict[str, set[str]] = defaultdict(set)
    with engine.connect() as conn:
        for rules, payload in conn.execute(
            select(quarantine.c.rules, quarantine.c.payload).where(quarantine.c.stream == STREAM)
        ):
            found[json.loads(payload)["MaHoSo"]].update(rules.split(","))
    return found


def assert_held_as_the_source_shows(engine: Engine, server: Any, clock: int) -> None:
    """Every clean dossier is held at its current status; its statuses and portal messages match, in order."""
    truth = server.one_stop.dataset
    visible = {item["MaHoSo"]: item for item in truth.snapshot(clock) if item["MaHoSo"] not in truth.defects}
    with engine.connect() as conn:
        held = {row.dossier_id: row for row in conn.execute(select(dossier))}
        statuses: dict[str, list[tuple[int, str, datetime]]] = defaultdict(list)
        for row in conn.execute(select(dossier_status).order_by(dossier_status.c.dossier_id, dossier_status.c.seq)):
            statuses[row.dossier_id].append((row.seq, row.status, row.at))
        messages: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
        for row in conn.execute(
            select(outbox.c.aggregate_id, outbox.c.sequence, outbox.c.payload)
            .where(outbox.c.topic == "portal.dossier_status")
            .order_by(outbox.c.sequence)
        ):
            messages[row.aggregate_id].append((row.sequence, json.loads(row.payload)))
    assert set(held) == set(visible)
    for code, item in visible.items():
        row = held[code]
        assert (row.status, row.processing_unit, row.applicant_id) == (
            item["TrangThai"],
            item["MaDonViXuLy"],
            item["SoDinhDanh"],
        )
        assert (row.completed_at is not None) == (item["TrangThai"] in ("DaTraKetQua", "TuChoi"))
        history = statuses[code]
        assert [seq for seq, _, _ in history] == list(range(1, len(history) + 1))
        assert [status for _, status, _ in history] == [entry["TrangThai"] for entry in item["LichSu"]]
        sent = messages[code]
        assert [sequence for sequence, _ in sent] == [seq for seq, _, _ in history]
        assert [(m["TrangThai"], m["ThoiDiem"]) for _, m in sent] == [
            (status, at.isoformat() + "Z") for _, status, at in history
        ]
        assert all(m["MaThuTuc"] == item["MaThuTuc"] and m["KenhNop"] == item["KenhNop"] for _, m in sent)


def test_dossiers_are_audited_published_and_every_status_queued_once(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(mock_server, monkeypatch)
    settings = settings_for(server, database_url, tmp_path)
    engine = open_store(database_url)
    assert balanced(population_sync.sync("p1", settings, engine))
    first = sync("d1", settings, engine)
    assert balanced(first) and first.published > 500 and first.pages > 1

    truth = server.one_stop.dataset
    clock = advance(server, 0)
    visible = {item["MaHoSo"] for item in truth.snapshot(clock)}
    held = quarantined_rules(engine)
    for defect, rule in RULE_FOR_DOSSIER_DEFECT.items():
        caught = [code for code, kind in truth.defects.items() if kind == defect and code in visible]
        assert caught, f"the mock showed no {defect}"
        assert all(held[code] == {rule} for code in caught), f"{defect} was not caught by {rule} alone"
    assert set(held) <= set(truth.defects)  # no clean dossier quarantined
    assert_held_as_the_source_shows(engine, server, clock)

    queued, statuses = count(engine, outbox), count(engine, dossier_status)
    assert queued == statuses > first.published
    again = sync("d1", settings, engine)  # the same run again: nothing happens
    assert (again.published, again.quarantined) == (first.published, first.quarantined)
    rerun = sync("d2", settings, engine)  # a new run over the same data: nothing new
    assert balanced(rerun) and rerun.published == 0
    assert (count(engine, outbox), count(engine, dossier_status)) == (queued, statuses)

    later = advance(server, 2)  # statuses move on, new dossiers arrive
    delta = sync("d3", settings, engine)
    assert balanced(delta) and delta.published > 0
    assert_held_as_the_source_shows(engine, server, later)
    assert count(engine, outbox) > queued
    engine.dispose()


def test_rate_limits_and_outages_mid_paging_are_retried(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(mock_server, monkeypatch)
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    reference = sync("ref", settings_for(server, reference_url, tmp_path), open_store(reference_url))
    for fault in ("http_429", "http_503", "truncated_body", "connection_reset"):
        httpx.post(
            f"{server.base_url}/_admin/faults",
            json={
                "fault": fault,
                "count": 1,
                "system": "one_stop",
                "operation": "list_dossiers",
                "after": 2,
            },
        ).raise_for_status()
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    summary = sync("faulty", settings_for(server, url, tmp_path, max_attempts=6), open_store(url))
    assert balanced(summary) and summary.pages > 3
    assert (summary.read, summary.published, summary.quarantined) == (
        reference.read,
        reference.published,
        reference.quarantined,
    )
    fired = httpx.get(f"{server.base_url}/_admin/faults").json()
    assert [rule["fired"] for rule in fired["rules"]] == [1, 1, 1, 1]


def test_wrong_api_key_is_fatal(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(mock_server, monkeypatch, key="nope")
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    with pytest.raises(FatalSourceError, match="credentials") as caught:
        sync("denied", settings, open_store(url))
    assert "nope" not in str(caught.value)


def wire(**changes: Any) -> dict[str, Any]:
    item = {
        "MaHoSo": "H79.01-260101-0001",
        "MaThuTuc": "TT-KS-01",
        "SoDinhDanh": "079090000001",
        "KenhNop": "TrucTuyen",
        "NgayTiepNhan": "2026-01-01T08:00:00+07:00",
        "HanXuLy": "2026-01-02T08:00:00+07:00",
        "TrangThai": "DangXuLy",
        "MaDonViTiepNhan": "TINH",
        "MaDonViXuLy": "TINH",
        "LichSu": [
            {"TrangThai": "TiepNhan", "ThoiDiem": "2026-01-01T08:00:00+07:00"},
            {"TrangThai": "DangXuLy", "ThoiDiem": "2026-01-01T09:30:00+07:00"},
        ],
        "NgayCapNhat": "2026-01-01T09:30:00+07:00",
    }
    item.update(changes)
    return item


def map_dossier(item: Any) -> Any:
    """One wire dossier through the declaration's mapping (the domain reader of LichSu included)."""
    return RecordMapper(find_stream(STREAM).stream).from_json(item)


def test_mapping_stages_naive_utc_and_marks_inconsistent_histories() -> None:
    mapped = map_dossier(wire())
    assert mapped.rejection is None
    assert (mapped.fields["received_at"], mapped.fields["source_updated_at"], mapped.fields["channel"]) == (
        "2026-01-01T01:00:00",
        "2026-01-01T02:30:00",
        "online",
    )
    assert json.loads(mapped.fields["history"] or "") == [
        ["TiepNhan", "2026-01-01T01:00:00"],
        ["DangXuLy", "2026-01-01T02:30:00"],
    ]
    newest_first = map_dossier(wire(LichSu=list(reversed(wire()["LichSu"]))))
    assert json.loads(newest_first.fields["history"] or "")[0] == [INCONSISTENT, None]
    stale_status = map_dossier(wire(TrangThai="ChuyenXuLy"))
    assert json.loads(stale_status.fields["history"] or "")[0] == [INCONSISTENT, None]
    assert map_dossier(wire(KenhNop="BuuChinh")).fields["channel"] == "BuuChinh"  # kept: channel.one_of names it
    for broken, why in (
        ([1, 2], "a record is not an object"),
        (wire(NgayCapNhat="2026-01-01T09:30:00"), "NgayCapNhat is not a datetime"),  # no zone: ambiguous
        (wire(HanXuLy="soon"), "HanXuLy is not a datetime"),
        (wire(LichSu=[{"TrangThai": "TiepNhan"}]), "LichSu is not readable as declared"),
        (wire(LichSu=None), "LichSu is not readable as declared"),
    ):
        rejected = map_dossier(broken)
        assert rejected.rejection is not None and rejected.rejection.rule == "contract.valid"
        assert str(rejected.rejection) == f"contract.valid: {why}"
        assert "079090000001" not in str(rejected.rejection)


def test_routing_reads_the_declared_connection_and_its_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hub.pipeline.dossier_tasks import connect_source
    from lgsp.errors import ConfigError

    monkeypatch.setenv("AIRFLOW_CONN_ONE_STOP", "http://api:s3cret@127.0.0.1:8080/one-stop/v1")
    source = connect_source(load_settings(home=tmp_path))
    try:
        client = source._client
        assert str(client._client.base_url).rstrip("/") == "http://127.0.0.1:8080/one-stop/v1"
        assert (client._auth.header, client._auth._key.get_secret_value()) == ("X-API-Key", "s3cret")
    finally:
        source.close()
    monkeypatch.setenv("AIRFLOW_CONN_ONE_STOP", "http://api:demo-only-key@one-stop.example/one-stop/v1")
    with pytest.raises(ConfigError, match="non-loopback"):
        connect_source(load_settings(home=tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_ONE_STOP")
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_ONE_STOP"):
        connect_source(load_settings(home=tmp_path))
