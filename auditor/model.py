"""The typed, immutable data that travels between the stages.

A connector fills a :class:`Snapshot`; checks read it and yield :class:`Hit` objects, which the engine stamps into
:class:`Finding` objects with the check's metadata. Everything here is a frozen dataclass and round-trips through
JSON (:func:`snapshot_to_json` / :func:`snapshot_from_json`), so that a saved snapshot reproduces a report offline.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import operator
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditor.bulk import cached, direct_init, gc_paused
from auditor.maintenance import Maintenance
from auditor.operations import Activity
from auditor.posture import Posture
from auditor.replication import Replication

SNAPSHOT_FORMAT_VERSION = 1
_T = typing.TypeVar("_T")


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANKS[self.value]


_SEVERITY_RANKS = {"info": 0, "warning": 1, "error": 2}


# --------------------------------------------------------------------------------------------------------------
# The snapshot
# --------------------------------------------------------------------------------------------------------------


@direct_init
@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # formatted as the server prints it: "integer", "character varying(20)", "bigint"
    nullable: bool = True
    default: str | None = None
    comment: str | None = None
    position: int = 0
    identity: str | None = None  # "always" / "by default" for identity columns
    null_frac: float | None = None  # pg_stats: share of NULLs
    n_distinct: float | None = None  # pg_stats: > 0 absolute count, < 0 minus the share of rows
    generated: str | None = None  # expression of a GENERATED ALWAYS AS (...) column (then default is None)
    base_type: str | None = None  # PostgreSQL: the type under a domain (data_type names the domain); else None
    collation: str | None = None  # MySQL/MariaDB: a text column's collation (it implies the character set)


@direct_init
@dataclass(frozen=True)
class TableStats:
    """Activity counters (pg_stat_user_tables); None where the server keeps no such figure.

    MySQL/MariaDB count rows, not scans: only ``seq_tup_read`` (rows read by full scans) and ``idx_tup_fetch``
    (rows read through indexes) are set there, ``seq_scan`` and ``idx_scan`` stay None.
    """

    seq_scan: int | None = None
    seq_tup_read: int | None = None
    idx_scan: int | None = None
    idx_tup_fetch: int | None = None
    n_tup_ins: int | None = None
    n_tup_upd: int | None = None
    n_tup_del: int | None = None
    n_tup_hot_upd: int | None = None
    n_live_tup: int | None = None
    n_dead_tup: int | None = None
    n_mod_since_analyze: int | None = None
    last_vacuum: datetime | None = None
    last_autovacuum: datetime | None = None
    last_analyze: datetime | None = None
    last_autoanalyze: datetime | None = None
    vacuum_count: int | None = None
    autovacuum_count: int | None = None
    analyze_count: int | None = None
    autoanalyze_count: int | None = None


@direct_init
@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str = "table"  # table, partitioned, foreign, view, materialized_view
    estimated_rows: int | None = None  # None when the table was never analyzed
    total_bytes: int | None = None
    table_bytes: int | None = None
    index_bytes: int | None = None
    toast_bytes: int | None = None
    comment: str | None = None
    parent: str | None = None  # "schema.table" of the partitioned parent, for partitions and inheritance children
    is_partition: bool = False
    engine: str | None = None  # storage engine (MySQL)
    partitioned: bool = False  # MySQL/MariaDB: PARTITION BY (PostgreSQL's partitioned parents: kind "partitioned")
    # MySQL/MariaDB: how many partitions a PARTITION BY table has (PostgreSQL's are tables of their own); 0: none
    # or not read
    partition_count: int = 0
    # MySQL/MariaDB: information_schema.TABLES.CREATE_TIME, the table's creation or last ALTER (MariaDB 10.11
    # measured: CREATE INDEX moves it, and restarts performance_schema's index counters of the table); MySQL 8
    # caches it (information_schema_stats_expiry, 24 h by default). None: unknown (PostgreSQL)
    altered_at: datetime | None = None
    columns: tuple[Column, ...] = ()
    stats: TableStats = field(default_factory=TableStats)
    policy_columns: tuple[str, ...] = ()  # columns row-level security policies read (PostgreSQL)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None


@direct_init
@dataclass(frozen=True)
class IndexKey:
    """One key position of an index: a plain column, or an expression (then ``column`` is None)."""

    column: str | None = None
    expression: str | None = None
    descending: bool = False
    nulls_first: bool = False
    opclass: str | None = None  # None when it is the type's default operator class
    collation: str | None = None  # None when it is the column's default collation
    # MySQL/MariaDB prefix key `col(N)`: the leading N characters (bytes for binary types) of ``column`` are
    # indexed, not the whole value; None for a whole column
    prefix_length: int | None = None

    @property
    def text(self) -> str:
        if self.column is not None:
            return self.column if self.prefix_length is None else f"{self.column}({self.prefix_length})"
        return f"({self.expression})"


@direct_init
@dataclass(frozen=True)
class Index:
    schema: str
    table: str
    name: str
    keys: tuple[IndexKey, ...] = ()
    include: tuple[str, ...] = ()  # INCLUDE (covering) columns, not part of the key
    method: str = "btree"
    is_unique: bool = False
    is_primary: bool = False
    predicate: str | None = None  # partial index WHERE clause, None for a full index
    is_valid: bool = True
    is_ready: bool = True
    constraint: str | None = None  # name of the constraint this index backs
    constraint_type: str | None = None  # "primary_key", "unique", "exclusion"
    definition: str = ""  # CREATE INDEX statement as the server prints it
    size_bytes: int | None = None
    # idx_scan; None when unknown (no statistics, no privilege). MySQL/MariaDB keep no scan count: there it is
    # performance_schema's COUNT_READ, the rows read through the index (0 still means never used)
    scans: int | None = None
    tuples_read: int | None = None
    tuples_fetched: int | None = None
    visible: bool = True  # MySQL 8 invisible indexes
    is_partition_child: bool = False  # attached to a partitioned parent's index
    # PostgreSQL: the name of the partitioned index this one is attached to (it lives on the table's partitioned
    # parent, in the parent's schema); None for others, and in snapshots written before it was collected
    parent_index: str | None = None
    # MySQL/InnoDB: the index a foreign key relies on (its columns lead it; InnoDB refuses to drop it, error 1553).
    # Set on one index per foreign key side that no primary key or unique index already serves.
    supports_fk: bool = False

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def table_key(self) -> tuple[str, str]:
        return (self.schema, self.table)

    @cached  # read for every index by several checks: computed once (frozen, so it cannot go stale)
    def columns(self) -> tuple[str | None, ...]:
        """Key columns in order; None at expression and prefix-key positions (a prefix is not the column's value:
        it serves neither a foreign key nor an ORDER BY on the column)."""
        keys = self.keys
        if len(keys) == 1:  # most indexes: no generator for them (tens of thousands on a large database)
            key = keys[0]
            return (key.column if key.prefix_length is None else None,)
        return tuple([k.column if k.prefix_length is None else None for k in keys])

    @property
    def backs_constraint(self) -> bool:
        return self.constraint is not None or self.is_primary


@direct_init
@dataclass(frozen=True)
class Constraint:
    schema: str
    table: str
    name: str
    type: str  # "primary_key", "unique", "foreign_key", "check", "exclusion", "not_null"
    columns: tuple[str, ...] = ()
    definition: str = ""
    validated: bool = True
    deferrable: bool = False
    # foreign keys only: the referenced side, pairwise with ``columns``
    ref_schema: str | None = None
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()
    on_update: str | None = None  # "no action", "restrict", "cascade", "set null", "set default"
    on_delete: str | None = None
    match_type: str | None = None  # "simple", "full", "partial"
    index: str | None = None  # the index that backs a PK/unique/exclusion constraint
    # foreign keys (PostgreSQL): the referenced columns' types, pairwise with ``ref_columns``, read from the
    # catalog so that they are known when the referenced table lies outside the audited schemas; the base
    # types hold the type under a domain, None where the referenced column's type is no domain
    ref_column_types: tuple[str, ...] = ()
    ref_column_base_types: tuple[str | None, ...] = ()
    # a domain's constraint (PostgreSQL): the domain's name; ``table`` is then "" and ``schema`` the domain's
    domain: str | None = None

    @property
    def table_key(self) -> tuple[str, str]:
        return (self.schema, self.table)

    @property
    def ref_table_key(self) -> tuple[str, str] | None:
        if self.ref_table is None:
            return None
        return (self.ref_schema or self.schema, self.ref_table)


@direct_init
@dataclass(frozen=True)
class ColumnRef:
    schema: str
    table: str
    column: str
    data_type: str = ""


@direct_init
@dataclass(frozen=True)
class Sequence:
    schema: str
    name: str
    data_type: str = "bigint"  # the sequence's own type
    start_value: int | None = None
    increment: int = 1
    min_value: int | None = None
    max_value: int | None = None
    last_value: int | None = None  # None: never called, or not readable
    cycle: bool = False
    # the columns it feeds (owned-by, identity, or DEFAULT nextval(...)), with their types
    feeds: tuple[ColumnRef, ...] = ()
    # MySQL AUTO_INCREMENT counters are modelled as sequences with kind "auto_increment"
    kind: str = "sequence"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@direct_init
@dataclass(frozen=True)
class Note:
    """Something the connector could not see in full, kept so that reports can say so."""

    area: str  # "tables", "statistics", "sequences", "privileges", ...
    message: str
    objects: tuple[str, ...] = ()
    enable: str | None = None  # the grant or setting that would lift the limit


# ---- data samples (the normalization probe) -------------------------------------------------------------------


@direct_init
@dataclass(frozen=True)
class ListProfile:
    """How the sampled values of one text column look as delimited lists (NF02): counts only, never values."""

    non_null: int = 0  # sampled non-null values
    list_rows: int = 0  # values holding a list with the dominant delimiter
    delimiter: str | None = None  # ",", ";", "|" or "json" (a JSON array stored as text)
    avg_items: float = 0.0  # mean item count of those list values
    two_item_share: float = 0.0  # share of those list values with exactly two items ("Smith, John", "Austin, TX")
    # Of list_rows, the values whose items are word groups: the only shape terse prose can take ("Great product,
    # fast shipping"). item_recurrence: share of their item occurrences, counted once per distinct value, whose
    # item occurs in at least two distinct values (tags reuse a vocabulary, prose does not); None: not measured.
    word_list_rows: int = 0
    item_recurrence: float | None = None
    # share of the distinct items seen at two or more positions across values ("red,green" / "green,blue"),
    # a value holding one item alone counting as position 0: pairs ("Smith, John") keep their parts in place
    position_overlap: float | None = None


@direct_init
@dataclass(frozen=True)
class ColumnSample:
    """One sampled column: value codes (equal values share a code, see auditor.sampling), never the values."""

    name: str
    data_type: str = ""
    codes: str = ""  # auditor.sample_analysis.encode_codes: dense codes, row-aligned across the table's columns
    distinct: int = 0  # distinct non-null values in the sample
    nulls: int = 0
    profile: ListProfile | None = None  # text columns only
    examples: tuple[str, ...] = ()  # a few raw values, only collected with --show-samples


@dataclass(frozen=True)
class ParentMatch:
    """One column of a sampled table compared, row by row on the server, with one column of the row its foreign
    key references: counts only, never values (the copies-through-foreign-keys probe, NF03/NF04)."""

    column: str  # the sampled (child) table's column
    parent_column: str  # the referenced table's column
    compared: int = 0  # joined rows where either is non-null (a NULL beside a value disagrees)
    equal: int = 0  # of them, rows where the two are equal (compared as text)


@dataclass(frozen=True)
class ForeignKeyJoin:
    """A sample of a table's rows joined to the rows its foreign key references."""

    constraint: str
    columns: tuple[str, ...] = ()  # the foreign key's columns, in the sampled table
    ref_schema: str = ""
    ref_table: str = ""
    rows: int = 0  # sampled rows that found their referenced row
    parents: int = 0  # distinct referenced rows among them
    matches: tuple[ParentMatch, ...] = ()
    skipped_reason: str | None = None  # set when the join could not be read


