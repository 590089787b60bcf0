"""Workload hygiene: bulk loads and DDL (a dump restore, a migration) are set apart from the application's
queries — shown in a note, judged by no WL check, counted in no latency figure — statements run without a
default database are kept when their text qualifies an audited table, and no library warning reaches stderr."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.model import Statement, WorkloadInfo
from auditor.workload import APPLICATION, BULK_LOAD, DDL, DUMP, latency_statements, statement_class
from reports import render
from tests.builders import snap, table
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401

SAMPLES = Path(os.environ.get("DBAUDIT_SAMPLES", Path(__file__).resolve().parents[2] / "shared" / "samples"))


@pytest.mark.parametrize(("query", "expected"), [
    ("INSERT INTO `film` VALUES (...) /* , ... */", BULK_LOAD),  # a MariaDB/MySQL digest of a multi-row INSERT
    ("INSERT INTO film VALUES ($1, $2), ($3, $4)", BULK_LOAD),  # pg_stat_statements keeps the rows
    ("REPLACE INTO t VALUES (f($1), $2) , (f($3), $4)", BULK_LOAD),
    ("LOAD DATA INFILE ? INTO TABLE `t`", BULK_LOAD),
    ("COPY public.t (a, b) FROM STDIN", BULK_LOAD),
    ("CREATE TABLE `t` (`id` INTEGER PRIMARY KEY)", DDL),
    ("/* migration 42 */ ALTER TABLE t ADD COLUMN c int", DDL),
    ("LOCK TABLES `film` WRITE", DDL),
    ("UNLOCK TABLES", DDL),
    ("DROP INDEX CONCURRENTLY i", DDL),
    ("VACUUM ANALYZE t", DDL),
    ("INSERT INTO t (a, b) VALUES (?, ?)", APPLICATION),  # one row: the application's insert
    ("INSERT INTO t VALUES ($1, now())", APPLICATION),
    ("INSERT INTO t SELECT * FROM u WHERE a = $1", APPLICATION),
    ("COPY public.t (a, b) TO stdout", DUMP),  # pg_dump's read of a table
    ("COPY (SELECT * FROM t WHERE a = $1) TO STDOUT", DUMP),
    ("SELECT SQL_NO_CACHE `id` , `tenant_id` , `key_hash` FROM `api_keys`", DUMP),  # mariadb-dump's digest (rt16)
    ("SELECT /*!40001 SQL_NO_CACHE */ * FROM `t`", DUMP),  # mysqldump's text
    ("SELECT SQL_NO_CACHE `a` , `b` , `c` , `d...", DUMP),  # a digest cut short
    ("SELECT SQL_NO_CACHE * FROM `db` . `t` ORDER BY `id`", DUMP),  # --order-by-primary
    ("SELECT SQL_NO_CACHE * FROM `t` WHERE `id` = ?", APPLICATION),  # a lookup, whatever its cache hint
    ("SELECT SQL_NO_CACHE * FROM `a` JOIN `b` USING (`id`)", APPLICATION),
    ("SELECT * FROM `t`", APPLICATION),
    ("SELECT * FROM t WHERE a = $1", APPLICATION),
    ("WITH x AS (SELECT 1) SELECT * FROM x", APPLICATION),
])
def test_statement_class(query: str, expected: str) -> None:
    assert statement_class(query) == expected


def _slow(queryid: str, query: str) -> Statement:
    return Statement(queryid=queryid, query=query, calls=20, total_ms=40_000.0, mean_ms=2_000.0, stddev_ms=10.0,
                     min_ms=1_900.0, max_ms=2_100.0)


def test_bulk_loads_and_ddl_are_shown_apart_and_judged_by_nothing() -> None:
    statements = (
        _slow("1", "INSERT INTO `t` VALUES (...) /* , ... */"),
        _slow("2", "CREATE INDEX `i` ON `t` (`a`)"),
        _slow("3", "SELECT * FROM `t` WHERE `a` = ?"),
        Statement(queryid="4", query="SELECT * FROM `t` WHERE `id` = ?", calls=1000, total_ms=100.0, mean_ms=0.1,
                  stddev_ms=0.01, min_ms=0.05, max_ms=0.5),
    )
    s = snap(table("t", ["id", "a"], rows=100), engine="mysql", flavor="mariadb", statements=statements,
             workload=WorkloadInfo(source="performance_schema", status="ok"))
    assert [st.queryid for st in latency_statements(s)] == ["3", "4"]
    report = run_audit(s, AuditSettings(select=("WL",)))
    assert {f.object.queryid for f in report.findings if f.code == "WL01"} == {"3"}
    note = next(n for n in report.notes if n.area == "workload")
    assert "1 bulk load" in note.message and "1 DDL or maintenance statement" in note.message
    assert "20 calls, 40.0 s in total" in note.message  # the measured-time formatter (auditor.textfmt)
    from auditor.report import set_apart_note
    quick = dataclasses.replace(s, statements=(dataclasses.replace(statements[1], total_ms=52.0),))
    assert "20 calls, 52.0 ms in total" in set_apart_note(quick)[0].message  # was "0.1 s"
    assert note.objects == ("INSERT INTO `t` VALUES (...) /* , ... */", "CREATE INDEX `i` ON `t` (`a`)")
    assert "set apart" in render(report, "text")
    # P95 over the application's statements only: far below the 2-second bulk load
    p95 = json.loads(render(report, "json"))["metrics"]["p95_ms"]
    assert p95 is not None and p95 < 2_500
    only_app = run_audit(dataclasses.replace(s, statements=statements[2:]), AuditSettings(select=("WL",)))
    assert json.loads(render(only_app, "json"))["metrics"]["p95_ms"] == p95


# ---- a real dump restore on MariaDB ----------------------------------------------------------------------------

def _restore_sakila(server: MySqlServer, database: str) -> None:
    """MySQL's own Sakila dump, restored with the mariadb client as a DBA would, renamed to ``database``."""
    folder = SAMPLES / "mysql" / "sakila"
    if not folder.is_dir():
        pytest.skip(f"the public samples are not at {SAMPLES} (set DBAUDIT_SAMPLES)")
    client = "mariadb" if subprocess.run(["which", "mariadb"], capture_output=True).returncode == 0 else "mysql"
    p = parse_dsn(server.dsn()).params
    where = (["--socket", p["unix_socket"]] if p.get("unix_socket")
             else ["--host", p.get("host", "127.0.0.1"), "--port", p.get("port", "3306")])
    args = [client, "--user", p.get("user", "root"), *where]
    env = {**os.environ, "MYSQL_PWD": p.get("password", "")}
    for name in ("sakila-mv-schema.sql", "sakila-mv-data.sql"):
        text = re.sub(r"\bsakila\b", database, (folder / name).read_text(encoding="utf-8", errors="replace"))
        done = subprocess.run(args, input=text, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-2000:]


