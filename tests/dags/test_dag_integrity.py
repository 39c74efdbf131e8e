"""What a data engineer relies on in the Airflow UI, checked on the DAGs as Airflow itself loads them.

Airflow reads its configuration when first imported, so it runs in a child process (a
temp ``AIRFLOW_HOME``): one loads the dags folder into a ``DagBag`` and describes every
DAG as JSON, another imports each DAG file alone and lists the modules it pulled in.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from hub.local.airflow.in_process import DAGS_FOLDER, airflow_environment
from hub.orchestration.schedules import ASSETS, HUB_PUBLISHES, HUB_SCHEDULES, POOLS, PUBLISHES, SCHEDULES, TRIGGERED_BY
from hub.systems.loader import DEFAULT_DIR, load_systems, streams

CRON = {"@hourly": "0 * * * *", "@daily": "0 0 * * *"}  # Airflow stores presets resolved
INBOUND = set(PUBLISHES)  # the flows that read a source (and publish what they read)
DECLARED = {item.dag_id: item for item in streams(load_systems())}  # config/systems/*.yaml, one DAG per stream
DECLARED_FILE = "declared_streams.py"

_DESCRIBE = r"""
import json, sys
from datetime import UTC, datetime
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import Asset

def assets_of(condition):
    if condition is None:
        return []
    if isinstance(condition, Asset):
        return [[condition.name, condition.uri]]
    return [found for part in getattr(condition, "objects", ()) for found in assets_of(part)]

