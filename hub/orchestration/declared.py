"""The DAG of a declared stream, and the notes the Airflow UI shows for it, from its declaration alone.

``dags/declared_streams.py`` calls ``declared_dags()`` while Airflow parses it: the
declarations are read with PyYAML and pydantic (``hub.systems.loader``), nothing of the
pipeline. Every task calls ``hub.pipeline.declared`` with ``stream="system.stream"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.orchestration import schedules
from hub.orchestration.flows import stream_sync_dag

if TYPE_CHECKING:
    from airflow.sdk import DAG
    from pydantic import BaseModel

    from hub.systems.loader import DeclaredStream
    from lgsp.declaration import Stream, SystemDecl

PIPELINE = "hub.pipeline.declared"
_SCHEDULES = {
    "@hourly": "hourly",
    "@daily": "daily at 00:00 UTC (07:00 in Vietnam)",
    "@weekly": "weekly",
    "@monthly": "monthly",
}


def declared_dags() -> list[DAG]:
    """One DAG per declared stream, in ``lgsp run`` order.

    Raises:
        DeclarationError: a declaration is wrong (every problem, with its file and line).
        ConfigError: the folder of declarations does not exist, or a stream's DAG id is a hub flow's.
    """
    from hub.systems.loader import load_systems, streams
    from lgsp.errors import ConfigError

    built = []
    for item in streams(load_systems()):
        if item.dag_id in schedules.HUB_SCHEDULES:
            raise ConfigError(
                f"the stream {item.qualified} would be the DAG {item.dag_id}, one of the hub's own flows: "
                "rename the system or the stream in its declaration"
            )
        built.append(declared_dag(item))
    return built


def declared_dag(item: DeclaredStream) -> DAG:
    """The extract -> audit -> publish DAG of one declared stream."""
    stream = item.stream
    return stream_sync_dag(
        item.dag_id,
        PIPELINE,
        schedule=stream.schedule,
        doc_md=stream_doc(item),
        tags=["inbound", item.system.protocol, item.system.system],
        publishes=tuple(schedules.asset_name(dataset) for dataset in stream.published_datasets),
        # The pool bounds calls to the system; a followup's, whatever it calls (e.g. the portal).
        pools={
            **({"extract": stream.pool} if stream.pool else {}),
            **{step.task: step.pool for step in stream.then if step.pool},
        },
        stage_options={"stream": item.qualified},
        followups=[(step.task, step.title or f"Run {step.run} after publish.") for step in stream.then],
        followup_stage="followup",
    )


def stream_doc(item: DeclaredStream) -> str:
    """The DAG's notes (markdown): what moves, from where to where, how often, fields, rules, what to do."""
    system, stream = item.system, item.stream
    title = stream.title or system.title
    connection = system.connection
    shared = stream.shared_dataset
    shares = (
        f", and `agency_push` (the changed `{shared}` records are pushed to subscribing agencies)" if shared else ""
    )
    legal = f" Legal basis: {system.legal_basis}." if system.legal_basis else ""
    return f"""{title.en} ({title.vi}): {system.title.en} ({system.protocol.upper()}) -> audit -> `{stream.dataset}`.

Declared in `config/systems/{system.system}.yaml`: the stream `{item.qualified}`; {_python(stream)}.

**What it moves**: the records of *{system.title.vi}* ({system.title.en}), owned by {system.owner}, that
changed after the stream's cursor ({_cursor(stream)}).{legal}

**From where to where**: the Airflow connection `{connection}`
(`AIRFLOW_CONN_{connection.upper()}={example_uri(system)}`; {_auth(system)}) ->
{_call(system, stream)}, {_paging(stream)} -> `staging_{stream.dataset}` (this run only) -> the golden table
`{stream.dataset}` keyed by `{stream.key}`, with per-field provenance, for passing records
({_merge(stream)}); `quarantine`, with the rules they broke and the raw record, for failing
ones. Every pull is on the audit ledger.

**How often**: {_how_often(stream.schedule)} (`{stream.schedule}`, from the declaration); in `lgsp run`,
after the hub's own flows, in declaration order (order {system.order}). A published run updates the
asset(s) {_assets(stream)}, which start `quality_report`{shares}.

**Tasks**: {_tasks(stream)}; only the run id travels through XCom.{_followup_lines(stream)}

**Fields** (wire name -> canonical field, type):

{_fields(stream)}

**Rules** (the quarantine and the report name them so; `contract.valid` comes first):

{_rules(stream)}

### When it fails

- `lgsp status`: the newest runs, the stage each completed and why the next one failed. A failed
  run left the golden records as they were; clearing the failed task (or the next run) re-reads
  from the last committed cursor, and nothing is loaded twice.
- *`extract` failed at once, "will not be retried"*: the credentials in `{connection}` are refused,
  or the answers break the contract ({_contract(system)}). `lgsp systems test {system.system}` probes
  the system live (status, records and rule failures per page; it writes nothing). Fix the
  connection, clear the task.
- *`extract` failed after its retries*: {system.title.en} was unreachable for longer than the
  backoff; clear the task once it answers again.
- *a task failed naming the declaration*: `lgsp systems check` lists every problem with its file and
  line; fix the YAML, and the next parse of this DAG picks it up.
- *`audit` or `publish` failed*: the hub's store was unavailable; they are retried; clear the task
  once it is back.{_followup_failures(stream)}
- *it succeeded, with records quarantined*: `lgsp quarantine --rule RULE` lists them (ids masked);
  `lgsp report` builds the auditors' site with the trend per rule.
- *to run it once by hand, without Airflow*: `lgsp sync {item.qualified}`.
- *in doubt whether the exchanges were recorded*: `lgsp audit verify`.
"""


