"""Run our DAGs through a real, in-process Airflow (``dag.test()``) on a metadata DB under LGSP_HOME.

Airflow reads its configuration when first imported, so each DAG runs in a child
Python process that starts with the right environment; the parent (CLI, tests)
never imports Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from lgsp.errors import ConfigError

DAGS_FOLDER = Path(__file__).resolve().parents[3] / "dags"  # hub/local/airflow/ -> the checkout
_RESULT_MARK = "LGSP-DAG-RESULT "


@dataclass(frozen=True)
class DagOutcome:
    """How one DAG run ended, as Airflow recorded it."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]


def airflow_environment(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for an embedded Airflow: SQLite metadata DB, our dags folder, no examples."""
    airflow_home = (home / "airflow").resolve()
    airflow_home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
            "GX_ANALYTICS_ENABLED": "false",
            "LGSP_HOME": str(home.resolve()),
        }
    )
    env.update(extra or {})
    return env


def migrate_metadata_db(env: dict[str, str]) -> None:
    """``airflow db migrate`` on the embedded metadata DB (idempotent).

    Raises:
        ConfigError: Airflow could not create or upgrade its database.
    """
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ConfigError(f"airflow db migrate failed ({done.returncode}): {done.stderr[-1500:]}")


def run_dag(dag_id: str, env: dict[str, str]) -> DagOutcome:
    """Run one DAG once through ``dag.test()`` in a child process and report its final state.

    Raises:
        ConfigError: the child could not load or run the DAG at all.
    """
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "hub.local.airflow.in_process", dag_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        check=False,
    )
    outcome: DagOutcome | None = None
    for line in done.stdout.splitlines():
        if line.startswith(_RESULT_MARK):
            data = json.loads(line[len(_RESULT_MARK) :])
            outcome = DagOutcome(dag_id=dag_id, run_id=data["run_id"], state=data["state"], task_states=data["tasks"])
        else:
            # Airflow logs task output to stdout; ours stays clean for --json, so pass it to stderr.
            sys.stderr.write(line + "\n")
    if outcome is not None:
        return outcome
    raise ConfigError(f"the DAG {dag_id} did not run (exit {done.returncode}); see the Airflow output above")


def _test_dag(dag_id: str) -> None:
    """Inside the child: load the DAG from the dags folder and run it once."""
    from airflow.dag_processing.dagbag import DagBag

    # dag.test() serves Airflow's execution API in-process through Starlette's TestClient, which warns
    # about its own httpx use on every run: Airflow's concern, not the operator's, so not on their screen.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if dag_id not in bag.dags:
        errors = "; ".join(f"{path}: {err}" for path, err in bag.import_errors.items())
        raise SystemExit(f"DAG {dag_id} not found in the dags folder. Import errors: {errors or 'none'}")
    dag_run = bag.dags[dag_id].test()
    tasks = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    result = {"run_id": dag_run.run_id, "state": str(dag_run.state), "tasks": tasks}
    print(_RESULT_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    _test_dag(sys.argv[1])
