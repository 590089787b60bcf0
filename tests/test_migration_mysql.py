"""The migration plan on a real MariaDB: its index steps run forward, back and forward again with rows arriving,
and a counter's widening goes through an online schema-change tool rather than a blocking ALTER.

MySQL 8's CHECK ... NOT ENFORCED (the plan's stand-in for NOT VALID there) has no MariaDB equivalent: that path is
tested on a recorded snapshot in test_migration_plan.py, not on a server.
"""

from __future__ import annotations

from typing import Any

import pymysql

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import all_checks, run_checks
from auditor.migration import Step, plan
from auditor.model import Finding, ObjectRef, Severity
from auditor.relations import IndexNames, create_index_sql
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401  (pytest fixture)

SCHEMA = """
CREATE TABLE accounts (id int AUTO_INCREMENT PRIMARY KEY, name varchar(80) NOT NULL, email varchar(120) NOT NULL,
  KEY ix_name (name), KEY ix_name_again (name), KEY ix_email (email), KEY ix_email_name (email, name))
  AUTO_INCREMENT = 2000000000;
CREATE TABLE events (id bigint AUTO_INCREMENT PRIMARY KEY, account_id int NOT NULL, kind varchar(20) NOT NULL,
  at datetime NOT NULL);
"""


def _run(conn: pymysql.connections.Connection[Any], statements: tuple[str, ...]) -> None:
    with conn.cursor() as cur:
        for sql in statements:
            if all(line.strip().startswith("--") for line in sql.splitlines() if line.strip()):
                continue
            cur.execute(sql)


def _indexes(conn: pymysql.connections.Connection[Any], table: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT index_name FROM information_schema.statistics "
                    "WHERE table_schema = DATABASE() AND table_name = %s", (table,))
        return {str(r[0]) for r in cur.fetchall()}


def _write(conn: pymysql.connections.Connection[Any], n: int) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO accounts (name, email) VALUES (%s, %s)", (f"n{n}", f"e{n}@example.com"))
        cur.execute("INSERT INTO events (account_id, kind, at) VALUES (%s, 'login', NOW())", (n,))


def test_index_steps_run_forward_back_and_forward_on_mariadb(mysql_server: MySqlServer) -> None:  # noqa: F811
    db, dsn = new_db_on(mysql_server, SCHEMA)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO events (account_id, kind, at) SELECT seq % 500, 'view', NOW() "
                    "FROM seq_1_to_20000")
        cur.execute("INSERT INTO accounts (name, email) SELECT concat('a', seq), concat('a', seq, '@x') "
                    "FROM seq_1_to_2000")
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    findings = list(run_checks(snap, all_checks()).findings)
    codes = {(f.code, f.object.index or f.object.sequence or f.object.table) for f in findings}
    assert ("IX02", "ix_name_again") in codes and ("IX03", "ix_email") in codes, codes
    # a WL02-style proposal: the statement the workload check prints for events(account_id, at)
    events = snap.table(db, "events")
    assert events is not None
    proposal = create_index_sql(snap, events, ("account_id", "at"), IndexNames(snap))
    findings.append(Finding("WL02", "missing-index-for-query", Severity.WARNING, "workload",
                            ObjectRef("query", db, "events", query="SELECT ..."), "reads events fully",
                            remediation=proposal))
    p = plan(snap, findings)
    by_code = {c: s for s in p.steps for c in s.codes}
    add, dup, red = by_code["WL02"], by_code["IX02"], by_code["IX03"]
    assert add.phase == 1 and "ALGORITHM=INPLACE LOCK=NONE" in add.forward[0]
    assert dup.phase == red.phase == 4 and all("ALGORITHM=INPLACE, LOCK=NONE" in s.forward[0] for s in (dup, red))

    with mysql_server.connect(db) as conn:
        steps: list[Step] = [add, dup, red]
        for n, step in enumerate(steps):
            table = step.table.split(".", 1)[1]
            before = _indexes(conn, table)
            _run(conn, step.forward)
            changed = _indexes(conn, table)
            assert changed != before, step.title
            _write(conn, 10 * n)
            _run(conn, step.rollback)
            assert _indexes(conn, table) == before, step.title
            _write(conn, 10 * n + 1)
            _run(conn, step.forward)
            assert _indexes(conn, table) == changed, step.title
        assert "events_account_id_at_idx" in _indexes(conn, "events")
        assert not {"ix_name_again", "ix_email"} & _indexes(conn, "accounts")

    # the counter: a type change copies the table in MySQL and MariaDB, so the step is an online tool's run
    widen = [s for s in p.steps if "KY04" in s.codes]
    assert len(widen) == 1 and widen[0].phase == 3
    assert all(line.startswith("--") for line in widen[0].forward)
    assert any("pt-online-schema-change --alter" in line and f"D={db},t=accounts" in line
               for line in widen[0].forward)
    assert any(f"RENAME TABLE `{db}`.`accounts` TO" in line for line in widen[0].rollback)
