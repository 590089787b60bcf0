"""The run history's part of the reports: ``history`` in JSON, the "since <time>" block of the text report.

Field names of the JSON part are a public contract (issue 11): ``history.previous_run`` (``id``, ``started_at``),
``history.new_findings`` / ``history.resolved_findings`` (finding objects), ``history.statements[]`` (``query``,
``calls``, ``total_ms``, ``mean_ms``, ``p95_ms``, ``regressed``: the interval's figures), ``history.tables[]``
(``schema``, ``table``, ``rows``, ``rows_delta``, ``bytes``, ``bytes_delta``, ``growth_bytes_per_day``) and
``history.resets``. Other fields are additions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from auditor.history.model import HistoryComparison, ResetEvent, StatementDelta, TableDelta
from auditor.report import Report


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
        "previous_p95_ms": s.previous_p95_ms, "reset": s.reset,
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
        "score": {"previous": h.score_previous, "current": h.score_current},
        "metrics": {m.key: {"previous": m.previous, "current": m.current, "delta": m.delta} for m in h.metrics},
    }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


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
        return ["", f"History: first recorded run of this target (run {h.run_id} in {h.store}); the next run "
                    "reports what changed since this one."]
    prev = h.previous_run
    lines = ["", f"Since {_iso(prev.started_at)} (run {prev.id}, {_duration(h.interval_s or 0)} ago)"]
    score = ""
    if h.score_previous is not None and h.score_current is not None:
        diff = h.score_current - h.score_previous
        score = f"; score {h.score_previous} -> {h.score_current} ({diff:+d})"
    lines.append(f"  findings: {len(h.new_findings)} new, {len(h.resolved_findings)} resolved{score}")
    for f in h.new_findings[:top]:
        lines.append(f"    new:      {f.code} {f.check}  {f.object.label()}")
    for f in h.resolved_findings[:top]:
        lines.append(f"    resolved: {f.code} {f.check}  {f.object.label()}")
    hidden = max(0, len(h.new_findings) - top) + max(0, len(h.resolved_findings) - top)
    if hidden:
        lines.append(f"    ... and {hidden} more (JSON: history.new_findings / history.resolved_findings)")
    if h.statements or h.vanished_statements:
        p95 = f", P95 {h.interval_p95_ms:g} ms" if h.interval_p95_ms is not None else ""
        new = len(h.new_statements)
        lines.append(f"  workload: {h.interval_calls} calls{p95}; {len(h.statements)} statements ran ({new} new, "
                     f"{len(h.regressed)} regressed, {len(h.vanished_statements)} vanished)")
        for s in h.regressed[:top]:
            before = f"{s.previous_mean_ms:g}" if s.previous_mean_ms is not None else "?"
            lines.append(f"    regressed: mean {before} -> {s.mean_ms:g} ms, {s.calls} calls  {_short(s.query)}")
        for s in h.statements[:3]:
            lines.append(f"    top: {s.total_ms:g} ms in {s.calls} calls (mean {s.mean_ms:g} ms)  {_short(s.query)}")
    growers = [t for t in h.tables if t.bytes_delta]
    if growers:
        total = sum(t.bytes_delta or 0 for t in growers)
        lines.append(f"  size: {_bytes(total)} over {len(growers)} tables")
        for t in growers[:3]:
            rows = f", {t.rows_delta:+d} rows" if t.rows_delta else ""
            lines.append(f"    {t.schema}.{t.table}: {_bytes(t.bytes_delta or 0)}{rows}")
    for r in h.resets:
        lines.append(f"  reset: {r.message}")
    return lines
