"""``GET /v1/datasets/{dataset}/records/{key}?purpose=``: one record of a declared dataset, the granted fields.

As for citizens (``hub.api.citizens``): the token's scope and the grant are checked
before the record is looked up, so an agency without one cannot learn whether the
platform holds the record; only the fields the valid agreements grant for the purpose
are read; every read, granted or refused, is an entry in the audit ledger. When an
agreement asks for the citizen's consent (``consent: required``), the read presents a
``consent_id`` the citizens' channel recorded for the record's subject (its first
personal-id field), the caller and the purpose. Each value carries its source system,
when the source last changed it, and whether it came from the dataset's own register.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select

from hub.api.calls import AGENCY, Call, call_for
from hub.api.citizens import SharedRecord
from hub.api.params import RECORD_KEY_PATTERN, ConsentIdText, PurposeQuery, annotate, dataset_type
from hub.api.problems import ApiProblem, problem_responses
from hub.sharing.consent import require_read_consent
from hub.sharing.datasets import BadKey, golden_table, key_value
from hub.sharing.policy import require_grant
from hub.sharing.provenance import declared_fields
from hub.systems.catalogue import Catalogue
from lgsp.errors import AccessDenied

PATH = "/v1/datasets/{dataset}/records/{key}"
KeyPath = Annotated[
    str, Path(pattern=RECORD_KEY_PATTERN, max_length=64, description="The record's key, as the dataset declares it.")
]
ConsentQuery = Annotated[
    ConsentIdText | None,
    Query(description="The citizen's consent, when the agreement asks for one (`consent_required` in the catalogue)."),
]


def router_for(known: Catalogue) -> APIRouter:
    """The route, its ``dataset`` parameter listing ``known``'s declared datasets (none: no route)."""
    router = APIRouter(tags=["datasets"])
    declared = tuple(entry.name for entry in known.declared)
    if not declared:
        return router
    dataset_param: Any = Annotated[
        dataset_type(declared), Path(description="A declared dataset of the catalogue (GET /v1/catalogue).")
    ]

    def read_record(
        dataset: str,
        key: KeyPath,
        purpose: PurposeQuery,
        call: Annotated[Call, Depends(call_for("api_read", query=("purpose", "consent_id")))],
        consent_id: ConsentQuery = None,
    ) -> dict[str, Any]:
        """The record's fields that the caller's agreements grant for ``purpose`` today.

        Raises:
            AccessDenied: wrong role or scope, no valid agreement for the purpose, a consent the
                agreement asks for missing (``consent_required``), or not for this record's subject.
            ApiProblem: 404 when the platform holds no record with this key.
        """
        return _read(call, dataset, key, purpose, consent_id)

    router.add_api_route(
        PATH,
        annotate(read_record, dataset=dataset_param),
        methods=["GET"],
        response_model=SharedRecord,
        summary="Read one record of a declared dataset",
        responses=problem_responses(401, 403, 404, 422),
    )
    return router


def _read(call: Call, dataset: str, key: str, purpose: str, consent_id: str | None) -> dict[str, Any]:
    call.dataset = dataset
    call.note(purpose=purpose, record_keys=[key])
    call.require(roles={AGENCY}, scope=dataset)
    entry = call.context.catalogue.dataset(dataset)
    table = golden_table(entry)
    with call.reading() as conn:
        grant = require_grant(conn, call.agency, dataset, purpose, call.today)
        call.note(legal_basis=grant.legal_basis)
        if grant.consent_required and consent_id is None:
            raise AccessDenied(
                f"agency {call.agency}'s agreement for {dataset} ({purpose}) asks for the citizen's consent: "
                "send the consent_id the citizens' channel recorded",
                rule="consent_required",
            )
        try:
            wanted = key_value(entry, key)
        except BadKey:
            wanted = None  # a key of the wrong form names no record
        row = None
        if wanted is not None:
            row = conn.execute(select(table).where(table.c[entry.key] == wanted)).mappings().first()
        if row is None:
            raise ApiProblem(404, "the platform holds no record with this key", audit="not_found")
        detail = f"agreements {','.join(grant.agreement_ids)}"
        if grant.consent_required and consent_id is not None:
            subject = entry.subject
            require_read_consent(
                conn,
                consent_id,
                personal_id=None if subject is None or row[subject] is None else str(row[subject]),
                agency_code=call.agency,
                purpose=purpose,
                now=call.context.now(),
            )
            detail += "; under the citizen's consent"
        fields = sorted(grant.fields)
        shared = declared_fields(row, fields, entry.key, entry.source)
    call.record(fields=fields, detail=detail)
    return {
        "dataset": dataset,
        "purpose": purpose,
        "agreement_ids": list(grant.agreement_ids),
        "legal_basis": grant.legal_basis,
        "fields": {name: value.as_json() for name, value in shared.items()},
    }
