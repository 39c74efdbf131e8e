"""Field-level merge into a golden citizen: precedence, provenance, conflicts.

Every source (the population database, the civil-status register) writes golden
fields through ``merge_fields``, so the rules of schemas/precedence.yaml hold
whichever flow runs first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import msgspec
from sqlalchemy import Connection, insert, select, update

from hub.pipeline.precedence import Stamp, decide
from hub.store.tables import field_conflict


@dataclass(frozen=True)
class Provenance:
    """Where a value came from: the per-field stamp stored with the golden record."""

    system: str
    source_updated_at: datetime
    fetched_at: datetime
    run_id: str

    def as_json(self) -> dict[str, str]:
        """The stamp as stored in ``citizen.provenance``."""
        return {
            "system": self.system,
            "source_updated_at": self.source_updated_at.isoformat(),
            "fetched_at": self.fetched_at.isoformat(),
            "run_id": self.run_id,
        }


@dataclass
class FieldMerge:
    """What merging one source's values into one golden record decided."""

    changes: dict[str, Any] = field(default_factory=dict)  # field -> new value
    provenance: dict[str, Any] = field(default_factory=dict)  # the full new provenance document
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # field_conflict rows
    agreements: list[tuple[str, str]] = field(default_factory=list)  # (personal_id, field) two sources agree on


def merge_fields(
    current: Mapping[Any, Any],
    incoming: Mapping[str, Any],
    origin: Provenance,
    now: datetime,
    provenance: dict[str, Any] | None = None,
) -> FieldMerge:
    """Decide, field by field, what of ``incoming`` replaces ``current`` (an existing golden row).

    ``provenance``, when given, is ``current``'s decoded provenance document, updated in place (a caller
    merging several times into one record decodes it once and encodes it once).
    """
    if provenance is None:
        provenance = decode_provenance(current["provenance"])
    merge = FieldMerge(provenance=provenance)
    incoming_stamp = Stamp(origin.system, origin.source_updated_at)
    for name, value in incoming.items():
        held_json = provenance.get(name)
        held = (
            None
            if held_json is None
            else Stamp(held_json["system"], datetime.fromisoformat(held_json["source_updated_at"]))
        )
        differs = current[name] != value
        if not differs and held is not None and held.system != origin.system:
            merge.agreements.append((current["personal_id"], name))
        decision = decide(name, held, incoming_stamp, differs=differs)
        if decision.take_incoming:
            provenance[name] = origin.as_json()
            if differs:
                merge.changes[name] = value
        if decision.conflict and held is not None:
            kept, other = (
                ((value, incoming_stamp), (current[name], held))
                if decision.take_incoming
                else ((current[name], held), (value, incoming_stamp))
            )
            merge.conflicts.append(
                {
                    "personal_id": current["personal_id"],
                    "field": name,
                    "kept_value": _text(kept[0]),
                    "kept_source": kept[1].system,
                    "kept_updated_at": kept[1].source_updated_at,
                    "other_value": _text(other[0]),
                    "other_source": other[1].system,
                    "other_updated_at": other[1].source_updated_at,
                    "run_id": origin.run_id,
                    "detected_at": now,
                    "status": "open",
                }
            )
    return merge


def decode_provenance(text: str) -> dict[str, Any]:
    """A stored provenance document (msgspec decodes it ~2x faster than json, to the same values)."""
    document: dict[str, Any] = msgspec.json.decode(text)
    return document


class SplitProvenance:
    """A stored provenance document whose stamps are decoded only as a merge reads them.

    A merge reads and writes a few fields of a ~2 KB document: the rest stays as stored (``msgspec.Raw``)
    and is copied back as it was, which is ~3x cheaper than decoding and re-encoding it all.
    """

    def __init__(self, text: str) -> None:
        self._held: dict[str, msgspec.Raw] = _SPLIT.decode(text)
        self.stamps: dict[str, Any] = {}  # the fields read so far, decoded, as merges leave them

    def reading(self, names: Iterable[str]) -> dict[str, Any]:
        """The decoded stamps, with those of ``names`` among them; a merge into these fields updates it in place."""
        for name in names:
            if name not in self.stamps and name in self._held:
                self.stamps[name] = msgspec.json.decode(self._held[name])
        return self.stamps

    def encode(self) -> str:
        """The document as ``json.dumps(document, sort_keys=True, ensure_ascii=False)`` writes it (as every
        writer stores it, so a stamp copied as stored is the same text)."""
        parts = []
        for name in sorted(self._held.keys() | self.stamps.keys()):
            text = _json(self.stamps[name]) if name in self.stamps else bytes(self._held[name]).decode()
            parts.append(_name_json(name) + text)
        return "{" + ", ".join(parts) + "}"


_SPLIT = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@lru_cache(maxsize=256)
def _name_json(name: str) -> str:
    return _json(name) + ": "


def record_conflicts(
    conn: Connection,
    conflicts: list[dict[str, Any]],
    agreements: Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> int:
    """Insert conflict rows not recorded before (the same disagreement seen again is one row).

    Open conflicts on a field two sources now agree on are marked resolved.
    """
    _resolve_agreed(conn, agreements, now)
    added = 0
    for row in conflicts:
        seen = conn.execute(
            select(field_conflict.c.conflict_id).where(
                field_conflict.c.personal_id == row["personal_id"],
                field_conflict.c.field == row["field"],
                field_conflict.c.other_source == row["other_source"],
                field_conflict.c.other_updated_at == row["other_updated_at"],
            )
        ).first()
        if seen is None:
            conn.execute(insert(field_conflict).values(**row))
            added += 1
    return added


def _resolve_agreed(conn: Connection, agreements: Sequence[tuple[str, str]], now: datetime | None) -> None:
    """Resolve open conflicts on fields the sources now agree on (one lookup, then only real updates)."""
    people = sorted({personal_id for personal_id, _ in agreements})
    for start in range(0, len(people), 1000):
        open_ids = conn.execute(
            select(field_conflict.c.conflict_id, field_conflict.c.personal_id, field_conflict.c.field).where(
                field_conflict.c.personal_id.in_(people[start : start + 1000]), field_conflict.c.status == "open"
            )
        ).all()
        agreed = set(agreements)
        for conflict_id, personal_id, name in open_ids:
            if (personal_id, name) in agreed:
                conn.execute(
                    update(field_conflict)
                    .where(field_conflict.c.conflict_id == conflict_id)
                    .values(status="resolved", resolved_at=now)
                )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)
