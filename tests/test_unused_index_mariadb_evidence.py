"""IX01 on MariaDB, on a real server: indexes in use whose reads performance_schema does not count.

performance_schema's table_io_waits_summary_by_index_usage counts rows read through an index (COUNT_READ), so an
index whose lookups all find nothing reads 0 rows although every lookup went through it (EXPLAIN: key = it); the
workload's digest shows those executions: an index used by each (SUM_NO_INDEX_USED 0), no row examined at all.
And MariaDB counts no index read on a partitioned table, even of an index a query just used: the usage there is
unknown (a note says so), never "read no rows". The look-alike, an index no statement touches, is still reported,
and its window is worded as performance_schema can know it: since the server started or the counters were last
truncated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from auditor.cli import main
from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.scoring import compute_metrics
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401  (pytest fixture)

SCHEMA = """
CREATE TABLE invoices (id int PRIMARY KEY, number varchar(40) NOT NULL, total decimal(10, 2) NOT NULL,
                       number_lower varchar(40) AS (LOWER(number)) VIRTUAL,
                       KEY invoices_number_lower_idx (number_lower), KEY invoices_total_idx (total));
INSERT INTO invoices (id, number, total) SELECT seq, CONCAT('INV-', seq), seq % 1000 FROM seq_1_to_20000;
CREATE TABLE events (id int NOT NULL, tenant_id int NOT NULL, kind varchar(10) NOT NULL, occurred_at datetime NOT NULL,
                     PRIMARY KEY (id, occurred_at), KEY events_tenant_time_idx (tenant_id, occurred_at))
  PARTITION BY RANGE (YEAR(occurred_at)) (PARTITION p2024 VALUES LESS THAN (2025),
                                          PARTITION p2025 VALUES LESS THAN (2026),
                                          PARTITION pmax VALUES LESS THAN MAXVALUE);
INSERT INTO events SELECT seq, seq % 50, CONCAT('k', seq % 7), '2024-01-01' + INTERVAL (seq % 900) DAY
  FROM seq_1_to_30000;
ANALYZE TABLE invoices, events;
"""

BY_NUMBER = "SELECT id FROM invoices WHERE number_lower = LOWER(%s)"
RECENT = "SELECT kind, COUNT(*) FROM events WHERE tenant_id = %s AND occurred_at > '2026-06-01' GROUP BY kind"


def test_indexes_in_use_without_counted_reads_stay_silent(mysql_server: MySqlServer,  # noqa: F811
                                                          tmp_path: Path) -> None:
    from checks.indexes import UnusedIndexOptions

    db, dsn = new_db_on(mysql_server, SCHEMA)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        for n in range(300):
            cur.execute(BY_NUMBER, (f"NO-SUCH-{n}",))  # every lookup misses
            cur.fetchall()
            cur.execute(RECENT, (n % 50,))
            cur.fetchall()
        cur.execute("EXPLAIN " + BY_NUMBER.replace("%s", "'x'"))
        plan: Any = cur.fetchall()
        cur.execute("EXPLAIN " + RECENT.replace("%s", "7"))
        plan_recent: Any = cur.fetchall()
        cur.execute("SELECT index_name, count_read FROM performance_schema.table_io_waits_summary_by_index_usage "
                    "WHERE object_schema = %s AND index_name IN "
                    "('invoices_number_lower_idx', 'events_tenant_time_idx') ORDER BY 1", (db,))
        counted: Any = cur.fetchall()
    # the trap: both indexes serve their statements, and performance_schema counts no row read through either
    assert plan[0][5] == "invoices_number_lower_idx" and plan_recent[0][5] == "events_tenant_time_idx"
    assert counted == (("events_tenant_time_idx", 0), ("invoices_number_lower_idx", 0))
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    found = list(run_checks(snap, [load_checks()["IX01"]],
                            options={"IX01": UnusedIndexOptions(min_stats_age_days=0)}).findings)
    # the look-alike no statement reads is still reported; the indexes in use are not
    assert [(f.object.table, f.object.index) for f in found] == [("invoices", "invoices_total_idx")], \
        [f.message for f in found]
    # the table was created after the server started: its index counters start with it
    assert "since the table was created or last altered on " in found[0].message
    assert "or since performance_schema's counters were last truncated, whichever is later" in found[0].message
    # `--select IX01` collects the workload too: the lookups' evidence is there on the command line
    config = tmp_path / "dbaudit.toml"
    config.write_text("[checks.unused-index]\nmin_stats_age_days = 0\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", dsn, "--select", "IX01", "--no-sample", "--format", "json",
                                       "--config", str(config)])
    reported = [f["object"]["index"] for f in json.loads(result.stdout)["findings"]]
    assert reported == ["invoices_total_idx"], result.stdout[-2000:]
    # the metric judges by IX01's marks: counted with the options IX01 ran with; with the default 7 days, a
    # server up for minutes is too early to judge (not "0, pass" beside IX01's candidates)
    counted_metric = compute_metrics(snap, found, checks_run=("IX01",), check_options={
        "IX01": UnusedIndexOptions(min_stats_age_days=0)})
    assert next(m for m in counted_metric if m.key == "unused_indexes").value == 1
    young = run_checks(snap, [load_checks()["IX01"]])
    (metric,) = [m for m in compute_metrics(snap, young.findings, checks_run=young.ran) if m.key == "unused_indexes"]
    assert metric.value is None and (metric.reason or "").startswith("too early to judge: the index usage statistics")
    # the partitioned table's usage is unknown, and said so
    (events,) = [ix for ix in snap.indexes if ix.name == "events_tenant_time_idx"]
    assert events.scans is None
    (note,) = [n for n in snap.notes if "partitioned" in n.message]
    assert f"{db}.events" in note.objects and "IX01 (unused-index) does not judge their indexes" in note.message
