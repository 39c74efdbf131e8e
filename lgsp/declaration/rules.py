"""The quality rule vocabulary of a declaration: one model per word, and what fields each reads.

``quality.rules`` compiles each rule to one SQL verdict per staged row.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator

from lgsp.declaration.base import PYTHON_REF, Identifier, Model

# --- rules --------------------------------------------------------------------------
# Each rule is a one-key mapping in the stream's ``rules`` list; quality.rules compiles it
# to one SQL verdict per staged row. ``fields``: one field name or a list of them.

FieldNames = Identifier | list[Identifier]
WhenValues = str | list[str]


RuleName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+$", max_length=60)]
_OPTIONS = ("when", "name")  # the keys a rule may carry beside its word


class _Rule(Model):
    """Every rule: ``when`` (optional, beside the rule's key) limits it to rows whose fields hold given values.

    ``name`` (optional) replaces the generated ``<field>.<kind>``: a rule over several fields is then one
    verdict, failing where any field fails. A flow moved onto a declaration keeps its rules' names (and with
    them the trends and guidance the auditors know) this way.
    """

    when: dict[Identifier, WhenValues] | None = Field(default=None, min_length=1)
    name: RuleName | None = None


class PatternArgs(Model):
    """``field`` matches ``regex`` (anchored; the portable subset quality.rules documents)."""

    field: Identifier
    regex: str


class ValuesFrom(Model):
    """Values listed in a YAML or JSON file of the project: the list at ``at`` (a dotted path), its entries' ``key``."""

    file: str = Field(min_length=1)  # relative to the project, e.g. schemas/procedures/catalogue.yaml
    at: str | None = None  # None: the document itself is the list (or the mapping whose keys are the values)
    key: str | None = None  # the entries are objects: the value is this member of each


class OneOfArgs(Model):
    """``field`` is one of ``values`` (after the field's ``map``), or of those a file lists (``values_from``)."""

    field: Identifier
    values: list[str] | None = Field(default=None, min_length=1)
    values_from: ValuesFrom | None = None

    @model_validator(mode="after")
    def _one_source(self) -> OneOfArgs:
        if (self.values is None) == (self.values_from is None):
            raise ValueError("one_of needs exactly one of values: [...] or values_from: {file: FILE, at: PATH}")
        return self


class RangeArgs(Model):
    """``field`` (a number or a date) lies within [min, max]; ``not_in_future`` bounds a date by the run's day."""

    field: Identifier
    min: float | str | None = None
    max: float | str | None = None
    not_in_future: bool = False


class ConsistentArgs(Model):
    """The personal id in ``field`` agrees with a birth date field (century and year) and a gender field."""

    field: Identifier
    birth_date: Identifier | None = None
    gender: Identifier | None = None  # values "male" / "female" (map the wire's values to them)


class KnownArgs(Model):
    """A province or commune code is known: today's units, the pre-2025 ones, or either."""

    field: Identifier
    units: Literal["2025", "pre_2025", "either"] = "2025"
    dated_by: Identifier | None = None  # a date field: pre-2025 units before 2025-07-01, today's from then
    within: Identifier | None = None  # a province field the commune lies in (today's units only)
    also: list[str] = Field(default_factory=list)  # codes accepted besides the units (e.g. a provincial centre, TINH)


class BeforeArgs(Model):
    """``field`` is not after ``than`` (where both are present)."""

    field: Identifier
    than: Identifier
    strictly: bool = False


class UniqueArgs(Model):
    """No other row of the run has the same values of all ``fields`` together with different content."""

    fields: list[Identifier] = Field(min_length=1)


class CheckArgs(Model):
    """A domain check the vocabulary cannot say, named by the declaration: ``run`` gives its SQL verdict.

    ``run`` is ``package.module:function(column) -> (description, passing condition)``: the
    condition is portable SQL over the staged text of ``column`` (``s.<field>``), as the
    vocabulary's verdicts are; the rule is named ``<field>.<name>``.
    """

    field: Identifier
    name: Identifier
    run: str = Field(pattern=PYTHON_REF)


class DiffersArgs(Model):
    """``field`` is not the same value as ``from`` (where both are present)."""

    field: Identifier
    from_: Identifier = Field(alias="from")


class AfterReferencedArgs(Model):
    """``field`` is not before ``column`` of the ``dataset`` record whose key is ``via`` (where that record exists).

    ``via``: one field or several (each referenced record is checked). Where ``dataset`` is the stream's own,
    this run's staged copy of the referenced record counts before the published one: it is newer.
    """

    field: Identifier
    dataset: Identifier
    via: FieldNames
    column: Identifier
    strictly: bool = False  # after, not merely not before


class Empty(_Rule):
    """The field(s) are absent or blank (with ``when``: e.g. no spouse where the status is single)."""

    empty: FieldNames


class NotEmpty(_Rule):
    """The field(s) are present and not blank."""

    not_empty: FieldNames


class Pattern(_Rule):
    """A field matches a regular expression."""

    pattern: PatternArgs


class OneOf(_Rule):
    """A field is one of a list of values."""

    one_of: OneOfArgs


class Range(_Rule):
    """A number or a date lies within bounds."""

    range: RangeArgs


class NotInFuture(_Rule):
    """The date(s) or date-time(s) are not after the run's day."""

    not_in_future: FieldNames


class UniqueInRun(_Rule):
    """No other row of the run has the same value with different content: per field, or ``{fields: [...]}`` together."""

    unique_in_run: FieldNames | UniqueArgs


class PersonalIdWellFormed(_Rule):
    """The field(s) are well-formed personal ids (12 digits, a birth-registration province first)."""

    personal_id: FieldNames


