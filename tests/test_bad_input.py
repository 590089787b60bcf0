"""Bad input through the real CLI: one clear line on stderr, exit 2, no traceback, no password, quickly.

Each case runs ``python -m auditor.cli`` in a subprocess, as a user would run ``dbaudit``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from auditor.throwaway import PASSWORD_ROLE, ExistingServer, PostgresServer, free_port

PgServer = PostgresServer | ExistingServer

CONNECT_TIMEOUT = 3
SECRET = "Wr0ng-" + uuid.uuid4().hex[:8]
# the interpreter and psycopg take a moment to start on a busy machine; the connect timeout bounds the rest
STARTUP_ALLOWANCE_S = 6.0


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float


def dbaudit(*args: str, cwd: Path | None = None) -> Run:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env=_clean_env())
    return Run(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DBAUDIT_DSN"}


def assert_one_clear_line(run: Run, expected: str, code: int = 2) -> None:
    assert run.code == code, run
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("dbaudit: error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in run.stderr + run.stdout
    assert SECRET not in run.stderr + run.stdout
    assert run.seconds < CONNECT_TIMEOUT + STARTUP_ALLOWANCE_S, run.seconds


def _with(dsn: str, *, user: str | None = None, password: str | None = None, port: int | None = None,
          host: str | None = None, dbname: str | None = None) -> str:
    parts = urlsplit(dsn)
    netloc = (user or parts.username or "")
    if password:
        netloc += f":{password}"
    netloc += f"@{host or parts.hostname}:{port or parts.port}"
    path = f"/{dbname}" if dbname else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))


@pytest.mark.parametrize("command", ["scan", "snapshot"])
def test_malformed_dsn(command: str) -> None:
    run = dbaudit(command, f"postgresql://app:{SECRET}@db:port/shop", "--connect-timeout", "3")
    assert_one_clear_line(run, "malformed DSN (argument): port 'port' is not a number")


def test_unknown_host() -> None:
    run = dbaudit("scan", "postgresql://app@no-such-host.invalid/shop", "--connect-timeout", "3")
    assert_one_clear_line(run, "could not resolve host 'no-such-host.invalid'")


def test_refused_port() -> None:
    port = free_port()
    run = dbaudit("scan", f"postgresql://app:{SECRET}@127.0.0.1:{port}/shop", "--connect-timeout",
                  str(CONNECT_TIMEOUT))
    assert_one_clear_line(run, f"connection refused at 127.0.0.1:{port}")


def test_silent_server_times_out_within_the_connect_timeout() -> None:
    # a socket that accepts TCP connections and never says a word, like a firewalled or hung server
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        run = dbaudit("scan", f"host=127.0.0.1 port={port} user=app password={SECRET}",
                      "--connect-timeout", "2")
    assert_one_clear_line(run, f"no answer from 127.0.0.1:{port} within 2 s (--connect-timeout)")
    assert run.seconds >= 2


@pytest.fixture
def password_role(pg_server: PgServer) -> Iterator[str]:
    right = "right-" + uuid.uuid4().hex[:8]
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {PASSWORD_ROLE}")
        conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{right}'")
    yield right
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {PASSWORD_ROLE}")


@contextlib.contextmanager
def _listening(respond: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback port whose every connection is handed to ``respond`` (errors of the exchange ignored)."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    respond(conn)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


@pytest.fixture
def http_listener() -> Iterator[int]:
    """A port where a web server answers: the first byte PostgreSQL's client reads is the "H" of HTTP/1.1."""

    def respond(conn: socket.socket) -> None:
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with _listening(respond) as port:
        yield port


@pytest.mark.parametrize("sslmode", ["prefer", "disable"])
def test_another_service_on_the_port(http_listener: int, sslmode: str) -> None:
    run = dbaudit("scan", f"host=127.0.0.1 port={http_listener} user=app sslmode={sslmode} password={SECRET}",
                  "--connect-timeout", str(CONNECT_TIMEOUT))
    assert_one_clear_line(
        run, f"the server at 127.0.0.1:{http_listener} did not answer as PostgreSQL (is it another service?)"
    )


def test_schema_pattern_matching_nothing_is_an_error(pg_new_db: Callable[..., str]) -> None:
    dsn = pg_new_db("CREATE SCHEMA billing; CREATE TABLE billing.t (id int PRIMARY KEY);")
    run = dbaudit("scan", dsn, "--schema", "nosuchschema", "--no-workload", "--no-sample")
    assert_one_clear_line(run, "no schema matches --schema 'nosuchschema' (schemas: billing, public)")
    run = dbaudit("snapshot", dsn, "--exclude-schema", "public", "--exclude-schema", "bill*")
    assert_one_clear_line(
        run, "--exclude-schema 'public' --exclude-schema 'bill*' leaves no schema to audit (schemas: billing, public)"
    )
    # the look-alike: a pattern that matches audits that schema alone (the suite's throwaway server runs
    # without durability and trusts loopback on purpose: the server-level families would fail the scan)
    ok = dbaudit("scan", dsn, "--schema", "bill*", "--no-workload", "--no-sample", "--format", "json",
                 "--ignore", "settings", "--ignore", "security")
    assert ok.code == 0, ok
    assert '"database"' in ok.stdout


