"""Settings and security checks on real PostgreSQL servers configured for the purpose.

Two throwaway servers: ``bad`` with planted problems (durability off, md5, a trust rule, autovacuum throttled,
a disabled planner method, a small max_wal_size, the default shared_buffers) and ``good`` with their
look-alikes (synchronous_commit off, tuned values, SCRAM everywhere, a password for the superuser). Each check
fires on exactly its planted objects on ``bad`` and stays silent on ``good``; the fixes dbaudit prints are then
run on a third server and the problems are gone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import quote

import psycopg
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.model import Finding, Severity, Snapshot
from auditor.throwaway import PostgresServer, start_postgres
from checks.settings import CacheHitRatioOptions, CheckpointPressureOptions, MemorySettingsOptions

SPECS = load_checks()
CODES = ("ST01", "ST02", "ST03", "ST04", "ST05", "ST06", "ST07", "ST08",
         "SC01", "SC02", "SC03", "SC04", "SC05", "SC06")
# the time and size thresholds lowered through their options, never by waiting
OPTIONS = {
    "ST03": MemorySettingsOptions(size_factor=0.25),  # a 40 MB database against 128 MB of shared_buffers
    "ST06": CheckpointPressureOptions(min_checkpoints=3, min_stats_age_hours=0),
    "ST08": CacheHitRatioOptions(min_blocks=5_000),
}

BAD_SETTINGS = {
    "max_connections": "14",  # 11 slots for ordinary roles
    "password_encryption": "md5",
    "enable_nestloop": "off",
    "autovacuum_vacuum_cost_delay": "'20ms'",
    "vacuum_cost_page_miss": "10",
    "shared_buffers": "'128MB'",
    "max_wal_size": "'32MB'",
    "min_wal_size": "'32MB'",
    "checkpoint_timeout": "'1h'",
}
BAD_HBA = """\
local all postgres                 trust
host  all app_pw   127.0.0.1/32    password
host  all app_md5  127.0.0.1/32    md5
host  all postgres 127.0.0.1/32    trust
host  all app_admin,dba,reader 127.0.0.1/32 trust
host  all all      127.0.0.1/32    scram-sha-256
"""
GOOD_SETTINGS = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "off", "random_page_cost": "1.1"}
GOOD_HBA = """\
local all postgres                 trust
host  all all      127.0.0.1/32    scram-sha-256
host  all all      ::1/128         scram-sha-256
"""

SEED = """
CREATE EXTENSION pg_stat_statements;
CREATE SCHEMA app;
CREATE TABLE app.events (id bigint PRIMARY KEY, kind int NOT NULL, payload text NOT NULL);
INSERT INTO app.events SELECT g, g % 17, repeat(md5(g::text), 3) FROM generate_series(1, 300000) g;
CREATE TABLE app.users (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO app.users SELECT g, 'user ' || g FROM generate_series(1, 2000) g;
ANALYZE;

CREATE SCHEMA reporting;
GRANT CREATE ON SCHEMA reporting TO report_writer;

CREATE FUNCTION app.touch_safe(uid int) RETURNS void SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    LANGUAGE sql AS $$ UPDATE app.users SET name = name WHERE id = uid $$;
CREATE FUNCTION app.touch_invoker(uid int) RETURNS void SECURITY INVOKER
    LANGUAGE sql AS $$ UPDATE app.users SET name = name WHERE id = uid $$;
"""

# planted on the bad server only
BAD_EXTRA = """
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE FUNCTION app.touch_unsafe(uid int) RETURNS void SECURITY DEFINER
    LANGUAGE sql AS $$ UPDATE app.users SET name = name WHERE id = uid $$;
"""

ROLES_BAD = """
CREATE ROLE report_writer NOLOGIN;
CREATE ROLE app_admin LOGIN SUPERUSER;
CREATE ROLE dba LOGIN SUPERUSER;
CREATE ROLE reader LOGIN IN ROLE pg_read_all_data;
CREATE ROLE app_md5 LOGIN PASSWORD 'md5-secret-1';
ALTER ROLE app_md5 SET statement_timeout = '30s';
ALTER ROLE app_md5 SET idle_in_transaction_session_timeout = '5min';
ALTER ROLE app_md5 SET enable_hashjoin = off;
SET password_encryption = 'scram-sha-256';
CREATE ROLE app_scram LOGIN PASSWORD 'scram-secret-1';
CREATE ROLE app_pw LOGIN PASSWORD 'pw-secret-1';
"""
ROLES_GOOD = """
CREATE ROLE report_writer NOLOGIN;
CREATE ROLE app_scram LOGIN PASSWORD 'scram-secret-1';
ALTER ROLE app_scram SET statement_timeout = '30s';
ALTER ROLE app_scram SET idle_in_transaction_session_timeout = '5min';
ALTER ROLE app_scram IN DATABASE postgres SET enable_nestloop = off;
"""

EXPECTED_BAD = {
    ("ST01", "fsync"), ("ST01", "full_page_writes"), ("ST01", "synchronous_commit"),
    ("ST02", "autovacuum_vacuum_cost_delay"),
    ("ST03", "shared_buffers"),
    ("ST04", "max_connections"),
    ("ST05", "app_scram"), ("ST05", "reader"),
    ("ST06", "max_wal_size"),
    ("ST07", "enable_nestloop"), ("ST07", "random_page_cost"), ("ST07", "app_md5"),
    ("ST08", "table cache"),
    ("SC01", "pg_hba.conf line 2"), ("SC01", "pg_hba.conf line 4"), ("SC01", "pg_hba.conf line 5"),
    ("SC02", "password_encryption"), ("SC02", "app_md5"),
    ("SC03", "public"),
    ("SC04", "app_admin"),
    ("SC05", "app.touch_unsafe(uid integer)"),
}
EXPECTED_GOOD = {("ST01", "synchronous_commit")}  # info: a legitimate choice, said so


def _start(settings: dict[str, str], hba: str, password: str | None = None) -> PostgresServer:
    return start_postgres("system", settings=settings, hba=hba, password=password)


def _seed(server: PostgresServer, roles: str, extra: str = "") -> str:
    with server.connect() as conn:
        conn.execute(roles)
        conn.execute("CREATE DATABASE shop")
    with server.connect("shop") as conn:
        conn.execute(SEED + extra)
    # the seed's own writes are no evidence of how the cache serves reads: start this throwaway database's
    # counters from zero (dbaudit itself never resets statistics) once the seeding backend has exited -- a
    # backend may hold its block counts back (PostgreSQL 15+ flushes them when it can, at the latest when it
    # exits), and counts flushed after the reset made ST08 fire on a loaded machine
    _reset_when_alone(server.dsn("shop"))
    return server.dsn("shop")


def _reset_when_alone(dsn: str) -> None:
    """pg_stat_reset() once no other backend of the database (client or autovacuum worker) is left to flush
    block counts after it: a closed connection's backend flushes its counts as it exits, a moment later."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND pid <> pg_backend_pid() "
                               "AND backend_type IN ('client backend', 'autovacuum worker')").fetchone()
            if row is not None and row[0] == 0:
                break
            time.sleep(0.05)
        conn.execute("SELECT pg_stat_reset()")


