"""The workload probe: pg_stat_statements ingestion, generic-plan EXPLAIN, hypopg verification.

Called by the PostgreSQL connector on its session once the catalog part of the snapshot is filled (the proposals
need the tables, columns and indexes):

    snapshot = collect_workload(conn, snapshot, WorkloadOptions())

It never writes: every EXPLAIN is without ANALYZE, read-only, under ``statement_timeout`` (the probe's own limit,
capped by the session's). On the connector's autocommit session each statement is its own transaction, so the
lock an EXPLAIN takes ends with it and an application's ALTER TABLE never queues behind the probe; inside a
caller's transaction each statement gets a savepoint instead. hypopg's hypothetical indexes live in the
session's memory and are reset after each use. Every SQL text sent starts and ends with
:data:`~auditor.workload.DBAUDIT_MARKER` (see :func:`~auditor.workload.marked`), so the probe's own statements
are recognised in pg_stat_statements and left out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.rows import tuple_row

from auditor import progress
from auditor.model import (
    IndexProposal,
    PlanScan,
    PlanSummary,
    Snapshot,
    Statement,
    Table,
    UserCounters,
    WorkloadInfo,
)
from auditor.relations import is_partition_tree, members
from auditor.sqlquote import pg_column_list, pg_qualified
from auditor.workload import (
    EXPLAINABLE,
    INDEX_SCANS,
    SEQ_SCANS,
    analyze_query,
    explainable_text,
    is_large,
    is_own_statement,
    marked,
    may_read_catalog,
    named_tables,
    propose_index,
    scan_table,
    statement_kind,
    weak_index_scan,
)

HIDDEN_TEXT = "<insufficient privilege>"
ENABLE_PGSS = "shared_preload_libraries = 'pg_stat_statements'; CREATE EXTENSION pg_stat_statements"


@dataclass(frozen=True)
class WorkloadOptions:
    max_explain: int = 200  # statements explained, costliest (total time) first
    explain_timeout_ms: int = 2_000  # statement_timeout of each EXPLAIN
    time_budget_s: float = 30.0  # the whole probe stops explaining after this
    proposal_min_rows: int = 1_000  # seq scans of smaller tables get no index proposal
    hypopg: bool = True  # verify proposals with hypothetical indexes when the extension is there


# pg_stat_statements columns by the names the snapshot uses; the first name present in the view wins
# (1.8 / PG13 renamed total_time -> total_exec_time, 1.11 / PG17 blk_read_time -> shared_blk_read_time).
_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "total_ms": ("total_exec_time", "total_time"),
    "mean_ms": ("mean_exec_time", "mean_time"),
    "stddev_ms": ("stddev_exec_time", "stddev_time"),
    "min_ms": ("min_exec_time", "min_time"),
    "max_ms": ("max_exec_time", "max_time"),
    "rows": ("rows",),
    "shared_blks_hit": ("shared_blks_hit",),
    "shared_blks_read": ("shared_blks_read",),
    "blk_read_ms": ("shared_blk_read_time", "blk_read_time"),
    "toplevel": ("toplevel",),
}


class _Session:
    """The connection plus a count of the round trips the probe makes."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.sent = 0

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        self.sent += 1
        # tuples whatever row factory the connector set on its connection
        with self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(marked(sql), params)
            return cur.fetchall() if cur.description else []

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A savepoint sent with the marker (psycopg's own would show up in pg_stat_statements unmarked).

        Outside a transaction (autocommit) a failed statement spoils nothing, so none is needed.
        """
        if not self.in_transaction:
            yield
            return
        self.rows("SAVEPOINT dbaudit_probe")
        try:
            yield
        except psycopg.Error:
            self.rows("ROLLBACK TO SAVEPOINT dbaudit_probe")
            self.rows("RELEASE SAVEPOINT dbaudit_probe")
            raise
        self.rows("RELEASE SAVEPOINT dbaudit_probe")

    def one(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None


def collect_workload(conn: psycopg.Connection[Any], snapshot: Snapshot,
                     options: WorkloadOptions | None = None) -> Snapshot:
    """The snapshot with ``statements``, ``plans`` and ``workload`` filled in from the live server."""
    options = options or WorkloadOptions()
    started = time.monotonic()
    progress.report("statements")
    session = _Session(conn)
    # In autocommit mode (the connector's session) every statement is its own short transaction. A connection
    # that is not in autocommit mode opens a transaction by itself: it is made read-only and ended at the end.
    own = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and not conn.autocommit
    if own:
        session.rows("SET TRANSACTION READ ONLY")
    try:
        statements, plans, info = _probe(session, snapshot, options, started)
    except BaseException:
        if own and not conn.closed:
            conn.rollback()
        raise
    if own:
        conn.commit()
    info = dataclasses.replace(info, probe_seconds=round(time.monotonic() - started, 3),
                               queries_sent=session.sent)
    return dataclasses.replace(snapshot, statements=statements, plans=plans, workload=info)


def _probe(session: _Session, snapshot: Snapshot, options: WorkloadOptions,
           started: float) -> tuple[tuple[Statement, ...], tuple[PlanSummary, ...], WorkloadInfo]:
    row = session.one(
        "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'),"
        " (SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        "   WHERE e.extname = 'pg_stat_statements'),"
        " (SELECT extversion FROM pg_extension WHERE extname = 'hypopg'),"
        " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        "   OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'),"
        " current_setting('server_version_num')::int, current_user"
    )
    assert row is not None
    version, nsp, hypopg_version, can_read_all, server_version_num, role = row
    if version is None:
        return (), (), WorkloadInfo(status="not_installed", message="pg_stat_statements is not installed",
                                    hypopg_version=hypopg_version, can_read_all=bool(can_read_all), role=role)
    present = {r[0] for r in session.rows(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (f"{nsp}.pg_stat_statements",))}
    select = ["s.queryid::text", "s.query", "s.calls"]
    for names in _COLUMNS.values():
        name = next((n for n in names if n in present), None)
        select.append(f"s.{name}" if name else "NULL")
    select.append("pg_catalog.pg_get_userbyid(s.userid)::text")  # the role: SC04 weighs who runs what
    # 1.11 / PG17: when the entry's counters started (the run history detects an entry's own reset by it)
    select.append("s.stats_since" if "stats_since" in present else "NULL")
    try:
        with session.savepoint():
            raw = session.rows(
                f"SELECT {', '.join(select)} FROM {nsp}.pg_stat_statements s"
                " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
    except psycopg.Error as exc:
        # created but not preloaded: "pg_stat_statements must be loaded via shared_preload_libraries"
        status = "not_loaded" if "shared_preload_libraries" in str(exc) else "error"
        message = (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return (), (), WorkloadInfo(status=status, message=message, extension_version=version,
                                    hypopg_version=hypopg_version, can_read_all=bool(can_read_all), role=role)
    reset_time = dealloc = None
    if "pg_stat_statements_info" in {r[0] for r in session.rows(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = to_regnamespace(%s)"
            " AND c.relname = 'pg_stat_statements_info'", (nsp,))}:
        info_row = session.one(f"SELECT stats_reset, dealloc FROM {nsp}.pg_stat_statements_info")
        if info_row is not None:
            reset_time, dealloc = info_row
    statements, counts = pool_rows(raw)
    info = WorkloadInfo(
        extension_version=version, stats_reset=reset_time, dealloc=dealloc, can_read_all=bool(can_read_all),
        hidden_statements=counts["hidden"], statements_total=len(statements), excluded_self=counts["self"],
        excluded_catalog=counts["catalog"], hypopg_version=hypopg_version, role=role,
        explain_budget=options.max_explain,
    )
    if counts["hidden"] and not can_read_all:
        info = dataclasses.replace(
            info, status="no_privilege",
            message=f"{counts['hidden']} statements of other roles show as {HIDDEN_TEXT}")
    plans = _explain_all(session, snapshot, statements, options, started, server_version_num,
                         hypopg=options.hypopg and hypopg_version is not None)
    not_explained: dict[str, int] = {}
    for plan in plans:
        if not plan.explained and plan.reason:
            not_explained[plan.reason] = not_explained.get(plan.reason, 0) + 1
    info = dataclasses.replace(info, statements_explained=sum(1 for p in plans if p.explained),
                               not_explained=not_explained)
    if not hypopg_version:
        plans = tuple(_label_unverified(p) for p in plans)
    return statements, plans, info


def pool_rows(raw: Sequence[Sequence[Any]]) -> tuple[tuple[Statement, ...], dict[str, int]]:
    """One Statement per statement text (and toplevel), pooling rows of different roles and queryids.

    pg_stat_statements keys its rows by (role, database, queryid, toplevel), and the queryid covers the
    parameter types: psycopg 3 binds a Python int as int2, int4 or int8 by its value, so one statement of the
    application shows up as two or three rows with the same text. They are one statement to the user and to
    the checks (WL03 counts calls, WL02 weighs them), so rows are merged when they share a queryid or a text
    (whitespace aside): calls, time, rows and blocks are summed, min/max combined, mean and standard
    deviation pooled. The merged statement keeps the queryid with the most calls and lists all in
    ``queryids``. Also counts what was left out.
    """
    counts = {"hidden": 0, "self": 0, "catalog": 0}
    kept: list[Sequence[Any]] = []
    for r in raw:
        queryid, query = r[0], r[1]
        if queryid is None or query is None or query == HIDDEN_TEXT:
            counts["hidden"] += 1
            continue
        if is_own_statement(query):
            counts["self"] += 1
            continue
        kept.append(r)
    # union-find over the rows: same (queryid, toplevel) or same (text, toplevel) join a group
    parent = list(range(len(kept)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str, bool], int] = {}
    for i, r in enumerate(kept):
        toplevel = bool(r[12]) if r[12] is not None else True
        for key in (("id", str(r[0]), toplevel), ("text", " ".join(str(r[1]).split()), toplevel)):
            j = first.setdefault(key, i)
            if j != i:
                parent[find(i)] = find(j)
    groups: dict[int, list[Sequence[Any]]] = {}
    for i, r in enumerate(kept):
        groups.setdefault(find(i), []).append(r)
    out: list[Statement] = []
    for rows in groups.values():
        calls_by_id: dict[str, int] = {}
        for r in rows:
            calls_by_id[str(r[0])] = calls_by_id.get(str(r[0]), 0) + int(r[2] or 0)
        queryid = max(calls_by_id, key=lambda q: (calls_by_id[q], q))
        query = next(str(r[1]) for r in rows if str(r[0]) == queryid)
        if may_read_catalog(query) and analyze_query(query).catalog_only:
            counts["catalog"] += 1
            continue
        toplevel = bool(rows[0][12]) if rows[0][12] is not None else True
        calls = sum(int(r[2] or 0) for r in rows)
        total = sum(float(r[3] or 0.0) for r in rows)
        mean = total / calls if calls else 0.0
        # pooled population variance: E[x^2] - mean^2, with E[x^2] per row = stddev^2 + mean^2
        second = sum(int(r[2] or 0) * (float(r[5] or 0) ** 2 + float(r[4] or 0) ** 2) for r in rows)
        variance = max(0.0, second / calls - mean**2) if calls else 0.0
        read_times = [float(r[11]) for r in rows if r[11] is not None]
        users: dict[str, int] = {}
        per_user: dict[str, list[float]] = {}
        # the earliest start of the user's entries' counters (17+): a later entry of another queryid (another
        # parameter type or search_path) is new, not a reset of the others
        since: dict[str, Any] = {}
        for r in rows:
            if len(r) > 13 and r[13] is not None:
                users[str(r[13])] = users.get(str(r[13]), 0) + int(r[2] or 0)
                n, row_mean, row_sd = int(r[2] or 0), float(r[4] or 0.0), float(r[5] or 0.0)
                acc = per_user.setdefault(str(r[13]), [0, 0.0, 0.0, 0, 0, 0])
                for k, v in enumerate((n, float(r[3] or 0.0), n * (row_sd**2 + row_mean**2), int(r[8] or 0),
                                       int(r[9] or 0), int(r[10] or 0))):
                    acc[k] += v
                if len(r) > 14 and r[14] is not None:
                    since[str(r[13])] = min(since.get(str(r[13]), r[14]), r[14])
        by_user = tuple(UserCounters(user=u, calls=int(a[0]), total_ms=a[1], sumsq_ms=a[2], rows=int(a[3]),
                                     shared_blks_hit=int(a[4]), shared_blks_read=int(a[5]),
                                     stats_since=since.get(u))
                        for u, a in sorted(per_user.items()))
        out.append(Statement(
            queryid=queryid, query=query, calls=calls, total_ms=total, mean_ms=mean,
            stddev_ms=variance**0.5 if len(rows) > 1 else float(rows[0][5] or 0.0),
            min_ms=min(float(r[6] or 0.0) for r in rows), max_ms=max(float(r[7] or 0.0) for r in rows),
            rows=sum(int(r[8] or 0) for r in rows), shared_blks_hit=sum(int(r[9] or 0) for r in rows),
            shared_blks_read=sum(int(r[10] or 0) for r in rows),
            blk_read_ms=sum(read_times) if read_times else None, toplevel=toplevel, roles=len(rows),
            queryids=tuple(sorted(calls_by_id, key=lambda q: (-calls_by_id[q], q))) if len(calls_by_id) > 1 else (),
            users=users, by_user=by_user,
        ))
    out.sort(key=lambda s: (-s.total_ms, s.queryid))
    return tuple(out), counts


# ------------------------------------------------------------------------------------------------------------
# Generic plans
# ------------------------------------------------------------------------------------------------------------


_REASONS: Mapping[type[Exception], str] = {
    pgerrors.UndefinedTable: "relation does not exist (dropped, or a temporary table)",
    pgerrors.UndefinedColumn: "column does not exist",
    pgerrors.UndefinedFunction: "function or operator does not exist",
    pgerrors.UndefinedObject: "object does not exist",
    pgerrors.IndeterminateDatatype: "parameter types cannot be inferred",
    pgerrors.AmbiguousParameter: "parameter types cannot be inferred",
    pgerrors.QueryCanceled: "EXPLAIN exceeded statement_timeout",
    pgerrors.SyntaxError: "syntax error",
    pgerrors.InsufficientPrivilege: "permission denied",
    pgerrors.FeatureNotSupported: "not supported by EXPLAIN",
    pgerrors.ReadOnlySqlTransaction: "refused in a read-only transaction",
    pgerrors.LockNotAvailable: "a table it reads was locked by another session (lock_timeout)",
}


# a quoted fragment of a server message may be a value (invalid input syntax for type integer: "abc"): masked
_QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')


def _reason(exc: psycopg.Error) -> str:
    """Why EXPLAIN failed: a known cause in words, else the SQLSTATE with the first line of the server's
    message, quoted fragments masked (``error 42725: operator is not unique: unknown % unknown``)."""
    for cls, reason in _REASONS.items():
        if isinstance(exc, cls):
            return reason
    code = exc.sqlstate or type(exc).__name__
    lines = (exc.diag.message_primary or "").strip().splitlines()
    message = _QUOTED.sub("\"...\"", lines[0]).strip() if lines else ""
    return f"error {code}: {message}" if message else f"error {code}"


def _explain_all(session: _Session, snapshot: Snapshot, statements: Sequence[Statement],
                 options: WorkloadOptions, started: float, server_version_num: int,
                 hypopg: bool) -> tuple[PlanSummary, ...]:
    plans: list[PlanSummary] = []
    old = session.one("SELECT current_setting('statement_timeout'), current_setting('plan_cache_mode')")
    assert old is not None
    # the smaller of the probe's limit and the session's (--statement-timeout); 0 means no limit
    session_ms = _milliseconds(str(old[0]))
    limit = options.explain_timeout_ms if not session_ms else min(options.explain_timeout_ms, session_ms)
    # SET LOCAL inside a caller's transaction; on the autocommit session, for the session, restored below
    local = session.in_transaction
    session.rows("SELECT set_config('statement_timeout', %s, %s), set_config('plan_cache_mode', "
                 "'force_generic_plan', %s)", (str(limit), local, local))
    try:
        budget = options.max_explain
        for n, stmt in enumerate(statements):
            progress.report("explain", stmt.query, n + 1, len(statements))
            # the kind first, cheaply; the parse tree only for what is explained (or to say why not)
            if statement_kind(stmt.query) not in EXPLAINABLE:
                plans.append(PlanSummary(queryid=stmt.queryid,
                                         reason=analyze_query(stmt.query).not_explained_reason))
                continue
            if budget <= 0:
                plans.append(PlanSummary(queryid=stmt.queryid, reason="over the statement budget"))
                continue
            if time.monotonic() - started > options.time_budget_s:
                plans.append(PlanSummary(queryid=stmt.queryid, reason="over the time budget"))
                continue
            budget -= 1
            shape = analyze_query(stmt.query)
            plans.append(_explain_one(session, snapshot, stmt, shape.params, n, server_version_num, options,
                                      hypopg))
    finally:
        if not session.conn.closed:
            session.rows("SELECT set_config('statement_timeout', %s, %s), set_config('plan_cache_mode', %s, %s)",
                         (old[0], local, old[1], local))
    return tuple(plans)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}


def _milliseconds(setting: str) -> int:
    """'30s' -> 30000, '4321ms' -> 4321, '0' -> 0: current_setting('statement_timeout') as milliseconds."""
    text = setting.strip()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number):] or "ms"
    try:
        return int(float(number) * _UNITS_MS.get(unit, 1.0))
    except ValueError:
        return 0


def _explain_one(session: _Session, snapshot: Snapshot, stmt: Statement, params: int, n: int,
                 server_version_num: int, options: WorkloadOptions, hypopg: bool) -> PlanSummary:
    method = "generic_plan" if server_version_num >= 160000 else "prepare"
    query = explainable_text(stmt.query)
    try:
        plan = _plan(session, query, params, n, method)
    except psycopg.Error as exc:
        return PlanSummary(queryid=stmt.queryid, reason=_reason(exc), method=method)
    scans = tuple(_scans(plan))
    named = named_tables(snapshot, stmt.query)
    proposals: list[IndexProposal] = []
    for scan in scans:
        if scan.schema is None or scan.scan_type not in SEQ_SCANS | INDEX_SCANS:
            continue
        # the table the statement named: a partitioned table (an inheritance parent) for a scan of its member,
        # judged by the rows of all its members and given the index on itself
        table = scan_table(snapshot, scan, named)
        if table is None or not is_large(snapshot, table, options.proposal_min_rows):
            continue
        proposal = propose_index(snapshot, stmt.query, table.schema, table.name, mean_ms=stmt.mean_ms)
        if proposal is None or any((p.schema, p.table, p.columns, p.expression) == (
                proposal.schema, proposal.table, proposal.columns, proposal.expression) for p in proposals):
            continue
        if scan.scan_type in INDEX_SCANS and proposal.expression is not None:
            continue  # an index scan already: an expression index is proposed only for a sequential scan
        if scan.scan_type in INDEX_SCANS:
            # an index scan is questioned only when the index leaves equality columns to a Filter; without
            # hypopg there is no second plan to compare with, so the proposal is not made at all
            if not hypopg or weak_index_scan(snapshot, scan, proposal) is None:
                continue
            proposal = dataclasses.replace(proposal, current_index=scan.index)
        if hypopg:
            targets = [table] if table.kind == "partitioned" or not is_partition_tree(snapshot, table) \
                else [m for m in members(snapshot, table) if m.kind != "partitioned"]
            proposal = _verify(session, query, params, n, method, proposal, float(plan["Total Cost"]), targets)
        proposals.append(proposal)
    return PlanSummary(queryid=stmt.queryid, explained=True, method=method, total_cost=float(plan["Total Cost"]),
                       plan_rows=float(plan["Plan Rows"]), scans=scans, proposals=tuple(proposals))


def _plan(session: _Session, query: str, params: int, n: int, method: str) -> dict[str, Any]:
    """The top plan node of the statement's generic plan; raises psycopg.Error when it cannot be had."""
    if method == "generic_plan":
        with session.savepoint():  # a savepoint: one failed statement must not abort the probe
            row = session.one(f"EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) {query}")
    else:
        name = f"dbaudit_wl_{n}"
        prepared = False
        try:
            with session.savepoint():
                session.rows(f"PREPARE {name} AS {query}")
                prepared = True
                args = f"({', '.join(['NULL'] * params)})" if params else ""
                row = session.one(f"EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {name}{args}")
        finally:
            if prepared:  # a prepared statement outlives the rolled-back savepoint
                session.rows(f"DEALLOCATE {name}")
    assert row is not None
    doc = row[0]
    top: dict[str, Any] = doc[0]["Plan"]
    return top


_PARALLEL_NAMES = frozenset({"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"})


def _scans(node: Mapping[str, Any], workers: int | None = None) -> Iterator[PlanScan]:
    """The relation accesses of a plan; ``workers``: the workers the Gather above the node planned."""
    node_type = str(node.get("Node Type", ""))
    if node.get("Workers Planned") is not None:
        workers = int(node["Workers Planned"])
    if "Relation Name" in node and node_type != "ModifyTable":
        index = node.get("Index Name")
        if index is None and node_type == "Bitmap Heap Scan":
            index = next((c.get("Index Name") for c in _descend(node) if c.get("Index Name")), None)
        index_rows = None
        index_cond = node.get("Index Cond")
        if node_type == "Bitmap Heap Scan":
            index_rows = next((c.get("Plan Rows") for c in _descend(node) if c.get("Index Name")), None)
            index_cond = next((c.get("Index Cond") for c in _descend(node) if c.get("Index Name")), None)
        # JSON plans say "Seq Scan" with "Parallel Aware": true where the text form says "Parallel Seq Scan"; its
        # row estimate is then per process
        parallel = bool(node.get("Parallel Aware")) and node_type in _PARALLEL_NAMES and bool(workers)
        yield PlanScan(schema=node.get("Schema"), table=str(node["Relation Name"]),
                       scan_type=f"Parallel {node_type}" if parallel else node_type,
                       alias=node.get("Alias"), index=index, plan_rows=node.get("Plan Rows"),
                       filter=node.get("Filter") if index is not None else None, index_rows=index_rows,
                       index_cond=index_cond if index is not None else None,
                       workers=workers if parallel else None)
    for child in node.get("Plans", ()):
        yield from _scans(child, workers)


def _descend(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for child in node.get("Plans", ()):
        yield child
        yield from _descend(child)


def _verify(session: _Session, query: str, params: int, n: int, method: str, proposal: IndexProposal,
            cost_before: float, targets: Sequence[Table]) -> IndexProposal:
    """Plan the statement again with the proposal as a hypothetical index (session memory only) on each of
    ``targets``: the table, a partitioned table (hypopg gives its partitions the index), or every member of an
    inheritance tree (whose children do not share their parent's indexes)."""
    try:
        with session.savepoint():
            try:
                created: set[str] = set()
                for target in targets:
                    keys = f"({proposal.expression})" if proposal.expression else pg_column_list(proposal.columns)
                    ddl = f"CREATE INDEX ON {pg_qualified(target.schema, target.name)} ({keys})"
                    row = session.one("SELECT indexname FROM hypopg_create_index(%s)", (ddl,))
                    if row:
                        created.add(str(row[0]))
                plan = _plan(session, query, params, n, method)
            finally:
                session.rows("SELECT hypopg_reset()")
    except psycopg.Error as exc:
        return dataclasses.replace(proposal, note=f"hypopg could not verify it: {_reason(exc)}")
    used = any(s.index in created for s in _scans(plan))
    return dataclasses.replace(proposal, verified=True, used=used, cost_before=cost_before,
                               cost_after=float(plan["Total Cost"]))


def _label_unverified(plan: PlanSummary) -> PlanSummary:
    if not plan.proposals:
        return plan
    note = "unverified: hypopg is not installed (CREATE EXTENSION hypopg)"
    return dataclasses.replace(plan, proposals=tuple(
        p if p.verified or p.note else dataclasses.replace(p, note=note) for p in plan.proposals))
