"""DAG factory for inbound streams (extract -> audit -> publish, the same for every source) and its parts.

Imported by the files in dags/, so it imports nothing but the Airflow SDK and the plain
tables of ``hub.orchestration.schedules`` at module level: the pipeline (SQLAlchemy, GX, zeep, httpx)
is imported inside the tasks.

What every DAG shares lives here: retries (``default_args``), each kind of task's time
limit (``task_timeout``), the hub's datasets as Airflow assets (``asset``), "on these
assets or on this clock" (``on_assets_or_cron``), pool names checked against
``hub.orchestration.schedules.POOLS`` (``checked_pool``), and the ``since`` param of the inbound DAGs
(``since_param``, ``parse_since``). The tables it reads combine the hub's own flows with the
declared streams (``hub.orchestration.schedules``).
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    AssetAny,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowFailException

from hub.orchestration import schedules

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
SINCE = "since"  # the inbound DAGs' param: re-read from this time instead of the cursor

_SINCE_DOC = """
### Re-reading from a given time (param `since`)

Trigger the DAG *with config* (the form asks for **since**), or
`airflow dags trigger {dag_id} --conf '{{"since": "2026-03-01T00:00:00+07:00"}}'`.
`since` is an ISO 8601 date and time **with its offset** (`+07:00` for Vietnam time,
`Z` for UTC). The run re-reads everything the source changed after it, instead of
continuing from the stream's cursor: records the hub already holds count as
*unchanged*, nothing is loaded twice, and the cursor never moves back. Empty (the
default) continues from the cursor. A value that is not such a date and time is refused
when the run is triggered; one that lies in the future (or any bad value, where Airflow
cannot check formats) fails `extract` at once, without retries, before anything is
read: `lgsp status` shows no new run.
"""

_RETRIES_DOC = """
### Retries, time limits and pools

