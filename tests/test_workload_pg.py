"""The workload probe and WL01-WL04 on a real server: a planted workload, each check on its statement only."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql

from auditor.connectors import CollectOptions
from auditor.connectors.postgres import collect
from auditor.connectors.postgres.workload import WorkloadOptions, collect_workload
from auditor.dsn import parse_dsn
from auditor.engine import find_check, run_checks
from auditor.model import Finding, Snapshot, snapshot_from_json, snapshot_to_json
from auditor.workload import index_coverage, workload_percentiles

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL);
INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Germany'), ('it', 'Italy');
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, country text REFERENCES countries);
INSERT INTO customers SELECT g, 'c' || g || '@example.com', (ARRAY['fr','de','it'])[1 + g % 3]
  FROM generate_series(1, 5000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
                     created_at timestamptz NOT NULL, total numeric NOT NULL);
INSERT INTO orders SELECT g, 1 + g % 5000, (ARRAY['new','paid','sent'])[1 + g % 3],
  timestamptz '2024-01-01' + g * interval '1 minute', g % 100 FROM generate_series(1, 60000) g;
CREATE INDEX orders_created_at_idx ON orders (created_at);
ANALYZE;
"""


def drive(dsn: str, with_hypopg: bool) -> None:
    """The planted workload, sent as an application would (bound parameters, autocommit)."""
    rng = random.Random(1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if with_hypopg:
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(30):
            cid = rng.randint(1, 5000)
            # WL02: no index on orders.customer_id; a query on a date range and status proposes both
            conn.execute("SELECT * FROM orders WHERE customer_id = %s", (cid,)).fetchall()
            # look-alikes: primary key, indexed column, 3-valued status, 3-row table
            conn.execute("SELECT * FROM orders WHERE id = %s", (cid,)).fetchall()
            conn.execute("SELECT * FROM orders WHERE created_at >= %s ORDER BY created_at LIMIT 10",
                         ("2024-01-10",)).fetchall()
            conn.execute("SELECT sum(total) FROM orders WHERE status = %s", ("paid",)).fetchall()
            conn.execute("SELECT * FROM countries WHERE name = %s", ("Italy",)).fetchall()
            # WL04 and its keyset look-alike
            conn.execute("SELECT * FROM orders ORDER BY id LIMIT %s OFFSET %s", (20, 200)).fetchall()
            conn.execute("SELECT * FROM orders WHERE id > %s ORDER BY id LIMIT %s", (200, 20)).fetchall()
            # a fast statement and a unique lookup called as often as its neighbours
            conn.execute("SELECT %s::int + 1", (1,)).fetchall()
            conn.execute("SELECT * FROM customers WHERE email = %s", (f"c{cid}@example.com",)).fetchall()
        # WL01: twenty slow calls (its min_calls); its look-alikes: one slow outlier among many fast calls, and
        # a slow statement run once (an ad-hoc query: one run, no percentile)
        for _ in range(20):
            conn.execute("SELECT pg_sleep(%s), now()", (0.12,)).fetchall()
        conn.execute("SELECT pg_sleep(%s), current_date", (0.3,)).fetchall()
        for i in range(60):
            conn.execute("SELECT pg_sleep(%s), clock_timestamp()", (0.3 if i == 0 else 0.0005,)).fetchall()
        # WL03: a page of 15 orders, then each order's customer looked up one by one; the look-alike below is
        # as hot but returns many rows
        for page in range(100):
            rows = conn.execute("SELECT id, customer_id FROM orders WHERE created_at >= %s ORDER BY created_at "
                                "LIMIT 15", (f"2024-01-{1 + page % 28:02d}",)).fetchall()
            for _, cid in rows:
                conn.execute("SELECT * FROM customers WHERE id = %s", (cid,)).fetchall()
        for _ in range(1500):
            conn.execute("SELECT code FROM countries WHERE name <> %s", ("x",)).fetchall()


@pytest.fixture(scope="module")
def scanned(pg_server: Any) -> Iterator[tuple[Snapshot, list[Finding]]]:
    dbname = f"dbaudit_t_workload_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(dbname)))
    try:
        dsn = pg_server.dsn(dbname)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
        drive(dsn, pg_server.has_hypopg)
        snap = collect(parse_dsn(dsn), CollectOptions())
        with psycopg.connect(dsn, autocommit=True) as conn:
            snap = collect_workload(conn, snap, WorkloadOptions())
        specs = [find_check(c) for c in ("WL01", "WL02", "WL03", "WL04")]
        result = run_checks(snap, specs)  # type: ignore[arg-type]
        assert not result.skipped, result.skipped
        yield snap, list(result.findings)
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(dbname)))


