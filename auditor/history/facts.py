"""Facts from the run store for the checks that judge over time (:class:`~auditor.model.RunHistory`), attached to
the snapshot before the checks run; :mod:`auditor.history.trends` has the arithmetic the checks do over them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from auditor.history.deltas import detect_resets, statement_deltas
from auditor.history.model import HistoryOptions
from auditor.history.record import (
    RunRecord,
    StatementCounters,
    statement_counters,
    statement_fingerprint,
    table_counters,
    utc,
)
from auditor.history.store import RunStore
from auditor.model import IndexUsage, RunHistory, Snapshot, StatementInterval, TableHistory

# how far back the facts reach: IX01's and CP03's longest window (both 30 days by default), within the 35 days
# of fine-grained runs the store keeps
FACTS_DAYS = 35.0


def run_history(store: RunStore, target: str, snap: Snapshot, days: float = FACTS_DAYS) -> RunHistory:
    """This target's complete runs of the last ``days`` before ``snap``, with ``snap`` as the last run."""
    now = utc(snap.collected_at) if snap.collected_at else None
    runs = [r for r in store.runs(target) if r.status == "ok" and (now is None or r.started_at < now)]
    if now is None:
        return RunHistory(runs=len(runs))
    window = [r for r in runs if r.started_at >= now - timedelta(days=days)]
    n = len(window) + 1
    times = tuple([r.started_at for r in window] + [now])
    marks = [(r.stats_reset, r.server_started, r.engine) for r in window]
    marks.append((utc(snap.stats_reset) if snap.stats_reset else None,
                  utc(snap.server_started) if snap.server_started else None, snap.engine))
    resets = tuple([False] + [_counters_reset(marks[k - 1], marks[k]) for k in range(1, n)])
    rows: dict[tuple[str, str], list[int | None]] = {}
    sizes: dict[tuple[str, str], list[int | None]] = {}
    for k, r in enumerate(window):
        assert r.id is not None
        for tkey, count, size in store.table_sizes(r.id):
            rows.setdefault(tkey, [None] * n)[k] = count
            sizes.setdefault(tkey, [None] * n)[k] = size
    for t in table_counters(snap):
        rows.setdefault((t.schema, t.table), [None] * n)[-1] = t.rows
        sizes.setdefault((t.schema, t.table), [None] * n)[-1] = t.bytes
    own = [t.total_bytes for t in snap.tables if t.kind in ("table", "materialized_view")
           and t.total_bytes is not None]
    # what the stored runs cover, not how far the facts may reach: a first run covers nothing yet
    covered = (now - window[0].started_at).total_seconds() / 86_400 if window else 0.0
    since, statements = _statement_intervals(store.previous_run(target, now) if runs else None, target, snap, now)
    return RunHistory(
        runs=len(runs), first_run_at=runs[0].started_at if runs else None, window_days=covered, times=times,
        statements_since=since, statements=statements,
        resets=resets,
        indexes=_index_usage(store, target, snap, now, resets[-1]),
        tables=tuple(TableHistory(s, t, tuple(rows[(s, t)]), tuple(v)) for (s, t), v in sizes.items()),
        database_bytes=tuple([r.db_bytes for r in window] + [sum(own) if own else None]),
    )


def _counters_reset(before: tuple[datetime | None, datetime | None, str],
                    after: tuple[datetime | None, datetime | None, str]) -> bool:
    before_reset, before_start, _ = before
    stats_reset, server_started, engine = after
    if stats_reset is not None and (before_reset is None or stats_reset > before_reset + timedelta(milliseconds=1)):
        return True
    # MySQL/MariaDB count from the start; PostgreSQL keeps its counters across a clean restart
    return bool(engine == "mysql" and server_started is not None and before_start is not None
                and server_started > before_start + timedelta(seconds=3))


