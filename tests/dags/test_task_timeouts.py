"""Every task has a time limit, set from the environment per kind of task, and Airflow enforces it.

The limits are read when a DAG file is parsed, so each case parses the dags folder in a
child process with its own environment (Airflow reads its configuration when first
imported). The last test runs the real ``national_population_sync`` through ``dag.test()``
against a peer that drips its answer a byte at a time: only the task's time limit
ends the read, as ``AirflowTaskTimeout`` (raised by SIGALRM in the task runner, which
``dag.test()`` runs in-process, in its main thread).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.local.airflow.in_process import DAGS_FOLDER, airflow_environment, migrate_metadata_db
from hub.orchestration.schedules import POOLS
from hub.systems.loader import load_systems, streams

# (dag, task) -> the kind of task whose limit it must have; every task of every DAG is here.
KINDS = {
    ("agency_push", "plan_lanes"): "deliver",
    ("agency_push", "deliver_pushes"): "deliver",
    ("quality_report", "build_site"): "report",
    # every declared stream's DAG: extract, audit, publish, then its followups (e.g. the dossiers' route, deliver)
    **{
        (item.dag_id, task): task
        for item in streams(load_systems())
        for task in ("extract", "audit", "publish", *(step.task for step in item.stream.then))
    },
}
DECLARED_FILE = "declared_streams.py"
SET = {"extract": "7", "audit": "11", "publish": "13", "route": "0.5", "deliver": "19", "report": "23"}
BAD = ["abc", "0", "-5", "nan", "inf", "1441", "1e9", "30m"]

_DESCRIBE = r"""
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], known_pools=set(json.loads(sys.argv[2])))
limits = {f"{dag.dag_id}.{t.task_id}": t.execution_timeout.total_seconds() if t.execution_timeout else None
          for dag in bag.dags.values() for t in dag.tasks}
docs = {dag.dag_id: dag.doc_md for dag in bag.dags.values()}
errors = {os.path.basename(path): message for path, message in bag.import_errors.items()}

from lgsp.errors import ConfigError
from hub.orchestration.flows import task_timeout
refused = {}
for value in json.loads(sys.argv[3]):
    os.environ["LGSP_TASK_TIMEOUT_AUDIT_MINUTES"] = value
    try:
        refused[value] = "accepted " + str(task_timeout("audit"))
    except ConfigError as exc:
        refused[value] = str(exc)
