"""Create and upgrade the hub's schema with Alembic, from code (no alembic.ini to lose).

The declared datasets' tables are generated from their declarations, not migrated:
after Alembic's upgrade to the newest revision, ``hub.store.declared`` creates them.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from hub.store.declared import ensure_declared_tables

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the store's schema to ``revision`` (idempotent); at the newest, the declared datasets' tables too.

    Raises:
        ConfigError: a declaration is wrong, or its stored tables need a migration.
        StoreError: the database refused to create a declared table.
    """
    command.upgrade(alembic_config(database_url), revision)
    if revision == "head":
        engine = create_engine(database_url)
        try:
            ensure_declared_tables(engine)
        finally:
            engine.dispose()
