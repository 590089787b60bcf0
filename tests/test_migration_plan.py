"""The migration plan and the scaling figures as pure functions (auditor.migration, auditor.scaling), on small
snapshots: MySQL 8's NOT ENFORCED checks (no MySQL 8 server here: recorded rows), merged proposals, a
partitioned parent's index, what stays unscripted, growth read from a history, partitioning keys."""

from __future__ import annotations

from dataclasses import dataclass, replace

from auditor import scaling
from auditor.engine import all_checks, run_checks
from auditor.migration import plan
from auditor.model import Finding, ObjectRef, Severity
from tests.builders import check_constraint, fk, index, pk, snap, table


def _finding(code: str, obj: ObjectRef, remediation: str | None = None) -> Finding:
    return Finding(code, "x", Severity.WARNING, "c", obj, "m", remediation=remediation)


def test_mysql8_not_enforced_check_is_enforced_after_a_count() -> None:
    s = snap(table("orders", ["id", "qty"]), pk("orders"),
             replace(check_constraint("orders", "qty_positive", validated=False, schema="shop"), schema="shop"),
             engine="mysql", database="shop")
    found = [_finding("KY03", ObjectRef("constraint", "shop", "orders", constraint="qty_positive"))]
    step = plan(s, found).steps[0]
    assert step.phase == 2
    assert step.forward == ("SELECT count(*) FROM `shop`.`orders` WHERE NOT ((x > 0));  -- must be 0 before enforcing",
                            "ALTER TABLE `shop`.`orders` ALTER CHECK `qty_positive` ENFORCED;")
    assert step.rollback == ("ALTER TABLE `shop`.`orders` ALTER CHECK `qty_positive` NOT ENFORCED;",)


def test_the_same_index_proposed_twice_is_one_step() -> None:
    s = snap(table("orders", ["id", "customer_id"]), table("customers", ["id"]), pk("orders"), pk("customers"),
             fk("orders", ["customer_id"], "customers"))
    sql = "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);"
    found = [_finding("IX05", ObjectRef("foreign_key", "public", "orders", ("customer_id",)), sql),
             _finding("WL02", ObjectRef("query", "public", "orders", query="q"), sql)]
    steps = plan(s, found).steps
    assert len(steps) == 1 and steps[0].codes == ("IX05", "WL02")
    assert steps[0].rollback == ("DROP INDEX CONCURRENTLY IF EXISTS public.orders_customer_id_idx;",)


def test_a_partitioned_parent_index_rolls_back_parent_first() -> None:
    s = snap(table("events", ["id", "account_id"], kind="partitioned"))
    sql = ("CREATE INDEX events_account_id_idx ON ONLY public.events (account_id);\n"
           "CREATE INDEX CONCURRENTLY events_2026_account_id_idx ON public.events_2026 (account_id);\n"
           "ALTER INDEX public.events_account_id_idx ATTACH PARTITION public.events_2026_account_id_idx;")
    step = plan(s, [_finding("IX05", ObjectRef("foreign_key", "public", "events"), sql)]).steps[0]
    assert step.rollback == ("DROP INDEX IF EXISTS public.events_account_id_idx;",
                             "DROP INDEX CONCURRENTLY IF EXISTS public.events_2026_account_id_idx;")


def test_dropped_index_comes_back_from_its_keys() -> None:
    s = snap(table("orders", ["id", "status", "created_at"]), pk("orders"),
             index("orders", ["status", "created_at DESC"], name="orders_status_idx", scans=0))
    found = list(run_checks(s, all_checks()).findings)
    drop = next(st for st in plan(s, found).steps if st.codes == ("IX01",))
    assert drop.phase == 4 and drop.forward == ("DROP INDEX CONCURRENTLY public.orders_status_idx;",)
    assert drop.rollback == ("CREATE INDEX CONCURRENTLY orders_status_idx ON public.orders (status, created_at DESC);",)


def test_design_and_server_findings_stay_out_of_the_steps() -> None:
    s = snap(table("log", ["at timestamptz"]))
    found = [_finding("KY01", ObjectRef("table", "public", "log")),
             _finding("ST01", ObjectRef("setting", setting="fsync"), "ALTER SYSTEM SET fsync = on;")]
    p = plan(s, found)
    assert p.steps == () and [f.code for f in p.server] == ["ST01"]
    assert [(f.code, why.split(" ")[0]) for f, why in p.design] == [("KY01", "choosing")]


@dataclass(frozen=True)
class _TableDelta:  # the shape auditor.history gives (read by attribute: scaling does not import it)
    schema: str
    table: str
    rows: int | None
    rows_delta: int | None
    bytes: int | None
    bytes_delta: int | None
    growth_bytes_per_day: float | None


@dataclass(frozen=True)
class _History:
    tables: tuple[_TableDelta, ...]


def test_growth_comes_from_the_history_when_there_is_one() -> None:
    assert scaling.growth(None) == []
    history = _History((
        _TableDelta("public", "events", 9_000_000, 1_000_000, 80 * 1024**3, 2 * 1024**3, 1.5 * 1024**3),
        _TableDelta("public", "users", 1_000, 10, 1024**2, 1024, 100.0),
        _TableDelta("public", "old", 1_000, -10, 1024**2, -1024, -100.0),  # shrinking: not growth
        _TableDelta("public", "new", None, None, None, None, None),
    ))
    grown = scaling.growth(history)
    assert [g.table for g in grown] == ["public.events", "public.users"]
    assert round(grown[0].days_to_double or 0) == 53
    # 80 GB growing 1.5 GB a day passes 100 GB within the year: a candidate though under both marks today
    s = snap(replace(table("events", ["id", "created_at timestamptz", "kind text"], rows=9_000_000,
                           not_null=["created_at"]), total_bytes=80 * 1024**3), pk("events"))
    found = scaling.candidates(s, history)
    assert [c.table.name for c in found] == ["events"]
    assert "within a year" in found[0].reason
    assert found[0].key.startswith("PARTITION BY RANGE (created_at)")
    assert scaling.candidates(s, None) == []


def test_partition_key_without_a_time_column_hashes_the_key() -> None:
    s = snap(table("blobs", ["id", "data bytea"]), pk("blobs"))
    t = s.tables[0]
    assert scaling.partition_key(s, t).startswith("PARTITION BY HASH (id)")
    m = snap(table("blobs", ["id", "data blob"]), pk("blobs"), engine="mysql")
    assert scaling.partition_key(m, m.tables[0]).startswith("PARTITION BY KEY (id)")
