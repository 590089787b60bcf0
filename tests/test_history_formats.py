"""How history figures read: sizes and large counts in `history trend` and `history show`, spans of runs in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from auditor.history import TrendPoint
from auditor.history.record import RunRecord
from reports.history import render_run, render_trend
from reports.history_doc import span

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def test_trend_of_sizes_and_counts_never_prints_exponents() -> None:
    points = [TrendPoint(1, T0, 164_413_440.0), TrendPoint(2, T0 + timedelta(days=1), 171_966_464.0),
              TrendPoint(3, T0 + timedelta(days=2), None)]
    text = render_trend(points, "db_bytes", "postgresql://app@db/shop", "text")
    assert "e+0" not in text
    assert "min 156.8 MB, max 164.0 MB, last 164.0 MB" in text, text
    assert "156.8 MB" in text.splitlines()[3] and text.splitlines()[-1].rstrip().endswith("-"), text
    calls = render_trend([TrendPoint(1, T0, 12_345_678.0), TrendPoint(2, T0, 0.125)], "interval_calls", "t", "text")
    assert "12,345,678" in calls and "0.125" in calls and "e+0" not in calls, calls


def test_history_show_prints_sizes_and_numbers_readably() -> None:
    run = RunRecord(target="postgresql://app@db/shop", engine="postgresql", database="shop", started_at=T0, id=4,
                    score=81, grade="B", db_bytes=164_413_440,
                    metrics={"unused_index_bytes": 23_535_616.0, "p95_ms": 12.5, "tables": 2000.0,
                             "index_coverage_pct": 97.12345})
    text = render_run(run, "text")
    assert "e+0" not in text, text
    assert "unused_index_bytes 22.4 MB" in text and "tables 2,000" in text and "p95_ms 12.5" in text, text
    assert "index_coverage_pct 97.123" in text and "size      156.8 MB" in text, text


def test_spans_of_runs_in_words() -> None:
    assert [span(d) for d in (30, 2.4, 1.2, 1.0, 0.5, 1 / 24, 0.3 / 24, 10 / 86_400)] == \
        ["30 days", "2 days", "1 day", "1 day", "12 hours", "1 hour", "18 minutes", "1 minute"]


def test_design_document_lists_the_tables_cp03_projects_past_the_partitioning_threshold(tmp_path: Path) -> None:
    """rt11: orders, 30 M rows growing 1 M a day (CP03: 100 M rows in 70 days), was missing from the design
    document's partitioning candidates, whose text says "or growing there within a year"."""
    from auditor.audit import AuditSettings, run_audit
    from reports.markdown import render_markdown
    from tests.history_support import day_snapshot

    store = str(tmp_path / "runs.db")
    for d in range(31):
        report = run_audit(day_snapshot(d, rows_per_day=1_000_000), AuditSettings(history=store))
    assert [f.object.table for f in report.findings if f.code == "CP03" and f.object.type == "table"] == ["orders"]
    text = render_markdown(report)
    section = text[text.index("Partitioning candidates"):]
    section = section[:section.index("\n#")]
    row = next(line for line in section.splitlines() if "`public.orders`" in line)
    assert "CP03 projects the partitioning threshold in 70 days, 1,000,000 rows a day" in row, row
    # past the year: not a candidate (orders' CP03 finding moved to 400 days)
    from dataclasses import replace

    from auditor import scaling

    far = [replace(f, details={**f.details, "days_to_partition_rows": 400.0}) if f.code == "CP03" else f
           for f in report.findings]
    assert report.snapshot is not None
    assert "orders" in [c.table.name for c in scaling.candidates(report.snapshot, None, report.findings)]
    assert "orders" not in [c.table.name for c in scaling.candidates(report.snapshot, None, far)]
    # without a projection (a single run): not a candidate
    late = run_audit(day_snapshot(31, rows_per_day=1_000_000), AuditSettings(history=str(tmp_path / "other.db")))
    assert "`public.orders`" not in render_markdown(late).split("Partitioning candidates", 1)[1].split("\n#")[0]


def test_new_and_resolved_findings_come_in_the_reports_order_whatever_the_stores_order() -> None:
    """rt11: a SQLite and a PostgreSQL store returned the previous run's findings in different orders, so
    resolved_findings differed; both lists are sorted as the report sorts (severity, check, object)."""
    from auditor.history.model import HistoryComparison
    from auditor.model import Finding, ObjectRef, Severity

    def finding(code: str, table: str, severity: Severity = Severity.WARNING) -> Finding:
        return Finding(code=code, check="x", severity=severity, category="keys",
                       object=ObjectRef(type="table", schema="public", table=table), message=f"{table} message")

    found = [finding("KY01", t) for t in "zqa"] + [finding("FK01", "m"), finding("ZZ01", "y", Severity.ERROR)]
    expected = [("ZZ01", "y"), ("FK01", "m"), ("KY01", "a"), ("KY01", "q"), ("KY01", "z")]
    for order in (found, found[::-1], found[2:] + found[:2]):
        h = HistoryComparison(store="runs.db", run_id=2, target="t", new_findings=tuple(order),
                              resolved_findings=tuple(reversed(order)))
        assert [(f.code, f.object.table) for f in h.new_findings] == expected
        assert [(f.code, f.object.table) for f in h.resolved_findings] == expected