@pytest.fixture(scope="module")
def bad() -> Iterator[tuple[PostgresServer, str]]:
    server = _start(BAD_SETTINGS, BAD_HBA)
    try:
        dsn = _seed(server, ROLES_BAD, BAD_EXTRA + """
            ALTER ROLE app_pw IN DATABASE shop SET statement_timeout = '1min';
            ALTER ROLE app_pw IN DATABASE shop SET idle_in_transaction_session_timeout = '10min';
        """)
        _force_requested_checkpoints(server, dsn)
        _read_through_a_small_cache(dsn)
        _traffic(server, dsn)
        yield server, dsn
    finally:
        server.stop()


@pytest.fixture(scope="module")
def good() -> Iterator[tuple[PostgresServer, str]]:
    server = _start(GOOD_SETTINGS, GOOD_HBA, password="good-" + uuid.uuid4().hex[:8])
    try:
        dsn = _seed(server, ROLES_GOOD)
        # The bulk load's own reads are no evidence either: vacuum now (else autovacuum reads the 300,000 rows
        # back through its ring buffer when a loaded machine gives it time, and ST08 counts the misses), then
        # count from zero. A backend reports its counters when its session ends: the reset comes after that.
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) app.events")
        _reset_when_alone(dsn)  # after the VACUUM's backend has exited and flushed its reads
        with psycopg.connect(dsn, autocommit=True) as conn:  # a few reads: far below ST08's evidence floor
            for i in range(20):
                conn.execute("SELECT name FROM app.users WHERE id = %s", (i,))
        yield server, dsn
    finally:
        server.stop()


