"""The run history's part of the reports: ``history`` in JSON, the "since <time>" block of the text report.

Field names of the JSON part are a public contract (issue 11): ``history.previous_run`` (``id``, ``started_at``),
``history.new_findings`` / ``history.resolved_findings`` (finding objects), ``history.statements[]`` (``query``,
``calls``, ``total_ms``, ``mean_ms``, ``p95_ms``, ``regressed``: the interval's figures), ``history.tables[]``
(``schema``, ``table``, ``rows``, ``rows_delta``, ``bytes``, ``bytes_delta``, ``growth_bytes_per_day``) and
``history.resets``. Other fields are additions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from auditor.history import TrendPoint
from auditor.history.model import Grower, HistoryComparison, ResetEvent, StatementDelta, TableDelta
from auditor.history.record import RunRecord

if TYPE_CHECKING:
    from auditor.fleet import TargetResult
from auditor.report import Report
from auditor.textfmt import duration, elapsed_ms, plural
from auditor.textsafe import terminal_safe
from auditor.workload import APPLICATION, statement_class


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _statement(s: StatementDelta) -> dict[str, Any]:
    return {
        "query": s.query, "calls": s.calls, "total_ms": s.total_ms, "mean_ms": s.mean_ms, "p95_ms": s.p95_ms,
        "regressed": s.regressed,
        # additions
        "status": s.status, "database": s.database, "user": s.user, "toplevel": s.toplevel,
        "fingerprint": s.fingerprint, "rows": s.rows, "shared_blks_hit": s.shared_blks_hit,
        "shared_blks_read": s.shared_blks_read, "previous_mean_ms": s.previous_mean_ms,
        "previous_p95_ms": s.previous_p95_ms, "reset": s.reset, "p99_ms": s.p99_ms,
        "regressed_by": list(s.regressed_by),
    }


def _table(t: TableDelta) -> dict[str, Any]:
    return {
        "schema": t.schema, "table": t.table, "rows": t.rows, "rows_delta": t.rows_delta, "bytes": t.bytes,
        "bytes_delta": t.bytes_delta, "growth_bytes_per_day": t.growth_bytes_per_day,
        # additions
        "status": t.status, "seq_scans": t.seq_scans, "idx_scans": t.idx_scans, "dead_rows": t.dead_rows,
        "dead_rows_delta": t.dead_rows_delta, "reset": t.reset,
    }


def _reset(r: ResetEvent) -> dict[str, Any]:
    return {"kind": r.kind, "message": r.message, "at": _iso(r.at), "objects": r.objects}


def history_dict(h: HistoryComparison | None) -> dict[str, Any] | None:
    if h is None:
        return None
    prev = h.previous_run
    return {
        "previous_run": {"id": prev.id, "started_at": _iso(prev.started_at)} if prev else None,
        "new_findings": [f.as_dict() for f in h.new_findings],
        "resolved_findings": [f.as_dict() for f in h.resolved_findings],
        # addition: the previous run's findings this run could not look at (neither new nor resolved)
        "not_looked_at_findings": [f.as_dict() for f in h.not_looked_at],
        "statements": [_statement(s) for s in h.statements],
        "tables": [_table(t) for t in h.tables],
        "resets": [_reset(r) for r in h.resets],
        # additions
        "run_id": h.run_id,
        "store": h.store,
        "interval_s": h.interval_s,
        "vanished_statements": [_statement(s) for s in h.vanished_statements],
        "interval_calls": h.interval_calls,
        "interval_p95_ms": h.interval_p95_ms,
        "interval_p99_ms": h.interval_p99_ms,
        "indexes": [{"schema": i.schema, "table": i.table, "index": i.index, "scans": i.scans, "bytes": i.bytes,
                     "bytes_delta": i.bytes_delta, "status": i.status, "reset": i.reset} for i in h.indexes],
        "score": {"previous": h.score_previous, "current": h.score_current},
        "metrics": {m.key: {"previous": m.previous, "current": m.current, "delta": m.delta} for m in h.metrics},
        "trend": [{"run_id": r.run_id, "started_at": _iso(r.started_at), "score": r.score, "p95_ms": r.p95_ms,
                   "interval_p95_ms": r.interval_p95_ms, "db_bytes": r.db_bytes} for r in h.trend],
        "growers": [_grower(g) for g in h.growers],
    }


def _bytes(n: float) -> str:
    sign = "-" if n < 0 else "+"
    n = abs(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    return f"{sign}{n:.1f} TB"


def _short(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 3] + "..."


def since_lines(report: Report, top: int = 5) -> list[str]:
    """The text report's "since <time>" block: what changed since the previous recorded run (empty without
    ``--history``)."""
    h = report.history
    if h is None:
        return []
    if h.previous_run is None:
        return ["", terminal_safe(f"History: first recorded run of this target (run {h.run_id} in {h.store}); "
                                  "the next run reports what changed since this one.")]
    # object names and statement texts come from the audited server: escaped as the rest of the text report
    return ["", *(terminal_safe(line) for line in comparison_lines(h, top))]


def comparison_lines(h: HistoryComparison, top: int = 5) -> list[str]:
    """What changed between the previous run and this one, in a few lines (the since block, ``history diff``)."""
    prev = h.previous_run
    if prev is None:
        return [f"Run {h.run_id}: no previous run to compare with"]
    lines = [f"Since {_iso(prev.started_at)} (run {prev.id}, {duration(h.interval_s or 0)} ago)"]
    score = ""
    if h.score_previous is not None and h.score_current is not None:
        diff = h.score_current - h.score_previous
        score = f"; score {h.score_previous} -> {h.score_current} ({diff:+d})"
    lines.append(f"  findings: {len(h.new_findings)} new, {len(h.resolved_findings)} resolved{score}")
    for f in h.new_findings[:top]:
        lines.append(f"    new:      {f.code} {f.check}  {f.object.label()}")
    for f in h.resolved_findings[:top]:
        lines.append(f"    resolved: {f.code} {f.check}  {f.object.label()}")
    if h.not_looked_at:
        lines.append(f"    not looked at: {len(h.not_looked_at)} of the previous run's findings (their object was "
                     "not seen, their statement not run since a reset, or their index's usage window too short "
                     "to judge); kept, neither new nor resolved")
    hidden = max(0, len(h.new_findings) - top) + max(0, len(h.resolved_findings) - top)
    if hidden:
        lines.append(f"    ... and {hidden} more (JSON: history.new_findings / history.resolved_findings)")
    if h.statements or h.vanished_statements:
        p95 = f", P95 {elapsed_ms(h.interval_p95_ms)}" if h.interval_p95_ms is not None else ""
        new = len(h.new_statements)
        lines.append(f"  workload: {plural(h.interval_calls, 'call')}{p95}; "
                     f"{plural(len(h.statements), 'statement')} ran ({new} new, "
                     f"{len(h.regressed)} regressed, {len(h.vanished_statements)} vanished)")
        for s in h.regressed[:top]:
            lines.append(f"    regressed: {_regression(s)}, {plural(s.calls, 'call')}  {_short(s.query)}")
        # the costliest of the application's statements: a migration's ALTER or CREATE INDEX is set apart
        for s in [s for s in h.statements if statement_class(s.query) == APPLICATION][:3]:
            calls = plural(s.calls, "call")
            lines.append(f"    top: {elapsed_ms(s.total_ms)} in {calls} (mean {elapsed_ms(s.mean_ms)})  "
                         f"{_short(s.query)}")
    growers = [t for t in h.tables if t.bytes_delta]
    if growers:
        total = sum(t.bytes_delta or 0 for t in growers)
        lines.append(f"  size: {_bytes(total)} over {plural(len(growers), 'table')}")
        for t in growers[:3]:
            rows = f", {t.rows_delta:+,d} rows" if t.rows_delta else ""
            lines.append(f"    {t.schema}.{t.table}: {_bytes(t.bytes_delta or 0)}{rows}")
    for r in h.resets:
        lines.append(f"  {'note' if r.kind == 'no_counters' else 'reset'}: {r.message}")
    return lines


def _regression(s: StatementDelta) -> str:
    """The figures that regressed, before -> now; the mean beside a P95 that regressed alone (it may have gone
    down: "P95 2.4 -> 5.2 ms (mean 2.07 -> 1.855 ms)")."""
    figures = {"mean": ("mean", s.previous_mean_ms, s.mean_ms), "p95": ("P95", s.previous_p95_ms, s.p95_ms)}
    def shown(value: float | None) -> str:
        return elapsed_ms(value) if value is not None else "?"

    text = ", ".join(f"{label} {shown(before)} -> {shown(now)}"
                     for label, before, now in (figures[name] for name in s.regressed_by))
    if "mean" not in s.regressed_by:
        text += f" (mean {shown(s.previous_mean_ms)} -> {shown(s.mean_ms)})"
    return text


# ---- dbaudit history ---------------------------------------------------------------------------------------


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return _bytes(n).lstrip("+")


def _value(key: str, value: float) -> str:
    """A metric's value as a person reads it, never ``1.64413e+08``: a size (a key ending in ``bytes``) in kB /
    MB / GB, a whole number with thousands separators, anything else with at most 3 decimals."""
    if key.endswith("bytes"):
        return _size(int(value))
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def runs_dict(runs: Sequence[RunRecord], counts: Mapping[int, int]) -> list[dict[str, Any]]:
    return [{"id": r.id, "started_at": _iso(r.started_at), "target": r.target, "engine": r.engine,
             "database": r.database, "status": r.status, "message": r.message, "score": r.score, "grade": r.grade,
             "findings": counts.get(r.id or 0, 0), "db_bytes": r.db_bytes, "interval_p95_ms": r.interval_p95_ms,
             "rollup": r.rollup, "duration_s": r.duration_s, "tool_version": r.tool_version} for r in runs]


def render_runs(runs: Sequence[RunRecord], counts: Mapping[int, int], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"runs": runs_dict(runs, counts)}, indent=2, ensure_ascii=False) + "\n"
    if not runs:
        return "no runs recorded\n"
    rows = [(r.id, _iso(r.started_at), r.target, r.status + (" (daily)" if r.rollup else ""),
             f"{r.score} {r.grade}" if r.score is not None else (r.grade or "-"), counts.get(r.id or 0, 0),
             _size(r.db_bytes)) for r in runs]
    return tabulate(rows, headers=("id", "started (UTC)", "target", "status", "score", "findings", "size")) + "\n"


def _grower(g: Grower) -> dict[str, Any]:
    return {"schema": g.schema, "table": g.table, "bytes_first": g.bytes_first, "bytes_last": g.bytes_last,
            "growth_bytes": g.growth, "days": round(g.days, 2)}


def run_dict(run: RunRecord, growers: Sequence[Grower] = ()) -> dict[str, Any]:
    base = runs_dict([run], {run.id or 0: len(run.findings)})[0]
    base["growers"] = [_grower(g) for g in growers]
    base["metrics"] = dict(run.metrics)
    base["findings"] = [f.as_dict() for _, f in run.findings]
    base["server_started"] = _iso(run.server_started)
    base["stats_reset"] = _iso(run.stats_reset)
    base["pg_stat_statements_reset"] = _iso(run.pgss_reset)
    base["statements"] = [{"query": s.query, "user": s.user, "toplevel": s.toplevel, "calls": s.calls,
                           "total_ms": round(s.total_ms, 3), "interval_calls": s.interval_calls,
                           "interval_mean_ms": s.interval_mean_ms, "interval_p95_ms": s.interval_p95_ms}
                          for s in sorted(run.statements, key=lambda s: -(s.interval_calls or 0))]
    base["tables"] = [{"schema": t.schema, "table": t.table, "rows": t.rows, "bytes": t.bytes}
                      for t in run.tables]
    return base


def render_run(run: RunRecord, fmt: str, top: int = 10, growers: Sequence[Grower] = ()) -> str:
    """One stored run as its scan reported it: its own findings (their form that night), figures and growers."""
    if fmt == "json":
        return json.dumps(run_dict(run, growers), indent=2, ensure_ascii=False) + "\n"
    score = f"{run.score} {run.grade}" if run.score is not None else (run.grade or "-")
    lines = [f"run {run.id}: {run.target}", f"  started   {_iso(run.started_at)} ({run.status}"
             + (", daily roll-up" if run.rollup else "") + ")",
             f"  score     {score}", f"  size      {_size(run.db_bytes)}",
             f"  findings  {len(run.findings)}"]
    if run.message:
        lines.append(f"  note      {run.message}")
    metrics = [(k, v) for k, v in sorted(run.metrics.items()) if v is not None]
    if metrics:
        lines.append("  metrics   " + ", ".join(f"{k} {_value(k, v)}" for k, v in metrics))
    for _, f in sorted(run.findings, key=lambda x: (-x[1].severity.rank, x[1].code))[:top]:
        lines.append(f"    {f.severity.value:<7} {f.code} {f.check}  {f.object.label()}")
    if len(run.findings) > top:
        lines.append(f"    ... and {len(run.findings) - top} more (--format json lists them all)")
    busiest = sorted((s for s in run.statements if s.interval_calls), key=lambda s: -(s.interval_calls or 0))
    for s in busiest[:5]:
        lines.append(f"    {s.interval_calls:,} calls, mean {_value('ms', s.interval_mean_ms or 0)} ms  "
                     f"{_short(s.query)}")
    if growers:
        lines.append(f"  growers   over the {growers[0].days:.1f} days of runs up to this one")
        for g in growers:
            lines.append(f"    {g.schema}.{g.table}: {_bytes(g.growth)}")
    return "\n".join(lines) + "\n"


def render_diff(h: HistoryComparison, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(history_dict(h), indent=2, ensure_ascii=False) + "\n"
    return "\n".join(comparison_lines(h, top=20)) + "\n"


def render_trend(points: Sequence[TrendPoint], key: str, target: str, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"metric": key, "target": target, "points": [
            {"run_id": p.run_id, "started_at": _iso(p.started_at), "value": p.value} for p in points]},
            indent=2, ensure_ascii=False) + "\n"
    values = [p.value for p in points if p.value is not None]
    head = f"{key} of {target}: {len(points)} runs"
    if values:
        head += f", min {_value(key, min(values))}, max {_value(key, max(values))}, last {_value(key, values[-1])}"
    rows = [(p.run_id, _iso(p.started_at), "-" if p.value is None else _value(key, p.value)) for p in points]
    # the values are formatted already: tabulate would read "12,345,678" back as a number and print 1.23457e+07
    return head + "\n" + tabulate(rows, headers=("id", "started (UTC)", key), disable_numparse=True,
                                   colalign=("right", "left", "right")) + "\n"


# ---- fleet scans ---------------------------------------------------------------------------------------------


def fleet_rows(results: Sequence[TargetResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        report, h = r.report, (r.report.history if r.report is not None else None)
        out.append({
            "name": r.target.name, "target": report.target.dsn if report is not None else r.target.shown,
            "status": "error" if report is None else ("partial" if report.partial else "ok"),
            "score": report.score.value if report is not None else None,
            "grade": report.score.grade if report is not None else None,
            "findings": len(report.findings) if report is not None else None,
            "new_findings": len(h.new_findings) if h is not None and h.previous_run is not None else None,
            "resolved_findings": len(h.resolved_findings) if h is not None and h.previous_run is not None
            else None,
            "run_id": h.run_id if h is not None else r.run_id,
            "exit_code": int(r.exit_code), "duration_s": round(r.duration_s, 2), "error": r.error,
        })
    return out


def render_fleet(results: Sequence[TargetResult], fmt: str) -> str:
    rows = fleet_rows(results)
    if fmt == "json":
        return json.dumps({"targets": rows}, indent=2, ensure_ascii=False) + "\n"

    def n(value: object) -> str:
        return "-" if value is None else str(value)

    table = [(r["name"], r["status"], f"{n(r['score'])} {r['grade'] or ''}".strip(), n(r["findings"]),
              n(r["new_findings"]), n(r["resolved_findings"]), f"{r['duration_s']:.1f} s",
              _short(r["error"] or "", 60)) for r in rows]
    failed = sum(1 for r in rows if r["status"] != "ok")
    head = f"{len(rows)} targets scanned, {len(rows) - failed} ok, {failed} failed"
    return head + "\n" + tabulate(table, headers=("target", "status", "score", "findings", "new", "resolved",
                                                    "took", "error")) + "\n"
