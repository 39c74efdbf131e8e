"""``GET /v1/citizens/{personal_id}?purpose=``: one golden citizen, the fields the agreements grant.

The grant is checked before the record is looked up, so an agency without one cannot
even learn whether the platform holds someone. Each field comes with its source, the
time the source last changed it, and whether the platform vouches for it
(``hub.sharing.provenance``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import bindparam, select

from hub.api.calls import AGENCY, Call, call_for
from hub.api.params import PersonalIdPath, PurposeQuery
from hub.api.problems import ApiProblem, problem_responses
from hub.sharing.policy import Grant, require_grant
from hub.sharing.provenance import SourcedValue as SourcedField
from hub.sharing.provenance import open_conflicts, sourced_fields
from hub.store.tables import citizen
from schemas.datasets import CITIZEN

router = APIRouter(tags=["citizens"])
_CITIZEN = select(citizen).where(citizen.c.personal_id == bindparam("personal_id"))  # built once, not per read


class SourcedValue(BaseModel):
    """One shared field: its value, the system it came from, when that system last changed it, verified."""

    value: Any
    source: str | None
    last_updated: str | None
    verified: bool


class SharedRecord(BaseModel):
    """A record as shared under a grant: only the granted fields, and the agreements that grant them."""

    dataset: str
    purpose: str
    agreement_ids: list[str]
    legal_basis: str
    fields: dict[str, SourcedValue]


@router.get(
    "/v1/citizens/{personal_id}",
    response_model=SharedRecord,
    summary="Read one citizen's shared fields",
    responses=problem_responses(401, 403, 404, 422),
)
async def read_citizen(
    personal_id: PersonalIdPath,
    purpose: PurposeQuery,
    call: Annotated[Call, Depends(call_for("api_read", CITIZEN, query=("purpose",), client_in_reads=True))],
) -> JSONResponse:
    """The citizen's fields that the caller's agreements grant for ``purpose`` today.

    Raises:
        AccessDenied: wrong role or scope, no agreement for the purpose, or none valid today.
        ApiProblem: 404 when the platform holds no record of the citizen.
    """
    call.note(purpose=purpose, record_keys=[personal_id])
    # The reads block: one call for all of them (ApiContext.run_reads); the ledger's commit is awaited in the loop.
    grant, shared = await call.context.run_reads(_read, call, personal_id, purpose)
    await call.recorded(fields=sorted(grant.fields), detail=f"agreements {','.join(grant.agreement_ids)}")
    # Sent as built, not validated against SharedRecord and dumped again (~6 % of a read's CPU): the values
    # are JSON-ready (hub.sharing.provenance), the keys the model's, in its order.
    return JSONResponse(
        {
            "dataset": CITIZEN,
            "purpose": purpose,
            "agreement_ids": list(grant.agreement_ids),
            "legal_basis": grant.legal_basis,
            "fields": {name: value.as_json() for name, value in shared.items()},
        }
    )


def _read(call: Call, personal_id: str, purpose: str) -> tuple[Grant, dict[str, SourcedField]]:
    """The grant and the citizen's granted fields.

    Raises:
        AccessDenied: as ``read_citizen``.
        ApiProblem: as ``read_citizen``.
    """
    with call.reading() as conn:
        call.check_client(conn)  # the client first (401), then role and scope (403), then the rest
        call.require(roles={AGENCY}, scope=CITIZEN)
        grant = require_grant(conn, call.agency, CITIZEN, purpose, call.today)
        call.note(legal_basis=grant.legal_basis)
        row = conn.execute(_CITIZEN, {"personal_id": personal_id}).mappings().first()
        if row is None:
            raise ApiProblem(404, "the platform holds no record of the citizen", audit="not_found")
        return grant, sourced_fields(dict(row), sorted(grant.fields), open_conflicts(conn, [personal_id]))
