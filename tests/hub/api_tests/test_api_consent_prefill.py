"""Consents and prefill: the citizens' channel records consent, an agency prefills under it, failures are recorded."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from api_support import (
    ADDRESS,
    APPLICANT,
    FATHER,
    NAMES,
    SECRET_HOMETOWN,
    SECRET_RELIGION,
    SPOUSE,
    Api,
    family,
    seed,
)

from hub import ledger
from hub.api.prefill import PrefilledForm

PREFILL = "/v1/prefill"


def prefill(api: Api, client_id: str, consent_id: str, procedure: str = "TT-TR-01", citizen_id: str = APPLICANT) -> Any:
    return api.post(
        PREFILL, client_id, json={"procedure": procedure, "citizen_id": citizen_id, "consent_id": consent_id}
    )


def by_key(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in document["fields"]}


def test_a_consented_prefill_fills_what_the_platform_holds_and_asks_the_rest(api: Api) -> None:
    seed(api.engine, family())
    consent_id = api.consent()
    response = prefill(api, "cong-an-app", consent_id)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["procedure_code"] == "TT-TR-01" and document["purpose"] == "residence_registration"
    assert document["agreement_ids"] == ["TTDL-2025-004"]
    fields = by_key(document)
    assert fields["full_name"] == {
        "key": "full_name",
        "label_vi": "Họ, chữ đệm và tên",
        "label_en": "Full name",
        "source_path": "applicant.full_name",
        "status": "filled",
        "value": NAMES[0],
        "source": "national_population",
        "last_updated": "2025-11-03T08:30:00",
        "verified": True,
    }
    assert fields["current_residence"]["value"] == ADDRESS
    assert fields["new_address"] == {
        "key": "new_address",
        "label_vi": "Địa chỉ đề nghị đăng ký thường trú",
        "label_en": "Address to register as permanent residence",
        "source_path": None,
        "status": "must_supply",
        "reason": "no_source",
    }
    entry = api.ledger()[-1]
    assert (entry["action"], entry["outcome"], entry["purpose"], entry["agency_code"]) == (
        "prefill",
        "ok",
        "residence_registration",
        "CONG-AN",
    )
    assert "procedure TT-TR-01" in entry["detail"] and consent_id not in entry["detail"]
    assert set(entry["fields"].split(",")) == {
        "personal_id",
        "full_name",
        "birth_date",
        "gender",
        "residence_detail",
        "residence_commune",
    }


def test_prefill_reads_only_what_the_consents_purpose_grants(api: Api) -> None:
    seed(api.engine, family())
    consent_id = api.consent(agency="BHXH", purpose="health_insurance")
    response = prefill(api, "bhxh-app", consent_id)
    assert response.status_code == 200
    fields = by_key(response.json())
    assert fields["current_residence"]["status"] == "must_supply"
    assert fields["current_residence"]["reason"] == "not_in_agreement"
    assert fields["current_commune"]["status"] == "filled"
    assert ADDRESS not in response.text


def test_relatives_come_through_the_links_the_agreement_grants(api: Api) -> None:
    seed(api.engine, family())
    consent_id = api.consent(agency="TU-PHAP", procedure="TT-LL-01", purpose="judicial_record")
    response = prefill(api, "tu-phap-app", consent_id, procedure="TT-LL-01")
    assert response.status_code == 200, response.text
    fields = by_key(response.json())
    assert fields["father_full_name"]["value"] == NAMES[1] and fields["spouse_full_name"]["value"] == NAMES[3]
    assert SECRET_RELIGION not in response.text and SECRET_HOMETOWN not in response.text
    entry = api.ledger()[-1]  # whose records were read is on record: the applicant, the father, the spouse
    key = api.http.app.state.context.ledger_key  # type: ignore[attr-defined]  # a TestClient here
    keys = {ledger.hash_key(key, pid) for pid in (APPLICANT, FATHER, SPOUSE)}
    assert keys <= set(entry["record_keys"].split(",")) and entry["record_count"] >= 3


@pytest.mark.parametrize(
    ("agency", "client_id", "procedure", "purpose"),
    [
        ("CONG-AN", "cong-an-app", "TT-TR-01", "residence_registration"),
        ("TU-PHAP", "tu-phap-app", "TT-LL-01", "judicial_record"),
        ("BHXH", "bhxh-app", "TT-TR-01", "health_insurance"),
    ],
)
def test_the_prefilled_form_is_sent_exactly_as_its_model_would_send_it(
    api: Api, agency: str, client_id: str, procedure: str, purpose: str
) -> None:
    # The route sends its document without validating it against PrefilledForm: the model must agree.
    seed(api.engine, family())
    consent_id = api.consent(agency=agency, procedure=procedure, purpose=purpose)
    response = prefill(api, client_id, consent_id, procedure=procedure)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    model = PrefilledForm.model_validate_json(response.content)
    assert model.model_dump_json(exclude_unset=True).encode() == response.content
    statuses = {item["status"] for item in response.json()["fields"]}
    assert statuses == {"filled", "must_supply"}  # both shapes of a field were checked


def _revoked(api: Api) -> str:
    consent_id = api.consent()
    response = api.delete(f"/v1/consents/{consent_id}", "cong-dvc-consent")
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    return consent_id


def _expired(api: Api) -> str:
    consent_id = api.consent(days=1)
    api.clock.advance(days=1, seconds=1)
    return consent_id


@pytest.mark.parametrize(
    ("setup", "client_id", "overrides", "rule"),
    [
        (lambda api: secrets.token_urlsafe(24), "cong-an-app", {}, "no_consent"),
        (_revoked, "cong-an-app", {}, "consent_revoked"),
        (_expired, "cong-an-app", {}, "consent_expired"),
        (lambda api: api.consent(), "bhxh-app", {}, "consent_mismatch"),
        (lambda api: api.consent(), "cong-an-app", {"citizen_id": SPOUSE}, "consent_mismatch"),
        (lambda api: api.consent(), "cong-an-app", {"procedure": "TT-LL-01"}, "consent_mismatch"),
        (lambda api: api.consent(), "cong-dvc-consent", {}, "wrong_role"),
    ],
)
def test_without_a_valid_consent_prefill_is_refused_and_recorded(
    api: Api,
    setup: Any,
    client_id: str,
    overrides: dict[str, str],
    rule: str,
) -> None:
    seed(api.engine, family())
    consent_id = setup(api)
    before = len(api.ledger())
    response = prefill(api, client_id, consent_id, **overrides)
    assert response.status_code == 403, response.text
    assert response.json()["rule"] == rule and response.headers["content-type"] == "application/problem+json"
    for secret in (NAMES[0], ADDRESS, APPLICANT, SPOUSE, consent_id):
        assert secret not in response.text
    entries = api.ledger()[before:]
    assert [(entry["action"], entry["outcome"], entry["detail"]) for entry in entries] == [("prefill", "denied", rule)]


def test_an_unknown_citizen_is_a_404(api: Api) -> None:
    consent_id = api.consent()  # nobody is seeded
    response = prefill(api, "cong-an-app", consent_id)
    assert response.status_code == 404 and api.ledger()[-1]["outcome"] == "not_found"


@pytest.mark.parametrize(
    ("agency", "purpose", "rule"),
    [
        ("BHXH", "residence_registration", "purpose_not_agreed"),
        ("SO-Y-TE", "vaccination", "agreement_expired"),
        ("NOBODY", "residence_registration", "no_agreement"),
    ],
)
def test_a_consent_names_an_agency_with_an_agreement_for_the_purpose(
    api: Api, agency: str, purpose: str, rule: str
) -> None:
    response = api.post(
        "/v1/consents",
        "cong-dvc-consent",
        json={
            "citizen_id": APPLICANT,
            "agency": agency,
            "procedure": "TT-TR-01",
            "purpose": purpose,
            "expires_at": (api.clock() + timedelta(days=10)).isoformat(),
        },
    )
    assert response.status_code == 403 and response.json()["rule"] == rule
    entry = api.ledger()[-1]
    assert (entry["action"], entry["outcome"], entry["detail"]) == ("consent_grant", "denied", rule)


@pytest.mark.parametrize(
    ("expires", "procedure"),
    [
        (timedelta(days=91), "TT-TR-01"),
        (timedelta(seconds=-1), "TT-TR-01"),
        (timedelta(0), "TT-TR-01"),
        (timedelta(days=10), "TT-GP-01"),  # in the catalogue, but no form to prefill
        (timedelta(days=10), "XX-YY-99"),
    ],
)
def test_a_consent_must_end_within_90_days_and_name_a_form(api: Api, expires: timedelta, procedure: str) -> None:
    response = api.post(
        "/v1/consents",
        "cong-dvc-consent",
        json={
            "citizen_id": APPLICANT,
            "agency": "CONG-AN",
            "procedure": procedure,
            "purpose": "residence_registration",
            "expires_at": (api.clock() + expires).isoformat(),
        },
    )
    assert response.status_code == 422, response.text
    assert APPLICANT not in response.text


def test_only_the_citizens_channel_records_and_revokes(api: Api) -> None:
    consent_id = api.consent()
    body = {
        "citizen_id": APPLICANT,
        "agency": "CONG-AN",
        "procedure": "TT-TR-01",
        "purpose": "residence_registration",
        "expires_at": (api.clock() + timedelta(days=5)).isoformat(),
    }
    recorded = api.post("/v1/consents", "cong-an-app", json=body)
    assert recorded.status_code == 403 and recorded.json()["rule"] == "wrong_role"
    revoked = api.delete(f"/v1/consents/{consent_id}", "cong-an-app")
    assert revoked.status_code == 403 and revoked.json()["rule"] == "wrong_role"
    assert api.delete(f"/v1/consents/{secrets.token_urlsafe(24)}", "cong-dvc-consent").status_code == 404
    assert [entry["outcome"] for entry in api.ledger()[-3:]] == ["denied", "denied", "not_found"]


def test_a_consent_record_masks_the_citizen_and_ids_are_unguessable(api: Api) -> None:
    ids = {api.consent() for _ in range(5)}
    assert len(ids) == 5 and all(len(consent_id) == 32 for consent_id in ids)
    response = api.delete(f"/v1/consents/{ids.pop()}", "cong-dvc-consent")
    assert response.json()["citizen"] == "001*******11" and APPLICANT not in response.text
    again = api.delete(f"/v1/consents/{response.json()['consent_id']}", "cong-dvc-consent")
    assert again.json()["revoked_at"] == response.json()["revoked_at"]  # the first revocation stands
    entries = api.ledger()
    assert [entry["action"] for entry in entries[-7:]] == ["consent_grant"] * 5 + ["consent_revoke"] * 2


def test_the_preview_shows_sources_and_what_to_supply_but_no_value(api: Api) -> None:
    seed(api.engine, family())
    consent_id = api.consent(agency="BHXH", purpose="health_insurance")
    for client_id in ("cong-dvc-consent", "bhxh-app"):
        response = api.get(f"/v1/consents/{consent_id}/preview", client_id)
        assert response.status_code == 200, response.text
        document = response.json()
        assert document["state"] == "active" and document["agency"] == "BHXH"
        fields = by_key(document)
        assert fields["full_name"] == {
            "key": "full_name",
            "label_vi": "Họ, chữ đệm và tên",
            "label_en": "Full name",
            "source_path": "applicant.full_name",
            "status": "filled",
            "source": "national_population",
            "verified": True,
        }
        assert fields["current_residence"]["reason"] == "not_in_agreement"
        assert all("value" not in item and "last_updated" not in item for item in document["fields"])
        for secret in (*NAMES, ADDRESS, APPLICANT, "1990-05-17", FATHER):
            assert secret not in response.text
    other = api.get(f"/v1/consents/{consent_id}/preview", "cong-an-app")
    assert other.status_code == 403 and other.json()["rule"] == "consent_mismatch"
    assert [entry["action"] for entry in api.ledger()[-3:]] == ["consent_preview"] * 3
