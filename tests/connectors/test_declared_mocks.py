"""The declared connector against the mocked systems it was declared for: their own declarations, no Python of theirs.

Each declaration in config/systems reads its mock's whole change feed, page by page,
with the demo credentials: every record the mock shows arrives once, and the mock's
defects (which break quality rules, not the wire contract) arrive as valid records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from connectors.declared import DeclaredSource
from hub.systems.loader import load_systems
from lgsp.declaration import SystemDecl
from lgsp.errors import FatalSourceError

SYSTEMS = {declared.decl.system: declared.decl for declared in load_systems()}


def source_for(server: Any, decl: SystemDecl, **options: Any) -> DeclaredSource:
    login, secret = server.settings.demo_credentials()[decl.connection]
    assert decl.demo is not None
    settings: dict[str, Any] = {
        "url": server.base_url + decl.demo.path,
        "login": login,
        "password": secret,
        "timeout": 10.0,
        "max_attempts": 3,
        "backoff": 0.01,
        "max_body_bytes": 4_000_000,
        "page_size": 40,
        **options,
    }
    return DeclaredSource(decl, next(iter(decl.streams)), **settings)


# (system, the mock's dataset attribute, the key's wire attribute on a mock record)
FEEDS = [
    ("social_insurance", "social_insurance", "ma_so_bhxh"),
    ("household_business", "household_business", "so_dang_ky"),
]


@pytest.mark.parametrize(("system", "attribute", "key"), FEEDS)
def test_the_whole_feed_arrives_once_page_by_page(
    mock_server: Callable[..., Any], system: str, attribute: str, key: str
) -> None:
    server = mock_server()
    decl = SYSTEMS[system]
    stream = next(iter(decl.streams.values()))
    with source_for(server, decl) as src:
        pages = list(src.changed_since(datetime(1970, 1, 1)))
    expected = getattr(server, attribute).records(server.app.state.clock.now)
    records = [record for page in pages for record in page.records]
    assert len(pages) == -(-len(expected) // 40) and len(pages) > 1
    assert len(records) == len(expected)
    assert all(record.rejection is None for record in records)
    assert [r.fields[stream.key] for r in records] == [getattr(wire, key) for wire in expected]
    assert pages[0].stats.total == len(pages) or pages[0].stats.total == str(len(pages))
    cursor_field = stream.cursor.field if stream.cursor is not None else stream.key
    assert all(
        (r.fields[cursor_field] or "").count("T") == 1 and not r.fields[cursor_field].endswith("Z")
        for r in records
        if r.fields[cursor_field] is not None
    )  # naive UTC, as staging keeps it


@pytest.mark.parametrize(("system", "attribute", "key"), FEEDS)
def test_since_the_newest_there_is_nothing(
    mock_server: Callable[..., Any], system: str, attribute: str, key: str
) -> None:
    server = mock_server()
    decl = SYSTEMS[system]
    stream = next(iter(decl.streams.values()))
    assert stream.cursor is not None
    with source_for(server, decl) as src:
        newest = max(
            r.fields[stream.cursor.field] or "" for p in src.changed_since(datetime(1970, 1, 1)) for r in p.records
        )
        pages = list(src.changed_since(datetime.fromisoformat(newest)))
    assert [len(p.records) for p in pages] == [0]


@pytest.mark.parametrize("system", ["social_insurance", "household_business"])
def test_a_transient_fault_is_retried(mock_server: Callable[..., Any], system: str) -> None:
    server = mock_server()
    operation = "list_coverages" if system == "social_insurance" else "DanhSachHoKinhDoanh"
    httpx.post(
        f"{server.base_url}/_admin/faults", json={"fault": "http_503", "count": 1, "operation": operation}
    ).raise_for_status()
    with source_for(server, SYSTEMS[system]) as src:
        assert sum(len(p.records) for p in src.changed_since(datetime(1970, 1, 1))) > 0


@pytest.mark.parametrize("system", ["social_insurance", "household_business"])
def test_wrong_credentials_are_fatal(mock_server: Callable[..., Any], system: str) -> None:
    from pydantic import SecretStr

    server = mock_server()
    with pytest.raises(FatalSourceError), source_for(server, SYSTEMS[system], password=SecretStr("wrong")) as src:
        list(src.changed_since(datetime(1970, 1, 1)))
