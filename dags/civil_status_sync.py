"""Civil-status sync: Ministry of Justice births, marriages, deaths -> audit -> events and golden citizens.

Hourly, after the population sync in `lgsp run`. Endpoint and OAuth2 client: the
Airflow connection ``civil_status``
(``AIRFLOW_CONN_CIVIL_STATUS=http://CLIENT_ID:CLIENT_SECRET@HOST:PORT/civil-status/v1``).
"""

from hub.flows import stream_sync_dag
from hub.schedules import SCHEDULES

civil_status_sync_dag = stream_sync_dag(
    "civil_status_sync", "hub.pipeline.civil_status_sync", schedule=SCHEDULES["civil_status_sync"], doc_md=__doc__,
    tags=["inbound", "civil-status", "rest"],
)
