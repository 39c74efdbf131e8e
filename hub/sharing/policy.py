"""Who may see what: agreements decide the fields, deny by default.

An agency reads a dataset's fields for a purpose only while an agreement grants them:
the agreement names the agency, the dataset, the purpose, the fields and its validity
(from and until, inclusive). Several valid agreements for the same agency, dataset and
purpose add up; if any of them asks for the citizen's consent, the grant does
(``consent_required``). Every refusal is an ``AccessDenied`` whose ``rule`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, bindparam, select

from hub.store.tables import agreement
from lgsp.errors import AccessDenied

# Built once: every API read checks its grant, and building the statement cost about what running it does.
_AGREEMENTS = select(agreement).where(
    agreement.c.agency_code == bindparam("agency_code"), agreement.c.dataset == bindparam("dataset")
)


@dataclass(frozen=True)
class Grant:
    """What the valid agreements let one agency read of one dataset for one purpose."""

    agency_code: str
    dataset: str
    purpose: str
    fields: frozenset[str]
    agreement_ids: tuple[str, ...]
    legal_basis: str  # the agreements' legal bases, joined with "; "
    consent_required: bool = False  # each read needs the consent of the record's subject


def require_grant(conn: Connection, agency_code: str, dataset: str, purpose: str, on: date) -> Grant:
    """The grant for (agency, dataset, purpose) on day ``on``.

    Raises:
        AccessDenied: no agreement at all (``no_agreement``), none for this purpose
            (``purpose_not_agreed``), or none valid on that day (``agreement_expired``,
            ``agreement_not_yet_valid``).
    """
    rows = conn.execute(_AGREEMENTS, {"agency_code": agency_code, "dataset": dataset}).mappings().all()
    if not rows:
        raise AccessDenied(
            f"agency {agency_code} has no data-sharing agreement for dataset {dataset}", rule="no_agreement"
        )
    for_purpose = [row for row in rows if row["purpose"] == purpose]
    if not for_purpose:
        agreed = ", ".join(sorted({row["purpose"] for row in rows}))
        raise AccessDenied(
            f"agency {agency_code}'s agreements for {dataset} do not cover this purpose (agreed purposes: {agreed})",
            rule="purpose_not_agreed",
        )
    valid = [
        row
        for row in for_purpose
        if row["valid_from"] <= on and (row["valid_until"] is None or on <= row["valid_until"])
    ]
    if not valid:
        if all(row["valid_from"] > on for row in for_purpose):
            raise AccessDenied(
                f"agency {agency_code}'s agreement for {dataset} ({purpose}) is not valid yet",
                rule="agreement_not_yet_valid",
            )
        ended = max(row["valid_until"] for row in for_purpose if row["valid_until"] is not None)
        raise AccessDenied(
            f"agency {agency_code}'s agreement for {dataset} ({purpose}) ended on "
            f"{ended.isoformat()}; renew it in config/sharing/agreements.yaml",
            rule="agreement_expired",
        )
    return Grant(
        agency_code=agency_code,
        dataset=dataset,
        purpose=purpose,
        fields=frozenset(name for row in valid for name in row["fields"].split(",")),
        agreement_ids=tuple(sorted(row["agreement_id"] for row in valid)),
        legal_basis="; ".join(sorted({row["legal_basis"] for row in valid})),
        consent_required=any(row["consent_required"] for row in valid),
    )


def active_grants(conn: Connection, dataset: str, on: date) -> list[Grant]:
    """Every (agency, purpose) grant valid on ``on`` for ``dataset`` (for pushes to subscribers)."""
    rows = conn.execute(
        select(agreement.c.agency_code, agreement.c.purpose)
        .where(
            agreement.c.dataset == dataset,
            agreement.c.valid_from <= on,
            (agreement.c.valid_until.is_(None)) | (agreement.c.valid_until >= on),
        )
        .distinct()
    ).all()
    return [require_grant(conn, agency_code, dataset, purpose, on) for agency_code, purpose in sorted(rows)]