def _traffic(server: PostgresServer, dsn: str) -> None:
    """The application runs as the superuser app_admin; dba only maintains; reader (pg_read_all_data) reads."""
    with psycopg.connect(_as(dsn, "app_admin"), autocommit=True) as conn:
        for i in range(1200):
            conn.execute("SELECT name FROM app.users WHERE id = %s", (i % 2000 + 1,))
    with psycopg.connect(_as(dsn, "dba"), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) app.users")
        conn.execute("CREATE INDEX users_name_idx ON app.users (name)")
        conn.execute("REINDEX INDEX app.users_name_idx")
    with psycopg.connect(_as(dsn, "reader"), autocommit=True) as conn:
        for i in range(1500):
            conn.execute("SELECT name FROM app.users WHERE id = %s", (i % 2000 + 1,))


def _pool(dsn: str, role: str, application: str, n: int, stack: ExitStack) -> None:
    """``n`` idle sessions of ``role``, as an application's connection pool holds them."""
    for _ in range(n):
        stack.enter_context(psycopg.connect(_as(dsn, role), application_name=application))


def _checkpoints(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, int]:
    row = conn.execute("SELECT checkpoints_req, checkpoints_timed FROM pg_stat_bgwriter").fetchone()
    assert row is not None
    return int(str(row[0])), int(str(row[1]))


def _force_requested_checkpoints(server: PostgresServer, dsn: str) -> None:
    """WAL well past max_wal_size (32 MB): the checkpointer is asked for checkpoints, none is timed (1 h)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(4):
            conn.execute("UPDATE app.events SET kind = kind + 1")
        deadline = time.monotonic() + 30
        while _checkpoints(conn)[0] < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _checkpoints(conn)[0] >= 3


def _read_through_a_small_cache(dsn: str) -> None:
    """app.events (80 MB) is larger than a quarter of shared_buffers: its scans go through a small ring."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT count(*) FROM app.events WHERE payload LIKE 'x%'")


def _scan(dsn: str, codes: tuple[str, ...] = CODES) -> tuple[Snapshot, list[Finding]]:
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    result = run_checks(snap, [SPECS[c] for c in codes], options=OPTIONS)
    return snap, list(result.findings)


def _found(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.code, f.object.label()) for f in findings}


def test_every_planted_problem_is_found_and_nothing_else(bad: tuple[PostgresServer, str]) -> None:
    with ExitStack() as stack:
        # a pool of the application (superuser) and one of the administrators' psql sessions: with dbaudit's own
        # session, 10 of the 11 ordinary slots
        _pool(bad[1], "app_admin", "shop-web", 6, stack)
        _pool(bad[1], "dba", "psql", 3, stack)
        snap, findings = _scan(bad[1])
    assert _found(findings) == EXPECTED_BAD
    by = {(f.code, f.object.label()): f for f in findings}
    assert by[("ST01", "fsync")].severity is Severity.ERROR
    assert by[("ST01", "synchronous_commit")].severity is Severity.INFO
    assert by[("SC01", "pg_hba.conf line 4")].severity is Severity.ERROR
    assert by[("SC01", "pg_hba.conf line 2")].severity is Severity.WARNING
    assert "SQL cannot see the machine's memory" in by[("ST03", "shared_buffers")].message
    assert by[("ST07", "app_md5")].remediation.startswith("ALTER ROLE app_md5 RESET enable_hashjoin;")
    assert by[("ST08", "table cache")].details["kind"] == "table"
    assert "app.events" in by[("ST08", "table cache")].message
    assert by[("ST06", "max_wal_size")].details["requested"] >= 3
    assert "1 data statements (1,200 calls)" in by[("SC04", "app_admin")].message
    assert "holds 6 client sessions now (shop-web)" in by[("SC04", "app_admin")].message
    assert by[("ST04", "max_connections")].details == {
        "connections": 10, "usable": 11.0, "max_connections": 14.0, "used_pct": 90.9,
        "by_role": {"app_admin": 6, "dba": 3, "postgres": 1}}
    assert snap.posture is not None and snap.posture.passwords_known
    # the catalog agrees: the md5 role really stores an md5 hash, the SCRAM one a SCRAM verifier
    with psycopg.connect(bad[1]) as conn:
        kinds = dict(conn.execute("SELECT rolname, left(rolpassword, 3) FROM pg_authid "
                                  "WHERE rolname IN ('app_md5', 'app_scram')").fetchall())
    assert kinds == {"app_md5": "md5", "app_scram": "SCR"}


