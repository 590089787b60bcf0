"""The fix SQL of the indexing section and the migration plan, run as printed on a real server (rt PG9, PG4, IX04).

A WL02 composite led by an unindexed foreign key's column is the only index the plan builds, and once built
neither IX05 nor IX03 reports the table; IX04's block for an invalid unique index, pasted whole the way psql runs
a script (statement by statement, going on after an error), leaves no ``_ccnew`` copy over duplicates and
rebuilds the index once they are resolved; a partitioned table's duplicate index is dropped, and the plan's
rollback brings it back valid, attached on every partition.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.migration import plan
from auditor.model import Finding, Snapshot
from tests.conftest import NewDb

QUICK = CollectOptions(sample=False, workload=False)


def _scan(dsn: str, options: CollectOptions = QUICK) -> tuple[Snapshot, list[Finding]]:
    snap = collect(parse_dsn(dsn), options)
    return snap, list(run_checks(snap, list(load_checks().values())).findings)


def _paste(dsn: str, block: str) -> list[str]:
    """The block run as psql runs a pasted script: each statement on its own, on after an error; the errors."""
    errors: list[str] = []
    statements = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("--")]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            try:
                conn.execute(statement)  # type: ignore[arg-type]  # the fix's text, as printed
            except psycopg.Error as exc:
                errors.append(str(exc))
    return errors


def _indexes(dsn: str, like: str) -> dict[str, bool]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                            "WHERE c.relname LIKE %s", (like,)).fetchall()
    return {str(name): bool(valid) for name, valid in rows}


WORKLOAD = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 20000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, total numeric NOT NULL,
                     created_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, 1 + (g * 7919) % 20000, g % 100, now() - g * interval '1 minute'
  FROM generate_series(1, 200000) g;
ANALYZE;
"""
RECENT_OF_CUSTOMER = "SELECT id, total FROM orders WHERE customer_id = %s AND created_at > %s"


def _drive(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(60):
            conn.execute(RECENT_OF_CUSTOMER, (1 + i * 37, "2020-01-01")).fetchall()


def test_the_composite_that_serves_the_foreign_key_is_the_only_index_built(pg_new_db: NewDb,
                                                                          pg_server: Any) -> None:
    dsn = pg_new_db(WORKLOAD)
    if pg_server.has_hypopg:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION hypopg")
    _drive(dsn)
    snap, found = _scan(dsn, CollectOptions(sample=False))
    proposed = sorted((f.code, f.object.columns) for f in found if f.code in ("IX05", "WL02"))
    assert proposed == [("IX05", ("customer_id",)), ("WL02", ("customer_id", "created_at"))]
    (step,) = [s for s in plan(snap, found).steps if s.phase == 1]
    assert step.codes == ("WL02", "IX05") and "foreign key orders_customer_id_fkey (customer_id)" in step.note
    assert _paste(dsn, "\n".join(step.forward)) == []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE orders")
    _drive(dsn)
    _, again = _scan(dsn, CollectOptions(sample=False))
    assert [(f.code, f.object.label()) for f in again if f.code in ("IX03", "IX05", "WL02")] == []


def test_the_invalid_unique_index_block_pasted_whole_leaves_no_copy(pg_new_db: NewDb) -> None:
    dsn = pg_new_db("CREATE TABLE customers (id int PRIMARY KEY, phone text);"
                    "INSERT INTO customers SELECT g, 'p' || (g % 150) FROM generate_series(1, 200) g;")
    with psycopg.connect(dsn, autocommit=True) as conn, contextlib.suppress(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY customers_phone_key ON customers (phone)")
    (fix,) = [f.remediation or "" for f in _scan(dsn)[1] if f.code == "IX04"]
    # with the duplicates: the block only reads, and no invalid customers_phone_key_ccnew is left behind
    assert _paste(dsn, fix) == []
    assert _indexes(dsn, "customers_phone_key%") == {"customers_phone_key": False}
    # resolved: the query lists none, and the rebuild it names makes the index valid
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE customers SET phone = 'p' || id")
        (query,) = [line for line in fix.splitlines() if line.startswith("SELECT")]
        assert conn.execute(query.rstrip(";")).fetchall() == []  # type: ignore[arg-type]
    (rebuild,) = [line.removeprefix("-- ") for line in fix.splitlines() if line.startswith("-- REINDEX ")]
    assert _paste(dsn, rebuild) == []
    assert _indexes(dsn, "customers_phone_key%") == {"customers_phone_key": True}
    assert [f for f in _scan(dsn)[1] if f.code == "IX04"] == []


PARTITIONED = """
CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
INSERT INTO events SELECT g, timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 50000) g;
CREATE INDEX events_at_brin ON events USING brin (at);
CREATE INDEX events_at_brin_copy ON events USING brin (at);
ANALYZE;
"""


def test_a_partitioned_duplicate_drops_with_its_warning_and_comes_back_attached(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(PARTITIONED)
    snap, found = _scan(dsn)
    (duplicate,) = [f for f in found if f.code == "IX02"]
    fix = duplicate.remediation or ""
    assert fix.startswith("-- public.events is partitioned: PostgreSQL refuses DROP INDEX CONCURRENTLY here, and "
                          "this DROP holds an ACCESS EXCLUSIVE lock on it and on each of its 2 partitions")
    (step,) = [s for s in plan(snap, found).steps if s.codes == ("IX02",)]
    assert "ACCESS EXCLUSIVE on the partitioned table and each of its 2 partitions" in step.lock
    dropped = duplicate.object.index or ""
    assert _paste(dsn, "\n".join(step.forward)) == []
    assert dropped not in _indexes(dsn, "events%")
    # the rollback: the parent's index ON ONLY, each partition's built concurrently and attached: valid again
    assert _paste(dsn, "\n".join(step.rollback)) == []
    indexes = _indexes(dsn, "events%")
    assert indexes[dropped] is True and all(indexes.values()), indexes
    with psycopg.connect(dsn) as conn:
        attached = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass",
                                (dropped,)).fetchone()
    assert attached == (2,)
    assert [f.code for f in _scan(dsn)[1] if f.code in ("IX02", "IX04")] == ["IX02"]  # the duplicate, valid again
