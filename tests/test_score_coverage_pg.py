"""The score on real PostgreSQL when the scan sees less: a pg_monitor role, and a table locked during the scan.

A role with pg_monitor only reads no table data (NF02-NF04), no pg_hba_file_rules (SC01) and no pg_authid (SC02):
those checks are skipped and count at their worst, so its score is never above a superuser's on the same
database. A table held under ACCESS EXCLUSIVE by another session while the catalog is read is left out: the
report is partial (not graded, exit 2), and the next run's history does not call that table's findings new.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from auditor.audit import AuditSettings, run_audit, verdict
from auditor.connectors import CollectOptions
from auditor.errors import ExitCode
from auditor.report import Report
from tests.conftest import NewDb, PgServer

SHOP = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id int PRIMARY KEY, name text, city text, zip text);
CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer_id int REFERENCES shop.customers(id), qty int);
CREATE INDEX orders_qty_a ON shop.orders (qty);
CREATE INDEX orders_qty_b ON shop.orders (qty);
CREATE TABLE shop.audit_log (user_id int, msg text);
INSERT INTO shop.customers SELECT g, 'c' || g, 'city' || (g % 50), 'z' || (g % 50) FROM generate_series(1, 2000) g;
INSERT INTO shop.orders SELECT g, 1 + g % 2000, g % 7 FROM generate_series(1, 20000) g;
INSERT INTO shop.audit_log SELECT g, 'm' FROM generate_series(1, 300) g;
ANALYZE;
"""


def test_a_pg_monitor_role_never_scores_above_a_superuser(pg_server: PgServer, pg_new_db: NewDb) -> None:
    # the workload readable by both (pg_monitor holds pg_read_all_stats): the superuser's score is not 0
    dsn = pg_new_db("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;" + SHOP)
    role = f"dbaudit_mon_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN IN ROLE pg_monitor")
    try:
        full = run_audit(dsn, AuditSettings(fail_on="never"))
        monitor = run_audit(dsn.replace("postgres@", f"{role}@", 1), AuditSettings(fail_on="never"))
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")
    assert full.score.value is not None and monitor.score.value is not None
    assert {"NF02", "NF03", "NF04", "SC01", "SC02"} <= set(monitor.score.not_measured)
    assert "normalization_pct" in monitor.score.not_measured  # no table could be sampled: counted as failed
    assert not {"NF04", "SC01", "normalization_pct"} & set(full.score.not_measured)
    assert monitor.score.value <= full.score.value, (monitor.score.label(), full.score.label())
    # what it would be had the unread checks been clean is said, and is what scoring them as passes gave
    assert monitor.score.upper is not None and monitor.score.upper > monitor.score.value
    assert "at least" in monitor.score.label() and full.score.value > 0


def _scan(dsn: str, store: Path) -> tuple[Report, ExitCode]:
    settings = AuditSettings(collect=CollectOptions(sample=False), history=str(store), fail_on="never")
    report = run_audit(dsn, settings)
    return report, verdict(report, settings).exit_code


def _scan_locked(dsn: str, store: Path) -> tuple[Report, ExitCode]:
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE shop.orders IN ACCESS EXCLUSIVE MODE")
        return _scan(dsn, store)


def _on_orders(report: Report) -> list[str]:
    assert report.history is not None
    return [f.code for f in report.history.new_findings if f.object.table == "orders"]


@pytest.mark.parametrize("first_run_locked", [False, True])
def test_a_table_locked_during_the_scan_makes_it_partial_and_not_new_later(pg_new_db: NewDb, tmp_path: Path,
                                                                           first_run_locked: bool) -> None:
    dsn = pg_new_db(SHOP)
    store = tmp_path / "runs.sqlite"
    if not first_run_locked:
        before, _ = _scan(dsn, store)
        assert before.partial is None and {"IX02", "IX05"} <= {f.code for f in before.findings
                                                               if f.object.table == "orders"}
    locked, code = _scan_locked(dsn, store)
    assert locked.partial is not None and "shop.orders" in locked.partial
    assert code == ExitCode.ERROR and not locked.score.graded  # with --fail-on never: a partial never passes
    assert not any(f.object.table == "orders" for f in locked.findings)
    after, code = _scan(dsn, store)
    assert after.partial is None and after.score.graded and code == ExitCode.OK
    # the locked run is not the previous one: the orders findings were there before, or nothing was compared
    assert _on_orders(after) == []
    assert {"IX02", "IX05"} <= {f.code for f in after.findings if f.object.table == "orders"}
