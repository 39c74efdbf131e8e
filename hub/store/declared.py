"""Storage of declared datasets: staging and golden tables generated from the declarations.

No migration is written per system. A declared stream lands in ``staging_<dataset>``
(one Text column per field: a record that breaks a rule still lands, to be audited
and quarantined) and publishes into ``<dataset>`` (the key, one typed column per
field, the content hash, per-field provenance, the publishing run). From the
declarations ``ensure_declared_tables`` creates what is missing and adds a column a
declaration gained; what it cannot change safely (a stored column's type, the key)
stops with what to do instead. The hub's own tables (hub.store.tables) stay
Alembic's: a dataset named like one is refused unless its stream names the
domain ``merge`` that owns that table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Index,
    Inspector,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from hub.store.tables import RUN_ID, metadata
from hub.systems.loader import Declared, load_systems, streams
from lgsp.declaration import Stream, rule_fields, rule_kind
from lgsp.errors import ConfigError, StoreError

declared_metadata = MetaData(naming_convention=metadata.naming_convention)  # the hub's own: pk_, ix_, uq_

_TYPES: dict[str, Callable[[], TypeEngine[Any]]] = {
    "text": Text,
    "integer": BigInteger,
    "decimal": lambda: Numeric(38, 10),
    "date": Date,
    "datetime": DateTime,
    "boolean": Boolean,
    "personal_id": lambda: String(32),
    "province": lambda: String(8),
    "commune": lambda: String(8),
}
STAGING_COLUMNS = ("row_id", "run_id", "page_no", "contract_error", "content_hash", "payload", "fetched_at")
GOLDEN_COLUMNS = ("content_hash", "provenance", "published_run_id", "published_at")
RESERVED = frozenset(STAGING_COLUMNS + GOLDEN_COLUMNS)


@dataclass(frozen=True)
class _Shape:
    """What of a stream decides its tables: a cache key (the pydantic model holds dicts, so is unhashable)."""

    dataset: str
    key: str
    fields: tuple[tuple[str, str], ...]  # (canonical name, type), in declaration order
    owned_by_merge: bool  # the stream names its own merge: it may own a hub table
    lookups: tuple[str, ...] = ()  # other fields unique_in_run compares rows of a run by (indexed with run_id)

    @classmethod
    def of(cls, stream: Stream) -> _Shape:
        fields = tuple((name, spec.type) for name, spec in stream.fields.items())
        reserved = sorted(name for name, _ in fields if name in RESERVED)
        if reserved:
            raise ConfigError(
                f"dataset {stream.dataset!r}: field(s) {', '.join(reserved)} clash with the columns the hub adds "
                f"({', '.join(sorted(RESERVED))}); rename them under fields: in the declaration"
            )
        lookups = sorted(
            {name for rule in stream.rules if rule_kind(rule) == "unique_in_run" for name in rule_fields(rule)}
            - {stream.key}
        )
        return cls(stream.dataset, stream.key, fields, stream.merge is not None, tuple(lookups))

    @property
    def staging_name(self) -> str:
        return f"staging_{self.dataset}"


_cache: dict[tuple[str, _Shape], Table] = {}
_lock = threading.Lock()


def staging_table(stream: Stream) -> Table:
    """The stream's staging table ``staging_<dataset>``: text columns, one per declared field.

    Raises:
        ConfigError: a field clashes with a staging column, or the name is a hub table the stream does not own.
    """
    shape = _Shape.of(stream)
    hub = _hub_table(shape, shape.staging_name)
    if hub is not None:
        missing = [name for name, _ in shape.fields if name not in hub.c]
        if missing:
            raise ConfigError(
                f"dataset {shape.dataset!r} stages into the hub's {hub.name}, which has no column "
                f"{', '.join(missing)}: map only its columns, or name a dataset of its own"
            )
        return hub
    return _cached("staging", shape, _build_staging)


def dataset_table(stream: Stream) -> Table:
    """The stream's golden table, named after its dataset: the key, typed fields, hash, provenance, run.

    Raises:
        ConfigError: a field clashes with a golden column, or the name is a hub table the stream does not own.
    """
    shape = _Shape.of(stream)
    hub = _hub_table(shape, shape.dataset)
    if hub is not None:
        return hub
    return _cached("golden", shape, _build_golden)


def declared_tables(systems: tuple[Declared, ...] | None = None) -> dict[str, Table]:
    """Every declared dataset's golden table, by dataset name (the stream without a merge of its own decides).

    Raises:
        ConfigError: a declaration is wrong, or its storage collides with the hub's or another dataset's.
    """
    return {table.name: table for table in _storage(systems)[1]}


def ensure_declared_tables(engine: Engine, systems: tuple[Declared, ...] | None = None) -> None:
    """Create every declared table (and index) that is missing; add the columns a declaration gained.

    Raises:
        ConfigError: a stored column's type or a table's key differs from its declaration (a migration
            is needed), or a declaration is wrong.
        StoreError: the database refused the change.
    """
    staging, golden = _storage(systems)
    owned = [table for table in (*staging, *golden) if table.metadata is declared_metadata]
    for attempt in (1, 2):
        try:
            with engine.begin() as conn:
                _ensure(conn, owned)
            return
        except DBAPIError as exc:
            # Two tasks creating the same table at once: the loser sees it exists on the second pass.
            if attempt == 2:
                raise StoreError(
                    f"could not create or extend the declared datasets' tables ({type(exc.orig).__name__}); "
                    "check the store's health and permissions (CREATE, ALTER), then re-run"
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _storage(systems: tuple[Declared, ...] | None) -> tuple[list[Table], list[Table]]:
    """The staging and golden tables of every declared stream, checked against each other and the hub's."""
    staging: dict[str, Table] = {}
    golden: dict[str, Table] = {}
    for declared in streams(systems if systems is not None else load_systems()):
        stage = staging_table(declared.stream)
        staging.setdefault(stage.name, stage)
        gold = dataset_table(declared.stream)
        if gold.name not in golden or declared.stream.merge is None:
            golden[gold.name] = gold  # the stream that owns the dataset (no merge of its own) decides
    clash = sorted(set(staging) & set(golden))
    if clash:
        raise ConfigError(
            f"dataset {clash[0]!r} is named like another dataset's staging table: rename the dataset "
            "(a dataset name never starts with staging_)"
        )
    return list(staging.values()), list(golden.values())


