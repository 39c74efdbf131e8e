"""What every part of the declaration format shares: names, field types, the strict base model, titles."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IDENTIFIER = r"^[a-z][a-z0-9_]{0,39}$"  # a system, stream, dataset, field or connection name: a SQL identifier too
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]
PYTHON_REF = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"  # "package.module:function"

FieldType = Literal["text", "integer", "decimal", "date", "datetime", "boolean", "personal_id", "province", "commune"]
FIELD_TYPES: tuple[str, ...] = FieldType.__args__  # type: ignore[attr-defined]


def python_function(reference: str) -> Callable[..., Any] | None:
    """The function a declaration's ``package.module:function`` names; None when it does not import or is no function.

    What a declaration hands to domain Python (a merge, a reader, a check, a followup) is found here, once;
    each caller says in its own words what to write instead.
    """
    module_name, _, function_name = reference.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError):
        return None
    return function if callable(function) else None


class Model(BaseModel):
    """Every declaration model: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Titles(Model):
    """A name in Vietnamese and in English, as the report, the CLI and the catalogue show it."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)