@dataclass(frozen=True)
class GroupSelection:
    """The rows of a group sample chosen for one candidate determinant: every row of each chosen value."""

    determinant: tuple[str, ...]
    mask: str = ""  # auditor.sample_analysis.encode_codes of 1 (chosen for this determinant) / 0, row-aligned
    rows: int = 0  # rows chosen for it


@dataclass(frozen=True)
class GroupSample:
    """A second sample of a large table, keyed by the hash of candidate determinants, so that each chosen
    determinant value comes with all its rows (codes only, like the uniform sample)."""

    rows: int = 0
    method: str = "hash"  # rows where hash(determinant) falls in a slice of the hash space
    duration_s: float = 0.0
    columns: tuple[ColumnSample, ...] = ()
    selections: tuple[GroupSelection, ...] = ()
    skipped_reason: str | None = None


@direct_init
@dataclass(frozen=True)
class TableSample:
    schema: str
    table: str
    rows: int = 0  # rows in the sample
    method: str = ""  # "full", "bernoulli", "system"; "" when skipped
    percent: float | None = None  # TABLESAMPLE percentage
    estimated_rows: int | None = None
    duration_s: float = 0.0
    columns: tuple[ColumnSample, ...] = ()
    unsampled_columns: tuple[str, ...] = ()  # types without useful equality (bytea, json, arrays...) or no privilege
    skipped_reason: str | None = None  # set when the table was not sampled at all
    fk_joins: tuple[ForeignKeyJoin, ...] = ()  # sampled rows compared with the rows their foreign keys reference
    groups: GroupSample | None = None  # whole groups of high-cardinality candidate determinants (large tables)

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.table)


