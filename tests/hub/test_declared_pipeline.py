"""Declared streams end to end: every declared system against the real mocks, on SQLite and PostgreSQL.

Each declared stream is synced through hub.pipeline.declared exactly as Airflow's tasks
call it (run id, settings, ``stream="system.stream"``); what the mocks injected is held
against what the hub quarantined, and the mocks' change feed against what a second
run reads.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import population_sync
import pytest
from mock_settings import settings_for
from sqlalchemy import Engine, func, select

from hub.pipeline import declared, runs
from hub.settings import Settings, declared_endpoint, load_settings
from hub.store.declared import dataset_table
from hub.store.engine import open_store
from hub.store.tables import quarantine, sync_state
from hub.systems.loader import DeclaredStream, load_systems, streams
from lgsp.errors import ConfigError


@dataclass(frozen=True)
class Truth:
    """What a mock knows of its records: the ground truth a declared stream's outcome is held to."""

    dataset: Callable[[Any], Any]  # server -> the mock's data set
    defect_of: Callable[[Any], str]  # a quarantine row -> the ground-truth key of its record
    key: Callable[[Any], str | None]  # a mock record -> its key on the wire
    rule_for: dict[str, str]  # injected defect type -> the rule that must catch it


def _xml_element(name: str) -> Callable[[Any], str]:
    pattern = re.compile(rf"{name}>([^<]*)<")
    return lambda row: pattern.search(row.payload).group(1)  # type: ignore[union-attr]


TRUTH = {
    "social_insurance": Truth(
        dataset=lambda server: server.social_insurance,
        defect_of=lambda row: row.personal_id,  # the mock's truth is keyed by SoDinhDanh as delivered
        key=lambda record: record.ma_so_bhxh,
        rule_for={
            "malformed_id": "personal_id.personal_id",
            "unknown_commune": "commune.known",
            "end_before_start": "coverage_start.before",
            "future_start_date": "coverage_start.not_in_future",
            "missing_insurance_number": "insurance_number.not_empty",
            "duplicate_conflict": "insurance_number.unique_in_run",
            "unknown_status": "status.one_of",
        },
    ),
    "household_business": Truth(
        dataset=lambda server: server.household_business,
        defect_of=_xml_element("SoDangKy"),
        key=lambda record: record.so_dang_ky,
        rule_for={
            "malformed_id": "owner_id.personal_id",
            "unknown_commune": "commune.known",
            "future_registration_date": "registered_on.not_in_future",
            "empty_name": "business_name.not_empty",
            "duplicate_conflict": "registration_number.unique_in_run",
            "unknown_status": "status.one_of",
        },
    ),
}
DEFECT_RATES = {"social_insurance_defect_rate": 0.06, "household_business_defect_rate": 0.12}


def declared_streams() -> list[DeclaredStream]:
    """The streams the generic merge publishes (civil status, with its domain merge: test_civil_status_sync)."""
    return [stream for stream in streams(load_systems()) if stream.stream.merge is None]


@pytest.fixture
def hub(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Settings, Engine]]:
    """The mocks, the declared systems' Airflow connections to them, a store holding the population's citizens."""
    server = mock_server(citizens=2000, **DEFECT_RATES)
    netloc = urlsplit(server.base_url).netloc
    for system in load_systems():
        login, secret = server.settings.demo_credentials()[system.decl.connection]
        assert system.decl.demo is not None
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{system.decl.connection.upper()}",
            f"http://{login}:{secret.get_secret_value()}@{netloc}{system.decl.demo.path}",
        )
    settings = settings_for(server, database_url, tmp_path, page_size=97)
    engine = open_store(database_url)
    assert balanced(population_sync.sync("citizens-1", settings, engine))  # what references: citizen checks
    yield server, settings, engine
    engine.dispose()


def balanced(summary: runs.RunSummary) -> bool:
    return (
        summary.status == runs.PUBLISHED and summary.read == summary.published + summary.quarantined + summary.unchanged
    )


