"""A declared stream as a source of pages: what the pipeline stages, whichever protocol the system speaks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from types import TracebackType
from typing import Self

from pydantic import SecretStr

from connectors.auth import Auth
from connectors.declared.auth import rest_auth
from connectors.declared.mapping import DeclaredRecord
from connectors.declared.paging import Ask, Reply, Walk
from connectors.declared.read_ahead import ReadAhead
from connectors.declared.rest_stream import RestStream
from connectors.declared.soap_stream import SoapStream
from connectors.declared.templates import Values, cursor_text, sends_page_size
from connectors.rest import RestClient
from connectors.soap import SoapClient
from lgsp.declaration import SystemDecl
from lgsp.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PageStats:
    """How one page went: the HTTP status, the seconds it took (retries included), the peer's total if it said."""

    status: int
    seconds: float
    total: int | str | None = None


@dataclass(frozen=True, slots=True)
class DeclaredPage:
    """One page of a declared stream: its number in this listing (from 1), its records, how it went."""

    number: int
    records: list[DeclaredRecord]
    stats: PageStats


class DeclaredSource:
    """Reads one stream of one declared system page by page; use as a context manager, or ``close()``."""

    def __init__(
        self,
        system: SystemDecl,
        stream_name: str,
        *,
        url: str,
        login: str,
        password: SecretStr,
        timeout: float,
        max_attempts: int,
        backoff: float,
        max_body_bytes: int,
        page_size: int,
        max_pages: int | None = None,
    ) -> None:
        """Bind to the connection's ``url`` and credentials; a SOAP contract is loaded on the first listing.

        Raises:
            ConfigError: no such stream, a bad setting, or credentials the declared auth cannot use.
        """
        stream = system.streams.get(stream_name)
        if stream is None:
            raise ConfigError(
                f"{system.system} declares no stream {stream_name!r}; declared: {', '.join(system.streams)}"
            )
        if max_pages is not None and max_pages < 1:
            raise ConfigError(f"{system.system}.{stream_name}: max_pages must be at least 1 (or unset for no limit)")
        self.system, self.stream_name, self.stream = system, stream_name, stream
        self.page_size = stream.page_size or page_size
        self._url, self._login, self._password = url, login, password
        self._timeout, self._attempts, self._backoff = timeout, max_attempts, backoff
        self._max_body, self._max_pages = max_body_bytes, max_pages
        self._auth: Auth | None = None
        self._rest: RestClient | None = None
        self._soap: SoapClient | None = None
        self._readers: set[ReadAhead[tuple[int, Reply]]] = set()
        if system.protocol == "soap" and system.auth.kind not in (None, "wsse_username_token"):
            raise ConfigError(
                f"{system.system}: a SOAP system authenticates with wsse_username_token (or declares no auth); "
                f"{system.auth.kind} is for REST"
            )
        if system.protocol == "rest":
            self._auth = rest_auth(
                system.auth, system=system.system, base_url=url, login=login, password=password, timeout=timeout
            )
            self._rest = RestClient(
                system.system,
                url,
                auth=self._auth,
                timeout=timeout,
                max_attempts=max_attempts,
                backoff=backoff,
                max_body_bytes=max_body_bytes,
            )

    def changed_since(self, since: datetime) -> Iterator[DeclaredPage]:
        """Yield the pages of records changed since ``since`` (naive UTC), in order.

        Raises:
            TransientSourceError: the peer is still failing after the retries.
            FatalSourceError: the peer refused us, broke the contract, looped, or the listing passed max_pages.
        """
        yield from self.pages(since)

    def pages(self, since: datetime, max_pages: int | None = None) -> Iterator[DeclaredPage]:
        """As ``changed_since``; ``max_pages`` here takes a sample (stops after that many, no error) for a probe.

        Each page's ``stats`` says its HTTP status, the seconds it took (retries included) and the peer's total.

        Raises:
            ValueError: ``max_pages`` is below 1.
            TransientSourceError: the peer is still failing after the retries.
            FatalSourceError: the peer refused us, broke the contract, looped, or the listing passed max_pages.
        """
        if max_pages is not None and max_pages < 1:
            raise ValueError("a sample is at least one page (max_pages >= 1), or None for the whole listing")
        values = Values(cursor_text(self.stream, since), self.page_size)
        walk = Walk(
            self.stream.next,
            self._fetcher(values),  # here, not in the reader: a contract that will not load is said at once
            page_size=self.page_size if sends_page_size(self.stream) else None,
            max_pages=self._max_pages,
            system=self.system.system,
            operation=self._operation,
        )
        # The next page is fetched and mapped while the caller stages this one (the sample's bound is
        # the reader's too: no page past it is asked for).
        reader = ReadAhead(islice(walk, max_pages), name=f"lgsp-read-{self.system.system}.{self.stream_name}")
        self._readers.add(reader)
        try:
            for number, reply in reader:
                yield DeclaredPage(
                    number, reply.records, PageStats(reply.status, reply.seconds, _shown_total(reply.total))
                )
        finally:
            reader.close()
            self._readers.discard(reader)

    def close(self) -> None:
        """Stop any listing's reader, then close the connections (the API's or SOAP endpoint's, a token endpoint's)."""
        for reader in list(self._readers):
            reader.close()
        if self._rest is not None:
            self._rest.close()
        if self._soap is not None:
            self._soap.close()
        close = getattr(self._auth, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Self:
        """Use as a context manager; closes on exit."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connection pools."""
        self.close()

    @property
    def _operation(self) -> str:
        return self.stream.operation or self.stream_name

    def _fetcher(self, values: Values) -> Callable[[Ask], Reply]:
        if self._rest is not None:
            return RestStream(self._rest, self.stream, self.stream_name, self._url, values)
        return SoapStream(self._soap_client(), self.stream, values, max_attempts=self._attempts, backoff=self._backoff)

    def _soap_client(self) -> SoapClient:
        if self._soap is None:  # the WSDL is loaded here, on the first listing, not when the source is made
            wsse = self.system.auth.wsse_username_token
            self._soap = SoapClient(
                system=self.system.system,
                url=self._url,
                username=self._login,
                password=self._password.get_secret_value(),
                timeout=self._timeout,
                password_type=wsse.password if wsse is not None else "digest",
                max_response_bytes=self._max_body,
            )
        return self._soap


def _shown_total(value: object) -> int | str | None:
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None
