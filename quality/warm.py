"""One throwaway audit, so that a worker's forked tasks start with GX's validation path warm.

GX's first validation in a process costs ~0.17 s of CPU more than the next ones (metric
providers, SQLAlchemy's SQLite and SQL compilation caches, the ephemeral context's stores
set up on first use). An Airflow task is a fresh fork of its worker, so without this each
audit would pay it. `warm_up` runs `quality.runner.validate_run` once on a scratch SQLite
file in a temporary directory: the store is never touched, nothing is kept.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert

from quality.verdicts import Suite, contract_rule


def warm_up() -> None:
    """Validate a two-row scratch table with the audit's own code, then delete it."""
    from quality.runner import validate_run

    staging = Table(
        "warm_staging",
        MetaData(),
        Column("row_id", Integer, primary_key=True),
        Column("run_id", String, nullable=False),
        Column("contract_error", String),
    )
    with tempfile.TemporaryDirectory(prefix="lgsp-warm-") as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'warm.sqlite'}")
        try:
            staging.metadata.create_all(engine)
            with engine.begin() as conn:
                conn.execute(insert(staging), [{"row_id": 1, "run_id": "warm"}, {"row_id": 2, "run_id": "warm"}])
            validate_run(engine, "warm", date(2026, 1, 1), Suite("warm", staging, (contract_rule(),)))
        finally:
            engine.dispose()
