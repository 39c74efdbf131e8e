"""The generic merge of a declared dataset: new, changed, unchanged, duplicates, provenance, on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from declared_helpers import FIELDS, land_system, only_stream
from sqlalchemy import Engine, insert, select

from connectors.digest import content_hash_of
from hub.pipeline import generic_merge
from hub.pipeline.generic_merge import merge_declared
from hub.pipeline.stages import MergeCounts
from hub.store.declared import dataset_table, ensure_declared_tables, staging_table
from hub.store.engine import open_store
from hub.store.tables import audit_finding
from hub.systems.loader import DeclaredStream
from lgsp.errors import StoreError

FETCHED = datetime(2025, 3, 1, 8, 0, 0)
NOW = datetime(2025, 3, 1, 9, 0, 0)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_store(database_url)
    yield engine
    engine.dispose()


def parcel(
    parcel_id: str | None, updated_at: str | None = "2025-01-01T00:00:00", **values: str | None
) -> dict[str, Any]:
    return {
        "parcel_id": parcel_id,
        "owner_id": "001090012345",
        "area": "12.5",
        "floors": "3",
        "registered_on": "2020-05-17",
        "mortgaged": "false",
        "commune": "00004",
        "updated_at": updated_at,
        **values,
    }


def stage(engine: Engine, stream: DeclaredStream, run_id: str, rows: list[dict[str, Any]]) -> list[int]:
    """Land rows as extract would; ``_fails`` rows get an audit finding, ``_contract`` ones a contract error."""
    table = staging_table(stream.stream)
    ids = []
    with engine.begin() as conn:
        for row in rows:
            fails, contract = row.pop("_fails", False), row.pop("_contract", None)
            fields = {name: row.get(name) for name in stream.stream.fields}
            row_id = conn.execute(
                insert(table).values(
                    run_id=run_id,
                    page_no=1,
                    **fields,
                    contract_error=contract,
                    content_hash=content_hash_of(fields, tuple(stream.stream.fields)),
                    payload=json.dumps(fields),
                    fetched_at=FETCHED,
                )
            ).inserted_primary_key[0]
            ids.append(row_id)
            if fails or contract:
                rule = "contract.valid" if contract else "owner_id.personal_id"
                conn.execute(insert(audit_finding).values(run_id=run_id, row_id=row_id, rule=rule))
    return ids


def merge(engine: Engine, stream: DeclaredStream, run_id: str) -> MergeCounts:
    with engine.begin() as conn:
        return merge_declared(conn, run_id, NOW, stream)


def golden(engine: Engine, stream: DeclaredStream) -> dict[str, dict[str, Any]]:
    table = dataset_table(stream.stream)
    with engine.connect() as conn:
        return {row["parcel_id"]: dict(row) for row in conn.execute(select(table)).mappings()}


def test_new_changed_unchanged_and_duplicates_with_per_field_provenance(engine: Engine) -> None:
    systems = land_system()
    stream = only_stream(systems)
    ensure_declared_tables(engine, systems)

    stage(
        engine,
        stream,
        "r1",
        [
            parcel("P1"),
            parcel("P2", "2025-01-02T00:00:00", area="40"),  # arrives first, but is the newer version
            parcel("P2", "2025-01-01T00:00:00", area="30"),
            parcel("P3", _fails=True),
            parcel("P4", _contract="DienTich is not a decimal"),
            parcel("P5", mortgaged="true"),
            parcel("P5", mortgaged="true"),  # re-delivered within the run
        ],
    )
    first = merge(engine, stream, "r1")
    assert first == MergeCounts(published=3, unchanged=2)  # + 2 quarantined = 7 read

    held = golden(engine, stream)
    assert set(held) == {"P1", "P2", "P5"}
    p1 = held["P1"]
    assert (p1["area"], p1["floors"], p1["registered_on"], p1["mortgaged"]) == (
        Decimal("12.5"),
        3,
        date(2020, 5, 17),
        False,
    )
    assert p1["updated_at"] == datetime(2025, 1, 1) and p1["commune"] == "00004"
    assert held["P2"]["area"] == Decimal(40) and held["P5"]["mortgaged"] is True
    assert (p1["published_run_id"], p1["published_at"]) == ("r1", NOW)
    stamps = json.loads(p1["provenance"])
    assert set(stamps) == set(FIELDS)
    assert stamps["area"] == {
        "system": "land",
        "stream": "parcels",
        "source_updated_at": "2025-01-01T00:00:00",
        "fetched_at": FETCHED.isoformat(),
        "run_id": "r1",
    }

    stage(
        engine,
        stream,
        "r2",
        [
            parcel("P1"),  # the same again: unchanged, its stamps and run untouched
            parcel("P2", "2025-02-01T00:00:00", area="45.25"),  # changed at the source
            parcel("P5", "2024-12-31T00:00:00", mortgaged="false"),  # an older version (a backfill): not taken
            parcel("P6", None, floors=None, mortgaged=None),  # new, with nothing in some fields
        ],
    )
    second = merge(engine, stream, "r2")
    assert second == MergeCounts(published=2, unchanged=2)

    held = golden(engine, stream)
    assert held["P1"]["published_run_id"] == "r1" and json.loads(held["P1"]["provenance"]) == stamps
    p2 = held["P2"]
    assert p2["area"] == Decimal("45.25") and p2["published_run_id"] == "r2"
    p2_stamps = json.loads(p2["provenance"])
    assert p2_stamps["area"]["run_id"] == p2_stamps["updated_at"]["run_id"] == "r2"
    assert p2_stamps["area"]["source_updated_at"] == "2025-02-01T00:00:00"
    assert p2_stamps["floors"]["run_id"] == "r1"  # not changed: the run that set it keeps the credit
    assert held["P5"]["mortgaged"] is True and held["P5"]["published_run_id"] == "r1"
    p6 = held["P6"]
    assert p6["floors"] is None and p6["mortgaged"] is None and p6["updated_at"] is None
    # No cursor value: the record's time is when it was fetched.
    assert json.loads(p6["provenance"])["owner_id"]["source_updated_at"] == FETCHED.isoformat()


def test_without_a_cursor_the_last_copy_wins_and_chunks_balance(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generic_merge, "CHUNK", 3)  # duplicates straddle the chunk boundaries
    systems = land_system(cursor=False)
    stream = only_stream(systems)
    ensure_declared_tables(engine, systems)
    rows = []
    for n in range(20):
        rows.append(parcel(f"K{n:02d}", None, floors=str(n)))
        if n % 3 == 0:
            rows.append(parcel(f"K{n:02d}", None, floors=str(n + 100)))  # a later copy: it wins
    stage(engine, stream, "r1", rows)

    counts = merge(engine, stream, "r1")
    assert counts == MergeCounts(published=20, unchanged=7)
    assert counts.published + counts.unchanged == len(rows)
    held = golden(engine, stream)
    assert {key: row["floors"] for key, row in held.items()} == {
        f"K{n:02d}": n + 100 if n % 3 == 0 else n for n in range(20)
    }


def test_a_row_without_its_key_is_a_bug_not_a_silent_loss(engine: Engine) -> None:
    systems = land_system(rules=[])
    stream = only_stream(systems)
    ensure_declared_tables(engine, systems)
    stage(engine, stream, "r1", [parcel(None)])
    with pytest.raises(StoreError, match=r"parcel_id\.not_empty"):
        merge(engine, stream, "r1")
    assert golden(engine, stream) == {}
