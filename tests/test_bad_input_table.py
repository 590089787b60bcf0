"""A table of bad input, each through the real CLI: one clear ``dbaudit: error:`` line and exit code 2 (or, for an
audit of nothing accepted with --allow-empty, a warning and 0), never a traceback, never a password.

DSNs, credentials and TLS, privileges, files, options, configuration. Faults in the middle of a scan (a stopped
backend, a killed connection, --timeout, a locked table) are in tests/test_production_safety.py and
tests/test_mysql_safety.py; they end in a partial report rather than one line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from auditor.model import Column, Snapshot, Table, snapshot_to_json
from auditor.throwaway import ExistingServer, PostgresServer, free_port
from tests.test_bad_input import SECRET, Run, dbaudit

PgServer = PostgresServer | ExistingServer

# a password made of every character a URL parser stumbles on; no part of it may reach the output
NASTY_PASSWORD = f"Pa@{SECRET}/s:l%zz#?q"
PASSWORD_PARTS = ("Pa@", SECRET, "/s:l%", "zz#?q")


def assert_one_line(run: Run, *fragments: str, code: int = 2, level: str = "error") -> None:
    """Exit ``code``, exactly one stderr line ``dbaudit: <level>: ...`` holding every fragment, no traceback, no
    part of the password."""
    assert run.code == code, run
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"dbaudit: {level}: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    everything = run.stderr + run.stdout
    assert "Traceback" not in everything
    for part in PASSWORD_PARTS:
        assert part not in everything, (part, everything)


def _snapshot(**overrides: object) -> str:
    snap = Snapshot(engine="postgresql", server_version="15.18", database="shop", schemas=("public",),
                    tables=(Table("public", "t", columns=(Column("id", "integer", nullable=False),)),))
    data = json.loads(snapshot_to_json(snap))
    data.update(overrides)
    return json.dumps(data)


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    fragments: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()  # written to the working directory first
    code: int = 2
    level: str = "error"


REFUSED = free_port()  # nothing listens there: a DSN that parses reaches "connection refused"

CASES = (
    # ---- DSNs -----------------------------------------------------------------------------------------------
    Case("dsn-unknown-scheme", ("scan", "oracle://app@db/shop"), ("unsupported DSN scheme 'oracle'",)),
    Case("dsn-words", ("scan", "just some words"), ("malformed DSN (argument)",)),
    Case("dsn-port-not-a-number", ("scan", f"postgresql://app:{SECRET}@db:port/shop"),
         ("port 'port' is not a number",)),
    Case("dsn-unterminated-quote", ("scan", f"host=db password='{SECRET} dbname=shop"), ("malformed DSN",)),
    Case("dsn-password-with-at-slash-colon-percent",
         ("scan", f"postgresql://app:{NASTY_PASSWORD}@127.0.0.1:{REFUSED}/shop", "--connect-timeout", "3"),
         (f"connection refused at 127.0.0.1:{REFUSED}",)),
    Case("dsn-password-with-slash-mysql",
         ("scan", f"mysql://app:{NASTY_PASSWORD}@127.0.0.1:{REFUSED}/shop", "--connect-timeout", "3"),
         (f"127.0.0.1:{REFUSED}/shop: connection refused",)),
    Case("dsn-password-in-keywords", ("scan", f"host=127.0.0.1 port={REFUSED} password={SECRET} dbname=x"),
         ("connection refused",)),
    Case("dsn-mysql-unknown-option", ("scan", "mysql://app@db/shop?sslmode=require"),
         ("unknown option 'sslmode' for mysql://",)),
    Case("dsn-mysql-bad-ssl-mode", ("scan", "mysql://app@db/shop?ssl_mode=requird"),
         ("ssl_mode must be one of disabled, preferred, required, verify_ca, verify_identity",)),
    Case("dsn-mysql-bad-ssl-flag", ("scan", "mysql://app@db/shop?ssl=maybe"), ("ssl must be true or false",)),
    Case("dsn-mysql-unknown-charset", ("scan", f"mysql://app:{SECRET}@127.0.0.1:{REFUSED}/shop?charset=nope"),
         ("unknown charset 'nope'",)),
    Case("dsn-mysql-port", ("scan", "mysql://app@db:99999999/shop"), ("the port is not a number",)),
    Case("dsn-pg-bad-sslmode", ("scan", f"postgresql://app@127.0.0.1:{REFUSED}/shop?sslmode=required"),
         ("invalid sslmode value 'required' in the DSN (disable, allow, prefer",)),
    Case("dsn-missing", ("scan",), ("no DSN given",)),
    Case("dsn-and-file", ("scan", "postgresql://app@db/shop", "--from", "snap.json"),
         ("give either a DSN or --from FILE, not both",)),
    # ---- options --------------------------------------------------------------------------------------------
    Case("option-nan", ("scan", "--from", "snap.json", "--sample-budget", "nan"),
         ("Invalid value for '--sample-budget': 'nan' is not a finite number",), files=(("snap.json", b"{}"),)),
    Case("option-infinity", ("scan", "--from", "snap.json", "--timeout", "inf"), ("'inf' is not a finite number",)),
    Case("option-negative-infinity", ("scan", "--from", "snap.json", "--timeout=-inf"),
         ("'-inf' is not a finite number",)),
    Case("option-not-a-number", ("scan", "--from", "snap.json", "--sample-rows", "many"),
         ("Invalid value for '--sample-rows': 'many' is not a number",)),
    Case("option-fraction-of-a-row", ("scan", "--from", "snap.json", "--sample-rows", "1000.5"),
         ("is not a whole number",)),
    Case("option-out-of-range", ("scan", "--from", "snap.json", "--statement-timeout", "5"),
         ("is not in the range 100 to 3.6e+06",)),
    Case("option-unknown", ("scan", "--fromm", "snap.json"), ("No such option '--fromm'", "Did you mean")),
    Case("option-missing-value", ("scan", "--format"), ("Option '--format' requires an argument",)),
    Case("option-bad-choice", ("scan", "--format", "pdf"), ("Invalid value for '--format'",)),
    Case("option-extra-argument", ("scan", "a", "b"), ("Got unexpected extra argument (b)",)),
    Case("option-no-such-command", ("scna",), ("No such command 'scna'",)),
    Case("option-no-such-check", ("scan", "--from", "snap.json", "--select", "IX99"), ("no check matches 'IX99'",)),
    Case("config-nan-target", ("scan", "--from", "snap.json"), ("targets.p95_ms must be a finite number",),
         files=(("dbaudit.toml", b"[targets]\np95_ms = nan\n"),)),
    Case("output-directory-missing", ("scan", "--from", "snap.json", "-o", "no/such/dir/report.txt"),
         ("directory no/such/dir does not exist",)),
    # ---- snapshot files -------------------------------------------------------------------------------------
    Case("file-missing", ("scan", "--from", "nope.json"), ("cannot read snapshot nope.json: No such file",)),
    Case("file-directory", ("scan", "--from", "."), ("cannot read snapshot .: it is a directory",)),
    Case("file-dev-zero", ("scan", "--from", "/dev/zero"), ("/dev/zero is not a dbaudit snapshot",)),
    Case("file-over-the-cap", ("scan", "--from", "big.json", "--max-snapshot-mb", "1"),
         ("snapshot big.json is larger than 1 MB (--max-snapshot-mb)",),
         files=(("big.json", b'{"engine": "postgresql", "pad": "' + b"x" * 1_100_000 + b'"}'),)),
    Case("file-not-utf8", ("scan", "--from", "latin.json"), ("it is not UTF-8 text",),
         files=(("latin.json", b'{"engine": "caf\xe9"}'),)),
    Case("file-invalid-json", ("scan", "--from", "cut.json"), ("invalid JSON at line 1 column",),
         files=(("cut.json", b'{"engine": '),)),
    Case("file-deep-nesting", ("scan", "--from", "deep.json"), ("nested too deeply",),
         files=(("deep.json", b'{"notes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),)),
    Case("file-wrong-type", ("scan", "--from", "typed.json"),
         ("tables[0].columns[0].nullable: expected true or false, got a string",),
         files=(("typed.json", _snapshot(tables=[{"schema": "public", "name": "t", "columns": [
             {"name": "id", "data_type": "integer", "nullable": "yes"}]}]).encode()),)),
    Case("file-wrong-type-deep", ("scan", "--from", "typed2.json"),
         ("sampling.tables[0].rows: expected an integer, got a string",),
         files=(("typed2.json", _snapshot(sampling={"tables": [
             {"schema": "public", "table": "t", "rows": "10"}]}).encode()),)),
    Case("file-missing-field", ("scan", "--from", "nameless.json"), ("tables[0].name: missing",),
         files=(("nameless.json", _snapshot(tables=[{"schema": "public"}]).encode()),)),
    Case("file-nan", ("scan", "--from", "nan.json"), ("NaN is not a number JSON allows",),
         files=(("nan.json", b'{"engine": "postgresql", "collect_duration_s": NaN}'),)),
    Case("file-infinite-float", ("scan", "--from", "inf.json"), ("collect_duration_s: expected a finite number",),
         files=(("inf.json", b'{"engine": "postgresql", "collect_duration_s": 1e999}'),)),
    Case("file-list", ("scan", "--from", "list.json"), ("does not hold a JSON object",),
         files=(("list.json", b"[1, 2]"),)),
    Case("file-future-version", ("scan", "--from", "future.json"), ("format_version 99 is newer",),
         files=(("future.json", b'{"engine": "postgresql", "format_version": 99}'),)),
    Case("file-unknown-engine", ("scan", "--from", "oracle.json"),
         ("engine: expected one of 'postgresql', 'mysql', got 'oracle'",),
         files=(("oracle.json", _snapshot(engine="oracle").encode()),)),
    Case("file-no-engine", ("scan", "--from", "engineless.json"), ("engine: missing",),
         files=(("engineless.json", b'{"format_version": 1, "tables": []}'),)),
    Case("file-bad-enum-date", ("scan", "--from", "date.json"),
         ("collected_at: expected an ISO 8601 date and time, got a string",),
         files=(("date.json", _snapshot(collected_at="last tuesday").encode()),)),
    # ---- audits of nothing ----------------------------------------------------------------------------------
    Case("nothing-selected", ("scan", "--from", "ok.json", "--ignore", "*"),
         ("no check ran: --select/--ignore (or the configuration) left no check selected",
          "--allow-empty accepts an empty audit"), files=(("ok.json", _snapshot().encode()),)),
    Case("nothing-selected-allowed", ("scan", "--from", "ok.json", "--ignore", "*", "--allow-empty"),
         ("no check ran",), files=(("ok.json", _snapshot().encode()),), code=0, level="warning"),
    Case("no-table", ("scan", "--from", "empty.json"), ("the audit saw no table in database 'shop'",),
         files=(("empty.json", _snapshot(tables=[]).encode()),)),
    # ---- run stores (--history, dbaudit history) ------------------------------------------------------------
    Case("history-empty", ("scan", "--from", "snap.json", "--history", ""),
         ("the run store is empty: give a file path or a postgresql:// URL",)),
    Case("history-blank-with-fail-on-new", ("scan", "--from", "snap.json", "--history", " ", "--fail-on-new", "error"),
         ("the run store is empty",)),
    Case("history-mysql-url", ("scan", "--from", "snap.json", "--history", f"mysql://root:{SECRET}@127.0.0.1:3306/x"),
         ("run store mysql://...: only a file path or a postgresql:// URL can be a run store",)),
    Case("history-http-url", ("scan", "--from", "snap.json", "--history", "http://example.invalid/runs"),
         ("run store http://...: only a file path or a postgresql:// URL",)),
    Case("history-sqlite-url", ("scan", "--from", "snap.json", "--history", "sqlite:///runs.db"),
         ("run store sqlite://...: only a file path",)),
    Case("history-libpq-string", ("scan", "--from", "snap.json", "--history",
                                  f"host=127.0.0.1 dbname=runs password={SECRET}"),
         ("the run store is a libpq key=value string", "postgresql://user@host:5432/dbname")),
    Case("history-store-empty", ("history", "list", "--store", ""), ("the run store is empty",)),
    Case("history-store-mysql", ("history", "list", "--store", "mysql://root@127.0.0.1/x"),
         ("only a file path or a postgresql:// URL can be a run store",)),
    Case("history-store-libpq", ("history", "trend", "score", "--store", "dbname=runs"),
         ("the run store is a libpq key=value string",)),
    Case("fleet-output-dir-under-a-file", ("scan", "--targets", "fleet.txt", "--output-dir", "snap.json/reports"),
         ("cannot create --output-dir snap.json/reports: Not a directory",),
         files=(("fleet.txt", b"postgresql://app@127.0.0.1:1/shop  # never reached\n"),)),
    Case("fleet-output-dir-is-a-file", ("scan", "--targets", "fleet.txt", "--output-dir", "snap.json"),
         ("--output-dir snap.json is not a directory",),
         files=(("fleet.txt", b"postgresql://app@127.0.0.1:1/shop\n"),)),
    Case("history-prune-keep-zero", ("history", "prune", "--store", "runs.db", "--keep-days", "0"),
         ("Invalid value for '--keep-days': '0' is not in the range 1 to 36500",)),
)


def test_the_table_holds_thirty_kinds_at_least() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    (tmp_path / "snap.json").write_text(_snapshot(), encoding="utf-8")
    for name, content in case.files:
        (tmp_path / name).write_bytes(content)
    run = dbaudit(*case.args, cwd=tmp_path)
    assert_one_line(run, *case.fragments, code=case.code, level=case.level)
    assert run.seconds < 20, run.seconds


# ---- against the suite's PostgreSQL ---------------------------------------------------------------------------


def test_sslmode_require_on_a_server_without_tls(pg_server: PgServer) -> None:
    dsn = pg_server.dsn("postgres") + ("&" if "?" in pg_server.dsn("postgres") else "?") + "sslmode=require"
    run = dbaudit("scan", dsn, "--connect-timeout", "5")
    assert_one_line(run, "does not offer TLS, and sslmode requires it")


def test_a_forgotten_database_name_is_not_a_pass(pg_server: PgServer) -> None:
    """``postgresql://host:port`` audits the server's default database, here one without a table."""
    if not isinstance(pg_server, PostgresServer):
        pytest.skip("needs the suite's own server, whose default database is empty")
    dsn = f"postgresql://postgres@127.0.0.1:{pg_server.port}"
    run = dbaudit("scan", dsn, "--no-sample", "--no-workload", "--format", "json")
    assert_one_line(run, "the audit saw no table in database 'postgres'", "the DSN names no database")
    report = json.loads(run.stdout)
    assert report["score"] == {"value": None, "grade": "not graded", "reason": "nothing was audited", "upper": None,
                               "not_measured": []}
    # the server's own settings may still draw findings (security, settings); no table was judged
    assert report["empty"] and not [f for f in report["findings"] if f["object"].get("table")]