def _tasks(stream: Stream) -> str:
    return " -> ".join(f"`{name}`" for name in ("extract", "audit", "publish", *(s.task for s in stream.then)))


def _python(stream: Stream) -> str:
    named = [
        *(f"`{spec.read}`" for spec in stream.fields.values() if spec.read),
        *(f"`{check.run}`" for rule in stream.rules if (check := getattr(rule, "check", None)) is not None),
        *([f"`{stream.merge}`"] if stream.merge else []),
        *(f"`{step.run}`" for step in stream.then),
    ]
    return "no Python of its own" if not named else "the domain Python it names: " + ", ".join(named)


def _followup_failures(stream: Stream) -> str:
    if not stream.then:
        return ""
    tasks = " or ".join(f"`{step.task}`" for step in stream.then)
    return (
        f"\n- *{tasks} failed*: the publish is committed; what failed is the domain step's (its message says "
        "whom it called). Fix, then clear that task; it picks up whatever is still due."
    )


def _followup_lines(stream: Stream) -> str:
    """The followups the declaration names, one line each (nothing when it names none)."""
    lines = [
        f"- `{step.task}`: {step.title or 'domain Python'} (`{step.run}`"
        + (f", in the pool `{step.pool}`" if step.pool else "")
        + ")"
        for step in stream.then
    ]
    return "\n\nAfter publish, the domain Python the declaration names:\n\n" + "\n".join(lines) if lines else ""


def example_uri(system: SystemDecl) -> str:
    """An example of the system's connection URI: the credentials its auth needs, the demo's path if declared."""
    path = system.demo.path if system.demo is not None else "/BASE/PATH"
    kind = system.auth.kind
    credentials = {
        "api_key": "api:API_KEY@",
        "basic": "USER:PASSWORD@",
        "oauth2_client_credentials": "CLIENT_ID:CLIENT_SECRET@",
        "wsse_username_token": "USER:PASSWORD@",
    }.get(kind or "", "")
    return f"http://{credentials}HOST:PORT{path}"


