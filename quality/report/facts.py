"""What the report says, read from the store: counts, shares and keys, never a personal value.

One function per question an auditor asks. Each reads with SQL aggregates (the
database does the counting, so a province of millions costs a few grouped queries)
and returns small typed rows; the one long list, the quarantine, is streamed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from hub.orchestration.schedules import SCHEDULES, missed_runs
from hub.store.tables import (
    audit_ledger,
    field_conflict,
    outbox,
    quality_result,
    quarantine,
    sync_run,
)
from schemas.personal_id import mask

PUSH_FLOW = "agency_push"
_PUSH_TOPICS = "push."


@dataclass(frozen=True)
class Run:
    """One sync run's counts (``sync_run``)."""

    run_id: str
    stream: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    read: int
    published: int
    quarantined: int
    unchanged: int

    @property
    def label(self) -> str:
        """How plots name the run: its start to the second (two runs never share one)."""
        return self.started_at.strftime("%d/%m %H:%M:%S")


@dataclass(frozen=True)
class FlowState:
    """One flow's last run and its freshness against its schedule."""

    flow: str
    schedule: str
    last: Run | None
    last_success_at: datetime | None
    missed: int | None  # scheduled runs missed since the last success; None: never succeeded


def flow_states(
    conn: Connection,
    now: datetime,
    flows: Mapping[str, tuple[str, str]],
    schedules: Mapping[str, str] | None = None,
) -> list[FlowState]:
    """Every inbound flow's newest run and freshness; the push flow's newest delivery.

    ``flows``: DAG id -> (stream, dataset), every inbound flow being a declared stream
    (``quality.report.declared`` derives them);
    ``schedules``: a flow's schedule where ``SCHEDULES`` has none (a declared stream's own).
    """
    states = []
    for flow, (stream, _dataset) in flows.items():
        last = _runs(conn, stream, limit=1)
        success = conn.execute(
            select(func.max(sync_run.c.finished_at)).where(
                sync_run.c.stream == stream, sync_run.c.status == "published"
            )
        ).scalar_one()
        schedule = (schedules or {}).get(flow) or SCHEDULES[flow]
        states.append(
            FlowState(flow, schedule, last[0] if last else None, success, missed_runs(schedule, success, now))
        )
    delivered = conn.execute(
        select(func.max(outbox.c.acknowledged_at)).where(outbox.c.topic.startswith(_PUSH_TOPICS))
    ).scalar_one()
    schedule = SCHEDULES[PUSH_FLOW]
    states.append(FlowState(PUSH_FLOW, schedule, None, delivered, missed_runs(schedule, delivered, now)))
    return states


def runs(conn: Connection, stream: str, limit: int) -> list[Run]:
    """The stream's newest ``limit`` runs, oldest first (the order plots read)."""
    return list(reversed(_runs(conn, stream, limit)))


