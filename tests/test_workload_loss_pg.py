"""pg_stat_statements evicted entries (pg_stat_statements_info.dealloc > 0): a note with the figure and the
setting; the workload metrics stay measured (the least-executed statements went). Its own server, with
pg_stat_statements.max at its minimum, 100."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.throwaway import PostgresServer, start_postgres


@pytest.fixture(scope="module")
def small_pgss() -> Iterator[PostgresServer]:
    server = start_postgres("auto", settings={"pg_stat_statements.max": "100"})
    try:
        yield server
    finally:
        server.stop()


def test_evicted_statements_get_a_note_and_the_metrics_stay_measured(small_pgss: PostgresServer) -> None:
    with small_pgss.connect() as conn:
        conn.execute("CREATE DATABASE evicted")
    with psycopg.connect(small_pgss.dsn("evicted"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, a int)")
        conn.execute("INSERT INTO items SELECT g, g % 10 FROM generate_series(1, 100) AS g")
        for _ in range(20):
            conn.execute("SELECT id FROM items WHERE a = 1")  # the most executed: kept
        for i in range(1, 250):  # distinct statements (the query id ignores aliases and constants): > max
            conn.execute(f"SELECT {', '.join(['a'] * i)} FROM items WHERE a = 2")  # type: ignore[arg-type]
        (dealloc,) = conn.execute("SELECT dealloc FROM pg_stat_statements_info").fetchone() or (0,)
        assert dealloc > 0
    report = run_audit(small_pgss.dsn("evicted"), AuditSettings(collect=CollectOptions(sample=False)))
    (note,) = [n for n in report.notes if "pg_stat_statements_info.dealloc" in n.message]
    assert "pg_stat_statements.max = 100" in note.message and "still meaningful" in note.message
    assert note.enable is not None and "pg_stat_statements.max" in note.enable
    assert {m.key: m for m in report.metrics}["p95_ms"].value is not None
