"""What the run store keeps of a run: the cumulative counters deltas need, the findings, metrics and score.

:func:`run_record` turns a finished report (and its snapshot) into a :class:`RunRecord`; the store writes and
reads these. Statements are keyed by (database, user, fingerprint, toplevel), the fingerprint being the
normalized statement's parse-tree fingerprint (pglast, the same as pg_query's) on PostgreSQL and a digest of
sqlglot's normalized text on MySQL/MariaDB -- not the queryid, which changes with table OIDs, parameter types
and server versions, so history survives a restore or an upgrade.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.baseline import fingerprint as finding_fingerprint
from auditor.engine import check_options
from auditor.model import Finding, Snapshot, Statement
from auditor.report import Report
from auditor.scoring import audited_tables


@dataclass(frozen=True)
class StatementCounters:
    """Cumulative pg_stat_statements / performance_schema figures of one statement key at one run; the
    ``interval_*`` fields are this run's interval figures, kept so that the next run can judge a regression."""

    fingerprint: str
    database: str
    user: str
    toplevel: bool
    query: str
    calls: int
    total_ms: float
    sumsq_ms: float
    min_ms: float
    max_ms: float
    rows: int = 0
    blks_hit: int = 0
    blks_read: int = 0
    interval_calls: int | None = None
    interval_mean_ms: float | None = None
    interval_p95_ms: float | None = None
    # when the key's counters started, the earliest of its entries (a later one is an entry added, not a reset):
    # PG17+ stats_since, MySQL/MariaDB FIRST_SEEN
    stats_since: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str, bool]:
        return (self.database, self.user, self.fingerprint, self.toplevel)


@dataclass(frozen=True)
class TableCounters:
    schema: str
    table: str
    rows: int | None
    bytes: int | None
    seq_scan: int | None = None
    idx_scan: int | None = None
    dead_rows: int | None = None
    n_tup_ins: int | None = None
    n_tup_upd: int | None = None
    n_tup_del: int | None = None


@dataclass(frozen=True)
class IndexCounters:
    schema: str
    table: str
    index: str
    scans: int | None
    bytes: int | None


@dataclass(frozen=True)
class RunRecord:
    target: str
    engine: str
    database: str
    started_at: datetime
    id: int | None = None
    collected_at: datetime | None = None
    duration_s: float | None = None
    score: int | None = None
    grade: str | None = None
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    server_started: datetime | None = None
    stats_reset: datetime | None = None
    pgss_reset: datetime | None = None
    pgss_dealloc: int | None = None
    status: str = "ok"  # ok, partial, empty, error
    message: str | None = None
    db_bytes: int | None = None
    interval_p95_ms: float | None = None
    tool_version: str = ""
    workload_read: bool = False  # the statements were read: without them on both sides there are no deltas
    rollup: bool = False  # kept as its day's point after the retention window (auditor.history.store)
    checks_run: tuple[str, ...] | None = None  # None: not recorded (a store from before schema version 2)
    statements: tuple[StatementCounters, ...] = ()
    tables: tuple[TableCounters, ...] = ()
    indexes: tuple[IndexCounters, ...] = ()
    findings: tuple[tuple[str, Finding], ...] = ()  # (identity fingerprint, finding)
    # a run read back from the store for a comparison: (fingerprint, code, stored form), rebuilt into findings
    # only for those that need showing (the resolved ones), not thousands a night
    stored_findings: tuple[tuple[str, str, str], ...] = ()
    # the previous run's findings this run did not look at (the object was not seen, the statement not run since
    # a reset, its plan not read), kept as they were: neither resolved now nor new the next time it is seen
    carried: tuple[tuple[str, Finding], ...] = ()
    stored_carried: tuple[tuple[str, str, str], ...] = ()
    # what this run could not see (not stored): tables left out of the snapshot (locked, hidden), and the
    # fingerprints of the statements whose plan was not read (EXPLAIN refused or out of time)
    unseen_tables: frozenset[tuple[str, str]] = frozenset()
    unexplained: frozenset[str] = frozenset()
    # the indexes IX01 could not judge (no scan over a window too short): (schema, table, index)
    unjudged_indexes: frozenset[tuple[str, str, str]] = frozenset()

    def finding_sources(self) -> list[tuple[str, str, Callable[[], Finding | None]]]:
        """(fingerprint, code, a function giving the finding) for every finding of the run, the ones it carried
        over from its previous run included."""
        out: list[tuple[str, str, Callable[[], Finding | None]]] = [
            (fp, f.code, functools.partial(_same, f)) for fp, f in (*self.findings, *self.carried)]
        out.extend((fp, code, functools.partial(finding_of, text))
                   for fp, code, text in (*self.stored_findings, *self.stored_carried))
        return out

    def carried_fingerprints(self) -> frozenset[str]:
        return frozenset([fp for fp, _ in self.carried] + [fp for fp, _, _ in self.stored_carried])


