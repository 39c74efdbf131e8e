"""The real DAG through a real Airflow (dag.test() on a metadata DB in a temp home)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from hub.local.airflow.in_process import DAGS_FOLDER, airflow_environment, migrate_metadata_db, run_dag
from hub.local.demo_connections import api_key_connections, declared_connections
from hub.local.main_job import main_job_flows
from hub.orchestration.schedules import HUB_SCHEDULES
from hub.store.tables import citizen, sync_run, sync_state
from hub.systems.loader import DEFAULT_DIR, load_systems, streams

DECLARED = {item.dag_id: item for item in streams(load_systems())}  # one DAG per declared stream

ROOT = Path(__file__).resolve().parents[2]
# dag.test() with a run config (hub.local.airflow.in_process runs DAGs without one): what a "Trigger with config" does.
_TEST_WITH_CONF = (
    "import json, os, sys; from airflow.dag_processing.dagbag import DagBag;"
    "dag = DagBag(dag_folder=os.environ['AIRFLOW__CORE__DAGS_FOLDER']).dags[sys.argv[1]];"
    "run = dag.test(run_conf=json.loads(sys.argv[2]));"
    "tasks = {ti.task_id: [str(ti.state), ti.try_number] for ti in run.get_task_instances()};"
    "print('RESULT ' + json.dumps({'run_id': run.run_id, 'state': str(run.state), 'tasks': tasks}))"
)


def run_with_conf(dag_id: str, env: dict[str, str], conf: dict[str, Any]) -> dict[str, Any]:
    """Run the DAG once through dag.test() with ``conf``, in a child; its run id, state and task states."""
    done = subprocess.run(
        [sys.executable, "-c", _TEST_WITH_CONF, dag_id, json.dumps(conf)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def test_every_dag_file_is_found_by_airflow() -> None:
    # Airflow's safe mode skips a file unless it mentions both "airflow" and "dag".
    probe = (
        "import sys; from airflow.dag_processing.dagbag import DagBag; bag = DagBag(dag_folder=sys.argv[1]);"
        "print(sorted(bag.dags), len(bag.import_errors))"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(DAGS_FOLDER)], capture_output=True, text=True, check=True)
    expected = sorted([*HUB_SCHEDULES, *DECLARED])
    assert len(expected) == len(HUB_SCHEDULES) + len(DECLARED) >= 7  # population, civil status, dossiers: declared
    assert done.stdout.strip().splitlines()[-1] == f"{expected} 0"


def test_dag_shape() -> None:
    probe = (
        "import sys, runpy; ns = runpy.run_path(sys.argv[1]); d = ns['national_population_sync_dag'];"
        "print(d.dag_id, d.max_active_runs, sorted(d.task_dict),"
        " d.task_dict['extract'].retries, d.task_dict['extract'].retry_exponential_backoff, repr(d.timetable))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(DAGS_FOLDER / "declared_streams.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("national_population_sync 1 ['audit', 'extract', 'publish'] 3 2.0")
    assert "0 * * * *" in line  # hourly


def test_lgsp_run_json_is_alone_on_stdout_and_balances(tmp_path: Path) -> None:
    # The mocks' child process reads LGSP_MOCK_*: keep the one-stop system as small as the population.
    env = {
        **os.environ,
        "LGSP_HOME": str(tmp_path),
        "GX_ANALYTICS_ENABLED": "false",
        "LGSP_MOCK_ONE_STOP_DOSSIERS": "1500",
    }
    env.pop("LGSP_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "run", "--citizens", "1500", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    flow = report["flows"]["national_population_sync"]
    assert flow["state"] == "success"
    assert flow["read"] == flow["published"] + flow["quarantined"] + flow["unchanged"]
    assert flow["read"] >= 1500 and flow["quarantined"] > 0 and flow["rules_failed"]
    civil = report["flows"]["civil_status_sync"]  # declared; runs after the population it links to
    assert civil["state"] == "success" and civil["read"] > 0 and civil["quarantined"] > 0
    assert civil["read"] == civil["published"] + civil["quarantined"] + civil["unchanged"]
    assert {"event_id.unique_in_run", "event_date.after_referenced"} <= set(civil["rules_failed"])
    dossiers = report["flows"]["one_stop_sync"]  # declared, with its domain merge, routing and portal delivery
    assert dossiers["state"] == "success" and dossiers["read"] > 0  # those received by the mock clock
    for dag_id, item in DECLARED.items():  # after the citizens they reference, before the pushes
        if dag_id in ("national_population_sync", "civil_status_sync", "one_stop_sync"):
            continue  # checked above (the civil-status and one-stop mocks inject no contract breaches)
        declared = report["flows"][dag_id]
        assert declared["state"] == "success" and declared["read"] > 0, (dag_id, declared)
        assert declared["read"] == declared["published"] + declared["quarantined"] + declared["unchanged"]
        assert declared["published"] > 0 and declared["quarantined"] > 0, dag_id  # the mocks inject defects
        assert set(declared["rules_failed"]) >= {f"{item.stream.key}.not_empty", "contract.valid"}
    assert set(report["flows"]) == set(main_job_flows())  # the JSON sorts them; the store says the order run
    pushes = report["flows"]["agency_push"]  # last: every subscriber got its changes, declared datasets' too
    assert pushes["state"] == "success" and set(pushes["pushes"]) >= {"BHXH", "TU-PHAP"}
    assert len(pushes["pushes"]) > 2  # an agency subscribes to a declared dataset (config/sharing)
    assert all(
        states["acknowledged"] > 0 and states["pending"] == states["dead"] == 0 for states in pushes["pushes"].values()
    )
    assert report["ledger"]["intact"] and report["ledger"]["entries"] > 0
    assert report["once_only"]["overall"]["dossiers"] > 0
    figures = dossiers["figures"]
    assert 0.4 < figures["online_share"] < 0.8 and 0.5 < figures["on_time_share"] <= 1
    assert figures["portal_synced_share"] == 1.0 and figures["portal_ack_delay_seconds"]["median"] is not None
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(citizen)).scalar_one() == flow["published"]
        started = conn.execute(select(sync_run.c.run_id).order_by(sync_run.c.started_at)).scalars().all()
    engine.dispose()
    assert [run_id.split(":", 1)[0] for run_id in started] == [dag for dag in main_job_flows() if dag != "agency_push"]


def test_failed_task_fails_the_dag_run_and_says_why(mock_server: Callable[..., Any], tmp_path: Path) -> None:
    server = mock_server()
    env = airflow_environment(
        tmp_path,
        {
            "AIRFLOW_CONN_NATIONAL_POPULATION": (
                f"http://lgsp-demo:wrong@{server.base_url.split('//', 1)[1]}/population"
            ),
            "LGSP_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite'}",
        },
    )
    migrate_metadata_db(env)
    outcome = run_dag("national_population_sync", env)
    assert outcome.state == "failed"
    assert outcome.task_states["extract"] == "failed"
    assert outcome.task_states["publish"] == "upstream_failed"
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    with engine.connect() as conn:
        error = conn.execute(select(sync_run.c.error)).scalar_one()
        assert conn.execute(select(func.count()).select_from(citizen)).scalar_one() == 0
    assert "Authentication" in error
    engine.dispose()


def test_lgsp_run_skips_flows_whose_base_failed(tmp_path: Path) -> None:
    # A declaration sending the UsernameToken's password as text to a register that takes only the digest:
    # the population flow fails, and the flows reading the citizens it should have published are skipped.
    systems = tmp_path / "systems"
    shutil.copytree(DEFAULT_DIR, systems)
    declaration = systems / "national_population.yaml"
    text = declaration.read_text(encoding="utf-8")
    declaration.write_text(text.replace("wsse_username_token: {}", "wsse_username_token: {password: text}"))
    env = {
        **os.environ,
        "LGSP_HOME": str(tmp_path),
        "LGSP_SYSTEMS_DIR": str(systems),
        "GX_ANALYTICS_ENABLED": "false",
        "LGSP_MOCK_ONE_STOP_DOSSIERS": "300",
        "LGSP_MOCK_POPULATION_WSSE": "digest",
        "LGSP_TASK_RETRIES": "0",
    }
    env.pop("LGSP_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "run", "--citizens", "300", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    flows = json.loads(done.stdout)["flows"]
    assert flows["national_population_sync"]["state"] == "failed"
    assert "Authentication" in flows["national_population_sync"]["error"]
    readers = ("civil_status_sync", "one_stop_sync", "social_insurance_sync", "household_business_sync")
    assert {flows[flow]["state"] for flow in readers} == {"skipped"}
    assert flows["agency_push"]["state"] == "success"  # it reads nothing the population publishes: it runs


def test_since_rereads_from_that_time_and_loads_nothing_twice(mock_server: Callable[..., Any], tmp_path: Path) -> None:
    server = mock_server(citizens=300)
    store = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    env = airflow_environment(
        tmp_path,
        {
            "AIRFLOW_CONN_NATIONAL_POPULATION": (
                f"http://lgsp-demo:demo-only-password@{server.base_url.split('//', 1)[1]}/population"
            ),
            "LGSP_DATABASE_URL": store,
            "LGSP_TASK_RETRIES": "0",
        },
    )
    migrate_metadata_db(env)
    assert run_dag("national_population_sync", env).state == "success"  # from the beginning: everything
    engine = create_engine(store)
    with engine.connect() as conn:
        first = conn.execute(select(sync_run)).mappings().one()
        cursor = conn.execute(select(sync_state.c.cursor)).scalar_one()
        held = conn.execute(select(func.count()).select_from(citizen)).scalar_one()

    backfill = run_with_conf("national_population_sync", env, {"since": "2000-01-01T07:00:00+07:00"})

    assert backfill["state"] == "success", backfill
    with engine.connect() as conn:
        again = (
            conn.execute(select(sync_run).where(sync_run.c.run_id == f"national_population_sync:{backfill['run_id']}"))
            .mappings()
            .one()
        )
        assert conn.execute(select(sync_state.c.cursor)).scalar_one() == cursor  # never moves back
        assert conn.execute(select(func.count()).select_from(citizen)).scalar_one() == held
    engine.dispose()
    assert again["cursor_from"] == "2000-01-01T00:00:00"  # the run says where it read from, in UTC
    assert again["read"] == first["read"]  # everything the mock changed since then, again
    assert again["published"] == 0 and again["unchanged"] == first["published"]  # nothing loaded twice
    assert again["read"] == again["published"] + again["quarantined"] + again["unchanged"]


def test_a_since_in_the_future_fails_extract_at_once_without_a_run(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    env = airflow_environment(tmp_path, {"LGSP_DATABASE_URL": store, "LGSP_TASK_RETRIES": "3"})
    migrate_metadata_db(env)

    outcome = run_with_conf("civil_status_sync", env, {"since": "2999-01-01T00:00:00Z"})

    assert outcome["state"] == "failed"
    assert outcome["tasks"]["extract"] == ["failed", 1]  # not up_for_retry: three retries would not help
    assert outcome["tasks"]["publish"][0] == "upstream_failed"
    assert not (tmp_path / "hub.sqlite").exists()  # the task stopped before it opened the store


def test_the_quality_report_dag_builds_the_site(tmp_path: Path) -> None:
    env = airflow_environment(tmp_path, {"LGSP_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite'}"})
    migrate_metadata_db(env)

    outcome = run_dag("quality_report", env)

    assert (outcome.state, outcome.task_states) == ("success", {"build_site": "success"})
    index = tmp_path / "reports" / "index.html"
    assert index.is_file() and "national_population_sync" in index.read_text(encoding="utf-8")  # freshness of each flow


def test_the_main_job_runs_every_declared_stream_in_order_and_the_pushes_last() -> None:
    assert main_job_flows(("a_sync", "b_sync")) == ("a_sync", "b_sync", "agency_push")
    order = [item.system.order for item in DECLARED.values()]
    assert main_job_flows()[:-1] == tuple(DECLARED) and order == sorted(order)
    assert next(iter(DECLARED)) == "national_population_sync"  # order 10: every other flow links to its citizens


def test_each_declared_streams_dag_runs_through_airflow_and_rereads_from_since(
    mock_server: Callable[..., Any], tmp_path: Path
) -> None:
    server = mock_server(citizens=300)
    store = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    env = airflow_environment(
        tmp_path,
        {
            **declared_connections(server.base_url),
            **api_key_connections(server.base_url),  # the portal, which the dossiers' deliver followup calls
            "LGSP_DATABASE_URL": store,
            "LGSP_TASK_RETRIES": "0",
        },
    )
    migrate_metadata_db(env)
    engine = create_engine(store)
    for dag_id, item in DECLARED.items():
        outcome = run_dag(dag_id, env)
        assert outcome.state == "success", outcome
        with engine.connect() as conn:
            run = conn.execute(select(sync_run).where(sync_run.c.run_id == f"{dag_id}:{outcome.run_id}")).mappings()
            first = run.one()
        assert first["stream"] == item.qualified and first["status"] == "published" and first["read"] > 0
        assert first["read"] == first["published"] + first["quarantined"] + first["unchanged"]

    dag_id, item = next(iter(DECLARED.items()))  # a backfill: the `since` param reaches the declared extract
    backfill = run_with_conf(dag_id, env, {"since": "2000-01-01T07:00:00+07:00"})
    assert backfill["state"] == "success", backfill
    with engine.connect() as conn:
        again = conn.execute(select(sync_run).where(sync_run.c.run_id == f"{dag_id}:{backfill['run_id']}")).mappings()
        row = again.one()
    engine.dispose()
    assert row["stream"] == item.qualified and row["cursor_from"] == "2000-01-01T00:00:00"
    assert row["read"] > 0 and row["published"] == 0  # nothing loaded twice
