"""The run store: SQLite and PostgreSQL give the same answers, migrations, retention, `dbaudit history`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.errors import AuditError
from auditor.history import check_store_target, diff_runs, open_store, trend
from auditor.history.store import SCHEMA_VERSION, StoreError
from auditor.model import Snapshot
from reports.history import history_dict
from tests.builders import NOW
from tests.conftest import NewDb
from tests.history_support import LOOKUP, day_snapshot


def _record(snapshot: Snapshot, store: str, **settings: Any) -> dict[str, Any]:
    report = run_audit(snapshot, AuditSettings(history=store, **settings))
    doc = history_dict(report.history)
    assert doc is not None
    doc.pop("store")
    return doc


def _days(store: str, days: range, **kwargs: Any) -> list[dict[str, Any]]:
    return [_record(day_snapshot(d, **kwargs), store) for d in days]


def test_daily_runs_report_the_day_s_interval(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    first, second = _days(store, range(2))
    assert first["previous_run"] is None
    lookup = next(s for s in second["statements"] if s["query"] == LOOKUP)
    assert (lookup["calls"], lookup["mean_ms"], lookup["user"], lookup["regressed"]) == (1000, 2.0, "app", False)
    orders = next(t for t in second["tables"] if t["table"] == "orders")
    assert (orders["rows_delta"], orders["bytes_delta"], orders["growth_bytes_per_day"]) == (10_000, 1_000_000,
                                                                                             1_000_000.0)


def test_sqlite_and_postgresql_stores_give_the_same_answers(tmp_path: Path, pg_new_db: NewDb) -> None:
    url = pg_new_db()
    sqlite_store = str(tmp_path / "runs.db")
    days = range(4)
    lite = _days(sqlite_store, days) + [_record(day_snapshot(4, loose=False), sqlite_store)]
    pg = _days(url, days) + [_record(day_snapshot(4, loose=False), url)]
    assert lite == pg
    assert [f["object"]["table"] for f in pg[-1]["resolved_findings"]] == ["loose"]
    with open_store(url) as a, open_store(sqlite_store) as b:
        assert [r.id for r in a.runs()] == [r.id for r in b.runs()]
        assert trend(a, "db_bytes") == trend(b, "db_bytes")
        assert history_dict(diff_runs(a, 1, 5)) | {"store": None} == history_dict(diff_runs(b, 1, 5)) | {"store": None}
    with psycopg.connect(url) as conn:  # its own schema, nothing in public
        names = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE "
                                            "table_schema IN ('public', 'dbaudit_history')").fetchall()}
        schemas = {r[0] for r in conn.execute("SELECT DISTINCT table_schema FROM information_schema.tables WHERE "
                                              "table_name = 'runs'").fetchall()}
    assert {"runs", "run_statements", "schema_version"} <= names and schemas == {"dbaudit_history"}


def test_a_store_of_an_older_schema_version_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with open_store(str(path), migrate=False) as store:
        assert store.migrate(upto=1) == 1
    # a run as dbaudit wrote it at version 1 (no rollup, no checks_run)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO runs (target, engine, database_name, started_at, collected_at, duration_s, status, "
                     "score, grade, metrics, workload_read, db_bytes, tool_version) VALUES ('postgresql://app@"
                     "db.internal:5432/shop', 'postgresql', 'shop', '2026-11-24T21:00:00.000000Z', "
                     "'2026-11-24T21:00:00.000000Z', 1.0, 'ok', 80, 'B', '{\"p95_ms\": 3.0}', 1, 10000000, '0.1.0')")
        conn.execute("INSERT INTO statement_texts VALUES ('x', 'SELECT 1')")
        conn.execute("INSERT INTO run_statements (run_id, fingerprint, database_name, user_name, toplevel, calls, "
                     "total_ms, sumsq_ms, min_ms, max_ms, rows_count, blks_hit, blks_read) VALUES "
                     "(1, 'x', 'shop', 'app', 1, 10, 10.0, 10.0, 1.0, 1.0, 10, 0, 0)")
    with open_store(str(path)) as store:
        assert store.version() == SCHEMA_VERSION
        old = store.load_run(1)
        assert old is not None and old.rollup is False and old.checks_run is None and old.score == 80
        assert [s.calls for s in old.statements] == [10]
    doc = _record(day_snapshot(0, hours=1), str(path))
    assert doc["previous_run"] == {"id": 1, "started_at": "2026-11-24T21:00:00Z"}
    assert doc["metrics"]["p95_ms"]["previous"] == 3.0


def test_retention_rolls_old_runs_up_daily(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    for day in range(40):
        for hours in (0.0, 12.0):
            run_audit(day_snapshot(day, hours=hours), AuditSettings(history=store, history_retention_days=10_000))
    with open_store(store) as s:
        assert len(s.runs()) == 80
        result = s.prune(35, now=NOW + timedelta_days(40))
        runs = s.runs()
        # older than 35 days: the runs from Nov 24 21:00 to Nov 29 09:00, ten runs over six UTC days
        old = [r for r in runs if r.started_at < NOW + timedelta_days(5)]
        assert (result.rolled_up, result.deleted) == (6, 4)
        assert len(old) == 6 and all(r.rollup for r in old)
        assert len({r.started_at.date() for r in old}) == 6
        assert [r.started_at.hour for r in old] == [21, 21, 21, 21, 21, 9]  # each day's last run
        assert all(s.load_run(r.id or 0).statements == () for r in old)  # type: ignore[union-attr]
        assert all(s.load_run(r.id or 0).tables for r in old)  # type: ignore[union-attr]
        assert all(not r.rollup for r in runs if r.started_at >= NOW + timedelta_days(5))
        # idempotent; --drop-days deletes whole runs
        assert s.prune(35, now=NOW + timedelta_days(40)).rolled_up == 0
        older = [r for r in s.runs() if r.started_at < NOW + timedelta_days(4)]
        assert s.prune(35, now=NOW + timedelta_days(40), drop_days=36).deleted == len(older) == 4
        # the growth trend still starts on the oldest day kept
        points = trend(s, "db_bytes")
        assert points[0].started_at == NOW + timedelta_days(4) and len(points) == 80 - 4 - 4


def timedelta_days(days: float, hours: float = 0) -> Any:
    from datetime import timedelta

    return timedelta(days=days, hours=hours)


def test_a_postgresql_store_in_the_audited_database_is_refused() -> None:
    url = "postgresql://app@db.internal:5432/shop"
    with pytest.raises(StoreError, match="is the audited database"):
        check_store_target("postgresql://dbaudit@db.internal/shop", url)
    check_store_target("postgresql://dbaudit@db.internal/dbaudit", url)  # another database: fine
    check_store_target("/var/lib/dbaudit/runs.db", url)
    with pytest.raises(AuditError, match="history-in-audited-db"):
        run_audit(url, AuditSettings(history="postgresql://x@db.internal:5432/shop"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_history_command(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    _days(store, range(3))
    _record(day_snapshot(3, loose=False), store)
    listed = _cli("history", "list", "--store", store)
    assert listed.returncode == 0 and listed.stdout.count("postgresql://app@db.internal:5432/shop") == 4
    runs = json.loads(_cli("history", "list", "--store", store, "--format", "json").stdout)["runs"]
    assert [r["id"] for r in runs] == [1, 2, 3, 4] and runs[-1]["findings"] == runs[0]["findings"] - 1
    shown = _cli("history", "show", "2", "--store", store)
    assert shown.returncode == 0 and "KY01 no-primary-key" in shown.stdout and "1,000 calls" in shown.stdout
    one = json.loads(_cli("history", "show", "2", "--store", store, "--format", "json").stdout)
    assert one["id"] == 2 and one["tables"] and one["findings"]
    diff = _cli("history", "diff", "1", "4", "--store", store)
    assert diff.returncode == 0 and "resolved: KY01 no-primary-key  public.loose" in diff.stdout
    diff_json = json.loads(_cli("history", "diff", "1", "4", "--store", store, "--format", "json").stdout)
    lookup = next(s for s in diff_json["statements"] if s["query"] == LOOKUP)
    assert lookup["calls"] == 3000
    trend_out = json.loads(_cli("history", "trend", "db_bytes", "--store", store, "--format", "json").stdout)
    assert [p["value"] for p in trend_out["points"]] == [10_008_192, 11_008_192, 12_008_192, 13_000_000]
    assert "score of" in _cli("history", "trend", "score", "--store", store).stdout
    pruned = _cli("history", "prune", "--store", store, "--keep-days", "1")
    assert pruned.returncode == 0 and "rolled up daily" in pruned.stdout
    for args, message in [
        (("history", "show", "99", "--store", store), "run 99 is not in the store"),
        (("history", "trend", "nope", "--store", store), "no metric 'nope'"),
        (("history", "list", "--store", str(tmp_path / "missing.db")), "does not exist"),
        (("history", "list"), "no run store"),
    ]:
        out = _cli(*args)
        assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1, (args, out.stderr)
    _record(day_snapshot(4, dsn="postgresql://app@other:5432/shop"), store)
    several = _cli("history", "trend", "score", "--store", store)
    assert several.returncode == 2 and "choose one with --target" in several.stderr
    assert _cli("history", "trend", "score", "--store", store, "--target",
                "postgresql://app@other:5432/shop").returncode == 0


def test_the_history_benchmark_runs_small() -> None:
    """`make bench`'s bench_history.py on a small database: it fills the store and compares the two runs."""
    out = subprocess.run([sys.executable, "bench/bench_history.py", "--tables", "20", "--days", "5", "--repeat", "1"],
                         capture_output=True, text=True, timeout=300, check=False,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode in (0, 1), out.stderr  # 1: over 2x, possible on a loaded machine at this size
    assert "kB per run" in out.stdout and "ratio" in out.stdout


def test_a_new_store_being_created_by_another_writer_is_waited_for_not_opened_read_only(tmp_path: Path) -> None:
    # two targets of a fleet scan record their first runs together: the second opener's switch to WAL met the
    # first's write transaction, SQLite answered "database is locked" at once (no busy wait for that switch), and
    # the store was opened read-only: that target's scan failed with "attempt to write a readonly database"
    import threading

    path = tmp_path / "runs.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE other_writer (x int)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO other_writer VALUES (1)")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        with open_store(str(path)) as store:
            assert store.write_error is None
            assert store.version() == SCHEMA_VERSION
    finally:
        release.join()
        other.close()
