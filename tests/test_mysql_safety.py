"""Pointed at production, on a real MariaDB: metadata locks end with each statement, every wait ends, TLS as
ssl_mode asks, and what an account cannot see never turns into a finding.

A dedicated server is started for the cases that stop it (SIGSTOP) or that need TLS; the rest use the
session's server.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.connectors.guard import statement_bound_s
from auditor.connectors.mysql import _connect, collect
from auditor.dsn import parse_dsn
from auditor.errors import ConnectError
from auditor.model import Snapshot
from auditor.throwaway_mysql import MariaDbServer, find_mariadb, start_mariadb
from tests.mysql_support import (  # noqa: F401  (fixtures)
    NO_SERVER_BINARY,
    MySqlServer,
    mysql_new_db,
    mysql_server,
    mysql_server_no_ps,
    new_db_on,
)
from tests.test_bad_input import dbaudit
from tests.test_bad_input_table import assert_one_line

SCHEMA = """
CREATE TABLE a_small (id int PRIMARY KEY, note varchar(40) NOT NULL);
INSERT INTO a_small SELECT seq, CONCAT('note ', seq) FROM seq_1_to_2000;
CREATE TABLE big (id int PRIMARY KEY, grp int NOT NULL, label char(32) NOT NULL, bucket int NOT NULL);
INSERT INTO big SELECT seq, seq % 1000, MD5(seq), seq % 7 FROM seq_1_to_400000;
CREATE TABLE loose (x int, y varchar(10));
ANALYZE TABLE a_small, big, loose;
"""
SLACK_S = 8.0


def _cli(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DBAUDIT_DSN"}
    return subprocess.Popen([sys.executable, "-m", "auditor.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _sampling_connection(server: Any, db: str, timeout: float = 60.0) -> int:
    """The connection id of dbaudit's session once it samples ``big``."""
    deadline = time.monotonic() + timeout
    with server.connect() as conn, conn.cursor() as cur:
        while time.monotonic() < deadline:
            # dbaudit's session has no default database (PROCESSLIST.DB NULL): its sample names `db`.`big`
            cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE %s"
                        " AND INFO LIKE %s AND INFO NOT LIKE %s", (f"%`{db}`.`big`%", "%dbaudit_probe%",
                                                                  "%PROCESSLIST%"))
            row = cur.fetchone()
            if row:
                return int(row[0])
            time.sleep(0.02)
    raise AssertionError("dbaudit never sampled big")


def _assert_partial(proc: subprocess.Popen[str], out: str, err: str, *fragments: str) -> dict[str, Any]:
    assert proc.returncode == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dbaudit: error: partial report: the scan stopped early: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    report = json.loads(out)
    assert report["partial"] and report["score"]["grade"] == "not graded"
    assert ("KY01", "loose") in {(f["code"], f["object"].get("table")) for f in report["findings"]}
    return report


@pytest.fixture(scope="module")
def safety_db(mysql_server: MySqlServer) -> tuple[str, str]:  # noqa: F811
    return new_db_on(mysql_server, SCHEMA)


# ------------------------------------------------------------------------------------------------------------
# Metadata locks end with each statement
# ------------------------------------------------------------------------------------------------------------


def test_alter_table_during_the_sample_waits_under_a_second(mysql_server: MySqlServer,  # noqa: F811
                                                            safety_db: tuple[str, str]) -> None:
    db, dsn = safety_db
    result: dict[str, Snapshot | BaseException] = {}

    def scan() -> None:
        try:
            result["snap"] = collect(parse_dsn(dsn), CollectOptions(workload=False, sample_rows=1_000_000))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=scan, daemon=True)
    thread.start()
    conn_id = _sampling_connection(mysql_server, db)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION lock_wait_timeout = 20")
        started = time.perf_counter()
        cur.execute("ALTER TABLE a_small ADD COLUMN during_sample int")
        waited = time.perf_counter() - started
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s AND INFO LIKE %s",
                    (conn_id, "%`big`%"))
        still_sampling = cur.fetchone() == (1,)
    thread.join(120)
    assert "error" not in result, result
    assert waited < 1.0, f"ALTER TABLE waited {waited:.2f} s behind the scan"
    assert still_sampling, "the sample of big ended before the ALTER"
    print(f"\nMariaDB ALTER TABLE during the sample of big: waited {waited * 1000:.0f} ms")


