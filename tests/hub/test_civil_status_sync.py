"""Civil-status events (the declared stream civil_status.events) against the real REST mock, linked to golden
citizens, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import population_sync
import pytest
from sqlalchemy import Engine, func, select

from hub.pipeline import declared, runs
from hub.settings import Settings, load_settings
from hub.store.engine import open_store
from hub.store.tables import citizen, civil_event, field_conflict, quarantine
from lgsp.errors import FatalSourceError

STREAM = "civil_status.events"
RULE_FOR_EVENT_DEFECT = {
    "malformed_id": "personal_id.personal_id",
    "unknown_event_type": "event_type.one_of",
    "future_event_date": "event_date.before",  # after it was recorded
    "marriage_without_spouse": "spouse_id.not_empty",
    "unknown_commune": "commune.known",
    "duplicate_conflict": "event_id.unique_in_run",
    "event_before_birth": "event_date.after_referenced",
}
sync_events = partial(declared.sync, stream=STREAM)


@pytest.fixture(autouse=True)
def _connection(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The register's endpoint and OAuth2 client, as an Airflow connection (set by ``connect``)."""
    monkeypatch.delenv("AIRFLOW_CONN_CIVIL_STATUS", raising=False)


def connect(monkeypatch: pytest.MonkeyPatch, server: Any, secret: str = "demo-only-password") -> None:
    rest = server.base_url.split("://", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_CIVIL_STATUS", f"http://lgsp-demo:{secret}@{rest}/civil-status/v1")


def settings_for(server: Any, database_url: str, home: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "home": home,
        "database_url": database_url,
        "page_size": 97,
        "backoff_seconds": 0.01,
        "operation_timeout": 5,
    }
    options.update(overrides)
    return load_settings(**options)


def advance(server: Any, days: int) -> None:
    httpx.post(f"{server.base_url}/population/_admin/clock", json={"advance_days": days}).raise_for_status()


def count(engine: Engine, query: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def balanced(summary: runs.RunSummary) -> bool:
    return (
        summary.status == runs.PUBLISHED and summary.read == summary.published + summary.quarantined + summary.unchanged
    )


def test_events_are_audited_linked_and_disagreements_kept(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server(citizens=2500, defect_rate=0.05)
    connect(monkeypatch, server)
    settings = settings_for(server, database_url, tmp_path)
    engine = open_store(database_url)
    assert balanced(population_sync.sync("p1", settings, engine))
    assert balanced(sync_events("c1", settings, engine))
    advance(server, 30)
    assert balanced(population_sync.sync("p2", settings, engine))
    delta = sync_events("c2", settings, engine)
    assert balanced(delta) and delta.read > 0

    truth = server.civil_status.ground_truth
    with engine.connect() as conn:
        held = Counter(
            rule
            for (rules,) in conn.execute(select(quarantine.c.rules).where(quarantine.c.stream == STREAM))
            for rule in rules.split(",")
        )
        outcomes = dict(conn.execute(select(civil_event.c.outcome, func.count()).group_by(civil_event.c.outcome)).all())
        conflicts = conn.execute(
            select(
                field_conflict.c.personal_id,
                field_conflict.c.field,
                field_conflict.c.kept_source,
                field_conflict.c.other_source,
            )
        ).all()
    for defect, rule in RULE_FOR_EVENT_DEFECT.items():
        assert defect in set(truth.values()), f"the mock injected no {defect}"
        assert held[rule] > 0, f"{defect} was not caught by {rule}: {held}"
    disagreements = [event_id for event_id, kind in truth.items() if kind == "disagreement"]
    assert disagreements and len(conflicts) == len(disagreements)
    assert all(
        row.field == "death_date" and row.kept_source == "civil_status" and row.other_source == "national_population"
        for row in conflicts
    )
    assert outcomes.get("pending", 0) > 0  # births of children the population data does not have yet
    assert outcomes.get("linked", 0) > 0 and outcomes.get("no_change", 0) > 0
    # The golden record follows the register's death, with civil-status provenance.
    person = conflicts[0].personal_id
    with engine.connect() as conn:
        row = conn.execute(
            select(citizen.c.death_date, citizen.c.provenance).where(citizen.c.personal_id == person)
        ).one()
    assert row.death_date is not None and '"system": "civil_status"' in row.provenance
    engine.dispose()


def test_events_before_their_subjects_wait_as_pending_then_apply(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server(citizens=800)
    connect(monkeypatch, server)
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path)
    engine = open_store(url)
    first = sync_events("c1", settings, engine)  # nobody is in the golden table yet
    assert balanced(first)
    pending = count(engine, select(func.count()).select_from(civil_event).where(civil_event.c.outcome == "pending"))
    assert pending == first.published
    population_sync.sync("p1", settings, engine)
    again = sync_events("c2", settings, engine)  # nothing new, but the pending ones resolve
    assert again.read == 0
    still = count(engine, select(func.count()).select_from(civil_event).where(civil_event.c.outcome == "pending"))
    assert still < pending / 10  # only births of children the population data never had


def test_tokens_that_expire_mid_sync_are_refreshed(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server(citizens=1500, token_ttl_seconds=2)
    connect(monkeypatch, server)
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path, page_size=10)
    # Three slow pages: the sync outlives several 2-second tokens.
    httpx.post(
        f"{server.base_url}/_admin/faults",
        json={"fault": "latency", "count": 3, "operation": "events", "after": 2, "seconds": 1.0},
    ).raise_for_status()
    summary = sync_events("slow", settings, open_store(url))
    assert balanced(summary) and summary.pages > 3


def test_rate_limits_and_outages_mid_paging_are_retried(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server()
    connect(monkeypatch, server)
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    reference = sync_events("ref", settings_for(server, reference_url, tmp_path), open_store(reference_url))
    for fault in ("http_429", "http_503", "truncated_body", "connection_reset"):
        httpx.post(
            f"{server.base_url}/_admin/faults", json={"fault": fault, "count": 1, "operation": "events", "after": 1}
        ).raise_for_status()
    summary = sync_events("faulty", settings_for(server, url, tmp_path, max_attempts=6), open_store(url))
    assert balanced(summary)
    assert (summary.read, summary.published, summary.quarantined) == (
        reference.read,
        reference.published,
        reference.quarantined,
    )


def test_wrong_client_secret_is_fatal(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server()
    connect(monkeypatch, server, secret="nope")
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    with pytest.raises(FatalSourceError, match="client"):
        sync_events("denied", settings_for(server, url, tmp_path), open_store(url))
