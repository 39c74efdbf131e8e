"""The declaration format: one YAML file per external system, as typed models.

A declaration (``config/systems/<system>.yaml``) says how to reach a system, how to
page its streams, how to map each wire record to canonical fields, which dataset the
records feed, its key, its quality rules, its schedule and its pool. Everything the
platform used to register by hand per system is derived from these models; the
JSON Schema editors read (``schemas/declaration.schema.json``) is generated from them
too (``declaration_schema``).

The models only describe; they import nothing of ours. ``hub.systems`` loads the
files (with line numbers for errors) and checks what a model alone cannot know (the
WSDL's operations, the OpenAPI document's paths, the configured connections);
``connectors.declared`` reads a stream; ``quality.rules`` compiles the rules.

Templates: a REST stream's ``params`` and a SOAP stream's ``input`` may hold
``{cursor}`` (where the incremental cursor goes, rendered in the wire's format) and
``{page_size}``. Paths into a response (``records``, ``next``) are dotted JSON paths
for REST (``data`` or ``result.items``; ``.`` for a body that is itself the list) and
child element names for SOAP (``HoKinhDoanh``, or ``KetQua/HoKinhDoanh``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

IDENTIFIER = r"^[a-z][a-z0-9_]{0,39}$"  # a system, stream, dataset, field or connection name: a SQL identifier too
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]
PYTHON_REF = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"  # "package.module:function"

FieldType = Literal["text", "integer", "decimal", "date", "datetime", "boolean", "personal_id", "province", "commune"]
FIELD_TYPES: tuple[str, ...] = FieldType.__args__  # type: ignore[attr-defined]


class _Model(BaseModel):
    """Every declaration model: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Titles(_Model):
    """A name in Vietnamese and in English, as the report, the CLI and the catalogue show it."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


# --- auth -----------------------------------------------------------------------------
# Secrets never appear in a declaration: the login and the password (key, client secret)
# are the Airflow connection's.


class ApiKeyAuth(_Model):
    """An API key (the connection's password) in a header or a query parameter."""

    header: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> ApiKeyAuth:
        if (self.header is None) == (self.query is None):
            raise ValueError("api_key needs exactly one of header: NAME or query: NAME")
        return self


class BasicAuth(_Model):
    """HTTP basic: the connection's login and password."""


class OAuth2Auth(_Model):
    """OAuth2 client credentials: the connection's login is the client id, its password the secret."""

    token_path: str = Field(default="/oauth/token", pattern=r"^/")
    scope: str | None = None


class WsseAuth(_Model):
    """WS-Security UsernameToken: the connection's login and password, sent as a digest unless ``text``."""

    password: Literal["digest", "text"] = "digest"  # noqa: S105 - how the password travels, not a password


class Auth(_Model):
    """How to authenticate: exactly one of the four (or none, for an open endpoint)."""

    api_key: ApiKeyAuth | None = None
    basic: BasicAuth | None = None
    oauth2_client_credentials: OAuth2Auth | None = None
    wsse_username_token: WsseAuth | None = None

    @model_validator(mode="after")
    def _at_most_one(self) -> Auth:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"auth names {' and '.join(given)}: give exactly one")
        return self

    @property
    def kind(self) -> str | None:
        """Which one is declared ("api_key", "basic", ...), or None."""
        return next((name for name in type(self).model_fields if getattr(self, name) is not None), None)


# --- paging -----------------------------------------------------------------------------


class CursorPaging(_Model):
    """The response names the next page's cursor (``cursor``: its path); sent back in ``param``."""

    cursor: str
    param: str


class LinkPaging(_Model):
    """REST: the response holds the next page's URL (``link``: its path); same origin only."""

    link: str


class PagePaging(_Model):
    """Pages by number in ``page`` from ``start``; ends at ``total`` (a path to the page count), else a short page."""

    page: str
    start: int = Field(default=1, ge=0)
    total: str | None = None


class OffsetPaging(_Model):
    """Rows from an offset in ``offset``; ends at an empty or short page (``total``: a path to the row count)."""

    offset: str
    total: str | None = None


Paging = CursorPaging | LinkPaging | PagePaging | OffsetPaging


# --- fields -------------------------------------------------------------------------


class FieldSpec(_Model):
    """A canonical field: where it is on the wire, its type, and optionally a value map."""

    from_: str = Field(alias="from", min_length=1)
    type: FieldType = "text"
    map: dict[str, str] | None = None  # wire value -> canonical value; an unmapped value is kept as sent
    title: Titles | None = None
    personal: bool | None = None  # personal data (masked everywhere); None: by type (personal_id) or the key


def _field_spec(value: Any) -> Any:
    return {"from": value} if isinstance(value, str) else value