def test_a_dump_restore_is_set_apart_and_prints_no_warning(mysql_server: MySqlServer) -> None:  # noqa: F811
    database = f"dbaudit_sakila_{uuid.uuid4().hex[:6]}"
    _restore_sakila(mysql_server, database)
    try:
        # the application: queries with the database as default, and one run without a default database
        # that names its tables with the schema
        with mysql_server.connect(database) as conn, conn.cursor() as cur:
            for i in range(1, 40):
                cur.execute("SELECT title FROM film WHERE film_id = %s", (i,))
                cur.execute("SELECT COUNT(*) FROM rental WHERE customer_id = %s", (i,))
        with mysql_server.connect() as conn, conn.cursor() as cur:
            for i in range(1, 30):
                cur.execute(f"SELECT first_name, last_name FROM `{database}`.actor WHERE actor_id = %s", (i,))
        dsn = mysql_server.dsn(database)

        done = subprocess.run([sys.executable, "-m", "auditor", "scan", dsn, "--format", "json", "--fail-on",
                               "never"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0
        assert done.stderr == ""  # no sqlglot "unsupported syntax" warning, nothing else either
        report = json.loads(done.stdout)
        judged = [f["object"].get("query", "") for f in report["findings"] if f["code"].startswith("WL")]
        assert not [q for q in judged if statement_class(q) != APPLICATION], judged
        note = next(n for n in report["notes"] if n["area"] == "workload")
        assert "bulk loads" in note["message"] and "DDL" in note["message"]
        assert any(o.startswith("INSERT INTO") for o in note["objects"])

        snapshot = collect(parse_dsn(dsn), CollectOptions(sample=False))
        texts = [s.query for s in snapshot.statements]
        # run without a default database: kept, since it names the audited schema
        assert f"SELECT `first_name` , `last_name` FROM `{database}` . `actor` WHERE `actor_id` = ?" in texts
        assert any(statement_class(t) == BULK_LOAD for t in texts) and any(statement_class(t) == DDL for t in texts)
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE `{database}`")


def test_a_mariadb_dump_is_a_backup_read_not_slow_queries(mysql_server: MySqlServer) -> None:  # noqa: F811
    """rt16: mariadb-dump's whole-table reads, one call each, were 11 of 13 WL01 warnings; an application
    statement run once is no slow query either (WL01's min_calls), while the same run 20 times is."""
    database, dsn = new_db_on(mysql_server, """
        CREATE TABLE events (id bigint AUTO_INCREMENT PRIMARY KEY, kind varchar(20), body varchar(200));
        INSERT INTO events (kind, body) SELECT CONCAT('k', seq % 7), REPEAT('x', 150) FROM seq_1_to_50000;
    """)
    p = parse_dsn(dsn).params
    where = (["--socket", p["unix_socket"]] if p.get("unix_socket")
             else ["--host", p.get("host", "127.0.0.1"), "--port", p.get("port", "3306")])
    client = "mariadb-dump" if subprocess.run(["which", "mariadb-dump"], capture_output=True).returncode == 0 \
        else "mysqldump"
    done = subprocess.run([client, "--no-defaults", "--user", p.get("user", "root"), *where, "--single-transaction",
                           database], capture_output=True, timeout=300,
                          env={**os.environ, "MYSQL_PWD": p.get("password", "")})
    assert done.returncode == 0, done.stderr[-2000:]
    with mysql_server.connect(database) as conn, conn.cursor() as cur:
        cur.execute("SELECT SLEEP(0.15), COUNT(*) FROM events WHERE kind = 'k1'")  # once: an ad-hoc query
        for _ in range(20):
            cur.execute("SELECT SLEEP(0.12), MAX(id) FROM events")
    snapshot = collect(parse_dsn(dsn), CollectOptions(sample=False))
    dumps = [s for s in snapshot.statements if statement_class(s.query) == DUMP]
    assert [s.calls for s in dumps] == [1] and "SQL_NO_CACHE" in dumps[0].query
    report = run_audit(snapshot, AuditSettings(select=("WL01",)))
    assert [("MAX" in (f.object.query or ""), f.details["calls"]) for f in report.findings] == [(True, 20)]
    note = next(n for n in report.notes if n.area == "workload")
    assert "1 backup read (mysqldump / mariadb-dump SELECT SQL_NO_CACHE" in note.message
