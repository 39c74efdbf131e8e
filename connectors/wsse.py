"""WS-Security as SOAP peers expect it: a UsernameToken with PasswordDigest, and a fresh wsu:Timestamp.

The digest is the UsernameToken profile's Base64(SHA-1(nonce + created + password)):
the password never travels, a peer that remembers nonces refuses a captured request
replayed, and one that checks ``Created`` refuses it once stale. The ``wsu:Timestamp``
(Created/Expires) tells the peer how long the message is valid. PasswordText sends
the password itself; it is only for a connection that asks for it
(``wsse_password=text``), for peers that cannot check a digest.

zeep builds the token (``zeep.wsse.username.UsernameToken``); this module adds the
Timestamp, fresh on every request, which zeep's ``timestamp_token`` cannot be (it
is one element, built once).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from lxml import etree

PasswordType = Literal["digest", "text"]
PASSWORD_TYPES: tuple[PasswordType, ...] = get_args(PasswordType)
TIMESTAMP_SECONDS = 300  # how long a message stays valid; peers allow about as much clock skew


class UsernameTokenWithTimestamp:
    """zeep's ``wsse`` plugin: a UsernameToken (digest unless told ``text``) and a wsu:Timestamp per request."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        password_type: PasswordType = "digest",  # noqa: S107 - the kind of password, not one
        valid_seconds: int = TIMESTAMP_SECONDS,
    ) -> None:
        """``password_type`` "text" sends the password itself: only where a connection asks for it.

        Raises:
            ValueError: ``password_type`` is neither "digest" nor "text".
        """
        if password_type not in PASSWORD_TYPES:
            raise ValueError(f"password_type must be one of {', '.join(PASSWORD_TYPES)}")
        self._username, self._password = username, password
        self._digest = password_type == "digest"  # noqa: S105 - the kind of password, not one
        self._valid = timedelta(seconds=valid_seconds)

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> tuple[etree._Element, dict[str, str]]:
        """Add the Security header to an outgoing envelope (zeep calls this once per request)."""
        from zeep.wsse import utils
        from zeep.wsse.username import UsernameToken

        now = datetime.now(UTC).replace(microsecond=0)
        # A new token each time: zeep draws a new Nonce per apply, and Created must be now.
        token = UsernameToken(self._username, self._password, use_digest=self._digest, created=now, zulu_timestamp=True)
        envelope, headers = token.apply(envelope, headers)
        timestamp = utils.WSU.Timestamp(utils.WSU.Created(_xs(now)), utils.WSU.Expires(_xs(now + self._valid)))
        utils.ensure_id(timestamp)
        # First in the header: a peer reading the header in order checks freshness before the token.
        utils.get_security_header(envelope).insert(0, timestamp)
        return envelope, headers

    def verify(self, envelope: etree._Element) -> None:
        """Nothing to check: the peers do not sign their responses."""


def _xs(moment: datetime) -> str:
    """An xs:dateTime in UTC with a Z, as the WSS profile writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
