"""Civil-status sync: Ministry of Justice births, marriages, deaths (REST) -> audit -> events and golden citizens.

**What it moves**: the civil-status events (`KhaiSinh` births, `KetHon` marriages,
`KhaiTu` deaths) the Ministry of Justice register recorded after the stream's cursor.

**From where to where**: the Airflow connection `civil_status`, an OAuth2 client
(`AIRFLOW_CONN_CIVIL_STATUS=http://CLIENT_ID:CLIENT_SECRET@HOST:PORT/civil-status/v1`) ->
`staging_civil_event` -> `civil_event`, and applied to the golden citizens in the same
transaction: a death sets `death_date` (and widows the spouse), a marriage marries both,
a birth links the child. Which source wins which field is `schemas/precedence.yaml`; a
disagreement between ranked sources is kept as a `field_conflict`. An event whose person
the hub does not know yet waits as `pending` for a later run. Changed citizens are queued
for their subscribers (`agency_push`).

**How often**: hourly (`hub/orchestration/schedules.py`); in `lgsp run`, after `population_sync`. A
published run updates the assets `lgsp.citizen` and `lgsp.civil_event`, which start
`agency_push` and `quality_report`.

**Tasks**: `extract` -> `audit` -> `publish`; only the run id travels through XCom.

### When it fails

- `lgsp status`: the newest runs, the stage each completed and why the next one failed.
  A failed run changed nothing; clearing the task (or the next run) re-reads from the
  last committed cursor.
- *`extract` failed at once, "will not be retried"*: the client id or secret in
  `civil_status` is refused by the token endpoint (tokens that expire mid-sync are
  renewed on their own), or the register broke its OpenAPI contract. Fix, clear the task.
- *`extract` failed after its retries*: the register was down longer than the backoff;
  clear the task once it answers.
- *`audit` or `publish` failed*: the hub's store was unavailable; retried; clear once back.
- *it succeeded, with events quarantined*: `lgsp quarantine --rule RULE`; `lgsp report`
  shows the trend per rule, the pending events and the open field conflicts.
- *in doubt whether the exchanges were recorded*: `lgsp audit verify`.
"""

from hub.orchestration.flows import stream_sync_dag
from hub.orchestration.schedules import HUB_PUBLISHES, HUB_SCHEDULES  # the hub's own: no declaration is read

civil_status_sync_dag = stream_sync_dag(
    "civil_status_sync",
    "hub.pipeline.civil_status_sync",
    schedule=HUB_SCHEDULES["civil_status_sync"],
    doc_md=__doc__,
    tags=["inbound", "civil-status", "rest"],
    publishes=HUB_PUBLISHES["civil_status_sync"],
)
