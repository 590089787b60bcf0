"""`make bench`: what a scan costs the application -- pgbench's throughput with and without dbaudit scanning in a loop.

On a throwaway PostgreSQL server it initialises a pgbench database (plus 200 ordinary tables, so the catalog has
some size), then alternates rounds of ``pgbench`` (TPC-B-like, read-write) without and with a thread that runs
full scans back to back (catalog, data sample, workload with EXPLAIN) for the whole round. It prints per round
and summarised (mean, standard deviation, min-max):

* TPS without and with the scanning loop, and their difference;
* the server-side time of dbaudit's own statements per scan (pg_stat_statements, its statements recognised by
  their marker), i.e. what one scan asks of the server, and the client-side wall time of a scan.

The machine is shared and has 2 cores, so rounds are interleaved and the spread is printed: a difference within
it is noise. Skipped (exit 0) when no pgbench binary is found.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench_catalog import schema_ddl  # noqa: E402  (the same generated schema as the catalog benchmark)

from auditor.connectors import CollectOptions, collect  # noqa: E402
from auditor.dsn import parse_dsn  # noqa: E402
from auditor.throwaway import PostgresServer, ThrowawayError, start_postgres  # noqa: E402
from auditor.workload import DBAUDIT_MARKER  # noqa: E402

DBNAME = "bench_cost"


def find_pgbench(server: PostgresServer) -> str | None:
    local = server.bin_dir / "pgbench"
    return str(local) if local.exists() else shutil.which("pgbench")


def pgbench(binary: str, server: PostgresServer, *args: str) -> str:
    cmd = [binary, "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", *args, DBNAME]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def tps(output: str) -> float:
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output) \
        or re.search(r"tps = ([0-9.]+)", output)
    if m is None:
        raise RuntimeError("no tps line in pgbench's output")
    return float(m.group(1))


def own_server_ms(dsn: str) -> float:
    """Total execution time of dbaudit's statements so far (pg_stat_statements of the bench database)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(total_exec_time + total_plan_time), 0) FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND query LIKE %s", (f"%{DBAUDIT_MARKER}%",)).fetchone()
    return float(row[0]) if row else 0.0


class ScanLoop(threading.Thread):
    """Full scans back to back until stopped; counts them and times each."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stop = threading.Event()
        self.seconds: list[float] = []

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            collect(parse_dsn(self.dsn), CollectOptions())
            self.seconds.append(time.perf_counter() - started)


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {sd:.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind (default 3)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per pgbench round (default 15)")
    parser.add_argument("--scale", type=int, default=5, help="pgbench scale factor (default 5: 500,000 accounts)")
    parser.add_argument("--clients", type=int, default=4, help="pgbench clients (default 4)")
    parser.add_argument("--prefer", default="auto", choices=("auto", "system", "embedded"))
    args = parser.parse_args()
    try:
        server = start_postgres(args.prefer)
    except ThrowawayError as exc:
        print(f"bench_cost: skipped, no PostgreSQL server could be started: {exc}")
        return 0
    try:
        binary = find_pgbench(server)
        if binary is None:
            print("bench_cost: skipped, no pgbench binary (apt-get install postgresql-15 ships it)")
            return 0
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DBNAME}")
        dsn = server.dsn(DBNAME)
        pgbench(binary, server, "-i", "-q", "-s", str(args.scale))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute(schema_ddl(200))  # type: ignore[arg-type]
            conn.execute("ANALYZE")
        pgbench(binary, server, "-T", "5", "-c", str(args.clients), "-j", "2")  # warm-up, fills the workload
        print(f"bench_cost: PostgreSQL {server.version_num} on port {server.port}, pgbench scale {args.scale}, "
              f"{args.clients} clients, {args.rounds} x 2 rounds of {args.duration} s")
        rows: list[list[object]] = []
        without: list[float] = []
        with_scans: list[float] = []
        per_scan_ms: list[float] = []
        scan_s: list[float] = []
        run_args = ("-T", str(args.duration), "-c", str(args.clients), "-j", "2")
        for i in range(args.rounds):
            base = tps(pgbench(binary, server, *run_args))
            without.append(base)
            before = own_server_ms(dsn)
            loop = ScanLoop(dsn)
            loop.start()
            loaded = tps(pgbench(binary, server, *run_args))
            loop.stop.set()
            loop.join()
            with_scans.append(loaded)
            scans = len(loop.seconds)
            server_ms = (own_server_ms(dsn) - before) / scans if scans else 0.0
            per_scan_ms.append(server_ms)
            scan_s.extend(loop.seconds)
            rows.append([i + 1, f"{base:.0f}", f"{loaded:.0f}", f"{100 * (loaded - base) / base:+.1f} %", scans,
                         f"{server_ms:.0f}", f"{statistics.mean(loop.seconds):.2f}" if scans else "-"])
        print(tabulate(rows, headers=["round", "TPS without", "TPS with scans", "difference", "scans",
                                      "server ms/scan", "scan s"], tablefmt="simple"))
        diff = [100 * (w - b) / b for b, w in zip(without, with_scans, strict=True)]
        print()
        print(f"TPS without scans:       {spread(without)}")
        print(f"TPS while scanning:      {spread(with_scans)}")
        print(f"difference:              {spread(diff)} %")
        print(f"server time per scan:    {spread(per_scan_ms)} ms (dbaudit's statements in pg_stat_statements)")
        print(f"scan wall time:          {spread(scan_s)} s")
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