print("DESCRIBED " + json.dumps({"limits": limits, "docs": docs, "errors": errors, "refused": refused}))
"""

# The task's outcome, and the whole Airflow output (task logs included) to look for the reason in.
_RUN = (
    "import json, os, sys, time; from airflow.dag_processing.dagbag import DagBag;"
    "dag = DagBag(dag_folder=os.environ['AIRFLOW__CORE__DAGS_FOLDER']).dags[sys.argv[1]];"
    "run = dag.test();"
    "tasks = {ti.task_id: [str(ti.state), ti.duration] for ti in run.get_task_instances()};"
    "print('RESULT ' + json.dumps({'state': str(run.state), 'tasks': tasks}), flush=True)"
)


def describe(tmp_path: Path, extra: dict[str, str], bad_values: list[str] | None = None) -> dict[str, Any]:
    """The dags folder parsed in a child with ``extra`` in its environment: limits, docs, import errors."""
    env = airflow_environment(tmp_path, extra)
    for kind in SET:
        if kind.upper() not in "".join(extra):
            env.pop(f"LGSP_TASK_TIMEOUT_{kind.upper()}_MINUTES", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _DESCRIBE,
            str(DAGS_FOLDER),
            json.dumps(["default_pool", *POOLS]),
            json.dumps(bad_values or []),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("DESCRIBED ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    described: dict[str, Any] = json.loads(lines[-1][len("DESCRIBED ") :])
    return described


def test_every_task_has_its_kinds_default_limit(tmp_path: Path) -> None:
    described = describe(tmp_path, {})
    assert described["errors"] == {}
    limits = described["limits"]
    assert set(limits) == {f"{dag}.{task}" for dag, task in KINDS}  # no task without an expected kind
    defaults = {"extract": 60, "audit": 30, "publish": 60, "route": 30, "deliver": 120, "report": 60}
    for (dag, task), kind in KINDS.items():
        assert limits[f"{dag}.{task}"] == defaults[kind] * 60, (dag, task)
    # Finite yet generous: the README's 3-million first load takes ~11 min for all three stages.
    assert all(11 * 60 < seconds <= 24 * 3600 for seconds in limits.values())
    for dag_id, doc in described["docs"].items():
        assert "Time limits" in doc and "AirflowTaskTimeout" in doc, dag_id
    assert "`extract` 60 min (`LGSP_TASK_TIMEOUT_EXTRACT_MINUTES`)" in described["docs"]["national_population_sync"]
    assert "`deliver_pushes` 120 min (`LGSP_TASK_TIMEOUT_DELIVER_MINUTES`)" in described["docs"]["agency_push"]


def test_each_kinds_limit_follows_its_environment_variable(tmp_path: Path) -> None:
    described = describe(tmp_path, {f"LGSP_TASK_TIMEOUT_{kind.upper()}_MINUTES": value for kind, value in SET.items()})
    assert described["errors"] == {}
    for (dag, task), kind in KINDS.items():
        assert described["limits"][f"{dag}.{task}"] == float(SET[kind]) * 60, (dag, task)
    assert "`extract` 7 min (`LGSP_TASK_TIMEOUT_EXTRACT_MINUTES`)" in described["docs"]["civil_status_sync"]
    assert "`route` 30 s (`LGSP_TASK_TIMEOUT_ROUTE_MINUTES`)" in described["docs"]["one_stop_sync"]
    assert "`build_site` 23 min" in described["docs"]["quality_report"]


def test_a_bad_limit_is_refused_naming_the_variable(tmp_path: Path) -> None:
    described = describe(tmp_path, {"LGSP_TASK_TIMEOUT_AUDIT_MINUTES": "half an hour"}, BAD)
    # Every DAG with an audit task fails to load, and says which variable and what to write.
    assert set(described["errors"]) == {DECLARED_FILE}
    for message in described["errors"].values():
        assert "LGSP_TASK_TIMEOUT_AUDIT_MINUTES='half an hour'" in message and "minutes above 0" in message
    assert set(described["limits"]) == {
        "agency_push.plan_lanes",
        "agency_push.deliver_pushes",
        "quality_report.build_site",
    }
    for value, outcome in described["refused"].items():
        assert outcome.startswith(f"LGSP_TASK_TIMEOUT_AUDIT_MINUTES={value!r} is out of range"), value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LGSP_TASK_RETRIES", "three"),
        ("LGSP_TASK_RETRIES", "-1"),
        ("LGSP_TASK_RETRIES", "2.5"),
        ("LGSP_TASK_RETRIES", "1000"),
        ("LGSP_TASK_RETRY_DELAY_SECONDS", "30s"),
        ("LGSP_TASK_RETRY_DELAY_SECONDS", "-1"),
        ("LGSP_TASK_RETRY_DELAY_SECONDS", "nan"),
    ],
)
def test_a_bad_retry_setting_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    from hub.orchestration.flows import default_args
    from lgsp.errors import ConfigError

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        default_args()
    assert str(refused.value).startswith(f"{name}={value!r} is out of range"), str(refused.value)


def test_retry_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.orchestration.flows import default_args

    monkeypatch.setenv("LGSP_TASK_RETRIES", "0")
    monkeypatch.setenv("LGSP_TASK_RETRY_DELAY_SECONDS", "2.5")
    args = default_args()
    assert args["retries"] == 0 and args["retry_delay"].total_seconds() == 2.5


DRIP_SECONDS = 90  # the hostile peer gives up after this; the task's limit must end the read long before


@pytest.fixture
def dripping_peer() -> Iterator[str]:
    """A loopback "population database" that answers every request 200 and then one byte a second.

    Each byte arrives well within the client's read timeout, so only a deadline on the
    whole task ends the call. It stops after ``DRIP_SECONDS`` so that a test of code
    without a time limit ends too (and fails).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000000\r\n\r\n<")
                deadline = time.monotonic() + DRIP_SECONDS
                while not stop.is_set() and time.monotonic() < deadline:
                    conn.sendall(b" ")
                    stop.wait(1.0)
            except OSError:
                return  # the client hung up: what a timed-out task does

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    host, port = listener.getsockname()
    yield f"{host}:{port}"
    stop.set()
    server.join(timeout=5)
    listener.close()


def test_a_task_past_its_limit_is_failed_by_airflow(dripping_peer: str, tmp_path: Path) -> None:
    env = airflow_environment(
        tmp_path,
        {
            "AIRFLOW_CONN_NATIONAL_POPULATION": f"http://lgsp-demo:demo-only-password@{dripping_peer}/population",
            "LGSP_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite'}",
            # 15 s: past the task's start-up (imports, the store, its run row) on a loaded machine
            "LGSP_TASK_TIMEOUT_EXTRACT_MINUTES": "0.25",
            "LGSP_OPERATION_TIMEOUT": "600",  # the client's own read timeout never fires: each byte is on time
            "LGSP_MAX_ATTEMPTS": "1",
            "LGSP_TASK_RETRIES": "0",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        },
    )
    migrate_metadata_db(env)
    done = subprocess.run(
        [sys.executable, "-c", _RUN, "national_population_sync"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    output = done.stdout + done.stderr
    assert result["state"] == "failed", result
    state, seconds = result["tasks"]["extract"]
    assert state == "failed" and result["tasks"]["publish"][0] == "upstream_failed", result
    assert "AirflowTaskTimeout" in output, output[-3000:]
    assert seconds < DRIP_SECONDS / 2, result  # ended by its 15 s limit, not by the peer giving up
    # `lgsp status` says why: the run's row names the limit, and the failed pull is on the ledger.
    with sqlite3.connect(tmp_path / "hub.sqlite") as store:
        (error,) = store.execute("SELECT error FROM sync_run WHERE stream = 'national_population.citizens'").fetchone()
        outcomes = [row[0] for row in store.execute("SELECT outcome FROM audit_ledger")]
    assert error.startswith("extract: interrupted by AirflowTaskTimeout"), error
    assert "failed" in outcomes, outcomes
