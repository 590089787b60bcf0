"""The migration plan and the scaling figures as pure functions (auditor.migration, auditor.scaling), on small
snapshots: MySQL 8's NOT ENFORCED checks (no MySQL 8 server here: recorded rows), merged proposals, a
partitioned parent's index, what stays unscripted, growth read from a history, partitioning keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pytest

from auditor import design, scaling
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
    # rt PG4: what the partitioned table's own statements lock, said (neither can be CONCURRENTLY)
    assert step.lock.startswith("SHARE on the partitioned table for the catalog-only CREATE ... ON ONLY")
    assert "it locks the table and every partition ACCESS EXCLUSIVE" in step.note


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
    interval_s: float = 86_400.0


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
    # two runs minutes apart say what grew, not how fast: no per-day figure, no projection
    hurried = _History(history.tables, interval_s=600.0)
    assert [(g.table, g.per_day) for g in scaling.growth(hurried)] == [("public.events", None),
                                                                       ("public.users", None)]
    assert scaling.candidates(s, hurried) == []


def test_partition_key_without_a_time_column_hashes_the_key() -> None:
    s = snap(table("blobs", ["id", "data bytea"]), pk("blobs"))
    t = s.tables[0]
    assert scaling.partition_key(s, t).startswith("PARTITION BY HASH (id)")
    m = snap(table("blobs", ["id", "data blob"]), pk("blobs"), engine="mysql")
    assert scaling.partition_key(m, m.tables[0]).startswith("PARTITION BY KEY (id)")


def test_many_steps_of_one_kind_read_as_one() -> None:
    names = [f"t{n}" for n in range(5)]
    s = snap(*(table(n, ["id", "ref_id"]) for n in names))
    found = [_finding("IX05", ObjectRef("foreign_key", "public", n, ("ref_id",)),
                      f"CREATE INDEX CONCURRENTLY {n}_ref_id_idx ON public.{n} (ref_id);") for n in names]
    three = plan(s, found[:3]).steps
    assert len(three) == 3  # below the mark: one step each
    (step,) = plan(s, found).steps
    assert step.title == "Add 5 indexes on 5 tables" and step.codes == ("IX05",)
    assert step.forward[0].startswith("CREATE INDEX CONCURRENTLY t0_ref_id_idx")
    assert step.rollback[0] == "DROP INDEX CONCURRENTLY IF EXISTS public.t4_ref_id_idx;"  # undone in reverse


def test_a_wider_referencing_column_is_not_narrowed() -> None:
    s = snap(table("customers", ["id"]), table("orders", ["id", "customer_id bigint"]), pk("customers"),
             pk("orders"), replace(fk("orders", ["customer_id"], "customers"), ref_column_types=("integer",)))
    found = [_finding("KY02", ObjectRef("foreign_key", "public", "orders", ("customer_id",),
                                        constraint="orders_customer_id_fkey"))]
    assert plan(s, found).steps == ()
    widened = replace(s, constraints=tuple(replace(c, ref_column_types=("bigint",)) if c.type == "foreign_key"
                                           else c for c in s.constraints))
    narrow = replace(widened, tables=tuple(
        replace(t, columns=tuple(replace(c, data_type="integer") for c in t.columns)) if t.name == "orders" else t
        for t in widened.tables))
    assert [st.title for st in plan(narrow, found).steps][0] == (
        "Widen public.orders.customer_id to bigint: add customer_id_new, kept in step by a trigger")


def test_an_expression_index_on_the_column_is_left_to_the_reader() -> None:
    s = snap(table("orders", ["id", "customer_id", "note text"]), table("customers", ["id bigint"]), pk("orders"),
             pk("customers"), replace(fk("orders", ["customer_id"], "customers"), ref_column_types=("bigint",)),
             index("orders", ["(customer_id % 16)"], name="orders_shard_idx"))
    found = [_finding("KY02", ObjectRef("foreign_key", "public", "orders", ("customer_id",),
                                        constraint="orders_customer_id_fkey"))]
    p = plan(s, found)
    assert p.steps == ()
    assert [why for _, why in p.manual] == [
        "public.orders.customer_id: expression or partial indexes orders_shard_idx use the column and would need "
        "rebuilding"]


def test_the_plan_counts_the_phases_it_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Red team: "3 phases" above phases numbered 1, 3 and 4: the phases keep their numbers (the steps refer to
    "phase 4"), and the sentence names the ones used."""
    import reports.document
    from auditor import migration
    from reports import render
    from tests.report_samples import design_report

    def step(phase: int) -> migration.Step:
        return migration.Step(phase=phase, title=f"step {phase}", table="public.t", codes=("IX01",),
                              forward=("SELECT 1;",), rollback=("SELECT 2;",), lock="none")

    for phases, words in (((1, 3, 4), "3 of the 4 phases (1, 3 and 4)"), ((4,), "phase 4 of the 4"),
                          ((1, 2, 3, 4), "the 4 phases")):
        planned = migration.Plan(engine="postgresql", steps=tuple(step(p) for p in phases), design=(), manual=(),
                                 server=())
        monkeypatch.setattr(reports.document.migration, "plan", lambda *_a, _p=planned: _p)
        md = render(design_report(), "markdown")
        assert f"steps in {words} that keep the application running" in md or \
            f"step in {words} that keep the application running" in md, md[md.index("Migration plan"):][:400]
        assert [int(n) for n in re.findall(r"### Phase (\d)\.", md)] == list(phases)


