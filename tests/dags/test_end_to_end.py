"""Every DAG through a real Airflow against the real mocks: the portal ends with the one-stop system's truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

from hub.local.airflow.in_process import airflow_environment, migrate_metadata_db, run_dag
from hub.store.tables import citizen, civil_event, dossier_routing, outbox


def test_all_dags_bring_the_portal_to_the_one_stop_truth(mock_server: Callable[..., Any], tmp_path: Path) -> None:
    server = mock_server(citizens=1500, one_stop_dossiers=1200, seed=11)
    host = server.base_url.split("//", 1)[1]
    store = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    env = airflow_environment(
        tmp_path,
        {
            "AIRFLOW_CONN_NATIONAL_POPULATION": f"http://lgsp-demo:demo-only-password@{host}/population",
            "AIRFLOW_CONN_CIVIL_STATUS": f"http://lgsp-demo:demo-only-password@{host}/civil-status/v1",
            "AIRFLOW_CONN_ONE_STOP": f"http://api:demo-only-key@{host}/one-stop/v1",
            "AIRFLOW_CONN_NATIONAL_PORTAL": f"http://:demo-only-key@{host}/portal/v1",
            "LGSP_DATABASE_URL": store,
            "LGSP_TASK_RETRIES": "0",
        },
    )
    migrate_metadata_db(env)
    for dag_id in ("national_population_sync", "civil_status_sync", "one_stop_sync"):
        assert run_dag(dag_id, env).state == "success", dag_id
    # Time passes: communes decide routed dossiers, statuses move on; sync until routing settles.
    httpx.post(f"{server.base_url}/population/_admin/clock", json={"advance_days": 10}).raise_for_status()
    for _ in range(3):
        assert run_dag("one_stop_sync", env).state == "success"

    truth = {
        d["MaHoSo"]: d["TrangThai"]
        for d in server.one_stop.dataset.snapshot(server.app.state.clock.now)
        if d["MaHoSo"] not in server.one_stop.dataset.defects
    }
    held = {}
    cursor = None
    while True:
        params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(
            f"{server.base_url}/portal/v1/dossiers", params=params, headers={"X-API-Key": "demo-only-key"}
        ).json()
        held.update({item["MaHoSo"]: item["TrangThai"] for item in page["items"]})
        cursor = page.get("next_cursor")
        if not cursor:
            break
    stats = httpx.get(f"{server.base_url}/portal/v1/_admin/stats", headers={"X-API-Key": "demo-only-key"}).json()
    mismatched = [key for key, status in truth.items() if held.get(key) != status]
    assert len(mismatched) <= len(truth) * 0.01, f"{len(mismatched)} of {len(truth)} dossiers differ at the portal"
    assert stats["rejected_409"] == 0  # no status ever went backwards

    engine = create_engine(store)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(citizen)).scalar_one() > 1000
        assert conn.execute(select(func.count()).select_from(civil_event)).scalar_one() > 0
        assert (
            conn.execute(
                select(func.count()).select_from(dossier_routing).where(dossier_routing.c.state == "returned")
            ).scalar_one()
            > 0
        )
        assert (
            conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.state.in_(("pending", "sent")))
            ).scalar_one()
            == 0
        )
    engine.dispose()
    routed = server.one_stop.dataset.routing
    assert routed  # the mock had cross-boundary dossiers, and the hub sent each to its competent commune
