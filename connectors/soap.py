"""SOAP over zeep, made safe and honest about failure.

One client per external system: the WSDL comes from the endpoint, DTDs, entities
and external references are refused, every operation has a timeout, and the
request carries a WS-Security UsernameToken. Every way a call can fail is turned
into the project's error tree here, once (``lgsp.errors``):

    timeouts, resets, 5xx, 429, truncated/malformed XML  -> TransientSourceError
    client faults, 4xx, DTD/entity in a response          -> FatalSourceError

Bulk reads take zeep's raw response and parse it with lxml (about ten times
faster than zeep's object building), with the same hardened parser.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import requests
from lxml import etree

from connectors.policy import DEFAULT_MAX_RESPONSE_BYTES, origin_of
from connectors.soap_transport import SoapTransport
from connectors.wsse import PasswordType, UsernameTokenWithTimestamp
from connectors.xml_guard import declared_doctype, error_name, is_entity_error
from lgsp.errors import FatalSourceError, SourceError, TransientSourceError

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_TRANSIENT_FAULT_CODES = ("Server",)  # soap:Server.* means "their side, try later"


def hardened_parser() -> etree.XMLParser:
    """An lxml parser that never loads a DTD, expands an entity or touches the network."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=True
    )


class SoapClient:
    """A zeep client bound to one endpoint, converting every failure into our errors."""

    def __init__(
        self,
        *,
        system: str,
        url: str,
        username: str,
        password: str,
        timeout: float,
        password_type: PasswordType = "digest",  # noqa: S107 - the kind of password, not one
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        import zeep

        self.system = system
        self.url = url
        # No redirect followed, a deadline per call and for the WSDL load, every body capped while it
        # streams, and the WSDL's imports confined to the endpoint's origin: see connectors.policy.
        transport = SoapTransport(system=system, url=url, timeout=timeout, max_response_bytes=max_response_bytes)
        # forbid_external would also block the contract's own xsd:import; with DTDs forbidden
        # no external entity can be declared, and the transport above confines imports to the
        # endpoint's origin, which is what "no external references" has to mean here.
        settings = zeep.Settings(
            strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=False, xml_huge_tree=False
        )
        error: SourceError | None = None
        try:
            self._client = zeep.Client(
                f"{url}?wsdl",
                transport=transport,
                settings=settings,
                wsse=UsernameTokenWithTimestamp(username, password, password_type=password_type),
            )
        except Exception as exc:  # noqa: BLE001 - converted here, raised below
            error = _converted(exc, system, "load WSDL")
        if error is not None:
            transport.session.close()
            raise error  # outside the handler: see _converted
        # Call the address we were configured with, whatever the WSDL's soap:address says.
        ports = [port for service in self._client.wsdl.services.values() for port in service.ports.values()]
        if not ports:
            raise FatalSourceError(
                f"{system} load WSDL: the contract at {origin_of(url)} declares no service port; "
                "check that the URL is the SOAP endpoint (its ?wsdl must be a WSDL with a service)",
                system=system,
                operation="load WSDL",
            )
        self._service = self._client.create_service(ports[0].binding.name, url)

    def close(self) -> None:
        """Close the connections kept open to the endpoint (zeep leaves a session it was given open)."""
        self._client.transport.session.close()

    def call(self, operation: str, **params: Any) -> Any:
        """Call an operation and return zeep's objects.

        Raises:
            TransientSourceError: worth retrying.
            FatalSourceError: retrying will not help.
        """
        try:
            return getattr(self._service, operation)(**params)
        except Exception as exc:  # noqa: BLE001 - converted here, raised below
            error = _converted(exc, self.system, operation)
        raise error  # outside the handler: see _converted

    def call_raw(self, operation: str, **params: Any) -> etree._Element:
        """Call an operation and return the SOAP Body's first child, parsed by the hardened parser.

        Raises:
            TransientSourceError: worth retrying.
            FatalSourceError: retrying will not help.
        """
        error: SourceError | None = None
        try:
            with self._client.settings(raw_response=True):
                response = getattr(self._service, operation)(**params)
        except Exception as exc:  # noqa: BLE001 - converted here, raised below
            error = _converted(exc, self.system, operation)
        if error is not None:
            raise error  # outside the handler: see _converted
        return parse_response(response, self.system, operation)


def parse_response(response: requests.Response, system: str, operation: str) -> etree._Element:
    """Check a raw SOAP response and return its Body's first child.

    Raises:
        TransientSourceError: 5xx/429, a server fault, or XML that is cut or malformed.
        FatalSourceError: a client fault, another HTTP error, a DTD or entities (whatever the
            status and whatever the parser made of them), or no SOAP Body.
    """
    status = response.status_code
    retry_after = response.headers.get("Retry-After")
    root = _parse_xml(response.content, system, operation, status, retry_after)
    body = root.find(f"{{{SOAP_ENV}}}Body") if root.tag == f"{{{SOAP_ENV}}}Envelope" else None
    payload = body[0] if body is not None and len(body) else None
    if payload is not None and payload.tag == f"{{{SOAP_ENV}}}Fault":
        raise _fault_error(payload, system, operation)
    if status != 200:  # an HTTP error with a non-SOAP body (a proxy's 503 page, a bare 429)
        raise _http_error(status, retry_after, system, operation)
    if body is None:
        raise FatalSourceError(
            f"{system} {operation}: HTTP {status} without a SOAP 1.1 Envelope/Body; check the endpoint URL",
            system=system,
            operation=operation,
        )
    if payload is None:
        raise FatalSourceError(f"{system} {operation}: empty SOAP Body", system=system, operation=operation)
    return payload


def _parse_xml(
    content: bytes, system: str, operation: str, status: int, retry_after: str | None = None
) -> etree._Element:
    """Parse a peer's document safely and return its root, refusing a DTD whether or not it parsed.

    Raises:
        FatalSourceError: the document declares a DTD or entities (an HTML error page's DOCTYPE aside).
        TransientSourceError: cut or malformed XML on HTTP 200, or an HTTP error status worth retrying.
    """
    try:
        root = etree.fromstring(content, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        # from None: libxml2's message may quote the document (an entity's name, say).
        raise _unparsable(content, status, exc, system, operation, retry_after) from None
    docinfo = root.getroottree().docinfo
    doctype = getattr(docinfo, "doctype", "")  # lxml-stubs lack it
    if (doctype or docinfo.internalDTD is not None) and not _error_page(status, getattr(docinfo, "root_name", "")):
        raise _dtd_error(system, operation)
    return root


def _unparsable(
    content: bytes,
    status: int,
    error: etree.XMLSyntaxError | None,
    system: str,
    operation: str,
    retry_after: str | None = None,
) -> SourceError:
    """Why a peer's document would not parse: a DTD (a contract breach), an HTTP error, or XML cut in transit.

    Billion laughs and friends fail to parse: the DTD is looked for in what the peer sent,
    and in libxml2's reason, never inferred from the failure alone.
    """
    doctype = declared_doctype(content)
    if (error is not None and is_entity_error(error)) or (doctype is not None and not _error_page(status, doctype)):
        return _dtd_error(system, operation)
    if status != 200:  # an HTTP error with a non-SOAP body (a proxy's 503 page, a bare 429)
        return _http_error(status, retry_after, system, operation)
    reason = f"{error_name(error)} at line {error.lineno}" if error is not None else "unparsable"
    return TransientSourceError(
        f"{system} {operation}: the response is not well-formed XML ({reason}); likely cut in transit, will retry",
        system=system,
        operation=operation,
    )


def _error_page(status: int, doctype: str) -> bool:
    """An HTTP error page (a proxy's HTML 503) has a DOCTYPE of its own: its status decides, not the DTD rule."""
    return status != 200 and doctype.lower() == "html"


def _dtd_error(system: str, operation: str) -> FatalSourceError:
    return FatalSourceError(
        f"{system} {operation}: the peer sent a DTD or entity declarations, which we refuse (XXE / entity "
        "expansion); this breaks the contract and is not retried: ask the provider to send plain SOAP",
        system=system,
        operation=operation,
    )


def _fault_error(fault: etree._Element, system: str, operation: str) -> SourceError:
    return _fault(fault.findtext("faultcode") or "", system, operation)


def _fault(faultcode: str, system: str, operation: str) -> SourceError:
    """A SOAP Fault as our error, named by its code only.

    The faultstring is the peer's free text and may echo the request (an id, a name):
    it stays out of messages, which reach logs and the run's record.
    """
    local = faultcode.strip().split(":", 1)[-1]
    message = f"{system} {operation}: SOAP Fault {local}"
    if local.startswith(_TRANSIENT_FAULT_CODES):
        return TransientSourceError(message + " (will retry)", system=system, operation=operation, fault_code=local)
    return FatalSourceError(
        message + ": see the provider's fault codes", system=system, operation=operation, fault_code=local
    )


def _http_error(status: int, retry_after: str | None, system: str, operation: str) -> SourceError:
    message = f"{system} {operation}: HTTP {status}"
    if status in _TRANSIENT_STATUS:
        return TransientSourceError(
            message + " (will retry)", system=system, operation=operation, retry_after=_seconds(retry_after)
        )
    if status in (401, 403):
        return FatalSourceError(message + ": check the credentials", system=system, operation=operation)
    return FatalSourceError(message + ": check the endpoint URL and the contract", system=system, operation=operation)


def _seconds(retry_after: str | None) -> float | None:
    try:
        return float(retry_after) if retry_after is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _converted(exc: Exception, system: str, operation: str) -> SourceError:
    """``exc`` as our error, chained to a stand-in that names its type and place but never quotes it.

    A zeep Fault carries the faultstring and detail, a TransportError the whole response
    body, a requests error the reason phrase: the peer's words, which may name a person.
    The caller raises the result outside its except block, so that neither ``__cause__``
    nor ``__context__`` holds the original, and no traceback prints it.
    """
    error = _convert(exc, system, operation)
    if error is not exc:
        error.__cause__ = _Withheld.of(exc)
    return error


class _Withheld(Exception):
    """Stands in a chain for a library's exception: its type and where it was raised, not its text."""

    @classmethod
    def of(cls, exc: BaseException) -> _Withheld:
        """The stand-in for ``exc``."""
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        return cls(f"{kind}{where}; its message is withheld, as it may quote the peer")


def _convert(exc: Exception, system: str, operation: str) -> SourceError:
    """Turn a zeep/requests/lxml exception into the project's error tree, without quoting it."""
    from zeep import exceptions as zeep_errors

    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, requests.Timeout):
        return TransientSourceError(f"{system} {operation}: timed out", system=system, operation=operation)
    if isinstance(exc, requests.ConnectionError):
        return TransientSourceError(
            f"{system} {operation}: connection failed or was reset", system=system, operation=operation
        )
    if isinstance(exc, requests.HTTPError) and exc.response is not None:  # loading the WSDL or an XSD
        response = exc.response
        return _http_error(response.status_code, response.headers.get("Retry-After"), system, operation)
    if isinstance(exc, zeep_errors.Fault):
        return _fault(str(exc.code or ""), system, operation)
    if isinstance(exc, (zeep_errors.TransportError, zeep_errors.XMLSyntaxError)) and exc.content:
        # zeep could not parse the peer's document (a response, the WSDL): parse_response's verdicts.
        content = exc.content if isinstance(exc.content, bytes) else str(exc.content).encode()
        status = getattr(exc, "status_code", 200)
        return _unparsable(content, status, _lxml_error(exc), system, operation)
    if isinstance(exc, zeep_errors.TransportError):
        return _http_error(exc.status_code, None, system, operation)
    if isinstance(exc, (zeep_errors.DTDForbidden, zeep_errors.EntitiesForbidden)):
        return _dtd_error(system, operation)
    if isinstance(exc, (etree.XMLSyntaxError, zeep_errors.XMLSyntaxError)):
        return TransientSourceError(
            f"{system} {operation}: malformed XML in the response (will retry)", system=system, operation=operation
        )
    return FatalSourceError(
        f"{system} {operation}: unexpected {type(exc).__name__}; the chained stand-in says where",
        system=system,
        operation=operation,
    )


def _lxml_error(exc: BaseException) -> etree.XMLSyntaxError | None:
    """lxml's own error behind zeep's wrappers (zeep raises its own inside the except block)."""
    seen: BaseException | None = exc
    for _ in range(4):  # zeep nests two levels: TransportError <- XMLSyntaxError <- lxml's
        if seen is None or isinstance(seen, etree.XMLSyntaxError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