def queries(findings: list[Finding], code: str) -> list[str]:
    return sorted(" ".join(str(f.object.query).split()) for f in findings if f.code == code)


def test_probe_reads_the_workload(scanned: tuple[Snapshot, list[Finding]]) -> None:
    snap, _ = scanned
    w = snap.workload
    assert w is not None and w.status == "ok"
    assert w.excluded_self > 0  # the probe's own statements are recognised and left out
    assert not any("/* dbaudit */" in s.query for s in snap.statements)
    assert not any("pg_catalog" in s.query or "pg_class" in s.query for s in snap.statements)
    assert w.statements_explained >= 10
    texts = {s.query for s in snap.statements}
    assert "SELECT * FROM orders WHERE customer_id = $1" in texts
    assert snapshot_from_json(snapshot_to_json(snap)) == snap


def test_slow_query(scanned: tuple[Snapshot, list[Finding]]) -> None:
    assert queries(scanned[1], "WL01") == ["SELECT pg_sleep($1), now()"]


def test_missing_index(scanned: tuple[Snapshot, list[Finding]], pg_server: Any) -> None:
    found = [f for f in scanned[1] if f.code == "WL02"]
    assert [(f.object.table, f.object.columns) for f in found] == [("orders", ("customer_id",))]
    assert found[0].remediation == (
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);")
    assert found[0].details["verified"] is bool(pg_server.has_hypopg)
    if pg_server.has_hypopg:
        assert found[0].details["cost_after"] < found[0].details["cost_before"] / 2


def test_n_plus_one(scanned: tuple[Snapshot, list[Finding]]) -> None:
    assert queries(scanned[1], "WL03") == ["SELECT * FROM customers WHERE id = $1"]


def test_offset_pagination(scanned: tuple[Snapshot, list[Finding]]) -> None:
    assert queries(scanned[1], "WL04") == ["SELECT * FROM orders ORDER BY id LIMIT $1 OFFSET $2"]


def test_metrics(scanned: tuple[Snapshot, list[Finding]]) -> None:
    snap, _ = scanned
    lat = workload_percentiles(snap)
    assert lat.p50_ms is not None and lat.p95_ms is not None and lat.p99_ms is not None
    assert lat.p50_ms <= lat.p95_ms <= lat.p99_ms
    pct, reason = index_coverage(snap, 10_000)
    assert pct is not None and 0 < pct < 100, reason  # the customer_id and the OFFSET/status scans are not


def test_unexplainable_statements_are_listed_not_fatal(pg_new_db: Any) -> None:
    dsn = pg_new_db("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE gone (id int);")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("SELECT * FROM gone WHERE id = %s", (1,))
        conn.execute("CREATE TEMP TABLE scratch (x int)")
        conn.execute("SELECT * FROM scratch WHERE x = %s", (1,))
        conn.execute("DROP TABLE gone")
    snap = collect(parse_dsn(dsn), CollectOptions())
    with psycopg.connect(dsn) as conn:
        snap = collect_workload(conn, snap, WorkloadOptions(max_explain=1))
    w = snap.workload
    assert w is not None and w.status == "ok"
    reasons = dict(w.not_explained)
    assert reasons.get("utility statement", 0) >= 2
    assert sum(reasons.values()) + w.statements_explained == len(snap.plans)
    assert w.statements_explained + reasons.get("relation does not exist (dropped, or a temporary table)", 0) \
        + reasons.get("over the statement budget", 0) >= 2


def test_an_unexplained_statement_gives_the_servers_message(pg_new_db: Any) -> None:
    """rt16: "error 42725" alone said nothing; the first line of the server's message says which operator."""
    dsn = pg_new_db("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; "
                    "CREATE TABLE plans (id int PRIMARY KEY, name text);")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(3):
            conn.execute("SELECT name FROM plans WHERE id = 1 + 2 % 3")
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    plan = next(p for p in snap.plans if p.queryid in
                {s.queryid for s in snap.statements if s.query == "SELECT name FROM plans WHERE id = $1 + $2 % $3"})
    assert plan.reason == "error 42725: operator is not unique: unknown % unknown"
    assert snap.workload is not None and dict(snap.workload.not_explained).get(plan.reason) == 1


