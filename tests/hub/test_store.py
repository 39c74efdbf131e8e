"""The store: Alembic creates it on SQLite and PostgreSQL, and its errors carry no personal data."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, insert, inspect, select

from hub.store.engine import make_engine, open_store, store_errors
from hub.store.migrate import alembic_config
from hub.store.tables import admin_unit, citizen, metadata
from lgsp.errors import ConfigError, StoreError


def test_migrations_create_every_table_and_seed_reference_data(database_url: str) -> None:
    engine = open_store(database_url)
    open_store(database_url).dispose()  # idempotent
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(admin_unit)).scalar_one() == 3321
    engine.dispose()


def test_downgrade_removes_everything(database_url: str) -> None:
    from alembic import command

    open_store(database_url).dispose()
    command.downgrade(alembic_config(database_url), "base")
    engine = make_engine(database_url)
    assert not set(metadata.tables) & set(inspect(engine).get_table_names())
    engine.dispose()


def test_database_errors_do_not_echo_personal_values(database_url: str) -> None:
    engine = open_store(database_url)
    row = {
        "personal_id": "001199000042",
        "full_name": "Trần Thị Bí Mật",
        "birth_date": date(1990, 1, 1),
        "gender": "female",
        "nationality": "VN",
        "ethnicity": "01",
        "religion": "00",
        "hometown": "Hà Nội",
        "residence_province": "01",
        "residence_commune": "00070",
        "residence_detail": "Số 9",
        "marital_status": "single",
        "source_updated_at": datetime(2025, 1, 1),
        "content_hash": "x",
        "provenance": "{}",
        "published_run_id": "r",
        "published_at": datetime(2025, 1, 1),
    }
    with engine.begin() as conn:
        conn.execute(insert(citizen), [row])
    with pytest.raises(StoreError) as caught, store_errors("publish"), engine.begin() as conn:
        conn.execute(insert(citizen), [row])
    message = str(caught.value)
    assert "IntegrityError" in message or "UniqueViolation" in message
    assert "Bí Mật" not in message and "001199000042" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    engine.dispose()


def test_unsupported_database_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unsupported database"):
        make_engine("mysql://x@localhost/db")


def test_the_population_streams_cursor_runs_and_quarantine_follow_its_declared_name(database_url: str) -> None:
    """0008: a store the hand-written flow wrote continues from its cursor under the declared stream's name."""
    from alembic import command

    from hub.store.migrate import upgrade
    from hub.store.tables import quarantine, sync_run, sync_state

    command.upgrade(alembic_config(database_url), "0007")
    engine = make_engine(database_url)
    now = datetime(2026, 12, 1)
    with engine.begin() as conn:
        conn.execute(
            insert(sync_state),
            {"stream": "population.citizens", "cursor": "2026-11-30T00:00:00", "run_id": "r1", "updated_at": now},
        )
        conn.execute(
            insert(sync_run),
            {
                "run_id": "r1",
                "stream": "population.citizens",
                "status": "published",
                "started_at": now,
                "pages": 1,
                "read": 1,
                "published": 1,
                "quarantined": 0,
                "unchanged": 0,
            },
        )
        conn.execute(
            insert(quarantine),
            {
                "stream": "population.citizens",
                "run_id": "r1",
                "rules": "gender.valid",
                "payload": "<CongDan/>",
                "payload_hash": "0" * 64,
                "quarantined_at": now,
                "last_seen_run_id": "r1",
                "status": "open",
            },
        )
    upgrade(database_url)
    with engine.connect() as conn:
        for table in (sync_state, sync_run, quarantine):
            assert set(conn.execute(select(table.c.stream)).scalars()) == {"national_population.citizens"}
    command.downgrade(alembic_config(database_url), "0007")
    with engine.connect() as conn:
        assert conn.execute(select(sync_state.c.stream)).scalar_one() == "population.citizens"
    engine.dispose()
