"""Group sampling: dependencies of high-cardinality determinants, judged on whole groups, on both engines.

A uniform sample of 10,000 rows of a 150,000-row order-lines table (2-3 lines per order) almost never holds
two lines of one order, nor two rows of one of 30,000 product codes: the attributes of the order stored on
every line (NF03) and the product name stored beside its code (NF04) go unseen. The second sample keeps
every row of each chosen order and code (rows chosen by the hash of the determinant), so that both are found
with real support, while a 97 % correlation (region -> warehouse) stays silent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import psycopg
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import REGISTRY, all_checks, iter_hits, load_checks, run_checks, select_checks
from auditor.model import Constraint, Finding, Sampling, Snapshot, TableSample, snapshot_to_json
from auditor.sample_analysis import column_sample, group_candidates, group_sample
from tests.builders import pk, snap, table
from tests.conftest import NewDb
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    mysql_server,
    new_db_on,
)

load_checks()
NF = ["NF01", "NF02", "NF03", "NF04"]
ORDERS = 60_000  # 150,000 lines

PG_SEED = f"""
CREATE TABLE order_lines (
  order_id bigint NOT NULL, line_no int NOT NULL,
  order_date date NOT NULL, customer_no int NOT NULL,
  product_code text NOT NULL, product_name text NOT NULL,
  qty int NOT NULL, price numeric(10,2) NOT NULL,
  region text NOT NULL, warehouse text NOT NULL,
  PRIMARY KEY (order_id, line_no));
INSERT INTO order_lines
SELECT o, l, date '2020-01-01' + (hashint4(o::int) & 1023), (hashint4(o::int + 1) & 65535),
       'P' || pc, 'Product name ' || (hashint4(pc) & 1048575),
       1 + (hashint4(o::int * 7 + l) & 7), ((hashint4(o::int * 3 + l) & 9999) / 100.0),
       'R' || (hashint4(o::int * 5 + l) & 15),
       CASE WHEN (hashint4(o::int * 11 + l) & 127) < 4 THEN 'W' || (hashint4(o::int * 13 + l) & 15)
            ELSE 'W' || (hashint4(o::int * 5 + l) & 15) END
FROM generate_series(1, {ORDERS}) o, generate_series(1, 2 + (o % 2)::int) l,
     LATERAL (SELECT (hashint4(o::int * 17 + l) & 32767)::int AS pc) p;
ANALYZE order_lines;
"""

MYSQL_SEED = f"""
CREATE TABLE order_lines (
  order_id bigint NOT NULL, line_no int NOT NULL,
  order_date date NOT NULL, customer_no int NOT NULL,
  product_code varchar(20) NOT NULL, product_name varchar(60) NOT NULL,
  qty int NOT NULL, price decimal(10,2) NOT NULL,
  region varchar(10) NOT NULL, warehouse varchar(10) NOT NULL,
  PRIMARY KEY (order_id, line_no));
INSERT INTO order_lines
SELECT o.seq, l.seq, DATE '2020-01-01' + INTERVAL (CRC32(o.seq) & 1023) DAY, CRC32(o.seq + 1) & 65535,
       CONCAT('P', CRC32(o.seq * 17 + l.seq) & 32767),
       CONCAT('Product name ', CRC32(CONCAT('n', CRC32(o.seq * 17 + l.seq) & 32767)) & 1048575),
       1 + (CRC32(o.seq * 7 + l.seq) & 7), (CRC32(o.seq * 3 + l.seq) & 9999) / 100.0,
       CONCAT('R', CRC32(o.seq * 5 + l.seq) & 15),
       IF((CRC32(o.seq * 11 + l.seq) & 127) < 4, CONCAT('W', CRC32(o.seq * 13 + l.seq) & 15),
          CONCAT('W', CRC32(o.seq * 5 + l.seq) & 15))
