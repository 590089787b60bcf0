"""The MySQL/MariaDB primary-key-range sample on data periodic in the key (rt: customers.created_at -> city).

Chunks that started at evenly spaced keys (20,000 ids apart on 200,000 rows) all met a 400-id cycle in the
same phase: ``created_at -> city`` held with 0 violating rows in the sample while every one of its 1,000
groups breaks it in the table. Each chunk now starts at a pseudo-random key of its stratum.
"""

from __future__ import annotations

from auditor.connectors import CollectOptions, collect
from auditor.connectors.mysql.sampling import RANGES, range_bounds
from auditor.dsn import parse_dsn
from auditor.engine import all_checks, run_checks, select_checks
from tests.mysql_support import NewMySqlDb, mysql_new_db, mysql_server  # noqa: F401  (pytest fixtures)

# created_at cycles every 1,000 ids, city = 7 * id mod 400: each created_at value has two cities, alternating
# every 1,000 ids; zip (hashed from the id, not periodic) -> region holds: the firing case beside the trap
CUSTOMERS = """
CREATE TABLE customers (id int PRIMARY KEY, created_at datetime NOT NULL, city varchar(20) NOT NULL,
                        zip varchar(10) NOT NULL, region varchar(20) NOT NULL);
INSERT INTO customers SELECT seq, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (seq % 1000) SECOND,
       CONCAT('city-', (7 * seq) % 400), CONCAT('z', z), CONCAT('region-', z DIV 10)
FROM (SELECT seq, CRC32(seq) % 2000 AS z FROM seq_1_to_200000) s;
ANALYZE TABLE customers;
"""


def test_range_starts_are_spread_inside_their_strata_and_reproducible() -> None:
    bounds = range_bounds(1, 200_000, 200_000, 1_000, seed=42)
    assert len(bounds) == RANGES and bounds == range_bounds(1, 200_000, 200_000, 1_000, seed=42)
    for i, (start, stop) in enumerate(bounds):
        assert 1 + i * 20_000 <= start and stop - start >= 1_000 and stop == 1 + (i + 1) * 20_000
    assert len({start % 400 for start, _ in bounds}) > 5  # not one phase of a 400-id cycle
    # a span the chunks fill whole leaves no room: the strata's starts, as before
    assert [s for s, _ in range_bounds(1, 100, 100, 10, seed=42)] == list(range(1, 101, 10))


def test_periodic_data_does_not_fake_a_dependency(mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    dsn = mysql_new_db(CUSTOMERS)
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False))
    sample = snap.sampling.table(snap.database, "customers")  # type: ignore[union-attr]
    assert sample is not None and sample.method == "pk_ranges" and sample.rows == 10_000
    findings = run_checks(snap, select_checks(all_checks(), ["NF04"])).findings
    found = {(tuple(f.details["determinant"]), tuple(f.details["dependent"])) for f in findings}  # type: ignore[arg-type]
    assert (("zip",), ("region",)) in found, [f.message for f in findings]
    assert not any("created_at" in det for det, _ in found), [f.message for f in findings]
