"""Examples for the OpenAPI document: one per request body and per successful response, all made up.

Every value here is synthetic and plainly so: the citizen is "Nguyễn Văn Mẫu" ("mẫu" is
Vietnamese for "sample", the name forms print as a placeholder), born 2000-01-01 in
Hà Nội's registration code 001 with serial 000000, and every id and secret says
"example". A declared dataset's examples are an imaginary "example_register" (a real
declaration's names and titles belong to its YAML, not here). Error responses get theirs
from ``hub.api.problems``; a test checks that every example validates against its own
schema, so a changed model breaks it loudly.
"""

from __future__ import annotations

from typing import Any

PERSONAL_ID = "001200000000"  # 001 (Hà Nội), 2 (a man born in the 2000s), 00, serial 000000
CONSENT_ID = "example-consent-id-0000000000000"
_NAME = "Nguyễn Văn Mẫu"
_AT = "2026-03-01T08:00:00Z"
_GRANT = {
    "purpose": "health_insurance",
    "agreement_ids": ["EXAMPLE-AGREEMENT-01"],
    "legal_basis": "example legal basis (an agreement's citation goes here)",
}
_FIELDS = {
    "full_name": {"value": _NAME, "source": "national_population", "last_updated": _AT, "verified": True},
    "birth_date": {"value": "2000-01-01", "source": "national_population", "last_updated": _AT, "verified": True},
}
_FORM_FIELDS: list[dict[str, Any]] = [
    {
        "key": "full_name",
        "label_vi": "Họ và tên",
        "label_en": "Full name",
        "source_path": "citizen.full_name",
        "status": "filled",
        "value": _NAME,
        "source": "national_population",
        "last_updated": _AT,
        "verified": True,
    },
    {
        "key": "phone",
        "label_vi": "Số điện thoại",
        "label_en": "Phone number",
        "source_path": None,
        "status": "must_supply",
        "reason": "no_source",
    },
]
_CONSENT = {
    "consent_id": CONSENT_ID,
    "citizen": "001*******00",
    "agency": "BHXH",
    "procedure": "TT-TR-01",
    "purpose": "health_insurance",
    "granted_at": _AT,
    "expires_at": "2026-03-31T08:00:00Z",
    "revoked_at": None,
    "state": "active",
}
_TITLE = {"vi": "Sổ đăng ký mẫu", "en": "Example register"}
_REGISTER_FIELDS = {
    "registration_number": {"value": "EX-000001", "source": "example_system", "last_updated": _AT, "verified": True},
    "status": {"value": "active", "source": "example_system", "last_updated": _AT, "verified": True},
}
_CATALOGUE = {
    "systems": [
        {
            "system": "example_system",
            "title": _TITLE,
            "owner": "Example owner agency",
            "legal_basis": "example legal basis",
            "protocol": "rest",
            "streams": ["example_system.entries"],
            "datasets": ["example_register"],
        }
    ],
    "datasets": [
        {
            "dataset": "example_register",
            "title": _TITLE,
            "system": "example_system",
            "stream": "example_system.entries",
            "owner": "Example owner agency",
            "legal_basis": "example legal basis",
            "key": "registration_number",
            "fields": [
                {
                    "name": "registration_number",
                    "type": "text",
                    "title": {"vi": "Số đăng ký", "en": "Registration number"},
                    "personal": True,
                },
                {"name": "status", "type": "text", "title": {"vi": "Trạng thái", "en": "Status"}, "personal": False},
            ],
            "freshness": {
                "schedule": "@daily",
                "last_published_run_id": "example_system_sync:2026-03-01T08:00:00+00:00",
                "last_published_at": _AT,
                "cursor": "2026-03-01T07:59:00",
            },
            "granted": [
                {
                    "purpose": "example_purpose",
                    "fields": ["registration_number", "status"],
                    "agreement_ids": ["EXAMPLE-AGREEMENT-02"],
                    "legal_basis": "example legal basis (an agreement's citation goes here)",
                    "consent_required": False,
                }
            ],
        }
    ],
}
_SUBSCRIPTION = {
    "subscription_id": 1,
    "dataset": "citizen",
    "purpose": "health_insurance",
    "active": True,
    "created_at": _AT,
}

