"""NF04 on determinants that barely repeat (rt: "orders.customer_id is determined by shipping_address").

- Support: a determinant whose few repeated values (a default such as '') hold many rows, every other value
  seen once, passes the rows-per-value bounds yet tests the dependency on almost none of its values; at least
  ``min_repeated_share`` of its distinct sampled values must occur twice.
- A foreign key column is never said to depend on free text (a nearly unique text with no code-like name):
  "move customer_id to a table keyed by shipping_address" inverts the relationship. A code (zip) determining
  a foreign key, and zip -> city at two or three rows per zip on a large table, still fire.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import REGISTRY, all_checks, iter_hits, load_checks, run_checks, select_checks
from auditor.model import Sampling, Snapshot, TableSample
from auditor.sample_analysis import SampleFrame, column_sample
from auditor.sampling import FdThresholds
from tests.builders import fk, pk, snap, table
from tests.conftest import NewDb

load_checks()


def _frame(det: Sequence[int], dep: Sequence[int]) -> SampleFrame:
    return SampleFrame(None, {"det": np.array(det, dtype=np.int64), "dep": np.array(dep, dtype=np.int64)})


def _repeated_plus_singletons(groups: int, rows_each: int, singletons: int) -> SampleFrame:
    """``groups`` values of ``rows_each`` rows, each with its own dependent value, then values seen once."""
    det = [g for g in range(groups) for _ in range(rows_each)] + list(range(groups, groups + singletons))
    dep = [g for g in range(groups) for _ in range(rows_each)] + [i % groups for i in range(singletons)]
    return _frame(det, dep)


def test_a_few_repeated_values_of_a_nearly_unique_determinant_are_no_evidence() -> None:
    # 5 values of 1,200 rows, 4,000 seen once: 2.5 rows per value, yet 5 of 4,005 values tested
    assert _repeated_plus_singletons(5, 1200, 4000).find_dependencies([("det",)], ["dep"], FdThresholds()) == []
    # the edge: 10 of 100 distinct values repeated is enough, 10 of 101 is not
    assert _repeated_plus_singletons(10, 100, 90).judge(("det",), "dep", FdThresholds()) is not None
    assert _repeated_plus_singletons(10, 100, 91).judge(("det",), "dep", FdThresholds()) is None


def test_zip_to_city_at_two_or_three_rows_per_zip_still_holds() -> None:
    rows = [z for z in range(1200) for _ in range(2 + z % 2)]  # 1,200 zips of 2 or 3 rows
    found = _frame(rows, [z // 4 for z in rows]).judge(("det",), "dep", FdThresholds())
    assert found is not None and found.groups == 1200 and found.violations == 0


def _orders_sample(columns: dict[str, Sequence[object]], text: Sequence[str]) -> TableSample:
    rows = len(next(iter(columns.values())))
    cols = tuple(column_sample(c, "text" if c in text else "integer", v) for c, v in columns.items())
    return TableSample(schema="public", table="orders", rows=rows, method="full", columns=cols)


def _orders(columns: dict[str, Sequence[object]], text: Sequence[str]) -> Snapshot:
    """An orders table read whole, customer_id and region_id foreign keys."""
    names = [c if c not in text else f"{c} text" for c in columns]
    return snap(table("orders", names), pk("orders"), table("customers", ["id"]), pk("customers"),
                table("regions", ["id"]), pk("regions"), fk("orders", ["customer_id"], "customers"),
                fk("orders", ["region_id"], "regions"), sampling=Sampling(tables=(_orders_sample(columns, text),)))


def _nf04(s: Snapshot) -> list[tuple[object, object]]:
    return [(h.details["determinant"], h.details["dependent"]) for h in iter_hits(REGISTRY["NF04"], s, None)]


def test_a_foreign_key_is_not_determined_by_free_text_but_by_a_code() -> None:
    ids = list(range(400))
    address = [i // 2 for i in ids]  # 200 addresses of two orders each, two per customer: nearly unique
    zips = [(i * 7) % 200 for i in ids]
    s = _orders({"id": ids, "customer_id": [a // 2 for a in address],
                 "shipping_address": [f"{a} Oak Ave" for a in address],
                 "zip": [f"z{z}" for z in zips], "region_id": [z // 10 for z in zips]}, ("shipping_address", "zip"))
    assert _nf04(s) == [(["zip"], ["region_id"])]


def test_a_foreign_key_is_not_determined_by_a_name_of_its_row_but_by_a_category() -> None:
    ids = list(range(400))
    names = [i % 40 for i in ids]  # 40 ship names of 10 orders each, 38 customers (two have two names)
    cities = [(i // 10) % 40 for i in ids]  # 40 cities in 8 regions
    s = _orders({"id": ids, "customer_id": [n if n < 38 else n - 2 for n in names],
                 "ship_name": [f"Ship {n}" for n in names],
                 "city": [f"City {c}" for c in cities], "region_id": [c // 5 for c in cities]}, ("ship_name", "city"))
    assert _nf04(s) == [(["city"], ["region_id"])]


# 50,000 customers with two addresses each, about two orders per address; zip drawn per order, 2.5 rows per zip
PG_ORDERS = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'Customer ' || g FROM generate_series(1, 50000) g;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers,
                     shipping_address text NOT NULL, zip text NOT NULL, city text NOT NULL);
INSERT INTO orders SELECT g, c, (c * 2 + (hashint4(g * 5) & 1)) || ' Oak Avenue, Apt ' || (c % 97),
       'z' || z, 'City-' || (z / 40)
FROM (SELECT g, 1 + (hashint4(g) & 1048575) % 50000 AS c, (hashint4(g * 3) & 1048575) % 80000 AS z
      FROM generate_series(1, 200000) g) s;
ANALYZE;
"""


def test_postgres_orders_address_does_not_key_the_customer(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(PG_ORDERS)
    snap_ = collect(parse_dsn(dsn), CollectOptions(workload=False))
    findings = run_checks(snap_, select_checks(all_checks(), ["NF04"])).findings
    found = sorted((tuple(f.details["determinant"]), tuple(f.details["dependent"]))  # type: ignore[arg-type]
                   for f in findings if f.object.table == "orders")
    assert found == [(("zip",), ("city",))], [f.message for f in findings]
