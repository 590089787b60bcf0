"""Pointed at production, on a real PostgreSQL: no lock outlives its statement, every wait ends, a locked table
spoils nothing else, and a scan cut short still reports what it read.

The database holds ``big`` (800,000 rows: read whole with ``--sample-rows 1000000`` its sample takes seconds,
long enough to act on the server while the scan is inside it) next to small tables with planted findings.
The scans run as the user runs them (``python -m auditor.cli``) where the exit code and the written report
matter, and in a thread where the test must watch the snapshot.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
import pytest
from psycopg import sql as pgsql

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions, collect
from auditor.connectors.guard import statement_bound_s
from auditor.connectors.postgres.yielding import WATCHER_STATEMENT_TIMEOUT_MS
from auditor.dsn import parse_dsn
from auditor.model import Snapshot
from auditor.throwaway import ExistingServer, PostgresServer

PgServer = PostgresServer | ExistingServer

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE a_small (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO a_small SELECT g, 'note ' || g FROM generate_series(1, 2000) g;
CREATE TABLE big (id bigint PRIMARY KEY, grp int NOT NULL, label text NOT NULL, bucket int NOT NULL);
INSERT INTO big SELECT g, g % 1000, md5(g::text), g % 7 FROM generate_series(1, 800000) g;
-- planted: KY01 (no primary key), IX05 (a foreign key no index leads with)
CREATE TABLE loose (x int, y text);
CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent);
-- the look-alike the lock once turned into a false IX05: its foreign key has its index
CREATE TABLE orders (id int PRIMARY KEY, total numeric(10, 2) NOT NULL DEFAULT 0 CHECK (total >= 0));
CREATE TABLE order_items (id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders, qty int NOT NULL);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);
CREATE TABLE held1 (id int PRIMARY KEY, v int);
CREATE TABLE held2 (id int PRIMARY KEY, v int);
CREATE TABLE held3 (id int PRIMARY KEY, v int);
ANALYZE;
"""

# big read whole, with a per-table limit well above its time on a loaded machine: only a yield ends it early
SAMPLE_BIG = CollectOptions(workload=False, sample_rows=1_000_000, sample_table_timeout_s=60.0)

# what a scan may take on a busy 2-core machine beyond the bound under test: interpreter start, connection,
# catalog, the report
SLACK_S = 8.0


@dataclass
class Db:
    dsn: str
    name: str


@pytest.fixture(scope="module")
def faults_db(pg_server: PgServer) -> Iterator[Db]:
    name = f"dbaudit_t_faults_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    dsn = pg_server.dsn(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield Db(dsn, name)
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def _server_now(dsn: str) -> datetime:
    """The server's clock, read before a scan starts: its backends start later (see :func:`_dbaudit_backend`)."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return cast(datetime, row[0])


def _dbaudit_backend(dsn: str, pattern: str, since: datetime, timeout: float = 60.0,
                     scan: subprocess.Popen[str] | None = None) -> int:
    """The pid of dbaudit's backend once it runs a statement matching ``pattern`` (ILIKE), among the backends
    started after ``since`` (:func:`_server_now` before the scan started): a backend of an earlier scan, stopped
    by an earlier test and resumed once its client was gone, can still show the same statement as active for a
    while, and is no backend this scan waits for. With ``scan``, the search ends when that process does."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as admin:
        while time.monotonic() < deadline and (scan is None or scan.poll() is None):
            row = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'dbaudit' AND state = 'active'"
                " AND datname = current_database() AND backend_start >= %s AND query ILIKE %s",
                (since, pattern)).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.02)
    raise AssertionError(f"dbaudit never ran a statement like {pattern!r}")


