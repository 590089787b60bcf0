"""On real servers: a table another session locks during the scan leaves "Tables in 3NF" partial, never a pass.

Two tables: ``orders`` in 3NF, ``employees`` with a transitive dependency (dept_id -> dept_name). The
application locks ``employees`` while dbaudit scans: on PostgreSQL an ALTER-like ACCESS EXCLUSIVE either
arrives while the table is sampled (the sample yields to it) or is already held (the catalog leaves the table
out); on MariaDB a LOCK TABLES ... WRITE keeps it from being sampled. Either way the share is judged over
``orders`` alone; it used to read "100 %, pass".
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.report import Report
from reports.jsonfmt import render_json
from reports.text import render_text
from tests.conftest import NewDb
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401  (pytest fixtures)

PG_SEED = """
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount numeric(12, 2) NOT NULL);
INSERT INTO orders SELECT g, g % 5000, g * 1.5 FROM generate_series(1, 20000) g;
CREATE TABLE employees (id int PRIMARY KEY, dept_id int NOT NULL, dept_name text NOT NULL, salary int NOT NULL);
INSERT INTO employees SELECT g, g % 300, 'Dept ' || (g % 300), 1000 + g % 7919 FROM generate_series(1, 400000) g;
ANALYZE;
"""

NF = AuditSettings(collect=CollectOptions(workload=False), select=("NF", "KY"))


def _assert_partial(report: Report, not_judged: str) -> None:
    """"Tables in 3NF" is 100 % over orders alone, and every format says partial, over 1 of 2 tables, and why."""
    (m,) = [m for m in report.metrics if m.key == "normalization_pct"]
    assert m.value == 100.0 and m.passed is None and m.status == "partial", m
    assert m.measured is not None and m.measured.startswith(f"1 of 2 tables (not judged: 1: {not_judged}"), m
    assert not [f for f in report.findings if f.object.table == "employees"]
    line = next(x for x in render_text(report, width=200).splitlines() if x.startswith("Tables in 3NF"))
    assert "partial" in line.split() and "pass" not in line, line
    (as_json,) = [x for x in json.loads(render_json(report))["quality"] if x["key"] == "normalization_pct"]
    assert as_json["status"] == "partial" and as_json["passed"] is None and as_json["measured"] == m.measured


def test_pg_a_sample_that_yields_to_ddl_leaves_the_metric_partial(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(PG_SEED)
    # employees read whole (seconds), under a per-table limit well above that: only the yield ends it early
    settings = AuditSettings(collect=CollectOptions(workload=False, sample_rows=1_000_000,
                                                    sample_table_timeout_s=60.0), select=("NF", "KY"))
    result: dict[str, Any] = {}
    scan = threading.Thread(target=lambda: result.update(report=run_audit(dsn, settings)), daemon=True)
    scan.start()
    with psycopg.connect(dsn, autocommit=True) as admin:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'dbaudit' AND state = 'active'"
                " AND query ILIKE '%\"public\".\"employees\"%'").fetchone():
            time.sleep(0.02)
        with psycopg.connect(dsn) as app:
            app.execute("SET lock_timeout = '20s'")
            app.execute("LOCK TABLE employees IN ACCESS EXCLUSIVE MODE")  # an ALTER TABLE's lock, held
            app_pid = app.info.backend_pid
            scan.join(120)
    report = result["report"]
    _assert_partial(report, f"yielded to session {app_pid}")
    # the trap: the same scan without the lock judges both tables and fails on employees
    free = run_audit(dsn, NF)
    (m,) = [m for m in free.metrics if m.key == "normalization_pct"]
    assert m.value == 50.0 and m.status == "FAIL" and m.measured is None
    assert any(f.code == "NF04" and f.object.table == "employees" for f in free.findings)


def test_pg_a_table_locked_before_the_scan_counts_as_not_read(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(PG_SEED)
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE employees IN ACCESS EXCLUSIVE MODE")
        report = run_audit(dsn, NF)
    _assert_partial(report, "locked by another session while the catalog was read")
    (completeness,) = [m for m in report.metrics if m.key == "schema_completeness_pct"]
    assert completeness.status == "partial" and completeness.measured is not None
    assert completeness.measured.startswith("1 of 2 tables (not read: 1 locked")


def test_mariadb_a_table_locked_by_lock_tables_leaves_the_metric_partial(
        mysql_server: MySqlServer) -> None:  # noqa: F811
    db, dsn = new_db_on(mysql_server, """
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount decimal(12, 2) NOT NULL) ENGINE=InnoDB;
INSERT INTO orders SELECT seq, seq % 5000, seq * 1.5 FROM seq_1_to_20000;
CREATE TABLE employees (id int PRIMARY KEY, dept_id int NOT NULL, dept_name varchar(40) NOT NULL,
  salary int NOT NULL) ENGINE=InnoDB;
INSERT INTO employees SELECT seq, seq % 300, CONCAT('Dept ', seq % 300), 1000 + seq % 7919 FROM seq_1_to_60000;
ANALYZE TABLE orders, employees;
""")
    free = run_audit(dsn, NF)
    (m,) = [m for m in free.metrics if m.key == "normalization_pct"]
    assert m.value == 50.0 and m.status == "FAIL", m  # the trap: both judged, employees flagged
    with mysql_server.connect(db) as locker, locker.cursor() as cur:
        cur.execute("LOCK TABLES employees WRITE")
        try:
            report = run_audit(dsn, NF)
        finally:
            cur.execute("UNLOCK TABLES")
    sample = report.snapshot.sampling.table(db, "employees") if report.snapshot and report.snapshot.sampling else None
    assert sample is not None and sample.skipped_reason, sample
    _assert_partial(report, sample.skipped_reason)

