"""The civil-status register (Ministry of Justice, REST): what to call, how to page, how to map.

The wire speaks Vietnamese JSON (``MaSuKien``, ``LoaiSuKien``...); the hub speaks
``schemas.civil_event``. ``WIRE_FIELDS`` and ``map_event`` are the one place where
the two meet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.digest import content_hash_of
from connectors.paging import CursorPager
from connectors.rest import RestClient
from lgsp.errors import FatalSourceError, RejectedRecord
from schemas.civil_event import EVENT_FIELDS

SYSTEM = "civil_status"
EVENT_TYPES = {"KhaiSinh": "birth", "KetHon": "marriage", "KhaiTu": "death"}

# canonical field -> wire name
WIRE_FIELDS: dict[str, str] = {
    "event_id": "MaSuKien",
    "event_type": "LoaiSuKien",
    "personal_id": "SoDinhDanh",
    "spouse_id": "SoDinhDanhVoChong",
    "event_date": "NgaySuKien",
    "commune": "MaXaDangKy",
    "recorded_at": "ThoiDiemGhiNhan",
}


@dataclass(frozen=True)
class WireEvent:
    """One event as received: its raw JSON, its staged text fields, or why it breaks the contract."""

    payload: str
    fields: dict[str, str | None]
    rejection: RejectedRecord | None

    @property
    def content_hash(self) -> str:
        """A digest of the content, to tell a re-delivery from a conflicting one."""
        return (
            content_hash_of(self.fields, EVENT_FIELDS)
            if self.rejection is None
            else content_hash_of({"payload": self.payload}, ("payload",))
        )


@dataclass(frozen=True)
class EventPage:
    """One page of the event feed."""

    number: int
    records: list[WireEvent]
    next_cursor: str | None


def map_event(item: Any) -> WireEvent:
    """Map one wire event to staged canonical text; a contract breach is kept with its reason."""
    payload = json.dumps(item, ensure_ascii=False, sort_keys=True)
    if not isinstance(item, dict):
        rejection = RejectedRecord("contract.valid", "an event is not an object")
        return WireEvent(payload, dict.fromkeys(WIRE_FIELDS), rejection)
    fields: dict[str, str | None] = {}
    for name, wire in WIRE_FIELDS.items():
        value = item.get(wire)
        fields[name] = None if value is None else str(value)
    # An unknown type is kept as sent: the event_type.known rule names it.
    fields["event_type"] = EVENT_TYPES.get(fields["event_type"] or "", fields["event_type"])
    try:
        fields["recorded_at"] = _naive_utc(fields["recorded_at"]).isoformat()
    except ValueError:
        return WireEvent(payload, fields, RejectedRecord("contract.valid", "ThoiDiemGhiNhan is not a date-time"))
    return WireEvent(payload, fields, None)


def _naive_utc(text: str | None) -> datetime:
    value = datetime.fromisoformat((text or "").replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("a date-time without a zone is ambiguous")
    return value.astimezone(UTC).replace(tzinfo=None)


class CivilStatusSource:
    """Reads the civil-status event feed page by page (OAuth2 and retries live in the RestClient)."""

    def __init__(self, client: RestClient, *, page_size: int) -> None:
        self._client = client
        self._page_size = page_size

    def changed_since(self, since: datetime) -> Iterator[EventPage]:
        """Yield pages of events recorded strictly after ``since`` (naive UTC)."""
        since_text = since.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")

        def fetch(cursor: str | None) -> tuple[list[Any], str | None]:
            params = {"since": since_text, "limit": str(self._page_size)}
            if cursor is not None:
                params["cursor"] = cursor
            body = self._client.get_json("/events", params, operation="events")
            return _page_parts(body)

        for page in CursorPager(fetch, system=SYSTEM, operation="events"):
            yield EventPage(
                number=page.number, records=[map_event(item) for item in page.items], next_cursor=page.next_cursor
            )


def _page_parts(body: Any) -> tuple[list[Any], str | None]:
    """``{"items": [...], "next_cursor": ...}``, or a contract error naming what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise FatalSourceError(
            f"{SYSTEM} events: the response has no 'items' list; check the API base URL and the contract",
            system=SYSTEM,
            operation="events",
        )
    cursor = body.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise FatalSourceError(f"{SYSTEM} events: 'next_cursor' is not a string", system=SYSTEM, operation="events")
    return body["items"], cursor
