"""IX05 on partitioned referencing tables, on a real server: the lookups run partition by partition.

A foreign key on a partitioned table is served when every partition has an index leading with its columns
(the parent needs none of its own); one partition without it is reported, naming it. The fix creates the
parent's index ON ONLY the parent, attaches the index a partition already has (building a second one would be a
duplicate) and builds the missing one CONCURRENTLY; it is run here: the parent's index is valid, nothing is
reported again, and no duplicate index is left.
"""

from __future__ import annotations

from typing import Any

import psycopg

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import load_checks, run_checks
from auditor.model import Finding
from tests.conftest import NewDb

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY);
INSERT INTO customers SELECT generate_series(1, 50000);
-- every partition has its index: served
CREATE TABLE visits (id bigint NOT NULL, customer_id int NOT NULL REFERENCES customers, at date NOT NULL,
                     PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE visits_2023 PARTITION OF visits FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE visits_2024 PARTITION OF visits FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX ON visits_2023 (customer_id);
CREATE INDEX ON visits_2024 (customer_id);
-- one partition lacks it: reported
CREATE TABLE clicks (id bigint NOT NULL, customer_id int NOT NULL REFERENCES customers, at date NOT NULL,
                     PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE clicks_2023 PARTITION OF clicks FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE clicks_2024 PARTITION OF clicks FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX clicks_2023_by_customer ON clicks_2023 (customer_id);
INSERT INTO visits SELECT g, 1 + g % 50000, date '2023-01-01' + (g % 700) FROM generate_series(1, 60000) g;
INSERT INTO clicks SELECT g, 1 + g % 50000, date '2023-01-01' + (g % 700) FROM generate_series(1, 60000) g;
ANALYZE;
"""


def _scan(dsn: str) -> list[Finding]:
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    specs = load_checks()
    return list(run_checks(snap, [specs["IX02"], specs["IX03"], specs["IX05"]]).findings)


def test_a_partition_without_the_index_is_named_and_the_fix_attaches_what_exists(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(SCHEMA)
    found = _scan(dsn)
    assert [(f.code, f.object.table) for f in found] == [("IX05", "clicks")]
    (f,) = found
    assert f.message.endswith("no index leads with it on 1 of its 2 partitions (clicks_2024)"), f.message
    assert f.remediation == "\n".join([
        "CREATE INDEX clicks_customer_id_idx ON ONLY public.clicks (customer_id);",
        "ALTER INDEX public.clicks_customer_id_idx ATTACH PARTITION public.clicks_2023_by_customer;",
        "CREATE INDEX CONCURRENTLY clicks_2024_customer_id_idx ON public.clicks_2024 (customer_id);",
        "ALTER INDEX public.clicks_customer_id_idx ATTACH PARTITION public.clicks_2024_customer_id_idx;",
    ])
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in f.remediation.splitlines():
            conn.execute(statement)
        rows: Any = conn.execute("SELECT indexrelid::regclass::text, indisvalid FROM pg_index "
                                 "WHERE indrelid IN ('clicks'::regclass, 'clicks_2023'::regclass) "
                                 "AND NOT indisprimary ORDER BY 1").fetchall()
    assert rows == [("clicks_2023_by_customer", True), ("clicks_customer_id_idx", True)]
    assert _scan(dsn) == []


def test_the_only_index_of_a_partition_behind_its_parents_key_is_kept(pg_new_db: NewDb) -> None:
    from auditor.model import Severity
    from checks.indexes import UnusedIndexOptions

    dsn = pg_new_db(SCHEMA)
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    found = {f.object.index: f for f in run_checks(snap, [load_checks()["IX01"]],
                                                   options={"IX01": UnusedIndexOptions(min_stats_age_days=0)}).findings}
    # never scanned, each the only index that serves visits_customer_id_fkey on its partition: kept, as info
    for name in ("visits_2023_customer_id_idx", "visits_2024_customer_id_idx", "clicks_2023_by_customer"):
        f = found[name]
        assert f.severity == Severity.INFO and f.remediation is None, (name, f.message)
        assert "keep it: it is the only index that serves the lookups of foreign key" in f.message
    assert found["visits_2023_customer_id_idx"].details["serves_foreign_key"] == "visits_customer_id_fkey"


def test_only_an_identical_index_is_attached_and_long_fixes_say_so() -> None:
    from auditor.relations import IndexNames, attachable_index, create_index_sql
    from tests.builders import index, key, snap, table

    parent = table("t", ["id", "a", "b"], kind="partitioned")
    parts = [table(f"t_p{i:02}", ["id", "a", "b"], is_partition=True, parent="public.t") for i in range(14)]
    look_alikes = [
        index("t_p01", ["a"], unique=True), index("t_p02", ["a"], predicate="(b > 0)"),
        index("t_p03", ["a"], include=["b"]), index("t_p04", [key("a DESC")]), index("t_p05", ["a", "b"]),
        index("t_p06", ["a"], method="hash"), index("t_p07", ["a"], valid=False),
        index("t_p08", ["a"], partition_child=True),
    ]
    s = snap(parent, *parts, index("t_p00", ["a"], name="p00_by_a"), *look_alikes)
    assert attachable_index(s, parts[0], ["a"]) is not None
    assert [attachable_index(s, p, ["a"]) for p in parts[1:9]] == [None] * 8
    sql = create_index_sql(s, parent, ["a"], IndexNames(s))
    assert "-- 1 partition has an index on exactly (a) already (e.g. t_p00): attach that one" in sql