# (method, path, status) -> the example of that successful response
RESPONSES: dict[tuple[str, str, str], Any] = {
    ("post", "/v1/token", "200"): {
        "access_token": "example.access.token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "citizen civil_event",
    },
    ("post", "/v1/token", "400"): {
        "error": "unsupported_grant_type",
        "error_description": "only grant_type=client_credentials is supported",
    },
    ("post", "/v1/token", "401"): {"error": "invalid_client", "error_description": "unknown client or wrong secret"},
    ("get", "/v1/citizens/{personal_id}", "200"): {"dataset": "citizen", **_GRANT, "fields": _FIELDS},
    ("get", "/v1/catalogue", "200"): _CATALOGUE,
    ("get", "/v1/datasets/{dataset}/records/{key}", "200"): {
        "dataset": "example_register",
        **_GRANT,
        "purpose": "example_purpose",
        "fields": _REGISTER_FIELDS,
    },
    ("get", "/v1/changes", "200"): {
        "dataset": "citizen",
        **_GRANT,
        "items": [{"published_at": _AT, "fields": _FIELDS}],
        "next_cursor": "gAAAAAB-example-cursor-0000",
        "has_more": False,
    },
    ("post", "/v1/prefill", "200"): {
        "procedure_code": "TT-TR-01",
        "title": "Example procedure",
        "personal_id": PERSONAL_ID,
        "fields": _FORM_FIELDS,
        **_GRANT,
    },
    ("post", "/v1/consents", "201"): _CONSENT,
    ("delete", "/v1/consents/{consent_id}", "200"): {
        **_CONSENT,
        "revoked_at": "2026-03-02T08:00:00Z",
        "state": "revoked",
    },
    ("get", "/v1/consents/{consent_id}/preview", "200"): {
        "consent_id": CONSENT_ID,
        "state": "active",
        "agency": "BHXH",
        "procedure_code": "TT-TR-01",
        "title": "Example procedure",
        "purpose": "health_insurance",
        "expires_at": "2026-03-31T08:00:00Z",
        "agreement_ids": _GRANT["agreement_ids"],
        "legal_basis": _GRANT["legal_basis"],
        "fields": [
            {key: value for key, value in field.items() if key not in ("value", "last_updated")}
            for field in _FORM_FIELDS
        ],
    },
    ("get", "/v1/subscriptions", "200"): {"subscriptions": [_SUBSCRIPTION]},
    ("post", "/v1/subscriptions", "201"): _SUBSCRIPTION,
    ("post", "/v1/subscriptions", "200"): _SUBSCRIPTION,
    ("delete", "/v1/subscriptions/{subscription_id}", "200"): {**_SUBSCRIPTION, "active": False},
}

# (method, path) -> the example of its request body
REQUEST_BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/token"): {
        "grant_type": "client_credentials",
        "client_id": "example-agency-app",
        "client_secret": "example-secret",
        "scope": "citizen",
    },
    ("post", "/v1/prefill"): {"procedure": "TT-TR-01", "citizen_id": PERSONAL_ID, "consent_id": CONSENT_ID},
    ("post", "/v1/consents"): {
        "citizen_id": PERSONAL_ID,
        "agency": "BHXH",
        "procedure": "TT-TR-01",
        "purpose": "health_insurance",
        "expires_at": "2026-03-31T08:00:00Z",
    },
    ("post", "/v1/subscriptions"): {"dataset": "citizen", "purpose": "health_insurance"},
}


def add_examples(document: dict[str, Any]) -> dict[str, Any]:
    """Put the examples above on the document's request bodies and responses (those that have none yet)."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                if (method, path) in REQUEST_BODIES:
                    media.setdefault("example", REQUEST_BODIES[method, path])
            for status, response in operation.get("responses", {}).items():
                for media in response.get("content", {}).values():
                    if (method, path, status) in RESPONSES and "examples" not in media:
                        media.setdefault("example", RESPONSES[method, path, status])
    return document
