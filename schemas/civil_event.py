"""The canonical civil-status event: a birth, marriage or death registered at a commune."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

EventType = Literal["birth", "marriage", "death"]

# Fields that make up an event's content (the content hash follows this order).
EVENT_FIELDS: tuple[str, ...] = (
    "event_type",
    "personal_id",
    "spouse_id",
    "event_date",
    "commune",
    "recorded_at",
)


@dataclass(frozen=True, slots=True)
class CivilEvent:
    """One event as the civil-status register (Ministry of Justice) recorded it."""

    event_id: str
    event_type: EventType
    personal_id: str  # the subject: the child, one spouse, the deceased
    spouse_id: str | None  # the other spouse, marriages only
    event_date: date
    commune: str  # where it was registered
    recorded_at: datetime  # naive UTC