@pytest.fixture
def no_connect_role(pg_server: PgServer, pg_new_db: Callable[..., str]) -> Iterator[tuple[str, str]]:
    role = f"dbaudit_t_noconn_{uuid.uuid4().hex[:6]}"
    dsn = pg_new_db("CREATE TABLE t (id int PRIMARY KEY)")
    db = dsn.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f'REVOKE CONNECT ON DATABASE "{db}" FROM PUBLIC')
    try:
        yield dsn.replace("postgres@", f"{role}@", 1), db
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_role_without_connect_privilege(no_connect_role: tuple[str, str]) -> None:
    dsn, db = no_connect_role
    run = dbaudit("scan", dsn, "--connect-timeout", "5")
    assert_one_line(run, f"may not connect to database '{db}'", "(GRANT CONNECT)")


def test_a_libpq_string_as_the_store_creates_no_file(tmp_path: Path) -> None:
    (tmp_path / "snap.json").write_text(_snapshot(), encoding="utf-8")
    run = dbaudit("scan", "--from", "snap.json", "--history", "host=127.0.0.1 dbname=runs", cwd=tmp_path)
    assert_one_line(run, "libpq key=value string")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.json"]


def test_history_diff_refuses_a_reversed_pair(tmp_path: Path) -> None:
    """Run A must be the older: `history diff 2 1` is refused with the pair to give, `diff 1 2` works."""
    for day, name in ((1, "a.json"), (2, "b.json")):
        (tmp_path / name).write_text(_snapshot(collected_at=f"2026-03-0{day}T02:00:00+00:00"), encoding="utf-8")
        run = dbaudit("scan", "--from", name, "--history", "runs.db", "--fail-on", "never", "-o", "/dev/null",
                      cwd=tmp_path)
        assert run.code == 0, run
    run = dbaudit("history", "diff", "2", "1", "--store", "runs.db", cwd=tmp_path)
    assert_one_line(run, "run 2 (2026-03-02 02:00 UTC) is newer than run 1 (2026-03-01 02:00 UTC)",
                    "give the older run first (dbaudit history diff 1 2)")
    run = dbaudit("history", "diff", "1", "2", "--store", "runs.db", "--format", "json", cwd=tmp_path)
    assert run.code == 0, run
    assert json.loads(run.stdout)["previous_run"]["id"] == 1
