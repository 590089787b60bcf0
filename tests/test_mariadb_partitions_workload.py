"""WL02 on MariaDB with a partitioned table, prefix keys and a non-selective filter, on a real server.

MariaDB keeps its partitions inside the table: the digest names the table, the proposal is on the table, and
its fix (CREATE INDEX ... ALGORITHM=INPLACE LOCK=NONE) builds the index on every partition; it is run here and
the statement planned again. Look-alikes stay silent: a lookup served by a prefix key ``email(20)`` (no full
scan), a filter keeping a fifth of the table (an index would not help), a small table read whole.
"""

from __future__ import annotations

import random
from typing import Any

from auditor.connectors import CollectOptions, collect
from auditor.design import largest_tables
from auditor.dsn import parse_dsn
from auditor.engine import find_check, run_checks
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401  (pytest fixture)

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, email varchar(200) NOT NULL, name varchar(80) NOT NULL,
                        KEY customers_email20 (email(20)));
INSERT INTO customers SELECT seq, CONCAT('user', seq, '@example.com'), CONCAT('name', seq) FROM seq_1_to_30000;
CREATE TABLE events (id int PRIMARY KEY, kind tinyint NOT NULL, payload varchar(100) NOT NULL);
INSERT INTO events SELECT seq, seq % 5, REPEAT('x', 50) FROM seq_1_to_60000;
CREATE TABLE logs (id int NOT NULL, user_id int NOT NULL, at date NOT NULL, msg varchar(50) NOT NULL,
                   PRIMARY KEY (id, at))
  PARTITION BY RANGE (YEAR(at)) (PARTITION p2022 VALUES LESS THAN (2023), PARTITION p2023 VALUES LESS THAN (2024),
                                 PARTITION p2024 VALUES LESS THAN (2025));
INSERT INTO logs SELECT seq, seq % 20000, '2022-01-01' + INTERVAL (seq % 1000) DAY, 'm' FROM seq_1_to_90000;
CREATE TABLE plans (id int PRIMARY KEY, code varchar(10) NOT NULL);
INSERT INTO plans VALUES (1, 'free'), (2, 'pro'), (3, 'team');
ANALYZE TABLE customers, events, logs, plans;
"""

BY_USER = "SELECT msg FROM logs WHERE user_id = %s"


def _drive(server: MySqlServer, db: str) -> None:
    rnd = random.Random(5)
    with server.connect(db) as conn, conn.cursor() as cur:
        for i in range(30):
            cur.execute(BY_USER, (rnd.randint(1, 20000),))
            cur.fetchall()
            cur.execute("SELECT id, name FROM customers WHERE email = %s", (f"user{i}@example.com",))
            cur.fetchall()
            cur.execute("SELECT code FROM plans WHERE code = %s", ("pro",))
            cur.fetchall()
        for i in range(10):
            cur.execute("SELECT id, payload FROM events WHERE kind = %s", (i % 5,))
            cur.fetchall()


def test_partitioned_table_gets_its_index_and_look_alikes_stay_silent(mysql_server: MySqlServer) -> None:  # noqa: F811
    db, dsn = new_db_on(mysql_server, SCHEMA)
    _drive(mysql_server, db)
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    # the partitions are counted (the Largest tables' Partitions column, red team: "-" for 5 partitions)
    assert {t.name: t.partition_count for t in snap.tables} == {"customers": 0, "events": 0, "logs": 3, "plans": 0}
    assert {r.table.name: r.partitions for r in largest_tables(snap)}["logs"] == 3
    found = list(run_checks(snap, [find_check("WL02")]).findings)
    assert [(f.object.table, f.object.columns) for f in found] == [("logs", ("user_id",))]
    (f,) = found
    assert f.remediation == f"CREATE INDEX `logs_user_id_idx` ON `{db}`.`logs` (`user_id`) ALGORITHM=INPLACE LOCK=NONE;"
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        cur.execute("EXPLAIN PARTITIONS " + BY_USER.replace("%s", "7"))
        before: Any = cur.fetchall()
        assert before[0][3] == "p2022,p2023,p2024" and before[0][4] == "ALL"  # every partition read whole
        cur.execute(f.remediation)
        cur.execute("EXPLAIN " + BY_USER.replace("%s", "7"))
        after: Any = cur.fetchall()
        assert after[0][3] == "ref" and after[0][5] == "logs_user_id_idx", after
