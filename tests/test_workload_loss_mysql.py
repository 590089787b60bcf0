"""A full performance_schema digest table: the workload metrics are "not measured", never a pass, and a note
gives the figures and what to do (auditor.workload_loss). Its own MariaDB, with a 100-row digest table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.throwaway_mysql import MariaDbServer, find_mariadb, start_mariadb
from tests.mysql_support import NO_SERVER_BINARY, new_db_on

SCHEMA = """
CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, a INT, KEY items_a_idx (a));
INSERT INTO items (a) SELECT seq % 10 FROM seq_1_to_50;
"""


@pytest.fixture(scope="module")
def small_digests() -> Iterator[MariaDbServer]:
    if find_mariadb() is None:
        pytest.skip(NO_SERVER_BINARY)
    server = start_mariadb(extra_args=["--performance-schema-digests-size=100"])
    try:
        yield server
    finally:
        server.stop()


def _distinct_statements(conn: Any, n: int) -> None:
    """``n`` statements of distinct digests, one round trip each (a multi-statement text is one digest)."""
    with conn.cursor() as cur:
        for i in range(n):
            cur.execute(f"SELECT {i} AS c{i} FROM items WHERE a = 1")


def _metrics(report: object) -> dict[str, object]:
    return {m.key: m for m in report.metrics}  # type: ignore[attr-defined]


def test_full_digest_table_makes_workload_metrics_not_measured(small_digests: MariaDbServer) -> None:
    db, dsn = new_db_on(small_digests, SCHEMA)
    with small_digests.connect(db) as conn:
        _distinct_statements(conn, 120)
    report = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False)))
    metrics = _metrics(report)
    for key in ("index_coverage_pct", "p50_ms", "p95_ms", "p99_ms"):
        m = metrics[key]
        assert m.value is None and m.passed is None, (key, m)  # type: ignore[attr-defined]
        assert "digest table is full at its 100 rows" in (m.reason or ""), m  # type: ignore[attr-defined]
    (note,) = [n for n in report.notes if "Performance_schema_digest_lost" in n.message]
    assert "not measured" in note.message and note.enable is not None
    assert "performance_schema_digests_size" in note.enable and "dbaudit never does it" in note.enable


def test_digests_lost_before_a_truncate_leave_the_metrics_measured(small_digests: MariaDbServer) -> None:
    db, dsn = new_db_on(small_digests, SCHEMA)
    with small_digests.connect(db) as conn:
        _distinct_statements(conn, 120)
        # the DBA's choice (dbaudit never does it): the table has room again, the lost counter stays
        with conn.cursor() as cur:
            cur.execute("TRUNCATE TABLE performance_schema.events_statements_summary_by_digest")
            cur.execute("SELECT id FROM items WHERE a = 3")
    report = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False)))
    assert _metrics(report)["p95_ms"].value is not None  # type: ignore[attr-defined]
    (note,) = [n for n in report.notes if "Performance_schema_digest_lost" in n.message]
    assert "was full once" in note.message
