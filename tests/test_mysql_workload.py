"""The MySQL/MariaDB workload and sampling probes, and WL01-WL04 / NF01-NF04 on them.

A real MariaDB started by the suite (performance_schema ON) runs a planted workload sent through PyMySQL as an
application would; each WL check must fire on its planted statement and stay silent on the look-alikes. The
MySQL 8-only paths (QUANTILE_95/99, QUERY_SAMPLE_TEXT, EXPLAIN FORMAT=JSON) run on rows recorded from MySQL 8.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from auditor.connectors import CollectOptions
from auditor.connectors.mysql import collect
from auditor.connectors.mysql.workload import build_statements, counter_plan, plan_from_explain
from auditor.dsn import parse_dsn
from auditor.engine import RunResult, all_checks, run_checks, select_checks
from auditor.model import (
    Column,
    Constraint,
    Index,
    IndexKey,
    Snapshot,
    Statement,
    Table,
    WorkloadInfo,
    snapshot_from_json,
    snapshot_to_json,
)
from auditor.mysql_workload import (
    PERCENTILE_METHOD_QUANTILES,
    analyze_mysql,
    explain_scans,
    stddev_from_extremes,
)
from auditor.workload import LatencyModel, index_coverage, statement_percentile, workload_percentiles
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    mysql_server,
    mysql_server_no_ps,
    new_db_on,
)

# 20,000 orders from a cross join of digits (portable: no MariaDB sequence engine, no recursion limit)
SCHEMA = """
CREATE TABLE digits (d int PRIMARY KEY);
INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
CREATE TABLE countries (code char(2) PRIMARY KEY, name varchar(20) NOT NULL);
INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Germany'), ('it', 'Italy');
CREATE TABLE customers (id int PRIMARY KEY, email varchar(50) NOT NULL UNIQUE, country char(2) NOT NULL);
INSERT INTO customers SELECT n, CONCAT('c', n, '@example.com'), ELT(1 + n % 3, 'fr', 'de', 'it')
  FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS n
        FROM digits a, digits b, digits c, digits e) s WHERE n <= 5000;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status varchar(10) NOT NULL,
                     created_at datetime NOT NULL, total int NOT NULL, KEY ix_orders_created (created_at));
INSERT INTO orders SELECT n, 1 + n % 5000, ELT(1 + n % 3, 'new', 'paid', 'sent'),
    '2024-01-01' + INTERVAL n MINUTE, n % 100
  FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n
        FROM digits a, digits b, digits c, digits e, digits f) s WHERE n <= 20000;