class PersonalIdConsistent(_Rule):
    """A personal id agrees with a birth date and a gender."""

    personal_id_consistent: ConsistentArgs


class Known(_Rule):
    """A province or commune code is a known administrative unit."""

    known: Identifier | KnownArgs


class Before(_Rule):
    """One field is not after another."""

    before: BeforeArgs


class References(_Rule):
    """A field's value is a key of another dataset: ``{field: dataset}`` (e.g. ``{personal_id: citizen}``)."""

    references: dict[Identifier, Identifier] = Field(min_length=1)


class Differs(_Rule):
    """Two fields do not hold the same value (e.g. a spouse is not the subject)."""

    differs: DiffersArgs


class Check(_Rule):
    """A domain check written in Python as a SQL verdict, named by the declaration."""

    check: CheckArgs


class AfterReferenced(_Rule):
    """A date is not before a date of the record another dataset holds for the row (e.g. the subject's birth)."""

    after_referenced: AfterReferencedArgs


RULE_KINDS: dict[str, type[_Rule]] = {
    "not_empty": NotEmpty,
    "empty": Empty,
    "pattern": Pattern,
    "one_of": OneOf,
    "range": Range,
    "not_in_future": NotInFuture,
    "unique_in_run": UniqueInRun,
    "personal_id": PersonalIdWellFormed,
    "personal_id_consistent": PersonalIdConsistent,
    "known": Known,
    "before": Before,
    "references": References,
    "differs": Differs,
    "after_referenced": AfterReferenced,
    "check": Check,
}


def _rule_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = [key for key in value if key not in _OPTIONS]
        return keys[0] if len(keys) == 1 and keys[0] in RULE_KINDS else None
    if isinstance(value, BaseModel):
        return rule_kind(value)
    return None


RuleDecl = Annotated[
    Annotated[NotEmpty, Tag("not_empty")]
    | Annotated[Empty, Tag("empty")]
    | Annotated[Pattern, Tag("pattern")]
    | Annotated[OneOf, Tag("one_of")]
    | Annotated[Range, Tag("range")]
    | Annotated[NotInFuture, Tag("not_in_future")]
    | Annotated[UniqueInRun, Tag("unique_in_run")]
    | Annotated[PersonalIdWellFormed, Tag("personal_id")]
    | Annotated[PersonalIdConsistent, Tag("personal_id_consistent")]
    | Annotated[Known, Tag("known")]
    | Annotated[Before, Tag("before")]
    | Annotated[References, Tag("references")]
    | Annotated[Differs, Tag("differs")]
    | Annotated[AfterReferenced, Tag("after_referenced")]
    | Annotated[Check, Tag("check")],
    Discriminator(
        _rule_kind,
        custom_error_type="unknown_rule",
        custom_error_message="a rule is one of "
        + ", ".join(RULE_KINDS)
        + ", written as {rule: arguments} (and optionally when: {field: value or [values]}, name: group.rule)",
    ),
]


def rule_kind(rule: BaseModel) -> str:
    """The vocabulary word of a parsed rule ("not_empty", "references", ...)."""
    return next(name for name in type(rule).model_fields if name not in _OPTIONS)


_TYPES_FOR: dict[str, tuple[str, ...]] = {
    "known": ("province", "commune"),
    "not_in_future": ("date", "datetime"),
    "before": ("date", "datetime", "integer", "decimal"),
    "range": ("date", "datetime", "integer", "decimal"),
    "after_referenced": ("date", "datetime"),
}


def type_problem(rule: BaseModel, name: str, field_type: str) -> str | None:
    """Why ``rule`` cannot read field ``name`` of type ``field_type`` (None: it can)."""
    kind = rule_kind(rule)
    allowed = _TYPES_FOR.get(kind)
    if kind == "personal_id_consistent":
        args = rule.personal_id_consistent  # type: ignore[attr-defined]
        allowed = ("date",) if name == args.birth_date else None
    args = getattr(rule, kind)
    if kind == "after_referenced" and name in names_of(args.via) and name != args.field:
        allowed = ("text", "integer", "date", "personal_id", "province", "commune")  # a key, compared as text
    if kind == "known" and name == getattr(rule.known, "dated_by", None):  # type: ignore[attr-defined]
        allowed = ("date", "datetime")  # the date that picks the units' era, not a unit code
    if kind == "known" and name == getattr(rule.known, "within", None):  # type: ignore[attr-defined]
        allowed = ("province",)
    if allowed is None or field_type in allowed:
        return None
    return (
        f"{kind} applies to {' or '.join(allowed)} fields; {name!r} is {field_type}: "
        "declare its type, or name another field"
    )


def names_of(value: str | list[str]) -> list[str]:
    """One field name or a list of them, as a list."""
    return [value] if isinstance(value, str) else list(value)


def rule_fields(rule: BaseModel) -> list[str]:
    """The stream fields a rule reads, in order, then those its ``when`` reads (datasets and columns are not fields)."""
    own = own_fields(rule)
    return [*own, *(name for name in getattr(rule, "when", None) or {} if name not in own)]


def own_fields(rule: BaseModel) -> list[str]:
    """The stream fields the rule's own arguments name (not its ``when``)."""
    args = getattr(rule, rule_kind(rule))
    if isinstance(args, str | list):
        return names_of(args)
    if isinstance(args, dict):  # references: {field: dataset}
        return list(args)
    if isinstance(args, UniqueArgs):
        return list(dict.fromkeys(args.fields))
    named = [args.field]
    for extra in ("than", "birth_date", "gender", "dated_by", "within", "from_", "via"):
        value = getattr(args, extra, None)
        for one in names_of(value) if value is not None else ():
            if one not in named:
                named.append(one)
    return named
