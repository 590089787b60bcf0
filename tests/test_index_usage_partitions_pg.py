"""The design document's index-usage chart on a real partitioned table: a partitioned table's index is one bar.

PostgreSQL keeps no scan counter on a partitioned table's index, only on the indexes attached to it on each
partition; the chart used to leave both out (the parent had no counter, the partitions' were skipped), so a
partitioned table's indexes were missing from it. Each is now one bar, its partitions' scans and sizes summed,
as IX01 judges it; the partitions' attached indexes are not bars of their own.
"""

from __future__ import annotations

from typing import Any

import psycopg

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from reports.document import Chart, build_document
from tests.conftest import NewDb

SCHEMA = """
CREATE TABLE events (id bigint NOT NULL, tenant_id int NOT NULL, kind text NOT NULL,
                     occurred_at date NOT NULL) PARTITION BY RANGE (occurred_at);
CREATE TABLE events_q1 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2026-04-01');
CREATE TABLE events_q2 PARTITION OF events FOR VALUES FROM ('2026-04-01') TO ('2026-07-01');
CREATE TABLE events_q3 PARTITION OF events FOR VALUES FROM ('2026-07-01') TO ('2026-10-01');
CREATE INDEX events_tenant_idx ON events (tenant_id);  -- scanned on two partitions
CREATE INDEX events_kind_idx ON events (kind);  -- never scanned
INSERT INTO events SELECT g, g % 100, 'k' || (g % 7), date '2026-01-01' + (g % 270) FROM generate_series(1, 27000) g;
CREATE TABLE plain (id int PRIMARY KEY, note text);
INSERT INTO plain SELECT g, 'n' FROM generate_series(1, 100) g;
ANALYZE;
"""


def test_a_partitioned_tables_index_is_one_bar_with_its_partitions_scans_summed(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(SCHEMA)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        for quarter in ("2026-02-01", "2026-02-02", "2026-05-01"):  # two scans on q1, one on q2
            conn.execute("SELECT count(*) FROM events WHERE tenant_id = 7 AND occurred_at = %s", (quarter,))
        conn.execute("SELECT pg_stat_force_next_flush()")
        per_partition: Any = conn.execute(
            "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
            "WHERE indexrelname LIKE 'events_q%tenant_id_idx'").fetchone()
    assert per_partition == (3,)
    report = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False, workload=False)))
    (chart,) = [b for b in build_document(report).blocks if isinstance(b, Chart) and b.title.startswith("Index usage")]
    bars = {b.label: b for b in chart.bars}
    assert bars["events.events_tenant_idx (3 partitions)"].value == 3.0
    unused = bars["events.events_kind_idx (3 partitions)"]
    assert (unused.text, unused.kind) == ("0, never scanned", "warn")
    assert "plain.plain_pkey" in bars
    # the partitions' attached indexes are counted in their parent's bar, never shown alone
    assert not [label for label in bars if label.startswith("events_q")], bars
    assert "partitioned table's index" in chart.title
