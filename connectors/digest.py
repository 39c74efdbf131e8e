"""Content digests: how the hub tells a changed record from a re-delivered one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping


def content_hash_of(values: Mapping[str, str | None], fields: tuple[str, ...]) -> str:
    """Stable digest of the named fields' text (absent and empty count the same)."""
    ordered = [values.get(name) or "" for name in fields]
    return hashlib.sha256(json.dumps(ordered, ensure_ascii=False).encode()).hexdigest()
