"""The four declared paging styles as one walk, whatever the protocol, guarded against a peer that loops or lies.

A protocol (REST, SOAP) supplies ``fetch(ask) -> Reply``: one request with the paging
value the walk asks for (``Ask.param``/``Ask.value`` added to the request, or
``Ask.link`` to follow), answered with the page's records and the raw values at the
declared ``total`` and ``next`` paths. The walk decides when the listing ends:

    cursor   until the response's cursor is null or empty (CursorPager: a repeated cursor is refused)
    link     until the next link is null or empty (the protocol checks its origin; a repeated link is refused)
    page     numbers from ``start``; ends at ``total`` pages when declared, else at a short page
    offset   advances by the records received; ends at ``total`` rows when declared, else at a short page
    (either) an empty page ends the listing; a short page (fewer than the page size we sent) ends it only
             when no total is declared, since a peer may cap the page size below ours
    none     one page

Every style refuses a page identical to the one before it (record by record, named by
its digest: a peer that ignores the paging parameter), a ``total`` that is not a non-negative integer, and
more than ``max_pages`` pages; each refusal is raised before the offending page is
yielded, so it is never staged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from connectors.declared.mapping import DeclaredRecord, page_digest
from connectors.paging import CursorPager
from lgsp.declaration import CursorPaging, LinkPaging, OffsetPaging, PagePaging, Paging
from lgsp.errors import FatalSourceError


@dataclass(frozen=True, slots=True)
class Ask:
    """What one request carries for paging: a parameter and its value, or a link to follow (neither: the first)."""

    param: str | None = None
    value: int | str | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """One response: its records, the raw values at the declared ``total`` and ``next`` paths, status and time."""

    records: list[DeclaredRecord]
    total: Any = None
    next: Any = None
    status: int = 200
    seconds: float = 0.0


Fetch = Callable[[Ask], Reply]


class Walk:
    """The pages of one listing, in order: ``for number, reply in Walk(...)``."""

    def __init__(
        self,
        paging: Paging | None,
        fetch: Fetch,
        *,
        page_size: int | None,
        max_pages: int | None,
        system: str,
        operation: str,
    ) -> None:
        """``page_size``: the size sent to the peer (None when the request does not say it: no short-page end).

        Raises:
            ValueError: ``max_pages`` is below 1.
        """
        if max_pages is not None and max_pages < 1:
            raise ValueError("max_pages must be at least 1 (or None for no limit)")
        self._paging, self._fetch = paging, fetch
        self._page_size, self._max_pages = page_size, max_pages
        self._system, self._operation = system, operation

    def __iter__(self) -> Iterator[tuple[int, Reply]]:
        """Fetch and yield (page number from 1, reply) until the listing ends.

        Raises:
            FatalSourceError: a repeated page, cursor or link; a bad ``total``; more than ``max_pages`` pages.
        """
        previous: list[str] | None = None  # the page before's payloads: compared as they are, hashed only to be named
        for number, reply in self._pages():
            if reply.records:
                payloads = [record.payload for record in reply.records]
                if payloads == previous:
                    digest = page_digest(reply.records)
                    raise self.fatal(
                        f"page {number} is the same as page {number - 1} (sha256:{digest[:12]}): the server ignores "
                        "the paging parameter or loops; refusing it. Check the declared next: against the contract, "
                        "or report the paging bug to the provider"
                    )
                previous = payloads
            yield number, reply

    def fatal(self, text: str) -> FatalSourceError:
        """A FatalSourceError naming the system and operation."""
        return FatalSourceError(
            f"{self._system} {self._operation}: {text}", system=self._system, operation=self._operation
        )

    def _pages(self) -> Iterator[tuple[int, Reply]]:
        paging = self._paging
        if isinstance(paging, CursorPaging | LinkPaging):
            yield from self._by_cursor(paging)
        elif isinstance(paging, PagePaging):
            yield from self._numbered(paging)
        elif isinstance(paging, OffsetPaging):
            yield from self._offsets(paging)
        else:
            yield 1, self._fetch(Ask())

    def _by_cursor(self, paging: CursorPaging | LinkPaging) -> Iterator[tuple[int, Reply]]:
        def fetch(cursor: str | None) -> tuple[list[Reply], str | None]:
            if cursor is None:
                ask = Ask()
            elif isinstance(paging, LinkPaging):
                ask = Ask(link=cursor)
            else:
                ask = Ask(param=paging.param, value=cursor)
            reply = self._fetch(ask)
            return [reply], self._cursor(reply.next, paging)

        pager = CursorPager(fetch, max_pages=self._max_pages, system=self._system, operation=self._operation)
        for page in pager:
            yield page.number, page.items[0]

    def _cursor(self, value: Any, paging: CursorPaging | LinkPaging) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        what = f"next link at {paging.link!r}" if isinstance(paging, LinkPaging) else f"cursor at {paging.cursor!r}"
        raise self.fatal(f"the {what} is not a string; check the declared next: against the contract")

    def _numbered(self, paging: PagePaging) -> Iterator[tuple[int, Reply]]:
        number = 0
        while True:
            self._check_bound(number)
            number += 1
            reply = self._fetch(Ask(param=paging.page, value=paging.start + number - 1))
            total = self._total(reply.total, paging.total, "pages")
            yield number, reply
            # A page beyond what total said would be last is never asked for, whatever it would hold.
            if (total is not None and number >= total) or self._short(reply, total is None):
                return

    def _offsets(self, paging: OffsetPaging) -> Iterator[tuple[int, Reply]]:
        number = offset = 0
        while True:
            self._check_bound(number)
            number += 1
            reply = self._fetch(Ask(param=paging.offset, value=offset))
            total = self._total(reply.total, paging.total, "rows")
            offset += len(reply.records)
            yield number, reply
            if (total is not None and offset >= total) or self._short(reply, total is None):
                return

    def _short(self, reply: Reply, by_size: bool) -> bool:
        """An empty page ends a listing; so does a short one, when we told the peer the page size."""
        count = len(reply.records)
        return count == 0 or (by_size and self._page_size is not None and count < self._page_size)

    def _total(self, value: Any, path: str | None, unit: str) -> int | None:
        if path is None:
            return None
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())  # XML carries numbers as text
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            state = "missing" if value is None else "not a non-negative integer"
            raise self.fatal(
                f"the total ({unit}) at {path!r} is {state}; the contract says how many {unit} there are, "
                "so the listing cannot be trusted to end: check the declared next.total against the contract"
            )
        return value

    def _check_bound(self, done: int) -> None:
        if self._max_pages is not None and done >= self._max_pages:
            raise self.fatal(
                f"more than max_pages={self._max_pages} pages; the pages so far were delivered. "
                "Raise max_pages, or ask the provider whether the listing ends"
            )
