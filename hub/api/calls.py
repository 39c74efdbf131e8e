"""One authenticated call: who asks, for what, and its entry in the audit ledger.

``call_for(action, dataset, query=...)`` is the dependency every data route starts
with: it checks the bearer token (401 otherwise), refuses query parameters the
operation does not take or that are repeated (422: a ``fields=`` or a second
``purpose=`` must not change what is shared, so it is refused rather than ignored),
and hands the route a ``Call``. The route notes what it learns (purpose, the record
asked for), checks role and scope with ``require``, and appends its ``ok`` entry in
the transaction of its own reads and writes with ``append``; a route that only reads reads in
``reading`` and then puts its entry on record with ``record``, which hands it to the process's
grouped writer (``hub.api.grouped_ledger``) and returns once it is committed. A refusal raised later
(``AccessDenied``, or an ``ApiProblem`` with an ``audit`` outcome) is recorded by the
problem handlers through ``record_refusal``, grouped too, since the request's
transaction is rolled back.

The client's registration (removed or moved clients lose their tokens at once) is checked in a
lookup of its own, or, for a route built with ``client_in_reads`` (the busiest: citizen reads,
prefill), first thing on the route's own connection (``Call.check_client``); a request refused
before its reads still gets its 401 first (``Call.ensure_client``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2
from sqlalchemy import Connection, RowMapping, bindparam, select

from hub import ledger
from hub.api import tokens
from hub.api.context import ApiContext, context_of
from hub.api.problems import ApiProblem, InvalidParam, request_id_of
from hub.api.tokens import Principal
from hub.store.engine import store_errors
from hub.store.tables import api_client
from lgsp.errors import AccessDenied, StoreError
from schemas.datasets import DATASET_FIELDS

AGENCY, REGISTRAR = "agency", "registrar"
CONSENT_SCOPE = "consent"
TOKEN_PATH = "/v1/token"  # noqa: S105 - a URL path, not a secret


def scopes_for(datasets: Iterable[str]) -> dict[str, str]:
    """The token scopes and what each allows: one per dataset (the catalogue's), and the registrar's."""
    return {
        **{name: f"read the {name} dataset as your agreements allow" for name in datasets},
        CONSENT_SCOPE: "record and revoke citizens' consents (the citizens' channel only)",
    }


# The hub's own datasets here; build_app's document lists the catalogue's (declared ones too).
_SCOPES = scopes_for(DATASET_FIELDS)
oauth2_scheme = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_PATH, scopes=_SCOPES)),
    scheme_name="clientCredentials",
    auto_error=False,
    description="OAuth 2.0 client credentials: POST /v1/token, then send `Authorization: Bearer <token>`.",
)
log = logging.getLogger(__name__)
# Built once: every request looks its client up, and building the statement cost as much as running it.
_CLIENT = select(api_client).where(api_client.c.client_id == bindparam("client_id"))


def _unauthorized(detail: str, error: str | None) -> ApiProblem:
    challenge = 'Bearer realm="lgsp"' + (f', error="{error}"' if error else "")
    return ApiProblem(401, detail, headers={"WWW-Authenticate": challenge})


def _claimed(request: Request, authorization: str | None) -> Principal:
    """The principal the bearer token names, if the hub signed it and it has not expired (the client unchecked).

    Raises:
        ApiProblem: 401 with ``WWW-Authenticate``: no token, not a bearer token, or one that is invalid or expired.
    """
    context = context_of(request)
    if not authorization:
        raise _unauthorized("an access token is required: get one from POST /v1/token", None)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise _unauthorized("send the access token as `Authorization: Bearer <token>`", "invalid_request")
    try:
        return tokens.verify(token.strip(), key=context.signing_key, now=context.now())
    except tokens.TokenError as exc:
        raise _unauthorized(str(exc), "invalid_token") from None


async def authenticated(request: Request, authorization: Annotated[str | None, Security(oauth2_scheme)]) -> Principal:
    """The caller, from a bearer token the hub signed, whose client is still registered.

    Raises:
        ApiProblem: 401 with ``WWW-Authenticate``: no token, not a bearer token, or one
            that is invalid, expired, or whose client was removed since.
    """
    context, claimed = context_of(request), _claimed(request, authorization)
    # async, its lookup through run_reads: on SQLite no hop to a worker thread (a sync dependency costs one).
    return _registered(claimed, await context.run_reads(_client, context, claimed.client_id))


async def token_only(request: Request, authorization: Annotated[str | None, Security(oauth2_scheme)]) -> Principal:
    """``authenticated`` but for the client's registration, which the route checks in its reads (``Call.check_client``).

    Raises:
        ApiProblem: as ``authenticated``, but for a removed client.
    """
    return _claimed(request, authorization)


def _registered(claimed: Principal, row: RowMapping | None) -> Principal:
    """The principal as its client's registration allows it, the scopes narrowed to the registered ones.

    Raises:
        ApiProblem: 401, the client was removed, deactivated or moved since the token was made.
    """
    # A client removed from config/sharing or moved loses its tokens at once, not when they expire.
    if row is None or not row["active"] or (row["agency_code"], row["role"]) != (claimed.agency_code, claimed.role):
        raise _unauthorized("the token's client is no longer registered; ask for a new token", "invalid_token")
    return Principal(
        client_id=claimed.client_id,
        agency_code=claimed.agency_code,
        role=claimed.role,
        scopes=claimed.scopes & frozenset(row["scopes"].split(",")),
        token_id=claimed.token_id,
    )


def _client(context: ApiContext, client_id: str) -> RowMapping | None:
    """The registered client's row, if any."""
    with store_errors("authenticate"), context.reading() as conn:
        return _client_row(conn, client_id)


def _client_row(conn: Connection, client_id: str) -> RowMapping | None:
    return conn.execute(_CLIENT, {"client_id": client_id}).mappings().first()


@dataclass
class Call:
    """One authenticated request and what its ledger entry will say."""

    context: ApiContext
    principal: Principal
    request_id: str
    action: str
    dataset: str | None
    purpose: str | None = None
    legal_basis: str | None = None
    record_keys: tuple[str, ...] = ()
    # False: only the token is checked yet; the route checks the client in its reads (``check_client``).
    client_checked: bool = True

    def check_client(self, conn: Connection) -> None:
        """Check, on the route's own connection, that the token's client is still registered (as ``authenticated``
        does in its own lookup, a hop to a worker thread and a connection of its own: ~7 % of a read's CPU).

        Raises:
            ApiProblem: 401, the client was removed, deactivated or moved since the token was made.
        """
        self.principal = _registered(self.principal, _client_row(conn, self.principal.client_id))
        self.client_checked = True

    def ensure_client(self) -> None:
        """``check_client`` on a connection of its own, for a request refused before its reads (a 422): a removed
        client's request is a 401 whatever else is wrong with it, as when ``authenticated`` checks it.

        Raises:
            ApiProblem: as ``check_client``.
            StoreError: the store could not be read.
        """
        if not self.client_checked:
            self.principal = _registered(self.principal, _client(self.context, self.principal.client_id))
            self.client_checked = True

    @property
    def agency(self) -> str:
        """The caller's agency code."""
        return self.principal.agency_code

    @property
    def today(self) -> date:
        """The day agreements are checked against (UTC)."""
        return self.context.now().date()

    def note(
        self, *, purpose: str | None = None, record_keys: Iterable[str] | None = None, legal_basis: str | None = None
    ) -> None:
        """Remember what the request is about, for its ledger entry whatever the outcome."""
        self.purpose = purpose if purpose is not None else self.purpose
        self.record_keys = tuple(record_keys) if record_keys is not None else self.record_keys
        self.legal_basis = legal_basis if legal_basis is not None else self.legal_basis

    def require(self, *, roles: Collection[str], scope: str | None = None) -> None:
        """Check the caller's role and token scope.

        Raises:
            AccessDenied: ``wrong_role`` or ``scope_missing``.
        """
        if not self.client_checked:  # a route's bug, never the caller's: the client decides role and scopes
            raise RuntimeError("the client's registration must be checked before its role and scopes")
        if self.principal.role not in roles:
            raise AccessDenied(
                f"a client with role {self.principal.role} may not do this (needs role {' or '.join(sorted(roles))})",
                rule="wrong_role",
            )
        if scope is not None and scope not in self.principal.scopes:
            raise AccessDenied(f"the access token lacks scope {scope}; ask /v1/token for it", rule="scope_missing")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction for the request's reads, writes and its ledger entry."""
        with store_errors(self.action), self.context.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for a read-only request's reads; ``record`` puts its entry on the ledger afterwards."""
        with store_errors(self.action), self.context.reading() as conn:
            yield conn

    def record(
        self,
        *,
        fields: Iterable[str] = (),
        record_keys: Iterable[str] | None = None,
        record_count: int | None = None,
        detail: str = "",
    ) -> None:
        """Put this call's ``ok`` entry on the ledger, grouped with other requests' in one commit; returns once
        it is committed, so nothing is served that is not on record.

        Raises:
            StoreError: the entry was not committed (the request must fail: a 503).
        """
        self.context.ledger.record(self._exchange("ok", detail, fields, record_keys, record_count), self.context.now())

    async def recorded(
        self,
        *,
        fields: Iterable[str] = (),
        record_keys: Iterable[str] | None = None,
        detail: str = "",
    ) -> None:
        """``record`` for an async route: the event loop waits for the commit, no thread is held.

        Raises:
            StoreError: the entry was not committed (the request must fail: a 503).
        """
        await self.context.ledger.recorded(self._exchange("ok", detail, fields, record_keys, None), self.context.now())

    def append(
        self,
        conn: Connection,
        *,
        fields: Iterable[str] = (),
        record_keys: Iterable[str] | None = None,
        record_count: int | None = None,
        detail: str = "",
        outcome: str = "ok",
    ) -> None:
        """Append this call's entry inside ``conn``'s transaction (record keys in clear: the ledger hashes them)."""
        ledger.append(
            conn,
            self._exchange(outcome, detail, fields, record_keys, record_count),
            key=self.context.ledger_key,
            now=self.context.now(),
        )

    def record_refusal(self, outcome: str, detail: str) -> None:
        """Append a refusal (``denied``, ``not_found``), grouped as ``record`` does (the request's reads are gone)."""
        try:
            self.context.ledger.record(self._exchange(outcome, detail, (), None, None), self.context.now())
        except StoreError as exc:  # the request is refused anyway; say the entry is missing
            log.error("could not record a %s refusal for request %s: %s", self.action, self.request_id, exc)

    def _exchange(
        self,
        outcome: str,
        detail: str,
        fields: Iterable[str],
        record_keys: Iterable[str] | None,
        record_count: int | None,
    ) -> ledger.Exchange:
        if not self.client_checked:  # nothing goes on record for a client not known to be registered
            raise RuntimeError("the client's registration must be checked before the ledger names it")
        return ledger.Exchange(
            action=self.action,
            client=self.principal.client_id,
            outcome=outcome,
            correlation_id=self.request_id,
            agency_code=self.agency,
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            dataset=self.dataset,
            fields=tuple(fields),
            record_keys=tuple(self.record_keys if record_keys is None else record_keys),
            record_count=record_count,
            detail=detail,
        )


def call_for(
    action: str, dataset: str | None = None, *, query: Collection[str] = (), client_in_reads: bool = False
) -> Callable[..., Awaitable[Call]]:
    """The dependency that authenticates a route's caller and starts its ``Call``.

    ``query``: the query parameters the operation takes; any other, or one given twice, is a 422.
    ``client_in_reads``: the route checks the client's registration first thing in its own reads
    (``Call.check_client``), before its role, scopes or anything else: one connection and, on
    PostgreSQL, one hop to a worker thread fewer. ``require`` and the ledger refuse an unchecked call.
    """
    accepted = frozenset(query)

    async def start(request: Request, principal: Principal) -> Call:
        call = Call(context_of(request), principal, request_id_of(request), action, dataset)
        call.client_checked = not client_in_reads
        request.state.call = call
        try:
            _check_query(request, accepted)
        except ApiProblem:
            await context_of(request).run_reads(call.ensure_client)  # a removed client's 401 comes first
            raise
        return call

    # async: they do no I/O of their own, so they run in the event loop rather than costing a hop to a worker
    # thread. Two functions, not one: FastAPI reads each one's dependency from its (module-level) annotations.
    async def checked(request: Request, principal: Annotated[Principal, Depends(authenticated)]) -> Call:
        return await start(request, principal)

    async def pending(request: Request, principal: Annotated[Principal, Depends(token_only)]) -> Call:
        return await start(request, principal)

    return pending if client_in_reads else checked


def _check_query(request: Request, accepted: frozenset[str]) -> None:
    """Refuse unknown and repeated query parameters, naming only the ones the operation declares."""
    names = [name for name, _ in request.query_params.multi_items()]
    problems = [
        InvalidParam(name=name, reason="given more than once; give it once")
        for name in sorted({name for name in names if names.count(name) > 1} & accepted)
    ]
    if any(name not in accepted for name in names):
        problems.append(
            InvalidParam(
                name="(a query parameter this operation does not take)",
                reason=f"accepted: {', '.join(sorted(accepted)) or 'none'}",
            )
        )
    if problems:
        raise ApiProblem(422, "the request has invalid parameters; see invalid_params", invalid_params=problems)
