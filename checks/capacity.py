"""Capacity: tables whose size or shape will hurt as they grow (TOAST-heavy rows, unpartitioned giants)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from auditor.engine import check
from auditor.model import Column, Hit, ObjectRef, Severity, Snapshot, Table
from auditor.sqlquote import ident, mysql_qualified, pg_ident, pg_qualified
from checks._posture import BOTH, size

GIB = 1024**3

# column types whose values PostgreSQL moves out of line (TOAST) when a row grows past ~2 kB
_TOASTABLE = re.compile(r"^(text|bytea|jsonb?|xml|character varying(?!\(\d{1,3}\))|tsvector)\b|\[\]$")


def _rows(t: Table) -> int:
    return max(0, t.estimated_rows or 0)


# ------------------------------------------------------------------------------------------------------------
# CP01 toast-heavy-table
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToastHeavyOptions:
    min_toast_ratio: float = 4.0  # TOAST at least this many times the table's own heap
    min_toast_bytes: int = GIB  # and at least this large


@check(code="CP01", name="toast-heavy-table", severity=Severity.INFO, engines=("postgresql",),
       options=ToastHeavyOptions, reads=("tables", "columns"),
       not_applicable={"mysql": "InnoDB keeps large values off-page inside the table's own tablespace: "
                                "DATA_LENGTH counts them"})
def toast_heavy_table(snap: Snapshot, opts: ToastHeavyOptions) -> Iterator[Hit]:
    """A table whose out-of-line (TOAST) data is many times its own heap, and large.

    ## What it does
    Compares each table's TOAST relation with its heap: flags TOAST at least `min_toast_ratio` times the heap
    and at least `min_toast_bytes`, naming the columns that can hold large values (text, bytea, json/jsonb,
    xml, arrays), the one holding the bytes first: for the 20 tables with the most TOAST, dbaudit samples about
    256 heap pages and averages each such column's stored size (`pg_column_size`, read from the TOAST pointer,
    never the value); pg_stats' `avg_width` cannot tell, it counts an out-of-line value as its 18-byte pointer.
    The fix names that column. Small TOAST, whatever the ratio, is not a finding. The sample reads table data:
    under `--no-sample` the columns are listed unsized, in table order, and a note names the tables.

    ## Why is this bad?
    Large values live in a second relation: reading a row means extra index lookups into the TOAST table and
    decompression; every update of such a value writes a whole new copy (no HOT for it), so the TOAST table
    bloats and vacuum works on gigabytes the heap statistics do not show. It is also where a table's growth
    hides: `pg_relation_size` of the table looks small.

    ## Example
    A `documents` table of 2 GB whose `body jsonb` column holds 40 GB of TOAST.

    ## Fix
    Keep the large values only where they are read: move them to a side table (one row per document), keep
    them in object storage with a reference, or compress them better:
    ```sql
    ALTER TABLE public.documents ALTER COLUMN body SET COMPRESSION lz4;  -- PostgreSQL 14+, new values
    ```

    ## Options
    - `min_toast_ratio` (default 4) and `min_toast_bytes` (default 1 GiB): dbaudit's own defaults; pg-extras'
      `table_size` / `total_table_size` and PgHero's space page list the same figures, without a threshold.

    ## Known problems
    Sizes come from `relpages` (read without locking each relation, unlike `pg_relation_size`): a heap's as of
    its last VACUUM or ANALYZE, but a TOAST table's as of its last VACUUM only, since ANALYZE does not visit
    TOAST. A table bulk-loaded and only analyzed shows no TOAST until (auto)vacuum runs on it. A TOAST-heavy
    design can be right (a document store): ignore the finding with a reason.

    ## References
    - https://www.postgresql.org/docs/current/storage-toast.html
    - pg-extras (`table_size`, `total_table_size`), PgHero (space)
    """
    for t in snap.tables:
        if t.kind not in ("table", "materialized_view") or t.toast_bytes is None:
            continue
        toast, heap = t.toast_bytes, max(t.table_bytes or 0, 8192)
        if toast < opts.min_toast_bytes or toast < opts.min_toast_ratio * heap:
            continue
        wide = [c.name for c in t.columns if _TOASTABLE.search(c.data_type.lower())]
        measured = snap.maintenance.toast_columns_of(t.schema, t.name) if snap.maintenance else []
        if measured:  # the column holding the bytes first, by its sampled stored size (rt10b)
            order = {c.column: i for i, c in enumerate(measured)}
            wide.sort(key=lambda name: order.get(name, len(order)))
            sizes = {c.column: c.avg_bytes for c in measured}
            shown = ", ".join(f"{n} ({size(sizes[n])} a row)" if n in sizes else n for n in wide[:5])
            what = "columns by the stored size of a sample of rows"
        else:
            shown = ", ".join(wide[:5]) if wide else "?"
            what = "columns that can hold such values (sizes not sampled)"
        first = wide[0] if wide else "<large column>"
        yield Hit(
            object=ObjectRef(type="table", schema=t.schema, table=t.name),
            message=f"{t.qualified} keeps {size(toast)} out of line (TOAST), {toast / heap:.0f} times its "
                    f"{size(t.table_bytes)} heap; {what}: {shown}",
            details={"toast_bytes": toast, "table_bytes": t.table_bytes, "ratio": round(toast / heap, 1),
                     "toastable_columns": wide,
                     "column_avg_bytes": {c.column: round(c.avg_bytes) for c in measured} or None},
            remediation=f"-- move the large values to a side table or object storage, or compress them:\n"
                        f"ALTER TABLE {pg_qualified(t.schema, t.name)} ALTER COLUMN {pg_ident(first)} "
                        "SET COMPRESSION lz4;  -- PostgreSQL 14+, applies to values written from now on",
        )


# ------------------------------------------------------------------------------------------------------------
# CP02 partition-candidate
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionCandidateOptions:
    min_rows: int = 100_000_000  # the design brief's 100 M-row rule
    min_total_gb: float = 0.0  # also flag by size (table + indexes + TOAST), 0: rows only
    tenant_columns: tuple[str, ...] = ("tenant_id", "account_id", "organization_id", "org_id", "customer_id",
                                       "company_id", "workspace_id", "client_id", "shop_id", "store_id")


_TIME_TYPES = re.compile(r"^(timestamp|date|datetime)\b")
_TIME_NAMES = re.compile(r"(_at|_on|_date|_time|_ts|^created|^updated|^occurred|^logged|^event_time|^day)$")


def _time_column(t: Table) -> Column | None:
    typed = [c for c in t.columns if _TIME_TYPES.match(c.data_type.lower())]
    named = [c for c in typed if _TIME_NAMES.search(c.name.lower())]
    # a creation time is the usual range key: it never changes once written
    created = [c for c in named if c.name.lower().startswith("created")]
    for pool in (created, named, typed):
        not_null = [c for c in pool if not c.nullable]
        if not_null or pool:
            return (not_null or pool)[0]
    return None


def _tenant_column(t: Table, names: tuple[str, ...]) -> Column | None:
    wanted = {n.lower() for n in names}
    return next((c for c in t.columns if c.name.lower() in wanted), None)


@check(code="CP02", name="partition-candidate", severity=Severity.INFO, engines=BOTH,
       options=PartitionCandidateOptions, reads=("tables", "columns"))
def partition_candidate(snap: Snapshot, opts: PartitionCandidateOptions) -> Iterator[Hit]:
    """An unpartitioned table past 100 M rows (or a size) with a time or tenant column to partition by.

    ## What it does
    Flags ordinary tables with at least `min_rows` estimated rows (or, when `min_total_gb` is set, that large
    with their indexes and TOAST) that are not partitioned and have a column to partition by: a time column
    (timestamp/date, preferring a NOT NULL creation time) for range partitions, or a tenant column
    (`tenant_columns`) for list or hash partitions. Partitioned tables, their partitions and inheritance trees
    are not judged; a big table without such a column is not either (no key to propose).

    ## Why is this bad?
    At this size every maintenance operation is a whole-table operation: a VACUUM or an index build runs for
    hours, deleting old rows means millions of dead tuples instead of dropping a partition, and indexes no
    longer fit in memory. Partitioning by time makes retention a `DROP`/`DETACH` and keeps the hot part small.

    ## Example
    `events` with 400 M rows and `created_at timestamptz NOT NULL`, purged by `DELETE ... WHERE created_at <
    now() - interval '90 days'` every night.

    ## Fix
    PostgreSQL cannot partition a table in place: create a partitioned table and move the rows in batches (or
    attach the old table as the first partition); MySQL/MariaDB rebuild the table with
    `ALTER TABLE ... PARTITION BY RANGE COLUMNS (...)` (`RANGE (UNIX_TIMESTAMP(...))` for a TIMESTAMP column).
    The partition key must be part of every unique key: the printed statement widens the primary key and the
    unique keys to include it, and drops the foreign keys to and from the table first (InnoDB partitioned
    tables have none).
    ```sql
    CREATE TABLE public.events_new (LIKE public.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
        PARTITION BY RANGE (created_at);
    ```

    ## Options
    - `min_rows` (default 100,000,000): the design brief's 100 M-row rule, the size from which partitioning is
      usually worth its cost (the PostgreSQL manual: when a table is larger than the server's memory).
    - `min_total_gb` (default 0, off): flag by size as well.
    - `tenant_columns`: the names taken for a tenant key.

    ## Known problems
    Row counts are the planner's estimates (`reltuples`, `TABLE_ROWS`). Whether queries filter on the key is
    not checked: partitions help only the queries that name it.

    ## References
    - https://www.postgresql.org/docs/current/ddl-partitioning.html
    - https://dev.mysql.com/doc/refman/8.0/en/partitioning.html
    """
    for t in snap.tables:
        if t.kind != "table" or t.is_partition or t.parent or t.partitioned:
            continue
        rows = _rows(t)
        big_by_rows = rows >= opts.min_rows
        big_by_size = opts.min_total_gb > 0 and (t.total_bytes or 0) >= opts.min_total_gb * GIB
        # the lookup of children last: most tables are small (thousands of them on a large database)
        if not big_by_rows and not big_by_size or snap.children_of(t):
            continue
        time_col = _time_column(t)
        tenant = _tenant_column(t, opts.tenant_columns)
        if time_col is None and tenant is None:
            continue
        key = time_col or tenant
        assert key is not None
        how = "RANGE" if time_col is not None else "LIST"
        by = f"{key.name} ({key.data_type})" + (f", or by tenant {tenant.name}" if time_col and tenant else "")
        yield Hit(
            object=ObjectRef(type="table", schema=t.schema, table=t.name),
            message=f"{t.qualified} is not partitioned with about {rows:,} rows ({size(t.total_bytes)}); it could "
                    f"be partitioned by {how.lower()} on {by}",
            details={"estimated_rows": rows, "total_bytes": t.total_bytes, "partition_key": key.name,
                     "method": how.lower(), "time_column": time_col.name if time_col else None,
                     "tenant_column": tenant.name if tenant else None},
            remediation=_partition_sketch(snap, t, key, how),
        )


def _mysql_partition_sketch(snap: Snapshot, t: Table, key: Column, how: str) -> str:
    """ALTER TABLE ... PARTITION BY that runs: the partition key joins the primary key and every unique key
    (error 1503 otherwise), and foreign keys go first (InnoDB partitioned tables have none, error 1506)."""
    q = ident("mysql", key.name)
    lines = ["-- rebuilds the table (plan a maintenance window or an online schema change tool)"]
    fks = [c for c in snap.foreign_keys()
           if (c.schema, c.table) == (t.schema, t.name) or (c.ref_schema, c.ref_table) == (t.schema, t.name)]
    if fks:
        lines.append("-- partitioned InnoDB tables can have no foreign keys, to or from them: these go first "
                     "(the application then keeps the references)")
        lines += [f"ALTER TABLE {mysql_qualified(c.schema, c.table)} DROP FOREIGN KEY {ident('mysql', c.name)};"
                  for c in fks]
    changes = []
    for c in snap.constraints_of(t.schema, t.name):
        if c.type not in ("primary_key", "unique") or key.name in c.columns:
            continue
        cols = ", ".join(ident("mysql", n) for n in (*c.columns, key.name))
        if c.type == "primary_key":
            changes.append(f"DROP PRIMARY KEY, ADD PRIMARY KEY ({cols})")
        else:
            name = ident("mysql", c.name)
            changes.append(f"DROP INDEX {name}, ADD UNIQUE KEY {name} ({cols})")
    if changes:
        lines.append(f"-- the partition key must be in every unique key: they widen to include {key.name} (a "
                     "unique key then holds per partition key value only)")
    timestamp = key.data_type.lower().startswith("timestamp")
    if how == "RANGE" and timestamp:  # RANGE COLUMNS takes no TIMESTAMP: its UNIX_TIMESTAMP() instead
        clause = f"RANGE (UNIX_TIMESTAMP({q}))"
        bounds = ("LESS THAN (UNIX_TIMESTAMP('2026-01-01 00:00:00')),\n    PARTITION p_max VALUES LESS THAN "
                  "(MAXVALUE)")
    elif how == "RANGE":
        clause = f"RANGE COLUMNS ({q})"
        bounds = "LESS THAN ('2026-01-01'),\n    PARTITION p_max VALUES LESS THAN (MAXVALUE)"
    else:
        clause = f"LIST COLUMNS ({q})"
        bounds = "IN (...)  -- one partition per tenant or group of tenants"
    head = f"ALTER TABLE {mysql_qualified(t.schema, t.name)}" + ("".join(f"\n    {c}," for c in changes)
                                                                  ).rstrip(",")
    lines.append(f"{head}\n    PARTITION BY {clause} (\n    PARTITION p_first VALUES {bounds}\n);")
    return "\n".join(lines)


def _partition_sketch(snap: Snapshot, t: Table, key: Column, how: str) -> str:
    if snap.engine == "mysql":
        return _mysql_partition_sketch(snap, t, key, how)
    new = pg_qualified(t.schema, t.name + "_partitioned")
    return (f"-- PostgreSQL cannot partition in place: build a partitioned copy, then move the rows in batches\n"
            f"CREATE TABLE {new} (LIKE {pg_qualified(t.schema, t.name)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            f"\n    PARTITION BY {how} ({pg_ident(key.name)});")
