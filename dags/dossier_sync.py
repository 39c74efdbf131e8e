"""Dossier sync: provincial one-stop system -> audit -> dossiers -> routing -> national portal.

Every 15 minutes, after the population sync (routing needs the applicant's commune).
Tasks: extract -> audit -> publish (each new status queued in the outbox, same
transaction) -> route (cross-boundary dossiers to the applicant's commune, results
back to the receiving unit) -> deliver (the outbox to the portal, in order per dossier).
Airflow connections: ``one_stop`` (``http://api:API_KEY@HOST:PORT/one-stop/v1``) and
``national_portal`` (``http://:API_KEY@HOST:PORT/portal/v1``).
"""

from hub.flows import stream_sync_dag
from hub.schedules import SCHEDULES

dossier_sync_dag = stream_sync_dag(
    "dossier_sync", "hub.pipeline.dossier_sync", schedule=SCHEDULES["dossier_sync"], doc_md=__doc__,
    tags=["inbound", "outbound", "one-stop", "portal", "rest"], followups=("route", "deliver"),
)
