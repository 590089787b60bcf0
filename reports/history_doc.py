"""The run history's sections of the design document (Markdown and HTML): what changed since the previous run,
the trends over the stored runs (charts in HTML), and CP03's growth projections in the scaling notes."""

from __future__ import annotations

from auditor.history.model import HistoryComparison
from auditor.report import Report
from auditor.textfmt import elapsed_ms
from auditor.workload import APPLICATION, statement_class
from reports.document import (
    Bar,
    Chart,
    Code,
    Document,
    LineChart,
    ListBlock,
    Para,
    Strong,
    Table,
    count,
    human_bytes,
)
from reports.jsonfmt import iso_utc

TOP = 10


def _signed_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    return ("+" if n >= 0 else "-") + human_bytes(abs(n))


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _metric_label(key: str, labels: dict[str, tuple[str, str]]) -> str:
    label, unit = labels.get(key, (key, ""))
    return f"{label} ({unit})" if unit else label


def since_section(doc: Document, report: Report) -> None:
    h = report.history
    if h is None:
        return
    if h.previous_run is None:
        doc.h(2, "Run history", "since")
        doc.p(f"First recorded run of this target (run {h.run_id}); the next run's report says what changed "
              "since this one.")
        return
    doc.h(2, "Since the previous run", "since")
    _changes(doc, h, {m.key: (m.label, m.unit) for m in report.metrics})
    _trends(doc, h)


def _changes(doc: Document, h: HistoryComparison, labels: dict[str, tuple[str, str]]) -> None:
    assert h.previous_run is not None
    score = ""
    if h.score_previous is not None and h.score_current is not None:
        score = f"; health score {h.score_previous} -> {h.score_current} ({h.score_current - h.score_previous:+d})"
    doc.p(f"Compared with run {h.previous_run.id} of {iso_utc(h.previous_run.started_at)}: "
          f"{len(h.new_findings)} new finding{'' if len(h.new_findings) == 1 else 's'}, "
          f"{len(h.resolved_findings)} resolved{score}.")
    moved = [m for m in h.metrics if m.previous != m.current and (m.previous is not None or m.current is not None)]
    if moved:
        doc.p(Strong("Metrics that changed"))
        doc.blocks.append(Table(
            headers=("Metric", "Before", "Now", "Change"),
            rows=tuple((_metric_label(m.key, labels), _num(m.previous), _num(m.current),
                        "-" if m.delta is None else f"{m.delta:+g}") for m in moved),
        ))
    for title, findings in (("New findings", h.new_findings), ("Resolved findings", h.resolved_findings)):
        if findings:
            doc.p(Strong(title))
            doc.blocks.append(Table(
                headers=("Check", "Severity", "Object", "Message"),
                rows=tuple((f"{f.code} {f.check}", f.severity.value, Code(f.object.label()), f.message)
                           for f in findings[:TOP * 5]),
            ))
    if h.statements:
        p95 = f", P95 {elapsed_ms(h.interval_p95_ms)}" if h.interval_p95_ms is not None else ""
        doc.p(Strong("Workload of the interval"), f": {count(h.interval_calls)} calls{p95}; "
              f"{len(h.statements)} statements ran ({len(h.new_statements)} new, {len(h.regressed)} regressed, "
              f"{len(h.vanished_statements)} vanished).")
        # the application's statements: a migration's ALTER or CREATE INDEX is set apart (auditor.workload)
        shown = list(h.regressed[:TOP]) + [s for s in h.statements if not s.regressed
                                           and statement_class(s.query) == APPLICATION][:TOP]
        doc.blocks.append(Table(
            headers=("Statement", "Status", "Calls", "Total ms", "Mean ms", "P95 ms", "Before (mean ms)",
                     "Before (P95 ms)"),
            rows=tuple((Code(" ".join(s.query.split())[:200]),
                        f"{s.status} ({', '.join('P95' if f == 'p95' else f for f in s.regressed_by)})"
                        if s.regressed_by else s.status, count(s.calls), f"{s.total_ms:g}",
                        f"{s.mean_ms:g}", "-" if s.p95_ms is None else f"{s.p95_ms:g}",
                        "-" if s.previous_mean_ms is None else f"{round(s.previous_mean_ms, 3):g}",
                        "-" if s.previous_p95_ms is None else f"{round(s.previous_p95_ms, 3):g}") for s in shown),
            numeric=frozenset({2, 3, 4, 5, 6, 7}),
            sort_keys=tuple((None, None, s.calls, s.total_ms, s.mean_ms, s.p95_ms, s.previous_mean_ms,
                             s.previous_p95_ms) for s in shown),
        ))
    growers = [t for t in h.tables if t.bytes_delta]
    if growers:
        doc.p(Strong("Biggest growers since the previous run"))
        doc.blocks.append(Table(
            headers=("Table", "Rows", "Rows change", "Size", "Size change", "Per day"),
            rows=tuple((Code(f"{t.schema}.{t.table}"), count(t.rows),
                        "-" if t.rows_delta is None else f"{t.rows_delta:+,}", human_bytes(t.bytes),
                        _signed_bytes(t.bytes_delta),
                        "-" if t.growth_bytes_per_day is None else _signed_bytes(int(t.growth_bytes_per_day)))
                       for t in growers[:TOP]),
            numeric=frozenset({1, 2, 3, 4, 5}),
            sort_keys=tuple((None, t.rows, t.rows_delta, t.bytes, t.bytes_delta, t.growth_bytes_per_day)
                            for t in growers[:TOP]),
        ))
    if h.resets:
        doc.p(Strong("Statistics resets and restarts"), ": the figures above count from them.")
        doc.blocks.append(ListBlock(tuple((Para((r.message,)),) for r in h.resets)))


