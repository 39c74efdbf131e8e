"""The declaration format's additions for domain flows: followups after publish (then:), a cursor's overlap,
a field's domain reader (read:); the followup stage runs on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select

from connectors.declared.mapping import RecordMapper
from hub.pipeline import declared
from hub.settings import Settings, load_settings
from hub.store.engine import open_store
from hub.store.tables import sync_run
from lgsp.declaration import Stream, SystemDecl, problems
from lgsp.errors import ConfigError

CALLS: list[tuple[str, str, int]] = []  # (task, run id, sync_run rows the engine saw)


@dataclass(frozen=True)
class Counted:
    """A followup's summary."""

    rows: int

    def as_dict(self) -> dict[str, int]:
        return {"rows": self.rows}


def first(run_id: str, settings: Settings, engine: Engine | None = None) -> Counted:
    """A followup: counts the runs the store holds through the engine it was given."""
    assert engine is not None and isinstance(settings, Settings)
    with engine.connect() as conn:
        rows = int(conn.execute(select(func.count()).select_from(sync_run)).scalar_one())
    CALLS.append(("first", run_id, rows))
    return Counted(rows)


def second(run_id: str, settings: Settings, engine: Engine | None = None) -> Counted:
    """Another followup, run after ``first``."""
    CALLS.append(("second", run_id, -1))
    return Counted(-1)


def shout(value: Any, staged: dict[str, str | None]) -> str:
    """A domain reader: the wire list joined, behind the record's (already staged) code."""
    if not isinstance(value, list):
        raise ValueError("not a list")
    return f"{staged['code']}:" + "+".join(str(item).upper() for item in value)


STREAM: dict[str, Any] = {
    "get": "/items",
    "params": {"since": "{cursor}"},
    "records": "items",
    "cursor": {"field": "updated_at", "from": "2000-01-01T00:00:00Z", "overlap_seconds": 90},
    "dataset": "probe_item",
    "key": "code",
    "fields": {
        "code": "Ma",
        "updated_at": {"from": "CapNhat", "type": "datetime"},
        "parts": {"from": "Phan", "read": "test_declared_followups:shout"},
    },
    "rules": [{"not_empty": "code"}],
    "then": [
        {"task": "route", "run": "test_declared_followups:first", "title": "Count the runs."},
        {"task": "deliver", "run": "test_declared_followups:second", "pool": "national_portal"},
    ],
}