def _runs(conn: Connection, stream: str, limit: int) -> list[Run]:
    rows = conn.execute(
        select(sync_run)
        .where(sync_run.c.stream == stream)
        .order_by(sync_run.c.started_at.desc(), sync_run.c.run_id.desc())
        .limit(limit)
    ).mappings()
    return [
        Run(
            row["run_id"],
            row["stream"],
            row["status"],
            row["started_at"],
            row["finished_at"],
            row["read"] or 0,
            row["published"] or 0,
            row["quarantined"] or 0,
            row["unchanged"] or 0,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class RuleRun:
    """One rule's result on one run."""

    run_id: str
    rule: str
    evaluated: int
    failed: int
    success: bool

    @property
    def rate(self) -> float | None:
        """Failures per record the rule applies to."""
        return self.failed / self.evaluated if self.evaluated else None


def rule_results(conn: Connection, run_ids: Sequence[str]) -> dict[str, dict[str, RuleRun]]:
    """rule -> run id -> result, for these runs."""
    found: dict[str, dict[str, RuleRun]] = defaultdict(dict)
    for chunk in _chunks(run_ids):
        for row in conn.execute(select(quality_result).where(quality_result.c.run_id.in_(chunk))).mappings():
            found[row["rule"]][row["run_id"]] = RuleRun(
                row["run_id"], row["rule"], row["evaluated"], row["failed"], bool(row["success"])
            )
    return found


def open_conflicts(conn: Connection) -> list[tuple[str, str, str, int]]:
    """(field, kept source, other source, open conflicts), largest first."""
    rows = (
        conn.execute(
            select(field_conflict.c.field, field_conflict.c.kept_source, field_conflict.c.other_source, func.count())
            .where(field_conflict.c.status == "open")
            .group_by(field_conflict.c.field, field_conflict.c.kept_source, field_conflict.c.other_source)
        )
        .tuples()
        .all()
    )
    return sorted(((f, k, o, int(n)) for f, k, o, n in rows), key=lambda row: (-row[3], row[0]))


OUTBOX_STATES = ("pending", "sent", "acknowledged", "dead")


def outbox_health(conn: Connection) -> list[tuple[str, dict[str, int]]]:
    """topic -> messages per state, topics in name order."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTBOX_STATES, 0))
    for topic, state, n in conn.execute(
        select(outbox.c.topic, outbox.c.state, func.count()).group_by(outbox.c.topic, outbox.c.state)
    ).tuples():
        counts[topic][state] = counts[topic].get(state, 0) + int(n)
    return sorted(counts.items())


@dataclass
class QuarantineBreakdown:
    """Open and released quarantine rows per (stream, rule); a row breaking two rules counts under both."""

    by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)
    released_by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_stream: Counter[str] = field(default_factory=Counter)
    released_by_stream: Counter[str] = field(default_factory=Counter)
    total: int = 0


def quarantine_breakdown(conn: Connection) -> QuarantineBreakdown:
    """Counts by rule and by source stream, grouped in SQL on the (few) distinct rule combinations."""
    found = QuarantineBreakdown()
    for stream, rules, status, n in conn.execute(
        select(quarantine.c.stream, quarantine.c.rules, quarantine.c.status, func.count()).group_by(
            quarantine.c.stream, quarantine.c.rules, quarantine.c.status
        )
    ).tuples():
        n = int(n)
        is_open = status == "open"
        (found.by_stream if is_open else found.released_by_stream)[stream] += n
        found.total += n
        for rule in str(rules).split(","):
            (found.by_rule if is_open else found.released_by_rule)[(stream, rule)] += n
    return found


@dataclass(frozen=True)
class QuarantinedRecord:
    """One quarantine row as the report may show it: the key masked, no payload."""

    quarantine_id: int
    stream: str
    masked_id: str
    rules: str
    run_id: str
    status: str
    quarantined_at: datetime


def quarantined_records(conn: Connection, limit: int | None = None) -> Iterator[QuarantinedRecord]:
    """Quarantine rows, newest first, streamed; the personal id masked here, before it leaves the store layer."""
    query = select(
        quarantine.c.quarantine_id,
        quarantine.c.stream,
        quarantine.c.personal_id,
        quarantine.c.rules,
        quarantine.c.run_id,
        quarantine.c.status,
        quarantine.c.quarantined_at,
    ).order_by(quarantine.c.quarantine_id.desc())
    if limit is not None:
        query = query.limit(limit)
    for row in conn.execution_options(yield_per=2_000).execute(query):
        yield QuarantinedRecord(
            row.quarantine_id, row.stream, mask(row.personal_id), row.rules, row.run_id, row.status, row.quarantined_at
        )


@dataclass(frozen=True)
class ExchangeVolume:
    """Ledger entries of one day, agency, dataset, purpose, action and outcome."""

    day: str
    agency: str | None
    dataset: str | None
    purpose: str | None
    action: str
    outcome: str
    entries: int
    records: int


def exchange_volumes(conn: Connection) -> list[ExchangeVolume]:
    """The ledger summed per day x agency x dataset x purpose x action x outcome (in SQL)."""
    day = func.date(audit_ledger.c.at)
    group = (
        day,
        audit_ledger.c.agency_code,
        audit_ledger.c.dataset,
        audit_ledger.c.purpose,
        audit_ledger.c.action,
        audit_ledger.c.outcome,
    )
    rows = (
        conn.execute(select(*group, func.count(), func.sum(audit_ledger.c.record_count)).group_by(*group))
        .tuples()
        .all()
    )
    volumes = [ExchangeVolume(str(d), a, ds, p, act, out, int(n), int(r or 0)) for d, a, ds, p, act, out, n, r in rows]
    return sorted(volumes, key=lambda v: (v.day, v.agency or "", v.dataset or "", v.purpose or "", v.action, v.outcome))


def denials(conn: Connection) -> list[tuple[str | None, str | None, str | None, str, int]]:
    """(agency, dataset, purpose, rule, denied requests), most first: ``detail`` of a denial names the rule."""
    rows = (
        conn.execute(
            select(
                audit_ledger.c.agency_code,
                audit_ledger.c.dataset,
                audit_ledger.c.purpose,
                audit_ledger.c.detail,
                func.count(),
            )
            .where(audit_ledger.c.outcome == "denied")
            .group_by(audit_ledger.c.agency_code, audit_ledger.c.dataset, audit_ledger.c.purpose, audit_ledger.c.detail)
        )
        .tuples()
        .all()
    )
    return sorted(((a, d, p, str(rule), int(n)) for a, d, p, rule, n in rows), key=lambda row: -row[4])


def push_deliveries(conn: Connection) -> dict[str, int]:
    """Push messages per state, all agencies together (the push flow's line on the overview)."""
    return {
        state: int(n)
        for state, n in conn.execute(
            select(outbox.c.state, func.count()).where(outbox.c.topic.startswith(_PUSH_TOPICS)).group_by(outbox.c.state)
        ).tuples()
    }


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