def _same(finding: Finding) -> Finding | None:
    return finding


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=20_000)
def statement_fingerprint(text: str, engine: str) -> str:
    """A statement's identity across runs: pglast's fingerprint (PostgreSQL), or the sha256 of sqlglot's
    re-generated text (MySQL/MariaDB); a text the parser refuses falls back to its whitespace-folded hash."""
    if engine == "postgresql":
        try:
            from pglast.parser import fingerprint

            return "pg:" + str(fingerprint(text))
        except Exception:  # noqa: BLE001 - pglast raises ParseError and a few others on odd texts
            pass
    else:
        try:
            import sqlglot

            from auditor.mysql_workload import digest_to_sql

            normal = ";".join(sqlglot.transpile(digest_to_sql(text), read="mysql", write="mysql"))
            return "my:" + hashlib.sha256(normal.lower().encode("utf-8")).hexdigest()[:16]
        except Exception:  # noqa: BLE001 - sqlglot raises ParseError, TokenError and a few others
            pass
    return "tx:" + hashlib.sha256(" ".join(text.split()).lower().encode("utf-8")).hexdigest()[:16]


def _sumsq(calls: int, mean: float, stddev: float) -> float:
    return calls * (stddev**2 + mean**2)


def statement_counters(snap: Snapshot) -> tuple[StatementCounters, ...]:
    """One entry per (database, user, fingerprint, toplevel), counters summed over the snapshot's statements
    that share it (pg_stat_statements keeps one row per role; several texts can share a fingerprint)."""
    acc: dict[tuple[str, str, str, bool], StatementCounters] = {}
    for stmt in snap.statements:
        fp = statement_fingerprint(stmt.query, snap.engine)
        for part in _per_user(stmt):
            key = (snap.database, part.user, fp, stmt.toplevel)
            old = acc.get(key)
            if old is None:
                acc[key] = StatementCounters(fp, snap.database, part.user, stmt.toplevel, stmt.query, part.calls,
                                             part.total_ms, part.sumsq_ms, stmt.min_ms, stmt.max_ms, part.rows,
                                             part.shared_blks_hit, part.shared_blks_read,
                                             stats_since=part.stats_since)
                continue
            since = min((m for m in (old.stats_since, part.stats_since) if m is not None), default=None)
            acc[key] = StatementCounters(
                fp, snap.database, part.user, stmt.toplevel,
                stmt.query if part.calls > old.calls else old.query, old.calls + part.calls,
                old.total_ms + part.total_ms, old.sumsq_ms + part.sumsq_ms, min(old.min_ms, stmt.min_ms),
                max(old.max_ms, stmt.max_ms), old.rows + part.rows, old.blks_hit + part.shared_blks_hit,
                old.blks_read + part.shared_blks_read, stats_since=since)
    return tuple(acc.values())


@dataclass(frozen=True)
class _Part:
    user: str
    calls: int
    total_ms: float
    sumsq_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    stats_since: datetime | None = None


def _per_user(stmt: Statement) -> list[_Part]:
    if stmt.by_user:
        return [_Part(u.user, u.calls, u.total_ms, u.sumsq_ms, u.rows, u.shared_blks_hit, u.shared_blks_read,
                      utc(u.stats_since) if u.stats_since else None)
                for u in stmt.by_user]
    # MySQL/MariaDB digests are not kept per user; an older snapshot has no per-role figures
    return [_Part("", stmt.calls, stmt.total_ms, _sumsq(stmt.calls, stmt.mean_ms, stmt.stddev_ms), stmt.rows,
                  stmt.shared_blks_hit, stmt.shared_blks_read,
                  utc(stmt.first_seen) if stmt.first_seen else None)]


def table_counters(snap: Snapshot) -> tuple[TableCounters, ...]:
    out = []
    for t in snap.tables:
        if t.kind not in ("table", "partitioned", "materialized_view"):
            continue
        rows = t.estimated_rows if t.estimated_rows is not None else t.stats.n_live_tup
        out.append(TableCounters(t.schema, t.name, rows, t.total_bytes, t.stats.seq_scan, t.stats.idx_scan,
                                 t.stats.n_dead_tup, t.stats.n_tup_ins, t.stats.n_tup_upd, t.stats.n_tup_del))
    return tuple(out)


def index_counters(snap: Snapshot) -> tuple[IndexCounters, ...]:
    return tuple(IndexCounters(i.schema, i.table, i.name, i.scans, i.size_bytes) for i in snap.indexes)


def _metric_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def target_identity(report: Report) -> str:
    """Which database a run is of: the DSN without its password (``engine://user@host:port/db``)."""
    return report.target.dsn or f"{report.target.engine}:{report.target.database}"


def snapshot_target(snap: Snapshot) -> str:
    """:func:`target_identity` of the report this snapshot gives (the report redacts the DSN the same way)."""
    from auditor.dsn import redact

    return redact(snap.dsn) or f"{snap.engine}:{snap.database}"


