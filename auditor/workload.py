"""Workload analysis, pure: latency percentiles, parse-tree shape of statements, index proposals, coverage.

Nothing here touches a connection. The live probes (``auditor.connectors.postgres.workload`` over
pg_stat_statements, ``auditor.connectors.mysql.workload`` over performance_schema's statement digests) and the
WL checks both build on these functions, so a saved snapshot gives the same answers offline. Statement shapes
come from pglast on PostgreSQL and from sqlglot (``auditor.mysql_workload``) on MySQL/MariaDB.

Percentiles (docs/workload.md has the method, its assumptions and the error the benchmark measured):
pg_stat_statements keeps, per statement, the number of calls and the mean, population standard deviation,
minimum and maximum of the execution time -- no histogram (MySQL 8 digests add P95/P99, used as they are;
MariaDB keeps no standard deviation, which ``auditor.mysql_workload`` fits to the maximum). Each statement's
latency is modelled as a log-normal shifted to start at the observed minimum, with the observed mean and standard
deviation, truncated at the observed maximum. A statement called once is a point mass at its one value; one
called twice is its min and max. The workload's percentiles are the quantiles of the calls-weighted mixture of
those distributions, found by bisection of the mixture's CDF.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import statistics
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, BoolExprType, SetOperation
from pglast.parser import parse_sql_json
from pglast.stream import RawStream

from auditor.model import Index, IndexProposal, PlanScan, PlanSummary, Snapshot, Statement, Table
from auditor.relations import (
    is_partition_tree,
    literal_equality_columns,
    members,
    named_table,
    planned_rows,
    referencing_columns,
)

_STD_NORMAL = statistics.NormalDist()
_SQRT2 = math.sqrt(2.0)  # statistics.NormalDist.cdf's constant

# PostgreSQL plan node names, and the names auditor.mysql_workload gives MySQL's EXPLAIN access types
INDEX_SCANS = frozenset({"Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Index Lookup", "Index Range Scan",
                         "Full Index Scan", "Parallel Index Scan", "Parallel Index Only Scan",
                         "Parallel Bitmap Heap Scan"})
SEQ_SCANS = frozenset({"Seq Scan", "Parallel Seq Scan", "Full Table Scan"})
CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})
DEFAULT_LARGE_ROWS = 10_000
# WL01's default mean target: a statement slower on average is not taken to be served by a partial index its
# generic plan cannot use (literal_partial_index)
SLOW_MEAN_MS = 100.0
# the statement kinds EXPLAIN accepts (QueryShape.kind)
EXPLAINABLE = frozenset({"select", "insert", "update", "delete", "merge"})

# The marker every SQL text dbaudit sends starts with, so its own statements can be told apart in
# pg_stat_statements (which records neither application_name nor the client).
DBAUDIT_MARKER = "/* dbaudit */"
# ... and a column alias its statements over user tables carry as well: an alias survives where a comment is
# dropped (MySQL digests strip comments; a PostgreSQL multi-statement string keeps a comment with one statement)
PROBE_ALIAS = "dbaudit_probe"
_OWN_ALIAS = re.compile(r'\bAS\s+[`"]?' + PROBE_ALIAS + r'\b', re.IGNORECASE)
# the data-sampling SELECT of dbaudit 0.1, which carried neither mark: psycopg quotes every identifier
_LEGACY_SAMPLE = re.compile(r'^\s*SELECT\s+hashtext(?:extended)?\("(?:[^"]|"")+"::text(?:, \$1)?\)')


def marked(sql: str) -> str:
    """``sql`` with the marker before and after it. The one after is what counts: PostgreSQL 18 records a
    statement's text from its first token on, dropping a leading comment (15-17 keep it for the first
    statement of a string only); a comment before the statement's end is kept by every version. The newline
    ends a trailing ``--`` comment of ``sql``."""
    return f"{DBAUDIT_MARKER} {sql}\n{DBAUDIT_MARKER}"


def is_own_statement(text: str) -> bool:
    """A statement dbaudit sent itself (marker comment, probe alias, or the old unmarked sampling SELECT)."""
    return DBAUDIT_MARKER in text or bool(_OWN_ALIAS.search(text)) or bool(_LEGACY_SAMPLE.match(text))


# ------------------------------------------------------------------------------------------------------------
# Latency distributions
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyModel:
    """The latency distribution of one statement, fitted to its calls, mean, stddev, min and max (ms)."""

    calls: int
    mean: float
    stddev: float
    low: float
    high: float
    shifted: bool = True  # shift the log-normal to start at the minimum (False: a plain log-normal from 0)

    @classmethod
    def of(cls, stmt: Statement, shifted: bool = True) -> LatencyModel:
        low = min(stmt.min_ms, stmt.mean_ms)
        high = max(stmt.max_ms, stmt.mean_ms)
        return cls(calls=stmt.calls, mean=stmt.mean_ms, stddev=stmt.stddev_ms, low=low, high=high, shifted=shifted)

    def _params(self) -> tuple[float, float, float] | None:
        """(origin, mu, sigma) of the log-normal, or None when the distribution is a point or two points."""
        if self.calls <= 2 or self.stddev <= 0 or self.high <= self.low:
            return None
        origin = self.low if self.shifted else 0.0
        m = self.mean - origin
        if m <= 0:
            return None
        sigma2 = math.log1p((self.stddev / m) ** 2)
        return origin, math.log(m) - sigma2 / 2, math.sqrt(sigma2)

    def cdf(self, x: float) -> float:
        return self._cdf(self._params(), x)

    def _cdf(self, params: tuple[float, float, float] | None, x: float) -> float:
        """The CDF at ``x`` given :meth:`_params` (computed once by :func:`mixture_quantile`, not per point)."""
        if params is None:
            if self.calls == 2 and self.high > self.low:
                return 0.0 if x < self.low else (0.5 if x < self.high else 1.0)
            return 1.0 if x >= self.mean else 0.0
        if x < self.low:
            return 0.0
        if x >= self.high:
            return 1.0
        origin, mu, sigma = params
        if x <= origin:
            return 0.0
        return _STD_NORMAL.cdf((math.log(x - origin) - mu) / sigma)

    def quantile(self, q: float) -> float:
        params = self._params()
        if params is None:
            if self.calls == 2 and self.high > self.low:
                return self.low if q <= 0.5 else self.high
            return self.mean
        origin, mu, sigma = params
        value = origin + math.exp(mu + sigma * _STD_NORMAL.inv_cdf(min(max(q, 1e-9), 1 - 1e-9)))
        return min(max(value, self.low), self.high)


def mixture_quantile(models: Sequence[LatencyModel], q: float, weights: Sequence[float] | None = None) -> float:
    """The q-quantile of the mixture of ``models`` weighted by ``weights`` (default: their calls).

    The smallest x with F(x) >= q, by bisection on [min low, max high]; point masses make F a step function,
    which bisection handles as well as a smooth one.
    """
    return mixture_quantiles(models, (q,), weights)[0]


def mixture_quantiles(models: Sequence[LatencyModel], qs: Sequence[float],
                      weights: Sequence[float] | None = None) -> tuple[float, ...]:
    """:func:`mixture_quantile` for each of ``qs``, each to the bit as alone. Their bisections start from the same
    bracket and share their first points (the P50, P95 and P99 of 5,000 statements: some 70 CDF evaluations of
    84): F is computed once per point."""
    if not models:
        raise ValueError("no latency models")
    w = list(weights) if weights is not None else [float(m.calls) for m in models]
    total = sum(w)
    if total <= 0:
        raise ValueError("weights sum to zero")

    # each model's log-normal parameters once: the bisection evaluates every model's CDF up to 100 times, for
    # thousands of statements; LatencyModel._cdf's steps are written out below (a call per model and point was
    # most of the time), the same arithmetic in the same order, so that the figures are the same to the bit
    # (the log-normal's standard normal CDF is written out too: statistics.NormalDist.cdf's arithmetic with mu 0
    # and sigma 1, ``0.5 * (1.0 + erf((z - 0.0) / (1.0 * sqrt(2))))``, where z - 0.0 is z and 1.0 * sqrt(2) is
    # sqrt(2) exactly; tests/test_workload_percentiles.py holds it to NormalDist's figures)
    fitted = [(wi, m.low, m.high, m.calls, m.mean, *(m._params() or (None, 0.0, 1.0)))
              for wi, m in zip(w, models, strict=True)]
    log = math.log
    erf = math.erf
    sqrt2 = _SQRT2

    def cdf(x: float) -> float:
        acc = 0.0  # sum() of floats, in order (0 + the first term is that term)
        for wi, low, high, calls, mean, origin, mu, sigma in fitted:
            if origin is None:  # no log-normal (LatencyModel._params): a point or two points
                if calls == 2 and high > low:
                    c = 0.0 if x < low else (0.5 if x < high else 1.0)
                else:
                    c = 1.0 if x >= mean else 0.0
            elif x < low:
                c = 0.0
            elif x >= high:
                c = 1.0
            elif x <= origin:
                c = 0.0
            else:
                c = 0.5 * (1.0 + erf(((log(x - origin) - mu) / sigma) / sqrt2))
            acc += wi * c
        return acc / total

    known: dict[float, float] = {}

    def shared_cdf(x: float) -> float:
        value = known.get(x)
        if value is None:
            value = known[x] = cdf(x)
        return value

    start_lo = min(m.low for m in models)
    start_hi = max(m.high for m in models)

    def quantile(q: float) -> float:
        lo, hi = start_lo, start_hi
        if shared_cdf(lo) >= q:
            return lo
        for _ in range(100):
            mid = (lo + hi) / 2
            if shared_cdf(mid) >= q:
                hi = mid
            else:
                lo = mid
            if hi - lo <= 1e-6 * max(1.0, hi):
                break
        return hi

    return tuple(quantile(q) for q in qs)


@dataclass(frozen=True)
class WorkloadLatency:
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    statements: int = 0
    calls: int = 0
    reason: str | None = None  # why there are no figures
    method: str = (
        "calls-weighted mixture of per-statement log-normals shifted to the minimum and fitted to the mean and "
        "stddev of pg_stat_statements, truncated at the maximum"
    )


_PAGING_WORD = re.compile(r"\b(?:offset|limit)\b", re.IGNORECASE)


_CATALOG_WORD = re.compile(r"pg_|information_schema", re.IGNORECASE)


def may_read_catalog(text: str) -> bool:
    """Whether :attr:`QueryShape.catalog_only` can hold: a catalog relation's name holds ``pg_`` (pg_catalog,
    pg_class...) or is information_schema's, whatever its case; a text with neither needs no parse."""
    return _CATALOG_WORD.search(text) is not None


