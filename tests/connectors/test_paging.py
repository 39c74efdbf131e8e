"""Cursor paging: every page once and in order, the end on a null cursor, a looping server refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from rest_test_server import CURSORS, FlakyApi, flaky_api

from connectors.paging import CursorPager, Page
from connectors.rest import RestClient
from lgsp.errors import FatalSourceError

Fetch = Callable[[str | None], tuple[list[int], str | None]]


def fetch_from(table: dict[str | None, tuple[list[int], str | None]], asked: list[str | None]) -> Fetch:
    def fetch(cursor: str | None) -> tuple[list[int], str | None]:
        asked.append(cursor)
        return table[cursor]

    return fetch


def test_pages_come_in_order_and_stop_on_a_null_cursor() -> None:
    asked: list[str | None] = []
    table = {None: ([1, 2], "a"), "a": ([3], "b"), "b": ([], "c"), "c": ([4], None)}
    pages = list(CursorPager(fetch_from(table, asked)))
    assert pages == [Page(1, [1, 2], "a"), Page(2, [3], "b"), Page(3, [], "c"), Page(4, [4], None)]
    assert asked == [None, "a", "b", "c"]


def test_an_empty_cursor_ends_the_listing_and_start_resumes() -> None:
    asked: list[str | None] = []
    table = {None: ([1], "a"), "a": ([2], "")}
    assert [p.next_cursor for p in CursorPager(fetch_from(table, asked), start="a")] == [None]
    assert asked == ["a"]


def test_a_repeated_cursor_is_refused_before_its_page_is_yielded() -> None:
    secret_cursor = "eyJhZnRlciI6IjAwMTIzNDU2Nzg5MCJ9"  # base64 of a last-seen personal id
    table = {None: ([1], secret_cursor), secret_cursor: ([2], "b"), "b": ([3], secret_cursor)}
    seen: list[Page[int]] = []
    with pytest.raises(FatalSourceError) as caught:
        seen.extend(CursorPager(fetch_from(table, []), system="portal", operation="ListCases"))
    message = str(caught.value)
    assert message.startswith("portal ListCases: the server repeated cursor sha256:")
    assert "on page 3 (first handed out by page 1), refusing to loop" in message
    assert secret_cursor not in message
    assert [page.number for page in seen] == [1, 2]  # page 3 and its looping cursor never reach the caller


def test_the_start_cursor_handed_back_is_a_loop() -> None:
    table = {"s": ([1], "s")}
    with pytest.raises(FatalSourceError, match="first handed out as the start cursor"):
        list(CursorPager(fetch_from(table, []), start="s"))


def test_max_pages_stops_a_listing_that_never_ends() -> None:
    count = iter(range(1_000_000))
    pager = CursorPager(lambda cursor: ([cursor], f"c{next(count)}"), max_pages=5)
    seen: list[Page[str | None]] = []
    with pytest.raises(FatalSourceError, match="more than max_pages=5 pages"):
        seen.extend(pager)
    assert len(seen) == 5
    with pytest.raises(ValueError, match="max_pages"):
        CursorPager(lambda cursor: ([], None), max_pages=0)


@pytest.fixture(scope="module")
def api() -> Iterator[FlakyApi]:
    with flaky_api() as running:
        yield running


@pytest.fixture
def client(api: FlakyApi) -> Iterator[RestClient]:
    api.state.reset()
    with RestClient("test_api", api.base_url, auth=None, timeout=2, max_attempts=2, backoff=0.01) as rest:
        yield rest


def pager_over(client: RestClient) -> CursorPager[str]:
    def fetch(cursor: str | None) -> tuple[list[str], str | None]:
        body = client.get_json("/pages", {"cursor": cursor}, operation="ListItems")
        return body["items"], body["next"]

    return CursorPager(fetch, system="test_api", operation="ListItems")


def test_paging_over_http_reads_every_page(client: RestClient, api: FlakyApi) -> None:
    pages = list(pager_over(client))
    assert [p.number for p in pages] == [1, 2, 3, 4] and pages[-1].next_cursor is None
    assert len({item for page in pages for item in page.items}) == 12
    assert api.state.calls["pages"] == 4


def test_a_server_that_repeats_a_cursor_over_http_is_refused(client: RestClient, api: FlakyApi) -> None:
    api.state.repeat_cursor = True
    with pytest.raises(FatalSourceError, match=r"repeated cursor .* on page 3 .*by page 1") as caught:
        list(pager_over(client))
    assert CURSORS[0] not in str(caught.value)
    assert api.state.calls["pages"] == 3
