"""``POST /v1/prefill``: a procedure's form, filled from the golden records under the citizen's consent.

The consent decides the purpose (the agency does not choose it), the purpose decides
the grant, and the grant decides which fields are read at all
(``hub.sharing.prefill``, ``allowed_fields``). What the platform cannot fill comes
back as a field the citizen must supply, with the reason.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from hub import ledger
from hub.api.calls import AGENCY, Call, call_for
from hub.api.params import ConsentIdText, PersonalIdText, ProcedureText
from hub.api.problems import ApiProblem, problem_responses
from hub.sharing.consent import require_consent
from hub.sharing.policy import Grant, require_grant
from hub.sharing.prefill import Filled, PrefillForm, UnknownProcedure, prefill
from schemas.datasets import CITIZEN

router = APIRouter(tags=["prefill"])


class PrefillRequest(BaseModel):
    """Which form, for whom, under which consent."""

    model_config = ConfigDict(extra="forbid")
    procedure: ProcedureText
    citizen_id: PersonalIdText
    consent_id: ConsentIdText


class FormFieldResult(BaseModel):
    """One form field: filled (value, source, last update, verified) or to be supplied by the citizen (reason)."""

    key: str
    label_vi: str
    label_en: str
    source_path: str | None
    status: Literal["filled", "must_supply"]
    value: str | None = None
    source: str | None = None
    last_updated: str | None = None
    verified: bool | None = None
    reason: str | None = None


class PrefilledForm(BaseModel):
    """The procedure's form for the citizen, and what allowed it."""

    procedure_code: str
    title: str
    personal_id: str
    fields: list[FormFieldResult]
    purpose: str
    agreement_ids: list[str]
    legal_basis: str


@router.post(
    "/v1/prefill",
    response_model=PrefilledForm,
    response_model_exclude_unset=True,
    summary="Prefill a procedure's form under the citizen's consent",
    responses=problem_responses(401, 403, 404, 422),
)
async def prefill_form(
    body: PrefillRequest,
    call: Annotated[Call, Depends(call_for("prefill", CITIZEN, client_in_reads=True))],
) -> JSONResponse:
    """The form with every field the platform can fill, and those the citizen must still supply.

    Raises:
        AccessDenied: wrong role or scope; the consent is missing, revoked, expired or not for this
            citizen, procedure and agency; no valid agreement for the consent's purpose.
        ApiProblem: 404, no form for the procedure or no record of the citizen.
    """
    call.note(record_keys=[body.citizen_id])
    # The reads block: one call for all of them (ApiContext.run_reads); the ledger's commit is awaited in the loop.
    grant, form = await call.context.run_reads(_read, call, body)
    # The relatives' records were read too (a parent's name on a birth registration): their keys go on record.
    await call.recorded(
        fields=fields_read(form),
        record_keys=[body.citizen_id, *form.relatives_read],
        detail=f"procedure {body.procedure}; consent "
        f"{ledger.hash_key(call.context.ledger_key, body.consent_id)[:16]}; "
        f"agreements {','.join(grant.agreement_ids)}",
    )
    # Sent as built, not validated against PrefilledForm and dumped again (~6 % of a prefill's CPU): the
    # document is made by PrefillForm.as_dict from typed results, with the model's keys in the model's
    # order and only the keys a field's status has (what response_model_exclude_unset would leave).
    return JSONResponse(
        {
            **form.as_dict(),
            "purpose": grant.purpose,
            "agreement_ids": list(grant.agreement_ids),
            "legal_basis": grant.legal_basis,
        }
    )


def _read(call: Call, body: PrefillRequest) -> tuple[Grant, PrefillForm]:
    """The consent, the grant it leads to, and the form filled under it.

    Raises:
        AccessDenied: as ``prefill_form``.
        ApiProblem: as ``prefill_form``.
    """
    with call.reading() as conn:
        call.check_client(conn)  # the client first (401), then role and scope (403), then the rest
        call.require(roles={AGENCY}, scope=CITIZEN)
        consent = require_consent(
            conn,
            body.consent_id,
            personal_id=body.citizen_id,
            procedure_code=body.procedure,
            agency_code=call.agency,
            now=call.context.now(),
        )
        call.note(purpose=consent.purpose)
        grant = require_grant(conn, call.agency, CITIZEN, consent.purpose, call.today)
        call.note(legal_basis=grant.legal_basis)
        return grant, fill(conn, body.procedure, body.citizen_id, grant)


def fill(conn: Connection, procedure: str, personal_id: str, grant: Grant) -> PrefillForm:
    """The prefilled form under ``grant``.

    Raises:
        ApiProblem: 404 (recorded as not_found), no form for the procedure or no record of the citizen.
    """
    try:
        form = prefill(conn, procedure, personal_id, allowed_fields=grant.fields)
    except UnknownProcedure:
        raise ApiProblem(404, "no form is declared for this procedure", audit="not_found") from None
    if form is None:
        raise ApiProblem(404, "the platform holds no record of the citizen", audit="not_found")
    return form


def fields_read(form: PrefillForm) -> list[str]:
    """The canonical fields a filled form shares (a relative's value also shares the link to them)."""
    names: set[str] = set()
    for spec, result in zip(form.form.fields, form.fields, strict=True):
        if isinstance(result, Filled) and spec.source is not None:
            names.add(spec.source.field)
            if spec.source.link_field:
                names.add(spec.source.link_field)
    return sorted(names)
