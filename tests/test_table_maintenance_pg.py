"""Maintenance checks (MT01, MT02, MT06-MT08) on a real PostgreSQL server set up for the purpose.

The server runs with ``autovacuum = off`` so that nothing moves while the test looks: the states are set up
directly (deletes without a vacuum, per-table storage parameters, a bulk load never analyzed), the XID and
multixact ages are made by a few dozen real transactions and multixacts, and the age thresholds are lowered
through the checks' options, never by waiting. Each planted table fires; each look-alike (a table vacuumed
after its purge, a table analyzed after its load, per-table tuning, small static tables, a freshly frozen
table, a partitioned parent) stays silent. The printed fixes then run and the findings go away. A role with
pg_monitor only gets the same freeze and vacuum findings and no false ones from what it cannot read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.model import Finding, Snapshot
from auditor.scoring import compute_metrics
from auditor.throwaway import PostgresServer, start_postgres
from checks.table_maintenance import MultixactWraparoundOptions, StaleStatisticsOptions, XidWraparoundOptions

SPECS = load_checks()
CODES = ("MT01", "MT02", "MT06", "MT07", "MT08")
BURNED_XIDS = 60
MULTIXACTS = 40
# an age of 30 transactions / 20 multixacts is "far past" the freeze max age here
OPTIONS = {
    "MT01": XidWraparoundOptions(max_age_factor=30 / 200_000_000),
    "MT02": MultixactWraparoundOptions(max_age_factor=20 / 400_000_000),
    "MT08": StaleStatisticsOptions(min_stale_minutes=0),  # the tables were analyzed seconds ago
}

SEED = [
    "CREATE SCHEMA app",
    # 80 % deleted, never vacuumed: MT06 (and MT08: the deletes are modifications since the analyze)
    "CREATE TABLE app.purged (id bigint PRIMARY KEY, kind int NOT NULL, payload text NOT NULL)",
    "INSERT INTO app.purged SELECT g, g % 17, md5(g::text) FROM generate_series(1, 100000) g",
    # the same purge, then vacuumed and analyzed: silent
    "CREATE TABLE app.purged_vacuumed (id bigint PRIMARY KEY, kind int NOT NULL, payload text NOT NULL)",
    "INSERT INTO app.purged_vacuumed SELECT g, g % 17, md5(g::text) FROM generate_series(1, 100000) g",
    # autovacuum off for a table that changes, and for the TOAST of another: MT07
    "CREATE TABLE app.no_autovacuum (id bigint PRIMARY KEY, note text) WITH (autovacuum_enabled = false)",
    "INSERT INTO app.no_autovacuum SELECT g, 'n' || g FROM generate_series(1, 20000) g",
    "CREATE TABLE app.no_toast_autovacuum (id bigint PRIMARY KEY, doc text)"
    " WITH (toast.autovacuum_enabled = false)",
    "INSERT INTO app.no_toast_autovacuum SELECT g, 'd' || g FROM generate_series(1, 20000) g",
    # per-table tuning is not disabling; a small static table with autovacuum off costs nothing: silent
    "CREATE TABLE app.tuned (id bigint PRIMARY KEY) WITH (autovacuum_vacuum_scale_factor = 0.01,"
    " autovacuum_analyze_scale_factor = 0.02)",
    "INSERT INTO app.tuned SELECT g FROM generate_series(1, 20000) g",
    "CREATE TABLE app.static_codes (code text PRIMARY KEY) WITH (autovacuum_enabled = false)",
    "INSERT INTO app.static_codes VALUES ('a'), ('b'), ('c')",
    # bulk-loaded and never analyzed: MT08; the same load analyzed afterwards, and a small table: silent
    "CREATE TABLE app.loaded (id bigint, at timestamptz, note text)",
    "INSERT INTO app.loaded SELECT g, now(), 'x' FROM generate_series(1, 50000) g",
    "CREATE TABLE app.loaded_analyzed (id bigint, at timestamptz, note text)",
    "INSERT INTO app.loaded_analyzed SELECT g, now(), 'x' FROM generate_series(1, 50000) g",
    "CREATE TABLE app.small_lookup (id int, label text)",
    "INSERT INTO app.small_lookup SELECT g, 'l' || g FROM generate_series(1, 200) g",
    # a partitioned parent has no relfrozenxid and is never analyzed by autovacuum: silent
    "CREATE TABLE app.measures (id bigint, at date NOT NULL) PARTITION BY RANGE (at)",
    "CREATE TABLE app.measures_2026 PARTITION OF app.measures FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
    "INSERT INTO app.measures SELECT g, date '2026-03-01' FROM generate_series(1, 5000) g",
    # frozen at the end: its ages restart from zero (the healthy sawtooth)
    "CREATE TABLE app.frozen (id int PRIMARY KEY, note text)",
    "INSERT INTO app.frozen SELECT g, 'f' FROM generate_series(1, 100) g",
]
# separate statements after the load: statistics counters reach the server at each commit
AFTER_LOAD = [
    "ANALYZE app.purged", "ANALYZE app.purged_vacuumed", "ANALYZE app.no_autovacuum",
    "ANALYZE app.no_toast_autovacuum", "ANALYZE app.tuned", "ANALYZE app.static_codes",
    "ANALYZE app.loaded_analyzed", "ANALYZE app.measures_2026", "ANALYZE app.frozen",
    "DELETE FROM app.purged WHERE id % 5 <> 0",
    "DELETE FROM app.purged_vacuumed WHERE id % 5 <> 0",
    "VACUUM (ANALYZE) app.purged_vacuumed",
]

TABLE_FINDINGS = {
    ("MT06", "app.purged"),
    ("MT07", "app.no_autovacuum"), ("MT07", "app.no_toast_autovacuum"),
    ("MT08", "app.purged"), ("MT08", "app.loaded"),
}
# every table with rows is older than the lowered limit, except the one frozen last
AGED = ("app.purged", "app.purged_vacuumed", "app.no_autovacuum", "app.no_toast_autovacuum", "app.tuned",
        "app.static_codes", "app.loaded", "app.loaded_analyzed", "app.small_lookup", "app.measures_2026")


def _burn_xids(dsn: str, n: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(n):
            conn.execute("SELECT pg_current_xact_id()")


def _make_multixacts(dsn: str, n: int) -> None:
    """Two sessions share-locking the same row make a multixact each time."""
    with psycopg.connect(dsn) as a, psycopg.connect(dsn) as b:
        for _ in range(n):
            a.execute("SELECT 1 FROM app.frozen WHERE id = 1 FOR SHARE")
            b.execute("SELECT 1 FROM app.frozen WHERE id = 1 FOR SHARE")
            a.commit()
            b.commit()


def _seed(server: PostgresServer) -> str:
    with server.connect() as conn:
        conn.autocommit = True
        conn.execute("CREATE DATABASE shop")
    dsn = server.dsn("shop")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in SEED + AFTER_LOAD:
            conn.execute(statement)
            # a backend sends its row counts to the statistics at most once a second: at once, so that the
            # ANALYZE that follows a load sees the load (as it would after a real, slower bulk load)
            conn.execute("SELECT pg_stat_force_next_flush()")
    _burn_xids(dsn, BURNED_XIDS)
    _make_multixacts(dsn, MULTIXACTS)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (FREEZE) app.frozen")
    return dsn


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[PostgresServer, str]]:
    server = start_postgres("system", settings={"autovacuum": "off"})
    try:
        yield server, _seed(server)
    finally:
        server.stop()


def _scan(dsn: str) -> tuple[Snapshot, list[Finding]]:
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    result = run_checks(snap, [SPECS[c] for c in CODES], options=OPTIONS)
    return snap, list(result.findings)


def _found(findings: list[Finding], tables_only: bool = True) -> set[tuple[str, str]]:
    return {(f.code, f.object.label()) for f in findings if not tables_only or f.object.type == "table"}


def test_every_planted_problem_is_found_and_no_look_alike(shop: tuple[PostgresServer, str]) -> None:
    snap, findings = _scan(shop[1])
    wraparound = {(code, t) for code in ("MT01", "MT02") for t in AGED}
    assert _found(findings) == TABLE_FINDINGS | wraparound
    # the server's other databases are older than the limit too; the audited one is explained by its tables
    databases = _found(findings, tables_only=False) - _found(findings)
    assert databases == {(code, db) for code in ("MT01", "MT02") for db in ("postgres", "template0", "template1")}
    by = {(f.code, f.object.label()): f for f in findings}
    assert by[("MT01", "app.purged")].details["age"] >= BURNED_XIDS
    assert by[("MT02", "app.purged")].details["age"] >= MULTIXACTS
    dead = by[("MT06", "app.purged")]
    assert dead.details["n_dead_tup"] == 80_000 and dead.details["trigger"] == 50 + 0.2 * 100_000
    assert by[("MT08", "app.loaded")].details["last_analyze"] == "never"
    assert by[("MT07", "app.no_toast_autovacuum")].remediation == \
        "ALTER TABLE app.no_toast_autovacuum RESET (toast.autovacuum_enabled);"
    assert snap.maintenance is not None
    frozen = snap.maintenance.freeze_of("app", "frozen")
    assert frozen is not None and frozen.xid_age is not None and frozen.xid_age < 30
    parent = snap.maintenance.freeze_of("app", "measures")
    assert parent is not None and parent.kind == "partitioned" and parent.xid_age is None
    # the metrics: a young server has nearly all its XIDs left; 2 of the 11 tables with rows are late
    # (app.purged for its dead rows and its statistics, app.loaded never analyzed)
    metrics = {m.key: m for m in compute_metrics(snap, findings)}
    assert (metrics["xid_headroom_pct"].value or 0) > 99.99 and metrics["xid_headroom_pct"].passed
    on_time = metrics["vacuumed_on_time_pct"]
    assert on_time.value == 81.8 and on_time.passed is False
    # autovacuum is off on this server: a recent analyze does not excuse app.purged's 80,000 deletes since
    assert [p.value for p in on_time.parts] == [90.9, 81.8]


def test_default_thresholds_report_nothing_on_a_young_server(shop: tuple[PostgresServer, str]) -> None:
    snap = collect(parse_dsn(shop[1]), CollectOptions(sample=False, workload=False))
    result = run_checks(snap, [SPECS["MT01"], SPECS["MT02"]])
    assert list(result.findings) == []


def _as(dsn: str, role: str) -> str:
    return f"postgresql://{quote(role, safe='')}@{dsn.split('@', 1)[1]}"


def test_a_pg_monitor_role_sees_the_same_and_no_false_finding(shop: tuple[PostgresServer, str]) -> None:
    server, dsn = shop
    role = "monitor_" + uuid.uuid4().hex[:6]
    with server.connect() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN IN ROLE pg_monitor")
    snap = collect(parse_dsn(_as(dsn, role)), CollectOptions(sample=False, workload=False))
    result = run_checks(snap, [SPECS[c] for c in CODES], options=OPTIONS)
    found = _found(list(result.findings))
    assert found == TABLE_FINDINGS | {(code, t) for code in ("MT01", "MT02") for t in AGED}
    # pg_stats hides every column of the tables it may not read: "no statistics" proves nothing there, so
    # app.loaded is reported from the counters everyone may read (its modifications since no analyze)
    loaded = next(f for f in result.findings if (f.code, f.object.label()) == ("MT08", "app.loaded"))
    assert "modified since the last analyze (never)" in loaded.message
    assert any(n.area == "privileges" for n in snap.notes)
    assert snap.maintenance is not None and snap.maintenance.table_bloat is not None
    assert all(not b.estimable and "may not read" in (b.reason or "") for b in snap.maintenance.table_bloat)
    # so the bloat checks are skipped with the grant that shows the columns, never a silent pass
    bloat = run_checks(snap, [SPECS["MT09"], SPECS["MT10"]])
    assert {s.code for s in bloat.skipped} == {"MT09", "MT10"} and not bloat.findings
    assert all("GRANT" in (s.enable or "") for s in bloat.skipped)


def test_printed_fixes_run_and_resolve_the_findings(shop: tuple[PostgresServer, str]) -> None:
    _, before = _scan(shop[1])
    fixable = [f for f in before if f.object.type == "table" and f.remediation]
    with psycopg.connect(shop[1], autocommit=True) as conn:
        for f in fixable:
            # VACUUM refuses the implicit transaction of a batch: one statement per round trip
            for statement in (part.strip() for part in (f.remediation or "").split(";\n")):
                if statement.strip():
                    conn.execute(statement)
    _, after = _scan(shop[1])
    assert _found(after) == set()
