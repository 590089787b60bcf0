"""`make bench`: a whole scan against the catalog SQL alone and the anchors' single-purpose queries (issue 15).

For PostgreSQL at 20, 2,000 and 10,000 tables and MariaDB at 2,000 and 10,000 (the 10,000-table cases only with
``BENCH_LARGE=1``), on the servers named by ``BENCH_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432``)
and ``BENCH_MYSQL_DSN`` (default ``mysql://root@127.0.0.1:3306``), in databases ``bench15_<N>`` generated once by
``bench/scale_schema.py`` and kept, it prints per case, over ``--runs`` runs (median, and the spread):

* scan: a whole `dbaudit scan --no-sample --format json` in a fresh process (start-up and imports included),
  its CPU time, its peak RSS and its round trips (``Snapshot.queries_sent``, which must not grow with the
  schema);
* catalog SQL alone: the connector's own ``.sql`` files sent directly, in one read-only transaction without JIT
  as the connector's (the column statistics' file the role reads), each file timed: the slowest are printed;
* anchors: the single-purpose queries PgHero, pg-extras, the PostgreSQL wiki and pg-index-health run for unused
  indexes, duplicate indexes and unindexed foreign keys (written out below from their public sources), each
  timed in the same run; on MariaDB the sys schema's unused and redundant index views;
* the ratios scan / anchors and catalog / anchors, and for 10,000 tables issue 15's targets, met or missed.

The machine may be shared: the load average is printed with the figures.

On MariaDB it also scans a 20-table schema on the shared server (beside the large schemas) and the same schema
alone on a throwaway MariaDB: a small schema's scan must not depend on what else the server holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

PG_SIZES = (20, 2000)
MYSQL_SIZES = (2000,)
LARGE = 10_000
SMALL = 20  # MariaDB: the schema scanned alone and beside the large ones

# Single-purpose queries of the anchors, as their projects publish them (schema filters as they have them).
PG_ANCHORS: dict[str, str] = {
    # PgHero, lib/pghero/methods/indexes.rb: unused_indexes
    "pghero unused": """
        SELECT schemaname AS schema, relname AS table, indexrelname AS index,
               pg_relation_size(i.indexrelid) AS size_bytes, idx_scan AS index_scans
          FROM pg_stat_user_indexes ui
         INNER JOIN pg_index i ON ui.indexrelid = i.indexrelid
         WHERE NOT indisunique AND idx_scan <= 50
         ORDER BY pg_relation_size(i.indexrelid) DESC, relname ASC""",
    # PgHero, indexes.rb: the index definitions its duplicate_indexes compares
    "pghero duplicates": r"""
        SELECT schemaname AS schema, t.relname AS table, ix.relname AS name,
               regexp_replace(pg_get_indexdef(i.indexrelid), '^[^\(]*\((.*)\)$', '\1') AS columns,
               regexp_replace(pg_get_indexdef(i.indexrelid), '.* USING ([^ ]*) \(.*', '\1') AS using,
               indisunique AS unique, indisprimary AS primary, indisvalid AS valid,
               indexprs::text, indpred::text, pg_get_indexdef(i.indexrelid) AS definition
          FROM pg_index i
         INNER JOIN pg_class t ON t.oid = i.indrelid
         INNER JOIN pg_class ix ON ix.oid = i.indexrelid
          LEFT JOIN pg_stat_user_indexes ui ON ui.indexrelid = i.indexrelid
         WHERE schemaname IS NOT NULL
         ORDER BY 1, 2""",
    # PostgreSQL wiki, Index Maintenance: duplicate indexes
    "wiki duplicates": r"""
        SELECT pg_size_pretty(sum(pg_relation_size(idx))::bigint) AS size,
               (array_agg(idx))[1] AS idx1, (array_agg(idx))[2] AS idx2,
               (array_agg(idx))[3] AS idx3, (array_agg(idx))[4] AS idx4
          FROM (SELECT indexrelid::regclass AS idx,
                       (indrelid::text || E'\n' || indclass::text || E'\n' || indkey::text || E'\n' ||
                        coalesce(indexprs::text, '') || E'\n' || coalesce(indpred::text, '')) AS key
                  FROM pg_index) sub
         GROUP BY key HAVING count(*) > 1
         ORDER BY sum(pg_relation_size(idx)) DESC""",
    # pg-extras (heroku-pg-extras, ruby-pg-extras): unused_indexes
    "pg-extras unused": """
        SELECT schemaname || '.' || relname AS table, indexrelname AS index,
               pg_size_pretty(pg_relation_size(i.indexrelid)) AS index_size, idx_scan AS index_scans
          FROM pg_stat_user_indexes ui
          JOIN pg_index i ON ui.indexrelid = i.indexrelid
         WHERE NOT indisunique AND idx_scan < 50 AND pg_relation_size(relid) > 5 * 8192
         ORDER BY pg_relation_size(i.indexrelid) / nullif(idx_scan, 0) DESC NULLS FIRST,
                  pg_relation_size(i.indexrelid) DESC""",
    # pg-index-health: foreign keys without an index that leads with their columns
    "pg-index-health fk": """
        SELECT c.conrelid::regclass AS table_name, c.conname AS constraint_name,
               array_agg(col.attname ORDER BY u.attposition) AS columns
          FROM pg_catalog.pg_constraint c
          JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS u(attnum, attposition) ON true
          JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
          JOIN pg_catalog.pg_namespace nsp ON nsp.oid = t.relnamespace
          JOIN pg_catalog.pg_attribute col ON col.attrelid = t.oid AND col.attnum = u.attnum
         WHERE c.contype = 'f' AND nsp.nspname = 'public'
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index pi
                            WHERE pi.indrelid = c.conrelid
                              AND (pi.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey)
         GROUP BY c.conrelid, c.conname, c.oid
         ORDER BY 1, 2""",
    # PostgreSQL wiki, Unindexed foreign keys
    "wiki unindexed fk": """
        WITH y AS (
            SELECT pg_catalog.format('%I.%I', n1.nspname, c1.relname) AS referencing_tbl,
                   pg_catalog.quote_ident(a1.attname) AS referencing_column,
                   t.conname AS existing_fk_on_referencing_tbl,
                   pg_catalog.format('%I.%I', n2.nspname, c2.relname) AS referenced_tbl,
                   pg_catalog.quote_ident(a2.attname) AS referenced_column,
                   pg_relation_size(pg_catalog.format('%I.%I', n1.nspname, c1.relname)) AS referencing_tbl_bytes,
                   pg_relation_size(pg_catalog.format('%I.%I', n2.nspname, c2.relname)) AS referenced_tbl_bytes,
                   pg_catalog.format($$CREATE INDEX ON %I.%I(%I);$$, n1.nspname, c1.relname, a1.attname)
                       AS suggestion
              FROM pg_catalog.pg_constraint t
              JOIN pg_catalog.pg_attribute a1 ON a1.attrelid = t.conrelid AND a1.attnum = t.conkey[1]
              JOIN pg_catalog.pg_class c1 ON c1.oid = t.conrelid
              JOIN pg_catalog.pg_namespace n1 ON n1.oid = c1.relnamespace
              JOIN pg_catalog.pg_class c2 ON c2.oid = t.confrelid
              JOIN pg_catalog.pg_namespace n2 ON n2.oid = c2.relnamespace
              JOIN pg_catalog.pg_attribute a2 ON a2.attrelid = t.confrelid AND a2.attnum = t.confkey[1]
             WHERE t.contype = 'f'
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                WHERE i.indrelid = t.conrelid AND i.indkey[0] = t.conkey[1]))
        SELECT referencing_tbl, referencing_column, existing_fk_on_referencing_tbl, referenced_tbl,
               referenced_column, pg_size_pretty(referencing_tbl_bytes) AS referencing_tbl_size,
               pg_size_pretty(referenced_tbl_bytes) AS referenced_tbl_size, suggestion
          FROM y
         ORDER BY referencing_tbl_bytes DESC, referenced_tbl_bytes DESC, referencing_tbl, referenced_tbl,
                  referencing_column, referenced_column""",
}

# MySQL/MariaDB: the sys schema's views (MySQL's own "anchors" for the same questions), scoped to the schema
MYSQL_ANCHORS: dict[str, str] = {
    "sys unused": "SELECT * FROM sys.schema_unused_indexes WHERE object_schema = %(db)s",
    "sys redundant": "SELECT * FROM sys.schema_redundant_indexes WHERE table_schema = %(db)s",
}


MYSQL_ANCHOR_LIMIT_S = 120


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def with_database(server: str, database: str) -> str:
    return urlsplit(server)._replace(path=f"/{database}").geturl()


# ---- the scan, in a child process --------------------------------------------------------------------------


def child_scan(dsn: str) -> None:
    """Run as `bench_scale.py --child DSN`: one whole scan, as `dbaudit scan --no-sample --format json` runs it
    (the same pipeline, run_audit then the JSON reporter, and the same quick exit: auditor.cli._exit_process)."""
    from auditor.audit import AuditSettings, run_audit
    from auditor.cli import _exit_process
    from auditor.connectors import CollectOptions
    from reports import render

    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def started(phase: str, *step: object) -> None:
        phases.setdefault(phase, time.perf_counter())

    settings = AuditSettings(collect=CollectOptions(sample=False), fail_on="never", progress=started)
    report = run_audit(dsn, settings)
    render(report, "json")
    snap = report.snapshot
    assert snap is not None
    collected = phases["checks"] - phases["collect"]  # the connection, the catalog and the probes
    usage = resource.getrusage(resource.RUSAGE_SELF)  # the whole process: start-up and imports included
    print(json.dumps({
        "scan_s": time.perf_counter() - t0, "collect_s": collected, "queries": snap.queries_sent,
        "tables": len(snap.tables), "indexes": len(snap.indexes), "findings": len(report.findings),
        "rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
        "unread": list(snap.unread_areas), "interrupted": snap.interrupted,
    }))
    _exit_process(0)


def scan_once(dsn: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", dsn], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"scan of {dsn} failed: {done.stderr.strip().splitlines()[-1:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


# ---- catalog SQL alone and the anchors --------------------------------------------------------------------


def pg_catalog_areas(dsn: str) -> dict[str, float]:
    """Each catalog file's time (wait for the rows included), and the transaction's BEGIN and COMMIT."""
    import psycopg

    from auditor.connectors.postgres import SETTINGS, area_names, catalog_file
    from auditor.connectors.postgres.session import load_sql

    folder = resources.files("auditor.connectors.postgres").joinpath("sql")
    names = [entry.name for entry in folder.iterdir() if entry.name.endswith(".sql")]
    areas = sorted({re.sub(r"_pg\d+$", "", Path(name).stem) for name in names})
    with psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        major = conn.info.server_version // 10000
        superuser = bool(conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0])  # type: ignore[index]
        # the column statistics' file the scan reads for this role, not the other one
        areas = [a for a in areas if a not in ("column_stats", "column_stats_superuser")
                 or a == catalog_file("column_stats", superuser)]
        out: dict[str, float] = {}
        t0 = time.perf_counter()
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute("SET LOCAL jit = off")  # as the connector's catalog transaction
        params: dict[str, Any] = {"settings": list(SETTINGS), "include": [], "exclude": [], "schemas": [],
                                  "locked": [], "tables": [], "indexes": [], "dropped": False, "names": []}
        params["schemas"] = [r[0] for r in conn.execute(load_sql("schemas", major), params).fetchall()  # type: ignore[call-overload]
                             if r[1] and not r[2]]
        out["BEGIN, schemas"] = time.perf_counter() - t0
        for area in areas:
            sql = load_sql(area, major)
            for key, value in (area_names(area, major) or {}).items():
                sql = sql.replace("{" + key + "}", value)
            # the schemas came first; exact_bloat is a probe of pgstattuple (in its schema, {pgstattuple})
            if area != "schemas" and not re.search(r"\{[a-z_]+\}", sql):
                t0 = time.perf_counter()
                cur = conn.execute(sql, params)  # type: ignore[call-overload]
                if cur.description:
                    cur.fetchall()
                out[area] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute("COMMIT")
        out["COMMIT"] = time.perf_counter() - t0
        return out


def pg_anchors_once(dsn: str) -> dict[str, float]:
    import psycopg

    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, sql in PG_ANCHORS.items():
            t0 = time.perf_counter()
            conn.execute(sql.encode()).fetchall()
            out[name] = time.perf_counter() - t0
    return out


def mysql_connect(dsn: str, database: str | None = None) -> Any:
    import pymysql

    parts = urlsplit(dsn)
    return pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "",
                           database=database or (parts.path.lstrip("/") or None), autocommit=True)


def mysql_catalog_once(dsn: str) -> dict[str, float]:
    """The connector's catalog files for this server (MariaDB variants), as it binds them, in one transaction:
    each file's time (wait for the rows included), and the transaction's START and COMMIT."""
    from auditor.connectors.mysql import SETTINGS, load_sql

    database = urlsplit(dsn).path.lstrip("/")
    folder = resources.files("auditor.connectors.mysql").joinpath("sql")
    areas = sorted(entry.name[:-4] for entry in folder.iterdir()
                   if entry.name.endswith(".sql") and ".mysql" not in entry.name
                   and entry.name not in ("indexes.sql", "innodb_tablestats.sql"))  # MySQL 5.7's, MariaDB's before 10.6
    conn = mysql_connect(dsn)
    try:
        with conn.cursor() as cur:
            out: dict[str, float] = {}
            t0 = time.perf_counter()
            cur.execute("START TRANSACTION READ ONLY")
            out["START"] = time.perf_counter() - t0
            # partitions.sql reads only the partitioned tables tables.sql found: the generated schemas have none, and
            # the connector then binds ("",), as here
            params = {"schemas": (database,), "names": tuple(SETTINGS), "partitioned": ("",)}
            for area in areas:
                t0 = time.perf_counter()
                cur.execute(load_sql(area), params)
                cur.fetchall()
                out[area] = time.perf_counter() - t0
            t0 = time.perf_counter()
            cur.execute("COMMIT")
            out["COMMIT"] = time.perf_counter() - t0
            return out
    finally:
        conn.close()


def mysql_anchors_once(dsn: str) -> dict[str, float]:
    """The sys views' time; one that runs past MYSQL_ANCHOR_LIMIT_S (sys.schema_redundant_indexes compares
    every index with every other one of its table through information_schema) counts as the limit."""
    import pymysql

    database = urlsplit(dsn).path.lstrip("/")
    out = {}
    conn = mysql_connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET SESSION max_statement_time = {MYSQL_ANCHOR_LIMIT_S}")
            for name, sql in MYSQL_ANCHORS.items():
                t0 = time.perf_counter()
                try:
                    cur.execute(sql, {"db": database})
                    cur.fetchall()
                    out[name] = time.perf_counter() - t0
                except pymysql.err.OperationalError:
                    out[name] = float(MYSQL_ANCHOR_LIMIT_S)
                    print(f"bench: {name} on {database} ran past {MYSQL_ANCHOR_LIMIT_S} s (counted as that)",
                          file=sys.stderr)
    finally:
        conn.close()
    return out


# ---- generation --------------------------------------------------------------------------------------------


def ensure_database(engine: str, server: str, n_tables: int) -> str:
    dsn = with_database(server, f"bench15_{n_tables}")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "scale_schema.py"), dsn, str(n_tables)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cannot generate {dsn}: {done.stderr.strip().splitlines()[-1:]}")
    if "exists" not in done.stderr:
        print(f"bench: generated {dsn} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return dsn


def measure(engine: str, dsn: str, runs: int) -> dict[str, Any]:
    catalog: Callable[[str], dict[str, float]] = (
        pg_catalog_areas if engine == "postgresql" else mysql_catalog_once)
    anchors: Callable[[str], dict[str, float]] = pg_anchors_once if engine == "postgresql" else mysql_anchors_once
    scans: list[dict[str, Any]] = []
    catalog_runs: list[dict[str, float]] = []
    anchor_runs: list[dict[str, float]] = []
    for _ in range(runs):  # interleaved, so that a burst of load hits all three alike
        scans.append(scan_once(dsn))
        catalog_runs.append(catalog(dsn))
        anchor_runs.append(anchors(dsn))
    anchor_totals = [sum(a.values()) for a in anchor_runs]
    walls = [s["wall_s"] for s in scans]
    last = scans[-1]
    return {
        "engine": engine, "tables": last["tables"], "indexes": last["indexes"], "findings": last["findings"],
        "scan": walls, "catalog": [sum(c.values()) for c in catalog_runs], "anchors": anchor_totals,
        "scan_cpu": [s["cpu_s"] for s in scans],
        "catalog_each": {name: statistics.median(c[name] for c in catalog_runs) for name in catalog_runs[0]},
        "anchor_each": {name: statistics.median(a[name] for a in anchor_runs) for name in anchor_runs[0]},
        "rss_mb": max(s["rss_mb"] for s in scans), "queries": sorted({s["queries"] for s in scans}),
        "unread": last["unread"], "interrupted": last["interrupted"],
    }


def mysql_isolation(server: str, runs: int) -> str | None:
    """A small schema's scan on the shared server, which holds the large ones, against the same schema alone on a
    throwaway MariaDB (issue 15: its scan time must not depend on what else the server holds)."""
    from auditor.throwaway_mysql import ThrowawayMySqlError, start_mariadb

    shared = ensure_database("mysql", server, SMALL)
    conn = mysql_connect(shared)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema')")
            (on_server,) = cur.fetchone()
            cur.execute("SELECT @@performance_schema")
            (ps_on,) = cur.fetchone()
    finally:
        conn.close()
    try:
        # as the shared server has it: performance_schema on adds queries (index usage, sessions' transport,
        # statements per user) and findings, which are not what the two cases compare
        with start_mariadb(performance_schema=bool(int(ps_on))) as own:
            alone = ensure_database("mysql", own.dsn(), SMALL)
            walls_alone, walls_shared = [], []
            for _ in range(runs):  # interleaved, so that a burst of load hits both alike
                walls_alone.append(scan_once(alone)["wall_s"])
                walls_shared.append(scan_once(shared)["wall_s"])
    except ThrowawayMySqlError as exc:
        print(f"bench: no throwaway MariaDB for the isolation case: {exc}", file=sys.stderr)
        return None
    a, b = statistics.median(walls_alone), statistics.median(walls_shared)
    return (f"mysql {SMALL} tables: scan {spread(walls_alone)} s alone on its own server, {spread(walls_shared)} s on "
            f"the shared server beside {on_server - SMALL} other tables ({b / a:.2f} x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--child", metavar="DSN", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--large", action="store_true", default=os.environ.get("BENCH_LARGE") == "1",
                        help="also 10,000 tables (BENCH_LARGE=1)")
    parser.add_argument("--engines", nargs="+", default=["postgresql", "mysql"])
    args = parser.parse_args()
    if args.child:
        child_scan(args.child)
        return 0
    pg_server = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432")
    mysql_server = os.environ.get("BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306")
    cases: list[tuple[str, str, int]] = []
    if "postgresql" in args.engines:
        cases += [("postgresql", pg_server, n) for n in (*PG_SIZES, *((LARGE,) if args.large else ()))]
    if "mysql" in args.engines:
        cases += [("mysql", mysql_server, n) for n in (*MYSQL_SIZES, *((LARGE,) if args.large else ()))]
    results = []
    for engine, server, n in cases:
        try:
            dsn = ensure_database(engine, server, n)
            results.append(measure(engine, dsn, args.runs))
        except Exception as exc:  # noqa: BLE001 - a server that is not there skips its cases, saying why
            print(f"bench: {engine} {n} tables skipped: {exc}", file=sys.stderr)
    if not results:
        print("bench: no server to measure (BENCH_PG_DSN, BENCH_MYSQL_DSN)", file=sys.stderr)
        return 0
    load = os.getloadavg()
    print(f"medians of {args.runs} runs (min-max), seconds; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"on {os.cpu_count()} CPUs")
    header = ["engine", "tables", "indexes", "scan", "scan CPU", "catalog SQL", "anchors (all)", "scan / catalog",
              "scan / anchors", "catalog / anchors", "peak RSS MB", "round trips"]
    rows = []
    for r in results:
        scan, cat, anc = (statistics.median(r[k]) for k in ("scan", "catalog", "anchors"))
        rows.append([r["engine"], r["tables"], r["indexes"], spread(r["scan"]), spread(r["scan_cpu"]),
                     spread(r["catalog"]),
                     spread(r["anchors"]), f"{scan / cat:.1f}", f"{scan / anc:.1f}", f"{cat / anc:.1f}",
                     f"{r['rss_mb']:.0f}", ",".join(str(q) for q in r["queries"])])
    print(tabulate(rows, headers=header, disable_numparse=True))
    print()
    for r in results:
        each = ", ".join(f"{name} {t:.2f}" for name, t in r["anchor_each"].items())
        print(f"{r['engine']} {r['tables']} tables, anchors: {each}")
        slowest = sorted(r["catalog_each"].items(), key=lambda kv: -kv[1])[:8]
        print(f"  catalog SQL, slowest files: {', '.join(f'{name} {t:.2f}' for name, t in slowest)}")
        if r["unread"] or r["interrupted"]:
            print(f"  NOTE: unread areas {r['unread']}, interrupted: {r['interrupted']}")
    for r in results:  # issue 15's "done when", on the largest schema, from the medians of this same run
        if r["tables"] >= LARGE:
            scan, cat, anc = (statistics.median(r[k]) for k in ("scan", "catalog", "anchors"))
            print(f"{r['engine']} {r['tables']} tables: scan <= anchors' total: "
                  f"{'met' if scan <= anc else 'MISSED'} ({scan:.1f} s vs {anc:.1f} s); scan within 30 s: "
                  f"{'met' if scan <= 30 else 'MISSED'}; catalog SQL <= 1.3 x anchors: "
                  f"{'met' if cat <= 1.3 * anc else 'MISSED'} ({cat / anc:.2f} x)")
    status = 0
    for engine in ("postgresql", "mysql"):
        counts = {q for r in results if r["engine"] == engine for q in r["queries"]}
        if len(counts) > 1:
            print(f"FAIL: {engine} round trips differ between sizes: {sorted(counts)}")
            status = 1
    if "mysql" in args.engines:
        try:
            line = mysql_isolation(mysql_server, args.runs)
            if line:
                print(line)
        except Exception as exc:  # noqa: BLE001 - as the cases above: say why, go on
            print(f"bench: mysql isolation case skipped: {exc}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