bag = DagBag(dag_folder=sys.argv[1], known_pools=set(json.loads(sys.argv[2])))
dags = {}
for dag in bag.dags.values():
    timetable = dag.timetable
    clock = getattr(timetable, "timetable", timetable)
    params = {name: {"value": dag.params.get_param(name).value, "schema": dag.params.get_param(name).schema}
              for name in dag.params}
    tasks = {t.task_id: {"owner": t.owner, "retries": t.retries, "retry_delay": t.retry_delay.total_seconds(),
                         "backoff": float(t.retry_exponential_backoff), "pool": t.pool, "doc_md": t.doc_md,
                         "timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                         "outlets": [found for outlet in t.outlets for found in assets_of(outlet)]}
             for t in dag.tasks}
    dags[dag.dag_id] = {"file": dag.fileloc, "doc_md": dag.doc_md, "tags": sorted(dag.tags),
                        "max_active_runs": dag.max_active_runs, "catchup": dag.catchup,
                        "timetable": type(timetable).__name__, "cron": getattr(clock, "expression", None),
                        "timezone": str(getattr(clock, "timezone", "")),
                        "triggers": assets_of(getattr(timetable, "asset_condition", None)),
                        "params": params, "tasks": tasks}

from airflow.sdk.exceptions import AirflowFailException
from hub.orchestration.flows import parse_since

now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
since = {}
for value in json.loads(sys.argv[3]):
    try:
        parsed = parse_since(value, now=now)
        since[json.dumps(value)] = ["ok", parsed.isoformat() if parsed else None]
    except AirflowFailException as exc:
        since[json.dumps(value)] = ["fail", str(exc)]
print("DESCRIBED " + json.dumps({"import_errors": bag.import_errors, "warnings": sorted(w.message for w in
      bag.dag_warnings), "dags": dags, "since": since}))
"""

_IMPORTS = r"""
import json, runpy, sys
import airflow.sdk  # the baseline: what Airflow itself loads
before = set(sys.modules)
added = {}
for path in sys.argv[1:]:
    runpy.run_path(path)
    added[path] = sorted(set(sys.modules) - before)
print("ADDED " + json.dumps(added))
"""

SINCE_CASES: list[Any] = [
    None,
    "",
    "2026-03-01T00:00:00+07:00",
    "2026-03-01T00:00:00Z",
    "2026-11-30T23:59:59.5+00:00",
    "2026-03-01T00:00:00",
    "yesterday",
    "2026-13-01T00:00:00Z",
    "2027-01-01T00:00:00Z",
    20260301,
]


def _child(code: str, args: list[str], env: dict[str, str], mark: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(mark + " ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len(mark) + 1 :])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An embedded Airflow's environment in a temp home (no metadata DB needed: parsing only)."""
    return airflow_environment(tmp_path_factory.mktemp("integrity"))


@pytest.fixture(scope="module")
def bag(env: dict[str, str]) -> dict[str, Any]:
    """The dags folder as Airflow's DagBag sees it, described as plain data."""
    known = json.dumps(["default_pool", *POOLS])
    described: dict[str, Any] = _child(_DESCRIBE, [str(DAGS_FOLDER), known, json.dumps(SINCE_CASES)], env, "DESCRIBED")
    return described


@pytest.fixture(scope="module")
def dags(bag: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """dag id -> description."""
    found: dict[str, dict[str, Any]] = bag["dags"]
    return found


def dag_files() -> list[Path]:
    """Every DAG file of the folder."""
    return sorted(path for path in DAGS_FOLDER.glob("*.py") if not path.name.startswith("_"))


def test_every_dag_file_imports_without_errors_and_warnings(bag: dict[str, Any]) -> None:
    assert bag["import_errors"] == {}
    assert bag["warnings"] == []  # e.g. a task in a pool that hub.orchestration.schedules.POOLS does not create
    files = {Path(dag["file"]).name for dag in bag["dags"].values()}
    assert files == {path.name for path in dag_files()}  # no file that defines nothing


def test_every_flow_in_the_schedule_table_is_a_dag_and_back(dags: dict[str, Any]) -> None:
    assert set(dags) == set(SCHEDULES)
    assert len(DECLARED) >= 2 and set(DECLARED).isdisjoint(HUB_SCHEDULES)
    for dag_id, dag in dags.items():
        assert Path(dag["file"]).name == (DECLARED_FILE if dag_id in DECLARED else f"{dag_id}.py")


def test_every_dag_is_documented_for_the_ui(dags: dict[str, Any]) -> None:
    for dag_id, dag in dags.items():
        doc = dag["doc_md"] or ""
        assert len(doc) > 800, dag_id
        for heading in ("From where to where", "How often", "When it fails"):
            assert heading in doc, (dag_id, heading)
        assert re.search(r"`lgsp [a-z]", doc), f"{dag_id}: no lgsp command to inspect a failure"
        assert dag["tags"], dag_id
        for task_id, task in dag["tasks"].items():
            assert task["doc_md"], (dag_id, task_id)


def test_every_lgsp_command_a_doc_names_exists(dags: dict[str, Any]) -> None:
    from hub.cli.app import app

    root = typer.main.get_command(app)
    named = {span for dag in dags.values() for span in re.findall(r"`(lgsp [^`]+)`", dag["doc_md"])}
    assert named and {f"lgsp sync {item.qualified}" for item in DECLARED.values()} <= named
    for span in named:
        command: Any = root  # a group is what has subcommands (`lgsp sync` finds declared streams by name)
        words = span.split()[1:]
        while words and hasattr(command, "get_command") and not words[0].startswith("-"):
            sub = command.get_command(command.context_class(command), words.pop(0))
            assert sub is not None, f"{span!r}: no such command"
            command = sub
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for word in (w.strip("[]") for w in words):
            if word.startswith("--"):
                assert word in options, f"{span!r}: {word} is not an option of this command"


def test_every_task_has_an_owner_retries_with_backoff_a_time_limit_and_one_run_at_a_time(
    dags: dict[str, Any],
) -> None:
    for dag_id, dag in dags.items():
        assert dag["max_active_runs"] == 1 and dag["catchup"] is False, dag_id
        for task_id, task in dag["tasks"].items():
            where = f"{dag_id}.{task_id}"
            assert task["owner"] not in ("", "airflow"), where
            assert task["retries"] >= 1 and task["retry_delay"] > 0, where
            assert task["backoff"] > 1, where  # a multiplier since Airflow 3: 1.0 would be a constant delay
            # No peer may hold a worker slot for ever (tests/dags/test_task_timeouts.py: per kind, enforced).
            assert task["timeout"] is not None and 0 < task["timeout"] <= 24 * 3600, where
            assert f"`{task_id}` " in dag["doc_md"] and "Time limits" in dag["doc_md"], where


def test_the_inbound_dags_take_an_optional_since(dags: dict[str, Any]) -> None:
    for dag_id, dag in dags.items():
        if dag_id not in INBOUND:
            assert "since" not in dag["params"], dag_id
            continue
        param = dag["params"]["since"]
        assert param["value"] is None, dag_id  # scheduled runs continue from the cursor
        assert param["schema"]["type"] == ["null", "string"] and param["schema"]["format"] == "date-time"
        assert "Re-reading from a given time" in dag["doc_md"], dag_id


def test_since_is_validated_before_anything_runs(bag: dict[str, Any]) -> None:
    outcomes = {json.loads(value): result for value, result in bag["since"].items()}
    assert outcomes[None] == outcomes[""] == ["ok", None]
    assert outcomes["2026-03-01T00:00:00+07:00"] == ["ok", "2026-02-28T17:00:00"]  # naive UTC, as the store
    assert outcomes["2026-03-01T00:00:00Z"] == ["ok", "2026-03-01T00:00:00"]
    assert outcomes["2026-11-30T23:59:59.5+00:00"] == ["ok", "2026-11-30T23:59:59.500000"]
    assert outcomes["2026-03-01T00:00:00"][0] == "fail" and "offset" in outcomes["2026-03-01T00:00:00"][1]
    for bad in ("yesterday", "2026-13-01T00:00:00Z", 20260301):
        assert outcomes[bad][0] == "fail" and "e.g. 2026-03-01T00:00:00+07:00" in outcomes[bad][1], bad
    assert outcomes["2027-01-01T00:00:00Z"][0] == "fail" and "future" in outcomes["2027-01-01T00:00:00Z"][1]


def test_rate_limited_systems_are_called_from_their_pools(dags: dict[str, Any]) -> None:
    assert dags["one_stop_sync"]["tasks"]["deliver"]["pool"] == "national_portal"  # a declared followup's pool
    assert dags["agency_push"]["tasks"]["deliver_pushes"]["pool"] == "agency_push"
    used = {task["pool"] for dag in dags.values() for task in dag["tasks"].values()}
    assert used - {"default_pool"} == set(POOLS)  # every pool is used, every pool used is created
    for name, (slots, description) in POOLS.items():
        assert slots >= 1 and len(description) > 40, name


def test_producers_publish_the_assets_the_consumers_wait_for(dags: dict[str, Any]) -> None:
    for dag_id, dag in dags.items():
        outlets = {name: uri for task in dag["tasks"].values() for name, uri in task["outlets"]}
        assert outlets == {name: ASSETS[name] for name in PUBLISHES.get(dag_id, ())}, dag_id
        if dag_id in PUBLISHES:  # only publish emits: a failed audit never tells consumers "updated"
            assert [tid for tid, task in dag["tasks"].items() if task["outlets"]] == ["publish"], dag_id
        triggers = {name: uri for name, uri in dag["triggers"]}
        assert triggers == {name: ASSETS[name] for name in TRIGGERED_BY.get(dag_id, ())}, dag_id
        assert dag["timetable"] == ("AssetOrTimeSchedule" if dag_id in TRIGGERED_BY else "CronTriggerTimetable")
        assert dag["cron"] == CRON.get(SCHEDULES[dag_id], SCHEDULES[dag_id]), dag_id  # the clock is the table's
        assert dag["timezone"] == "UTC", dag_id
    produced = {name for names in PUBLISHES.values() for name in names}
    assert {name for names in TRIGGERED_BY.values() for name in names} <= produced  # no trigger waits forever
    shared = {f"lgsp.{item.stream.shared_dataset}" for item in DECLARED.values() if item.stream.shared_dataset}
    assert shared  # a declared dataset's changes reach its subscribers as soon as it is published
    assert {name for name, _uri in dags["agency_push"]["triggers"]} == {"lgsp.citizen", *shared}
    # The report waits for every dataset's asset (lgsp.citizen too, which the population flow publishes).
    assert {name for name, _uri in dags["quality_report"]["triggers"]} == set(ASSETS)
    for dag_id, item in DECLARED.items():  # each declared dataset is an asset its stream's publish updates
        outlets = [[f"lgsp.{dataset}", f"x-lgsp://hub/{dataset}"] for dataset in item.stream.published_datasets]
        assert dags[dag_id]["tasks"]["publish"]["outlets"] == outlets


def test_importing_a_dag_file_loads_nothing_beyond_airflow_itself(env: dict[str, str]) -> None:
    added: dict[str, list[str]] = _child(_IMPORTS, [str(path) for path in dag_files()], env, "ADDED")
    heavy = (
        "sqlalchemy",
        "httpx",
        "pandas",
        "numpy",
        "great_expectations",
        "zeep",
        "lxml",
        "altair",
        "vl_convert",
        "psycopg",
        "fastapi",
        "uvicorn",
        "typer",
        "pydantic_settings",
        "alembic",
        "connectors",
        "quality",
        "mocks",
        "schemas",
    )
    for path, modules in added.items():
        assert [m for m in modules if m.split(".")[0] in heavy] == [], path
        assert {m for m in modules if m.split(".")[0] == "hub"} <= {
            "hub",
            "hub.orchestration",
            "hub.orchestration.flows",
            "hub.orchestration.schedules",
            "hub.orchestration.declared",  # the declared streams' DAGs and their notes
            "hub.systems",
            "hub.systems.loader",  # PyYAML and pydantic: the declarations, and the tables derived from them
        }, path


def test_the_hubs_inbound_dag_files_read_no_declaration(env: dict[str, str]) -> None:
    # Parsed every few seconds by the DAG processor: the declarations' YAML and models cost ~40 ms a parse.
    for flow in HUB_PUBLISHES:
        added: dict[str, list[str]] = _child(_IMPORTS, [str(DAGS_FOLDER / f"{flow}.py")], env, "ADDED")
        assert not [m for modules in added.values() for m in modules if m.startswith("hub.systems")], flow


def test_each_declared_stream_is_a_dag_built_from_its_declaration(dags: dict[str, Any]) -> None:
    from hub.pipeline.declared import spec_for

    for dag_id, item in DECLARED.items():
        dag, system, stream = dags[dag_id], item.system, item.stream
        followups = [step.task for step in stream.then]  # after publish, in order (the dossiers' route, deliver)
        assert sorted(dag["tasks"]) == sorted(["audit", "extract", "publish", *followups]), dag_id
        for step in stream.then:
            assert dag["tasks"][step.task]["pool"] == (step.pool or "default_pool"), dag_id
            assert f"`{step.task}`: {step.title}" in dag["doc_md"], dag_id
        assert dag["tags"] == sorted(["inbound", system.protocol, system.system]), dag_id
        assert dag["cron"] == CRON.get(stream.schedule, stream.schedule), dag_id
        assert dag["tasks"]["extract"]["pool"] == (stream.pool or "default_pool"), dag_id
        doc = dag["doc_md"]
        for text in (
            system.title.en,
            system.title.vi,
            system.owner,
            f"AIRFLOW_CONN_{system.connection.upper()}=http://",
            f"`{stream.dataset}`",
            f"lgsp systems test {system.system}",
            *(f"`{spec.from_}`" for spec in stream.fields.values()),
            f"`{stream.key}` (key)",
        ):
            assert text in doc, (dag_id, text)
        assert system.legal_basis is None or system.legal_basis in doc
        rules = re.findall(r"^- `([a-z_]+\.[a-z_]+(?:\.[0-9]+)?)`:", doc, flags=re.MULTILINE)
        # The notes name the rules as the audit, the quarantine and the report do (the suite the pipeline runs).
        assert tuple(rules) == spec_for(item).suite.rule_names(), (dag_id, rules)


def _describe_with(env: dict[str, str], systems: Path) -> dict[str, Any]:
    known = json.dumps(["default_pool", *POOLS])
    return dict(
        _child(_DESCRIBE, [str(DAGS_FOLDER), known, "[]"], {**env, "LGSP_SYSTEMS_DIR": str(systems)}, "DESCRIBED")
    )


def test_a_broken_declaration_is_an_import_error_naming_it_and_the_other_dags_go_on(
    env: dict[str, str], tmp_path: Path
) -> None:
    systems = tmp_path / "systems"
    shutil.copytree(DEFAULT_DIR, systems)
    first = sorted(systems.glob("*.yaml"))[0]
    text = first.read_text(encoding="utf-8")
    first.write_text(text.replace("    dataset:", "    datasett:", 1), encoding="utf-8")
    line = next(n for n, row in enumerate(first.read_text(encoding="utf-8").splitlines(), 1) if "datasett:" in row)
    described = _describe_with(env, systems)
    errors = {Path(path).name: message for path, message in described["import_errors"].items()}
    assert list(errors) == [DECLARED_FILE]
    message = errors[DECLARED_FILE]
    assert f"{first.name}:{line}:" in message and "unknown key" in message and "lgsp systems check" in message
    assert set(described["dags"]) == set(HUB_SCHEDULES)  # the hub's own flows are untouched


def test_a_declared_pool_is_created_and_used_by_its_streams_extract(env: dict[str, str], tmp_path: Path) -> None:
    systems = tmp_path / "systems"
    shutil.copytree(DEFAULT_DIR, systems)
    system = next(iter(DECLARED.values())).system.system
    item = [found for found in DECLARED.values() if found.system.system == system][-1]  # the file's last stream
    path = systems / f"{item.system.system}.yaml"
    text = path.read_text(encoding="utf-8").replace("\nstreams:\n", "\npools: {probe_pool: 2}\nstreams:\n", 1)
    path.write_text(text + "    pool: probe_pool\n", encoding="utf-8")
    known = json.dumps(["default_pool", *POOLS, "probe_pool"])
    extra = {**env, "LGSP_SYSTEMS_DIR": str(systems)}
    described = _child(_DESCRIBE, [str(DAGS_FOLDER), known, "[]"], extra, "DESCRIBED")
    assert described["import_errors"] == {} and described["warnings"] == []
    tasks = described["dags"][item.dag_id]["tasks"]
    assert tasks["extract"]["pool"] == "probe_pool"
    assert tasks["audit"]["pool"] == tasks["publish"]["pool"] == "default_pool"
    assert "`extract` runs in pool `probe_pool` (2 slot(s))" in described["dags"][item.dag_id]["doc_md"]
    # Without the pool created, Airflow warns: the table the cluster creates pools from must hold it.
    probe = "import json; from hub.orchestration.schedules import POOLS; print('POOLS ' + json.dumps(POOLS))"
    pools = _child(probe, [], extra, "POOLS")
    assert pools["probe_pool"][0] == 2 and item.system.title.en in pools["probe_pool"][1]
    assert set(POOLS) < set(pools)
