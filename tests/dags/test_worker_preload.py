"""A worker imports GX once, before it forks its tasks; the process that starts workers does not.

Each test runs Airflow's own code for the setting in a child process with a temp
``AIRFLOW_HOME`` (Airflow reads its configuration when first imported). The DAG
parser's side (no GX) is tests/dags/test_dag_integrity.py's import test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hub.local.airflow import preload
from hub.local.airflow.in_process import airflow_environment

PROJECT = Path(__file__).resolve().parents[2]

# What the scheduler does before its LocalExecutor starts workers, then a worker as it starts
# one: forked from the forkserver, by pickled reference (``exec`` here, Airflow's ``_run_worker`` there).
_LOCAL_EXECUTOR = r"""
import multiprocessing, sys
from airflow.utils.process_utils import set_component_mp_start_method

set_component_mp_start_method("scheduler")
probe = "import gc, sys; sys.exit(0 if 'great_expectations' in sys.modules and gc.get_freeze_count() else 3)"
worker = multiprocessing.Process(target=exec, args=(probe,))
worker.start()
worker.join(300)
print(multiprocessing.get_start_method(), worker.exitcode, "great_expectations" in sys.modules)
"""

# What ``airflow celery worker`` does before it forks its pool: the app's loader imports ``imports``.
_CELERY_WORKER = r"""
import sys
from airflow.providers.celery.executors.celery_executor_utils import app, create_celery_app
from airflow.configuration import conf

before = "great_expectations" in sys.modules
team_app = create_celery_app(conf)  # the path a worker of a team takes
assert team_app.conf.imports == app.conf.imports, (team_app.conf.imports, app.conf.imports)
app.loader.init_worker()
print(before, "great_expectations" in sys.modules, "quality.gx_preload" in app.conf.imports)
"""


def _child(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_local_executor_workers_start_with_gx_imported_and_the_scheduler_without(tmp_path: Path) -> None:
    env = airflow_environment(tmp_path, preload.local_executor_environment())
    env["PYTHONPATH"] = str(PROJECT)
    assert _child(_LOCAL_EXECUTOR, env) == "forkserver 0 False"


def test_without_the_preload_a_local_worker_has_no_gx(tmp_path: Path) -> None:
    # The probe can fail: the platform default (fork from a scheduler without GX) gives a worker without it.
    env = airflow_environment(tmp_path)
    env["PYTHONPATH"] = str(PROJECT)
    assert _child(_LOCAL_EXECUTOR, env).split()[1:] == ["3", "False"]


def test_a_celery_worker_imports_gx_before_it_forks_its_pool(tmp_path: Path) -> None:
    env = airflow_environment(
        tmp_path,
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": "memory://",
            **preload.celery_environment(),
        },
    )
    env["PYTHONPATH"] = str(PROJECT)
    assert _child(_CELERY_WORKER, env) == "False True True"