A task that dies is retried {retries} times, {delay:g} s apart and doubling each time (at
most 10 minutes); a source's own timeouts, 5xx and 429 are retried page by page inside
the connector first. Errors that retrying cannot fix (wrong credentials, a broken
contract, a bad setting, a bad `since`) fail the task at once.
{limits}
Pools: {pools}.
"""

_LIMITS_DOC = """
Time limits: {limits}. A task still running at its limit is stopped and failed
(`AirflowTaskTimeout` in its log) and retried like a task that died, so a peer that
answers a byte at a time cannot hold a worker slot for ever. Nothing half-done is kept
(publish is one transaction; a message cut off mid-delivery is resent under the same
idempotency key), and the retry or the next run carries on. Set
`LGSP_TASK_TIMEOUT_<KIND>_MINUTES` (minutes, more than 0 and at most {most}) for the DAG
processor and the workers alike to change a limit: it is read when a DAG file is parsed.
"""

# Task kind -> default time limit in minutes (LGSP_TASK_TIMEOUT_<KIND>_MINUTES overrides it). Generous
# against the README's figures, yet finite: a sync of 100,000 residents takes ~45 s and a 3-million
# first load ~11 min for all three stages; 40,000 pushes ~3 min; the auditors' site 44 s at 300,000
# ledger entries. A first push load of 3 million residents (~6-7 h) spans several deliver runs: each
# stops at its limit and the next one continues (delivery claims and settles message by message).
TASK_TIMEOUTS: dict[str, float] = {
    "extract": 60,  # read a source into staging
    "audit": 30,  # the expectation suite over one run's staged rows
    "publish": 60,  # merge, quarantine, cursor and outbox in one transaction
    "route": 30,  # cross-boundary dossiers to their communes and back
    "deliver": 120,  # the outbox to the portal or to the agencies
    "report": 60,  # the auditors' site
}
MAX_TIMEOUT_MINUTES = 24 * 60
MAX_RETRIES = 20


def default_args() -> dict[str, Any]:
    """Retries for a whole task dying (worker lost, database restarting).

    Transient faults of a source are already retried page by page inside the
    connector. ``retry_exponential_backoff`` is a multiplier since Airflow 3 (True
    would mean 1.0: a constant delay): 30 s, 60 s, 120 s.
    """
    return {
        "owner": "lgsp",
        "retries": int(_env_number("LGSP_TASK_RETRIES", 3, low=0, high=MAX_RETRIES, what="retries", whole=True)),
        "retry_delay": timedelta(
            seconds=_env_number("LGSP_TASK_RETRY_DELAY_SECONDS", 30, low=0, high=3600, what="seconds between retries")
        ),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
    }


def timeout_variable(kind: str) -> str:
    """The environment variable that sets the time limit of tasks of ``kind``."""
    return f"LGSP_TASK_TIMEOUT_{kind.upper()}_MINUTES"


def task_timeout(kind: str) -> timedelta:
    """The ``execution_timeout`` of a task of ``kind`` (a key of ``TASK_TIMEOUTS``): environment, else default.

    Read when a DAG file is parsed, like the retries: a changed value holds from the next parse.

    Raises:
        ValueError: ``kind`` is not in ``TASK_TIMEOUTS`` (a DAG file's mistake).
        ConfigError: the variable is not a number of minutes above 0 and at most ``MAX_TIMEOUT_MINUTES``.
    """
    if kind not in TASK_TIMEOUTS:
        raise ValueError(f"task kind {kind!r} has no time limit; add it to hub.orchestration.flows.TASK_TIMEOUTS")
    # 0 would mean no limit at all, which is what this setting exists to prevent.
    minutes = _env_number(
        timeout_variable(kind), TASK_TIMEOUTS[kind], low=0, high=MAX_TIMEOUT_MINUTES, what="minutes", low_open=True
    )
    return timedelta(minutes=minutes)


def _env_number(
    name: str, default: float, *, low: float, high: float, what: str, whole: bool = False, low_open: bool = False
) -> float:
    """A number from the environment within [low, high] ((low, high] if ``low_open``), else ``default``.

    Raises:
        ConfigError: the variable is set to something else; the message names it and the range.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    inside = (low < value if low_open else low <= value) and value <= high  # NaN fails both; so does inf
    if not inside or (whole and not value.is_integer()):
        from lgsp.errors import ConfigError  # only on this path: DAG files import nothing heavy

        bound = "above" if low_open else "at least"
        kind = "a whole number of" if whole else "a number of"
        raise ConfigError(
            f"{name}={text!r} is out of range: give {kind} {what} {bound} {low:g} and at most {high:g}, "
            f"or unset it for the default of {default:g}"
        )
    return value


def time_limits_doc(kinds: Mapping[str, str]) -> str:
    """The paragraph of a DAG's doc_md on its tasks' time limits; ``kinds`` maps task id -> kind."""
    limits = ", ".join(
        f"`{task_id}` {_minutes(task_timeout(kind))} (`{timeout_variable(kind)}`)" for task_id, kind in kinds.items()
    )
    return _LIMITS_DOC.format(limits=limits, most=MAX_TIMEOUT_MINUTES)


def _minutes(limit: timedelta) -> str:
    minutes = limit.total_seconds() / 60
    return f"{minutes:g} min" if minutes >= 1 else f"{limit.total_seconds():g} s"


def asset(name: str) -> Asset:
    """The Airflow asset of one of the hub's datasets, by its name in ``hub.orchestration.schedules.ASSETS``."""
    # The hub's own first: its DAG files need not read the declarations to parse.
    uri = schedules.HUB_ASSETS.get(name) or schedules.assets()[name]
    return Asset(name=name, uri=uri)


def on_assets_or_cron(cron: str, assets: Sequence[str]) -> AssetOrTimeSchedule:
    """A run as soon as any of ``assets`` is updated, and on ``cron`` (UTC) whatever happens upstream."""
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=AssetAny(*(asset(name) for name in assets))
    )


