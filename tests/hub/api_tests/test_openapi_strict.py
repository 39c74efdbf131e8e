"""The OpenAPI document is as strict as the API: examples everywhere that validate, the real id pattern, 405s.

Walks the document the API serves: every response with a body and every request body
has an example that its own schema accepts (JSON Schema 2020-12, the OpenAPI 3.1
dialect, ``$ref``s resolved against the document); the personal-id pattern is the one
the API checks; the since/cursor rule and the 405s are documented, and the API does
what the document says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from api_support import APPLICANT, Api
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES

_BASE = "urn:lgsp:test:hub-openapi"
UNKNOWN_PROVINCES = ("000", "003", "099", "100", "999")  # no province of Circular 07/2016 has these codes


@pytest.fixture
def document(api: Api) -> dict[str, Any]:
    served = api.http.get("/openapi.json")
    assert served.status_code == 200
    found: dict[str, Any] = served.json()
    return found


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for ``schema``, whose ``#/components/...`` refs resolve against ``document``."""
    registry: Registry[Any] = Registry().with_resource(_BASE, DRAFT202012.create_resource(document))
    return Draft202012Validator(
        {"$id": _BASE + "#embedded", **_rebase(schema)}, registry=registry, format_checker=FormatChecker()
    )


def _rebase(node: Any) -> Any:
    """``#/components/x`` -> ``urn:...#/components/x``: local refs point into the whole document."""
    if isinstance(node, dict):
        return {
            key: (_BASE + value if key == "$ref" and value.startswith("#/") else _rebase(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    return node


def media_types(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, media type object) of every request body and every response with a body."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                yield f"{method.upper()} {path} request {media_type}", media
            for status, response in operation["responses"].items():
                for media_type, media in response.get("content", {}).items():
                    yield f"{method.upper()} {path} {status} {media_type}", media


def examples_of(media: dict[str, Any]) -> list[Any]:
    """The example values a media type object gives (``example`` or ``examples``)."""
    if "example" in media:
        return [media["example"]]
    return [example["value"] for example in media.get("examples", {}).values()]


def test_every_body_has_examples_its_own_schema_accepts(document: dict[str, Any]) -> None:
    checked, bodies = 0, set()
    for where, media in media_types(document):
        if " request " in where:
            bodies.add(where.split(" request ")[0])
        examples = examples_of(media)
        assert examples, f"{where}: no example"
        validator = schema_validator(document, media["schema"])
        for example in examples:
            errors = [error.message for error in validator.iter_errors(example)]
            assert errors == [], (where, errors)
            checked += 1
    assert checked > 60  # 10 operations, each with its successes and its errors
    assert bodies == {"POST /v1/token", "POST /v1/prefill", "POST /v1/consents", "POST /v1/subscriptions"}


def test_the_examples_carry_no_real_looking_person(document: dict[str, Any]) -> None:
    text = str(document)
    ids = set(re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", text))
    assert ids == {"001200000000"}  # the one plainly made-up id: serial 000000


def _personal_id_schemas(document: dict[str, Any]) -> list[dict[str, Any]]:
    schemas = [
        parameter["schema"]
        for parameter in document["paths"]["/v1/citizens/{personal_id}"]["get"]["parameters"]
        if parameter["name"] == "personal_id"
    ]
    components = document["components"]["schemas"]
    schemas += [components["PrefillRequest"]["properties"]["citizen_id"]]
    schemas += [components["ConsentRequest"]["properties"]["citizen_id"]]
    return schemas


def test_the_personal_id_pattern_takes_known_provinces_only(document: dict[str, Any], api: Api) -> None:
    schemas = _personal_id_schemas(document)
    assert len(schemas) == 3 and len({schema["pattern"] for schema in schemas}) == 1
    pattern = re.compile(schemas[0]["pattern"])
    assert pattern.search(APPLICANT)  # a real id of the test data, with a known province
    for code in BIRTH_REGISTRATION_PROVINCES:
        assert pattern.search(code + "200000000"), code
    for code in UNKNOWN_PROVINCES:
        assert not pattern.search(code + "200000000"), code
    assert not pattern.search(APPLICANT[:11]) and not pattern.search(APPLICANT + "0")
    # ... and the API agrees with the document: the unknown province is refused before anything is read.
    for code in UNKNOWN_PROVINCES[:2]:
        refused = api.get(f"/v1/citizens/{code}200000000?purpose=health_insurance", "bhxh-app")
        assert refused.status_code == 422, refused.text
        assert refused.json()["invalid_params"][0]["name"] == "path.personal_id"


def test_since_with_cursor_is_documented_as_refused_and_is_refused(document: dict[str, Any], api: Api) -> None:
    operation = document["paths"]["/v1/changes"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    for name in ("since", "cursor"):
        assert "Exactly one of `since` and `cursor`" in parameters[name]["description"], name
    documented = operation["responses"]["422"]["content"]["application/problem+json"]["examples"]
    example = documented["since_and_cursor"]["value"]
    first = api.get("/v1/changes?dataset=citizen&purpose=health_insurance&since=2026-01-01T00:00:00Z", "bhxh-app")
    assert first.status_code == 200, first.text
    both = api.get(
        "/v1/changes?dataset=citizen&purpose=health_insurance&since=2026-01-01T00:00:00Z"
        f"&cursor={first.json()['next_cursor']}",
        "bhxh-app",
    )
    assert both.status_code == 422
    refused = both.json()
    assert {key: refused[key] for key in ("type", "status", "detail", "invalid_params")} == {
        key: example[key] for key in ("type", "status", "detail", "invalid_params")
    }


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/subscriptions", "GET, POST"),  # two routes share the path: both methods, not the first's
        ("PATCH", "/v1/subscriptions/1", "DELETE"),
        ("GET", "/v1/token", "POST"),
        ("DELETE", "/v1/citizens/001200000000", "GET"),
        ("PUT", "/v1/consents/example-consent-id-0000000000000", "DELETE"),
        ("GET", "/v1/prefill", "POST"),
    ],
)
def test_a_405_names_every_method_the_path_takes(
    api: Api, document: dict[str, Any], method: str, path: str, allowed: str
) -> None:
    answer = api.http.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allowed
    assert answer.headers["content-type"] == "application/problem+json"
    template = next(t for t in document["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path))
    for operation in document["paths"][template].values():
        assert operation["responses"]["405"]["headers"]["Allow"]["example"] == allowed, template
