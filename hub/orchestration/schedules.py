"""When each flow runs, what it publishes, and the pools it needs: one table for the DAG files and the report.

The report judges a flow's freshness against the schedule its DAG really has, so the
schedule is written once: here for the hub's own flows (``HUB_SCHEDULES``, ...), in its
declaration for a declared stream (``config/systems/*.yaml``). ``SCHEDULES``, ``ASSETS``,
``PUBLISHES``, ``TRIGGERED_BY``, ``ASSET_TRIGGERED`` and ``POOLS`` combine the two,
derived when first read (and again when a declaration file changes): importing this
module costs nothing, and nothing here needs Airflow.

Two ways a flow starts:

* on its clock, ``SCHEDULES`` (every flow has one, so ``missed_runs`` can judge each);
* and, for the flows in ``TRIGGERED_BY``, also as soon as an asset they consume is
  updated: the publish task of an inbound flow updates the assets in ``PUBLISHES``.
  The clock stays as a fallback that keeps freshness meaningful: a push that backed
  off is retried, and the report is rebuilt (and shows missed runs) even while no
  source publishes anything.

``POOLS`` are the external systems whose rate the platform must respect across every
DAG that calls them: the hub's own, and each declaration's ``pools``. A task in a pool
that does not exist is never scheduled, so a deployment creates them, and sizes them again
when ``LGSP_PUSH_LANES`` changes (``hub.local.airflow.cluster`` does, from this table, at each start)::

    airflow pools set national_portal 1 "Status pushes to the National Public Service Portal ..."
    airflow pools set agency_push 4 "Signed batches of pushes ..."   # LGSP_PUSH_LANES=4

``dag.test()`` (``lgsp run``) runs tasks without looking at pools.

Declarations that do not load leave the hub's own flows as they are: the DAG file of the
declared streams (``dags/declared_streams.py``) is where Airflow shows their problems.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.systems.loader import DeclaredStream

    # Derived when read (module ``__getattr__``); declared here for the type checker.
    SCHEDULES: dict[str, str]
    ASSETS: dict[str, str]
    PUBLISHES: dict[str, tuple[str, ...]]
    TRIGGERED_BY: dict[str, tuple[str, ...]]
    ASSET_TRIGGERED: frozenset[str]
    POOLS: dict[str, tuple[int, str]]

log = logging.getLogger(__name__)

# flow (DAG id) -> cron expression or Airflow preset, in UTC
HUB_SCHEDULES: dict[str, str] = {
    "agency_push": "*/15 * * * *",
    "quality_report": "@daily",  # 00:00 UTC, 07:00 in Vietnam: a fresh site before office hours
}

# The hub's datasets as Airflow assets: name (what the UI shows) -> URI. Airflow reserves the
# scheme "airflow" and leaves "x-" schemes, meant for private use, as they are.
HUB_ASSETS: dict[str, str] = {
    "lgsp.citizen": "x-lgsp://hub/citizen",  # golden citizen records
}

# flow -> the assets its publish task updates (one asset event per published run): every inbound flow
# is declared now, so the hub's own flows (pushes, the report) publish none
HUB_PUBLISHES: dict[str, tuple[str, ...]] = {}

# flow -> the assets any one of whose updates starts it, besides its clock
HUB_TRIGGERED_BY: dict[str, tuple[str, ...]] = {
    "agency_push": ("lgsp.citizen",),  # a changed citizen reaches the subscribers minutes, not a tick, later
    "quality_report": ("lgsp.citizen",),
}
PUSH_FLOW, REPORT_FLOW = "agency_push", "quality_report"

# The hub's own pools, pool -> (slots, description); the tasks that use each name it in their DAG file.
# The push pool's slots are not written here: `hub_pools` gives it one per delivery lane.
PUSH_POOL = "agency_push"
_FIXED_POOLS: dict[str, tuple[int, str]] = {
    "national_portal": (
        1,
        "Status pushes to the National Public Service Portal (the dossiers' deliver task): one caller at a time, "
        "so each dossier's statuses arrive in order and within the portal's rate limit",
    ),
}
_PUSH_POOL_DESCRIPTION = (
    "Signed batches of pushes to the agencies' receivers (agency_push.deliver_pushes, one mapped task per "
    "lane): one slot per lane (LGSP_PUSH_LANES); a citizen always goes by the same lane, so its changes "
    "arrive in order"
)


def hub_pools(push_lanes: int | str | None = None) -> dict[str, tuple[int, str]]:
    """The hub's own pools, pool -> (slots, description).

    The push pool has a slot per delivery lane: ``push_lanes`` (e.g. ``LGSP_PUSH_LANES`` of the
    environment a cluster gives its workers), else the setting as ``plan_lanes`` reads it. Fewer
    slots than lanes would queue lanes behind each other; more would let a run exceed its lanes.

    Raises:
        ConfigError: the lanes' count is not a whole number from 1 to 64 (or another LGSP_* setting is wrong).
    """
    from hub.settings import load_settings  # pydantic: only when a pool's size is asked for

    lanes = load_settings(push_lanes=push_lanes).push_lanes
    return {**_FIXED_POOLS, PUSH_POOL: (lanes, _PUSH_POOL_DESCRIPTION)}


class _HubPools(Mapping[str, tuple[int, str]]):
    """`hub_pools` as a mapping whose names cost nothing: DAG files check a pool's name while parsed, and
    only reading the push pool's size reads the settings."""

    def __getitem__(self, pool: str) -> tuple[int, str]:
        return hub_pools()[pool] if pool == PUSH_POOL else _FIXED_POOLS[pool]

    def __contains__(self, pool: object) -> bool:  # Mapping's would read the item, and so the settings
        return pool in _FIXED_POOLS or pool == PUSH_POOL

    def __iter__(self) -> Iterator[str]:
        return iter((*_FIXED_POOLS, PUSH_POOL))

    def __len__(self) -> int:
        return len(_FIXED_POOLS) + 1


