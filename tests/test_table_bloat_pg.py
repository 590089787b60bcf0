"""MT09 table-bloat and MT10 index-bloat on a real PostgreSQL server (autovacuum off, nothing moves).

``bloated`` lost 80 % of its rows evenly and was then vacuumed and analyzed: its heap and its B-trees keep
their pages (MT09, MT10 on its primary key and its ``kind`` index). The look-alikes stay silent: ``toasty``
holds big values out of line (TOAST many times its heap), ``fresh`` has an expression index and a
deduplicated low-cardinality index, ``bloated`` also has a partial index (not estimated), ``rebuilt`` lost the
same rows and was rewritten, and ``stale`` lost them without an analyze (its pg_stats no longer describe it).
The size floor is lowered through the options; the printed fixes run, and the findings go away.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.model import Finding, Snapshot
from auditor.throwaway import PostgresServer, start_postgres
from checks.table_maintenance import IndexBloatOptions, TableBloatOptions

SPECS = load_checks()
CODES = ("MT09", "MT10")
MIB = 1024**2
OPTIONS = {"MT09": TableBloatOptions(min_bloat_bytes=2 * MIB), "MT10": IndexBloatOptions(min_bloat_bytes=MIB)}

SEED = [
    "CREATE TABLE bloated (id bigint PRIMARY KEY, kind int NOT NULL, note text, payload text NOT NULL)",
    "INSERT INTO bloated SELECT g, g % 7, CASE WHEN g % 3 = 0 THEN 'n' END, md5(g::text)"
    " FROM generate_series(1, 150000) g",
    "CREATE INDEX bloated_kind_idx ON bloated (kind, id)",
    "CREATE INDEX bloated_open_idx ON bloated (id) WHERE note IS NOT NULL",
    "CREATE TABLE rebuilt (id bigint PRIMARY KEY, payload text NOT NULL)",
    "INSERT INTO rebuilt SELECT g, md5(g::text) FROM generate_series(1, 150000) g",
    "CREATE TABLE stale (id bigint PRIMARY KEY, payload text NOT NULL)",
    "INSERT INTO stale SELECT g, md5(g::text) FROM generate_series(1, 150000) g",
    "CREATE TABLE toasty (id int PRIMARY KEY, doc text NOT NULL)",
    "ALTER TABLE toasty ALTER COLUMN doc SET STORAGE EXTERNAL",
    "INSERT INTO toasty SELECT g, repeat(md5(g::text), 300) FROM generate_series(1, 3000) g",
    "CREATE TABLE fresh (id bigint PRIMARY KEY, kind int NOT NULL, payload text NOT NULL)",
    "INSERT INTO fresh SELECT g, g % 5, md5(g::text) FROM generate_series(1, 150000) g",
    "CREATE INDEX fresh_lower_idx ON fresh (lower(payload))",
    "CREATE INDEX fresh_kind_idx ON fresh (kind)",
    "ANALYZE",
    "DELETE FROM bloated WHERE id % 5 <> 0",
    "VACUUM (ANALYZE) bloated",
    "DELETE FROM rebuilt WHERE id % 5 <> 0",
    "VACUUM (FULL, ANALYZE) rebuilt",
    "DELETE FROM stale WHERE id % 5 <> 0",
    "VACUUM stale",
]
EXPECTED = {("MT09", "public.bloated"), ("MT10", "public.bloated_pkey"), ("MT10", "public.bloated_kind_idx")}


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    server: PostgresServer = start_postgres("system", settings={"autovacuum": "off"})
    try:
        with server.connect() as conn:
            conn.execute("CREATE DATABASE shop")
        dsn = server.dsn("shop")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in SEED:
                conn.execute(statement)
                conn.execute("SELECT pg_stat_force_next_flush()")  # counters reach the statistics at once
        yield dsn
    finally:
        server.stop()


def _scan(dsn: str) -> tuple[Snapshot, list[Finding]]:
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    return snap, list(run_checks(snap, [SPECS[c] for c in CODES], options=OPTIONS).findings)


def _found(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.code, f.object.label()) for f in findings}


def test_bloat_is_found_and_no_look_alike(shop: str) -> None:
    snap, findings = _scan(shop)
    assert _found(findings) == EXPECTED
    by = {(f.code, f.object.label()): f for f in findings}
    assert 70 <= by[("MT09", "public.bloated")].details["bloat_pct"] <= 85
    assert snap.maintenance is not None
    heaps = {b.table: b for b in snap.maintenance.table_bloat or ()}
    btrees = {b.index: b for b in snap.maintenance.index_bloat or ()}
    # the estimates of what is not bloated are close to the truth (within the estimate's margin)
    for table in ("rebuilt", "toasty", "fresh"):
        assert (heaps[table].bloat_pct or 0) < 15, heaps[table]
    for index in ("rebuilt_pkey", "fresh_pkey", "fresh_lower_idx", "fresh_kind_idx"):
        assert (btrees[index].bloat_pct or 0) < 15, btrees[index]
    assert not btrees["bloated_open_idx"].estimable and btrees["fresh_kind_idx"].deduplicated
    # stale: 120,000 rows modified since its statistics; the estimate says 80 % but is not judged (MT08's case)
    assert heaps["stale"].estimable and ("MT09", "public.stale") not in _found(findings)


def test_printed_fixes_run_and_resolve_the_findings(shop: str) -> None:
    _, before = _scan(shop)
    with psycopg.connect(shop, autocommit=True) as conn:
        for f in before:
            statement = "\n".join(line for line in (f.remediation or "").splitlines()
                                  if not line.startswith("--"))
            conn.execute(statement)
    _, after = _scan(shop)
    assert _found(after) == set()
