"""Cursor pagination as an object: pages in order, stopping at the end, refusing a server that loops.

A page is yielded with the cursor of the next one, so a caller can commit the page
and its cursor together and resume from there after a crash. Cursors are opaque and
may encode data (a last-seen id, a date): they are compared by digest and never
printed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from lgsp.errors import FatalSourceError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page: its 1-based number, its items, and the next page's cursor (None on the last page)."""

    number: int
    items: list[T]
    next_cursor: str | None


class CursorPager(Generic[T]):
    """Iterates ``fetch(cursor) -> (items, next_cursor)`` from ``start`` until the cursor is null or empty."""

    def __init__(
        self,
        fetch: Callable[[str | None], tuple[list[T], str | None]],
        *,
        start: str | None = None,
        max_pages: int | None = None,
        system: str = "",
        operation: str = "",
    ) -> None:
        """``start`` resumes a listing; ``max_pages`` guards against a listing that never ends.

        Raises:
            ValueError: ``max_pages`` is below 1.
        """
        if max_pages is not None and max_pages < 1:
            raise ValueError("max_pages must be at least 1 (or None for no limit)")
        self._fetch = fetch
        self._start = start or None
        self._max_pages = max_pages
        self._where = " ".join(part for part in (system, operation) if part) or "paging"
        self._system, self._operation = system, operation

    def __iter__(self) -> Iterator[Page[T]]:
        """Fetch and yield the pages in order (each iteration starts again from ``start``).

        Raises:
            FatalSourceError: the server repeated a cursor, or there are more than ``max_pages`` pages.
        """
        seen: dict[str, int] = {}  # cursor digest -> number of the page that handed it out (0: the start)
        cursor = self._start
        if cursor is not None:
            seen[_digest(cursor)] = 0
        number = 0
        while True:
            if self._max_pages is not None and number >= self._max_pages:
                raise self._fatal(
                    f"more than max_pages={self._max_pages} pages; the pages so far were delivered. "
                    "Raise max_pages, or ask the provider whether the listing ends"
                )
            number += 1
            items, next_cursor = self._fetch(cursor)
            next_cursor = next_cursor or None  # "" ends a listing as null does
            if next_cursor is not None:
                self._refuse_repeat(next_cursor, number, seen)
            yield Page(number, list(items), next_cursor)
            if next_cursor is None:
                return
            cursor = next_cursor

    def _refuse_repeat(self, cursor: str, number: int, seen: dict[str, int]) -> None:
        """Raise before the page is yielded, so the looping cursor is never committed."""
        digest = _digest(cursor)
        first = seen.setdefault(digest, number)
        if first != number:
            origin = "as the start cursor" if first == 0 else f"by page {first}"
            raise self._fatal(
                f"the server repeated cursor sha256:{digest[:12]} on page {number} (first handed out {origin}), "
                "refusing to loop; report the paging bug to the provider"
            )

    def _fatal(self, text: str) -> FatalSourceError:
        return FatalSourceError(f"{self._where}: {text}", system=self._system, operation=self._operation)


def _digest(cursor: str) -> str:
    return hashlib.sha256(cursor.encode()).hexdigest()
