"""Prefill a procedure's form from the golden records, so the citizen is not asked again.

Each field of the form (``schemas/procedures/forms.yaml``) comes back either filled
- the value, the system that said it, when, and whether it is *verified* - or as
something the citizen must supply, with the reason:

``no_source``         the form asks the citizen (a choice, a reason, a new fact);
``not_in_agreement``  the caller's agreement does not cover the field: its value is never read;
``not_held``          the platform holds no value (no relative on record, an empty field).

A value is verified as ``hub.sharing.provenance`` says for every shared value: an
authoritative register said it (the population database, the civil-status register) and
no open ``field_conflict`` disputes it. A relative's value also needs the link to them
(the applicant's ``father_id``...) to be verified.
Nothing here logs, and the dataclasses keep values out of their ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import BindParameter, Connection, Select, bindparam, select

from hub.sharing.provenance import SourcedValue, sourced_fields
from hub.store.tables import citizen, field_conflict
from schemas.procedures.forms import Form, FormField, Source, load_forms

Reason = Literal["not_held", "no_source", "not_in_agreement"]
BATCH = 1000  # applicants per read: three queries per batch whatever its size
_KEY = "personal_id"


class UnknownProcedure(LookupError):
    """The procedure has no declared form (it may be missing from the catalogue, too)."""


@dataclass(frozen=True, slots=True)
class Filled:
    """A field the platform fills: the value (JSON-ready), who said it, when, and whether it is verified."""

    key: str
    value: str = field(repr=False)
    source: str | None  # None: no provenance was recorded for the value
    last_updated: str | None
    verified: bool


@dataclass(frozen=True, slots=True)
class MustSupply:
    """A field the citizen must fill in, and why the platform does not."""

    key: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class PrefillForm:
    """One applicant's form for one procedure: a result per form field, in the form's order."""

    form: Form
    personal_id: str = field(repr=False)
    fields: tuple[Filled | MustSupply, ...]
    relatives_read: tuple[str, ...] = field(default=(), repr=False)  # whose records filled fields: for the ledger

    @property
    def verified_count(self) -> int:
        """How many fields are filled from verified sources."""
        return sum(1 for result in self.fields if isinstance(result, Filled) and result.verified)

    @property
    def complete(self) -> bool:
        """Whether the citizen has nothing to give but consent: every field filled and verified."""
        return self.verified_count == len(self.fields)

    @property
    def held_complete(self) -> bool:
        """Whether every field a register could fill is filled and verified: the citizen states only the request."""
        return all(
            isinstance(result, Filled) and result.verified
            for spec, result in zip(self.form.fields, self.fields, strict=True)
            if spec.source is not None
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON document an agency's client receives."""
        return {
            "procedure_code": self.form.procedure,
            "title": self.form.title,
            "personal_id": self.personal_id,
            "fields": [
                _field_document(spec, result) for spec, result in zip(self.form.fields, self.fields, strict=True)
            ],
        }


def prefill(
    conn: Connection,
    procedure_code: str,
    personal_id: str,
    *,
    allowed_fields: frozenset[str] | None = None,
    forms: Mapping[str, Form] | None = None,
) -> PrefillForm | None:
    """The applicant's form for ``procedure_code``; None when the platform holds no record of them.

    ``allowed_fields``: the canonical citizen fields the caller's agreement covers (None: all).
    The applicant's own ``personal_id`` is the key asked by, never withheld; a relative's
    field needs the link (``father_id``...) and the field, a relative's id the link alone.

    Raises:
        UnknownProcedure: no form is declared for the procedure.
    """
    return prefill_many(conn, procedure_code, [personal_id], allowed_fields=allowed_fields, forms=forms).get(
        personal_id
    )


