"""RP01, RP02 (and MT03's standby feedback, CP01, CP02) on a real primary with a real streaming standby.

A throwaway primary and a standby made from it with pg_basebackup, streaming through the physical slot
``replica1`` with hot_standby_feedback; an abandoned slot ``old_replica`` keeps WAL on the primary. Thresholds
are lowered through the options; the test waits only for replication itself to happen (bounded polls), never
for a threshold to be reached.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.model import Finding, Snapshot
from auditor.throwaway import HBA, REPLICATION_HBA, PostgresServer, start_postgres, start_standby
from checks.capacity import PartitionCandidateOptions, ToastHeavyOptions
from checks.replication import ReplicationLagOptions, SlotRetentionOptions
from checks.transactions import LongTransactionOptions, XminHorizonOptions

SPECS = load_checks()
MIB = 1024**2


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PostgresServer, PostgresServer]]:
    primary = start_postgres("auto", hba=HBA + REPLICATION_HBA, settings={"max_wal_size": "'64MB'"})
    standby: PostgresServer | None = None
    try:
        with primary.connect() as conn:
            conn.execute("CREATE DATABASE shop")
            conn.execute("SELECT pg_create_physical_replication_slot('replica1')")
        with psycopg.connect(primary.dsn("shop"), autocommit=True) as conn:
            conn.execute("CREATE TABLE events (id bigint PRIMARY KEY, tenant_id int NOT NULL, "
                         "created_at timestamptz NOT NULL DEFAULT now(), body text)")
            # TOAST-heavy: 400 rows of ~40 kB of incompressible text each
            conn.execute("INSERT INTO events (id, tenant_id, body) SELECT g, g % 7, "
                         "(SELECT string_agg(md5(g::text || '-' || i::text), '') FROM generate_series(1, 1250) i) "
                         "FROM generate_series(1, 400) g")
            conn.execute("CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL)")
            conn.execute("INSERT INTO tags SELECT g, 'tag ' || g FROM generate_series(1, 500) g")
            conn.execute("VACUUM ANALYZE")  # relpages of the tables and their TOAST
        standby = start_standby(primary, slot="replica1", settings={
            "hot_standby_feedback": "on", "wal_receiver_status_interval": "'1s'", "cluster_name": "'replica1'",
            # a query holding a lock replay needs stalls replay until it ends (the stalled-standby test)
            "max_standby_streaming_delay": "-1"})
        _wait_until(lambda: _caught_up(primary), "the standby to catch up")
        yield primary, standby
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _caught_up(primary: PostgresServer) -> bool:
    with primary.connect() as conn:
        row = conn.execute("SELECT count(*) FILTER (WHERE replay_lsn = pg_current_wal_lsn()), count(*) "
                           "FROM pg_stat_replication").fetchone()
    return row is not None and row[1] == 1 and row[0] == 1


def _scan(srv: PostgresServer, codes: tuple[str, ...], options: dict[str, object] | None = None,
          user: str | None = None) -> tuple[Snapshot, list[Finding], dict[str, str | None]]:
    dsn = srv.dsn("shop")
    if user is not None:
        dsn = dsn.replace("postgres@", f"{user}@", 1)
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    result = run_checks(snap, [SPECS[c] for c in codes], options)
    return snap, list(result.findings), {s.code: s.enable for s in result.skipped}


def _labels(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.code, f.object.label()) for f in findings}


def _write_wal(primary: PostgresServer, rows: int = 60_000) -> None:
    with psycopg.connect(primary.dsn("shop"), autocommit=True) as conn:
        conn.execute(f"INSERT INTO tags SELECT g, repeat('x', 300) FROM generate_series(100000, {100000 + rows}) g")
        conn.execute("DELETE FROM tags WHERE id >= 100000")


def test_an_abandoned_slot_is_reported_and_the_live_one_is_not(pair: tuple[PostgresServer, PostgresServer]) -> None:
    primary, _ = pair
    with primary.connect() as conn:
        conn.execute("SELECT pg_create_physical_replication_slot('old_replica', true)")
    try:
        _write_wal(primary)
        _wait_until(lambda: _caught_up(primary), "the standby to catch up")
        opts = {"RP01": SlotRetentionOptions(min_retained_bytes=16 * MIB)}
        snap, findings, skipped = _scan(primary, ("RP01",), opts)
        assert not skipped
        assert _labels(findings) == {("RP01", "slot old_replica")}, [f.message for f in findings]
        assert snap.replication is not None
        slots = {s.name: s for s in snap.replication.slots or ()}
        assert slots["replica1"].active and not slots["old_replica"].active
        assert (slots["old_replica"].retained_bytes or 0) >= 16 * MIB
        # the byte floor: a consumer briefly away is not a finding
        _, quiet, _ = _scan(primary, ("RP01",))
        assert quiet == []
        # the printed fix, run
        with primary.connect() as conn:
            statement = findings[0].remediation.splitlines()[0].split("--")[0]  # type: ignore[union-attr]
            conn.execute(statement)
        _, after, _ = _scan(primary, ("RP01",), opts)
        assert after == []
    finally:
        with primary.connect() as conn:
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE slot_name = 'old_replica'")


def test_an_unreserved_slot_names_max_slot_wal_keep_size_and_never_lowers_it(
        pair: tuple[PostgresServer, PostgresServer]) -> None:
    """rt10b: wal_status = unreserved means past max_slot_wal_keep_size (past max_wal_size is `extended`); the
    fix must not propose a limit at or under the one crossed, and the drop it prints runs."""
    primary, _ = pair
    with primary.connect() as conn:
        conn.execute("SELECT pg_create_physical_replication_slot('old_replica', true)")
        conn.execute("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        with primary.connect() as conn:
            conn.execute("SELECT pg_switch_wal()")  # old_replica's segment is now behind the 1 MB the limit keeps
            conn.execute("SELECT txid_current()")
        _wait_until(lambda: _caught_up(primary), "the standby to catch up")
        snap, findings, _ = _scan(primary, ("RP01",))
        assert snap.settings.get("max_slot_wal_keep_size") == "1MB"
        assert _labels(findings) == {("RP01", "slot old_replica")}, [f.message for f in findings]
        (hit,) = findings
        assert hit.details["wal_status"] == "unreserved"
        assert "past max_slot_wal_keep_size = 1.0 MB" in hit.message and "max_wal_size" not in hit.message
        assert "its consumer is not connected" in hit.message
        fix = hit.remediation or ""
        assert "ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'" in fix and "50GB" not in fix, fix
        with primary.connect() as conn:  # the printed fix, run: the slot's consumer is gone
            conn.execute(fix.splitlines()[0].split("--")[0])
        _, after, _ = _scan(primary, ("RP01",))
        assert after == []
    finally:
        with primary.connect() as conn:
            conn.execute("ALTER SYSTEM RESET max_slot_wal_keep_size")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE slot_name = 'old_replica'")


def test_replication_lag_on_both_sides_and_the_idle_guard(pair: tuple[PostgresServer, PostgresServer]) -> None:
    primary, standby = pair
    _wait_until(lambda: _caught_up(primary), "the standby to catch up")
    tight = {"RP02": ReplicationLagOptions(max_lag_s=0, max_lag_bytes=1)}
    # idle: everything received is replayed; neither side reports lag even with the tightest options (the
    # primary may still write a running-transactions record now and then: quiet within a few seconds)
    snap, _, skipped = _scan(standby, ("RP02",), tight)
    assert not skipped and snap.replication is not None and snap.replication.in_recovery
    _wait_until(lambda: _scan(standby, ("RP02",), tight)[1] == [], "the idle standby to report no lag", 15)
    lenient_time = {"RP02": ReplicationLagOptions(max_lag_s=1e9, max_lag_bytes=1)}
    _wait_until(lambda: _scan(primary, ("RP02",), lenient_time)[1] == [], "the idle primary to report no lag", 15)

    with standby.connect() as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        _write_wal(primary, 5_000)
        with standby.connect() as conn:
            _wait_until(lambda: bool(conn.execute(
                "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()").fetchone()[0]),  # type: ignore[index]
                "WAL received but not replayed")
        _, lag_standby, _ = _scan(standby, ("RP02",))
        assert _labels(lag_standby) == {("RP02", "replica")}
        assert "replay is paused" in lag_standby[0].message
        assert lag_standby[0].remediation == "SELECT pg_wal_replay_resume();"
        _wait_until(lambda: _replay_behind(primary), "pg_stat_replication to show the gap")
        _, lag_primary, _ = _scan(primary, ("RP02",), {"RP02": ReplicationLagOptions(max_lag_s=1e9,
                                                                                         max_lag_bytes=1)})
        assert _labels(lag_primary) == {("RP02", "standby replica1")}
        # the default byte floor (1 GiB) is far from a few MB of WAL: silent
        _, default_primary, _ = _scan(primary, ("RP02",), {"RP02": ReplicationLagOptions(max_lag_s=1e9)})
        assert default_primary == []
    finally:
        with standby.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    _wait_until(lambda: _caught_up(primary), "the standby to catch up")


def test_a_caught_up_standby_while_the_primary_writes_without_committing_is_not_lag(
        pair: tuple[PostgresServer, PostgresServer]) -> None:
    """rt10b: a bulk load (one long transaction) on the primary keeps received WAL a record or a page ahead of
    replay while the last replayed commit ages; the standby is caught up and RP02 must stay silent on it."""
    primary, standby = pair
    with psycopg.connect(primary.dsn("shop"), autocommit=True) as conn:
        conn.execute("CREATE TABLE bulk_load (g int, v text)")
        conn.execute("INSERT INTO bulk_load VALUES (0, 'committed before the load')")
    _wait_until(lambda: _caught_up(primary), "the standby to catch up")
    loader = psycopg.connect(primary.dsn("shop"), autocommit=True)
    load = threading.Thread(target=_run_until_cancelled, args=(
        loader, "INSERT INTO bulk_load SELECT g, md5(g::text) FROM generate_series(1, 10000000) g "
                "WHERE pg_sleep(0.0005) IS NOT NULL"))
    load.start()
    tight_time = {"RP02": ReplicationLagOptions(max_lag_s=0)}
    try:
        seen_waiting = 0
        deadline = time.monotonic() + 30
        while seen_waiting < 2 and time.monotonic() < deadline:
            snap, findings, _ = _scan(standby, ("RP02",), tight_time)
            assert snap.replication is not None and snap.replication.replicas
            replica = snap.replication.replicas[0]
            assert replica.last_replay_at is not None  # the commit before the load: its age is past max_lag_s=0
            if (replica.receive_replay_bytes or 0) > 0:
                seen_waiting += 1
                assert (replica.replay_moved_bytes or 0) > 0, replica
            assert findings == [], [f.message for f in findings]
        assert seen_waiting == 2, "the bulk load never left WAL waiting on the standby: the trap was not set"
    finally:
        loader.cancel()
        load.join(10)
        loader.close()
        with psycopg.connect(primary.dsn("shop"), autocommit=True) as conn:
            conn.execute("DROP TABLE bulk_load")
    _wait_until(lambda: _caught_up(primary), "the standby to catch up")


def _run_until_cancelled(conn: psycopg.Connection[tuple[object, ...]], sql: str) -> None:
    with contextlib.suppress(psycopg.errors.QueryCanceled):
        conn.execute(sql)


def test_a_stalled_standby_replay_is_lag_without_a_pause(pair: tuple[PostgresServer, PostgresServer]) -> None:
    """A query on the standby holding a lock the next record needs (max_standby_streaming_delay = -1): replay
    stops without being paused, and the second reading of the replay position shows it did not move."""
    primary, standby = pair
    with psycopg.connect(primary.dsn("shop"), autocommit=True) as conn:
        conn.execute("CREATE TABLE stall (id int)")
    with psycopg.connect(standby.dsn("shop"), autocommit=True) as conn:
        _wait_until(lambda: conn.execute("SELECT to_regclass('stall')").fetchone() != (None,),
                    "the table to reach the standby")
    reader = psycopg.connect(standby.dsn("shop"))
    try:
        reader.execute("SELECT count(*) FROM stall").fetchone()  # keeps its ACCESS SHARE lock until rollback
        with psycopg.connect(primary.dsn("shop"), autocommit=True) as conn:
            with conn.transaction():
                conn.execute("LOCK TABLE stall IN ACCESS EXCLUSIVE MODE")  # logged: replay must take it too
            conn.execute("INSERT INTO stall VALUES (1)")
        with standby.connect() as conn:
            _wait_until(lambda: bool(conn.execute(
                "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()").fetchone()[0]),  # type: ignore[index]
                "WAL received but not replayed")
        snap, findings, _ = _scan(standby, ("RP02",), {"RP02": ReplicationLagOptions(max_lag_s=0)})
        assert _labels(findings) == {("RP02", "replica")}, [f.message for f in findings]
        assert "did not move in half a second" in findings[0].message
        assert findings[0].details["replay_moved_bytes"] == 0
        # its threshold: the last replayed commit is seconds old, under the default minute
        _, defaults, _ = _scan(standby, ("RP02",))
        assert defaults == []
    finally:
        reader.close()
    _wait_until(lambda: _caught_up(primary), "the standby to catch up")
    with psycopg.connect(primary.dsn("shop"), autocommit=True) as conn:
        conn.execute("DROP TABLE stall")


def _replay_behind(primary: PostgresServer) -> bool:
    with primary.connect() as conn:
        row = conn.execute("SELECT bool_or(replay_lsn < pg_current_wal_lsn()) FROM pg_stat_replication").fetchone()
    return bool(row and row[0])


def test_standby_feedback_holding_the_horizon_is_named(pair: tuple[PostgresServer, PostgresServer]) -> None:
    primary, standby = pair
    reader = psycopg.connect(standby.dsn("shop"))
    reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    reader.execute("SELECT count(*) FROM tags").fetchone()
    try:
        with psycopg.connect(primary.dsn("shop"), autocommit=True) as conn:
            for _ in range(40):
                conn.execute("SELECT txid_current()")

        def slot_xmin_age() -> int:
            with primary.connect() as conn:
                row = conn.execute("SELECT coalesce(age(xmin), 0) FROM pg_replication_slots "
                                   "WHERE slot_name = 'replica1'").fetchone()
            return int(row[0]) if row else 0

        _wait_until(lambda: slot_xmin_age() >= 40, "the standby's feedback to reach the slot")
        snap, findings, _ = _scan(primary, ("MT03",), {"MT03": XminHorizonOptions(max_xmin_age=40)})
        assert _labels(findings) == {("MT03", "slot replica1")}
        (held,) = findings
        assert snap.replication is not None
        (walsender,) = snap.replication.standbys or ()
        # rt10b: the slot is in use, dropping it fails and would not help; the walsender and the standby named
        assert "hot_standby_feedback" in held.message and f"walsender pid {walsender.pid}" in held.message
        assert "standby replica1 at 127.0.0.1" in held.message, held.message
        assert held.remediation is not None and "pg_drop_replication_slot" not in held.remediation
        # the printed fix, run on the standby: the slot's xmin is released and MT03 falls silent
        with standby.connect() as conn:
            for statement in held.remediation.split(";"):
                if statement.split("\n")[-1].strip():
                    conn.execute("\n".join(line for line in statement.splitlines() if not line.startswith("--")))
        _wait_until(lambda: slot_xmin_age() == 0, "the slot's xmin to be released")
        _, after, _ = _scan(primary, ("MT03",), {"MT03": XminHorizonOptions(max_xmin_age=40)})
        assert after == []
    finally:
        reader.close()
        with standby.connect() as conn:
            conn.execute("ALTER SYSTEM RESET hot_standby_feedback")
            conn.execute("SELECT pg_reload_conf()")


def test_mt04_on_a_standby_prints_the_role_setting_for_the_primary(
        pair: tuple[PostgresServer, PostgresServer]) -> None:
    """rt10b: the timeout fix (ALTER ROLE ... SET) fails on a read-only standby; it is to be run on the primary,
    from where it replicates, and the printed fix says so."""
    primary, standby = pair
    with primary.connect() as conn:
        conn.execute("CREATE ROLE report_app LOGIN")
    with standby.connect() as conn:
        _wait_until(lambda: conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'report_app'"
                                         ).fetchone() == (1,), "the role to reach the standby")
    idle = psycopg.connect(standby.dsn("shop").replace("postgres@", "report_app@", 1))
    try:
        idle.execute("SELECT 1").fetchone()  # a transaction opened, then left idle
        _, findings, _ = _scan(standby, ("MT04",),
                               {"MT04": LongTransactionOptions(max_idle_in_transaction_s=0)})
        (hit,) = findings
        fix = hit.remediation or ""
        assert "-- on the primary" in fix, fix
        alter = next(line for line in fix.splitlines() if line.startswith("ALTER ROLE"))
        with standby.connect() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(alter)
        with primary.connect() as conn:
            conn.execute(alter)
        with standby.connect() as conn:
            _wait_until(lambda: conn.execute(
                "SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
                "WHERE r.rolname = 'report_app'").fetchone() == (1,), "the role setting to replicate")
        # the primary itself: no hint
        with psycopg.connect(primary.dsn("shop").replace("postgres@", "report_app@", 1)) as on_primary:
            on_primary.execute("SELECT 1").fetchone()
            _, there, _ = _scan(primary, ("MT04",), {"MT04": LongTransactionOptions(max_idle_in_transaction_s=0)})
            assert there and all("on the primary" not in (f.remediation or "") for f in there)
    finally:
        idle.close()
        with primary.connect() as conn:
            conn.execute("DROP ROLE report_app")


def test_capacity_checks_on_real_sizes(pair: tuple[PostgresServer, PostgresServer]) -> None:
    primary, _ = pair
    opts = {"CP01": ToastHeavyOptions(min_toast_bytes=4 * MIB),
            "CP02": PartitionCandidateOptions(min_rows=400)}
    snap, findings, _ = _scan(primary, ("CP01", "CP02"), opts)
    events = snap.table("public", "events")
    assert events is not None and (events.toast_bytes or 0) > 10 * (events.table_bytes or 1)
    assert _labels(findings) == {("CP01", "public.events"), ("CP02", "public.events")}
    cp02 = next(f for f in findings if f.code == "CP02")
    assert cp02.details["partition_key"] == "created_at" and cp02.details["tenant_column"] == "tenant_id"
    # tags has 500 rows but no time or tenant column: no key to propose, no finding; with default options
    # nothing here is big enough
    _, defaults, _ = _scan(primary, ("CP01", "CP02"))
    assert defaults == []
    # the printed CREATE TABLE ... PARTITION BY runs
    with psycopg.connect(primary.dsn("shop"), autocommit=True) as conn:
        conn.execute(cp02.remediation or "")
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'events_partitioned'").fetchone()
        assert kind is not None and kind[0] == "p"
        conn.execute("DROP TABLE events_partitioned")


def test_least_privilege_roles_on_the_primary(pair: tuple[PostgresServer, PostgresServer]) -> None:
    primary, _ = pair
    with primary.connect() as conn:
        conn.execute("CREATE ROLE rp_watcher LOGIN IN ROLE pg_monitor")
        conn.execute("CREATE ROLE rp_plain LOGIN")
    try:
        codes = ("RP01", "RP02", "MT03", "MT05")
        _, monitor, monitor_skips = _scan(primary, codes, user="rp_watcher")
        assert monitor == [] and monitor_skips == {}
        _, plain, plain_skips = _scan(primary, codes, user="rp_plain")
        # the standby's positions are hidden from a role without pg_read_all_stats: RP02 skipped, with the grant
        assert plain == [] and plain_skips == {"RP02": "GRANT pg_monitor TO rp_plain"}
    finally:
        with primary.connect() as conn:
            conn.execute("DROP ROLE rp_watcher")
            conn.execute("DROP ROLE rp_plain")


def test_a_pg_monitor_role_gets_the_whole_report_without_a_false_finding(
        pair: tuple[PostgresServer, PostgresServer]) -> None:
    """Every check, as the superuser and as a pg_monitor-only role: the role's findings are the superuser's
    minus what it may not read, and what it may not read is skipped with the GRANT that lifts it."""
    primary, _ = pair
    with primary.connect() as conn:
        conn.execute("CREATE ROLE full_watcher LOGIN IN ROLE pg_monitor")
    try:
        codes = tuple(sorted(SPECS))
        _, root_findings, root_skips = _scan(primary, codes)
        _, findings, skips = _scan(primary, codes, user="full_watcher")
        assert _labels(findings) <= _labels(root_findings), _labels(findings) - _labels(root_findings)
        for code in set(skips) - set(root_skips):
            assert skips[code], f"{code} skipped without the grant that enables it"
        # the superuser-only areas: pg_hba_file_rules (SC01) and pg_authid (SC02's roles)
        assert "SC01" in skips and "pg_hba_file_rules" in (skips["SC01"] or "")
        # ST05 judges every role but the audit role itself: the superuser's scan names full_watcher
        missing = _labels(root_findings) - _labels(findings) - {("ST05", "full_watcher")}
        assert {code for code, _ in missing} <= set(skips), missing
    finally:
        with primary.connect() as conn:
            conn.execute("DROP ROLE full_watcher")
