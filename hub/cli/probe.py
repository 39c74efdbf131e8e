"""``lgsp systems test SYSTEM``: read a few pages of a declared system live and judge them, writing nothing.

The pages are staged into an in-memory SQLite database with the stream's own staging
table and today's administrative units, and the stream's compiled suite judges them
with its verdict query directly (no Great Expectations: a probe needs counts, not a
validation run). ``references`` rules need the store's other datasets, so they are
left to the audit. Only counts, names and the connector's contract messages are shown:
never a value a record carried.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from hub.cli.support import cell, fail, failures
from hub.settings import Endpoint, Settings, load_settings
from hub.systems.loader import Declared, DeclaredStream, load_systems, streams

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import Connection

    from hub.pipeline.stages import StreamSpec
    from quality.verdicts import Rule, Suite

PROBE_ATTEMPTS = 2  # a person is waiting: one retry, then say what is wrong
_DEFERRED = "references"


@dataclass
class PageLine:
    """One page as the probe read it."""

    number: int
    status: int
    records: int
    seconds: float
    total: int | str | None


@dataclass
class StreamProbe:
    """What a probe of one stream found: pages, keys, fields, contract errors and rule failures."""

    item: DeclaredStream
    pages: list[PageLine] = field(default_factory=list)
    rows: int = 0
    keys_present: int = 0
    keys_distinct: int = 0
    filled: dict[str, int] = field(default_factory=dict)  # field -> rows where it has a value
    contract_errors: Counter[str] = field(default_factory=Counter)
    rules: list[tuple[str, int, int]] = field(default_factory=list)  # (rule, failing, rows it applies to)
    deferred: list[str] = field(default_factory=list)  # rules left to the audit (they need the store)


def probe_system(system: str, *, stream: str | None, pages: int, since: str | None) -> None:
    """Probe every stream of ``system`` (or one) and print what each page and rule gave; exit 2 on a failure.

    Raises:
        typer.Exit: an unknown system or stream, a bad ``since``, an unconfigured or failing system.
    """
    from hub.cli.systems import endpoint_of, peer_of

    what = f"lgsp systems test {system}"
    with failures(what):
        systems = load_systems()
        settings = load_settings()
    declared = {d.decl.system: d for d in systems}
    if system not in declared:
        fail(f"{what}: no declared system {system!r}; declared: {', '.join(declared) or 'none'} (lgsp systems list)")
    decl = declared[system].decl
    if stream is not None and stream not in decl.streams:
        fail(f"{what}: {system} declares no stream {stream!r}; it declares: {', '.join(decl.streams)}")
    start = _since(what, since)
    items = [item for item in streams((declared[system],)) if stream in (None, item.name)]
    peers = (peer_of(decl),)
    with failures(what, settings, peers):
        endpoint = endpoint_of(decl, settings)
    console = Console()
    for item in items:
        with failures(what, settings, peers):
            found = probe_stream(item, systems, endpoint, settings, pages=pages, since=start)
        show(console, found)


def probe_stream(
    item: DeclaredStream,
    systems: tuple[Declared, ...],
    endpoint: Endpoint,
    settings: Settings,
    *,
    pages: int,
    since: datetime | None,
) -> StreamProbe:
    """Read up to ``pages`` pages of ``item`` changed after ``since`` (None: its first cursor) and judge them.

    Raises:
        SourceError: the system is unreachable, refused us, or broke its contract.
        ConfigError: the stream's pipeline cannot be derived from its declaration.
    """
    from sqlalchemy import create_engine

    from connectors.declared import DeclaredSource
    from hub.pipeline.declared import spec_for
    from hub.pipeline.staging import staging_row
    from hub.store.reference import seed_admin_units
    from hub.store.tables import admin_unit

    spec = spec_for(item, systems)
    found = StreamProbe(item)
    engine = create_engine("sqlite://")  # in memory: nothing of the probe reaches the store
    try:
        spec.staging.create(engine)
        admin_unit.create(engine)
        with engine.begin() as conn:
            seed_admin_units(conn)
        source = DeclaredSource(
            item.system,
            item.name,
            url=endpoint.url,
            login=endpoint.username,
            password=endpoint.password,
            timeout=settings.operation_timeout,
            max_attempts=min(settings.max_attempts, PROBE_ATTEMPTS),
            backoff=settings.backoff_seconds,
            max_body_bytes=settings.max_response_bytes,
            page_size=settings.page_size,
        )
        fetched_at = datetime.now(UTC).replace(tzinfo=None)
        with source:
            for page in source.pages(since or _first_cursor(item), max_pages=pages):
                stats = page.stats
                found.pages.append(PageLine(page.number, stats.status, len(page.records), stats.seconds, stats.total))
                if page.records:
                    rows = [staging_row(_RUN, page.number, record, fetched_at) for record in page.records]
                    with engine.begin() as conn:
                        conn.execute(spec.staging.insert(), rows)
        _judge(engine, spec, found)
    finally:
        engine.dispose()
    return found


_RUN = "probe"


def _judge(engine: Engine, spec: StreamSpec, found: StreamProbe) -> None:
    """Counts from the staged sample: keys, filled fields, contract errors, each rule's failures."""
    from sqlalchemy import func, select

    from quality.verdicts import Suite

    stream, staging = found.item.stream, spec.staging
    key = staging.c[stream.key]
    with engine.connect() as conn:
        present = func.nullif(func.trim(key), "")
        found.rows, found.keys_present, found.keys_distinct = conn.execute(
            select(func.count(), func.count(present), func.count(present.distinct()))
        ).one()
        filled = conn.execute(select(*(func.count(func.nullif(staging.c[name], "")) for name in stream.fields))).one()
        found.filled = dict(zip(stream.fields, (int(count) for count in filled), strict=True))
        errors = conn.execute(
            select(staging.c.contract_error, func.count())
            .where(staging.c.contract_error.is_not(None))
            .group_by(staging.c.contract_error)
        )
        found.contract_errors = Counter({str(message): int(count) for message, count in errors})
        judged = tuple(rule for rule in spec.suite.rules if rule.name.split(".")[1] != _DEFERRED)
        found.deferred = [rule.name for rule in spec.suite.rules if rule.name.split(".")[1] == _DEFERRED]
        found.rules = _rule_counts(conn, Suite(spec.suite.name, staging, judged), judged)