def _hub_table(shape: _Shape, name: str) -> Table | None:
    """The hub's own table of that name, when the stream owns it through its merge; None when it is ours."""
    hub = metadata.tables.get(name)
    if hub is None:
        return None
    if not shape.owned_by_merge:
        raise ConfigError(
            f"dataset {shape.dataset!r} would store into {name}, one of the hub's own tables: name another "
            "dataset, or a merge: (domain Python) that owns that table"
        )
    return hub


def _cached(kind: str, shape: _Shape, build: Callable[[_Shape], Table]) -> Table:
    with _lock:
        table = _cache.get((kind, shape))
        if table is None:
            name = shape.staging_name if kind == "staging" else shape.dataset
            previous = declared_metadata.tables.get(name)
            if previous is not None:  # the declaration changed since: the new shape replaces the old
                declared_metadata.remove(previous)
            table = _cache[(kind, shape)] = build(shape)
        return table


def _build_staging(shape: _Shape) -> Table:
    table = Table(
        shape.staging_name,
        declared_metadata,
        Column("row_id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", RUN_ID, nullable=False, index=True),
        Column("page_no", Integer, nullable=False),
        *(Column(name, Text) for name, _ in shape.fields),
        Column("contract_error", Text),
        Column("content_hash", String(64), nullable=False),
        Column("payload", Text, nullable=False),
        Column("fetched_at", DateTime, nullable=False),
    )
    # The merge and the unique_in_run rule look rows of a run up by key.
    Index(f"ix_{shape.staging_name}_run_key", table.c.run_id, table.c[shape.key])
    # unique_in_run on another field looks each row's value up among the run's: without an index that is
    # quadratic (20,000 rows: 229 s against 1.4 s).
    for name in shape.lookups:
        Index(f"ix_{shape.staging_name}_run_{name}", table.c.run_id, table.c[name])
    return table


def _build_golden(shape: _Shape) -> Table:
    types = dict(shape.fields)
    table = Table(
        shape.dataset,
        declared_metadata,
        Column(shape.key, _TYPES[types[shape.key]](), primary_key=True, autoincrement=False),
        *(Column(name, _TYPES[kind]()) for name, kind in shape.fields if name != shape.key),
        Column("content_hash", String(64), nullable=False),
        # Per-field provenance, JSON: {field: {system, stream, source_updated_at, fetched_at, run_id}}.
        Column("provenance", Text, nullable=False),
        Column("published_run_id", RUN_ID, nullable=False),
        Column("published_at", DateTime, nullable=False),
    )
    Index(f"ix_{shape.dataset}_published_run_id", table.c.published_run_id)  # what one run changed (pushes)
    Index(f"ix_{shape.dataset}_published_at", table.c.published_at)  # the change feed reads by time
    return table


def _ensure(conn: Connection, tables: list[Table]) -> None:
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    for table in tables:
        if table.name not in present:
            table.create(conn)
        else:
            _reconcile(conn, inspector, table)


def _reconcile(conn: Connection, inspector: Inspector, table: Table) -> None:
    """Bring an existing table to its declaration where that is safe; refuse where it is not."""
    fix = (
        "a stored table is changed by a migration: write an Alembic revision that converts it "
        f"(or drop {table.name} if its data can be re-read from the source), or revert the declaration"
    )
    stored_key = inspector.get_pk_constraint(table.name).get("constrained_columns") or []
    declared_key = [column.name for column in table.primary_key]
    if stored_key != declared_key:
        raise ConfigError(
            f"{table.name} is keyed by {', '.join(stored_key) or 'nothing'} in the store, by "
            f"{', '.join(declared_key)} in its declaration; {fix}"
        )
    stored = {column["name"]: column["type"] for column in inspector.get_columns(table.name)}
    operations: Operations | None = None
    for column in table.columns:
        if column.name not in stored:
            operations = operations or Operations(MigrationContext.configure(conn))
            # Nullable: the rows already there have no value for it.
            operations.add_column(table.name, Column(column.name, column.type, nullable=True))
        elif _family(stored[column.name]) != _family(column.type):
            raise ConfigError(
                f"{table.name}.{column.name} is stored as {_family(stored[column.name])}, declared as "
                f"{_family(column.type)}; {fix}"
            )
    indexed = {index["name"] for index in inspector.get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in indexed:
            index.create(conn)


def _family(kind: TypeEngine[Any]) -> str:
    """What a column type stores, in words both backends' reflection agree on."""
    for family, types in _FAMILIES:
        if isinstance(kind, types):
            if family == "text" and not isinstance(kind, Text) and getattr(kind, "length", None):
                return f"varchar({kind.length})"  # type: ignore[attr-defined]
            return family
    return type(kind).__name__.lower()


_FAMILIES: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("boolean", Boolean),
    ("datetime", DateTime),
    ("date", Date),
    ("integer", Integer),
    ("decimal", Numeric),
    ("text", String),
)
