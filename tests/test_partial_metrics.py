"""A metric computed over part of its tables is no plain pass.

The red team's case: of two sampled tables one yielded to an application's DDL and was left out of the sample;
"Tables in 3NF" read "100 %, pass" over the other alone. Over part of the tables the share only bounds the
whole's: the target passes when even the worst case meets it, fails when even the best misses it, and otherwise
the metric is "partial", saying over how many of how many tables and why the rest were not judged, in every
format, and the score neither rewards nor penalises it. No table judged at all: "not measured".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from auditor.model import Finding, Note, ObjectRef, Sampling, Severity, Snapshot, TableSample
from auditor.report import Report, Target
from auditor.sampling import past_the_limit
from auditor.scoring import Metric, Targets, compute_metrics, compute_score
from reports.htmlfmt import render_html
from reports.jsonfmt import render_json
from reports.markdown import render_markdown
from reports.text import render_text
from tests.builders import pk, snap, table

YIELDED = "yielded to session 4242 (waiting for ACCESS EXCLUSIVE: ALTER TABLE employees ADD COLUMN x int)"


def _nf04(tbl: str) -> Finding:
    return Finding(code="NF04", check="transitive-dependency", severity=Severity.WARNING, category="normalization",
                   object=ObjectRef("table", "public", tbl, ("zip", "city")), message="city is determined by zip")


def _two_tables(*samples: TableSample, notes: tuple[Note, ...] = ()) -> Snapshot:
    tables = [table(name, ["id", "zip", "city"], rows=60_000) for name in ("employees", "orders")]
    return snap(*tables, pk("employees"), pk("orders"), sampling=Sampling(tables=samples), notes=notes)


def _nf(s: Snapshot, findings: list[Finding] | None = None, targets: Targets | None = None) -> Metric:
    return next(m for m in compute_metrics(s, findings or [], targets) if m.key == "normalization_pct")


def _report(s: Snapshot, findings: list[Finding]) -> Report:
    metrics = compute_metrics(s, findings)
    return Report(target=Target(engine="postgresql", server_version="15.20", database="shop",
                                dsn="postgresql://app@127.0.0.1/shop"),
                  started_at=datetime(2026, 11, 29, 7, 0, tzinfo=UTC), duration_s=1.0, findings=tuple(findings),
                  skipped=(), metrics=metrics, score=compute_score(metrics, findings), notes=s.notes,
                  checks_run=("NF01", "NF02", "NF03", "NF04"), snapshot=s, tool_version="0.1.0")


def test_a_clean_share_over_one_of_two_tables_is_partial_not_a_pass() -> None:
    s = _two_tables(TableSample("public", "orders", rows=10_000, method="bernoulli"),
                    TableSample("public", "employees", estimated_rows=60_000, skipped_reason=YIELDED))
    m = _nf(s)
    assert m.value == 100.0 and m.passed is None and m.status == "partial"
    assert m.measured == f"1 of 2 tables (not judged: 1: {YIELDED})"
    assert m.reason == "over all 2 tables the figure lies between 50.0 % and 100.0 %, so the target (100 %) is " \
                       "neither met nor missed"
    # the score, a lower bound: counted failed in it (a lock on a table must not lift the score), met in the upper
    others = [x for x in compute_metrics(s, []) if x.key != "normalization_pct"]
    score, without = compute_score(compute_metrics(s, []), []), compute_score(others, [])
    assert "normalization_pct" in score.not_measured and "normalization_pct" not in without.not_measured
    assert score.value == without.value - 5 and score.upper == without.upper


def test_every_table_judged_is_a_plain_pass_the_trap() -> None:
    s = _two_tables(TableSample("public", "orders", rows=10_000), TableSample("public", "employees", rows=10_000))
    m = _nf(s)
    assert m.value == 100.0 and m.passed is True and m.status == "pass" and m.measured is None and m.reason is None


def test_a_flagged_table_fails_whatever_was_not_judged() -> None:
    # at 100 % the unjudged table cannot lift the share back: a failure is sound on part of the tables
    s = _two_tables(TableSample("public", "orders", rows=10_000),
                    TableSample("public", "employees", skipped_reason=YIELDED))
    m = _nf(s, [_nf04("orders")])
    assert m.value == 0.0 and m.passed is False and m.status == "FAIL" and m.reason is None
    assert m.measured is not None and m.measured.startswith("1 of 2 tables (not judged: 1: yielded")


def test_a_lower_target_passes_when_the_worst_case_meets_it() -> None:
    names = [f"t{i}" for i in range(10)]
    samples = [TableSample("public", n, rows=100) for n in names[:9]]
    samples.append(TableSample("public", "t9", skipped_reason=past_the_limit(9)))
    s = snap(*(table(n, ["id"]) for n in names), sampling=Sampling(tables=tuple(samples)))
    # 9 clean of 10: at worst 90 %
    assert _nf(s, targets=Targets(normalization_pct=90)).passed is True
    edge = _nf(s, targets=Targets(normalization_pct=91))
    assert edge.passed is None and edge.status == "partial"
    assert edge.measured == f"9 of 10 tables (not judged: 1: {past_the_limit(9)})"
    # 3 flagged of the 9 judged: at best 7 of 10, below 80 %
    flagged = [_nf04(n) for n in names[:3]]
    assert _nf(s, flagged, Targets(normalization_pct=80)).passed is False


def test_no_table_judged_is_not_measured() -> None:
    s = _two_tables(TableSample("public", "orders", skipped_reason="locked by another session (lock_timeout)"),
                    TableSample("public", "employees", skipped_reason=YIELDED))
    m = _nf(s, targets=Targets(min_measured_pct=0))
    assert m.value is None and m.passed is None and m.status == "not measured"
    assert m.reason is not None and "no table could be sampled" in m.reason


def test_every_reason_a_table_was_not_judged_is_named() -> None:
    reasons = ["--timeout 30 s left no time for sampling", "no SELECT privilege on the table",
               "locked by another session (lock_timeout)", past_the_limit(200)]
    names = [f"t{i}" for i in range(9)]
    samples = [TableSample("public", n, rows=100) for n in names[:5]]
    samples += [TableSample("public", n, skipped_reason=r) for n, r in zip(names[5:], reasons, strict=True)]
    s = snap(*(table(n, ["id"]) for n in names), sampling=Sampling(tables=tuple(samples)))
    m = _nf(s, targets=Targets(normalization_pct=60))  # 5 clean of 9: 55.6 % at worst
    assert m.status == "partial" and m.measured is not None and m.measured.startswith("5 of 9 tables (not judged: ")
    # describe_skips names the three commonest and counts the rest
    assert m.measured.count("1: ") == 4 and m.measured.endswith("; 1: other reasons)")


def test_a_table_locked_out_of_the_catalog_still_counts_as_not_judged() -> None:
    """PostgreSQL leaves a table under ACCESS EXCLUSIVE out of the catalog (a "locks" note names it): the
    metrics over tables must not shrink to the tables that were read."""
    orders = table("orders", ["id", "zip", "city"], not_null=["zip"])
    locked = Note(area="locks", message="1 relation(s) were locked ...", objects=("public.employees",))
    s = snap(orders, pk("orders"), notes=(locked,),
             sampling=Sampling(tables=(TableSample("public", "orders", rows=10_000),)))
    m = _nf(s)
    assert m.value == 100.0 and m.status == "partial"
    assert m.measured == "1 of 2 tables (not judged: 1: locked by another session while the catalog was read, " \
                         "not read)"
    completeness = next(x for x in compute_metrics(s, []) if x.key == "schema_completeness_pct")
    assert completeness.value == 100.0 and completeness.status == "partial"
    assert completeness.measured == "1 of 2 tables (not read: 1 locked by another session while the catalog " \
                                    "was read)"
    # without the lock: a plain pass
    free = next(x for x in compute_metrics(snap(orders, pk("orders")), []) if x.key == "schema_completeness_pct")
    assert free.passed is True and free.measured is None


def test_every_format_says_partial_and_over_how_many_tables() -> None:
    s = _two_tables(TableSample("public", "orders", rows=10_000, method="bernoulli"),
                    TableSample("public", "employees", estimated_rows=60_000, skipped_reason=YIELDED))
    report = _report(s, [])
    text = render_text(report, width=200)
    line = next(x for x in text.splitlines() if x.startswith("Tables in 3NF"))
    assert "partial" in line and "pass" not in line
    assert f"over 1 of 2 tables (not judged: 1: {YIELDED}); over all 2 tables the figure lies between" in text
    metric = next(m for m in json.loads(render_json(report))["quality"] if m["key"] == "normalization_pct")
    assert metric["status"] == "partial" and metric["passed"] is None and metric["value"] == 100.0
    assert metric["measured"].startswith("1 of 2 tables (not judged: 1: yielded to session 4242")
    markdown = render_markdown(report)
    assert "**Tables in 3NF: 100 %** (target 100 %, partial); over 1 of 2 tables" in markdown
    assert "1 partial (Tables in 3NF)" in markdown
    html = render_html(report)
    assert '<span class="badge b-warning">partial</span>' in html and "over 1 of 2 tables" in html
    # the trap: every table judged, no partial anywhere
    whole = _report(_two_tables(TableSample("public", "orders", rows=10_000),
                                TableSample("public", "employees", rows=10_000)), [])
    line = next(x for x in render_text(whole, width=200).splitlines() if x.startswith("Tables in 3NF"))
    assert line.split()[-1] == "pass"
    assert "**Tables in 3NF: 100 %** (target 100 %, pass); share of the tables" in render_markdown(whole)
    assert next(m for m in json.loads(render_json(whole))["quality"] if m["key"] == "normalization_pct")["status"] \
        == "pass"


def test_index_coverage_over_part_of_the_calls_is_bounded_the_same_way() -> None:
    from tests.test_output_safety import _workload

    def coverage(explained: int, refused: int) -> Metric:
        return next(m for m in compute_metrics(_workload(explained, refused), []) if m.key == "index_coverage_pct")

    # every explained call covered, 92.3 % of the calls explained: at worst 92.3 %, the target is met
    most = coverage(24, 2)
    assert most.value == 100.0 and most.passed is True and most.status == "pass" and most.reason is None
    # half the calls explained: between 50 % and 100 %
    half = coverage(13, 13)
    assert half.value == 100.0 and half.passed is None and half.status == "partial"
    assert half.reason is not None and half.reason.startswith("over all the calls the share lies between 50.0 % and "
                                                              "100.0 %") and "permission denied" in half.reason
    assert coverage(3, 0).status == "pass"


def test_an_empty_table_is_left_out_of_the_share_not_left_undecided() -> None:
    # a table with no rows has no dependency to judge and no violation: the others' clean share is a pass, and the
    # empty one is named, not counted (else any schema with an empty table could never pass)
    s = _two_tables(TableSample("public", "orders", rows=10_000), TableSample("public", "employees", rows=0))
    m = _nf(s)
    assert m.value == 100.0 and m.passed is True and m.status == "pass" and m.reason is None
    assert "(1 of 1 with rows, 1 empty not counted: sampled" in m.method


def test_only_empty_tables_is_not_measured() -> None:
    s = _two_tables(TableSample("public", "orders", rows=0), TableSample("public", "employees", rows=0))
    m = _nf(s)
    assert m.value is None and m.status == "not measured"
