"""Time verifying the audit ledger: the whole chain, and on from a checkpoint (``hub.ledger``).

    .venv/bin/python benchmarks/ledger_verify.py                  # 1,000,000 entries, then 10,000 more
    .venv/bin/python benchmarks/ledger_verify.py --entries 200000 --more 5000
    .venv/bin/python benchmarks/ledger_verify.py --store /tmp/ledger-bench   # keep (or reuse) the SQLite store

The store is migrated (``open_store``) and filled through ``hub.ledger.append`` with the
report benchmark's exchanges (pulls, pushes, API reads, prefills over 30 days; a commit
every 1,000). Then, each timed: a walk of the whole chain (``verify``, what the report
did on every build before checkpoints); the first ``verify_from_checkpoint`` (a whole
walk that records the checkpoint); ``--more`` appends, as a day's traffic; the next
``verify_from_checkpoint``, which re-hashes only the new entries. Printed: seconds, µs
per entry walked and this process's peak RSS (the walks stream 1,000 rows at a time).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from harness import peak_rss_mib
from report_build import NOW, append_ledger

from hub import ledger
from hub.store.engine import open_store


def main() -> None:
    """Fill (or reuse) a store, then time the walks."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="ledger entries first (default 1,000,000)")
    parser.add_argument("--more", type=int, default=10_000, help="entries appended before the second walk")
    parser.add_argument("--store", type=Path, default=None, help="a folder to keep (or reuse) the SQLite store in")
    args = parser.parse_args()
    folder = args.store or Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    engine = open_store(f"sqlite:///{folder / 'hub.sqlite'}")
    rng = random.Random(7)  # synthetic data, not secrets

    have = ledger.verify(engine).entries
    if have < args.entries:
        started = time.perf_counter()
        append_ledger(engine, args.entries - have, rng)
        print(f"filled: {args.entries - have:,} appends in {time.perf_counter() - started:.1f} s")

    whole = _timed("whole chain (verify)", lambda: ledger.verify(engine))
    first = _timed(
        "first verify_from_checkpoint (whole, records the checkpoint)",
        lambda: ledger.verify_from_checkpoint(engine, now=NOW, whole_chain_below=0),
    )
    started = time.perf_counter()
    append_ledger(engine, args.more, rng)
    print(f"appended: {args.more:,} entries in {time.perf_counter() - started:.1f} s")
    later = _timed(
        "next verify_from_checkpoint (the new entries)",
        lambda: ledger.verify_from_checkpoint(engine, now=NOW + timedelta(days=1), whole_chain_below=0),
    )
    assert whole.intact and first.intact and later.intact, (whole, first, later)
    print(f"peak RSS: {peak_rss_mib()} MiB; store: {folder}")


def _timed(what: str, walk: object) -> ledger.Verification:
    assert callable(walk)
    started = time.perf_counter()
    result: ledger.Verification = walk()
    seconds = time.perf_counter() - started
    walked = result.entries - result.walked_from + 1
    print(
        f"{what}: {seconds:.2f} s for {walked:,} entries walked of {result.entries:,} "
        f"({seconds / max(walked, 1) * 1e6:.1f} µs each)"
    )
    return result


if __name__ == "__main__":
    main()
