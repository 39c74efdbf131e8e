"""Helpers for the API tests: a movable clock, golden rows, and a client that knows the demo agencies."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine, insert, select

from hub.sharing.client_secrets import DEMO_CLIENT_SECRET
from hub.store.tables import audit_ledger, citizen, civil_event, field_conflict
from schemas.citizen import CONTENT_FIELDS

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UPDATED = datetime(2025, 11, 3, 8, 30)
PUBLISHED = datetime(2026, 1, 5, 7, 0)
APPLICANT, FATHER, MOTHER, SPOUSE = "001090000011", "001060000022", "001162000033", "001191000044"
# Values that must never reach an agency whose agreement lacks them, nor the ledger.
SECRET_RELIGION, SECRET_HOMETOWN = "TGBIMAT7", "Làng Bí Mật, Hà Nam"
ADDRESS = "Số 9, ngõ 12 Hàng Bạc"
NAMES = ("Nguyễn Văn An", "Nguyễn Văn Bình", "Trần Thị Cúc", "Lê Thị Dung")
# The demo agreements (config/sharing/agreements.yaml).
BHXH_FIELDS = {
    "personal_id",
    "full_name",
    "birth_date",
    "gender",
    "residence_province",
    "residence_commune",
    "death_date",
}
CONG_AN_FIELDS = {
    "personal_id",
    "full_name",
    "birth_date",
    "gender",
    "nationality",
    "ethnicity",
    "religion",
    "hometown",
    "residence_province",
    "residence_commune",
    "residence_detail",
    "father_id",
    "mother_id",
    "spouse_id",
    "marital_status",
}
SHARING_CONFIG = Path(__file__).resolve().parents[3] / "config" / "sharing"


class Clock:
    """The hub's clock in a test: aware UTC, moved by hand."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def person(personal_id: str, *, systems: dict[str, str] | None = None, **values: Any) -> dict[str, Any]:
    """A golden row: every field from the population database unless ``systems`` says otherwise."""
    row: dict[str, Any] = {
        "personal_id": personal_id,
        "full_name": NAMES[0],
        "birth_date": date(1990, 5, 17),
        "gender": "male",
        "nationality": "VN",
        "ethnicity": "01",
        "religion": SECRET_RELIGION,
        "hometown": SECRET_HOMETOWN,
        "residence_province": "01",
        "residence_commune": "00070",
        "residence_detail": ADDRESS,
        "father_id": None,
        "mother_id": None,
        "spouse_id": None,
        "marital_status": "single",
        "death_date": None,
        "source_updated_at": UPDATED,
        "content_hash": "x",
        "published_run_id": "r",
        "published_at": PUBLISHED,
        **values,
    }
    stamps = {
        name: {
            "system": (systems or {}).get(name, "national_population"),
            "source_updated_at": UPDATED.isoformat(),
            "fetched_at": UPDATED.isoformat(),
            "run_id": "r",
        }
        for name in CONTENT_FIELDS
    }
    return {**row, "provenance": json.dumps(stamps, ensure_ascii=False)}


def family() -> list[dict[str, Any]]:
    """A married man whose father, mother and wife the platform holds."""
    return [
        person(APPLICANT, father_id=FATHER, mother_id=MOTHER, spouse_id=SPOUSE, marital_status="married"),
        person(FATHER, full_name=NAMES[1], birth_date=date(1960, 2, 1)),
        person(MOTHER, full_name=NAMES[2], birth_date=date(1962, 3, 4), gender="female"),
        person(
            SPOUSE,
            full_name=NAMES[3],
            birth_date=date(1991, 7, 8),
            gender="female",
            spouse_id=APPLICANT,
            marital_status="married",
        ),
    ]