def prefill_many(
    conn: Connection,
    procedure_code: str,
    personal_ids: Iterable[str],
    *,
    allowed_fields: frozenset[str] | None = None,
    forms: Mapping[str, Form] | None = None,
) -> dict[str, PrefillForm]:
    """``prefill`` for many applicants, by personal id; those the platform does not hold are left out.

    Reads in batches of ``BATCH`` applicants: their golden rows, their relatives' and the open
    conflicts on those, one query each, only the columns the form and the agreement need.

    Raises:
        UnknownProcedure: no form is declared for the procedure.
    """
    form = (load_forms() if forms is None else forms).get(procedure_code)
    if form is None:
        raise UnknownProcedure(f"no form is declared for procedure {procedure_code} (schemas/procedures/forms.yaml)")
    plan = _Plan.of(form, allowed_fields)
    results: dict[str, PrefillForm] = {}
    for batch in _batches(dict.fromkeys(personal_ids)):  # dict: unique, in the caller's order
        results.update(plan.fill(conn, batch))
    return results


@dataclass(frozen=True)
class _Plan:
    """What one form needs under one agreement, worked out once per call rather than per record."""

    form: Form
    # Per form field: a reason decided without reading anything, or the source to read.
    steps: tuple[Reason | Source, ...]
    own_columns: tuple[str, ...]  # of the applicant's row, links included
    links: tuple[str, ...]  # the applicant's fields that name the relatives to read
    relative_columns: tuple[str, ...]  # of the relatives' rows

    @classmethod
    def of(cls, form: Form, allowed: frozenset[str] | None) -> _Plan:
        """Decide ``no_source`` and ``not_in_agreement`` up front: those values are never read."""
        steps = tuple(_step(spec, allowed) for spec in form.fields)
        sources = [step for step in steps if isinstance(step, Source)]
        links = {s.link_field for s in sources if s.link_field}
        own = {s.field for s in sources if s.relation is None} | links
        relative = {s.field for s in sources if s.relation is not None}
        return cls(form, steps, tuple(sorted(own - {_KEY})), tuple(sorted(links)), tuple(sorted(relative - {_KEY})))

    def fill(self, conn: Connection, personal_ids: Sequence[str]) -> Iterator[tuple[str, PrefillForm]]:
        """Read one batch and fill the form for each applicant held."""
        applicants = _golden(conn, personal_ids, self.own_columns)
        relative_ids = {row[name] for row in applicants.values() for name in self.links if row[name]}
        relatives = _golden(conn, sorted(relative_ids), self.relative_columns) if self.relative_columns else {}
        disputed = _open_conflicts(conn, [*applicants, *relatives], {_KEY, *self.own_columns, *self.relative_columns})
        relatives_sourced = {
            pid: sourced_fields(row, (_KEY, *self.relative_columns), disputed) for pid, row in relatives.items()
        }
        for personal_id, row in applicants.items():
            sourced = sourced_fields(row, (_KEY, *self.own_columns), disputed)
            fields = tuple(
                MustSupply(spec.key, step)
                if isinstance(step, str)
                else _resolve(spec.key, step, sourced, relatives_sourced)
                for spec, step in zip(self.form.fields, self.steps, strict=True)
            )
            read = tuple(sorted({row[name] for name in self.links if row[name] in relatives}))
            yield personal_id, PrefillForm(form=self.form, personal_id=personal_id, fields=fields, relatives_read=read)


def _step(spec: FormField, allowed: frozenset[str] | None) -> Reason | Source:
    source = spec.source
    if source is None:
        return "no_source"
    if allowed is None:
        return source
    # The key is never withheld; a relative's field needs the link to them as well.
    needed = {source.field, source.link_field or _KEY} - {_KEY}
    return source if needed <= allowed else "not_in_agreement"


def _resolve(
    key: str, source: Source, applicant: Mapping[str, SourcedValue], relatives: Mapping[str, Mapping[str, SourcedValue]]
) -> Filled | MustSupply:
    """One field from the applicant's record or, through the link, the relative's."""
    if source.relation is None:
        return _filled(key, applicant, source.field) or MustSupply(key, "not_held")
    link = _filled(key, applicant, source.link_field or "")
    if link is None:
        return MustSupply(key, "not_held")
    if source.field == _KEY:  # the relative's id is the link itself, whether or not their record is held
        return link
    relative = relatives.get(link.value)
    value = _filled(key, relative, source.field) if relative is not None else None
    if value is None:
        return MustSupply(key, "not_held")
    # A verified value of the wrong person is not verified: the link must be, too.
    return value if link.verified else replace(value, verified=False)


