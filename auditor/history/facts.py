"""Facts from the run store for the checks that judge over time (:class:`~auditor.model.RunHistory`), attached to
the snapshot before the checks run; :mod:`auditor.history.trends` has the arithmetic the checks do over them."""

from __future__ import annotations

from datetime import datetime, timedelta

from auditor.history.record import index_counters, table_counters, utc
from auditor.history.store import RunStore
from auditor.model import IndexHistory, RunHistory, SizePoint, Snapshot, TableHistory, UsagePoint

# how far back the facts reach: IX01's and CP03's longest window (both 30 days by default), within the 35 days
# of fine-grained runs the store keeps
FACTS_DAYS = 35.0


def run_history(store: RunStore, target: str, snap: Snapshot, days: float = FACTS_DAYS) -> RunHistory:
    """This target's complete runs of the last ``days`` before ``snap``, with ``snap`` as the last point."""
    now = utc(snap.collected_at) if snap.collected_at else None
    runs = [r for r in store.runs(target) if r.status == "ok" and (now is None or r.started_at < now)]
    if now is None:
        return RunHistory(runs=len(runs))
    since = now - timedelta(days=days)
    window = [r for r in runs if r.started_at >= since]
    resets: dict[datetime, bool] = {}
    previous = None
    for r in window:
        resets[r.started_at] = previous is not None and _counters_reset(previous, r.stats_reset, r.server_started,
                                                                         r.engine)
        previous = (r.stats_reset, r.server_started)
    current_reset = previous is not None and _counters_reset(previous, utc(snap.stats_reset) if snap.stats_reset
                                                             else None, utc(snap.server_started)
                                                             if snap.server_started else None, snap.engine)
    indexes: dict[tuple[str, str, str], list[UsagePoint]] = {}
    for key, points in store.index_series(target, since).items():
        indexes[key] = [UsagePoint(at, scans, resets.get(at, False)) for at, scans in points if at < now]
    for ix in index_counters(snap):
        indexes.setdefault((ix.schema, ix.table, ix.index), []).append(UsagePoint(now, ix.scans, current_reset))
    tables: dict[tuple[str, str], list[SizePoint]] = {}
    for tkey, tpoints in store.table_series(target, since).items():
        tables[tkey] = [SizePoint(at, rows, size) for at, rows, size in tpoints if at < now]
    for t in table_counters(snap):
        tables.setdefault((t.schema, t.table), []).append(SizePoint(now, t.rows, t.bytes))
    sizes = [t.total_bytes for t in snap.tables if t.kind in ("table", "materialized_view")
             and t.total_bytes is not None]
    database = [SizePoint(r.started_at, None, r.db_bytes) for r in window]
    database.append(SizePoint(now, None, sum(sizes) if sizes else None))
    return RunHistory(
        runs=len(runs), first_run_at=runs[0].started_at if runs else None, window_days=days,
        indexes=tuple(IndexHistory(s, t, i, tuple(p)) for (s, t, i), p in indexes.items()),
        tables=tuple(TableHistory(s, t, tuple(p)) for (s, t), p in tables.items()),
        database=tuple(database),
    )


def _counters_reset(previous: tuple[datetime | None, datetime | None], stats_reset: datetime | None,
                    server_started: datetime | None, engine: str) -> bool:
    before_reset, before_start = previous
    if stats_reset is not None and (before_reset is None or stats_reset > before_reset + timedelta(milliseconds=1)):
        return True
    # MySQL/MariaDB count from the start; PostgreSQL keeps its counters across a clean restart
    return bool(engine == "mysql" and server_started is not None and before_start is not None
                and server_started > before_start + timedelta(seconds=3))