@dataclass(frozen=True)
class Sampling:
    """The data-sampling probe's result. ``enabled=False`` records that the user turned sampling off."""

    enabled: bool = True
    show_samples: bool = False
    rows_per_table: int = 0
    budget_s: float = 0.0
    duration_s: float = 0.0
    queries: int = 0  # round trips of the probe (not part of the fixed catalog query count)
    tables: tuple[TableSample, ...] = ()

    def table(self, schema: str, name: str) -> TableSample | None:
        for t in self.tables:
            if t.schema == schema and t.table == name:
                return t
        return None


# ---- workload (pg_stat_statements and the probes over it) -----------------------------------------------------


@direct_init
@dataclass(frozen=True)
class UserCounters:
    """One role's share of a pooled statement (PostgreSQL keeps a pg_stat_statements row per role): the
    cumulative counters the run history turns into interval figures per (database, user, statement)."""

    user: str
    calls: int = 0
    total_ms: float = 0.0
    sumsq_ms: float = 0.0  # sum of squared execution times: calls * (stddev^2 + mean^2), for interval stddev
    rows: int = 0
    shared_blks_hit: int = 0
    shared_blks_read: int = 0
    stats_since: datetime | None = None  # PG17+: the earliest start of these entries' counters (entry resets)


@direct_init
@dataclass(frozen=True)
class Statement:
    """One normalized statement of the recorded workload (pg_stat_statements rows of one queryid, pooled)."""

    queryid: str  # as text: the 64-bit id does not survive JSON number handling everywhere
    query: str  # normalized text, constants replaced by $n
    calls: int = 0
    total_ms: float = 0.0
    mean_ms: float = 0.0
    stddev_ms: float = 0.0  # population standard deviation of the execution time
    min_ms: float = 0.0
    max_ms: float = 0.0
    rows: int = 0
    shared_blks_hit: int = 0
    shared_blks_read: int = 0
    blk_read_ms: float | None = None  # only when track_io_timing is on
    toplevel: bool = True  # False for statements nested in functions (pg_stat_statements.track = all)
    roles: int = 1  # how many pg_stat_statements rows (roles, parameter types) were pooled into this one
    # every queryid pooled into this statement when there are several: one text gets a queryid per parameter
    # type (psycopg 3 binds an int as int2, int4 or int8 by its value), and they are merged by text
    queryids: tuple[str, ...] = ()
    # MySQL/MariaDB (performance_schema digests): server-side percentiles (MySQL 8 QUANTILE_95/99, None
    # elsewhere), one sample text (MySQL 8 QUERY_SAMPLE_TEXT, shown only with --show-samples), whether
    # stddev_ms is an estimate (MariaDB keeps none), and the execution counters the index coverage reads
    p95_ms: float | None = None
    p99_ms: float | None = None
    sample_text: str | None = None
    stddev_estimated: bool = False
    rows_examined: int | None = None  # SUM_ROWS_EXAMINED
    no_index_calls: int | None = None  # SUM_NO_INDEX_USED: executions that scanned a table without an index
    # PostgreSQL: calls per role that ran it (pg_stat_statements keeps a row per role); empty when not known
    users: Mapping[str, int] = field(default_factory=dict)
    # PostgreSQL: every counter per role (auditor.history's per-user deltas); empty when not known
    by_user: tuple[UserCounters, ...] = ()
    # MySQL/MariaDB: when the digest entries started counting (FIRST_SEEN; the earliest of the pooled rows, one
    # per default database): a TRUNCATE of the digest table removes every entry, and the next execution starts
    # one anew
    first_seen: datetime | None = None


@direct_init
@dataclass(frozen=True)
class PlanScan:
    """One relation access of a generic plan."""

    schema: str | None
    table: str
    scan_type: str  # "Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", ...
    alias: str | None = None
    index: str | None = None  # the index used, for index scans
    plan_rows: float | None = None  # planner's estimate of the rows this node returns
    # index and bitmap scans: the conditions applied to the rows the index returned (EXPLAIN's Filter, as text)
    # and the planner's estimate of the rows the index itself returns (the Bitmap Index Scan child's Plan Rows)
    filter: str | None = None
    index_rows: float | None = None
    # index and bitmap scans: the conditions the index itself applies (EXPLAIN's Index Cond, as text)
    index_cond: str | None = None
    # a parallel-aware scan: the workers planned by the Gather above it (its plan_rows is per process, see
    # auditor.workload.scan_rows); None for a scan that runs in one process
    workers: int | None = None


@direct_init
@dataclass(frozen=True)
class IndexProposal:
    """The index WL02 proposes for a statement, derived from its parse tree, and hypopg's verdict on it."""

    schema: str
    table: str
    columns: tuple[str, ...]
    equality: tuple[str, ...] = ()
    range: tuple[str, ...] = ()
    sort: tuple[str, ...] = ()
    verified: bool = False  # hypopg was run
    used: bool | None = None  # the planner chose the hypothetical index (None: not verified)
    cost_before: float | None = None
    cost_after: float | None = None
    note: str | None = None  # why it is unverified
    # the index the plan uses today when the proposal improves on an index scan that filters most of what it
    # reads (None: the proposal replaces a sequential scan)
    current_index: str | None = None
    # an expression index ("lower(email)", PostgreSQL): ``columns`` then holds the one column it reads
    expression: str | None = None


@direct_init
@dataclass(frozen=True)
class PlanSummary:
    """What EXPLAIN (generic plan, no ANALYZE) said about one statement, or why it could not say."""

    queryid: str
    explained: bool = False
    reason: str | None = None  # why not explained: "utility statement", "relation does not exist", ...
    method: str | None = None  # "generic_plan" (EXPLAIN GENERIC_PLAN, 16+) or "prepare" (force_generic_plan)
    total_cost: float | None = None
    plan_rows: float | None = None
    scans: tuple[PlanScan, ...] = ()
    proposals: tuple[IndexProposal, ...] = ()


