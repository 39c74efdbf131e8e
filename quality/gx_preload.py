"""Importing this module imports and warms Great Expectations (`quality.gx.preload`): a worker's preload.

A worker process names it where it imports modules before it forks its tasks (see
``hub.local.airflow.preload``), so that every audit it forks finds GX imported. Nothing
else imports it: Airflow's DAG parser must never pay GX's import.
"""

from __future__ import annotations

from quality.gx import preload

preload()