def _scan_in_thread(dsn: str) -> tuple[threading.Thread, dict[str, Snapshot | BaseException]]:
    result: dict[str, Snapshot | BaseException] = {}

    def scan() -> None:
        try:
            # the per-table limit well above the sample's time on a loaded machine: only a yield ends it early
            result["snap"] = collect(parse_dsn(dsn), CollectOptions(workload=False, sample_rows=1_000_000,
                                                                    sample_table_timeout_s=60.0))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=scan, daemon=True)
    thread.start()
    return thread, result


def test_ddl_on_the_table_being_sampled_makes_the_sample_yield(mysql_server: MySqlServer,  # noqa: F811
                                                               safety_db: tuple[str, str]) -> None:
    """An ALTER TABLE on the very table being read waits only until dbaudit sees it waiting for the metadata
    lock and kills its own sample; the table is reported as not sampled, naming the session."""
    db, dsn = safety_db
    thread, result = _scan_in_thread(dsn)
    _sampling_connection(mysql_server, db)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION lock_wait_timeout = 20")
        app_id = conn.thread_id()
        started = time.perf_counter()
        cur.execute("ALTER TABLE big ADD COLUMN during_sample int")
        waited = time.perf_counter() - started
        cur.execute("ALTER TABLE big DROP COLUMN during_sample")
    thread.join(120)
    snap = result.get("snap")
    assert isinstance(snap, Snapshot), result
    assert waited < 1.0, f"ALTER TABLE on the sampled table waited {waited:.2f} s"
    big = next(t for t in snap.sampling.tables if t.table == "big")
    assert big.rows == 0 and f"yielded to session {app_id}" in (big.skipped_reason or ""), big
    notes = [n for n in snap.notes if n.area == "sampling" and f"{db}.big" in n.objects]
    assert len(notes) == 1 and f"1 table not sampled: yielded to session {app_id}" in notes[0].message, notes
    print(f"\nMariaDB ALTER TABLE on the table being sampled: waited {waited * 1000:.0f} ms")


def test_a_table_another_session_locked_with_lock_tables_is_named_in_the_notes(
        mysql_server: MySqlServer) -> None:  # noqa: F811
    """LOCK TABLES ... WRITE in another session: the locked table and the foreign-key join of a table that
    references it are not sampled, and the notes name both; InnoDB's counters are still read (MT08 and MT11
    are not skipped for a privilege the account has)."""
    db, dsn = new_db_on(mysql_server, """
CREATE TABLE accounts (id int PRIMARY KEY, region char(2) NOT NULL, plan varchar(20) NOT NULL) ENGINE=InnoDB;
INSERT INTO accounts SELECT seq, ELT(1 + seq % 4, 'eu', 'us', 'ap', 'sa'), ELT(1 + seq % 3, 'free', 'pro', 'team')
  FROM seq_1_to_20000;
CREATE TABLE invoices (id int PRIMARY KEY, account_id int NOT NULL, account_region char(2) NOT NULL,
  total int NOT NULL, CONSTRAINT fk_invoices_account FOREIGN KEY (account_id) REFERENCES accounts (id))
  ENGINE=InnoDB;
INSERT INTO invoices SELECT seq, a.id, a.region, seq % 997 FROM seq_1_to_60000
  JOIN accounts a ON a.id = 1 + seq % 20000;
ANALYZE TABLE accounts, invoices;
""")
    with mysql_server.connect(db) as locker, locker.cursor() as cur:
        cur.execute("LOCK TABLES accounts WRITE")
        try:
            snap = collect(parse_dsn(dsn), CollectOptions(workload=False))
        finally:
            cur.execute("UNLOCK TABLES")
    assert snap.sampling is not None
    accounts = snap.sampling.table(db, "accounts")
    invoices = snap.sampling.table(db, "invoices")
    assert accounts is not None and accounts.rows == 0 and accounts.skipped_reason, accounts
    assert invoices is not None and invoices.rows > 0
    (join,) = invoices.fk_joins
    assert join.skipped_reason and join.rows == 0
    sampling = [n for n in snap.notes if n.area == "sampling"]
    assert any(f"{db}.accounts" in n.objects and "1 table not sampled" in n.message for n in sampling), sampling
    assert any(f"{db}.invoices -> {db}.accounts (fk_invoices_account)" in n.objects
               and "1 foreign key join not sampled" in n.message for n in sampling), sampling
    assert snap.maintenance is not None and snap.maintenance.innodb_counters, snap.notes