def _auth(system: SystemDecl) -> str:
    auth = system.auth
    if auth.api_key is not None:
        where = f"header `{auth.api_key.header}`" if auth.api_key.header else f"query parameter `{auth.api_key.query}`"
        return f"an API key, the connection's password, sent in the {where}"
    if auth.basic is not None:
        return "HTTP basic with the connection's login and password"
    if auth.oauth2_client_credentials is not None:
        token = auth.oauth2_client_credentials.token_path
        return f"OAuth2 client credentials (login: client id, password: secret), token at `{token}`"
    if auth.wsse_username_token is not None:
        form = auth.wsse_username_token.password
        return f"a WS-Security UsernameToken with the connection's login and password ({form})"
    return "no credentials"


def _call(system: SystemDecl, stream: Stream) -> str:
    if system.soap is not None:
        return f"the operation `{stream.operation}` (records `{stream.records}`)"
    return f"`{stream.method} {stream.path}` under the connection's URL (records at `{stream.records}`)"


def _paging(stream: Stream) -> str:
    from lgsp.declaration import LinkPaging, OffsetPaging, PagePaging

    paging = stream.next
    if paging is None:
        return "one page"
    if isinstance(paging, PagePaging):
        total = f", up to the page count at `{paging.total}`" if paging.total else ""
        return f"page by page (page number in `{paging.page}` from {paging.start}{total})"
    if isinstance(paging, OffsetPaging):
        return f"page by page (row offset in `{paging.offset}`)"
    if isinstance(paging, LinkPaging):
        return f"page by page (the next page's link at `{paging.link}`, same origin only)"
    return f"page by page (the next cursor at `{paging.cursor}`, sent back in `{paging.param}`)"


def _cursor(stream: Stream) -> str:
    if stream.cursor is None:
        return "none declared: every run reads the whole listing"
    return f"the newest `{stream.cursor.field}` seen, from {stream.cursor.from_} on the first run"


def _assets(stream: Stream) -> str:
    return ", ".join(f"`{schedules.asset_name(dataset)}`" for dataset in stream.published_datasets)


def _merge(stream: Stream) -> str:
    return f"merged by `{stream.merge}`" if stream.merge else "the generic upsert: new, changed or unchanged by content"


def _contract(system: SystemDecl) -> str:
    if system.soap is not None:
        return f"the WSDL `{system.soap.wsdl}`" if system.soap.wsdl else "the endpoint's WSDL (`?wsdl`)"
    assert system.rest is not None
    return f"the OpenAPI document `{system.rest.openapi}`" if system.rest.openapi else "the declared paths"


def _how_often(schedule: str) -> str:
    return _SCHEDULES.get(schedule, f"on the cron expression `{schedule}` (UTC)")


def _fields(stream: Stream) -> str:
    rows = ["| wire name | field | type | values |", "|---|---|---|---|"]
    for name, spec in stream.fields.items():
        mapped = ", ".join(f"{wire} -> {value}" for wire, value in (spec.map or {}).items()) or "as sent"
        mapped = f"read by `{spec.read}`" if spec.read else mapped
        key = " (key)" if name == stream.key else ""
        rows.append(f"| `{spec.from_}` | `{name}`{key} | {spec.type} | {mapped} |")
    return "\n".join(rows)


def _rules(stream: Stream) -> str:
    lines = ["- `contract.valid`: the wire record could be mapped (every field parses as its type)"]
    lines.extend(f"- `{name}`: {text}" for name, text in rule_lines(stream))
    return "\n".join(lines)


