"""SOAP over zeep, made safe and honest about failure.

One client per external system: the WSDL comes from the endpoint, DTDs, entities
and external references are refused, every operation has a timeout, and the
request carries a WS-Security UsernameToken. Every way a call can fail is turned
into the project's error tree here, once (``connectors.errors``):

    timeouts, resets, 5xx, 429, truncated/malformed XML  -> TransientSourceError
    client faults, 4xx, DTD/entity in a response          -> FatalSourceError

Bulk reads take zeep's raw response and parse it with lxml (about ten times
faster than zeep's object building), with the same hardened parser.
"""

from __future__ import annotations

from typing import Any

import requests
from lxml import etree

from connectors.errors import FatalSourceError, SourceError, TransientSourceError
from connectors.policy import DEFAULT_MAX_RESPONSE_BYTES
from connectors.soap_transport import SoapTransport

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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        import zeep
        from zeep.wsse.username import UsernameToken

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
        try:
            self._client = zeep.Client(
                f"{url}?wsdl", transport=transport, settings=settings, wsse=UsernameToken(username, password)
            )
        except Exception as exc:
            raise _convert(exc, system, "load WSDL") from exc
        # Call the address we were configured with, whatever the WSDL's soap:address says.
        binding = next(iter(next(iter(self._client.wsdl.services.values())).ports.values())).binding
        self._service = self._client.create_service(binding.name, url)

    def call(self, operation: str, **params: Any) -> Any:
        """Call an operation and return zeep's objects.

        Raises:
            TransientSourceError: worth retrying.
            FatalSourceError: retrying will not help.
        """
        try:
            return getattr(self._service, operation)(**params)
        except Exception as exc:
            raise _convert(exc, self.system, operation) from exc

    def call_raw(self, operation: str, **params: Any) -> etree._Element:
        """Call an operation and return the SOAP Body's first child, parsed by the hardened parser.

        Raises:
            TransientSourceError: worth retrying.
            FatalSourceError: retrying will not help.
        """
        try:
            with self._client.settings(raw_response=True):
                response = getattr(self._service, operation)(**params)
        except Exception as exc:
            raise _convert(exc, self.system, operation) from exc
        return parse_response(response, self.system, operation)


def parse_response(response: requests.Response, system: str, operation: str) -> etree._Element:
    """Check a raw SOAP response and return its Body's first child.

    Raises:
        TransientSourceError: 5xx/429, a server fault, or XML that is cut or malformed.
        FatalSourceError: a client fault, another HTTP error, a DTD, or no SOAP Body.
    """
    status = response.status_code
    retry_after = response.headers.get("Retry-After")
    try:
        body = _parse_xml(response.content, system, operation, status)
    except SourceError:
        if status != 200:  # an HTTP error with a non-SOAP body (a proxy's 503 page, a bare 429)
            raise _http_error(status, retry_after, system, operation) from None
        raise
    payload = body[0] if len(body) else None
    if payload is not None and payload.tag == f"{{{SOAP_ENV}}}Fault":
        raise _fault_error(payload, system, operation)
    if status != 200:
        raise _http_error(status, retry_after, system, operation)
    if payload is None:
        raise FatalSourceError(f"{system} {operation}: empty SOAP Body", system=system, operation=operation)
    return payload


def _parse_xml(content: bytes, system: str, operation: str, status: int) -> etree._Element:
    """Parse an envelope safely and return its Body element."""
    try:
        root = etree.fromstring(content, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise TransientSourceError(
            f"{system} {operation}: the response is not well-formed XML ({exc.msg}); likely cut in transit, will retry",
            system=system,
            operation=operation,
        ) from exc
    doctype = getattr(root.getroottree().docinfo, "doctype", "")  # lxml-stubs lacks it
    if doctype:
        raise FatalSourceError(
            f"{system} {operation}: the response carries a DTD, which we refuse (XXE / entity expansion); "
            "ask the provider to send plain SOAP",
            system=system,
            operation=operation,
        )
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if root.tag != f"{{{SOAP_ENV}}}Envelope" or body is None:
        raise FatalSourceError(
            f"{system} {operation}: HTTP {status} without a SOAP 1.1 Envelope/Body; check the endpoint URL",
            system=system,
            operation=operation,
        )
    return body


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


def _convert(exc: Exception, system: str, operation: str) -> SourceError:
    """Turn a zeep/requests/lxml exception into the project's error tree."""
    from zeep import exceptions as zeep_errors

    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, requests.Timeout):
        return TransientSourceError(f"{system} {operation}: timed out", system=system, operation=operation)
    if isinstance(exc, requests.ConnectionError):
        return TransientSourceError(
            f"{system} {operation}: connection failed or was reset", system=system, operation=operation
        )
    if isinstance(exc, zeep_errors.Fault):
        return _fault(str(exc.code or ""), system, operation)
    if isinstance(exc, zeep_errors.TransportError):
        return _http_error(exc.status_code, None, system, operation)
    if isinstance(exc, (zeep_errors.DTDForbidden, zeep_errors.EntitiesForbidden)):
        return FatalSourceError(
            f"{system} {operation}: the document carries a DTD or entity, which we refuse",
            system=system,
            operation=operation,
        )
    if isinstance(exc, (etree.XMLSyntaxError, zeep_errors.XMLSyntaxError)):
        return TransientSourceError(
            f"{system} {operation}: malformed XML in the response (will retry)", system=system, operation=operation
        )
    return FatalSourceError(
        f"{system} {operation}: unexpected {type(exc).__name__}; see the chained error",
        system=system,
        operation=operation,
    )
