"""IX01 on partitioned tables, on a real server: a partition's attached index is judged with its parent's.

A table partitioned by month is queried through its parent index, and partition pruning leaves the old months
unread by design: their attached indexes show idx_scan = 0, but they are the parent index's storage, and
PostgreSQL refuses to drop one alone ("cannot drop index ... because index ... requires it"). IX01 sums the
scans of every partition's attached index: a parent index scanned on one partition is in use and nothing is
reported; a parent index scanned on none is reported once, on the parent, with the DROP that runs (here).
"""

from __future__ import annotations

from typing import Any

import psycopg

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.model import Finding
from tests.conftest import NewDb

MONTHS = [f"2026_{m:02}" for m in range(1, 13)]

SCHEMA = "\n".join([
    "CREATE TABLE events (id bigint NOT NULL, tenant_id int NOT NULL, kind text NOT NULL, "
    "occurred_at timestamptz NOT NULL, PRIMARY KEY (id, occurred_at)) PARTITION BY RANGE (occurred_at);",
    *(f"CREATE TABLE events_{m} PARTITION OF events FOR VALUES FROM ('{m.replace('_', '-')}-01') "
      f"TO ('{m.replace('_', '-')}-01'::date + interval '1 month');" for m in MONTHS),
    "CREATE TABLE events_default PARTITION OF events DEFAULT;",
    # served by the parent index, through the current month only (pruning skips the others)
    "CREATE INDEX events_tenant_time_idx ON events (tenant_id, occurred_at);",
    # never used by any query, on any partition
    "CREATE INDEX events_kind_idx ON events (kind);",
    "INSERT INTO events SELECT g, g % 50, 'k' || (g % 7), timestamptz '2026-01-01' + (g % 360) * interval '1 day' "
    "FROM generate_series(1, 36000) g;",
    "ANALYZE events;",
])


def _ix01(dsn: str) -> list[Finding]:
    from checks.indexes import UnusedIndexOptions

    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    # statistics as old as a server's of weeks: the window is not what is tested here
    return list(run_checks(snap, [load_checks()["IX01"]],
                           options={"IX01": UnusedIndexOptions(min_stats_age_days=0)}).findings)


def test_a_partitioned_index_is_judged_over_all_its_partitions_and_dropped_on_the_parent(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(SCHEMA)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for tenant in range(20):
            conn.execute("SELECT kind, count(*) FROM events WHERE tenant_id = %s AND occurred_at >= "
                          "timestamptz '2026-12-20' GROUP BY kind", (tenant,))
        conn.execute("SELECT pg_stat_force_next_flush()")
        scanned: Any = conn.execute(
            "SELECT count(*) FILTER (WHERE idx_scan > 0), count(*) FILTER (WHERE idx_scan = 0) "
            "FROM pg_stat_user_indexes WHERE indexrelname LIKE 'events%tenant_id_occurred_at_idx'").fetchone()
    assert scanned == (1, 12)  # the December partition's index alone was scanned; the trap is set
    found = _ix01(dsn)
    # the trap: no partition's index reported alone, and the parent index in use is silent
    assert [(f.object.table, f.object.index) for f in found] == [("events", "events_kind_idx")], \
        [f.message for f in found]
    (f,) = found
    assert f.message.startswith("public.events_kind_idx on events had no scans on any of its 13 partitions in "), \
        f.message
    assert f.details["partitions"] == 13 and (f.details["index_bytes"] or 0) > 0
    # no CONCURRENTLY: PostgreSQL refuses it on a partitioned table's index; the drop takes the partitions' along
    # and it says that the plain DROP locks the parent and every partition (rt: BRIN on audit.events)
    assert (f.remediation or "").splitlines()[-1] == "DROP INDEX public.events_kind_idx;"
    assert "ACCESS EXCLUSIVE lock on it and on each of its 13 partitions" in (f.remediation or "")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f.remediation)  # pasted whole: the comment, then the DROP
        left: Any = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'events%' "
                                 "AND indexname LIKE '%kind%'").fetchone()
    assert left == (0,)
    assert _ix01(dsn) == []


def test_a_thousand_partitions_and_more_are_counted_with_the_house_thousands_separator(pg_new_db: NewDb) -> None:
    # IX01 counts the partitions with textfmt.plural, as every report counts: "1,001 partitions", not "1001"
    dsn = pg_new_db("""
        CREATE TABLE ev (id bigint NOT NULL, kind int NOT NULL) PARTITION BY HASH (id);
        DO $$ BEGIN FOR i IN 0..1000 LOOP
            EXECUTE format('CREATE TABLE ev_%s PARTITION OF ev FOR VALUES WITH (MODULUS 1001, REMAINDER %s)', i, i);
        END LOOP; END $$;
        CREATE INDEX ev_kind_idx ON ev (kind);
    """)
    (f,) = _ix01(dsn)
    assert f.object.index == "ev_kind_idx" and f.details["partitions"] == 1001
    assert " had no scans on any of its 1,001 partitions in " in f.message, f.message