FROM seq_1_to_{ORDERS} o JOIN seq_1_to_3 l ON l.seq <= 2 + (o.seq % 2);
ANALYZE TABLE order_lines;
"""

EXPECTED = [
    ("NF03", ["order_id"], ["customer_no", "order_date"]),
    ("NF04", ["product_code"], ["product_name"]),
]


def _scan(dsn: str) -> tuple[Snapshot, list[Finding]]:
    snap_ = collect(parse_dsn(dsn), CollectOptions(workload=False))
    return snap_, list(run_checks(snap_, select_checks(all_checks(), NF)).findings)


def _planted(findings: list[Finding]) -> list[tuple[str, list[str], list[str]]]:
    return sorted((f.code, list(f.details["determinant"]), sorted(f.details["dependent"]))  # type: ignore[arg-type]
                  for f in findings)


def _check_groups(s: Snapshot) -> None:
    assert s.sampling is not None
    ts = s.sampling.table(s.tables[0].schema, "order_lines")
    assert ts is not None and ts.groups is not None and ts.groups.skipped_reason is None
    assert 0 < ts.groups.rows <= 10_000 and ts.rows <= 10_000  # the row budget holds for both samples
    assert ("order_id",) in [sel.determinant for sel in ts.groups.selections]
    assert ("product_code",) in [sel.determinant for sel in ts.groups.selections]


def test_pg_whole_groups_find_what_the_uniform_sample_cannot(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(PG_SEED)
    s, findings = _scan(dsn)
    assert _planted(findings) == EXPECTED, [f.message for f in findings]
    _check_groups(s)
    assert all("whole-group sample" in f.message for f in findings)
    # hashes only: no sampled value in the snapshot
    text = snapshot_to_json(s)
    assert "Product name" not in text and '"P1' not in text and "2020-" not in text
    # read-only: the probe changed nothing it sampled
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
                           "WHERE relname = 'order_lines'").fetchone()
    assert row is not None and row[1] == 0 and row[2] == 0


def test_pg_group_sample_without_it_the_planted_problems_are_missed(pg_new_db: NewDb) -> None:
    # the reason for the second sample: drop it from the snapshot and both findings go
    s, _ = _scan(pg_new_db(PG_SEED))
    assert s.sampling is not None
    bare = Sampling(tables=tuple(dataclasses.replace(t, groups=None) for t in s.sampling.tables))
    found = run_checks(dataclasses.replace(s, sampling=bare), select_checks(all_checks(), NF)).findings
    assert _planted(list(found)) == []


def test_mariadb_whole_groups(mysql_server: MySqlServer) -> None:  # noqa: F811
    _, dsn = new_db_on(mysql_server, MYSQL_SEED)
    s, findings = _scan(dsn)
    assert _planted(findings) == EXPECTED, [f.message for f in findings]
    _check_groups(s)


# ---- pure: candidates and the judgement on whole groups ---


def _uniform(rows: int, columns: dict[str, Sequence[object]]) -> TableSample:
    return TableSample(schema="public", table="t", rows=rows, method="bernoulli",
                       columns=tuple(column_sample(c, "integer", v) for c, v in columns.items()))


def test_candidates_are_sparse_keys_prefixes_foreign_keys_and_codes() -> None:
    n = 1000
    cols: dict[str, Sequence[object]] = {
        "order_id": list(range(n)), "line_no": [i % 3 for i in range(n)], "code": list(range(n)),
        "flag": [i % 2 for i in range(n)], "notes": [None] * (n - 10) + list(range(10)),
    }
    t = table("t", list(cols), rows=1_000_000)
    key = Constraint(schema="public", table="t", name="t_pkey", type="primary_key", columns=("order_id", "line_no"))
    # order_id: a key prefix seen once per value; code: a code seen once per value; flag: repeats enough
    # already; notes: NULL-heavy; line_no: repeats enough
    assert group_candidates(t, _uniform(n, cols), [key], n) == [("order_id",), ("code",)]
    # a table the uniform sample read whole (its LIMIT not reached) needs no second sample; one never analyzed
    # (no estimate) read up to the LIMIT may be larger, and gets one
    whole = dataclasses.replace(_uniform(n, cols), method="full")
    assert group_candidates(table("t", list(cols), rows=None), whole, [key], n + 1) == []
    assert group_candidates(table("t", list(cols), rows=None), whole, [key], n) == [("order_id",), ("code",)]


def test_whole_groups_refute_what_the_uniform_sample_suggested() -> None:
    n = 400
    rng = np.random.default_rng(1)
    det = [i // 2 for i in range(n)]  # 200 groups of two
    dep = [d * 3 for d in det]
    uniform_cols: dict[str, Sequence[object]] = {"id": list(range(n)), "det": det, "dep": dep}
    bad = list(dep)
    for i in rng.choice(n, 8, replace=False):
        bad[int(i)] = -1 - int(i)  # whole groups show 8 violating rows
    gs = group_sample([("id", "integer"), ("det", "integer"), ("dep", "integer")], [list(range(n)), det, bad],
                      [(("det",), [True] * n)], 0.1)
    ts = dataclasses.replace(TableSample(schema="public", table="t", rows=n, method="bernoulli",
                                         columns=tuple(column_sample(c, "integer", v)
                                                       for c, v in uniform_cols.items())), groups=gs)
    s = snap(table("t", list(uniform_cols), rows=100_000), pk("t"), sampling=Sampling(tables=(ts,)))
    # det -> dep held in the uniform sample; whole groups break it (dep -> det, one-to-one there, still holds)
    assert ["det"] not in [h.details["determinant"] for h in iter_hits(REGISTRY["NF04"], s)]
    good = dataclasses.replace(ts, groups=group_sample(
        [("id", "integer"), ("det", "integer"), ("dep", "integer")], [list(range(n)), det, dep],
        [(("det",), [True] * n)], 0.1))
    found = list(iter_hits(REGISTRY["NF04"], dataclasses.replace(s, sampling=Sampling(tables=(good,)))))
    assert (["det"], ["dep"]) in [(h.details["determinant"], h.details["dependent"]) for h in found]


@pytest.mark.parametrize("groups", [24, 25])
def test_group_sample_support_edge(groups: int) -> None:
    # whole groups need 50 witnessing rows (groups of two): 24 groups are too few, 25 enough
    det = [i // 2 for i in range(groups * 2)]
    dep = [d * 7 for d in det]
    gs = group_sample([("det", "integer"), ("dep", "integer")], [det, dep], [(("det",), [True] * len(det))], 0.1)
    ts = TableSample(schema="public", table="t", rows=len(det), method="bernoulli",
                     columns=(column_sample("det", "integer", list(range(len(det)))),
                              column_sample("dep", "integer", list(range(len(det))))), groups=gs)
    s = snap(table("t", ["id", "det", "dep"], rows=100_000), pk("t"), sampling=Sampling(tables=(ts,)))
    found = list(iter_hits(REGISTRY["NF04"], s))
    assert bool(found) == (groups == 25)


# ---- copies through a composite foreign key, each parent seen about once in the uniform sample ---

PG_COMPOSITE = """
CREATE TABLE shelves (aisle int NOT NULL, slot int NOT NULL, label text NOT NULL, PRIMARY KEY (aisle, slot));
INSERT INTO shelves SELECT g / 10, g % 10, 'shelf ' || (hashint4(g) & 16777215) FROM generate_series(0, 29999) g;
CREATE TABLE stock (id bigint PRIMARY KEY, aisle int NOT NULL, slot int NOT NULL, label text NOT NULL, qty int NOT NULL,
                    FOREIGN KEY (aisle, slot) REFERENCES shelves);
