"""The PostgreSQL data-sampling probe behind the normalization checks (NF02-NF04).

``sample_tables(conn, tables, budget)`` reads a bounded sample of each table and returns a
:class:`~auditor.model.Sampling` for the snapshot; ``probe(conn, tables, options)`` is the connector's entry
point. Bounds: rows per table, a statement_timeout per statement (``SET LOCAL`` inside the statement's own
short transaction, so a slow table is rolled back and skipped and its lock ends with its statement), a total
time budget, a maximum number of tables, and size/width limits; a table that is not sampled is kept with its
``skipped_reason``. A statement that an application's lock request waits for is cancelled at once, and the
table is read no further (yielding, :mod:`auditor.connectors.yielding`).

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

Two more statements per table, for NF03/NF04 (each under the same per-table timeout, in its own savepoint):

- per foreign key, the sampled rows joined to the rows it references, counting per pair of same-family
  columns the rows where ``child::text = parent::text`` (copies through foreign keys; counts only);
- for a table larger than the row budget, a whole-group sample: the rows whose candidate determinant (foreign
  keys, prefixes of composite keys, codes seen fewer than three times per value in the uniform sample) hashes
  into the first slices of the hash space, ``hashtextextended(det::text, 7) & (2^20 - 1) < k``, so that every
  chosen value comes with all its rows; one scan, LIMIT the row budget, hashes only. A table estimated above
  ``group_scan_max_rows`` is not scanned: each candidate that leads a valid, non-partial btree index is read
  through it (``det = ANY (ARRAY(SELECT det FROM t TABLESAMPLE SYSTEM (p) ... LIMIT m))``), one statement each.

The probe sends one round trip for privileges, then one per sampled table, foreign key and group sample (two
when one fails): it is a bounded probe, outside the fixed catalog query count, and reports its own count in
``Sampling.queries``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql as pgsql

from auditor import progress
from auditor.connectors import CollectOptions
from auditor.connectors.yielding import LockYield, Yielded, first_line
from auditor.model import (
    ColumnSample,
    Constraint,
    ForeignKeyJoin,
    GroupSample,
    Index,
    ParentMatch,
    Sampling,
    Table,
    TableSample,
)
from auditor.sample_analysis import group_candidates, group_sample, profiled_column
from auditor.sampling import (
    GROUP_SEED,
    HASH_SLICES,
    MIN_TABLE_SECONDS,
    SamplingBudget,
    copy_pairs,
    group_threshold,
    over_limits,
    past_the_limit,
    sampling_choice,
    sampling_off,
    skipped_table,
)
from auditor.textfmt import elapsed_ms
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
    started: float = field(default_factory=time.perf_counter)
    by_key: dict[tuple[str, str], Table] = field(default_factory=dict)
    indexed: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # leading columns of usable indexes
    constraints: dict[tuple[str, str], list[Constraint]] = field(default_factory=dict)
    yielder: LockYield[Any] | None = None
    yielded: dict[tuple[str, str], str] = field(default_factory=dict)  # table -> why it is read no further

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

    def remaining(self) -> float:
        return self.budget.budget_s - (time.perf_counter() - self.started)

    def watching(self, table: Table) -> AbstractContextManager[Yielded]:
        if self.yielder is None:
            return nullcontext(Yielded())
        conn = self.conn
        return self.yielder.watching(conn.info.backend_pid, table.schema, table.name,
                                     lambda _watcher: conn.cancel_safe(timeout=2.0))

    def bounded(self, table: Table, select: pgsql.Composable, timeout_ms: int) -> list[tuple[Any, ...]]:
        """One statement of the probe on ``table`` under its own timeout, watched for lock waiters; its rows.

        Outside a caller's transaction (the connector's autocommit session) the statement runs in a
        transaction of its own, so the lock it takes ends with it; inside one, under a savepoint (SET LOCAL is
        then kept by RELEASE: :func:`sample_tables` restores the caller's statement_timeout at the end). A
        failure raises :class:`_Failed` with the reason; once a statement on a table has yielded to a waiting
        session, no further statement touches that table.
        """
        if table.key in self.yielded:
            raise _Failed(self.yielded[table.key])
        begin, end, undo = (("BEGIN READ ONLY", "COMMIT", ("ROLLBACK",)) if self.own_transaction else
                            ("SAVEPOINT dbaudit_sample", "RELEASE SAVEPOINT dbaudit_sample",
                             ("ROLLBACK TO SAVEPOINT dbaudit_sample", "RELEASE SAVEPOINT dbaudit_sample")))
        yielded = Yielded()
        try:
            with self.watching(table) as yielded:
                return self.run(begin, pgsql.SQL("SET LOCAL statement_timeout = {}").format(pgsql.Literal(timeout_ms)),
                                select, end)
        except psycopg.Error as exc:
            if self.conn.closed or self.conn.broken:
                raise
            self.run(*undo)
            if yielded.waiter is not None:
                self.yielded[table.key] = yielded.reason()
                raise _Failed(yielded.reason()) from None
            raise _Failed(_failure_reason(exc, timeout_ms)) from None


class _Failed(Exception):
    """A probe statement failed or yielded; ``reason`` says why, for the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sample_tables(conn: psycopg.Connection[Any], tables: Iterable[Table],
                  budget: SamplingBudget | None = None, constraints: Iterable[Constraint] = (),
                  indexes: Iterable[Index] = (), yielder: LockYield[Any] | None = None) -> Sampling:
    """Sample the given snapshot tables on ``conn`` (read-only; inside or outside a transaction).

    With the snapshot's ``constraints``, each sampled table's rows are also joined to the rows their foreign
    keys reference (see :func:`_fk_joins`). With a ``yielder``, a statement that another session's lock
    request waits for is cancelled (see :mod:`auditor.connectors.yielding`)."""
    budget = budget or SamplingBudget()
    tables = list(tables)
    probe = _Probe(conn, budget, yielder=yielder)
    probe.by_key = {t.key: t for t in tables}
    for c in constraints:
        probe.constraints.setdefault((c.schema, c.table), []).append(c)
    for ix in indexes:
        lead = ix.columns[0] if ix.columns else None
        if lead is not None and ix.is_valid and ix.predicate is None and ix.method == "btree":
            probe.indexed.setdefault((ix.schema, ix.table), set()).add(lead)
    if conn.info.server_version < 110000:
        # hashtextextended came with PostgreSQL 11; 32 bits are enough for equality within one sample
        probe.hash_fn = "hashtext({}::text)"
    candidates = sorted((t for t in tables if t.kind in SAMPLED_KINDS and not t.is_partition),
                        key=lambda t: (t.schema, t.name))
    results: list[TableSample] = []
    # Outside a transaction (the connector's autocommit session) each statement runs in a transaction of its
    # own (_Probe.bounded), so the AccessShareLock it takes ends with it: an application's DDL on a table read
    # earlier never queues behind the rest of the sampling. Inside a caller's transaction, savepoints.
    probe.own_transaction = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if not probe.own_transaction:
        probe.original_timeout = str(probe.run("SHOW statement_timeout")[0][0])
    chosen = sampling_choice(candidates, budget.max_tables)
    # privileges of the tables that will be sampled only: the rest are skipped by the limit anyway
    readable = _readable_columns(probe, [t for t in candidates if t.key in chosen])
    for i, table in enumerate(candidates):
        progress.report("sampling", f"{table.schema}.{table.name}", i + 1, len(candidates))
        if table.key not in chosen:
            results.append(skipped_table(table, past_the_limit(budget.max_tables)))
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


def _method(table: Table, budget: SamplingBudget, n: int) -> tuple[str, float | None]:
    est = table.estimated_rows
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
    n = budget.rows_for(len(exprs))
    method, percent = _method(table, budget, n)
    sample_clause: pgsql.Composable = pgsql.SQL("")
    if method != "full":
        sample_clause = pgsql.SQL(" TABLESAMPLE {} ({}) REPEATABLE ({})").format(
            pgsql.SQL(method.upper()), pgsql.Literal(percent), pgsql.Literal(_SEED))
    timeout_ms = max(100, int(min(budget.table_timeout_s, remaining) * 1000))
    # the alias is a second mark, inside the statement: it survives where a comment is dropped
    select = pgsql.SQL("SELECT {}, 1 AS {} FROM {}{} LIMIT {}").format(
        pgsql.SQL(", ").join(exprs), pgsql.Identifier(PROBE_ALIAS), pgsql.Identifier(table.schema, table.name),
        sample_clause, pgsql.Literal(n))
    t0 = time.perf_counter()
    try:
        rows = probe.bounded(table, select, timeout_ms)
    except _Failed as failed:
        return skipped_table(table, failed.reason)
    samples = _column_samples(rows, columns, text_cols, budget)
    joins = _fk_joins(probe, table, readable, sample_clause) if rows else ()
    uniform = TableSample(schema=table.schema, table=table.name, rows=len(rows), method=method, percent=percent,
                          estimated_rows=table.estimated_rows, columns=samples, unsampled_columns=unsampled,
                          fk_joins=joins)
    candidates = group_candidates(table, uniform, probe.constraints.get(table.key, []), n)
    groups = _group_sample(probe, table, columns, candidates) if candidates else None
    return dataclasses.replace(uniform, duration_s=round(time.perf_counter() - t0, 4), groups=groups)


def _group_sample(probe: _Probe, table: Table, columns: list[Any],
                  candidates: list[tuple[str, ...]]) -> GroupSample:
    """Rows whose candidate determinant hashes into the first slices of the hash space: every row of each
    chosen value, so that dependencies are judged on whole groups.

    One statement, a scan of the table under the per-table timeout (``hashtextextended(det::text, seed) &
    (2^20 - 1) < k``, one flag per candidate); LIMIT the row budget (``rows_for``). Only hashes come back.
    """
    budget = probe.budget
    remaining = probe.remaining()
    if remaining < MIN_TABLE_SECONDS:
        return GroupSample(skipped_reason=budget.used_up())
    if (table.estimated_rows or 0) > budget.group_scan_max_rows:
        return _group_sample_by_index(probe, table, columns, candidates)
    limit = budget.rows_for(len(columns) + len(candidates))  # the client's work bounded as for the uniform sample
    k = group_threshold(table.estimated_rows, limit, len(candidates))
    ident = pgsql.Identifier

    def hashed(det: tuple[str, ...]) -> pgsql.Composable:
        inner = ident(det[0]) if len(det) == 1 else pgsql.SQL("ROW({})").format(
            pgsql.SQL(", ").join(ident(c) for c in det))
        nonnull = pgsql.SQL(" AND ").join(pgsql.SQL("{} IS NOT NULL").format(ident(c)) for c in det)
        return pgsql.SQL("({nonnull} AND (hashtextextended(({inner})::text, {seed}) & {mask}) < {k})").format(
            nonnull=nonnull, inner=inner, seed=pgsql.Literal(GROUP_SEED), mask=pgsql.Literal(HASH_SLICES - 1),
            k=pgsql.Literal(k))

    flags = [hashed(det) for det in candidates]
    exprs = [pgsql.SQL(probe.hash_fn).format(ident(c.name)) for c in columns]
    select = pgsql.SQL("SELECT {}, {}, 1 AS {} FROM {} WHERE {} LIMIT {}").format(
        pgsql.SQL(", ").join(exprs), pgsql.SQL(", ").join(flags), ident(PROBE_ALIAS),
        ident(table.schema, table.name), pgsql.SQL(" OR ").join(flags), pgsql.Literal(limit))
    timeout_ms = max(100, int(min(budget.table_timeout_s, remaining) * 1000))
    t0 = time.perf_counter()
    try:
        rows = probe.bounded(table, select, timeout_ms)
    except _Failed as failed:
        return GroupSample(skipped_reason=failed.reason)
    n = len(columns)
    return group_sample([(c.name, c.data_type) for c in columns], [[r[i] for r in rows] for i in range(n)],
                        [(det, [r[n + j] for r in rows]) for j, det in enumerate(candidates)],
                        time.perf_counter() - t0)


def _group_sample_by_index(probe: _Probe, table: Table, columns: list[Any],
                           candidates: list[tuple[str, ...]]) -> GroupSample:
    """The whole-group sample of a table too large to scan: for each single-column candidate that leads a
    valid, non-partial index, about ``rows_per_table / candidates / 3`` of its values drawn with
    ``TABLESAMPLE SYSTEM`` and every row of them read through the index (``= ANY (ARRAY(...))``), one bounded
    statement per candidate. Candidates without such an index are left out."""
    budget = probe.budget
    est = max(int(table.estimated_rows or 0), 1)
    usable = [det for det in candidates if len(det) == 1 and det[0] in probe.indexed.get(table.key, set())]
    if not usable:
        return GroupSample(skipped_reason=f"{est} rows, more than {budget.group_scan_max_rows} for a whole-group "
                                          "scan, and no index leads with a candidate determinant")
    ident = pgsql.Identifier
    per = max(1, budget.rows_for(len(columns)) // len(usable))
    values = max(1, per // 3)
    percent = min(100.0, max(1e-4, round(100.0 * values * 4 / est, 6)))
    exprs = [pgsql.SQL(probe.hash_fn).format(ident(c.name)) for c in columns]
    hashes: list[list[Any]] = [[] for _ in columns]
    flags: list[list[bool]] = [[] for _ in usable]
    t0 = time.perf_counter()
    for j, det in enumerate(usable):
        remaining = probe.remaining()
        if remaining < MIN_TABLE_SECONDS:
            break
        d = ident(det[0])
        select = pgsql.SQL(
            "SELECT {exprs}, 1 AS {mark} FROM {t} WHERE {d} = ANY (ARRAY(SELECT {d} FROM {t} TABLESAMPLE SYSTEM "
            "({p}) REPEATABLE ({seed}) WHERE {d} IS NOT NULL LIMIT {m})) LIMIT {n}").format(
            exprs=pgsql.SQL(", ").join(exprs), mark=ident(PROBE_ALIAS), t=ident(table.schema, table.name), d=d,
            p=pgsql.Literal(percent), seed=pgsql.Literal(GROUP_SEED), m=pgsql.Literal(values),
            n=pgsql.Literal(per))
        timeout_ms = max(100, int(min(budget.table_timeout_s, remaining) * 1000))
        try:
            rows = probe.bounded(table, select, timeout_ms)
        except _Failed:
            if table.key in probe.yielded:
                break
            continue
        for i in range(len(columns)):
            hashes[i].extend(r[i] for r in rows)
        for jj in range(len(usable)):
            flags[jj].extend([jj == j] * len(rows))
    if not hashes or not hashes[0]:
        return GroupSample(skipped_reason="the whole-group sample through the indexes read no row")
    g = group_sample([(c.name, c.data_type) for c in columns], hashes, list(zip(usable, flags, strict=True)),
                     time.perf_counter() - t0)
    return dataclasses.replace(g, method="index")


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
        return f"sampling took longer than {elapsed_ms(timeout_ms)}"
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return "no SELECT privilege on the table"
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return "the table was locked (lock_timeout)"
    first = first_line(exc)
    return f"sampling failed: {first}"


def probe(conn: psycopg.Connection[Any], tables: Iterable[Table], options: CollectOptions,
          constraints: Iterable[Constraint] = (), indexes: Iterable[Index] = (),
          yielder: LockYield[Any] | None = None) -> Sampling:
    """The connector's entry point: sample the tables, or record that sampling is off."""
    budget = SamplingBudget.from_options(options)
    if not (options.sample and options.normalization_sample):
        return sampling_off(budget)
    return sample_tables(conn, tables, budget, constraints, indexes, yielder)


def _fk_joins(probe: _Probe, table: Table, readable: set[str],
              sample_clause: pgsql.Composable) -> tuple[ForeignKeyJoin, ...]:
    """Join a sample of the table's rows (drawn like the main sample) to the rows each foreign key references
    and count, per pair of same-family columns, the rows where child and parent agree.

    One statement per foreign key, on its own (:meth:`_Probe.bounded`) under the per-table timeout; only counts
    come back.
    The comparison is ``child::text = parent::text`` on the server: no value crosses the wire.
    """
    out: list[ForeignKeyJoin] = []
    keys = {c for k in probe.constraints.get(table.key, []) if k.type in ("primary_key", "unique")
            for c in k.columns}
    for fk in probe.constraints.get(table.key, []):
        if fk.type != "foreign_key" or not fk.columns or len(fk.columns) != len(fk.ref_columns):
            continue
        parent = probe.by_key.get((fk.ref_schema or table.schema, fk.ref_table or ""))
        if parent is None or not all(c in readable for c in fk.columns):
            continue
        pairs = [(k, p) for k, p in copy_pairs(table, parent, fk, sampled_type, keys) if k in readable]
        if not pairs:
            continue
        remaining = probe.remaining()
        if remaining < MIN_TABLE_SECONDS:
            out.append(ForeignKeyJoin(constraint=fk.name, columns=fk.columns, ref_schema=parent.schema,
                                      ref_table=parent.name, skipped_reason=probe.budget.used_up()))
            continue
        out.append(_fk_join(probe, table, parent, fk, pairs, sample_clause, remaining))
    return tuple(out)


def _fk_join(probe: _Probe, table: Table, parent: Table, fk: Constraint, pairs: list[tuple[str, str]],
             sample_clause: pgsql.Composable, remaining: float) -> ForeignKeyJoin:
    budget = probe.budget
    ident = pgsql.Identifier
    child_cols = list(dict.fromkeys([*fk.columns, *(k for k, _ in pairs)]))
    on = pgsql.SQL(" AND ").join(pgsql.SQL("p.{} = c.{}").format(ident(r), ident(f))
                                 for f, r in zip(fk.columns, fk.ref_columns, strict=True))
    parent_key = pgsql.SQL(", ").join(pgsql.SQL("p.{}").format(ident(r)) for r in fk.ref_columns)
    if len(fk.ref_columns) > 1:
        parent_key = pgsql.SQL("({})").format(parent_key)
    aggs: list[pgsql.Composable] = [pgsql.SQL("count(*)"), pgsql.SQL("count(DISTINCT {})").format(parent_key)]
    for k, p in pairs:
        aggs.append(pgsql.SQL("count(*) FILTER (WHERE c.{k} IS NOT NULL OR p.{p} IS NOT NULL)").format(
            k=ident(k), p=ident(p)))
        aggs.append(pgsql.SQL("count(*) FILTER (WHERE c.{k}::text = p.{p}::text)").format(k=ident(k), p=ident(p)))
    select = pgsql.SQL("SELECT {aggs}, 1 AS {mark} FROM (SELECT {cols} FROM {child}{clause} LIMIT {n}) AS c"
                       " JOIN {parent} AS p ON {on}").format(
        aggs=pgsql.SQL(", ").join(aggs), mark=ident(PROBE_ALIAS),
        cols=pgsql.SQL(", ").join(ident(c) for c in child_cols), child=ident(table.schema, table.name),
        clause=sample_clause, n=pgsql.Literal(budget.rows_per_table), parent=ident(parent.schema, parent.name),
        on=on)
    timeout_ms = max(100, int(min(budget.table_timeout_s, remaining) * 1000))
    base = ForeignKeyJoin(constraint=fk.name, columns=fk.columns, ref_schema=parent.schema, ref_table=parent.name)
    try:
        rows = probe.bounded(table, select, timeout_ms)
    except _Failed as failed:
        return dataclasses.replace(base, skipped_reason=failed.reason)
    row = rows[0]
    matches = tuple(ParentMatch(column=k, parent_column=p, compared=int(row[2 + 2 * i]), equal=int(row[3 + 2 * i]))
                    for i, (k, p) in enumerate(pairs))
    return dataclasses.replace(base, rows=int(row[0]), parents=int(row[1]), matches=matches)
