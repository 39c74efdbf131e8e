"""Content digests: how the hub tells a changed record from a re-delivered one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

# json.dumps builds an encoder per call when given options: one, built once, writes the same text.
_ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode  # a flat list: no cycles


def content_hash_of(values: Mapping[str, str | None], fields: tuple[str, ...]) -> str:
    """Stable digest of the named fields' text (absent and empty count the same)."""
    ordered = [values.get(name) or "" for name in fields]
    return hashlib.sha256(_ENCODE(ordered).encode()).hexdigest()
