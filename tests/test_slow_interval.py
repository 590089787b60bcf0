"""WL01 judged on the interval since the previous run (``--history``), on real PostgreSQL and MariaDB servers.

pg_stat_statements and performance_schema's digests count from their last reset (dbaudit resets neither): a
statement that was slow before its index was created stays slow in the cumulative figures for weeks. With a
previous run in the store, WL01 judges the calls made since that run (when there are at least ``min_calls`` of
them) and says so; without one, it says since when the cumulative figures count. The planted statement sleeps
150 ms twenty times, then 0.5 ms thirty times: cumulative P95 still above 100 ms, the interval's far below.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.model import Finding
from auditor.report import Report
from auditor.workload import statement_percentile
from tests.conftest import NewDb
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    mysql_server,
    new_db_on,
)

PG_SLEEP = "SELECT pg_sleep(%s), now()"
MY_SLEEP = "SELECT SLEEP(%s), NOW()"


def _scan(dsn: str, store: Path | None) -> Report:
    return run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False),
                                        history=str(store) if store else None))


def _slow(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.code == "WL01" and "sleep" in str(f.object.query).lower()]


def _cumulative_p95(report: Report) -> float:
    assert report.snapshot is not None
    (stmt,) = [s for s in report.snapshot.statements if "sleep" in s.query.lower()]
    return statement_percentile(stmt, 0.95)


def _judge_by_interval(run: Callable[[float, int], None], dsn: str, store: Path, reset_words: str) -> None:
    run(0.15, 20)
    (first,) = _slow(_scan(dsn, None))  # no history: the figures are cumulative, and the finding says since when
    assert first.details["judged_on"] == "cumulative" and f"calls, cumulative since {reset_words}" in first.message
    assert "previous run" not in first.message
    _scan(dsn, store)  # the previous run
    run(0.0005, 30)  # the statement after its fix: fast
    fixed = _scan(dsn, store)
    assert _cumulative_p95(fixed) > 100  # the old calls still weigh in the cumulative figures ...
    assert _slow(fixed) == [], [(f.message, f.details) for f in _slow(fixed)]  # ... the 30 calls since: fast
    assert _slow(_scan(dsn, None)) != []  # without history: reported on the cumulative figures (stated)
    run(0.0005, 5)  # too few calls since the previous run to judge: the cumulative figures, said so
    (few,) = _slow(_scan(dsn, store))
    assert few.details["judged_on"] == "cumulative" and few.details["interval_calls"] == 5
    assert "(5 calls since the previous run at" in few.message and "fewer than 20" in few.message
    run(0.15, 25)  # slow again since the previous run: judged on the interval
    (again,) = _slow(_scan(dsn, store))
    assert again.details["judged_on"] == "interval" and again.details["interval_calls"] == 25
    assert "over 25 calls since the previous run at" in again.message
    assert f"; cumulative since {reset_words}" in again.message and "80 calls, P95" in again.message


def test_postgresql_slow_statement_judged_since_the_previous_run(pg_new_db: NewDb, tmp_path: Path) -> None:
    dsn = pg_new_db("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE t (id int PRIMARY KEY)")

    def run(seconds: float, n: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(n):
                conn.execute(PG_SLEEP, (seconds,)).fetchall()

    _judge_by_interval(run, dsn, tmp_path / "runs.db", "pg_stat_statements' reset at")


def test_mariadb_slow_statement_judged_since_the_previous_run(mysql_server: MySqlServer,  # noqa: F811
                                                              tmp_path: Path) -> None:
    db, dsn = new_db_on(mysql_server, "CREATE TABLE t (id int PRIMARY KEY)")

    def run(seconds: float, n: int) -> None:
        with mysql_server.connect(db) as conn, conn.cursor() as cur:
            for _ in range(n):
                cur.execute(MY_SLEEP, (seconds,))
                cur.fetchall()

    _judge_by_interval(run, dsn, tmp_path / "runs.db", "the digest's first call at")