def may_page(text: str) -> bool:
    """Whether the text can hold an OFFSET: every OFFSET is written with the word OFFSET, or on MySQL as
    ``LIMIT n, m``; a text with neither word needs no parse to know it has none."""
    return _PAGING_WORD.search(text) is not None


# Statements that are not the application's queries: a dump restore, a migration, a batch load. They are set
# apart (shown in the report's notes, see set_apart) and not judged by the WL checks nor counted in the latency
# figures or the index coverage: a 2-second `INSERT ... VALUES` of 5,000 rows or a `CREATE INDEX` is not a slow
# query (pganalyze and PgHero likewise leave utility statements out of their query statistics).
# A backup tool's reads are maintenance too: mysqldump / mariadb-dump read each table whole with
# `SELECT /*!40001 SQL_NO_CACHE */ * FROM t` (its digest: SELECT SQL_NO_CACHE ... FROM `t`, possibly cut short with
# "..."), pg_dump with `COPY t (...) TO stdout`; each runs once per backup, as long as the table is large.
APPLICATION, BULK_LOAD, DDL, DUMP = "application", "bulk_load", "ddl", "dump"
_LEADING_COMMENTS = re.compile(r"^(?:\s+|/\*.*?\*/|--[^\n]*\n?)*", re.S)
_DDL = re.compile(
    r"(?:CREATE|ALTER|DROP|TRUNCATE|RENAME|COMMENT\s+ON|GRANT|REVOKE|LOCK\s+TABLES|UNLOCK\s+TABLES|ANALYZE|OPTIMIZE"
    r"|VACUUM|REINDEX|CLUSTER|REFRESH\s+MATERIALIZED\s+VIEW|SECURITY\s+LABEL)\b", re.I)
_BULK = re.compile(r"(?:LOAD\s+(?:DATA|XML)\b|COPY\b[^;]*\bFROM\b)", re.I)
_INSERT = re.compile(r"(?:INSERT|REPLACE)\b", re.I)
_IDENT = r"(?:`(?:[^`]|``)+`|\"(?:[^\"]|\"\")+\"|[\w$]+)"
_DUMP = re.compile(
    r"SELECT\s+(?:/\*!\d*\s*)?SQL_NO_CACHE\b(?:\s*\*/)?(?:[^;]*?\bFROM\s+" + _IDENT + r"(?:\s*\.\s*" + _IDENT
    + r")?(?:\s+ORDER\s+BY\b[^;]*)?\s*;?\s*|[^;]*\.\.\.\s*)$"  # one whole table, or a digest cut short
    r"|COPY\b[^;]*\bTO\s+STDOUT\b", re.I | re.S)
# several rows in VALUES: a MySQL/MariaDB digest folds them into "VALUES (...) /* , ... */", pg_stat_statements
# keeps "VALUES ($1, $2), ($3, $4)"
_MULTI_ROW = re.compile(r"\bVALUES\s*\((?:[^()]|\([^()]*\))*\)\s*(?:/\*\s*,\s*\.\.\.\s*\*/|,\s*\()", re.I)


@functools.lru_cache(maxsize=65_536)
def statement_class(query: str) -> str:
    """``application``, ``bulk_load`` (multi-row INSERT/REPLACE ... VALUES, LOAD DATA, COPY ... FROM), ``ddl``
    (schema changes, grants, LOCK/UNLOCK TABLES of a dump, maintenance such as VACUUM and ANALYZE) or ``dump``
    (a backup tool's whole-table reads: mysqldump's SELECT SQL_NO_CACHE, pg_dump's COPY ... TO stdout)."""
    text = _LEADING_COMMENTS.sub("", query, count=1)
    if _DDL.match(text):
        return DDL
    if _DUMP.match(text):  # before COPY ... FROM: a COPY (SELECT ... FROM t) TO stdout reads
        return DUMP
    if _BULK.match(text) or (_INSERT.match(text) and _MULTI_ROW.search(text)):
        return BULK_LOAD
    return APPLICATION


def application_statements(snapshot: Snapshot) -> tuple[Statement, ...]:
    """The recorded statements that are the application's queries (see :func:`statement_class`): once per
    snapshot (the WL checks, IX01 and the scoring each ask, over thousands of statements)."""
    found = snapshot.memo.get("application_statements")
    if found is None:
        found = snapshot.memo["application_statements"] = tuple(
            [s for s in snapshot.statements if statement_class(s.query) == APPLICATION])
    return found  # type: ignore[no-any-return]


def set_apart(snapshot: Snapshot) -> dict[str, list[Statement]]:
    """The recorded statements that are not the application's, by class (bulk_load, ddl, dump), busiest first."""
    out: dict[str, list[Statement]] = {}
    for stmt in snapshot.statements:
        kind = statement_class(stmt.query)
        if kind != APPLICATION:
            out.setdefault(kind, []).append(stmt)
    for group in out.values():
        group.sort(key=lambda s: (-s.total_ms, s.queryid))
    return out


