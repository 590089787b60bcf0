"""`make bench`: how dbaudit's scan time compares with the server's own catalog work, at 20 and 2,000 tables.

On a throwaway PostgreSQL server it generates two databases (20 and 2,000 tables, each with a few columns, a
serial primary key, one or two secondary indexes and foreign keys to earlier tables), then for each measures:

* collection: ``auditor.connectors.collect`` (one read-only session, the connector's catalog queries);
* scan: collection + every check + the JSON report, in process (what ``dbaudit scan`` does after start-up);
* catalog only: the connector's own ``.sql`` files sent directly with psycopg, in one read-only transaction;
* queries sent: ``Snapshot.queries_sent``, which must not grow with the schema (each table also has a
  SECURITY DEFINER function, so the settings and security areas grow with it).

Each figure is the best of a few runs (the machine is shared). Exit status 1 if the query counts differ.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from auditor.connectors import CollectOptions, collect  # noqa: E402
from auditor.connectors.postgres import SETTINGS, area_names  # noqa: E402
from auditor.connectors.postgres.session import load_sql  # noqa: E402
from auditor.dsn import parse_dsn  # noqa: E402
from auditor.engine import all_checks, run_checks  # noqa: E402
from auditor.report import build_report  # noqa: E402
from auditor.throwaway import PostgresServer, ThrowawayError, start_postgres  # noqa: E402
from reports import render  # noqa: E402

SIZES = (20, 2000)
TABLES_PER_TRANSACTION = 250  # keeps the DDL's locks within the default max_locks_per_transaction


def schema_ddl(n_tables: int) -> str:
    """One script creating ``n_tables`` related tables, committed in slices."""
    parts: list[str] = []
    for i in range(1, n_tables + 1):
        if (i - 1) % TABLES_PER_TRANSACTION == 0:
            parts.append("BEGIN;")
        name = f"t{i:05d}"
        cols = [
            "id serial PRIMARY KEY",
            "name text NOT NULL",
            "amount numeric(12,2)",
            "created_at timestamptz NOT NULL DEFAULT now()",
            "code varchar(20)",
        ]
        if i > 1:
            cols.append(f"parent_id integer REFERENCES t{i - 1:05d} (id)")
        if i > 2 and i % 3 == 0:
            cols.append(f"other_id integer REFERENCES t{i // 2:05d} (id)")
        parts.append(f"CREATE TABLE {name} ({', '.join(cols)});")
        parts.append(f"CREATE INDEX {name}_name_idx ON {name} (name);")
        if i > 1 and i % 2 == 0:
            parts.append(f"CREATE INDEX {name}_parent_id_idx ON {name} (parent_id, created_at);")
        # a SECURITY DEFINER function per table: the posture's function area grows with the schema too
        parts.append(f"CREATE FUNCTION {name}_touch(k int) RETURNS void SECURITY DEFINER"
                     + (" SET search_path = public, pg_temp" if i % 2 else "")
                     + f" LANGUAGE sql AS 'UPDATE {name} SET name = name WHERE id = k';")
        parts.append(f"INSERT INTO {name} (name, amount{', parent_id' if i > 1 else ''}) "
                     f"VALUES ('a', 1{', NULL' if i > 1 else ''}), ('b', 2{', NULL' if i > 1 else ''});")
        if i % TABLES_PER_TRANSACTION == 0 or i == n_tables:
            parts.append("COMMIT;")
    return "\n".join(parts)


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best = float("inf")
    result: Any = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def catalog_only(dsn: str) -> tuple[int, int]:
    """Send the connector's SQL files directly, as the connector binds them; returns (files, rows)."""
    folder = resources.files("auditor.connectors.postgres").joinpath("sql")
    # area.sql and its per-version variants area_pgNN.sql are one area; load_sql picks the variant
    names = [entry.name for entry in folder.iterdir() if entry.name.endswith(".sql")]
    areas = sorted({re.sub(r"_pg\d+$", "", Path(name).stem) for name in names})
    with psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        major = conn.info.server_version // 10000
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        params: dict[str, Any] = {"settings": list(SETTINGS), "include": [], "exclude": [],
                                  "schemas": [], "locked": [], "dropped": False, "names": []}
        schemas_sql = load_sql("schemas", major)
        params["schemas"] = [r[0] for r in conn.execute(schemas_sql, params).fetchall()]  # type: ignore[call-overload]
        rows = 0
        for area in areas:
            if area in ("schemas", "exact_bloat"):  # exact_bloat runs only where pgstattuple is installed
                continue
            sql = load_sql(area, major)
            for key, value in (area_names(area, major) or {}).items():  # as Session.query fills them
                sql = sql.replace("{" + key + "}", value)
            cur = conn.execute(sql, params)  # type: ignore[call-overload]
            rows += len(cur.fetchall()) if cur.description else 0
        conn.execute("COMMIT")
    return len(areas), rows


