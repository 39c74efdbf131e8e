"""Population sync: National Population Database -> audit -> golden citizen records.

Hourly. Endpoint and credentials: the Airflow connection ``national_population``
(``AIRFLOW_CONN_NATIONAL_POPULATION=http://USER:PASSWORD@HOST:PORT/population``).
"""

from hub.flows import stream_sync_dag
from hub.schedules import SCHEDULES

population_sync_dag = stream_sync_dag(
    "population_sync", "hub.pipeline.population_sync", schedule=SCHEDULES["population_sync"], doc_md=__doc__,
    tags=["inbound", "population", "soap"],
)
