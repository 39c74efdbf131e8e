"""Many rows in one go, by the driver's own bulk path rather than SQLAlchemy's per-row parameter handling.

SQLAlchemy's per-statement parameter processing was most of staging's and publish's own
CPU. Values still pass the column types' bind processors of the dialect, so they are
stored exactly as Core would store them (SQLite's DATETIME text form, for one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.sql.dml import UpdateBase


def bulk_insert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows (all with the same keys) in ``conn``'s transaction: COPY on PostgreSQL, else executemany."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        preparer = conn.dialect.identifier_preparer
        names = list(rows[0])
        target = f"{preparer.format_table(table)} ({', '.join(preparer.quote(name) for name in names)})"
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
        return
    execute_many(conn, insert(table), rows)


def execute_many(conn: Connection, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run an INSERT or UPDATE once per row (all with the same keys) as one executemany of the raw cursor."""
    if not rows:
        return
    dialect = conn.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
    names = list(compiled.positiontup or compiled.bind_names.values())
    processors = [
        (index, process)
        for index, name in enumerate(names)
        # The dialect's own type: a generic DateTime has no processor, SQLite's DATETIME writes its text form.
        if (process := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    values = [[row[name] for name in names] for row in rows]
    for line in values:
        for index, process in processors:
            if line[index] is not None:
                line[index] = process(line[index])
    raw: Any = conn.connection.driver_connection
    if compiled.positiontup is None:  # named parameters (psycopg): a mapping per row
        raw.cursor().executemany(str(compiled), [dict(zip(names, line, strict=True)) for line in values])
    else:
        raw.executemany(str(compiled), values)
