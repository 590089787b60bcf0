"""Planted problems on a real MariaDB: each index and key check fires on its object, look-alikes don't."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from auditor.connectors import CollectOptions
from auditor.connectors.mysql import collect
from auditor.dsn import parse_dsn
from auditor.engine import RunResult, all_checks, run_checks, select_checks
from auditor.model import Finding, Snapshot
from checks.indexes import UnusedIndexOptions
from tests import test_seeded_pg as pg_seed
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    mysql_server,
    new_db_on,
)

SEEDED = """
CREATE TABLE products (
  id int PRIMARY KEY,
  sku varchar(20) NOT NULL,
  name varchar(50) NOT NULL,
  KEY ix_products_sku (sku),          -- look-alike: read by the workload
  KEY ix_products_name (name)         -- planted IX01: never read while the table is
);
CREATE TABLE events (
  id int PRIMARY KEY,
  kind varchar(10) NOT NULL,
  created_at datetime NOT NULL,
  code varchar(10) NOT NULL,
  extra int NOT NULL,
  KEY ix_events_kind (kind),                   -- planted IX03: prefix of ix_events_kind_at
  KEY ix_events_kind_at (kind, created_at),
  KEY ix_events_at_a (created_at, extra),      -- planted IX02: same keys as ix_events_at_b
  KEY ix_events_at_b (created_at, extra),
  UNIQUE KEY uq_events_code (code),            -- look-alike: unique, not redundant to ix_events_code_x
  KEY ix_events_code_x (code, extra)
);
CREATE TABLE log_lines (logged_at datetime, message text);        -- planted KY01
CREATE TABLE customers (
  id int(11) unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name varchar(50)
) AUTO_INCREMENT = 1000;                                           -- look-alike KY04: far from the limit
CREATE TABLE orders (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id int(10) unsigned NOT NULL,     -- look-alike KY02: only the display width differs
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
);
CREATE TABLE flags (
  id tinyint NOT NULL AUTO_INCREMENT PRIMARY KEY,
  label varchar(20)
) AUTO_INCREMENT = 121;                                            -- planted KY04: 120 of 127 used
SET foreign_key_checks = 0;
-- planted KY02: the child was created first (as a dump loads), the parent later widened its key to bigint
CREATE TABLE invoice_lines (
  id int PRIMARY KEY,
  invoice_id int NOT NULL,
  CONSTRAINT fk_lines_invoice FOREIGN KEY (invoice_id) REFERENCES invoices (id)
);
CREATE TABLE invoices (id bigint PRIMARY KEY, total int);
SET foreign_key_checks = 1;
INSERT INTO products VALUES (1, 'a1', 'apple'), (2, 'b2', 'banana'), (3, 'c3', 'cherry');
INSERT INTO customers (name) VALUES ('ann');
INSERT INTO orders (customer_id) VALUES (1000);
"""


@pytest.fixture(scope="module")
def seeded(mysql_server: MySqlServer) -> Iterator[tuple[Snapshot, RunResult]]:  # noqa: F811
    db, dsn = new_db_on(mysql_server, SEEDED)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        # the workload around the unused index: its table is read 150 times, always through the sku index,
        # and orders through its primary key, never through the foreign key's index. performance_schema
        # counts rows read, not lookups: a lookup that finds nothing leaves no trace, so each one finds a row
        for i in range(150):
            sku = ("a1", "b2", "c3")[i % 3]
            cur.execute("SELECT id FROM products FORCE INDEX (ix_products_sku) WHERE sku = %s", (sku,))
            cur.fetchall()
            cur.execute("SELECT customer_id FROM orders WHERE id = %s", (i,))
            cur.fetchall()
    snap = collect(parse_dsn(dsn), CollectOptions())
    specs = select_checks(all_checks(), ["IX", "KY"])
    yield snap, run_checks(snap, specs)


def _on(result: RunResult, code: str) -> list[Finding]:
    return [f for f in result.findings if f.code == code]


def test_unused_index_fires_on_the_planted_index_only(seeded: tuple[Snapshot, RunResult]) -> None:
    snap, result = seeded
    hits = _on(result, "IX01")
    flagged = [(f.object.table, f.object.index) for f in hits]
    assert ("orders", "fk_orders_customer") not in flagged, (
        "IX01 proposes dropping the index InnoDB keeps for foreign key fk_orders_customer "
        "(Index.supports_fk); InnoDB refuses that DROP with error 1553"
    )
    assert flagged == [("products", "ix_products_name")]
    # the table was created inside the statistics window: the index may be that young, no drop proposed yet
    assert hits[0].remediation is None and "no drop proposed" in hits[0].message
    fk_index = next(i for i in snap.indexes if i.name == "fk_orders_customer")
    assert fk_index.scans == 0 and fk_index.supports_fk  # unused, but InnoDB keeps it for the foreign key


def test_duplicate_and_redundant_indexes(seeded: tuple[Snapshot, RunResult]) -> None:
    _, result = seeded
    dup = _on(result, "IX02")
    assert len(dup) == 1 and dup[0].object.table == "events"
    assert dup[0].object.index in ("ix_events_at_a", "ix_events_at_b")
    red = _on(result, "IX03")
    assert [(f.object.table, f.object.index) for f in red] == [("events", "ix_events_kind")]


def test_key_checks(seeded: tuple[Snapshot, RunResult]) -> None:
    _, result = seeded
    assert [(f.object.table) for f in _on(result, "KY01")] == ["log_lines"]
    mismatch = _on(result, "KY02")
    flagged = [(f.object.table, f.object.constraint) for f in mismatch]
    assert flagged == [("invoice_lines", "fk_lines_invoice")]
    exhausted = _on(result, "KY04")
    assert len(exhausted) == 1 and "flags" in exhausted[0].object.label()
    assert _on(result, "KY03") == []


def test_missing_fk_index_is_skipped_for_innodb(seeded: tuple[Snapshot, RunResult]) -> None:
    _, result = seeded
    (skip,) = [s for s in result.skipped if s.code == "IX05"]
    assert "InnoDB" in skip.reason
    assert _on(result, "IX05") == []


# ---- the same planted problems as tests/test_seeded_pg.py, on MariaDB ---------------------------------------

# The PostgreSQL seed's object names, planted again on MariaDB for every check that applies to both engines.
# IX04 (an index left invalid by a failed concurrent build) and KY03 (NOT VALID) cannot exist on InnoDB: there
# the check must stay silent. IX05 is not applicable (InnoDB indexes every foreign key itself).
CROSS_ENGINE_SEED = """
CREATE TABLE nopk (a int, b text);
CREATE TABLE customers (id bigint PRIMARY KEY, name varchar(50));
SET foreign_key_checks = 0;
-- KY02 as a dump loads it: the child first, the parent with a wider key later
CREATE TABLE items (
  order_id bigint, product_id int, qty int, PRIMARY KEY (order_id, product_id), KEY items_product (product_id),
  CONSTRAINT items_product_id_fkey FOREIGN KEY (product_id) REFERENCES products (id)
);
CREATE TABLE products (id bigint PRIMARY KEY, sku varchar(20) UNIQUE);
SET foreign_key_checks = 1;
CREATE TABLE orders (
  id bigint PRIMARY KEY, customer_id bigint, created_at date, code varchar(20), region varchar(20),
  KEY orders_cc (customer_id, created_at), KEY orders_c (customer_id),
  KEY orders_code_region (code, region), UNIQUE KEY orders_code_key (code),
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
);
CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100), KEY users_email_idx (email),
                    KEY users_email_idx2 (email));
