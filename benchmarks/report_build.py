"""Time the auditors' report site (``quality.report.build.build_site``) on a province-sized store.

    .venv/bin/python benchmarks/report_build.py              # 200 runs a stream, 60,000 quarantined, 300,000 entries
    .venv/bin/python benchmarks/report_build.py --quarantined 5000 --ledger 20000 --runs 60
    .venv/bin/python benchmarks/report_build.py --postgres   # a throwaway PostgreSQL cluster (initdb/pg_ctl)
    .venv/bin/python benchmarks/report_build.py --profile    # and cProfile the warm build: top 15 cumulative
    .venv/bin/python benchmarks/report_build.py --store /tmp/report-bench   # keep (or reuse) the filled SQLite store

The store is made with the real schema (``metadata.create_all`` plus the admin units)
and filled directly with SQL inserts (executemany, 5,000 rows a statement), as a
province of ~3 million residents would have it after some months:

- ``sync_run``: ``--runs`` published runs for each inbound stream (population,
  civil status, one-stop dossiers), an hour apart, with read/published/quarantined/
  unchanged counts;
- ``quality_result``: one row per run and rule of the stream's suite;
- ``validation_result``: one GX document per run. Three real audits (``audit_run`` on
  an empty run of each suite) give GX's documents; each run gets a copy carrying its
  run name, times and the counts of its ``quality_result`` rows, so Data Docs renders
  one real page per run in the window (``--no-data-docs`` leaves the table empty);
- ``quarantine``: ``--quarantined`` rows (2 % of 3 million residents by default),
  synthetic 12-digit ids, 1-2 rules of the stream's suite, mostly open, some released;
- ``audit_ledger``: ``--ledger`` entries appended with ``hub.ledger.append`` (a valid
  hash chain) over 30 days: pulls, pushes, API reads and prefills by TU-PHAP, BHXH,
  CONG-AN and SO-Y-TE, ~1 % denied. About 3,500 appends/s on SQLite (300,000 by
  default: ~1½ minutes), a few hundred a second on PostgreSQL (three round trips each;
  50,000 by default there). A commit every 1,000 appends: on PostgreSQL appends
  slowed down as one transaction grew (20,000 in one: ~150/s; 500 a commit: ~800/s),
  likely because each append updates the one ``ledger_head`` row twice and a row's
  versions made by a transaction still open cannot be pruned;
- ``outbox``: ``--outbox`` messages on portal.dossier_status, push.BHXH and push.TU-PHAP
  (pending, acknowledged, dead); ``field_conflict``: ``--conflicts`` open conflicts.

The golden tables (citizen, civil_event, dossier) stay empty: the overview's
once-only table and the portal's dossier count are then empty, which the build
does not mind. The build runs in a child process, twice into temp dirs: the first
("cold") pays the imports of GX, Jinja2's templates, altair and vl-convert; the
second ("warm") is the steady state. Printed: setup time, build seconds (wall and
CPU: on a shared machine the CPU time is the steadier figure), pages, CSV
tables, Data Docs pages, the site's size, the quarantine CSV's size and the build
process's resident memory (current RSS before and after, and ru_maxrss: the child's
peak, which covers only the builds).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import html
import io
import json
import os
import pstats
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NOW = datetime(2026, 3, 1, 12, 0, 0)  # naive UTC, as the store keeps it
CHUNK = 5_000
LEDGER_TRANSACTION = 1_000  # appends per commit (see the docstring: PostgreSQL slows down in long ones)
PROVINCE_RESIDENTS = 3_000_000


def _declared_stream(dataset: str) -> tuple[str, str]:
    """(DAG id, qualified stream) of the declared stream that feeds the hub's ``dataset``."""
    from hub.systems.loader import load_systems, streams

    item = next(item for item in streams(load_systems()) if item.stream.dataset == dataset)
    return item.dag_id, item.qualified


