"""The PostgreSQL sampling probe on a real server, and the NF checks over what it collects.

A seeded schema plants one problem per NF check beside look-alikes that must stay silent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from auditor.connectors import CollectOptions
from auditor.connectors.postgres.sampling import probe
from auditor.dsn import parse_dsn
from auditor.engine import REGISTRY, load_checks, run_checks
from auditor.model import Finding, Snapshot, snapshot_from_json, snapshot_to_json

SEED = """
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL);
INSERT INTO customers
SELECT g, 'user' || g || '@example.com', 'Customer ' || g FROM generate_series(1, 300) g;

CREATE TABLE products (id bigint PRIMARY KEY, name text NOT NULL, price numeric NOT NULL);
INSERT INTO products SELECT g, 'Product ' || g, (g % 50) + 0.99 FROM generate_series(1, 100) g;

-- NF04 through a foreign key: customer_email depends on customer_id (duplicates customers)
-- NF04 through a plain column: city depends on zip_code
-- look-alikes: status is constant, reference is unique in the data, note is free text with commas
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    customer_email text NOT NULL,
    zip_code text NOT NULL,
    city text NOT NULL,
    status text NOT NULL,
    reference text NOT NULL,
    amount numeric NOT NULL,
    note text
);
INSERT INTO orders
SELECT g, c, 'user' || c || '@example.com', z, 'City ' || (z::int % 97), 'open', 'REF-' || g,
       (abs(hashint4(g::int + 7)) % 1000) / 10.0,
       (ARRAY['Hello, world', 'Thanks, great service', 'Please deliver after 5 pm.'])
           [1 + abs(hashint4(g::int)) % 3]
FROM (SELECT g, 1 + (g * 7 % 300) AS c, lpad((10000 + (g * 13 % 400))::text, 5, '0') AS z
      FROM generate_series(1, 3000) g) s;

