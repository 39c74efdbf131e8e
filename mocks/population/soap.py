"""Reading SOAP 1.1 requests safely, and WS-Security UsernameToken checks.

A request is untrusted input: it is parsed with entity resolution, DTD loading and
network access off, and any document carrying a DTD is refused outright, so neither
external entities (XXE) nor entity expansion (billion laughs) can reach us.

WS-Security is checked as a real peer does (`WsseCheck`): a PasswordDigest whose
Created is fresh and whose Nonce has not been seen within the freshness window (a
captured request replayed is refused), and a wsu:Timestamp that has not expired.
A peer configured for PasswordText also accepts the password itself; one configured
for the digest only refuses it and wants the Timestamp too. Every refusal is the
same soap:Client.Authentication fault, which says nothing of what was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from mocks.clock import parse_datetime

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = "#PasswordDigest"  # the end of the Password/@Type URI
DIGEST_MAX_AGE = 300  # seconds a Created (the token's, the Timestamp's) may differ from our clock
CLOCK_SKEW = 60  # seconds a Timestamp's Expires may lie behind our clock: clocks disagree a little
NONCE_MEMORY = 100_000  # nonces remembered at most; beyond, the oldest are forgotten first


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


class NonceMemory:
    """The nonces seen within the freshness window: bounded, and each forgotten once it is too old to replay.

    A nonce is kept for twice DIGEST_MAX_AGE from first sight: a digest is accepted while
    its Created lies within DIGEST_MAX_AGE of our clock, on either side, so a replay
    stops being possible by then. Past NONCE_MEMORY entries the oldest go first, which a
    mock can afford (a real peer would rather refuse new requests than forget).
    """

    def __init__(self, limit: int = NONCE_MEMORY, keep_seconds: float = 2 * DIGEST_MAX_AGE) -> None:
        """At most ``limit`` nonces, each for ``keep_seconds``."""
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # nonce -> first seen, oldest first
        self._limit, self._keep = limit, keep_seconds
        self._lock = threading.Lock()

    def first_use(self, nonce: bytes, now: float) -> bool:
        """Remember ``nonce``; False when it was already seen within the window (a replay)."""
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - self._keep:
                self._seen.popitem(last=False)
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            if len(self._seen) > self._limit:
                self._seen.popitem(last=False)
            return True

    def __len__(self) -> int:
        """How many nonces are remembered."""
        return len(self._seen)


class WsseCheck:
    """One peer's WS-Security check: its user, password, what it accepts, and the nonces it has seen."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        accept_text: bool = True,
        nonces: NonceMemory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``accept_text`` False: a peer that refuses PasswordText and wants a wsu:Timestamp (what real peers do)."""
        self._username, self._password = username, password
        self._accept_text = accept_text
        self._nonces = nonces if nonces is not None else NonceMemory()
        self._clock = clock

    def __call__(self, security: etree._Element | None) -> None:
        """Check the Security header of a request.

        Raises:
            SoapFault: soap:Client.Authentication for a missing token, wrong credentials, a stale
                or missing Created/Timestamp, a replayed nonce, or PasswordText where it is refused.
        """
        now = self._clock()
        token = security.find(f"{{{WSSE}}}UsernameToken") if security is not None else None
        secret = token.find(f"{{{WSSE}}}Password") if token is not None else None
        if security is None or token is None or secret is None:
            raise authentication_failed()
        given_user = token.findtext(f"{{{WSSE}}}Username") or ""
        timestamp = _timestamp_fresh(security, now)
        nonce: bytes | None = None
        if (secret.get("Type") or "").endswith(DIGEST_TYPE):
            nonce, expected = _digest(token, self._password, now)
        else:
            expected = self._password.encode() if self._accept_text else None
        # Both comparisons always run, so timing does not tell a wrong user from a wrong password.
        user_ok = hmac.compare_digest(given_user.encode(), self._username.encode())
        password_ok = expected is not None and hmac.compare_digest((secret.text or "").encode(), expected)
        # A Timestamp sent is always checked; a peer that refuses PasswordText also requires one.
        timestamp_ok = timestamp is True or (timestamp is None and self._accept_text)
        if not (user_ok and password_ok and timestamp_ok):
            raise authentication_failed()
        # Remembered only once the digest is right: a wrong guess cannot burn a client's nonce.
        if nonce is not None and not self._nonces.first_use(nonce, now):
            raise authentication_failed()


def _timestamp_fresh(security: etree._Element, now: float) -> bool | None:
    """Whether the wsu:Timestamp is fresh and unexpired; None when there is none."""
    stamp = security.find(f"{{{WSU}}}Timestamp")
    if stamp is None:
        return None
    created, expires = stamp.findtext(f"{{{WSU}}}Created"), stamp.findtext(f"{{{WSU}}}Expires")
    if not created:
        return False
    try:
        born = parse_datetime(created)
        ends = parse_datetime(expires) if expires else born + DIGEST_MAX_AGE
    except ValueError:
        return False
    return abs(born - now) <= DIGEST_MAX_AGE and ends >= now - CLOCK_SKEW and ends >= born


def _digest(token: etree._Element, password: str, now: float) -> tuple[bytes | None, bytes | None]:
    """(nonce, the PasswordDigest we expect: Base64(SHA-1(nonce + created + password))), or Nones if stale."""
    nonce_text = token.findtext(f"{{{WSSE}}}Nonce")
    created = token.findtext(f"{{{WSU}}}Created")
    if not nonce_text or not created:
        return None, None
    try:
        nonce = base64.b64decode(nonce_text, validate=True)
        fresh = abs(parse_datetime(created) - now) <= DIGEST_MAX_AGE
    except ValueError:
        return None, None
    if not fresh:
        return None, None
    # SHA-1 because the WSS UsernameToken profile prescribes it, not by choice.
    digest = hashlib.sha1(nonce + created.encode() + password.encode()).digest()  # noqa: S324
    return nonce, base64.b64encode(digest)