CITIZENS_DAG, CITIZENS = _declared_stream("citizen")
EVENTS_DAG, EVENTS = _declared_stream("civil_event")
DOSSIERS_DAG, DOSSIERS = _declared_stream("dossier")
# (DAG id, stream): every inbound flow is a declared stream, its suite compiled from the declaration
STREAMS: tuple[tuple[str, str], ...] = ((CITIZENS_DAG, CITIZENS), (EVENTS_DAG, EVENTS), (DOSSIERS_DAG, DOSSIERS))
QUARANTINE_SHARE = {CITIZENS: 0.7, EVENTS: 0.15, DOSSIERS: 0.15}
AGENCIES = {  # agency -> (client, [(dataset, purpose, legal basis)])
    "TU-PHAP": (
        "tu-phap-app",
        [
            ("citizen", "civil_status_registration", "Luật Hộ tịch 2014"),
            ("civil_event", "judicial_record", "Luật Lý lịch tư pháp 2009"),
        ],
    ),
    "BHXH": ("bhxh-app", [("citizen", "health_insurance", "Luật Bảo hiểm y tế 2008")]),
    "CONG-AN": (
        "cong-an-app",
        [
            ("citizen", "residence_registration", "Luật Cư trú 2020"),
            ("civil_event", "residence_registration", "Luật Cư trú 2020"),
        ],
    ),
    "SO-Y-TE": ("so-y-te-app", [("citizen", "vaccination", "Luật Phòng, chống bệnh truyền nhiễm 2007")]),
}
ACTIONS = (("api_read", 0.55), ("prefill", 0.2), ("push", 0.2), ("pull", 0.05))
DENIAL_RULES = ("no_agreement", "purpose_not_agreed", "consent_revoked", "scope_missing", "consent_expired")
CONFLICT_FIELDS = ("residence_commune", "residence_detail", "marital_status", "spouse_id", "death_date")
HEADER = (
    "build",
    "seconds",
    "cpu_s",
    "pages",
    "csv_tables",
    "data_docs",
    "site_mib",
    "quarantine_csv_mib",
    "rss_before_mib",
    "rss_after_mib",
    "peak_rss_mib",
)


def main() -> None:
    """Parse arguments; fill a store; time two builds in a child process; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="sync runs per stream")
    parser.add_argument("--quarantined", type=int, default=60_000, help="quarantine rows")
    parser.add_argument(
        "--ledger", type=int, default=None, help="audit ledger entries (default 300,000; 50,000 with --postgres)"
    )
    parser.add_argument("--outbox", type=int, default=6_000, help="outbox messages")
    parser.add_argument("--conflicts", type=int, default=400, help="open field conflicts")
    parser.add_argument("--runs-per-dataset", type=int, default=60, help="build_site's window")
    parser.add_argument("--no-data-docs", action="store_true", help="leave validation_result empty")
    parser.add_argument("--profile", action="store_true", help="cProfile the warm build, top 15 cumulative")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--postgres", action="store_true", help="run against a throwaway PostgreSQL (initdb/pg_ctl)")
    parser.add_argument("--store", type=Path, help="keep the SQLite store in this directory; reuse it if filled")
    parser.add_argument("--build", metavar="URL", help=argparse.SUPPRESS)  # the child: build from URL
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if args.ledger is None:
        args.ledger = 50_000 if args.postgres else 300_000
    if args.build:
        print("RESULT " + json.dumps(build_twice(args.build, args.runs_per_dataset, args.profile)), flush=True)
        return
    with store_url(args) as url:
        run(url, args)


@contextmanager
def store_url(args: argparse.Namespace) -> Iterator[str]:
    """The database to fill: the one given, a fresh database on a throwaway PostgreSQL, or a temp SQLite file."""
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from harness import _fresh_database
        from pg import find_postgres_bindir, throwaway_postgres

        bindir = find_postgres_bindir()
        if bindir is None:
            raise SystemExit("no PostgreSQL server binaries found (initdb, pg_ctl)")
        with throwaway_postgres(bindir) as server:
            yield _fresh_database(server, "bench_report")
        return
    if args.database_url:
        yield args.database_url
        return
    if args.store:
        args.store.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{args.store.resolve() / 'hub.sqlite'}"
        return
    with tempfile.TemporaryDirectory(prefix="lgsp-bench-report-") as home:
        yield f"sqlite:///{home}/hub.sqlite"


def run(url: str, args: argparse.Namespace) -> None:
    """Fill the store at ``url``, then build in a child process and print both tables."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    print(
        f"database: {engine.url.get_backend_name()}; runs {args.runs:,} a stream, quarantined "
        f"{args.quarantined:,}, ledger {args.ledger:,}, outbox {args.outbox:,}, conflicts {args.conflicts:,}",
        flush=True,
    )
    if filled(engine):
        print("the store already holds sync runs: reused as it is (the size options are ignored)")
        setup: dict[str, float] = {}
    else:
        setup = fill_store(engine, args, random.Random(args.seed))
    engine.dispose()
    print("setup | seconds")
    for step, seconds in setup.items():
        print(f"{step} | {seconds:,.1f}")
    if args.no_data_docs:
        print("validation_result left empty (--no-data-docs): Data Docs renders only its index")
    command = [sys.executable, __file__, "--build", url, "--runs-per-dataset", str(args.runs_per_dataset)]
    if args.profile:
        command.append("--profile")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"the build failed (exit {done.returncode})")
    lines = done.stdout.splitlines()
    result = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :])
    print(" | ".join(HEADER))
    for build in result["builds"]:
        print(" | ".join(f"{build[key]:,}" if isinstance(build[key], int) else str(build[key]) for key in HEADER))
    print("seconds: wall time; cpu_s: the build process's CPU time (all its threads), steadier on a shared machine;")
    print("peak_rss_mib is the build process's ru_maxrss so far (cold, then cold and warm)")
    print(f"audit ledger, as the site says: {result['ledger']}")
    if args.profile:
        print("\n".join(line for line in lines if not line.startswith("RESULT ")))
    print(json.dumps({"setup_s": setup, **result}))