HUB_POOLS: Mapping[str, tuple[int, str]] = _HubPools()


def airflow_pool_file(push_lanes: int | str | None = None) -> str:
    """`pools` as the JSON ``airflow pools import`` reads (it creates each pool, or resizes it)."""
    import json

    found = pools(push_lanes)
    return json.dumps({pool: {"slots": slots, "description": text} for pool, (slots, text) in found.items()}, indent=2)


def asset_name(dataset: str) -> str:
    """The Airflow asset of a dataset, as the UI shows it: ``lgsp.<dataset>``."""
    return f"lgsp.{dataset}"


def asset_uri(dataset: str) -> str:
    """The URI of a dataset's asset: ``x-lgsp://hub/<dataset>``."""
    return f"x-lgsp://hub/{dataset}"


@dataclass(frozen=True)
class Tables:
    """The hub's own flows and the declared streams, combined."""

    schedules: dict[str, str]
    assets: dict[str, str]
    publishes: dict[str, tuple[str, ...]]
    triggered_by: dict[str, tuple[str, ...]]
    declared_pools: dict[str, tuple[int, str]]  # the hub's own are sized when read (`hub_pools`)


def declared_streams() -> tuple[DeclaredStream, ...]:
    """The declared streams in ``lgsp run`` order; none while the declarations do not load (logged once).

    The strict load (``hub.systems.loader.load_systems``) is the DAG file's and ``lgsp systems check``'s:
    a broken declaration must not take the hub's own flows down with it.
    """
    return _derive()[0]


def tables() -> Tables:
    """The combined tables, derived from the declarations in ``LGSP_SYSTEMS_DIR`` as they are now."""
    return _derive()[1]


def schedules() -> dict[str, str]:
    """Flow (DAG id) -> its cron expression or preset, in UTC: the hub's flows and every declared stream."""
    return tables().schedules


def assets() -> dict[str, str]:
    """Asset name -> URI: the hub's datasets and every declared dataset."""
    return tables().assets


def publishes() -> dict[str, tuple[str, ...]]:
    """Flow -> the assets its publish task updates."""
    return tables().publishes


def triggered_by() -> dict[str, tuple[str, ...]]:
    """Flow -> the assets any one of whose updates starts it, besides its clock."""
    return tables().triggered_by


def pools(push_lanes: int | str | None = None) -> dict[str, tuple[int, str]]:
    """Pool -> (slots, description): the hub's own (`hub_pools`, ``push_lanes`` as there) and every declaration's."""
    own = hub_pools(push_lanes)
    return {**own, **{pool: sized for pool, sized in tables().declared_pools.items() if pool not in own}}


_DERIVED = {
    "SCHEDULES": "schedules",
    "ASSETS": "assets",
    "PUBLISHES": "publishes",
    "TRIGGERED_BY": "triggered_by",
}


def __getattr__(name: str) -> Any:
    """``SCHEDULES``, ``ASSETS``, ``PUBLISHES``, ``TRIGGERED_BY``, ``ASSET_TRIGGERED``, ``POOLS``: derived on use."""
    # Only these names read the declarations: Python's import machinery asks for others (``__path__``).
    if name == "ASSET_TRIGGERED":
        return frozenset(tables().triggered_by)
    if name == "POOLS":  # sized from the settings as they are now
        return pools()
    if name not in _DERIVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(tables(), _DERIVED[name])


_cache: dict[tuple[Any, ...], tuple[tuple[DeclaredStream, ...], Tables]] = {}


def _derive() -> tuple[tuple[DeclaredStream, ...], Tables]:
    key = _fingerprint()
    if key not in _cache:
        _cache.clear()
        found = _load()
        _cache[key] = (found, combine(found))
    return _cache[key]


