"""`make bench`: every check over a generated in-memory snapshot of 10,000 tables (issue 15), no server needed.

Builds ``tests.scale.scale_snapshot`` (10,000 tables, ~39,000 indexes, ~13,000 foreign keys, 5,000 statements,
a posture) and prints, over a few runs on a fresh snapshot each (the snapshot's lookups are built on first use,
as in a scan):

* the CPU time of all checks together (target: under 1 s), and the slowest checks, each run with the process's
  caches emptied first (as in a scan, nothing parsed before) and, as in a scan, no cyclic garbage collection;
* the CPU time of writing the snapshot as JSON and of reading it back (what `dbaudit scan --from` does first).

The machine is shared: CPU time is less noisy than wall time, and the spread over the runs is printed too.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from auditor.bulk import gc_paused  # noqa: E402
from auditor.engine import all_checks, run_checks, unmet_precondition  # noqa: E402
from auditor.model import snapshot_from_json, snapshot_to_json  # noqa: E402
from tests.scale import scale_snapshot  # noqa: E402

TARGET_S = 1.0


def cold_caches() -> None:
    """Empty every functools cache of the process (parsed statements, normalized types, quoted names...): each
    run then starts as a scan does, not with what the previous run parsed."""
    for obj in gc.get_objects():
        if isinstance(obj, functools._lru_cache_wrapper):
            obj.cache_clear()


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tables", type=int, default=10_000)
    parser.add_argument("--statements", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    specs = all_checks()
    totals: list[float] = []
    per_check: dict[str, list[float]] = {}
    findings = 0
    for _ in range(args.runs):
        snap = scale_snapshot(args.tables, args.statements)
        cold_caches()
        t0 = time.process_time()
        findings = len(run_checks(snap, specs).findings)
        totals.append(time.process_time() - t0)
        snap = scale_snapshot(args.tables, args.statements)
        cold_caches()
        # without cyclic collections, as run_checks runs them: a collection started by one check's allocations
        # walks the whole snapshot and would be charged to whichever check happened to trigger it
        with gc_paused():
            for spec in specs:
                if unmet_precondition(spec, snap) is not None:
                    continue
                t = time.process_time()
                for _hit in spec.func(snap, spec.options()):
                    pass
                per_check.setdefault(spec.code, []).append(time.process_time() - t)
    snap = scale_snapshot(args.tables, args.statements)
    writes: list[float] = []
    reads: list[float] = []
    text = ""
    for _ in range(args.runs):
        t = time.process_time()
        text = snapshot_to_json(snap)
        writes.append(time.process_time() - t)
        t = time.process_time()
        snapshot_from_json(text)
        reads.append(time.process_time() - t)
    load = os.getloadavg()
    print(f"{args.tables} tables, {len(snap.indexes)} indexes, {len(snap.constraints)} constraints, "
          f"{len(snap.statements)} statements; {findings} findings; load average {load[0]:.1f}")
    print(f"all checks, CPU: {spread(totals)}; target < {TARGET_S:g} s")
    slowest = sorted(per_check.items(), key=lambda kv: -statistics.median(kv[1]))[:6]
    print("slowest checks (median CPU s): "
          + ", ".join(f"{code} {statistics.median(times):.3f}" for code, times in slowest))
    print(f"snapshot JSON ({len(text) / 1e6:.0f} MB) write, CPU: {spread(writes)}")
    print(f"snapshot JSON read, CPU: {spread(reads)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
