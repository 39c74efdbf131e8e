"""Where a golden field came from, and whether the platform vouches for it.

A field is *verified* when its value came from an authoritative register (a system whose
declaration says ``authoritative: true``: the National Population Database, the
civil-status register) and no open conflict between two sources hangs over it. Agencies
see this next to every value they receive, in the API, in pushes and in prefilled forms,
and can decide whether to ask the citizen anyway.

A declared dataset's values are verified when they came from its own declared system,
the register that dataset belongs to (``declared_fields``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from hub.store.tables import field_conflict
from hub.systems.catalogue import catalogue

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class SourcedValue:
    """One field's value as shared: JSON-ready value, source system, last update at the source, verified."""

    value: Any
    source: str | None
    last_updated: str | None
    verified: bool

    def as_json(self) -> dict[str, Any]:
        """The shape the API and pushes send."""
        return {
            "value": self.value,
            "source": self.source,
            "last_updated": self.last_updated,
            "verified": self.verified,
        }


def open_conflicts(conn: Connection, personal_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(personal_id, field) pairs with an open conflict, for a batch of people."""
    ids = sorted(set(personal_ids))
    found: set[tuple[str, str]] = set()
    for start in range(0, len(ids), _CHUNK):
        found.update(
            conn.execute(
                select(field_conflict.c.personal_id, field_conflict.c.field).where(
                    field_conflict.c.status == "open", field_conflict.c.personal_id.in_(ids[start : start + _CHUNK])
                )
            ).tuples()
        )
    return found


def authoritative_systems() -> frozenset[str]:
    """The systems declared ``authoritative: true`` (the catalogue is cached per declaration file times)."""
    return catalogue().authoritative


def sourced_fields(
    golden: Mapping[str, Any], fields: Iterable[str], conflicts: set[tuple[str, str]]
) -> dict[str, SourcedValue]:
    """The named fields of one golden citizen row, each with its provenance and verified flag.

    ``personal_id`` is the record's key: its source is the record's own (the population database).
    """
    provenance: dict[str, Any] = json.loads(golden["provenance"])
    personal_id = str(golden["personal_id"])
    authoritative = authoritative_systems()
    shared: dict[str, SourcedValue] = {}
    for name in fields:
        stamp = provenance.get("full_name" if name == "personal_id" else name) or {}
        source = stamp.get("system")
        verified = source in authoritative and (personal_id, name) not in conflicts
        shared[name] = SourcedValue(_json_ready(golden[name]), source, stamp.get("source_updated_at"), verified)
    return shared


def declared_fields(
    golden: Mapping[Any, Any], fields: Iterable[str], key: str, source: str | None
) -> dict[str, SourcedValue]:
    """The named fields of one golden row of a declared dataset, each with its provenance.

    ``source``: the dataset's own system, whose values are verified. The key's source is
    the record's own: its stamp, else any field's (the generic merge stamps every field).
    """
    provenance: dict[str, Any] = json.loads(golden["provenance"] or "{}")
    shared: dict[str, SourcedValue] = {}
    for name in fields:
        stamp = provenance.get(name) or (next((s for s in provenance.values() if s), {}) if name == key else {})
        system = stamp.get("system")
        shared[name] = SourcedValue(
            _json_ready(golden[name]), system, stamp.get("source_updated_at"), system is not None and system == source
        )
    return shared


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):  # a decimal field: its plain text, never a float's rounding
        return format(value.normalize(), "f")
    return value