def latency_statements(snapshot: Snapshot) -> list[Statement]:
    """The statements that count in the latency figures: top-level, called, not transaction or session control,
    not a bulk load, DDL nor a backup read (:func:`statement_class`)."""
    out = []
    for stmt in application_statements(snapshot):
        if not stmt.toplevel or stmt.calls <= 0:
            continue
        if query_kind(snapshot, stmt.query) == "session":
            continue
        out.append(stmt)
    return out


def workload_percentiles(snapshot: Snapshot) -> WorkloadLatency:
    """Workload-wide P50/P95/P99 (ms), for the scoring's p50_ms / p95_ms / p99_ms metrics."""
    if snapshot.workload is None:
        return WorkloadLatency(None, None, None, reason="the workload was not collected")
    if snapshot.workload.status != "ok":
        return WorkloadLatency(None, None, None, reason=snapshot.workload.message or snapshot.workload.status)
    stmts = latency_statements(snapshot)
    if not stmts:
        source = "performance_schema" if snapshot.engine == "mysql" else "pg_stat_statements"
        return WorkloadLatency(None, None, None, reason=f"{source} holds no statement of this database")
    models = [LatencyModel.of(s) for s in stmts]
    p50, p95, p99 = (round(value, 3) for value in mixture_quantiles(models, (0.50, 0.95, 0.99)))
    latency = WorkloadLatency(p50, p95, p99, statements=len(stmts), calls=sum(s.calls for s in stmts))
    if snapshot.workload.percentile_method:
        latency = dataclasses.replace(latency, method=snapshot.workload.percentile_method)
    return latency


def statement_percentile(stmt: Statement, q: float) -> float:
    """A statement's P95 / P99: the server's own figure where it keeps one (MySQL 8), else the model's estimate."""
    own = stmt.p95_ms if q == 0.95 else stmt.p99_ms if q == 0.99 else None
    return own if own is not None else LatencyModel.of(stmt).quantile(q)


def query_kind(snapshot: Snapshot, text: str) -> str:
    """The kind of a statement (:attr:`QueryShape.kind`) without building its parse tree on PostgreSQL.

    Every statement's kind is needed (latency figures, the median of WL03), its tree only for a few: parsing
    to Python objects costs some 20 times more than the kind alone.
    """
    if snapshot.engine == "mysql":
        return query_shape(snapshot, text).kind
    return statement_kind(text)


def query_has_offset(snapshot: Snapshot, text: str) -> bool:
    """:attr:`QueryShape.has_offset` of a statement, without building its parse tree on PostgreSQL (WL04 asks
    it of every statement that may page, see :func:`statement_has_offset`)."""
    if snapshot.engine == "mysql":
        return query_shape(snapshot, text).has_offset
    return statement_has_offset(text)


def query_shape(snapshot: Snapshot, text: str) -> QueryShape:
    """The shape of a statement text in the audited engine's dialect (pglast, or sqlglot for MySQL)."""
    if snapshot.engine == "mysql":
        from auditor.mysql_workload import analyze_mysql

        return analyze_mysql(text)
    return analyze_query(text)