def count(engine: Engine, query: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def epoch(cursor: str) -> int:
    return int(datetime.fromisoformat(cursor).replace(tzinfo=UTC).timestamp())


def clock(server: Any) -> int:
    return int(server.app.state.clock.now)


def test_every_declared_stream_syncs_quarantines_its_defects_and_reads_only_changes(
    hub: tuple[Any, Settings, Engine],
) -> None:
    server, settings, engine = hub
    assert {stream.system.system for stream in declared_streams()} == set(TRUTH)
    for stream in declared_streams():
        truth, golden = TRUTH[stream.system.system], dataset_table(stream.stream)
        mock = truth.dataset(server)
        first = declared.sync(f"{stream.name}-1", settings, engine, stream=stream.qualified)
        assert balanced(first) and first.published > 0 and first.unchanged == 0, first
        assert first.read == len(mock.records(clock(server)))
        assert count(engine, select(func.count()).select_from(golden)) == first.published

        # Each injected defect is quarantined under the rule named for it, and nothing else is.
        with engine.connect() as conn:
            held = conn.execute(select(quarantine).where(quarantine.c.stream == stream.qualified)).all()
        delivered = {kind: n for kind, n in mock.defect_counts(clock(server)).items() if n}
        assert set(delivered) == set(truth.rule_for), "every defect type should be exercised"
        caught: Counter[str] = Counter()
        for row in held:
            kind = mock.defects[truth.defect_of(row)]
            assert truth.rule_for[kind] in row.rules.split(","), (kind, row.rules)
            caught[kind] += 1
        assert caught == delivered and first.quarantined == len(held)
        assert all(first.rules_failed[rule] > 0 for rule in truth.rule_for.values())

        again = declared.sync(f"{stream.name}-2", settings, engine, stream=stream.qualified)
        assert balanced(again) and again.read == 0 and again.cursor_from == first.cursor_to

    first_clock = clock(server)
    httpx.post(f"{server.base_url}/population/_admin/clock", json={"advance_days": 45}).raise_for_status()
    assert balanced(population_sync.sync("citizens-2", settings, engine))
    for stream in declared_streams():
        truth, golden = TRUTH[stream.system.system], dataset_table(stream.stream)
        mock = truth.dataset(server)
        with engine.connect() as conn:
            cursor = conn.execute(select(sync_state.c.cursor).where(sync_state.c.stream == stream.qualified)).scalar()
        changed = mock.records(clock(server), since=epoch(cursor))
        before = count(engine, select(func.count()).select_from(golden))

        delta = declared.sync(f"{stream.name}-3", settings, engine, stream=stream.qualified)
        assert balanced(delta) and delta.read == len(changed) > 0, delta
        assert delta.quarantined == 0  # defective records take no part in the mocks' change feed
        published_now = select(func.count()).select_from(golden).where(golden.c.published_run_id == delta.run_id)
        assert count(engine, published_now) == delta.published > 0
        # Nothing loaded twice: one golden row per clean key the mock shows, new keys added, old ones updated.
        clean = {truth.key(r) for r in mock.records(clock(server)) if mock.defect_of(r) is None}
        assert count(engine, select(func.count()).select_from(golden)) == len(clean)
        new_keys = {truth.key(r) for r in changed} - {truth.key(r) for r in mock.records(first_clock)}
        assert count(engine, select(func.count()).select_from(golden)) == before + len(new_keys)
        with engine.connect() as conn:
            stamps = conn.execute(
                select(golden.c.provenance).where(golden.c.published_run_id == delta.run_id)
            ).scalars()
            assert {json.loads(stamp)[stream.stream.key]["system"] for stamp in stamps} == {stream.system.system}


def test_a_crash_between_audit_and_publish_leaves_the_previous_state(hub: tuple[Any, Settings, Engine]) -> None:
    _, settings, engine = hub
    for stream in declared_streams():
        golden = dataset_table(stream.stream)
        crashed = f"crashed-{stream.name}"
        declared.extract(crashed, settings, engine, stream=stream.qualified)
        declared.audit(crashed, settings, engine, stream=stream.qualified)
        # ... the worker dies here: nothing is published, quarantined, or remembered as read.
        assert count(engine, select(func.count()).select_from(golden)) == 0
        assert (
            count(engine, select(func.count()).select_from(quarantine).where(quarantine.c.stream == stream.qualified))
            == 0
        )
        assert (
            count(engine, select(func.count()).select_from(sync_state).where(sync_state.c.stream == stream.qualified))
            == 0
        )

        resumed = declared.publish(crashed, settings, engine, stream=stream.qualified)  # Airflow retries publish
        assert balanced(resumed) and resumed.published > 0
        assert count(engine, select(func.count()).select_from(golden)) == resumed.published
        later = declared.sync(f"later-{stream.name}", settings, engine, stream=stream.qualified)
        assert later.read == 0 and count(engine, select(func.count()).select_from(golden)) == resumed.published


def test_a_backfill_reads_everything_again_and_loads_nothing_twice(hub: tuple[Any, Settings, Engine]) -> None:
    _, settings, engine = hub
    for stream in declared_streams():
        golden = dataset_table(stream.stream)
        held = select(quarantine).where(quarantine.c.stream == stream.qualified).order_by(quarantine.c.quarantine_id)
        first = declared.sync(f"{stream.name}-1", settings, engine, stream=stream.qualified)
        with engine.connect() as conn:
            before = conn.execute(select(golden).order_by(golden.c[stream.stream.key])).all()
            first_held = conn.execute(held).all()

        run = f"{stream.name}-backfill"
        declared.extract(run, settings, engine, since=datetime(2000, 1, 1), stream=stream.qualified)
        declared.audit(run, settings, engine, stream=stream.qualified)
        backfill = declared.publish(run, settings, engine, stream=stream.qualified)
        assert balanced(backfill) and backfill.read == first.read
        assert (backfill.published, backfill.unchanged, backfill.quarantined) == (0, first.published, first.quarantined)
        with engine.connect() as conn:
            assert conn.execute(select(golden).order_by(golden.c[stream.stream.key])).all() == before
            again_held = conn.execute(held).all()
        # The same defective records: the same quarantine rows, noting the newest run that saw them.
        assert [(row.quarantine_id, row.run_id, row.rules) for row in again_held] == [
            (row.quarantine_id, row.run_id, row.rules) for row in first_held
        ]
        assert {row.last_seen_run_id for row in again_held} == {run}
        assert backfill.cursor_to == first.cursor_to  # the cursor never moves back


def test_a_failure_inside_publish_rolls_everything_back(
    hub: tuple[Any, Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, settings, engine = hub
    stream = declared_streams()[0]
    declared.extract("r", settings, engine, stream=stream.qualified)
    declared.audit("r", settings, engine, stream=stream.qualified)

    def boom(*_args: Any, **_kwargs: Any) -> str:
        raise RuntimeError("worker lost")

    monkeypatch.setattr(runs, "advance_cursor", boom)
    with pytest.raises(RuntimeError):
        declared.publish("r", settings, engine, stream=stream.qualified)
    assert count(engine, select(func.count()).select_from(dataset_table(stream.stream))) == 0
    assert (
        count(engine, select(func.count()).select_from(quarantine).where(quarantine.c.stream == stream.qualified)) == 0
    )
    monkeypatch.undo()
    assert balanced(declared.publish("r", settings, engine, stream=stream.qualified))


def test_an_unknown_stream_names_the_declared_ones(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    with pytest.raises(ConfigError) as refused:
        declared.sync("r", settings, stream="nowhere.nothing")
    said = str(refused.value)
    assert "'nowhere.nothing'" in said and all(stream.qualified in said for stream in declared_streams())


def test_the_endpoint_comes_from_the_airflow_connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW_CTX_DAG_ID", raising=False)
    monkeypatch.delenv("LGSP_DEMO", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_LAND", raising=False)
    settings = load_settings(home=tmp_path)
    with pytest.raises(ConfigError, match=r"AIRFLOW_CONN_LAND=http://LOGIN:SECRET@HOST:PORT"):
        declared_endpoint(settings, "land")

    monkeypatch.setenv("AIRFLOW_CONN_LAND", "https://api:s%3Acret@land.example:8443/land/v2?region=north")
    endpoint = declared_endpoint(settings, "land")
    assert (endpoint.url, endpoint.username, endpoint.password.get_secret_value()) == (
        "https://land.example:8443/land/v2",
        "api",
        "s:cret",
    )
    assert endpoint.extras == {"region": "north"} and "s:cret" not in repr(endpoint)

    monkeypatch.setenv(
        "AIRFLOW_CONN_LAND",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": 9,
                "schema": "land",
                "password": "k",
                "extra": {"timeout": 5},
            }
        ),
    )
    endpoint = declared_endpoint(settings, "land")
    assert (endpoint.url, endpoint.username, endpoint.extras) == ("http://127.0.0.1:9/land", "", {"timeout": "5"})
    with pytest.raises(ConfigError, match="'land' needs a login"):
        declared_endpoint(settings, "land", needs_login=True)

    monkeypatch.setenv("AIRFLOW_CONN_LAND", "http://api:demo-only-key@land.gov.example/land")
    with pytest.raises(ConfigError, match=r"demo secret .* non-loopback host \(land.gov.example\)"):
        declared_endpoint(settings, "land")
    assert declared_endpoint(load_settings(home=tmp_path, demo=True), "land").url == "http://land.gov.example/land"
    monkeypatch.setenv("AIRFLOW_CONN_LAND", "http://api:demo-only-key@127.0.0.1:9/land")
    assert declared_endpoint(settings, "land").password.get_secret_value() == "demo-only-key"
