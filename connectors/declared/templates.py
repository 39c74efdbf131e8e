"""A stream's request templates rendered: ``{cursor}`` and ``{page_size}`` in params, a POST body or SOAP input."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lgsp.declaration import Stream, templates_in

_TEMPLATE = re.compile(r"\{(cursor|page_size)\}")


@dataclass(frozen=True, slots=True)
class Values:
    """What the templates stand for in one listing."""

    cursor: str
    page_size: int

    def render(self, value: Any) -> Any:
        """``value`` with its templates filled in; a value that is only ``{page_size}`` becomes the number."""
        if isinstance(value, str):
            if value == "{page_size}":
                return self.page_size
            if "{" not in value:
                return value
            return _TEMPLATE.sub(lambda m: self.cursor if m.group(1) == "cursor" else str(self.page_size), value)
        if isinstance(value, dict):
            return {key: self.render(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.render(item) for item in value]
        return value


def cursor_text(stream: Stream, since: datetime) -> str:
    """``since`` (naive UTC) as the wire's cursor: ``YYYY-MM-DD`` for a date cursor, else RFC 3339 with ``Z``."""
    spec = stream.fields.get(stream.cursor.field) if stream.cursor is not None else None
    if spec is not None and spec.type == "date":
        return since.date().isoformat()
    moment = since if since.tzinfo is None else since.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def sends_page_size(stream: Stream) -> bool:
    """Whether a request tells the peer our page size (only then does a short page mean the end)."""
    return "page_size" in templates_in({**stream.params, **stream.input, "body": stream.body or {}})
