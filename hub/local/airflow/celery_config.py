"""``[celery] celery_config_options`` of our clusters: the provider's defaults, plus the GX preload.

Read by Airflow only (it imports this module by name, in the scheduler and in each worker):
importing it imports Airflow's Celery provider. Celery's ``imports`` are imported by a
worker's main process before it forks its pool (``Loader.init_worker``), so every pool
process, and every task it forks, has GX imported already (see ``hub.local.airflow.preload``).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from hub.local.airflow.preload import PRELOAD_MODULE

CELERY_CONFIG: dict[str, Any] = {
    **DEFAULT_CELERY_CONFIG,
    "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), PRELOAD_MODULE),
}