def test_writes_on_the_table_being_sampled_do_not_make_it_yield(mysql_server: MySqlServer,  # noqa: F811
                                                                safety_db: tuple[str, str]) -> None:
    """The trap: an INSERT and a SELECT do not wait for the sample's shared metadata lock."""
    db, dsn = safety_db
    thread, result = _scan_in_thread(dsn)
    _sampling_connection(mysql_server, db)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO big VALUES (900001, 1, 'x', 1)")
        cur.execute("SELECT COUNT(*) FROM big WHERE id < 10")
        cur.execute("DELETE FROM big WHERE id = 900001")
    thread.join(120)
    snap = result.get("snap")
    assert isinstance(snap, Snapshot), result
    big = next(t for t in snap.sampling.tables if t.table == "big")
    assert big.skipped_reason is None and big.rows >= 100_000, big


def test_a_frozen_client_releases_the_metadata_lock_within_the_write_timeout(
        mysql_server: MySqlServer, safety_db: tuple[str, str]) -> None:  # noqa: F811
    """dbaudit stopped (SIGSTOP) while big's rows are on their way: the statement stays "Writing to net" with its
    metadata lock until net_write_timeout, which dbaudit sets to the sample's bound plus a grace (7 s for the
    default 5 s) instead of the server's 60 s."""
    db, dsn = safety_db
    proc = _cli("scan", dsn, "--format", "json", "--no-workload", "--sample-rows", "1000000", "--fail-on", "never")
    try:
        _sampling_connection(mysql_server, db)
        time.sleep(0.3)  # rows flowing: the socket fills while the client is stopped
        proc.send_signal(signal.SIGSTOP)
        try:
            with mysql_server.connect(db) as conn, conn.cursor() as cur:
                cur.execute("SET SESSION lock_wait_timeout = 60")
                started = time.perf_counter()
                cur.execute("ALTER TABLE big ADD COLUMN while_frozen int")
                waited = time.perf_counter() - started
                cur.execute("ALTER TABLE big DROP COLUMN while_frozen")
        finally:
            proc.send_signal(signal.SIGCONT)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert waited < 7 + SLACK_S, f"ALTER TABLE waited {waited:.1f} s behind a frozen dbaudit"
    print(f"\nMariaDB ALTER TABLE behind a frozen dbaudit: waited {waited:.1f} s")


def test_without_process_privilege_the_report_says_ddl_may_wait(mysql_server: MySqlServer,  # noqa: F811
                                                                safety_db: tuple[str, str]) -> None:
    db, _ = safety_db
    user = f"noproc_{uuid.uuid4().hex[:6]}"
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
        cur.execute(f"GRANT SELECT ON `{db}`.* TO '{user}'@'%'")
    try:
        snap = collect(parse_dsn(mysql_server.dsn(db, user=user, password="pw")), CollectOptions(workload=False))
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    notes = [n.message for n in snap.notes if n.area == "sampling"]
    assert any(f"GRANT PROCESS ON *.* TO '{user}'@'%'" in m for m in notes), notes
    assert all(t.skipped_reason is None for t in snap.sampling.tables if t.table in ("a_small", "big"))


# ------------------------------------------------------------------------------------------------------------
# Every wait ends
# ------------------------------------------------------------------------------------------------------------


def test_a_killed_connection_still_gives_a_partial_report(mysql_server: MySqlServer,  # noqa: F811
                                                          safety_db: tuple[str, str]) -> None:
    db, dsn = safety_db
    proc = _cli("scan", dsn, "--format", "json", "--no-workload", "--sample-rows", "1000000", "--fail-on", "never")
    try:
        conn_id = _sampling_connection(mysql_server, db)
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"KILL {conn_id}")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_partial(proc, out, err, "lost the connection", "not collected: the data sample")