def _string_or_spec(schema: dict[str, Any]) -> None:
    """Editors accept the shorthand ``name: WireName`` as well as the full ``{from, type, ...}``."""
    full = dict(schema)
    schema.clear()
    schema["anyOf"] = [{"type": "string", "description": "the wire name (a text field)"}, full]


FieldDecl = Annotated[FieldSpec, BeforeValidator(_field_spec), Field(json_schema_extra=_string_or_spec)]


# --- rules --------------------------------------------------------------------------
# Each rule is a one-key mapping in the stream's ``rules`` list; quality.rules compiles it
# to one SQL verdict per staged row. ``fields``: one field name or a list of them.

FieldNames = Identifier | list[Identifier]
WhenValues = str | list[str]


class _Rule(_Model):
    """Every rule: ``when`` (optional, beside the rule's key) limits it to rows whose fields hold given values."""

    when: dict[Identifier, WhenValues] | None = Field(default=None, min_length=1)


class PatternArgs(_Model):
    """``field`` matches ``regex`` (anchored; the portable subset quality.rules documents)."""

    field: Identifier
    regex: str


class OneOfArgs(_Model):
    """``field`` is one of ``values`` (after the field's ``map``)."""

    field: Identifier
    values: list[str] = Field(min_length=1)


class RangeArgs(_Model):
    """``field`` (a number or a date) lies within [min, max]; ``not_in_future`` bounds a date by the run's day."""

    field: Identifier
    min: float | str | None = None
    max: float | str | None = None
    not_in_future: bool = False


class ConsistentArgs(_Model):
    """The personal id in ``field`` agrees with a birth date field (century and year) and a gender field."""

    field: Identifier
    birth_date: Identifier | None = None
    gender: Identifier | None = None  # values "male" / "female" (map the wire's values to them)


class KnownArgs(_Model):
    """A province or commune code is known: today's units, the pre-2025 ones, or either."""

    field: Identifier
    units: Literal["2025", "pre_2025", "either"] = "2025"
    dated_by: Identifier | None = None  # a date field: pre-2025 units before 2025-07-01, today's from then


class BeforeArgs(_Model):
    """``field`` is not after ``than`` (where both are present)."""

    field: Identifier
    than: Identifier
    strictly: bool = False


class DiffersArgs(_Model):
    """``field`` is not the same value as ``from`` (where both are present)."""

    field: Identifier
    from_: Identifier = Field(alias="from")


class AfterReferencedArgs(_Model):
    """``field`` is not before ``column`` of the ``dataset`` record whose key is ``via`` (where that record exists)."""

    field: Identifier
    dataset: Identifier
    via: Identifier
    column: Identifier


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
    """No other row of the run has the same value(s) with different content."""

    unique_in_run: FieldNames


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


class AfterReferenced(_Rule):
    """A date is not before a date of the record another dataset holds for the row (e.g. the subject's birth)."""

    after_referenced: AfterReferencedArgs


RULE_KINDS: dict[str, type[_Rule]] = {
    "not_empty": NotEmpty,
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
}


def _rule_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = [key for key in value if key != "when"]
        return keys[0] if len(keys) == 1 and keys[0] in RULE_KINDS else None
    if isinstance(value, BaseModel):
        return rule_kind(value)
    return None


RuleDecl = Annotated[
    Annotated[NotEmpty, Tag("not_empty")]
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
    | Annotated[AfterReferenced, Tag("after_referenced")],
    Discriminator(
        _rule_kind,
        custom_error_type="unknown_rule",
        custom_error_message="a rule is one of "
        + ", ".join(RULE_KINDS)
        + ", written as {rule: arguments} (and optionally when: {field: value or [values]})",
    ),
]


def rule_kind(rule: BaseModel) -> str:
    """The vocabulary word of a parsed rule ("not_empty", "references", ...)."""
    return next(name for name in type(rule).model_fields if name != "when")


# --- streams and systems --------------------------------------------------------------


class Incremental(_Model):
    """The incremental cursor: the field whose newest value is remembered, and where the first run starts."""

    field: Identifier
    from_: str = Field(default="1970-01-01T00:00:00Z", alias="from")


