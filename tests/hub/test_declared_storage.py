"""Declared storage: staging and golden tables generated from a declaration, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from declared_helpers import FIELDS, land_system, only_stream
from sqlalchemy import Engine, insert, inspect, select

from hub.store.declared import (
    dataset_table,
    declared_metadata,
    declared_tables,
    ensure_declared_tables,
    staging_table,
)
from hub.store.engine import make_engine, open_store
from hub.store.tables import citizen, metadata, staging_citizen
from lgsp.errors import ConfigError


@pytest.fixture
def engine(database_url: str) -> Any:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def columns(engine: Engine, table: str) -> dict[str, Any]:
    return {column["name"]: column for column in inspect(engine).get_columns(table)}


def test_a_declaration_makes_its_staging_and_golden_tables(engine: Engine) -> None:
    systems = land_system()
    ensure_declared_tables(engine, systems)

    staged = columns(engine, "staging_land_parcel")
    assert list(staged) == [
        "row_id",
        "run_id",
        "page_no",
        *FIELDS,
        "contract_error",
        "content_hash",
        "payload",
        "fetched_at",
    ]
    assert all(staged[name]["type"].python_type is str for name in FIELDS)  # text, whatever the type
    golden = columns(engine, "land_parcel")
    assert list(golden) == [*FIELDS, "content_hash", "provenance", "published_run_id", "published_at"]
    kinds = {name: type(column["type"]).__name__.upper() for name, column in golden.items()}
    assert kinds["area"] == "NUMERIC" and (golden["area"]["type"].precision, golden["area"]["type"].scale) == (38, 10)
    assert kinds["floors"] == "BIGINT" and kinds["registered_on"] == "DATE" and kinds["mortgaged"] == "BOOLEAN"
    assert kinds["updated_at"] in ("DATETIME", "TIMESTAMP")
    assert golden["owner_id"]["type"].length == 32 and golden["commune"]["type"].length == 8
    assert inspect(engine).get_pk_constraint("land_parcel")["constrained_columns"] == ["parcel_id"]
    indexes = {index["name"] for index in inspect(engine).get_indexes("land_parcel")}
    assert indexes == {"ix_land_parcel_published_run_id", "ix_land_parcel_published_at"}
    staged_indexes = {index["name"] for index in inspect(engine).get_indexes("staging_land_parcel")}
    assert staged_indexes == {"ix_staging_land_parcel_run_id", "ix_staging_land_parcel_run_key"}

    assert declared_tables(systems) == {"land_parcel": dataset_table(only_stream(systems).stream)}
    assert declared_metadata.tables["land_parcel"] is dataset_table(only_stream(systems).stream)
    ensure_declared_tables(engine, systems)  # again: nothing to do, nothing fails


def test_unique_in_run_on_another_field_than_the_key_is_indexed(engine: Engine) -> None:
    # Each row's value is looked up among the run's rows: without (run_id, field) that is quadratic.
    systems = land_system(rules=[{"unique_in_run": ["parcel_id", "owner_id"]}])
    ensure_declared_tables(engine, systems)
    staged_indexes = {
        index["name"]: index["column_names"] for index in inspect(engine).get_indexes("staging_land_parcel")
    }
    assert staged_indexes["ix_staging_land_parcel_run_owner_id"] == ["run_id", "owner_id"]
    assert "ix_staging_land_parcel_run_parcel_id" not in staged_indexes  # the key has its own already


def test_a_field_the_declaration_gains_is_added_and_old_rows_stay(engine: Engine) -> None:
    before = land_system()
    ensure_declared_tables(engine, before)
    table = staging_table(only_stream(before).stream)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            {
                "run_id": "r",
                "page_no": 1,
                "parcel_id": "P1",
                "content_hash": "h",
                "payload": "{}",
                "fetched_at": datetime(2025, 1, 1),
            },
        )

    after = land_system({**FIELDS, "land_use": "MucDichSuDung", "valuation": {"from": "GiaTri", "type": "integer"}})
    ensure_declared_tables(engine, after)

    assert {"land_use", "valuation"} <= set(columns(engine, "staging_land_parcel"))
    golden = columns(engine, "land_parcel")
    assert golden["valuation"]["nullable"] and type(golden["valuation"]["type"]).__name__.upper() == "BIGINT"
    with engine.connect() as conn:
        (row,) = conn.execute(select(staging_table(only_stream(after).stream))).mappings()
    assert row["parcel_id"] == "P1" and row["land_use"] is None


def test_a_changed_type_or_key_is_refused_with_what_to_do(engine: Engine) -> None:
    ensure_declared_tables(engine, land_system())

    changed = land_system({**FIELDS, "floors": {"from": "SoTang", "type": "date"}})
    with pytest.raises(ConfigError) as refused:
        ensure_declared_tables(engine, changed)
    said = str(refused.value)
    assert "land_parcel.floors" in said and "integer" in said and "date" in said and "migration" in said

    rekeyed = land_system(key="owner_id")
    with pytest.raises(ConfigError, match=r"land_parcel is keyed by parcel_id in the store, by owner_id"):
        ensure_declared_tables(engine, rekeyed)
    assert list(columns(engine, "land_parcel"))[:2] == ["parcel_id", "owner_id"]  # nothing was changed


def test_a_hub_table_is_refused_unless_the_stream_merges_into_it_itself(engine: Engine) -> None:
    with pytest.raises(ConfigError, match=r"dataset 'citizen' would store into staging_citizen, one of the hub's"):
        staging_table(only_stream(land_system(dataset="citizen")).stream)
    with pytest.raises(ConfigError, match="one of the hub's own tables"):
        ensure_declared_tables(engine, land_system(dataset="quarantine"))

    owned = land_system(
        {
            "personal_id": "SoDinhDanh",
            "full_name": "HoTen",
            "source_updated_at": {"from": "CapNhat", "type": "datetime"},
        },
        dataset="citizen",
        key="personal_id",
        merge="hub.pipeline.citizen_merge:merge_citizens",
        rules=[],
    )
    stream = only_stream(owned).stream
    assert dataset_table(stream) is citizen and staging_table(stream) is staging_citizen
    ensure_declared_tables(engine, owned)  # Alembic's tables: nothing created here
    assert inspect(engine).get_table_names() == []


def test_fields_named_like_the_hubs_columns_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"field\(s\) payload, provenance clash"):
        staging_table(only_stream(land_system({**FIELDS, "payload": "NoiDung", "provenance": "Nguon"})).stream)


def test_upgrade_makes_the_declared_systems_storage(database_url: str, tmp_path: Path) -> None:
    """`lgsp upgrade-db` (open_store) creates every declared dataset's tables, next to Alembic's."""
    engine = open_store(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        declared = declared_tables()
        # Generated, or the hub's own table of a dataset a named merge feeds (civil_event).
        assert declared and all(
            table.metadata is declared_metadata or metadata.tables.get(table.name) is table
            for table in declared.values()
        )
        assert any(table.metadata is declared_metadata for table in declared.values())
        assert set(declared) <= tables
        assert {f"staging_{name}" for name in declared} <= tables
        assert set(metadata.tables) <= tables
    finally:
        engine.dispose()
