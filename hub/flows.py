"""DAG factory for inbound streams: extract -> audit -> publish, the same for every source.

Imported by the files in dags/, so it imports nothing but the Airflow SDK at module
level: the pipeline (SQLAlchemy, GX, zeep, httpx) is imported inside the tasks.
"""

from __future__ import annotations

import importlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task


def default_args() -> dict[str, Any]:
    """Retries for a whole task dying (worker lost, database restarting).

    Transient faults of a source are already retried page by page inside the
    connector. ``retry_exponential_backoff`` is a multiplier since Airflow 3 (True
    would mean 1.0: a constant delay): 30 s, 60 s, 120 s.
    """
    return {
        "owner": "lgsp",
        "retries": int(os.environ.get("LGSP_TASK_RETRIES", "3")),
        "retry_delay": timedelta(seconds=float(os.environ.get("LGSP_TASK_RETRY_DELAY_SECONDS", "30"))),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
    }


def run_stage(pipeline: str, stage: str, run_id: str) -> dict[str, Any]:
    """Call one stage of a pipeline module; errors that retrying cannot fix fail the task at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from connectors.errors import ConfigError, FatalSourceError
    from hub.settings import load_settings

    module = importlib.import_module(pipeline)
    try:
        summary = getattr(module, stage)(run_id, load_settings())
    except (ConfigError, FatalSourceError) as exc:  # StoreError is retried: databases restart
        raise AirflowFailException(f"{stage} failed and will not be retried: {exc}") from exc
    return {"run_id": run_id, **summary.as_dict()}


def _followup(pipeline: str, stage: str) -> Any:
    def step(sync_run_id: str) -> str:
        run_stage(pipeline, stage, sync_run_id)
        return sync_run_id

    step.__doc__ = f"{stage} for the run (after publish)."
    return step


def stream_sync_dag(
    dag_id: str,
    pipeline: str,
    *,
    schedule: str,
    doc_md: str | None,
    tags: list[str],
    followups: tuple[str, ...] = (),
) -> DAG:
    """A write-audit-publish DAG whose tasks call ``pipeline``'s extract, audit, publish.

    ``followups`` name more functions of ``pipeline`` (same signature) to run after
    publish, one task each, in order: e.g. routing dossiers, delivering the outbox.
    """

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(),
        tags=tags,
        doc_md=doc_md,
    )
    def flow() -> None:
        # Only the run's id travels between tasks (XCom); the records stay in the store.
        # (Airflow reserves the parameter name "run_id" for its own context.)
        @task
        def extract() -> str:
            sync_run_id = f"{dag_id}:{get_current_context()['run_id']}"
            run_stage(pipeline, "extract", sync_run_id)
            return sync_run_id

        @task
        def audit(sync_run_id: str) -> str:
            run_stage(pipeline, "audit", sync_run_id)
            return sync_run_id

        @task
        def publish(sync_run_id: str) -> str:
            run_stage(pipeline, "publish", sync_run_id)
            return sync_run_id

        last = publish(audit(extract()))  # type: ignore[arg-type]  # XComArg resolves to str at run time
        for name in followups:
            last = task(task_id=name)(_followup(pipeline, name))(last)

    built: DAG = flow()
    return built
