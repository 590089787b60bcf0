"""A small MariaDB schema's catalog queries read only that schema, whatever else the server holds (issue 15).

MariaDB fills an information_schema table for the schemas its WHERE clause names and ignores a join condition:
a query that joins REFERENTIAL_CONSTRAINTS without its own schema filter reads the foreign keys of every
database (72 s beside a 10,000-table schema). EXPLAIN says which: "Scanned 1 database" or "Scanned all
databases". Every catalog query scoped by ``%(schemas)s`` must scan one database when one schema is audited.
"""

from __future__ import annotations

from importlib import resources

import pytest

from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    NewMySqlDb,
    mysql_new_db,
    mysql_server,
)

SCHEMA = """
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id int PRIMARY KEY, parent_id int, CONSTRAINT child_parent_fk FOREIGN KEY (parent_id)
  REFERENCES parent (id) ON DELETE CASCADE);
"""


def _scoped_queries() -> list[str]:
    folder = resources.files("auditor.connectors.mysql").joinpath("sql")
    return sorted(entry.name for entry in folder.iterdir()
                  if entry.name.endswith(".sql") and not entry.name.endswith(".mysql8.sql")
                  and "%(schemas)s" in entry.read_text(encoding="utf-8"))


def test_catalog_queries_scan_only_the_audited_schema(
    mysql_server: MySqlServer, mysql_new_db: NewMySqlDb  # noqa: F811
) -> None:
    dsn = mysql_new_db(SCHEMA)
    mysql_new_db(SCHEMA)  # another database with foreign keys on the same server
    database = dsn.rsplit("/", 1)[1].split("?", 1)[0]
    folder = resources.files("auditor.connectors.mysql").joinpath("sql")
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
        if row is None or "mariadb" not in str(row[0]).lower():
            pytest.skip("the information_schema scan notes of EXPLAIN are MariaDB's")
        names = _scoped_queries()
        assert "constraints.sql" in names
        for name in names:
            sql = folder.joinpath(name).read_text(encoding="utf-8")
            cur.execute("EXPLAIN " + sql, {"schemas": (database,)})
            extras = [str(r[-1] or "") for r in cur.fetchall()]
            assert not any("Scanned all databases" in e for e in extras), (name, extras)
        cur.execute(folder.joinpath("constraints.sql").read_text(encoding="utf-8"), {"schemas": (database,)})
        rows = cur.fetchall()
    fk = [r for r in rows if r[3] == "child_parent_fk"]
    assert fk and fk[0][11] == "CASCADE"  # the actions still come from REFERENTIAL_CONSTRAINTS
