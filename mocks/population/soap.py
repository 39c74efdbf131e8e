"""Reading SOAP 1.1 requests safely, and WS-Security UsernameToken checks.

A request is untrusted input: it is parsed with entity resolution, DTD loading and
network access off, and any document carrying a DTD is refused outright, so neither
external entities (XXE) nor entity expansion (billion laughs) can reach us.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from lxml import etree

from mocks.clock import parse_datetime

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = "#PasswordDigest"  # the end of the Password/@Type URI
DIGEST_MAX_AGE = 300  # seconds a PasswordDigest's Created may differ from our clock


class SoapFault(Exception):
    """A fault to send back; messages are fixed texts, never request or personal data."""

    def __init__(self, code: str, message: str, error: str, description: str) -> None:
        """``code`` e.g. "soap:Client.NotFound"; ``error``/``description`` fill tns:LoiChiTiet."""
        super().__init__(message)
        self.code, self.message, self.error, self.description = code, message, error, description


def invalid_request(description: str) -> SoapFault:
    """A soap:Client.InvalidRequest fault."""
    return SoapFault("soap:Client.InvalidRequest", "Invalid request", "InvalidRequest", description)


def authentication_failed() -> SoapFault:
    """A soap:Client.Authentication fault; says nothing about which part was wrong."""
    return SoapFault(
        "soap:Client.Authentication",
        "Authentication failed",
        "Authentication",
        "Thiếu hoặc sai thông tin xác thực WS-Security UsernameToken",
    )


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A parsed envelope: its WS-Security header (if any) and the operation element."""

    security: etree._Element | None
    operation: etree._Element

    @property
    def name(self) -> str:
        """The operation element's local name, e.g. "GetCitizenRequest"."""
        return etree.QName(self.operation).localname

    @property
    def namespace(self) -> str | None:
        """The operation element's namespace URI."""
        return etree.QName(self.operation).namespace


def _parser() -> etree.XMLParser:
    """A parser that resolves nothing and loads nothing (one per request: parsers are not thread-safe)."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )


def parse_request(body: bytes) -> SoapRequest:
    """Parse a SOAP 1.1 envelope.

    Raises:
        SoapFault: not XML, carries a DTD, not a SOAP 1.1 envelope, or an empty Body.
    """
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise invalid_request("Không chấp nhận DTD hoặc khai báo thực thể trong yêu cầu")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise invalid_request("Yêu cầu không phải XML hợp lệ") from exc
    # A DTD in an encoding the byte check cannot see (getattr: lxml-stubs lack DocInfo.doctype).
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise invalid_request("Không chấp nhận DTD hoặc khai báo thực thể trong yêu cầu")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise invalid_request("Yêu cầu phải là SOAP 1.1 Envelope")
    body_element = root.find(f"{{{SOAP_ENV}}}Body")
    operation = next(iter(body_element), None) if body_element is not None else None
    if operation is None or not isinstance(operation.tag, str):
        raise invalid_request("SOAP Body không chứa thao tác")
    security = root.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security")
    return SoapRequest(security=security, operation=operation)


def authenticate(security: etree._Element | None, username: str, password: str) -> None:
    """Check a UsernameToken (PasswordText, or PasswordDigest with a fresh Created).

    Raises:
        SoapFault: soap:Client.Authentication for a missing token or wrong credentials.
    """
    token = security.find(f"{{{WSSE}}}UsernameToken") if security is not None else None
    if token is None:
        raise authentication_failed()
    given_user = token.findtext(f"{{{WSSE}}}Username") or ""
    secret = token.find(f"{{{WSSE}}}Password")
    if secret is None:
        raise authentication_failed()
    digest = (secret.get("Type") or "").endswith(DIGEST_TYPE)
    expected = _digest(token, password) if digest else password.encode()
    # Both comparisons always run, so timing does not tell a wrong user from a wrong password.
    user_ok = hmac.compare_digest(given_user.encode(), username.encode())
    password_ok = expected is not None and hmac.compare_digest((secret.text or "").encode(), expected)
    if not (user_ok and password_ok):
        raise authentication_failed()


def _digest(token: etree._Element, password: str) -> bytes | None:
    """The PasswordDigest we expect: Base64(SHA-1(nonce + created + password)), or None if stale."""
    nonce_text = token.findtext(f"{{{WSSE}}}Nonce")
    created = token.findtext(f"{{{WSU}}}Created")
    if not nonce_text or not created:
        return None
    try:
        nonce = base64.b64decode(nonce_text, validate=True)
        fresh = abs(parse_datetime(created) - time.time()) <= DIGEST_MAX_AGE
    except ValueError:
        return None
    if not fresh:
        return None
    # SHA-1 because the WSS UsernameToken profile prescribes it, not by choice.
    digest = hashlib.sha1(nonce + created.encode() + password.encode()).digest()  # noqa: S324
    return base64.b64encode(digest)