def _fingerprint() -> tuple[Any, ...]:
    """The folder and each declaration's name, size and time: a changed file is read again."""
    from hub.systems.loader import systems_dir  # the loader is cheap; still, only when a table is read

    folder = systems_dir()
    try:
        return (
            str(folder),
            tuple(sorted((entry.name, entry.stat().st_mtime_ns, entry.stat().st_size) for entry in _yaml(folder))),
        )
    except OSError:
        return (str(folder), None)


def _yaml(folder: Any) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return [entry for entry in entries if entry.name.endswith(".yaml") and entry.is_file()]


def _load() -> tuple[DeclaredStream, ...]:
    from hub.systems.loader import load_systems, streams
    from lgsp.errors import ConfigError

    try:
        return tuple(streams(load_systems()))
    except ConfigError as exc:  # DeclarationError included: said in full by the declared streams' DAG file
        log.warning("the system declarations did not load; only the hub's own flows are scheduled: %s", exc)
        return ()


def combine(declared: tuple[DeclaredStream, ...]) -> Tables:
    """The hub's own tables with ``declared`` streams added: schedule, asset, publisher, triggers and pools."""
    schedules = dict(HUB_SCHEDULES)
    assets = dict(HUB_ASSETS)
    publishes = dict(HUB_PUBLISHES)
    triggered: dict[str, list[str]] = {flow: list(names) for flow, names in HUB_TRIGGERED_BY.items()}
    pools: dict[str, tuple[int, str]] = {}
    for item in declared:
        name = asset_name(item.stream.dataset)
        schedules.setdefault(item.dag_id, item.stream.schedule)
        changed = item.stream.published_datasets  # its dataset, and the one a domain merge changes
        for dataset in changed:
            assets.setdefault(asset_name(dataset), asset_uri(dataset))
        publishes.setdefault(item.dag_id, tuple(asset_name(dataset) for dataset in changed))
        # The report shows every dataset; the pushes go out as soon as a shared dataset changed.
        shared = item.stream.shared_dataset
        for flow, asset in ((REPORT_FLOW, name), (PUSH_FLOW, asset_name(shared) if shared else None)):
            if asset is not None and asset not in triggered[flow]:
                triggered[flow].append(asset)
        for pool, slots in item.system.pools.items():
            pools.setdefault(pool, (slots, _pool_description(item, pool, slots)))
    return Tables(schedules, assets, publishes, {flow: tuple(names) for flow, names in triggered.items()}, pools)


def _pool_description(item: DeclaredStream, pool: str, slots: int) -> str:
    users = [f"{item.system.system}.{name}" for name, stream in item.system.streams.items() if stream.pool == pool]
    calls = "call" if slots == 1 else "calls"
    return (
        f"Calls to {item.system.title.en} ({item.system.owner}): at most {slots} {calls} at a time, as "
        f"config/systems/{item.system.system}.yaml declares (streams: {', '.join(users) or 'none yet'})"
    )


def declared_pool_problems(declared: Mapping[str, Mapping[str, int]]) -> list[tuple[str, str]]:
    """(system, what is wrong) for each pool that reuses a hub pool's name, or that two systems size differently.

    ``declared``: system -> its pools (pool -> slots), in the order the systems are read.
    """
    found = []
    sized: dict[str, tuple[str, int]] = {}
    for system, declared_pools in declared.items():
        for pool, slots in declared_pools.items():
            if pool in HUB_POOLS:
                found.append((system, f"pool {pool!r} is one of the hub's own pools: give it another name"))
            elif pool in sized and sized[pool][1] != slots:
                other, size = sized[pool]
                found.append((system, f"pool {pool!r} has {slots} slot(s) here and {size} in {other}: make them agree"))
            sized.setdefault(pool, (system, slots))
    return found


# Airflow's presets a schedule may name, as cron expressions
PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}


def missed_runs(schedule: str, last_finished: datetime | None, now: datetime) -> int | None:
    """Scheduled runs due since ``last_finished`` beyond the one that may be running now; None if it never ran.

    0 means fresh: at most one tick has passed since the last good run, and that run
    may simply be in progress. Naive datetimes are UTC, as the store keeps them. A flow
    that assets also start runs at least this often, so its clock is the measure.
    """
    if last_finished is None:
        return None
    from croniter import croniter  # Airflow's own dependency; imported here so DAG files stay cheap

    ticks = croniter(PRESETS.get(schedule, schedule), last_finished)
    due = 0
    while ticks.get_next(datetime) <= now:
        due += 1
        if due > 10_000:  # a flow dead for months: the exact count no longer matters
            break
    return max(due - 1, 0)


if __name__ == "__main__":  # docker-compose.yml's airflow-init: python -m hub.orchestration.schedules > pools.json
    print(airflow_pool_file())
