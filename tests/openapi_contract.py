"""Hold a JSON response to the schema an OpenAPI 3.1 document promises for it.

    validate_response(OPENAPI_PATH, "/events", "get", 200, response.json())

The schema is looked up by path template, method, status (or ``default``) and media
type (the response's one JSON media type unless given), following ``$ref``s to
components, and checked with JSON Schema 2020-12 (the OpenAPI 3.1 dialect), formats
included (``date``, ``date-time``). ``$ref``s inside schemas resolve against the
whole document. Raises ``jsonschema.ValidationError`` (or ``LookupError`` when the
document promises nothing for that response).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

_BASE = "urn:lgsp:test:openapi"  # the document's URI inside the registry


@lru_cache(maxsize=16)
def _document(openapi_path: str) -> tuple[dict[str, Any], Registry]:
    """The parsed document and a registry holding it (cached per file)."""
    document = yaml.safe_load(Path(openapi_path).read_text(encoding="utf-8"))
    return document, Registry().with_resource(_BASE, DRAFT202012.create_resource(document))


def _escape(token: str) -> str:
    """A JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def _at(document: dict[str, Any], pointer: str) -> Any:
    """The node at a local JSON Pointer ("/components/responses/NotFound")."""
    node: Any = document
    for token in pointer.split("/")[1:]:
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _follow(document: dict[str, Any], pointer: str) -> tuple[Any, str]:
    """The node at ``pointer`` after following local ``$ref``s, and its final pointer."""
    node = _at(document, pointer)
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise LookupError(f"only local $refs are supported, not {ref}")
        pointer = ref[1:]
        node = _at(document, pointer)
    return node, pointer


def schema_pointer(
    openapi_path: Path | str, path_template: str, method: str, status: int, media_type: str | None = None
) -> str:
    """The JSON Pointer of the schema promised for a response.

    Raises:
        LookupError: no such path, method, status or JSON media type in the document.
    """
    document, _ = _document(str(openapi_path))
    operation = f"/paths/{_escape(path_template)}/{method.lower()}"
    try:
        responses, pointer = _follow(document, operation + "/responses")
        key = str(status) if str(status) in responses else "default"
        response, pointer = _follow(document, f"{pointer}/{key}")
    except KeyError as exc:
        raise LookupError(f"the contract defines no {status} response for {method.upper()} {path_template}") from exc
    content = response.get("content", {})
    if media_type is None:
        json_types = [name for name in content if name.endswith("json")]
        if len(json_types) != 1:
            raise LookupError(f"{method.upper()} {path_template} {status}: expected one JSON media type, {json_types}")
        media_type = json_types[0]
    if media_type not in content:
        raise LookupError(f"{method.upper()} {path_template} {status} has no {media_type} content")
    return f"{pointer}/content/{_escape(media_type)}/schema"


def validate_response(
    openapi_path: Path | str,
    path_template: str,
    method: str,
    status: int,
    json_body: Any,
    media_type: str | None = None,
) -> None:
    """Validate ``json_body`` against the schema the contract gives this response.

    Raises:
        jsonschema.ValidationError: the body breaks the schema.
        LookupError: the contract defines no such response.
    """
    _, registry = _document(str(openapi_path))
    pointer = schema_pointer(openapi_path, path_template, method, status, media_type)
    validator = Draft202012Validator(
        {"$ref": f"{_BASE}#{pointer}"}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(json_body)