def seed(engine: Engine, rows: Iterable[dict[str, Any]], conflicts: Iterable[tuple[str, str]] = ()) -> None:
    """Insert golden rows, and open conflicts on (personal_id, field)."""
    with engine.begin() as conn:
        conn.execute(insert(citizen), list(rows))
        for personal_id, name in conflicts:
            conn.execute(
                insert(field_conflict).values(
                    personal_id=personal_id,
                    field=name,
                    kept_value="x",
                    kept_source="civil_status",
                    kept_updated_at=UPDATED,
                    other_value="y",
                    other_source="national_population",
                    other_updated_at=UPDATED,
                    run_id="r",
                    detected_at=UPDATED,
                    status="open",
                )
            )


def seed_event(engine: Engine, event_id: str, personal_id: str, published_at: datetime) -> None:
    """One civil-status event (a birth) published at ``published_at``."""
    with engine.begin() as conn:
        conn.execute(
            insert(civil_event).values(
                event_id=event_id,
                event_type="birth",
                personal_id=personal_id,
                spouse_id=None,
                event_date=date(2026, 1, 2),
                commune="00070",
                recorded_at=datetime(2026, 1, 3, 10, 0),
                content_hash="x",
                outcome="linked",
                run_id="r",
                published_at=published_at,
            )
        )


def ledger_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every ledger entry, oldest first."""
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(audit_ledger).order_by(audit_ledger.c.seq)).mappings()]


def sharing_config(tmp: Path, edit: Any) -> Path:
    """A copy of config/sharing with ``edit(agencies, agreements)`` applied to the parsed documents."""
    agencies = yaml.safe_load((SHARING_CONFIG / "agencies.yaml").read_text(encoding="utf-8"))
    agreements = yaml.safe_load((SHARING_CONFIG / "agreements.yaml").read_text(encoding="utf-8"))
    edit(agencies, agreements)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "agencies.yaml").write_text(yaml.safe_dump(agencies, allow_unicode=True), encoding="utf-8")
    (tmp / "agreements.yaml").write_text(yaml.safe_dump(agreements, allow_unicode=True), encoding="utf-8")
    return tmp


class Api:
    """An HTTP client of the API (TestClient or httpx against a real server) that logs in as the demo clients."""

    def __init__(self, http: httpx.Client, engine: Engine, clock: Clock) -> None:
        self.http, self.engine, self.clock = http, engine, clock
        self._tokens: dict[tuple[str, str | None], str] = {}

    def token(self, client_id: str, scope: str | None = None) -> str:
        key = (client_id, scope)
        if key not in self._tokens:
            form = {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": DEMO_CLIENT_SECRET,
                **({"scope": scope} if scope else {}),
            }
            response = self.http.post("/v1/token", data=form)
            assert response.status_code == 200, response.text
            self._tokens[key] = response.json()["access_token"]
        return self._tokens[key]

    def headers(self, client_id: str | None, **extra: str) -> dict[str, str]:
        return {**({"Authorization": f"Bearer {self.token(client_id)}"} if client_id else {}), **extra}

    def get(self, path: str, client_id: str | None, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, headers=self.headers(client_id, **kwargs.pop("headers", {})), **kwargs)

    def post(self, path: str, client_id: str | None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, headers=self.headers(client_id, **kwargs.pop("headers", {})), **kwargs)

    def delete(self, path: str, client_id: str | None, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, headers=self.headers(client_id, **kwargs.pop("headers", {})), **kwargs)

    def consent(
        self,
        agency: str = "CONG-AN",
        procedure: str = "TT-TR-01",
        purpose: str = "residence_registration",
        citizen_id: str = APPLICANT,
        days: float = 30,
    ) -> str:
        """Record a consent through the citizens' channel; returns its id."""
        response = self.post(
            "/v1/consents",
            "cong-dvc-consent",
            json={
                "citizen_id": citizen_id,
                "agency": agency,
                "procedure": procedure,
                "purpose": purpose,
                "expires_at": (self.clock() + timedelta(days=days)).isoformat(),
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["consent_id"])

    def ledger(self) -> list[dict[str, Any]]:
        return ledger_rows(self.engine)
