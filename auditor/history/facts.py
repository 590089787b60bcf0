"""Facts from the run store for the checks that judge over time (:class:`~auditor.model.RunHistory`), attached to
the snapshot before the checks run; :mod:`auditor.history.trends` has the arithmetic the checks do over them."""

from __future__ import annotations

from datetime import datetime, timedelta

from auditor.history.record import index_counters, table_counters, utc
from auditor.history.store import RunStore
from auditor.model import IndexHistory, RunHistory, Snapshot, TableHistory

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
    # IX01 judges indexes that enforce nothing: the others' series are not read
    candidates = {(i.schema, i.table, i.name) for i in snap.indexes if not (i.is_unique or i.backs_constraint)}
    scans: dict[tuple[str, str, str], list[int | None]] = {}
    rows: dict[tuple[str, str], list[int | None]] = {}
    sizes: dict[tuple[str, str], list[int | None]] = {}
    for k, r in enumerate(window):
        assert r.id is not None
        for key, value in store.index_scans(r.id):
            if key in candidates:
                scans.setdefault(key, [None] * n)[k] = value
        for tkey, count, size in store.table_sizes(r.id):
            rows.setdefault(tkey, [None] * n)[k] = count
            sizes.setdefault(tkey, [None] * n)[k] = size
    for ix in index_counters(snap):
        key = (ix.schema, ix.table, ix.index)
        if key in candidates:
            scans.setdefault(key, [None] * n)[-1] = ix.scans
    for t in table_counters(snap):
        rows.setdefault((t.schema, t.table), [None] * n)[-1] = t.rows
        sizes.setdefault((t.schema, t.table), [None] * n)[-1] = t.bytes
    own = [t.total_bytes for t in snap.tables if t.kind in ("table", "materialized_view")
           and t.total_bytes is not None]
    return RunHistory(
        runs=len(runs), first_run_at=runs[0].started_at if runs else None, window_days=days, times=times,
        resets=resets,
        indexes=tuple(IndexHistory(s, t, i, tuple(v)) for (s, t, i), v in scans.items()),
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