def _filled(key: str, person: Mapping[str, SourcedValue], name: str) -> Filled | None:
    """The field as filled, or None when the platform holds no value for it."""
    held = person.get(name)
    if held is None or held.value is None or held.value == "":
        return None
    return Filled(key, str(held.value), held.source, held.last_updated, held.verified)


def _golden(conn: Connection, personal_ids: Sequence[str], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The golden rows of these people: the key, the provenance and the named columns only."""
    if not personal_ids:
        return {}
    query, params = _golden_query(tuple(columns), _arity(personal_ids)), _id_params(personal_ids)
    return {row["personal_id"]: dict(row) for row in conn.execute(query, params).mappings()}


# Built once per form and agreement (a handful): building them per request cost about what running them does.
@lru_cache(maxsize=256)
def _golden_query(columns: tuple[str, ...], arity: int) -> Select[Any]:
    return select(citizen.c.personal_id, citizen.c.provenance, *(citizen.c[name] for name in columns)).where(
        citizen.c.personal_id.in_(_id_list(arity))
    )


@lru_cache(maxsize=256)
def _conflicts_query(fields: tuple[str, ...], arity: int) -> Select[Any]:
    return (
        select(field_conflict.c.personal_id, field_conflict.c.field)
        .where(
            field_conflict.c.status == "open",
            field_conflict.c.personal_id.in_(_id_list(arity)),
            field_conflict.c.field.in_(fields),
        )
        .distinct()
    )


# An API request reads one applicant and a relative or two. An expanding IN list is rendered into the SQL
# again at every execution (~4 % of a prefill's CPU); up to SMALL ids the statement has one bound
# parameter per id, compiled once per size. Batches past that keep the expanding list (one shape).
SMALL = 8


def _arity(personal_ids: Sequence[str]) -> int:
    """The statement's shape for this many ids: its count if small, else 0 (an expanding list)."""
    return len(personal_ids) if len(personal_ids) <= SMALL else 0


def _id_list(arity: int) -> BindParameter[Any] | list[BindParameter[Any]]:
    if arity == 0:
        return bindparam("ids", expanding=True)
    return [bindparam(f"id{index}") for index in range(arity)]


def _id_params(personal_ids: Sequence[str]) -> dict[str, Any]:
    if len(personal_ids) > SMALL:
        return {"ids": list(personal_ids)}
    return {f"id{index}": personal_id for index, personal_id in enumerate(personal_ids)}


def _open_conflicts(conn: Connection, personal_ids: Sequence[str], fields: set[str]) -> set[tuple[str, str]]:
    """(person, field) pairs two sources still disagree on."""
    # Not hub.sharing.provenance.open_conflicts: one query per batch, and only the form's fields.
    if not personal_ids or not fields:
        return set()
    query = _conflicts_query(tuple(sorted(fields)), _arity(personal_ids))
    return {(row.personal_id, row.field) for row in conn.execute(query, _id_params(personal_ids))}


def _batches(personal_ids: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for personal_id in personal_ids:
        batch.append(personal_id)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _field_document(spec: FormField, result: Filled | MustSupply) -> dict[str, Any]:
    document: dict[str, Any] = {
        "key": spec.key,
        "label_vi": spec.label_vi,
        "label_en": spec.label_en,
        "source_path": spec.source.path if spec.source else None,
    }
    if isinstance(result, Filled):
        return {
            **document,
            "status": "filled",
            "value": result.value,
            "source": result.source,
            "last_updated": result.last_updated,
            "verified": result.verified,
        }
    return {**document, "status": "must_supply", "reason": result.reason}
