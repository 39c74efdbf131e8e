"""Load the hub API with wrk on loopback: requests per second and p50/p99 per endpoint, against the cheapest route.

    .venv/bin/python benchmarks/api_load.py                        # 200,000 citizens, 3 rounds of 20 s, SQLite
    .venv/bin/python benchmarks/api_load.py --citizens 20000 --seconds 10 --connections 8
    .venv/bin/python benchmarks/api_load.py --store /tmp/api-bench  # keep (or reuse) the filled store
    .venv/bin/python benchmarks/api_load.py --postgres --workers 2  # a throwaway PostgreSQL, two API workers
    .venv/bin/python benchmarks/api_load.py --database-url URL      # a PostgreSQL store (filled if empty)
    .venv/bin/python benchmarks/api_load.py --profile /tmp/api.json # py-spy records the server during the reads

The store is filled the real way (the population mock, one sync: ~1 minute for 200,000),
the registry loaded, consents recorded through the API by the registrar client, then
``lgsp api serve`` runs in its own process and wrk (Debian's ``wrk``: ``apt-get install
wrk``) drives it with one thread, bounded in time. On 2 cores wrk and the server share
the machine, so the figures are a floor. Every request is a real one: a token, an
agreement check, a store read and a ledger append (grouped with other requests' into
one commit, the answer waiting for it); the ledger is verified afterwards.

The reference is the same server's cheapest route, ``GET /openapi.json`` (no token, no
store: the framework and the loopback alone). Rounds interleave it with the endpoints;
each endpoint's ratio is its rate over the mean of the reference runs either side of
it, and the figures printed are the medians over the rounds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import sync_citizens

PURPOSE = "civil_status_registration"
PROCEDURE = "TT-KH-01"  # marriage registration: the applicant's and the spouse's records
AGENCY_CLIENT, REGISTRAR_CLIENT, SECRET = "tu-phap-app", "cong-dvc-consent", "demo-only-secret"
_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_TOTAL = re.compile(r"(\d+) requests in")


def fill_store(home: Path, url: str, citizens: int, seed: int) -> float:
    """Sync ``citizens`` residents from the population mock into the store at ``url``."""
    from hub.local.mock_process import mocks_running
    from hub.settings import load_settings
    from hub.store.engine import open_store

    with mocks_running(citizens=citizens, seed=seed, defect_rate=0.02) as mocks:
        settings = load_settings(
            home=home,
            database_url=url,
        )
        engine = open_store(url)
        started = time.perf_counter()
        sync_citizens("bench-api", settings, engine, mocks.base_url)
        engine.dispose()
    return time.perf_counter() - started


def sample_ids(url: str, count: int, seed: int) -> list[str]:
    """``count`` personal ids of published citizens, drawn with a fixed seed (the benchmark's memory, not the API's)."""
    from sqlalchemy import select

    from hub.store.engine import make_engine
    from hub.store.tables import citizen

    engine = make_engine(url)
    with engine.connect() as conn:
        every = conn.execute(select(citizen.c.personal_id).order_by(citizen.c.personal_id)).scalars().all()
    engine.dispose()
    return random.Random(seed).sample(list(every), min(count, len(every)))


@contextmanager
def api_server(home: Path, url: str, workers: int) -> Any:
    """``lgsp api serve --port 0 --workers N`` in its own process; yields its base URL and process id."""
    env = {
        **os.environ,
        "LGSP_HOME": str(home),
        "LGSP_DATABASE_URL": url,
        "LGSP_API_TOKEN_SECONDS": "3600",
    }
    lgsp = Path(sys.executable).with_name("lgsp")
    process = subprocess.Popen(
        [str(lgsp), "api", "serve", "--port", "0", "--workers", str(workers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if line.startswith("READY "):
                yield line.split()[1], process.pid
                break
        else:
            raise SystemExit("lgsp api serve did not start")
    finally:
        process.terminate()
        process.wait(timeout=30)


def token(base: str, client_id: str) -> str:
    """An access token for a demo client."""
    answer = httpx.post(
        f"{base}/v1/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": SECRET},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def record_consents(base: str, ids: list[str]) -> list[tuple[str, str]]:
    """The registrar records one consent per citizen for the agency's prefill; returns (id, consent id)."""
    headers = {"Authorization": f"Bearer {token(base, REGISTRAR_CLIENT)}"}
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")
    pairs = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for personal_id in ids:
            answer = client.post(
                "/v1/consents",
                json={
                    "citizen_id": personal_id,
                    "agency": "TU-PHAP",
                    "procedure": PROCEDURE,
                    "purpose": PURPOSE,
                    "expires_at": expires,
                },
            )
            answer.raise_for_status()
            pairs.append((personal_id, str(answer.json()["consent_id"])))
    return pairs