def checked_pool(pool: str | None) -> str | None:
    """``task(pool=checked_pool(name))``: ``name``, one of ``hub.orchestration.schedules.POOLS`` (None: the default).

    Raises:
        ValueError: the pool is not in ``POOLS`` (the scheduler would never run the task).
    """
    if pool is None or pool in schedules.HUB_POOLS:
        return pool
    known = schedules.pools()
    if pool not in known:
        raise ValueError(
            f"pool {pool!r} is not in hub.orchestration.schedules.POOLS ({', '.join(known)}); "
            "add it there, or to the pools: of the system's declaration"
        )
    return pool


def retries_doc(pools: Mapping[str, str], kinds: Mapping[str, str]) -> str:
    """The "Retries, time limits and pools" section of a DAG's doc_md; task id -> pool, task id -> kind."""
    args = default_args()
    known = schedules.HUB_POOLS if set(pools.values()) <= set(schedules.HUB_POOLS) else schedules.pools()
    listed = (
        ", ".join(f"`{task_id}` runs in pool `{pool}` ({known[pool][0]} slot(s))" for task_id, pool in pools.items())
        or "none (the default pool)"
    )
    return _RETRIES_DOC.format(
        retries=args["retries"],
        delay=args["retry_delay"].total_seconds(),
        limits=time_limits_doc(kinds),
        pools=listed,
    )


def since_param() -> Param:
    """The ``since`` param: empty, or an RFC 3339 date and time (the trigger form shows a date-time picker)."""
    return Param(
        None,
        type=["null", "string"],
        format="date-time",
        title="Re-read from",
        description="Backfill: re-read every record the source changed after this time (with its offset, "
        "e.g. 2026-03-01T00:00:00+07:00). Empty: continue from the stream's cursor.",
    )


