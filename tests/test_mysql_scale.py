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
            # partitions.sql reads only the partitioned tables tables.sql found: none here
            cur.execute("EXPLAIN " + sql, {"schemas": (database,), "partitioned": ("",)})
            extras = [str(r[-1] or "") for r in cur.fetchall()]
            assert not any("Scanned all databases" in e for e in extras), (name, extras)
        cur.execute(folder.joinpath("constraints.sql").read_text(encoding="utf-8"), {"schemas": (database,)})
        rows = cur.fetchall()
    fk = [r for r in rows if r[3] == "child_parent_fk"]
    assert fk and fk[0][11] == "CASCADE"  # the actions still come from REFERENTIAL_CONSTRAINTS


def test_innodb_counters_are_read_for_the_audited_schema_only(
    mysql_server: MySqlServer, mysql_new_db: NewMySqlDb  # noqa: F811
) -> None:
    """INNODB_SYS_TABLESTATS lists every table InnoDB opened on the server: the counters' query sends only the
    audited schema's rows (12,000 other tables cost a 20-table scan 0.5 s), and a schema whose name InnoDB encodes
    ('-' is '@002d') still gets its counters."""
    from auditor.connectors import CollectOptions, collect
    from auditor.connectors.mysql import load_sql
    from auditor.dsn import parse_dsn

    other = mysql_new_db(SCHEMA).rsplit("/", 1)[1].split("?", 1)[0]
    odd = mysql_new_db(SCHEMA, name=f"{other}-odd").rsplit("/", 1)[1].split("?", 1)[0]
    dsn = mysql_new_db(SCHEMA)
    database = dsn.rsplit("/", 1)[1].split("?", 1)[0]
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
        if row is None or "mariadb" not in str(row[0]).lower():
            pytest.skip("INNODB_SYS_TABLESTATS is MariaDB's")
        for schema in (other, odd, database):  # InnoDB lists a table once it has opened it
            cur.execute(f"SELECT COUNT(*) FROM `{schema}`.child JOIN `{schema}`.parent")
            cur.fetchall()
        cur.execute(load_sql("innodb_tablestats.mariadb"), {"schemas": (database,)})
        names = sorted(str(r[1]) for r in cur.fetchall())
    # a name with '@' may be any schema's encoded name: sent, and the client decodes and matches it
    encoded = odd.replace("-", "@002d")
    assert names == sorted([f"{database}/child", f"{database}/parent", f"{encoded}/child", f"{encoded}/parent"])
    for schema in (database, odd):
        snap = collect(parse_dsn(mysql_server.dsn(schema)), CollectOptions(sample=False, workload=False))
        assert snap.maintenance is not None and snap.maintenance.innodb_counters
        stats = {(s.schema, s.table): s for s in snap.maintenance.innodb}
        assert set(stats) == {(schema, "child"), (schema, "parent")}
        assert all(s.shared_tablespace is False and s.stats_rows is not None for s in stats.values())
