"""A seeded schema on a real server: a planted problem per IX/KY check beside look-alikes that stay silent."""

from __future__ import annotations

import contextlib

import psycopg

from auditor.connectors import collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.model import Finding, ObjectRef, Severity
from checks.indexes import UnusedIndexOptions
from tests.conftest import NewDb

SEED = """
CREATE SCHEMA seed;
SET search_path = seed;

-- KY01: a heap without a primary key; a partitioned table with one, its partition, a view: silent
CREATE TABLE nopk (a int, b text);
CREATE TABLE ev (id bigint, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE ev_2026 PARTITION OF ev FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE VIEW nopk_view AS SELECT a FROM nopk;

CREATE TABLE customers (id bigint PRIMARY KEY, name text);
CREATE TABLE products (id bigint PRIMARY KEY, sku varchar(20) UNIQUE);

-- IX03: orders_c is a prefix of orders_cc; the unique orders_code_key under orders_code_region is not
CREATE TABLE orders (
    id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id), created_at date,
    code text, region text
);
CREATE INDEX orders_cc ON orders (customer_id, created_at);
CREATE INDEX orders_c ON orders (customer_id);
CREATE INDEX orders_code_region ON orders (code, region);
CREATE UNIQUE INDEX orders_code_key ON orders (code);
-- (created_at DESC NULLS LAST) read backwards is (created_at NULLS FIRST), which (created_at, region) is not
CREATE INDEX orders_created_desc ON orders (created_at DESC NULLS LAST);
CREATE INDEX orders_created_region ON orders (created_at, region);

-- IX05 + KY02: items.product_id (integer, no index) -> products.id (bigint);
-- order_id is covered by the primary key's leading column
CREATE TABLE items (
    order_id bigint REFERENCES orders (id), product_id integer REFERENCES products (id), qty int,
    sku varchar(20) REFERENCES products (sku),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX items_sku_idx ON items (sku);
-- composite foreign key covered by an index in the other column order: silent
CREATE TABLE shipments (id bigint PRIMARY KEY, order_id bigint, product_id integer,
    FOREIGN KEY (order_id, product_id) REFERENCES items (order_id, product_id));
CREATE INDEX shipments_po ON shipments (product_id, order_id);

-- IX02: users_email_idx2 duplicates users_email_idx; expression and partial look-alikes stay silent
CREATE TABLE users (id bigint PRIMARY KEY, email text);
CREATE INDEX users_email_idx ON users (email);
CREATE INDEX users_email_idx2 ON users (email);
CREATE INDEX users_lower_email_idx ON users (lower(email));
CREATE INDEX users_email_partial ON users (email) WHERE id > 0;

-- KY03: a NOT VALID foreign key; a validated check stays silent
CREATE TABLE payments (id bigint PRIMARY KEY, order_id bigint, amount numeric CHECK (amount >= 0));
CREATE INDEX payments_order_idx ON payments (order_id);
ALTER TABLE payments ADD CONSTRAINT payments_order_fk FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;

-- KY04: an integer serial at 79 % of its range; a bigint one at the same value stays silent
CREATE TABLE ctr (id serial PRIMARY KEY);
CREATE TABLE big (id bigserial PRIMARY KEY);
SELECT setval('ctr_id_seq', 1700000000), setval('big_id_seq', 1700000000);

-- IX01: hot is read often and hot_a_idx never; hot_b_idx is used; the unique hot_c_key is never judged;
-- cold's index was never scanned either, but nobody read cold, so that is no evidence
CREATE TABLE hot (id int PRIMARY KEY, a int, b int, c int);
INSERT INTO hot SELECT g, g, g, g FROM generate_series(1, 50) g;
CREATE INDEX hot_a_idx ON hot (a);
CREATE INDEX hot_b_idx ON hot (b);
CREATE UNIQUE INDEX hot_c_key ON hot (c);
CREATE TABLE cold (id int PRIMARY KEY, x int);
CREATE INDEX cold_x_idx ON cold (x);

-- IX04 look-alike and host: bad(v) holds a duplicate, so a concurrent unique build is left invalid
CREATE TABLE bad (id int PRIMARY KEY, v int);
INSERT INTO bad VALUES (1, 1), (2, 1);
"""

EXPECTED = {
    "IX01": {"hot_a_idx"},
    "IX02": {"users_email_idx2"},
    "IX03": {"orders_c"},
    "IX04": {"bad_v_key"},
    "IX05": {"items(product_id)"},
    "KY01": {"nopk"},
    "KY02": {"items(product_id)"},
    "KY03": {"payments_order_fk"},
    "KY04": {"ctr_id_seq"},
}


def _name(ref: ObjectRef) -> str:
    if ref.type == "index":
        return ref.index or ""
    if ref.type == "sequence":
        return ref.sequence or ""
    if ref.type == "foreign_key" and ref.constraint and ref.constraint.endswith("_fk"):
        return ref.constraint
    if ref.columns:
        return f"{ref.table}({', '.join(ref.columns)})"
    return ref.table or ""


def test_each_check_fires_on_exactly_its_planted_object(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(SEED)
    with psycopg.connect(dsn, autocommit=True) as conn:
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY bad_v_key ON seed.bad (v)")
        # young statistics: the evidence is scans of hot's other plain index (sequential scans do not count)
        conn.execute("SET enable_seqscan = off")
        for i in range(110):
            conn.execute("SELECT b FROM seed.hot WHERE b = %s", (i % 50,))
    # the session's counters reach the shared statistics when it ends

    snap = collect(parse_dsn(dsn))
    specs = load_checks()
    # pin the statistics window as young: a DBAUDIT_TEST_PG_DSN server with old statistics judges alike
    young = {"IX01": UnusedIndexOptions(min_stats_age_days=36500)}
    result = run_checks(snap, [specs[code] for code in EXPECTED], options=young)
    found: dict[str, set[str]] = {code: set() for code in EXPECTED}
    by_code: dict[str, list[Finding]] = {}
    for f in result.findings:
        if f.object.schema == "seed":
            found[f.code].add(_name(f.object))
            by_code.setdefault(f.code, []).append(f)
    assert found == EXPECTED
    # young statistics: the unused index is reported, as info, with the window it covers
    (unused,) = by_code["IX01"]
    assert unused.severity is Severity.INFO and "since the server started" in unused.message
    assert by_code["KY04"][0].details["column_type"] == "integer"
    assert by_code["IX04"][0].severity is Severity.ERROR
