"""Quality metrics and the score: targets, the schema-completeness parts, unmeasured reasons, the caps."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from auditor.model import Finding, ObjectRef, Sampling, Severity, Skipped, TableSample
from auditor.relations import reference_candidates
from auditor.scoring import Targets, compute_metrics, compute_score
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
    # "b" was never sampled: it is neither clean nor flagged, and stays out of the share, so the share's 100 %
    # does not confirm "every table in 3NF"
    assert info_only.value == 100.0 and info_only.passed is None and "info-level" in info_only.method
    warned = _metric(compute_metrics(s, [_f("NF04", Severity.WARNING, "a")]), "normalization_pct")
    assert warned.value == 0.0 and warned.passed is False
    assert warned.measured == "1 of 2 tables (not judged: 1: not in the data sample)"
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


# ---- checks and metrics not measured: the score is a lower bound, never better for seeing less ----------------


def _skip(code: str, reason: str, enable: str | None) -> Skipped:
    return Skipped(check="x", code=code, reason=reason, enable=enable)


def test_a_check_skipped_for_a_privilege_costs_its_worst_and_the_score_says_so() -> None:
    seen = [_f("SC01", Severity.ERROR), _f("SC01", Severity.ERROR), _f("NF04"), _f("NF04")]
    full = compute_score((), seen)
    hidden = compute_score((), [], skipped=[
        _skip("SC01", "pg_hba_file_rules is readable by superusers only", "GRANT SELECT ON pg_hba_file_rules TO a"),
        _skip("NF04", "no table could be sampled (5: no SELECT privilege on the table)", "GRANT SELECT ...")],
        engine="postgresql")
    assert full.value == 100 - 20 - 6 and full.upper is None and full.not_measured == ()
    # SC01 is an error check (cap 25), NF04 a warning one (cap 10): seeing less never scores better
    assert hidden.value == 100 - 25 - 10 and hidden.value <= full.value
    assert hidden.upper == 100 and hidden.not_measured == ("SC01", "NF04")
    assert hidden.label() == ("65/100, grade D (at least; 2 checks not measured count as failed: up to 100 had "
                              "they been clean)")


def test_skips_that_do_not_apply_to_the_engine_or_that_the_user_chose_cost_nothing() -> None:
    skipped = [
        _skip("SC07", "PostgreSQL has no anonymous roles", None),
        _skip("WL01", "workload collection was off (--no-workload)", "run the scan without --no-workload"),
        _skip("NF02", "data sampling was off (--no-sample)", "run the scan without --no-sample"),
        _skip("CP03", "growth needs the run history: the scan was not recorded (--history STORE)", "--history"),
        _skip("CP03", "growth needs at least 2 recorded runs a day or more apart; this is the first", "--history"),
    ]
    score = compute_score((), [_f("KY01")], skipped=skipped, engine="postgresql")
    assert score.value == 97 and score.upper is None and score.not_measured == ()
    # a check that applies but whose input failed to read is a blind spot, even with nothing to enable it
    failed = _skip("WL01", "pg_stat_statements could not be read (error)", None)
    assert compute_score((), [], skipped=[failed], engine="postgresql").not_measured == ("WL01",)
    assert compute_score((), [], skipped=[_skip("MT01", "no wraparound", None)], engine="mysql").value == 100


def test_a_metric_not_read_counts_as_failed_one_not_applicable_does_not() -> None:
    s = snap(table("a", ["id"]), pk("a"))
    sampled = Sampling(tables=(TableSample("public", "a", skipped_reason="no SELECT privilege on the table"),))
    refused = compute_metrics(replace(s, sampling=sampled), [])
    normalization = _metric(refused, "normalization_pct")
    assert normalization.value is None and normalization.unread
    off = compute_metrics(replace(s, sampling=Sampling(enabled=False)), [])
    assert not _metric(off, "normalization_pct").unread
    mysql = _metric(compute_metrics(replace(s, engine="mysql"), []), "xid_headroom_pct")
    assert mysql.value is None and not mysql.unread  # MySQL has no wraparound: nothing to read
    unread = [m.key for m in refused if m.unread]
    score = compute_score(refused, [])
    assert score.not_measured == tuple(unread) and "normalization_pct" in unread
    assert score.value == 100 - 5 * (len(unread) + sum(1 for m in refused if m.passed is False))


def test_a_table_locked_out_of_the_catalog_makes_the_report_partial_not_graded_exit_2() -> None:
    from auditor.audit import AuditSettings, run_audit, verdict
    from auditor.errors import ExitCode
    from auditor.model import Note

    s = snap(table("a", ["id", "b_id"]), pk("a"))
    assert run_audit(s, AuditSettings()).partial is None
    locked = replace(s, notes=(Note(area="locks", message="locked", objects=("public.orders",)),))
    report = run_audit(locked, AuditSettings(fail_on="never"))
    assert report.partial is not None and "public.orders" in report.partial
    assert report.score.value is None and not report.score.graded
    assert verdict(report, AuditSettings(fail_on="never")).exit_code == ExitCode.ERROR