class Stream(_Model):
    """One stream of a system: how to read it and what it feeds."""

    title: Titles | None = None
    # REST: exactly one of get / post (a path under the connection's base URL)
    get: str | None = Field(default=None, pattern=r"^/")
    post: str | None = Field(default=None, pattern=r"^/")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    body: dict[str, Any] | None = None  # a POST's JSON body; the same templates as params
    # SOAP: the WSDL operation and its input parts
    operation: str | None = None
    input: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # both
    records: str = Field(min_length=1)
    next: Paging | None = None  # None: one page
    page_size: int | None = Field(default=None, ge=1, le=10_000)  # None: LGSP_PAGE_SIZE
    cursor: Incremental | None = None
    dataset: Identifier
    key: Identifier
    fields: dict[Identifier, FieldDecl] = Field(min_length=1)
    rules: list[RuleDecl] = Field(default_factory=list)
    merge: str | None = Field(default=None, pattern=PYTHON_REF)  # domain Python; None: the generic upsert
    schedule: str = "@daily"
    pool: Identifier | None = None
    # Whose subscribers get a run's changes pushed: the stream's dataset (true), none (false), or the
    # dataset a domain merge changes (e.g. events applied to citizens: ``shares: citizen``).
    shares: bool | Identifier = True

    @property
    def method(self) -> Literal["GET", "POST"]:
        """The REST method (GET unless ``post`` is declared)."""
        return "POST" if self.post is not None else "GET"

    @property
    def shared_dataset(self) -> str | None:
        """The dataset whose subscribers get this stream's changes pushed, or None."""
        if isinstance(self.shares, str):
            return self.shares
        return self.dataset if self.shares else None

    @property
    def published_datasets(self) -> tuple[str, ...]:
        """What a published run changes: the stream's dataset, then the one it shares if another (its assets)."""
        shared = self.shared_dataset
        return (self.dataset,) if shared in (None, self.dataset) else (self.dataset, str(shared))

    @property
    def path(self) -> str | None:
        """The REST path, whichever method declares it."""
        return self.post if self.post is not None else self.get


class RestProtocol(_Model):
    """A REST system: its auth, and (optionally) its OpenAPI document to check paths against."""

    auth: Auth = Field(default_factory=Auth)
    openapi: str | None = None  # a file, relative to the declaration or the project


class SoapProtocol(_Model):
    """A SOAP system: its auth, and (optionally) its WSDL to check operations against before anything runs."""

    auth: Auth = Field(default_factory=Auth)
    wsdl: str | None = None  # a file, relative to the declaration or the project; None: the endpoint's ?wsdl


class Demo(_Model):
    """Where the demo's mock serves this system, under the mocks' base URL (``lgsp run``)."""

    path: str = Field(pattern=r"^/")


class SystemDecl(_Model):
    """One external system and its streams."""

    system: Identifier
    title: Titles
    owner: str = Field(min_length=1)
    legal_basis: str | None = None
    connection: Identifier  # the Airflow connection holding the endpoint and credentials
    rest: RestProtocol | None = None
    soap: SoapProtocol | None = None
    pools: dict[Identifier, int] = Field(default_factory=dict)  # pool -> slots (the system's own rate limits)
    demo: Demo | None = None
    order: int = 100  # where ``lgsp run`` syncs it (lower first: sources others reference come first)
    streams: dict[Identifier, Stream] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_protocol(self) -> SystemDecl:
        if (self.rest is None) == (self.soap is None):
            raise ValueError("declare exactly one protocol: rest: {...} or soap: {...}")
        return self

    @property
    def protocol(self) -> Literal["rest", "soap"]:
        """ "rest" or "soap"."""
        return "soap" if self.soap is not None else "rest"

    @property
    def auth(self) -> Auth:
        """The declared auth of either protocol."""
        protocol = self.soap or self.rest
        return protocol.auth if protocol is not None else Auth()


_TEMPLATE = re.compile(r"\{([^{}]*)\}")
TEMPLATE_NAMES = frozenset({"cursor", "page_size"})


