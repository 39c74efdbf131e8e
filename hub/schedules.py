"""How often each flow runs: one table read by the DAG files and by the auditors' report.

The report judges a flow's freshness against the schedule its DAG really has, so the
schedule is declared once here rather than in each DAG file. Plain data (cron
expressions or Airflow's presets): importing this module costs nothing.
"""

from __future__ import annotations

from datetime import datetime

# flow (DAG id) -> cron expression or Airflow preset
SCHEDULES: dict[str, str] = {
    "population_sync": "@hourly",
    "civil_status_sync": "@hourly",
    "dossier_sync": "*/15 * * * *",
    "agency_push": "*/15 * * * *",
}

_PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}


def missed_runs(schedule: str, last_finished: datetime | None, now: datetime) -> int | None:
    """Scheduled runs due since ``last_finished`` beyond the one that may be running now; None if it never ran.

    0 means fresh: at most one tick has passed since the last good run, and that run
    may simply be in progress. Naive datetimes are UTC, as the store keeps them.
    """
    if last_finished is None:
        return None
    from croniter import croniter  # Airflow's own dependency; imported here so DAG files stay cheap

    ticks = croniter(_PRESETS.get(schedule, schedule), last_finished)
    due = 0
    while ticks.get_next(datetime) <= now:
        due += 1
        if due > 10_000:  # a flow dead for months: the exact count no longer matters
            break
    return max(due - 1, 0)