# ------------------------------------------------------------------------------------------------------------
# Parse-tree shape (pglast)
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelationRef:
    schema: str | None
    name: str
    alias: str | None = None

    @property
    def ref(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class ColumnUse:
    qualifier: str | None  # table name or alias written before the column, None when unqualified
    column: str
    kind: str  # "eq" (= or IN against a value), "join" (= against another column), "range", "sort",
    # "expr_eq" (an expression of this one column = a value: lower(email) = lower($1))
    expression: str | None = None  # expr_eq: the expression, without the column's qualifier


@dataclass(frozen=True)
class Scope:
    """One SELECT / UPDATE / DELETE level: its FROM relations and the columns its conditions and sort use."""

    relations: tuple[RelationRef, ...] = ()
    uses: tuple[ColumnUse, ...] = ()
    has_limit: bool = False
    has_offset: bool = False
    limit_one: bool = False  # LIMIT 1 written as a constant (pg_stat_statements usually turns it into $n)


@dataclass(frozen=True)
class QueryShape:
    kind: str  # select, insert, update, delete, merge, utility, session (transaction / SET / SHOW), unparsed
    relations: tuple[RelationRef, ...] = ()
    scopes: tuple[Scope, ...] = ()
    params: int = 0  # highest $n
    error: str | None = None

    @property
    def has_offset(self) -> bool:
        return any(s.has_offset for s in self.scopes)

    @property
    def has_limit(self) -> bool:
        return any(s.has_limit for s in self.scopes)

    @property
    def explainable(self) -> bool:
        return self.kind in EXPLAINABLE

    @property
    def not_explained_reason(self) -> str:
        """Why a statement of this shape is not explained (the reason recorded in its PlanSummary)."""
        if self.kind in ("utility", "session"):
            return "utility statement"
        if self.kind == "unparsed":
            return f"cannot be parsed: {self.error}"
        return f"{self.kind} statement"

    @property
    def catalog_only(self) -> bool:
        """Every relation is a system catalog (pg_catalog, information_schema, or an unqualified pg_*)."""
        if not self.relations:
            return False
        return all(
            (r.schema in CATALOG_SCHEMAS) if r.schema else r.name.startswith("pg_") for r in self.relations
        )


_SESSION_NODES = (
    ast.TransactionStmt, ast.VariableSetStmt, ast.VariableShowStmt, ast.DiscardStmt, ast.DeallocateStmt,
    ast.PrepareStmt, ast.ExecuteStmt, ast.ListenStmt, ast.UnlistenStmt, ast.NotifyStmt, ast.ConstraintsSetStmt,
)
_KINDS: dict[type[Any], str] = {
    ast.SelectStmt: "select", ast.InsertStmt: "insert", ast.UpdateStmt: "update", ast.DeleteStmt: "delete",
}
if hasattr(ast, "MergeStmt"):
    _KINDS[ast.MergeStmt] = "merge"
_RANGE_OPS = frozenset({"<", ">", "<=", ">="})


def _walk(node: Any) -> list[Any]:
    """Every pglast node under ``node`` (itself included), depth first, in the order of each node's fields.

    With a stack rather than recursive generators: a generator per node and per list, each value passed up
    through every level above it, cost more than the parse itself on the few hundred statements analysed."""
    out: list[Any] = []
    pending = [node]
    pop, push, add = pending.pop, pending.extend, out.append
    while pending:
        item = pop()
        if isinstance(item, ast.Node):
            add(item)
            fields = getattr(type(item), "__slots__", ())
            if fields:
                push([getattr(item, name, None) for name in reversed(fields)])
        elif isinstance(item, tuple | list):
            push(item[::-1])
    return out


_TOP_NODE = re.compile(r'"stmts":\[\{"stmt":\{"(\w+)"')
# in libpg_query's JSON a field name is the only string followed by a colon (a quote inside a value is escaped),
# and a raw parse tree has LIMIT ... OFFSET as SelectStmt's limitOffset only
_OFFSET_FIELD = '"limitOffset":'


@functools.lru_cache(maxsize=65536)
def statement_has_offset(text: str) -> bool:
    """``analyze_query(text).has_offset`` from libpg_query's JSON output: whether any SELECT of the statement
    (subqueries and CTEs included) has an OFFSET, with the same parser and without the Python objects of a
    parse tree (some 20 times the cost, for each of the hundreds of paging statements of a large workload)."""
    try:
        tree = parse_sql_json(text)
    except Exception:  # noqa: BLE001 - as analyze_query: pglast raises ParseError and a few others
        return False
    if ";" not in text:
        # one statement at most (statements are separated by semicolons): its node name is at the tree's start,
        # no need to decode the whole tree for it
        top = _TOP_NODE.search(tree[:200])
        return top is not None and top.group(1) != "ExplainStmt" and _OFFSET_FIELD in tree
    statements = json.loads(tree).get("stmts") or []
    if len(statements) != 1:  # none, or several (analyze_query judges the first): the tree decides
        return bool(statements) and analyze_query(text).has_offset
    if "ExplainStmt" in (statements[0].get("stmt") or {}):
        return False  # analyze_query gives an EXPLAIN no scopes
    return _OFFSET_FIELD in tree


@functools.lru_cache(maxsize=65536)
def statement_kind(text: str) -> str:
    """``analyze_query(text).kind``, from libpg_query's JSON output read only as far as the statement's node
    name: the same parser, so the same verdict (unparsed included), at a fraction of the cost."""
    try:
        tree = parse_sql_json(text)
    except Exception:  # noqa: BLE001 - as analyze_query: pglast raises ParseError and a few others
        return "unparsed"
    top = _TOP_NODE.search(tree[:200])
    if top is None:
        return "unparsed"  # no statement: an empty text
    return _node_kind(top.group(1))


@functools.lru_cache(maxsize=1024)  # a few node names (SelectStmt, InsertStmt...) for thousands of statements
def _node_kind(name: str) -> str:
    """The kind of a statement whose top node is the pglast node class ``name``."""
    node = getattr(ast, name, None)
    if node is None:
        return "utility"
    if node is ast.ExplainStmt:
        return "utility"
    kind = next((k for t, k in _KINDS.items() if issubclass(node, t)), None)
    if kind is None:
        kind = "session" if issubclass(node, _SESSION_NODES) else "utility"
    return kind


# pg_stat_statements replaces the string of a typed literal (interval '1 day', date '2024-01-01') by a parameter
# and keeps the type name: "interval $1" is then no SQL PostgreSQL's server parses (libpg_query, pglast's parser,
# accepts it for normalized texts). Written as a cast it plans the same: the literal's type was known.
_TYPED_LITERAL = re.compile(
    r"\b(interval|timestamptz|timestamp(?:\s+with(?:out)?\s+time\s+zone)?|timetz|"
    r"time(?:\s+with(?:out)?\s+time\s+zone)?|date|uuid|jsonb|json|inet|cidr|macaddr|numeric|decimal|bigint|"
    r"smallint|integer|int[248]?|boolean|bool|text|bytea|money|real|float[48]|double\s+precision|point)"
    r"\s+\$(\d+)\b", re.IGNORECASE)
_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")


def explainable_text(query: str) -> str:
    """A normalized PostgreSQL statement the server can PREPARE: typed literals whose string became a parameter
    (``now() - interval $1``) written as casts (``now() - $1::interval``); quoted text is left alone."""
    parts = _QUOTED.split(query)
    for i in range(0, len(parts), 2):  # even parts lie outside quotes
        parts[i] = _TYPED_LITERAL.sub(lambda m: f"${m.group(2)}::{' '.join(m.group(1).split())}", parts[i])
    return "".join(parts)


@functools.lru_cache(maxsize=8192)
def analyze_query(text: str) -> QueryShape:
    """The shape of a normalized statement: its kind, relations, and per-level predicate and sort columns."""
    try:
        raw = parse_sql(text)
    except Exception as exc:  # noqa: BLE001 - pglast raises its own ParseError and a few others; all mean "no shape"
        return QueryShape(kind="unparsed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if not raw:
        return QueryShape(kind="unparsed", error="empty statement")
    stmt = raw[0].stmt
    if isinstance(stmt, ast.ExplainStmt):
        return QueryShape(kind="utility")
    kind = next((k for t, k in _KINDS.items() if isinstance(stmt, t)), None)
    if kind is None:
        kind = "session" if isinstance(stmt, _SESSION_NODES) else "utility"
    relations: list[RelationRef] = []
    scopes: list[Scope] = []
    params = 0
    nodes = _walk(stmt)  # once for both passes
    cte_names = {
        cte.ctename for node in nodes if isinstance(node, ast.WithClause) for cte in (node.ctes or ())
    }
    for node in nodes:
        if isinstance(node, ast.RangeVar) and not (node.schemaname is None and node.relname in cte_names):
            relations.append(_relation(node))
        elif isinstance(node, ast.ParamRef):
            params = max(params, node.number or 0)
        elif isinstance(node, ast.SelectStmt | ast.UpdateStmt | ast.DeleteStmt):
            scopes.append(_scope(node, cte_names))
    return QueryShape(kind=kind, relations=tuple(dict.fromkeys(relations)), scopes=tuple(scopes), params=params)


def _relation(rv: ast.RangeVar) -> RelationRef:
    alias = rv.alias.aliasname if rv.alias is not None else None
    return RelationRef(schema=rv.schemaname, name=rv.relname or "", alias=alias)


def _scope(node: Any, cte_names: set[str]) -> Scope:
    relations: list[RelationRef] = []
    conditions: list[Any] = []

    def from_item(item: Any) -> None:
        if isinstance(item, ast.RangeVar):
            if not (item.schemaname is None and item.relname in cte_names):
                relations.append(_relation(item))
        elif isinstance(item, ast.JoinExpr):
            from_item(item.larg)
            from_item(item.rarg)
            if item.quals is not None:
                conditions.append(item.quals)
        # subqueries and functions in FROM are scopes of their own (or have no table)

    if isinstance(node, ast.SelectStmt):
        for item in node.fromClause or ():
            from_item(item)
    elif isinstance(node, ast.UpdateStmt):
        from_item(node.relation)
        for item in node.fromClause or ():
            from_item(item)
    else:  # DeleteStmt
        from_item(node.relation)
        for item in node.usingClause or ():
            from_item(item)
    if node.whereClause is not None:
        conditions.append(node.whereClause)
    uses: list[ColumnUse] = []
    for cond in conditions:
        _conditions(cond, uses)
    has_limit = has_offset = limit_one = False
    if isinstance(node, ast.SelectStmt):
        for sort in node.sortClause or ():
            col = _column(sort.node)
            if col is not None:
                uses.append(ColumnUse(col[0], col[1], "sort"))
        has_offset = node.limitOffset is not None
        count = node.limitCount
        has_limit = count is not None and not (isinstance(count, ast.A_Const) and count.isnull)
        limit_one = isinstance(count, ast.A_Const) and isinstance(count.val, ast.Integer) and count.val.ival == 1
        if node.op not in (None, SetOperation.SETOP_NONE):
            relations = []  # the set operation's own level has no FROM; its arms are scopes of their own
    return Scope(relations=tuple(relations), uses=tuple(uses), has_limit=has_limit, has_offset=has_offset,
                 limit_one=limit_one)


def _column(node: Any) -> tuple[str | None, str] | None:
    """(qualifier, column) of a plain column reference, else None (expressions cannot use a plain index)."""
    if not isinstance(node, ast.ColumnRef):
        return None
    fields = node.fields or ()
    names = [str(f.sval) for f in fields if isinstance(f, ast.String)]
    if len(names) != len(fields) or not names:
        return None  # "t.*"
    return (names[-2] if len(names) >= 2 else None), names[-1]


def _expression(node: Any) -> tuple[str | None, str, str] | None:
    """(qualifier, column, text) of an expression over exactly one column (``lower(c.email)`` ->
    ('c', 'email', 'lower(email)')), the form an expression index takes; None for anything else."""
    if isinstance(node, ast.ColumnRef) or _column(node) is not None:
        return None
    if not isinstance(node, ast.FuncCall | ast.A_Expr | ast.TypeCast | ast.CoalesceExpr):
        return None
    inner = list(_walk(node))
    if any(isinstance(n, ast.SubLink | ast.ParamRef) for n in inner):
        return None
    if any(isinstance(n, ast.FuncCall) and (n.agg_star or n.over is not None) for n in inner):
        return None
    refs = [c for n in inner if isinstance(n, ast.ColumnRef) and (c := _column(n)) is not None]
    if len(refs) != 1 or sum(1 for n in inner if isinstance(n, ast.ColumnRef)) != 1:
        return None
    qualifier, column = refs[0]
    try:
        text = RawStream()(node)
    except Exception:  # noqa: BLE001 - pglast cannot print every node; no proposal then
        return None
    if qualifier is not None:
        text = re.sub(r'(?<![\w$."])"?' + re.escape(qualifier) + r'"?\.', "", text)
    return qualifier, column, text


def _is_value(node: Any) -> bool:
    """A parameter, constant or expression of them: no column of any table inside (sublinks aside)."""
    if isinstance(node, ast.SubLink):
        return False
    return not any(isinstance(n, ast.ColumnRef | ast.SubLink) for n in _walk(node))


def _conditions(node: Any, uses: list[ColumnUse]) -> None:
    if isinstance(node, ast.BoolExpr):
        if node.boolop == BoolExprType.AND_EXPR:
            for arg in node.args or ():
                _conditions(arg, uses)
        return  # OR / NOT: no single index serves them reliably
    if not isinstance(node, ast.A_Expr):
        return
    op = node.name[-1].sval if node.name and isinstance(node.name[-1], ast.String) else ""
    left, right = _column(node.lexpr), _column(node.rexpr)
    kind = node.kind
    if kind == A_Expr_Kind.AEXPR_OP and op == "=":
        if left and right:
            uses.append(ColumnUse(left[0], left[1], "join"))
            uses.append(ColumnUse(right[0], right[1], "join"))
        elif left and _is_value(node.rexpr):
            uses.append(ColumnUse(left[0], left[1], "eq"))
        elif right and _is_value(node.lexpr):
            uses.append(ColumnUse(right[0], right[1], "eq"))
        elif not left and not right:
            expr = _expression(node.lexpr) if _is_value(node.rexpr) else \
                _expression(node.rexpr) if _is_value(node.lexpr) else None
            if expr is not None:
                uses.append(ColumnUse(expr[0], expr[1], "expr_eq", expression=expr[2]))
    elif kind == A_Expr_Kind.AEXPR_OP and op in _RANGE_OPS:
        if left and not right and _is_value(node.rexpr):
            uses.append(ColumnUse(left[0], left[1], "range"))
        elif right and not left and _is_value(node.lexpr):
            uses.append(ColumnUse(right[0], right[1], "range"))
    elif kind in (A_Expr_Kind.AEXPR_IN, A_Expr_Kind.AEXPR_OP_ANY) and op == "=" and left and _is_value(node.rexpr):
        uses.append(ColumnUse(left[0], left[1], "eq"))
    elif kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_BETWEEN_SYM) and left and _is_value(node.rexpr):
        uses.append(ColumnUse(left[0], left[1], "range"))


# ------------------------------------------------------------------------------------------------------------
# Resolving names against the snapshot
# ------------------------------------------------------------------------------------------------------------


def resolve_table(snapshot: Snapshot, rel: RelationRef) -> Table | None:
    """The snapshot table a relation reference names; unqualified names try ``public`` (MySQL: the connection's
    database) first, then any schema."""
    if rel.schema:
        return snapshot.table(rel.schema, rel.name)
    found = snapshot.table(snapshot.database if snapshot.engine == "mysql" else "public", rel.name)
    if found is not None:
        return found
    matches = [t for t in snapshot.tables if t.name == rel.name]
    if not matches and snapshot.engine == "mysql":
        # MariaDB digests print some names in capitals (ID, STATUS); the server matches them regardless
        matches = [t for t in snapshot.tables if t.name.lower() == rel.name.lower()]
    return matches[0] if len(matches) == 1 else None


def scope_columns(snapshot: Snapshot, scope: Scope) -> dict[tuple[str, str], list[ColumnUse]]:
    """The column uses of one level, attributed to the snapshot tables they belong to."""
    tables: list[tuple[RelationRef, Table]] = []
    for rel in scope.relations:
        t = resolve_table(snapshot, rel)
        if t is not None:
            tables.append((rel, t))
    out: dict[tuple[str, str], list[ColumnUse]] = {}
    for use in scope.uses:
        owner: Table | None = None
        if use.qualifier is not None:
            owner = next((t for rel, t in tables if use.qualifier in (rel.alias, rel.name) and
                          (rel.alias is None or use.qualifier == rel.alias)), None)
        elif len(scope.relations) == 1 and tables:
            owner = tables[0][1]
        else:
            owners = [t for _, t in tables if t.column(use.column) is not None or (
                snapshot.engine == "mysql" and any(c.name.lower() == use.column.lower() for c in t.columns))]
            owner = owners[0] if len(owners) == 1 else None
        if owner is not None and snapshot.engine == "mysql" and owner.column(use.column) is None:
            # MySQL column names are case-insensitive, and MariaDB digests print some in capitals
            spelled = next((c.name for c in owner.columns if c.name.lower() == use.column.lower()), None)
            if spelled is not None:
                use = dataclasses.replace(use, column=spelled)
        if owner is not None and (not owner.columns or owner.column(use.column) is not None):
            out.setdefault(owner.key, []).append(use)
    return out


def is_large(snapshot: Snapshot, table: Table | None, large_rows: int) -> bool:
    """The table, as the planner reads it (with its partitions or inheritance children), has ``large_rows``."""
    rows = planned_rows(snapshot, table) if table is not None else None
    return rows is not None and rows >= large_rows


def named_tables(snapshot: Snapshot, query: str) -> frozenset[tuple[str, str]]:
    """The snapshot tables a statement names."""
    shape = query_shape(snapshot, query)
    return frozenset(t.key for t in (resolve_table(snapshot, r) for r in shape.relations) if t is not None)


def scan_table(snapshot: Snapshot, scan: PlanScan, named: Collection[tuple[str, str]]) -> Table | None:
    """The table the statement named for one scan of its plan: the scanned table, or the partitioned table (the
    inheritance parent) the statement named when the plan scans one of its members. None: not in the snapshot."""
    scanned = snapshot.table(scan.schema, scan.table) if scan.schema is not None else None
    return named_table(snapshot, scanned, named) if scanned is not None else None


def parallel_divisor(snapshot: Snapshot, workers: int | None) -> float:
    """By how much the planner divided a parallel-aware node's row estimate: the processes sharing the scan.

    PostgreSQL's get_parallel_divisor (costsize.c): the planned workers, plus the leader's share, 1 - 0.3 x
    workers when positive, if parallel_leader_participation is on (the default). 2 workers: 2.4.
    """
    if not workers:
        return 1.0
    divisor = float(workers)
    if snapshot.settings.get("parallel_leader_participation", "on").lower() not in ("off", "false", "0"):
        leader = 1.0 - 0.3 * workers
        if leader > 0:
            divisor += leader
    return divisor


def scan_rows(snapshot: Snapshot, scan: PlanScan) -> float | None:
    """The rows a scan returns in all, by the planner's estimate: a parallel scan's estimate is per process."""
    if scan.plan_rows is None:
        return None
    return scan.plan_rows * parallel_divisor(snapshot, scan.workers)


# ------------------------------------------------------------------------------------------------------------
# Index proposal
# ------------------------------------------------------------------------------------------------------------


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def propose_index(snapshot: Snapshot, query: str, schema: str, table: str,
                  max_selectivity: float = 0.1, mean_ms: float | None = None) -> IndexProposal | None:
    """The b-tree index that would let ``query`` reach ``schema.table`` without reading all of it, or None.

    Equality columns first (compared with a value, or failing those, join columns), then either the sort
    columns (when the level has a LIMIT and sorts only by this table's columns) or the first range column.
    None when the statement gives nothing to index on, or an existing index already leads with those columns.

    In a join, a level whose only equality columns are join columns gives nothing when an index already leads
    with them (the join reaches the table through it -- the primary key, say; a range column added behind it
    does not change how the join runs), and a range column known to be non-selective (fewer than
    1 / ``max_selectivity`` distinct values, from pg_stats or the data sample) is not proposed in a join.
    ``mean_ms``: the statement's measured mean, for :func:`literal_partial_index`.
    """
    shape = query_shape(snapshot, query)
    found = snapshot.table(schema, table)
    best: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None
    for scope in shape.scopes:
        uses = scope_columns(snapshot, scope).get((schema, table))
        if not uses:
            continue
        in_join = len(scope.relations) > 1
        eq = _unique(u.column for u in uses if u.kind == "eq")
        if not eq:
            eq = _unique(u.column for u in uses if u.kind == "join")
            if eq and _led_by_an_index(snapshot, schema, table, eq):
                continue
        rng = tuple(c for c in _unique(u.column for u in uses if u.kind == "range") if c not in eq)
        if in_join and found is not None:
            rng = tuple(c for c in rng if not non_selective(snapshot, found, c, max_selectivity))
        all_sorts = [u for u in scope.uses if u.kind == "sort"]
        sort: tuple[str, ...] = ()
        if scope.has_limit and all_sorts and len(all_sorts) == sum(1 for u in uses if u.kind == "sort"):
            sort = tuple(c for c in _unique(u.column for u in all_sorts) if c not in eq)
        tail = sort if sort else rng[:1]
        if not eq and not tail:
            continue
        candidate = (eq, rng[:1] if not sort else (), sort)
        if best is None or len(eq) + len(tail) > len(best[0]) + len(best[1]) + len(best[2]):
            best = candidate
    if best is None:
        return _expression_proposal(snapshot, shape, schema, table)
    eq, rng, sort = best
    columns = eq + (sort or rng)
    if leading_index(snapshot, schema, table, columns, len(eq)) is not None:
        return None
    if literal_partial_index(snapshot, schema, table, eq, sort or rng, mean_ms) is not None:
        return None
    return IndexProposal(schema=schema, table=table, columns=columns, equality=eq, range=rng, sort=sort)


def _expression_proposal(snapshot: Snapshot, shape: QueryShape, schema: str, table: str) -> IndexProposal | None:
    """An expression index for a level that compares only an expression of one column with a value
    (``lower(email) = lower($1)``); PostgreSQL only, None where an index on that expression exists."""
    if snapshot.engine != "postgresql":
        return None
    for scope in shape.scopes:
        uses = scope_columns(snapshot, scope).get((schema, table)) or []
        if any(u.kind != "expr_eq" for u in uses if u.kind != "sort"):
            continue  # plain columns to index: the column proposal's business
        exprs = [u for u in uses if u.kind == "expr_eq" and u.expression]
        if not exprs:
            continue
        use = exprs[0]
        wanted = normal_expression(use.expression or "")
        def has_it(ix: Index, wanted: str = wanted) -> bool:
            return ix.is_valid and ix.predicate is None and bool(ix.keys) \
                and normal_expression(ix.keys[0].expression or "") == wanted

        if _tree_index(snapshot, schema, table, has_it) is not None:
            return None
        return IndexProposal(schema=schema, table=table, columns=(use.column,), expression=use.expression)
    return None


def normal_expression(text: str) -> str:
    """An expression as written or as pg_get_indexdef prints it, compared loosely: no spaces, quotes, casts to
    text or outer parentheses (``lower((email)::text)`` and ``lower(email)`` match)."""
    t = re.sub(r"::\w+(\s+\w+)*", "", text.replace(" ", "").replace('"', "").lower())
    t = re.sub(r"(?<=[(,])\((\w+)\)", r"\1", t)  # lower((email)) -> lower(email); lower(email) stays
    while t.startswith("(") and t.endswith(")"):
        t = t[1:-1]
    return t


def literal_partial_index(snapshot: Snapshot, schema: str, table: str, eq: Sequence[str],
                          tail: Sequence[str] = (), mean_ms: float | None = None) -> Index | None:
    """A scanned partial index that the statement's literal values may select, which its generic plan cannot.

    pg_stat_statements replaces a statement's constants by parameters: ``status = 'open'`` is recorded as
    ``status = $2``, and a generic plan of that text can never use a partial index ``WHERE status = 'open'``,
    while each execution, with its literal, did. A bound parameter is no different: the custom plans for
    ``status_id = 1`` use ``(created_at) WHERE status_id = 1``, the generic plan cannot. Such an index is taken
    to serve the statement, and proposing another would be the plan's artefact, when its predicate is only
    ``col = constant`` tests on columns the statement compares for equality, it was scanned since the
    statistics were reset (a never-scanned one is no such evidence), and it leads with one of the statement's
    equality columns or, its predicate fixing every one of them, with the first of ``tail`` (the sort columns
    of an ORDER BY ... LIMIT, or the range columns): the proposal with its equality columns moved into the
    predicate. An index leading with any other column is not what the statement needs. Nor is one taken to
    serve a statement whose measured mean (``mean_ms``) is above ``SLOW_MEAN_MS``: the index may have been
    scanned by another statement while this one, called with other values, read the table.
    """
    if mean_ms is not None and mean_ms > SLOW_MEAN_MS:
        return None
    wanted = set(eq)

    def fits(ix: Index) -> bool:
        if not ix.is_valid or ix.predicate is None or not ix.columns:
            return False
        if ix.scans is not None and ix.scans == 0:
            return False
        tested = literal_equality_columns(ix.predicate)
        if not tested or not tested <= wanted:
            return False
        return ix.columns[0] in wanted or (tested == wanted and bool(tail) and ix.columns[0] == tail[0])

    return _tree_index(snapshot, schema, table, fits)


def _literal_partial_serves(snapshot: Snapshot, stmt: Statement, scan: PlanScan,
                            named: Collection[tuple[str, str]]) -> bool:
    """A sequential scan in a generic plan where the executed statements' literals select a partial index
    (see literal_partial_index): the plan's scan is the normalization's artefact."""
    table = scan_table(snapshot, scan, named)
    if table is None or snapshot.engine != "postgresql":
        return False
    for scope in query_shape(snapshot, stmt.query).scopes:
        uses = scope_columns(snapshot, scope).get(table.key) or []
        eq = [u.column for u in uses if u.kind == "eq"]
        sort = [u.column for u in uses if u.kind == "sort"] if scope.has_limit else []
        tail = sort or [u.column for u in uses if u.kind == "range"]
        if eq and literal_partial_index(snapshot, table.schema, table.name, eq, tail, stmt.mean_ms) is not None:
            return True
    return False


def _tree_index(snapshot: Snapshot, schema: str, table: str, fits: Callable[[Index], bool]) -> Index | None:
    """An index that fits, on the table as the planner reads it.

    A plain table: one of its own. A partitioned table: its own (every partition has it attached), else one on
    every partition that holds rows. An inheritance parent: one on itself and on every child (they do not share
    indexes).
    """
    own = next((ix for ix in snapshot.indexes_of(schema, table) if fits(ix)), None)
    found = snapshot.table(schema, table)
    if found is None or not is_partition_tree(snapshot, found) or (own is not None and found.kind == "partitioned"):
        return own
    first: Index | None = None
    for member in members(snapshot, found):
        if member.kind == "partitioned":
            continue
        mine = next((ix for ix in snapshot.indexes_of(member.schema, member.name) if fits(ix)), None)
        if mine is None:
            return None
        first = first or mine
    return own or first


def _led_by_an_index(snapshot: Snapshot, schema: str, table: str, columns: Sequence[str]) -> bool:
    """An existing valid, non-partial index starts with ``columns`` (in any order), whatever its length."""
    n = len(columns)
    return _tree_index(snapshot, schema, table, lambda ix: ix.is_valid and ix.predicate is None and len(ix.keys) >= n
                       and set(ix.columns[:n]) == set(columns)) is not None


def column_distinct(snapshot: Snapshot, table: Table, column: str) -> float | None:
    """Distinct values of a column: pg_stats' n_distinct (a negative one is a share of the rows), else the
    distinct values the data sample saw; None when neither is known."""
    col = table.column(column)
    if col is not None and col.n_distinct:
        if col.n_distinct > 0:
            return col.n_distinct
        rows = planned_rows(snapshot, table)
        return -col.n_distinct * rows if rows else None
    sample = snapshot.sampling.table(table.schema, table.name) if snapshot.sampling is not None else None
    if sample is None or sample.skipped_reason or not sample.rows:
        return None
    seen = next((c for c in sample.columns if c.name == column), None)
    return float(seen.distinct) if seen is not None and seen.distinct else None


def non_selective(snapshot: Snapshot, table: Table, column: str, max_selectivity: float) -> bool:
    """A range on this column keeps more than ``max_selectivity`` of the rows on average: it has fewer distinct
    values than 1 / max_selectivity (a range covers one value at least)."""
    distinct = column_distinct(snapshot, table, column)
    return distinct is not None and max_selectivity > 0 and distinct < 1 / max_selectivity


def weak_index_scan(snapshot: Snapshot, scan: PlanScan, proposal: IndexProposal,
                    filter_ratio: float = 10.0) -> str | None:
    """Why an index scan serves ``proposal``'s statement badly, or None when it serves it well enough.

    Weak: the index the plan uses does not lead with every equality column of the proposal (so the others are
    checked row by row after the index lookup), and the plan shows it -- a Filter on one of those columns, an
    Index Cond that constrains such a column but not the index's leading column (the scan walks the whole
    index and tests every entry: ``customer_id = $1`` on an index of (rental_date, inventory_id, customer_id)),
    or an index estimate at least ``filter_ratio`` times the rows the scan returns. A range query served by
    its index, or a primary-key lookup, gives no proposal in the first place (an index already leads with it).
    """
    if scan.index is None or not proposal.equality:
        return None
    # the index belongs to the scanned table: a partition's own when the proposal is for its partitioned table
    owner = (scan.schema or proposal.schema, scan.table)
    index = next((ix for ix in snapshot.indexes_of(*owner) if ix.name == scan.index), None)
    if index is None:
        return None
    served: list[str] = []
    for col in index.columns:
        if col is None or col not in proposal.equality:
            break
        served.append(col)
    missing = [c for c in proposal.equality if c not in served]
    if not missing:
        return None
    filtered = [c for c in missing if scan.filter and _mentions(scan.filter, c)]
    if filtered:
        return f"{scan.index} leaves {', '.join(filtered)} to a Filter"
    lead = index.columns[0] if index.columns else None
    walked = [c for c in missing if scan.index_cond and _mentions(scan.index_cond, c)]
    if walked and lead is not None and scan.index_cond and not _mentions(scan.index_cond, lead):
        return (f"{scan.index} is walked whole: its Index Cond tests {', '.join(walked)} but not its leading "
                f"column {lead}")
    kept = scan_rows(snapshot, scan)
    if scan.index_rows and kept and scan.index_rows >= filter_ratio * max(kept, 1.0):
        return (f"{scan.index} returns an estimated {scan.index_rows:.0f} rows for {kept:.0f} kept "
                f"({', '.join(missing)} not in the index)")
    return None


def _mentions(text: str, column: str) -> bool:
    """EXPLAIN's condition text names the column (bare, qualified or quoted)."""
    return re.search(r'(?<![\w$])"?' + re.escape(column) + r'"?(?![\w$])', text) is not None


def leading_index(snapshot: Snapshot, schema: str, table: str, columns: Sequence[str], n_eq: int) -> Index | None:
    """An existing valid, non-partial index whose leading keys are ``columns`` (the first n_eq in any order), on
    the table as the planner reads it (a partitioned table's own, or one on every member)."""

    def fits(ix: Index) -> bool:
        if not ix.is_valid or ix.predicate is not None or len(ix.keys) < len(columns):
            return False
        lead = ix.columns[: len(columns)]
        return set(lead[:n_eq]) == set(columns[:n_eq]) and tuple(lead[n_eq:]) == tuple(columns[n_eq:])

    return _tree_index(snapshot, schema, table, fits)


# ------------------------------------------------------------------------------------------------------------
# Coverage and single-row lookups
# ------------------------------------------------------------------------------------------------------------


def plans_by_queryid(snapshot: Snapshot) -> dict[str, PlanSummary]:
    return {p.queryid: p for p in snapshot.plans}


def better_index_verified(proposal: IndexProposal, max_cost_ratio: float = 0.5) -> bool:
    """hypopg planned the statement with the proposed index, used it, and the cost fell to the ratio or less."""
    return (proposal.verified and bool(proposal.used) and proposal.cost_before is not None
            and proposal.cost_after is not None and proposal.cost_after <= proposal.cost_before * max_cost_ratio)


def unexplainable_by_nature(reason: str | None) -> bool:
    """Whether a plan's ``reason`` says the statement has no plan at all (SET, BEGIN, DDL, COPY...), as opposed
    to a statement dbaudit meant to explain and could not (refused, locked, over a budget, unparsed)."""
    return reason == "utility statement" or (reason is not None and reason.endswith(" statement")
                                             and not reason.startswith(("over ", "cannot ")))


def index_coverage(snapshot: Snapshot, large_rows: int = DEFAULT_LARGE_ROWS) -> tuple[float | None, str]:
    """Calls-weighted share (%) of the explained statements whose plan reaches every large table by an index.

    A statement that reads no large table counts as covered (a 3-row lookup table read sequentially is fine).
    Tables are judged as the planner reads them: the partitions of a large partitioned table are large, whatever
    their own size.
    An index scan counts as covered unless it filters most of what its index returns *and* hypopg verified a
    better index (used, cost at least halved): the plan alone is not evidence enough to call an index scan
    uncovered, so without hypopg every index scan counts as covered.
    Returns (None, why) when nothing was explained.
    """
    if snapshot.workload is None or snapshot.workload.status != "ok":
        why = "the workload was not collected" if snapshot.workload is None else (
            snapshot.workload.message or snapshot.workload.status)
        return None, why
    plans = plans_by_queryid(snapshot)
    covered_calls = total_calls = statements = large_statements = uncovered = weak_index = 0
    for stmt in application_statements(snapshot):
        plan = plans.get(stmt.queryid)
        if plan is None or not plan.explained or not stmt.toplevel:
            continue
        statements += 1
        total_calls += stmt.calls
        named = named_tables(snapshot, stmt.query)
        # judged as the planner reads the table: a partition of a large partitioned table is part of it
        large = [s for s in plan.scans if is_large(snapshot, scan_table(snapshot, s, named), large_rows)]
        if large:
            large_statements += 1
        weak = [p for p in plan.proposals if p.current_index is not None and better_index_verified(p)
                and is_large(snapshot, snapshot.table(p.schema, p.table), large_rows)]
        if weak:
            weak_index += 1
            uncovered += 1
        elif all(s.scan_type in INDEX_SCANS or _literal_partial_serves(snapshot, stmt, s, named)
                 for s in large):
            covered_calls += stmt.calls
        else:
            uncovered += 1
    if statements == 0 or total_calls == 0:
        return None, "no statement of the workload could be explained"
    pct = round(100.0 * covered_calls / total_calls, 1)
    how = (f"{statements} explained statements ({total_calls} calls), {large_statements} read a table of "
           f">= {large_rows} rows, {uncovered} reach one without an index")
    if weak_index:
        how += (f" (of which {weak_index} through an index that filters most of what it reads, where hypopg "
                "verified an index at least halving the cost)")
    if snapshot.workload.plan_method:
        how += f" (plans: {snapshot.workload.plan_method})"
    return pct, how


@dataclass(frozen=True)
class Lookup:
    """What makes a statement a single-row lookup: the table and the key it compares for equality."""

    schema: str
    table: str
    columns: tuple[str, ...]  # the key's columns; for a LIMIT lookup the columns compared for equality, if any
    why: str


def single_row_lookup(snapshot: Snapshot, stmt: Statement) -> Lookup | None:
    """Why ``stmt`` is a single-row lookup (equality on a primary or unique key, or LIMIT 1), else None."""
    shape = query_shape(snapshot, stmt.query)
    if shape.kind != "select" or not shape.scopes or stmt.calls <= 0:
        return None
    if stmt.rows > stmt.calls:  # more than one row per call on average: not a single-row lookup
        return None
    top = shape.scopes[0]
    used = scope_columns(snapshot, top)
    for key, uses in used.items():
        eq = {u.column for u in uses if u.kind == "eq"}
        keys = [con for kind in ("primary_key", "unique") for con in snapshot.constraints_of(*key, kind)
                if con.columns and set(con.columns) <= eq]
        if keys:
            # the first in the snapshot's order, as the catalog lists them
            con = keys[0] if len(keys) == 1 else next(
                c for c in snapshot.constraints_of(*key) if any(c is k for k in keys))
            what = "primary key" if con.type == "primary_key" else "unique key"
            return Lookup(key[0], key[1], tuple(con.columns),
                          f"equality on the {what} of {key[0]}.{key[1]} ({', '.join(con.columns)})")
        for ix in snapshot.indexes_of(*key):
            cols = tuple(c for c in ix.columns if c is not None)
            # an index left INVALID by a failed unique build enforces nothing: the rows it names need not be one
            if ix.is_unique and ix.is_valid and ix.predicate is None and cols and len(cols) == len(ix.columns) \
                    and set(cols) <= eq:
                return Lookup(key[0], key[1], cols,
                              f"equality on the unique index {ix.qualified} ({', '.join(cols)})")
    if top.limit_one or (top.has_limit and top.relations):
        tables = [resolve_table(snapshot, r) for r in top.relations]
        if len(tables) == 1 and tables[0] is not None:
            eq_cols = tuple(dict.fromkeys(u.column for u in used.get(tables[0].key, []) if u.kind == "eq"))
            return Lookup(tables[0].schema, tables[0].name, eq_cols, "LIMIT returning at most one row per call")
        return Lookup("", "", (), "LIMIT returning at most one row per call")
    return None


@dataclass(frozen=True)
class Loop:
    """The evidence that a lookup runs in a loop: the statements whose rows it is called once for."""

    parents: tuple[Statement, ...]
    references: tuple[str, ...]  # how the parents' tables name the looked-up row: "public.orders(customer_id) [...]"
    rows: int  # rows the parents returned, all calls together
    calls: int  # the parents' calls

    @property
    def rows_per_call(self) -> float:
        return self.rows / self.calls if self.calls else 0.0


ParentIndex = dict[tuple[str, str], list[tuple[int, Statement, frozenset[tuple[str, str]]]]]


def _parents_by_table(snapshot: Snapshot, statements: Sequence[Statement], min_rows_per_call: float) -> ParentIndex:
    """The statements that can be a loop's parent (top-level SELECTs returning at least ``min_rows_per_call`` rows
    per call), by each table they read, with their position and tables: built once for a run of WL03, which asks
    for every hot lookup (a pass over the whole workload per lookup is lookups x statements)."""
    memo = snapshot.memo.get("loop_parents")
    if memo is not None and memo[0] is statements and memo[1] == min_rows_per_call:
        return memo[2]  # type: ignore[no-any-return]
    index: ParentIndex = {}
    for pos, stmt in enumerate(statements):
        if not stmt.toplevel or stmt.calls <= 0 or stmt.rows < min_rows_per_call * stmt.calls:
            continue
        if query_kind(snapshot, stmt.query) != "select":
            continue
        shape = query_shape(snapshot, stmt.query)
        tables = frozenset(t.key for t in (resolve_table(snapshot, r) for r in shape.relations) if t is not None)
        for key in tables:
            index.setdefault(key, []).append((pos, stmt, tables))
    snapshot.memo["loop_parents"] = (statements, min_rows_per_call, index)
    return index


def loop_parents(snapshot: Snapshot, lookup_stmt: Statement, lookup: Lookup, statements: Sequence[Statement],
                 min_rows_per_call: float = 2.0, tolerance: float = 0.5) -> Loop | None:
    """The parent statements that explain a lookup's calls as a loop over their rows, or None.

    A parent is a SELECT that reads a table whose rows name the looked-up row (a foreign key to the lookup's key,
    or a column named after its table, see :func:`auditor.relations.referencing_columns`) and returns at least
    ``min_rows_per_call`` rows per call: an application that fetches one row and then its parent makes one lookup
    per request, not a loop. The lookup's calls must match the rows the parent returned -- calls x rows per call
    -- within ``tolerance`` (0.5: from half to one and a half times; an identity map that skips repeated keys
    makes fewer calls than rows). The parent closest to a match wins; failing a single one, all the candidates
    together (a lookup made for the rows of two list pages).
    """
    if not lookup.table or lookup_stmt.calls <= 0:
        return None
    refs = referencing_columns(snapshot, lookup.schema, lookup.table, lookup.columns) if lookup.columns else {}
    if not refs:
        return None
    # the statements that read one of the referencing tables, in workload order
    by_table = _parents_by_table(snapshot, statements, min_rows_per_call)
    reading = sorted({pos: (stmt, tables) for key in refs for pos, stmt, tables in by_table.get(key, ())}.items())
    candidates: list[tuple[Statement, tuple[str, ...]]] = []
    for _, (stmt, tables) in reading:
        if stmt.queryid == lookup_stmt.queryid:
            continue
        how = tuple(label for key in sorted(tables & set(refs)) for label in refs[key])
        if how:
            candidates.append((stmt, how))

    def matches(rows: int) -> bool:
        return rows > 0 and (1 - tolerance) * rows <= lookup_stmt.calls <= (1 + tolerance) * rows

    singles = [(abs(math.log(lookup_stmt.calls / p.rows)), p.queryid, p, how) for p, how in candidates
               if matches(p.rows)]
    if singles:
        _, _, parent, how = min(singles, key=lambda c: (c[0], c[1]))
        return Loop((parent,), how, parent.rows, parent.calls)
    if len(candidates) > 1 and matches(sum(p.rows for p, _ in candidates)):
        candidates.sort(key=lambda c: (-c[0].rows, c[0].queryid))
        how = tuple(dict.fromkeys(label for _, labels in candidates for label in labels))
        return Loop(tuple(p for p, _ in candidates), how, sum(p.rows for p, _ in candidates),
                    sum(p.calls for p, _ in candidates))
    return None