def test_the_look_alikes_stay_silent(good: tuple[PostgresServer, str]) -> None:
    _, findings = _scan(good[1])
    assert _found(findings) == EXPECTED_GOOD
    assert findings[0].severity is Severity.INFO


def test_no_secret_reaches_the_snapshot(bad: tuple[PostgresServer, str], good: tuple[PostgresServer, str]) -> None:
    from auditor.model import snapshot_to_json

    for server, dsn in (bad, good):
        text = snapshot_to_json(collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False)))
        for secret in ("md5-secret-1", "scram-secret-1", "pw-secret-1", "SCRAM-SHA-256$"):
            assert secret not in text
        if server.password:
            assert server.password not in text
        with psycopg.connect(dsn) as conn:
            hashes = [str(r[0]) for r in conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolpassword IS NOT NULL").fetchall()]
        assert hashes and not any(h in text for h in hashes)


# ------------------------------------------------------------------------------------------------------------
# The fixes run, and the problems are gone
# ------------------------------------------------------------------------------------------------------------


def test_printed_fixes_run_and_resolve_the_findings() -> None:
    server = _start(BAD_SETTINGS, BAD_HBA)
    try:
        dsn = _seed(server, ROLES_BAD, BAD_EXTRA)
        with psycopg.connect(_as(dsn, "app_admin"), autocommit=True) as conn:  # SC04's evidence
            for i in range(1200):
                conn.execute("SELECT name FROM app.users WHERE id = %s", (i % 2000 + 1,))
        _, before = _scan(dsn)
        # pg_hba.conf and shared_buffers are not changed by SQL alone (an edit, a restart); ST06 counts past
        # checkpoints, which a larger max_wal_size does not undo
        # SC04's fix is a new role for the application, which past statements keep pointing at
        fixable = [f for f in before if f.remediation and not f.remediation.lstrip().startswith("--")
                   and "restart" not in f.remediation and f.code not in ("ST06", "SC04")]
        assert {f.code for f in fixable} >= {"ST01", "ST02", "ST05", "ST07", "SC02", "SC03", "SC05"}
        with psycopg.connect(dsn, autocommit=True) as conn:
            for f in fixable:
                sql = (f.remediation or "").replace("<the new password>", "renewed-" + uuid.uuid4().hex[:6])
                sql = sql.split("  -- or, in psql:")[0]
                # one statement per round trip: ALTER SYSTEM refuses the implicit transaction of a batch
                for statement in (part.strip() for part in sql.split(";\n")):
                    if statement:
                        conn.execute(statement)
            # SC04's fix, run as printed: the application's new role is bounded from the start, so that
            # applying it raises no ST05 (rt16: the role it created was then flagged for missing timeouts)
            (sc04,) = [f for f in before if f.code == "SC04"]
            fix = (sc04.remediation or "").replace("<a new password>", "new-" + uuid.uuid4().hex[:6])
            created = fix.split()[2]
            assert "ALTER ROLE " + created + " SET statement_timeout = '60s';" in fix
            conn.execute(fix)  # as printed, whole: its GRANTs span lines (one statement for all the schemas)
        _wait_for_reload(dsn)
        snap_after, after = _scan(dsn)
        left = _found(after) & {(f.code, f.object.label()) for f in fixable}
        assert left == set()
        assert created.strip('"') in {r.name for r in snap_after.posture.roles or ()}  # type: ignore[union-attr]
        assert not [f for f in after if f.code == "ST05" and f.object.role == created.strip('"')]
    finally:
        server.stop()


def _wait_for_reload(dsn: str) -> None:
    """pg_reload_conf() only signals the postmaster: wait (bounded) until new sessions see fsync = on."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SHOW fsync").fetchone()
        if row == ("on",):
            return
        time.sleep(0.05)
    raise AssertionError("the reloaded configuration never reached new sessions")


# ------------------------------------------------------------------------------------------------------------
# A role with pg_monitor only: what it cannot read is skipped with the GRANT, never a false finding
# ------------------------------------------------------------------------------------------------------------


def _as(dsn: str, role: str, password: str | None = None) -> str:
    parts = dsn.split("@", 1)
    auth = quote(role, safe="") + (f":{quote(password, safe='')}" if password else "")
    return f"postgresql://{auth}@{parts[1]}"


def test_a_pg_monitor_role_gets_skips_with_grants_and_no_false_finding(good: tuple[PostgresServer, str]) -> None:
    server, dsn = good
    role, password = "monitor_" + uuid.uuid4().hex[:6], "mon-" + uuid.uuid4().hex[:8]
    with server.connect() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE pg_monitor")
    try:
        monitor = _as(dsn, role, password)
        snap = collect(parse_dsn(monitor), CollectOptions(sample=False, workload=False))
        result = run_checks(snap, [SPECS[c] for c in CODES], options=OPTIONS)
        skipped = {s.code: s for s in result.skipped}
        assert set(skipped) == {"SC01", "SC02"}
        assert skipped["SC01"].enable == (
            f"GRANT SELECT ON pg_catalog.pg_hba_file_rules TO {role}; GRANT EXECUTE ON FUNCTION "
            f"pg_catalog.pg_hba_file_rules() TO {role} (as a superuser, in database shop), or run dbaudit as a "
            "superuser")
        assert "superuser" in (skipped["SC02"].enable or "")
        # everything it could read judges as the superuser's scan does (the monitor role is dbaudit's own)
        assert _found(list(result.findings)) == EXPECTED_GOOD
        # the GRANT named in the skip enables the check
        with server.connect("shop") as conn:
            conn.execute(f"GRANT SELECT ON pg_catalog.pg_hba_file_rules TO {role}; "
                         f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_hba_file_rules() TO {role}")
        snap = collect(parse_dsn(monitor), CollectOptions(sample=False, workload=False))
        result = run_checks(snap, [SPECS["SC01"]])
        assert result.ran == ("SC01",) and result.findings == ()
    finally:
        with server.connect("shop") as conn:
            conn.execute(f"DROP OWNED BY {role}")
        with server.connect() as conn:
            conn.execute(f"DROP ROLE {role}")


def test_a_pg_monitor_role_on_an_md5_server_still_judges_the_setting(bad: tuple[PostgresServer, str]) -> None:
    server, dsn = bad
    role = "monitor_" + uuid.uuid4().hex[:6]
    with server.connect() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN IN ROLE pg_monitor")
    try:
        # the bad server trusts only postgres over TCP: the monitor role logs in with a password rule
        with server.connect() as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(f"ALTER ROLE {role} PASSWORD 'mon-secret'")
        snap = collect(parse_dsn(_as(dsn, role, "mon-secret")), CollectOptions(sample=False, workload=False))
        result = run_checks(snap, [SPECS["SC02"]])
        assert _found(list(result.findings)) == {("SC02", "password_encryption")}
    finally:
        with server.connect() as conn:
            conn.execute(f"DROP ROLE {role}")


def test_st04_superuser_sessions_in_the_reserved_slots_are_said_so() -> None:
    """rt10b: 18 client connections against the 17 slots of max_connections = 20 (3 reserved) read "(106 %)";
    every ordinary slot is taken and the rest sit in the superusers' reserved slots."""
    srv = start_postgres("auto", settings={"max_connections": "8", "superuser_reserved_connections": "3"})
    try:
        with ExitStack() as stack:
            for _ in range(6):  # superuser sessions: 5 ordinary slots, then one of the reserved ones
                stack.enter_context(psycopg.connect(srv.dsn("postgres")))
            snap = collect(parse_dsn(srv.dsn("postgres")), CollectOptions(sample=False, workload=False))
        (hit,) = run_checks(snap, [SPECS["ST04"]]).findings
        assert hit.severity is Severity.ERROR and hit.details["connections"] == 7
        assert "all 5 slots that max_connections = 8 leaves to ordinary roles are taken, and 2 more of the 3 " \
               "kept for superusers" in hit.message, hit.message
        assert "%" not in hit.message
    finally:
        srv.stop()