INSERT INTO stock SELECT g, s.aisle, s.slot, s.label, hashint4(g) & 63
FROM generate_series(1, 75000) g
CROSS JOIN LATERAL (SELECT (hashint4(g * 3) & 1048575) % 30000 AS k) x
JOIN shelves s ON s.aisle = x.k / 10 AND s.slot = x.k % 10;
ANALYZE;
"""

MYSQL_COMPOSITE = """
CREATE TABLE shelves (aisle int NOT NULL, slot int NOT NULL, label varchar(40) NOT NULL, PRIMARY KEY (aisle, slot));
INSERT INTO shelves SELECT seq DIV 10, seq MOD 10, CONCAT('shelf ', CRC32(seq) & 16777215) FROM seq_0_to_29999;
CREATE TABLE stock (id bigint PRIMARY KEY, aisle int NOT NULL, slot int NOT NULL, label varchar(40) NOT NULL,
                    qty int NOT NULL, FOREIGN KEY (aisle, slot) REFERENCES shelves (aisle, slot));
INSERT INTO stock SELECT g.seq, s.aisle, s.slot, s.label, CRC32(g.seq) & 63
FROM seq_1_to_75000 g
JOIN shelves s ON s.aisle = ((CRC32(g.seq * 3) & 1048575) MOD 30000) DIV 10
              AND s.slot = ((CRC32(g.seq * 3) & 1048575) MOD 30000) MOD 10;
