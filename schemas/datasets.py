"""The datasets the hub shares, and the fields an agreement may grant of each.

A dataset is what an agreement, a token scope and a subscription name; its fields are
canonical (English) names. The key field is listed like any other: an agreement that
does not grant it shares no keys.
"""

from __future__ import annotations

from schemas.citizen import CONTENT_FIELDS
from schemas.civil_event import EVENT_FIELDS

CITIZEN = "citizen"
CIVIL_EVENT = "civil_event"

DATASET_FIELDS: dict[str, tuple[str, ...]] = {
    CITIZEN: ("personal_id", *CONTENT_FIELDS),
    CIVIL_EVENT: ("event_id", *EVENT_FIELDS),
}
DATASET_KEYS: dict[str, str] = {CITIZEN: "personal_id", CIVIL_EVENT: "event_id"}
