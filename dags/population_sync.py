"""Population sync: National Population Database -> audit -> golden citizen records.

Hourly. Each task calls one function of the hub with the run's id; only that id
travels between tasks. Nothing heavy is imported at module level: Airflow parses
this file constantly.

Endpoint and credentials: the Airflow connection ``national_population``
(``AIRFLOW_CONN_NATIONAL_POPULATION=http://USER:PASSWORD@HOST:PORT/population``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task

DEFAULT_ARGS = {
    "owner": "lgsp",
    # Transient faults are already retried page by page inside the connector; these
    # retries cover a whole task dying (worker lost, database restarting).
    "retries": int(os.environ.get("LGSP_TASK_RETRIES", "3")),
    "retry_delay": timedelta(seconds=float(os.environ.get("LGSP_TASK_RETRY_DELAY_SECONDS", "30"))),
    # A multiplier since Airflow 3 (True would mean 1.0: a constant delay): 30 s, 60 s, 120 s.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}


def _lgsp_run_id() -> str:
    return f"population_sync:{get_current_context()['run_id']}"


def _run_stage(stage: str, run_id: str) -> dict[str, Any]:
    """Call one stage; errors that retrying cannot fix fail the task at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from connectors.errors import ConfigError, FatalSourceError
    from hub.pipeline import population_sync
    from hub.settings import load_settings

    try:
        summary = getattr(population_sync, stage)(run_id, load_settings())
    except (ConfigError, FatalSourceError) as exc:  # StoreError is retried: databases restart
        raise AirflowFailException(f"{stage} failed and will not be retried: {exc}") from exc
    return {"run_id": run_id, **summary.as_dict()}


@dag(
    dag_id="population_sync",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["inbound", "population", "soap"],
    doc_md=__doc__,
)
def population_sync() -> None:
    """Extract, audit, publish."""

    # Only the run's id travels between tasks (XCom); the records stay in the store.
    # (Airflow reserves the parameter name "run_id" for its own context.)
    @task
    def extract() -> str:
        sync_run_id = _lgsp_run_id()
        _run_stage("extract", sync_run_id)
        return sync_run_id

    @task
    def audit(sync_run_id: str) -> str:
        _run_stage("audit", sync_run_id)
        return sync_run_id

    @task
    def publish(sync_run_id: str) -> dict[str, Any]:
        return _run_stage("publish", sync_run_id)

    publish(audit(extract()))


population_sync_dag = population_sync()