def parse_since(value: object, now: datetime | None = None) -> datetime | None:
    """The ``since`` param as naive UTC, or None for "from the cursor".

    Airflow checks the format when a run is triggered only if ``rfc3339-validator`` is
    installed; this check holds everywhere.

    Raises:
        AirflowFailException: not an ISO 8601 date and time with an offset, or in the future.
    """
    if value is None or value == "":
        return None
    example = "e.g. 2026-03-01T00:00:00+07:00, or ...Z for UTC"
    if not isinstance(value, str):
        raise AirflowFailException(f"param since must be a date and time as text ({example}), got {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise AirflowFailException(f"param since={value!r} is not an ISO 8601 date and time ({example})") from exc
    if moment.tzinfo is None:  # 7 hours apart in Vietnam: refuse to guess
        raise AirflowFailException(f"param since={value!r} has no UTC offset; give one ({example})")
    moment = moment.astimezone(UTC)
    if moment > (now or datetime.now(UTC)):
        raise AirflowFailException(f"param since={value!r} is in the future: there is nothing to re-read yet")
    return moment.replace(tzinfo=None)


def run_stage(pipeline: str, stage: str, run_id: str, **options: Any) -> dict[str, Any]:
    """Call one stage of a pipeline module; errors that retrying cannot fix fail the task at once."""
    from hub.settings import load_settings
    from lgsp.errors import ConfigError, FatalSourceError

    module = importlib.import_module(pipeline)
    try:
        summary = getattr(module, stage)(run_id, load_settings(), **options)
    except (ConfigError, FatalSourceError) as exc:  # StoreError is retried: databases restart
        raise AirflowFailException(f"{stage} failed and will not be retried: {exc}") from exc
    return {"run_id": run_id, **summary.as_dict()}


def _followup(pipeline: str, stage: str, doc: str, options: Mapping[str, Any]) -> Callable[[str], str]:
    def step(sync_run_id: str) -> str:
        run_stage(pipeline, stage, sync_run_id, **options)
        return sync_run_id

    step.__doc__ = doc
    return step


def stream_sync_dag(
    dag_id: str,
    pipeline: str,
    *,
    schedule: str,
    doc_md: str,
    tags: list[str],
    publishes: Sequence[str] = (),
    followups: Sequence[tuple[str, str]] = (),
    pools: Mapping[str, str] | None = None,
    stage_options: Mapping[str, Any] | None = None,
    followup_stage: str | None = None,
) -> DAG:
    """A write-audit-publish DAG whose tasks call ``pipeline``'s extract, audit, publish.

    ``publishes`` names the assets (``hub.orchestration.schedules.ASSETS``) the publish task updates.
    ``followups`` are (name, doc) of more functions of ``pipeline`` (same signature) to
    run after publish, one task each, in order: e.g. routing dossiers, delivering the
    outbox; a followup's name is also its kind of task (``TASK_TIMEOUTS``). ``pools`` maps
    a task id to the pool it runs in (``hub.orchestration.schedules.POOLS``). The doc gets the sections
    on ``since`` and on retries, time limits and pools appended. ``stage_options`` are keyword
    arguments every stage is called with (a declared stream's ``stream="system.stream"``).
    ``followup_stage``: every followup calls this one function of ``pipeline`` with ``task=NAME``
    (a declared stream's ``then:``) instead of a function named like the task.

    Raises:
        ValueError: a pool names a task the DAG does not have, or a followup has no time limit.
        ConfigError: a ``LGSP_TASK_TIMEOUT_<KIND>_MINUTES`` is not a valid time limit.
    """
    pools = dict(pools or {})
    options = dict(stage_options or {})
    # Every task's kind is its name here: the limit of `extract` is LGSP_TASK_TIMEOUT_EXTRACT_MINUTES.
    kinds = {name: name for name in ("extract", "audit", "publish", *(name for name, _doc in followups))}
    limits = {task_id: task_timeout(kind) for task_id, kind in kinds.items()}
    unknown = set(pools) - set(kinds)
    if unknown:
        raise ValueError(f"{dag_id}: pools name tasks it does not have: {sorted(unknown)}")
    outlets = [asset(name) for name in publishes]

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(),
        tags=tags,
        params={SINCE: since_param()},
        doc_md=doc_md.rstrip() + "\n" + _SINCE_DOC.format(dag_id=dag_id) + retries_doc(pools, kinds),
    )
    def flow() -> None:
        # Only the run's id travels between tasks (XCom); the records stay in the store.
        # (Airflow reserves the parameter name "run_id" for its own context.)
        @task(pool=checked_pool(pools.get("extract")), execution_timeout=limits["extract"])
        def extract() -> str:
            """Read every page the source changed after the stream's cursor (or `since`) into staging."""
            context = get_current_context()
            since = parse_since(context["params"].get(SINCE))  # before anything starts: a bad value is no run
            sync_run_id = f"{dag_id}:{context['run_id']}"
            run_stage(pipeline, "extract", sync_run_id, since=since, **options)
            return sync_run_id

        @task(pool=checked_pool(pools.get("audit")), execution_timeout=limits["audit"])
        def audit(sync_run_id: str) -> str:
            """Run the dataset's expectation suite once over the run's staged rows (keys and rules only)."""
            run_stage(pipeline, "audit", sync_run_id, **options)
            return sync_run_id

        @task(outlets=outlets, pool=checked_pool(pools.get("publish")), execution_timeout=limits["publish"])
        def publish(sync_run_id: str) -> str:
            """In one transaction: merge passing rows, quarantine failing ones, advance the cursor, queue changes."""
            counts = run_stage(pipeline, "publish", sync_run_id, **options)
            events = get_current_context()["outlet_events"]
            for target in outlets:  # counts only, never a record: consumers and the UI see what changed
                events[target].extra = {
                    key: counts[key] for key in ("run_id", "read", "published", "quarantined", "unchanged")
                }
            return sync_run_id

        last = publish(audit(extract()))  # type: ignore[arg-type]  # XComArg resolves to str at run time
        for name, doc in followups:
            step = task(task_id=name, pool=checked_pool(pools.get(name)), execution_timeout=limits[name])(
                _followup(pipeline, name, doc, options)
                if followup_stage is None
                else _followup(pipeline, followup_stage, doc, {**options, "task": name})
            )
            last = step(last)  # type: ignore[arg-type]  # as above

    built: DAG = flow()
    return built