def lua_script(folder: Path, name: str, bearer: str, requests: list[dict[str, str]]) -> Path:
    """A wrk script that cycles through ``requests`` (method, path, body) with the bearer token."""
    rows = ",\n".join(
        "{" + ", ".join(f"{key} = {json.dumps(value)}" for key, value in request.items()) + "}" for request in requests
    )
    path = folder / f"{name}.lua"
    path.write_text(
        f"""
local requests = {{
{rows}
}}
local n = 0
local headers = {{["Authorization"] = "Bearer {bearer}", ["Content-Type"] = "application/json"}}
request = function()
  n = n % #requests + 1
  local r = requests[n]
  return wrk.format(r.method, r.path, headers, r.body)
end
""",
        encoding="utf-8",
    )
    return path


def run_wrk(base: str, script: Path, seconds: int, connections: int) -> dict[str, Any]:
    """One wrk run; its requests per second, p50 and p99 in milliseconds, and non-2xx count."""
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    )
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = {f"p{q}_ms": round(float(value) * scale[unit], 1) for q, value, unit in _LATENCY.findall(done.stdout)}
    rate, total = _RATE.search(done.stdout), _TOTAL.search(done.stdout)
    failed = _NON_2XX.search(done.stdout)
    return {
        "requests_per_second": round(float(rate.group(1)) if rate else 0.0),
        **latency,
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(failed.group(1)) if failed else 0,
    }


def main() -> None:
    """Fill (or reuse) a store, serve the API, load the reference and two endpoints with wrk, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citizens", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=20, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--store", type=Path, help="a folder to keep the filled SQLite store in (reused if filled)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster instead of SQLite")
    parser.add_argument("--database-url", help="a PostgreSQL store to use (filled unless it holds citizens)")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes (above 1: PostgreSQL)")
    parser.add_argument("--rounds", type=int, default=3, help="reference / endpoints rounds (medians reported)")
    parser.add_argument("--profile", type=Path, help="py-spy records the server: PATH-<endpoint>.json, speedscope")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    home = args.store or Path(tempfile.mkdtemp(prefix="lgsp-api-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if args.database_url:
            url = args.database_url
        elif args.postgres:
            from hub.local.postgres import find_postgres_bindir, throwaway_postgres

            bindir = find_postgres_bindir()
            if bindir is None:
                raise SystemExit("no PostgreSQL server binaries: install PostgreSQL to run with --postgres")
            url = stack.enter_context(throwaway_postgres(bindir))
        else:
            url = f"sqlite:///{home / 'hub.sqlite'}"
        results = run(home, url, args)
    print(
        f"{results['store']}, {results['workers']} API worker(s), {results['cores']} cores, {results['citizens']:,} "
        f"citizens, {results['connections']} connections; medians of {results['rounds']} rounds of "
        f"{results['seconds']} s"
    )
    print("endpoint | requests/s | ratio | p50 ms | p99 ms | CPU ms/request | CPU ratio | requests | non-2xx")
    for name in ("reference", "get_citizen", "post_prefill"):
        row = results[name]
        print(
            f"{name} | {row['requests_per_second']:,.0f} | {row.get('ratio', 1.0):.2f} | {row.get('p50_ms')} | "
            f"{row.get('p99_ms')} | {row.get('cpu_ms_per_request')} | {row.get('cpu_ratio', 1.0)} | "
            f"{row['requests']:,} | {row['non_2xx']}"
        )
    print(
        "plan per core (server and database CPU): "
        + ", ".join(
            f"{name} {results[name].get('requests_per_cpu_second')} req/s" for name in ("get_citizen", "post_prefill")
        )
    )
    print(json.dumps(results))


def run(home: Path, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the store unless filled, serve, load the reference (before and after) and the endpoints."""
    fill_seconds = None
    if not _filled(url):
        fill_seconds = round(fill_store(home, url, args.citizens, args.seed), 1)
    ids = sample_ids(url, 2000, args.seed)
    results: dict[str, Any] = {
        "store": url.split(":", 1)[0],
        "workers": args.workers,
        "cores": os.cpu_count(),
        "citizens": args.citizens,
        "fill_seconds": fill_seconds,
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
    }
    with api_server(home, url, args.workers) as (base, pid), tempfile.TemporaryDirectory() as scripts:
        consents = record_consents(base, ids[:500])
        bearer = token(base, AGENCY_CLIENT)
        reads = [{"method": "GET", "path": f"/v1/citizens/{pid_}?purpose={PURPOSE}"} for pid_ in ids]
        prefills = [
            {
                "method": "POST",
                "path": "/v1/prefill",
                "body": json.dumps({"procedure": PROCEDURE, "citizen_id": pid_, "consent_id": cid}),
            }
            for pid_, cid in consents
        ]
        reference = [{"method": "GET", "path": "/openapi.json"}]

        database = _database_pids(url)

        def load(name: str, requests: list[dict[str, str]], profile: Path | None = None) -> dict[str, Any]:
            script = lua_script(Path(scripts), name, bearer, requests)
            server, db = cpu_seconds([pid]), cpu_seconds(database)
            with py_spy(pid, profile, args.seconds):
                done = run_wrk(base, script, args.seconds, args.connections)
            server, db = cpu_seconds([pid]) - server, cpu_seconds(database) - db
            used = server + db
            done["database_cpu_share"] = round(db / used, 2) if used else None
            # CPU the server (and the database) spent, whatever else ran on the machine: what sizing needs.
            done["cpu_ms_per_request"] = round(1000 * used / done["requests"], 2) if done["requests"] else None
            done["requests_per_cpu_second"] = round(done["requests"] / used) if used else None
            return done

        # Rounds interleave the reference and the endpoints, so that the load other programs put on the
        # machine meanwhile weighs on both; each endpoint's ratio is to the references either side of it.
        references = [load("reference", reference)]
        rounds: dict[str, list[dict[str, Any]]] = {"get_citizen": [], "post_prefill": []}
        for number in range(args.rounds):
            for name, requests in (("get_citizen", reads), ("post_prefill", prefills)):
                profile = args.profile.with_name(f"{args.profile.stem}-{name}.json") if args.profile else None
                rounds[name].append(load(name, requests, profile if number == 0 else None))
            references.append(load("reference", reference))
    for number, (before, after) in enumerate(itertools.pairwise(references)):
        floor = (before["requests_per_second"] + after["requests_per_second"]) / 2
        for runs in rounds.values():
            runs[number]["ratio"] = round(runs[number]["requests_per_second"] / floor, 3) if floor else 0.0
    results["reference"] = {**_median(references), "runs": references}
    for name, runs in rounds.items():
        results[name] = {**_median(runs), "runs": runs}
        # The same comparison in CPU per request: what the ratio would be on a machine nothing else loads.
        mine, floor_cpu = results[name].get("cpu_ms_per_request"), results["reference"].get("cpu_ms_per_request")
        results[name]["cpu_ratio"] = round(floor_cpu / mine, 2) if mine and floor_cpu else None
    results["ledger"] = _verify_ledger(url)
    return results


