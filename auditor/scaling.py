"""Scaling figures of the design document: the fastest-growing tables (when a run history gives growth) and the
partitioning candidates with a partition key to start from. Pure functions over the report's snapshot and its
history; the reporters only render them.

Partitioning thresholds: the PostgreSQL manual's rule of thumb is to partition a table once it would otherwise
be larger than the server's memory ("Table Partitioning", 5.12.1); dbaudit cannot see the machine's memory, so
it uses fixed marks instead: 100 M estimated rows (auditor.design.PARTITION_ROWS) or 100 GB, or a table that
its recorded growth takes past either within a year (100 GB from the last interval's growth, the rows threshold
from CP03 growth-projection's least squares over the stored runs). A time column is the usual key (old
partitions are then detached and dropped instead of deleted row by row, the main win); without one, a hash of
the key spreads writes but prunes only on that key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from auditor import design
from auditor.model import Snapshot, Table

PARTITION_BYTES = 100 * 1024**3
HORIZON_DAYS = 365
MIN_PROJECTION_S = 6 * 3600  # growth per day is projected from an interval of six hours or more
FASTEST = 10
_TIME_TYPES = ("timestamp", "date")
_TIME_NAMES = re.compile(r"(created|inserted|occurred|logged|recorded|event|updated)?_?(at|on|time|date|ts)$|"
                         r"^(created|ts|time|date|day)$")


@dataclass(frozen=True)
class Growth:
    table: str  # "schema.table"
    bytes_now: int | None
    rows_now: int | None
    bytes_delta: int
    rows_delta: int | None
    per_day: float | None  # bytes; None when the interval is too short to project from
    days_to_double: float | None


@dataclass(frozen=True)
class Candidate:
    table: Table
    rows: int | None
    total_bytes: int | None
    reason: str  # why it is a candidate
    key: str  # the suggested partitioning, as a clause with a comment


def interval_s(history: Any) -> float | None:
    value = getattr(history, "interval_s", None)
    return float(value) if isinstance(value, int | float) and value > 0 else None


def growth(history: Any, limit: int = FASTEST) -> list[Growth]:
    """The fastest-growing tables from a run history (``report.history``), read defensively: any object with
    ``interval_s`` and ``tables`` holding ``schema``, ``table``, ``bytes``, ``bytes_delta``, ``rows``,
    ``rows_delta`` and ``growth_bytes_per_day``; nothing when the history is absent or has no previous run.
    Per-day figures only from an interval of at least ``MIN_PROJECTION_S``: two runs minutes apart say what
    grew, not how fast it grows."""
    project = (interval_s(history) or 0) >= MIN_PROJECTION_S
    out: list[Growth] = []
    for t in getattr(history, "tables", None) or ():
        delta = getattr(t, "bytes_delta", None)
        if not isinstance(delta, int) or delta <= 0:
            continue
        size = getattr(t, "bytes", None)
        per_day = getattr(t, "growth_bytes_per_day", None)
        per_day = float(per_day) if project and isinstance(per_day, int | float) and per_day > 0 else None
        out.append(Growth(
            table=f"{getattr(t, 'schema', '?')}.{getattr(t, 'table', '?')}",
            bytes_now=size if isinstance(size, int) else None,
            rows_now=getattr(t, "rows", None),
            bytes_delta=delta,
            rows_delta=getattr(t, "rows_delta", None),
            per_day=per_day,
            days_to_double=size / per_day if per_day and isinstance(size, int) and size > 0 else None,
        ))
    out.sort(key=lambda g: (-(g.per_day or 0), -g.bytes_delta, g.table))
    return out[:limit]


def partition_key(snap: Snapshot, t: Table) -> str:
    """A partitioning clause to start from: a time column by month, else a hash of the primary key."""
    times = [c for c in t.columns if c.data_type.lower().startswith(_TIME_TYPES)]
    times.sort(key=lambda c: (c.nullable, not _TIME_NAMES.search(c.name.lower()), c.position))
    mysql = snap.engine == "mysql"
    caveat = ("; every unique key must include it, and InnoDB refuses foreign keys on partitioned tables" if mysql
              else "; the primary key must include it")
    if times:
        c = times[0]
        clause = f"PARTITION BY RANGE COLUMNS ({c.name})" if mysql else f"PARTITION BY RANGE ({c.name})"
        return (f"{clause}  -- monthly: old months detach and drop instead of DELETE{caveat}"
                + ("" if not c.nullable else f"; {c.name} allows NULL: make it NOT NULL first"))
    pk = next(iter(snap.constraints_of(t.schema, t.name, "primary_key")), None)
    if pk is not None and pk.columns:
        clause = "PARTITION BY KEY" if mysql else "PARTITION BY HASH"
        return f"{clause} ({', '.join(pk.columns)})  -- no time column: spreads writes, prunes by key only"
    return "-- no time column and no primary key: choose the key the queries filter on"


def marks(cp02_options: Any = None) -> tuple[int, int]:
    """The rows and bytes marks: 100 M rows and 100 GB, or CP02's (partition-candidate) configured `min_rows`
    and `min_total_gb` (when set above 0), so that the document and the check agree on what is big."""
    rows = getattr(cp02_options, "min_rows", None)
    gb = getattr(cp02_options, "min_total_gb", None)
    return (int(rows) if isinstance(rows, int | float) else design.PARTITION_ROWS,
            int(gb * 1024**3) if isinstance(gb, int | float) and gb > 0 else PARTITION_BYTES)


def projected_crossings(findings: Iterable[Any]) -> dict[str, tuple[float, float | None]]:
    """``"schema.table"`` -> (days, rows a day) for each table CP03 growth-projection projects across its
    partitioning threshold (``details.days_to_partition_rows``, least squares over the stored runs)."""
    out: dict[str, tuple[float, float | None]] = {}
    for f in findings:
        if getattr(f, "code", None) != "CP03" or getattr(getattr(f, "object", None), "type", None) != "table":
            continue
        details = getattr(f, "details", None) or {}
        days = details.get("days_to_partition_rows")
        if isinstance(days, int | float) and days >= 0:
            rate = details.get("growth_rows_per_day_30d")
            out[f"{f.object.schema}.{f.object.table}"] = (float(days),
                                                          float(rate) if isinstance(rate, int | float) else None)
    return out


def candidates(snap: Snapshot, history: Any = None, findings: Iterable[Any] = (),
               cp02_options: Any = None) -> list[Candidate]:
    """Unpartitioned tables past 100 M rows or 100 GB (or CP02's configured marks), or that their recorded
    growth takes past the bytes mark within a year, or that CP03 (in ``findings``) projects past its
    partitioning threshold within a year; the primary key of a partitioned PostgreSQL table must include the
    partition key."""
    min_rows, min_bytes = marks(cp02_options)
    grow = {g.table: g for g in growth(history, limit=10_000)}
    crossing = projected_crossings(findings)
    out: list[Candidate] = []
    for key, size in design.table_sizes(snap).items():
        t = size.table
        if t.kind == "partitioned" or size.partitions:
            continue
        rows, total = size.rows, size.total_bytes
        reasons = []
        if rows is not None and rows >= min_rows:
            reasons.append(f"{rows:,} rows")
        if total is not None and total >= min_bytes:
            reasons.append(f"{total / 1024**3:,.1f} GB")
        g = grow.get(f"{key[0]}.{key[1]}")
        if not reasons and g is not None and g.per_day is not None and total is not None \
                and total + g.per_day * HORIZON_DAYS >= min_bytes:
            reasons.append(f"growing {g.per_day / 1024**3:,.2f} GB a day: {min_bytes / 1024**3:,.0f} GB within "
                           "a year")
        projected = crossing.get(f"{key[0]}.{key[1]}")
        if not reasons and projected is not None and projected[0] <= HORIZON_DAYS:
            days, per_day = projected
            rate = f", {per_day:,.0f} rows a day" if per_day is not None else ""
            reasons.append(f"CP03 projects the partitioning threshold in {days:,.0f} days{rate}")
        if reasons:
            out.append(Candidate(t, rows, total, ", ".join(reasons), partition_key(snap, t)))
    out.sort(key=lambda c: (-(c.total_bytes or 0), -(c.rows or 0), c.table.schema, c.table.name))
    return out
