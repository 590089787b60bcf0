"""MT07 on a real table that grew after its last ANALYZE, with autovacuum off: the size it prints is dated.

The snapshot's sizes are pg_class.relpages times the block size (read without a lock per relation, see
tables.sql), as of the table's last VACUUM or ANALYZE. With autovacuum off nothing updates them, so the very
tables MT07 reports carry the stalest sizes: here a few kB for a table of several MB. The finding says which
operation measured the size and when, and how many rows were written since, instead of passing it for today's.
"""

from __future__ import annotations

from typing import Any

import psycopg

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from tests.conftest import NewDb


def test_the_size_of_a_table_with_autovacuum_off_is_dated_by_its_last_analyze(pg_new_db: NewDb) -> None:
    dsn = pg_new_db("""
        CREATE TABLE imports (id int PRIMARY KEY, payload text) WITH (autovacuum_enabled = false);
        INSERT INTO imports SELECT g, repeat('x', 100) FROM generate_series(1, 50) g;
        ANALYZE imports;
        INSERT INTO imports SELECT g, repeat('x', 100) FROM generate_series(51, 60000) g;  -- grew since
    """)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        facts: Any = conn.execute(
            "SELECT pg_table_size('imports'), c.relpages, s.last_analyze, s.n_mod_since_analyze "
            "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = 'imports'").fetchone()
    real_bytes, relpages, last_analyze, written_since = facts
    assert relpages == 1 and real_bytes > 5 * 1024**2 and written_since >= 59_950  # the trap: a stale relpages
    report = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False, workload=False), select=("MT07",)))
    (f,) = [f for f in report.findings if f.code == "MT07"]
    when = last_analyze.strftime("%Y-%m-%d %H:%M UTC")
    assert f" kB as of its last ANALYZE on {when}, {written_since:,} rows written since" in f.message, f.message
    assert f.details["total_bytes"] < 64 * 1024  # the pages ANALYZE counted (heap and primary key), not today's
    assert f.details["size_as_of"] == when and f.details["size_measured_by"] == "ANALYZE"


def test_a_table_never_vacuumed_nor_analyzed_is_not_dated_by_a_vacuum(pg_new_db: NewDb) -> None:
    # rt: "11 MB as of its last VACUUM or ANALYZE" on a table that had neither (MT08 said so): the size is the one
    # the CREATE INDEX after the load recorded
    dsn = pg_new_db("""
        CREATE TABLE reviews (id int, body text) WITH (autovacuum_enabled = false);
        INSERT INTO reviews SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
        CREATE INDEX reviews_id_idx ON reviews (id);
    """)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        facts: Any = conn.execute(
            "SELECT c.relpages, coalesce(s.last_analyze, s.last_autoanalyze, s.last_vacuum, s.last_autovacuum) "
            "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = 'reviews'").fetchone()
    assert facts[0] > 0 and facts[1] is None  # sized, never vacuumed nor analyzed
    report = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False, workload=False), select=("MT07",)))
    (f,) = [f for f in report.findings if f.code == "MT07"]
    assert "as of its last VACUUM or ANALYZE" not in f.message
    assert ("MB as the catalog last recorded it, with no VACUUM or ANALYZE on record since the statistics were reset "
            "(the figure is from an earlier one or a CREATE INDEX)") in f.message, f.message