def _trends(doc: Document, h: HistoryComparison) -> None:
    runs = h.trend
    if len(runs) < 2:
        return
    doc.p(Strong(f"Trends over {len(runs)} recorded runs"),
          f" ({iso_utc(runs[0].started_at)} to {iso_utc(runs[-1].started_at)}; drawn as charts in the HTML "
          "report, listed in the Markdown).")

    def label(i: int) -> str:
        return runs[i].started_at.strftime("%Y-%m-%d %H:%M")

    doc.blocks.append(LineChart("Health score", tuple(
        (label(i), None if r.score is None else float(r.score), str(r.score)) for i, r in enumerate(runs))))
    doc.blocks.append(LineChart("P95 latency of each run's interval (ms)", tuple(
        (label(i), r.interval_p95_ms, f"{r.interval_p95_ms:g} ms" if r.interval_p95_ms is not None else "-")
        for i, r in enumerate(runs)), unit="ms"))
    doc.blocks.append(LineChart("Database size", tuple(
        (label(i), None if r.db_bytes is None else float(r.db_bytes), human_bytes(r.db_bytes))
        for i, r in enumerate(runs)), unit="bytes"))
    if h.growers:
        doc.blocks.append(Chart(f"Top growers over the last {span(h.growers[0].days)} of runs", tuple(
            Bar(f"{g.schema}.{g.table}", float(g.growth), _signed_bytes(g.growth)) for g in h.growers)))
        doc.blocks.append(Table(
            headers=("Table", "Size then", "Size now", "Growth"),
            rows=tuple((Code(f"{g.schema}.{g.table}"), human_bytes(g.bytes_first), human_bytes(g.bytes_last),
                        _signed_bytes(g.growth)) for g in h.growers),
            numeric=frozenset({1, 2, 3}),
            sort_keys=tuple((None, g.bytes_first, g.bytes_last, g.growth) for g in h.growers),
        ))


def span(days: float) -> str:
    """A stretch of stored runs in words: "3 days", "1 day", "5 hours", "12 minutes" (never "0 days")."""
    if days >= 1.5:
        return f"{days:.0f} days"
    if days >= 1:
        return "1 day"
    hours = days * 24
    if hours >= 1.5:
        return f"{hours:.0f} hours"
    if hours >= 1:
        return "1 hour"
    minutes = max(1, round(hours * 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def growth_notes(doc: Document, report: Report) -> None:
    """CP03's projections (run history), appended to the scaling notes."""
    projections = [f for f in report.findings if f.code == "CP03"]
    skipped = next((s for s in report.skipped if s.code == "CP03"), None)
    if projections or "CP03" in report.checks_run or (skipped is not None and report.history is not None):
        doc.h(3, "Growth projection", "scaling-projection")
    if projections:
        doc.p(Strong("Growth (run history, CP03):"), " projected from the stored runs by least squares.")
        doc.blocks.append(ListBlock(tuple((Para((Code(f.object.label()), f": {f.message}")),)
                                          for f in projections)))
    elif "CP03" in report.checks_run:
        doc.p(Strong("Growth (run history, CP03):"), " no table nor the database is projected to reach 10x its "
              "size or the partitioning threshold within the horizon.")
    elif skipped is not None and report.history is not None:
        doc.p(Strong("Growth (run history):"), f" {skipped.reason}.")
