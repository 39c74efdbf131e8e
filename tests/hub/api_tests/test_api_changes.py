"""GET /v1/changes: keyset pages that neither skip nor repeat, opaque cursors, one ledger entry per page."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_support import BHXH_FIELDS, SECRET_RELIGION, Api, person, seed, seed_event
from sqlalchemy import update

from hub import ledger
from hub.keys import LEDGER_KEY, hub_key
from hub.settings import load_settings
from hub.store.tables import citizen

T0 = datetime(2026, 1, 10, 6, 0)
FEED = "/v1/changes?dataset=citizen&purpose=health_insurance"


def people(count: int) -> list[str]:
    """Ids published three at a time (several rows share a publication instant)."""
    ids = [f"0010900{n:05d}" for n in range(count)]
    seed_rows = [person(pid, published_at=T0 + timedelta(minutes=n // 3)) for n, pid in enumerate(ids)]
    return [row["personal_id"] for row in sorted(seed_rows, key=lambda row: (row["published_at"], row["personal_id"]))]


def walk(api: Api, first: str, client_id: str = "bhxh-app") -> tuple[list[str], list[dict[str, Any]]]:
    """Every page from ``first`` on; the personal ids in order, and the pages."""
    pages, ids, response = [], [], api.get(first, client_id)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        ids += [item["fields"]["personal_id"]["value"] for item in page["items"]]
        if not page["has_more"]:
            return ids, pages
        response = api.get(f"{FEED}&limit=7&cursor={page['next_cursor']}", client_id)


def test_pages_cover_every_change_once_in_order(api: Api, tmp_path: Path) -> None:
    expected = people(25)
    seed(api.engine, [person(pid, published_at=T0 + timedelta(minutes=n // 3)) for n, pid in enumerate(expected)])
    before = len(api.ledger())
    ids, pages = walk(api, f"{FEED}&since=2026-01-10T06:00:00Z&limit=7")
    assert ids == expected and [len(page["items"]) for page in pages] == [7, 7, 7, 4]
    assert all(set(item["fields"]) == BHXH_FIELDS for page in pages for item in page["items"])
    assert SECRET_RELIGION not in str(pages)
    entries = api.ledger()[before:]
    key = hub_key(load_settings(home=tmp_path / "home"), LEDGER_KEY)
    assert [entry["record_count"] for entry in entries] == [7, 7, 7, 4]
    assert entries[0]["record_keys"] == ",".join(sorted(ledger.hash_key(key, pid) for pid in expected[:7]))
    assert all(entry["action"] == "change_feed" and entry["dataset"] == "citizen" for entry in entries)

    # A page above the ledger's clear-key limit keeps a digest; an empty page still says where to go on.
    big = api.get(f"{FEED}&since=2026-01-10T06:00:00&limit=25", "bhxh-app").json()
    assert len(big["items"]) == 25 and api.ledger()[-1]["record_keys"].startswith("digest:")
    tail = api.get(f"{FEED}&cursor={big['next_cursor']}", "bhxh-app").json()
    assert tail["items"] == [] and tail["has_more"] is False and tail["next_cursor"]


def test_since_is_inclusive_and_a_changed_record_comes_again(api: Api) -> None:
    ids = people(6)
    seed(api.engine, [person(pid, published_at=T0 + timedelta(minutes=n // 3)) for n, pid in enumerate(ids)])
    page = api.get(f"{FEED}&since=2026-01-10T06:01:00", "bhxh-app").json()
    assert [item["fields"]["personal_id"]["value"] for item in page["items"]] == ids[3:]
    assert page["items"][0]["published_at"] == "2026-01-10T06:01:00Z"
    with api.engine.begin() as conn:
        conn.execute(
            update(citizen).where(citizen.c.personal_id == ids[0]).values(published_at=T0 + timedelta(hours=1))
        )
    later = api.get(f"{FEED}&cursor={page['next_cursor']}", "bhxh-app").json()
    assert [item["fields"]["personal_id"]["value"] for item in later["items"]] == [ids[0]]


def test_a_cursor_is_opaque_and_bound_to_its_feed(api: Api) -> None:
    ids = people(4)
    seed(api.engine, [person(pid, published_at=T0) for pid in ids])
    cursor = api.get(f"{FEED}&since=2026-01-01T00:00:00&limit=2", "bhxh-app").json()["next_cursor"]
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert ids[1].encode() not in decoded and b"2026" not in decoded  # encrypted, not just signed
    tampered = cursor[:-6] + ("A" if cursor[-6] != "A" else "B") + cursor[-5:]
    refusals = {
        "tampered": api.get(f"{FEED}&cursor={tampered}", "bhxh-app"),
        "another purpose": api.get(
            f"/v1/changes?dataset=citizen&purpose=residence_registration&cursor={cursor}", "cong-an-app"
        ),
        "another agency": api.get(f"{FEED}&cursor={cursor}", "cong-an-app"),
        "with since": api.get(f"{FEED}&cursor={cursor}&since=2026-01-01T00:00:00", "bhxh-app"),
        "neither": api.get(FEED, "bhxh-app"),
    }
    for name, response in refusals.items():
        assert response.status_code in (403, 422), name
        if name != "another agency":
            assert response.status_code == 422, name
    assert refusals["another agency"].status_code == 403  # CONG-AN has no health_insurance agreement
    assert api.get(f"{FEED}&cursor={cursor}", "bhxh-app").status_code == 200


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "1e3", "ten"])
def test_limits_outside_1_to_1000_are_refused(shared_api: Api, limit: str) -> None:
    response = shared_api.get(f"{FEED}&since=2026-01-01T00:00:00&limit={limit}", "bhxh-app")
    assert response.status_code == 422 and response.json()["invalid_params"][0]["name"] == "query.limit"


def test_civil_events_have_their_feed(api: Api) -> None:
    seed_event(api.engine, "KS-0002", "001090000011", T0 + timedelta(minutes=1))
    seed_event(api.engine, "KS-0001", "001090000022", T0 + timedelta(minutes=1))
    seed_event(api.engine, "KS-0000", "001090000033", T0)
    response = api.get(
        "/v1/changes?dataset=civil_event&purpose=civil_status_registration&since=2026-01-01T00:00:00", "tu-phap-app"
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["fields"]["event_id"]["value"] for item in items] == ["KS-0000", "KS-0001", "KS-0002"]
    assert items[0]["fields"]["event_type"] == {
        "value": "birth",
        "source": "civil_status",
        "last_updated": "2026-01-03T10:00:00",
        "verified": True,
    }
    assert api.ledger()[-1]["dataset"] == "civil_event" and api.ledger()[-1]["record_count"] == 3


def test_a_cursor_names_its_agency_dataset_and_purpose() -> None:
    from cryptography.fernet import Fernet

    from hub.api.cursor import BadCursor, Position, decode_cursor, encode_cursor

    secret = Fernet.generate_key()
    feed = {"agency": "BHXH", "dataset": "citizen", "purpose": "health_insurance"}
    cursor = encode_cursor(secret, position=Position(T0, "001090000011"), **feed)
    assert decode_cursor(secret, cursor, **feed) == Position(T0, "001090000011")
    for changed in ({"agency": "CONG-AN"}, {"dataset": "civil_event"}, {"purpose": "vaccination"}):
        with pytest.raises(BadCursor):
            decode_cursor(secret, cursor, **{**feed, **changed})
    with pytest.raises(BadCursor):
        decode_cursor(Fernet.generate_key(), cursor, **feed)