def test_a_stopped_server_ends_the_scan_within_the_statement_bound(
        mysql_server_no_ps: MariaDbServer) -> None:  # noqa: F811
    """The suite's second server (its own process: stopping it stops no other test), stopped mid-sample."""
    own_server = mysql_server_no_ps
    db, dsn = new_db_on(own_server, SCHEMA)
    proc = _cli("scan", dsn, "--format", "json", "--no-workload", "--sample-rows", "1000000", "--fail-on", "never",
                "--statement-timeout", "2000")
    assert own_server.process is not None
    stopped_at = 0.0
    try:
        _sampling_connection(own_server, db)
        os.kill(own_server.process.pid, signal.SIGSTOP)
        stopped_at = time.perf_counter()
        out, err = proc.communicate(timeout=120)
        took = time.perf_counter() - stopped_at
    finally:
        os.kill(own_server.process.pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    _assert_partial(proc, out, err, "the server sent no answer")
    bound = statement_bound_s(2000)
    assert took < bound + SLACK_S, f"the scan took {took:.1f} s after the server stopped (bound {bound:g} s)"
    print(f"\nMariaDB stopped: the scan ended {took:.1f} s later (bound {bound:g} s)")


# ------------------------------------------------------------------------------------------------------------
# TLS: ssl_mode as the mysql client reads it
# ------------------------------------------------------------------------------------------------------------


def test_required_tls_on_a_server_without_it_fails_before_sending_anything(
        mysql_server: MySqlServer, safety_db: tuple[str, str]) -> None:  # noqa: F811
    _, dsn = safety_db
    for query in ("ssl_mode=required", "ssl=true", "ssl_mode=verify_ca", "ssl_mode=VERIFY_IDENTITY"):
        run = dbaudit("scan", f"{dsn}?{query}", "--connect-timeout", "5")
        assert_one_line(run, "does not offer TLS, and ssl_mode=", "requires it (nothing was sent")
    # the look-alikes: preferred (the default) and disabled reach a server without TLS in plaintext
    for query in ("", "?ssl_mode=preferred", "?ssl_mode=disabled", "?ssl=false"):
        run = dbaudit("scan", f"{dsn}{query}", "--no-sample", "--no-workload", "--select", "KY01",
                      "--fail-on", "never")
        assert run.code == 0 and run.stderr == "", (query, run)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MariaDbServer, Path, Path]]:
    """A MariaDB offering TLS with a certificate for 127.0.0.1 from a CA of our own; also a foreign CA."""
    if find_mariadb() is None:
        pytest.skip(NO_SERVER_BINARY)
    if subprocess.run(["which", "openssl"], capture_output=True).returncode != 0:
        pytest.skip("no openssl binary to make the test certificates")
    d = tmp_path_factory.mktemp("tls")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=dbaudit test {ca}",
                 "-keyout", f"{ca}.key", "-out", f"{ca}.pem", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
             "-out", "server.csr", cwd=d)
    (d / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "san.ext", "-out", "server.pem", cwd=d)
    server = start_mariadb(performance_schema=False, extra_args=(
        f"--ssl-ca={d / 'ca.pem'}", f"--ssl-cert={d / 'server.pem'}", f"--ssl-key={d / 'server.key'}"))
    try:
        yield server, d / "ca.pem", d / "other-ca.pem"
    finally:
        server.stop()


def _tls_of(dsn: str) -> str | None:
    """The TLS version the connection uses, None for plaintext."""
    conn = _connect(parse_dsn(dsn), CollectOptions())
    try:
        sock = conn._sock
        return sock.version() if isinstance(sock, ssl.SSLSocket) else None
    finally:
        conn.close()


