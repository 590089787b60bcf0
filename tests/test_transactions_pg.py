"""MT03-MT05 on a real PostgreSQL server: a snapshot held open, a prepared transaction, an inactive logical slot.

The server is our own (prepared transactions need ``max_prepared_transactions`` > 0, a logical slot needs
``wal_level = logical``; a horizon held on the shared session server would reach every other test). Time and
age thresholds are lowered through the checks' options, never by waiting: transaction IDs are burnt with
``txid_current()`` in autocommit. The printed fixes are then run, and the findings are gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.model import Finding, Snapshot
from auditor.throwaway import PostgresServer, start_postgres
from checks.transactions import LongTransactionOptions, StalePreparedOptions, XminHorizonOptions

SPECS = load_checks()
CODES = ("MT03", "MT04", "MT05")
LOWERED = {
    "MT03": XminHorizonOptions(max_xmin_age=20),
    "MT04": LongTransactionOptions(max_idle_in_transaction_s=0, max_transaction_s=100_000),
    "MT05": StalePreparedOptions(max_age_s=0),
}


def _shop(srv: PostgresServer) -> None:
    """Database shop with its orders table (20,000 rows)."""
    with srv.connect() as conn:
        conn.execute("CREATE DATABASE shop")
    with psycopg.connect(srv.dsn("shop"), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL)")
        conn.execute("INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 20000) g")


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    srv = start_postgres("auto", settings={"max_prepared_transactions": "4", "wal_level": "logical",
                                           "max_replication_slots": "4", "max_wal_senders": "4"})
    try:
        _shop(srv)
        yield srv
    finally:
        srv.stop()


def _scan(srv: PostgresServer, options: dict[str, object] | None = None) -> tuple[Snapshot, list[Finding]]:
    snap = collect(parse_dsn(srv.dsn("shop")), CollectOptions(sample=False, workload=False))
    result = run_checks(snap, [SPECS[c] for c in CODES], options)
    assert not result.skipped, result.skipped
    return snap, list(result.findings)


def _burn_xids(srv: PostgresServer, n: int = 40) -> None:
    with psycopg.connect(srv.dsn("shop"), autocommit=True) as conn:
        for _ in range(n):
            conn.execute("SELECT txid_current()")


def _found(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.code, f.object.label()) for f in findings}


def test_holders_are_named_then_the_printed_fixes_release_them(server: PostgresServer) -> None:
    # a logical slot whose consumer went away (created first: its creation waits for running transactions),
    # a report in REPEATABLE READ left open, a prepared transaction
    with psycopg.connect(server.dsn("shop"), autocommit=True) as conn:
        conn.execute("SET statement_timeout = '20s'")
        conn.execute("SELECT pg_create_logical_replication_slot('cdc', 'test_decoding')")
    reader = psycopg.connect(server.dsn("shop"), application_name="report")
    reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    reader.execute("SELECT count(*) FROM orders").fetchone()
    reader_pid = reader.info.backend_pid
    with psycopg.connect(server.dsn("shop"), autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute("UPDATE orders SET total = total + 1 WHERE id = 7")
        conn.execute("PREPARE TRANSACTION 'order-7781'")
    _burn_xids(server)
    try:
        # the look-alike first: with the default options, nothing here is old enough
        _, quiet = _scan(server)
        assert quiet == []

        snap, findings = _scan(server, LOWERED)
        assert snap.replication is not None and snap.replication.prepared_xacts is not None
        assert _found(findings) == {
            ("MT03", f"postgres pid {reader_pid}"),
            ("MT03", "prepared transaction order-7781"),
            ("MT03", "slot cdc"),
            ("MT04", f"postgres pid {reader_pid}"),
            ("MT05", "prepared transaction order-7781"),
        }
        # dbaudit's own session held the oldest snapshot of all (its xmin is the prepared transaction's): left out
        own = [b for b in snap.activity.backends if b.is_self] if snap.activity else []
        assert own and (own[0].xmin_age or 0) >= 20

        # each distinct printed statement once (MT03 and MT05 print the same ROLLBACK PREPARED), in the database
        # the "\\c" line names
        statements = dict.fromkeys(
            line.split("--")[0].strip() for f in findings for line in (f.remediation or "").splitlines())
        with psycopg.connect(server.dsn("shop"), autocommit=True) as conn:
            for statement in statements:
                if statement and not statement.startswith("\\c"):
                    conn.execute(statement)
        _, after = _scan(server, LOWERED)
        assert after == []
    finally:
        reader.close()
        with psycopg.connect(server.dsn("shop"), autocommit=True) as conn:
            if conn.execute("SELECT FROM pg_prepared_xacts WHERE gid = 'order-7781'").fetchone() is not None:
                conn.execute("ROLLBACK PREPARED 'order-7781'")
            if conn.execute("SELECT FROM pg_replication_slots WHERE slot_name = 'cdc'").fetchone() is not None:
                conn.execute("SELECT pg_drop_replication_slot('cdc')")


def test_a_busy_session_in_a_long_transaction_and_one_idle_outside_any(server: PostgresServer) -> None:
    busy = psycopg.connect(server.dsn("shop"), autocommit=True)
    idle = psycopg.connect(server.dsn("shop"), autocommit=True)
    idle.execute("SELECT 1")
    try:
        busy.execute("BEGIN")
        busy.execute("SELECT count(*) FROM orders").fetchone()
        opts = {"MT04": LongTransactionOptions(max_idle_in_transaction_s=100_000, max_transaction_s=0)}
        _, findings = _scan(server, opts)
        assert _found(findings) == {("MT04", f"postgres pid {busy.info.backend_pid}")}
        (f,) = findings
        assert "transaction open for" in f.message and f.details["state"] == "idle in transaction"
    finally:
        busy.close()
        idle.close()


def test_least_privilege_roles_get_the_same_holders_or_a_skip_with_the_grant(server: PostgresServer) -> None:
    """A pg_monitor-only role sees every holder; a role without it gets MT04 skipped with the GRANT, and no
    finding it could not back (another role's transaction hidden is not "no transaction")."""
    with server.connect("shop") as conn:
        conn.execute("DROP ROLE IF EXISTS watcher")
        conn.execute("DROP ROLE IF EXISTS plain_app")
        conn.execute("CREATE ROLE watcher LOGIN IN ROLE pg_monitor")
        conn.execute("CREATE ROLE plain_app LOGIN")
    reader = psycopg.connect(server.dsn("shop"), application_name="report")
    reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    reader.execute("SELECT count(*) FROM orders").fetchone()
    with psycopg.connect(server.dsn("shop"), autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute("UPDATE orders SET total = total + 1 WHERE id = 8")
        conn.execute("PREPARE TRANSACTION 'order-9'")
    _burn_xids(server)
    pid = reader.info.backend_pid
    try:
        def scan_as(role: str) -> tuple[Snapshot, list[Finding], dict[str, str | None]]:
            dsn = server.dsn("shop").replace("postgres@", f"{role}@", 1)
            snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
            result = run_checks(snap, [SPECS[c] for c in CODES], LOWERED)
            return snap, list(result.findings), {s.code: s.enable for s in result.skipped}

        _, monitor_findings, monitor_skips = scan_as("watcher")
        assert monitor_skips == {}
        assert _found(monitor_findings) == {
            ("MT03", f"postgres pid {pid}"), ("MT03", "prepared transaction order-9"),
            ("MT04", f"postgres pid {pid}"), ("MT05", "prepared transaction order-9"),
        }
        _, plain_findings, plain_skips = scan_as("plain_app")
        assert plain_skips == {"MT04": "GRANT pg_monitor TO plain_app"}
        # backend_xmin and the prepared transactions are shown to every role: MT03 and MT05 still judge
        assert _found(plain_findings) == {
            ("MT03", f"postgres pid {pid}"),
            ("MT03", "prepared transaction order-9"), ("MT05", "prepared transaction order-9"),
        }
    finally:
        reader.close()
        with server.connect("shop") as conn:
            conn.execute("ROLLBACK PREPARED 'order-9'")
            conn.execute("DROP ROLE watcher")
            conn.execute("DROP ROLE plain_app")



def test_a_holder_past_autovacuum_freeze_max_age_is_an_error_with_the_default_options() -> None:
    """rt10b: autovacuum_freeze_max_age = 100,000 (its minimum) and a snapshot 100,000+ transactions old went
    unreported with the default max_xmin_age (1,000,000); it is judged from half the freeze age on, and the
    error says why. Below half of it, silent."""
    srv = start_postgres("auto", settings={"autovacuum_freeze_max_age": "100000", "synchronous_commit": "off"})
    try:
        _shop(srv)
        with psycopg.connect(srv.dsn("shop"), autocommit=True) as conn:
            conn.execute("CREATE PROCEDURE burn(n int) LANGUAGE plpgsql AS "
                         "$$ BEGIN FOR i IN 1..n LOOP PERFORM txid_current(); COMMIT; END LOOP; END $$")
        reader = psycopg.connect(srv.dsn("shop"), application_name="weekend report")
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT count(*) FROM orders").fetchone()
        try:
            with psycopg.connect(srv.dsn("shop"), autocommit=True) as conn:
                conn.execute("CALL burn(45000)")
                _, under = _scan(srv)
                assert [f for f in under if f.code == "MT03"] == []  # 45,000: under half the freeze age
                conn.execute("CALL burn(7000)")
                _, half = _scan(srv)
                (warn,) = [f for f in half if f.code == "MT03"]
                assert warn.severity.value == "warning" and warn.details["pid"] == reader.info.backend_pid
                conn.execute("CALL burn(50000)")
            _, past = _scan(srv)
            (err,) = [f for f in past if f.code == "MT03"]
            assert err.severity.value == "error" and err.details["xmin_age"] >= 100_000
            assert "past autovacuum_freeze_max_age = 100,000" in err.message, err.message
        finally:
            reader.close()
    finally:
        srv.stop()


def test_a_session_idle_in_a_failed_transaction_is_reported_without_the_locks_wording(
        server: PostgresServer) -> None:
    """rt10b: `idle in transaction (aborted)` has no xact_start and was skipped; it ties up its connection until
    the application rolls back. It holds no lock or snapshot: MT03 stays silent on it, MT04 says so."""
    failed = psycopg.connect(server.dsn("shop"), application_name="failed checkout")
    failed.execute("BEGIN")
    with pytest.raises(psycopg.errors.DivisionByZero):
        failed.execute("SELECT 1 / 0")
    pid = failed.info.backend_pid
    try:
        snap, findings = _scan(server, LOWERED)
        assert snap.activity is not None
        (b,) = [b for b in snap.activity.backends if b.pid == pid]
        assert b.state == "idle in transaction (aborted)" and b.xact_start is None
        assert _found(findings) == {("MT04", f"postgres pid {pid}")}, [f.message for f in findings]
        (hit,) = findings
        assert "failed transaction" in hit.message and "keeps its locks" not in hit.message
        # its threshold: idle for well under a minute, silent at 60 s
        _, later = _scan(server, {**LOWERED, "MT04": LongTransactionOptions(max_idle_in_transaction_s=60)})
        assert later == []
        # the printed fix runs (the role setting is reset afterwards: the role is the test server's superuser)
        with psycopg.connect(server.dsn("shop"), autocommit=True) as conn:
            for line in (hit.remediation or "").splitlines():
                conn.execute(line.split("--")[0])
            conn.execute("ALTER ROLE postgres RESET idle_in_transaction_session_timeout")
        _, after = _scan(server, LOWERED)
        assert after == []
    finally:
        failed.close()