def _statement_intervals(prev: RunRecord | None, target: str, snap: Snapshot, now: datetime
                         ) -> tuple[datetime | None, tuple[StatementInterval, ...]]:
    """Each statement's figures since ``prev`` read the statements, with the resets the comparison itself
    detects (auditor.history.compare_runs): (when ``prev`` read them, the figures); (None, ()) when it did not,
    or was rolled up and kept no counters, or this run read no workload."""
    workload = snap.workload
    if prev is None or prev.rollup or not prev.workload_read or workload is None \
            or workload.status not in ("ok", "no_privilege"):
        return None, ()
    cur = RunRecord(target=target, engine=snap.engine, database=snap.database, started_at=now, collected_at=now,
                    server_started=utc(snap.server_started) if snap.server_started else None,
                    stats_reset=utc(snap.stats_reset) if snap.stats_reset else None,
                    pgss_reset=utc(workload.stats_reset) if workload.stats_reset else None,
                    pgss_dealloc=workload.dealloc)
    resets = detect_resets(prev, cur)
    prev_seen = (prev.collected_at or prev.started_at) if snap.engine == "postgresql" else None
    before, after = _pooled(prev.statements), _pooled(statement_counters(snap))
    result = statement_deltas(before, after, resets.statements, HistoryOptions(), prev_seen=prev_seen)
    if result.decreased and snap.engine == "mysql":  # a truncated digest table: every entry counts anew
        result = statement_deltas(before, after, True, HistoryOptions(), prev_seen=prev_seen)
    moved = {(d.fingerprint, d.toplevel): d for d in result.statements}
    out = []
    for stmt in snap.statements:
        d = moved.get((statement_fingerprint(stmt.query, snap.engine), stmt.toplevel))
        # not among the interval's statements: not called since the previous run
        out.append(StatementInterval(stmt.queryid, 0, 0.0, None) if d is None else
                   StatementInterval(stmt.queryid, d.calls, d.mean_ms, d.p95_ms, d.reset))
    return prev.collected_at or prev.started_at, tuple(out)


def _pooled(counters: tuple[StatementCounters, ...]) -> list[StatementCounters]:
    """One entry per (fingerprint, toplevel), every role's counters summed: the checks judge a statement, not
    each role's share of it."""
    acc: dict[tuple[str, bool], StatementCounters] = {}
    for c in counters:
        key = (c.fingerprint, c.toplevel)
        old = acc.get(key)
        if old is None:
            acc[key] = replace(c, user="", interval_calls=None, interval_mean_ms=None, interval_p95_ms=None)
            continue
        since = max((m for m in (old.stats_since, c.stats_since) if m is not None), default=None)
        acc[key] = replace(old, calls=old.calls + c.calls, total_ms=old.total_ms + c.total_ms,
                           sumsq_ms=old.sumsq_ms + c.sumsq_ms, min_ms=min(old.min_ms, c.min_ms),
                           max_ms=max(old.max_ms, c.max_ms), rows=old.rows + c.rows,
                           blks_hit=old.blks_hit + c.blks_hit, blks_read=old.blks_read + c.blks_read,
                           stats_since=since)
    return list(acc.values())


def _index_usage(store: RunStore, target: str, snap: Snapshot, now: datetime, reset_now: bool
                 ) -> tuple[IndexUsage, ...]:
    """The use of each index that enforces nothing (IX01 judges no other), this run's counter included."""
    known = store.index_usage(target)
    out = []
    for ix in snap.indexes:
        if ix.is_unique or ix.backs_constraint:
            continue
        seen = known.get((ix.schema, ix.table, ix.name))
        if seen is None:
            continue  # first recorded now: the store says nothing of it yet
        first, last_used, last_scans = seen
        if ix.scans is not None and ((ix.scans > 0 and (reset_now or last_scans is None or ix.scans < last_scans))
                                     or (last_scans is not None and ix.scans > last_scans)):
            last_used = now
        out.append(IndexUsage(ix.schema, ix.table, ix.name, first, last_used))
    return tuple(out)
