"""Every flow on a real Airflow: api-server, scheduler, dag-processor and triggerer as processes, LocalExecutor.

Airflow's metadata DB and the hub's store are two fresh PostgreSQL databases; the mocks
serve on loopback; every run is triggered and watched through the authenticated REST
API, as an operator's script would. Where ``test_end_to_end`` runs each DAG in-process
(``dag.test()``), this one proves what only the real thing can: the DAG files parse
in the dag-processor, the scheduler queues the tasks, each task runs in its own process
with the connections from the environment and reports to the execution API.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cluster_processes import process_tree, survivors
from sqlalchemy import Engine, func, select

from hub import ledger
from hub.local.airflow.cluster import airflow_cluster
from hub.local.airflow.rest import Cluster
from hub.local.demo_connections import demo_connections
from hub.orchestration.schedules import POOLS
from hub.sharing.push import TOPIC_PREFIX
from hub.store.tables import citizen, civil_event, dossier, outbox, sync_run

pytestmark = pytest.mark.slow

# The order `lgsp run` keeps as well: civil-status events and dossiers build on the citizens.
FLOWS = ("national_population_sync", "civil_status_sync", "one_stop_sync", "agency_push")
STREAMS = {"national_population_sync", "civil_status_sync", "one_stop_sync"}  # the flows that write a sync_run row


@pytest.fixture
def cluster(
    mock_server: Callable[..., Any], store: Engine, store_url: str, fresh_pg_url: str, tmp_path: Path
) -> Iterator[tuple[Cluster, Any]]:
    """Airflow's four processes against the mocks; stopped, and checked gone, however the test ends."""
    server = mock_server(citizens=1000, one_stop_dossiers=300, seed=7)
    extra = {
        **demo_connections(server.base_url, store),
        "LGSP_DATABASE_URL": store_url,
        "LGSP_TASK_RETRIES": "0",  # a failing task fails the test now, not after three retries
        # No scheduled (or asset-triggered) runs beside ours: each flow runs once, when triggered.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    seen: list[Any] = []
    with airflow_cluster(tmp_path, env_extra=extra, port=0, metadata_db=fresh_pg_url, grace=10) as running:
        try:
            yield running, server
        finally:
            seen = process_tree(running)
    assert not survivors(seen), "processes outlived the cluster"


def test_every_flow_succeeds_on_the_real_scheduler(cluster: tuple[Cluster, Any], store: Engine) -> None:
    airflow, server = cluster
    started = time.monotonic()
    assert httpx.get(f"{airflow.base_url}/api/v2/dags").status_code == 401  # no token, no answer
    bad = httpx.post(f"{airflow.base_url}/auth/token", json={"username": "admin", "password": "wrong"})
    assert bad.status_code == 401
    pools = {pool["name"]: pool["slots"] for pool in airflow.api("GET", "/api/v2/pools")["pools"]}
    assert {name: slots for name, (slots, _doc) in POOLS.items()}.items() <= pools.items()  # before any task
    airflow.set_pool("agency_push", POOLS["agency_push"][0], POOLS["agency_push"][1])  # again: a restart's path
    airflow.wait_for_dags(FLOWS, timeout=120)
    for dag_id in FLOWS:
        airflow.unpause(dag_id)

    runs: dict[str, str] = {}
    for dag_id in FLOWS:
        runs[dag_id] = airflow.trigger(dag_id)
        state = airflow.wait_for_run(dag_id, runs[dag_id], timeout=300)
        tasks = airflow.task_states(dag_id, runs[dag_id])
        assert state == "success", f"{dag_id}: {tasks}; logs in {airflow.supervisor.log_dir}"
        assert tasks and set(tasks.values()) == {"success"}, f"{dag_id}: {tasks}"
    print(f"four flows through the scheduler in {time.monotonic() - started:.0f} s")

    # The UI reads task logs from disk (no log server runs): the first task's log is there.
    log = airflow.api(
        "GET",
        f"/api/v2/dags/national_population_sync/dagRuns/{runs[FLOWS[0]]}/taskInstances/extract/logs/1",
        params={"full_content": "true"},
    )
    assert "extract" in str(log["content"])

    with store.connect() as conn:
        rows = conn.execute(select(sync_run)).mappings().all()
        by_flow = {row["run_id"].split(":", 1)[0]: row for row in rows if row["run_id"].split(":", 1)[0] in STREAMS}
        assert set(by_flow) == STREAMS
        for flow, row in by_flow.items():
            assert row["run_id"] == f"{flow}:{runs[flow]}"  # the task wrote under Airflow's run id
            assert row["status"] == "published", (flow, row["error"])
            assert row["read"] > 0, flow
            assert row["read"] == row["published"] + row["quarantined"] + row["unchanged"], flow
        assert conn.execute(select(func.count()).select_from(citizen)).scalar_one() > 900
        assert conn.execute(select(func.count()).select_from(civil_event)).scalar_one() > 0
        assert conn.execute(select(func.count()).select_from(dossier)).scalar_one() > 0
        states = dict(
            conn.execute(
                select(outbox.c.state, func.count())
                .where(outbox.c.topic == "portal.dossier_status")
                .group_by(outbox.c.state)
            ).all()
        )
        assert states.keys() == {"acknowledged"} and states["acknowledged"] > 0, states
        pushes = conn.execute(
            select(outbox.c.topic, outbox.c.state, func.count())
            .where(outbox.c.topic.like(f"{TOPIC_PREFIX}%"))
            .group_by(outbox.c.topic, outbox.c.state)
        ).all()
    assert pushes and {state for _topic, state, _count in pushes} == {"acknowledged"}, pushes
    for topic, _state, count in pushes:  # what the hub counts as acknowledged, the agency holds
        assert server.agencies.stats(topic[len(TOPIC_PREFIX) :])["held"] == count
    verification = ledger.verify(store)
    assert verification.intact and verification.entries > 0, verification