def rule_lines(stream: Stream) -> list[tuple[str, str]]:
    """Each declared rule's name (``<field>.<kind>``) and what it checks, in declaration order."""
    from lgsp.declaration import own_fields, rule_kind

    found: list[tuple[str, str]] = []
    taken = {"contract.valid"}

    def add(name: str, text: str) -> None:
        unique, n = name, 1
        while unique in taken:  # as quality.rules names a second rule on the same field and kind
            n += 1
            unique = f"{name}.{n}"
        taken.add(unique)
        found.append((unique, text))

    for rule in stream.rules:
        kind = rule_kind(rule)
        args = getattr(rule, kind)
        when = _when_text(getattr(rule, "when", None))
        if rule.name is not None:  # one verdict, however many fields
            fields = own_fields(rule) if isinstance(args, str | list | dict) else [args.field]
            text = "; ".join(f"`{field}`: {_rule_text(kind, args, field)}" for field in fields)
            add(rule.name, text + when)
        elif isinstance(args, str | list | dict):  # one rule per field named (not those its `when` reads)
            for field in own_fields(rule):
                add(f"{field}.{kind}", _rule_text(kind, args, field) + when)
        elif kind == "unique_in_run":  # several fields together: one rule, named by the first
            together = " and ".join(f"`{name}`" for name in own_fields(rule))
            add(
                f"{args.fields[0]}.{kind}",
                f"no other record of the run has the same {together} with different content" + when,
            )
        elif kind == "check":
            add(f"{args.field}.{args.name}", f"the domain check `{args.run}`" + when)
        else:
            add(f"{args.field}.{kind}", _rule_text(kind, args, args.field) + when)
    key_rule = f"{stream.key}.not_empty"
    if key_rule not in taken:  # the pipeline always judges the key: a row without one cannot be published
        found.insert(0, (key_rule, "the dataset's key is present and not blank (always judged)"))
    return found


def _when_text(when: dict[str, str | list[str]] | None) -> str:
    if not when:
        return ""
    said = (
        f"`{name}` is " + " or ".join(f"`{v}`" for v in ([vs] if isinstance(vs, str) else vs))
        for name, vs in when.items()
    )
    return ", only where " + " and ".join(said)


def _rule_text(kind: str, args: BaseModel | str | list[str] | dict[str, str], field: str) -> str:
    texts = {
        "not_empty": "present and not blank",
        "empty": "absent or blank",
        "not_in_future": "not after the run's day",
        "unique_in_run": "no other record of the run has the same value with different content",
        "personal_id": "a well-formed personal id (12 digits, a birth-registration province first)",
    }
    if kind in texts:
        return texts[kind]
    if isinstance(args, dict):  # references
        return f"a key of the dataset `{args[field]}` (checked at audit, against the store)"
    if isinstance(args, str | list):  # known, short form
        return "a known administrative unit (today's)"
    detail = args.model_dump(exclude_none=True, exclude={"field"})
    if kind == "pattern":
        return f"matches `{detail['regex']}` (anchored)"
    if kind == "one_of" and "values_from" in detail:
        source = detail["values_from"]
        return f"one of the values `{source['file']}` lists" + (f" at `{source['at']}`" if source.get("at") else "")
    if kind == "one_of":
        return "one of " + ", ".join(f"`{value}`" for value in detail["values"])
    if kind == "before":
        return f"not after `{detail['than']}`" if not detail.get("strictly") else f"before `{detail['than']}`"
    if kind == "known":
        dated = f", by the date in `{detail['dated_by']}`" if detail.get("dated_by") else ""
        within = f", in the province `{detail['within']}`" if detail.get("within") else ""
        also = "".join(f", or `{code}`" for code in detail.get("also", []))
        return f"a known administrative unit ({detail.get('units', '2025')} units{dated}{within}{also})"
    if kind == "differs":
        return f"differs from `{detail['from_']}`"
    if kind == "after_referenced":
        vias = " or ".join(f"`{via}`" for via in ([detail["via"]] if isinstance(detail["via"], str) else detail["via"]))
        word = "after" if detail.get("strictly") else "not before"
        return (
            f"{word} `{detail['column']}` of the `{detail['dataset']}` record that {vias} names "
            "(checked at audit, against the store)"
        )
    if kind == "personal_id_consistent":
        others = [f"`{detail[key]}`" for key in ("birth_date", "gender") if key in detail]
        return "the personal id agrees with " + " and ".join(others or ["itself"])
    bounds = ", ".join(f"{key} {value}" for key, value in detail.items())
    return f"within bounds ({bounds})"
