"""The set-based citizen merge writes exactly what the per-row merge wrote: values, stamps, counts."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, insert, select, text

from hub.pipeline import citizen_merge
from hub.pipeline.citizen_merge import merge_citizens
from hub.pipeline.golden import Provenance
from hub.pipeline.stages import MergeCounts
from hub.pipeline.staging import bulk_insert
from hub.store.engine import open_store
from hub.store.tables import audit_finding, citizen, staging_citizen
from schemas.citizen import CONTENT_FIELDS

RUN, NOW = 'run-"quoted"-ă', datetime(2026, 3, 1, 8, 0, 0, 250000)


def _row(personal_id: str, updated: str, fetched_at: datetime, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {name: "x" for name in CONTENT_FIELDS}
    row.update(
        birth_date="1990-05-17",
        death_date="",
        father_id="",
        mother_id=None,
        spouse_id="",
        full_name="Nguyễn Văn An",
        marital_status="single",
    )
    row.update(fields)
    return {
        "run_id": RUN,
        "page_no": 1,
        "personal_id": personal_id,
        **row,
        "source_updated_at": updated,
        "contract_error": None,
        "content_hash": hashlib.sha256(json.dumps([personal_id, updated, sorted(fields.items())]).encode()).hexdigest(),
        "payload": "<CongDan/>",
        "fetched_at": fetched_at,
    }


@pytest.fixture
def engine(database_url: str) -> Engine:
    return open_store(database_url)


def test_new_people_get_typed_values_and_the_stamp_the_per_row_merge_wrote(engine: Engine) -> None:
    whole, fraction = datetime(2026, 3, 1, 7, 0, 0), datetime(2026, 3, 1, 7, 0, 0, 123456)
    rows = [
        _row("001090000001", "2026-01-02T03:04:05", whole),
        _row("001090000002", "2026-01-02T03:04:05.000001", fraction, death_date="2026-02-01", father_id="0010"),
        _row("001090000003", "2026-01-01T00:00:00", whole),  # an older copy of the next row: it loses
        _row("001090000003", "2026-01-03T00:00:00", whole, full_name="Newer"),
        _row("001090000004", "2026-01-03T00:00:00", whole, full_name="Fails a rule"),
    ]
    with engine.begin() as conn:
        bulk_insert(conn, staging_citizen, rows)  # as extract stages them
        ids = conn.execute(select(staging_citizen.c.row_id).order_by(staging_citizen.c.row_id)).scalars().all()
        conn.execute(insert(audit_finding).values(run_id=RUN, row_id=ids[4], rule="some.rule"))
        counts = merge_citizens(conn, RUN, NOW)
    assert (counts.published, counts.unchanged) == (3, 1)
    with engine.connect() as conn:
        golden = {row.personal_id: row for row in conn.execute(select(citizen))}
    assert set(golden) == {"001090000001", "001090000002", "001090000003"}
    for staged in (rows[0], rows[1], rows[3]):
        held = golden[staged["personal_id"]]
        updated = datetime.fromisoformat(staged["source_updated_at"])
        stamp = Provenance("national_population", updated, staged["fetched_at"], RUN).as_json()
        assert json.loads(held.provenance) == dict.fromkeys(CONTENT_FIELDS, stamp)
        assert held.provenance == json.dumps(json.loads(held.provenance), sort_keys=True, ensure_ascii=False)
        assert held.source_updated_at == updated
        assert (held.published_run_id, held.published_at, held.content_hash) == (RUN, NOW, staged["content_hash"])
    assert golden["001090000003"].full_name == "Newer"
    assert golden["001090000001"].death_date is None and golden["001090000001"].father_id is None
    assert golden["001090000002"].death_date == date(2026, 2, 1) and golden["001090000002"].father_id == "0010"
    assert golden["001090000001"].birth_date == date(1990, 5, 17)


def test_known_people_count_unchanged_by_hash_and_older_versions_and_merge_changes(engine: Engine) -> None:
    first = datetime(2026, 3, 1, 7, 0, 0)
    with engine.begin() as conn:
        conn.execute(
            insert(staging_citizen), [_row(f"00109000000{n}", "2026-01-02T00:00:00", first) for n in (1, 2, 3)]
        )
        merge_citizens(conn, RUN, NOW)
        conn.execute(staging_citizen.delete())
        again = [
            _row("001090000001", "2026-01-02T00:00:00", first),  # the same content: unchanged
            _row("001090000002", "2026-01-05T00:00:00", first, full_name="Renamed"),  # a change
            _row("001090000003", "2026-01-01T00:00:00", first, full_name="Older"),  # older than held: unchanged
        ]
        conn.execute(insert(staging_citizen), again)
        counts = merge_citizens(conn, RUN, NOW)
    assert (counts.published, counts.unchanged) == (1, 2)
    with engine.connect() as conn:
        names = dict(conn.execute(select(citizen.c.personal_id, citizen.c.full_name)).all())
    assert names == {"001090000001": "Nguyễn Văn An", "001090000002": "Renamed", "001090000003": "Nguyễn Văn An"}


def _first_load(engine: Engine) -> None:
    """Stage the first test's rows for a store's first publish, one of them failing a rule (committed)."""
    whole = datetime(2026, 3, 1, 7, 0, 0)
    rows = [_row(f"00109000000{n}", "2026-01-02T03:04:05", whole, full_name=f"Person {n}") for n in range(1, 6)]
    rows.append(_row("001090000003", "2026-01-01T00:00:00", whole))  # an older copy: it loses
    with engine.begin() as conn:
        bulk_insert(conn, staging_citizen, rows)
        failing = conn.execute(select(func.max(staging_citizen.c.row_id))).scalar_one()
        conn.execute(insert(audit_finding).values(run_id=RUN, row_id=failing - 1, rule="some.rule"))


def _schema(conn: Connection) -> tuple[Any, ...]:
    columns = conn.execute(text("SELECT name, type, \"notnull\", pk FROM pragma_table_info('citizen')")).all()
    indexes = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'citizen'"))
    tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'lgsp_load%'"))
    return tuple(columns), sorted(indexes.scalars()), tables.scalars().all()


def test_a_first_load_written_aside_in_chunks_is_unseen_until_switched_in_and_is_what_one_insert_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aside, whole = (
        open_store(f"sqlite:///{tmp_path / 'aside.sqlite'}"),
        open_store(f"sqlite:///{tmp_path / 'one.sqlite'}"),
    )
    for engine in (aside, whole):
        _first_load(engine)
    with aside.begin() as conn:  # what a run retired before it could publish left behind
        conn.execute(text("CREATE TABLE lgsp_loaded_citizen_0123456789abcdef (personal_id TEXT)"))
    monkeypatch.setattr(citizen_merge, "_LOAD_CHUNK", 2)  # three committed chunks for five people
    citizen_merge.load_aside(aside, RUN, NOW)
    with aside.connect() as conn:
        assert conn.execute(select(func.count()).select_from(citizen)).scalar_one() == 0  # nobody sees it yet
        assert len(_schema(conn)[2]) == 1
    counts = {}
    for name, engine in (("aside", aside), ("whole", whole)):
        with engine.begin() as conn:  # the merge is the transaction's first statement: DDL must not autocommit
            counts[name] = citizen_merge.merge_citizens(conn, RUN, NOW)
    assert counts["aside"] == counts["whole"] == MergeCounts(published=4, unchanged=1)
    with aside.connect() as one, whole.connect() as other:
        ordered = select(citizen).order_by(citizen.c.personal_id)
        assert one.execute(ordered).all() == other.execute(ordered).all()
        assert _schema(one) == _schema(other)  # the same columns, key and indexes; no load table left behind
        assert _schema(one)[2] == []


def test_a_load_aside_survives_a_failed_publish_and_is_dropped_once_citizen_is_no_longer_empty(
    tmp_path: Path,
) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    _first_load(engine)
    citizen_merge.load_aside(engine, RUN, NOW)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        citizen_merge.merge_citizens(conn, RUN, NOW)
        raise RuntimeError("the publish transaction fails after the switch")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(citizen)).scalar_one() == 0
        assert "ix_citizen_published_at" in _schema(conn)[1]
        assert len(_schema(conn)[2]) == 1  # rolled back with the rest: the retry may still switch it in
    with engine.begin() as conn:  # meanwhile someone published a person: the load no longer fits an empty table
        bulk_insert(conn, staging_citizen, [{**_row("001099999999", "2026-01-02T00:00:00", NOW), "run_id": "other"}])
        merge_citizens(conn, "other", NOW)
    with engine.begin() as conn:
        assert citizen_merge.merge_citizens(conn, RUN, NOW) == MergeCounts(published=4, unchanged=1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(citizen)).scalar_one() == 5
        assert _schema(conn)[2] == []
