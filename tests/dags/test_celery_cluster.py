"""The flows on a real Celery cluster: Redis, Airflow's services on PostgreSQL, two ``airflow celery worker``s.

What only a cluster shows: the scheduler hands tasks to Celery through Redis, both workers
take them (each task instance's ``hostname`` names its worker, ``worker<i>@<host>``), the
delivery lanes of agency_push (mapped tasks) run on both, every push still reaches its
agency exactly once and in order per citizen, and a worker killed with SIGKILL in the
middle of a run loses nothing: Airflow notices its task stopped heartbeating, fails that
try and queues the retry, which the other worker runs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cluster_processes import process_tree, survivors
from sqlalchemy import Engine, func, select

from hub import ledger
from hub.local.airflow.celery_cluster import WORKER_CONCURRENCY, node_name
from hub.local.airflow.cluster import airflow_cluster
from hub.local.airflow.rest import Cluster
from hub.local.demo_connections import demo_connections
from hub.orchestration.schedules import PUSH_POOL
from hub.sharing.push import TOPIC_PREFIX
from hub.store.tables import outbox, sync_run

pytestmark = pytest.mark.slow

SYNCS = ("national_population_sync", "civil_status_sync", "one_stop_sync")
WORKERS = {1: node_name(1), 2: node_name(2)}
# The launcher's default: a lane per task slot of the cluster. A worker holds at most WORKER_CONCURRENCY
# messages (prefetch multiplier 1, kombu's QoS stops reading Redis at that many), so the lanes, queued
# together, cannot all land on one worker: not luck, the broker's own limit (celery_cluster's doc).
LANES = len(WORKERS) * WORKER_CONCURRENCY


@pytest.fixture
def cluster(
    mock_server: Callable[..., Any],
    store: Engine,
    store_url: str,
    fresh_pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Cluster, Any]]:
    """Redis, Airflow's services and two Celery workers against small mocks; every process gone afterwards."""
    monkeypatch.delenv("LGSP_PUSH_LANES", raising=False)  # the launcher's default lanes, LANES
    if shutil.which("redis-server") is None:  # .ci/run installs it; CI without it is a broken image
        reason = "no redis-server (Debian: apt-get install redis-server): the Celery cluster needs its broker"
        pytest.fail(reason) if os.environ.get("CI", "").lower() == "true" else pytest.skip(reason)
    server = mock_server(citizens=600, one_stop_dossiers=150, seed=7)
    extra = {
        **demo_connections(server.base_url, store),
        "LGSP_DATABASE_URL": store_url,
        "LGSP_TASK_RETRIES": "2",  # the killed worker's task needs one
        "LGSP_TASK_RETRY_DELAY_SECONDS": "1",
        # A lost worker's task is failed 15 s after its last heartbeat, not a minute: the test's run time.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # each flow runs when triggered, and only then
    }
    with airflow_cluster(
        tmp_path, env_extra=extra, port=0, metadata_db=fresh_pg_url, executor="celery", workers=2, grace=15
    ) as running:
        try:
            yield running, server
        finally:
            seen = process_tree(running)
    assert not survivors(seen), "processes outlived the cluster"


