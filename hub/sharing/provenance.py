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
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, select

from hub.store.tables import field_conflict
from hub.systems.catalogue import catalogue
from hub.systems.loader import systems_dir

_CHUNK = 500
# The declarations folder is listed and stat'ed at most this often for the authoritative systems: once per
# read it was ~2 % of an API read's CPU; an edited declaration shows within this many seconds.
RECHECK_SECONDS = 1.0
# Built once (per-request statement building cost about what running it does): one person's, and a batch's.
_ONE_CONFLICTS = select(field_conflict.c.personal_id, field_conflict.c.field).where(
    field_conflict.c.status == "open", field_conflict.c.personal_id == bindparam("personal_id")
)
_CONFLICTS = select(field_conflict.c.personal_id, field_conflict.c.field).where(
    field_conflict.c.status == "open", field_conflict.c.personal_id.in_(bindparam("ids", expanding=True))
)


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
    # Rows unpacked, not ``Result.tuples()``: deprecated, it warns on every call (~2 % of a read's CPU).
    if len(ids) == 1:  # an API read: no IN list to expand
        return {(pid, name) for pid, name in conn.execute(_ONE_CONFLICTS, {"personal_id": ids[0]})}
    found: set[tuple[str, str]] = set()
    for start in range(0, len(ids), _CHUNK):
        found.update((pid, name) for pid, name in conn.execute(_CONFLICTS, {"ids": ids[start : start + _CHUNK]}))
    return found


class _Authoritative:
    """The catalogue's authoritative systems, looked up again at most every ``RECHECK_SECONDS`` (or at once when
    the declarations' folder is another)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: tuple[Path, float, frozenset[str]] | None = None  # folder, when checked, the systems

    def get(self) -> frozenset[str]:
        folder, now, seen = systems_dir(), time.monotonic(), self._seen
        if seen is not None and seen[0] == folder and now - seen[1] < RECHECK_SECONDS:
            return seen[2]
        with self._lock:
            # The catalogue is cached per declaration file times; this only spares the listing and stat calls.
            systems = catalogue().authoritative
            self._seen = (folder, now, systems)
            return systems


_authoritative = _Authoritative()


def authoritative_systems() -> frozenset[str]:
    """The systems declared ``authoritative: true`` (as of at most ``RECHECK_SECONDS`` ago)."""
    return _authoritative.get()


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