def test_without_the_extension_checks_are_skipped(pg_new_db: Any) -> None:
    dsn = pg_new_db("CREATE TABLE t (id int PRIMARY KEY)")
    snap = collect(parse_dsn(dsn), CollectOptions())
    with psycopg.connect(dsn) as conn:
        snap = collect_workload(conn, snap)
    assert snap.workload is not None and snap.workload.status == "not_installed"
    result = run_checks(snap, [find_check("WL01")])  # type: ignore[list-item]
    # the suite's server preloads the library (the snapshot's settings say so): only the extension is missing
    assert "pg_stat_statements" in snap.settings["shared_preload_libraries"]
    assert result.skipped[0].enable == "CREATE EXTENSION pg_stat_statements"
    assert "preloaded" in result.skipped[0].reason


def test_without_pg_read_all_stats_checks_are_skipped(pg_new_db: Any, pg_server: Any) -> None:
    dsn = pg_new_db("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE t (id int PRIMARY KEY);")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT * FROM t WHERE id = 1")
        conn.execute("DROP ROLE IF EXISTS dbaudit_wl_reader")
        conn.execute("CREATE ROLE dbaudit_wl_reader LOGIN")
    try:
        reader = dsn.replace("postgres@", "dbaudit_wl_reader@", 1)
        with psycopg.connect(reader) as conn:
            snap = collect_workload(conn, collect(parse_dsn(reader), CollectOptions()))
        assert snap.workload is not None and snap.workload.status == "no_privilege"
        result = run_checks(snap, [find_check("WL02")])  # type: ignore[list-item]
        assert result.skipped[0].enable == "GRANT pg_read_all_stats TO dbaudit_wl_reader"
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute("DROP ROLE dbaudit_wl_reader")


RENTAL = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE rental (rental_id serial PRIMARY KEY, rental_date timestamptz NOT NULL, inventory_id int NOT NULL,
                     customer_id int NOT NULL, staff_id int NOT NULL);
INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id)
  SELECT timestamptz '2022-05-24' + g * interval '17 minutes', 1 + (g * 7) % 4500, 1 + (g * 13) % 599, 1 + g % 2
  FROM generate_series(1, 16000) g;
CREATE UNIQUE INDEX idx_unq_rental_rental_date_inventory_id_customer_id
  ON rental (rental_date, inventory_id, customer_id);
ANALYZE;
"""
WALK = "SELECT rental_id, rental_date FROM rental WHERE customer_id = %s ORDER BY rental_date DESC LIMIT 10"
# look-alike: the same index, its Index Cond on the leading column as well
LEADING = "SELECT rental_id FROM rental WHERE rental_date >= %s AND rental_date < %s AND customer_id = %s"


def test_index_scan_on_a_non_leading_column_is_weak(pg_new_db: Any, pg_server: Any) -> None:
    """pagila's rental by customer, newest first: the plan walks the whole unique index backwards testing its
    third column (an Index Cond, no Filter); (customer_id, rental_date) is proposed once hypopg verified it."""
    dsn = pg_new_db(RENTAL)
    rng = random.Random(5)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if pg_server.has_hypopg:
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(40):
            conn.execute(WALK, (rng.randint(1, 599),)).fetchall()
            conn.execute(LEADING, ("2022-06-01", "2022-06-02", rng.randint(1, 599))).fetchall()
    snap = collect(parse_dsn(dsn), CollectOptions())
    plans = {p.queryid: p for p in snap.plans}
    walk = next(s for s in snap.statements if "ORDER BY rental_date DESC" in s.query)
    scan = next(s for s in plans[walk.queryid].scans if s.table == "rental")
    assert scan.index == "idx_unq_rental_rental_date_inventory_id_customer_id"
    assert scan.index_cond is not None and "customer_id" in scan.index_cond and not scan.filter
    findings = list(run_checks(snap, [find_check("WL02")]).findings)  # type: ignore[list-item]
    proposed = {(f.object.query, f.object.columns) for f in findings}
    pct, how = index_coverage(snap, 10_000)
    if pg_server.has_hypopg:
        assert proposed == {(walk.query, ("customer_id", "rental_date"))}
        (found,) = findings
        assert found.details["cost_after"] <= found.details["cost_before"] / 2
        assert "walked whole" in found.message and "rental_date" in found.message
        assert pct is not None and pct < 100, how  # the walk is not index coverage once hypopg verified it
    else:
        assert proposed == set()  # the plan alone is not evidence enough (documented)
