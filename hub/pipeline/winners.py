"""Newest version wins: stream a run's passing staging rows, one winner per key, in chunks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, RowMapping, Table, select

from hub.store.tables import audit_finding

CHUNK = 1000


def passing_winners(
    conn: Connection, staging: Table, run_id: str, key: str, version: str
) -> Iterator[tuple[list[RowMapping], int]]:
    """Chunks of (newest passing row per ``key`` by ``version``, how many older copies lost)."""
    failing = select(audit_finding.c.row_id).where(audit_finding.c.run_id == run_id)
    query = (
        select(staging)
        .where(staging.c.run_id == run_id, staging.c.row_id.not_in(failing))
        .order_by(staging.c[key], staging.c[version], staging.c.row_id)
    )
    # Per statement: Connection.execution_options() would turn every later statement server-side too.
    return newest_per_key(conn.execute(query, execution_options={"yield_per": CHUNK}).mappings(), key)


def newest_per_key(rows: Iterable[RowMapping], key: str) -> Iterator[tuple[list[RowMapping], int]]:
    """Chunks of (the last of each run of rows sharing ``key``, how many earlier copies lost).

    ``rows`` come ordered by key, then version (oldest first), so the last of a run is the newest.
    """
    winners: list[RowMapping] = []
    superseded = 0
    previous: RowMapping | None = None
    for row in rows:
        if previous is not None and previous[key] == row[key]:
            superseded += 1  # the same key again, newer: the earlier copy loses
        elif previous is not None:
            winners.append(previous)
            if len(winners) >= CHUNK:
                yield winners, superseded
                winners, superseded = [], 0
        previous = row
    if previous is not None:
        winners.append(previous)
    if winners or superseded:
        yield winners, superseded
