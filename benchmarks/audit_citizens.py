"""Benchmark: the citizen audit (``quality.runner.audit_run``) on a large staged run.

Stages N synthetic citizens (default 200,000) straight into ``staging_citizen`` with
executemany, about 2% of them broken across the mock's defect types, a third with
parents staged in the same run and a golden ``citizen`` table of earlier people,
then measures:

- the GX import, in a fresh interpreter;
- the verdict query alone (plain SQLAlchemy, what the database does);
- the per-validation overhead of GX (``validate_run`` on an empty run);
- ``audit_run`` end to end, twice (the second shows the steady state and that a
  re-run replaces, not adds).

    .venv/bin/python benchmarks/audit_citizens.py                  # SQLite in a temp dir
    .venv/bin/python benchmarks/audit_citizens.py --rows 20000
    .venv/bin/python benchmarks/audit_citizens.py --database-url postgresql+psycopg://...

The database must be empty or disposable: the script creates the tables and
deletes its own run and golden rows first.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.store.reference import current_communes, seed_admin_units
from hub.store.tables import (
    audit_finding,
    citizen,
    metadata,
    quality_result,
    staging_citizen,
)
from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES, build

RUN = "bench__2026-03-01T00:00:00+00:00"
AS_OF = date(2026, 3, 1)
DEFECTS = (
    "malformed_id",
    "id_birth_mismatch",
    "implausible_birth_date",
    "empty_name",
    "unknown_commune",
    "death_before_birth",
    "duplicate_conflict",
    "parent_younger_than_child",
)
_CHUNK = 10_000


def main() -> None:
    """Parse arguments, stage the rows, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--defect-rate", type=float, default=0.02)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    os.environ["GX_ANALYTICS_ENABLED"] = "false"

    workdir = tempfile.TemporaryDirectory(prefix="lgsp-bench-")
    url = args.database_url or f"sqlite:///{workdir.name}/hub.sqlite"
    engine = create_engine(url)
    metadata.create_all(engine)
    print(f"database: {engine.url.get_backend_name()}, rows: {args.rows:,}")

    started = time.perf_counter()
    injected = stage_synthetic(engine, args.rows, args.defect_rate, random.Random(7))
    print(f"staged in {time.perf_counter() - started:.1f} s; injected {injected:,} defects")

    print(f"GX import (fresh interpreter): {gx_import_seconds():.2f} s")
    import great_expectations  # noqa: F401  # pay the import here, not inside the timings

    from hub.pipeline.declared import spec_for
    from hub.systems.loader import load_systems, streams
    from quality.runner import audit_run, validate_run

    # The citizen suite: the rules the declared stream feeding the golden citizens compiles to.
    suite = spec_for(next(item for item in streams(load_systems()) if item.stream.dataset == "citizen")).suite
    started = time.perf_counter()
    with engine.connect() as conn:
        verdicts = conn.execute(text(suite.verdict_query(RUN, AS_OF))).all()
    print(f"verdict query alone ({len(verdicts):,} rows): {time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    validate_run(engine, "bench-empty-run", AS_OF, suite)
    print(f"GX overhead, validate_run on an empty run: {time.perf_counter() - started:.2f} s")

    for attempt in (1, 2):
        started = time.perf_counter()
        outcome = audit_run(engine, RUN, AS_OF, suite)
        elapsed = time.perf_counter() - started
        with engine.connect() as conn:
            findings = conn.execute(
                select(func.count()).select_from(audit_finding).where(audit_finding.c.run_id == RUN)
            ).scalar_one()
        print(
            f"audit_run #{attempt}: {elapsed:.2f} s; {outcome.evaluated:,} rows, "
            f"{outcome.failing_rows:,} failing, {findings:,} findings"
        )
    for rule, count in outcome.rule_counts.items():
        print(f"  {rule:40} {count:>7,}")
    engine.dispose()
    workdir.cleanup()


def gx_import_seconds() -> float:
    """Wall time of ``import great_expectations`` in a new interpreter."""
    code = "import time; t = time.perf_counter(); import great_expectations; print(time.perf_counter() - t)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "false"},
    )
    return float(done.stdout.strip().splitlines()[-1])


