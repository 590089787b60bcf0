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

# Note.area values of the maintenance parts
FREEZE_AREA = "freeze"  # PostgreSQL: XID and multixact ages of tables and databases, reloptions
TABLE_BLOAT_AREA = "table_bloat"  # PostgreSQL: the pg_stats-based heap size estimate
INDEX_BLOAT_AREA = "index_bloat"  # PostgreSQL: the pg_stats-based B-tree size estimate
INNODB_STATS_AREA = "innodb_stats"  # MySQL/MariaDB: InnoDB's statistics counters per table


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

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.table)


@dataclass(frozen=True)
class Maintenance:
    """Maintenance state of the audited tables. A None part was not readable (see the notes)."""

    freeze: tuple[TableFreeze, ...] | None = None  # PostgreSQL
    databases: tuple[DatabaseFreeze, ...] | None = None  # PostgreSQL
    table_bloat: tuple[TableBloat, ...] | None = None  # PostgreSQL
    index_bloat: tuple[IndexBloat, ...] | None = None  # PostgreSQL
    exact_bloat: str | None = None  # "pgstattuple" when its figures were read for the estimate's candidates
    innodb: tuple[InnodbTableStats, ...] | None = None  # MySQL/MariaDB

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
