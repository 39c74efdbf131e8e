"""A citizen's consent to share their records with one agency, for one procedure and one purpose.

The citizens' channel (a registrar client, the provincial public service portal) records
a consent when the citizen asks for it and revokes it when the citizen withdraws it. A
consent names one agency, one procedure, one purpose and an end no more than
``MAX_DAYS`` ahead; it may be recorded only for an agency that has an agreement for that
purpose. An agency that prefills a citizen's form must present a consent that is for
that citizen, that procedure and itself, and that is neither revoked nor expired: every
refusal is an ``AccessDenied`` whose ``rule`` says which of these failed.

An agreement may also ask for consent to each read of a dataset (``consent: required``,
used for declared datasets): the reader then presents a consent that is for the
record's subject, itself and the read's purpose (``require_read_consent``); such a
consent may be recorded for any agency whose consent-asking agreement covers the purpose.

Consent ids are random (``secrets.token_urlsafe``): knowing one consent's id tells
nothing about another's. Times are naive UTC, as the store keeps them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, bindparam, insert, select, update

from hub.sharing.policy import require_grant
from hub.store.tables import agreement, consent
from lgsp.errors import AccessDenied
from schemas.datasets import CITIZEN
from schemas.procedures.forms import load_forms

MAX_DAYS = 90
CONSENT_ID_PATTERN = r"^[A-Za-z0-9_-]{32}$"  # secrets.token_urlsafe(24): 192 random bits
State = Literal["active", "revoked", "expired"]


class InvalidConsent(ValueError):
    """A consent that cannot be recorded as asked (no form for the procedure, an end out of range)."""


@dataclass(frozen=True)
class Consent:
    """One consent as the store holds it (the citizen's id kept out of ``repr``)."""

    consent_id: str = field(repr=False)
    personal_id: str = field(repr=False)
    agency_code: str
    procedure_code: str
    purpose: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    recorded_by: str

    def state(self, now: datetime) -> State:
        """Revoked, expired at ``now``, or active (revocation wins: it is the citizen's last word)."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if _naive_utc(now) >= self.expires_at else "active"


def grant_consent(
    conn: Connection,
    *,
    personal_id: str,
    agency_code: str,
    procedure_code: str,
    purpose: str,
    expires_at: datetime,
    recorded_by: str,
    now: datetime,
) -> Consent:
    """Record a new consent inside ``conn``'s transaction and return it.

    Raises:
        InvalidConsent: no form is declared for the procedure, or the end is not in the
            next ``MAX_DAYS`` days.
        AccessDenied: the agency has no valid agreement for citizen records and that purpose
            (the rule is the policy's: ``no_agreement``, ``purpose_not_agreed``, ...).
    """
    at, until = _naive_utc(now), _naive_utc(expires_at)
    if procedure_code not in load_forms():
        raise InvalidConsent("no form is declared for this procedure (schemas/procedures/forms.yaml)")
    if until <= at:
        raise InvalidConsent("expires_at must be in the future")
    if until > at + timedelta(days=MAX_DAYS):
        raise InvalidConsent(f"expires_at may be at most {MAX_DAYS} days ahead; ask the citizen again after that")
    try:
        require_grant(conn, agency_code, CITIZEN, purpose, at.date())
    except AccessDenied:
        if not _asks_consent(conn, agency_code, purpose, at.date()):
            raise
    row = Consent(
        consent_id=secrets.token_urlsafe(24),
        personal_id=personal_id,
        agency_code=agency_code,
        procedure_code=procedure_code,
        purpose=purpose,
        granted_at=at,
        expires_at=until,
        revoked_at=None,
        recorded_by=recorded_by,
    )
    conn.execute(insert(consent).values(**_columns(row)))
    return row


# Built once: every prefill looks its consent up, and building the statement cost about what running it does.
_BY_ID = select(consent).where(consent.c.consent_id == bindparam("consent_id"))


def find_consent(conn: Connection, consent_id: str) -> Consent | None:
    """The consent with this id, or None."""
    row = conn.execute(_BY_ID, {"consent_id": consent_id}).mappings().first()
    return None if row is None else Consent(**{name: row[name] for name in _FIELDS})


def revoke_consent(conn: Connection, consent_id: str, now: datetime) -> Consent | None:
    """Revoke the consent (a second revocation keeps the first time); None when there is no such consent."""
    conn.execute(
        update(consent)
        .where(consent.c.consent_id == consent_id, consent.c.revoked_at.is_(None))
        .values(revoked_at=_naive_utc(now))
    )
    return find_consent(conn, consent_id)


def require_consent(
    conn: Connection,
    consent_id: str,
    *,
    personal_id: str,
    procedure_code: str,
    agency_code: str,
    now: datetime,
) -> Consent:
    """The consent, if it lets ``agency_code`` prefill ``procedure_code`` for ``personal_id`` at ``now``.

    A consent for someone else is reported as a mismatch before its state, so an agency
    learns nothing about consents that are not its own.

    Raises:
        AccessDenied: ``no_consent`` (no such id), ``consent_mismatch`` (another citizen,
            procedure or agency), ``consent_revoked``, ``consent_expired``.
    """
    found = find_consent(conn, consent_id)
    if found is None:
        raise AccessDenied("no consent with this id is on record", rule="no_consent")
    if (found.personal_id, found.procedure_code, found.agency_code) != (personal_id, procedure_code, agency_code):
        raise AccessDenied("the consent was given for another citizen, procedure or agency", rule="consent_mismatch")
    state = found.state(now)
    if state == "revoked":
        raise AccessDenied("the citizen revoked this consent", rule="consent_revoked")
    if state == "expired":
        raise AccessDenied(
            f"the consent expired at {found.expires_at.isoformat()}Z; the citizen must consent again",
            rule="consent_expired",
        )
    return found


def require_read_consent(
    conn: Connection, consent_id: str, *, personal_id: str | None, agency_code: str, purpose: str, now: datetime
) -> Consent:
    """The consent, if it lets ``agency_code`` read a record about ``personal_id`` for ``purpose`` at ``now``.

    Raises:
        AccessDenied: ``no_consent`` (no such id), ``consent_mismatch`` (another citizen, agency or
            purpose, or a record about nobody), ``consent_revoked``, ``consent_expired``.
    """
    found = find_consent(conn, consent_id)
    if found is None:
        raise AccessDenied("no consent with this id is on record", rule="no_consent")
    if personal_id is None or (found.personal_id, found.agency_code, found.purpose) != (
        personal_id,
        agency_code,
        purpose,
    ):
        raise AccessDenied("the consent was given for another citizen, agency or purpose", rule="consent_mismatch")
    state = found.state(now)
    if state == "revoked":
        raise AccessDenied("the citizen revoked this consent", rule="consent_revoked")
    if state == "expired":
        raise AccessDenied(
            f"the consent expired at {found.expires_at.isoformat()}Z; the citizen must consent again",
            rule="consent_expired",
        )
    return found


def _asks_consent(conn: Connection, agency_code: str, purpose: str, on: date) -> bool:
    """Whether a valid agreement of the agency for ``purpose``, on any dataset, asks for consent to each read."""
    found = conn.execute(
        select(agreement.c.agreement_id)
        .where(
            agreement.c.agency_code == agency_code,
            agreement.c.purpose == purpose,
            agreement.c.consent_required,
            agreement.c.valid_from <= on,
            agreement.c.valid_until.is_(None) | (agreement.c.valid_until >= on),
        )
        .limit(1)
    ).first()
    return found is not None


_FIELDS = (
    "consent_id",
    "personal_id",
    "agency_code",
    "procedure_code",
    "purpose",
    "granted_at",
    "expires_at",
    "revoked_at",
    "recorded_by",
)


def _columns(row: Consent) -> dict[str, object]:
    return {name: getattr(row, name) for name in _FIELDS}


def _naive_utc(value: datetime) -> datetime:
    """Naive UTC, as the store keeps times; a naive input is taken to be UTC already."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
