"""Large generated schemas for the scale benchmark (issue 15): N related tables, ~4 indexes each, a foreign key each.

The shape, per table ``tNNNNN`` (PostgreSQL and MariaDB alike):

* columns id (primary key), name, amount, created_at, code, status, parent_id (a foreign key to the previous
  table), every third table other_id (a foreign key to the table at half its number);
* indexes: the primary key, name, code, (parent_id, created_at) on even tables (so the odd tables' parent_id
  keys are unindexed on PostgreSQL: IX05), a duplicate of the name index on every tenth table (IX02), a
  partial index on every seventh and an expression index on every eleventh (PostgreSQL);
* two rows each, then ANALYZE; on PostgreSQL a SECURITY DEFINER function per table (posture grows too).

About 3.8 indexes and 1.3 foreign keys per table. Run as a script it creates (once) a database on an existing
server; generating 10,000 tables takes minutes on PostgreSQL and longer on MariaDB:

    python bench/scale_schema.py postgresql://postgres@127.0.0.1:5432/bench15_10000 10000
    python bench/scale_schema.py mysql://root@127.0.0.1:3306/bench15_10000 10000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

TABLES_PER_TRANSACTION = 250  # keeps the DDL's locks within the default max_locks_per_transaction


def _name(i: int) -> str:
    return f"t{i:05d}"


def pg_batches(n_tables: int) -> Iterator[str]:
    """PostgreSQL DDL and rows, one script per transaction-sized slice."""
    parts: list[str] = []
    for i in range(1, n_tables + 1):
        name = _name(i)
        cols = ["id serial PRIMARY KEY", "name text NOT NULL", "amount numeric(12,2)",
                "created_at timestamptz NOT NULL DEFAULT now()", "code varchar(20)", "status integer"]
        if i > 1:
            cols.append(f"parent_id integer REFERENCES {_name(i - 1)} (id)")
        if i > 2 and i % 3 == 0:
            cols.append(f"other_id integer REFERENCES {_name(i // 2)} (id)")
        parts.append(f"CREATE TABLE {name} ({', '.join(cols)});")
        parts.append(f"CREATE INDEX {name}_name_idx ON {name} (name);")
        parts.append(f"CREATE INDEX {name}_code_idx ON {name} (code);")
        if i > 1 and i % 2 == 0:
            parts.append(f"CREATE INDEX {name}_parent_id_idx ON {name} (parent_id, created_at);")
        if i % 10 == 0:
            parts.append(f"CREATE INDEX {name}_name_dup_idx ON {name} (name);")
        if i % 7 == 0:
            parts.append(f"CREATE INDEX {name}_status_idx ON {name} (status) WHERE status IS NOT NULL;")
        if i % 11 == 0:
            parts.append(f"CREATE INDEX {name}_lower_code_idx ON {name} (lower(code));")
        parts.append(f"CREATE FUNCTION {name}_touch(k int) RETURNS void SECURITY DEFINER"
                     + (" SET search_path = public, pg_temp" if i % 2 else "")
                     + f" LANGUAGE sql AS 'UPDATE {name} SET name = name WHERE id = k';")
        parent = ", parent_id" if i > 1 else ""
        null = ", NULL" if i > 1 else ""
        parts.append(f"INSERT INTO {name} (name, amount, code, status{parent}) "
                     f"VALUES ('a', 1, 'x{i}', NULL{null}), ('b', 2, 'y{i}', {i % 5}{null});")
        if i % TABLES_PER_TRANSACTION == 0 or i == n_tables:
            yield "BEGIN;\n" + "\n".join(parts) + "\nCOMMIT;"
            parts = []


def mysql_batches(n_tables: int) -> Iterator[list[str]]:
    """MariaDB/MySQL statements (InnoDB indexes every foreign key by itself), in slices."""
    parts: list[str] = []
    for i in range(1, n_tables + 1):
        name = _name(i)
        cols = ["id int AUTO_INCREMENT PRIMARY KEY", "name varchar(100) NOT NULL", "amount decimal(12,2)",
                "created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP", "code varchar(20)", "status int",
                "KEY name_idx (name)", "KEY code_idx (code)"]
        if i > 1:
            cols.insert(6, "parent_id int")
            if i % 2 == 0:
                cols.append("KEY parent_id_idx (parent_id, created_at)")
            cols.append(f"CONSTRAINT {name}_parent_fk FOREIGN KEY (parent_id) REFERENCES {_name(i - 1)} (id)")
        if i > 2 and i % 3 == 0:
            cols.insert(7, "other_id int")
            cols.append(f"CONSTRAINT {name}_other_fk FOREIGN KEY (other_id) REFERENCES {_name(i // 2)} (id)")
        if i % 10 == 0:
            cols.append("KEY name_dup_idx (name)")
        parts.append(f"CREATE TABLE {name} ({', '.join(cols)}) ENGINE=InnoDB")
        parent = ", parent_id" if i > 1 else ""
        null = ", NULL" if i > 1 else ""
        parts.append(f"INSERT INTO {name} (name, amount, code, status{parent}) "
                     f"VALUES ('a', 1, 'x{i}', NULL{null}), ('b', 2, 'y{i}', {i % 5}{null})")
        if i % TABLES_PER_TRANSACTION == 0 or i == n_tables:
            yield parts
            parts = []


def create_postgres(dsn: str, n_tables: int) -> None:
    import psycopg

    parts = urlsplit(dsn)
    dbname = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            print(f"{dbname} exists: left as it is", file=sys.stderr)
            return
        conn.execute(f'CREATE DATABASE "{dbname}"')
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n, script in enumerate(pg_batches(n_tables), start=1):
            conn.execute(script.encode())
            if n % 8 == 0:
                print(f"  {n * TABLES_PER_TRANSACTION} tables", file=sys.stderr)
        conn.execute("ANALYZE")


def create_mysql(dsn: str, n_tables: int) -> None:
    import pymysql

    parts = urlsplit(dsn)
    dbname = parts.path.lstrip("/")
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "", autocommit=True)
    try:
        with conn.cursor() as cur:
            if cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (dbname,)):
                print(f"{dbname} exists: left as it is", file=sys.stderr)
                return
            cur.execute(f"CREATE DATABASE `{dbname}`")
            cur.execute(f"USE `{dbname}`")
            for n, statements in enumerate(mysql_batches(n_tables), start=1):
                cur.execute("START TRANSACTION")
                for statement in statements:
                    cur.execute(statement)
                cur.execute("COMMIT")
                if n % 4 == 0:
                    print(f"  {n * TABLES_PER_TRANSACTION} tables", file=sys.stderr)
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dsn", help="postgresql://... or mysql://... naming the database to create")
    parser.add_argument("tables", type=int)
    args = parser.parse_args()
    t0 = time.perf_counter()
    if args.dsn.startswith(("postgres://", "postgresql://")):
        create_postgres(args.dsn, args.tables)
    else:
        create_mysql(args.dsn, args.tables)
    print(f"done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
