"""Pushes of a declared dataset: a run's published records reach its subscribers, granted fields with provenance."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from declared_connections import declared_connections
from mock_settings import settings_for
from sqlalchemy import Engine, delete, func, insert, select, update

from hub.keys import LEDGER_KEY, hub_key
from hub.sharing.push import push_key, queue_changes
from hub.sharing.registry import DEFAULT_CONFIG, load_registry
from hub.store.declared import declared_tables
from hub.store.engine import open_store
from hub.store.tables import agreement as agreement_table
from hub.store.tables import outbox, subscription
from hub.systems.catalogue import catalogue
from hub.systems.loader import load_systems, streams

NOW = datetime(2026, 3, 2, 9, 0)
FEED_AT = datetime(2026, 3, 1, 7, 30)
# The declared dataset a subscription pushes, and the one whose agreement asks for consent, by their agreements.
PUSHED, CONSENTED = "TTDL-2026-008", "TTDL-2026-007"


def agreement(agreement_id: str) -> dict[str, Any]:
    document = yaml.safe_load((DEFAULT_CONFIG / "agreements.yaml").read_text(encoding="utf-8"))
    found: dict[str, Any] = next(entry for entry in document["agreements"] if entry["id"] == agreement_id)
    return found


@pytest.fixture
def store(database_url: str) -> Iterator[Engine]:
    engine = open_store(database_url)  # Alembic, then the declared datasets' tables
    load_registry(engine, ledger_key=b"k" * 32, now=NOW)
    yield engine
    engine.dispose()


def row(dataset: str, number: int, run_id: str = "r1", **values: Any) -> dict[str, Any]:
    """A golden row of ``dataset`` as the generic merge writes it, every field stamped by its own system."""
    entry = catalogue().dataset(dataset)
    typed = {"date": date(2020, 1, number), "datetime": datetime(2026, 2, number, 8), "personal_id": "001090000000"}
    record = {f.name: typed.get(f.type, f"V{number:04d}") for f in entry.fields}
    record[entry.key] = f"K{number:06d}"
    record.update(values)
    stamps = {
        name: {
            "system": entry.system,
            "stream": entry.stream,
            "source_updated_at": f"2026-02-{number:02d}T08:00:00",
            "fetched_at": FEED_AT.isoformat(),
            "run_id": run_id,
        }
        for name in entry.field_names
    }
    return {
        **record,
        "content_hash": f"h{number}",
        "provenance": json.dumps(stamps),
        "published_run_id": run_id,
        "published_at": FEED_AT,
    }


def seed(engine: Engine, dataset: str, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(declared_tables()[dataset]), rows)


def queued(engine: Engine, topic: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for aggregate, payload in conn.execute(
            select(outbox.c.aggregate_id, outbox.c.payload).where(outbox.c.topic == topic).order_by(outbox.c.sequence)
        ):
            found.setdefault(aggregate, []).append(json.loads(payload))
    return found


def pushed_dataset() -> str:
    return str(agreement(PUSHED)["dataset"])


def test_a_declared_run_is_pushed_to_its_subscriber_with_exactly_the_granted_fields(store: Engine) -> None:
    dataset = pushed_dataset()
    entry, granted = catalogue().dataset(dataset), set(agreement(PUSHED)["fields"])
    rows = [row(dataset, n) for n in range(1, 8)]
    rows[2] = {**rows[2], "provenance": json.dumps({**json.loads(rows[2]["provenance"]), entry.key: {}})}
    seed(store, dataset, [*rows, row(dataset, 9, run_id="r0")])  # another run's record is not this run's change
    with store.begin() as conn:
        assert queue_changes(conn, dataset, "r1", NOW, chunk=3) == 7
    sent = queued(store, f"push.{agreement(PUSHED)['agency']}")
    assert set(sent) == {r[entry.key] for r in rows}
    for record in rows:
        (payload,) = sent[record[entry.key]]
        assert (payload["dataset"], payload["key"], payload["purpose"]) == (
            dataset,
            record[entry.key],
            "tax_management",
        )
        assert payload["agreement_ids"] == [PUSHED] and payload["run_id"] == "r1"
        assert set(payload["fields"]) == granted
        number = int(record[entry.key][1:])
        for name, value in payload["fields"].items():
            shown = record[name].isoformat() if hasattr(record[name], "isoformat") else record[name]
            # Values from the dataset's own register are verified; the key's source is the record's own
            # (the third record's key has no stamp of its own: the record's other stamps say it).
            assert (value["value"], value["source"], value["verified"]) == (shown, entry.system, True), name
            assert value["last_updated"] == f"2026-02-{number:02d}T08:00:00"
    with store.begin() as conn:
        assert queue_changes(conn, dataset, "r1", NOW) == 0  # a re-run queues nothing twice


def test_a_value_from_elsewhere_is_shown_unverified_and_a_change_is_pushed_again(store: Engine) -> None:
    dataset = pushed_dataset()
    entry = catalogue().dataset(dataset)
    first = row(dataset, 1)
    seed(store, dataset, [first])
    with store.begin() as conn:
        queue_changes(conn, dataset, "r1", NOW)
    stamps = json.loads(first["provenance"])
    stamps["status"] = {**stamps["status"], "system": "one_stop"}  # a merge could take a value from another system
    table = declared_tables()[dataset]
    with store.begin() as conn:
        conn.execute(update(table).values(status="closed", provenance=json.dumps(stamps), published_run_id="r2"))
        assert queue_changes(conn, dataset, "r2", NOW) == 1
    topic = f"push.{agreement(PUSHED)['agency']}"
    (before, after) = queued(store, topic)[first[entry.key]]
    assert (before["fields"]["status"]["value"], after["fields"]["status"]["value"]) == ("V0001", "closed")
    assert after["fields"]["status"]["source"] == "one_stop" and not after["fields"]["status"]["verified"]
    assert after["fields"][entry.key]["verified"]
    with store.connect() as conn:
        keys = list(conn.execute(select(outbox.c.idempotency_key).order_by(outbox.c.sequence)).scalars())
    assert keys[1] == push_key(agreement(PUSHED)["agency"], dataset, first[entry.key], after["fields"])
    assert first[entry.key] not in "".join(keys)  # the key is a digest: no record key in clear


def test_consent_asking_agreements_and_keyless_grants_are_never_pushed(
    store: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    consented = agreement(CONSENTED)
    dataset, agency = consented["dataset"], consented["agency"]
    seed(store, dataset, [row(dataset, n) for n in range(1, 4)])
    with store.begin() as conn:
        conn.execute(
            insert(subscription).values(
                agency_code=agency, dataset=dataset, purpose=consented["purpose"], active=True, created_at=NOW
            )
        )
    with caplog.at_level(logging.WARNING, logger="hub.sharing.push"), store.begin() as conn:
        assert queue_changes(conn, dataset, "r1", NOW) == 0
    assert "ask for the citizen's consent" in caplog.text and "001090000000" not in caplog.text
    # An agreement that stops granting the key: the agency could not tell which record changed.
    pushed = agreement(PUSHED)
    entry = catalogue().dataset(pushed["dataset"])
    seed(store, entry.name, [row(entry.name, n) for n in range(1, 4)])
    keyless = ",".join(sorted(set(pushed["fields"]) - {entry.key}))
    with store.begin() as conn:
        conn.execute(update(agreement_table).where(agreement_table.c.agreement_id == PUSHED).values(fields=keyless))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hub.sharing.push"), store.begin() as conn:
        assert queue_changes(conn, entry.name, "r1", NOW) == 0
    assert f"do not grant the key {entry.key}" in caplog.text
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0


def test_only_shared_datasets_are_pushed() -> None:
    with pytest.raises(
        ValueError, match=r"pushes of dataset 'land_parcel' are not supported; pushed datasets: citizen"
    ):
        queue_changes(None, "land_parcel", "r1", NOW)  # type: ignore[arg-type]  # refused before any read


def test_a_real_publish_queues_the_pushes_in_its_transaction(
    mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import population_sync

    from hub.pipeline import declared

    server = mock_server(citizens=300)
    for name, uri in declared_connections(server).items():
        monkeypatch.setenv(name, uri)
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    settings = settings_for(server, url, tmp_path, page_size=50)
    engine = open_store(url)
    load_registry(engine, ledger_key=hub_key(settings, LEDGER_KEY), now=NOW)
    population_sync.sync("p1", settings, engine)  # the owners the records reference
    dataset = pushed_dataset()
    (stream,) = [s for s in streams(load_systems()) if s.stream.dataset == dataset]
    summary = declared.sync("b1", settings, engine, stream=stream.qualified)
    golden = declared_tables()[dataset]
    with engine.connect() as conn:
        published = set(conn.execute(select(golden.c[stream.stream.key])).scalars())
    assert summary.published == len(published) > 0
    sent = queued(engine, f"push.{agreement(PUSHED)['agency']}")
    assert set(sent) == published and all(len(messages) == 1 for messages in sent.values())
    with engine.begin() as conn:
        conn.execute(delete(outbox))
    assert declared.sync("b2", settings, engine, stream=stream.qualified).published == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0  # nothing changed: no push
    engine.dispose()
