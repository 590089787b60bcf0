"""IX01 on MariaDB (rt17): an index created inside the statistics window, on a statement's advice, is not
proposed for dropping, and the young-statistics evidence counts reads, not rows.

- The table's last ALTER (TABLES.CREATE_TIME; CREATE INDEX is one) restarts its index counters, and the index may
  be that young: judged over the time since, and no drop statement before ``min_stats_age_days``.
- A digest that started before that ALTER pools executions from before the index (full scans) and after it
  (lookups that find nothing read 0 rows through it): its comparison of the index's leading column with a value
  is evidence of use, even on mature statistics.
- performance_schema's COUNT_READ counts rows fetched: 5 reads of a 30-row table are 150 rows; the evidence is
  the executions of the recorded statements on the table that used an index.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import find_check, run_checks
from auditor.model import Finding, Severity, Snapshot
from auditor.scoring import unused_candidate_reason
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401  (pytest fixture)

SCHEMA = """
CREATE TABLE invoices (id INT PRIMARY KEY, tenant_id INT NOT NULL, status VARCHAR(10) NOT NULL,
                       external_ref VARCHAR(40) NOT NULL, KEY invoices_tenant_idx (tenant_id));
INSERT INTO invoices SELECT seq, seq % 100, ELT(1 + seq % 3, 'open', 'paid', 'void'), CONCAT('EXT-', seq)
  FROM seq_1_to_2000;
CREATE TABLE tiny (id INT PRIMARY KEY, a INT, b INT, KEY tiny_a_idx (a), KEY tiny_b_idx (b));
INSERT INTO tiny SELECT seq, seq, seq FROM seq_1_to_30;
ANALYZE TABLE invoices, tiny;
"""


def _ix01(snap: Snapshot) -> dict[str, Finding]:
    return {f.object.index or "": f for f in run_checks(snap, [find_check("IX01")]).findings}


def test_index_made_on_advice_is_not_proposed_for_dropping(mysql_server: MySqlServer) -> None:  # noqa: F811
    db, dsn = new_db_on(mysql_server, SCHEMA)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        for i in range(50):  # before the index: full scans that find nothing
            cur.execute("SELECT id, status FROM invoices WHERE external_ref = %s", (f"none-{i}",))
        time.sleep(1.2)  # CREATE_TIME has whole seconds: the ALTER comes after the digest's FIRST_SEEN
        cur.execute("CREATE INDEX invoices_external_ref_idx ON invoices (external_ref)")
        cur.execute("CREATE INDEX invoices_status_idx ON invoices (status)")  # look-alike: never read
        for i in range(60):  # through the new index, finding nothing: 0 rows read
            cur.execute("SELECT id, status FROM invoices WHERE external_ref = %s", (f"none-{i}",))
        for i in range(150):  # evidence: 150 reads of 20 rows through the tenant index (and the 60 above)
            cur.execute("SELECT id FROM invoices WHERE tenant_id = %s", (i % 100,))
            cur.fetchall()
        for _ in range(5):  # 5 reads of all 30 rows through tiny_a_idx: 150 rows, but 5 reads
            cur.execute("SELECT id FROM tiny FORCE INDEX (tiny_a_idx) WHERE a > 0")
            cur.fetchall()
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    found = _ix01(snap)
    assert "invoices_external_ref_idx" not in found, found["invoices_external_ref_idx"].message
    assert "tiny_b_idx" not in found  # 150 rows read is 5 reads, below min_table_scans (100)
    young = found["invoices_status_idx"]
    assert young.severity == Severity.INFO and young.remediation is None
    assert "no drop proposed" in young.message and "since the table was created or last altered" in young.message
    assert "read the table through an index 210 times" in young.message, young.message
    assert young.details["table_scans"] == 210 and young.details["table_rows_read"] == 3000
    assert unused_candidate_reason(young) == "too early to judge"  # a candidate to watch, not "kept"
    # eight days later, nothing else changed: the digest still pools calls from before the index
    later = dataclasses.replace(snap, collected_at=(snap.collected_at or snap.server_started) + timedelta(days=8))
    found = _ix01(later)
    assert "invoices_external_ref_idx" not in found
    mature = found["invoices_status_idx"]
    assert mature.severity == Severity.WARNING and mature.remediation is not None
    assert "DROP INDEX `invoices_status_idx`" in mature.remediation
