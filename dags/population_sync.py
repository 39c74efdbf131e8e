"""Population sync: National Population Database (SOAP) -> audit -> golden citizen records.

**What it moves**: every resident record the National Population Database reports as
changed after the stream's cursor (`ListChangedCitizens`, page by page), mapped from the
wire (`SoDinhDanh`, `HoVaTen`, ...) to the canonical citizen.

**From where to where**: the Airflow connection `national_population`
(`AIRFLOW_CONN_NATIONAL_POPULATION=http://USER:PASSWORD@HOST:PORT/population`) ->
`staging_citizen` (this run only) -> the golden `citizen` table, with per-field
provenance, for passing records; `quarantine`, with the rules they broke and the raw
XML, for failing ones. Changed citizens are queued in the outbox for the agencies that
subscribe to them (`agency_push` delivers them). Every pull is on the audit ledger.

**How often**: hourly (`hub/orchestration/schedules.py`). A published run updates the asset
`lgsp.citizen`, which starts `agency_push` and `quality_report`.

**Tasks**: `extract` -> `audit` -> `publish`; only the run id travels through XCom.

### When it fails

- `lgsp status`: the newest runs, the stage each completed and why the next one failed.
  A failed run left the golden records as they were; clearing the failed task (or the
  next run) re-reads from the last committed cursor, and nothing is loaded twice.
- *`extract` failed at once, "Authentication" or "will not be retried"*: the user or
  password in `national_population` is not the one the database accepts, or its answers
  break the contract (WSDL/XSD in `schemas/`). Fix the connection, clear the task.
- *`extract` failed after its retries*: the database was unreachable for longer than the
  backoff; clear the task once it answers again.
- *`audit` or `publish` failed*: the hub's store (SQLite or PostgreSQL) was unavailable;
  they are retried; clear the task once it is back.
- *it succeeded, with many records quarantined*: `lgsp quarantine --rule RULE` lists them
  (ids masked); `lgsp report` builds the auditors' site with the trend per rule.
- *in doubt whether the exchanges were recorded*: `lgsp audit verify`.
"""

from hub.orchestration.flows import stream_sync_dag
from hub.orchestration.schedules import HUB_PUBLISHES, HUB_SCHEDULES  # the hub's own: no declaration is read

population_sync_dag = stream_sync_dag(
    "population_sync",
    "hub.pipeline.population_sync",
    schedule=HUB_SCHEDULES["population_sync"],
    doc_md=__doc__,
    tags=["inbound", "population", "soap"],
    publishes=HUB_PUBLISHES["population_sync"],
)
