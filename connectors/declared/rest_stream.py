"""One declared REST stream: requests rendered from the declaration, records found at its JSON path.

GET sends the params (and the paging parameter) in the query; POST sends the rendered
body as JSON with the paging parameter at its top level, and the params in the query.
A next link is followed only within the base URL's origin: a peer that points
elsewhere would have us send our credentials there.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urljoin, urlsplit

from connectors.declared.mapping import RecordMapper
from connectors.declared.paging import Ask, Reply
from connectors.declared.templates import Values
from connectors.policy import origin_of
from connectors.rest import RestClient
from lgsp.declaration import CursorPaging, LinkPaging, OffsetPaging, PagePaging, Stream
from lgsp.errors import FatalSourceError


class RestStream:
    """Fetches one page of one declared REST stream per call: ``stream_fetch(ask) -> Reply``."""

    def __init__(self, client: RestClient, stream: Stream, name: str, base_url: str, values: Values) -> None:
        self._client, self._stream, self._name = client, stream, name
        self._mapper = RecordMapper(stream)
        self._base = base_url.rstrip("/")
        self._origin = origin_of(base_url)
        self._path = str(stream.path)
        self._params = {key: values.render(value) for key, value in stream.params.items()}
        self._body = values.render(stream.body) if stream.body is not None else {}
        self._url = self._base + self._path  # what the last request asked for: relative links resolve against it
        self._records = _path(stream.records)
        paging = stream.next
        self._total = _path(paging.total) if isinstance(paging, PagePaging | OffsetPaging) and paging.total else None
        self._next = (
            _path(paging.link)
            if isinstance(paging, LinkPaging)
            else _path(paging.cursor)
            if isinstance(paging, CursorPaging)
            else None
        )

    def __call__(self, ask: Ask) -> Reply:
        """One request for ``ask``; its records mapped.

        Raises:
            TransientSourceError: still failing after the client's retries.
            FatalSourceError: the request was refused, the records are not a list, or a link leaves the origin.
        """
        params: dict[str, Any] = dict(self._params)
        body: dict[str, Any] | None = dict(self._body) if self._stream.method == "POST" else None
        target = self._path
        if ask.link is not None:
            target, params = ask.link, {}  # a link carries its own query
        elif ask.param is not None:
            (body if body is not None else params)[ask.param] = ask.value
        started = time.perf_counter()
        response = self._client.request(
            self._stream.method,
            target,
            operation=self._name,
            params=params or None,
            json=body,
            json_required=True,
        )
        seconds = time.perf_counter() - started
        self._url = ask.link if ask.link is not None else self._base + self._path
        data = response.json
        items = _at(data, self._records)
        if not isinstance(items, list):
            raise self._fatal(
                f"the response has no list at records: {self._stream.records!r}; check the declared records path "
                "against the contract (use '.' when the body itself is the list)"
            )
        records = [self._mapper.from_json(item) for item in items]
        total = _at(data, self._total) if self._total is not None else None
        following = _at(data, self._next) if self._next is not None else None
        if isinstance(self._stream.next, LinkPaging) and isinstance(following, str) and following:
            following = self._same_origin(following)
        return Reply(records, total, following, response.status, seconds)

    def _same_origin(self, link: str) -> str:
        """The link made absolute, if it stays within the base URL's origin.

        Raises:
            FatalSourceError: it points to another origin (or none we can read).
        """
        absolute = urljoin(self._url, link.strip())
        try:
            origin = origin_of(absolute)
        except ValueError:
            origin = None
        if origin != self._origin or urlsplit(absolute).username is not None:
            where = _printable(origin) if origin else "an unreadable address"
            raise self._fatal(
                f"the next link points to {where}, outside {self._origin}; refusing to follow it (it would carry "
                "our credentials elsewhere). Report it to the provider, or correct the connection's base URL"
            )
        return absolute

    def _fatal(self, text: str) -> FatalSourceError:
        system = self._client.system
        return FatalSourceError(f"{system} {self._name}: {text}", system=system, operation=self._name)


def _path(text: str) -> tuple[str, ...]:
    """A dotted JSON path; ``.`` (or empty) is the body itself."""
    return () if text.strip() in (".", "") else tuple(text.split("."))


def _at(data: Any, path: tuple[str, ...] | None) -> Any:
    if path is None:
        return None
    node = data
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _printable(text: str) -> str:
    shown = "".join(ch for ch in text if ch.isprintable() and not ch.isspace())
    return shown if len(shown) <= 120 else shown[:119] + "…"
