"""Capacity from growth: how fast tables and the database grow across the stored runs (``--history``).

Family ``capacity`` (CP); this module holds the checks that need the run history.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditor.engine import Unmet, check
from auditor.history.trends import Growth, LinearFit
from auditor.model import Hit, ObjectRef, Severity, Snapshot

BOTH = {"postgresql", "mysql"}
# the stored runs must span at least this long for a rate: two runs minutes apart extrapolate noise
MIN_SPAN_DAYS = 1.0
ENABLE_HISTORY = "dbaudit scan DSN --history /var/lib/dbaudit/history.db, run daily (cron, systemd timer)"


def _needs_history(snap: Snapshot) -> Unmet | None:
    history = snap.run_history
    if history is None:
        return Unmet("growth needs the run history: the scan was not recorded (--history STORE)", ENABLE_HISTORY)
    if history.runs == 0:
        return Unmet("growth needs at least 2 recorded runs a day or more apart; this is the first: 1 more run "
                     "needed", ENABLE_HISTORY)
    times = history.times
    span = (times[-1] - times[0]).total_seconds() / 86_400 if times else 0.0
    if span < MIN_SPAN_DAYS:
        hours = span * 24
        return Unmet(f"growth needs recorded runs spanning at least {MIN_SPAN_DAYS:g} day; the "
                     f"{history.runs + 1} runs span {hours:.1f} hours: 1 more run needed, a day after the first",
                     ENABLE_HISTORY)
    return None


_needs_history.__name__ = "requires_run_history"


@dataclass(frozen=True)
class GrowthProjectionOptions:
    """Options of growth-projection.

    horizon_days: report a table or the database when a projected date falls within this many days.
    warn_days: within this many days the finding is a warning, else info.
    factor: the growth multiple projected (the seed's "plan for 10x growth").
    partition_rows: the partitioning threshold in rows (CP02's and the design document's 100 M).
    min_bytes: tables (and a database) smaller than this today are not projected (10x of less is not a capacity
    question).
    """

    horizon_days: float = 365.0
    warn_days: float = 90.0
    factor: float = 10.0
    partition_rows: int = 100_000_000
    min_bytes: int = 1_000_000_000


@check(code="CP03", name="growth-projection", severity=Severity.INFO, engines=BOTH,
       options=GrowthProjectionOptions, requires=(_needs_history,), category="capacity")
def growth_projection(snap: Snapshot, opts: GrowthProjectionOptions) -> Iterator[Hit]:
    """Table or database projected to reach 10x its size, or the partitioning threshold, within the horizon.

    ## What it does
    With run history (`dbaudit scan --history STORE`, daily), fits the growth of each table's size and rows, and
    of the database's size, by least squares over the stored runs of the last 7 and of the last 30 days (not
    from two points, so one odd run moves the rate little). From the 30-day rate it projects the date the size
    reaches `factor` (10) times today's and the date an unpartitioned table crosses `partition_rows` (100 M),
    and reports those falling within `horizon_days` (365): as a warning within `warn_days` (90), else as info.
    The details carry both rates, the points and days they cover, and the projected dates. With fewer than two
    runs a day apart, the check is skipped and says how many more runs it needs.

    ## Why is this bad?
    Growth is what turns a healthy database into an outage: a table crossing 100 M rows wants partitioning
    before maintenance (VACUUM, index builds, backups) on it takes hours, and 10x today's size needs the disk,
    the memory and the maintenance windows planned months ahead, not found the night they run out.

    ## Example
    ```sql
    -- public.events: 40 GB, growing 1.2 GB/day over the last 30 days: 10x (400 GB) around day 300
    SELECT pg_size_pretty(pg_total_relation_size('public.events'));
    ```

    ## Fix
    Plan the capacity (disk, memory, backup windows) before the date, archive or delete what is no longer
    read, and partition the tables crossing the threshold (by time for append-mostly data):
    ```sql
    CREATE TABLE events_new (LIKE events INCLUDING ALL) PARTITION BY RANGE (created_at);
    ```

    ## Options
    - `horizon_days` (default 365): projected dates within this many days are reported.
    - `warn_days` (default 90): within this many days the finding is a warning.
    - `factor` (default 10): the growth multiple projected.
    - `partition_rows` (default 100000000): the partitioning threshold in rows.
    - `min_bytes` (default 1000000000): smaller tables, and a smaller database, are not projected.

    ## Known problems
    A linear fit: growth that accelerates is underestimated until the runs show it. Partitioned tables and their
    partitions are not projected one by one (the database's size includes them). Row counts are the
    planner's estimates, as fresh as the last ANALYZE.

    ## References
    - https://www.postgresql.org/docs/current/ddl-partitioning.html
    - https://github.com/postgres-ai/postgres-checkup (reports L001/L003: table sizes and growth)
    """
    history = snap.run_history
    now = snap.collected_at
    if history is None or now is None:
        return
    fits = (LinearFit(history.times, 7, now), LinearFit(history.times, 30, now))
    for table in snap.tables:
        if table.kind != "table" or table.is_partition or table.parent is not None:
            continue
        th = history.table(table.schema, table.name)
        if th is None or not th.bytes:
            continue
        if th.bytes[-1] is None or th.bytes[-1] < opts.min_bytes:
            continue
        hit = _projection(fits, th.bytes, th.rows, now, opts)
        if hit is None:
            continue
        message, details, days = hit
        yield Hit(object=ObjectRef(type="table", schema=table.schema, table=table.name),
                  message=f"{table.schema}.{table.name} {message}", details=details,
                  severity=Severity.WARNING if days <= opts.warn_days else None)
    db_now = history.database_bytes[-1] if history.database_bytes else None
    if db_now is not None and db_now >= opts.min_bytes:
        hit = _projection(fits, history.database_bytes, None, now, opts)
        if hit is not None:
            message, details, days = hit
            yield Hit(object=ObjectRef(type="database", database=snap.database),
                      message=f"database {snap.database} {message}", details=details,
                      severity=Severity.WARNING if days <= opts.warn_days else None)


def _projection(fits: tuple[LinearFit, LinearFit], sizes: Sequence[int | None],
                counts: Sequence[int | None] | None, now: datetime,
                opts: GrowthProjectionOptions) -> tuple[str, dict[str, object], float] | None:
    """The projection from the sizes (and row counts, for a table) aligned with the run history's times."""
    rows = counts is not None
    size_now = sizes[-1]
    rows_now = counts[-1] if counts else None
    week, month = fits
    bytes_30 = month.rate(sizes)
    if bytes_30 is None or bytes_30.days < MIN_SPAN_DAYS or size_now is None:
        return None
    bytes_7 = week.rate(sizes)
    rows_30 = month.rate(counts) if counts else None
    rows_7 = week.rate(counts) if counts else None
    projections: list[tuple[float, str]] = []
    if bytes_30.per_day > 0 and size_now > 0:
        days = (opts.factor - 1) * size_now / bytes_30.per_day
        projections.append((days, f"{opts.factor:g}x its size ({_size(size_now)} -> "
                                  f"{_size(size_now * opts.factor)}) around {_date(now, days)} (in {days:.0f} days)"))
    to_partition = None
    if rows and rows_now is not None and rows_30 is not None and rows_30.per_day > 0 \
            and rows_now < opts.partition_rows:
        to_partition = (opts.partition_rows - rows_now) / rows_30.per_day
        projections.append((to_partition, f"{opts.partition_rows:,} rows, the partitioning threshold, around "
                                          f"{_date(now, to_partition)} (in {to_partition:.0f} days)"))
    due = [p for p in projections if p[0] <= opts.horizon_days]
    if not due:
        return None
    soonest = min(d for d, _ in due)
    rate = f"grows {_size(bytes_30.per_day)}/day ({_fit(bytes_30)})"
    message = f"{rate}: " + "; ".join(text for _, text in sorted(due))
    details: dict[str, object] = {
        "bytes": size_now, "rows": rows_now,
        "growth_bytes_per_day_7d": _round(bytes_7), "growth_bytes_per_day_30d": _round(bytes_30),
        "growth_rows_per_day_7d": _round(rows_7), "growth_rows_per_day_30d": _round(rows_30),
        "runs_30d": bytes_30.points, "days_30d": round(bytes_30.days, 2),
        "days_to_factor": round(projections[0][0], 1) if bytes_30.per_day > 0 else None,
        "days_to_partition_rows": round(to_partition, 1) if to_partition is not None else None,
    }
    return message, details, soonest


def _round(growth: Growth | None) -> float | None:
    return round(growth.per_day, 1) if growth is not None else None


def _fit(growth: Growth) -> str:
    return f"least squares over {growth.points} runs in {growth.days:.0f} days"


def _date(now: datetime, days: float) -> str:
    return (now + timedelta(days=days)).date().isoformat()


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