@dataclass(frozen=True)
class WorkloadInfo:
    """Where the workload figures come from and how much of it the probes covered."""

    source: str = "pg_stat_statements"
    status: str = "ok"  # ok, not_installed, not_loaded, no_privilege, error, off, not_collected, interrupted
    message: str | None = None  # why not ok, one line
    extension_version: str | None = None
    stats_reset: datetime | None = None  # pg_stat_statements_info.stats_reset (1.9+)
    dealloc: int | None = None  # entries evicted since the reset (1.9+): the view is incomplete when > 0
    # MySQL/MariaDB: ``dealloc`` holds Performance_schema_digest_lost (executions no digest row could take since
    # the server started; a TRUNCATE of the digest table does not clear it). The row a full digest table counts
    # those executions in (DIGEST NULL): its COUNT_STAR and FIRST_SEEN (when the table filled); 0 / None: no
    # such row (the table is not full now: it was emptied since); None / None: not read (no digest row read)
    overflow_calls: int | None = None
    overflow_since: datetime | None = None
    can_read_all: bool = True  # superuser or pg_read_all_stats
    role: str | None = None  # the role the probe ran as, for the GRANT that would lift a limit
    hidden_statements: int = 0  # rows shown as <insufficient privilege>
    statements_total: int = 0  # statements of this database kept for analysis
    excluded_self: int = 0  # statements dbaudit sent itself
    excluded_catalog: int = 0  # statements that touch only pg_catalog / information_schema
    statements_explained: int = 0
    explain_budget: int = 0
    not_explained: Mapping[str, int] = field(default_factory=dict)  # reason -> count
    hypopg_version: str | None = None
    probe_seconds: float | None = None
    queries_sent: int = 0
    percentile_method: str | None = None  # how per-statement latency figures were obtained, when not the default
    plan_method: str | None = None  # how plans / index coverage were obtained, when not generic-plan EXPLAIN


# ---- run history (auditor.history): facts from the previous runs of the same target --------------------------


@direct_init
@dataclass(frozen=True)
class StatementInterval:
    """One statement's figures since the previous run (auditor.history.deltas.statement_deltas), all of its
    roles together: pg_stat_statements and performance_schema count from their last reset, the interval only
    the calls made since the previous run read them. ``reset``: the counters were reset inside the interval,
    and the figures count from that reset."""

    queryid: str
    calls: int
    mean_ms: float
    p95_ms: float | None
    reset: bool = False


@direct_init
@dataclass(frozen=True)
class IndexUsage:
    """What the run store knows of an index's use: when it was first recorded, and the last run whose scan
    counter had risen (this one included; a statistics reset is taken into account). None: never seen used."""

    schema: str
    table: str
    index: str
    first_seen: datetime
    last_used: datetime | None


@direct_init
@dataclass(frozen=True)
class TableHistory:
    schema: str
    table: str
    rows: tuple[int | None, ...] = ()  # at each run of RunHistory.times (None: not there, or no figure)
    bytes: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class RunHistory:
    """What the run store (``--history``) knows of this target's previous runs, for the checks that judge over
    time (IX01's window, CP03's growth). Only complete runs count. The table figures are columns aligned with
    ``times``: the window's runs, oldest first, this run last."""

    runs: int = 0  # complete runs stored before this one
    first_run_at: datetime | None = None
    window_days: float = 0.0  # how far back the window's runs go (0: this run is the first)
    times: tuple[datetime, ...] = ()
    resets: tuple[bool, ...] = ()  # the usage counters were reset between the run before and this one
    indexes: tuple[IndexUsage, ...] = ()  # the indexes that enforce nothing
    tables: tuple[TableHistory, ...] = ()
    database_bytes: tuple[int | None, ...] = ()  # the database's size (sum of its tables) at each run
    # when the previous complete run read the statements, and each statement's figures since (WL01 judges the
    # interval); None / (): no previous run read them, or it was rolled up and kept no counters
    statements_since: datetime | None = None
    statements: tuple[StatementInterval, ...] = ()

    @cached
    def _indexes(self) -> dict[tuple[str, str, str], IndexUsage]:
        return {(i.schema, i.table, i.index): i for i in self.indexes}

    @cached
    def _tables(self) -> dict[tuple[str, str], TableHistory]:
        return {(t.schema, t.table): t for t in self.tables}

    @cached
    def _statements(self) -> dict[str, StatementInterval]:
        return {s.queryid: s for s in self.statements}

    def index(self, schema: str, table: str, name: str) -> IndexUsage | None:
        return self._indexes.get((schema, table, name))

    def statement(self, queryid: str) -> StatementInterval | None:
        return self._statements.get(queryid)

    def table(self, schema: str, name: str) -> TableHistory | None:
        return self._tables.get((schema, name))


