"""Quality metrics and the score: targets, the schema-completeness parts, unmeasured reasons, the caps."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from auditor.model import Finding, ObjectRef, Sampling, Severity, TableSample
from auditor.scoring import Targets, compute_metrics, compute_score, reference_candidates
from tests.builders import fk, index, pk, snap, table


def _f(code: str, severity: Severity = Severity.WARNING, tbl: str = "t", remediation: str | None = None,
       **details: object) -> Finding:
    return Finding(code=code, check="x", severity=severity, category="c",
                   object=ObjectRef("table", "public", tbl), message="m", details=details, remediation=remediation)


def _metric(metrics: tuple, key: str):  # type: ignore[no-untyped-def,type-arg]
    return next(m for m in metrics if m.key == key)


def test_unmeasured_metrics_say_why_never_zero() -> None:
    metrics = compute_metrics(snap(), [])
    for key in ("schema_completeness_pct", "index_coverage_pct", "p95_ms", "p99_ms", "normalization_pct"):
        m = _metric(metrics, key)
        assert m.value is None and m.passed is None and m.reason, key


def test_targets_change_the_verdicts() -> None:
    s = snap(table("a", ["id"]), pk("a"), table("b", ["id"]))  # 1 of 2 tables with a key, none constrained: 25 %
    strict = _metric(compute_metrics(s, []), "schema_completeness_pct")
    lenient = _metric(compute_metrics(s, [], Targets(schema_completeness_pct=25)), "schema_completeness_pct")
    assert strict.passed is False and lenient.passed is True and lenient.target == ">= 25 %"
    unused = [_f("IX01", index_bytes=100, remediation="DROP INDEX i1;"),
              _f("IX01", index_bytes=50, remediation="DROP INDEX i2;")]
    assert _metric(compute_metrics(s, unused), "unused_indexes").passed is False
    assert _metric(compute_metrics(s, unused, Targets(unused_indexes=2)), "unused_indexes").passed is True


def test_schema_completeness_parts() -> None:
    s = snap(
        table("customers", ["id", "name text"], not_null=["name"]), pk("customers"),
        table("orders", ["id", "customer_id", "product_id", "external_id"]), pk("orders"),
        fk("orders", ["customer_id"], "customers"),
        table("products", ["id", "title text"]), pk("products"),
    )
    m = _metric(compute_metrics(s, []), "schema_completeness_pct")
    parts = {p.label: p for p in m.parts}
    assert parts["Tables with a primary key"].value == 100.0
    # customer_id is declared, product_id is not; external_id names no table; products.id is its own key
    assert parts["Reference columns declared as foreign keys"].value == 50.0
    # customers has NOT NULL name, orders has an FK; products declares nothing beyond its key
    assert parts["Tables with constraints beyond the key"].value == 66.7
    assert parts["Tables with a comment"].counted is False
    assert m.value == round((100 + 50 + 66.7) / 3, 1)


def test_reference_candidates_follow_plurals_and_partitions() -> None:
    s = snap(table("categories", ["id"]), table("items", ["id", "category_id", "items_id"]))
    found = [(t.name, c, r.name) for t, c, r in reference_candidates(s, list(s.tables))]
    assert found == [("items", "category_id", "categories")]  # items_id names its own table
    # a foreign key declared on the partitions counts for the partitioned parent
    parent = table("payment", ["id", "category_id"], kind="partitioned")
    part = table("payment_p1", ["id", "category_id"], is_partition=True, parent="public.payment")
    s2 = snap(table("categories", ["id"]), pk("categories"), parent, part,
              fk("payment_p1", ["category_id"], "categories"))
    m = _metric(compute_metrics(s2, []), "schema_completeness_pct")
    assert next(p for p in m.parts if p.label.startswith("Reference")).value == 100.0


def test_foreign_keys_of_inheritance_children_count_for_the_children() -> None:
    # jOOQ's sakila: payment's yearly children inherit from it and declare their own keys; the parent has none
    parent = table("payment", ["payment_id", "customer_id"])
    kids = [table(f"payment_p{y}", ["payment_id", "customer_id"], parent="public.payment") for y in (1, 2)]
    s = snap(table("customer", ["customer_id"]), pk("customer", ["customer_id"]), parent, pk("payment", ["payment_id"]),
             *kids, *(fk(k.name, ["customer_id"], "customer", ["customer_id"]) for k in kids))
    found = sorted((t.name, c) for t, c, _ in reference_candidates(s, list(s.tables)))
    # a child's payment_id is the key it has from its parent, not a reference to it
    assert found == [("payment", "customer_id"), ("payment_p1", "customer_id"), ("payment_p2", "customer_id")]
    m = _metric(compute_metrics(s, []), "schema_completeness_pct")
    part = next(p for p in m.parts if p.label.startswith("Reference"))
    assert part.detail.startswith("2/3")  # the children's keys are theirs; the parent declares none


def test_normalization_counts_warnings_not_info_notes() -> None:
    s = snap(table("a"), table("b"), sampling=Sampling(tables=(TableSample("public", "a", rows=10),)))
    info_only = _metric(compute_metrics(s, [_f("NF02", Severity.INFO, "a")]), "normalization_pct")
    assert info_only.value == 100.0 and info_only.passed and "info-level" in info_only.method
    # "b" was never sampled: it is neither clean nor flagged, and stays out of the share
    warned = _metric(compute_metrics(s, [_f("NF04", Severity.WARNING, "a")]), "normalization_pct")
    assert warned.value == 0.0 and warned.passed is False and warned.measured == "1 of 2 tables"
    unsampled = _metric(compute_metrics(replace(s, sampling=None), []), "normalization_pct")
    assert unsampled.value is None and "sample" in (unsampled.reason or "")


def test_score_caps_per_check_and_severity() -> None:
    many_warnings = [_f("IX05", tbl=f"t{i}") for i in range(300)]
    assert compute_score((), many_warnings).value == 90  # capped at 10
    one_error = [_f("IX04", Severity.ERROR)]
    assert compute_score((), one_error).value == 90
    three_errors = [_f("KY04", Severity.ERROR, tbl=f"s{i}") for i in range(3)]
    assert compute_score((), three_errors).value == 75  # capped at 25
    infos = [_f("IX01", Severity.INFO, tbl=f"t{i}") for i in range(10)]
    assert compute_score((), infos).value == 98
    assert compute_score((), many_warnings + three_errors).grade == "D"  # 65


def test_unused_indexes_unmeasured_when_ix01_did_not_run_or_no_usage_was_read() -> None:
    measured = snap(table("t", ["id", "a"]), index("t", ["a"], scans=5))
    # --select KY, --ignore IX01, or IX01 skipped: nothing looked, so no "0, pass"
    for key in ("unused_indexes", "unused_index_bytes"):
        m = _metric(compute_metrics(measured, [], checks_run=("KY01",)), key)
        assert m.value is None and m.passed is None and "IX01" in (m.reason or ""), key
    # IX01 ran but no index has a usage figure (MariaDB with performance_schema off, no privilege)
    blind = snap(table("t", ["id", "a"]), index("t", ["a"], scans=None), index("t", ["id"], scans=None))
    m = _metric(compute_metrics(blind, [], checks_run=("IX01",)), "unused_indexes")
    assert m.value is None and m.passed is None and "usage figures" in (m.reason or "")
    # the look-alike: usage figures read, IX01 ran, nothing unused
    ok = _metric(compute_metrics(measured, [], checks_run=("IX01", "KY01")), "unused_indexes")
    assert ok.value == 0 and ok.passed is True and ok.reason is None


def test_unused_index_candidates_do_not_fail_the_metric() -> None:
    s = snap(table("t", ["id", "a"]), index("t", ["a"], scans=0))
    young = _f("IX01", Severity.INFO, remediation="DROP INDEX CONCURRENTLY public.t_a_idx;", index_bytes=100)
    kept = _f("IX01", Severity.WARNING, tbl="u", index_bytes=50)  # the only index covering a foreign key
    m = _metric(compute_metrics(s, [young, kept], checks_run=("IX01",)), "unused_indexes")
    assert m.value == 0 and m.passed is True
    assert "2 more candidates, not counted: 1 too early to judge" in m.method and "1 to keep" in m.method
    assert _metric(compute_metrics(s, [young, kept]), "unused_index_bytes").value == 0
    drop = _f("IX01", Severity.WARNING, remediation="DROP INDEX CONCURRENTLY public.v_a_idx;", index_bytes=7)
    m = _metric(compute_metrics(s, [young, kept, drop]), "unused_indexes")
    assert m.value == 1 and m.passed is False
    assert _metric(compute_metrics(s, [young, kept, drop]), "unused_index_bytes").value == 7


def test_unused_indexes_unmeasured_while_the_statistics_are_younger_than_ix01_needs() -> None:
    """rt16 item 4: "0, pass" beside IX01's info candidates with drop statements contradicted them."""
    from checks.indexes import UnusedIndexOptions

    young = snap(table("t", ["id", "a"]), index("t", ["a"], scans=0), stats_age=timedelta(hours=3))
    candidate = _f("IX01", Severity.INFO, remediation="DROP INDEX CONCURRENTLY public.t_a_idx;", index_bytes=100)
    m = _metric(compute_metrics(young, [candidate], checks_run=("IX01",)), "unused_indexes")
    assert m.value is None and m.passed is None
    assert m.reason == ("too early to judge: the index usage statistics cover 3 h, less than the 7 days IX01 "
                        "(unused-index) needs to call an index unused (its min_stats_age_days); 1 candidate "
                        "reported as info (their drop statements are for review, not yet advice)")
    # rt: "3 candidates reported as info" beside 4 IX01 info findings, one an index to keep: that one named too
    kept = _f("IX01", Severity.INFO, tbl="u", index_bytes=50)  # no drop statement: the only index of a foreign key
    m = _metric(compute_metrics(young, [candidate, kept], checks_run=("IX01",)), "unused_indexes")
    assert (m.reason or "").endswith("1 candidate reported as info (their drop statements are for review, not yet "
                                     "advice); and 1 index to keep (reported without a drop statement)")
    # IX01 configured to judge statistics of any age: the metric counts by the same mark
    judged = compute_metrics(young, [candidate], checks_run=("IX01",),
                             check_options={"IX01": UnusedIndexOptions(min_stats_age_days=0)})
    assert _metric(judged, "unused_indexes").value == 0
    # the look-alike: statistics old enough
    old = snap(table("t", ["id", "a"]), index("t", ["a"], scans=3), stats_age=timedelta(days=8))
    assert _metric(compute_metrics(old, [], checks_run=("IX01",)), "unused_indexes").value == 0
