"""Which indexes serve a foreign key's referential lookups, on a real server: IX05 and IX01 share one notion.

The database has a nullable foreign key served only by a partial index ``WHERE fk IS NOT NULL`` (served: the
lookup ``fk = $1`` is strict), one whose only index is partial on another condition (``WHERE deleted_at IS
NULL``: not served), a composite key served by a partial index over both columns in the other order, an
expression index look-alike, and an unused index that alone serves a key. The planner itself is asked: the
lookup PostgreSQL's referential trigger runs, planned generically, uses exactly the indexes dbaudit counts.
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
from auditor.engine import load_checks, run_checks
from auditor.model import Finding, Severity, Snapshot
from auditor.scoring import compute_metrics
from checks.indexes import UnusedIndexOptions
from tests.conftest import NewDb

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 20000) g;

-- a nullable foreign key, set on a third of the rows, served by a partial index on its non-null values
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric NOT NULL);
INSERT INTO orders SELECT g, CASE WHEN g % 3 = 0 THEN 1 + g % 20000 END, g % 100
  FROM generate_series(1, 200000) g;
CREATE INDEX orders_customer_id_nn_idx ON orders (customer_id) WHERE customer_id IS NOT NULL;

-- the trap: a partial index on the key's column that a lookup cannot use (its predicate is about another column)
CREATE TABLE invoices (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, deleted_at timestamptz);
INSERT INTO invoices SELECT g, 1 + g % 20000, CASE WHEN g % 10 = 0 THEN now() END
  FROM generate_series(1, 150000) g;
CREATE INDEX invoices_live_customer_idx ON invoices (customer_id) WHERE deleted_at IS NULL;
-- and an expression index over the same column: no lookup uses it either
CREATE INDEX invoices_customer_expr_idx ON invoices ((customer_id + 0));

-- a composite foreign key, served as a whole by a partial index in the other column order
CREATE TABLE order_lines (order_id int NOT NULL, line_no int NOT NULL, PRIMARY KEY (order_id, line_no));
INSERT INTO order_lines SELECT g / 4 + 1, g % 4 FROM generate_series(0, 99999) g;
CREATE TABLE returns (id int PRIMARY KEY, order_id int, line_no int,
                      FOREIGN KEY (order_id, line_no) REFERENCES order_lines);
INSERT INTO returns SELECT g, CASE WHEN g % 2 = 0 THEN g / 4 + 1 END, g % 4 FROM generate_series(0, 99999) g;
CREATE INDEX returns_line_idx ON returns (line_no, order_id) WHERE order_id IS NOT NULL AND line_no IS NOT NULL;

-- an unused plain index that alone serves a foreign key, beside one that serves nothing
CREATE TABLE reviews (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, stars int NOT NULL);
INSERT INTO reviews SELECT g, 1 + g % 20000, g % 5 FROM generate_series(1, 50000) g;
CREATE INDEX reviews_customer_idx ON reviews (customer_id);
CREATE INDEX reviews_stars_idx ON reviews (stars);
ANALYZE;
"""

# the lookup ri_triggers.c sends for a DELETE on the referenced table (ri_Check_Pk / RI_FKey_noaction_del)
RI_LOOKUP = "SELECT 1 FROM ONLY {table} x WHERE {cond} FOR KEY SHARE OF x"


@pytest.fixture(scope="module")
def loaded(pg_server: Any) -> Iterator[tuple[str, Snapshot]]:
    name = f"dbaudit_t_fklookup_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        dsn = pg_server.dsn(name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield dsn, collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def _run(snap: Snapshot, *codes: str) -> list[Finding]:
    specs = load_checks()
    # statistics of any age count as mature here: the point is which index serves a key, not the window
    return list(run_checks(snap, [specs[c] for c in codes],
                           options={"IX01": UnusedIndexOptions(min_stats_age_days=0)}).findings)


def _plan_uses(dsn: str, table: str, cond: str, params: int) -> str:
    """The scan the planner picks for the referential lookup, as a generic plan (parameters unknown)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE ri AS {RI_LOOKUP.format(table=table, cond=cond)}")
        args = ", ".join(["1"] * params)
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN EXECUTE ri({args})").fetchall())
    return plan


def test_the_planner_agrees_with_the_notion(loaded: tuple[str, Snapshot]) -> None:
    dsn, _ = loaded
    assert "orders_customer_id_nn_idx" in _plan_uses(dsn, "orders", "customer_id = $1", 1)
    assert "returns_line_idx" in _plan_uses(dsn, "returns", "order_id = $1 AND line_no = $2", 2)
    invoices = _plan_uses(dsn, "invoices", "customer_id = $1", 1)
    assert "Seq Scan on invoices" in invoices and "_idx" not in invoices


def test_missing_fk_index_counts_partial_indexes_the_lookup_implies(loaded: tuple[str, Snapshot]) -> None:
    _, snap = loaded
    found = _run(snap, "IX05")
    assert [(f.object.table, f.object.columns) for f in found] == [("invoices", ("customer_id",))]
    assert found[0].remediation == (
        "CREATE INDEX CONCURRENTLY invoices_customer_id_idx ON public.invoices (customer_id);")


def test_fix_of_missing_fk_index_makes_the_lookup_use_an_index(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(SCHEMA)
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    (finding,) = _run(snap, "IX05")
    assert finding.remediation is not None
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(finding.remediation)
        conn.execute("ANALYZE invoices")
    assert "invoices_customer_id_idx" in _plan_uses(dsn, "invoices", "customer_id = $1", 1)
    again = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    assert _run(again, "IX05") == []


def test_unused_index_keeps_the_only_index_behind_a_foreign_key(loaded: tuple[str, Snapshot]) -> None:
    _, snap = loaded
    found = {f.object.index: f for f in _run(snap, "IX01")}
    # none of these indexes was ever scanned; each is judged by what it serves
    kept = {name for name, f in found.items() if f.remediation is None}
    assert kept == {"orders_customer_id_nn_idx", "returns_line_idx", "reviews_customer_idx"}
    for name in kept:
        f = found[name]
        assert f.severity == Severity.INFO
        assert "keep it: it is the only index that serves the lookups of foreign key" in f.message
        assert "DELETE or key UPDATE on public.customers" in f.message or "public.order_lines" in f.message
    assert found["reviews_customer_idx"].details["serves_foreign_key"] == "reviews_customer_id_fkey"
    # the partial index on another condition and the expression index serve no key: proposed for dropping
    droppable = {name for name, f in found.items() if f.remediation is not None}
    assert droppable == {"invoices_live_customer_idx", "invoices_customer_expr_idx", "reviews_stars_idx"}
    assert all(found[n].severity == Severity.WARNING for n in droppable)
    # the unused-index metric counts only the droppable ones; the kept ones are named as such
    findings = _run(snap, "IX01")
    metric = next(m for m in compute_metrics(snap, findings, check_options={
        "IX01": UnusedIndexOptions(min_stats_age_days=0)}) if m.key == "unused_indexes")
    assert metric.value == 3 and "3 to keep" in metric.method