ANALYZE TABLE orders, customers, countries;
"""


def drive(server: MySqlServer, db: str) -> None:
    with server.connect(db) as conn, conn.cursor() as cur:
        def run(sql: str, *args: Any) -> None:
            cur.execute(sql, args or None)
            cur.fetchall()

        for i in range(30):
            cid = 1 + (i * 37) % 5000
            run("SELECT * FROM orders WHERE customer_id = %s", cid)  # WL02: no index on customer_id
            run("SELECT * FROM orders WHERE id = %s", cid)  # look-alikes: primary key, indexed range,
            run("SELECT * FROM orders WHERE created_at >= %s ORDER BY created_at LIMIT 10", "2024-01-10")
            run("SELECT SUM(total) FROM orders WHERE status = %s", "paid")  # a third of the table
            run("SELECT * FROM countries WHERE name = %s", "Italy")  # a 3-row table
            run("SELECT * FROM orders ORDER BY id LIMIT %s OFFSET %s", 20, 200)  # WL04
            # WL04 in the comma form, whose digest MariaDB writes as LIMIT ?, ...
            run("SELECT id FROM orders ORDER BY created_at DESC LIMIT %s, 20", 40 * (i % 5))
            run("SELECT * FROM orders WHERE id > %s ORDER BY id LIMIT %s", 200, 20)  # keyset look-alike
            run("SELECT * FROM customers WHERE email = %s", f"c{cid}@example.com")
        # WL01: twenty slow calls (its min_calls); its look-alikes: one slow outlier among many fast calls, and
        # a slow statement run once (an ad-hoc query: one run, no percentile)
        for _ in range(20):
            run("SELECT SLEEP(%s), NOW()", 0.12)
        run("SELECT SLEEP(%s), CURTIME()", 0.3)
        for i in range(60):
            run("SELECT SLEEP(%s), CURDATE()", 0.3 if i == 0 else 0.0005)
        for page in range(100):  # WL03: a page of 15 orders, then each customer; the look-alike returns many rows
            cur.execute("SELECT id, customer_id FROM orders WHERE created_at >= %s ORDER BY created_at LIMIT 15",
                        (f"2024-01-{1 + page % 10:02d}",))
            for _, cid in cur.fetchall():
                run("SELECT * FROM customers WHERE id = %s", cid)
        for _ in range(1500):
            run("SELECT code FROM countries WHERE name <> %s", "x")


@pytest.fixture(scope="module")
def scanned(mysql_server: MySqlServer) -> Iterator[tuple[Snapshot, RunResult]]:  # noqa: F811
    db, dsn = new_db_on(mysql_server, SCHEMA)
    drive(mysql_server, db)
    collect(parse_dsn(dsn), CollectOptions())  # a first scan: its statements must not count in the second
    started = time.monotonic()
    snap = collect(parse_dsn(dsn), CollectOptions())
    print(f"\nMariaDB collect with probes: {time.monotonic() - started:.3f} s, catalog {snap.queries_sent} "
          f"queries, workload {snap.workload.queries_sent if snap.workload else '-'}, sampling "
          f"{snap.sampling.queries if snap.sampling else '-'}")
    yield snap, run_checks(snap, select_checks(all_checks(), ["WL"]))


def _queries(result: RunResult, code: str) -> list[str]:
    return sorted(" ".join(str(f.object.query).split()) for f in result.findings if f.code == code)


def test_probe_reads_the_digests(scanned: tuple[Snapshot, RunResult]) -> None:
    snap, result = scanned
    w = snap.workload
    assert w is not None and w.status == "ok" and w.source == "performance_schema"
    assert not result.skipped
    assert w.excluded_self > 0 and w.excluded_catalog >= 0 and w.queries_sent == 1  # no EXPLAIN on MariaDB
    texts = [s.query for s in snap.statements]
    assert "SELECT * FROM `orders` WHERE `customer_id` = ?" in texts
    assert not any("dbaudit_probe" in t or "information_schema" in t.lower() for t in texts)
    lookup = next(s for s in snap.statements if s.query.startswith("SELECT * FROM `customers` WHERE"))
    assert lookup.calls == 1500 and lookup.mean_ms > 0 and lookup.min_ms <= lookup.mean_ms <= lookup.max_ms
    assert lookup.p95_ms is None and lookup.stddev_estimated  # MariaDB: no quantiles, stddev estimated
    assert snap.server_started is not None  # the statistics' age: server uptime
    assert snapshot_from_json(snapshot_to_json(snap)) == snap


def test_slow_query(scanned: tuple[Snapshot, RunResult]) -> None:
    assert _queries(scanned[1], "WL01") == ["SELECT `SLEEP` (?) , NOW ( )"]


def test_missing_index(scanned: tuple[Snapshot, RunResult], mysql_server: MySqlServer) -> None:  # noqa: F811
    snap, result = scanned
    found = [f for f in result.findings if f.code == "WL02"]
    assert [(f.object.table, f.object.columns) for f in found] == [("orders", ("customer_id",))]
    fix = found[0].remediation
    assert fix == (
        f"CREATE INDEX `orders_customer_id_idx` ON `{snap.database}`.`orders` (`customer_id`) "
        "ALGORITHM=INPLACE LOCK=NONE;")
    assert found[0].details["plan_method"] == "digest_counters"
    # the fix runs as printed (MariaDB refuses the comma of ALTER TABLE's form here) and builds the index
    with mysql_server.connect(snap.database) as conn, conn.cursor() as cur:
        cur.execute(fix)
        try:
            cur.execute("SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
                        " AND INDEX_NAME = 'orders_customer_id_idx'")
            assert cur.fetchall() == (("customer_id",),)
            with pytest.raises(pymysql.err.ProgrammingError, match="1064"):  # the form the tests once asserted
                cur.execute(fix.replace("orders_customer_id_idx", "comma_form_idx").replace(" LOCK", ", LOCK"))
        finally:
            cur.execute("DROP INDEX `orders_customer_id_idx` ON `orders`")


def test_n_plus_one_and_offset(scanned: tuple[Snapshot, RunResult]) -> None:
    (lookup,) = _queries(scanned[1], "WL03")
    assert lookup.startswith("SELECT * FROM `customers` WHERE") and lookup.endswith("= ?")
    assert _queries(scanned[1], "WL04") == [
        "SELECT * FROM `orders` ORDER BY ID LIMIT ? OFFSET ?",
        "SELECT ID FROM `orders` ORDER BY `created_at` DESC LIMIT ?, ...",
    ]


def test_metrics_state_their_method(scanned: tuple[Snapshot, RunResult]) -> None:
    snap, _ = scanned
    lat = workload_percentiles(snap)
    assert lat.p95_ms is not None and lat.p99_ms is not None and "MariaDB" in lat.method
    pct, how = index_coverage(snap)
    assert pct is not None and pct < 100.0 and "SUM_NO_INDEX_USED" in how


def test_performance_schema_off_skips_with_the_my_cnf_line(mysql_server_no_ps: Any) -> None:  # noqa: F811
    _, dsn = new_db_on(mysql_server_no_ps, "CREATE TABLE t (id int PRIMARY KEY, v int);")
    snap = collect(parse_dsn(dsn), CollectOptions())
    assert snap.workload is not None and snap.workload.status == "not_loaded"
    result = run_checks(snap, select_checks(all_checks(), ["WL"]))
    assert {s.code for s in result.skipped} == {"WL01", "WL02", "WL03", "WL04"}
    assert all(s.enable == "[mysqld]\nperformance_schema = ON" for s in result.skipped)
    assert all("performance_schema is off" in s.reason for s in result.skipped)
    assert snap.table(snap.database, "t") is not None  # the catalog checks still have their input


def test_no_privilege_on_performance_schema_skips_with_the_grant(mysql_server: MySqlServer) -> None:  # noqa: F811
    db, _ = new_db_on(mysql_server, "CREATE TABLE t (id int PRIMARY KEY);")
    user = f"wl_{db[-8:]}"
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-123456'")
        cur.execute(f"GRANT SELECT ON `{db}`.* TO '{user}'@'%'")
    try:
        snap = collect(parse_dsn(mysql_server.dsn(db, user=user, password="pw-123456")), CollectOptions())
        assert snap.workload is not None and snap.workload.status == "no_privilege"
        result = run_checks(snap, select_checks(all_checks(), ["WL01"]))
        (skip,) = result.skipped
        assert skip.enable == f"GRANT SELECT ON performance_schema.* TO '{user}'@'%'"
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")


# ---- normalization sampling on MariaDB ---------------------------------------------------------------------

NF_SCHEMA = """
CREATE TABLE digits (d int PRIMARY KEY);
INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
CREATE TABLE contacts (
  id int PRIMARY KEY, phone1 varchar(20), phone2 varchar(20), phone3 varchar(20),
  address_line1 varchar(50), address_line2 varchar(50),  -- look-alike: the conventional postal pair
  tags varchar(100),                                      -- planted NF02: comma-separated lists
  note varchar(100),                                      -- look-alike: prose with commas
  customer_id int NOT NULL, customer_email varchar(50),   -- planted NF04: email determined by customer_id
  code varchar(20) NOT NULL,                              -- look-alike: unique in the data
  kind varchar(10) NOT NULL                               -- look-alike: constant
);
INSERT INTO contacts
SELECT n, CONCAT('555-', n), NULL, NULL, CONCAT(n, ' Main St'), 'Apt 2',
       CONCAT_WS(',', ELT(1 + n % 4, 'red', 'green', 'blue', 'black'), ELT(1 + n % 3, 'big', 'small', 'tiny'),
                 ELT(1 + n % 5, 'new', 'old', 'used', 'mint', 'worn')),
       CONCAT('I liked it, and it works ', n), 1 + n % 40, CONCAT('cust', 1 + n % 40, '@example.com'),
       CONCAT('code-', n), 'standard'
FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d AS n FROM digits a, digits b, digits c) s WHERE n <= 600;
ANALYZE TABLE contacts;
"""


def test_normalization_checks_on_a_sampled_mariadb_table(mysql_server: MySqlServer) -> None:  # noqa: F811
    _, dsn = new_db_on(mysql_server, NF_SCHEMA)
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False))
    assert snap.sampling is not None and snap.sampling.enabled and snap.sampling.queries >= 2
    contacts = snap.sampling.table(snap.database, "contacts")
    assert contacts is not None and contacts.rows == 600 and contacts.method == "full"
    assert all(not c.examples for c in contacts.columns)  # no value leaves the server without --show-samples
    result = run_checks(snap, select_checks(all_checks(), ["NF"]))
    found = {(f.code, f.object.columns) for f in result.findings if f.object.table == "contacts"}
    assert found == {
        ("NF01", ("phone1", "phone2", "phone3")),
        ("NF02", ("tags",)),
        ("NF04", ("customer_id", "customer_email")),
    }
    shown = collect(parse_dsn(dsn), CollectOptions(workload=False, show_samples=True))
    tags = next(c for c in shown.sampling.table(snap.database, "contacts").columns  # type: ignore[union-attr]
                if c.name == "tags")
    assert tags.examples and "," in tags.examples[0]
    off = collect(parse_dsn(dsn), CollectOptions(workload=False, sample=False))
    assert off.sampling is not None and not off.sampling.enabled
    skipped = run_checks(off, select_checks(all_checks(), ["NF02"])).skipped
    assert [s.code for s in skipped] == ["NF02"] and "--no-sample" in skipped[0].reason


def test_primary_key_range_sample_on_a_larger_table(mysql_server: MySqlServer) -> None:  # noqa: F811
    _, dsn = new_db_on(mysql_server, SCHEMA)
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False, sample_rows=1000))
    orders = snap.sampling.table(snap.database, "orders")  # type: ignore[union-attr]
    assert orders is not None and orders.method == "pk_ranges" and orders.rows == 1000
    ids = next(c for c in orders.columns if c.name == "id")
    assert ids.distinct == 1000 and ids.nulls == 0


# ---- parsing digest texts (sqlglot, MySQL dialect) ----------------------------------------------------------


def test_digest_shapes() -> None:
    shape = analyze_mysql(
        "SELECT * FROM `orders` AS `o` JOIN `customers` `c` ON `c` . `id` = `o` . `customer_id` "
        "WHERE `o` . `status` IN (...) AND `o` . `created_at` >= ? ORDER BY `o` . `created_at` LIMIT ?, ?")
    assert shape.kind == "select" and shape.has_offset and shape.has_limit and shape.params == 4
    uses = {(u.qualifier, u.column, u.kind) for u in shape.scopes[0].uses}
    assert {("o", "status", "eq"), ("o", "created_at", "range"), ("o", "created_at", "sort"),
            ("c", "id", "join"), ("o", "customer_id", "join")} == uses
    assert [r.name for r in shape.relations] == ["orders", "customers"]
    assert analyze_mysql("SELECT `offset` FROM `pages` WHERE `offset` = ?").has_offset is False
    assert analyze_mysql("SELECT * FROM `t` LIMIT 1").scopes[0].limit_one
    paged = analyze_mysql("SELECT `id` FROM `kb` ORDER BY `published_at` DESC LIMIT ?, ...")
    assert paged.kind == "select" and paged.scopes[0].has_offset
    assert analyze_mysql("SELECT `a` , `b` , ...").kind == "unparsed"  # cut at max_digest_length
    assert analyze_mysql("SET SESSION `sql_mode` = ?").kind == "session"
    assert analyze_mysql("COMMIT").kind == "session"
    assert analyze_mysql("SHOW WARNINGS").kind == "session"
    assert analyze_mysql("SELECT * FROM `t` WHERE `a` = ? OR `b` = ?").scopes[0].uses == ()
    assert analyze_mysql("SELECT * FROM `t` WHERE `a` = ... ").kind == "unparsed"  # cut at max_digest_length


def test_stddev_from_extremes_recovers_a_log_normal() -> None:
    # a shifted log-normal with known spread: the estimate from (calls, mean, min, max) must land near it
    import random
    import statistics

    rng = random.Random(7)
    values = [1.0 + rng.lognormvariate(0.0, 0.6) for _ in range(2000)]
    mean, low, high = statistics.fmean(values), min(values), max(values)
    estimate = stddev_from_extremes(len(values), mean, low, high)
    true = statistics.pstdev(values)
    assert 0.6 * true < estimate < 1.6 * true, (estimate, true)
    assert stddev_from_extremes(2, 5.0, 1.0, 9.0) == 0.0  # two calls: the model uses its two points


# ---- MySQL 8 paths on recorded rows --------------------------------------------------------------------------


def _shop() -> Snapshot:
    orders = Table(schema="shop", name="orders", estimated_rows=250_000, columns=(
        Column("id", "bigint"), Column("customer_id", "int"), Column("status", "varchar(10)"),
        Column("created_at", "datetime")))
    return Snapshot(
        engine="mysql", flavor="mysql", server_version="8.0.36", server_version_num=80036, database="shop",
        schemas=("shop",), tables=(orders,),
        indexes=(Index(schema="shop", table="orders", name="PRIMARY", keys=(IndexKey("id"),), is_unique=True,
                       is_primary=True, constraint="PRIMARY", constraint_type="primary_key"),),
        constraints=(Constraint(schema="shop", table="orders", name="PRIMARY", type="primary_key",
                                columns=("id",), index="PRIMARY"),),
    )


# events_statements_summary_by_digest rows as MySQL 8.0.36 returned them (timers in picoseconds)
MYSQL8_DIGESTS = [
    {"schema_name": "shop", "digest": "3c1f0c0e2b5d7a8c9d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e",
     "digest_text": "SELECT * FROM `orders` WHERE `customer_id` = ? ORDER BY `created_at` DESC LIMIT ?",
     "calls": 1200, "total_ps": 186_000_000_000_000, "min_ps": 61_000_000_000, "avg_ps": 155_000_000_000,
     "max_ps": 912_000_000_000, "rows_sent": 12000, "rows_affected": 0, "rows_examined": 300_000_000,
     "no_index_used": 1200, "first_seen": None, "quantile_95_ps": 301_995_172_040,
     "quantile_99_ps": 524_807_460_249,
     "sample_text": "SELECT * FROM orders WHERE customer_id = 4711 ORDER BY created_at DESC LIMIT 10",
     "digest_consumer": "YES"},
    {"schema_name": "shop", "digest": "9a8b7c6d5e4f30211f2e3d4c5b6a79881726354453627181909a8b7c6d5e4f30",
     "digest_text": "SELECT * FROM `orders` WHERE `id` = ?", "calls": 50000, "total_ps": 9_000_000_000_000,
     "min_ps": 40_000_000, "avg_ps": 180_000_000, "max_ps": 5_100_000_000, "rows_sent": 50000,
     "rows_affected": 0, "rows_examined": 50000, "no_index_used": 0, "first_seen": None,
     "quantile_95_ps": 331_131_121, "quantile_99_ps": 912_010_839, "sample_text":
     "SELECT * FROM orders WHERE id = 42", "digest_consumer": "YES"},
    {"schema_name": "shop", "digest": "00aa", "digest_text": "SELECT `dbaudit_probe` , `id` FROM `orders`",
     "calls": 1, "total_ps": 1, "min_ps": 1, "avg_ps": 1, "max_ps": 1, "rows_sent": 0, "rows_affected": 0,
     "rows_examined": 0, "no_index_used": 0, "first_seen": None, "quantile_95_ps": 1, "quantile_99_ps": 1,
     "sample_text": None, "digest_consumer": "YES"},
    {"schema_name": "shop", "digest": "00bb", "digest_text": "SELECT * FROM `performance_schema` . `threads`",
     "calls": 1, "total_ps": 1, "min_ps": 1, "avg_ps": 1, "max_ps": 1, "rows_sent": 0, "rows_affected": 0,
     "rows_examined": 0, "no_index_used": 0, "first_seen": None, "quantile_95_ps": 1, "quantile_99_ps": 1,
     "sample_text": None, "digest_consumer": "YES"},
]

# EXPLAIN FORMAT=JSON of the first sample text on MySQL 8.0.36
MYSQL8_EXPLAIN = {
    "query_block": {
        "select_id": 1,
        "cost_info": {"query_cost": "25312.75"},
        "ordering_operation": {
            "using_filesort": True,
            "table": {
                "table_name": "orders", "access_type": "ALL", "rows_examined_per_scan": 248113,
                "rows_produced_per_join": 24811, "filtered": "10.00",
                "cost_info": {"read_cost": "22831.62", "eval_cost": "2481.13", "prefix_cost": "25312.75",
                              "data_read_per_join": "5M"},
                "used_columns": ["id", "customer_id", "status", "created_at"],
                "attached_condition": "(`shop`.`orders`.`customer_id` = 4711)",
            },
        },
    }
}


def test_mysql8_quantiles_sample_text_and_explain_json() -> None:
    snap = _shop()
    statements, samples, counts = build_statements(MYSQL8_DIGESTS, snap, is_mysql8=True)
    assert counts == {"self": 1, "catalog": 1} and len(statements) == 2
    hot = next(s for s in statements if "customer_id" in s.query)
    assert hot.p95_ms == pytest.approx(301.995, abs=1e-3) and hot.p99_ms == pytest.approx(524.807, abs=1e-3)
    assert hot.mean_ms == pytest.approx(155.0) and hot.calls == 1200 and hot.no_index_calls == 1200
    assert hot.sample_text is None and samples[hot.queryid].startswith("SELECT * FROM orders WHERE")
    # the fitted model reproduces the server's P95, which WL01 reads as is
    assert LatencyModel.of(hot).quantile(0.95) == pytest.approx(hot.p95_ms, rel=0.02)
    assert statement_percentile(hot, 0.95) == hot.p95_ms

    plan = plan_from_explain(snap, hot, MYSQL8_EXPLAIN)
    assert plan.method == "explain_json" and plan.total_cost == pytest.approx(25312.75)
    (scan,) = plan.scans
    assert (scan.table, scan.scan_type, scan.plan_rows) == ("orders", "Full Table Scan", pytest.approx(24811.3))
    (proposal,) = plan.proposals
    assert proposal.columns == ("customer_id", "created_at") and proposal.sort == ("created_at",)
    assert [a["access_type"] for a in explain_scans(MYSQL8_EXPLAIN)] == ["ALL"]

    lookup = next(s for s in statements if s is not hot)
    lookup_plan = plan_from_explain(snap, lookup, {"query_block": {"table": {
        "table_name": "orders", "access_type": "const", "key": "PRIMARY", "rows_examined_per_scan": 1,
        "filtered": "100.00"}}})
    snap = dataclasses.replace(
        snap, statements=statements, plans=(plan, lookup_plan),
        workload=WorkloadInfo(source="performance_schema", percentile_method=PERCENTILE_METHOD_QUANTILES))
    result = run_checks(snap, select_checks(all_checks(), ["WL01", "WL02"]))
    by_code = {f.code: f for f in result.findings}
    assert set(by_code) == {"WL01", "WL02"} and len(result.findings) == 2
    assert by_code["WL01"].details["p95_source"] == "server" and "P95 302.0 ms" in by_code["WL01"].message
    assert by_code["WL02"].remediation == (
        "CREATE INDEX `orders_customer_id_created_at_idx` ON `shop`.`orders` (`customer_id`, `created_at`) "
        "ALGORITHM=INPLACE LOCK=NONE;")
    lat = workload_percentiles(snap)
    assert lat.method == PERCENTILE_METHOD_QUANTILES and lat.p99_ms is not None
    pct, _ = index_coverage(snap)
    assert pct == pytest.approx(100.0 * 50000 / 51200, abs=0.1)


def test_counter_plan_ignores_a_table_read_through_an_index() -> None:
    snap = _shop()
    statements, _, _ = build_statements(MYSQL8_DIGESTS, snap, is_mysql8=False)
    lookup = next(s for s in statements if s.query.endswith("`id` = ?"))
    assert counter_plan(snap, lookup, options=dataclasses.replace(
        __import__("auditor.connectors.mysql.workload", fromlist=["x"]).MySqlWorkloadOptions())).scans == ()
    hot = next(s for s in statements if "customer_id" in s.query)
    assert hot.p95_ms is None and hot.stddev_ms > 0  # MariaDB-style: estimated from min, mean and max


def test_counter_plan_does_not_scan_an_insert_target() -> None:
    """Red team (MariaDB): INSERT ... SELECT FROM seq_1_to_N was labelled "Full Table Scan" on the table it fills;
    the table an INSERT ... SELECT reads still counts."""
    snap = _shop()
    options = __import__("auditor.connectors.mysql.workload", fromlist=["x"]).MySqlWorkloadOptions()

    def insert(query: str) -> Statement:
        return Statement(queryid=query, query=query, calls=3, rows=0, rows_examined=750_000, no_index_calls=3)

    fill = insert("INSERT INTO `orders` ( `id` , `status` ) SELECT `seq` , ? FROM `seq_1_to_100000`")
    assert counter_plan(snap, fill, options).scans == ()
    copy = insert("INSERT INTO `archive` ( `id` ) SELECT `id` FROM `orders` WHERE `status` = ?")
    assert [s.table for s in counter_plan(snap, copy, options).scans] == ["orders"]


def test_the_query_section_says_how_plans_were_obtained() -> None:
    """Red team (MariaDB): "34 were explained (generic plans)" where no statement is EXPLAINed."""
    from auditor.model import PlanSummary
    from reports.document import _how_planned

    counted = tuple(PlanSummary(queryid=str(n), explained=True, method="digest_counters") for n in range(34))
    maria = Snapshot(engine="mysql", flavor="mariadb", server_version="10.11", plans=counted)
    assert _how_planned(maria) == ("34 were judged from performance_schema's execution counters (no EXPLAIN: the "
                                   "server keeps no sample text)")
    explained = (PlanSummary(queryid="e", explained=True, method="explain_json"),)
    mysql8 = Snapshot(engine="mysql", server_version="8.0.36", plans=explained + counted[:2])
    assert _how_planned(mysql8).startswith("1 was explained (of their sample texts, never executed); 2 were")
    pg = Snapshot(engine="postgresql", server_version="15", plans=(PlanSummary(queryid="p", explained=True),))
    assert _how_planned(pg) == "1 was explained (generic plans, never executed)"