def test_the_flows_run_on_two_celery_workers_and_survive_losing_one(
    cluster: tuple[Cluster, Any], store: Engine
) -> None:
    airflow, server = cluster
    started = time.monotonic()
    assert {"redis", "worker1", "worker2"} <= set(airflow.logs)
    airflow.wait_for_dags([*SYNCS, "agency_push"], timeout=120)
    for dag_id in (*SYNCS, "agency_push"):
        airflow.unpause(dag_id)

    # The citizens first (the others build on them), then two flows at once, then the pushes.
    hosts: set[str] = set()
    runs = {"national_population_sync": airflow.trigger("national_population_sync")}
    _succeeds(airflow, "national_population_sync", runs["national_population_sync"])
    runs |= {dag_id: airflow.trigger(dag_id) for dag_id in ("civil_status_sync", "one_stop_sync")}
    for dag_id in SYNCS:
        _succeeds(airflow, dag_id, runs[dag_id])
        hosts |= {ti["hostname"] for ti in _task_instances(airflow, dag_id, runs[dag_id])}
    assert hosts == set(WORKERS.values()), f"the syncs' tasks ran on {hosts}"
    assert airflow.api("GET", f"/api/v2/pools/{PUSH_POOL}")["slots"] == LANES  # sized from the lanes at start
    push_run = airflow.trigger("agency_push")
    _succeeds(airflow, "agency_push", push_run)
    first = time.monotonic() - started
    lanes = [ti for ti in _task_instances(airflow, "agency_push", push_run) if ti["map_index"] >= 0]
    assert sorted(ti["map_index"] for ti in lanes) == list(range(LANES)), lanes
    lane_hosts = {ti["hostname"] for ti in lanes}
    assert lane_hosts == set(WORKERS.values()), f"the delivery lanes ran on {lane_hosts}"
    _assert_delivered_once_in_order(store, server)

    # A worker lost mid-run: SIGKILL to its process group and every task process under it.
    lost_at = time.monotonic()
    run_id = airflow.trigger("national_population_sync")
    victim = _running_task(airflow, "national_population_sync", run_id)
    killed = next(index for index, name in WORKERS.items() if name == victim["hostname"])
    airflow.supervisor.kill(f"worker{killed}")
    _succeeds(airflow, "national_population_sync", run_id, timeout=240)
    tries = airflow.api(
        "GET",
        f"/api/v2/dags/national_population_sync/dagRuns/{quote(run_id, safe='')}"
        f"/taskInstances/{victim['task_id']}/tries",
    )["task_instances"]
    by_try = {ti["try_number"]: ti for ti in tries}
    assert by_try[victim["try_number"]]["state"] == "failed", by_try  # the lost try, failed by the scheduler
    final = by_try[max(by_try)]
    assert final["state"] == "success" and final["hostname"] == WORKERS[3 - killed], by_try
    later = _task_instances(airflow, "national_population_sync", run_id)
    assert {ti["hostname"] for ti in later if ti["task_id"] != victim["task_id"]} <= {WORKERS[3 - killed]}
    _succeeds(airflow, "agency_push", airflow.trigger("agency_push"))
    _assert_delivered_once_in_order(store, server)
    with store.connect() as conn:
        statuses = conn.execute(select(sync_run.c.run_id, sync_run.c.status)).all()
    assert {flow: status for flow, status in statuses if flow.endswith(run_id)} == {
        f"national_population_sync:{run_id}": "published"
    }
    assert ledger.verify(store).intact
    print(
        f"\nCelery, 2 workers: three syncs and the pushes in {first:.0f} s; "
        f"a sync losing its worker, and the pushes after it, in {time.monotonic() - lost_at:.0f} s"
    )


def _succeeds(airflow: Cluster, dag_id: str, run_id: str, timeout: float = 300) -> None:
    state = airflow.wait_for_run(dag_id, run_id, timeout=timeout)
    tasks = airflow.task_states(dag_id, run_id)
    assert state == "success", f"{dag_id}: {tasks}; logs in {airflow.supervisor.log_dir}"
    assert tasks and set(tasks.values()) == {"success"}, f"{dag_id}: {tasks}"


def _task_instances(airflow: Cluster, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances"
    return list(airflow.api("GET", path)["task_instances"])


def _running_task(airflow: Cluster, dag_id: str, run_id: str, timeout: float = 120) -> dict[str, Any]:
    """The first task instance of the run seen running on a worker (its hostname set)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in _task_instances(airflow, dag_id, run_id):
            if ti["state"] == "running" and ti["hostname"] in WORKERS.values():
                return ti
        time.sleep(0.2)
    raise AssertionError(f"no task of {dag_id} ran within {timeout:.0f} s: {airflow.task_states(dag_id, run_id)}")


def _assert_delivered_once_in_order(store: Engine, server: Any) -> None:
    """Every push acknowledged, held once by its agency, and each citizen's in the order queued."""
    with store.connect() as conn:
        rows = conn.execute(
            select(outbox.c.topic, outbox.c.aggregate_id, outbox.c.sequence, outbox.c.idempotency_key, outbox.c.state)
            .where(outbox.c.topic.like(f"{TOPIC_PREFIX}%"))
            .order_by(outbox.c.message_id)
        ).all()
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() >= len(rows)
    assert rows and {row.state for row in rows} == {"acknowledged"}, {row.state for row in rows}
    queued: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
    for row in rows:
        queued[row.topic[len(TOPIC_PREFIX) :]][row.idempotency_key] = (row.aggregate_id, row.sequence)
    for agency, messages in queued.items():
        held, total = server.agencies.page(agency, 0, 1_000_000)
        keys = [received.idempotency_key for received in held]
        assert total == len(keys) == len(set(keys)), f"{agency}: a push held twice"
        assert set(keys) == set(messages), f"{agency}: held and acknowledged differ"
        seen: dict[str, int] = {}
        for key in keys:
            aggregate, sequence = messages[key]
            assert sequence > seen.get(aggregate, -1), f"{agency}: a citizen's pushes arrived out of order"
            seen[aggregate] = sequence
