"""dbaudit's own session statements on MariaDB are not the application's workload (rt11 item 9).

performance_schema digests drop comments, and SET NAMES (sent by the driver), SET SESSION, START TRANSACTION READ
ONLY, SHOW GLOBAL STATUS / VARIABLES, SHOW ALL SLAVES STATUS and COMMIT take no column alias: nothing marks them.
dbaudit's connections have no default database, so the server records them with SCHEMA_NAME NULL, and the
workload reader keeps a NULL-schema digest only when it names an audited table. The same statements sent by a
monitoring tool connected to the audited database still count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.connectors.mysql import collect
from auditor.dsn import parse_dsn
from auditor.workload import latency_statements
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    mysql_server,
    new_db_on,
)

SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, v varchar(20) NOT NULL);
INSERT INTO items SELECT seq, CONCAT('v', seq) FROM seq_1_to_5000;
"""

# what dbaudit sends in its own session, as the digest table normalizes it
OWN = ("SET NAMES", "SET SESSION", "START TRANSACTION", "COMMIT", "SHOW GLOBAL VARIABLES",
       "SHOW GLOBAL STATUS WHERE", "SHOW ALL SLAVES", "SELECT `VERSION`")


def _digests(server: MySqlServer, db: str) -> list[tuple[Any, str, int]]:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME, DIGEST_TEXT, COUNT_STAR FROM performance_schema."
                    "events_statements_summary_by_digest WHERE SCHEMA_NAME = %s OR SCHEMA_NAME IS NULL", (db,))
        return [(r[0], str(r[1]), int(r[2])) for r in cur.fetchall() if r[1] is not None]


def _app(server: MySqlServer, db: str, lookups: int, monitor: int) -> None:
    with server.connect(db) as conn, conn.cursor() as cur:
        for i in range(lookups):
            cur.execute("SELECT v FROM items WHERE id = %s", (i % 5000 + 1,))
            cur.fetchall()
        for _ in range(monitor):  # a monitoring tool connected to the database: its statements count
            cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_running'")
            cur.fetchall()


def test_own_session_statements_are_left_out_of_the_workload_and_the_history(mysql_server: MySqlServer,  # noqa: F811
                                                                              tmp_path: Path) -> None:
    db, dsn = new_db_on(mysql_server, SCHEMA)
    store = str(tmp_path / "runs.db")
    settings = AuditSettings(collect=CollectOptions(sample=True, sample_rows=1000), history=store)
    _app(mysql_server, db, 30, 2)
    before = _digests(mysql_server, db)
    first = run_audit(dsn, settings)
    after = _digests(mysql_server, db)
    # the server did record dbaudit's session statements, under no schema: the audited schema's digests are
    # exactly what the application left there (its driver's SET NAMES included)
    assert [d for d in after if d[0] == db] == [d for d in before if d[0] == db]
    sent = [text for schema, text, _ in after if schema is None and (None, text, _) not in before]
    for prefix in OWN:
        assert any(t.upper().startswith(prefix.upper()) for t in sent), (prefix, sent)
    assert first.snapshot is not None
    calls = {s.query: s.calls for s in first.snapshot.statements}
    # the application's (the setup script and two connections' SET NAMES) and its monitoring tool's
    assert calls["SELECT `v` FROM `items` WHERE ID = ?"] == 30 and calls["SHOW GLOBAL STATUS LIKE ?"] == 2
    assert calls["SET NAMES `utf8mb4`"] == 2, calls
    own = [t for t in calls if t.upper().startswith(tuple(p.upper() for p in OWN)) and not t.startswith("SET NAMES")]
    assert own == [], own
    _app(mysql_server, db, 17, 3)
    second = run_audit(dsn, settings)
    h = second.history
    assert h is not None and h.previous_run is not None
    interval = sorted((s.query, s.calls) for s in h.statements)
    assert interval == [("SELECT `v` FROM `items` WHERE ID = ?", 17), ("SET NAMES `utf8mb4`", 1),
                        ("SHOW GLOBAL STATUS LIKE ?", 3)], interval
    assert second.snapshot is not None
    assert [s.query for s in latency_statements(second.snapshot)] == ["SELECT `v` FROM `items` WHERE ID = ?"]


def test_the_database_is_still_checked_at_connect(mysql_server: MySqlServer) -> None:  # noqa: F811
    """The session has no default database, so the DSN's is checked (SCHEMATA) and refused as the server does."""
    db, dsn = new_db_on(mysql_server, "CREATE TABLE t (id int PRIMARY KEY);")
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    assert snap.database == db and [t.name for t in snap.tables] == ["t"]
    upper = parse_dsn(mysql_server.dsn(db.upper()))
    try:
        collect(upper, CollectOptions(sample=False, workload=False))
    except Exception as exc:  # noqa: BLE001 - the message is what is checked
        assert f"unknown database '{db.upper()}'" in str(exc), str(exc)
    else:
        raise AssertionError("a database name in the wrong case was accepted on a case-sensitive server")
