"""RP02 and MT04 on real MariaDB servers: a primary with the binary log and a replica following it.

The replica's status comes from SHOW ALL SLAVES STATUS as MariaDB 10.11 prints it (MySQL 8's SHOW REPLICA STATUS
spelling is tested on recorded rows in test_checks_replication_capacity.py: no MySQL 8 server here). A stopped
SQL thread is reported as an error and the printed START SLAVE resumes it; a replica that keeps up and the
primary's binlog dump thread are not findings. An account with SELECT on the schema and performance_schema gets
MT04 and RP02 skipped with their GRANTs and no finding.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pymysql
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.model import Finding, Snapshot
from auditor.throwaway_mysql import MariaDbServer, find_mariadb, start_mariadb
from checks.transactions import LongTransactionOptions

pytestmark = pytest.mark.skipif(find_mariadb() is None, reason="no MariaDB server binary on this machine")

SPECS = load_checks()
LOWERED = {"MT04": LongTransactionOptions(max_idle_in_transaction_s=0, max_transaction_s=100_000)}


def _run(conn: pymysql.connections.Connection[pymysql.cursors.Cursor], sql: str) -> list[tuple[object, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[MariaDbServer, MariaDbServer]]:
    primary = start_mariadb(extra_args=("--log-bin=primary-bin", "--server-id=1", "--binlog-format=ROW"))
    replica: MariaDbServer | None = None
    try:
        replica = start_mariadb(extra_args=("--server-id=2", "--relay-log=replica-relay"))
        with primary.connect() as conn:
            _run(conn, "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-secret-1'")
            _run(conn, "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'")
            file, pos = _run(conn, "SHOW MASTER STATUS")[0][:2]
            _run(conn, "CREATE DATABASE shop")
            _run(conn, "USE shop")
            _run(conn, "CREATE TABLE shop.orders (id int PRIMARY KEY, total decimal(10,2) NOT NULL)")
            _run(conn, "INSERT INTO shop.orders SELECT seq, seq * 1.5 FROM seq_1_to_5000")
        with replica.connect() as conn:
            _run(conn, f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, "
                       f"MASTER_USER='repl', MASTER_PASSWORD='repl-secret-1', MASTER_LOG_FILE='{file}', "
                       f"MASTER_LOG_POS={pos}, MASTER_USE_GTID=no, MASTER_CONNECT_RETRY=1")
            _run(conn, "START SLAVE")
        _wait_for_rows(replica, 5000)
        yield primary, replica
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


def _wait_for_rows(replica: MariaDbServer, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with replica.connect() as conn:
            try:
                if _run(conn, "SELECT COUNT(*) FROM shop.orders")[0][0] == n:
                    return
            except pymysql.err.ProgrammingError:
                pass  # not replicated yet
        time.sleep(0.1)
    raise AssertionError("the replica did not catch up")


def _scan(dsn: str, codes: tuple[str, ...], options: dict[str, object] | None = None,
          ) -> tuple[Snapshot, list[Finding], dict[str, str | None]]:
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    result = run_checks(snap, [SPECS[c] for c in codes], options)
    return snap, list(result.findings), {s.code: s.enable for s in result.skipped}


def test_a_replica_that_keeps_up_then_a_stopped_sql_thread(pair: tuple[MariaDbServer, MariaDbServer]) -> None:
    primary, replica = pair
    snap, quiet, skipped = _scan(replica.dsn("shop"), ("RP02",))
    assert not skipped and quiet == []
    assert snap.replication is not None and snap.replication.replicas is not None
    (channel,) = snap.replication.replicas
    assert (channel.io_running, channel.sql_running, channel.seconds_behind) == ("Yes", "Yes", 0)
    assert channel.source == f"127.0.0.1:{primary.port}"
    # the primary replicates from nowhere
    primary_snap, primary_findings, _ = _scan(primary.dsn("shop"), ("RP02",))
    assert primary_snap.replication is not None and primary_snap.replication.replicas == ()
    assert primary_findings == []

    with replica.connect() as conn:
        _run(conn, "STOP SLAVE SQL_THREAD")
    _, findings, _ = _scan(replica.dsn("shop"), ("RP02",))
    assert [(f.code, f.severity.value, f.object.label()) for f in findings] == [("RP02", "error", "replica")]
    assert "SQL thread No" in findings[0].message
    fix = (findings[0].remediation or "").splitlines()[-1]
    assert fix == "START SLAVE;"
    with replica.connect() as conn:
        _run(conn, fix)
    _, after, _ = _scan(replica.dsn("shop"), ("RP02",))
    assert after == []


def test_an_idle_transaction_on_the_primary_is_found_and_replication_threads_are_not(
        pair: tuple[MariaDbServer, MariaDbServer]) -> None:
    primary, _ = pair
    holder = primary.connect("shop")
    try:
        _run(holder, "BEGIN")
        _run(holder, "UPDATE orders SET total = total + 1 WHERE id = 7")
        thread = _run(holder, "SELECT CONNECTION_ID()")[0][0]
        snap, findings, skipped = _scan(primary.dsn("shop"), ("MT04",), LOWERED)
        assert not skipped
        assert [(f.code, f.object.label()) for f in findings] == [("MT04", f"root connection {thread}")]
        assert "1 row(s) modified" in findings[0].message
        assert findings[0].message.startswith(f"connection {thread} of root") and " pid " not in findings[0].message
        assert findings[0].remediation is not None and findings[0].remediation.startswith(f"KILL {thread};")
        assert snap.activity is not None
        assert any(b.backend_type == "replication" for b in snap.activity.backends)  # the binlog dump thread
        _, defaults, _ = _scan(primary.dsn("shop"), ("MT04",))
        assert defaults == []  # a moment idle is not 30 minutes
    finally:
        holder.close()


def test_a_least_privilege_account_gets_skips_with_grants(pair: tuple[MariaDbServer, MariaDbServer]) -> None:
    _, replica = pair
    user, password = "aud_" + uuid.uuid4().hex[:6], "aud-" + uuid.uuid4().hex[:8]
    with replica.connect() as conn:
        _run(conn, "SET SESSION sql_log_bin = 0")
        _run(conn, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        _run(conn, f"GRANT SELECT ON shop.* TO '{user}'@'%'")
        _run(conn, f"GRANT SELECT ON performance_schema.* TO '{user}'@'%'")
    try:
        limited = replica.dsn("shop", user=user, password=password)
        _, findings, skipped = _scan(limited, ("MT04", "RP02"))
        assert findings == []
        assert skipped == {"MT04": f"GRANT PROCESS ON *.* TO '{user}'@'%'",
                           "RP02": f"GRANT SLAVE MONITOR ON *.* TO '{user}'@'%'"}
        with replica.connect() as conn:
            _run(conn, f"GRANT PROCESS, SLAVE MONITOR ON *.* TO '{user}'@'%'")
        _, findings, skipped = _scan(limited, ("MT04", "RP02"))
        assert findings == [] and skipped == {}
    finally:
        with replica.connect() as conn:
            _run(conn, f"DROP USER '{user}'@'%'")


def test_the_whole_report_of_a_least_privilege_account_has_no_false_finding(
        pair: tuple[MariaDbServer, MariaDbServer]) -> None:
    """Every check, as root and as an account with SELECT on the schema and performance_schema: the account's
    findings are root's minus what it may not read, each such check skipped with its GRANT."""
    _, replica = pair
    user, password = "all_" + uuid.uuid4().hex[:6], "aud-" + uuid.uuid4().hex[:8]
    with replica.connect() as conn:
        _run(conn, "SET SESSION sql_log_bin = 0")
        _run(conn, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        _run(conn, f"GRANT SELECT ON shop.* TO '{user}'@'%'")
        _run(conn, f"GRANT SELECT ON performance_schema.* TO '{user}'@'%'")
    try:
        codes = tuple(sorted(SPECS))
        _, root_findings, root_skips = _scan(replica.dsn("shop"), codes)
        _, findings, skips = _scan(replica.dsn("shop", user=user, password=password), codes)
        labels = {(f.code, f.object.label()) for f in findings}
        root_labels = {(f.code, f.object.label()) for f in root_findings}
        assert labels <= root_labels, labels - root_labels
        for code in set(skips) - set(root_skips):
            assert skips[code], f"{code} skipped without the grant that enables it"
        assert {"MT04", "RP02", "SC07", "SC08", "SC09"} <= set(skips)
        assert {code for code, _ in root_labels - labels} <= set(skips), root_labels - labels
    finally:
        with replica.connect() as conn:
            _run(conn, f"DROP USER '{user}'@'%'")
