"""Push subscriptions, queued in the publish transaction: who gets which change, with exactly which fields.

The helpers here are shared by the other ``test_push*`` modules.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import population_sync
import pytest
import yaml
from declared_connections import sync_declared
from sqlalchemy import Engine, delete, func, select

from hub.keys import LEDGER_KEY, hub_key
from hub.pipeline import runs
from hub.pipeline.declared import find_stream, spec_for
from hub.settings import Settings, load_settings
from hub.sharing.push import push_key, queue_changes
from hub.sharing.registry import DEFAULT_CONFIG, load_registry
from hub.store.engine import open_store
from hub.store.tables import citizen, field_conflict, outbox

SUBSCRIBERS = {"TU-PHAP": ("TTDL-2025-001", "civil_status_registration"), "BHXH": ("TTDL-2025-005", "health_insurance")}
FAR = date(2099, 12, 31)


def agreed_fields() -> dict[str, set[str]]:
    """The fields each subscriber's agreement grants, as config/sharing/agreements.yaml declares them."""
    document = yaml.safe_load((DEFAULT_CONFIG / "agreements.yaml").read_text(encoding="utf-8"))
    by_id = {entry["id"]: set(entry["fields"]) for entry in document["agreements"]}
    return {code: by_id[agreement_id] for code, (agreement_id, _) in SUBSCRIBERS.items()}


def sharing_config(folder: Path, *, bhxh_until: date | None = None, bhxh_fields: list[str] | None = None) -> Path:
    """The shipped registry, with open agreements extended far ahead (so the tests do not expire) and BHXH's
    agreement changed as asked."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agencies.yaml").write_bytes((DEFAULT_CONFIG / "agencies.yaml").read_bytes())
    document = yaml.safe_load((DEFAULT_CONFIG / "agreements.yaml").read_text(encoding="utf-8"))
    for entry in document["agreements"]:
        if entry["valid_until"] is not None and entry["valid_until"] >= date(2026, 12, 31):
            entry["valid_until"] = FAR
        if entry["id"] == SUBSCRIBERS["BHXH"][0]:
            entry["valid_until"] = bhxh_until or entry["valid_until"]
            entry["fields"] = bhxh_fields or entry["fields"]
    (folder / "agreements.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return folder


CIVIL_STATUS = "civil_status.events"


def load_sharing(engine: Engine, settings: Settings, folder: Path) -> None:
    load_registry(engine, folder, ledger_key=hub_key(settings, LEDGER_KEY), now=runs.utcnow())


def settings_for(server: Any, database_url: str, home: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "home": home,
        "database_url": database_url,
        "page_size": 250,
        "backoff_seconds": 0.01,
        "operation_timeout": 5,
        "max_attempts": 3,
    }
    return load_settings(**{**options, **overrides})


def pushes(engine: Engine, agency: str) -> dict[str, list[dict[str, Any]]]:
    """Personal id -> the payloads queued for ``agency``, in order."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with engine.connect() as conn:
        for aggregate, payload in conn.execute(
            select(outbox.c.aggregate_id, outbox.c.payload)
            .where(outbox.c.topic == f"push.{agency}")
            .order_by(outbox.c.aggregate_id, outbox.c.sequence)
        ):
            found[aggregate].append(json.loads(payload))
    return found


def golden(engine: Engine, *where: Any) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {row["personal_id"]: dict(row) for row in conn.execute(select(citizen).where(*where)).mappings()}


def as_sent(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def assert_carries_the_golden_record(payload: dict[str, Any], record: dict[str, Any], fields: set[str]) -> None:
    assert set(payload["fields"]) == fields
    for name, sent in payload["fields"].items():
        assert set(sent) == {"value", "source", "last_updated", "verified"}
        assert sent["value"] == as_sent(record[name]), name
        stamp = json.loads(record["provenance"])["full_name" if name == "personal_id" else name]
        assert (sent["source"], sent["last_updated"]) == (stamp["system"], stamp["source_updated_at"])


def test_a_publish_queues_each_change_once_per_subscriber_with_only_its_fields(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Path
) -> None:
    server = mock_server()
    settings, engine = settings_for(server, database_url, tmp_path), open_store(database_url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))

    summary = population_sync.sync("p1", settings, engine)

    published = golden(engine)
    assert summary.published == len(published) > 500
    with engine.connect() as conn:
        topics = dict(conn.execute(select(outbox.c.topic, func.count()).group_by(outbox.c.topic)).tuples().all())
    assert topics == {"push.BHXH": len(published), "push.TU-PHAP": len(published)}  # CONG-AN and SO-Y-TE do not
    granted = agreed_fields()
    for code, (agreement_id, purpose) in SUBSCRIBERS.items():
        queued = pushes(engine, code)
        assert set(queued) == set(published) and all(len(messages) == 1 for messages in queued.values())
        for personal_id, (payload,) in queued.items():
            assert_carries_the_golden_record(payload, published[personal_id], granted[code])
            assert (payload["dataset"], payload["key"], payload["purpose"]) == ("citizen", personal_id, purpose)
            assert (payload["agreement_ids"], payload["run_id"]) == ([agreement_id], "p1")
            assert datetime.fromisoformat(payload["changed_at"]).utcoffset() == timedelta(0)
    bhxh = next(iter(pushes(engine, "BHXH").values()))[0]
    assert not {"residence_detail", "father_id", "mother_id", "spouse_id", "hometown"} & set(bhxh["fields"])

    assert population_sync.publish("p1", settings, engine) == summary  # a re-run of the publish: a no-op
    assert population_sync.sync("p2", settings, engine).read == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 2 * len(published)
        assert set(conn.execute(select(outbox.c.idempotency_key)).scalars()).isdisjoint(published)  # no id in keys
    engine.dispose()