@dataclass(frozen=True)
class Snapshot:
    engine: str  # "postgresql" or "mysql"
    server_version: str = ""
    server_version_num: int = 0  # PostgreSQL: 150004; MySQL: 80036 / MariaDB 101106
    database: str = ""
    dsn: str = ""  # display form, never with a password
    collected_at: datetime | None = None
    collect_duration_s: float | None = None
    queries_sent: int = 0  # round trips of the collection, for the benchmark and the query-count test
    flavor: str | None = None  # "mariadb" for MariaDB on the mysql engine
    settings: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, str] = field(default_factory=dict)  # name -> installed version
    available_extensions: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()  # e.g. "pg_read_all_stats", "superuser"
    stats_reset: datetime | None = None  # when usage statistics were last reset
    server_started: datetime | None = None
    schemas: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    indexes: tuple[Index, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    notes: tuple[Note, ...] = ()
    statements: tuple[Statement, ...] = ()  # the recorded workload (pg_stat_statements)
    plans: tuple[PlanSummary, ...] = ()  # generic plans of the costliest statements
    workload: WorkloadInfo | None = None  # None: the workload was not probed
    sampling: Sampling | None = None  # None: no data sample was collected (see auditor.sampling)
    activity: Activity | None = None  # the server's sessions; None: not read (refused, or an older snapshot)
    posture: Posture | None = None  # settings, counters and security facts; None: not read (older snapshot)
    run_history: RunHistory | None = None  # the previous runs' facts, attached by --history; None: no history
    # freeze ages, storage parameters, bloat estimates; None: not read (older snapshot)
    maintenance: Maintenance | None = None
    # prepared transactions, replication slots, standbys, replica status; None: not read (older snapshot)
    replication: Replication | None = None
    # catalog areas ("tables", "indexes", ...) whose query failed: the checks that read them are skipped
    unread_areas: tuple[str, ...] = ()
    # set when the collection ended early (the server stopped answering, the connection died, --timeout ran
    # out): why, and what was not collected. The report is then partial.
    interrupted: str | None = None
    format_version: int = SNAPSHOT_FORMAT_VERSION

    # ---- lookups (computed once, not serialized) -------------------------------------------------------------
    @cached
    def memo(self) -> dict[str, Any]:
        """Values pure helpers derive from the whole snapshot, kept for the next caller (the snapshot is
        frozen, so they cannot go stale): ``auditor.relations`` keeps its name-based references here."""
        return {}

    @cached
    def table_map(self) -> dict[tuple[str, str], Table]:
        return {t.key: t for t in self.tables}

    @cached
    def _indexes_by_table(self) -> dict[tuple[str, str], list[Index]]:
        return _grouped(self.indexes, _schema_and_table)

    @cached
    def _leads(self) -> tuple[dict[tuple[str, str, str | None, str | None], list[Index]], list[Index]]:
        """The indexes of each table by their first key's column and expression, in snapshot order (an index
        without keys under (schema, table, None, None)); and, in snapshot order, the indexes that share their
        group with another one or have no keys."""
        out: dict[tuple[str, str, str | None, str | None], list[Index]] = {}
        first_at: dict[tuple[str, str, str | None, str | None], int] = {}
        sharing: list[tuple[int, Index]] = []  # found in one pass: a large database has few of them
        for at, ix in enumerate(self.indexes):
            keys = ix.keys
            if keys:
                first = keys[0]
                lead = (ix.schema, ix.table, first.column, first.expression)
            else:
                lead = (ix.schema, ix.table, None, None)
                sharing.append((at, ix))
            group = out.get(lead)
            if group is None:
                out[lead] = [ix]
                first_at[lead] = at
                continue
            if len(group) == 1 and keys:
                sharing.append((first_at[lead], group[0]))
            if keys:
                sharing.append((at, ix))
            group.append(ix)
        sharing.sort(key=_first)
        return out, [ix for _, ix in sharing]

    def indexes_leading_with(self, schema: str, table: str, column: str) -> list[Index]:
        """The indexes of a table whose first key is ``column`` (a whole column or a prefix of it), in snapshot
        order."""
        return self._leads[0].get((schema, table, column, None), [])

    def indexes_sharing_lead(self) -> list[Index]:
        """The indexes, in snapshot order, that share their table and first key (column or expression) with
        another index, and those without keys: the only ones that can duplicate another index or be a prefix of
        one (IX02, IX03). A large database has few of them."""
        return self._leads[1]

    @cached
    def _constraints_by_table(self) -> dict[tuple[str, str], list[Constraint]]:
        return _grouped(self.constraints, _schema_and_table)

    @cached
    def _parents(self) -> dict[tuple[str, str], tuple[str, str]]:
        """Child table key -> parent table key, for partitions and inheritance children whose parent is known."""
        out: dict[tuple[str, str], tuple[str, str]] = {}
        for t in self.tables:
            if not t.parent:
                continue
            # "schema.table": either part may hold a dot, so take the split that names a known table
            for at in (i for i, ch in enumerate(t.parent) if ch == "."):
                candidate = (t.parent[:at], t.parent[at + 1:])
                if candidate in self.table_map:
                    out[t.key] = candidate
                    break
        return out

    @cached
    def _children(self) -> dict[tuple[str, str], list[Table]]:
        out: dict[tuple[str, str], list[Table]] = {}
        for t in self.tables:
            parent = self._parents.get(t.key)
            if parent is not None:
                out.setdefault(parent, []).append(t)
        return out

    def table(self, schema: str, name: str) -> Table | None:
        return self.table_map.get((schema, name))

    def parent_of(self, table: Table) -> Table | None:
        """The partitioned parent of a partition, or the parent of an inheritance child; None for others."""
        key = self._parents.get(table.key)
        return self.table_map.get(key) if key is not None else None

    def children_of(self, table: Table) -> list[Table]:
        """The direct partitions (or inheritance children) of a table, in snapshot order."""
        return self._children.get(table.key, [])

    def indexes_of(self, schema: str, table: str) -> list[Index]:
        return self._indexes_by_table.get((schema, table), [])

    def constraints_of(self, schema: str, table: str, type: str | None = None) -> list[Constraint]:
        if type is None:
            return self._constraints_by_table.get((schema, table), [])
        return self._constraints_by_table_type.get((schema, table, type), [])

    @cached
    def _constraints_by_table_type(self) -> dict[tuple[str, str, str], list[Constraint]]:
        return _grouped(self.constraints, _schema_table_and_type)

    @cached
    def _foreign_keys(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.type == "foreign_key")

    def foreign_keys(self) -> Iterator[Constraint]:
        return iter(self._foreign_keys)

    def has_extension(self, name: str) -> bool:
        return name in self.extensions

    @property
    def stats_since(self) -> datetime | None:
        """Start of the window the usage counters cover: the later of the last reset and the server start."""
        moments = [m for m in (self.stats_reset, self.server_started) if m is not None]
        return max(moments) if moments else None

    def stats_age_seconds(self) -> float | None:
        since = self.stats_since
        if since is None or self.collected_at is None:
            return None
        return max(0.0, (self.collected_at - since).total_seconds())


def _first(pair: tuple[int, Index]) -> int:
    return pair[0]


_schema_and_table = operator.attrgetter("schema", "table")
_schema_table_and_type = operator.attrgetter("schema", "table", "type")


def _grouped(items: tuple[_T, ...], key_of: Callable[[_T], Any]) -> dict[Any, list[_T]]:
    """The items by their key, each group in the items' order: a snapshot's lookups over tens of thousands of
    indexes and constraints (the key read in C, no property call nor a new list per item)."""
    out: dict[Any, list[_T]] = {}
    for key, item in zip(map(key_of, items), items, strict=True):
        group = out.get(key)
        if group is None:
            out[key] = [item]
        else:
            group.append(item)
    return out


# --------------------------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------------------------


# the object types named by one field alone (settings and security checks): type -> that field
_SERVER_LEVEL = {"setting": "setting", "role": "role", "hba_rule": "rule", "database": "database"}
# the types ObjectRef.label names by their own field rather than by schema, table and columns
_SPECIAL_LABELS = frozenset({*_SERVER_LEVEL, "session", "connection", "prepared_transaction", "replication_slot",
                             "replica", "standby", "function", "sequence", "query"})


@direct_init
@dataclass(frozen=True)
class ObjectRef:
    """What a finding is about. Only the fields that apply are set; None fields are left out of JSON."""

    type: str  # "table", "index", "foreign_key", "constraint", "sequence", "column", "query", "database"
    schema: str | None = None
    table: str | None = None
    columns: tuple[str, ...] | None = None
    index: str | None = None
    constraint: str | None = None
    sequence: str | None = None
    query: str | None = None
    queryid: str | None = None
    domain: str | None = None  # a domain's constraint: the domain (then table is None)
    # server-level objects (settings and security checks)
    setting: str | None = None  # a server setting ("fsync")
    role: str | None = None  # a role, or a MySQL/MariaDB account ('app'@'%')
    function: str | None = None  # a function or procedure with its identity arguments ("f(integer)")
    rule: str | None = None  # a pg_hba.conf rule ("pg_hba.conf line 5")
    database: str | None = None
    # operational objects (maintenance and replication checks)
    pid: int | None = None  # a session (with ``role`` and ``database``); MySQL/MariaDB: a connection id
    gid: str | None = None  # a prepared transaction's global identifier
    slot: str | None = None  # a replication slot
    channel: str | None = None  # a replica's channel ("" the default one) or a standby's application name

    def label(self) -> str:
        """Short human form: schema.table(cols) / schema.index ..."""
        kind = self.type
        if kind == "index" and self.index:  # the most common first: the engine sorts tens of thousands by it
            return f"{self.schema}.{self.index}" if self.schema else self.index
        if kind in _SPECIAL_LABELS:
            special = self._special_label()
            if special is not None:
                return special
        schema, relation = self.schema, self.table or self.domain
        base = f"{schema}.{relation}" if schema and relation else (schema or relation or "")
        if self.columns:
            base += "(" + ", ".join(self.columns) + ")"
        if self.constraint and (kind == "foreign_key" or kind == "constraint"):
            base += f" [{self.constraint}]"
        return base or kind

    def _special_label(self) -> str | None:
        """The label of the object types named otherwise than by their schema, table and columns, when the
        field that names them is set."""
        kind = self.type
        if kind in _SERVER_LEVEL:
            value = getattr(self, _SERVER_LEVEL[kind])
            if value:
                return str(value)
        if kind == "session" and self.pid is not None:
            return f"{self.role or '?'} pid {self.pid}"
        if kind == "connection" and self.pid is not None:  # MySQL/MariaDB: a connection (thread) id
            return f"{self.role or '?'} connection {self.pid}"
        if kind == "prepared_transaction" and self.gid is not None:
            return f"prepared transaction {self.gid}"
        if kind == "replication_slot" and self.slot is not None:
            return f"slot {self.slot}"
        if kind in ("replica", "standby"):
            return f"{kind} {self.channel}" if self.channel else kind
        if kind == "function" and self.function:
            return f"{self.schema}.{self.function}" if self.schema else self.function
        if kind == "sequence" and self.sequence:
            return f"{self.schema}.{self.sequence}" if self.schema else self.sequence
        if kind == "query" and self.query:
            q = " ".join(self.query.split())
            return q if len(q) <= 80 else q[:77] + "..."
        return None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _field_names(type(self)):  # type: ignore[arg-type]  # not fields() per call
            v = getattr(self, name)
            if v is None:
                continue
            out[name] = list(v) if isinstance(v, tuple) else v
        return out


@direct_init
@dataclass(frozen=True)
class Hit:
    """What a check yields: the object, a message, evidence and the fix. The engine adds the check metadata."""

    object: ObjectRef
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    remediation: str | None = None
    severity: Severity | None = None  # overrides the check's default severity for this one hit


@direct_init
@dataclass(frozen=True)
class Finding:
    code: str
    check: str
    severity: Severity
    category: str
    object: ObjectRef
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    remediation: str | None = None
    doc_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "check": self.check,
            "severity": self.severity.value,
            "category": self.category,
            "object": self.object.as_dict(),
            "message": self.message,
            "details": _jsonable(self.details),  # a Mapping: a new dict
            "remediation": self.remediation,
        }
        if self.doc_url:
            out["doc_url"] = self.doc_url
        return out