ANALYZE TABLE shelves, stock;
"""


def _composite_copy(findings: list[Finding]) -> None:
    assert [(f.code, f.object.table, f.details["determinant"], f.details["copies"]) for f in findings] == [
        ("NF04", "stock", ["aisle", "slot"], {"label": next(iter(f.details["copies"].values()))})  # type: ignore[union-attr]
        for f in findings]
    [f] = findings
    assert str(next(iter(f.details["copies"].values()))).endswith("shelves.label")  # type: ignore[union-attr]
    assert "through the foreign key (aisle, slot)" in f.message


def test_pg_copy_through_a_composite_foreign_key(pg_new_db: NewDb) -> None:
    _composite_copy(_scan(pg_new_db(PG_COMPOSITE))[1])


def test_mariadb_copy_through_a_composite_foreign_key(mysql_server: MySqlServer) -> None:  # noqa: F811
    _composite_copy(_scan(new_db_on(mysql_server, MYSQL_COMPOSITE)[1])[1])


def test_pg_table_too_large_to_scan_reads_whole_groups_through_its_indexes(pg_new_db: NewDb) -> None:
    from auditor.connectors.postgres.sampling import sample_tables
    from auditor.sampling import SamplingBudget

    dsn = pg_new_db(PG_SEED + "CREATE INDEX ON order_lines (product_code);")
    s = collect(parse_dsn(dsn), CollectOptions(workload=False, sample=False))
    with psycopg.connect(dsn, autocommit=True) as conn:
        sampling = sample_tables(conn, s.tables, SamplingBudget(group_scan_max_rows=100_000), s.constraints,
                                 s.indexes)
    ts = sampling.table("public", "order_lines")
    assert ts is not None and ts.groups is not None and ts.groups.method == "index", ts.groups
    assert {sel.determinant for sel in ts.groups.selections} == {("order_id",), ("product_code",)}
    assert ts.groups.rows <= 10_000
    findings = run_checks(dataclasses.replace(s, sampling=sampling), select_checks(all_checks(), NF)).findings
    assert _planted(list(findings)) == EXPECTED, [f.message for f in findings]

    # without an index on the code, only the key prefix is read through its index
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX order_lines_product_code_idx")
        s = collect(parse_dsn(dsn), CollectOptions(workload=False, sample=False))
        sampling = sample_tables(conn, s.tables, SamplingBudget(group_scan_max_rows=100_000), s.constraints,
                                 s.indexes)
    ts = sampling.table("public", "order_lines")
    assert ts is not None and ts.groups is not None
    assert {sel.determinant for sel in ts.groups.selections} == {("order_id",)}


def test_pg_group_sample_keeps_the_client_bound(pg_new_db: NewDb) -> None:
    from auditor.connectors.postgres.sampling import sample_tables
    from auditor.sampling import SamplingBudget

    dsn = pg_new_db(PG_SEED)
    s = collect(parse_dsn(dsn), CollectOptions(workload=False, sample=False))
    budget = SamplingBudget(max_values=20_000)
    with psycopg.connect(dsn, autocommit=True) as conn:
        sampling = sample_tables(conn, s.tables, budget, s.constraints, s.indexes)
    ts = sampling.table("public", "order_lines")
    assert ts is not None and ts.groups is not None and ts.groups.selections
    width = len(ts.groups.columns) + len(ts.groups.selections)
    assert 0 < ts.groups.rows <= budget.rows_for(width) and ts.groups.rows * width <= 20_000
