"""WL02 and index coverage beside partial indexes that a statement's literals select, on a real server.

pg_stat_statements records ``WHERE customer_id = 42 AND status = 'open'`` as ``... AND status = $2``: a generic
plan of that text cannot use a partial index ``WHERE status = 'open'`` and reads the table sequentially, while
every execution, with its literal, used the index. Proposing another index is then the normalization's
artefact. The look-alike: a partial index on another literal, never scanned, which no execution used; there
the statement really reads the table whole, and WL02 reports it (its fix is run and the statement planned again).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import find_check, run_checks
from auditor.model import Finding, Snapshot
from auditor.relations import literal_equality_columns
from auditor.workload import index_coverage

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE shipments (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, carrier text NOT NULL);
INSERT INTO shipments SELECT g, 1 + (g * 31) % 150000, CASE WHEN g % 20 = 0 THEN 'open' ELSE 'done' END,
                             (ARRAY['ups', 'dhl', 'fedex'])[1 + g % 3]
  FROM generate_series(1, 120000) g;
-- serves the open shipments of a customer, as the application asks with a literal
CREATE INDEX shipments_open_customer_idx ON shipments (customer_id) WHERE status = 'open';
-- the look-alike: returns by carrier, asked with 'returned', but the partial index is on 'lost'
CREATE TABLE parcels (id int PRIMARY KEY, carrier_ref int NOT NULL, state text NOT NULL);
INSERT INTO parcels SELECT g, 1 + (g * 17) % 90000, CASE WHEN g % 10 = 0 THEN 'returned' ELSE 'delivered' END
  FROM generate_series(1, 100000) g;
CREATE INDEX parcels_lost_ref_idx ON parcels (carrier_ref) WHERE state = 'lost';
ANALYZE;
"""

OPEN = "SELECT id FROM shipments WHERE customer_id = %s AND status = 'open'"
RETURNED = "SELECT id FROM parcels WHERE carrier_ref = %s AND state = 'returned'"


@pytest.fixture(scope="module")
def database(pg_server: Any) -> Iterator[str]:
    name = f"dbaudit_t_litpart_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    dsn = pg_server.dsn(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
            if pg_server.has_hypopg:
                conn.execute("CREATE EXTENSION hypopg")
        yield dsn
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def _scan(dsn: str) -> tuple[Snapshot, list[Finding]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(80):
            conn.execute(OPEN, (1 + i * 97,)).fetchall()
            conn.execute(RETURNED, (1 + i * 89,)).fetchall()
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    return snap, list(run_checks(snap, [find_check("WL02")]).findings)  # type: ignore[list-item]


def test_a_partial_index_the_literals_select_is_no_missing_index(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + OPEN.replace("%s", "5")).fetchall())
    assert "shipments_open_customer_idx" in plan  # the executions use it
    snap, found = _scan(database)
    assert [(f.object.table, f.object.columns) for f in found] == [("parcels", ("carrier_ref", "state"))]
    # the normalized texts: both literals became parameters
    texts = {s.query for s in snap.statements}
    assert "SELECT id FROM shipments WHERE customer_id = $1 AND status = $2" in texts
    # index coverage: the shipments statement counts as covered, the parcels one does not
    pct, how = index_coverage(snap)
    assert pct is not None and 50 <= pct < 51 and "2 read a table" in how and "1 reach one without" in how, how

    (f,) = found
    assert f.remediation is not None
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f.remediation)
        conn.execute("ANALYZE parcels")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + RETURNED.replace("%s", "5")).fetchall())
    assert "Seq Scan" not in plan and "parcels_carrier_ref_state_idx" in plan, plan
    _, again = _scan(database)
    assert again == []


def test_literal_equality_columns() -> None:
    assert literal_equality_columns("(status = 'open'::text)") == {"status"}
    assert literal_equality_columns("((status = 'open'::text) AND (kind = 3))") == {"status", "kind"}
    assert literal_equality_columns("((kind)::text = 'x'::text)") == {"kind"}
    # not a conjunction of column = constant: no claim
    assert literal_equality_columns("(deleted_at IS NULL)") is None
    assert literal_equality_columns("((status = 'a'::text) OR (status = 'b'::text))") is None
    assert literal_equality_columns("(status = ANY (ARRAY['a'::text, 'b'::text]))") is None
    assert literal_equality_columns("(a = b)") is None


PENDING_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status_id int NOT NULL,
                     created_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, 1 + g % 5000, CASE WHEN g % 50 = 0 THEN 1 ELSE 2 + g % 4 END,
                          timestamptz '2024-01-01' + g * interval '1 minute'
  FROM generate_series(1, 60000) g;
-- the pending orders, oldest first: the application binds status_id = 1
CREATE INDEX orders_pending_idx ON orders (created_at) WHERE status_id = 1;
-- the look-alike: the same rows, the same statement shape, but its partial index leads with customer_id (scanned
-- by the customer lookup), so no plan of the statement can walk it in created_at order
CREATE TABLE invoices (id int PRIMARY KEY, customer_id int NOT NULL, status_id int NOT NULL,
                       created_at timestamptz NOT NULL);
INSERT INTO invoices SELECT id, customer_id, status_id, created_at FROM orders;
CREATE INDEX invoices_pending_customer_idx ON invoices (customer_id) WHERE status_id = 1;
ANALYZE;
"""

PENDING = "SELECT id, created_at FROM orders WHERE status_id = %s ORDER BY created_at LIMIT %s"
INVOICES = "SELECT id, created_at FROM invoices WHERE status_id = %s ORDER BY created_at LIMIT %s"
LOOKUP = "SELECT id FROM invoices WHERE customer_id = %s AND status_id = 1"


def test_a_bound_parameter_selecting_a_partial_index_on_the_sort_column(pg_new_db: Any, pg_server: Any) -> None:
    """The pending-orders query: the generic plan of ``status_id = $1 ORDER BY created_at LIMIT $2`` reads the
    table, the custom plans (status_id = 1) walk ``(created_at) WHERE status_id = 1``; no index is proposed.
    The look-alike on invoices, whose scanned partial index leads with customer_id, is still reported."""
    dsn = pg_new_db(PENDING_SCHEMA)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if pg_server.has_hypopg:
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(60):
            conn.execute(PENDING, (1, 20)).fetchall()
            conn.execute(INVOICES, (1, 20)).fetchall()
            conn.execute(LOOKUP, (1 + i * 50,)).fetchall()
    with psycopg.connect(dsn, autocommit=True) as conn:  # the driving session flushed its counters on exit
        scans = dict(conn.execute("SELECT indexrelname, idx_scan FROM pg_stat_user_indexes").fetchall())
    assert scans["orders_pending_idx"] >= 60 and scans["invoices_pending_customer_idx"] >= 60, scans
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    plans = {p.queryid: p for p in snap.plans}
    pending = next(s for s in snap.statements if "FROM orders WHERE status_id" in s.query)
    assert [s.scan_type for s in plans[pending.queryid].scans if s.table == "orders"] == ["Seq Scan"]
    found = list(run_checks(snap, [find_check("WL02")]).findings)  # type: ignore[list-item]
    assert [(f.object.table, f.object.columns) for f in found] == [("invoices", ("status_id", "created_at"))]
    pct, how = index_coverage(snap)
    assert pct is not None and "1 reach one without" in how, how
