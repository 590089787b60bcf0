"""Workload: slow statements, statements that need an index, N+1 lookups, OFFSET paging.

The workload is pg_stat_statements on PostgreSQL and performance_schema's statement digests
(events_statements_summary_by_digest) on MySQL/MariaDB; the preconditions name the setting or grant of the
engine at hand. Every check reads the snapshot only: the probes (auditor.connectors.*.workload) collected the
statements, their plans and the index proposals.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from auditor.engine import Unmet, check
from auditor.model import Hit, IndexProposal, ObjectRef, PlanScan, Severity, Snapshot, Statement, Table
from auditor.relations import IndexNames, create_index_sql, members, planned_rows
from auditor.sqlquote import pg_ident
from auditor.workload import (
    APPLICATION,
    DEFAULT_LARGE_ROWS,
    EXPLAINABLE,
    SEQ_SCANS,
    application_statements,
    is_large,
    loop_parents,
    may_page,
    named_tables,
    non_selective,
    plans_by_queryid,
    query_has_offset,
    query_kind,
    scan_rows,
    scan_table,
    single_row_lookup,
    statement_class,
    statement_percentile,
    weak_index_scan,
)

ENGINES = ("postgresql", "mysql")
ENABLE_PGSS = "shared_preload_libraries = 'pg_stat_statements'; CREATE EXTENSION pg_stat_statements"
ENABLE_PERFORMANCE_SCHEMA = "[mysqld]\nperformance_schema = ON"
RUN_WITH_WORKLOAD = "run the scan without --no-workload"
ENABLE_DIGESTS = ("UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = 'statements_digest' "
                  "(and in my.cnf: [mysqld] performance-schema-consumer-statements-digest = ON)")


def _mysql_account(role: str | None) -> str:
    """'app@10.%' (CURRENT_USER()) as the account of a GRANT: 'app'@'10.%'."""
    if not role or "@" not in role:
        return "<audit user>"
    name, host = role.rsplit("@", 1)
    return f"'{name}'@'{host}'"


def _turned_off(snap: Snapshot) -> Unmet | None:
    """The user turned the workload probe off (--no-workload): nothing was read, whatever the server has on."""
    w = snap.workload
    if w is not None and w.status == "off":
        return Unmet(w.message or "workload collection was off (--no-workload)", RUN_WITH_WORKLOAD)
    return None


def _mysql_workload_readable(snap: Snapshot) -> Unmet | None:
    w = snap.workload
    if w is None:
        return Unmet("the workload was not collected (performance_schema was not read)", ENABLE_PERFORMANCE_SCHEMA)
    if w.status == "ok":
        return None
    if w.status == "not_loaded":
        return Unmet("performance_schema is off: the server records no statement digests",
                     ENABLE_PERFORMANCE_SCHEMA)
    if w.status == "not_installed":
        return Unmet(w.message or "performance_schema records no statement digests", ENABLE_DIGESTS)
    if w.status == "no_privilege":
        return Unmet(w.message or "performance_schema is not readable",
                     f"GRANT SELECT ON performance_schema.* TO {_mysql_account(w.role)}")
    return Unmet(w.message or f"performance_schema could not be read ({w.status})", None)


def _preloaded(snap: Snapshot) -> bool:
    libraries = snap.settings.get("shared_preload_libraries", "")
    return "pg_stat_statements" in {part.strip().strip('"') for part in libraries.split(",")}


def _enable_pgss(snap: Snapshot) -> str:
    """The whole recipe, or just the CREATE EXTENSION when the library is already preloaded (the snapshot's
    settings say so)."""
    return "CREATE EXTENSION pg_stat_statements" if _preloaded(snap) else ENABLE_PGSS


def pgss_installed(snap: Snapshot) -> Unmet | None:
    """PostgreSQL: the pg_stat_statements extension is created in the audited database."""
    if snap.engine != "postgresql" or "pg_stat_statements" in snap.extensions or _turned_off(snap):
        return None  # turned off: workload_readable says so
    why = "the pg_stat_statements extension is not installed"
    if _preloaded(snap):
        why += " (the library is preloaded; the extension is not created in this database)"
    return Unmet(why, _enable_pgss(snap))


def workload_readable(snap: Snapshot) -> Unmet | None:
    """The workload was read in full: pg_stat_statements installed, loaded, and every role's statements visible
    (on MySQL/MariaDB: performance_schema on, its digest consumer enabled, and readable)."""
    off = _turned_off(snap)
    if off is not None:
        return off
    if snap.engine == "mysql":
        return _mysql_workload_readable(snap)
    w = snap.workload
    if w is None:
        return Unmet("the workload was not collected (pg_stat_statements was not read)", ENABLE_PGSS)
    if w.status == "ok":
        return None
    if w.status == "not_installed":
        return Unmet("pg_stat_statements is not installed", _enable_pgss(snap))
    if w.status == "not_loaded":
        return Unmet("pg_stat_statements is not loaded", "shared_preload_libraries = 'pg_stat_statements' "
                     "(then restart the server)")
    if w.status == "no_privilege":
        role = pg_ident(w.role) if w.role else "<role>"
        return Unmet(w.message or "the role cannot read other roles' statements",
                     f"GRANT pg_read_all_stats TO {role}")
    return Unmet(w.message or f"pg_stat_statements could not be read ({w.status})", None)


REQUIRES = (pgss_installed, workload_readable)
NEEDS = ("workload",)


def _query_ref(stmt: Statement) -> ObjectRef:
    return ObjectRef(type="query", query=stmt.query, queryid=stmt.queryid)


def _figures(stmt: Statement) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": stmt.calls, "mean_ms": round(stmt.mean_ms, 3),
                           "total_ms": round(stmt.total_ms, 3), "rows": stmt.rows}
    if stmt.queryids:
        out["queryids"] = list(stmt.queryids)  # one text, several parameter types: merged into one statement
    return out


def _countable(snap: Snapshot) -> list[Statement]:
    """The application's statements (a bulk load or DDL is set apart, auditor.workload.statement_class)."""
    return [s for s in application_statements(snap)
            if s.toplevel and s.calls > 0 and query_kind(snap, s.query) in EXPLAINABLE]


# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlowQueryOptions:
    p95_target_ms: float = 100.0  # latency target for the P95 estimate
    mean_target_ms: float = 100.0  # a mean above this is slow whatever the spread
    # below 20 calls the P95 is the slowest call itself (nearest rank ceil(0.95 n) = n): one run, not a percentile
    min_calls: int = 20


@check(code="WL01", name="slow-query", severity=Severity.WARNING, engines=ENGINES, options=SlowQueryOptions,
       requires=REQUIRES, needs=NEEDS)
def slow_query(snap: Snapshot, opts: SlowQueryOptions) -> Iterator[Hit]:
    """Statement whose estimated P95 latency (or mean) exceeds the latency target.

    ## What it does
    Takes each statement's P95: on MySQL 8 the digest's own `QUANTILE_95`; on PostgreSQL an estimate from the
    calls, mean, standard deviation, minimum and maximum that pg_stat_statements records (a log-normal shifted
    to the minimum and truncated at the maximum, see docs/workload.md); on MariaDB the same model with the
    standard deviation fitted to the maximum, since its digests keep none. Flags SELECT / INSERT / UPDATE /
    DELETE / MERGE statements called at least `min_calls` times whose P95 is above `p95_target_ms` or whose mean
    is above `mean_target_ms`. One slow outlier among many fast calls does not make a statement slow, and a
    statement run a few times (a one-off batch UPDATE, an administrator's query) has no percentile to judge.
    A backup tool's whole-table reads (mysqldump / mariadb-dump `SELECT SQL_NO_CACHE ... FROM t`, pg_dump
    `COPY ... TO stdout`) are maintenance, set apart from the application's workload like bulk loads and DDL.

    The server's figures are cumulative: pg_stat_statements counts from its last reset, performance_schema's
    digests from their first call (the server's start, or a TRUNCATE of the digest table), and dbaudit resets
    neither, so the calls made before an index was created still weigh in. With `--history` and a previous
    run of the target in the store, a statement called at least `min_calls` times since that run is judged on
    those calls alone (their P95 estimated from the interval's calls, mean and standard deviation, see
    auditor.history.deltas), and the finding gives both: "over 25 calls since the previous run at ...;
    cumulative since ...: 80 calls, P95 ... ms". Otherwise the cumulative figures are judged, and the finding
    says since when they count (pg_stat_statements_info.stats_reset; the digest's FIRST_SEEN), and how few
    calls the interval had when there was one.

    ## Why is this bad?
    The 95th percentile is what one user in twenty waits for; a statement slower than the target is where
    tuning pays first.

    ## Example
    ```sql
    SELECT * FROM orders WHERE lower(email) = $1;  -- 850 calls, P95 ~ 240 ms
    ```

    ## Fix
    Look at its plan (`EXPLAIN (ANALYZE, BUFFERS)` with real values), add the index WL02 proposes, or rewrite it.

    ## Options
    - `p95_target_ms` (100): target for the P95 estimate. When the config sets the latency target
      (`[tool.dbaudit.targets] p95_ms`) and not this option, the target is used.
    - `mean_target_ms` (100): target for the mean.
    - `min_calls` (20): ignore statements called fewer times. With fewer than 20 calls the 95th percentile
      is the slowest call itself (nearest rank: ceil(0.95 n) = n), one run rather than a percentile. PgHero
      draws the same line higher: a slow query there needs `slow_query_calls` = 100 calls and
      `slow_query_ms` = 20 ms on average (lib/pghero.rb, https://github.com/ankane/pghero); lower it for a
      short statistics window, raise it to PgHero's 100 for a busy server.

    ## Known problems
    The P95 is an estimate from five figures; a statement with two latency modes is approximated by one
    log-normal (the benchmark in docs/workload.md measures the error).
    """
    history = snap.run_history
    since = history.statements_since if history is not None else None
    for stmt in snap.statements:
        if not stmt.toplevel or stmt.calls <= 0 or stmt.calls < opts.min_calls:
            continue
        interval = history.statement(stmt.queryid) if history is not None else None
        recent = interval if interval is not None and interval.calls >= opts.min_calls \
            and interval.p95_ms is not None else None
        cumulative = statement_percentile(stmt, 0.95)
        p95, mean = (recent.p95_ms or 0.0, recent.mean_ms) if recent is not None else (cumulative, stmt.mean_ms)
        if p95 <= opts.p95_target_ms and mean <= opts.mean_target_ms:
            continue
        # parsed only when slow: the parse costs far more than the estimate, and most statements are fast;
        # a bulk load or DDL is set apart (auditor.workload.statement_class)
        if statement_class(stmt.query) != APPLICATION or query_kind(snap, stmt.query) not in EXPLAINABLE:
            continue
        what = "P95" if stmt.p95_ms is not None and recent is None else "estimated P95"
        why = (f"{what} {p95:.1f} ms > {opts.p95_target_ms:g} ms" if p95 > opts.p95_target_ms
               else f"mean {mean:.1f} ms > {opts.mean_target_ms:g} ms")
        origin = _cumulative_since(snap, stmt)
        details = {**_figures(stmt), "p95_ms": round(cumulative, 3), "stddev_ms": round(stmt.stddev_ms, 3),
                   "min_ms": round(stmt.min_ms, 3), "max_ms": round(stmt.max_ms, 3),
                   "p95_target_ms": opts.p95_target_ms,
                   "p95_source": "server" if stmt.p95_ms is not None else "estimate",
                   "judged_on": "interval" if recent is not None else "cumulative",
                   "cumulative_since": origin[1].isoformat() if origin[1] else None}
        if recent is not None:
            moment = "the counters' reset after the previous run" if recent.reset else "the previous run"
            message = (f"slow statement: {why} over {recent.calls} calls since {moment} at {_at(since)}; "
                       f"cumulative since {origin[0]}: {stmt.calls} calls, P95 {cumulative:.1f} ms")
        else:
            message = f"slow statement: {why} over {stmt.calls} calls, cumulative since {origin[0]}"
            if interval is not None and since is not None:
                message += (f" ({interval.calls} calls since the previous run at {_at(since)}, fewer than "
                            f"{opts.min_calls} to judge the interval by)")
        if interval is not None:
            details.update(previous_run_at=since.isoformat() if since else None, interval_calls=interval.calls,
                           interval_mean_ms=interval.mean_ms, interval_p95_ms=interval.p95_ms)
        yield Hit(object=_query_ref(stmt), message=message, details=details)