# --- the store --------------------------------------------------------------------------


def filled(engine: Any) -> bool:
    """True when the store has the schema and sync runs already (a kept ``--store``)."""
    from sqlalchemy import func, inspect, select

    from hub.store.tables import sync_run

    if not inspect(engine).has_table("sync_run"):
        return False
    with engine.connect() as conn:
        return bool(conn.execute(select(func.count()).select_from(sync_run)).scalar_one())


def fill_store(engine: Any, args: argparse.Namespace, rng: random.Random) -> dict[str, float]:
    """Create the schema and every table the report reads; seconds per step."""
    from hub.store.reference import seed_admin_units
    from hub.store.tables import metadata

    seconds: dict[str, float] = {}
    total = time.perf_counter()
    started = time.perf_counter()
    metadata.create_all(engine)
    with engine.begin() as conn:
        seed_admin_units(conn)
    seconds["schema"] = time.perf_counter() - started

    started = time.perf_counter()
    runs = insert_runs(engine, args.runs, rng)
    seconds["sync_run + quality_result"] = time.perf_counter() - started

    if not args.no_data_docs:
        started = time.perf_counter()
        insert_validations(engine, runs)
        seconds["validation_result (3 real audits, copied)"] = time.perf_counter() - started

    started = time.perf_counter()
    insert_quarantine(engine, runs, args.quarantined, rng)
    insert_outbox(engine, args.outbox, rng)
    insert_conflicts(engine, runs, args.conflicts, rng)
    seconds["quarantine + outbox + field_conflict"] = time.perf_counter() - started

    started = time.perf_counter()
    append_ledger(engine, args.ledger, rng)
    seconds[f"audit_ledger ({args.ledger:,} appends)"] = time.perf_counter() - started
    seconds["setup total"] = time.perf_counter() - total
    return {step: round(s, 1) for step, s in seconds.items()}


