"""Indexes: unused, duplicate, redundant, invalid, and foreign keys without one."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter

from auditor import sqlquote
from auditor.engine import NoOptions, check
from auditor.model import Constraint, Hit, Index, IndexKey, ObjectRef, Severity, Snapshot, Statement, Table
from auditor.relations import (
    IndexNames,
    ancestors,
    attached_indexes,
    create_index_sql,
    fk_lookup_indexes,
    fk_lookup_served,
    partition_indexes,
    summed,
    unserved_partitions,
)
from auditor.relations import members as tree_members
from auditor.textfmt import duration, plural
from auditor.workload import application_statements, named_tables, query_shape, scope_columns

BOTH = ("postgresql", "mysql")
_kind_of = attrgetter("kind")

# ------------------------------------------------------------------------------------------------------------
# Shared helpers
# ------------------------------------------------------------------------------------------------------------


def _index_ref(ix: Index) -> ObjectRef:
    return ObjectRef(type="index", schema=ix.schema, table=ix.table, index=ix.name)


def _on_partitioned_parent(snap: Snapshot, ix: Index) -> bool:
    table = snap.table(ix.schema, ix.table)
    return table is not None and table.kind == "partitioned"


def drop_index_sql(snap: Snapshot, ix: Index) -> str:
    """The statement that drops an index without blocking writes where the engine allows it."""
    if snap.engine == "mysql":
        return (
            f"ALTER TABLE {sqlquote.qualified('mysql', ix.schema, ix.table)} "
            f"DROP INDEX {sqlquote.ident('mysql', ix.name)};"
        )
    table = snap.table(ix.schema, ix.table)
    if table is None or table.kind != "partitioned":
        return f"DROP INDEX CONCURRENTLY {sqlquote.pg_qualified(ix.schema, ix.name)};"
    # PostgreSQL refuses CONCURRENTLY on the index of a partitioned table: the plain DROP locks the whole tree
    parts = sum(1 for m in tree_members(snap, table) if m.key != table.key)
    return (f"-- {table.schema}.{table.name} is partitioned: PostgreSQL refuses DROP INDEX CONCURRENTLY here, and "
            f"this DROP holds an ACCESS EXCLUSIVE lock on it and on each of its {plural(parts, 'partition')} "
            "(reads and writes wait) until it ends: run it at a quiet hour with a short lock_timeout, so that it "
            "gives up rather than queue behind a long transaction\n"
            f"DROP INDEX {sqlquote.pg_qualified(ix.schema, ix.name)};")


def _droppable(ix: Index) -> bool:
    """An index attached to a partitioned parent's index can only go with the parent's."""
    return not ix.is_partition_child


def _reading_keys(snap: Snapshot, ix: Index) -> tuple[IndexKey, ...]:
    """The index's keys in the orientation that starts ascending, for comparing what two indexes can serve.

    A B-tree is read in both directions: (a DESC) serves every scan (a) serves, backwards, and (a DESC, b)
    the same as (a, b DESC). Flipping every key (direction and NULLS order) of an index that starts
    descending gives one form for both; mixed directions stay distinct, (a, b DESC) is not (a, b). MySQL
    keeps NULLs lowest in either direction, so only the direction counts there.
    """
    keys = ix.keys
    if ix.method == "btree" and keys and keys[0].descending:
        keys = tuple(dataclasses.replace(k, descending=not k.descending, nulls_first=not k.nulls_first) for k in keys)
    if snap.engine == "mysql" and any(k.nulls_first for k in keys):
        keys = tuple(dataclasses.replace(k, nulls_first=False) if k.nulls_first else k for k in keys)
    return keys


def _key_text(keys: tuple[IndexKey, ...]) -> str:
    return ", ".join(k.text + (" DESC" if k.descending else "") for k in keys)


def _stats_window(snap: Snapshot) -> str:
    """How long the usage counters cover: "the 12 days since statistics were reset on 2026-11-12"."""
    age = snap.stats_age_seconds()
    since = snap.stats_since
    if age is None or since is None:
        return "a statistics window of unknown age"
    if snap.engine == "mysql" and since != snap.stats_reset:
        # performance_schema's summaries can be truncated at any time, and nothing records when: the window
        # starts at the server's start or at the last truncation, whichever came later
        return (f"the time since the server started on {_day(since)} ({duration(age)} ago) or since "
                "performance_schema's counters were last truncated, whichever is later")
    what = "statistics were reset" if since == snap.stats_reset else "the server started"
    return f"the {duration(age)} since {what} on {_day(since)}"


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _fk_served_only_by(snap: Snapshot, ix: Index) -> Constraint | None:
    """A foreign key of the index's table whose referential lookups this index alone can serve.

    A key declared on a partitioned table is checked partition by partition: on a partition, its ancestors'
    keys count as its own (PostgreSQL clones them onto each partition)."""
    table = snap.table(ix.schema, ix.table)
    owners = list(ancestors(snap, table)) if table is not None else []
    keys = [(o.schema, o.name) for o in owners] or [(ix.schema, ix.table)]
    for schema, name in keys:
        for fk in snap.constraints_of(schema, name, "foreign_key"):
            serving = fk_lookup_indexes(snap, ix.schema, ix.table, fk.columns)
            if serving and all(i.name == ix.name for i in serving):
                return fk
    return None


# ------------------------------------------------------------------------------------------------------------
# IX01 unused-index
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnusedIndexOptions:
    """Options of unused-index.

    min_stats_age_days: statistics covering at least this many days make "never scanned" a warning.
    min_table_scans: below that age, an index is reported (as info) only when the table's other indexes that
    enforce nothing were scanned at least this many times in the window (on MySQL/MariaDB: the recorded
    statements that read the table through an index ran this many times; rows read without the workload),
    so the planner had its chances to use it.
    history_days: with run history, the window judged: an index is unused when the stored runs of these last
    days (30, the month pganalyze's and PgHero's unused-index advice asks for, month-end jobs included) show no
    scan; the window must cover ``min_stats_age_days``. A shorter window in which a stored run saw the index
    used keeps it from being reported, whatever its counter says since it was cleared.
    """

    min_stats_age_days: float = 7.0
    min_table_scans: int = 100
    # with run history (--history): the days of stored runs an index must go unscanned across
    history_days: float = 30.0


@check(
    code="IX01",
    name="unused-index",
    severity=Severity.WARNING,
    engines=BOTH,
    options=UnusedIndexOptions,
    # MySQL/MariaDB: the recorded statements show the use that performance_schema's rows read miss
    needs=("workload",),
)
def unused_index(snap: Snapshot, opts: UnusedIndexOptions) -> Iterator[Hit]:
    """Index never scanned since the statistics were reset or the server started.

    ## What it does
    Flags valid indexes whose scan counter is zero. Indexes that back a primary key, unique or exclusion
    constraint, and unique indexes, are never flagged: they enforce something even when no query reads them.
    On PostgreSQL, a partitioned table's index is judged with the indexes attached to it on its partitions
    (the server keeps the counters there): their scans are summed, since partition pruning leaves the old
    partitions unread by design while the parent index serves the current ones, and an unused one is reported
    once, on the parent index, whose DROP INDEX takes the attached ones along (PostgreSQL refuses to drop an
    attached index alone). A partition's attached index is never reported by itself.

    The counters only cover the time since the last statistics reset or server start, and the message says how
    long that is. When the window is shorter than `min_stats_age_days` (or unknown), an index is only
    reported, as info, if the table's other indexes were scanned at least `min_table_scans` times meanwhile,
    so a freshly started server does not produce a wall of false alarms. Only indexes that are neither unique
    nor back a constraint count: the lookups foreign keys make in the referenced table's primary key or unique
    index, one per row written to a referencing table, are not a query the planner could have served with
    another index, and a freshly loaded schema has millions of them. Sequential scans do not count either:
    dbaudit's own sampling reads every table that way (and by primary key ranges on MySQL), so counting them
    would make each new scan of the same database report more indexes. On MySQL/MariaDB, performance_schema's
    per-index COUNT_READ (= COUNT_FETCH) counts rows fetched, not reads (a 30-row table read 5 times shows 150,
    a lookup that finds nothing 0), so the evidence there is the executions of the recorded statements that name
    the table and used an index (their calls minus SUM_NO_INDEX_USED: SELECT, UPDATE, DELETE), counted when the
    table's other plain indexes read rows; without the recorded statements (workload off), the rows read stand
    in, and the message says rows.

    On MySQL/MariaDB a table's last ALTER (information_schema.TABLES.CREATE_TIME: creation, ALTER, CREATE or
    DROP INDEX; MariaDB 10.11 measured) restarts its index counters, and an index may be as young as it: an
    ALTER inside the statistics window makes the table's window start there, and before `min_stats_age_days`
    since then its unused indexes are reported as info without a drop statement (an index just created on
    WL02's advice is not proposed for dropping). A recorded statement whose digest started counting before that
    ALTER pools executions from before the index and after it; when it compares an index's leading column with
    a value and some of its executions used an index, the index counts as in use. MySQL 8 caches CREATE_TIME
    (information_schema_stats_expiry, 24 h by default), so an ALTER may show there a day late.

    FULLTEXT and SPATIAL indexes are never reported on MySQL/MariaDB: performance_schema records no reads for
    them even when MATCH ... AGAINST queries use them. Nor, there, is an index that the plan of a recorded
    statement reads (MySQL 8's EXPLAIN of sample texts), or one that leads with a column recorded statements
    compare with a value in executions that all used an index and examined no row at all: lookups that find
    nothing leave its rows read at 0 although every one went through it. On MariaDB, performance_schema counts
    no index reads on partitioned tables: their indexes' usage is unknown (a note names the tables) and they are
    not judged. The counters there cover the time since the server started or since performance_schema's
    summaries were last truncated, whichever is later (nothing records a truncation), and the message says so.

    ## Why is this bad?
    Every index slows down each INSERT, most UPDATEs and every DELETE on its table, takes disk and cache
    space, and lengthens vacuum, backups and replication, for nothing if no query uses it.

    ## Example
    ```sql
    CREATE INDEX orders_status_idx ON orders (status);  -- idx_scan = 0 after 30 days of traffic
    ```

    ## Fix
    Check the standbys and rare jobs (month-end reports) first: the counters are per server. Then:
    ```sql
    DROP INDEX CONCURRENTLY orders_status_idx;
    ```

    ## Options
    - `min_stats_age_days` (default 7.0): statistics at least this old make a finding a warning.
    - `min_table_scans` (default 100): for younger statistics, the scans of the table's other indexes that
      enforce nothing needed before an unscanned index is reported (as info); on MySQL/MariaDB the executions
      of recorded statements that read the table through an index (rows read without the workload).
    - `history_days` (default 30.0): with run history (`--history`), the days of stored runs judged instead of
      the statistics window: an index is unused when the runs of these last days show no scan of it, so a
      statistics reset or a restart no longer hides or shortens its record (30 days: the month pganalyze's and
      PgHero's unused-index advice asks for, month-end jobs included); the stored runs must cover
      `min_stats_age_days` for a warning.

    ## Known problems
    Scan counters are per server: an index used only on a read replica looks unused on the primary. An index
    that is the only one serving a foreign key's referential lookups (the notion IX05 uses: leading with the
    key's columns, partial only when its predicate is implied by them being NOT NULL; on a partition, the keys
    declared on its partitioned table count, since their lookups run partition by partition) is reported as info,
    without a drop statement, saying why: every DELETE on the referenced table would scan the referencing one
    without it, and IX05 would report the key. On MySQL/MariaDB the index InnoDB keeps for a foreign key is
    never reported (InnoDB refuses to drop it), and performance_schema counts rows read through an index rather
    than lookups: an index used only by lookups that find nothing is recognised only through a recorded statement
    whose executions examined no row (a digest evicted or truncated, or one that also examined rows elsewhere,
    leaves it looking unused). On PostgreSQL the scan counters decide, not the generic plans: the custom
    plans the executions used may read other indexes. FULLTEXT and SPATIAL
    indexes there are never judged, whatever their use. On young statistics, a table read only by sequential
    scans gives no evidence, so its unused indexes wait for `min_stats_age_days`.

    ## References
    - https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ALL-INDEXES-VIEW
    """
    age = snap.stats_age_seconds()
    mature = age is not None and age >= opts.min_stats_age_days * 86400
    window = _stats_window(snap)
    with_history = snap.run_history is not None and snap.collected_at is not None
    # PostgreSQL's partitioned tables (none in most databases: then no index is looked at twice for them)
    partitioned = "partitioned" in map(_kind_of, snap.tables)  # in C: a pass over every table
    attached = attached_indexes(snap) if partitioned else {}
    workload: _MySqlUse | None = None  # read from the statements at the first MySQL/MariaDB candidate
    # without history only a counter at zero can make an index unused (or a partitioned table's index, which
    # has none: its partitions' count): those few, in snapshot order
    candidates = snap.indexes if with_history else [
        ix for ix in snap.indexes if ix.scans == 0 or (ix.scans is None and attached)]
    for ix in candidates:
        if partitioned and ix.parent_index is not None:
            continue  # judged with the partitioned index it is attached to, over all its partitions
        scans = ix.scans
        leaves: list[Index] = []
        on_parent = partitioned and _on_partitioned_parent(snap, ix)
        if attached and on_parent:
            # a partitioned table's index has no counter: those of the indexes attached to it on its partitions,
            # summed (an old partition is pruned by design, the parent serves the current ones)
            leaves = partition_indexes(attached, ix)
            if leaves:
                scans = None if any(i.scans is None for i in leaves) else sum(i.scans or 0 for i in leaves)
        if scans != 0 and not with_history:
            continue  # no counter (an unpartitioned index without statistics)
        judged = leaves or [ix]
        stored = _history_window(snap, judged, opts) if with_history else None
        if stored is not None:
            if stored.used:
                continue  # scanned within the stored window, whatever the counter says since a reset
        elif scans is None or scans != 0 or (with_history and any(_used_in_history(snap, i, opts) for i in judged)):
            # a window too short to judge, but the stored runs saw it used (its counter was since cleared: a
            # statistics reset, a restart, DDL on the table on MySQL/MariaDB)
            continue
        if ix.backs_constraint or ix.is_unique or not ix.is_valid or (not leaves and on_parent):
            continue
        if ix.supports_fk:
            continue  # InnoDB keeps this index for a foreign key and refuses to drop it
        if snap.engine == "mysql" and ix.method in ("fulltext", "spatial"):
            continue  # performance_schema counts no reads for these: usage unknown
        ix_window, ix_mature, young_index = window, mature, False
        if snap.engine == "mysql":
            table = snap.table(ix.schema, ix.table)
            if snap.flavor == "mariadb" and table is not None and table.partitioned:
                continue  # MariaDB's performance_schema counts no index reads on a partitioned table: unknown
            altered = _altered_in_window(snap, table) if stored is None else None
            if altered is not None and snap.collected_at is not None:
                # its counters restarted at the table's last ALTER, and the index may be that young (CREATE
                # INDEX is an ALTER): judged over the time since; no drop proposed before min_stats_age_days
                since_ddl = max(0.0, (snap.collected_at - altered).total_seconds())
                ix_mature = since_ddl >= opts.min_stats_age_days * 86400
                young_index = not ix_mature
                ix_window = (f"the time since the table was created or last altered on {_day(altered)} "
                             f"({duration(since_ddl)} ago; its index counters restart then) or since "
                             "performance_schema's counters were last truncated, whichever is later")
            if workload is None:
                workload = _MySqlUse.of(snap)
            if workload.uses(ix):
                continue  # in use: a plan reads it, or its lookups found nothing (0 rows read is all it shows)
        if leaves:
            table_scans = summed(_table_scans(snap, snap.table(i.schema, i.table), i) for i in leaves)
        else:  # one index: every never-scanned one of a fresh database, tens of thousands
            table_scans = _table_scans(snap, snap.table(ix.schema, ix.table), ix)
        rows_read: int | None = None
        if snap.engine == "mysql" and workload is not None and snap.workload is not None and \
                snap.workload.status == "ok":
            # performance_schema counts rows read through an index, not reads: the reads are the executions of
            # the recorded statements on the table that used an index, when its other indexes read rows
            # (without the recorded statements, the rows read stand in, and the message says rows)
            rows_read = table_scans
            table_scans = workload.index_reads.get(ix.table_key, 0) if rows_read else None
        severity: Severity | None = None
        if stored is None and not ix_mature:
            if table_scans is None or table_scans < opts.min_table_scans:
                continue  # too little evidence that the planner ever had a reason to use the index
            severity = Severity.INFO
        history_details: dict[str, object] = {}
        if stored is not None:
            span = f"{stored.days:.0f} days" if stored.days >= 1.5 else f"{stored.days * 24:.0f} hours"
            message = (f"{ix.qualified} on {ix.table} had no scans across the {span} of {stored.runs} recorded "
                       f"runs since {_day(stored.since)} (run history)")
            table_scans = None
            history_details = {"history_days": round(stored.days, 2), "history_runs": stored.runs}
        elif snap.engine == "mysql":
            # the window ends in a clause of its own ("..., whichever is later"): a comma sets the evidence apart
            message = f"{ix.qualified} on {ix.table} read no rows in {ix_window}"
            if table_scans is not None and rows_read is not None:
                message += (f", while recorded statements read the table through an index {table_scans:,} times "
                            f"({rows_read:,} rows read through its other indexes)")
            elif table_scans is not None:
                message += f", while queries read {table_scans:,} rows of the table through its other indexes"
        else:
            message = f"{ix.qualified} on {ix.table} had no scans in {window}"
            if leaves:
                message = (f"{ix.qualified} on {ix.table} had no scans on any of its "
                           f"{plural(len(leaves), 'partition')} in {window}")
            if table_scans is not None:
                message += f" while queries scanned the table's other indexes {table_scans:,} times"
        remediation: str | None = drop_index_sql(snap, ix)
        details: dict[str, object] = {}
        fk = _fk_served_only_by(snap, ix) if snap.engine == "postgresql" else None
        if fk is not None:
            # not unused in a way that warrants dropping it: the referential checks need it the day a parent
            # row is deleted, and dropping it makes IX05 report the foreign key
            ref_schema, ref_table = fk.ref_table_key or (fk.schema, "?")
            message += (
                f"; keep it: it is the only index that serves the lookups of foreign key {fk.name} "
                f"({', '.join(fk.columns)}), which every DELETE or key UPDATE on {ref_schema}.{ref_table} "
                f"makes; without it each of them would scan {ix.schema}.{ix.table}"
            )
            remediation = None
            severity = Severity.INFO
            details["serves_foreign_key"] = fk.name
        if young_index:
            message += ("; no drop proposed: the index may be as young as the table's last ALTER (a CREATE INDEX "
                        "is one), too recent to judge")
            remediation = None
            details["young_table_window"] = True  # a candidate to watch, not one to keep (scoring)
        if not _droppable(ix):
            message += "; it is attached to its partitioned table's index and goes only with that one"
            remediation = None
        if leaves:
            details["partitions"] = len(leaves)
        yield Hit(
            object=_index_ref(ix),
            message=message,
            details={
                "index_bytes": summed(i.size_bytes for i in leaves) if leaves else ix.size_bytes,
                "stats_age_s": round(age) if age is not None else None,
                "stats_since": snap.stats_since.isoformat() if snap.stats_since else None,
                "table_scans": table_scans,
                **({"table_rows_read": rows_read} if rows_read is not None else {}),
                **history_details,
                **details,
            },
            remediation=remediation,
            severity=severity,
        )


@dataclass(frozen=True)
class _MySqlUse:
    """MySQL/MariaDB: the evidence of an index's use that performance_schema's rows read cannot show.

    ``planned``: the indexes the EXPLAIN of a recorded statement reads (MySQL 8's sample texts). ``missed``: per
    table, the columns that recorded statements compared with a value (= or a range) in executions that all
    used an index (SUM_NO_INDEX_USED 0) and examined no row at all: lookups that found nothing, which leave the
    index's COUNT_READ at 0 although they went through it.
    """

    planned: frozenset[tuple[str, str, str]]
    missed: dict[tuple[str, str], set[str]]
    # per table, the executions of recorded statements that name it and used an index (calls minus
    # SUM_NO_INDEX_USED): performance_schema's exact count of reads, which its per-index COUNT_READ (rows
    # fetched; a lookup that finds nothing adds 0) is not
    index_reads: dict[tuple[str, str], int]

    @classmethod
    def of(cls, snap: Snapshot) -> _MySqlUse:
        ran = {s.queryid for s in snap.statements if s.calls > 0}
        planned = frozenset((scan.schema or snap.database, scan.table, scan.index)
                            for plan in snap.plans if plan.explained and plan.queryid in ran
                            for scan in plan.scans if scan.index)
        missed: dict[tuple[str, str], set[str]] = {}
        index_reads: dict[tuple[str, str], int] = {}
        for stmt in application_statements(snap):
            if stmt.calls <= 0:
                continue
            with_index = stmt.calls - (stmt.no_index_calls or 0)
            shape = query_shape(snap, stmt.query)
            if with_index > 0 and stmt.no_index_calls is not None and shape.kind in ("select", "update", "delete"):
                for key in named_tables(snap, stmt.query):  # an INSERT ... VALUES reads nothing
                    index_reads[key] = index_reads.get(key, 0) + with_index
            found_nothing = stmt.no_index_calls == 0 and stmt.rows_examined == 0
            for scope in shape.scopes:
                for key, uses in scope_columns(snap, scope).items():
                    if found_nothing or _predates_ddl(snap, stmt, key):
                        missed.setdefault(key, set()).update(u.column for u in uses if u.kind in ("eq", "range"))
        return cls(planned, missed, index_reads)

    def uses(self, ix: Index) -> bool:
        if (ix.schema, ix.table, ix.name) in self.planned:
            return True
        lead = ix.columns[0] if ix.columns else None
        return lead is not None and lead in self.missed.get(ix.table_key, ())


def _altered_in_window(snap: Snapshot, table: Table | None) -> datetime | None:
    """MySQL/MariaDB: the table's last ALTER (TABLES.CREATE_TIME) when it falls inside the statistics window (or
    the window's start is unknown): its index counters restarted then, so they cover less than the window."""
    altered = table.altered_at if table is not None else None
    if altered is None:
        return None
    since = snap.stats_since
    # CREATE_TIME has whole seconds and the server's start (now - Uptime) a second's error: the same second counts
    return altered if since is None or altered + timedelta(seconds=1) > since else None


def _predates_ddl(snap: Snapshot, stmt: Statement, key: tuple[str, str]) -> bool:
    """A digest that started counting before its table's last ALTER (an index created since, perhaps for it):
    its figures pool the executions before and after, so "examined no row" cannot tell lookups that found
    nothing through the new index; its comparisons then count as evidence of use (never a drop proposal), unless
    none of its executions used an index at all (SUM_NO_INDEX_USED = calls: not this one's use either)."""
    table = snap.table(*key)
    altered = table.altered_at if table is not None else None
    if altered is None or stmt.first_seen is None or stmt.first_seen >= altered:
        return False
    return stmt.no_index_calls is None or stmt.no_index_calls < stmt.calls


@dataclass(frozen=True)
class _Stored:
    """IX01's judgement from the run history: the window it covers, and whether a run in it saw a scan."""

    since: datetime
    days: float
    runs: int
    used: bool


def _used_in_history(snap: Snapshot, ix: Index, opts: UnusedIndexOptions) -> bool:
    """The stored runs of the last ``history_days`` saw this index's counter rise."""
    history, now = snap.run_history, snap.collected_at
    if history is None or now is None:
        return False
    usage = history.index(ix.schema, ix.table, ix.name)
    return usage is not None and usage.last_used is not None and \
        usage.last_used >= now - timedelta(days=opts.history_days)


def _history_window(snap: Snapshot, judged: list[Index], opts: UnusedIndexOptions) -> _Stored | None:
    """The stored runs of the last ``history_days`` (run history) for these indexes (one, or the indexes of a
    partitioned index's partitions), when they cover at least ``min_stats_age_days`` for each; None otherwise
    (then the counters since the reset decide). Several indexes: the shortest window, used when one was used."""
    history, now = snap.run_history, snap.collected_at
    if history is None or now is None:
        return None
    start: datetime | None = None
    used = False
    for ix in judged:
        usage = history.index(ix.schema, ix.table, ix.name)
        if usage is None:
            return None
        since = max(usage.first_seen, now - timedelta(days=opts.history_days))
        start = since if start is None else max(start, since)
        used = used or (usage.last_used is not None and usage.last_used > since)
    if start is None:
        return None
    days = (now - start).total_seconds() / 86_400
    if days < opts.min_stats_age_days:
        return None
    runs = sum(1 for t in history.times if t >= start)
    return _Stored(start, days, runs, used)


def _table_scans(snap: Snapshot, table: Table | None, unused: Index) -> int | None:
    """The evidence that queries read the table: scans of its other indexes that enforce nothing.

    On MySQL/MariaDB ``Index.scans`` holds performance_schema's COUNT_READ, so the figure is rows, not scans.
    Scans of a primary key, unique or exclusion index are left out: every row inserted into a referencing
    table makes its foreign key look up the referenced key, so loading child rows makes a parent "read"
    thousands of times without a single query having had the chance to use another index. Sequential scans
    are left out because dbaudit's sampling makes them (and reads MySQL tables by primary key ranges): with
    them, each rescan of the same database would add evidence and findings.
    """
    if table is None:
        return None
    tables = snap.memo.get("scans_enforcing_nothing")
    if tables is None:
        tables = snap.memo["scans_enforcing_nothing"] = {}
    key = (table.schema, table.name)
    scans = tables.get(key)
    if scans is None:
        scans = tables[key] = _scans_enforcing_nothing(snap.indexes_of(table.schema, table.name))
    total, counted, by_name = scans
    own_total, own_counted = by_name.get(unused.name, (0, 0))
    return total - own_total if counted > own_counted else None


def _scans_enforcing_nothing(indexes: list[Index]) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """The scans of those indexes that enforce nothing and have a counter, how many such indexes there are, and
    both figures by name (to leave one out): once per table, as IX01 asks for the table of every index never
    scanned (all of them in a fresh database) and a table has several."""
    total = counted = 0
    by_name: dict[str, tuple[int, int]] = {}
    for ix in indexes:
        scans = ix.scans
        if scans is not None and not ix.backs_constraint and not ix.is_unique:
            total += scans
            counted += 1
            named_total, named_counted = by_name.get(ix.name, (0, 0))
            by_name[ix.name] = (named_total + scans, named_counted + 1)
    return total, counted, by_name


# ------------------------------------------------------------------------------------------------------------
# IX02 duplicate-index
# ------------------------------------------------------------------------------------------------------------


def _signature(snap: Snapshot, ix: Index) -> tuple[object, ...]:
    return (ix.schema, ix.table, _reading_keys(snap, ix), ix.predicate, ix.method, ix.include)


def _keep_rank(ix: Index) -> tuple[object, ...]:
    """Sort key choosing the duplicate to keep: the constraint's, else a unique one, else the most used."""
    stricter_unique = "NULLS NOT DISTINCT" in ix.definition.upper()
    # between an index and its reversed twin, keep the one written in the plainer, ascending form
    reversed_form = bool(ix.keys) and ix.keys[0].descending
    return (not ix.backs_constraint, not ix.is_unique, not stricter_unique, -(ix.scans or 0), reversed_form, ix.name)


@check(code="IX02", name="duplicate-index", severity=Severity.WARNING, engines=BOTH)
def duplicate_index(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """Two or more indexes with the same definition on the same table.

    ## What it does
    Groups the valid indexes of a table that have the same key list (columns and expressions, compared exactly
    with their operator classes, collations and DESC/NULLS ordering), the same predicate, the same access
    method and the same INCLUDE columns. A B-tree is read in both directions, so an index whose every key is
    flipped (ASC and DESC, NULLS FIRST and LAST swapped: `(a)` and `(a DESC)`) is the same index; mixed
    directions (`(a, b)` and `(a, b DESC)`) are not. It keeps the one that backs a constraint, else a unique
    one, else the most scanned, else the first by name, and reports every other one with
    `details.duplicate_of`.

    An expression index, or a partial index with another predicate, is not a duplicate of a plain index. When
    two constraint-backed indexes duplicate each other no index is proposed for dropping: the redundant
    constraint must go first.

    ## Why is this bad?
    The copies give no query anything the kept index does not, while each one slows every write, takes disk
    and cache, and lengthens vacuum and backups.

    ## Example
    ```sql
    CREATE TABLE users (id bigint PRIMARY KEY, email text);
    CREATE INDEX users_email_idx ON users (email);
    CREATE INDEX users_email_idx1 ON users (email);
    ```

    ## Fix
    ```sql
    DROP INDEX CONCURRENTLY users_email_idx1;
    ```

    ## References
    - https://wiki.postgresql.org/wiki/Index_Maintenance#Duplicate_indexes
    """
    # attached partition indexes mirror their parent's, which is reported (and dropped) once
    # (only indexes that share their first key with another of their table can be one)
    judged = [ix for ix in snap.indexes_sharing_lead() if ix.is_valid and not ix.is_partition_child]
    # a cheap key that equal signatures share, without comparing the keys whole: only indexes that share it with
    # another need the full signature (written out here, not a call per index: on 40,000 indexes the calls are
    # most of the pass)
    signatures = [(ix.schema, ix.table, len(ix.keys), (ix.keys[0].column, ix.keys[0].expression) if ix.keys
                   else None, ix.predicate, ix.method, ix.include) for ix in judged]
    rough = Counter(signatures)
    groups: dict[tuple[object, ...], list[Index]] = {}
    for ix, signature in zip(judged, signatures, strict=True):
        if rough[signature] > 1:
            groups.setdefault(_signature(snap, ix), []).append(ix)
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=_keep_rank)
        kept = members[0]
        for ix in members[1:]:
            message = f"{ix.qualified} on {ix.table} duplicates {kept.name} ({_key_text(ix.keys)})"
            if ix.keys != kept.keys:
                message += f", which is ({_key_text(kept.keys)}) and serves the same scans read backwards"
            remediation: str | None = drop_index_sql(snap, ix)
            if ix.backs_constraint:
                what = ix.constraint or ix.name
                message += (
                    f"; both back constraints: drop the redundant one, {what}, once nothing depends on it"
                )
                remediation = None
            yield Hit(
                object=_index_ref(ix),
                message=message,
                details={
                    "duplicate_of": kept.name,
                    "index_bytes": ix.size_bytes,
                    "scans": ix.scans,
                    "duplicate_of_scans": kept.scans,
                },
                remediation=remediation,
            )


# ------------------------------------------------------------------------------------------------------------
# IX03 redundant-index
# ------------------------------------------------------------------------------------------------------------


def _include_covered(narrow: Index, wide: Index) -> bool:
    available = {c for c in wide.columns if c is not None} | set(wide.include)
    return set(narrow.include) <= available


def _key_served(narrow: IndexKey, wide: IndexKey) -> bool:
    """A wide index's key position serves every lookup the narrow one's does: the same key, or, for a MySQL
    prefix key `col(N)`, the whole column or a longer prefix of it (`col` or `col(M)`, M >= N)."""
    if narrow == wide:
        return True
    if narrow.prefix_length is None or narrow.column is None:
        return False
    same_otherwise = dataclasses.replace(wide, prefix_length=narrow.prefix_length) == narrow
    return same_otherwise and (wide.prefix_length is None or wide.prefix_length >= narrow.prefix_length)


def _leads_with(narrow: tuple[IndexKey, ...], wide: tuple[IndexKey, ...]) -> bool:
    return len(wide) >= len(narrow) and all(_key_served(n, w) for n, w in zip(narrow, wide, strict=False))


@check(code="IX03", name="redundant-index", severity=Severity.WARNING, engines=BOTH)
def redundant_index(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """B-tree index whose keys are a leading prefix of another index's keys.

    ## What it does
    Flags a non-unique B-tree index that backs no constraint when another valid B-tree index of the same table
    starts with the same keys (same columns or expressions, operator classes, collations and ordering) and has
    more, with the same predicate (both full, or the same WHERE clause), or has the same keys and INCLUDEs
    more columns (`(a)` under `(a) INCLUDE (b)`). Keys are compared in the direction a B-tree can be read, so
    `(a DESC)` is a prefix of `(a, b)`. A MySQL/MariaDB prefix key `col(N)` is served by the whole column or a
    longer prefix of it at the same position: `(name(10))` is redundant beside `(name)`, `(name(20), x)` or
    `(name, x)`, while `(name)` is never redundant beside `(name(10), x)` (a prefix cannot return the column's
    value, sort by it or cover a query). `details.covered_by` names the wider index. Equal definitions are
    duplicates (IX02), and a unique index is never redundant: it enforces uniqueness on exactly its keys,
    which the wider index does not.

    ## Why is this bad?
    The wider index serves every lookup and range scan the narrow one serves, so the narrow one only costs
    write time, disk and cache.

    ## Example
    ```sql
    CREATE INDEX orders_customer_idx ON orders (customer_id);
    CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at);
    ```

    ## Fix
    ```sql
    DROP INDEX CONCURRENTLY orders_customer_idx;
    ```

    ## Known problems
    The narrow index is smaller, so a very hot lookup on it can be slightly faster; check its scan count
    first.
    """
    reading: dict[int, tuple[IndexKey, ...]] = {}  # id(index) -> its reading keys, each computed once

    def reading_keys(ix: Index) -> tuple[IndexKey, ...]:
        keys = reading.get(id(ix))
        if keys is None:
            keys = reading[id(ix)] = _reading_keys(snap, ix)
        return keys

    # a wider or covering index is a valid B-tree of the same table with the same predicate that starts with the
    # same column or expression (a prefix key differs only in its length): grouped once by that, so that each
    # index meets only the few others it could be a prefix of before the key comparisons
    # (only indexes that share their first key with another of their table can be in one)
    sharing = snap.indexes_sharing_lead()
    alike: dict[tuple[object, ...], list[Index]] = {}
    for other in sharing:
        if other.is_valid and other.method == "btree" and other.keys:
            first = other.keys[0]
            alike.setdefault((other.schema, other.table, other.predicate, first.column, first.expression),
                             []).append(other)
    # only an index that shares its group with another can be a prefix of one (most share it with none)
    shared = {id(ix) for group in alike.values() if len(group) > 1 for ix in group}
    for ix in sharing:
        if ix.keys and id(ix) not in shared:
            continue
        if (
            ix.method != "btree"
            or ix.is_unique
            or ix.backs_constraint
            or not ix.is_valid
            or ix.is_partition_child
        ):
            continue
        if ix.keys:  # the reading keys start with the same column or expression
            first = ix.keys[0]
            group = alike.get((ix.schema, ix.table, ix.predicate, first.column, first.expression), ())
            candidates = [other for other in group if other is not ix and other.name != ix.name]
        else:
            candidates = [other for other in snap.indexes_of(ix.schema, ix.table)
                          if other.name != ix.name and other.is_valid and other.method == "btree"
                          and other.predicate == ix.predicate]
        if not candidates:
            continue
        keys = reading_keys(ix)
        n = len(keys)
        wider = [
            other
            for other in candidates
            if _leads_with(keys, reading_keys(other)) and _include_covered(ix, other)
            # as many keys is wider only where a prefix key of this one is the whole column (or a longer
            # prefix) there: equal keys are duplicates (IX02)
            and (len(other.keys) > n or reading_keys(other) != keys)
        ]
        # same keys, and the other one carries more INCLUDE columns: it serves all this one does, and more
        covering = [
            other
            for other in candidates
            if reading_keys(other) == keys and set(ix.include) < set(other.include)
        ]
        if wider:
            cover = sorted(wider, key=lambda o: (-len(o.keys), not o.backs_constraint, o.name))[0]
            message = (
                f"{ix.qualified} on {ix.table} ({_key_text(ix.keys)}) is a leading prefix of "
                f"{cover.name} ({_key_text(cover.keys)})"
            )
            prefixes = [k.text for k in ix.keys if k.prefix_length is not None]
            if prefixes:
                # a prefix key is read from the wider index's whole column (or longer prefix) just as well
                message += f", whose keys hold at least what the prefix key{'s' if len(prefixes) > 1 else ''} " \
                           f"{', '.join(prefixes)} index{'' if len(prefixes) > 1 else 'es'}"
        elif covering:
            cover = sorted(covering, key=lambda o: (not o.backs_constraint, -len(o.include), o.name))[0]
            extra = [c for c in cover.include if c not in ix.include]
            message = (
                f"{ix.qualified} on {ix.table} ({_key_text(ix.keys)}) has the same keys as {cover.name}, "
                f"which also INCLUDEs ({', '.join(extra)})"
            )
        else:
            continue
        yield Hit(
            object=_index_ref(ix),
            message=message,
            details={"covered_by": cover.name, "index_bytes": ix.size_bytes, "scans": ix.scans},
            remediation=drop_index_sql(snap, ix),
        )


# ------------------------------------------------------------------------------------------------------------
# IX04 invalid-index
# ------------------------------------------------------------------------------------------------------------


@check(code="IX04", name="invalid-index", severity=Severity.ERROR, engines=BOTH)
def invalid_index(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """Index left INVALID by a failed concurrent build.

    ## What it does
    Flags indexes the server marks as not valid, which is what a failed or cancelled `CREATE INDEX
    CONCURRENTLY` or `REINDEX CONCURRENTLY` leaves behind (a partitioned table's index is also invalid while a
    partition lacks its attached index).

    ## Why is this bad?
    The planner never uses an invalid index, yet every write still maintains it. A unique one does not enforce
    anything, and the table looks indexed when it is not.

    ## Example
    ```sql
    CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
    -- ERROR: could not create unique index ... Key (email)=(...) is duplicated.
    ```

    ## Fix
    Remove the cause (duplicates, a lock timeout), then rebuild it. For a unique index the proposed fix is the
    query that lists the duplicated key values, with the rebuild as a comment to run once it lists none: pasted
    whole into any client, the block then only reads (a rebuild over the duplicates would fail and leave an
    invalid copy behind, and psql goes on after an error unless ON_ERROR_STOP is set):
    ```sql
    SELECT email, count(*) FROM users WHERE email IS NOT NULL GROUP BY email HAVING count(*) > 1;
    -- once the query above returns no row, rebuild it (...):
    -- REINDEX INDEX CONCURRENTLY users_email_key;
    -- or, where the duplicates are legitimate: DROP INDEX CONCURRENTLY users_email_key;
    ```
    A failed `REINDEX INDEX CONCURRENTLY` leaves its copy (`users_email_key_ccnew`) invalid beside the index:
    that one is only dropped.

    ## References
    - https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY
    """
    for ix in snap.indexes:
        if ix.is_valid:
            continue
        leftover = None
        message = (
            f"{ix.qualified} on {ix.table} is invalid: queries do not use it but writes still maintain it"
        )
        remediation: str | None
        if snap.engine == "mysql":
            remediation = None
        elif _on_partitioned_parent(snap, ix):
            message += "; a partition has no index attached to it yet"
            remediation = None
        elif (leftover := _REINDEX_LEFTOVER.fullmatch(ix.name)) is not None:
            # what a failed REINDEX INDEX CONCURRENTLY leaves beside the index it rebuilt: only to be dropped
            # (rt18: rebuilding a unique index over legitimate duplicates left users_zip_key_ccnew)
            message += (f"; it is the copy a failed REINDEX CONCURRENTLY of {leftover.group(1)} left behind: drop "
                        "it")
            remediation = drop_index_sql(snap, ix)
        elif snap.server_version_num and snap.server_version_num < 120000:
            remediation = drop_index_sql(snap, ix)
        else:
            remediation = f"REINDEX INDEX CONCURRENTLY {sqlquote.pg_qualified(ix.schema, ix.name)};"
        if ix.is_unique and remediation is not None and leftover is None:
            # rebuilding a unique index over the same duplicates fails again, and leaves it invalid again
            message += (
                "; a unique build most likely failed on duplicate values: find and resolve them first, "
                "then rebuild it"
            )
            if remediation.startswith("REINDEX"):
                # pasted whole, a rebuild after the query would run whatever it lists, fail on the duplicates and
                # leave an invalid <index>_ccnew copy behind: the rebuild is a comment to run once it lists none
                # (a DO block that raises would not stop psql, which goes on after an error by default)
                remediation = (f"{_duplicates_sql(ix)}\n"
                               "-- once the query above returns no row, rebuild it (over duplicates the rebuild "
                               f"fails and leaves an invalid {_with_suffix(ix.name, '_ccnew')} copy behind):\n"
                               f"-- {remediation}\n"
                               # duplicates that are the data's truth: the index should not be unique
                               f"-- or, where the duplicates are legitimate: {drop_index_sql(snap, ix)}")
            else:
                remediation = f"{_duplicates_sql(ix)}\n{remediation}"
        yield Hit(
            object=_index_ref(ix),
            message=message,
            details={"index_bytes": ix.size_bytes, "unique": ix.is_unique},
            remediation=remediation,
        )


def _with_suffix(name: str, suffix: str) -> str:
    """The name PostgreSQL gives a derived relation: the base cut so that the whole fits in 63 bytes."""
    return name[: 63 - len(suffix)] + suffix


# the name REINDEX INDEX CONCURRENTLY gives its new copy (<index>_ccnew, _ccnew1, ...), left INVALID when it fails
_REINDEX_LEFTOVER = re.compile(r"(.+)_ccnew\d*")


def _duplicates_sql(ix: Index) -> str:
    """The query listing the key values a unique index refuses, as a comment line plus the SELECT."""
    keys = [sqlquote.pg_ident(k.column) if k.column is not None else f"({k.expression})" for k in ix.keys]
    conditions: list[str] = []
    if "NULLS NOT DISTINCT" not in ix.definition.upper():
        # rows with a NULL key never conflict in a unique index
        conditions = [f"{k} IS NOT NULL" for k in keys]
    if ix.predicate:
        conditions.append(f"({ix.predicate})")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    listed = ", ".join(keys)
    return (
        "-- the key values held more than once: resolve them before rebuilding\n"
        f"SELECT {listed}, count(*) FROM {sqlquote.pg_qualified(ix.schema, ix.table)}{where} "
        f"GROUP BY {listed} HAVING count(*) > 1;"
    )


# ------------------------------------------------------------------------------------------------------------
# IX05 missing-fk-index
# ------------------------------------------------------------------------------------------------------------


def _inherited_from_parent(snap: Snapshot, fk: Constraint, table: Table | None) -> bool:
    """Whether a partition's foreign key (on ``table``) is its parent's, cloned onto it (the parent is judged
    instead)."""
    if table is None or not table.is_partition or not table.parent:
        return False
    parent_schema, _, parent_name = table.parent.rpartition(".")
    return any(
        p.columns == fk.columns and p.ref_table_key == fk.ref_table_key and p.ref_columns == fk.ref_columns
        for p in snap.constraints_of(parent_schema or fk.schema, parent_name, "foreign_key")
    )


@dataclass(frozen=True)
class MissingFkIndexOptions:
    """Options of missing-fk-index.

    lookup_table_rows: a referenced table of at most this many rows that the statistics show never deleted from
    and never updated in its key is a lookup table: a key referencing it is info, its index offered as a comment.
    min_stats_age_days: the statistics must cover at least this many days for "never deleted from" to count
    (IX01's default: a week of traffic, weekly jobs included).
    """

    lookup_table_rows: int = 1000
    min_stats_age_days: float = 7.0


def _static_lookup_rows(ref: Table | None, opts: MissingFkIndexOptions) -> int | None:
    """The rows of a referenced table its counters show to be a small lookup table that no statement deleted
    from or changed the key of, or None.

    A HOT update changes no indexed column, and the referenced key always has its unique index, so updates that
    were all HOT (a label, a price) never changed a key; a non-HOT update may have. The row estimate is
    reltuples, or the live rows counted since the statistics began for a table too small to have been
    analyzed (autovacuum analyzes a table after 50 changed rows)."""
    if ref is None:
        return None
    stats = ref.stats
    rows = ref.estimated_rows if ref.estimated_rows is not None else stats.n_live_tup
    if rows is None or rows > opts.lookup_table_rows:
        return None
    if stats.n_tup_del != 0 or stats.n_tup_upd is None:  # None: not counted (a partitioned table)
        return None
    if stats.n_tup_upd != (stats.n_tup_hot_upd or 0):
        return None
    return rows


@check(
    code="IX05",
    name="missing-fk-index",
    severity=Severity.WARNING,
    engines=("postgresql",),
    options=MissingFkIndexOptions,
    not_applicable={"mysql": "InnoDB creates an index for every foreign key by itself"},
)
def missing_fk_index(snap: Snapshot, opts: MissingFkIndexOptions) -> Iterator[Hit]:
    """Foreign key whose columns no index leads with.

    ## What it does
    Flags foreign keys whose referential lookups no index of the referencing table can serve. The lookup
    PostgreSQL makes for every DELETE or key UPDATE on the referenced table is `fk_col = $1` on each key
    column, so an index serves it when it is valid, not BRIN, and its first n key columns are exactly the
    key's n columns (a composite foreign key is judged as a whole and in any order). A primary key, a unique
    constraint or a wider index that starts with them all count, and so does a partial index whose predicate
    the lookup implies: `fk_col = $1` is strict, so it implies `fk_col IS NOT NULL` -- the usual partial index
    of a nullable foreign key, `WHERE fk_col IS NOT NULL` -- but not `WHERE deleted_at IS NULL`. Partitions
    are judged through their partitioned table, which counts as covered when it has such an index, or when
    every one of its partitions has its own (the lookups run per partition).

    ## Why is this bad?
    PostgreSQL does not index the referencing side by itself. Every DELETE or key UPDATE on the referenced
    table then scans the referencing table to check for rows, under lock, and joins from parent to children
    cannot use an index.

    ## Example
    ```sql
    CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id));
    ```

    ## Fix
    ```sql
    CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);
    ```
    On a partitioned table, where PostgreSQL refuses CONCURRENTLY, the index is created ON ONLY the parent,
    then built CONCURRENTLY on each partition and attached (`ALTER INDEX ... ATTACH PARTITION`), so that no
    write waits for the whole table to be indexed. A partitioned table's key is served when every partition has
    such an index; when only some have one, the message names those without, and the fix attaches the index a
    partition already has (exactly those columns, plain B-tree) rather than building a duplicate beside it.

    A key referencing a small lookup table is info, with the index offered as a comment: when the referenced
    table has at most `lookup_table_rows` rows (its estimate, or its live rows when it was never analyzed) and
    the statistics, at least `min_stats_age_days` old, show no row of it deleted and no update that could
    have changed its key (none, or only HOT updates, which change no indexed column). Then no statement ran
    the lookups the index serves, and the other reads it could serve -- a join or filter on a column of 4 to
    a few hundred distinct values in a large table -- read so large a share of it that the planner rarely
    picks the index (WL02 proposes it from the workload where one does). A referenced table with deletes or
    key updates, or statistics younger or of unknown age, keeps the warning.

    ## Options
    - `lookup_table_rows` (default 1000): the most rows a referenced table may have to count as a lookup table.
      A judgment, not a measured edge: plans, statuses, categories and countries hold 4 to a few hundred rows,
      and postgres_dba's i3 query (postgres-checkup's H003 report) leaves out every key whose referenced table
      is at most 10 MB and had at most 1,000 writes -- dbaudit only lowers the severity, and only without a
      delete or key update.
    - `min_stats_age_days` (default 7.0): how long the statistics must cover for "never deleted from" to mean
      something (IX01's default for "never scanned").

    ## Known problems
    A small or append-only referencing table whose parent rows are never deleted may not need the index.
    The counters of one table can be reset alone (`pg_stat_reset_single_table_counters`) and PostgreSQL records
    no time for it: a lookup table's deletes from before such a reset go unseen. Statements that deleted no row
    (`DELETE ... WHERE false`) leave no trace, and a deletion planned for next month is not in any counter: the
    info message says when the index would matter.

    ## References
    - https://www.postgresql.org/docs/current/ddl-constraints.html#DDL-CONSTRAINTS-FK
    """
    names = IndexNames(snap)
    tables = snap.table_map  # once, not a method call per foreign key (thousands on a large database)
    age = snap.stats_age_seconds()
    mature = age is not None and age >= opts.min_stats_age_days * 86400
    for fk in snap.foreign_keys():
        if not fk.columns:
            continue
        table = tables.get((fk.schema, fk.table))
        # the cheap test first: only a partition's key can be its parent's
        if table is not None and table.is_partition and _inherited_from_parent(snap, fk, table):
            continue
        if table is not None and fk_lookup_served(snap, table, fk.columns):
            continue
        if table is None and fk_lookup_indexes(snap, fk.schema, fk.table, fk.columns):
            continue
        ref_key = fk.ref_table_key
        ref_schema, ref_table = ref_key or (fk.schema, "?")
        ref_label = f"{ref_schema}.{ref_table}"
        columns = ", ".join(fk.columns)
        # the lookups read ONLY the referencing table: an inheritance parent's children need no index for them
        target = table or Table(schema=fk.schema, name=fk.table)
        remediation = create_index_sql(snap, target, fk.columns, names, with_children=False)
        missing = ""
        if table is not None and table.kind == "partitioned":
            unserved = unserved_partitions(snap, table, fk.columns)
            leaves = [m for m in tree_members(snap, table) if m.kind != "partitioned" and m.key != table.key]
            if unserved and len(unserved) < len(leaves):
                shown = ", ".join(p.name for p in unserved[:5]) + (" ..." if len(unserved) > 5 else "")
                missing = f" on {len(unserved)} of its {len(leaves)} partitions ({shown})"
        message = f"{fk.schema}.{fk.table}({columns}) references {ref_label} but no index leads with it" + missing
        details: dict[str, object] = {
            "table_rows": table.estimated_rows if table is not None else None,
            "references": f"{ref_label}({', '.join(fk.ref_columns)})",
            "on_delete": fk.on_delete,
        }
        severity = None
        lookup_rows = _static_lookup_rows(tables.get(ref_key), opts) if mature and ref_key else None
        if lookup_rows is not None:
            severity = Severity.INFO
            message += (f"; {ref_label} is a small lookup table ({plural(lookup_rows, 'row')}) that no statement "
                        f"deleted from or changed the key of in {_stats_window(snap)}: the index only matters if "
                        f"its rows are deleted or their keys changed (each such statement scans {fk.table}), "
                        f"or for queries that read few rows of {fk.table} by ({columns})")
            details["referenced_rows"] = lookup_rows
            remediation = "-- only if rows of the lookup table get deleted or their keys changed:\n" + "\n".join(
                f"-- {line}" for line in remediation.splitlines())
        yield Hit(
            object=ObjectRef(
                type="foreign_key", schema=fk.schema, table=fk.table, columns=fk.columns, constraint=fk.name
            ),
            message=message,
            details=details,
            remediation=remediation,
            severity=severity,
        )