def run_record(report: Report, target: str | None = None) -> RunRecord:
    snap = report.snapshot
    # a run that saw no table is "empty"; one whose selection ran no check still read the counters
    saw_nothing = report.empty is not None and (snap is None or not audited_tables(snap))
    status = "partial" if report.partial else "empty" if saw_nothing else "ok"
    findings = tuple((finding_fingerprint(f), f) for f in report.findings)
    base = RunRecord(
        target=target or target_identity(report), engine=report.target.engine, database=report.target.database,
        # when the server was read: a snapshot scanned later (--from) is placed at its collection time
        started_at=utc(snap.collected_at if snap is not None and snap.collected_at else report.started_at),
        duration_s=report.duration_s, score=report.score.value,
        grade=report.score.grade,
        metrics={m.key: _metric_number(m.value) for m in report.metrics},
        status=status, message=report.partial or report.empty, tool_version=report.tool_version,
        findings=findings, checks_run=tuple(report.checks_run),
    )
    if snap is None:
        return base
    workload = snap.workload
    tables = table_counters(snap)
    # partitioned parents and inheritance trees are counted through their members
    sizes = [t.total_bytes for t in snap.tables if t.kind in ("table", "materialized_view")
             and t.total_bytes is not None]
    workload_read = workload is not None and workload.status in ("ok", "no_privilege")
    plans = {p.queryid: p for p in snap.plans}
    unexplained = frozenset(statement_fingerprint(s.query, snap.engine) for s in snap.statements
                            if s.queryid in plans and not plans[s.queryid].explained) if workload_read else frozenset()
    return RunRecord(
        **{**base.__dict__,
           "collected_at": utc(snap.collected_at) if snap.collected_at else None,
           "server_started": utc(snap.server_started) if snap.server_started else None,
           "stats_reset": utc(snap.stats_reset) if snap.stats_reset else None,
           "pgss_reset": utc(workload.stats_reset) if workload and workload.stats_reset else None,
           "pgss_dealloc": workload.dealloc if workload else None,
           "db_bytes": sum(sizes) if sizes else None,
           "workload_read": workload_read,
           "statements": statement_counters(snap) if workload_read else (),
           "tables": tables,
           "indexes": index_counters(snap),
           "unseen_tables": unseen_tables(snap),
           "unexplained": unexplained,
           "unjudged_indexes": unjudged_indexes(snap, report.check_options.get("IX01"))},
    )


def unjudged_indexes(snap: Snapshot, ix01: Any = None) -> frozenset[tuple[str, str, str]]:
    """The indexes IX01 (unused-index) could not judge this run: no scan counted, over a window shorter than its
    ``min_stats_age_days`` -- the statistics' (on MySQL/MariaDB from the table's last ALTER, a rebuild restarting
    its index counters) and the stored runs' alike -- and no stored run saw them scanned. IX01 reports such an
    index only with evidence that the table is read, which a rebuild clears too: a previous run's finding about
    it, absent now, was not looked at, not resolved."""
    ix01 = check_options("IX01", ix01)
    min_days: float | None = getattr(ix01, "min_stats_age_days", None)
    history_days: float = getattr(ix01, "history_days", 30.0)
    now = snap.collected_at
    if min_days is None or now is None:
        return frozenset()
    enough = timedelta(days=min_days)
    out = set()
    for ix in snap.indexes:
        if ix.scans:
            continue
        since = snap.stats_since
        table = snap.table(ix.schema, ix.table) if snap.engine == "mysql" else None
        if table is not None and table.altered_at is not None:
            since = table.altered_at if since is None else max(since, table.altered_at)
        if since is not None and now - since >= enough:
            continue
        usage = snap.run_history.index(ix.schema, ix.table, ix.name) if snap.run_history is not None else None
        if usage is not None:
            start = max(usage.first_seen, now - timedelta(days=history_days))
            if now - start >= enough or (usage.last_used is not None and usage.last_used >= start):
                continue
        out.add((ix.schema, ix.table, ix.name))
    return frozenset(out)


def unseen_tables(snap: Snapshot) -> frozenset[tuple[str, str]]:
    """The tables a note names (``schema.table``) that the snapshot left out: locked by another session, visible
    through column privileges only. They were not looked at: not dropped."""
    present = {(t.schema, t.name) for t in snap.tables}
    out = set()
    for note in snap.notes:
        for name in note.objects:
            schema, dot, table = name.partition(".")
            if dot and "." not in table and (schema, table) not in present:
                out.add((schema, table))
    return frozenset(out)


def finding_of(text: str) -> Finding | None:
    """A finding from its stored form (the report's JSON form): built directly (thousands per run), by the
    snapshot builder when the form has fields this code does not expect; None when neither fits."""
    import json

    from auditor.model import ObjectRef, Severity, SnapshotFieldError, from_jsonable

    try:
        doc = json.loads(text)
        obj = dict(doc["object"])
        if isinstance(obj.get("columns"), list):
            obj["columns"] = tuple(obj["columns"])
        return Finding(code=doc["code"], check=doc["check"], severity=Severity(doc["severity"]),
                       category=doc["category"], object=ObjectRef(**obj), message=doc["message"],
                       details=doc.get("details") or {}, remediation=doc.get("remediation"),
                       doc_url=doc.get("doc_url"))
    except (ValueError, KeyError, TypeError):
        try:
            return from_jsonable(Finding, json.loads(text))
        except (ValueError, SnapshotFieldError):
            return None
