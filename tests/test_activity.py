"""The sessions area (Snapshot.activity) on real servers, and the literal-free statement text it keeps."""

from __future__ import annotations

import uuid

import psycopg
import pymysql
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.model import snapshot_from_json, snapshot_to_json
from auditor.operations import LOCAL, LOOPBACK, REMOTE, redact_statement
from tests.conftest import NewDb, PgServer
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    NewMySqlDb,
    mysql_new_db,
    mysql_server,
)

CATALOG_ONLY = CollectOptions(sample=False, workload=False)


@pytest.mark.parametrize(("text", "engine", "expected"), [
    ("SELECT * FROM t WHERE a = 'x''y' AND b = 42 AND c = $1 -- 'z'", "postgresql",
     "SELECT * FROM t WHERE a = ? AND b = ? AND c = $1"),
    ("UPDATE accounts SET balance = balance - 100.50, note = E'it\\'s' WHERE id = 7", "postgresql",
     "UPDATE accounts SET balance = balance - ?, note = ? WHERE id = ?"),
    ('SELECT $$secret$$, $q$a$q$, "Col 1", x1 FROM t2 /* 4111-1111 */', "postgresql",
     'SELECT ?, ?, "Col 1", x1 FROM t2'),
    ("SELECT * FROM t WHERE card = '4111 1111 1111", "postgresql", "SELECT * FROM t WHERE card = ?"),
    ("SELECT B'0101', X'ff', U&'d\\0061t', 1.5e3, .5", "postgresql", "SELECT ?, ?, ?, ?, ?"),
    ('select * from t where a = "str" and b=0x1F # 123', "mysql", "select * from t where a = ? and b=?"),
    ("INSERT INTO `t 1` VALUES (1,'a\\'b'),(2,'c')", "mysql", "INSERT INTO `t 1` VALUES (?,?),(?,?)"),
    ("", "postgresql", None),
])
def test_statement_text_keeps_no_literal(text: str, engine: str, expected: str | None) -> None:
    assert redact_statement(text, engine) == expected


def test_statement_text_is_one_bounded_line() -> None:
    text = "SELECT a,\n  b\n  FROM " + "x" * 500
    out = redact_statement(text, limit=40)
    assert out is not None and len(out) == 40 and "\n" not in out and out.endswith("...")


# ------------------------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------------------------


def test_pg_sessions_with_their_transactions(pg_new_db: NewDb) -> None:
    dsn = pg_new_db("CREATE TABLE accounts (id int PRIMARY KEY, owner text); INSERT INTO accounts VALUES (1, 'x');")
    with psycopg.connect(dsn, application_name="billing") as idle_conn, \
            psycopg.connect(dsn, autocommit=True, application_name="reporting") as plain_conn:
        idle_conn.execute("UPDATE accounts SET owner = 'Jane Secret' WHERE id = 1")  # stays open: idle in trx
        plain_conn.execute("SELECT 1")
        idle_pid, plain_pid = idle_conn.info.backend_pid, plain_conn.info.backend_pid
        snap = collect(parse_dsn(dsn), CATALOG_ONLY)
    assert snap.activity is not None and snap.activity.complete
    by_pid = {b.pid: b for b in snap.activity.backends}
    idle = by_pid[idle_pid]
    assert idle.state == "idle in transaction" and idle.application_name == "billing"
    assert idle.backend_type == "client backend" and idle.client == LOOPBACK and idle.client_addr == "127.0.0.1"
    assert idle.ssl is False and idle.xact_start is not None and idle.state_change is not None
    assert idle.xid_age is not None and idle.xid_age >= 0  # it wrote: it has a transaction id
    assert idle.statement == "UPDATE accounts SET owner = ? WHERE id = ?"
    assert by_pid[plain_pid].state == "idle" and by_pid[plain_pid].xact_start is None
    own = [b for b in snap.activity.backends if b.is_self]
    assert len(own) == 1 and own[0].application_name == "dbaudit" and own[0].xact_start is not None
    # the server's own processes come along, without a client
    assert any(b.backend_type == "checkpointer" and b.client is None for b in snap.activity.backends)
    assert "Jane Secret" not in snapshot_to_json(snap)
    assert snapshot_from_json(snapshot_to_json(snap)).activity == snap.activity


