"""``POST /v1/token``: OAuth 2.0 client credentials (RFC 6749 section 4.4), errors as RFC 6749 says.

The client authenticates with HTTP Basic or with ``client_id``/``client_secret`` in the
form (one way only). Its secret is checked against the stored PBKDF2 hash, which costs
the same whether the secret is right or wrong; an unknown client id is checked against
a dummy hash of the same cost, so timing does not tell which client ids exist. A
client asks for a subset of its declared scopes (``scope``, space-separated), or gets
them all; asking for any other is ``invalid_scope``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from hub.api import tokens
from hub.api.calls import TOKEN_PATH
from hub.api.context import ApiContext, context_of, dummy_secret_hash
from hub.sharing.client_secrets import check_secret
from hub.store.engine import store_errors
from hub.store.tables import api_client

FORM = "application/x-www-form-urlencoded"
_MAX_FIELDS = 20
_MAX_ID, _MAX_SECRET = 64, 256
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 5.1: never cache a token
router = APIRouter(tags=["auth"])


class TokenResponse(BaseModel):
    """An access token (RFC 6749 section 5.1)."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str


class OAuthErrorBody(BaseModel):
    """An error of the token endpoint (RFC 6749 section 5.2)."""

    error: str
    error_description: str


class OAuthError(Exception):
    """A token-endpoint error: HTTP status, RFC 6749 ``error`` code, and a fixed description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        """``description`` never quotes the request."""
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_id": {"type": "string", "maxLength": _MAX_ID},
        "client_secret": {"type": "string", "format": "password", "maxLength": _MAX_SECRET},
        "scope": {"type": "string", "description": "Space-separated datasets (or `consent`); default: all declared."},
    },
}


@router.post(
    TOKEN_PATH,
    response_model=TokenResponse,
    summary="Get an access token (client credentials)",
    responses={
        400: {"model": OAuthErrorBody, "description": "invalid_request, unsupported_grant_type, invalid_scope"},
        401: {"model": OAuthErrorBody, "description": "invalid_client"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {FORM: {"schema": _FORM_SCHEMA}}}},
)
async def token(request: Request) -> JSONResponse:
    """Exchange client credentials for a short-lived signed access token."""
    context = context_of(request)
    try:
        form = await _read_form(request)
        client_id, secret = _credentials(request.headers.get("authorization"), form)
        # PBKDF2 takes ~0.2 s of CPU: off the event loop.
        principal = await run_in_threadpool(_authenticate, context, client_id, secret, form.get("scope"))
    except OAuthError as exc:
        headers = {**_NO_STORE, **({"WWW-Authenticate": 'Basic realm="lgsp"'} if exc.status == 401 else {})}
        return JSONResponse(
            {"error": exc.error, "error_description": exc.description}, status_code=exc.status, headers=headers
        )
    lifetime = context.settings.api_token_seconds
    access_token = tokens.issue(principal, key=context.signing_key, now=context.now(), lifetime_seconds=lifetime)
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": " ".join(sorted(principal.scopes)),
        },
        headers=_NO_STORE,
    )


async def _read_form(request: Request) -> dict[str, str]:
    """The form's fields.

    Raises:
        OAuthError: invalid_request, not a form, not UTF-8, too many or repeated fields.
    """
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise OAuthError(400, "invalid_request", f"send the request as {FORM}")
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError(400, "invalid_request", "the form cannot be read") from None
    form = dict(pairs)
    if len(form) != len(pairs):  # RFC 6749 section 3.2: parameters must not be included more than once
        raise OAuthError(400, "invalid_request", "a parameter is repeated")
    return form


def _credentials(authorization: str | None, form: Mapping[str, str]) -> tuple[str, str]:
    """The client id and secret, from HTTP Basic or the form (not both).

    Raises:
        OAuthError: not a client-credentials grant, credentials missing, sent twice or malformed.
    """
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError(400, "invalid_request", "grant_type is required")
    if grant != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "only client_credentials is supported")
    in_form = "client_id" in form or "client_secret" in form
    if authorization is not None and authorization[:6].lower() == "basic ":
        if in_form:
            raise OAuthError(400, "invalid_request", "send the client credentials one way only")
        return _basic(authorization[6:])
    if not in_form:
        raise OAuthError(401, "invalid_client", "client authentication is required")
    return form.get("client_id", ""), form.get("client_secret", "")


def _basic(encoded: str) -> tuple[str, str]:
    """HTTP Basic credentials; RFC 6749 section 2.3.1 form-encodes both parts before base64.

    Raises:
        OAuthError: invalid_client, the header does not decode.
    """
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError(401, "invalid_client", "malformed Basic credentials") from None
    user, separator, password = decoded.partition(":")
    if not separator:
        raise OAuthError(401, "invalid_client", "malformed Basic credentials")
    return unquote_plus(user), unquote_plus(password)


def _authenticate(context: ApiContext, client_id: str, secret: str, scope: str | None) -> tokens.Principal:
    """The principal a token will name, if the credentials are right and the scopes declared.

    Raises:
        OAuthError: invalid_client (unknown, inactive or wrong secret: which is not said), invalid_scope.
        StoreError: the store cannot be read.
    """
    if not client_id or len(client_id) > _MAX_ID or len(secret) > _MAX_SECRET:
        raise OAuthError(401, "invalid_client", "client authentication failed")
    with store_errors("token"), context.engine.connect() as conn:
        row = conn.execute(select(api_client).where(api_client.c.client_id == client_id)).mappings().first()
    # Always one PBKDF2 check, so an unknown id costs what a known one does.
    matches = check_secret(secret, row["secret_hash"] if row is not None else dummy_secret_hash())
    if row is None or not row["active"] or not matches:
        raise OAuthError(401, "invalid_client", "client authentication failed")
    declared = frozenset(row["scopes"].split(","))
    asked = frozenset(scope.split()) if scope and scope.strip() else declared
    if not asked <= declared:
        raise OAuthError(400, "invalid_scope", f"this client may ask for: {' '.join(sorted(declared))}")
    return tokens.Principal(
        client_id=row["client_id"], agency_code=row["agency_code"], role=row["role"], scopes=asked, token_id=""
    )
