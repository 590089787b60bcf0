"""The score on MariaDB when the account sees less: SELECT on the audited database only (no PROCESS, no
performance_schema, no mysql.user). What it cannot read counts at its worst, so its score is never above root's
on the same database (it was 25 points above on MariaDB 10.11 when the unread parts counted as clean)."""

from __future__ import annotations

import uuid

import pytest

from auditor.audit import AuditSettings, run_audit
from tests.mysql_support import MySqlServer, NewMySqlDb, mysql_new_db, mysql_server  # noqa: F401  (fixtures)

SHOP = """
CREATE TABLE customers (id int PRIMARY KEY, name text, phone1 text, phone2 text, phone3 text, city varchar(40),
                        zip varchar(40));
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int, qty int, KEY qa (qty), KEY qb (qty),
                     FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE audit_log (user_id int, msg text);
INSERT INTO customers SELECT seq, concat('c', seq), '1', '2', '3', concat('city', seq % 50), concat('z', seq % 50)
  FROM seq_1_to_2000;
INSERT INTO orders SELECT seq, 1 + seq % 2000, seq % 7 FROM seq_1_to_20000;
INSERT INTO audit_log SELECT seq, 'm' FROM seq_1_to_300;
ANALYZE TABLE customers, orders, audit_log;
"""


def test_an_account_without_process_nor_performance_schema_never_scores_above_root(
        mysql_server: MySqlServer, mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    dsn = mysql_new_db(SHOP)
    database = dsn.rsplit("/", 1)[-1]
    user = f"dbaudit_ro_{uuid.uuid4().hex[:8]}"
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%'")
        cur.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'")
    try:
        full = run_audit(dsn, AuditSettings(fail_on="never"))
        limited = run_audit(mysql_server.dsn(database, user=user, password=""), AuditSettings(fail_on="never"))
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")
    if full.snapshot is not None and full.snapshot.workload is not None and full.snapshot.workload.status != "ok":
        pytest.skip("the server records no statement digests (performance_schema off): root cannot read them either")
    assert full.score.value is not None and limited.score.value is not None
    # root reads them all; the account reads none of the workload, the InnoDB counters nor the accounts
    assert not {"WL01", "MT08", "SC08", "p95_ms", "vacuumed_on_time_pct"} & set(full.score.not_measured)
    assert {"WL01", "MT08", "SC08", "p95_ms", "vacuumed_on_time_pct"} <= set(limited.score.not_measured)
    assert limited.score.value <= full.score.value, (limited.score.label(), full.score.label())
    assert limited.score.upper is not None and limited.score.upper > limited.score.value