def test_a_composite_that_serves_a_foreign_key_is_the_only_index_built() -> None:
    # rt PG9: IX05's orders(customer_id) and WL02's orders(customer_id, created_at) both built in phase 1, the first
    # a redundant prefix of the second (IX03 on the next scan); MySQL: two WL02 proposals, one leading the other
    s = snap(table("orders", ["id", "customer_id", "created_at"]), table("customers", ["id"]), pk("orders"),
             pk("customers"), fk("orders", ["customer_id"], "customers", name="orders_customer_id_fkey"))
    key = _finding("IX05", ObjectRef("foreign_key", "public", "orders", ("customer_id",),
                                     constraint="orders_customer_id_fkey"),
                   "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);")
    wide = _finding("WL02", ObjectRef("query", "public", "orders", ("customer_id", "created_at"), query="q"),
                    "CREATE INDEX CONCURRENTLY orders_customer_id_created_at_idx ON public.orders "
                    "(customer_id, created_at);")
    (step,) = plan(s, [key, wide]).steps
    assert step.codes == ("WL02", "IX05") and step.title.startswith("Add the index orders_customer_id_created_at_idx")
    assert "foreign key orders_customer_id_fkey (customer_id) (IX05): the key's columns lead it" in step.note
    assert step.forward == (wide.remediation,)
    strategy = design.index_strategy([key, wide])
    assert strategy.add == (wide,) and strategy.also[id(wide)] == (key,)

    my = snap(table("orders", ["id", "customer_id", "created_at"]), pk("orders"), engine="mysql", database="shop")
    narrow = _finding("WL02", ObjectRef("query", "shop", "orders", ("customer_id",), query="q1"),
                      "CREATE INDEX `orders_customer_id_idx` ON `shop`.`orders` (`customer_id`) ALGORITHM=INPLACE "
                      "LOCK=NONE;")
    wide_my = _finding("WL02", ObjectRef("query", "shop", "orders", ("customer_id", "created_at"), query="q2"),
                       "CREATE INDEX `orders_customer_id_created_at_idx` ON `shop`.`orders` (`customer_id`, "
                       "`created_at`) ALGORITHM=INPLACE LOCK=NONE;")
    (step,) = plan(my, [narrow, wide_my]).steps
    assert step.forward == (wide_my.remediation,) and "1 narrower proposal of WL02" in step.note


def test_an_index_both_duplicate_and_unused_is_dropped_once() -> None:
    # rt PG9: IX02 and IX01 both dropped shop.idx_products_name, and the Add section listed one CREATE twice
    s = snap(table("products", ["id", "name"]), pk("products"),
             index("products", ["name"], name="idx_products_name", scans=0),
             index("products", ["name"], name="idx_products_name_copy", scans=150))
    sql = "DROP INDEX CONCURRENTLY public.idx_products_name;"
    obj = ObjectRef("index", "public", "products", index="idx_products_name")
    unused, duplicate = _finding("IX01", obj, sql), _finding("IX02", obj, sql)
    (step,) = plan(s, [unused, duplicate]).steps
    assert step.codes == ("IX02", "IX01") and step.forward == (sql,)
    assert step.title == "Drop the duplicate and unused index public.idx_products_name"
    assert "check the replicas" in step.note and step.kind == "drop-index"
    strategy = design.index_strategy([unused, duplicate])
    assert strategy.drop == (duplicate,) and strategy.also[id(duplicate)] == (unused,)
    create = "CREATE INDEX CONCURRENTLY invoices_subscription_id_idx ON public.invoices (subscription_id);"
    ix05 = _finding("IX05", ObjectRef("foreign_key", "public", "invoices", ("subscription_id",)), create)
    wl02 = _finding("WL02", ObjectRef("query", "public", "invoices", ("subscription_id",), query="q"), create)
    assert design.index_strategy([ix05, wl02]).add == (wl02,)


def test_a_partitioned_index_comes_back_partition_by_partition() -> None:
    # rt PG4: the rollback of dropping audit's BRIN index was one CREATE INDEX ... ON ONLY, which leaves the parent's
    # index invalid and the partitions without one
    s = snap(table("events", ["id", "at"], kind="partitioned"),
             *(table(f"events_{n}", ["id", "at"], is_partition=True, parent="public.events") for n in (1, 2)),
             index("events", ["at"], name="events_at_brin", method="brin", scans=None),
             *(index(f"events_{n}", ["at"], name=f"events_{n}_at_idx", method="brin", scans=0,
                     parent_index="events_at_brin") for n in (1, 2)))
    obj = ObjectRef("index", "public", "events", index="events_at_brin")
    (step,) = plan(s, [_finding("IX01", obj, "DROP INDEX public.events_at_brin;")]).steps
    assert step.lock.startswith("ACCESS EXCLUSIVE on the partitioned table and each of its 2 partitions")
    assert step.rollback == (
        "CREATE INDEX events_at_brin ON ONLY public.events USING brin (at);",
        "CREATE INDEX CONCURRENTLY events_1_at_idx ON public.events_1 USING brin (at);",
        "ALTER INDEX public.events_at_brin ATTACH PARTITION public.events_1_at_idx;",
        "CREATE INDEX CONCURRENTLY events_2_at_idx ON public.events_2 USING brin (at);",
        "ALTER INDEX public.events_at_brin ATTACH PARTITION public.events_2_at_idx;",
    )
