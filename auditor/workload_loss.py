"""Statements the workload source dropped: performance_schema's full digest table, pg_stat_statements' evictions.

Pure, over the snapshot (so a saved snapshot gives the same answer). The two sources lose statements differently,
and the quality metrics treat them differently:

- MySQL/MariaDB: ``events_statements_summary_by_digest`` holds ``performance_schema_digests_size`` rows; once
  full it takes no new digest and counts the executions of every statement it has no row for in one row with
  DIGEST NULL (``Performance_schema_digest_lost`` counts them too, since the server started; a TRUNCATE of the
  table does not clear it). What is missing is every statement first run after the table filled: the recent
  workload, whatever its weight. A P95 or an index coverage computed from what remains is not a measure of the
  workload, so while the table is full those metrics are "not measured" (DESIGN.md: what could not be read
  never becomes a pass). MySQL 8 and MariaDB 10.11 behave the same (measured on MariaDB 10.11: 30 distinct
  statements into a 20-row table leave 19 digests and the DIGEST NULL row, Performance_schema_digest_lost 21,
  unchanged by a TRUNCATE of the table).
- PostgreSQL: pg_stat_statements evicts the least-executed ~5 % of its entries each time it needs room
  (``pg_stat_statements_info.dealloc`` counts those times, 1.9+ / PostgreSQL 14+): what remains holds the
  statements that carry most of the calls, so the percentiles and the coverage stay measured; a note says
  rarely run statements may be missing.
"""

from __future__ import annotations

from auditor.model import Note, Snapshot

DIGESTS_ENABLE = (
    "raise performance_schema_digests_size in the server's option file (it takes a restart); emptying the table "
    "(TRUNCATE TABLE performance_schema.events_statements_summary_by_digest) makes room at once but deletes the "
    "recorded workload: a write the DBA may choose, dbaudit never does it; scan again once the workload has run")
PGSS_ENABLE = "raise pg_stat_statements.max (it takes a restart)"


def digests_full(snapshot: Snapshot) -> str | None:
    """MySQL/MariaDB: why the workload metrics are not measured when the digest table is full (or may be: it lost
    digests and whether it has room now was not read); None when the recorded workload is whole."""
    info = snapshot.workload
    if snapshot.engine != "mysql" or info is None or info.status != "ok" or not info.dealloc:
        return None
    if info.overflow_calls == 0:
        return None  # it lost digests once, but has room now (emptied since): the statements since are whole
    size = snapshot.settings.get("performance_schema_digests_size")
    at = f" at its {int(size):,} rows" if size and size.lstrip("-").isdigit() and int(size) > 0 else ""
    if info.overflow_calls is None:
        return (f"performance_schema lost {info.dealloc:,} statement executions "
                f"(Performance_schema_digest_lost): its digest table may be full{at}, recent statements missing")
    since = f" since {info.overflow_since:%Y-%m-%d %H:%M} UTC" if info.overflow_since else ""
    return (f"performance_schema's digest table is full{at}: {info.overflow_calls:,} executions{since} of "
            f"statements it has no row for were not recorded (the recent workload is missing)")


def statement_loss_notes(snapshot: Snapshot) -> tuple[Note, ...]:
    """A note when the workload source dropped statements, with the figures and what to do."""
    info = snapshot.workload
    if info is None or info.status != "ok" or not info.dealloc:
        return ()
    if snapshot.engine == "mysql":
        full = digests_full(snapshot)
        if full is not None:
            return (Note(area="workload", enable=DIGESTS_ENABLE, message=(
                f"{full}; Performance_schema_digest_lost = {info.dealloc:,} since the server started. The P50-P99 "
                "latency and the workload index coverage are not measured, and WL01-WL04 judge only the "
                "statements the table kept")),)
        size = snapshot.settings.get("performance_schema_digests_size")
        return (Note(area="workload", enable=DIGESTS_ENABLE, message=(
            f"performance_schema lost {info.dealloc:,} statement executions since the server started "
            f"(Performance_schema_digest_lost): its digest table (performance_schema_digests_size = "
            f"{size or 'unknown'}) was full once; it has room now (it was emptied since), so the workload "
            "figures cover the statements recorded since, but it will fill again")),)
    since = f" since {info.stats_reset:%Y-%m-%d %H:%M} UTC" if info.stats_reset else ""
    size = snapshot.settings.get("pg_stat_statements.max")
    return (Note(area="workload", enable=PGSS_ENABLE, message=(
        f"pg_stat_statements evicted entries {info.dealloc:,} times{since} (pg_stat_statements_info.dealloc; "
        f"pg_stat_statements.max = {size or 'unknown'}): each time it drops its least-executed statements, so "
        "rarely run statements may be missing. The P50-P99 latency and the index coverage are computed over the "
        "statements kept, which hold most of the calls: still meaningful, but not the whole workload")),)