def cpu_seconds(roots: list[int]) -> float:
    """User and system CPU of the processes ``roots`` and all their descendants, so far (Linux ``/proc``)."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = set(roots), set(roots)
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - tree
        tree |= frontier
    return sum(used.get(process, 0.0) for process in tree)


def _database_pids(url: str) -> list[int]:
    """The postmaster of a throwaway cluster (``hub.local.postgres``: its socket folder beside its data)."""
    from sqlalchemy.engine import make_url

    host = make_url(url).query.get("host")
    if not isinstance(host, str):
        return []
    pid_file = Path(host).parent / "data" / "postmaster.pid"
    try:
        return [int(pid_file.read_text().split()[0])]
    except (OSError, ValueError, IndexError):
        return []


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs (a ratio's too), the requests and failures summed."""
    figures = (
        "requests_per_second",
        "p50_ms",
        "p99_ms",
        "ratio",
        "cpu_ms_per_request",
        "requests_per_cpu_second",
        "database_cpu_share",
    )
    middle = {
        key: round(statistics.median(run[key] for run in runs), 2)
        for key in figures
        if all(run.get(key) is not None for run in runs)
    }
    return {**middle, "requests": sum(run["requests"] for run in runs), "non_2xx": sum(run["non_2xx"] for run in runs)}


def _filled(url: str) -> bool:
    """Whether the store at ``url`` already holds citizens (a kept store is reused, not synced again)."""
    from sqlalchemy import func, inspect, select

    from hub.store.engine import make_engine
    from hub.store.tables import citizen

    if url.startswith("sqlite") and not Path(url.removeprefix("sqlite:///")).exists():
        return False
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table(citizen.name):
            return False
        with engine.connect() as conn:
            return bool(conn.execute(select(func.count()).select_from(citizen)).scalar())
    finally:
        engine.dispose()


@contextmanager
def py_spy(pid: int, out: Path | None, seconds: int) -> Any:
    """py-spy records ``pid`` and its workers into ``out`` (speedscope) while the block runs; nothing if no ``out``."""
    if out is None:
        yield
        return
    spy = Path(sys.executable).with_name("py-spy")
    # --gil: only the thread holding the GIL, i.e. where the server's Python CPU goes, not its waits.
    command = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--gil", "--nonblocking"]
    command += ["--duration", str(seconds)]
    recorder = subprocess.Popen(
        [*command, "--format", "speedscope", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        recorder.wait(timeout=seconds + 60)


def _verify_ledger(url: str) -> dict[str, Any]:
    """Every request appended a ledger entry: verify the chain that the load wrote."""
    from hub import ledger
    from hub.store.engine import make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    result = ledger.verify(engine)
    engine.dispose()
    seconds = round(time.perf_counter() - started, 1)
    return {"entries": result.entries, "intact": result.intact, "verify_seconds": seconds}


if __name__ == "__main__":
    main()
