"""``/v1/consents``: the citizens' channel records and revokes consents; a preview says what would be shared.

Only a registrar client (the provincial public service portal, where the citizen signs
in) records or revokes. The preview, for the registrar or the consent's agency, lists
the form's fields with their source and verified flag and what the citizen must
supply, without a single value: it is what the citizen is shown before agreeing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from hub import ledger
from hub.api.calls import AGENCY, CONSENT_SCOPE, REGISTRAR, Call, call_for
from hub.api.params import AgencyText, ConsentIdPath, PersonalIdText, ProcedureText, PurposeText
from hub.api.prefill import fill
from hub.api.problems import ApiProblem, InvalidParam, problem_responses
from hub.sharing.consent import Consent, InvalidConsent, find_consent, grant_consent, revoke_consent
from hub.sharing.policy import require_grant
from lgsp.errors import AccessDenied
from schemas.datasets import CITIZEN
from schemas.personal_id import mask

router = APIRouter(tags=["consents"])
_PREVIEW_KEYS = ("key", "label_vi", "label_en", "source_path", "status", "source", "verified", "reason")


class ConsentRequest(BaseModel):
    """A citizen's consent, as the citizens' channel took it."""

    model_config = ConfigDict(extra="forbid")
    citizen_id: PersonalIdText
    agency: AgencyText
    procedure: ProcedureText
    purpose: PurposeText
    expires_at: datetime


class ConsentRecord(BaseModel):
    """A consent as recorded (the citizen's id masked)."""

    consent_id: str
    citizen: str
    agency: str
    procedure: str
    purpose: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    state: Literal["active", "revoked", "expired"]


class PreviewField(BaseModel):
    """One form field as the citizen is shown it: where it would come from, never its value."""

    key: str
    label_vi: str
    label_en: str
    source_path: str | None
    status: Literal["filled", "must_supply"]
    source: str | None = None
    verified: bool | None = None
    reason: str | None = None


class ConsentPreview(BaseModel):
    """What the consent would let its agency receive."""

    consent_id: str
    state: Literal["active", "revoked", "expired"]
    agency: str
    procedure_code: str
    title: str
    purpose: str
    expires_at: datetime
    agreement_ids: list[str]
    legal_basis: str
    fields: list[PreviewField]


@router.post(
    "/v1/consents",
    status_code=201,
    response_model=ConsentRecord,
    summary="Record a citizen's consent",
    responses=problem_responses(401, 403, 422),
)
def record_consent(
    body: ConsentRequest, call: Annotated[Call, Depends(call_for("consent_grant", CITIZEN))]
) -> dict[str, Any]:
    """Record the consent; the agency must have an agreement for the purpose.

    Raises:
        AccessDenied: not a registrar, or the agency has no valid agreement for the purpose.
        ApiProblem: 422, no form for the procedure or an end not within the next days allowed.
    """
    call.note(purpose=body.purpose, record_keys=[body.citizen_id])
    call.require(roles={REGISTRAR}, scope=CONSENT_SCOPE)
    with call.transaction() as conn:
        try:
            consent = grant_consent(
                conn,
                personal_id=body.citizen_id,
                agency_code=body.agency,
                procedure_code=body.procedure,
                purpose=body.purpose,
                expires_at=body.expires_at,
                recorded_by=call.principal.client_id,
                now=call.context.now(),
            )
        except InvalidConsent as exc:
            raise ApiProblem(422, str(exc), invalid_params=[InvalidParam(name="body", reason=str(exc))]) from None
        call.append(conn, detail=_detail(call, consent))
    return _record(consent, call.context.now())


@router.delete(
    "/v1/consents/{consent_id}",
    response_model=ConsentRecord,
    summary="Revoke a citizen's consent",
    responses=problem_responses(401, 403, 404, 422),
)
def revoke(
    consent_id: ConsentIdPath, call: Annotated[Call, Depends(call_for("consent_revoke", CITIZEN))]
) -> dict[str, Any]:
    """Revoke the consent at once (revoking twice keeps the first time).

    Raises:
        AccessDenied: not a registrar.
        ApiProblem: 404, no such consent.
    """
    call.require(roles={REGISTRAR}, scope=CONSENT_SCOPE)
    with call.transaction() as conn:
        consent = revoke_consent(conn, consent_id, call.context.now())
        if consent is None:
            raise ApiProblem(404, "no consent with this id is on record", audit="not_found")
        call.note(purpose=consent.purpose, record_keys=[consent.personal_id])
        call.append(conn, detail=_detail(call, consent))
    return _record(consent, call.context.now())


@router.get(
    "/v1/consents/{consent_id}/preview",
    response_model=ConsentPreview,
    response_model_exclude_unset=True,
    summary="What a consent would share, without values",
    responses=problem_responses(401, 403, 404, 422),
)
def preview(
    consent_id: ConsentIdPath, call: Annotated[Call, Depends(call_for("consent_preview", CITIZEN))]
) -> dict[str, Any]:
    """The form's fields, their source and verified flag, and what the citizen must supply; no values.

    Raises:
        AccessDenied: neither the registrar nor the consent's agency; the agency's agreement is not valid.
        ApiProblem: 404, no such consent, no form, or no record of the citizen.
    """
    # The agency reads under its citizen scope; the citizens' channel under its consent scope.
    call.require(roles={AGENCY, REGISTRAR}, scope=CITIZEN if call.principal.role == AGENCY else CONSENT_SCOPE)
    with call.transaction() as conn:
        consent = find_consent(conn, consent_id)
        if consent is None:
            raise ApiProblem(404, "no consent with this id is on record", audit="not_found")
        call.note(purpose=consent.purpose, record_keys=[consent.personal_id])
        if call.principal.role == AGENCY and consent.agency_code != call.agency:
            raise AccessDenied("the consent was given to another agency", rule="consent_mismatch")
        grant = require_grant(conn, consent.agency_code, CITIZEN, consent.purpose, call.today)
        call.note(legal_basis=grant.legal_basis)
        document = fill(conn, consent.procedure_code, consent.personal_id, grant).as_dict()
        call.append(conn, detail=f"{_detail(call, consent)}; without values")
    return {
        "consent_id": consent.consent_id,
        "state": consent.state(call.context.now()),
        "agency": consent.agency_code,
        "procedure_code": consent.procedure_code,
        "title": document["title"],
        "purpose": consent.purpose,
        "expires_at": consent.expires_at.replace(tzinfo=UTC),
        "agreement_ids": list(grant.agreement_ids),
        "legal_basis": grant.legal_basis,
        "fields": [{key: item[key] for key in _PREVIEW_KEYS if key in item} for item in document["fields"]],
    }


def _detail(call: Call, consent: Consent) -> str:
    """Which consent (by keyed hash: the id is a bearer secret of sorts), for whom, for what."""
    return (
        f"consent {ledger.hash_key(call.context.ledger_key, consent.consent_id)[:16]}; "
        f"agency {consent.agency_code}; procedure {consent.procedure_code}"
    )


def _record(consent: Consent, now: datetime) -> dict[str, Any]:
    def utc(value: datetime | None) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    return {
        "consent_id": consent.consent_id,
        "citizen": mask(consent.personal_id),
        "agency": consent.agency_code,
        "procedure": consent.procedure_code,
        "purpose": consent.purpose,
        "granted_at": utc(consent.granted_at),
        "expires_at": utc(consent.expires_at),
        "revoked_at": utc(consent.revoked_at),
        "state": consent.state(now),
    }
