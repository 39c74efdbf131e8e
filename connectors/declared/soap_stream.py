"""One declared SOAP stream: the operation called with its rendered input, records found by local name.

The response is zeep's raw body parsed by the hardened lxml parser (``call_raw``): zeep's
object building costs about ten times lxml's parse, and the records are read by local
name, namespace-agnostic (a register may move its namespace between versions of its contract).
"""

from __future__ import annotations

import time
from typing import Any

from lxml import etree

from connectors.declared.mapping import RecordMapper
from connectors.declared.paging import Ask, Reply
from connectors.declared.templates import Values
from connectors.retry import with_retries
from connectors.soap import SoapClient
from lgsp.declaration import CursorPaging, OffsetPaging, PagePaging, Stream


class SoapStream:
    """Fetches one page of one declared SOAP stream per call: ``stream_fetch(ask) -> Reply``."""

    def __init__(
        self, client: SoapClient, stream: Stream, values: Values, *, max_attempts: int, backoff: float
    ) -> None:
        self._client, self._stream = client, stream
        self._operation = str(stream.operation)
        self._mapper = RecordMapper(stream)
        self._input = {key: values.render(value) for key, value in stream.input.items()}
        self._attempts, self._backoff = max_attempts, backoff
        self._records = _path(stream.records)
        paging = stream.next
        self._total = _path(paging.total) if isinstance(paging, PagePaging | OffsetPaging) and paging.total else None
        self._next = _path(paging.cursor) if isinstance(paging, CursorPaging) else None

    def __call__(self, ask: Ask) -> Reply:
        """One call for ``ask`` (retried on transient failures); its records mapped.

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: a client fault, a refused call, a broken envelope.
        """
        parts: dict[str, Any] = dict(self._input)
        if ask.param is not None:
            parts[ask.param] = ask.value
        started = time.perf_counter()
        body = with_retries(
            lambda: self._client.call_raw(self._operation, **parts), attempts=self._attempts, backoff=self._backoff
        )
        seconds = time.perf_counter() - started
        records = [self._mapper.from_xml(element) for element in _elements(body, self._records)]
        total = _text(body, self._total) if self._total is not None else None
        following = _text(body, self._next) if self._next is not None else None
        return Reply(records, total, following, 200, seconds)


def _path(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split("/") if part)


def _local(tag: Any) -> str | None:
    return tag.rpartition("}")[2] if isinstance(tag, str) else None


def _elements(body: etree._Element, path: tuple[str, ...]) -> list[etree._Element]:
    """The elements at ``path`` under ``body``, by local name (every match at the last step, the first before)."""
    node: etree._Element | None = body
    for part in path[:-1]:
        node = next((child for child in node if _local(child.tag) == part), None) if node is not None else None
    if node is None:
        return []
    last = path[-1]
    return [child for child in node if _local(child.tag) == last]


def _text(body: etree._Element, path: tuple[str, ...]) -> str | None:
    found = _elements(body, path)
    return None if not found else (found[0].text or "").strip()