def templates_in(value: object) -> set[str]:
    """The ``{name}`` placeholders in a params/input/body value (nested ones included)."""
    if isinstance(value, str):
        return set(_TEMPLATE.findall(value))
    if isinstance(value, dict):
        return set().union(*(templates_in(item) for item in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(templates_in(item) for item in value)) if value else set()
    return set()


Loc = tuple[str | int, ...]  # where in the file: ("streams", "events", "rules", 2)


def problems(system: SystemDecl) -> list[tuple[Loc, str]]:
    """What a declaration says that contradicts itself, with where; the types alone cannot tell these."""
    found: list[tuple[Loc, str]] = []
    for name, stream in system.streams.items():
        found.extend((("streams", name, *loc), text) for loc, text in _stream_problems(system, stream))
    return found


def _stream_problems(system: SystemDecl, stream: Stream) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    if system.soap is not None:
        if stream.operation is None:
            found.append(((), "a SOAP stream names its WSDL operation: operation: NAME"))
        for key in ("get", "post", "params", "body"):
            if getattr(stream, key):
                found.append(((key,), f"a SOAP stream has no {key}: use operation and input"))
        if isinstance(stream.next, LinkPaging):
            found.append((("next",), "next: {link: ...} is REST paging; a SOAP stream pages by cursor, page or offset"))
        where: dict[str, Any] = dict(stream.input)
        place = "input"
    else:
        if (stream.get is None) == (stream.post is None):
            found.append(((), "a REST stream declares exactly one of get: /path or post: /path"))
        for key in ("operation", "input"):
            if getattr(stream, key):
                found.append(((key,), f"a REST stream has no {key}: use get or post, and params"))
        if stream.body is not None and stream.post is None:
            found.append((("body",), "body: is for post: streams; use params with get"))
        where = {**stream.params, "body": stream.body or {}}
        place = "params"
    used = templates_in(where)
    for unknown in sorted(used - TEMPLATE_NAMES):
        found.append(((place,), f"unknown template {{{unknown}}}: write {{cursor}} or {{page_size}}"))
    if stream.cursor is not None:
        if "cursor" not in used:
            found.append((("cursor",), f'the incremental cursor is sent nowhere: put "{{cursor}}" in {place}'))
        spec = stream.fields.get(stream.cursor.field)
        if spec is None:
            found.append((("cursor", "field"), f"{stream.cursor.field!r} is not one of the stream's fields"))
        elif spec.type not in ("date", "datetime"):
            found.append(
                (("cursor", "field"), f"{stream.cursor.field!r} is {spec.type}: a cursor is a date or datetime")
            )
    elif "cursor" in used:
        found.append(((place,), "{cursor} is used but the stream declares no cursor: {field: NAME, from: START}"))
    if stream.key not in stream.fields:
        found.append((("key",), f"{stream.key!r} is not one of the stream's fields ({', '.join(stream.fields)})"))
    if stream.pool is not None and stream.pool not in system.pools:
        found.append(
            (("pool",), f"pool {stream.pool!r} is not in the system's pools: write pools: {{{stream.pool}: SLOTS}}")
        )
    for index, rule in enumerate(stream.rules):
        own = _own_fields(rule)
        for name in rule_fields(rule):
            if name not in stream.fields:
                found.append(
                    (
                        ("rules", index),
                        f"{rule_kind(rule)} names {name!r}, which the stream does not map; "
                        f"map it under fields or name one of: {', '.join(stream.fields)}",
                    )
                )
            elif name in own:
                wrong = _type_problem(rule, name, stream.fields[name].type)
                if wrong:
                    found.append((("rules", index), wrong))
        for name, values in (getattr(rule, "when", None) or {}).items():
            for value in _names(values):
                if any(char in value for char in "%{}\x00"):
                    found.append(
                        (("rules", index, "when", name), f"when value {value!r} holds %, a brace or NUL: name another")
                    )
    return found


_TYPES_FOR: dict[str, tuple[str, ...]] = {
    "known": ("province", "commune"),
    "not_in_future": ("date", "datetime"),
    "before": ("date", "datetime", "integer", "decimal"),
    "range": ("date", "datetime", "integer", "decimal"),
    "after_referenced": ("date", "datetime"),
}


def _type_problem(rule: BaseModel, name: str, field_type: str) -> str | None:
    kind = rule_kind(rule)
    allowed = _TYPES_FOR.get(kind)
    if kind == "personal_id_consistent":
        args = rule.personal_id_consistent  # type: ignore[attr-defined]
        allowed = ("date",) if name == args.birth_date else None
    args = getattr(rule, kind)
    if kind == "after_referenced" and name == args.via and name != args.field:
        allowed = ("text", "integer", "date", "personal_id", "province", "commune")  # a key, compared as text
    if kind == "known" and name == getattr(rule.known, "dated_by", None):  # type: ignore[attr-defined]
        allowed = ("date", "datetime")  # the date that picks the units' era, not a unit code
    if allowed is None or field_type in allowed:
        return None
    return (
        f"{kind} applies to {' or '.join(allowed)} fields; {name!r} is {field_type}: "
        "declare its type, or name another field"
    )


def _names(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def rule_fields(rule: BaseModel) -> list[str]:
    """The stream fields a rule reads, in order, then those its ``when`` reads (datasets and columns are not fields)."""
    own = _own_fields(rule)
    return [*own, *(name for name in getattr(rule, "when", None) or {} if name not in own)]


def _own_fields(rule: BaseModel) -> list[str]:
    """The stream fields the rule's own arguments name (not its ``when``)."""
    args = getattr(rule, rule_kind(rule))
    if isinstance(args, str | list):
        return _names(args)
    if isinstance(args, dict):  # references: {field: dataset}
        return list(args)
    named = [args.field]
    for extra in ("than", "birth_date", "gender", "dated_by", "from_", "via"):
        value = getattr(args, extra, None)
        if value is not None and value not in named:
            named.append(value)
    return named


def declaration_schema() -> dict[str, Any]:
    """The JSON Schema of a declaration file, for editors (``schemas/declaration.schema.json``)."""
    schema = SystemDecl.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "urn:lgsp:declaration:v1"
    schema["title"] = "lgsp system declaration"
    return schema