def _still_running(dsn: str, pid: int, pattern: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute("SELECT state = 'active' AND query ILIKE %s FROM pg_stat_activity WHERE pid = %s",
                            (pattern, pid)).fetchone()
    return bool(row and row[0])


def _timed(dsn: str, statement: str) -> float:
    """Seconds an application's DDL waits (bounded at 20 s by its own lock_timeout, so a failure is quick)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '20s'")
        started = time.perf_counter()
        conn.execute(statement)  # type: ignore[arg-type]
        return time.perf_counter() - started


class ScanThread(threading.Thread):
    def __init__(self, dsn: str, options: CollectOptions) -> None:
        super().__init__(daemon=True)
        self.dsn, self.options = dsn, options
        self.snap: Snapshot | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.snap = collect(parse_dsn(self.dsn), self.options)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc


def _cli(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DBAUDIT_DSN"}
    return subprocess.Popen([sys.executable, "-m", "auditor.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


# ------------------------------------------------------------------------------------------------------------
# No lock outlives its statement
# ------------------------------------------------------------------------------------------------------------


def test_alter_table_during_the_explains_waits_under_a_second(faults_db: Db) -> None:
    """EXPLAIN runs statement by statement: a table explained earlier is free to ALTER while later ones wait."""
    with psycopg.connect(faults_db.dsn, autocommit=True) as app:
        app.execute("SELECT pg_stat_statements_reset()")
        for i in range(20):  # the costliest statement, explained first
            app.execute("SELECT pg_sleep(0.02), note FROM a_small WHERE id = %s", (i + 1,))
        for table in ("held1", "held2", "held3"):
            app.execute(pgsql.SQL("SELECT v FROM {} WHERE id = %s").format(pgsql.Identifier(table)), (1,))
    holder = psycopg.connect(faults_db.dsn)
    try:
        # another session's DDL holds the three tables: each of their EXPLAINs waits lock_timeout (1 s)
        holder.execute("LOCK TABLE held1, held2, held3 IN ACCESS EXCLUSIVE MODE")
        scan = ScanThread(faults_db.dsn, CollectOptions(sample=False))
        since = _server_now(faults_db.dsn)
        scan.start()
        pid = _dbaudit_backend(faults_db.dsn, "%held%", since)
        waited = _timed(faults_db.dsn, "ALTER TABLE a_small ADD COLUMN during_explain int")
        assert _still_running(faults_db.dsn, pid, "%held%") or scan.is_alive()
        scan.join(120)
    finally:
        holder.close()
    assert scan.error is None and scan.snap is not None, scan.error
    assert waited < 1.0, f"ALTER TABLE waited {waited:.2f} s behind the scan's EXPLAINs"
    snap = scan.snap
    by_text = {s.query: s.queryid for s in snap.statements}
    plans = {p.queryid: p for p in snap.plans}
    small = next(q for t, q in by_text.items() if "a_small" in t)
    assert plans[small].explained
    held = [plans[q] for t, q in by_text.items() if "held" in t and t.startswith("SELECT")]
    assert len(held) == 3 and all(not p.explained and "locked" in (p.reason or "") for p in held)
    print(f"\nALTER TABLE during the EXPLAINs: waited {waited * 1000:.0f} ms")


def test_alter_table_during_the_sample_waits_under_a_second(faults_db: Db) -> None:
    """Each table is sampled in a transaction of its own: a_small, sampled first, is free to ALTER while the
    sample of big (read whole: seconds) still runs."""
    scan = ScanThread(faults_db.dsn, SAMPLE_BIG)
    since = _server_now(faults_db.dsn)
    scan.start()
    pid = _dbaudit_backend(faults_db.dsn, '%"public"."big"%', since)
    waited = _timed(faults_db.dsn, "ALTER TABLE a_small ADD COLUMN during_sample int")
    still_sampling = _still_running(faults_db.dsn, pid, '%"public"."big"%')
    scan.join(120)
    assert scan.error is None and scan.snap is not None, scan.error
    assert waited < 1.0, f"ALTER TABLE waited {waited:.2f} s behind the scan's sampling"
    assert still_sampling, "the sample of big ended before the ALTER"
    sampled = {t.table: t for t in scan.snap.sampling.tables}
    # big's sample is as large as the client-side bound allows (rows x columns): a BERNOULLI read of the whole table
    assert sampled["a_small"].rows == 2000 and sampled["big"].rows >= 100_000 and sampled["big"].skipped_reason is None
    print(f"\nALTER TABLE during the sample of big: waited {waited * 1000:.0f} ms")


def test_ddl_on_the_table_being_sampled_makes_the_sample_yield(faults_db: Db) -> None:
    """An ALTER TABLE on the very table being read waits only until dbaudit notices it and cancels its sample;
    the table is then reported as not sampled, naming the session it yielded to."""
    scan = ScanThread(faults_db.dsn, SAMPLE_BIG)
    since = _server_now(faults_db.dsn)
    scan.start()
    _dbaudit_backend(faults_db.dsn, '%"public"."big"%', since)
    with psycopg.connect(faults_db.dsn, autocommit=True) as app:
        app.execute("SET lock_timeout = '20s'")
        app_pid = app.info.backend_pid
        started = time.perf_counter()
        app.execute("ALTER TABLE big ADD COLUMN during_sample int")
        waited = time.perf_counter() - started
        app.execute("ALTER TABLE big DROP COLUMN during_sample")
    scan.join(120)
    assert scan.error is None and scan.snap is not None, scan.error
    assert waited < 1.0, f"ALTER TABLE on the sampled table waited {waited:.2f} s"
    big = next(t for t in scan.snap.sampling.tables if t.table == "big")
    assert big.rows == 0 and f"yielded to session {app_pid}" in (big.skipped_reason or ""), big
    # the report says so: a note names the table and the session
    notes = [n for n in scan.snap.notes if n.area == "sampling" and "public.big" in n.objects]
    assert len(notes) == 1 and f"1 table not sampled: yielded to session {app_pid}" in notes[0].message, notes
    print(f"\nALTER TABLE on the table being sampled: waited {waited * 1000:.0f} ms")


def test_writes_on_the_table_being_sampled_do_not_make_it_yield(faults_db: Db) -> None:
    """The trap: an INSERT and a SELECT do not wait for the sample's AccessShareLock, so the sample ends."""
    scan = ScanThread(faults_db.dsn, SAMPLE_BIG)
    since = _server_now(faults_db.dsn)
    scan.start()
    _dbaudit_backend(faults_db.dsn, '%"public"."big"%', since)
    with psycopg.connect(faults_db.dsn) as app:
        app.execute("INSERT INTO big VALUES (900001, 1, 'x', 1)")
        app.execute("SELECT count(*) FROM big WHERE id < 10").fetchone()
        app.rollback()
    scan.join(120)
    assert scan.error is None and scan.snap is not None, scan.error
    big = next(t for t in scan.snap.sampling.tables if t.table == "big")
    assert big.skipped_reason is None and big.rows >= 100_000, big


# ------------------------------------------------------------------------------------------------------------
# A locked table spoils nothing else
# ------------------------------------------------------------------------------------------------------------


def _findings(report: Any) -> set[tuple[str, str]]:
    return {(f.code, f.object.label()) for f in report.findings}


def test_a_table_under_access_exclusive_leaves_the_rest_complete_and_correct(faults_db: Db) -> None:
    settings = AuditSettings(collect=CollectOptions(sample=False, workload=False), select=("IX", "KY"))
    free = run_audit(faults_db.dsn, settings)
    holder = psycopg.connect(faults_db.dsn)
    try:
        holder.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")  # an ALTER TABLE in progress
        started = time.perf_counter()
        locked = run_audit(faults_db.dsn, settings)
        took = time.perf_counter() - started
    finally:
        holder.close()
    snap = locked.snapshot
    assert snap is not None and free.snapshot is not None
    # orders is reported as not read, by name, and judged by nothing
    (note,) = [n for n in snap.notes if n.area == "locks"]
    assert note.objects == ("public.orders",)
    assert snap.table("public", "orders") is None and not snap.indexes_of("public", "orders")
    assert not [f for f in locked.findings if f.object.table == "orders"]
    # everything else is as complete as without the lock: same tables, columns, indexes, constraints
    others = [t for t in free.snapshot.tables if t.name != "orders"]
    assert sorted(t.key for t in snap.tables) == sorted(t.key for t in others)
    assert {t.key: t.columns for t in snap.tables} == {t.key: t.columns for t in others}
    assert {(i.table, i.name) for i in snap.indexes} == {(i.table, i.name) for i in free.snapshot.indexes
                                                          if i.table != "orders"}
    assert {(c.table, c.name) for c in snap.constraints} == {(c.table, c.name) for c in free.snapshot.constraints
                                                              if c.table != "orders"}
    # and correct: the planted findings, and no IX05 on order_items (its foreign key has its index)
    expected = {f for f in _findings(free) if "orders" not in f[1] or "order_items" in f[1]}
    assert _findings(locked) == expected
    assert ("KY01", "public.loose") in expected and any(c == "IX05" and "child" in o for c, o in expected)
    assert not any(c == "IX05" and "order_items" in o for c, o in _findings(locked))
    assert snap.unread_areas == ()
    assert took < 15, f"the scan waited {took:.1f} s on the lock"


# ------------------------------------------------------------------------------------------------------------
# Every wait ends: a stopped backend, a killed connection, --timeout
# ------------------------------------------------------------------------------------------------------------


def _local_server(pg_server: PgServer) -> None:
    if not isinstance(pg_server, PostgresServer):
        pytest.skip("stopping a backend needs a server on this machine (DBAUDIT_TEST_PG_DSN points elsewhere)")


def _stopped_scan(faults_db: Db, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Start a scan, SIGSTOP its backend while it samples big, and time how long the scan takes to end."""
    since = _server_now(faults_db.dsn)
    proc = _cli("scan", faults_db.dsn, "--format", "json", "--no-workload", "--sample-rows", "1000000",
                "--fail-on", "never", *args)
    pid = 0
    try:
        pid = _stop_inside(faults_db.dsn, '%"public"."big"%', since, proc)
        stopped = time.perf_counter()
        out, err = proc.communicate(timeout=120)
        took = time.perf_counter() - stopped
    finally:
        if pid:
            os.kill(pid, signal.SIGCONT)
            _ended(faults_db.dsn, pid)
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), took


def _stop_inside(dsn: str, pattern: str, since: datetime, scan: subprocess.Popen[str]) -> int:
    """SIGSTOP the scan's backend in the middle of a statement matching ``pattern``; its pid.

    The statement found can end between the look at pg_stat_activity and the signal (on a loaded machine the
    test may wait its turn for a while; a sample cut short by the little budget a short --timeout leaves is
    quick): a backend stopped between statements stalls the scan only if it has more to send. So the stop is
    checked once made (a stopped backend's entry no longer changes) and made again on the next such
    statement when it missed."""
    deadline = time.monotonic() + 60
    missed = 0
    while True:
        try:
            pid = _dbaudit_backend(dsn, pattern, since, max(0.0, deadline - time.monotonic()), scan)
        except AssertionError:
            if missed:
                raise AssertionError(f"each statement like {pattern!r} ended before its backend was stopped "
                                     f"({missed} missed), and the scan sent no other") from None
            raise
        os.kill(pid, signal.SIGSTOP)
        if _still_running(dsn, pid, pattern):
            return pid
        os.kill(pid, signal.SIGCONT)
        missed += 1


def _ended(dsn: str, pid: int, within_s: float = 30.0) -> None:
    """Wait (bounded) for a resumed backend whose client is gone to end, so that it does not linger into the
    next test."""
    deadline = time.monotonic() + within_s
    with psycopg.connect(dsn, autocommit=True) as admin:
        while time.monotonic() < deadline:
            if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None:
                return
            time.sleep(0.05)


def _assert_partial(done: subprocess.CompletedProcess[str], *fragments: str) -> dict[str, Any]:
    assert done.returncode == 2, done
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dbaudit: error: partial report: the scan stopped early: "), \
        done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["partial"] and report["score"]["value"] is None and report["score"]["grade"] == "not graded"
    # what the catalog showed is all there
    found = {(f["code"], f["object"].get("table")) for f in report["findings"]}
    assert ("KY01", "loose") in found and ("IX05", "child") in found
    return report


def test_a_stopped_backend_ends_the_scan_within_the_statement_bound(pg_server: PgServer, faults_db: Db) -> None:
    _local_server(pg_server)
    done, took = _stopped_scan(faults_db, "--statement-timeout", "2000")
    bound = statement_bound_s(2000)
    report = _assert_partial(done, "the server sent no answer", "not collected: the data sample")
    assert "not collected: the data sample" in report["partial"]
    assert took < bound + SLACK_S, f"the scan took {took:.1f} s after the backend stopped (bound {bound:g} s)"
    print(f"\nbackend stopped: the scan ended {took:.1f} s later (bound {bound:g} s)")


def test_a_stopped_backend_ends_the_scan_at_the_overall_timeout(pg_server: PgServer, faults_db: Db) -> None:
    _local_server(pg_server)
    started = time.perf_counter()
    done, _ = _stopped_scan(faults_db, "--statement-timeout", "600000", "--timeout", "12")
    took = time.perf_counter() - started
    # the statement bound is over 12 minutes here: only the overall deadline can have ended the scan; the
    # deadline counts from the start of the collection, after the interpreter's start-up and imports
    _assert_partial(done, "ran past --timeout 12 s")
    assert took < 12 + 2 * SLACK_S, f"the scan took {took:.1f} s with --timeout 12"


def test_a_killed_connection_still_gives_a_partial_report(faults_db: Db) -> None:
    since = _server_now(faults_db.dsn)
    proc = _cli("scan", faults_db.dsn, "--format", "json", "--no-workload", "--sample-rows", "1000000",
                "--fail-on", "never")
    try:
        pid = _dbaudit_backend(faults_db.dsn, '%"public"."big"%', since, scan=proc)
        with psycopg.connect(faults_db.dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_partial(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), "lost the connection")


def test_a_stopped_watcher_turns_yielding_off_with_a_note(pg_server: PgServer, faults_db: Db) -> None:
    """The second connection, which watches for sessions waiting on the sample's locks, is bounded like the
    first: its backend stopped, its poll gives up after 1 s plus the grace, the sampling goes on without
    yielding, and a note says so. (Unbounded, the poll waited for ever, every later poll behind it on the
    connection's lock, each watched statement then waited 5 s for its poll to end, and no note said that DDL
    would now queue behind the sample.)"""
    _local_server(pg_server)
    since = _server_now(faults_db.dsn)
    scan = ScanThread(faults_db.dsn, SAMPLE_BIG)
    scan.start()
    main = _dbaudit_backend(faults_db.dsn, '%"public"."big"%', since)
    row = None
    with psycopg.connect(faults_db.dsn, autocommit=True) as admin:
        deadline = time.monotonic() + 30
        while row is None and time.monotonic() < deadline and scan.is_alive():
            # the watcher of big's sample, which polls every 0.1 s meanwhile
            row = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'dbaudit'"
                " AND datname = current_database() AND backend_start >= %s AND pid <> %s"
                " AND query ILIKE '%%pg_blocking_pids%%' ORDER BY backend_start DESC LIMIT 1", (since, main)).fetchone()
            time.sleep(0.02)
    assert row is not None, "no watcher polled while big was sampled"
    watcher = int(row[0])
    os.kill(watcher, signal.SIGSTOP)
    try:
        scan.join(120)
    finally:
        os.kill(watcher, signal.SIGCONT)
    assert not scan.is_alive(), "the scan still ran 120 s later"
    assert scan.error is None and scan.snap is not None, scan.error
    snap = scan.snap
    notes = [n.message for n in snap.notes if n.area == "sampling" and "could not watch" in n.message]
    bound = statement_bound_s(WATCHER_STATEMENT_TIMEOUT_MS)
    assert len(notes) == 1 and f"its server process sent no answer for {bound:g} s" in notes[0], snap.notes
    assert snap.sampling is not None
    by_name = {t.table: t for t in snap.sampling.tables}
    assert by_name["big"].skipped_reason is None and by_name["big"].rows >= 100_000, by_name["big"]
    # the tables after big are sampled unwatched, without waiting for the stopped watcher (before: 5 s each)
    later = [t for name, t in by_name.items() if name > "big"]
    assert later and all(t.skipped_reason is None and t.duration_s < 4.0 for t in later), later
