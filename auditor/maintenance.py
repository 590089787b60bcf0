"""The vacuum, freeze, statistics and bloat state of the audited tables: what the maintenance checks read.

These frozen dataclasses hang off :attr:`auditor.model.Snapshot.maintenance` and round-trip through its JSON like
the rest. Each part is read by one bulk catalog query whatever the size of the schema. The activity counters the
checks also need (dead and live rows, modifications since the last analyze, last (auto)vacuum and analyze times)
are already in :class:`auditor.model.TableStats`; this adds what the catalog keeps beside them.

A part the audit role may not read is None (never empty): the connector leaves a :class:`~auditor.model.Note`
with the part's area and the GRANT that lifts the limit, and the checks that need it are skipped with that GRANT.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from auditor.bulk import direct_init

if TYPE_CHECKING:  # the model imports this module
    from auditor.model import Snapshot, Table
    from auditor.posture import Posture

# Note.area values of the maintenance parts
FREEZE_AREA = "freeze"  # PostgreSQL: XID and multixact ages of tables and databases, reloptions
TABLE_BLOAT_AREA = "table_bloat"  # PostgreSQL: the pg_stats-based heap size estimate
INDEX_BLOAT_AREA = "index_bloat"  # PostgreSQL: the pg_stats-based B-tree size estimate
INNODB_STATS_AREA = "innodb_stats"  # MySQL/MariaDB: InnoDB's statistics counters per table


@dataclass(frozen=True)
class ToastColumn:
    """The average stored size of one large-value column of a TOAST-heavy table (PostgreSQL), over a sample.

    pg_column_size of each sampled row's value (compressed, or out of line: read from its TOAST pointer), NULLs
    counted as 0; pg_stats' avg_width cannot tell which column holds the TOAST, since it counts an out-of-line
    value as its 18-byte pointer.
    """

    schema: str
    table: str
    column: str
    avg_bytes: float


@direct_init
@dataclass(frozen=True)
class TableFreeze:
    """Freeze ages and storage parameters of one PostgreSQL table, materialized view or partitioned parent.

    Ages are in transactions (``age(relfrozenxid)``) and multixacts (``mxid_age(relminmxid)``); None for a
    partitioned parent, which holds no rows and has no relfrozenxid, and for a table without TOAST on the
    ``toast_`` side. ``reloptions`` and ``toast_reloptions`` are the raw ``name=value`` entries.
    """

    schema: str
    table: str
    kind: str = "table"  # table, materialized_view, partitioned
    xid_age: int | None = None
    mxid_age: int | None = None
    toast_xid_age: int | None = None
    toast_mxid_age: int | None = None
    reloptions: tuple[str, ...] = ()
    toast_reloptions: tuple[str, ...] = ()
    pages: int | None = None  # relpages of the heap (as of the last VACUUM / ANALYZE)
    toast_pages: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.table)

    def option(self, name: str, toast: bool = False) -> str | None:
        """The value of a storage parameter (``autovacuum_enabled``), or None when it is not set."""
        for entry in self.toast_reloptions if toast else self.reloptions:
            key, _, value = entry.partition("=")
            if key.strip().lower() == name:
                return value.strip()
        return None

    @property
    def max_xid_age(self) -> int | None:
        ages = [a for a in (self.xid_age, self.toast_xid_age) if a is not None]
        return max(ages) if ages else None

    @property
    def max_mxid_age(self) -> int | None:
        ages = [a for a in (self.mxid_age, self.toast_mxid_age) if a is not None]
        return max(ages) if ages else None


@dataclass(frozen=True)
class DatabaseFreeze:
    """``age(datfrozenxid)`` and ``mxid_age(datminmxid)`` of one database of the server (pg_database)."""

    name: str
    xid_age: int
    mxid_age: int
    allow_connections: bool = True


@direct_init
@dataclass(frozen=True)
class TableBloat:
    """The pg_stats-based estimate of one heap's size, as the ioguix / pgexperts bloat queries compute it.

    ``expected_pages`` is what the live rows need at the table's fillfactor (tuple headers, alignment, null
    bitmaps and the average column widths of pg_stats); ``pages`` is relpages. ``estimable`` is False when the
    estimate would be meaningless: a column without statistics (never analyzed, or not readable by the audit
    role), or a ``name`` column whose width pg_stats misreports; ``reason`` then says which.
    """

    schema: str
    table: str
    pages: int
    expected_pages: float | None = None
    fillfactor: int = 100
    estimable: bool = True
    reason: str | None = None
    block_size: int = 8192
    # pgstattuple_approx (exact enough: the visibility map and a scan of the pages not all-visible), when run
    exact_free_pct: float | None = None
    exact_dead_pct: float | None = None

    @property
    def bloat_bytes(self) -> float | None:
        if self.expected_pages is None:
            return None
        return max(0.0, (self.pages - self.expected_pages) * self.block_size)

    @property
    def bloat_pct(self) -> float | None:
        if self.expected_pages is None or self.pages <= 0:
            return None
        return max(0.0, 100.0 * (self.pages - self.expected_pages) / self.pages)


@direct_init
@dataclass(frozen=True)
class IndexBloat:
    """The pg_stats-based estimate of one B-tree index's size (the ioguix btree bloat query).

    ``expected_pages`` is what the index's entries need with its fillfactor (90 by default for B-trees);
    ``estimable`` is False for expression keys without statistics, partial indexes (the estimate counts every
    row of the table), and keys whose columns lack statistics.
    """

    schema: str
    table: str
    index: str
    pages: int
    expected_pages: float | None = None
    fillfactor: int = 90
    estimable: bool = True
    reason: str | None = None
    block_size: int = 8192
    deduplicated: bool = False  # PostgreSQL 13+ B-tree deduplication is on for this index
    exact_leaf_density: float | None = None  # pgstatindex avg_leaf_density, when run

    @property
    def bloat_bytes(self) -> float | None:
        if self.expected_pages is None:
            return None
        return max(0.0, (self.pages - self.expected_pages) * self.block_size)

    @property
    def bloat_pct(self) -> float | None:
        if self.expected_pages is None or self.pages <= 0:
            return None
        return max(0.0, 100.0 * (self.pages - self.expected_pages) / self.pages)


@direct_init
@dataclass(frozen=True)
class InnodbTableStats:
    """MySQL/MariaDB: what InnoDB keeps about one table's storage and statistics.

    ``data_free`` is information_schema.TABLES.DATA_FREE (free space in the table's tablespace; for tables in
    the shared system tablespace it is that tablespace's free space, the same for all of them).
    ``stats_rows`` and ``modified`` come from INNODB_SYS_TABLESTATS (MariaDB) / INNODB_TABLESTATS (MySQL 8):
    the rows InnoDB's statistics count, and the rows changed since they were computed; None when InnoDB has not
    loaded the table since the server started (then nothing is known) or the view was not readable.
    """

    schema: str
    table: str
    data_free: int | None = None
    shared_tablespace: bool | None = None  # in the system tablespace (DATA_FREE is not the table's own)
    stats_initialized: bool | None = None
    stats_rows: int | None = None
    modified: int | None = None
    auto_recalc: bool | None = None  # STATS_AUTO_RECALC of the table, or the server's default
    stats_updated: str | None = None  # mysql.innodb_table_stats.last_update, as the server prints it
    # pages allocated to the table's indexes (clustered one included) that hold no leaf, past the reserve InnoDB
    # keeps in every segment (see index_free_pages); None when mysql.innodb_index_stats was not readable
    index_free_bytes: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.table)


def segment_reserve_pages(pages: int, page_size: int) -> int:
    """Pages InnoDB may leave unused in an index's segments without anything having been deleted.

    A segment takes whole extents (1 MiB, at least 64 pages) once past its first 32 single pages, and takes a new
    extent while up to an eighth of the pages it reserved are still unused (FSEG_FILLFACTOR = 8 in fsp0fsp): the
    extent being filled plus an eighth of the index. Measured on MariaDB 10.11, 500,000-row tables loaded in
    key order or in random key order, and one just rebuilt by OPTIMIZE TABLE, kept 1 to 17 % of their index
    pages unused, always within this reserve.
    """
    extent = max(64, 1024 * 1024 // max(page_size, 1))
    return pages // 8 + extent


def index_free_pages(pages: int, leaf_pages: int, page_size: int) -> int:
    """Unused pages of one index past the normal reserve: ``size - n_leaf_pages`` of mysql.innodb_index_stats
    (pages allocated to the index that hold no leaf: emptied by deletes and merges, or never used) less
    :func:`segment_reserve_pages`. Non-leaf pages (a fraction of a percent of a B-tree) fall within the reserve."""
    return max(0, pages - leaf_pages - segment_reserve_pages(pages, page_size))


@dataclass(frozen=True)
class Maintenance:
    """Maintenance state of the audited tables. A None part was not readable (see the notes)."""

    freeze: tuple[TableFreeze, ...] | None = None  # PostgreSQL
    databases: tuple[DatabaseFreeze, ...] | None = None  # PostgreSQL
    table_bloat: tuple[TableBloat, ...] | None = None  # PostgreSQL
    index_bloat: tuple[IndexBloat, ...] | None = None  # PostgreSQL
    exact_bloat: str | None = None  # "pgstattuple" when its figures were read for the estimate's candidates
    innodb: tuple[InnodbTableStats, ...] | None = None  # MySQL/MariaDB
    innodb_counters: bool = False  # InnodbTableStats.modified / stats_rows were readable (PROCESS)
    # PostgreSQL: the large-value columns of the 20 tables with the most TOAST, by sampled stored size
    toast_columns: tuple[ToastColumn, ...] | None = None

    def toast_columns_of(self, schema: str, table: str) -> list[ToastColumn]:
        """Largest first; [] when not measured."""
        return sorted((c for c in self.toast_columns or () if (c.schema, c.table) == (schema, table)),
                      key=lambda c: -c.avg_bytes)

    @cached_property
    def _freeze_map(self) -> dict[tuple[str, str], TableFreeze]:
        return {f.key: f for f in self.freeze or ()}

    @cached_property
    def _innodb_map(self) -> dict[tuple[str, str], InnodbTableStats]:
        return {s.key: s for s in self.innodb or ()}

    def freeze_of(self, schema: str, table: str) -> TableFreeze | None:
        return self._freeze_map.get((schema, table))

    def innodb_of(self, schema: str, table: str) -> InnodbTableStats | None:
        return self._innodb_map.get((schema, table))


# ------------------------------------------------------------------------------------------------------------
# Autovacuum's triggers and whether a table is kept up with (MT06, MT08 and the vacuumed_on_time_pct metric)
# ------------------------------------------------------------------------------------------------------------

# the defaults of MT06 dead-tuples and MT08 stale-statistics, which the metric shares
DEAD_MIN_PCT = 10.0
DEAD_MIN_ROWS = 10_000
ANALYZE_TRIGGER_FACTOR = 2.0
ANALYZE_MIN_ROWS = 1_000
# autovacuum looks at each database every autovacuum_naptime (1 min): an hour without an analyze while far past
# the trigger means it is not keeping up, a few minutes only that the table is busy
ANALYZE_MIN_MINUTES = 60.0
# InnoDB recalculates persistent statistics once 10 % of a table's rows changed (innodb_stats_auto_recalc)
INNODB_RECALC_SHARE = 0.1


def table_setting(posture: Posture | None, freeze: TableFreeze | None, name: str) -> float | None:
    """A per-table storage parameter (``autovacuum_vacuum_scale_factor=0.01``), else the server's setting."""
    if freeze is not None:
        raw = freeze.option(name)
        if raw is not None:
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if value >= 0:  # -1: use the server's value
                return value
    s = posture.setting(name) if posture is not None else None
    return s.number() if s is not None else None


def table_rows(t: Table) -> float:
    """The rows autovacuum's formulas scale with: reltuples (estimated_rows), else the live-row counter."""
    if t.estimated_rows is not None and t.estimated_rows >= 0:
        return float(t.estimated_rows)
    return float(t.stats.n_live_tup or 0)


# the settings of each autovacuum trigger, not formatted again for every table
_TRIGGER_SETTINGS = {action: (f"autovacuum_{action}_threshold", f"autovacuum_{action}_scale_factor")
                     for action in ("vacuum", "analyze")}


def autovacuum_trigger(snap: Snapshot, t: Table, action: str) -> float | None:
    """Rows past which autovacuum vacuums (``action="vacuum"``: dead rows) or analyzes (``"analyze"``: rows
    modified since the last analyze) the table: threshold + scale factor x reltuples, the table's own storage
    parameters first, as pg-extras' ``vacuum_stats`` computes expect_autovacuum / expect_autoanalyze."""
    freeze = snap.maintenance.freeze_of(t.schema, t.name) if snap.maintenance is not None else None
    threshold_name, scale_name = _TRIGGER_SETTINGS[action]
    threshold = table_setting(snap.posture, freeze, threshold_name)
    scale = table_setting(snap.posture, freeze, scale_name)
    if threshold is None or scale is None:
        return None
    return threshold + scale * table_rows(t)


def vacuum_late(snap: Snapshot, t: Table, min_dead_pct: float = DEAD_MIN_PCT,
                min_dead_rows: int = DEAD_MIN_ROWS) -> tuple[int, float, float] | None:
    """(dead rows, their share %, the trigger) when the table's dead rows are past its autovacuum trigger, at
    least ``min_dead_pct`` % of its rows and ``min_dead_rows`` in number; else None."""
    dead = t.stats.n_dead_tup
    live = t.stats.n_live_tup or 0
    if dead is None or dead < min_dead_rows:
        return None
    share = 100.0 * dead / (dead + live) if dead + live else 0.0
    trigger = autovacuum_trigger(snap, t, "vacuum")
    if trigger is None or dead <= trigger or share < min_dead_pct:
        return None
    return dead, share, trigger


def never_analyzed(t: Table, hidden: bool, min_rows: int = ANALYZE_MIN_ROWS) -> bool:
    """PostgreSQL: rows and no planner statistics at all, never analyzed since the counters were reset.
    ``hidden``: pg_stats hides the table's columns from the audit role, so no statistics proves nothing."""
    s = t.stats
    if hidden or not t.columns or s.last_analyze is not None or s.last_autoanalyze is not None:
        return False
    rows = max(table_rows(t), float(s.n_live_tup or 0))
    return rows >= min_rows and not any(c.null_frac is not None for c in t.columns)


def analyze_late(snap: Snapshot, t: Table, factor: float = ANALYZE_TRIGGER_FACTOR,
                 min_rows: int = ANALYZE_MIN_ROWS, min_minutes: float = ANALYZE_MIN_MINUTES
                 ) -> tuple[int, float] | None:
    """PostgreSQL: (rows modified since the last analyze, the analyze trigger) when the modifications are past
    ``factor`` times the trigger, on a table of ``min_rows`` rows, and the last analyze is at least
    ``min_minutes`` old (a busy table that autovacuum analyzes every few minutes is kept up with); else None."""
    modified = t.stats.n_mod_since_analyze
    trigger = autovacuum_trigger(snap, t, "analyze")
    if modified is None or trigger is None:
        return None
    rows = max(table_rows(t), float(t.stats.n_live_tup or 0))
    if rows < min_rows or modified <= factor * trigger:
        return None
    analyzed = [m for m in (t.stats.last_analyze, t.stats.last_autoanalyze) if m is not None]
    if analyzed and snap.collected_at is not None and autovacuum_on(snap, t) \
            and (snap.collected_at - max(analyzed)).total_seconds() < 60.0 * min_minutes:
        return None
    return modified, trigger


def _off(value: str | None) -> bool:
    return (value or "").strip().lower() in ("off", "false", "0", "no", "f", "n")


def autovacuum_on(snap: Snapshot, t: Table) -> bool:
    """Autovacuum may vacuum and analyze this table: on for the server (with track_counts), not switched off
    by the table's ``autovacuum_enabled`` storage parameter."""
    posture = snap.posture
    for name in ("autovacuum", "track_counts"):
        s = posture.setting(name) if posture is not None else None
        if s is not None and _off(s.value):
            return False
    freeze = snap.maintenance.freeze_of(t.schema, t.name) if snap.maintenance is not None else None
    return freeze is None or not _off(freeze.option("autovacuum_enabled"))


def innodb_analyze_late(stats: InnodbTableStats, factor: float = ANALYZE_TRIGGER_FACTOR,
                        min_rows: int = ANALYZE_MIN_ROWS) -> tuple[int, float] | None:
    """MySQL/MariaDB: (rows modified since InnoDB computed its statistics, its 10 % recalculation point) when
    the modifications are past ``factor`` times that point and at least ``min_rows``; else None."""
    if stats.modified is None or stats.stats_rows is None:
        return None
    trigger = max(INNODB_RECALC_SHARE * stats.stats_rows, 1.0)
    if stats.modified < min_rows or stats.modified <= factor * trigger:
        return None
    return stats.modified, trigger
