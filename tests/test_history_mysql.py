"""Run history on a real MariaDB: the interval between two scans holds exactly the workload run between them.

performance_schema keeps its digests per schema and statement, not per user: the history's user is "" there.
No MySQL 8 server here: its paths are the same tables (events_statements_summary_by_digest, Uptime).
"""

from __future__ import annotations

import re
from pathlib import Path

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.report import Report
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    mysql_server,
    new_db_on,
)

SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, v varchar(20) NOT NULL);
INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
CREATE TABLE loose (x int);
"""


def _scan(dsn: str, store: Path) -> Report:
    return run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False), history=str(store)))


def _run(server: MySqlServer, db: str, n: int) -> None:
    with server.connect(db) as conn, conn.cursor() as cur:
        for i in range(n):
            cur.execute("SELECT v FROM items WHERE id = %s", (i % 4 + 1,))
            cur.fetchall()


def test_two_mariadb_scans_report_exactly_the_workload_between(mysql_server: MySqlServer,  # noqa: F811
                                                                tmp_path: Path) -> None:
    db, dsn = new_db_on(mysql_server, SCHEMA)
    store = tmp_path / "runs.db"
    _run(mysql_server, db, 25)
    first = _scan(dsn, store)
    assert first.history is not None and first.history.previous_run is None
    _run(mysql_server, db, 41)
    second = _scan(dsn, store)
    h = second.history
    assert h is not None and h.previous_run is not None
    # MariaDB's digest text: SELECT `v` FROM `items` WHERE ID = ?
    lookups = [s for s in h.statements if re.search(r"from `items` where `?id`? = \?", s.query, re.I)]
    assert [(s.calls, s.user, s.reset) for s in lookups] == [(41, "", False)], [s.query for s in h.statements]
    assert lookups[0].fingerprint.startswith("my:") and lookups[0].mean_ms > 0
    assert not [r for r in h.resets if r.kind in ("restart", "counter_decrease")]
    assert all(s.calls > 0 for s in h.statements)