def test_wrong_password(pg_server: PgServer, password_role: str) -> None:
    dsn = _with(pg_server.dsn(), user=PASSWORD_ROLE, password=SECRET)
    run = dbaudit("scan", dsn, "--connect-timeout", str(CONNECT_TIMEOUT))
    assert_one_clear_line(run, f"authentication failed for user '{PASSWORD_ROLE}'")
    assert password_role not in run.stderr


def test_missing_database(pg_server: PgServer) -> None:
    dsn = _with(pg_server.dsn(), dbname="no_such_db_here")
    run = dbaudit("scan", dsn, "--connect-timeout", str(CONNECT_TIMEOUT))
    assert_one_clear_line(run, "database 'no_such_db_here' does not exist")


def test_missing_role(pg_server: PgServer) -> None:
    dsn = _with(pg_server.dsn(), user="no_such_role_here")
    run = dbaudit("snapshot", dsn, "--connect-timeout", str(CONNECT_TIMEOUT))
    assert_one_clear_line(run, "role 'no_such_role_here' does not exist")


def test_role_without_privileges_on_some_tables_still_scans(pg_server: PgServer, pg_new_db: object,
                                                           tmp_path: Path) -> None:
    role = f"dbaudit_t_bad_{uuid.uuid4().hex[:6]}"
    dsn = pg_new_db(  # type: ignore[operator]
        "CREATE TABLE open_t (id int PRIMARY KEY); CREATE TABLE closed_t (id int PRIMARY KEY);")
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"GRANT SELECT ON open_t TO {role}")
        limited = _with(dsn, user=role)
        out = tmp_path / "snap.json"
        run = dbaudit("snapshot", limited, "-o", str(out), "--connect-timeout", str(CONNECT_TIMEOUT))
        assert run.code == 0, run
        assert len(run.stderr.splitlines()) == 1 and "2 tables" in run.stderr, run.stderr
        notes = json.loads(out.read_text())["notes"]
        # besides the closed table, what only a superuser reads: password kinds and pg_hba.conf rules
        assert [(n["area"], n["objects"]) for n in notes] == [
            ("privileges", ["public.closed_t"]), ("passwords", []), ("hba_rules", []),
            ("sampling", ["public.closed_t"])]
        assert notes[-1]["message"] == "1 table not sampled: no SELECT privilege on the table"
        assert f"GRANT SELECT ON public.closed_t TO {role};" in notes[0]["enable"]

        scan = dbaudit("scan", "--from", str(out), "--format", "json")
        assert scan.code in (0, 1) and scan.stderr == "", scan
        assert json.loads(scan.stdout)["target"]["database"] == urlsplit(dsn).path.lstrip("/")
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_snapshot_then_scan_from_file(pg_new_db: object, tmp_path: Path) -> None:
    dsn = pg_new_db(  # type: ignore[operator]
        "CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE child (id int PRIMARY KEY,"
        " parent_id int REFERENCES parent); CREATE TABLE loose (x int);")
    out = tmp_path / "snap.json"
    snap = dbaudit("snapshot", dsn, "-o", str(out))
    assert snap.code == 0 and snap.stdout == "", snap
    live = dbaudit("scan", dsn, "--format", "json", "--fail-on", "never")
    offline = dbaudit("scan", "--from", str(out), "--format", "json", "--fail-on", "never")
    assert live.code == offline.code == 0, (live, offline)

    def findings(text: str) -> list[tuple[str, str]]:
        return sorted((f["code"], f["object"].get("table", "")) for f in json.loads(text)["findings"])

    assert findings(live.stdout) == findings(offline.stdout)
    assert ("IX05", "child") in findings(offline.stdout) and ("KY01", "loose") in findings(offline.stdout)


@pytest.fixture
def bouncer_listener() -> Iterator[int]:
    """A PgBouncer as it answers by default: SSL refused, then the startup packet's "options" refused."""
    import struct

    fields = b"SFATAL\0VFATAL\0C08P01\0Munsupported startup parameter: options\0\0"
    refusal = b"E" + struct.pack("!i", 4 + len(fields)) + fields

    def respond(conn: socket.socket) -> None:
        while True:
            head = conn.recv(8)
            if len(head) < 8:
                return
            length, code = struct.unpack("!ii", head)
            if length > 8:
                conn.recv(length - 8)
            if code not in (80877103, 80877104):  # SSLRequest, GSSENCRequest: answered no; else the startup
                conn.sendall(refusal)
                return
            conn.sendall(b"N")

    with _listening(respond) as port:
        yield port


def test_a_pooler_refusing_the_options_parameter_is_named(bouncer_listener: int) -> None:
    # rt18: "cannot connect to ...: unsupported startup parameter: options" said nothing of what to do
    run = dbaudit("scan", f"host=127.0.0.1 port={bouncer_listener} user=app password={SECRET}",
                  "--connect-timeout", str(CONNECT_TIMEOUT))
    assert_one_clear_line(
        run, f"the server at 127.0.0.1:{bouncer_listener} is a pooler (PgBouncer?) that refuses the startup "
             "parameter 'options': point dbaudit at the PostgreSQL server itself (a pooler in transaction mode also "
             "keeps a session's settings for the next client)"
    )
