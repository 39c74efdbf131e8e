"""Dossier sync: provincial one-stop system (REST) -> audit -> dossiers -> routing -> National Public Service Portal.

**What it moves**: the dossiers (hồ sơ) the provincial one-stop system changed after the
stream's cursor, with their status history; then every new status, to the portal.

**From where to where**: the Airflow connection `one_stop`
(`AIRFLOW_CONN_ONE_STOP=http://api:API_KEY@HOST:PORT/one-stop/v1`) -> `staging_dossier` ->
`dossier` and its statuses, each new status queued in the outbox in the same
transaction. `route` sends a dossier received at the provincial centre whose procedure
belongs to the commune (`schemas/procedures/catalogue.yaml`) to the inbox of the
applicant's commune (known from the golden citizen record) and hands the commune's
decision back. `deliver` sends the outbox to the portal, in order per dossier: the
connection `national_portal` (`AIRFLOW_CONN_NATIONAL_PORTAL=http://:API_KEY@HOST:PORT/portal/v1`).

**How often**: every 15 minutes (`hub/orchestration/schedules.py`); routing needs the applicants'
communes, so in `lgsp run` it runs after `population_sync`. A published run updates the
asset `lgsp.dossier`, which starts `quality_report`.

**Tasks**: `extract` -> `audit` -> `publish` -> `route` -> `deliver`.

### When it fails

- `lgsp status`: the newest runs, the stage each completed and why the next one failed.
- *`extract` or `route` failed at once, "will not be retried"*: the API key in `one_stop`
  is refused, or the system broke its OpenAPI contract. Fix, clear the task.
- *`deliver` failed at once*: the portal refuses the key in `national_portal`, or the
  connection is malformed. The statuses stay queued: fix it and clear `deliver`, or send
  them now with `lgsp outbox deliver`.
- *dead letters (the run succeeds)*: `lgsp outbox list --state dead` shows why the portal
  refused a status (a 409 for a status older than the one it holds, a 422); after the fix,
  `lgsp outbox replay --id N` or `--all-dead`, and the next `deliver` sends them.
- *`audit` or `publish` failed*: the hub's store was unavailable; retried; clear once back.
- *it succeeded, with dossiers quarantined*: `lgsp quarantine --rule RULE`; `lgsp report`.
- *in doubt whether the exchanges were recorded*: `lgsp audit verify`.
"""

from hub.orchestration.flows import stream_sync_dag
from hub.orchestration.schedules import HUB_PUBLISHES, HUB_SCHEDULES  # the hub's own: no declaration is read

dossier_sync_dag = stream_sync_dag(
    "dossier_sync",
    "hub.pipeline.dossier_sync",
    schedule=HUB_SCHEDULES["dossier_sync"],
    doc_md=__doc__,
    tags=["inbound", "outbound", "one-stop", "portal", "rest"],
    publishes=HUB_PUBLISHES["dossier_sync"],
    followups=(
        ("route", "Route waiting cross-boundary dossiers to the applicant's commune; hand decisions back."),
        ("deliver", "Send every due status in the outbox to the National Public Service Portal, in order."),
    ),
    pools={"deliver": "national_portal"},  # the portal's rate, shared by every DAG that calls it
)
