"""Run history: record each run in a store and compare it with the previous run of the same target.

``dbaudit scan DSN --history STORE`` (or ``history = "..."`` in ``[tool.dbaudit]``) calls :func:`record_and_compare`
from the pipeline (:func:`auditor.audit.run_audit`): the previous complete run of the target is read, this run's
interval figures are computed against it (:mod:`auditor.history.deltas`, never resetting anything on the server),
the run is recorded (:mod:`auditor.history.store`) and the report gets a
:class:`~auditor.history.model.HistoryComparison`. The store is the user's file; the audited database is never
written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from auditor.dsn import redact
from auditor.history.deltas import (
    detect_resets,
    finding_changes,
    metric_deltas,
    previous_run,
    statement_deltas,
    table_deltas,
)
from auditor.history.model import HistoryComparison, HistoryOptions, ResetEvent, StatementDelta
from auditor.history.record import RunRecord, run_record
from auditor.history.store import RunStore, StoreError, open_store
from auditor.report import Report

__all__ = ["HistoryComparison", "HistoryOptions", "RunStore", "StoreError", "compare_runs", "open_store",
           "record_and_compare"]


def compare_runs(prev: RunRecord | None, cur: RunRecord, store: str, run_id: int, ran: Collection[str],
                 options: HistoryOptions, session_texts: Collection[str] = ()) -> tuple[HistoryComparison,
                                                                                         RunRecord]:
    """The comparison of ``cur`` with ``prev``, and ``cur`` with its statements' interval figures filled in."""
    if prev is None:
        return HistoryComparison(store=store, run_id=run_id, target=cur.target, options=options,
                                 score_current=cur.score), cur
    interval = (cur.started_at - prev.started_at).total_seconds()
    resets = detect_resets(prev, cur)
    events = list(resets.events)
    statements: tuple[StatementDelta, ...] = ()
    vanished: tuple[StatementDelta, ...] = ()
    recorded = cur
    p95 = None
    calls = 0
    if prev.workload_read and cur.workload_read:
        result = statement_deltas(prev.statements, cur.statements, resets.statements, options, session_texts,
                                  prev.collected_at or prev.started_at)
        statements, vanished, p95, calls = result.statements, result.vanished, result.p95_ms, result.calls
        recorded = dataclasses.replace(cur, statements=result.recorded, interval_p95_ms=p95)
        if result.decreased:
            events.append(ResetEvent("counter_decrease", f"{result.decreased} statements' counters were reset on "
                                     "their own (went down, or a later stats_since): their figures count from then",
                                     objects=result.decreased))
    tables, decreased = table_deltas(prev.tables, cur.tables, resets.tables, interval)
    if decreased:
        events.append(ResetEvent("counter_decrease", f"the counters of {decreased} tables went down (reset one by "
                                 "one): their scans count from then", objects=decreased))
    new, resolved = finding_changes(prev.findings, cur.findings, ran)
    return HistoryComparison(
        store=store, run_id=run_id, target=cur.target, previous_run=previous_run(prev), interval_s=interval,
        new_findings=new, resolved_findings=resolved, statements=statements, vanished_statements=vanished,
        tables=tables, resets=tuple(events), metrics=metric_deltas(prev, cur), score_previous=prev.score,
        score_current=cur.score, interval_p95_ms=p95, interval_calls=calls, options=options,
    ), recorded


def record_and_compare(report: Report, location: str, options: HistoryOptions | None = None) -> Report:
    """Record ``report``'s run in the store at ``location`` and return it with its ``history``."""
    options = options or HistoryOptions()
    cur = run_record(report)
    with open_store(location) as store:
        # a partial or empty run is recorded, but neither compared (its findings are not the whole story) nor
        # used as the next run's previous one
        prev = store.previous_run(cur.target, cur.started_at) if cur.status == "ok" else None
        session = _session_texts(report)
        comparison, recorded = compare_runs(prev, cur, redact(location), 0, report.checks_run, options, session)
        run_id = store.save_run(recorded)
    return dataclasses.replace(report, history=dataclasses.replace(comparison, run_id=run_id))


def _session_texts(report: Report) -> frozenset[str]:
    """Transaction and session control statements (BEGIN, COMMIT, SET): left out of the interval P95 as they are
    out of the workload's (auditor.workload.latency_statements)."""
    snap = report.snapshot
    if snap is None:
        return frozenset()
    from auditor.workload import query_shape

    return frozenset(" ".join(s.query.split()).lower() for s in snap.statements
                     if query_shape(snap, s.query).kind == "session")
