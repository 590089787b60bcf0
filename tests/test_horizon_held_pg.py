"""MT06 dead-tuples and MT09 table-bloat while a snapshot holds vacuum's horizon, on a real PostgreSQL server.

Autovacuum is off and pgstattuple installed. ``purged`` lost 80 % of its 300,000 rows and ``updated`` had every
row updated once, both before the holder opened: plain VACUUM would remove their dead rows (MT06 offers it).
Then a session opens a REPEATABLE READ transaction and sits idle in it; ``held`` loses 80 % of its rows after
that and is vacuumed: the vacuum can remove nothing. MT06 names the session instead of offering VACUUM alone,
MT09 does not take the rows nobody may remove yet for bloat (no VACUUM FULL, which would copy them all under an
ACCESS EXCLUSIVE lock), and MT06's share of dead rows agrees with pgstattuple on every table.
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
from checks.table_maintenance import TableBloatOptions
from checks.transactions import XminHorizonOptions

SPECS = load_checks()
CODES = ("MT03", "MT06", "MT09")
MIB = 1024**2
# the holder is a few transactions old on a quiet test server: MT03's age floor is lowered, never waited for
OPTIONS = {"MT09": TableBloatOptions(min_bloat_bytes=2 * MIB), "MT03": XminHorizonOptions(max_xmin_age=1)}

TABLE = ("CREATE TABLE {name} (id bigint PRIMARY KEY, account_id int NOT NULL, kind smallint NOT NULL,"
         " payload text NOT NULL, created_at timestamptz NOT NULL)")
LOAD = ("INSERT INTO {name} SELECT g, g % 7919, g % 11, md5(g::text) || md5((g * 7)::text),"
        " now() - g * interval '1 second' FROM generate_series(1, 300000) g")
BEFORE = [
    "CREATE EXTENSION pgstattuple",
    *(s.format(name=n) for n in ("purged", "updated", "held") for s in (TABLE, LOAD)),
    "ANALYZE",
    "DELETE FROM purged WHERE id % 5 <> 0",
    "UPDATE updated SET kind = kind + 1",
]
AFTER = ["DELETE FROM held WHERE id % 5 <> 0", "VACUUM held"]


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[str, int]]:
    server: PostgresServer = start_postgres("system", settings={"autovacuum": "off"})
    try:
        with server.connect() as conn:
            conn.execute("CREATE DATABASE shop")
        dsn = server.dsn("shop")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in BEFORE:
                conn.execute(statement)
                conn.execute("SELECT pg_stat_force_next_flush()")  # counters reach the statistics at once
            with psycopg.connect(dsn, autocommit=True) as holder:
                holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                holder.execute("SELECT count(*) FROM held").fetchone()  # its snapshot is taken, then it idles
                pid = holder.info.backend_pid
                for statement in AFTER:
                    conn.execute(statement)
                    conn.execute("SELECT pg_stat_force_next_flush()")
                yield dsn, pid
    finally:
        server.stop()


def _scan(dsn: str) -> tuple[Snapshot, dict[tuple[str, str], Finding]]:
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    findings = run_checks(snap, [SPECS[c] for c in CODES], options=OPTIONS).findings
    return snap, {(f.code, f.object.label()): f for f in findings}


def test_dead_rows_a_held_horizon_keeps_point_to_the_holder(shop: tuple[str, int]) -> None:
    dsn, pid = shop
    _, by = _scan(dsn)
    held = by[("MT06", "public.held")]
    assert f"no VACUUM can remove them while session {pid} of postgres (idle in transaction, transaction open " \
        "since" in held.message and "holds vacuum's xmin horizon back: the vacuum of" in held.message
    fix = held.remediation or ""
    # a holder younger than MT06's holder_min_xmin_age (MT03's default max_xmin_age) is named for having been
    # open at the last vacuum; with default options MT03 would not report it, so MT06 cites no code (rt16)
    assert fix.startswith("-- VACUUM cannot remove these rows while vacuum's horizon is held: end the holder")
    assert fix.index(f"SELECT pg_terminate_backend({pid});") < fix.index("VACUUM (VERBOSE, ANALYZE) public.held;")
    # MT03 names the same session
    assert any(code == "MT03" and f.object.pid == pid for (code, _), f in by.items())
    # the rows deleted before the holder opened are removable: plain VACUUM, no holder named
    for table in ("purged", "updated"):
        f = by[("MT06", f"public.{table}")]
        assert f.remediation == f"VACUUM (VERBOSE, ANALYZE) public.{table};" and f.details["horizon_held_by"] == []
    # what the server says: the vacuum of held removed nothing, and one of purged removes its dead rows
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT dead_tuple_count FROM pgstattuple('held')").fetchone() == (240_000,)
        conn.execute("VACUUM held")
        assert conn.execute("SELECT dead_tuple_count FROM pgstattuple('held')").fetchone() == (240_000,)


def test_rows_nobody_may_remove_yet_are_not_bloat(shop: tuple[str, int]) -> None:
    dsn, _ = shop
    snap, by = _scan(dsn)
    assert snap.maintenance is not None and snap.maintenance.exact_bloat == "pgstattuple"
    heaps = {b.table: b for b in snap.maintenance.table_bloat or ()}
    held = heaps["held"]
    # measured: three quarters of the heap are dead row versions, almost none of it free space
    assert held.exact_dead_pct is not None and held.exact_dead_pct > 70
    assert held.exact_free_pct is not None and held.exact_free_pct < 5
    assert ("MT09", "public.held") not in by and ("MT09", "public.purged") not in by
    assert not any(code == "MT09" for code, _ in by)


def test_the_dead_share_agrees_with_pgstattuple(shop: tuple[str, int]) -> None:
    dsn, _ = shop
    _, by = _scan(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, expected in (("purged", 80.0), ("held", 80.0), ("updated", 50.0)):
            live, dead = conn.execute(f"SELECT tuple_count, dead_tuple_count FROM pgstattuple('{table}')").fetchone()
            measured = 100.0 * dead / (live + dead)
            reported = by[("MT06", f"public.{table}")].details["dead_pct"]
            assert abs(measured - expected) < 2, (table, measured)
            assert abs(reported - measured) < 2, (table, reported, measured)
