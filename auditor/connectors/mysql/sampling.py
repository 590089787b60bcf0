"""The MySQL / MariaDB data-sampling probe behind the normalization checks (NF02-NF04).

``probe(session, snapshot, options, flavor, vnum)`` reads a bounded sample of each base table and returns a
:class:`~auditor.model.Sampling`, in the same model the PostgreSQL probe fills (see :mod:`auditor.sampling`).

How rows are chosen, by the table's estimated row count E and the row budget N:

- E unknown or at most N, or no single integer primary key: the first N rows (``LIMIT N``; the whole table
  when it is small; method ``full`` or ``first_rows``);
- larger, with a single-column integer primary key: a primary-key-range sample (method ``pk_ranges``): the key's
  MIN and MAX (two index dives), then N rows in :data:`RANGES` chunks, one per equal stratum of the key span,
  each starting at a pseudo-random key inside its stratum (:func:`range_bounds`) and read in key order
  through the primary key. Rows of one chunk are neighbours, so values clustered by insertion order are
  over-represented; that can only make a determinant look more repeated. Random starts, not evenly spaced
  ones: on data periodic in the key (a value cycling every 400 ids), chunks a multiple of the period apart
  all see the same phase and show a dependency that every group of the table breaks.

Bounds: rows per table, a per-table time bound (``SET STATEMENT max_statement_time = s FOR`` on MariaDB, the
session's ``max_execution_time`` on MySQL), a total time budget, a maximum number of tables, width and size
limits; a table that is not sampled is kept with its ``skipped_reason``.

What crosses the wire: every sampled column as ``LEFT(MD5(col), 16)`` (64 bits of a hash the server computes),
turned into dense codes on arrival. Text columns are also fetched, cut to ``profile_chars`` characters, only to
compute their delimited-list profile in memory; the text is then dropped unless ``show_samples`` keeps a few
examples. BLOB, BINARY, JSON (on MariaDB, a LONGTEXT with a ``json_valid`` CHECK) and spatial columns are not
read. Every query carries the ``dbaudit_probe`` column alias, so that the workload probe recognises its digests
(performance_schema strips comments).
"""

from __future__ import annotations

import math
import random
import time
import zlib
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any, Protocol

import pymysql

from auditor import progress
from auditor.connectors import CollectOptions
from auditor.connectors.mysql.yielding import kill_query
from auditor.connectors.yielding import LockYield, Yielded
from auditor.model import (
    Column,
    ColumnSample,
    ForeignKeyJoin,
    GroupSample,
    ParentMatch,
    Sampling,
    Snapshot,
    Table,
    TableSample,
)
from auditor.mysql_workload import PROBE_ALIAS
from auditor.sample_analysis import group_candidates, group_sample, profiled_column
from auditor.sampling import (
    GROUP_SEED,
    HASH_SLICES,
    MIN_TABLE_SECONDS,
    SamplingBudget,
    copy_pairs,
    group_threshold,
    json_document_columns,
    over_limits,
    past_the_limit,
    sampling_choice,
    sampling_off,
    skipped_table,
)
from auditor.sqlquote import mysql_ident, mysql_qualified
from auditor.textfmt import elapsed

RANGES = 10
_SKIP_TYPES = ("tinyblob", "blob", "mediumblob", "longblob", "binary", "varbinary", "json", "geometry", "point",
               "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection",
               "bit", "vector")
_TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")
_INT_TYPES = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint")


class Session(Protocol):
    queries: int
    conn: Any  # the PyMySQL connection: its thread id is what a yield cancels

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def run(self, sql: str) -> None: ...


def _base(data_type: str) -> str:
    return data_type.lower().split("(", 1)[0].split()[0] if data_type.strip() else ""


def sampled_type(data_type: str) -> bool:
    return _base(data_type) not in _SKIP_TYPES


def is_text_type(data_type: str) -> bool:
    return _base(data_type) in _TEXT_TYPES


def probe(session: Session, snapshot: Snapshot, options: CollectOptions, flavor: str, vnum: int,
          yielder: LockYield[Any] | None = None) -> Sampling:
    """The connector's entry point: sample the snapshot's tables, or record that sampling is off."""
    budget = SamplingBudget.from_options(options)
    if not (options.sample and options.normalization_sample):
        return sampling_off(budget)
    return sample_tables(session, snapshot, budget, flavor, vnum, options.statement_timeout_ms, yielder)


