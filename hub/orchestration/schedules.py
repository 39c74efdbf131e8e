"""When each flow runs, what it publishes, and the pools it needs: one table for the DAG files and the report.

The report judges a flow's freshness against the schedule its DAG really has, so the
schedule is declared once here rather than in each DAG file. Plain data (cron
expressions or Airflow's presets, asset names and URIs, pool sizes): importing this
module costs nothing, and nothing here needs Airflow.

Two ways a flow starts:

* on its clock, ``SCHEDULES`` (every flow has one, so ``missed_runs`` can judge each);
* and, for the flows in ``TRIGGERED_BY``, also as soon as an asset they consume is
  updated: the publish task of an inbound flow updates the assets in ``PUBLISHES``.
  The clock stays as a fallback that keeps freshness meaningful: a push that backed
  off is retried, and the report is rebuilt (and shows missed runs) even while no
  source publishes anything.

``POOLS`` are the external systems whose rate the platform must respect across every
DAG that calls them. A task in a pool that does not exist is never scheduled, so a
deployment creates them once (``hub.local.airflow.cluster`` does, from this table)::

    airflow pools set national_portal 1 "Status pushes to the National Public Service Portal ..."

``dag.test()`` (``lgsp run``) runs tasks without looking at pools.
"""

from __future__ import annotations

from datetime import datetime

# flow (DAG id) -> cron expression or Airflow preset, in UTC
SCHEDULES: dict[str, str] = {
    "population_sync": "@hourly",
    "civil_status_sync": "@hourly",
    "dossier_sync": "*/15 * * * *",
    "agency_push": "*/15 * * * *",
    "quality_report": "@daily",  # 00:00 UTC, 07:00 in Vietnam: a fresh site before office hours
}

# The hub's datasets as Airflow assets: name (what the UI shows) -> URI. Airflow reserves the
# scheme "airflow" and leaves "x-" schemes, meant for private use, as they are.
ASSETS: dict[str, str] = {
    "lgsp.citizen": "x-lgsp://hub/citizen",  # golden citizen records
    "lgsp.civil_event": "x-lgsp://hub/civil_event",  # births, marriages, deaths applied to them
    "lgsp.dossier": "x-lgsp://hub/dossier",  # one-stop dossiers and their statuses
}

# flow -> the assets its publish task updates (one asset event per published run)
PUBLISHES: dict[str, tuple[str, ...]] = {
    "population_sync": ("lgsp.citizen",),
    "civil_status_sync": ("lgsp.citizen", "lgsp.civil_event"),  # deaths and marriages change citizens
    "dossier_sync": ("lgsp.dossier",),
}

# flow -> the assets any one of whose updates starts it, besides its clock
TRIGGERED_BY: dict[str, tuple[str, ...]] = {
    "agency_push": ("lgsp.citizen",),  # a changed citizen reaches the subscribers minutes, not a tick, later
    "quality_report": ("lgsp.citizen", "lgsp.civil_event", "lgsp.dossier"),
}
ASSET_TRIGGERED: frozenset[str] = frozenset(TRIGGERED_BY)

# pool -> (slots, description); the tasks that use each name it in their DAG file
POOLS: dict[str, tuple[int, str]] = {
    "national_portal": (
        1,
        "Status pushes to the National Public Service Portal (dossier_sync.deliver): one caller at a time, "
        "so each dossier's statuses arrive in order and within the portal's rate limit",
    ),
    "agency_push": (
        1,
        "Signed pushes of shared records to the agencies' receivers (agency_push.deliver_pushes): one "
        "deliverer at a time, so each citizen's changes arrive in order and no agency is flooded",
    ),
}

_PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}


def missed_runs(schedule: str, last_finished: datetime | None, now: datetime) -> int | None:
    """Scheduled runs due since ``last_finished`` beyond the one that may be running now; None if it never ran.

    0 means fresh: at most one tick has passed since the last good run, and that run
    may simply be in progress. Naive datetimes are UTC, as the store keeps them. A flow
    that assets also start runs at least this often, so its clock is the measure.
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
