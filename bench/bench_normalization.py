"""Benchmark of the normalization checks: precision/recall, false positives on real schemas, big-table time.

1. Synthetic tables (pure, no server): planted exact and approximate (0.5 % noise) dependencies among
   random-looking columns; precision and recall of NF04's reported (determinant, dependent) pairs.
2. Public sample databases (pagila, chinook, northwind, sakila) loaded into a throwaway server: every
   NF01-NF04 finding counts as a false positive (their schemas are normalized), listed for review.
3. A 1,000,000-row, 30-column table on that server: seconds for the sampling probe and for the checks.

Run: .venv/bin/python bench/bench_normalization.py [--skip-server]
"""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from auditor.connectors import CollectOptions
from auditor.connectors.postgres import collect
from auditor.connectors.postgres.sampling import probe
from auditor.dsn import parse_dsn
from auditor.engine import REGISTRY, load_checks, run_checks
from auditor.model import Sampling, Snapshot, TableSample
from auditor.sampling import column_sample

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.builders import pk, snap, table  # noqa: E402  (the repository root, for the test builders)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "postgres"
NF = ("NF01", "NF02", "NF03", "NF04")


def synthetic(seed: int, rows: int = 10_000) -> tuple[Snapshot, set[tuple[str, str]]]:
    """One table: random columns, determinants with planted dependents (exact or 0.5 % noise)."""
    rng = random.Random(seed)
    cols: dict[str, list[int]] = {"id": list(range(rows))}
    planted: set[tuple[str, str]] = set()
    for d in range(3):
        card = rng.choice([20, 100, 500, 1500])
        det = [rng.randrange(card) for _ in range(rows)]
        cols[f"det{d}"] = det
        mapping = {v: rng.randrange(10**9) for v in range(card)}
        dep = [mapping[v] for v in det]
        if d % 2 == 1:  # approximate: 0.5 % of rows get a wrong value
            for i in rng.sample(range(rows), rows // 200):
                dep[i] = rng.randrange(10**9)
        cols[f"dep{d}"] = dep
        planted.add((f"det{d}", f"dep{d}"))
    for r in range(8):
        card = rng.choice([2, 5, 30, 300, 5000, rows])
        cols[f"rand{r}"] = [rng.randrange(card) for _ in range(rows)]
    ts = TableSample(schema="public", table=f"t{seed}", rows=rows, method="full",
                     columns=tuple(column_sample(c, "integer", v) for c, v in cols.items()))
    s = snap(table(f"t{seed}", list(cols)), pk(f"t{seed}"), sampling=Sampling(tables=(ts,)))
    return s, planted


def bench_synthetic(n_tables: int = 20) -> None:
    load_checks()
    tp = fp = fn = 0
    t0 = time.perf_counter()
    for seed in range(n_tables):
        s, planted = synthetic(seed)
        found = set()
        for f in run_checks(s, [REGISTRY["NF04"]]).findings:
            for dep in f.details["dependent"]:
                found.add((f.details["determinant"][0], dep))
        tp += len(found & planted)
        fp += len(found - planted)
        fn += len(planted - found)
    elapsed = time.perf_counter() - t0
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"synthetic: {n_tables} tables x 10,000 rows x 20 columns, {tp + fn} planted dependencies "
          f"(half approximate, 0.5 % noise)")
    print(f"  precision {precision:.3f}  recall {recall:.3f}  (tp {tp}, fp {fp}, fn {fn}); "
          f"NF04 {elapsed / n_tables:.3f} s per table")


def _psql(server_bin: Path, dsn: str, path: Path) -> None:
    subprocess.run([str(server_bin / "psql"), "-q", "-v", "ON_ERROR_STOP=0", "-d", dsn, "-f", str(path)],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _scan(dsn: str, options: CollectOptions) -> tuple[Snapshot, float]:
    snap_ = collect(parse_dsn(dsn), options)
    t0 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        sampling = probe(conn, snap_.tables, options)
    return dataclasses.replace(snap_, sampling=sampling), time.perf_counter() - t0


def bench_server() -> None:
    from auditor.throwaway import start_postgres

    server = start_postgres("auto")
    try:
        admin = server.dsn()
        loads = {
            "pagila": [SAMPLES / "pagila/pagila-schema.sql", SAMPLES / "pagila/pagila-data.sql"],
            "chinook": [SAMPLES / "chinook/Chinook_PostgreSql.sql"],
            "northwind": [SAMPLES / "northwind/northwind.sql"],
            "sakila": [SAMPLES / "sakila/postgres-sakila-schema.sql",
                       SAMPLES / "sakila/postgres-sakila-insert-data-using-copy.sql"],
        }
        total_fp = 0
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in loads:
                conn.execute(f"CREATE DATABASE bench_{name}")
        for name, files in loads.items():
            dsn = server.dsn(f"bench_{name}")
            for script in files:
                if name == "chinook":  # the script creates and connects to its own database
                    _psql(server.bin_dir, admin, script)
                    dsn = server.dsn("chinook")
                else:
                    _psql(server.bin_dir, dsn, script)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("ANALYZE")
            s, secs = _scan(dsn, CollectOptions())
            result = run_checks(s, [REGISTRY[c] for c in NF])
            findings = [f for f in result.findings if f.severity.value != "info"]
            sampled = sum(1 for t in (s.sampling.tables if s.sampling else ()) if t.skipped_reason is None)
            total_fp += len(findings)
            print(f"{name}: {len(s.tables)} tables, {sampled} sampled in {secs:.2f} s, "
                  f"{len(findings)} NF findings (false positives)")
            for f in findings:
                print(f"    {f.code} {f.message}")
        print(f"false positives on the sample databases: {total_fp}")

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_big")
        dsn = server.dsn("bench_big")
        cols = ", ".join(f"c{i:02d} {'text' if i % 3 == 0 else 'bigint'}" for i in range(29))
        exprs = ", ".join(
            f"(abs(hashint8(g * {i + 3})) % {[10, 1000, 100000][i % 3]})" + ("::text" if i % 3 == 0 else "")
            for i in range(29)
        )
        t0 = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE big (id bigint PRIMARY KEY, {cols})")
            conn.execute(f"INSERT INTO big SELECT g, {exprs} FROM generate_series(1, 1000000) g")
            conn.execute("ANALYZE big")
        print(f"big table: 1,000,000 rows x 30 columns loaded in {time.perf_counter() - t0:.1f} s")
        s, secs = _scan(dsn, CollectOptions())
        t1 = time.perf_counter()
        run_checks(s, [REGISTRY[c] for c in NF])
        checks_s = time.perf_counter() - t1
        ts = s.sampling.tables[0] if s.sampling else None
        method = f"{ts.method} {ts.percent}% -> {ts.rows} rows" if ts else "?"
        print(f"  sampling probe {secs:.2f} s ({method}), NF01-NF04 {checks_s:.2f} s: "
              f"{secs + checks_s:.2f} s per table")
    finally:
        server.stop()


def main() -> None:
    bench_synthetic()
    if "--skip-server" not in sys.argv:
        bench_server()


if __name__ == "__main__":
    main()