def sample_tables(session: Session, snapshot: Snapshot, budget: SamplingBudget, flavor: str, vnum: int,
                  session_timeout_ms: int, yielder: LockYield[Any] | None = None) -> Sampling:
    """Sample each table; with a ``yielder``, a statement that another session's metadata lock request waits
    for is killed and the table read no further (:mod:`auditor.connectors.yielding`)."""
    started = time.perf_counter()
    sent_before = session.queries
    candidates = sorted((t for t in snapshot.tables if t.kind == "table"), key=lambda t: (t.schema, t.name))
    mysql_bound = flavor != "mariadb" and vnum >= 50708
    results: list[TableSample] = []
    try:
        chosen = sampling_choice(candidates, budget.max_tables)
        for i, table in enumerate(candidates):
            progress.report("sampling", f"{table.schema}.{table.name}", i + 1, len(candidates))
            if table.key not in chosen:
                results.append(skipped_table(table, past_the_limit(budget.max_tables)))
                continue
            remaining = budget.budget_s - (time.perf_counter() - started)
            results.append(_sample_one(session, snapshot, table, budget, remaining, flavor, mysql_bound, yielder))
    finally:
        if mysql_bound:
            session.run(f"SET SESSION max_execution_time = {int(session_timeout_ms)}")
    return Sampling(enabled=True, show_samples=budget.show_samples, rows_per_table=budget.rows_per_table,
                    budget_s=budget.budget_s, duration_s=round(time.perf_counter() - started, 4),
                    queries=session.queries - sent_before, tables=tuple(results))


def integer_pk(snapshot: Snapshot, table: Table) -> Column | None:
    """The single integer primary-key column a range sample walks, or None."""
    for ix in snapshot.indexes_of(table.schema, table.name):
        name = ix.columns[0] if ix.is_primary and len(ix.keys) == 1 else None
        if name is not None:
            col = table.column(name)
            if col is not None and _base(col.data_type) in _INT_TYPES:
                return col
    return None


def range_seed(table: Table) -> int:
    """The seed of a table's range starts: the same table gets the same sample on every scan."""
    return zlib.crc32(f"{table.schema}.{table.name}".encode())


def range_bounds(lo: int, hi: int, estimated_rows: int, per: int, seed: int) -> list[tuple[int, int]]:
    """[start, stop) key bounds of the :data:`RANGES` chunks of a primary-key-range sample over keys lo..hi.

    The span is cut into equal strata; each chunk starts at a pseudo-random key of its stratum, drawn so that
    its ``per`` rows (at the key density the row estimate gives) fit before the stratum ends, and stops there.
    Strata keep the chunks spread over the table and the cost at one index dive and ``per`` rows each; the
    random starts break the alignment with data periodic in the key.
    """
    span = hi - lo + 1
    step = span / RANGES
    density = min(1.0, max(estimated_rows, 1) / span)  # rows per key value
    room = max(0.0, step - per / density)  # where a chunk of ``per`` rows can start and still fit
    rng = random.Random(seed)
    bounds = []
    for i in range(RANGES):
        stop = lo + int((i + 1) * step) if i < RANGES - 1 else hi + 1
        bounds.append((min(lo + int(i * step + rng.random() * room), stop - 1), stop))
    return bounds


def _watched(session: Session, yielder: LockYield[Any] | None, table: Table) -> AbstractContextManager[Yielded]:
    """Watch the statements run inside for a session waiting behind their metadata lock on ``table``."""
    if yielder is None:
        return nullcontext(Yielded())
    own = session.conn.thread_id()
    return yielder.watching(own, table.schema, table.name, kill_query(own))


def _why(exc: pymysql.err.MySQLError, yielded: Yielded, timeout_s: float) -> str:
    return yielded.reason() if yielded.waiter is not None else _failure_reason(exc, timeout_s)