def full_scan(dsn: str) -> tuple[int, int]:
    """Collection, every check and the JSON report, as `dbaudit scan --format json`; (findings, queries)."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    snap = collect(parse_dsn(dsn), CollectOptions())
    result = run_checks(snap, all_checks())
    report = build_report(snap, result, started, time.perf_counter() - t0)
    render(report, "json")
    return len(report.findings), snap.queries_sent


def measure(server: PostgresServer, n_tables: int, runs: int) -> dict[str, Any]:
    dbname = f"bench_{n_tables}"
    with server.connect() as conn:
        conn.execute(f"CREATE DATABASE {dbname}")
    dsn = server.dsn(dbname)
    t0 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(schema_ddl(n_tables).encode())
        conn.execute("ANALYZE")
    generate_s = time.perf_counter() - t0

    collect_s, snap = best_of(runs, lambda: collect(parse_dsn(dsn), CollectOptions()))
    scan_s, (findings, queries) = best_of(runs, lambda: full_scan(dsn))
    catalog_s, (files, rows) = best_of(runs, lambda: catalog_only(dsn))
    return {
        "tables": len(snap.tables),
        "indexes": len(snap.indexes),
        "generate_s": generate_s,
        "scan_s": scan_s,
        "collect_s": collect_s,
        "catalog_s": catalog_s,
        "queries_sent": queries,
        "sql_files": files,
        "catalog_rows": rows,
        "findings": findings,
        "ratio": scan_s / catalog_s if catalog_s else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                        help="table counts (default: 20 2000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the best one is shown")
    parser.add_argument("--prefer", choices=("auto", "system", "embedded"), default="auto",
                        help="which PostgreSQL binaries to use")
    args = parser.parse_args()
    try:
        server = start_postgres(args.prefer)
    except ThrowawayError as exc:
        print(f"bench: cannot start a throwaway PostgreSQL: {exc}", file=sys.stderr)
        return 2
    results = []
    with server:
        print(f"bench: PostgreSQL {server.version_num} on port {server.port} ({server.bin_dir}), "
              f"best of {args.runs} runs", file=sys.stderr)
        for n in args.sizes:
            results.append(measure(server, n, args.runs))
            print(f"bench: {n} tables done (generated in {results[-1]['generate_s']:.1f} s)", file=sys.stderr)
    header = ["tables", "indexes", "findings", "scan s", "collection s", "catalog only s", "scan / catalog",
              "queries sent", "catalog rows"]
    table = [
        [r["tables"], r["indexes"], r["findings"], f"{r['scan_s']:.3f}", f"{r['collect_s']:.3f}",
         f"{r['catalog_s']:.3f}", f"{r['ratio']:.2f}", r["queries_sent"], r["catalog_rows"]]
        for r in results
    ]
    print(tabulate(table, headers=header, disable_numparse=True))
    counts = {r["queries_sent"] for r in results}
    if len(counts) == 1:
        print(f"\nqueries sent: {counts.pop()} for every size -- the count does not grow with the schema")
        return 0
    per_size = ", ".join(f"{r['tables']} tables: {r['queries_sent']}" for r in results)
    print(f"\nFAIL: the number of queries differs between sizes: {per_size}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