-- NF03: product_name depends on product_id, part of the key (order_id, product_id)
CREATE TABLE order_items (
    order_id bigint NOT NULL REFERENCES orders (id),
    product_id bigint NOT NULL REFERENCES products (id),
    product_name text NOT NULL,
    qty integer NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
INSERT INTO order_items
SELECT o, p, 'Product ' || p, 1 + (o * p) % 9
FROM generate_series(1, 1500) o, LATERAL (SELECT DISTINCT 1 + ((o * k * 31) % 100) AS p
                                          FROM generate_series(1, 3) k) ps;

-- NF01: phone1..3 is a repeating group; address_line1/2 is the conventional look-alike
-- NF02: tags holds comma-separated lists; address holds commas but no list
CREATE TABLE contacts (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    phone1 text, phone2 text, phone3 text,
    address_line1 text, address_line2 text,
    tags text,
    address text,
    payload jsonb
);
INSERT INTO contacts
SELECT g, 'Contact ' || g, '555-' || g, NULL, NULL, g || ' Main Street', NULL,
       (ARRAY['red,green', 'blue,red,yellow', 'green', 'red,blue,green,black'])[1 + g % 4],
       g || ' Main St, Springfield, IL ' || (60000 + g),
       '{}'::jsonb
FROM generate_series(1, 400) g;
ANALYZE;
"""


def _collect(dsn: str, **options: Any) -> Snapshot:
    from auditor.connectors.postgres import collect

    opts = CollectOptions(**options)
    snap = collect(parse_dsn(dsn), opts)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = on")
        sampling = probe(conn, snap.tables, opts, snap.constraints)
    import dataclasses

    return dataclasses.replace(snap, sampling=sampling)


def _findings(snap: Snapshot) -> list[Finding]:
    load_checks()
    specs = [REGISTRY[c] for c in ("NF01", "NF02", "NF03", "NF04")]
    return list(run_checks(snap, specs).findings)


@pytest.fixture(scope="module")
def seeded(request: pytest.FixtureRequest) -> Callable[..., Snapshot]:
    cache: dict[tuple[Any, ...], Snapshot] = {}

    def get(pg_new_db: Callable[..., str], **options: Any) -> Snapshot:
        key = tuple(sorted(options.items()))
        if key not in cache:
            cache[key] = _collect(pg_new_db(SEED), **options)
        return cache[key]

    return get


def _by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def test_each_check_fires_on_its_planted_case_only(
    pg_new_db: Callable[..., str], seeded: Callable[..., Snapshot]
) -> None:
    snap = seeded(pg_new_db)
    assert snap.sampling is not None and snap.sampling.enabled
    findings = _findings(snap)

    nf01 = _by_code(findings, "NF01")
    assert [(f.object.table, f.object.columns) for f in nf01] == [
        ("contacts", ("phone1", "phone2", "phone3"))
    ]

    nf02 = [f for f in _by_code(findings, "NF02") if f.severity.value != "info"]
    assert [(f.object.table, f.object.columns) for f in nf02] == [("contacts", ("tags",))]
    info = [f.object.columns for f in _by_code(findings, "NF02") if f.severity.value == "info"]
    assert info == [("payload",)]

    nf03 = _by_code(findings, "NF03")
    assert [(f.details["determinant"], f.details["dependent"]) for f in nf03] == [
        (["product_id"], ["product_name"])
    ]
    assert nf03[0].message.startswith("public.order_items.product_name copies public.products.name through the "
                                      "foreign key (product_id) to public.products, part of the key")

    nf04 = sorted(_by_code(findings, "NF04"), key=lambda f: f.details["determinant"])
    assert [(f.object.table, f.details["determinant"], f.details["dependent"]) for f in nf04] == [
        ("orders", ["customer_id"], ["customer_email"]),
        ("orders", ["zip_code"], ["city"]),
    ]
    assert nf04[0].message.startswith("public.orders.customer_email copies public.customers.email through the "
                                      "foreign key (customer_id) to public.customers; evidence: 300 distinct")
    evidence = nf04[1].details["evidence"]["city"]
    assert evidence["sample_rows"] == 3000 and evidence["determinant_distinct"] == 400


def test_sample_holds_no_raw_values(pg_new_db: Callable[..., str], seeded: Callable[..., Snapshot]) -> None:
    snap = seeded(pg_new_db)
    text = snapshot_to_json(snap)
    for raw in ("user17@example.com", "Main Street", "red,green", "Hello, world", "Product 42", "REF-1"):
        assert raw not in text
    again = snapshot_from_json(text)
    assert again.sampling == snap.sampling
    assert [f.as_dict() for f in _findings(again)] == [f.as_dict() for f in _findings(snap)]


def test_show_samples_keeps_examples(pg_new_db: Callable[..., str], seeded: Callable[..., Snapshot]) -> None:
    snap = seeded(pg_new_db, show_samples=True)
    nf02 = [f for f in _findings(snap) if f.code == "NF02" and f.severity.value != "info"]
    assert nf02 and any("," in e for e in nf02[0].details["examples"])


def test_no_sample_skips_the_data_checks(
    pg_new_db: Callable[..., str], seeded: Callable[..., Snapshot]
) -> None:
    snap = seeded(pg_new_db, sample=False)
    load_checks()
    result = run_checks(snap, [REGISTRY[c] for c in ("NF01", "NF02", "NF03", "NF04")])
    assert {s.code: s.reason for s in result.skipped} == {
        c: "data sampling was off (--no-sample)" for c in ("NF02", "NF03", "NF04")
    }
    assert {f.code for f in result.findings} == {"NF01"}


def test_budget_limits_and_timeouts(pg_new_db: Callable[..., str], seeded: Callable[..., Snapshot]) -> None:
    snap = seeded(pg_new_db, sample_max_tables=2, sample_rows=500)
    assert snap.sampling is not None
    sampled = [t for t in snap.sampling.tables if t.skipped_reason is None]
    skipped = [t for t in snap.sampling.tables if t.skipped_reason is not None]
    assert len(sampled) == 2 and all(t.rows <= 500 for t in sampled)
    assert skipped and all("limit of 2 sampled tables" in (t.skipped_reason or "") for t in skipped)
    methods = {t.table: t.method for t in sampled}
    assert methods  # small tables are read whole, the rest sampled
