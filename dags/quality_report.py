"""Quality report: the auditors' data-quality site, rebuilt from the hub's store whenever its data changes.

**What it builds**: the static site `lgsp report` builds (HTML pages in Vietnamese and
English, CSV tables, Great Expectations Data Docs): per dataset the runs and their
counts, the failures per quality rule and their trend, the quarantine (ids masked),
open field conflicts, the outbox, each flow's freshness against its schedule, and the
audit ledger. Counts, shares and keys only: no personal value reaches the site.

**From where to where**: the hub's store (`LGSP_DATABASE_URL`, default SQLite under
`LGSP_HOME`) -> `LGSP_HOME/reports/` (`index.html`), replaced in one move: a reader
never sees half a site, and a failed build leaves the previous one in place.

**How often**: as soon as any of the assets `lgsp.citizen`, `lgsp.civil_event`,
`lgsp.dossier` is updated (a sync published), and daily at 00:00 UTC (07:00 in
Vietnam) whatever happens upstream, so a site whose flows stopped says so (missed
runs) instead of looking fresh (`hub/orchestration/schedules.py`). Updates that arrive while a build
runs start one more build, not one each.

### When it fails

- *`ConfigError`, "will not be retried"*: a setting is wrong (`LGSP_HOME`,
  `LGSP_DATABASE_URL`); the message names it. Fix, clear the task.
- *a `StoreError`, or the build ran past its time limit (below)*: retried 3 times, 30 s
  apart and doubling; the previous site stays in place meanwhile.
- *to build it by hand, or somewhere else*: `lgsp report [--out DIR] [--runs N]`.
- *a flow shows missed runs*: `lgsp status` lists its newest runs and their errors (see
  that DAG's own notes); `lgsp quarantine --rule RULE` lists held records.
- *the ledger says "NOT intact"*: `lgsp audit verify` names the first bad entry; treat it as an incident.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from hub.orchestration.flows import START_DATE, default_args, on_assets_or_cron, task_timeout, time_limits_doc
from hub.orchestration.schedules import SCHEDULES, TRIGGERED_BY


@dag(
    dag_id="quality_report",
    schedule=on_assets_or_cron(SCHEDULES["quality_report"], TRIGGERED_BY["quality_report"]),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["report", "quality", "auditors"],
    doc_md=__doc__ + "\n### Time limits\n" + time_limits_doc({"build_site": "report"}),
)
def quality_report() -> None:
    """Rebuild the auditors' site."""

    @task(multiple_outputs=False, execution_timeout=task_timeout("report"))
    def build_site() -> dict[str, Any]:
        """Build the site into `LGSP_HOME/reports` (`quality.report.build.build_site`); returns its counts."""
        from airflow.sdk.exceptions import AirflowFailException

        from hub.settings import load_settings
        from hub.store.engine import open_store
        from lgsp.errors import ConfigError
        from quality.report.build import build_site as build

        try:
            settings = load_settings()
            engine = open_store(settings.resolved_database_url())
        except ConfigError as exc:  # retrying cannot fix a setting
            raise AirflowFailException(f"the report was not built and will not be retried: {exc}") from exc
        try:
            summary = build(engine, settings.home / "reports")
        finally:
            engine.dispose()
        return {
            "index": str(summary.path.resolve()),
            "pages": summary.pages,
            "tables": summary.tables,
            "data_docs": summary.data_docs,
            "seconds": round(summary.seconds, 1),
        }

    build_site()


quality_report_dag = quality_report()
