"""Alembic environment: runs migrations on the URL hub.store.migrate puts in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from hub.store.tables import metadata

url = context.config.get_main_option("sqlalchemy.url")
assert url, "hub.store.migrate sets sqlalchemy.url"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
