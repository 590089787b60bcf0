"""Next steps and the statements left unexplained, scanned as a new user would (`dbaudit scan DSN`), on a real server.

An unindexed foreign key that a hot statement also filters on gets one CREATE INDEX from two checks (IX05 and
WL02): the text report proposes it once, as the step that saves the most measured time, and running that step's
SQL clears both findings. A statement filtering on ``now() - interval '1 day'`` (normalized by
pg_stat_statements to ``interval $1``, which the server cannot PREPARE as written) is explained; a statement on a
temporary table that no longer exists cannot be, and the text report lists it with the reason.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from click.testing import CliRunner

from auditor.cli import main
from auditor.connectors import CollectOptions, collect
from auditor.design import next_steps
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from tests.conftest import NewDb

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 20000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, total numeric NOT NULL,
                     created_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, 1 + (g * 7919) % 20000, g % 100, now() - g * interval '1 minute'
  FROM generate_series(1, 200000) g;
-- a look-alike: a foreign key that has its index and a statement that uses it
CREATE TABLE lines (id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders, qty int NOT NULL);
INSERT INTO lines SELECT g, 1 + g % 200000, g % 7 FROM generate_series(1, 100000) g;
CREATE INDEX lines_order_id_idx ON lines (order_id);
ANALYZE;
"""

BY_CUSTOMER = "SELECT id, total FROM orders WHERE customer_id = %s"
RECENT = "SELECT count(*) FROM orders WHERE created_at > now() - interval '1 day'"
TEMP = "SELECT n FROM scratch_ids WHERE n = %s"


def _drive(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(60):
            conn.execute(BY_CUSTOMER, (1 + i * 37,)).fetchall()
            conn.execute(RECENT).fetchall()
            conn.execute("SELECT qty FROM lines WHERE order_id = %s", (1 + i,)).fetchall()
        conn.execute("CREATE TEMPORARY TABLE scratch_ids AS SELECT generate_series(1, 1000) AS n")
        for i in range(30):
            conn.execute(TEMP, (i,)).fetchall()
    # the session is gone, and its temporary table with it: the statement cannot be explained any more


def _scan(dsn: str, fmt: str) -> str:
    result = CliRunner().invoke(main, ["scan", dsn, "--no-sample", "--format", fmt])
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def test_one_index_for_two_checks_and_the_unexplained_statements(pg_new_db: NewDb, pg_server: Any) -> None:
    dsn = pg_new_db(SCHEMA)
    if pg_server.has_hypopg:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION hypopg")
    _drive(dsn)
    report = json.loads(_scan(dsn, "json"))
    proposals = [(f["code"], f["remediation"]) for f in report["findings"] if f["code"] in ("IX05", "WL02")]
    fix = "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);"
    assert sorted(proposals) == [("IX05", fix), ("WL02", fix)]  # the same statement from two checks

    text = _scan(dsn, "text")
    steps = text.split("Next steps (by measured time saved, errors first)")[1].split("\n\n")[0]
    assert steps.count("Create the index on public.orders (customer_id)") == 1, steps
    assert "resolves IX05, WL02" in steps and "of measured database time" in steps
    assert "IX05 missing-fk-index" not in steps  # merged, not a step of its own

    # the typed literal was explained (as $1::interval); the temporary table's statement is listed with why not
    unexplained = " ".join(text.split("Statements not explained (1)")[1].split("\n\n")[0].split())
    assert "relation does not exist" in unexplained and "SELECT n FROM scratch_ids WHERE n = $1" in unexplained
    assert "interval" not in unexplained

    # the merged step's SQL, run as printed, clears both findings
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    found = run_checks(snap, list(load_checks().values())).findings
    (step,) = [s for s in next_steps(found, ()) if s.title.startswith("Create the index")]
    assert step.sql == (fix,)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in step.sql:
            conn.execute(statement)
        conn.execute("ANALYZE orders")
    _drive(dsn)
    again = json.loads(_scan(dsn, "json"))
    assert [f for f in again["findings"] if f["code"] in ("IX05", "WL02")] == []


def test_typed_literals_become_casts_outside_quotes() -> None:
    from auditor.workload import explainable_text

    assert explainable_text("SELECT 1 FROM t WHERE at > now() - interval $1 AND d = date $2") == (
        "SELECT 1 FROM t WHERE at > now() - $1::interval AND d = $2::date")
    assert explainable_text("SELECT timestamp   with time zone $10") == "SELECT $10::timestamp with time zone"
    # quoted text and a quoted column named like a type stay as they are
    assert explainable_text("SELECT 'interval $1', \"date\" FROM t") == "SELECT 'interval $1', \"date\" FROM t"
    assert explainable_text("SELECT intervals $1x") == "SELECT intervals $1x"