def _rule_counts(conn: Connection, suite: Suite, rules: tuple[Rule, ...]) -> list[tuple[str, int, int]]:
    from quality.verdicts import FAIL

    if not rules:
        return []
    query = suite.verdict_query(_RUN, datetime.now(UTC).date())
    sums = ", ".join(f"SUM(CASE WHEN v.{r.column} = {FAIL} THEN 1 ELSE 0 END), COUNT(v.{r.column})" for r in rules)
    # The suite's own SQL, as the audit runs it; driver-level, so no text is read as a bind parameter.
    row = conn.exec_driver_sql(f"SELECT {sums} FROM ({query}) v").one()  # noqa: S608 - our compiled suite
    return [(rule.name, int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i, rule in enumerate(rules)]


def show(console: Console, found: StreamProbe) -> None:
    """Print one stream's probe: pages, keys, fields, contract errors and rules (counts and names only)."""
    item, stream = found.item, found.item.stream
    title = stream.title or item.system.title
    listing = Table("page", "HTTP", "records", "seconds", "peer's total", title=f"{item.qualified}: {title.en}")
    listing.title_justify = "left"
    for page in found.pages:
        total = "-" if page.total is None else str(page.total)
        listing.add_row(str(page.number), str(page.status), f"{page.records:,}", f"{page.seconds:.2f}", cell(total))
    console.print(listing)
    repeated = found.keys_present - found.keys_distinct
    missing = found.rows - found.keys_present
    verdict = "unique" if repeated == 0 else f"{repeated:,} repeated (the audit keeps one, unique_in_run judges them)"
    console.print(
        f"key {stream.key}: {found.keys_present:,} of {found.rows:,} records have one ({missing:,} without), {verdict}",
        markup=False,
        highlight=False,
    )
    fields = Table("field", "wire name", "type", "records with a value", title="fields", title_justify="left")
    for name, spec in stream.fields.items():
        count = found.filled.get(name, 0)
        shown = "missing in every record" if count == 0 and found.rows else f"{count:,} of {found.rows:,}"
        fields.add_row(cell(name), cell(spec.from_), spec.type, cell(shown))
    console.print(fields)
    if found.contract_errors:
        errors = Table("contract error", "records", title="records the contract refused", title_justify="left")
        for message, count in found.contract_errors.most_common():
            errors.add_row(cell(message, width=100), f"{count:,}")
        console.print(errors)
    rules = Table("rule", "failing", "applies to", title="rules", title_justify="left")
    for name, failing, applies in found.rules:
        rules.add_row(cell(name), f"{failing:,}", f"{applies:,}")
    for name in found.deferred:
        rules.add_row(cell(name), "-", "checked at audit (needs the store)")
    console.print(rules)


def _since(what: str, value: str | None) -> datetime | None:
    """``--since`` as naive UTC; None for the stream's first cursor."""
    if value is None:
        return None
    example = "e.g. 2026-03-01T00:00:00+07:00, or ...Z for UTC"
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{what}: --since {value!r} is not an ISO 8601 date and time ({example})")
    if moment.tzinfo is None:
        fail(f"{what}: --since {value!r} has no UTC offset; give one ({example})")
    return moment.astimezone(UTC).replace(tzinfo=None)


def _first_cursor(item: DeclaredStream) -> datetime:
    """Where the stream's first run starts: its declared cursor, else the beginning of time."""
    from hub.pipeline.runs import BEGINNING_OF_TIME

    text = item.stream.cursor.from_ if item.stream.cursor is not None else BEGINNING_OF_TIME
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment
