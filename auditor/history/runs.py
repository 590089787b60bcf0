"""The run history's steps (:mod:`auditor.history` names them): record a run, compare it with the previous one of
the same target, the trend and the store checks. Imported on first use: the store, the interval figures and their
workload model are not needed before a scan connects."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditor.dsn import redact
from auditor.errors import AuditError
from auditor.history.deltas import (
    detect_resets,
    finding_changes,
    index_deltas,
    metric_deltas,
    previous_run,
    statement_deltas,
    table_deltas,
    when,
)
from auditor.history.model import (
    RETENTION_DAYS,
    Grower,
    HistoryComparison,
    HistoryOptions,
    ResetEvent,
    StatementDelta,
    TrendRun,
)
from auditor.history.record import RunRecord, run_record, statement_fingerprint
from auditor.history.store import (
    IDENTITY_FALLBACK_SQL,
    IDENTITY_SQL,
    PgRunStore,
    RunStore,
    ServerIdentity,
    StoreError,
    StoreIsAuditedError,
    is_url,
    open_store,
)
from auditor.model import Finding, Note, Snapshot
from auditor.report import Report

__all__ = ["RETENTION_DAYS", "HistoryComparison", "HistoryOptions", "RunStore", "StoreError", "StoreIsAuditedError",
           "check_store_server", "check_store_target", "compare_runs", "diff_runs", "open_store",
           "record_and_compare", "trend"]


def compare_runs(prev: RunRecord | None, cur: RunRecord, store: str, run_id: int, ran: Collection[str],
                 options: HistoryOptions, session_texts: Collection[str] = ()) -> tuple[HistoryComparison,
                                                                                         RunRecord]:
    """The comparison of ``cur`` with ``prev``, and ``cur`` with its statements' interval figures filled in."""
    if prev is None:
        return HistoryComparison(store=store, run_id=run_id, target=cur.target, options=options,
                                 score_current=cur.score), cur
    interval = (cur.started_at - prev.started_at).total_seconds()
    cur = _with_unseen_counters(prev, cur)
    resets = detect_resets(prev, cur)
    events = list(resets.events)
    statements: tuple[StatementDelta, ...] = ()
    vanished: tuple[StatementDelta, ...] = ()
    recorded = cur
    p95 = p99 = None
    calls = 0
    if prev.workload_read and cur.workload_read and prev.rollup:
        # a daily roll-up keeps no statement counters: subtracting nothing would count months as the interval
        events.append(ResetEvent("no_counters", f"the previous run ({prev.id}, {when(prev.started_at)}) was "
                                 "rolled up into its day's point and kept no statement counters: the interval's "
                                 "statement figures are unknown"))
    elif prev.workload_read and cur.workload_read:
        # MySQL/MariaDB FIRST_SEEN is the server's clock: compared with the entry's previous one only
        prev_seen = (prev.collected_at or prev.started_at) if cur.engine == "postgresql" else None
        result = statement_deltas(prev.statements, cur.statements, resets.statements, options, session_texts,
                                  prev_seen)
        if result.decreased and cur.engine == "mysql":
            # performance_schema resets no digest on its own: an entry that went down or started anew means the
            # digest table was truncated, every entry with it (absent ones were not run since: not vanished)
            events.append(ResetEvent("digest_truncate", "the statement digests were truncated since the previous "
                                     "run (TRUNCATE performance_schema.events_statements_summary_by_digest): "
                                     "statement figures count from then, and statements not run since are not "
                                     "listed as vanished", objects=result.decreased))
            result = statement_deltas(prev.statements, cur.statements, True, options, session_texts, prev_seen)
        statements, vanished, p95, calls = result.statements, result.vanished, result.p95_ms, result.calls
        p99 = result.p99_ms
        recorded = dataclasses.replace(cur, statements=result.recorded, interval_p95_ms=p95)
        if result.decreased:
            events.append(ResetEvent("counter_decrease", f"{result.decreased} statements' counters were reset on "
                                     "their own (went down, or a later stats_since): their figures count from then",
                                     objects=result.decreased))
    tables_reset = resets.tables
    tables, decreased = table_deltas(prev.tables, cur.tables, tables_reset, interval)
    if decreased and any(r.kind == "restart" for r in resets.events):
        # PostgreSQL discards its statistics after a crash or an immediate shutdown: every table counts from the
        # restart (subtracting would undercount the tables whose counters grew back past their old values)
        tables_reset = True
        tables, _ = table_deltas(prev.tables, cur.tables, True, interval)
        events.append(ResetEvent("restart_stats_lost", f"the counters of {decreased} tables went down across the "
                                 "restart: the server discarded its statistics (a crash or an immediate shutdown), "
                                 "so table and index figures count from the restart", objects=decreased))
    elif decreased:
        events.append(ResetEvent("counter_decrease", f"the counters of {decreased} tables went down (reset on "
                                 "their own, or the tables were dropped and re-created): their figures count from "
                                 "then", objects=decreased))
    indexes = index_deltas(prev.indexes, cur.indexes, tables_reset)
    # after a reset (or evictions), a statement not run since says nothing about its findings
    statements_unknown = prev.rollup or any(
        r.kind in ("pg_stat_statements_reset", "digest_truncate", "dealloc") for r in events) or resets.statements
    unseen = _unseen(prev, cur, statements_unknown)
    changes = finding_changes(prev.finding_sources(), cur.findings, ran, prev.checks_run, unseen)
    new, resolved = changes.new, changes.resolved
    recorded = dataclasses.replace(recorded, carried=changes.carried)
    return HistoryComparison(
        store=store, run_id=run_id, target=cur.target, previous_run=previous_run(prev), interval_s=interval,
        new_findings=new, resolved_findings=resolved, statements=statements, vanished_statements=vanished,
        tables=tables, indexes=indexes, resets=tuple(events), metrics=metric_deltas(prev, cur),
        score_previous=prev.score, score_current=cur.score, interval_p95_ms=p95, interval_p99_ms=p99,
        interval_calls=calls, options=options, not_looked_at=tuple(f for _, f in changes.carried),
    ), recorded


def _with_unseen_counters(prev: RunRecord, cur: RunRecord) -> RunRecord:
    """``cur`` with the previous run's counters of the tables it left out (locked, hidden) and of their indexes:
    not dropped, their usage windows and sizes go on, and the next interval counts from what was last seen."""
    if not cur.unseen_tables:
        return cur
    seen = {(t.schema, t.table) for t in cur.tables}
    tables = [t for t in prev.tables if (t.schema, t.table) in cur.unseen_tables and (t.schema, t.table) not in seen]
    if not tables:
        return cur
    kept = {(t.schema, t.table) for t in tables}
    indexes = [i for i in prev.indexes if (i.schema, i.table) in kept]
    sizes = [t.bytes for t in tables if t.bytes is not None]
    db_bytes = cur.db_bytes + sum(sizes) if cur.db_bytes is not None and sizes else cur.db_bytes
    return dataclasses.replace(cur, tables=(*cur.tables, *tables), indexes=(*cur.indexes, *indexes),
                               db_bytes=db_bytes)


def _unseen(prev: RunRecord, cur: RunRecord, statements_unknown: bool) -> Callable[[str, Finding], bool]:
    """Whether this run could not see what a previous finding (absent now) is about: its table was left out of
    the snapshot (locked, hidden), or its statement -- a workload finding's -- is absent after a reset (or was
    already absent when the previous run carried the finding), or WL02's statement had its plan unread, or
    IX01's index had a window too short to judge (its counters restarted with a rebuild, young statistics)."""
    present = {s.fingerprint for s in cur.statements}
    carried_before = prev.carried_fingerprints()
    carried_now = cur.carried_fingerprints()  # a stored run compared again (history diff)

    def unseen(fp: str, finding: Finding) -> bool:
        if fp in carried_now:
            return True
        obj = finding.object
        if obj.table is not None and (obj.schema or "", obj.table) in cur.unseen_tables:
            return True
        if finding.code == "IX01" and obj.index is not None:
            return (obj.schema or "", obj.table or "", obj.index) in cur.unjudged_indexes
        if obj.query is not None and finding.code.startswith("WL") and cur.workload_read:
            statement = statement_fingerprint(obj.query, cur.engine)
            if statement not in present:
                return statements_unknown or fp in carried_before
            return finding.code == "WL02" and statement in cur.unexplained
        return False

    return unseen


def record_and_compare(report: Report, store: RunStore, options: HistoryOptions | None = None,
                       retention_days: float = RETENTION_DAYS) -> Report:
    """Record ``report``'s run in ``store`` and return it with its ``history``; then roll the target's runs
    older than ``retention_days`` up daily (:meth:`RunStore.prune`)."""
    options = options or HistoryOptions()
    cur = run_record(report)
    # a partial or empty run is recorded, but neither compared (its findings are not the whole story) nor used
    # as the next run's previous one
    prev = store.previous_run(cur.target, cur.started_at) if cur.status == "ok" else None
    session = session_texts(cur.engine, [s.query for s in report.snapshot.statements]) \
        if report.snapshot is not None else frozenset()
    comparison, recorded = compare_runs(prev, cur, redact(store.location), 0, report.checks_run, options, session)
    try:
        run_id = store.save_run(recorded)
    except StoreError as exc:
        # the night's report is still written, saying so; the run ends in exit code 2 (auditor.audit.verdict)
        return not_recorded(report, str(exc))
    try:
        store.prune(retention_days, target=cur.target)
    except StoreError as exc:
        report = dataclasses.replace(report, history_error=f"{exc} (rolling up old runs)", notes=(
            *report.notes, Note("history", f"this run was recorded, but the runs older than {retention_days:g} "
                                f"days were not rolled up: {exc}")))
    runs, growers = trend_of(store, cur.target)
    return dataclasses.replace(report, history=dataclasses.replace(comparison, run_id=run_id, trend=runs,
                                                                   growers=growers))


def not_recorded(report: Report, why: str) -> Report:
    """``report`` when its run could not be recorded in the store: no comparison, a note, and ``history_error``
    (the run then ends in exit code 2)."""
    note = Note("history", f"this run was not recorded in the run store ({why}); the report has no comparison "
                "with the previous run")
    return dataclasses.replace(report, history=None, history_error=why, notes=(*report.notes, note))


def trend_of(store: RunStore, target: str, limit: int = 365, grower_days: float = 30.0,
             top: int = 5, until: RunRecord | None = None) -> tuple[tuple[TrendRun, ...], tuple[Grower, ...]]:
    """The target's last ``limit`` complete runs' headline figures, and the ``top`` tables that grew most
    between the first and the last of those within ``grower_days``; as of run ``until`` (None: the last)."""
    runs = [r for r in store.runs(target) if r.status == "ok"]
    if until is not None:
        runs = [r for r in runs if (r.started_at, r.id or 0) <= (until.started_at, until.id or 0)]
    runs = runs[-limit:]
    trend = tuple(TrendRun(r.id or 0, r.started_at, r.score, r.metrics.get("p95_ms"), r.interval_p95_ms,
                           r.db_bytes) for r in runs)
    if len(runs) < 2:
        return trend, ()
    last = runs[-1]
    first = next(r for r in runs if r.started_at >= last.started_at - timedelta(days=grower_days))
    if first is last:
        return trend, ()
    before, after = store.table_bytes(first.id or 0), store.table_bytes(last.id or 0)
    days = (last.started_at - first.started_at).total_seconds() / 86_400
    growers = [Grower(s, t, before.get((s, t)), size, days) for (s, t), size in after.items()]
    growers = [g for g in growers if g.growth > 0]
    growers.sort(key=lambda g: (-g.growth, g.schema, g.table))
    return trend, tuple(growers[:top])


def session_texts(engine: str, texts: Iterable[str]) -> frozenset[str]:
    """Transaction and session control statements (BEGIN, COMMIT, SET) among ``texts``: left out of the
    interval P95 as they are out of the workload's (auditor.workload.latency_statements)."""
    from auditor.workload import query_shape

    probe = Snapshot(engine=engine)
    return frozenset(" ".join(t.split()).lower() for t in texts if query_shape(probe, t).kind == "session")


def check_store_target(location: str, audited: str | None) -> None:
    """Refuse a PostgreSQL store whose URL names the audited database (same host, port and database): the
    quick check, before any connection. :func:`check_store_server` is the real one, by server identity."""
    if not is_url(location) or audited is None or not audited.strip():
        return
    from auditor.dsn import parse_dsn

    try:
        store, target = parse_dsn(location), parse_dsn(audited)
    except AuditError:
        return
    if target.engine != "postgresql":
        return

    def where(params: Mapping[str, str]) -> tuple[str, str, str]:
        host = params.get("host") or params.get("hostaddr") or "localhost"
        return (host.lower(), params.get("port") or "5432", params.get("dbname") or params.get("user") or "")

    if where(store.params) == where(target.params):
        raise _refusal(location)


def _refusal(location: str) -> StoreIsAuditedError:
    return StoreIsAuditedError(f"the run store {redact(location)} is the audited database: dbaudit never writes "
                               "to the database it audits (give another database, or --history-in-audited-db "
                               "to accept it)")


def check_store_server(store: RunStore, audited: str | None, connect_timeout_s: int = 10) -> None:
    """Refuse a PostgreSQL ``store`` on the audited server's audited database, however its URL spells the host
    (localhost, 127.0.0.1, a unix socket, another address): both connections are asked which server (its
    system identifier, else its start time and port) and which database they reached. Called before the store
    writes anything (its schema included). One short read-only connection to the audited database."""
    if not isinstance(store, PgRunStore):
        return
    from auditor.dsn import parse_dsn

    try:
        target = parse_dsn(audited)  # None: $DBAUDIT_DSN or the PG* variables, as the scan reads them
    except AuditError:
        return  # the scan itself says what is wrong with the DSN
    if target.engine != "postgresql":
        return
    import psycopg

    from auditor.connectors.postgres.session import SessionLimits, open_session
    from auditor.workload import marked

    with open_session(target, SessionLimits(connect_timeout_s=connect_timeout_s,
                                                       statement_timeout_ms=10_000)) as session:
        try:
            row = session.execute(marked(IDENTITY_SQL))[0]
        except psycopg.errors.InsufficientPrivilege:
            row = session.execute(marked(IDENTITY_FALLBACK_SQL))[0]
    values = list(row.values())
    audited_identity = ServerIdentity(None if values[0] is None else str(values[0]), str(values[1]),
                                      str(values[2]), str(values[3]))
    if store.identity().same_database(audited_identity):
        raise _refusal(store.location)


def diff_runs(store: RunStore, a: int, b: int, options: HistoryOptions | None = None) -> HistoryComparison:
    """Run ``b`` compared with run ``a``, as if ``a`` were its previous run."""
    first, second = store.load_run(a), store.load_run(b)
    for run_id, run in ((a, first), (b, second)):
        if run is None:
            raise StoreError(f"run {run_id} is not in the store {store.location} (dbaudit history list)")
    assert first is not None and second is not None
    ran = second.checks_run if second.checks_run is not None else tuple({f.code for _, f in second.findings})
    # the same figures as run b's own report: its session statements left out of the P95, its growers then
    session = session_texts(second.engine, [s.query for s in second.statements])
    comparison, _ = compare_runs(first, second, store.location, b, ran, options or HistoryOptions(), session)
    runs, growers = trend_of(store, second.target, until=second)
    return dataclasses.replace(comparison, trend=runs, growers=growers)


@dataclass(frozen=True)
class TrendPoint:
    run_id: int
    started_at: datetime
    value: float | None


TREND_KEYS = ("score", "db_bytes", "interval_p95_ms", "findings")


def trend(store: RunStore, key: str, target: str | None = None, days: float | None = None) -> list[TrendPoint]:
    """A metric over the stored complete runs of one target, oldest first: ``score``, ``db_bytes``,
    ``interval_p95_ms``, ``findings`` (their count) or any key of the report's metrics (``p95_ms``...)."""
    target = one_target(store, target)
    runs = [r for r in store.runs(target) if r.status == "ok"]
    if days is not None and runs:
        start = runs[-1].started_at - timedelta(days=days)
        runs = [r for r in runs if r.started_at >= start]
    known = set(TREND_KEYS) | {k for r in runs for k in r.metrics}
    if key not in known:
        names = ", ".join(sorted(known))
        raise StoreError(f"no metric {key!r} in the store's runs of {target} (known: {names})")
    counts = store.finding_counts([r.id for r in runs if r.id is not None]) if key == "findings" else {}
    points = []
    for r in runs:
        assert r.id is not None
        if key == "score":
            value: float | None = r.score
        elif key == "db_bytes":
            value = r.db_bytes
        elif key == "interval_p95_ms":
            value = r.interval_p95_ms
        elif key == "findings":
            value = counts.get(r.id, 0)
        else:
            value = r.metrics.get(key)
        points.append(TrendPoint(r.id, r.started_at, value))
    return points


def one_target(store: RunStore, target: str | None) -> str:
    """``target``, or the store's only target; an error naming them when there are several or none."""
    targets = store.targets()
    if target is not None:
        if target not in targets:
            raise StoreError(f"no run of {target!r} in the store {store.location}"
                             + (f" (targets: {', '.join(targets)})" if targets else " (it is empty)"))
        return target
    if not targets:
        raise StoreError(f"the store {store.location} holds no run yet")
    if len(targets) > 1:
        raise StoreError(f"the store {store.location} holds runs of {len(targets)} targets: choose one with "
                         f"--target ({', '.join(targets)})")
    return targets[0]


def attach_run_history(snap: Snapshot, store: RunStore) -> Snapshot:
    """``snap`` with the facts of its target's previous runs (:class:`~auditor.model.RunHistory`), for the checks
    that judge over time."""
    from auditor.history.facts import run_history
    from auditor.history.record import snapshot_target

    facts = run_history(store, snapshot_target(snap), snap)
    return dataclasses.replace(snap, run_history=facts)
