"""SC04's fix on a schema-per-tenant database: one wrapped GRANT per privilege for all the schemas, run as printed.

rt17: 400 tenant schemas gave 1,207 GRANT lines, three per schema; PostgreSQL takes a list of schemas in each.
"""

from __future__ import annotations

import psycopg
from psycopg import sql as pgsql

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from checks.security import FIX_LINE_WIDTH, _app_role_fix
from tests.conftest import NewDb

TENANTS = 150
ODD = ['Mixed Case', 'we"ird', "select"]  # quoted in the list, a reserved word too


def test_sc04_fix_grants_every_schema_in_a_few_wrapped_statements(pg_new_db: NewDb) -> None:
    names = [f"tenant_{i}" for i in range(1, TENANTS + 1)] + ODD
    seed = "\n".join(
        pgsql.SQL("CREATE SCHEMA {s}; CREATE TABLE {s}.orders (id bigserial PRIMARY KEY, note text);")
        .format(s=pgsql.Identifier(n)).as_string(None) for n in names)
    dsn = pg_new_db(seed)
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    assert set(names) <= set(snap.schemas)
    fix = _app_role_fix(snap, "postgres").replace("<a new password>", "pw-sc04-many")
    grants = [line for line in fix.splitlines() if line.startswith("GRANT ")]
    assert len(grants) == 4  # CONNECT, then USAGE, tables and sequences once each for every schema
    # three lines per schema before; now each statement fills lines of the report's width
    assert len(fix.splitlines()) < len(names) // 2
    assert max(len(line) for line in fix.splitlines() if not line.startswith(("CREATE ROLE", "--"))) \
        <= FIX_LINE_WIDTH
    role = fix.split()[2]
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(fix)  # as printed, whole
            for n in names:
                schema = pgsql.Identifier(n).as_string(conn)
                row = conn.execute(
                    "SELECT has_schema_privilege(%s, %s, 'USAGE'), has_table_privilege(%s, %s, 'SELECT,INSERT'),"
                    " has_sequence_privilege(%s, %s, 'USAGE')",
                    (role.strip('"'), n, role.strip('"'), f"{schema}.orders", role.strip('"'),
                     f"{schema}.orders_id_seq")).fetchone()
                assert row == (True, True, True), n
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}")
