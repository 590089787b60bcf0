"""`make bench`: the run history at a year of nightly runs of a 2,000-table database.

A snapshot of a 2,000-table database (primary keys, a secondary index and a foreign key per table, table and
index counters, 300 pg_stat_statements entries) is generated in memory; each day its tables grow and its
counters advance. The store is filled with 365 daily runs (recorded as a scan records them, the retention then
rolling the runs past 35 days up daily, as nightly scans leave it), then the 366th night is measured:

* without history: the whole pipeline (checks, scoring, the report) and the text and HTML reports;
* with history: the same, plus reading the previous runs' facts, the comparison, recording the run (and the
  retention) and the history sections of the reports.

Each figure is the best of a few runs on a copy of the 365-run store (the machine is shared). Prints the SQLite
store's size per run. Exit status 1 when the run with history takes 2x the run without or more.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from auditor.audit import AuditSettings, run_audit  # noqa: E402
from auditor.history import compare_runs, open_store  # noqa: E402
from auditor.history.model import HistoryOptions  # noqa: E402
from auditor.history.record import (  # noqa: E402
    IndexCounters,
    RunRecord,
    StatementCounters,
    TableCounters,
    run_record,
    statement_fingerprint,
)
from auditor.model import (  # noqa: E402
    Column,
    Constraint,
    Index,
    IndexKey,
    Snapshot,
    Statement,
    Table,
    TableStats,
    UserCounters,
    WorkloadInfo,
)
from reports import render  # noqa: E402

START = datetime(2025, 11, 28, 2, 30, tzinfo=UTC)
DSN = "postgresql://dbaudit@db.internal:5432/shop"


def snapshot(n_tables: int, day: int, n_statements: int = 300) -> Snapshot:
    """The database on ``day``: table i holds 1,000 * (i % 50 + 1) rows plus as many per day, read every day."""
    tables: list[Table] = []
    indexes: list[Index] = []
    constraints: list[Constraint] = []
    for i in range(1, n_tables + 1):
        name = f"t{i:05d}"
        rows = 1_000 * (i % 50 + 1) * (day + 1)
        cols = (Column("id", "integer", nullable=False, position=1), Column("name", "text", position=2),
                Column("created_at", "timestamp with time zone", position=3),
                Column("parent_id", "integer", position=4))
        tables.append(Table("public", name, estimated_rows=rows, total_bytes=rows * 120 + 16_384,
                            table_bytes=rows * 100, index_bytes=rows * 20, columns=cols,
                            stats=TableStats(seq_scan=day * (i % 3), idx_scan=day * 40 + i, n_live_tup=rows,
                                             n_dead_tup=rows // 50, n_tup_ins=rows)))
        pkey = f"{name}_pkey"
        indexes.append(Index("public", name, pkey, keys=(IndexKey(column="id"),), is_unique=True, is_primary=True,
                             constraint=pkey, constraint_type="primary_key", size_bytes=rows * 12 + 8192,
                             scans=day * 40 + i, definition=f"CREATE UNIQUE INDEX {pkey} ON public.{name} (id)"))
        constraints.append(Constraint("public", name, pkey, "primary_key", columns=("id",), index=pkey))
        # every tenth table's created_at index is never used: IX01 material
        used = day * 5 if i % 10 else 0
        indexes.append(Index("public", name, f"{name}_created_idx", keys=(IndexKey(column="created_at"),),
                             size_bytes=rows * 8 + 8192, scans=used,
                             definition=f"CREATE INDEX {name}_created_idx ON public.{name} (created_at)"))
        if i > 1:
            constraints.append(Constraint("public", name, f"{name}_parent_fkey", "foreign_key",
                                          columns=("parent_id",), ref_schema="public", ref_table=f"t{i - 1:05d}",
                                          ref_columns=("id",), on_delete="no action", on_update="no action",
                                          match_type="simple"))
    statements = []
    for k in range(n_statements):
        calls = (k + 1) * 100 * (day + 1)
        mean = 0.5 + (k % 20)
        text = f"SELECT id, name FROM public.t{k % n_tables + 1:05d} WHERE id = $1 AND name <> 'x{k}'"
        statements.append(Statement(
            queryid=str(10_000 + k), query=text, calls=calls, total_ms=calls * mean, mean_ms=mean,
            stddev_ms=mean / 3, min_ms=mean / 4, max_ms=mean * 8, rows=calls, users={"app": calls},
            by_user=(UserCounters("app", calls, calls * mean, calls * ((mean / 3) ** 2 + mean**2), calls),)))
    when = START + timedelta(days=day)
    return Snapshot(engine="postgresql", server_version="16.4", server_version_num=160004, database="shop",
                    dsn=DSN, collected_at=when, stats_reset=START - timedelta(days=400),
                    server_started=START - timedelta(days=400), schemas=("public",), tables=tuple(tables),
                    indexes=tuple(indexes), constraints=tuple(constraints), statements=tuple(statements),
                    workload=WorkloadInfo(stats_reset=START - timedelta(days=400), dealloc=0,
                                          statements_total=n_statements))


def day_record(base: RunRecord, n_tables: int, day: int, n_statements: int = 300) -> RunRecord:
    """The run of ``day`` as a scan of :func:`snapshot` records it, built from the counters directly (a snapshot
    and its checks per day would make filling a year take many minutes): the findings are the base run's."""
    tables, indexes = [], []
    for i in range(1, n_tables + 1):
        name = f"t{i:05d}"
        rows = 1_000 * (i % 50 + 1) * (day + 1)
        tables.append(TableCounters("public", name, rows, rows * 120 + 16_384, day * (i % 3), day * 40 + i,
                                    rows // 50, rows, None, None))
        indexes.append(IndexCounters("public", name, f"{name}_pkey", day * 40 + i, rows * 12 + 8192))
        indexes.append(IndexCounters("public", name, f"{name}_created_idx", day * 5 if i % 10 else 0,
                                     rows * 8 + 8192))
    statements = []
    for k in range(n_statements):
        calls = (k + 1) * 100 * (day + 1)
        mean = 0.5 + (k % 20)
        text = f"SELECT id, name FROM public.t{k % n_tables + 1:05d} WHERE id = $1 AND name <> 'x{k}'"
        statements.append(StatementCounters(statement_fingerprint(text, "postgresql"), "shop", "app", True, text,
                                            calls, calls * mean, calls * ((mean / 3) ** 2 + mean**2), mean / 4,
                                            mean * 8, calls))
    when = START + timedelta(days=day)
    return dataclasses.replace(base, started_at=when, collected_at=when, tables=tuple(tables),
                               indexes=tuple(indexes), statements=tuple(statements),
                               db_bytes=sum(t.bytes or 0 for t in tables))


def fill(store_path: str, n_tables: int, days: int) -> float:
    """``days`` daily runs recorded as a scan records them (counters, interval figures, findings), the retention
    applied at the end; returns the seconds it took."""
    t0 = time.perf_counter()
    base_report = run_audit(snapshot(n_tables, 0), AuditSettings())  # findings barely move from night to night
    base = run_record(base_report)
    prev = None
    with open_store(store_path) as store:
        for day in range(days):
            cur = day_record(base, n_tables, day)
            _, recorded = compare_runs(prev, cur, store_path, 0, base_report.checks_run, HistoryOptions())
            run_id = store.save_run(recorded)
            prev = dataclasses.replace(recorded, id=run_id)
        store.prune(35, now=START + timedelta(days=days))
    return time.perf_counter() - t0


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dbaudit-bench-history-"))
    try:
        store = str(work / "history.db")
        filled = fill(store, args.tables, args.days)
        size = Path(store).stat().st_size + sum(p.stat().st_size for p in work.glob("history.db-*"))
        with open_store(store) as s:
            runs = len(s.runs())
        tonight = snapshot(args.tables, args.days)

        def without() -> None:
            report = run_audit(tonight, AuditSettings())
            render(report, "text")
            render(report, "html")

        def with_history() -> None:
            copy = str(work / "trial.db")
            shutil.copyfile(store, copy)
            report = run_audit(tonight, AuditSettings(history=copy))
            assert report.history is not None and report.history.previous_run is not None
            render(report, "text")
            render(report, "html")

        plain = best(without, args.repeat)
        copy_cost = best(lambda: shutil.copyfile(store, str(work / "trial.db")), args.repeat)
        recorded = max(0.0, best(with_history, args.repeat) - copy_cost)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = recorded / plain if plain else float("inf")
    print(tabulate([
        ("runs in the store (365 nightly, rolled up past 35 days)", f"{runs}"),
        ("filling the store", f"{filled:.1f} s"),
        ("SQLite store size", f"{size / 1e6:.1f} MB ({size / max(runs, 1) / 1e3:.0f} kB per run)"),
        ("scan + text + HTML report, without history", f"{plain:.2f} s"),
        ("the same with history (facts, comparison, recording, sections)", f"{recorded:.2f} s"),
        ("ratio (must stay under 2)", f"{ratio:.2f}x"),
    ], headers=(f"run history, {args.tables} tables", "")))
    return 0 if ratio < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