@direct_init
@dataclass(frozen=True)
class Skipped:
    check: str
    code: str
    reason: str
    enable: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "code": self.code, "reason": self.reason}
        if self.enable:
            out["enable"] = self.enable
        return out


# --------------------------------------------------------------------------------------------------------------
# JSON round trip
# --------------------------------------------------------------------------------------------------------------


@functools.cache
def _field_names(tp: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(tp))


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # the common case first: a snapshot holds millions of these
    if kind is dict:  # a finding's details (tens of thousands in a report): the Mapping branch's, without its tests
        return {str(k): _jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _jsonable(getattr(value, name)) for name in _field_names(kind)}  # type: ignore[arg-type]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for any dataclass of this module (datetimes as ISO 8601)."""
    return _jsonable(value)


class SnapshotFieldError(ValueError):
    """A value of a snapshot file that does not fit its field; ``str()`` names the field: ``tables[3].name: ...``.

    The path is assembled on the way out (each container adds its key while the error passes through), so a
    valid file pays nothing for it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []

    def __str__(self) -> str:
        where = "".join(reversed(self.path)).lstrip(".")
        return f"{where}: {self.reason}" if where else self.reason


Builder = typing.Callable[[Any], Any]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (tuple, list, set, frozenset):
        return "an array"
    if origin in (dict, Mapping) or tp in (dict, Mapping) or (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
        return "an object"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             datetime: "an ISO 8601 date and time"}
    if tp in names:
        return names[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    return str(tp)


@functools.cache
def _builder(tp: Any) -> Builder:
    """A function that rebuilds a value of type ``tp`` from its JSON form (the inverse of :func:`_jsonable`),
    checking it on the way; made once per type, so a large snapshot resolves each class's fields once."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(tp)
        optional = type(None) in members
        inner = [_builder(a) for a in members if a is not type(None)]
        plain = [a for a in members if a is not type(None)]
        if optional and len(plain) == 1 and plain[0] in (str, int, bool):
            exact: Any = plain[0]
            checked = inner[0]

            def build_optional_scalar(value: Any) -> Any:
                # the common case without a call; anything else goes through the checking builder
                if value is None or type(value) is exact:
                    return value
                return checked(value)

            return build_optional_scalar

        def build_union(value: Any) -> Any:
            if value is None:
                if optional:
                    return None
                raise SnapshotFieldError(f"expected {_expected(tp)}, got null")
            if len(inner) == 1:
                return inner[0](value)
            for b in inner:
                try:
                    return b(value)
                except SnapshotFieldError:
                    continue
            raise SnapshotFieldError(f"expected {_expected(tp)}, got {_json_type(value)}")

        return build_union
    if origin in (tuple, list, set, frozenset):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis] or [Any]
        item = _builder(args[0])
        make: Any = origin

        def build_sequence(value: Any) -> Any:
            if not isinstance(value, list):
                raise SnapshotFieldError(f"expected an array, got {_json_type(value)}")
            try:
                return make([item(v) for v in value])
            except SnapshotFieldError:
                pass
            # a bad item (rare): build them one by one again, so that the error names its position
            for i, v in enumerate(value):
                try:
                    item(v)
                except SnapshotFieldError as exc:
                    exc.path.append(f"[{i}]")
                    raise
            raise AssertionError("unreachable: an item failed once and not twice")  # pragma: no cover

        return build_sequence
    if origin in (dict, Mapping) or tp in (dict, Mapping) or origin is typing.Mapping:
        margs = typing.get_args(tp)
        inner_value = _builder(margs[1] if len(margs) == 2 else Any)

        def build_mapping(value: Any) -> Any:
            if not isinstance(value, dict):
                raise SnapshotFieldError(f"expected an object, got {_json_type(value)}")
            out = {}
            for k, v in value.items():
                try:
                    out[k] = inner_value(v)
                except SnapshotFieldError as exc:
                    exc.path.append(f"[{k!r}]")
                    raise
            return out

        return build_mapping
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_builder(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        enum_type: Any = tp

        def build_enum(value: Any) -> Any:
            try:
                return enum_type(value)
            except ValueError:
                raise SnapshotFieldError(f"expected {_expected(tp)}, got {value!r}"[:200]) from None

        return build_enum
    if tp is datetime:
        def build_datetime(value: Any) -> Any:
            if isinstance(value, str):
                try:
                    return datetime.fromisoformat(value)
                except ValueError:
                    pass
            raise SnapshotFieldError(f"expected {_expected(tp)}, got {_json_type(value)}")

        return build_datetime
    scalar = _SCALARS.get(tp)
    if scalar is not None:
        return scalar
    return _identity


def _identity(value: Any) -> Any:
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _build_str(value: Any) -> Any:
    if type(value) is str:
        return value
    if isinstance(value, str):
        return value
    raise SnapshotFieldError(f"expected a string, got {_json_type(value)}")


def _build_float(value: Any) -> Any:
    if type(value) is float and math.isfinite(value):
        return value
    if _is_number(value) and math.isfinite(value):
        return float(value)
    raise SnapshotFieldError(f"expected a finite number, got {_json_type(value)}")


def _build_bool(value: Any) -> Any:
    if value is True or value is False:
        return value
    raise SnapshotFieldError(f"expected true or false, got {_json_type(value)}")


def _build_int(value: Any) -> Any:
    if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise SnapshotFieldError(f"expected an integer, got {_json_type(value)}")


_SCALARS: dict[Any, Builder] = {
    bool: _build_bool,
    int: _build_int,
    float: _build_float,
    str: _build_str,
}


class _NoValue:
    """A type no JSON value has: the plain types of a field that has none."""


def _plain_types(tp: Any) -> tuple[type, type]:
    """The types whose JSON values a field of type ``tp`` takes unchanged: str, int and bool fields (the
    builders return such a value as it is), with None too when the field is optional."""
    if tp in (str, int, bool):
        return tp, tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = typing.get_args(tp)
        plain = [a for a in members if a is not type(None)]
        if type(None) in members and len(plain) == 1 and plain[0] in (str, int, bool):
            return plain[0], type(None)
    return _NoValue, _NoValue


# shapes remembered per class (see build_dataclass): a bound for a file whose objects all differ
_MAX_PLANS = 4096
_Plan = tuple[bool, tuple[str, ...], tuple[tuple[str, Builder], ...], tuple[tuple[str, Builder], ...],
              tuple[tuple[str, Any], ...]]


def _is_float_type(tp: Any) -> bool:
    """``float`` or ``float | None``."""
    if tp is float:
        return True
    members = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()
    return len(members) == 2 and float in members and type(None) in members


def _dataclass_builder(tp: type) -> Builder:
    hints = typing.get_type_hints(tp)
    init_fields = [f for f in dataclasses.fields(tp) if f.init]
    # per field: the two types of a value taken as it is, without a call (a str field's str, an optional int
    # field's int or None; a snapshot holds millions of these), and the builder for anything else
    builders = {f.name: (*_plain_types(hints[f.name]), _builder(hints[f.name])) for f in init_fields}
    # the float fields (optional or not): a float value is taken as it is when finite, tested without a call
    float_fields = frozenset(f.name for f in init_fields if _is_float_type(hints[f.name]))
    required = [f.name for f in init_fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    required_keys = frozenset(required)
    # the fast construction below fills the instance's __dict__ directly: only for a plain frozen dataclass
    # (no __post_init__, no slots, every field set by __init__)
    plain = (not hasattr(tp, "__post_init__") and not hasattr(tp, "__slots__")
             and len(init_fields) == len(dataclasses.fields(tp)))
    defaults: dict[str, Any] | None = (
        {f.name: f.default for f in init_fields if f.default is not dataclasses.MISSING} if plain else None)
    factories = [(f.name, f.default_factory) for f in init_fields
                 if f.default_factory is not dataclasses.MISSING]

    # The objects of one class come in few shapes (which keys are present, and the type of each value): per shape,
    # the first object is checked field by field below, and the plan it leaves says which values the next ones
    # take as they are and which go through their field's builder. A 10,000-table snapshot has some 300,000
    # objects in a few hundred shapes.
    plans: dict[tuple[str | type, ...], _Plan] = {}  # (the keys..., the type of each value...) -> plan

    def build_dataclass(value: Any) -> Any:
        if type(value) is dict and defaults is not None:
            shape = (*value, *map(type, value.values()))  # one tuple: n keys, then n types
            plan = plans.get(shape)
            if plan is not None:
                whole, taken, floats, built, absent_factories = plan
                obj: Any = object.__new__(tp)
                attrs = obj.__dict__
                attrs.update(defaults)
                for name, factory in absent_factories:
                    attrs[name] = factory()
                if whole:
                    attrs.update(value)
                else:
                    for name in taken:
                        attrs[name] = value[name]
                    for name, build in floats:
                        number = value[name]
                        # x - x is 0.0 for a finite float, NaN for NaN and the infinities (the builder refuses them)
                        if number - number == 0.0:
                            attrs[name] = number
                        else:
                            built = ((name, build), *built)
                for name, build in built:
                    try:
                        attrs[name] = build(value[name])
                    except SnapshotFieldError as exc:
                        exc.path.append(f".{name}")
                        raise
                return obj
            result = build_checked(value)
            if len(plans) < _MAX_PLANS:
                plans[shape] = _plan(value)
            return result
        return build_checked(value)

    def _plan(value: dict[str, Any]) -> _Plan:
        """What :func:`build_checked` did with an object of this shape, for the next ones: (every key is a field
        taken as it is, the fields taken as they are, the fields built with their builders, the fields made by
        their default factories)."""
        taken: list[str] = []
        floats: list[tuple[str, Builder]] = []
        built: list[tuple[str, Builder]] = []
        for name, raw in value.items():
            field_builder = builders.get(name)
            if field_builder is None:
                continue
            plain, other_plain, build = field_builder
            if type(raw) is plain or type(raw) is other_plain:
                taken.append(name)
            elif type(raw) is float and name in float_fields:
                floats.append((name, build))
            else:
                built.append((name, build))
        whole = len(taken) == len(value)  # every key a field taken as it is: one update
        return (whole, tuple(taken), tuple(floats), tuple(built),
                tuple((n, f) for n, f in factories if n not in value))

    def build_checked(value: Any) -> Any:
        if not isinstance(value, dict):
            raise SnapshotFieldError(f"expected an object, got {_json_type(value)}")
        kwargs = {}
        # the keys present, not every field: a compact snapshot leaves out the fields at their default
        for name, raw in value.items():
            field_builder = builders.get(name)
            if field_builder is None:
                continue  # keys a newer writer added are ignored
            plain, other_plain, build = field_builder
            kind = type(raw)
            if kind is plain or kind is other_plain:
                kwargs[name] = raw
                continue
            try:
                kwargs[name] = build(raw)
            except SnapshotFieldError as exc:
                exc.path.append(f".{name}")
                raise
        if not required_keys <= kwargs.keys():
            name = next(n for n in required if n not in kwargs)
            error = SnapshotFieldError("missing")
            error.path.append(f".{name}")
            raise error
        if defaults is None:
            return tp(**kwargs)
        # what the generated __init__ does, without its per-field object.__setattr__ calls (the class is frozen):
        # the defaults, fresh ones from the factories, then the values read
        obj: Any = object.__new__(tp)
        attrs = obj.__dict__
        attrs.update(defaults)
        for name, factory in factories:
            if name not in kwargs:
                attrs[name] = factory()
        attrs.update(kwargs)
        return obj

    return build_dataclass


# The records a snapshot holds by the thousand, whose fields at their default a snapshot file leaves out; the
# rest (the snapshot's own fields, notes, workload and sampling summaries) is written whole.
_COMPACT_RECORDS = frozenset({
    "Column", "TableStats", "Table", "IndexKey", "Index", "Constraint", "ColumnRef", "Sequence", "Statement",
    "PlanScan", "IndexProposal", "PlanSummary", "ColumnSample", "ListProfile", "TableSample",
    "RelationIo", "DefinerFunction", "ServerSetting", "Role", "Backend",
})


@functools.cache
def _compact_plan(tp: type) -> tuple[tuple[str, bool, Any], ...]:
    """(name, has a default, the default) per field: what :func:`_compact` leaves out."""
    compact = tp.__name__ in _COMPACT_RECORDS
    plan = []
    for f in dataclasses.fields(tp):
        if not compact:
            plan.append((f.name, False, None))
        elif f.default is not dataclasses.MISSING:
            plan.append((f.name, True, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            plan.append((f.name, True, f.default_factory()))
        else:
            plan.append((f.name, False, None))
    return tuple(plan)


def _compact(value: Any) -> Any:
    """:func:`_jsonable`, leaving out the fields of the bulk records that hold their default: a 10,000-table
    snapshot has some 100,000 columns, indexes and keys, most of whose optional fields are unset. Reading fills
    them in again (a missing key takes the field's default), so the round trip gives the same snapshot."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is tuple or kind is list:
        return [_compact(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for name, has_default, default in _compact_plan(kind):  # type: ignore[arg-type]
            v = getattr(value, name)
            if has_default and (v is default or (type(v) is type(default) and v == default)):
                continue
            out[name] = _compact(v)
        return out
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _compact(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [_compact(v) for v in value]
    return value


def snapshot_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as plain JSON types; fields at their default are left out (see :func:`_compact`)."""
    out: dict[str, Any] = _compact(snapshot)
    out["format_version"] = snapshot.format_version  # always said: a reader checks it first
    return out


def snapshot_from_dict(data: Mapping[str, Any]) -> Snapshot:
    """The snapshot a JSON object describes, or :class:`SnapshotFieldError` naming the first field that does not
    fit (``tables[3].columns[0].nullable: expected true or false, got a string``)."""
    if not isinstance(data, Mapping):
        raise SnapshotFieldError(f"expected a JSON object at the top, got {_json_type(data)}")
    version = data.get("format_version", SNAPSHOT_FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise SnapshotFieldError(f"format_version: expected an integer, got {_json_type(version)}")
    if version > SNAPSHOT_FORMAT_VERSION:
        raise SnapshotFieldError(
            f"format_version {version} is newer than this dbaudit understands ({SNAPSHOT_FORMAT_VERSION})"
        )
    if "engine" not in data:
        raise SnapshotFieldError("engine: missing (expected 'postgresql' or 'mysql')")
    engine = data["engine"]
    if engine not in ENGINES:
        # the checks are keyed by engine: an unknown one would skip every check and look like an empty report
        raise SnapshotFieldError(f"engine: expected one of {', '.join(map(repr, ENGINES))}, got {_clip_value(engine)}")
    result = _builder(Snapshot)(dict(data))
    assert isinstance(result, Snapshot)
    return result


ENGINES = ("postgresql", "mysql")


def _clip_value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def snapshot_to_json(snapshot: Snapshot, indent: int | None = None) -> str:
    """Compact JSON by default: Python's encoder is written in C only without indentation (a 10,000-table
    snapshot takes seconds to indent), and the file is smaller. ``indent`` gives a readable one."""
    separators = (",", ":") if indent is None else None
    with gc_paused():
        return json.dumps(snapshot_to_dict(snapshot), indent=indent, separators=separators, ensure_ascii=False)


def snapshot_from_json(text: str) -> Snapshot:
    """Parse and check a snapshot file's text. Raises :class:`SnapshotFieldError` (a bad field, NaN or Infinity),
    ``json.JSONDecodeError`` (not JSON) or ``RecursionError`` (nested deeper than Python's parser goes)."""
    with gc_paused():  # some two million objects for a 10,000-table database, none of them garbage
        return snapshot_from_dict(json.loads(text, parse_constant=_no_constant))


def _no_constant(name: str) -> Any:
    raise SnapshotFieldError(f"{name} is not a number JSON allows")


# --from refuses files larger than this (--max-snapshot-mb): a 10,000-table snapshot is about 40 MB (compact)
SNAPSHOT_MAX_MB = 512


def from_jsonable(tp: type[_T], value: Any) -> _T:
    """Rebuild a dataclass of this module from :func:`to_jsonable`'s form (SnapshotFieldError when it does not
    fit): the run history keeps findings this way."""
    built: _T = _builder(typing.cast(Any, tp))(value)
    return built