def stage_synthetic(engine: Engine, count: int, defect_rate: float, rng: random.Random) -> int:
    """Stage ``count`` citizens for RUN (plus a golden table of parents); returns defects injected."""
    units = current_communes()
    codes = sorted(BIRTH_REGISTRATION_PROVINCES)
    now = datetime(2026, 3, 1)
    with engine.begin() as conn:
        for table in (audit_finding, quality_result):
            conn.execute(delete(table).where(table.c.run_id == RUN))
        conn.execute(delete(staging_citizen).where(staging_citizen.c.run_id == RUN))
        conn.execute(delete(citizen))
        seed_admin_units(conn)
        golden = [_golden(rng, codes, units, serial, now) for serial in range(count // 4)]
        for start in range(0, len(golden), _CHUNK):
            conn.execute(insert(citizen), golden[start : start + _CHUNK])

    people: list[dict[str, Any]] = []
    injected = 0
    for serial in range(count):
        row = _person(rng, codes, units, 500_000 + serial, now)
        # A third have parents: staged earlier in this run, or published before.
        if people and rng.random() < 0.33:
            parent = rng.choice(people) if rng.random() < 0.5 else None
            if parent is not None and parent["birth_date"] < row["birth_date"]:
                row["father_id" if parent["gender"] == "male" else "mother_id"] = parent["personal_id"]
            else:
                g = rng.choice(golden)
                if g["birth_date"].isoformat() < row["birth_date"]:
                    row["father_id" if g["gender"] == "male" else "mother_id"] = g["personal_id"]
        if rng.random() < defect_rate:
            _break(rng, row, people)
            injected += 1
        row["content_hash"] = hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest()
        people.append(row)
    with engine.begin() as conn:
        for start in range(0, len(people), _CHUNK):
            conn.execute(insert(staging_citizen), people[start : start + _CHUNK])
    return injected


def _birth(rng: random.Random, first_year: int, last_year: int) -> date:
    start = date(first_year, 1, 1).toordinal()
    return date.fromordinal(rng.randint(start, date(last_year, 12, 31).toordinal()))


def _person(
    rng: random.Random, codes: list[str], units: list[dict[str, str]], serial: int, now: datetime
) -> dict[str, Any]:
    born = _birth(rng, 1930, 2024)
    gender = "male" if rng.random() < 0.5 else "female"
    unit = rng.choice(units)
    return {
        "run_id": RUN,
        "page_no": serial // 1000,
        "personal_id": build(rng.choice(codes), born, gender, serial),
        "full_name": "Nguyễn Văn An",
        "birth_date": born.isoformat(),
        "gender": gender,
        "nationality": "VN",
        "ethnicity": "01",
        "religion": "00",
        "hometown": "Xã Phúc Xá, Hà Nội",
        "residence_province": unit["province_code"],
        "residence_commune": unit["commune_code"],
        "residence_detail": "Số 12, Tổ 3",
        "father_id": None,
        "mother_id": None,
        "spouse_id": None,
        "marital_status": "single",
        "death_date": None,
        "source_updated_at": (now - timedelta(seconds=serial)).isoformat(),
        "contract_error": None,
        "payload": "<CongDan/>",
        "fetched_at": now,
    }


def _golden(
    rng: random.Random, codes: list[str], units: list[dict[str, str]], serial: int, now: datetime
) -> dict[str, Any]:
    born = _birth(rng, 1930, 1970)
    gender = "male" if rng.random() < 0.5 else "female"
    unit = rng.choice(units)
    return {
        "personal_id": build(rng.choice(codes), born, gender, serial),
        "full_name": "Trần Thị Bình",
        "birth_date": born,
        "gender": gender,
        "nationality": "VN",
        "ethnicity": "01",
        "religion": "00",
        "hometown": "Xã Phúc Xá, Hà Nội",
        "residence_province": unit["province_code"],
        "residence_commune": unit["commune_code"],
        "residence_detail": "Số 1, Tổ 1",
        "marital_status": "married",
        "source_updated_at": now,
        "provenance": "{}",
        "content_hash": f"{serial:064d}",
        "published_run_id": "bench-earlier",
        "published_at": now,
    }


def _break(rng: random.Random, row: dict[str, Any], people: list[dict[str, Any]]) -> None:
    """Inject one of the mock's defect types into ``row``."""
    defect = rng.choice(DEFECTS)
    if defect == "malformed_id":
        row["personal_id"] = row["personal_id"][:11] + "X"
    elif defect == "id_birth_mismatch":
        row["birth_date"] = f"{int(row['birth_date'][:4]) - 1}{row['birth_date'][4:8]}15"
    elif defect == "implausible_birth_date":
        row["birth_date"] = "2099-01-01"
    elif defect == "empty_name":
        row["full_name"] = "   "
    elif defect == "unknown_commune":
        row["residence_commune"] = "99999"
    elif defect == "death_before_birth":
        row["death_date"] = "1900-01-01"
    elif defect == "duplicate_conflict" and people:
        twin = rng.choice(people)
        row["personal_id"] = twin["personal_id"]  # same id, other content
    elif defect == "parent_younger_than_child" and people:
        row["father_id"] = rng.choice(people)["personal_id"]
        row["birth_date"] = "1925-01-01"


if __name__ == "__main__":
    main()
