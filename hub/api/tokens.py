"""Access tokens: short-lived JWTs signed with HS256 under the hub's API signing key.

A token says who (``sub``: the client id, ``agency``, ``role``), what it may ask for
(``scope``: datasets, or ``consent`` for the registrar), for whom it was made (``iss``,
``aud``) and when it ends (``iat``, ``exp``, ``jti``). Verification pins the algorithm
(so ``alg: none`` and key-confusion tricks fail), the header type (RFC 9068
``at+jwt``), the issuer and the audience, requires every claim, and checks the expiry
against the hub's clock with no leeway: the hub both issues and checks, so there is no
skew to forgive.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import jwt

ISSUER = "urn:lgsp:hub"
AUDIENCE = "urn:lgsp:hub:api"
ALGORITHM = "HS256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - the JWT "typ" of access tokens (RFC 9068)
MAX_TOKEN_CHARS = 4096
_REQUIRED = ("iss", "aud", "sub", "agency", "role", "scope", "iat", "exp", "jti")


class TokenError(Exception):
    """The token is missing, malformed, forged or expired; the message is safe to send back."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as a verified token says."""

    client_id: str
    agency_code: str
    role: str
    scopes: frozenset[str]
    token_id: str


def issue(principal: Principal, *, key: bytes, now: datetime, lifetime_seconds: int) -> str:
    """A signed token for ``principal`` valid from ``now`` for ``lifetime_seconds``."""
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": principal.client_id,
        "agency": principal.agency_code,
        "role": principal.role,
        "scope": " ".join(sorted(principal.scopes)),
        "iat": issued,
        "exp": issued + lifetime_seconds,
        "jti": principal.token_id or secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE})


def verify(token: str, *, key: bytes, now: datetime) -> Principal:
    """The principal a token names, if the hub signed it and it has not expired at ``now``.

    Raises:
        TokenError: malformed, wrong algorithm or type, bad signature, wrong issuer or
            audience, a claim missing, issued in the future or expired.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("the access token is malformed")
    claims = _signed_claims(token, key)
    stamp = now.timestamp()
    if not all(isinstance(claims[name], int) for name in ("iat", "exp")):
        raise TokenError("the access token is malformed")
    if claims["exp"] <= stamp:
        raise TokenError("the access token has expired; ask /v1/token for a new one")
    if claims["iat"] > stamp + 1:  # one second: the timestamp claims are whole seconds
        raise TokenError("the access token is not valid yet")
    text = ("sub", "agency", "role", "scope", "jti")
    if not all(isinstance(claims[name], str) for name in text):
        raise TokenError("the access token is malformed")
    return Principal(
        client_id=claims["sub"],
        agency_code=claims["agency"],
        role=claims["role"],
        scopes=frozenset(claims["scope"].split()),
        token_id=claims["jti"],
    )


# A client sends the same token for its whole life: its signature, header and claims are checked once per
# process, not per request (~4 % of a read's CPU). The times are checked on every call, against the hub's
# clock; a refused token is not kept, so it is checked again each time.
@lru_cache(maxsize=4096)
def _signed_claims(token: str, key: bytes) -> Mapping[str, Any]:
    """The claims of a token the hub signed with ``key``, of the right algorithm, type, issuer and audience.

    Raises:
        TokenError: any of these is wrong, or a claim is missing.
    """
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise TokenError("the access token is not one this hub issues")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            # The expiry is checked by ``verify`` against the hub's clock (tests and benchmarks move it).
            options={"require": list(_REQUIRED), "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError as exc:
        raise TokenError("the access token is invalid (bad signature, issuer or audience)") from exc
    return MappingProxyType(claims)  # shared by every request that sends the token: read-only
