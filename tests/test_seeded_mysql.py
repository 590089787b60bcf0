"""Planted problems on a real MariaDB: each index and key check fires on its object, look-alikes don't."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from auditor.connectors import CollectOptions
from auditor.connectors.mysql import collect
from auditor.dsn import parse_dsn
from auditor.engine import RunResult, all_checks, run_checks, select_checks
from auditor.model import Finding, Snapshot
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
    assert hits[0].remediation is not None and "DROP INDEX `ix_products_name`" in hits[0].remediation
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
