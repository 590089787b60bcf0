"""The MySQL/MariaDB connector on a real MariaDB started by the suite (see tests/mysql_support.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from auditor.connectors import CollectOptions
from auditor.connectors.mysql import (
    PERFORMANCE_SCHEMA_ENABLE,
    _build_constraints,
    _build_indexes,
    _build_tables,
    _session_setup,
    collect,
    integer_max,
    select_schemas,
    version_num,
)
from auditor.dsn import parse_dsn
from auditor.errors import ConnectError, DsnError
from auditor.model import IndexKey, Snapshot, snapshot_from_json, snapshot_to_json
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    NewMySqlDb,
    mysql_new_db,
    mysql_server,
    mysql_server_no_ps,
    new_db_on,
    run_script,
)

ODD = "odd `name` ü"  # a table name with a backtick, a space and a non-ASCII letter

SHOP = """
CREATE TABLE customers (
  id int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY COMMENT 'surrogate key',
  email varchar(200) NOT NULL,
  name varchar(100) DEFAULT 'anon',
  region char(2) NOT NULL,
  UNIQUE KEY uq_email (email),
  KEY ix_name_prefix (name(10)),
  FULLTEXT KEY ft_name (name)
) ENGINE=InnoDB COMMENT='people who buy';
CREATE TABLE `odd ``name`` ü` (
  `a b` int NOT NULL,
  `c`` d` int NOT NULL,
  `ü` tinyint NOT NULL AUTO_INCREMENT,
  PRIMARY KEY (`ü`),
  UNIQUE KEY `u a b` (`a b`, `c`` d`)
) AUTO_INCREMENT=120;
CREATE TABLE orders (
  id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id int unsigned NOT NULL,
  oa int, ob int,
  qty int NOT NULL CHECK (qty > 0),
  total decimal(10,2),
  placed_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_cust FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE,
  CONSTRAINT fk_odd FOREIGN KEY (oa, ob) REFERENCES `odd ``name`` ü` (`a b`, `c`` d`) ON UPDATE SET NULL,
  CONSTRAINT chk_total CHECK (total >= 0)
);
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
INSERT INTO customers (email, name, region) VALUES ('a@x', 'Ann', 'FR'), ('b@x', 'Bob', 'DE');
"""


def _collect(dsn: str, **kw: Any) -> Snapshot:
    return collect(parse_dsn(dsn), CollectOptions(**kw))


@pytest.fixture(scope="module")
def shop(mysql_server: MySqlServer) -> Iterator[tuple[str, Snapshot]]:  # noqa: F811
    _, dsn = new_db_on(mysql_server, SHOP)
    yield dsn, _collect(dsn)


def test_server_identity_and_session(shop: tuple[str, Snapshot]) -> None:
    dsn, snap = shop
    assert snap.engine == "mysql"
    assert snap.flavor == "mariadb"
    assert snap.server_version_num == version_num(snap.server_version) > 100000
    assert snap.database == parse_dsn(dsn).database and snap.schemas == (snap.database,)
    assert snap.dsn == parse_dsn(dsn).display
    assert snap.stats_reset is None
    assert snap.server_started is not None and snap.collected_at is not None
    assert 0 <= snap.stats_age_seconds() < 3600  # type: ignore[operator]
    assert "performance_schema" in snap.capabilities and "innodb_index_stats" in snap.capabilities
    assert snap.settings["performance_schema"] == "ON"
    assert int(snap.settings["innodb_page_size"]) >= 4096
    assert snap.notes == ()


def test_tables_and_columns(shop: tuple[str, Snapshot]) -> None:
    _, snap = shop
    db = snap.database
    customers = snap.table(db, "customers")
    assert customers is not None
    assert customers.kind == "table" and customers.engine == "InnoDB"
    assert customers.comment == "people who buy"
    assert customers.estimated_rows is not None and customers.total_bytes is not None
    assert customers.total_bytes == (customers.table_bytes or 0) + (customers.index_bytes or 0) > 0
    cid = customers.column("id")
    assert cid is not None
    assert "unsigned" in cid.data_type and cid.data_type.startswith("int")
    assert cid.identity == "auto_increment" and not cid.nullable and cid.comment == "surrogate key"
    name = customers.column("name")
    assert name is not None and name.nullable and name.default == "'anon'"
    assert customers.column("region") is not None and customers.column("region").default is None  # type: ignore[union-attr]
    assert [c.name for c in customers.columns] == ["id", "email", "name", "region"]
    odd = snap.table(db, ODD)
    assert odd is not None and [c.name for c in odd.columns] == ["a b", "c` d", "ü"]
    view = snap.table(db, "big_orders")
    assert view is not None and view.kind == "view" and view.estimated_rows is None


def test_indexes(shop: tuple[str, Snapshot]) -> None:
    _, snap = shop
    db = snap.database
    by_name = {(i.table, i.name): i for i in snap.indexes}
    pk = by_name[("customers", "PRIMARY")]
    assert pk.is_primary and pk.is_unique and pk.constraint_type == "primary_key" and pk.columns == ("id",)
    uq = by_name[("customers", "uq_email")]
    assert uq.is_unique and not uq.is_primary
    assert uq.constraint == "uq_email" and uq.constraint_type == "unique"
    prefix = by_name[("customers", "ix_name_prefix")]
    assert prefix.keys == (IndexKey(column="name", prefix_length=10),)
    assert prefix.columns == (None,)  # a prefix is not the column's value: no foreign key or sort uses it
    assert "(`name`(10))" in prefix.definition and prefix.constraint is None
    fulltext = by_name[("customers", "ft_name")]
    assert fulltext.method == "fulltext" and fulltext.columns == ("name",)
    assert fulltext.definition.startswith("CREATE FULLTEXT INDEX `ft_name`")
    composite = by_name[(ODD, "u a b")]
    assert composite.columns == ("a b", "c` d") and composite.is_unique
    assert "`odd ``name`` ü`" in composite.definition
    fk_index = by_name[("orders", "fk_odd")]  # the index InnoDB made for the composite foreign key
    assert fk_index.columns == ("oa", "ob") and not fk_index.is_unique and fk_index.constraint is None
    assert all(i.method == "btree" for i in snap.indexes if i.name != "ft_name")
    assert all(i.visible for i in snap.indexes)
    # sizes: InnoDB's persistent statistics in pages times the page size
    page = int(snap.settings["innodb_page_size"])
    assert pk.size_bytes is not None and pk.size_bytes % page == 0 and pk.size_bytes >= page
    assert all(i.schema == db for i in snap.indexes)


def test_constraints(shop: tuple[str, Snapshot]) -> None:
    _, snap = shop
    db = snap.database
    fks = {c.name: c for c in snap.foreign_keys()}
    odd = fks["fk_odd"]
    assert odd.columns == ("oa", "ob") and odd.ref_columns == ("a b", "c` d")
    assert odd.ref_table_key == (db, ODD)
    assert odd.on_update == "set null" and odd.on_delete == "restrict"
    cust = fks["fk_cust"]
    assert cust.columns == ("customer_id",) and cust.ref_table == "customers" and cust.on_delete == "cascade"
    assert all(c.validated for c in snap.constraints)
    checks = {c.name: c for c in snap.constraints if c.type == "check"}
    assert set(checks) == {"qty", "chk_total"}
    assert checks["qty"].columns == ("qty",) and "`qty` > 0" in checks["qty"].definition
    assert checks["chk_total"].table == "orders"
    pks = snap.constraints_of(db, ODD, "primary_key")
    assert len(pks) == 1 and pks[0].columns == ("ü",) and pks[0].index == "PRIMARY"
    uniques = snap.constraints_of(db, "customers", "unique")
    assert [u.name for u in uniques] == ["uq_email"]


def test_auto_increment_headroom(shop: tuple[str, Snapshot]) -> None:
    _, snap = shop
    seqs = {s.name: s for s in snap.sequences}
    assert set(seqs) == {"customers", ODD, "orders"}
    near = seqs[ODD]
    assert near.kind == "auto_increment" and near.last_value == 119 and near.max_value == 127
    assert near.feeds[0].column == "ü" and near.feeds[0].data_type.startswith("tinyint")
    customers = seqs["customers"]
    assert customers.last_value == 2 and customers.max_value == 4294967295
    assert seqs["orders"].max_value == 2**63 - 1


def test_snapshot_round_trips_through_json(shop: tuple[str, Snapshot]) -> None:
    _, snap = shop
    assert snapshot_from_json(snapshot_to_json(snap)) == snap


def _many_tables(n: int) -> str:
    parts = []
    for i in range(n):
        parts.append(
            f"CREATE TABLE t{i} (id int AUTO_INCREMENT PRIMARY KEY, parent int, label varchar(20), "
            f"KEY ix_label_{i} (label)"
            + (f", CONSTRAINT fk_{i} FOREIGN KEY (parent) REFERENCES t{i - 1} (id)" if i else "")
            + f", CONSTRAINT ck_{i} CHECK (parent <> 0));"
        )
    return "\n".join(parts)


def test_query_count_does_not_grow_with_the_schema(mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    small = _collect(mysql_new_db(_many_tables(3)))
    large = _collect(mysql_new_db(_many_tables(60)))
    assert len(small.tables) == 3 and len(large.tables) == 60
    assert len(large.indexes) == 60 * 2 + 59  # primary key, label index, and the FK index InnoDB adds
    assert len(large.constraints) == 60 + 59 + 60
    assert small.queries_sent == large.queries_sent
    # the catalog areas, sessions (and their connection kinds), accounts and statements per user included,
    # and the replica status (a primary: no channel)
    assert large.replication is not None and large.replication.replicas == ()
    # and the maintenance part: free space and InnoDB's counters of every table in one query each
    assert large.maintenance is not None and large.maintenance.innodb_counters
    assert len(large.maintenance.innodb or ()) == 60
    # 24: MariaDB's role grants (mysql.roles_mapping, for SC09's default roles) are one query of their own
    assert large.queries_sent <= 24
    print(f"\n60 tables: {large.queries_sent} queries, {large.collect_duration_s:.3f} s")


def test_without_database_every_user_schema_is_audited(
    mysql_server: MySqlServer, mysql_new_db: NewMySqlDb  # noqa: F811
) -> None:
    a = parse_dsn(mysql_new_db("CREATE TABLE a (id int PRIMARY KEY);")).database
    b = parse_dsn(mysql_new_db("CREATE TABLE b (id int PRIMARY KEY);")).database
    every = _collect(mysql_server.dsn(""))
    assert every.database == ""
    assert {a, b} <= set(every.schemas)
    assert not {"mysql", "information_schema", "performance_schema", "sys"} & set(every.schemas)
    only_a = _collect(mysql_server.dsn(""), include_schemas=(a,))
    assert only_a.schemas == (a,) and [t.name for t in only_a.tables] == ["a"]
    without_b = _collect(mysql_server.dsn(""), exclude_schemas=(b,))
    assert a in without_b.schemas and b not in without_b.schemas


def test_select_schemas_globs() -> None:
    names = ["mysql", "sys", "shop", "shop_archive", "crm"]
    assert select_schemas(names, None, CollectOptions()) == ["shop", "shop_archive", "crm"]
    assert select_schemas(names, None, CollectOptions(include_schemas=("shop*",))) == ["shop", "shop_archive"]
    assert select_schemas(names, None, CollectOptions(exclude_schemas=("*_archive",))) == ["shop", "crm"]
    assert select_schemas(names, "crm", CollectOptions(include_schemas=("shop",))) == ["crm"]


def test_index_usage_from_performance_schema(
    mysql_server: MySqlServer, mysql_new_db: NewMySqlDb  # noqa: F811
) -> None:
    dsn = mysql_new_db(
        "CREATE TABLE items (id int PRIMARY KEY, sku varchar(20), color varchar(10), KEY ix_sku (sku), "
        "KEY ix_color (color));"
        "INSERT INTO items VALUES (1, 'a', 'red'), (2, 'b', 'blue'), (3, 'c', 'red');"
    )
    db = parse_dsn(dsn).database
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        for _ in range(5):
            cur.execute("SELECT id FROM items FORCE INDEX (ix_sku) WHERE sku = 'b'")
            cur.fetchall()
    snap = _collect(dsn)
    scans = {i.name: i.scans for i in snap.indexes}
    assert scans["ix_sku"] is not None and scans["ix_sku"] >= 5
    assert scans["ix_color"] == 0


def test_performance_schema_off_gives_unknown_usage_and_a_note(
    mysql_server_no_ps: Any,  # noqa: F811
) -> None:
    _, dsn = new_db_on(mysql_server_no_ps, "CREATE TABLE t (id int PRIMARY KEY, v int, KEY ix_v (v));")
    snap = _collect(dsn)
    assert snap.settings["performance_schema"] == "OFF"
    assert "performance_schema" not in snap.capabilities
    assert all(i.scans is None for i in snap.indexes) and len(snap.indexes) == 2
    (note,) = [n for n in snap.notes if n.area == "statistics"]
    assert note.enable == PERFORMANCE_SCHEMA_ENABLE == "[mysqld]\nperformance_schema = ON"
    assert "performance_schema is off" in note.message
    assert snap.table(snap.database, "t") is not None  # the catalog is still collected
    # SC09 reads the statements per user: skipped for the reason that holds, with the line that enables it
    from auditor.engine import load_checks, unmet_precondition

    unmet = unmet_precondition(load_checks()["SC09"], snap)
    assert unmet is not None and "performance_schema is off" in unmet.reason and "older dbaudit" not in unmet.reason
    assert unmet.enable == PERFORMANCE_SCHEMA_ENABLE


def test_limited_user_gets_notes_not_errors(mysql_server: MySqlServer, mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    dsn = mysql_new_db("CREATE TABLE t (id int PRIMARY KEY, v int, KEY ix_v (v));")
    db = parse_dsn(dsn).database
    user = f"aud_{db[-8:]}"
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 's3cret-pw'")
        cur.execute(f"GRANT SELECT ON `{db}`.* TO '{user}'@'%'")
    try:
        snap = _collect(mysql_server.dsn(db, user=user, password="s3cret-pw"))
        assert snap.table(db, "t") is not None and len(snap.indexes) == 2
        assert all(i.size_bytes is None for i in snap.indexes)
        areas = {n.area: n for n in snap.notes}
        assert "mysql.innodb_index_stats" in areas["indexes"].message
        assert areas["indexes"].enable == "GRANT SELECT ON mysql.innodb_index_stats TO <audit user>"
        assert "innodb_index_stats" not in snap.capabilities
        with pytest.raises(ConnectError) as err:
            _collect(mysql_server.dsn(db, user=user, password="wrong-pw-123"))
        assert str(err.value).startswith("access denied for user") and "wrong-pw-123" not in str(err.value)
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")


def test_session_is_read_only_and_bounded(mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    bounds = CollectOptions(statement_timeout_ms=2500, lock_timeout_ms=1500)
    mariadb = _session_setup("mariadb", 101106, bounds)
    assert "max_statement_time = 2.500" in mariadb and "lock_wait_timeout = 2" in mariadb
    # a client that stops reading frees its statement at the statement bound plus a grace, not at 60 s
    assert "net_write_timeout = 6" in mariadb
    assert "max_execution_time" not in mariadb and "information_schema_stats_expiry" not in mariadb
    mysql8 = _session_setup("mysql", 80036, CollectOptions(statement_timeout_ms=2500))
    assert "max_execution_time = 2500" in mysql8 and "information_schema_stats_expiry = 0" in mysql8
    assert "max_statement_time" not in mysql8


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_errors_are_one_line_without_password(mysql_server: MySqlServer) -> None:  # noqa: F811
    cases = {
        f"mysql://root:hunter2pw@127.0.0.1:{_unused_port()}/x": "connection refused",
        "mysql://root:hunter2pw@nonexistent-host.invalid/x": "unknown host",
        mysql_server.dsn("no_such_db_here"): "unknown database 'no_such_db_here'",
    }
    for dsn, expected in cases.items():
        with pytest.raises(ConnectError) as err:
            _collect(dsn, connect_timeout_s=2)
        text = str(err.value)
        assert expected in text and "hunter2pw" not in text and "\n" not in text


def test_connect_timeout_bounds_a_silent_server() -> None:
    with socket.socket() as silent:  # accepts TCP but never greets: a hung or firewalled server
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        started = time.monotonic()
        with pytest.raises(ConnectError, match="timed out"):
            _collect(f"mysql://root:pw@127.0.0.1:{silent.getsockname()[1]}/x", connect_timeout_s=1)
        assert time.monotonic() - started < 5


def test_unix_socket_dsn(mysql_server: MySqlServer, mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    path = getattr(mysql_server, "socket_path", None)
    if path is None:  # an external server: its socket is unknown, TCP is covered by every other test
        path_dsn = None
    else:
        db = parse_dsn(mysql_new_db("CREATE TABLE s (id int PRIMARY KEY);")).database
        path_dsn = f"mysql://root@localhost/{db}?socket={path}"
        snap = _collect(path_dsn)
        assert [t.name for t in snap.tables] == ["s"]
    parsed = parse_dsn("mariadb://app:pw@%2Frun%2Fmysqld%2Fmysqld.sock/shop")
    assert parsed.params["unix_socket"] == "/run/mysqld/mysqld.sock" and parsed.database == "shop"


def test_dsn_tls_options() -> None:
    dsn = parse_dsn(
        "mysql://app:pw@db:3307/shop?ssl_ca=/etc/ca.pem&ssl_cert=/c.pem&ssl_key=/k.pem&ssl_verify=1"
    )
    assert dsn.engine == "mysql" and dsn.params["port"] == "3307"
    tls = (dsn.params["ssl_ca"], dsn.params["ssl_cert"], dsn.params["ssl_key"])
    assert tls == ("/etc/ca.pem", "/c.pem", "/k.pem")
    assert dsn.params["ssl_verify"] == "true" and "pw" not in dsn.display
    for bad, words in (
        ("mysql://db/shop?sslmode=require", "unknown option 'sslmode'"),
        ("mysql://db/shop?ssl_verify=maybe", "ssl_verify must be true or false"),
        ("mysql://db/shop?ssl_mode=sometimes", "ssl_mode must be one of"),
    ):
        with pytest.raises(DsnError, match=words):
            parse_dsn(bad)


def test_integer_max() -> None:
    assert integer_max("tinyint(4)") == 127 and integer_max("tinyint(3) unsigned") == 255
    assert integer_max("int unsigned") == 4294967295 and integer_max("bigint(20) unsigned") == 2**64 - 1
    assert integer_max("mediumint") == 8388607 and integer_max("decimal(10,0)") is None


# ---- MySQL 8-only shapes, on rows recorded from MySQL 8.0.36 (the suite runs MariaDB) ----------------------


def _stat_row(index: str, seq: int, column: str | None, **kw: Any) -> dict[str, Any]:
    row = {"schema_name": "shop", "table_name": "orders", "index_name": index, "seq_in_index": seq,
           "column_name": column, "expression": None, "collation": "A", "sub_part": None, "non_unique": 1,
           "index_type": "BTREE", "is_visible": "YES", "comment": ""}
    row.update(kw)
    return row


def test_mysql8_functional_descending_and_invisible_keys() -> None:
    rows = [
        _stat_row("PRIMARY", 1, "id", non_unique=0),
        _stat_row("ix_lower_email", 1, None, expression="lower(`email`)"),
        _stat_row("ix_lower_email", 2, "placed_at", collation="D"),
        _stat_row("ix_hidden", 1, "status", is_visible="NO"),
    ]
    constraints = _build_constraints(
        [{"schema_name": "shop", "table_name": "orders", "constraint_name": "PRIMARY",
          "constraint_type": "PRIMARY KEY", "column_name": "id", "position": 1, "ref_schema": None,
          "ref_table": None, "ref_column": None, "update_rule": None, "delete_rule": None,
          "match_option": None}],
        [],
    )
    usage = [{"schema_name": "shop", "table_name": "orders", "index_name": "PRIMARY", "count_read": 7,
              "count_fetch": 7}]
    indexes = {i.name: i for i in _build_indexes(rows, constraints, [], 16384, usage, missing_is_zero=True)}
    func = indexes["ix_lower_email"]
    assert func.keys == (IndexKey(expression="lower(`email`)"), IndexKey(column="placed_at", descending=True))
    assert func.columns == (None, "placed_at")
    assert func.definition.endswith("((lower(`email`)), `placed_at` DESC) USING BTREE")
    assert not indexes["ix_hidden"].visible and indexes["ix_lower_email"].visible
    assert indexes["PRIMARY"].scans == 7 and indexes["ix_hidden"].scans == 0
    assert indexes["PRIMARY"].constraint == "PRIMARY" and indexes["PRIMARY"].size_bytes is None


def test_statement_bound_is_enforced(mysql_server: MySqlServer) -> None:  # noqa: F811
    # the session the connector opens carries its bound: a sleeping query is cut by the server itself
    setup = _session_setup("mariadb", 101100, CollectOptions(statement_timeout_ms=300))
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(setup)
        run_script(conn, "SET SESSION TRANSACTION READ ONLY; START TRANSACTION READ ONLY")
        with pytest.raises(pymysql.err.OperationalError) as err:
            cur.execute("SELECT SLEEP(3)")
        assert err.value.args[0] == 1969  # max_statement_time exceeded
        with pytest.raises(pymysql.err.MySQLError) as ro:
            cur.execute("CREATE DATABASE dbaudit_must_not_exist")
        assert ro.value.args[0] == 1792  # cannot execute statement in a READ ONLY transaction


def test_a_password_inside_the_user_name_does_not_mask_the_name(mysql_server: MySqlServer) -> None:  # noqa: F811
    """rt11: user fx_audit with password audit -> "access denied for user 'fx_***'" made the message useless."""
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'fx_audit'@'%' IDENTIFIED BY 'audit'")
        cur.execute("CREATE DATABASE IF NOT EXISTS fx_closed")
    try:
        with pytest.raises(ConnectError) as err:
            _collect(mysql_server.dsn("fx_closed", user="fx_audit", password="audit"), connect_timeout_s=5)
        assert "user 'fx_audit' may not use database 'fx_closed'" in str(err.value), str(err.value)
        with pytest.raises(ConnectError) as err:
            _collect(mysql_server.dsn("fx_closed", user="fx_audit", password="audi"), connect_timeout_s=5)
        text = str(err.value)
        assert "access denied for user 'fx_audit'" in text and "audi'" not in text.replace("fx_audit'", ""), text
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'fx_audit'@'%'")
            cur.execute("DROP DATABASE IF EXISTS fx_closed")


def test_columns_take_their_ordinal_order_whatever_order_the_rows_come_in() -> None:
    """columns.sql has no ORDER BY (the server's sort was a quarter of its CPU for 10,000 tables): the client
    orders them."""
    table = {"schema_name": "shop", "table_name": "orders", "table_type": "BASE TABLE", "engine": "InnoDB",
             "estimated_rows": 10, "table_bytes": 16384, "index_bytes": 0, "data_free": 0, "auto_increment": None,
             "create_options": "", "comment": ""}
    rows = [{"schema_name": "shop", "table_name": "orders", "column_name": name, "position": position,
             "column_type": "int(11)", "is_nullable": "NO", "column_default": None, "extra": "", "comment": "",
             "generation_expression": None}
            for name, position in (("total", 3), ("id", 1), ("customer_id", 2))]
    tables, _ = _build_tables([table], rows)
    assert [(c.name, c.position) for c in tables[0].columns] == [("id", 1), ("customer_id", 2), ("total", 3)]
