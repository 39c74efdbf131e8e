"""Agency push: changes of shared records, from the hub's outbox to each subscribing agency, in signed batches.

**What it moves**: the `push.<AGENCY>` messages that the population and civil-status
syncs queue when they publish changed citizens (one per citizen per subscribing agency,
only the fields its agreement grants, each with source, date and whether it is
verified). XCom carries the counts per agency only.

**From where to where**: the hub's outbox -> each agency's receiver, batches of up to
`LGSP_PUSH_BATCH_SIZE` (500) pushes per `POST`, signed per Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature`; `hub/sharing/signing.py`), answered
per item, in order per citizen, each push acknowledged once (its id) and recorded in the
audit ledger. Endpoint and secret (two, space-separated, while rotating): the Airflow
connection `agency_push_<code>`
(`AIRFLOW_CONN_AGENCY_PUSH_BHXH=http://:SECRET@HOST:PORT/agency/v1/BHXH/inbox`); an agency
without one keeps its pushes pending.

**How often**: as soon as the asset `lgsp.citizen` is updated (a population or
civil-status run published), so a death reaches the subscribers minutes after the
register recorded it; and every 15 minutes whatever happens upstream (`hub/orchestration/schedules.py`),
so pushes that backed off are retried and the report's freshness has a clock to go by.

**Lanes and pool**: `plan_lanes` reads `LGSP_PUSH_LANES` (2); `deliver_pushes` is mapped
over that many lanes (Airflow mapped tasks, spread over the workers of a cluster), lane
*i* serving the citizens whose key hashes to *i*, so each citizen's changes keep their
order. Every lane runs in the pool `agency_push`, which needs one slot per lane: `lgsp airflow`
creates it, sized from `LGSP_PUSH_LANES`, at each start (`hub.orchestration.schedules.POOLS`);
elsewhere `airflow pools set agency_push <LGSP_PUSH_LANES> "..."`, again whenever the lanes
change. Without it the scheduler never runs the task.

### When it fails

- *an agency answers 401*: the secret in its connection is not the one the agency
  checks (or this machine's clock is off by more than 5 minutes). Its pushes stay
  pending, the other agencies were served; fix the connection, clear the task.
- *a ConfigError*: a connection is malformed, or carries the demo secret for a host
  that is not loopback; fix it, clear the task.
- *dead letters* (the run succeeds): `lgsp outbox list --state dead` shows why
  (a 409/422 from the agency, an agreement that lapsed, too many attempts); after the
  fix, `lgsp outbox replay --id N` or `--all-dead`.
- *retries*: outages and 429/5xx are retried by the next runs with backoff, not by
  failing the task; a task that dies (worker lost, store restarting) or runs past its
  time limit (below) is retried 3 times, 30 s apart and doubling.
- *in doubt whether a push was recorded*: `lgsp audit verify` checks the ledger's chain.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from hub.orchestration.flows import (
    START_DATE,
    checked_pool,
    default_args,
    on_assets_or_cron,
    task_timeout,
    time_limits_doc,
)
from hub.orchestration.schedules import SCHEDULES, TRIGGERED_BY

_DELIVER_DOC = (
    "Send one lane's due pushes to each agency (`hub.sharing.delivery.deliver_pushes`), in signed batches; "
    "returns counts per agency. One mapped instance per lane."
)


@dag(
    dag_id="agency_push",
    schedule=on_assets_or_cron(SCHEDULES["agency_push"], TRIGGERED_BY["agency_push"]),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["outbound", "push", "agencies", "rest"],
    doc_md=__doc__ + "\n### Time limits\n" + time_limits_doc({"plan_lanes": "deliver", "deliver_pushes": "deliver"}),
)
def agency_push() -> None:
    """Deliver the pushes that are due, lane by lane (mapped tasks), agency by agency."""

    @task(execution_timeout=task_timeout("deliver"))
    def plan_lanes() -> list[dict[str, int]]:
        """One entry per delivery lane (`LGSP_PUSH_LANES`): the lanes' count travels with each, so all agree."""
        from hub.settings import load_settings

        lanes = load_settings().push_lanes
        return [{"lane": lane, "lanes": lanes} for lane in range(lanes)]

    @task(
        multiple_outputs=False,
        pool=checked_pool("agency_push"),
        execution_timeout=task_timeout("deliver"),
        # A mapped task does not take its docstring as doc_md: the UI would show nothing.
        doc_md=_DELIVER_DOC,
    )
    def deliver_pushes(lane: int, lanes: int) -> dict[str, Any]:
        """Send the lane's due pushes to each agency (`hub.sharing.delivery.deliver_pushes`); counts per agency."""
        from airflow.sdk.exceptions import AirflowFailException

        from hub.settings import load_settings
        from hub.sharing.delivery import deliver_pushes as deliver
        from hub.store.engine import open_store
        from lgsp.errors import ConfigError, FatalSourceError

        settings = load_settings()
        engine = open_store(settings.resolved_database_url())
        try:
            summaries = deliver(engine, settings, lane=lane, lanes=lanes)
        except (ConfigError, FatalSourceError) as exc:  # retrying cannot fix a wrong secret or connection
            raise AirflowFailException(f"agency pushes stopped and will not be retried: {exc}") from exc
        finally:
            engine.dispose()
        return {code: summary.as_dict() for code, summary in summaries.items()}

    # Mapped at run time over the lanes the plan returns: each lane is one task instance.
    deliver_pushes.expand_kwargs(plan_lanes())


agency_push_dag = agency_push()
