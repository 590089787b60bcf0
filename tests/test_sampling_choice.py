"""Past ``--sample-max-tables``, the sample reads the tables with the most rows, on real servers.

It used to read the first tables by schema and name: a schema of many empty or tiny tables named before the big
ones spent the whole limit (200 by default) on them, the big tables were never sampled, and NF02-NF04 were
skipped for the whole database ("200: no rows"). Here 12 empty tables are named before the one with rows.
"""

from __future__ import annotations

import psycopg

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.model import Table, TableSample
from auditor.sampling import sampling_choice
from tests.conftest import NewDb
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    NewMySqlDb,
    mysql_new_db,
    mysql_server,
)

EMPTY = 12
LIMIT = 3


def _seed(engine: str) -> str:
    empty = "\n".join(f"CREATE TABLE a_empty_{i:02d} (id int PRIMARY KEY, v int);" for i in range(EMPTY))
    rows = "SELECT g, g % 7, 'c' || (g % 7) FROM generate_series(1, 5000) g" if engine == "postgresql" else \
        "SELECT seq, seq % 7, CONCAT('c', seq % 7) FROM seq_1_to_5000"
    return empty + f"""
CREATE TABLE z_orders (id int PRIMARY KEY, city_id int, city_name varchar(20));
INSERT INTO z_orders {rows};
CREATE TABLE z_small (id int PRIMARY KEY, v int);
INSERT INTO z_small VALUES (1, 1), (2, 2);
"""


def _sampled(samples: tuple[TableSample, ...]) -> list[str]:
    return sorted(t.table for t in samples if t.skipped_reason is None)


def test_postgresql_samples_the_tables_with_rows_first(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(_seed("postgresql"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False, sample_max_tables=LIMIT))
    assert snap.sampling is not None
    # the two with rows, then the first empty one by name (the limit has room for one more)
    assert _sampled(snap.sampling.tables) == ["a_empty_00", "z_orders", "z_small"], snap.sampling.tables
    skipped = [t for t in snap.sampling.tables if t.skipped_reason is not None]
    assert len(skipped) == EMPTY + 2 - LIMIT
    assert all(t.table.startswith("a_empty_") and "those with the most rows are sampled" in (t.skipped_reason or "")
               for t in skipped), skipped


def test_mariadb_samples_the_tables_with_rows_first(mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    dsn = mysql_new_db(_seed("mysql") + "ANALYZE TABLE z_orders, z_small;")
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False, sample_max_tables=LIMIT))
    assert snap.sampling is not None
    assert "z_orders" in _sampled(snap.sampling.tables), snap.sampling.tables
    assert all(t.table.startswith("a_empty_") for t in snap.sampling.tables if t.skipped_reason is not None)


def test_the_choice_ranks_rows_then_unknown_then_empty() -> None:
    def t(name: str, rows: int | None) -> Table:
        return Table(schema="s", name=name, estimated_rows=rows)

    tables = [t("a", 0), t("b", None), t("c", 10), t("d", 1_000_000), t("e", -1), t("f", 10)]
    assert sampling_choice(tables, 6) == {x.key for x in tables}
    assert sampling_choice(tables, 2) == {("s", "d"), ("s", "c")}  # the most rows; a tie by name
    assert sampling_choice(tables, 4) == {("s", "d"), ("s", "c"), ("s", "f"), ("s", "b")}
    assert sampling_choice(tables, 5) == {("s", "d"), ("s", "c"), ("s", "f"), ("s", "b"), ("s", "e")}