def test_queuing_again_or_in_small_chunks_finds_the_same_pushes(
    mock_server: Callable[..., Any], tmp_path: Path
) -> None:
    server, url = mock_server(), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    population_sync.sync("p1", settings, engine)
    before = {code: pushes(engine, code) for code in SUBSCRIBERS}
    now = runs.utcnow()

    with engine.begin() as conn:
        assert queue_changes(conn, "citizen", "p1", now) == 0  # every key is already queued
        conn.execute(delete(outbox))
        assert queue_changes(conn, "citizen", "p1", now, chunk=7) == 2 * len(before["BHXH"])  # keyset walk
        with pytest.raises(ValueError, match="civil_event"):
            queue_changes(conn, "civil_event", "p1", now)
    assert {code: pushes(engine, code) for code in SUBSCRIBERS} == before
    with engine.connect() as conn:  # the key is the documented digest of who receives what
        for topic, key, payload in conn.execute(select(outbox.c.topic, outbox.c.idempotency_key, outbox.c.payload)):
            sent = json.loads(payload)
            assert key == push_key(topic.removeprefix("push."), "citizen", sent["key"], sent["fields"])
    engine.dispose()


def test_an_expired_agreement_stops_its_pushes(mock_server: Callable[..., Any], tmp_path: Path) -> None:
    server, url = mock_server(), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    yesterday = runs.utcnow().date() - timedelta(days=1)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing", bhxh_until=yesterday))

    population_sync.sync("p1", settings, engine)

    assert pushes(engine, "BHXH") == {} and len(pushes(engine, "TU-PHAP")) == len(golden(engine))
    engine.dispose()


def test_an_agreement_that_does_not_grant_the_key_pushes_nothing(
    mock_server: Callable[..., Any], tmp_path: Path
) -> None:
    server, url = mock_server(), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing", bhxh_fields=["full_name", "death_date"]))

    population_sync.sync("p1", settings, engine)

    assert pushes(engine, "BHXH") == {} and pushes(engine, "TU-PHAP")  # nameless changes would say nothing
    dossiers = spec_for(find_stream("one_stop.dossiers"))
    assert dossiers.shares is None  # and dossiers are never pushed to subscribers of citizens
    engine.dispose()


def test_deaths_from_the_civil_status_register_are_queued_for_their_subscribers(
    mock_server: Callable[..., Any], tmp_path: Path
) -> None:
    server, url = mock_server(citizens=1500), f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings, engine = settings_for(server, url, tmp_path), open_store(url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    sync_with_deaths(server, settings, engine)

    changed = golden(engine, citizen.c.published_run_id == "c2")
    deaths = {pid: row for pid, row in changed.items() if row["death_date"] is not None}
    assert deaths, "the register recorded no death the population data lacks"
    bhxh, tu_phap = pushes(engine, "BHXH"), pushes(engine, "TU-PHAP")
    granted = agreed_fields()
    for personal_id, record in changed.items():  # the latest push holds the record as it is now
        for code, queued in (("BHXH", bhxh), ("TU-PHAP", tu_phap)):
            assert_carries_the_golden_record(queued[personal_id][-1], record, granted[code])
        assert tu_phap[personal_id][-1]["run_id"] == "c2"  # a widowed spouse: news to civil status only
        assert (bhxh[personal_id][-1]["run_id"] == "c2") is (personal_id in deaths)
    with engine.connect() as conn:
        disputed = set(
            conn.execute(
                select(field_conflict.c.personal_id).where(
                    field_conflict.c.field == "death_date", field_conflict.c.status == "open"
                )
            ).scalars()
        )
    for personal_id, record in deaths.items():
        sent = bhxh[personal_id][-1]["fields"]["death_date"]
        assert (sent["value"], sent["source"]) == (record["death_date"].isoformat(), "civil_status")
        assert sent["verified"] is (personal_id not in disputed)  # the population database still says alive
    assert sync_declared(server, CIVIL_STATUS, "c3", settings, engine).read == 0
    assert {pid: len(m) for pid, m in pushes(engine, "BHXH").items()} == {pid: len(m) for pid, m in bhxh.items()}
    engine.dispose()


def sync_with_deaths(server: Any, settings: Settings, engine: Engine) -> None:
    """Population and civil status, then a month later both again: the register then knows deaths the
    population database does not (run ``c2``)."""
    population_sync.sync("p1", settings, engine)
    sync_declared(server, CIVIL_STATUS, "c1", settings, engine)
    httpx.post(f"{server.base_url}/population/_admin/clock", json={"advance_days": 30}).raise_for_status()
    population_sync.sync("p2", settings, engine)
    sync_declared(server, CIVIL_STATUS, "c2", settings, engine)
