"""A provenance document merged in part is written back exactly as a whole re-encoding would write it.

``hub.pipeline.golden.SplitProvenance`` keeps the stamps a merge does not read as stored text;
the document it writes must still be the one form every writer stores
(``json.dumps(..., sort_keys=True, ensure_ascii=False)``), or the same provenance would read
as a change.
"""

from __future__ import annotations

import json
from typing import Any

from hub.pipeline.golden import SplitProvenance


def stored(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, ensure_ascii=False)


DOCUMENT = {
    "full_name": {"system": "national_population", "source_updated_at": "2026-01-05T10:00:00", "note": "Nguyễn"},
    "death_date": None,
    "address": {"system": "national_population", "source_updated_at": "2026-01-05T10:00:00", "nested": [1, 2.5]},
    "marital_status": {"system": "civil_status", "source_updated_at": "2026-01-09T08:30:00.123456"},
}


def test_untouched_a_document_is_written_back_as_stored() -> None:
    assert SplitProvenance(stored(DOCUMENT)).encode() == stored(DOCUMENT)


def test_read_and_changed_stamps_are_written_as_a_whole_encoding_would() -> None:
    split = SplitProvenance(stored(DOCUMENT))
    stamps = split.reading(["marital_status", "spouse_id"])
    assert stamps["marital_status"] == DOCUMENT["marital_status"] and "spouse_id" not in stamps
    stamps["marital_status"] = {"system": "civil_status", "source_updated_at": "2026-02-01T00:00:00"}
    stamps["spouse_id"] = {"system": "civil_status", "source_updated_at": "2026-02-01T00:00:00"}  # a new field
    expected = {**DOCUMENT, "marital_status": stamps["marital_status"], "spouse_id": stamps["spouse_id"]}
    assert split.encode() == stored(expected)
    assert json.loads(split.encode()) == expected
