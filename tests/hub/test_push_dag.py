"""The agency_push DAG: light to import, delivery mapped over lanes, a real run through Airflow to the mocks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import population_sync
from sqlalchemy import func, select
from test_push import SUBSCRIBERS, golden, load_sharing, settings_for, sharing_config

from hub.local.airflow.in_process import DAGS_FOLDER, airflow_environment, migrate_metadata_db, run_dag
from hub.store.engine import open_store
from hub.store.tables import outbox

DAG_FILE = DAGS_FOLDER / "agency_push.py"


def probe(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, str(DAG_FILE)], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_the_dag_file_imports_nothing_heavy_and_maps_delivery_over_lanes_every_15_minutes() -> None:
    heavy = probe(
        "import sys, runpy; runpy.run_path(sys.argv[1]);"
        "print('HEAVY:' + ','.join(m for m in ('great_expectations', 'zeep', 'lxml', 'hub.sharing', 'hub.store',"
        " 'hub.pipeline', 'connectors', 'quality') if m in sys.modules))"
    )
    assert heavy == "HEAVY:"
    shape = probe(
        "import sys, runpy; d = runpy.run_path(sys.argv[1])['agency_push_dag']; t = d.task_dict['deliver_pushes'];"
        "print(d.dag_id, d.max_active_runs, sorted(d.task_dict), t.owner, t.retries, 'When it fails' in d.doc_md,"
        " type(t).__name__, t.pool, sorted(t.upstream_task_ids), repr(d.timetable))"
    )
    assert shape.startswith(
        "agency_push 1 ['deliver_pushes', 'plan_lanes'] lgsp 3 True DecoratedMappedOperator agency_push ['plan_lanes']"
    )
    assert "*/15 * * * *" in shape


def test_a_real_run_delivers_the_queued_pushes(mock_server: Callable[..., Any], tmp_path: Path) -> None:
    server, url = mock_server(citizens=150), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    population_sync.sync("p1", settings, engine)
    total = len(golden(engine))
    origin = server.base_url.split("//", 1)[1]
    connections = {
        f"AIRFLOW_CONN_AGENCY_PUSH_{code.replace('-', '_')}": f"http://:demo-only-push-secret@{origin}/agency/v1/{code}/inbox"
        for code in SUBSCRIBERS
    }
    env = airflow_environment(tmp_path, {"LGSP_DATABASE_URL": url, "LGSP_PUSH_LANES": "3", **connections})
    migrate_metadata_db(env)

    outcome = run_dag("agency_push", env)

    assert (outcome.state, outcome.task_states) == ("success", {"plan_lanes": "success", "deliver_pushes": "success"})
    with engine.connect() as conn:
        states = dict(conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).tuples().all())
    assert states == {"acknowledged": 2 * total}
    assert {code: server.agencies.stats(code)["held"] for code in SUBSCRIBERS} == dict.fromkeys(SUBSCRIBERS, total)
    # Three lanes, three mapped task instances: each sent its share of the citizens as one batch per agency.
    assert {code: server.agencies.stats(code)["batches"] for code in SUBSCRIBERS} == dict.fromkeys(SUBSCRIBERS, 3)
    engine.dispose()