def insert_many(conn: Any, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """executemany, CHUNK rows a statement."""
    from sqlalchemy import insert

    for start in range(0, len(rows), CHUNK):
        conn.execute(insert(table), rows[start : start + CHUNK])


def suite_of(stream: str) -> Any:
    """The expectation suite of the declared ``stream``, compiled from its rules."""
    from hub.pipeline.declared import find_stream, spec_for

    return spec_for(find_stream(stream)).suite


def insert_runs(engine: Any, count: int, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """``count`` published runs a stream, an hour apart, and their rule lines; stream -> runs (with rule lines)."""
    from hub.store.tables import quality_result, sync_run

    runs: dict[str, list[dict[str, Any]]] = {}
    run_rows, result_rows = [], []
    for dag, stream in STREAMS:
        suite = suite_of(stream)
        runs[stream] = []
        for n in range(count):
            started = NOW - timedelta(hours=count - n) + timedelta(minutes=rng.randint(0, 5))
            finished = started + timedelta(minutes=rng.randint(2, 40))
            read = PROVINCE_RESIDENTS if (n == 0 and stream == CITIZENS) else rng.randint(2_000, 40_000)
            quarantined = int(read * rng.uniform(0.005, 0.03))
            unchanged = int((read - quarantined) * rng.uniform(0.0, 0.4))
            run_id = f"{dag}:scheduled__{started.isoformat(timespec='seconds')}+00:00"
            rules = []
            for rule in suite.rule_names():
                evaluated = read if rule == "contract.valid" else int(read * rng.uniform(0.6, 1.0))
                failed = 0 if rng.random() < 0.6 else int(evaluated * rng.uniform(0.0001, 0.01))
                rules.append(
                    {
                        "run_id": run_id,
                        "rule": rule,
                        "expectation": "expect_column_values_to_be_in_set",
                        "evaluated": evaluated,
                        "failed": failed,
                        "success": failed == 0,
                        "checked_at": finished - timedelta(minutes=1),
                    }
                )
            run = {
                "run_id": run_id,
                "stream": stream,
                "status": "published",
                "started_at": started,
                "finished_at": finished,
                "cursor_from": None,
                "cursor_to": None,
                "pages": read // 200 + 1,
                "read": read,
                "published": read - quarantined - unchanged,
                "quarantined": quarantined,
                "unchanged": unchanged,
                "rules_failed": json.dumps({r["rule"]: r["failed"] for r in rules if r["failed"]}),
                "extract_seconds": 1.0,
                "audit_seconds": 1.0,
                "publish_seconds": 1.0,
                "error": None,
            }
            run_rows.append(run)
            result_rows += rules
            runs[stream].append({**run, "suite": suite.name, "rules": rules})
    with engine.begin() as conn:
        insert_many(conn, sync_run, run_rows)
        insert_many(conn, quality_result, result_rows)
    return runs


def insert_validations(engine: Any, runs: dict[str, list[dict[str, Any]]]) -> None:
    """One GX document per run: a real audit of an empty run per suite, copied with each run's name and counts."""
    from sqlalchemy import delete, select

    from hub.store.tables import quality_result, validation_result
    from quality.runner import audit_run

    templates: dict[str, dict[str, Any]] = {}
    for _dag, stream in STREAMS:
        suite = suite_of(stream)
        probe = f"bench-probe:{suite.name}"
        audit_run(engine, probe, NOW.date(), suite)  # GX's own document, sanitized as the runner stores it
        with engine.begin() as conn:
            document = conn.execute(
                select(validation_result.c.document).where(validation_result.c.run_id == probe)
            ).scalar_one()
            conn.execute(delete(validation_result).where(validation_result.c.run_id == probe))
            conn.execute(delete(quality_result).where(quality_result.c.run_id == probe))
        templates[stream] = json.loads(document)
    rows = []
    for stream, stream_runs in runs.items():
        for run in stream_runs:
            document = with_counts(templates[stream], run)
            rows.append(
                {
                    "run_id": run["run_id"],
                    "suite": run["suite"],
                    "validated_at": run["rules"][0]["checked_at"],
                    "success": document["success"],
                    "document": json.dumps(document, ensure_ascii=False, separators=(",", ":")),
                }
            )
    with engine.begin() as conn:
        for start in range(0, len(rows), 500):  # documents are ~10 kB each
            insert_many(conn, validation_result, rows[start : start + 500])


def with_counts(template: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """A copy of a suite's GX document for ``run``: its name, times and its rule lines' counts."""
    document = json.loads(json.dumps(template))
    lines = {line["rule"]: line for line in run["rules"]}
    read = run["read"]
    checked = run["rules"][0]["checked_at"].isoformat() + "+00:00"
    for item in document["results"]:
        line = lines[item["expectation_config"]["meta"]["rule"]]
        evaluated, failed = line["evaluated"], line["failed"]
        missing = read - evaluated
        item["success"] = failed == 0
        item["result"] = {
            "element_count": read,
            "unexpected_count": failed,
            "missing_count": missing,
            "missing_percent": 100 * missing / read if read else None,
            "unexpected_percent": 100 * failed / evaluated if evaluated else None,
            "unexpected_percent_nonmissing": 100 * failed / evaluated if evaluated else None,
            "unexpected_percent_total": 100 * failed / read if read else None,
        }
    passed = sum(1 for item in document["results"] if item["success"])
    document["success"] = passed == len(document["results"])
    document["statistics"] = {
        "evaluated_expectations": len(document["results"]),
        "successful_expectations": passed,
        "unsuccessful_expectations": len(document["results"]) - passed,
        "success_percent": 100 * passed / len(document["results"]),
    }
    meta = document["meta"]
    meta["validation_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, run["run_id"]))
    meta["validation_time"] = checked
    meta["run_id"] = {"run_name": run["run_id"], "run_time": checked}
    return document


def synthetic_id(rng: random.Random, serial: int) -> str:
    """A well-formed 12-digit personal id (province 001-096, birth year, serial)."""
    from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES, build

    codes = sorted(BIRTH_REGISTRATION_PROVINCES)
    born = date(rng.randint(1930, 2024), rng.randint(1, 12), rng.randint(1, 28))
    return build(rng.choice(codes), born, "male" if rng.random() < 0.5 else "female", serial % 1_000_000)


def insert_quarantine(engine: Any, runs: dict[str, list[dict[str, Any]]], count: int, rng: random.Random) -> None:
    """``count`` quarantine rows over the streams' runs, 1-2 rules each; ~10 % released."""
    from hub.store.tables import quarantine

    rules = {stream: suite_of(stream).rule_names() for _dag, stream in STREAMS}
    streams, weights = list(QUARANTINE_SHARE), list(QUARANTINE_SHARE.values())
    rows = []
    for serial in range(count):
        stream = rng.choices(streams, weights)[0]
        first = rng.choice(runs[stream])
        last = rng.choice([r for r in runs[stream][-5:] if r["started_at"] >= first["started_at"]] or [first])
        broken = sorted(set(rng.sample(rules[stream], rng.choice((1, 1, 1, 2)))))
        rows.append(
            {
                "stream": stream,
                "run_id": first["run_id"],
                "personal_id": synthetic_id(rng, serial),
                "rules": ",".join(broken),
                "payload": "{}",
                "payload_hash": hashlib.sha256(f"{stream}:{serial}".encode()).hexdigest(),
                "quarantined_at": first["finished_at"],
                "last_seen_run_id": last["run_id"],
                "status": "released" if rng.random() < 0.1 else "open",
            }
        )
    with engine.begin() as conn:
        insert_many(conn, quarantine, rows)


def insert_outbox(engine: Any, count: int, rng: random.Random) -> None:
    """``count`` messages: half portal statuses, half pushes to BHXH and TU-PHAP; mostly acknowledged."""
    from hub.store.tables import outbox

    topics = ("portal.dossier_status", "push.BHXH", "push.TU-PHAP")
    rows = []
    for n in range(count):
        topic = rng.choices(topics, (2, 1, 1))[0]
        state = rng.choices(("acknowledged", "pending", "dead"), (0.9, 0.08, 0.02))[0]
        created = NOW - timedelta(seconds=rng.randint(60, 30 * 86_400))
        sent = created + timedelta(seconds=rng.randint(1, 300)) if state != "pending" else None
        aggregate = f"H{n:09d}" if topic.startswith("portal") else synthetic_id(rng, n)
        rows.append(
            {
                "topic": topic,
                "aggregate_id": aggregate,
                "sequence": 1,
                "payload": json.dumps({"id": aggregate, "status": "received"}),
                "idempotency_key": f"{topic}:{aggregate}:1",
                "state": state,
                "attempts": 0 if state == "pending" else rng.randint(1, 8),
                "next_attempt_at": created,
                "last_error": "HTTP 503" if state == "dead" else None,
                "ack_id": f"ack-{n}" if state == "acknowledged" else None,
                "created_at": created,
                "sent_at": sent,
                "acknowledged_at": sent + timedelta(seconds=rng.randint(0, 60))
                if state == "acknowledged" and sent
                else None,
            }
        )
    with engine.begin() as conn:
        insert_many(conn, outbox, rows)


def insert_conflicts(engine: Any, runs: dict[str, list[dict[str, Any]]], count: int, rng: random.Random) -> None:
    """``count`` open conflicts between the population database and the civil-status events."""
    from hub.store.tables import field_conflict

    rows = []
    for n in range(count):
        run = rng.choice(runs[EVENTS])
        at = run["finished_at"]
        rows.append(
            {
                "personal_id": synthetic_id(rng, n),
                "field": rng.choice(CONFLICT_FIELDS),
                "kept_value": "a",
                "kept_source": CITIZENS,
                "kept_updated_at": at - timedelta(days=3),
                "other_value": "b",
                "other_source": EVENTS,
                "other_updated_at": at,
                "run_id": run["run_id"],
                "detected_at": at,
                "status": "open",
                "resolved_at": None,
            }
        )
    with engine.begin() as conn:
        insert_many(conn, field_conflict, rows)


def append_ledger(engine: Any, count: int, rng: random.Random) -> None:
    """``count`` entries through ``hub.ledger.append``, LEDGER_TRANSACTION a commit: a valid chain over 30 days."""
    from hub import ledger

    key = hashlib.sha256(b"bench ledger key").digest()
    step = 30 * 86_400 / max(count, 1)
    for start in range(0, count, LEDGER_TRANSACTION):
        with engine.begin() as conn:
            for n in range(start, min(start + LEDGER_TRANSACTION, count)):
                at = NOW - timedelta(days=30) + timedelta(seconds=n * step)
                ledger.append(conn, exchange(ledger, n, rng), key=key, now=at)


def exchange(ledger: Any, n: int, rng: random.Random) -> Any:
    """Entry ``n``: a flow's pull, or an agency's push, API read or prefill (~1 % of these denied)."""
    action = rng.choices([a for a, _ in ACTIONS], [w for _, w in ACTIONS])[0]
    if action == "pull":  # as hub.pipeline.stages records one: the source, the stream, a count
        stream = rng.choice([stream for _dag, stream in STREAMS])
        return ledger.Exchange(
            action="pull",
            client=stream.split(".")[0],
            outcome="ok",
            correlation_id=f"pull:{n}",
            dataset=stream,
            record_count=rng.randint(2_000, 40_000),
            detail="pages 1-20",
        )
    agency = rng.choice(list(AGENCIES))
    client, grants = AGENCIES[agency]
    dataset, purpose, basis = rng.choice(grants)
    denied = action != "push" and rng.random() < 0.0125
    return ledger.Exchange(
        action=action,
        client="lgsp" if action == "push" else client,
        outcome="denied" if denied else "acknowledged" if action == "push" else "ok",
        correlation_id=f"req-{n:09d}",
        agency_code=agency,
        purpose=purpose,
        legal_basis=basis,
        dataset=dataset,
        fields=() if denied else ("full_name", "birth_date", "residence_commune"),
        record_keys=() if denied else (synthetic_id(rng, n),),
        detail=rng.choice(DENIAL_RULES) if denied else "agreements A-1",
    )


# --- the build (child process) ------------------------------------------------------------


def rss_mib() -> float:
    """This process's resident set size now (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return round(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_rss_mib() -> float:
    """This process's peak resident set size so far."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def tree_bytes(root: Path) -> int:
    """Bytes of every file under ``root``."""
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def build_twice(url: str, window: int, profile: bool) -> dict[str, Any]:
    """A cold build and a warm one from ``url``, each into a fresh temp dir; the figures of each."""
    from sqlalchemy import create_engine

    from quality.report.build import build_site

    engine = create_engine(url)
    builds = []
    with tempfile.TemporaryDirectory(prefix="lgsp-bench-site-") as temp:
        for name in ("cold", "warm"):
            out = Path(temp) / name
            before = rss_mib()
            profiler = cProfile.Profile() if profile and name == "warm" else None
            started, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            summary = build_site(engine, out, now=NOW, runs_per_dataset=window)
            if profiler:
                profiler.disable()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            builds.append(
                {
                    "build": name,
                    "seconds": round(seconds, 1),
                    "cpu_s": round(cpu, 1),
                    "pages": summary.pages,
                    "csv_tables": summary.tables,
                    "data_docs": summary.data_docs,
                    "site_mib": round(tree_bytes(out) / 2**20, 1),
                    "quarantine_csv_mib": round((out / "csv" / "quarantine_records.csv").stat().st_size / 2**20, 2),
                    "rss_before_mib": before,
                    "rss_after_mib": rss_mib(),
                    "peak_rss_mib": peak_rss_mib(),
                }
            )
            if name == "cold":  # what the site says of the chain the setup appended
                page = (out / "en" / "index.html").read_text(encoding="utf-8")
                found = re.search(r'id="ledger-status">.*?<p>(.*?)</p>', page, re.S)
                ledger_says = html.unescape(found.group(1)) if found else "(no ledger status on the overview)"
            if profiler:
                text = io.StringIO()
                pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(15)
                print(text.getvalue())
    engine.dispose()
    return {"builds": builds, "ledger": ledger_says}


if __name__ == "__main__":
    main()
