"""Great Expectations imported once per worker process, before it forks its tasks; never by the DAG parser.

An audit's first seconds would otherwise go to ``import great_expectations`` in every task
process. Each executor gets the module ``quality.gx_preload`` imported by the process its
tasks are forked from, through the executor's own setting:

* LocalExecutor: the scheduler starts its workers from a ``forkserver`` that imports the
  preload list first (``[scheduler] mp_start_method``, ``mp_forkserver_preload``, Airflow
  3.3); each worker inherits it and forks each task's supervisor and runner from itself.
* CeleryExecutor: ``[celery] celery_config_options`` names `hub.local.airflow.celery_config`,
  whose ``imports`` the worker's main process imports before it forks its prefork pool.

The DAG processor reads neither setting: it parses DAG files without GX.
"""

from __future__ import annotations

PRELOAD_MODULE = "quality.gx_preload"
# Airflow's own modules first: a worker from the forkserver then shares them rather than re-importing them.
FORKSERVER_PRELOAD = ("airflow", "airflow.executors.local_executor", PRELOAD_MODULE)
CELERY_CONFIG = "hub.local.airflow.celery_config.CELERY_CONFIG"


def local_executor_environment() -> dict[str, str]:
    """The scheduler's settings that start LocalExecutor workers with GX imported."""
    return {
        "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
        "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(FORKSERVER_PRELOAD),
    }


def celery_environment() -> dict[str, str]:
    """The Celery workers' setting that imports GX in each worker before it forks its pool."""
    return {"AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG}
