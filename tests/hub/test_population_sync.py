"""Write, audit, publish against the real population mock, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import population_sync
import pytest
from defect_rules import RULE_FOR_DEFECT
from sqlalchemy import Engine, func, select

from hub.pipeline import runs
from hub.settings import Settings, load_settings
from hub.store.engine import open_store
from hub.store.tables import citizen, quarantine, staging_citizen, sync_run, sync_state
from lgsp.errors import ConfigError, FatalSourceError, TransientSourceError


def settings_for(server: Any, database_url: str, tmp_path: Any, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "home": tmp_path,
        "database_url": database_url,
        "page_size": 97,  # an odd size, so page boundaries fall everywhere
        "backoff_seconds": 0.01,
        "operation_timeout": 5,
    }
    options.update(overrides)
    return load_settings(**options)


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def assert_balanced(summary: runs.RunSummary) -> None:
    assert summary.status == runs.PUBLISHED
    assert summary.read == summary.published + summary.quarantined + summary.unchanged


def test_full_sync_publishes_clean_records_and_quarantines_every_defect(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Any
) -> None:
    server = mock_server(citizens=800, defect_rate=0.05)
    settings = settings_for(server, database_url, tmp_path)
    engine = open_store(database_url)

    summary = population_sync.sync("run-1", settings, engine)

    assert_balanced(summary)
    assert summary.read > 0
    with engine.connect() as conn:
        quarantined = conn.execute(select(quarantine.c.personal_id, quarantine.c.rules)).all()
        golden_ids = set(conn.execute(select(citizen.c.personal_id)).scalars())
    rules_seen = Counter(rule for _, rules in quarantined for rule in rules.split(","))
    defects = server.dataset.defects
    for defect_type, rule in RULE_FOR_DEFECT.items():
        assert defect_type in set(defects.values()), f"the mock injected no {defect_type}"
        assert rules_seen[rule] > 0, f"{defect_type} was not caught by {rule}"
    # Nothing defective reached the golden table; every clean resident did.
    defective_ids = {key for key in defects if isinstance(key, str)}
    assert not (golden_ids & defective_ids)
    assert summary.published == len(golden_ids)
    assert summary.quarantined >= len(defects)
    assert count(engine, staging_citizen) == 0  # staging is scratch, emptied on publish
    engine.dispose()


def test_rerun_loads_nothing_twice(mock_server: Callable[..., Any], tmp_path: Any) -> None:
    server = mock_server()
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    engine = open_store(url)
    first = population_sync.sync("run-1", settings, engine)
    golden, held = count(engine, citizen), count(engine, quarantine)

    again = population_sync.sync("run-1", settings, engine)  # the same run: a no-op
    assert again == first
    second = population_sync.sync("run-2", settings, engine)  # a new run: the cursor moved on
    assert_balanced(second)
    assert second.read == 0
    assert (count(engine, citizen), count(engine, quarantine)) == (golden, held)


def test_crash_between_audit_and_publish_then_resume(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Any
) -> None:
    server = mock_server()
    settings = settings_for(server, database_url, tmp_path)
    engine = open_store(database_url)
    population_sync.extract("crashed", settings, engine)
    population_sync.audit("crashed", settings, engine)
    # ... the worker dies here: nothing is published, the cursor has not moved.
    assert count(engine, citizen) == 0 and count(engine, sync_state) == 0

    resumed = population_sync.publish("crashed", settings, engine)  # Airflow retries the publish task
    assert_balanced(resumed)
    assert count(engine, citizen) == resumed.published

    # A later run starts where the last good commit left off and finds nothing new.
    later = population_sync.sync("later", settings, engine)
    assert later.read == 0 and count(engine, citizen) == resumed.published


def test_new_run_after_crash_supersedes_the_unfinished_one(mock_server: Callable[..., Any], tmp_path: Any) -> None:
    server = mock_server()
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    engine = open_store(url)
    population_sync.extract("abandoned", settings, engine)
    population_sync.audit("abandoned", settings, engine)

    fresh = population_sync.sync("fresh", settings, engine)
    assert_balanced(fresh)
    with engine.connect() as conn:
        status = conn.execute(select(sync_run.c.status).where(sync_run.c.run_id == "abandoned")).scalar()
    assert status == runs.SUPERSEDED
    assert count(engine, citizen) == fresh.published
    assert count(engine, staging_citizen) == 0


def test_crash_inside_publish_rolls_everything_back(
    mock_server: Callable[..., Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server()
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    engine = open_store(url)
    population_sync.extract("r", settings, engine)
    population_sync.audit("r", settings, engine)

    # A process cannot be killed mid-transaction portably; fail the last step instead.
    def boom(*_args: Any, **_kwargs: Any) -> str:
        raise RuntimeError("worker lost")

    monkeypatch.setattr(runs, "advance_cursor", boom)
    with pytest.raises(RuntimeError):
        population_sync.publish("r", settings, engine)
    assert count(engine, citizen) == 0 and count(engine, quarantine) == 0 and count(engine, sync_state) == 0
    monkeypatch.undo()

    summary = population_sync.publish("r", settings, engine)
    assert_balanced(summary)


def test_transient_faults_mid_paging_are_retried(mock_server: Callable[..., Any], tmp_path: Any) -> None:
    server = mock_server()
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path, max_attempts=6)  # five faults in a row, then success
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    reference = population_sync.sync(
        "reference", settings_for(server, reference_url, tmp_path), open_store(reference_url)
    )
    for fault in ("http_503", "http_429", "truncated_xml", "reset", "soap_server_fault"):
        httpx.post(
            f"{server.base_url}/_admin/faults",
            json={"fault": fault, "count": 1, "operation": "ListChangedCitizens", "after": 2},
        ).raise_for_status()
        # faults queue one after another on the following calls
    summary = population_sync.sync("faulty", settings, open_store(url))
    assert_balanced(summary)
    assert (summary.read, summary.published, summary.quarantined) == (
        reference.read,
        reference.published,
        reference.quarantined,
    )


def test_persistent_fault_fails_cleanly_and_next_run_recovers(mock_server: Callable[..., Any], tmp_path: Any) -> None:
    server = mock_server()
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path, max_attempts=2)
    engine = open_store(url)
    httpx.post(
        f"{server.base_url}/_admin/faults",
        json={"fault": "malformed_xml", "count": 5, "operation": "ListChangedCitizens", "after": 1},
    )
    with pytest.raises(TransientSourceError, match="not well-formed"):
        population_sync.sync("broken", settings, engine)
    assert count(engine, citizen) == 0 and count(engine, sync_state) == 0
    with engine.connect() as conn:
        error = conn.execute(select(sync_run.c.error).where(sync_run.c.run_id == "broken")).scalar()
    assert error and "extract" in error

    httpx.delete(f"{server.base_url}/_admin/faults")
    summary = population_sync.sync("next", settings, engine)
    assert_balanced(summary) and summary.read > 0
    assert count(engine, staging_citizen) == 0  # the broken run's half-staged pages are gone


def test_wrong_password_is_fatal_and_names_the_fix(
    mock_server: Callable[..., Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server()
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    monkeypatch.setenv("AIRFLOW_CONN_NATIONAL_POPULATION", f"http://lgsp-demo:wrong@{server.base_url[7:]}/population")
    with pytest.raises(FatalSourceError, match="Authentication"):
        population_sync.sync("denied", settings, open_store(url))


def test_response_with_a_dtd_is_refused(mock_server: Callable[..., Any], tmp_path: Any) -> None:
    server = mock_server()
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    httpx.post(
        f"{server.base_url}/_admin/faults",
        json={"fault": "dtd_payload", "count": 1, "operation": "ListChangedCitizens", "after": 0},
    )
    with pytest.raises(FatalSourceError, match="DTD"):
        population_sync.sync("hostile", settings, open_store(url))


def test_incremental_sync_picks_up_the_change_feed(mock_server: Callable[..., Any], tmp_path: Any) -> None:
    server = mock_server(citizens=1000)
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    engine = open_store(url)
    initial = population_sync.sync("initial", settings, engine)
    httpx.post(f"{server.base_url}/population/_admin/clock", json={"advance_days": 10}).raise_for_status()

    delta = population_sync.sync("delta", settings, engine)
    assert_balanced(delta)
    assert 0 < delta.read < initial.read
    assert delta.published > 0  # moves, marriages, deaths changed golden records
    with engine.connect() as conn:
        provenance = conn.execute(
            select(citizen.c.provenance).where(citizen.c.published_run_id == "delta").limit(1)
        ).scalar_one()
    assert '"run_id": "delta"' in provenance and '"run_id": "initial"' in provenance


def test_a_connection_still_saying_wsse_password_is_told_where_it_went(
    mock_server: Callable[..., Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server()
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_NATIONAL_POPULATION",
        f"http://lgsp-demo:demo-only-password@{server.base_url[7:]}/population?wsse_password=text",
    )
    with pytest.raises(ConfigError, match=r"password: text.*config/systems/national_population\.yaml"):
        population_sync.sync("moved", settings_for(server, url, tmp_path), open_store(url))