def _sample_one(session: Session, snapshot: Snapshot, table: Table, budget: SamplingBudget, remaining: float,
                flavor: str, mysql_bound: bool, yielder: LockYield[Any] | None = None) -> TableSample:
    started = time.perf_counter() - (budget.budget_s - remaining)  # when the whole probe started
    too_much = over_limits(table, budget, remaining)
    if too_much is not None:
        return too_much
    documents = json_document_columns(table, snapshot.constraints_of(table.schema, table.name))
    columns = [c for c in table.columns if sampled_type(c.data_type) and c.name not in documents]
    unsampled = tuple(c.name for c in table.columns if c not in columns)
    if not columns:
        return TableSample(schema=table.schema, table=table.name, estimated_rows=table.estimated_rows,
                           unsampled_columns=unsampled, skipped_reason="no column of a sampled type")
    text_cols = [c for c in columns if is_text_type(c.data_type)]
    exprs = [f"'{PROBE_ALIAS}' AS {PROBE_ALIAS}"]
    # aliases keep the result's column names distinct, whatever the table's column names are
    exprs += [f"LEFT(MD5({mysql_ident(c.name)}), 16) AS h{i}" for i, c in enumerate(columns)]
    exprs += [f"LEFT({mysql_ident(c.name)}, {budget.profile_chars}) AS t{i}" for i, c in enumerate(text_cols)]
    select_list = ", ".join(exprs)
    target = mysql_qualified(table.schema, table.name)
    n = budget.rows_for(len(exprs) - 1)  # the probe's own mark aside
    timeout_s = max(0.1, min(budget.table_timeout_s, remaining))
    pk = integer_pk(snapshot, table)
    est = table.estimated_rows
    t0 = time.perf_counter()
    yielded = Yielded()
    try:
        with _watched(session, yielder, table) as yielded:
            if mysql_bound:
                session.run(f"SET SESSION max_execution_time = {int(timeout_s * 1000)}")
            if pk is None or est is None or est <= n:
                method = "full" if est is not None and est <= n else "first_rows"
                sql = f"SELECT {select_list} FROM {target} LIMIT {n}"
            else:
                method = "pk_ranges"
                key = mysql_ident(pk.name)
                bounds = session.rows(_bounded(
                    f"SELECT '{PROBE_ALIAS}' AS {PROBE_ALIAS}, MIN({key}) AS lo, MAX({key}) AS hi FROM {target}",
                    flavor, timeout_s))
                lo, hi = bounds[0]["lo"], bounds[0]["hi"]
                if lo is None:
                    sql = f"SELECT {select_list} FROM {target} LIMIT {n}"
                else:
                    per = max(1, n // RANGES)
                    arms = [f"(SELECT {select_list} FROM {target} WHERE {key} >= {start} AND {key} < {stop} "
                            f"ORDER BY {key} LIMIT {per})"
                            for start, stop in range_bounds(int(lo), int(hi), est, per, range_seed(table))]
                    sql = " UNION ALL ".join(arms)
            rows = session.rows(_bounded(sql, flavor, timeout_s))
    except pymysql.err.MySQLError as exc:
        if not _recoverable(exc):
            raise
        return skipped_table(table, _why(exc, yielded, timeout_s))
    samples = _column_samples(rows, columns, text_cols, budget)
    joins = _fk_joins(session, snapshot, table, budget, started, flavor, mysql_bound, yielder) if rows else ()
    uniform = TableSample(schema=table.schema, table=table.name, rows=len(rows), method=method,
                          estimated_rows=est, columns=samples, unsampled_columns=unsampled, fk_joins=joins)
    candidates = group_candidates(table, uniform, snapshot.constraints_of(table.schema, table.name), n)
    if any((j.skipped_reason or "").startswith("yielded") for j in joins):
        candidates = []  # a session waits for the table: read it no further
    groups = _group_sample(session, table, columns, candidates, budget, started, flavor, mysql_bound, yielder) \
        if candidates else None
    return replace(uniform, duration_s=round(time.perf_counter() - t0, 4), groups=groups)


def _group_sample(session: Session, table: Table, columns: list[Column], candidates: list[tuple[str, ...]],
                  budget: SamplingBudget, started: float, flavor: str, mysql_bound: bool,
                  yielder: LockYield[Any] | None = None) -> GroupSample:
    """Rows whose candidate determinant hashes into the first slices of the hash space (``CRC32(det) &
    (2^20 - 1) < k``, one flag per candidate): every row of each chosen value. One scan of the table under
    the per-table time bound, LIMIT the row budget (``rows_for``); only hashes come back."""
    remaining = budget.budget_s - (time.perf_counter() - started)
    if remaining < MIN_TABLE_SECONDS:
        return GroupSample(skipped_reason=budget.used_up())
    timeout_s = max(0.1, min(budget.table_timeout_s, remaining))
    limit = budget.rows_for(len(columns) + len(candidates))  # the client's work bounded as for the uniform sample
    k = group_threshold(table.estimated_rows, limit, len(candidates))

    def flag(det: tuple[str, ...]) -> str:
        nonnull = " AND ".join(f"{mysql_ident(c)} IS NOT NULL" for c in det)
        key = mysql_ident(det[0]) if len(det) == 1 else \
            f"CONCAT_WS(CHAR(31), {', '.join(mysql_ident(c) for c in det)})"
        return f"({nonnull} AND (CRC32(CONCAT({key}, '#{GROUP_SEED}')) & {HASH_SLICES - 1}) < {k})"

    flags = [flag(det) for det in candidates]
    exprs = [f"'{PROBE_ALIAS}' AS {PROBE_ALIAS}"]
    exprs += [f"LEFT(MD5({mysql_ident(c.name)}), 16) AS h{i}" for i, c in enumerate(columns)]
    exprs += [f"{f} AS s{j}" for j, f in enumerate(flags)]
    sql = (f"SELECT {', '.join(exprs)} FROM {mysql_qualified(table.schema, table.name)} "
           f"WHERE {' OR '.join(flags)} LIMIT {limit}")
    t0 = time.perf_counter()
    yielded = Yielded()
    try:
        with _watched(session, yielder, table) as yielded:
            if mysql_bound:
                session.run(f"SET SESSION max_execution_time = {int(timeout_s * 1000)}")
            rows = session.rows(_bounded(sql, flavor, timeout_s))
    except pymysql.err.MySQLError as exc:
        if not _recoverable(exc):
            raise
        return GroupSample(skipped_reason=_why(exc, yielded, timeout_s))
    return group_sample([(c.name, c.data_type) for c in columns],
                        [[r[f"h{i}"] for r in rows] for i in range(len(columns))],
                        [(det, [r[f"s{j}"] for r in rows]) for j, det in enumerate(candidates)],
                        time.perf_counter() - t0)


def _fk_joins(session: Session, snapshot: Snapshot, table: Table, budget: SamplingBudget, started: float,
              flavor: str, mysql_bound: bool, yielder: LockYield[Any] | None = None) -> tuple[ForeignKeyJoin, ...]:
    """The first ``rows_per_table`` rows of the table joined to the rows each foreign key references, with
    per pair of same-family columns the count of rows where ``MD5(child) = MD5(parent)``: counts only.

    One statement per foreign key, under the same per-table time bound as the sample.
    """
    out: list[ForeignKeyJoin] = []
    constraints = snapshot.constraints_of(table.schema, table.name)
    keys = {c for k in constraints if k.type in ("primary_key", "unique") for c in k.columns}
    for fk in constraints:
        if fk.type != "foreign_key" or not fk.columns or len(fk.columns) != len(fk.ref_columns):
            continue
        parent = snapshot.table(fk.ref_schema or table.schema, fk.ref_table or "")
        if parent is None:
            continue
        pairs = copy_pairs(table, parent, fk, sampled_type, keys)
        if not pairs:
            continue
        base = ForeignKeyJoin(constraint=fk.name, columns=fk.columns, ref_schema=parent.schema,
                              ref_table=parent.name)
        remaining = budget.budget_s - (time.perf_counter() - started)
        if remaining < MIN_TABLE_SECONDS:
            out.append(replace(base, skipped_reason=budget.used_up()))
            continue
        timeout_s = max(0.1, min(budget.table_timeout_s, remaining))
        child_cols = list(dict.fromkeys([*fk.columns, *(k for k, _ in pairs)]))
        on = " AND ".join(f"p.{mysql_ident(r)} = c.{mysql_ident(f)}"
                          for f, r in zip(fk.columns, fk.ref_columns, strict=True))
        aggs = [f"'{PROBE_ALIAS}' AS {PROBE_ALIAS}", "COUNT(*) AS n",
                f"COUNT(DISTINCT {', '.join(f'p.{mysql_ident(r)}' for r in fk.ref_columns)}) AS parents"]
        for i, (k, p) in enumerate(pairs):
            ck, cp = f"c.{mysql_ident(k)}", f"p.{mysql_ident(p)}"
            aggs.append(f"COALESCE(SUM({ck} IS NOT NULL OR {cp} IS NOT NULL), 0) AS c{i}")
            aggs.append(f"COALESCE(SUM(MD5({ck}) = MD5({cp})), 0) AS e{i}")
        sql = (f"SELECT {', '.join(aggs)} FROM (SELECT {', '.join(mysql_ident(c) for c in child_cols)} "
               f"FROM {mysql_qualified(table.schema, table.name)} LIMIT {budget.rows_per_table}) AS c "
               f"JOIN {mysql_qualified(parent.schema, parent.name)} AS p ON {on}")
        yielded = Yielded()
        try:
            with _watched(session, yielder, table) as yielded:
                if mysql_bound:
                    session.run(f"SET SESSION max_execution_time = {int(timeout_s * 1000)}")
                row = session.rows(_bounded(sql, flavor, timeout_s))[0]
        except pymysql.err.MySQLError as exc:
            if not _recoverable(exc):
                raise
            out.append(replace(base, skipped_reason=_why(exc, yielded, timeout_s)))
            if yielded.waiter is not None:
                break  # a session waits for the table: read it no further
            continue
        matches = tuple(ParentMatch(column=k, parent_column=p, compared=int(row[f"c{i}"]), equal=int(row[f"e{i}"]))
                        for i, (k, p) in enumerate(pairs))
        out.append(replace(base, rows=int(row["n"]), parents=int(row["parents"]), matches=matches))
    return tuple(out)


def _bounded(sql: str, flavor: str, timeout_s: float) -> str:
    """The statement under its time bound. On MariaDB also ``net_write_timeout``: a client that stops reading
    (a frozen process, a suspended laptop) would otherwise keep the statement "Writing to net", with its
    metadata lock, for the server's 60 s default, as max_statement_time does not interrupt a blocked write."""
    if flavor == "mariadb":
        return (f"SET STATEMENT max_statement_time = {timeout_s:.3f}, "
                f"net_write_timeout = {write_timeout_s(timeout_s)} FOR {sql}")
    return sql  # MySQL: the session's max_execution_time, set per table


def write_timeout_s(timeout_s: float) -> int:
    """Seconds the server may wait for dbaudit to read a result: the statement's bound plus a grace."""
    return int(math.ceil(timeout_s)) + 2


def _recoverable(exc: pymysql.err.MySQLError) -> bool:
    code = exc.args[0] if exc.args else 0
    return isinstance(code, int) and code < 2000  # server errors; client errors (2006, 2013: gone) are not


def _column_samples(rows: list[dict[str, Any]], columns: list[Column], text_cols: list[Column],
                    budget: SamplingBudget) -> tuple[ColumnSample, ...]:
    tuples = [tuple(r.values()) for r in rows]
    text_at = {c.name: 1 + len(columns) + i for i, c in enumerate(text_cols)}
    return tuple(
        profiled_column(c.name, c.data_type, [r[1 + i] for r in tuples],
                        [None if r[text_at[c.name]] is None else _as_text(r[text_at[c.name]]) for r in tuples]
                        if c.name in text_at else None, budget)
        for i, c in enumerate(columns)
    )


def _as_text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes | bytearray) else str(value)


def _failure_reason(exc: pymysql.err.MySQLError, timeout_s: float) -> str:
    code = exc.args[0] if exc.args else 0
    if code in (1969, 3024):
        return f"sampling took longer than {elapsed(timeout_s)}"
    if code in (1142, 1143):
        return "no SELECT privilege on the table"
    if code in (1205, 1213):
        return "the table was locked"
    text = " ".join(str(exc.args[1] if len(exc.args) > 1 else exc).split())
    return f"sampling failed: error {code}: {text}"
