"""WL02 proposes expression indexes, on a real server: ``lower(name) = lower($1)`` reads the table whole.

A plain index on ``name`` would not serve the statement; an index on ``lower(name)`` does. The proposal is kept
only with hypopg's verdict, and not for a function of a column with few distinct values: a hypothetical
expression index has no statistics, so hypopg's plan assumes a selective one. Look-alikes stay silent: the
expression index exists (written ``lower((email)::text)`` by the server), a function of a three-valued column,
and a function PostgreSQL cannot index (``date_trunc`` on timestamptz is not immutable). The fix is run and the
statement planned again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import find_check, run_checks
from auditor.model import Finding
from auditor.workload import analyze_query, normal_expression

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email varchar(200) NOT NULL,
                        plan text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO customers SELECT g, 'Name ' || g, 'user' || g || '@example.com', (ARRAY['free', 'pro', 'team'])[1 + g % 3],
                             timestamptz '2024-01-01' + g * interval '1 minute'
  FROM generate_series(1, 120000) g;
CREATE INDEX customers_lower_email_idx ON customers (lower(email));
ANALYZE;
"""

BY_NAME = "SELECT id FROM customers WHERE lower(name) = lower(%s)"
STATEMENTS = {
    BY_NAME: "Name 77",
    "SELECT id FROM customers WHERE lower(email) = lower(%s)": "user77@example.com",  # its index exists
    "SELECT id FROM customers WHERE upper(plan) = %s": "PRO",  # three values: no index helps
    "SELECT count(*) FROM customers WHERE date_trunc('day', created_at) = %s::timestamptz": "2024-02-01",
}


@pytest.fixture(scope="module")
def database(pg_server: Any) -> Iterator[str]:
    name = f"dbaudit_t_expr_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    dsn = pg_server.dsn(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
            if pg_server.has_hypopg:
                conn.execute("CREATE EXTENSION hypopg")
        yield dsn
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def _scan(dsn: str) -> list[Finding]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(30):
            for text, value in STATEMENTS.items():
                conn.execute(text, (value,)).fetchall()
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    return list(run_checks(snap, [find_check("WL02")]).findings)  # type: ignore[arg-type]


def test_an_expression_index_is_proposed_verified_and_works(database: str, pg_server: Any) -> None:
    found = _scan(database)
    if not pg_server.has_hypopg:
        assert found == []  # an expression's selectivity is a guess without hypopg: nothing is proposed
        return
    assert [f.object.query for f in found] == ["SELECT id FROM customers WHERE lower(name) = lower($1)"]
    (f,) = found
    assert f.object.columns == ("name",) and f.details["expression"] == "lower(name)"
    assert "index (lower(name)) proposed, hypopg: plan cost" in f.message
    assert f.remediation == "CREATE INDEX CONCURRENTLY customers_lower_name_idx ON public.customers ((lower(name)));"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f.remediation)
        conn.execute("ANALYZE customers")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + BY_NAME.replace("%s", "'Name 5'")).fetchall())
    assert "customers_lower_name_idx" in plan and "Seq Scan" not in plan, plan
    assert _scan(database) == []


def test_expressions_of_one_column_are_read_from_the_parse_tree() -> None:
    uses = analyze_query("SELECT 1 FROM customers c WHERE lower(c.email) = lower($1) AND c.id > $2").scopes[0].uses
    assert [(u.qualifier, u.column, u.kind, u.expression) for u in uses] == [
        ("c", "email", "expr_eq", "lower(email)"), ("c", "id", "range", None)]
    # two columns, a subquery or an aggregate: no expression index
    for where in ("a + b = $1", "lower(a) = (SELECT max(x) FROM t)", "coalesce(a, $1) = $2"):
        uses = analyze_query(f"SELECT 1 FROM t WHERE {where}").scopes[0].uses
        assert not [u for u in uses if u.kind == "expr_eq"], where
    # the server's form of an index expression matches the statement's
    assert normal_expression("lower((email)::text)") == normal_expression("lower(email)")
    assert normal_expression("date_trunc('day'::text, at)") == normal_expression("date_trunc('day', at)")
    assert normal_expression("lower(email)") != normal_expression("upper(email)")
