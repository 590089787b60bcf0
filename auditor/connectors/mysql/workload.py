"""The MySQL / MariaDB workload probe: statement digests from performance_schema, plans where they are honest.

Called by the connector on its read-only session once the catalog part of the snapshot is filled (index
proposals need the tables and indexes). One query reads ``events_statements_summary_by_digest`` for the audited
schemas; then, on MySQL 8 only, ``EXPLAIN FORMAT=JSON`` of each statement's ``QUERY_SAMPLE_TEXT`` (a real
execution's text) under a statement budget -- never EXPLAIN ANALYZE, never the statement itself.

MariaDB keeps no sample text, and its digest texts have every value replaced by ``?`` (``IN (...)`` collapsed):
EXPLAIN of a digest with a stand-in literal plans for that literal, not for the values the application sends
(range estimates, implicit type conversion, ``LIMIT``), so the probe does not do it. It reads what the real
executions did instead: ``SUM_NO_INDEX_USED`` (executions that scanned a table without an index) and
``SUM_ROWS_EXAMINED``. A statement whose executions scanned without an index and examined per call at least
half of a large table's rows is recorded as a full scan of that table (the plan method ``digest_counters``).

dbaudit's own statements: every SQL text carries the ``/* dbaudit */`` marker, but digests strip comments, so
statements that read user tables also carry the column alias :data:`~auditor.mysql_workload.PROBE_ALIAS`, which
survives normalization; EXPLAIN digests and statements that read only system schemas are left out too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import pymysql

from auditor import progress
from auditor.model import IndexProposal, PlanScan, PlanSummary, Snapshot, Statement, WorkloadInfo
from auditor.mysql_workload import (
    PERCENTILE_METHOD_EXTREMES,
    PERCENTILE_METHOD_QUANTILES,
    PICOSECONDS_PER_MS,
    analyze_mysql,
    explain_cost,
    explain_scans,
    is_probe_text,
    names_audited_schema,
    stddev_from_extremes,
    stddev_from_quantile,
    touches_only_system_schemas,
)
from auditor.relations import table_rows
from auditor.workload import SEQ_SCANS, is_large, propose_index, resolve_table

PERFORMANCE_SCHEMA_ENABLE = "[mysqld]\nperformance_schema = ON"
PLAN_EXPLAIN = "EXPLAIN FORMAT=JSON of MySQL 8 sample statement texts"
PLAN_COUNTERS = (
    "performance_schema execution counters (SUM_NO_INDEX_USED, SUM_ROWS_EXAMINED); MariaDB keeps no sample "
    "statement text, and EXPLAIN of a digest with stand-in values would plan for those values"
)
UNVERIFIED = "unverified: MySQL and MariaDB have no hypothetical indexes"


class Session(Protocol):
    queries: int

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class MySqlWorkloadOptions:
    max_explain: int = 200  # sample texts explained (MySQL 8), costliest (total time) first
    time_budget_s: float = 30.0  # the whole probe stops explaining after this
    proposal_min_rows: int = 1_000  # full scans of smaller tables get no index proposal
    counter_scan_share: float = 0.5  # rows examined per call, as a share of the table, that make a full scan
    keep_sample_text: bool = False  # keep QUERY_SAMPLE_TEXT in the snapshot (it holds real values)


def grant_for(user: str | None) -> str:
    who = "<audit user>"
    if user and "@" in user:
        name, host = user.rsplit("@", 1)
        who = f"'{name}'@'{host}'"
    return f"GRANT SELECT ON performance_schema.* TO {who}"


def collect_workload(session: Session, snapshot: Snapshot, sql: str, *, ps_on: bool, is_mysql8: bool,
                     user: str | None, digest_lost: int | None,
                     options: MySqlWorkloadOptions | None = None) -> Snapshot:
    """The snapshot with ``statements``, ``plans`` and ``workload`` filled from performance_schema."""
    options = options or MySqlWorkloadOptions()
    started = time.monotonic()
    progress.report("statements")
    sent_before = session.queries
    info = WorkloadInfo(source="performance_schema", role=user, dealloc=digest_lost,
                        percentile_method=PERCENTILE_METHOD_QUANTILES if is_mysql8 else PERCENTILE_METHOD_EXTREMES,
                        plan_method=PLAN_EXPLAIN if is_mysql8 else PLAN_COUNTERS,
                        explain_budget=options.max_explain if is_mysql8 else 0)
    statements: tuple[Statement, ...] = ()
    plans: tuple[PlanSummary, ...] = ()
    if not ps_on:
        info = dataclasses.replace(info, status="not_loaded", message="performance_schema is off")
    else:
        try:
            raw = session.rows(sql, {"schemas": tuple(snapshot.schemas) or ("",)})
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args else 0
            status = "no_privilege" if code in (1142, 1143, 1044) else "error"
            text = " ".join(str(exc.args[1] if len(exc.args) > 1 else exc).split())
            info = dataclasses.replace(info, status=status, message=f"performance_schema is not readable: {text}")
        else:
            statements, samples, counts = build_statements(raw, snapshot, is_mysql8, options.keep_sample_text)
            consumer = next((str(r["digest_consumer"]) for r in raw if r.get("digest_consumer")), None)
            if not raw:
                consumer_rows = session.rows(
                    "SELECT ENABLED AS enabled FROM performance_schema.setup_consumers"
                    " WHERE NAME = 'statements_digest'")
                consumer = str(consumer_rows[0]["enabled"]) if consumer_rows else None
            overflow = next((r for r in raw if r.get("overflow_calls") is not None), None)
            info = dataclasses.replace(info, statements_total=len(statements), excluded_self=counts["self"],
                                       excluded_catalog=counts["catalog"],
                                       # 0: rows were read and none is the overflow row (the table is not full)
                                       overflow_calls=int(overflow["overflow_calls"]) if overflow else
                                       (0 if raw else None),
                                       overflow_since=_epoch(overflow.get("overflow_since")) if overflow else None)
            if consumer is not None and consumer.upper() != "YES":
                info = dataclasses.replace(
                    info, status="not_installed",
                    message="the statements_digest consumer of performance_schema is disabled")
            plans = plan_statements(session, snapshot, statements, samples, is_mysql8, options, started)
            not_explained: dict[str, int] = {}
            for plan in plans:
                if not plan.explained and plan.reason:
                    not_explained[plan.reason] = not_explained.get(plan.reason, 0) + 1
            info = dataclasses.replace(info, statements_explained=sum(1 for p in plans if p.explained),
                                       not_explained=not_explained)
    info = dataclasses.replace(info, probe_seconds=round(time.monotonic() - started, 3),
                               queries_sent=session.queries - sent_before)
    return dataclasses.replace(snapshot, statements=statements, plans=plans, workload=info)


def _ms(value: Any) -> float:
    return 0.0 if value is None else float(value) / PICOSECONDS_PER_MS


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def build_statements(raw: Sequence[Mapping[str, Any]], snapshot: Snapshot, is_mysql8: bool,
                     keep_sample_text: bool = False
                     ) -> tuple[tuple[Statement, ...], dict[str, str], dict[str, int]]:
    """Statements from digest rows (one per digest, pooled over schemas); the sample texts by queryid; counts."""
    counts = {"self": 0, "catalog": 0}
    audited = {s.lower() for s in snapshot.schemas}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in raw:
        text = _text(r["digest_text"])
        if not text or r["digest"] is None:
            continue
        if is_probe_text(text) or text.lstrip().upper().startswith(("EXPLAIN", "DESCRIBE")):
            counts["self"] += 1
            continue
        shape = analyze_mysql(text)
        if touches_only_system_schemas(shape, _text(r["schema_name"]) or None, text):
            counts["catalog"] += 1
            continue
        if r["schema_name"] is None and not names_audited_schema(shape, text, audited):
            continue  # run without a default database, on tables of schemas not audited
        groups.setdefault(_text(r["digest"]), []).append(r)
    out: list[Statement] = []
    samples: dict[str, str] = {}
    for digest, rows in groups.items():
        calls = sum(int(r["calls"] or 0) for r in rows)
        total = sum(_ms(r["total_ps"]) for r in rows)
        mean = total / calls if calls else 0.0
        low = min(_ms(r["min_ps"]) for r in rows)
        high = max(_ms(r["max_ps"]) for r in rows)
        p95 = p99 = None
        if is_mysql8 and len(rows) == 1 and rows[0]["quantile_95_ps"] is not None:
            # the histogram's bucket bounds can sit past the observed maximum: keep them within [min, max]
            p95 = min(max(_ms(rows[0]["quantile_95_ps"]), low), high)
            p99 = min(max(_ms(rows[0]["quantile_99_ps"]), low), high) if rows[0]["quantile_99_ps"] else None
        if p95 is not None:
            stddev = stddev_from_quantile(mean, low, p95, 0.95)
        else:
            stddev = stddev_from_extremes(calls, mean, low, high)
        sample = next((_text(r["sample_text"]) for r in rows if r.get("sample_text")), None)
        if sample:
            samples[digest] = sample
        out.append(Statement(
            queryid=digest, query=_text(rows[0]["digest_text"]).strip(), calls=calls, total_ms=total,
            mean_ms=mean, stddev_ms=stddev, min_ms=low, max_ms=high,
            rows=sum(int(r["rows_sent"] or 0) + int(r["rows_affected"] or 0) for r in rows),
            roles=len(rows), p95_ms=p95, p99_ms=p99,
            sample_text=sample if keep_sample_text else None, stddev_estimated=True,
            rows_examined=sum(int(r["rows_examined"] or 0) for r in rows),
            no_index_calls=sum(int(r["no_index_used"] or 0) for r in rows),
            first_seen=_first_seen(rows),
        ))
    out.sort(key=lambda s: (-s.total_ms, s.queryid))
    return tuple(out), samples, counts


def _epoch(value: Any) -> datetime | None:
    """Epoch seconds (UNIX_TIMESTAMP) as a UTC datetime."""
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _first_seen(rows: Sequence[Mapping[str, Any]]) -> datetime | None:
    """The earliest FIRST_SEEN of the pooled rows (read as epoch seconds), in UTC.

    Each row is a (SCHEMA_NAME, DIGEST) entry: the same text run under another default database starts a row
    of its own, later than the others, which is no reset. A TRUNCATE of the digest table removes every row, so
    it moves the earliest too."""
    epochs = [float(r["first_seen"]) for r in rows if r.get("first_seen") is not None]
    return datetime.fromtimestamp(min(epochs), UTC) if epochs else None


# ------------------------------------------------------------------------------------------------------------
# Plans
# ------------------------------------------------------------------------------------------------------------


def plan_statements(session: Session, snapshot: Snapshot, statements: Sequence[Statement],
                    samples: Mapping[str, str], is_mysql8: bool, options: MySqlWorkloadOptions,
                    started: float) -> tuple[PlanSummary, ...]:
    plans: list[PlanSummary] = []
    budget = options.max_explain
    for n, stmt in enumerate(statements):
        progress.report("explain", stmt.query, n + 1, len(statements))
        shape = analyze_mysql(stmt.query)
        if not shape.explainable:
            plans.append(PlanSummary(queryid=stmt.queryid, reason=shape.not_explained_reason))
            continue
        sample = samples.get(stmt.queryid)
        if not is_mysql8 or sample is None:
            plans.append(counter_plan(snapshot, stmt, options))
            continue
        if budget <= 0:
            plans.append(PlanSummary(queryid=stmt.queryid, reason="over the statement budget"))
            continue
        if time.monotonic() - started > options.time_budget_s:
            plans.append(PlanSummary(queryid=stmt.queryid, reason="over the time budget"))
            continue
        budget -= 1
        if budget == options.max_explain - 1 and snapshot.database:
            _use_database(session, snapshot.database)
        plans.append(explain_sample(session, snapshot, stmt, sample, options))
    return tuple(plans)


def _use_database(session: Session, database: str) -> None:
    """The audited database as the default before the first EXPLAIN of a sample text (its tables unqualified).
    The session ran without one so far (its own statements are then left out of the digests' workload); the
    EXPLAINs themselves are left out by their text."""
    use = getattr(session, "use", None)
    if use is None:
        return
    with contextlib.suppress(pymysql.err.MySQLError):
        use(database)  # the EXPLAINs then say what is missing ("table does not exist")


def counter_plan(snapshot: Snapshot, stmt: Statement, options: MySqlWorkloadOptions) -> PlanSummary:
    """What the executions did, from the digest's counters: the large tables read whole, with index proposals."""
    shape = analyze_mysql(stmt.query)
    scans: list[PlanScan] = []
    proposals: list[IndexProposal] = []
    if stmt.calls > 0 and stmt.no_index_calls:
        examined = (stmt.rows_examined or 0) / stmt.calls
        sent = stmt.rows / stmt.calls
        # the tables the statement reads (its scopes' FROM): an INSERT ... SELECT's target is written, not scanned
        read = dict.fromkeys(r for scope in shape.scopes for r in scope.relations)
        tables = [t for t in (resolve_table(snapshot, r) for r in read) if t is not None]
        for table in dict.fromkeys(tables):
            rows = table_rows(table)
            if not is_large(snapshot, table, options.proposal_min_rows) or rows is None:
                continue
            if examined < options.counter_scan_share * rows:
                continue
            proposal = propose_index(snapshot, stmt.query, table.schema, table.name)
            if proposal is None and len(tables) > 1:
                continue  # in a join, a table with a usable index for its conditions is not the one scanned
            scans.append(PlanScan(schema=table.schema, table=table.name, scan_type="Full Table Scan",
                                  plan_rows=matched_rows(snapshot, table.schema, table.name, rows, proposal, sent)))
            if proposal is not None:
                proposals.append(dataclasses.replace(proposal, note=UNVERIFIED))
    return PlanSummary(queryid=stmt.queryid, explained=True, method="digest_counters", scans=tuple(scans),
                       proposals=tuple(proposals))


def matched_rows(snapshot: Snapshot, schema: str, table: str, rows: int, proposal: IndexProposal | None,
                 sent: float) -> float:
    """Rows per call the scan keeps: from the data sample's distinct counts of the equality columns where the
    sample has them (rows sent says nothing for an aggregate: SUM over a third of the table sends one row),
    else the rows sent per call."""
    sample = snapshot.sampling.table(schema, table) if snapshot.sampling is not None else None
    if proposal is None or not proposal.equality or sample is None or sample.skipped_reason:
        return sent
    distinct = {c.name: c.distinct for c in sample.columns}
    if not all(distinct.get(c) for c in proposal.equality):
        return sent
    keys = 1.0
    for c in proposal.equality:
        keys *= distinct[c]
    return max(1.0, rows / keys)


def explain_sample(session: Session, snapshot: Snapshot, stmt: Statement, sample: str,
                   options: MySqlWorkloadOptions) -> PlanSummary:
    """EXPLAIN FORMAT=JSON of a MySQL 8 sample text (one statement, explainable, never executed)."""
    own = analyze_mysql(sample)
    if not own.explainable:
        return PlanSummary(queryid=stmt.queryid, reason="sample text is not one explainable statement",
                           method="explain_json")
    try:
        rows = session.rows("EXPLAIN FORMAT=JSON " + sample)  # no parameters: PyMySQL sends the text as is
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else 0
        reason = {1146: "table does not exist", 1054: "column does not exist", 1142: "permission denied",
                  1064: "syntax error", 1792: "refused in a read-only transaction"}.get(code, f"error {code}")
        return PlanSummary(queryid=stmt.queryid, reason=reason, method="explain_json")
    doc = json.loads(_text(next(iter(rows[0].values())))) if rows else {}
    return plan_from_explain(snapshot, stmt, doc, options)


def plan_from_explain(snapshot: Snapshot, stmt: Statement, doc: Mapping[str, Any],
                      options: MySqlWorkloadOptions | None = None) -> PlanSummary:
    """A PlanSummary from an EXPLAIN FORMAT=JSON document, with index proposals for full scans of large tables."""
    options = options or MySqlWorkloadOptions()
    shape = analyze_mysql(stmt.query)
    by_ref = {r.ref: r for r in shape.relations}
    scans: list[PlanScan] = []
    proposals: list[IndexProposal] = []
    for access in explain_scans(doc):
        rel = by_ref.get(access["table"])
        table = resolve_table(snapshot, rel) if rel is not None else None
        if table is None:
            continue  # derived tables (<derived2>), temporary results
        scan = PlanScan(schema=table.schema, table=table.name, scan_type=access["scan_type"],
                        alias=rel.alias if rel is not None else None, index=access["key"],
                        plan_rows=access["rows"])
        scans.append(scan)
        if scan.scan_type in SEQ_SCANS and is_large(snapshot, table, options.proposal_min_rows):
            proposal = propose_index(snapshot, stmt.query, table.schema, table.name)
            if proposal is not None and proposal not in proposals:
                proposals.append(dataclasses.replace(proposal, note=UNVERIFIED))
    return PlanSummary(queryid=stmt.queryid, explained=True, method="explain_json", total_cost=explain_cost(doc),
                       scans=tuple(scans), proposals=tuple(proposals))
