"""The forms (tờ khai) of the catalogue's procedures: each field, its labels, and what fills it.

Read from ``forms.yaml`` next to this module. A field's source is a path into the
canonical citizen record (``applicant.full_name``, ``applicant.father.full_name``)
or none, when only the citizen can supply it. The prefill engine
(``hub.sharing.prefill``) fills a form from the golden records along these paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml

from schemas.citizen import CONTENT_FIELDS
from schemas.procedures import CATALOGUE_PATH, Procedure, load_catalogue

FORMS_PATH = Path(__file__).parent / "forms.yaml"
Relation = Literal["father", "mother", "spouse"]
RELATIONS: tuple[Relation, ...] = get_args(Relation)
# What a path may end in: a canonical field, or the key itself.
SOURCE_FIELDS: tuple[str, ...] = ("personal_id", *CONTENT_FIELDS)
_ROOT = "applicant"
_FIELD_KEYS = ("key", "label_vi", "label_en", "source")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a field's value lives: a field of the applicant's record, or of a relative's (by their id)."""

    path: str
    relation: Relation | None
    field: str

    @property
    def link_field(self) -> str | None:
        """The applicant's field that names the relative (``father_id``...), None for the applicant's own."""
        return None if self.relation is None else f"{self.relation}_id"


@dataclass(frozen=True, slots=True)
class FormField:
    """One field of a form: its key, its Vietnamese and English labels, and its source (None: the citizen's)."""

    key: str
    label_vi: str
    label_en: str
    source: Source | None


@dataclass(frozen=True, slots=True)
class Form:
    """The form of one procedure: its title and its fields, in the form's order."""

    procedure: str
    title: str
    fields: tuple[FormField, ...]


def load_forms(path: Path = FORMS_PATH, catalogue_path: Path = CATALOGUE_PATH) -> dict[str, Form]:
    """The forms by procedure code, in file order (a fresh dict; the file is parsed once).

    Raises:
        ValueError: the file is not a list of forms, or an entry is malformed, repeated, or names a
            procedure that is not in the catalogue.
    """
    return dict(_parse(path, catalogue_path))


def parse_source(path: Any, where: str) -> Source:
    """``applicant.<field>`` or ``applicant.<father|mother|spouse>.<field>``, checked against the canon.

    Raises:
        ValueError: the path is not one of those shapes, or names an unknown field or relation.
    """
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) not in (2, 3) or parts[0] != _ROOT:
        raise ValueError(f"{where}: source must be applicant.<field> or applicant.<relation>.<field>, or null")
    if len(parts) == 3 and parts[1] not in RELATIONS:
        raise ValueError(f"{where}: source {path}: relation must be one of {', '.join(RELATIONS)}")
    if parts[-1] not in SOURCE_FIELDS:
        raise ValueError(f"{where}: source {path}: {parts[-1]} is not a canonical citizen field")
    relation = cast(Relation, parts[1]) if len(parts) == 3 else None
    return Source(path=path, relation=relation, field=parts[-1])


@cache
def _parse(path: Path, catalogue_path: Path) -> tuple[tuple[str, Form], ...]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = document.get("forms") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path.name}: expected a top-level 'forms' list")
    catalogue = load_catalogue(catalogue_path)
    forms: dict[str, Form] = {}
    for number, entry in enumerate(entries, start=1):
        form = _form(entry, f"{path.name}: form {number}", catalogue, catalogue_path.name)
        if form.procedure in forms:
            raise ValueError(f"{path.name}: form {number} repeats procedure {form.procedure}")
        forms[form.procedure] = form
    return tuple(forms.items())


def _form(entry: Any, where: str, catalogue: Mapping[str, Procedure], catalogue_name: str) -> Form:
    """One form, checked so the message says what to fix."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping with procedure, title, fields")
    procedure, title, fields = (entry.get(key) for key in ("procedure", "title", "fields"))
    if not isinstance(procedure, str) or procedure not in catalogue:
        raise ValueError(f"{where}: procedure {procedure!r} is not a code of the catalogue ({catalogue_name})")
    where = f"{where} ({procedure})"
    if not isinstance(title, str) or not title:
        raise ValueError(f"{where}: title must be a non-empty string")
    if not isinstance(fields, list) or not fields:
        raise ValueError(f"{where}: fields must be a non-empty list")
    parsed = tuple(_field(item, f"{where}: field {number}") for number, item in enumerate(fields, start=1))
    keys = [item.key for item in parsed]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"{where}: field key(s) repeated: {', '.join(repeated)}")
    return Form(procedure=procedure, title=title, fields=parsed)


def _field(entry: Any, where: str) -> FormField:
    """One field: every key present (``source: null`` said outright), no unknown key, labels non-empty."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping with {', '.join(_FIELD_KEYS)}")
    unknown = sorted(str(key) for key in entry if key not in _FIELD_KEYS)
    missing = [key for key in _FIELD_KEYS if key not in entry]
    if unknown or missing:
        raise ValueError(
            f"{where}: unknown key(s) {unknown or 'none'}, missing key(s) {missing or 'none'}; "
            f"expected {', '.join(_FIELD_KEYS)}"
        )
    key, label_vi, label_en, source = (entry[name] for name in _FIELD_KEYS)
    if not isinstance(key, str) or not key:
        raise ValueError(f"{where}: key must be a non-empty string")
    where = f"{where} ({key})"
    if not all(isinstance(label, str) and label.strip() for label in (label_vi, label_en)):
        raise ValueError(f"{where}: label_vi and label_en must be non-empty strings")
    return FormField(
        key=key, label_vi=label_vi, label_en=label_en, source=None if source is None else parse_source(source, where)
    )
