"""The shapes of the API's identifiers, checked before anything reads the store.

Patterns are ASCII on purpose (``[0-9]``, not ``\\d``, which also matches other scripts'
digits): a hostile id, a 10,000-character purpose or a null byte stops here with a 422
that names the parameter, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, StringConstraints, WithJsonSchema

from hub.sharing.consent import CONSENT_ID_PATTERN
from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES, is_well_formed


def province_alternation(codes: Iterable[str]) -> str:
    """A regex alternation of 3-digit codes, grouped by their first two digits: ``00[1246]|01[0124]|...``."""
    groups = groupby(sorted(codes), key=lambda code: code[:2])
    return "|".join(f"{head}[{''.join(code[2] for code in group)}]" for head, group in groups)


# Twelve ASCII digits whose first three are a known province of birth registration: generated from
# schemas.personal_id's table, the one the API checks (is_well_formed), so the document cannot drift.
PERSONAL_ID_PATTERN = rf"^(?:{province_alternation(BIRTH_REGISTRATION_PROVINCES)})[0-9]{{9}}$"
PURPOSE_PATTERN = r"^[a-z_]{1,60}$"
PROCEDURE_PATTERN = r"^[A-Z0-9]{1,8}(-[A-Z0-9]{1,8}){0,3}$"  # the catalogue's codes, e.g. TT-KS-01
AGENCY_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,31}$"
CURSOR_PATTERN = r"^[A-Za-z0-9_=-]{1,2048}$"  # a Fernet token (URL-safe base64)
# A declared dataset's key in a path: letters, digits, and . _ - inside (no slash, no space, no percent).
RECORD_KEY_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$"


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def dataset_type(names: Sequence[str]) -> Any:
    """``Literal[...]`` of the catalogue's datasets: the document lists them, and any other is a 422.

    Built when the app is (``hub.api.app.build_app``), from the declarations in force then.
    """
    return Literal.__getitem__(tuple(names))


def annotate(endpoint: _Endpoint, **types: Any) -> _Endpoint:
    """``endpoint`` with some parameters' types made at run time (a ``dataset_type``), before FastAPI reads them.

    Our modules postpone annotations (``from __future__ import annotations``), which FastAPI
    resolves in the module's globals: a type made inside a function must be put in directly.
    """
    endpoint.__annotations__.update(types)
    return endpoint


def _known_province(value: str) -> str:
    if not (is_well_formed(value) and re.fullmatch(PERSONAL_ID_PATTERN, value)):
        raise ValueError("not a personal identification number (12 digits, a known province of registration)")
    return value


# Checked by one validator with a reason a clerk can read (a 63-code regex in an error helps nobody);
# the document shows the same pattern.
PersonalIdText = Annotated[
    str,
    StringConstraints(min_length=12, max_length=12),
    AfterValidator(_known_province),
    WithJsonSchema({"type": "string", "minLength": 12, "maxLength": 12, "pattern": PERSONAL_ID_PATTERN}),
]
PurposeText = Annotated[str, StringConstraints(pattern=PURPOSE_PATTERN)]
ProcedureText = Annotated[str, StringConstraints(pattern=PROCEDURE_PATTERN, max_length=32)]
AgencyText = Annotated[str, StringConstraints(pattern=AGENCY_PATTERN)]
ConsentIdText = Annotated[str, StringConstraints(pattern=CONSENT_ID_PATTERN)]

PersonalIdPath = Annotated[PersonalIdText, Path(description="The citizen's personal identification number.")]
PurposeQuery = Annotated[PurposeText, Query(description="The purpose of the read, as an agreement names it.")]
ConsentIdPath = Annotated[ConsentIdText, Path(description="The consent's id, as recorded.")]
SubscriptionIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The subscription's id.")]