def test_ssl_modes_on_a_server_with_tls(tls_server: tuple[MariaDbServer, Path, Path]) -> None:
    server, ca, other = tls_server
    dsn = server.dsn("mysql")
    # preferred (the default) and required encrypt without checking the certificate, as the mysql client does
    assert _tls_of(dsn) is not None
    assert _tls_of(f"{dsn}?ssl_mode=preferred") is not None
    assert _tls_of(f"{dsn}?ssl_mode=required") is not None
    assert _tls_of(f"{dsn}?ssl=true") is not None
    assert _tls_of(f"{dsn}?ssl_mode=disabled") is None
    # verify_ca / verify_identity check the certificate against the CA given
    assert _tls_of(f"{dsn}?ssl_mode=verify_ca&ssl_ca={ca}") is not None
    assert _tls_of(f"{dsn}?ssl_mode=verify_identity&ssl_ca={ca}") is not None
    for query in (f"ssl_mode=verify_ca&ssl_ca={other}", f"ssl_ca={other}",
                  "ssl_mode=verify_ca"):  # no CA given: the system's, which did not sign it
        with pytest.raises(ConnectError, match="TLS handshake with .* failed: CERTIFICATE_VERIFY_FAILED"):
            _tls_of(f"{dsn}?{query}")
    # the certificate names 127.0.0.1 only: reached as localhost, the identity check fails, the CA check passes
    local = dsn.replace("127.0.0.1", "localhost") + "?"
    assert _tls_of(f"{local}ssl_mode=verify_ca&ssl_ca={ca}") is not None
    with pytest.raises(ConnectError, match="TLS handshake"):
        _tls_of(f"{local}ssl_mode=verify_identity&ssl_ca={ca}")
    run = dbaudit("scan", f"{dsn}?ssl_mode=verify_ca&ssl_ca={other}", "--connect-timeout", "5")
    assert_one_line(run, "TLS handshake with", "failed")
    missing = dbaudit("scan", f"{dsn}?ssl_ca=/no/such/ca.pem", "--connect-timeout", "5")
    assert_one_line(missing, "cannot load the TLS files (ssl_ca)")


# ------------------------------------------------------------------------------------------------------------
# What an account cannot see is no finding
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def limited_user(mysql_server: MySqlServer) -> Iterator[tuple[str, str, str]]:  # noqa: F811
    db, _ = new_db_on(mysql_server, """
        CREATE TABLE customers (id int PRIMARY KEY, name varchar(40), email varchar(80), UNIQUE KEY (email));
        CREATE TABLE notes (id int PRIMARY KEY, body text);
        CREATE TABLE loose (x int);
    """)
    user, password = f"lim_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    try:
        yield db, user, password
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def test_column_level_privileges_skip_the_table_instead_of_a_false_no_primary_key(
        mysql_server: MySqlServer, limited_user: tuple[str, str, str]) -> None:  # noqa: F811
    db, user, password = limited_user
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"GRANT SELECT (name, email) ON `{db}`.customers TO '{user}'@'%'")
        cur.execute(f"GRANT SELECT ON `{db}`.notes TO '{user}'@'%'")
        cur.execute(f"GRANT SELECT ON `{db}`.loose TO '{user}'@'%'")
    dsn = mysql_server.dsn(db, user=user, password=password)
    report = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False, workload=False), select=("KY",)))
    # the primary key of customers is on a column this account cannot see: no KY01 for it, and it is named
    assert {(f.code, f.object.table) for f in report.findings} == {("KY01", "loose")}
    assert report.snapshot is not None and report.snapshot.table(db, "customers") is None
    (note,) = [n for n in report.notes if "column-level privileges" in n.message]
    assert note.objects == (f"{db}.customers",)
    assert note.enable == f"GRANT SELECT ON `{db}`.`customers` TO '{user}'@'%';"
    assert report.score.graded


def test_an_account_that_sees_no_table_is_not_graded(mysql_server: MySqlServer,  # noqa: F811
                                                      limited_user: tuple[str, str, str]) -> None:
    db, user, password = limited_user
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"GRANT USAGE ON `{db}`.* TO '{user}'@'%'")
    run = dbaudit("scan", mysql_server.dsn("", user=user, password=password), "--no-sample", "--no-workload",
                  "--format", "json")
    assert_one_line(run, "the audit saw no table", "the account sees no table in any")
    assert json.loads(run.stdout)["score"]["grade"] == "not graded"
