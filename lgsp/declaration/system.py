"""A system and its streams: auth, paging, fields, the checks a model alone can make, and the JSON Schema."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from lgsp.declaration.base import PYTHON_REF, FieldType, Identifier, Model, Titles
from lgsp.declaration.rules import RuleDecl, names_of, own_fields, rule_fields, rule_kind, type_problem

# --- auth -----------------------------------------------------------------------------
# Secrets never appear in a declaration: the login and the password (key, client secret)
# are the Airflow connection's.


class ApiKeyAuth(Model):
    """An API key (the connection's password) in a header or a query parameter."""

    header: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> ApiKeyAuth:
        if (self.header is None) == (self.query is None):
            raise ValueError("api_key needs exactly one of header: NAME or query: NAME")
        return self


class BasicAuth(Model):
    """HTTP basic: the connection's login and password."""


class OAuth2Auth(Model):
    """OAuth2 client credentials: the connection's login is the client id, its password the secret."""

    token_path: str = Field(default="/oauth/token", pattern=r"^/")
    scope: str | None = None


class WsseAuth(Model):
    """WS-Security UsernameToken: the connection's login and password, sent as a digest unless ``text``."""

    password: Literal["digest", "text"] = "digest"  # noqa: S105 - how the password travels, not a password


class Auth(Model):
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


class CursorPaging(Model):
    """The response names the next page's cursor (``cursor``: its path); sent back in ``param``."""

    cursor: str
    param: str


class LinkPaging(Model):
    """REST: the response holds the next page's URL (``link``: its path); same origin only."""

    link: str


class PagePaging(Model):
    """Pages by number in ``page`` from ``start``; ends at ``total`` (a path to the page count), else a short page."""

    page: str
    start: int = Field(default=1, ge=0)
    total: str | None = None


class OffsetPaging(Model):
    """Rows from an offset in ``offset``; ends at an empty or short page (``total``: a path to the row count)."""

    offset: str
    total: str | None = None


Paging = CursorPaging | LinkPaging | PagePaging | OffsetPaging


# --- fields -------------------------------------------------------------------------


class FieldSpec(Model):
    """A canonical field: where it is on the wire, its type, and optionally a value map."""

    from_: str = Field(alias="from", min_length=1)
    type: FieldType = "text"
    map: dict[str, str] | None = None  # wire value -> canonical value; an unmapped value is kept as sent
    title: Titles | None = None
    personal: bool | None = None  # personal data (masked everywhere); None: by type (personal_id) or the key
    # Domain Python reading the wire value (any JSON, a list or an object too) into the staged text:
    # ``package.module:function(value, staged) -> str | None``, ``staged`` the record's other fields in their
    # staged forms; a ValueError is the record's contract error. Called for an absent value too.
    read: str | None = Field(default=None, pattern=PYTHON_REF)


def _field_spec(value: Any) -> Any:
    return {"from": value} if isinstance(value, str) else value


def _string_or_spec(schema: dict[str, Any]) -> None:
    """Editors accept the shorthand ``name: WireName`` as well as the full ``{from, type, ...}``."""
    full = dict(schema)
    schema.clear()
    schema["anyOf"] = [{"type": "string", "description": "the wire name (a text field)"}, full]


FieldDecl = Annotated[FieldSpec, BeforeValidator(_field_spec), Field(json_schema_extra=_string_or_spec)]


# --- streams and systems --------------------------------------------------------------


class Incremental(Model):
    """The incremental cursor: the field whose newest value is remembered, and where the first run starts."""

    field: Identifier
    from_: str = Field(default="1970-01-01T00:00:00Z", alias="from")
    # Re-read this many seconds before the cursor: a feed listing "strictly after" a time at a coarser grain
    # than its writes (whole seconds) skips a record written in the cursor's second after we read it.
    overlap_seconds: float = Field(default=0, ge=0, le=86_400)


class Followup(Model):
    """A task run after publish, in order: domain Python named by the declaration (routing, an outbox).

    ``run`` is ``package.module:function(run_id, settings, engine=None) -> summary`` (a summary has
    ``as_dict()``); the task is ``task`` in the stream's DAG, in ``pool`` if given (a hub or system pool).
    """

    task: Identifier
    run: str = Field(pattern=PYTHON_REF)
    title: str | None = None  # what the task does, as the DAG shows it
    pool: Identifier | None = None


class Stream(Model):
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
    then: list[Followup] = Field(default_factory=list)  # tasks after publish, in order
    # Datasets the stream's domain Python reads beyond what its rules reference (routing reads the citizens'
    # communes): `lgsp run` skips the stream when the flow publishing one of them failed.
    reads: list[Identifier] = Field(default_factory=list)

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


class RestProtocol(Model):
    """A REST system: its auth, and (optionally) its OpenAPI document to check paths against."""

    auth: Auth = Field(default_factory=Auth)
    openapi: str | None = None  # a file, relative to the declaration or the project


class SoapProtocol(Model):
    """A SOAP system: its auth, and (optionally) its WSDL to check operations against before anything runs."""

    auth: Auth = Field(default_factory=Auth)
    wsdl: str | None = None  # a file, relative to the declaration or the project; None: the endpoint's ?wsdl


class Demo(Model):
    """Where the demo's mock serves this system, under the mocks' base URL (``lgsp run``)."""

    path: str = Field(pattern=r"^/")


class SystemDecl(Model):
    """One external system and its streams."""

    system: Identifier
    title: Titles
    owner: str = Field(min_length=1)
    legal_basis: str | None = None
    # The system is the register of record for what it says (e.g. the national population database):
    # its values are shared as verified, unless another source disputes them.
    authoritative: bool = False
    connection: Identifier  # the Airflow connection holding the endpoint and credentials
    rest: RestProtocol | None = None
    soap: SoapProtocol | None = None
    pools: dict[Identifier, int] = Field(default_factory=dict)  # pool -> slots (the system's own rate limits)
    demo: Demo | None = None
    order: int = 100  # where ``lgsp run`` syncs it (lower first: sources others reference come first)
    aliases: list[Identifier] = Field(default_factory=list)  # older names `lgsp sync` still answers to
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
    tasks = [followup.task for followup in stream.then]
    for index, task in enumerate(tasks):
        if task in ("extract", "audit", "publish") or task in tasks[:index]:
            found.append((("then", index, "task"), f"task {task!r} is taken: name each followup task uniquely"))
    for name, spec in stream.fields.items():
        if spec.read is not None and spec.type != "text":
            found.append((("fields", name, "read"), "a field with read: is staged as its reader writes it: type text"))
    for index, rule in enumerate(stream.rules):
        own = own_fields(rule)
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
                wrong = type_problem(rule, name, stream.fields[name].type)
                if wrong:
                    found.append((("rules", index), wrong))
        for name, values in (getattr(rule, "when", None) or {}).items():
            for value in names_of(values):
                if any(char in value for char in "%{}\x00"):
                    found.append(
                        (("rules", index, "when", name), f"when value {value!r} holds %, a brace or NUL: name another")
                    )
    return found


def declaration_schema() -> dict[str, Any]:
    """The JSON Schema of a declaration file, for editors (``schemas/declaration.schema.json``)."""
    schema = SystemDecl.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "urn:lgsp:declaration:v1"
    schema["title"] = "lgsp system declaration"
    return schema
