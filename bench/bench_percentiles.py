"""How good is the P95/P99 estimate from pg_stat_statements' five figures? Measure it.

Starts a throwaway PostgreSQL (auditor.throwaway), runs workloads whose per-call latencies are chosen
(``SELECT pg_sleep($1)`` with sleep times drawn from known distributions), times every call on the client,
then reads pg_stat_statements and prints the estimated workload P95/P99 (calls-weighted mixture, see
docs/workload.md) against the measured ones. Runs in well under two minutes.

    .venv/bin/python bench/bench_percentiles.py [--calls 800] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.model import Statement  # noqa: E402
from auditor.throwaway import start_postgres  # noqa: E402
from auditor.workload import LatencyModel, mixture_quantile  # noqa: E402

Sampler = Callable[[random.Random], float]  # seconds to sleep

# Each shape is a list of statements: (distinct SQL text, share of the calls, latency sampler).
SHAPES: dict[str, list[tuple[str, float, Sampler]]] = {
    "steady": [
        ("SELECT pg_sleep(%s), 'a'::text", 0.5, lambda r: max(0.0, r.gauss(0.004, 0.0004))),
        ("SELECT pg_sleep(%s), 1::int", 0.5, lambda r: max(0.0, r.gauss(0.006, 0.0006))),
    ],
    "skewed": [
        ("SELECT pg_sleep(%s), 'a'::text", 1.0, lambda r: min(0.08, r.lognormvariate(-6.2, 0.8))),
    ],
    "bimodal": [  # one statement with a cache-hit and a cache-miss mode
        ("SELECT pg_sleep(%s), 'a'::text", 1.0, lambda r: 0.001 if r.random() < 0.9 else r.gauss(0.025, 0.002)),
    ],
    "mixed": [  # many fast lookups, some reports, a skewed search
        ("SELECT pg_sleep(%s), 'a'::text", 0.80, lambda r: max(0.0, r.gauss(0.0008, 0.0002))),
        ("SELECT pg_sleep(%s), 1::int", 0.15, lambda r: min(0.05, r.lognormvariate(-5.0, 0.5))),
        ("SELECT pg_sleep(%s), now()", 0.05, lambda r: max(0.0, r.gauss(0.040, 0.005))),
    ],
}


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of the measured values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


def run_shape(conn: psycopg.Connection[tuple[object, ...]], name: str, calls: int,
              rng: random.Random) -> tuple[list[float], list[Statement]]:
    conn.execute("/* dbaudit */ SELECT pg_stat_statements_reset()")
    measured: list[float] = []
    statements = SHAPES[name]
    weights = [share for _, share, _ in statements]
    for _ in range(calls):
        sql, _, sampler = rng.choices(statements, weights)[0]
        t0 = time.perf_counter()
        conn.execute(sql, (sampler(rng),)).fetchall()
        measured.append((time.perf_counter() - t0) * 1000.0)
    rows = conn.execute(
        "/* dbaudit */ SELECT queryid::text, query, calls, total_exec_time, mean_exec_time, stddev_exec_time,"
        " min_exec_time, max_exec_time FROM pg_stat_statements WHERE query LIKE 'SELECT pg_sleep%'"
    ).fetchall()
    stmts = [Statement(queryid=str(r[0]), query=str(r[1]), calls=int(str(r[2])), total_ms=float(str(r[3])),
                       mean_ms=float(str(r[4])), stddev_ms=float(str(r[5])), min_ms=float(str(r[6])),
                       max_ms=float(str(r[7]))) for r in rows]
    return measured, stmts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=800, help="calls per shape (default 800)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with start_postgres() as server:
        print(f"PostgreSQL {server.version_num} on port {server.port}, {args.calls} calls per shape\n")
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            header = (f"{'shape':<8} {'stmts':>5} {'P95 meas':>9} {'P95 est':>8} {'err':>7} {'P99 meas':>9} "
                      f"{'P99 est':>8} {'err':>7}   {'P95/P99 est, plain log-normal':>30}")
            print(header)
            print("-" * len(header))
            for name in SHAPES:
                measured, stmts = run_shape(conn, name, args.calls, rng)
                models = [LatencyModel.of(s) for s in stmts]
                plain = [LatencyModel.of(s, shifted=False) for s in stmts]
                m95, m99 = quantile(measured, 0.95), quantile(measured, 0.99)
                e95, e99 = mixture_quantile(models, 0.95), mixture_quantile(models, 0.99)
                p95, p99 = mixture_quantile(plain, 0.95), mixture_quantile(plain, 0.99)
                print(f"{name:<8} {len(stmts):>5} {m95:>9.2f} {e95:>8.2f} {100 * (e95 - m95) / m95:>+6.0f}% "
                      f"{m99:>9.2f} {e99:>8.2f} {100 * (e99 - m99) / m99:>+6.0f}%   "
                      f"{p95:>8.2f} ({100 * (p95 - m95) / m95:+.0f}%) {p99:>8.2f} ({100 * (p99 - m99) / m99:+.0f}%)")
    print("\nmeasured: client-side wall time per call (includes ~0.1 ms of round trip that the server's own "
          "figures do not);\nestimated: shifted log-normal per statement, calls-weighted mixture "
          f"(auditor.workload). {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