def _at(moment: datetime | None) -> str:
    if moment is None:
        return "an unknown time"
    return (moment.astimezone(UTC) if moment.tzinfo else moment).strftime("%Y-%m-%d %H:%M:%SZ")


def _cumulative_since(snap: Snapshot, stmt: Statement) -> tuple[str, datetime | None]:
    """Since when the server's figures of ``stmt`` count, said in words, and the moment (None: unknown).

    pg_stat_statements counts from its last reset (pg_stat_statements_info, 1.9+), across restarts;
    performance_schema keeps a digest from its FIRST_SEEN (the server's start, or a TRUNCATE of the digest
    table). dbaudit resets neither, so calls made before an index was created still weigh in.
    """
    if snap.engine == "mysql":
        if stmt.first_seen is not None:
            return f"the digest's first call at {_at(stmt.first_seen)} (FIRST_SEEN)", stmt.first_seen
        if snap.server_started is not None:
            return f"the server's start at {_at(snap.server_started)}", snap.server_started
        return "the server's start (performance_schema keeps no reset time)", None
    reset = snap.workload.stats_reset if snap.workload is not None else None
    if reset is not None:
        return f"pg_stat_statements' reset at {_at(reset)}", reset
    return "pg_stat_statements' last reset (its time is not known before version 1.9)", None


# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingIndexOptions:
    large_rows: int = DEFAULT_LARGE_ROWS  # tables with fewer estimated rows may be read sequentially
    max_cost_ratio: float = 0.5  # hypopg: the index must at least halve the plan cost
    max_selectivity: float = 0.1  # unverified: the scan must keep at most this share of the table's rows


def _worth_it(proposal: IndexProposal, scan_rows: float | None, rows: int | None,
              opts: MissingIndexOptions) -> bool:
    if proposal.verified:
        return bool(proposal.used) and proposal.cost_before is not None and proposal.cost_after is not None \
            and proposal.cost_after <= proposal.cost_before * opts.max_cost_ratio
    if proposal.expression is not None:
        return False  # a generic plan guesses an expression's selectivity: only hypopg's verdict counts
    if proposal.sort:
        return True  # ORDER BY ... LIMIT served from an index stops after a few rows
    if scan_rows is None or not rows:
        return True
    return scan_rows <= rows * opts.max_selectivity


@check(code="WL02", name="missing-index-for-query", severity=Severity.WARNING, engines=ENGINES,
       options=MissingIndexOptions, requires=REQUIRES, needs=NEEDS)
def missing_index_for_query(snap: Snapshot, opts: MissingIndexOptions) -> Iterator[Hit]:
    """Statement that reads a large table sequentially where an index would serve it; proposes the index.

    ## What it does
    Reads the plans of the costliest statements: on PostgreSQL the generic plan (EXPLAIN without ANALYZE, the
    plan for any parameter values); on MySQL 8 EXPLAIN FORMAT=JSON of the digest's sample text; on MariaDB,
    which keeps no sample text, the digest counters (executions without an index that examined most of a large
    table). Where a plan reads a table of at least `large_rows` estimated rows with a sequential (full) scan,
    it derives an index from the statement's parse tree: the columns compared for equality first, then the sort
    columns (ORDER BY ... LIMIT) or one range column. No index is proposed when an existing index already leads
    with those columns; in a join, none for a table whose only equality columns are join columns that an
    index (the primary key, say) already leads with, and no range column with fewer than 1 / `max_selectivity`
    distinct values.

    Tables are judged as the planner reads them. A statement that names a partitioned table (or an
    inheritance parent) reads all its members: their rows are summed against `large_rows`, however small each
    partition is, and the index is proposed on the table the statement names -- created ON ONLY the parent,
    built CONCURRENTLY on each partition and attached, so that no write waits for the whole table (an
    inheritance tree gets one index per member that lacks it, since its children do not share their parent's
    indexes). A statement that names one partition is judged on that partition alone. An existing index counts
    when the partitioned table has it, or every member does.

    The rows a scan keeps are the planner's estimate over the whole table: a parallel scan's estimate is per
    process, so it is multiplied by the processes sharing it, as PostgreSQL divided it (the planned workers,
    plus the leader's share `1 - 0.3 x workers` while positive, unless `parallel_leader_participation` is off:
    2.4 for two workers).

    On PostgreSQL an index or bitmap scan is questioned too, when its index does not lead with every equality
    column and the plan shows the rest checked row by row (a `Filter` on such a column, an `Index Cond` on
    such a column but not on the index's leading column -- a walk through the whole index -- or an index
    estimate ten times the rows kept): `WHERE customer_id = $1 AND status_id = $2` served by an index on
    `status_id` alone, or `WHERE customer_id = $1 ORDER BY rental_date DESC LIMIT 10` served by an index on
    `(rental_date, inventory_id, customer_id)`. Such a proposal needs hypopg.

    Where hypopg is installed (PostgreSQL), the statement is planned again with the index as a hypothetical one
    (nothing is written) and the finding is kept only when the planner uses it and the cost falls to
    `max_cost_ratio` or less; the costs before and after are reported. Without hypopg (and on MySQL/MariaDB,
    which have no hypothetical indexes) a sequential-scan proposal is labelled unverified and kept when the
    scan keeps at most `max_selectivity` of the table's rows.

    ## Why is this bad?
    A sequential scan reads the whole table on every call; with a matching index the statement reads a few
    pages. The cost grows with the table, so it gets worse every day.

    ## Example
    ```sql
    SELECT * FROM orders WHERE customer_id = $1 AND created_at >= $2;  -- Seq Scan on orders (2M rows)
    ```

    ## Fix
    ```sql
    CREATE INDEX CONCURRENTLY orders_customer_id_created_at_idx ON orders (customer_id, created_at);
    ```

    ## Options
    - `large_rows` (10000): smaller tables may be scanned sequentially. When the config sets
      `[tool.dbaudit.targets] large_table_rows` and not this option, the target is used.
    - `max_cost_ratio` (0.5): hypopg-verified proposals must cut the plan cost to this share or less.
    - `max_selectivity` (0.1): unverified proposals need a scan keeping at most this share of the rows.

    ## Known problems
    Generic plans assume default selectivities for parameters, so a plan for a rare value may differ from the
    plan the statement gets with real values (MySQL 8 plans the one sample text, MariaDB's counters are
    averages). OR conditions get no proposal. A level comparing only an expression of one column with a value
    (`lower(email) = lower($1)`) gets an expression index on PostgreSQL, kept only with hypopg's verdict (a
    generic plan guesses an expression's selectivity), `details.expression` naming it. An index scan that filters
    is only reported with hypopg's verdict. pg_stat_statements records the literals of a statement as
    parameters (`status = 'open'` becomes `status = $2`), and an application's bound parameter is as unknown to
    the generic plan, so it cannot use a partial index `WHERE status = 'open'` that the executions (custom
    plans) used: no index is proposed where such a partial index (its predicate only `column = constant` tests
    on columns the statement compares for equality, leading with one of its equality columns, or, when the
    predicate fixes all of them, with its first sort or range column: `(created_at) WHERE status_id = 1` for
    `WHERE status_id = $1 ORDER BY created_at LIMIT $2`) was scanned since the statistics were reset, and index
    coverage counts the statement as covered, unless the statement's mean is above 100 ms (WL01's default
    target; its executions did not look like index reads). A partial index leading with another column, or
    whose predicate tests a column the statement does not compare for equality, leaves the finding. Statements
    whose typed literals were normalized (`now() - interval $1`) are planned with the cast (`$1::interval`).

    ## References
    - https://github.com/HypoPG/hypopg
    """
    plans = plans_by_queryid(snap)
    names = IndexNames(snap)
    for stmt in application_statements(snap):
        plan = plans.get(stmt.queryid)
        if plan is None or not plan.explained:
            continue
        named = named_tables(snap, stmt.query)
        for proposal in plan.proposals:
            table = snap.table(proposal.schema, proposal.table)
            if table is None or not is_large(snap, table, opts.large_rows):
                continue
            # the scans of the table as the statement named it: each partition's, for a partitioned table
            on_table = [s for s in plan.scans if (t := scan_table(snap, s, named)) is not None and t.key == table.key]
            if proposal.current_index is None:
                scans = [s for s in on_table if s.scan_type in SEQ_SCANS]
            else:  # an index scan that filters: only a verified gain counts, the plan alone is weak evidence
                scans = [s for s in on_table if s.index == proposal.current_index and proposal.verified]
            if not scans:
                continue
            rows = planned_rows(snap, table)
            per_scan = [scan_rows(snap, s) for s in scans]
            kept = sum(r for r in per_scan if r is not None) if all(r is not None for r in per_scan) else None
            if not _worth_it(proposal, kept, rows, opts):
                continue
            if proposal.expression is not None and non_selective(snap, table, proposal.columns[0],
                                                                 opts.max_selectivity):
                # hypopg's expression index has no statistics; a function of a column has at most the column's
                # distinct values, and too few of them make any index useless
                continue
            if proposal.verified:
                verdict = f"hypopg: plan cost {proposal.cost_before:.1f} -> {proposal.cost_after:.1f}"
            else:
                verdict = proposal.note or "unverified"
            how = _scan_text(snap, table, scans, rows, kept)
            if proposal.current_index is not None:
                how += f" via {weak_index_scan(snap, scans[0], proposal) or proposal.current_index}"
            details: dict[str, Any] = {
                **_figures(stmt), "table_rows": rows, "scan": scans[0].scan_type,
                "equality_columns": list(proposal.equality), "range_columns": list(proposal.range),
                "sort_columns": list(proposal.sort), "verified": proposal.verified,
                "cost_before": proposal.cost_before, "cost_after": proposal.cost_after, "plan_method": plan.method,
                "expression": proposal.expression,
                "scan_rows": round(kept, 1) if kept is not None else None}
            if len(scans) > 1 or (scans[0].schema, scans[0].table) != table.key:
                details["scanned"] = [f"{s.schema}.{s.table}" for s in scans]
            if any(s.workers for s in scans):
                details["parallel_workers"] = max(s.workers or 0 for s in scans)
            if proposal.current_index is not None:
                details.update(current_index=proposal.current_index, filter=scans[0].filter)
            yield Hit(
                object=ObjectRef(type="query", schema=proposal.schema, table=proposal.table,
                                 columns=proposal.columns, query=stmt.query, queryid=stmt.queryid),
                message=f"{how}; index ({proposal.expression or ', '.join(proposal.columns)}) proposed, {verdict}",
                details=details,
                remediation=create_index_sql(snap, table, proposal.columns, names, expression=proposal.expression),
            )


