"""The shapes of the API's identifiers, checked before anything reads the store.

Patterns are ASCII on purpose (``[0-9]``, not ``\\d``, which also matches other scripts'
digits): a hostile id, a 10,000-character purpose or a null byte stops here with a 422
that names the parameter, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import groupby
from typing import Annotated, Literal

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
Dataset = Literal["citizen", "civil_event"]  # schemas.datasets.DATASET_FIELDS, spelled out for the schema


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
