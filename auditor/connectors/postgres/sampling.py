"""The PostgreSQL data-sampling probe behind the normalization checks (NF02-NF04).

``sample_tables(conn, tables, budget)`` reads a bounded sample of each table and returns a
:class:`~auditor.model.Sampling` for the snapshot; ``probe(conn, tables, options)`` is the connector's entry
point. Bounds: rows per table, a statement_timeout per table (``SET LOCAL`` inside the table's own short
transaction, so a slow table is rolled back and skipped and its lock ends with its SELECT), a total time
budget, a maximum number of tables, and size/width limits; a table that is not sampled is kept with its
``skipped_reason``. A sample that an application's lock request waits for is cancelled at once (yielding,
:mod:`auditor.connectors.yielding`).

How rows are chosen, by the table's estimated row count E and the row budget N:

- E unknown or at most ``full_read_rows``: ``SELECT ... LIMIT N`` (the whole table when it is small);
- E up to ``bernoulli_max_rows``: ``TABLESAMPLE BERNOULLI (p) REPEATABLE (0)``, row-level and unbiased;
- larger: ``TABLESAMPLE SYSTEM (p) REPEATABLE (0)``, block-level, reading only ~p % of the pages. Rows of one
  page come together, so values clustered by insertion order are over-represented; that can only make a
  determinant look more repeated, never make a dependency hold that the rows do not have.

What crosses the wire: every sampled column as ``hashtextextended(col::text, 0)`` (a 64-bit hash computed by
the server), turned into dense codes on arrival (see :mod:`auditor.sampling`). Text columns are also fetched,
cut to ``profile_chars`` characters, only to compute their delimited-list profile in memory; the text is then
dropped and never stored, unless ``show_samples`` keeps a few examples. Columns whose types have no useful
equality for normalization (bytea, json, jsonb, xml, arrays, tsvector, geometric types) are not read at all.

The probe sends one round trip for privileges, then one per sampled table (two when a table fails): it is a
bounded probe, outside the fixed catalog query count, and reports its own count in ``Sampling.queries``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql as pgsql

from auditor.connectors import CollectOptions
from auditor.connectors.yielding import LockYield, Yielded
from auditor.model import ColumnSample, Sampling, Table, TableSample
from auditor.sampling import SamplingBudget, over_limits, profiled_column, skipped_table
from auditor.workload import DBAUDIT_MARKER, PROBE_ALIAS

SAMPLED_KINDS = ("table", "partitioned")
_SKIP_TYPES = ("bytea", "json", "jsonb", "xml", "tsvector", "tsquery", "point", "line", "lseg", "box", "path",
               "polygon", "circle", "geometry", "geography", "raster", "oidvector", "int2vector")
_TEXT_TYPES = ("text", "character varying", "varchar", "character", "char", "bpchar", "citext", "name")
_SEED = 0  # REPEATABLE seed: the same data gives the same sample, so scans are reproducible


def sampled_type(data_type: str) -> bool:
    t = data_type.lower().strip()
    if t.endswith("]"):
        return False
    base = t.split("(", 1)[0].strip()
    return base not in _SKIP_TYPES


def is_text_type(data_type: str) -> bool:
    base = data_type.lower().split("(", 1)[0].strip()
    return base in _TEXT_TYPES


@dataclass
class _Probe:
    conn: psycopg.Connection[Any]
    budget: SamplingBudget
    queries: int = 0
    hash_fn: str = "hashtextextended({}::text, 0)"
    own_transaction: bool = False
    original_timeout: str = "0"
    yielder: LockYield[Any] | None = None
    started: float = field(default_factory=time.perf_counter)

    def run(self, *statements: str | pgsql.Composable,
            params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """One round trip of one or more statements; rows of the last result that has any.

        Every statement starts and ends with the marker: pg_stat_statements records each statement of a
        multi-statement string on its own (15-17: the text from just after the previous semicolon; 18: from
        its first token, dropping a leading comment), so a marker only at the start of the string would leave
        the sampling SELECTs unmarked in the audited workload. The one before each semicolon is kept by all.
        """
        self.queries += 1
        rows: list[tuple[Any, ...]] = []
        before, after = pgsql.SQL(DBAUDIT_MARKER + " "), pgsql.SQL("\n" + DBAUDIT_MARKER)
        text = pgsql.SQL(";\n").join(before + (pgsql.SQL(s) if isinstance(s, str) else s) + after
                                      for s in statements)
        with self.conn.cursor() as cur:
            cur.execute(text, params)
            while True:
                if cur.description is not None:
                    rows = cur.fetchall()
                if not cur.nextset():
                    break
        return rows

    def watching(self, table: Table) -> AbstractContextManager[Yielded]:
        if self.yielder is None:
            return nullcontext(Yielded())
        conn = self.conn
        return self.yielder.watching(conn.info.backend_pid, table.schema, table.name,
                                     lambda _watcher: conn.cancel_safe(timeout=2.0))

    def remaining(self) -> float:
        return self.budget.budget_s - (time.perf_counter() - self.started)


def sample_tables(conn: psycopg.Connection[Any], tables: Iterable[Table],
                  budget: SamplingBudget | None = None, yielder: LockYield[Any] | None = None) -> Sampling:
    """Sample the given snapshot tables on ``conn`` (read-only; inside or outside a transaction).

    With a ``yielder``, a sample that another session's lock request waits for is cancelled (see
    :mod:`auditor.connectors.yielding`)."""
    budget = budget or SamplingBudget()
    probe = _Probe(conn, budget, yielder=yielder)
    if conn.info.server_version < 110000:
        # hashtextextended came with PostgreSQL 11; 32 bits are enough for equality within one sample
        probe.hash_fn = "hashtext({}::text)"
    candidates = sorted((t for t in tables if t.kind in SAMPLED_KINDS and not t.is_partition),
                        key=lambda t: (t.schema, t.name))
    results: list[TableSample] = []
    # Outside a transaction (the connector's autocommit session) each table is read in a transaction of its
    # own, so the AccessShareLock its SELECT takes ends with that SELECT: an application's DDL on a table
    # sampled earlier never queues behind the rest of the sampling. Inside a caller's transaction the tables
    # are read under savepoints, and their locks are the caller's to end.
    probe.own_transaction = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if not probe.own_transaction:
        probe.original_timeout = str(probe.run("SHOW statement_timeout")[0][0])
    readable = _readable_columns(probe, candidates)
    for i, table in enumerate(candidates):
        if i >= budget.max_tables:
            results.append(skipped_table(table, f"past the limit of {budget.max_tables} sampled tables"))
            continue
        results.append(_sample_one(probe, table, readable.get(table.key)))
    if not probe.own_transaction:
        probe.run(pgsql.SQL("SET LOCAL statement_timeout = {}").format(pgsql.Literal(probe.original_timeout)))
    return Sampling(
        enabled=True,
        show_samples=budget.show_samples,
        rows_per_table=budget.rows_per_table,
        budget_s=budget.budget_s,
        duration_s=round(time.perf_counter() - probe.started, 4),
        queries=probe.queries,
        tables=tuple(results),
    )


def sampling_off(budget: SamplingBudget | None = None) -> Sampling:
    """What the snapshot records under ``--no-sample``: the checks then say how to turn sampling on."""
    budget = budget or SamplingBudget()
    return Sampling(enabled=False, show_samples=False, rows_per_table=budget.rows_per_table, budget_s=0.0)


def _readable_columns(probe: _Probe, tables: list[Table]) -> dict[tuple[str, str], set[str]]:
    """Columns the role may SELECT, per table: one round trip for every table."""
    if not tables:
        return {}
    rows = probe.run(
        "SELECT n.nspname, c.relname,"
        " array_agg(a.attname::text ORDER BY a.attnum)"
        "   FILTER (WHERE has_column_privilege(c.oid, a.attnum, 'SELECT'))"
        " FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " JOIN unnest(%s::text[], %s::text[]) AS want(schema_name, table_name)"
        "   ON want.schema_name = n.nspname AND want.table_name = c.relname"
        " GROUP BY n.nspname, c.relname",
        params=([t.schema for t in tables], [t.name for t in tables]),
    )
    return {(r[0], r[1]): set(r[2] or ()) for r in rows}


def _method(table: Table, budget: SamplingBudget) -> tuple[str, float | None]:
    est = table.estimated_rows
    n = budget.rows_per_table
    if est is None or est <= max(budget.full_read_rows, n):
        return "full", None
    # 10 % more than needed, so that LIMIT trims little and the sample stays spread over the table
    percent = min(100.0, round(100.0 * n * 1.1 / est, 6))
    return ("bernoulli" if est <= budget.bernoulli_max_rows else "system"), max(percent, 1e-6)


def _sample_one(probe: _Probe, table: Table, readable: set[str] | None) -> TableSample:
    budget = probe.budget
    if readable is None:
        return skipped_table(table, "table not found when sampling (dropped during the scan?)")
    if not readable:
        return skipped_table(table, "no SELECT privilege on the table")
    remaining = probe.remaining()
    too_much = over_limits(table, budget, remaining)
    if too_much is not None:
        return too_much

    columns = [c for c in table.columns if c.name in readable and sampled_type(c.data_type)]
    unsampled = tuple(c.name for c in table.columns if c not in columns)
    if not columns:
        return TableSample(schema=table.schema, table=table.name, estimated_rows=table.estimated_rows,
                           unsampled_columns=unsampled, skipped_reason="no column of a sampled type")
    text_cols = [c for c in columns if is_text_type(c.data_type)]
    exprs: list[pgsql.Composable] = [
        pgsql.SQL(probe.hash_fn).format(pgsql.Identifier(c.name)) for c in columns
    ]
    exprs += [
        pgsql.SQL("left({}::text, {})").format(pgsql.Identifier(c.name), pgsql.Literal(budget.profile_chars))
        for c in text_cols
    ]
    method, percent = _method(table, budget)
    sample_clause: pgsql.Composable = pgsql.SQL("")
    if method != "full":
        sample_clause = pgsql.SQL(" TABLESAMPLE {} ({}) REPEATABLE ({})").format(
            pgsql.SQL(method.upper()), pgsql.Literal(percent), pgsql.Literal(_SEED))
    timeout_ms = max(100, int(min(budget.table_timeout_s, remaining) * 1000))
    # the alias is a second mark, inside the statement: it survives where a comment is dropped
    select = pgsql.SQL("SELECT {}, 1 AS {} FROM {}{} LIMIT {}").format(
        pgsql.SQL(", ").join(exprs), pgsql.Identifier(PROBE_ALIAS), pgsql.Identifier(table.schema, table.name),
        sample_clause, pgsql.Literal(budget.rows_per_table))
    t0 = time.perf_counter()
    begin, end, undo = (("BEGIN READ ONLY", "COMMIT", ("ROLLBACK",)) if probe.own_transaction else
                        ("SAVEPOINT dbaudit_sample", "RELEASE SAVEPOINT dbaudit_sample",
                         ("ROLLBACK TO SAVEPOINT dbaudit_sample", "RELEASE SAVEPOINT dbaudit_sample")))
    try:
        # SET LOCAL ends with its transaction; under a savepoint RELEASE keeps it, so sample_tables restores
        # the caller's statement_timeout after the last table
        with probe.watching(table) as yielded:
            rows = probe.run(begin, pgsql.SQL("SET LOCAL statement_timeout = {}").format(pgsql.Literal(timeout_ms)),
                             select, end)
    except psycopg.Error as exc:
        if probe.conn.closed or probe.conn.broken:
            raise
        probe.run(*undo)
        why = yielded.reason() if yielded.waiter is not None else _failure_reason(exc, timeout_ms)
        return skipped_table(table, why)
    samples = _column_samples(rows, columns, text_cols, budget)
    return TableSample(
        schema=table.schema,
        table=table.name,
        rows=len(rows),
        method=method,
        percent=percent,
        estimated_rows=table.estimated_rows,
        duration_s=round(time.perf_counter() - t0, 4),
        columns=samples,
        unsampled_columns=unsampled,
    )


def _column_samples(rows: list[tuple[Any, ...]], columns: list[Any], text_cols: list[Any],
                    budget: SamplingBudget) -> tuple[ColumnSample, ...]:
    text_at = {c.name: len(columns) + i for i, c in enumerate(text_cols)}
    return tuple(
        profiled_column(c.name, c.data_type, [r[i] for r in rows],
                        [r[text_at[c.name]] for r in rows] if c.name in text_at else None, budget)
        for i, c in enumerate(columns)
    )


def _failure_reason(exc: psycopg.Error, timeout_ms: int) -> str:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return f"sampling took longer than {timeout_ms / 1000:g} s"
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return "no SELECT privilege on the table"
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return "the table was locked (lock_timeout)"
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"sampling failed: {first}"


def probe(conn: psycopg.Connection[Any], tables: Iterable[Table], options: CollectOptions,
          yielder: LockYield[Any] | None = None) -> Sampling:
    """The connector's entry point: sample the tables, or record that sampling is off."""
    budget = SamplingBudget.from_options(options)
    if not options.sample:
        return sampling_off(budget)
    return sample_tables(conn, tables, budget, yielder)
