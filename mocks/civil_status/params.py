"""Query parameters of ``GET /events``, checked; errors say what is wrong, never what was sent."""

from __future__ import annotations

import math
import re
from datetime import datetime

from starlette.datastructures import QueryParams

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_CURSOR_LENGTH = 200
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


class InvalidParameter(Exception):
    """A query parameter is missing or wrong; the message is safe to send back."""


def since(query: QueryParams) -> int:
    """``since`` (required, RFC 3339 with an offset) as whole epoch seconds.

    Events carry whole seconds, so "after 10.5" is "after 10".

    Raises:
        InvalidParameter: missing, or not an RFC 3339 date-time with an offset.
    """
    text = query.get("since")
    if text is None:
        raise InvalidParameter("since is required: an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z")
    if not _RFC3339.fullmatch(text):
        raise InvalidParameter("since must be an RFC 3339 date-time with Z or an offset, e.g. 2026-01-01T00:00:00Z")
    try:
        return math.floor(datetime.fromisoformat(text.upper().replace("Z", "+00:00")).timestamp())
    except ValueError as exc:  # well-shaped but impossible, e.g. month 13
        raise InvalidParameter("since is not a valid date-time") from exc


def limit(query: QueryParams) -> int:
    """``limit``: default 100, a whole number 1..1000.

    Raises:
        InvalidParameter: not a whole number in range.
    """
    text = query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit() and len(text) <= 4) or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidParameter(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def cursor(query: QueryParams) -> str | None:
    """``cursor`` as given, or None.

    Raises:
        InvalidParameter: empty or too long to be one of ours.
    """
    text = query.get("cursor")
    if text is not None and not 0 < len(text) <= MAX_CURSOR_LENGTH:
        raise InvalidParameter("cursor must be the next_cursor of the previous page, unchanged")
    return text
