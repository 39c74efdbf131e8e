"""The registry of agencies, their API clients and their data-sharing agreements, declared as YAML.

``config/sharing/agencies.yaml`` and ``agreements.yaml`` are the source of truth:
``load_registry`` checks them entry by entry (a message names the file, the entry and
what to fix), then replaces the store's agencies, clients and agreements with them in
one transaction, so an agency or agreement removed from the files loses access at once.
Subscriptions declared in the files are added (an agency may also subscribe through
the API; those are kept). The load is itself an entry in the audit ledger.

The datasets an agreement, a scope or a subscription may name, and their fields, are
the catalogue's (``hub.systems.catalogue``): the hub's own and every declared one. An
agreement may ask for the citizen's consent (``consent: required``): a read under it
then needs a consent for the record's subject, and its subscriptions are not pushed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, delete, insert, select

from hub import ledger
from hub.keys import LEDGER_KEY, hub_key
from hub.settings import Settings
from hub.sharing.client_secrets import well_formed
from hub.store.tables import agency, agreement, api_client, subscription
from hub.systems.catalogue import Catalogue, catalogue
from lgsp.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "sharing"
ROLES = ("agency", "registrar")
CONSENT_SCOPE = "consent"  # the registrar's scope: record and revoke consents


@dataclass(frozen=True)
class Client:
    """An OAuth2 client of an agency (its secret as a hash only)."""

    client_id: str
    agency_code: str
    role: str
    scopes: tuple[str, ...]
    secret_hash: str


@dataclass(frozen=True)
class Agency:
    """An agency that receives shared records."""

    code: str
    name: str
    contact: str
    push_url: str | None
    clients: tuple[Client, ...] = ()
    subscriptions: tuple[tuple[str, str], ...] = ()  # (dataset, purpose)


@dataclass(frozen=True)
class Agreement:
    """One data-sharing agreement."""

    agreement_id: str
    agency_code: str
    dataset: str
    purpose: str
    legal_basis: str
    fields: tuple[str, ...]
    valid_from: date
    valid_until: date | None
    consent_required: bool = False


@dataclass(frozen=True)
class Registry:
    """Everything the two files declare."""

    agencies: tuple[Agency, ...] = ()
    agreements: tuple[Agreement, ...] = ()
    digest: str = ""  # SHA-256 of the files' bytes, for the ledger
    counts: dict[str, int] = field(default_factory=dict)


def read_registry(config_dir: Path = DEFAULT_CONFIG, known: Catalogue | None = None) -> Registry:
    """Parse and check the two files against the datasets of ``known`` (default: the catalogue).

    Raises:
        ConfigError: a file is missing or malformed (the message names the entry and what to fix),
            or a system declaration is wrong (``DeclarationError``).
    """
    datasets = (known or catalogue()).fields()
    texts = {name: _read(config_dir / name) for name in ("agencies.yaml", "agreements.yaml")}
    agencies = _agencies(texts["agencies.yaml"], "agencies.yaml", datasets)
    codes = {item.code for item in agencies}
    agreements = _agreements(texts["agreements.yaml"], "agreements.yaml", codes, datasets)
    _check_subscriptions(agencies, agreements)
    digest = hashlib.sha256("".join(texts[name] for name in sorted(texts)).encode()).hexdigest()
    counts = {
        "agencies": len(agencies),
        "clients": sum(len(item.clients) for item in agencies),
        "agreements": len(agreements),
    }
    return Registry(tuple(agencies), tuple(agreements), digest, counts)


def load_registry(
    engine: Engine,
    config_dir: Path = DEFAULT_CONFIG,
    *,
    ledger_key: bytes,
    now: datetime,
    known: Catalogue | None = None,
) -> Registry:
    """Replace the store's agencies, clients and agreements with the files'; add declared subscriptions.

    Raises:
        ConfigError: the files or the system declarations are malformed (nothing is changed).
    """
    registry = read_registry(config_dir, known)
    with engine.begin() as conn:
        for table in (agreement, api_client, agency):
            conn.execute(delete(table))
        conn.execute(
            insert(agency),
            [
                {
                    "agency_code": item.code,
                    "name": item.name,
                    "contact": item.contact,
                    "push_url": item.push_url,
                    "loaded_at": now,
                }
                for item in registry.agencies
            ],
        )
        clients = [client for item in registry.agencies for client in item.clients]
        if clients:
            conn.execute(
                insert(api_client),
                [
                    {
                        "client_id": c.client_id,
                        "agency_code": c.agency_code,
                        "role": c.role,
                        "secret_hash": c.secret_hash,
                        "scopes": ",".join(c.scopes),
                        "active": True,
                        "loaded_at": now,
                    }
                    for c in clients
                ],
            )
        if registry.agreements:
            conn.execute(
                insert(agreement),
                [
                    {
                        "agreement_id": a.agreement_id,
                        "agency_code": a.agency_code,
                        "dataset": a.dataset,
                        "fields": ",".join(sorted(a.fields)),
                        "purpose": a.purpose,
                        "legal_basis": a.legal_basis,
                        "valid_from": a.valid_from,
                        "valid_until": a.valid_until,
                        "consent_required": a.consent_required,
                        "loaded_at": now,
                    }
                    for a in registry.agreements
                ],
            )
        existing = set(
            conn.execute(select(subscription.c.agency_code, subscription.c.dataset, subscription.c.purpose)).tuples()
        )
        declared = [
            (item.code, dataset, purpose) for item in registry.agencies for dataset, purpose in item.subscriptions
        ]
        new = [key for key in declared if key not in existing]
        if new:
            conn.execute(
                insert(subscription),
                [
                    {"agency_code": code, "dataset": dataset, "purpose": purpose, "active": True, "created_at": now}
                    for code, dataset, purpose in new
                ],
            )
        detail = ", ".join(f"{name} {count}" for name, count in registry.counts.items())
        ledger.append(
            conn,
            ledger.Exchange(
                action="registry_load",
                client="lgsp",
                outcome="ok",
                correlation_id=f"registry:{registry.digest[:16]}",
                detail=f"{detail}; files sha256 {registry.digest}",
            ),
            key=ledger_key,
            now=now,
        )
    return registry


def load_configured(engine: Engine, settings: Settings) -> Registry:
    """``load_registry`` from LGSP_SHARING_CONFIG (default config/sharing), keyed and timed as the hub runs.

    Raises:
        ConfigError: the files are malformed (nothing is changed).
    """
    return load_registry(
        engine,
        settings.sharing_config or DEFAULT_CONFIG,
        ledger_key=hub_key(settings, LEDGER_KEY),
        now=datetime.now(UTC).replace(tzinfo=None),
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}; set LGSP_SHARING_CONFIG to the folder "
            "holding agencies.yaml and agreements.yaml"
        ) from exc


def _entries(text: str, file: str, key: str) -> list[Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file} is not valid YAML ({exc.__class__.__name__}); fix its syntax") from None
    entries = document.get(key) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{file}: expected a top-level '{key}' list")
    return entries


def _text(entry: dict[str, Any], name: str, where: str, *, optional: bool = False) -> str | None:
    value = entry.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: '{name}' must be a non-empty string")
    return value.strip()


Fields = dict[str, tuple[str, ...]]  # dataset -> the fields an agreement may grant


def _agencies(text: str, file: str, datasets: Fields) -> list[Agency]:
    agencies: dict[str, Agency] = {}
    client_ids: set[str] = set()
    for number, entry in enumerate(_entries(text, file, "agencies"), start=1):
        where = f"{file}: agency {number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with code, name, contact, clients")
        code = str(_text(entry, "code", where))
        if code in agencies:
            raise ConfigError(f"{where} repeats code {code}")
        clients = tuple(
            _client(raw, code, f"{where} ({code}), client {n}", datasets)
            for n, raw in enumerate(entry.get("clients") or [], start=1)
        )
        for client in clients:
            if client.client_id in client_ids:
                raise ConfigError(f"{where} ({code}): client_id {client.client_id} is used twice")
            client_ids.add(client.client_id)
        subscriptions = tuple(
            _subscription(raw, f"{where} ({code}), subscription {n}", datasets)
            for n, raw in enumerate(entry.get("subscriptions") or [], start=1)
        )
        agencies[code] = Agency(
            code=code,
            name=str(_text(entry, "name", where)),
            contact=str(_text(entry, "contact", where)),
            push_url=_text(entry, "push_url", where, optional=True),
            clients=clients,
            subscriptions=subscriptions,
        )
    return list(agencies.values())


def _client(entry: Any, agency_code: str, where: str, datasets: Fields) -> Client:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with client_id, role, scopes, secret_hash")
    role = entry.get("role", "agency")
    if role not in ROLES:
        raise ConfigError(f"{where}: role must be one of {', '.join(ROLES)}")
    scopes = entry.get("scopes")
    allowed = {CONSENT_SCOPE} if role == "registrar" else set(datasets)
    if not isinstance(scopes, list) or not scopes or not set(scopes) <= allowed:
        raise ConfigError(f"{where}: scopes must be a non-empty list of {', '.join(sorted(allowed))}")
    secret_hash = str(_text(entry, "secret_hash", where))
    if not well_formed(secret_hash):
        raise ConfigError(
            f"{where}: secret_hash is not a pbkdf2_sha256 hash; make one with "
            "`lgsp agencies hash-secret` and never write the secret itself here"
        )
    return Client(
        client_id=str(_text(entry, "client_id", where)),
        agency_code=agency_code,
        role=role,
        scopes=tuple(sorted(set(scopes))),
        secret_hash=secret_hash,
    )


def _subscription(entry: Any, where: str, datasets: Fields) -> tuple[str, str]:
    if not isinstance(entry, dict) or entry.get("dataset") not in datasets:
        raise ConfigError(f"{where}: expected dataset (one of {', '.join(datasets)}) and purpose")
    return str(entry["dataset"]), str(_text(entry, "purpose", where))


def _agreements(text: str, file: str, agencies: set[str], datasets: Fields) -> list[Agreement]:
    agreements: dict[str, Agreement] = {}
    for number, entry in enumerate(_entries(text, file, "agreements"), start=1):
        where = f"{file}: agreement {number}"
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{where}: expected a mapping with id, agency, dataset, fields, purpose, legal_basis, valid_from"
            )
        agreement_id = str(_text(entry, "id", where))
        where = f"{where} ({agreement_id})"
        if agreement_id in agreements:
            raise ConfigError(f"{where}: the id is used twice")
        agency_code = str(_text(entry, "agency", where))
        if agency_code not in agencies:
            raise ConfigError(f"{where}: agency {agency_code} is not declared in agencies.yaml")
        dataset = entry.get("dataset")
        if dataset not in datasets:
            raise ConfigError(f"{where}: dataset must be one of {', '.join(datasets)}")
        fields = entry.get("fields")
        if not isinstance(fields, list) or not fields or not all(isinstance(name, str) for name in fields):
            raise ConfigError(f"{where}: fields must be a non-empty list of field names")
        unknown = sorted(set(fields) - set(datasets[dataset]))
        if unknown:
            raise ConfigError(
                f"{where}: {dataset} has no field(s) {', '.join(unknown)}; known: {', '.join(datasets[dataset])}"
            )
        consent = entry.get("consent", "not_required")
        if consent not in ("required", "not_required"):
            raise ConfigError(f"{where}: consent is 'required' or 'not_required' (the default)")
        valid_from, valid_until = _day(entry, "valid_from", where), _day(entry, "valid_until", where, optional=True)
        if valid_until is not None and valid_until < valid_from:
            raise ConfigError(f"{where}: valid_until is before valid_from")
        agreements[agreement_id] = Agreement(
            agreement_id=agreement_id,
            agency_code=agency_code,
            dataset=dataset,
            purpose=str(_text(entry, "purpose", where)),
            legal_basis=str(_text(entry, "legal_basis", where)),
            fields=tuple(sorted(set(fields))),
            valid_from=valid_from,
            valid_until=valid_until,
            consent_required=consent == "required",
        )
    return list(agreements.values())


def _day(entry: dict[str, Any], name: str, where: str, *, optional: bool = False) -> Any:
    value = entry.get(name)
    if value is None and optional:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ConfigError(f"{where}: '{name}' must be a date written YYYY-MM-DD")


def _check_subscriptions(agencies: Sequence[Agency], agreements: Sequence[Agreement]) -> None:
    agreed = {(a.agency_code, a.dataset, a.purpose) for a in agreements}
    for item in agencies:
        for dataset, purpose in item.subscriptions:
            if (item.code, dataset, purpose) not in agreed:
                raise ConfigError(
                    f"agencies.yaml: {item.code} subscribes to {dataset} for {purpose}, "
                    "but no agreement in agreements.yaml covers it"
                )