def _scan_text(snap: Snapshot, table: Table, scans: list[PlanScan], rows: int | None, kept: float | None) -> str:
    """'Seq Scan on public.orders (60000 rows)', naming the partitions read and a parallel scan's estimate."""
    kind = scans[0].scan_type
    target = f"{table.schema}.{table.name}"
    members_scanned = [s for s in scans if (s.schema, s.table) != table.key]
    if members_scanned:
        what = "partitions" if table.kind == "partitioned" else "inheritance children"
        held = sum(1 for m in members(snap, table) if m.key != table.key and m.kind != "partitioned")
        text = f"{kind} on {len(members_scanned)} of the {held} {what} of {target} ({rows} rows in all)"
    else:
        text = f"{kind} on {target} ({rows} rows)"
    workers = max((s.workers or 0) for s in scans)
    if workers and kept is not None:
        # EXPLAIN shows a parallel scan's rows per process; the selectivity is judged on the total
        text += (f", a parallel scan with {workers} workers planned keeping an estimated {kept:.0f} rows in all "
                 f"({sum(s.plan_rows or 0 for s in scans):.0f} per process)")
    return text


# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NPlusOneOptions:
    min_calls: int = 1000  # a lookup called fewer times is not a hot loop
    ratio: float = 10.0  # ... and it must be called this many times more than the workload's median statement
    min_rows_per_call: float = 2.0  # a parent statement returning fewer rows per call is not looped over
    match_tolerance: float = 0.5  # the lookup's calls within (1 +- this) x the rows the parent returned


def _short(query: str, width: int = 90) -> str:
    text = " ".join(query.split())
    return text if len(text) <= width else text[: width - 3] + "..."


@check(code="WL03", name="n-plus-one", severity=Severity.WARNING, engines=ENGINES, options=NPlusOneOptions,
       requires=REQUIRES, needs=NEEDS)
def n_plus_one(snap: Snapshot, opts: NPlusOneOptions) -> Iterator[Hit]:
    """Single-row lookup called once per row of another statement: the N+1 query pattern.

    ## What it does
    Takes the SELECT statements that fetch one row per call (equality on every column of a primary key or
    unique key, or a LIMIT returning at most one row per call) and are called at least `min_calls` times and at
    least `ratio` times as often as the median statement of the workload. Calls are counted per statement text:
    on PostgreSQL the pg_stat_statements rows of one text (one per role and per parameter type -- psycopg 3
    binds an int as int2, int4 or int8 by its value) are merged first; MySQL/MariaDB digests are per text
    already.

    A hot lookup is not yet a loop: an application that reads the signed-in user once per request makes as many
    calls. A finding needs the loop's other half, a parent statement: a SELECT that reads a table whose rows
    name the looked-up row (a foreign key to the lookup's key, or a column named after its table, such as
    `orders.customer_id` for `customers`), returns at least `min_rows_per_call` rows per call, and whose calls x
    rows per call -- the rows it returned in all -- match the lookup's calls within `match_tolerance`. The
    closest such parent is named, with its figures; failing a single one, all of them together (a lookup made
    for the rows of two list pages). Without a parent the lookup is not reported.

    ## Why is this bad?
    The application fetches rows one by one in a loop over the parent's result (an ORM's lazy loading): N round
    trips where one query would do. Each call is fast, so it never shows up as a slow query.

    ## Example
    ```sql
    SELECT id, customer_id FROM orders WHERE created_at >= $1 ORDER BY created_at LIMIT 25;  -- 200 calls
    SELECT * FROM customers WHERE id = $1;  -- 5,000 calls: once per order row
    ```

    ## Fix
    ```sql
    SELECT * FROM customers WHERE id = ANY($1);  -- one call with every id, or a JOIN in the parent query
    ```

    ## Options
    - `min_calls` (1000): fewer calls are not a hot loop.
    - `ratio` (10): how many times the median statement's calls.
    - `min_rows_per_call` (2): a parent returning fewer rows per call, on average, is not looped over.
    - `match_tolerance` (0.5): the lookup's calls must lie between (1 - tolerance) and (1 + tolerance) times the
      rows the parent returned; below one, an identity map that skips keys seen before.

    ## Known problems
    The statistics count calls and rows, not which request made them: a lookup made once per request can match
    a list statement's rows by coincidence, and a loop over rows the application filters or caches heavily
    (fewer lookups than half the rows) is missed. A parent that reads the key through a view or a function is
    not recognised.
    """
    stmts = _countable(snap)
    if not stmts:
        return
    median = statistics.median(s.calls for s in stmts)
    for stmt in stmts:
        if stmt.calls < opts.min_calls or stmt.calls < opts.ratio * median:
            continue
        lookup = single_row_lookup(snap, stmt)
        if lookup is None:
            continue
        loop = loop_parents(snap, stmt, lookup, stmts, opts.min_rows_per_call, opts.match_tolerance)
        if loop is None:
            continue  # a hot lookup without a statement to loop over: once per request, not N+1
        parent = loop.parents[0]
        if len(loop.parents) == 1:
            source = (f"the {loop.rows} rows that `{_short(parent.query)}` returned in {loop.calls} calls "
                      f"({loop.rows_per_call:.1f} per call)")
        else:
            source = (f"the {loop.rows} rows that {len(loop.parents)} statements returned in {loop.calls} calls "
                      f"({loop.rows_per_call:.1f} per call), the largest `{_short(parent.query)}`")
        yield Hit(
            object=_query_ref(stmt),
            message=(f"single-row lookup called {stmt.calls} times, {stmt.calls / loop.calls:.1f} times per call "
                     f"of its parent: once for each of {source}, rows that name it through "
                     f"{'; '.join(loop.references)}; {lookup.why}"),
            details={**_figures(stmt), "median_calls": median, "lookup": lookup.why,
                     "parent_queryids": [p.queryid for p in loop.parents], "parent_calls": loop.calls,
                     "parent_rows": loop.rows, "lookups_per_parent_call": round(stmt.calls / loop.calls, 2),
                     "references": list(loop.references)},
        )


# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffsetPaginationOptions:
    min_calls: int = 1


@check(code="WL04", name="offset-pagination", severity=Severity.INFO, engines=ENGINES,
       options=OffsetPaginationOptions, requires=REQUIRES, needs=NEEDS)
def offset_pagination(snap: Snapshot, opts: OffsetPaginationOptions) -> Iterator[Hit]:
    """LIMIT/OFFSET paging.

    ## What it does
    Flags statements with an OFFSET clause at any level, found in the parse tree (pglast on PostgreSQL, sqlglot
    on MySQL/MariaDB digests, including `LIMIT offset, count`), not by matching text, so a column or string
    named "offset" is not mistaken for one.

    ## Why is this bad?
    The server reads and throws away every row before the offset: page 1,000 of 20 rows reads 20,000 rows.
    Paging gets slower the deeper users go, and rows shift between pages when others insert.

    ## Example
    ```sql
    SELECT * FROM posts ORDER BY created_at DESC LIMIT $1 OFFSET $2;
    ```

    ## Fix
    ```sql
    -- keyset pagination: continue after the last row of the previous page
    SELECT * FROM posts WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT $3;
    ```

    ## Options
    - `min_calls` (1): ignore statements called fewer times.

    ## References
    - https://use-the-index-luke.com/no-offset
    """
    for stmt in snap.statements:
        if stmt.calls < opts.min_calls or not may_page(stmt.query) or not query_has_offset(snap, stmt.query):
            continue
        yield Hit(
            object=_query_ref(stmt),
            message=f"pages with OFFSET ({stmt.calls} calls, mean {stmt.mean_ms:.1f} ms); use keyset pagination",
            details=_figures(stmt),
            remediation=_KEYSET_MYSQL if snap.engine == "mysql" else _KEYSET_PG,
        )


_KEYSET_PG = ("-- keyset pagination: WHERE (sort_key, id) > ($last_sort_key, $last_id) "
              "ORDER BY sort_key, id LIMIT $page_size")
_KEYSET_MYSQL = ("-- keyset pagination: WHERE (sort_key, id) > (?, ?) ORDER BY sort_key, id LIMIT ? "
                 "(the last row's sort_key and id)")