def test_pg_sessions_of_other_roles_are_hidden_without_pg_read_all_stats(pg_server: PgServer,
                                                                        pg_new_db: NewDb) -> None:
    role = f"i10a_plain_{uuid.uuid4().hex[:6]}"
    dsn = pg_new_db(f"CREATE ROLE {role} LOGIN; CREATE TABLE t (id int);")
    try:
        with psycopg.connect(dsn) as busy:
            busy.execute("INSERT INTO t VALUES (1)")
            plain_dsn = dsn.replace("postgres@", f"{role}@", 1)
            snap = collect(parse_dsn(plain_dsn), CATALOG_ONLY)
            busy_pid = busy.info.backend_pid
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")
    assert snap.activity is not None and not snap.activity.complete
    assert snap.activity.enable == f"GRANT pg_monitor TO {role}"
    hidden = next(b for b in snap.activity.backends if b.pid == busy_pid)
    # hidden details are unknown, never "idle" or "no transaction"
    assert not hidden.visible and hidden.state is None and hidden.xact_start is None and hidden.statement is None
    assert next(b for b in snap.activity.backends if b.is_self).visible


# ------------------------------------------------------------------------------------------------------------
# MySQL / MariaDB
# ------------------------------------------------------------------------------------------------------------


def _connect(dsn: str, **kw: object) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    p = parse_dsn(dsn).params
    return pymysql.connect(host=p["host"], port=int(p["port"]), user=p.get("user", "root"),
                           password=p.get("password", ""), database=p.get("database"), **kw)  # type: ignore[arg-type]


def test_mysql_threads_with_their_innodb_transactions(mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    dsn = mysql_new_db("CREATE TABLE accounts (id int PRIMARY KEY, owner varchar(50)) ENGINE=InnoDB;"
                       "INSERT INTO accounts VALUES (1, 'x');")
    with _connect(dsn, autocommit=False) as idle_conn, _connect(dsn, autocommit=True) as plain_conn:
        with idle_conn.cursor() as cur:
            cur.execute("UPDATE accounts SET owner = 'Jane Secret' WHERE id = 1")
            cur.execute("SELECT CONNECTION_ID()")
            row = cur.fetchone()
        assert row is not None
        idle_pid = int(row[0])
        with plain_conn.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            plain_row = cur.fetchone()
        assert plain_row is not None
        snap = collect(parse_dsn(dsn), CATALOG_ONLY)
    assert snap.activity is not None and snap.activity.complete
    by_pid = {b.pid: b for b in snap.activity.backends}
    idle = by_pid[idle_pid]
    assert idle.state == "idle in transaction" and idle.command == "Sleep" and idle.backend_type == "client"
    assert idle.xact_start is not None and idle.rows_modified == 1 and idle.client in (LOOPBACK, LOCAL, REMOTE)
    assert idle.ssl is False  # performance_schema.threads says TCP/IP
    assert by_pid[int(plain_row[0])].state == "idle" and by_pid[int(plain_row[0])].xact_start is None
    assert sum(1 for b in snap.activity.backends if b.is_self) == 1
    assert "Jane Secret" not in snapshot_to_json(snap)


def test_mysql_threads_need_the_process_privilege(mysql_server: MySqlServer,  # noqa: F811
                                                  mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    dsn = mysql_new_db("CREATE TABLE t (id int PRIMARY KEY);")
    db = parse_dsn(dsn).params["database"]
    user = f"i10a_{uuid.uuid4().hex[:6]}"
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
        cur.execute(f"GRANT SELECT ON `{db}`.* TO '{user}'@'%'")
    try:
        snap = collect(parse_dsn(mysql_server.dsn(db, user=user, password="pw")), CATALOG_ONLY)
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")
    assert snap.activity is not None and not snap.activity.complete and snap.activity.backends == ()
    assert snap.activity.enable == f"GRANT PROCESS ON *.* TO '{user}'@'%'"
    assert any(n.area == "activity" and n.enable == snap.activity.enable for n in snap.notes)
