"""Cross-boundary routing against the real one-stop mock: to the applicant's commune, once, and back again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import population_sync
import pytest
from sqlalchemy import Engine, delete, select
from test_dossier_sync import advance, balanced, route, settings_for, start, sync

from hub.store.engine import open_store
from hub.store.tables import dossier, dossier_routing, dossier_status, outbox


def routings(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {row.dossier_id: row for row in conn.execute(select(dossier_routing))}


def waiting_at(server: Any, clock: int) -> set[str]:
    """Ground truth: dossiers that must be routed and wait in DangXuLy at ``clock``."""
    truth = server.one_stop.dataset
    return {
        item["MaHoSo"]
        for item in truth.snapshot(clock)
        if item["MaHoSo"] in truth.routing and item["TrangThai"] == "DangXuLy"
    }


def fault(server: Any, kind: str, operation: str) -> None:
    httpx.post(
        f"{server.base_url}/_admin/faults",
        json={"fault": kind, "count": 1, "system": "one_stop", "operation": operation},
    ).raise_for_status()


def test_round_trip_routes_to_the_applicants_commune_once_and_returns_the_results(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(mock_server, monkeypatch)
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    engine = open_store(url)
    assert balanced(population_sync.sync("p1", settings, engine))  # routing needs the applicants' communes
    assert balanced(sync("d1", settings, engine))
    expected = waiting_at(server, advance(server, 0))
    assert len(expected) > 20

    fault(server, "http_503", "inbox")  # retried, with the same Idempotency-Key
    first = route("r1", settings, engine)
    assert (first.routed, first.waiting, first.refused, first.decided) == (len(expected), 0, 0, 0)
    routed = routings(engine)
    assert set(routed) == expected
    truth = server.one_stop.dataset.routing
    assert all(row.competent_unit == truth[code] and row.state == "routed" for code, row in routed.items())

    again = route("r2", settings, engine)  # nothing new, and no commune has decided yet
    assert (again.routed, again.decided, again.returned) == (0, 0, 0)

    # A crash after the inbox answered but before the hub committed: the repeat is answered
    # with the first transfer (the same Idempotency-Key), the dossier is not routed twice.
    lost = sorted(routed)[0]
    with engine.begin() as conn:
        conn.execute(delete(dossier_routing).where(dossier_routing.c.dossier_id == lost))
    repeat = route("r3", settings, engine)
    assert (repeat.routed, repeat.refused) == (1, 0)
    assert routings(engine)[lost].transfer_id == routed[lost].transfer_id

    advance(server, 3)  # communes decide 1 to 3 days after routing
    fault(server, "http_429", "results")
    fault(server, "http_503", "returns")
    back = route("r4", settings, engine)
    assert (back.routed, back.decided, back.returned, back.refused) == (0, len(expected), len(expected), 0)
    assert {row.state for row in routings(engine).values()} == {"returned"}

    # The one-stop system is the source of truth: the next extract brings the moves in.
    assert balanced(sync("d2", settings, engine))
    with engine.connect() as conn:
        held = {row.dossier_id: row for row in conn.execute(select(dossier).where(dossier.c.dossier_id.in_(expected)))}
        history = {
            code: [
                status
                for (status,) in conn.execute(
                    select(dossier_status.c.status)
                    .where(dossier_status.c.dossier_id == code)
                    .order_by(dossier_status.c.seq)
                )
            ]
            for code in expected
        }
        queued = {
            code: [
                payload
                for (payload,) in conn.execute(
                    select(outbox.c.payload).where(outbox.c.aggregate_id == code).order_by(outbox.c.sequence)
                )
            ]
            for code in expected
        }
    for code in expected:
        decision = routings(engine)[code].result
        moved_to = "CoKetQua" if decision == "ChapThuan" else "TuChoi"
        assert history[code][:4] == ["TiepNhan", "DangXuLy", "ChuyenXuLy", moved_to]
        assert held[code].processing_unit == truth[code]  # the commune that decided
        assert len(queued[code]) == len(history[code])
        assert f'"TrangThai": "{moved_to}"' in queued[code][3]
    engine.dispose()


def test_applicants_unknown_to_the_hub_wait(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(mock_server, monkeypatch)
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    engine = open_store(url)
    assert balanced(sync("d1", settings, engine))  # no population sync: no communes known
    summary = route("r1", settings, engine)
    assert (summary.routed, summary.waiting) == (0, len(waiting_at(server, advance(server, 0))))
    assert summary.waiting > 0 and routings(engine) == {}
    population_sync.sync("p1", settings, engine)
    later = route("r2", settings, engine)
    assert (later.routed, later.waiting) == (summary.waiting, 0)
    engine.dispose()


def test_a_refusal_is_counted_not_fatal(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(mock_server, monkeypatch)
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    engine = open_store(url)
    population_sync.sync("p1", settings, engine)
    sync("d1", settings, engine)
    expected = waiting_at(server, advance(server, 0))
    taken = sorted(expected)[0]  # another desk routes this one first
    truth = server.one_stop.dataset.routing
    httpx.post(
        f"{server.base_url}/one-stop/v1/units/{truth[taken]}/inbox",
        json={"MaHoSo": taken, "MaDonViGui": "TINH"},
        headers={"X-API-Key": "demo-only-key", "Idempotency-Key": "someone-else"},
    ).raise_for_status()
    summary = route("r1", settings, engine)
    assert (summary.routed, summary.refused) == (len(expected) - 1, 1)
    assert taken not in routings(engine)
    engine.dispose()