def system(**changes: Any) -> dict[str, Any]:
    return {
        "system": "probe",
        "title": {"vi": "Hệ thống thử", "en": "Probe system"},
        "owner": "Sở Thử",
        "connection": "probe",
        "rest": {"auth": {"api_key": {"header": "X-Api-Key"}}},
        "streams": {"items": {**STREAM, **changes}},
    }


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "systems"
    folder.mkdir()
    (folder / "probe.yaml").write_text(yaml.safe_dump(system(), allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("LGSP_SYSTEMS_DIR", str(folder))
    monkeypatch.setenv("AIRFLOW_CONN_PROBE", "http://api:s3cret@127.0.0.1:9/probe")
    CALLS.clear()
    return folder


def test_followups_run_in_order_with_the_run_id_settings_and_engine(probe: Path, database_url: str) -> None:
    engine = open_store(database_url)
    settings = load_settings(home=probe.parent, database_url=database_url)
    summary = declared.followup("r1", settings, engine, stream="probe.items", task="route")
    assert summary.as_dict() == {"rows": 0} and CALLS == [("first", "r1", 0)]
    CALLS.clear()
    done = declared.followups("r2", settings, engine, stream="probe.items")
    assert list(done) == ["route", "deliver"] and CALLS == [("first", "r2", 0), ("second", "r2", -1)]
    with pytest.raises(ConfigError, match="declares no followup task 'nowhere'; its then: tasks are route, deliver"):
        declared.followup("r3", settings, engine, stream="probe.items", task="nowhere")
    engine.dispose()


def test_a_followup_that_does_not_import_is_named(probe: Path) -> None:
    with pytest.raises(
        ConfigError,
        match="names followup 'test_declared_followups:nowhere', which is no function of an installed module",
    ):
        declared.followup_function("probe.items", "test_declared_followups:nowhere")
    with pytest.raises(ConfigError, match="'test_declared_followups:CALLS', which is no function"):
        declared.followup_function("probe.items", "test_declared_followups:CALLS")  # a list, not callable


def test_followup_tasks_must_be_unique_and_not_a_stage() -> None:
    taken = [{"task": "publish", "run": "a.b:c"}, {"task": "route", "run": "a.b:c"}, {"task": "route", "run": "a.b:d"}]
    found = problems(SystemDecl.model_validate(system(then=taken)))
    assert [(loc[-3:], text) for loc, text in found] == [
        (("then", 0, "task"), "task 'publish' is taken: name each followup task uniquely"),
        (("then", 2, "task"), "task 'route' is taken: name each followup task uniquely"),
    ]
    with pytest.raises(ValueError, match="run"):
        SystemDecl.model_validate(system(then=[{"task": "route", "run": "not a reference"}]))


def test_the_dag_runs_the_followups_after_publish_in_their_pools(probe: Path) -> None:
    from hub.orchestration.declared import stream_doc
    from hub.systems.loader import load_systems, streams

    (item,) = streams(load_systems())
    doc = stream_doc(item)
    assert "**Tasks**: `extract` -> `audit` -> `publish` -> `route` -> `deliver`" in doc
    assert "- `route`: Count the runs. (`test_declared_followups:first`)" in doc
    assert "- `deliver`: domain Python (`test_declared_followups:second`, in the pool `national_portal`)" in doc


def test_the_extract_rereads_the_declared_overlap_before_the_cursor(
    probe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.declared.source import DeclaredSource
    from hub.pipeline.declared import _read_pages, find_stream

    asked: list[datetime] = []

    def changed_since(self: DeclaredSource, since: datetime) -> Any:
        asked.append(since)
        return iter(())

    monkeypatch.setattr(DeclaredSource, "changed_since", changed_since)
    settings = load_settings(home=probe.parent)
    assert list(_read_pages(find_stream("probe.items"), settings, datetime(2026, 1, 1, 0, 0, 0))) == []
    assert asked == [datetime(2025, 12, 31, 23, 58, 30)]  # 90 s before: what the source wrote in that window again
    plain = Stream.model_validate({**STREAM, "cursor": {"field": "updated_at"}})
    assert plain.cursor is not None and plain.cursor.overlap_seconds == 0
    with pytest.raises(ValueError, match="overlap_seconds"):
        Stream.model_validate({**STREAM, "cursor": {"field": "updated_at", "overlap_seconds": -1}})


def test_a_domain_reader_reads_the_wire_value_after_the_plain_fields() -> None:
    mapper = RecordMapper(Stream.model_validate(STREAM))
    mapped = mapper.from_json({"Ma": "A1", "CapNhat": "2026-01-01T07:00:00+07:00", "Phan": ["x", 2]})
    assert mapped.rejection is None
    assert mapped.fields == {"code": "A1", "updated_at": "2026-01-01T00:00:00", "parts": "A1:X+2"}
    assert list(mapped.fields) == ["code", "updated_at", "parts"]
    for wrong in ({"Ma": "A1", "Phan": "x"}, {"Ma": "A1"}):  # the reader is asked about an absent value too
        rejected = mapper.from_json(wrong)
        assert str(rejected.rejection) == "contract.valid: Phan is not readable as declared"
    with pytest.raises(ConfigError, match="is no function of an installed module"):
        RecordMapper(
            Stream.model_validate({**STREAM, "fields": {**STREAM["fields"], "parts": {"from": "P", "read": "x.y:z"}}})
        )
    typed = {**STREAM["fields"], "parts": {"from": "Phan", "read": "test_declared_followups:shout", "type": "integer"}}
    found = problems(SystemDecl.model_validate(system(fields=typed)))
    assert [text for _, text in found] == ["a field with read: is staged as its reader writes it: type text"]