CREATE TABLE ctr (id int AUTO_INCREMENT PRIMARY KEY) AUTO_INCREMENT = 1700000001;
CREATE TABLE big (id bigint AUTO_INCREMENT PRIMARY KEY) AUTO_INCREMENT = 1700000001;
CREATE TABLE hot (id int PRIMARY KEY, a int, b int, c int, KEY hot_a_idx (a), KEY hot_b_idx (b),
                  UNIQUE KEY hot_c_key (c));
INSERT INTO hot VALUES (1, 1, 1, 1), (2, 2, 2, 2), (3, 3, 3, 3);
"""


def _mysql_name(ref: Any) -> str:
    # an AUTO_INCREMENT counter is reported by its column; the PostgreSQL seed names the serial's sequence
    if ref.type == "column" and ref.columns == ("id",):
        return f"{ref.table}_id_seq"
    return pg_seed._name(ref)


def test_same_planted_problems_as_on_postgresql(mysql_server: MySqlServer) -> None:  # noqa: F811
    db, dsn = new_db_on(mysql_server, CROSS_ENGINE_SEED)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        for i in range(110):  # hot is read, through hot_b_idx only; hot_a_idx never
            cur.execute("SELECT b FROM hot FORCE INDEX (hot_b_idx) WHERE b = %s", (1 + i % 3,))
            cur.fetchall()
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    specs = {s.code: s for s in all_checks()}
    shared = [c for c in pg_seed.EXPECTED if "mysql" in specs[c].engines and "mysql" not in
              specs[c].not_applicable]
    young = {"IX01": UnusedIndexOptions(min_stats_age_days=36500)}
    result = run_checks(snap, [specs[c] for c in shared], options=young)
    found: dict[str, set[str]] = {code: set() for code in shared}
    for f in result.findings:
        found[f.code].add(_mysql_name(f.object))
    cannot_exist_on_innodb = {"IX04", "KY03"}
    expected = {c: (set() if c in cannot_exist_on_innodb else pg_seed.EXPECTED[c]) for c in shared}
    assert found == expected
    assert "IX05" not in shared
