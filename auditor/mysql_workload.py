"""MySQL / MariaDB workload analysis, pure: digest texts parsed with sqlglot, EXPLAIN FORMAT=JSON read, latency.

Nothing here touches a connection. performance_schema's ``events_statements_summary_by_digest`` keeps, per
normalized statement (a *digest*), its calls, total / min / mean / max latency in picoseconds, rows sent and
examined, and executions that scanned without an index. MySQL 8 adds ``QUANTILE_95`` / ``QUANTILE_99`` (read
from a per-digest histogram) and one ``QUERY_SAMPLE_TEXT`` with real values; MariaDB 10.11 has neither.

- :func:`analyze_mysql` gives a digest text the same :class:`~auditor.workload.QueryShape` the PostgreSQL side
  gets from pglast (relations, equality / range / sort columns per level, LIMIT / OFFSET), so the index
  proposal, the N+1 and the OFFSET checks work unchanged.
- :func:`explain_scans` reads the table accesses of ``EXPLAIN FORMAT=JSON`` (MySQL 8 and MariaDB shapes).
- :func:`stddev_from_quantile` (MySQL 8) and :func:`stddev_from_extremes` (MariaDB) give each statement the
  standard deviation the latency model of :mod:`auditor.workload` needs; both fit the same log-normal shifted
  to the minimum, to the server's P95 where there is one, else to the maximum read as the
  ``1 - 1/(calls + 1)`` quantile (the expected position of the largest of ``calls`` draws).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import statistics
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import sqlglot
from sqlglot import exp

from auditor.workload import PROBE_ALIAS, ColumnUse, QueryShape, RelationRef, Scope

# sqlglot warns on stderr about every statement it reads as a bare command (GRANT, CREATE USER...): those are
# utility statements to dbaudit, and a scan's stderr carries only its own one-line messages
logging.getLogger("sqlglot").setLevel(logging.ERROR)

SYSTEM_SCHEMAS = frozenset({"mysql", "performance_schema", "information_schema", "sys"})

# performance_schema digests strip comments, so the /* dbaudit */ marker every statement carries does not
# survive into DIGEST_TEXT; statements of dbaudit that read user tables carry the column alias PROBE_ALIAS
# (defined with the marker in auditor.workload) instead.

PICOSECONDS_PER_MS = 1e9

_STD_NORMAL = statistics.NormalDist()

# EXPLAIN access_type -> the scan names auditor.workload sorts into index / sequential scans
ACCESS_TYPES: Mapping[str, str] = {
    "ALL": "Full Table Scan",
    "index": "Full Index Scan",
    "range": "Index Range Scan",
    "ref": "Index Lookup",
    "eq_ref": "Index Lookup",
    "const": "Index Lookup",
    "system": "Index Lookup",
    "ref_or_null": "Index Lookup",
    "fulltext": "Index Lookup",
    "index_merge": "Index Lookup",
    "unique_subquery": "Index Lookup",
    "index_subquery": "Index Lookup",
}

_SESSION = (exp.Set, exp.Transaction, exp.Commit, exp.Rollback, exp.Use, exp.Show)
_KINDS: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Select, "select"), (exp.Union, "select"), (exp.Intersect, "select"), (exp.Except, "select"),
    (exp.Insert, "insert"), (exp.Update, "update"), (exp.Delete, "delete"),
)
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE)


def digest_to_sql(text: str) -> str:
    """A digest text sqlglot can parse: ``IN (...)`` (a collapsed value list) becomes ``IN (?)``.

    MariaDB also collapses a run of values outside parentheses: ``LIMIT ?, 20`` (the comma form of OFFSET)
    becomes ``LIMIT ?, ...``, which becomes ``LIMIT ?, ?`` here. A text cut at max_digest_length ends in
    ``...`` after anything but ``?,``, so it stays recognisable as truncated.
    """
    sql = re.sub(r"\(\s*\.\.\.\s*\)", "(?)", text).strip()
    return re.sub(r"\?\s*,\s*\.\.\.", "?, ?", sql)


@functools.lru_cache(maxsize=8192)
def analyze_mysql(text: str) -> QueryShape:
    """The shape of a MySQL digest text (or any MySQL statement), in the model :mod:`auditor.workload` uses."""
    sql = digest_to_sql(text)
    if sql.endswith("...") or not sql:
        return QueryShape(kind="unparsed", error="statement text truncated (max_digest_length)")
    try:
        tree = sqlglot.parse_one(sql, read="mysql")
    except Exception as exc:  # noqa: BLE001 - sqlglot raises ParseError, TokenError and a few others
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return QueryShape(kind="unparsed", error=first)
    if tree is None:
        return QueryShape(kind="unparsed", error="empty statement")
    if isinstance(tree, _SESSION):
        return QueryShape(kind="session")
    kind = next((k for t, k in _KINDS if isinstance(tree, t)), "utility")
    if kind == "utility":
        return QueryShape(kind="utility")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    relations = [_relation(t) for t in tree.find_all(exp.Table) if not (not t.db and t.name in ctes) and t.name]
    scopes = [_scope(node, ctes) for node in tree.walk() if isinstance(node, exp.Select | exp.Update | exp.Delete)]
    params = sum(1 for _ in tree.find_all(exp.Placeholder))
    return QueryShape(kind=kind, relations=tuple(dict.fromkeys(relations)), scopes=tuple(scopes), params=params)


def _relation(table: exp.Table) -> RelationRef:
    return RelationRef(schema=table.db or None, name=table.name, alias=table.alias or None)


def _scope(node: exp.Expression, ctes: set[str]) -> Scope:
    relations: list[RelationRef] = []
    conditions: list[exp.Expression] = []

    def from_item(item: exp.Expression | None) -> None:
        if isinstance(item, exp.Table) and item.name and not (not item.db and item.name in ctes):
            relations.append(_relation(item))
        # derived tables are scopes of their own

    if isinstance(node, exp.Select):
        source = node.args.get("from_") or node.args.get("from")
        if isinstance(source, exp.From):
            from_item(source.this)
    else:
        from_item(node.this)
        using = node.args.get("using")
        for item in using if isinstance(using, list) else ():
            from_item(item)
    for join in node.args.get("joins") or ():
        from_item(join.this)
        on = join.args.get("on")
        if on is not None:
            conditions.append(on)
    where = node.args.get("where")
    if isinstance(where, exp.Where):
        conditions.append(where.this)
    uses: list[ColumnUse] = []
    for cond in conditions:
        _conditions(cond, uses)
    has_limit = has_offset = limit_one = False
    if isinstance(node, exp.Select):
        order = node.args.get("order")
        for ordered in order.expressions if isinstance(order, exp.Order) else ():
            col = _column(ordered.this if isinstance(ordered, exp.Ordered) else ordered)
            if col is not None:
                uses.append(ColumnUse(col[0], col[1], "sort"))
        limit = node.args.get("limit")
        has_limit = limit is not None
        count = limit.expression if isinstance(limit, exp.Limit) else None
        limit_one = isinstance(count, exp.Literal) and not count.is_string and count.this == "1"
        has_offset = node.args.get("offset") is not None or (
            isinstance(limit, exp.Limit) and limit.args.get("offset") is not None)
    return Scope(relations=tuple(relations), uses=tuple(uses), has_limit=has_limit, has_offset=has_offset,
                 limit_one=limit_one)


def _column(node: Any) -> tuple[str | None, str] | None:
    if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
        return None
    return (node.table or None), node.name


def _is_value(node: Any) -> bool:
    """A placeholder, literal or expression of them: no column and no subquery inside."""
    if not isinstance(node, exp.Expression):
        return False
    return not any(isinstance(n, exp.Column | exp.Subquery | exp.Select) for n in node.walk())


def _conditions(node: exp.Expression, uses: list[ColumnUse]) -> None:
    if isinstance(node, exp.Paren):
        _conditions(node.this, uses)
        return
    if isinstance(node, exp.And):
        _conditions(node.this, uses)
        _conditions(node.expression, uses)
        return
    if isinstance(node, exp.EQ):
        left, right = _column(node.this), _column(node.expression)
        if left and right:
            uses.append(ColumnUse(left[0], left[1], "join"))
            uses.append(ColumnUse(right[0], right[1], "join"))
        elif left and _is_value(node.expression):
            uses.append(ColumnUse(left[0], left[1], "eq"))
        elif right and _is_value(node.this):
            uses.append(ColumnUse(right[0], right[1], "eq"))
    elif isinstance(node, _RANGE):
        left, right = _column(node.this), _column(node.expression)
        if left and not right and _is_value(node.expression):
            uses.append(ColumnUse(left[0], left[1], "range"))
        elif right and not left and _is_value(node.this):
            uses.append(ColumnUse(right[0], right[1], "range"))
    elif isinstance(node, exp.In):
        col = _column(node.this)
        values = node.expressions
        if col and values and all(_is_value(v) for v in values):
            uses.append(ColumnUse(col[0], col[1], "eq"))
    elif isinstance(node, exp.Between):
        col = _column(node.this)
        if col and _is_value(node.args.get("low")) and _is_value(node.args.get("high")):
            uses.append(ColumnUse(col[0], col[1], "range"))
    # OR, NOT, LIKE, functions of columns: no single b-tree index serves them reliably


_QUALIFIED = re.compile(r"`?(\w+)`?\s*\.\s*`?\w+`?")


def touches_only_system_schemas(shape: QueryShape, default_schema: str | None, text: str = "") -> bool:
    """Every relation lives in mysql / performance_schema / information_schema / sys.

    A digest sqlglot cannot parse (catalog queries use functions it does not know) is judged from its
    qualified names: all of them in system schemas.
    """
    if shape.kind == "unparsed" and text:
        schemas = {m.group(1).lower() for m in _QUALIFIED.finditer(text)}
        return bool(schemas) and schemas <= SYSTEM_SCHEMAS
    if not shape.relations:
        return False
    return all((r.schema or default_schema or "").lower() in SYSTEM_SCHEMAS for r in shape.relations)


def names_audited_schema(shape: QueryShape, text: str, audited: Collection[str]) -> bool:
    """A digest recorded without a default database (``SCHEMA_NAME`` NULL) that qualifies a table of an audited
    schema (lower-case names in ``audited``): it belongs to the audited workload like any other."""
    if shape.kind != "unparsed" and shape.relations:
        return any(r.schema is not None and r.schema.lower() in audited for r in shape.relations)
    return any(m.group(1).lower() in audited for m in _QUALIFIED.finditer(text))


def is_probe_text(text: str) -> bool:
    """A digest of a statement dbaudit sent itself (its marker alias survives normalization)."""
    return PROBE_ALIAS in text


# ------------------------------------------------------------------------------------------------------------
# EXPLAIN FORMAT=JSON
# ------------------------------------------------------------------------------------------------------------


def explain_scans(doc: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every table access of an EXPLAIN FORMAT=JSON document (MySQL 8 or MariaDB), depth first.

    Yields ``{"table": name or alias, "access_type": ..., "scan_type": ..., "key": index or None, "rows":
    rows after the attached condition (rows examined times filtered %), or None}``.
    """
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop(0)
        if isinstance(node, list):
            stack[0:0] = node
            continue
        if not isinstance(node, Mapping):
            continue
        table = node.get("table")
        if isinstance(table, Mapping) and "table_name" in table and "access_type" in table:
            access = str(table["access_type"])
            examined = table.get("rows_examined_per_scan", table.get("rows"))
            filtered = table.get("filtered")
            rows = None
            if examined is not None:
                rows = float(examined) * (float(filtered) / 100.0 if filtered is not None else 1.0)
            yield {"table": str(table["table_name"]), "access_type": access,
                   "scan_type": ACCESS_TYPES.get(access, access), "key": table.get("key"), "rows": rows}
        stack[0:0] = [v for v in node.values() if isinstance(v, Mapping | list)]


def explain_cost(doc: Mapping[str, Any]) -> float | None:
    """The query block's cost (MySQL 8 ``cost_info.query_cost``); None where the server gives none (MariaDB)."""
    block = doc.get("query_block")
    if not isinstance(block, Mapping):
        return None
    cost = block.get("cost_info", {}).get("query_cost") if isinstance(block.get("cost_info"), Mapping) else None
    return None if cost is None else float(cost)


# ------------------------------------------------------------------------------------------------------------
# Latency
# ------------------------------------------------------------------------------------------------------------


def _sigma_for(d: float, z: float) -> float:
    """The log-normal sigma that puts quantile z at exp(d) times the mean's distance from the origin.

    Solves d = z*s - s^2/2 (mean fixed: mu = log(m) - s^2/2) for its smaller root; a point further out than
    any log-normal with that mean can put it takes the largest sigma that moves it outward, s = z.
    """
    if d <= 0 or z <= 0:
        return 0.0
    disc = z * z - 2 * d
    return z - math.sqrt(disc) if disc > 0 else z


def _stddev(origin_gap: float, sigma: float) -> float:
    return origin_gap * math.sqrt(math.expm1(sigma * sigma))


def stddev_from_quantile(mean: float, low: float, value: float, q: float) -> float:
    """MySQL 8: the standard deviation of the shifted log-normal whose q-quantile is the server's figure."""
    gap = mean - low
    if gap <= 0 or value <= low:
        return 0.0
    sigma = _sigma_for(math.log((value - low) / gap), _STD_NORMAL.inv_cdf(q))
    return _stddev(gap, sigma)


def stddev_from_extremes(calls: int, mean: float, low: float, high: float) -> float:
    """MariaDB: a standard deviation from calls, mean, min and max (performance_schema keeps no stddev).

    The maximum of ``calls`` draws sits near the ``1 - 1/(calls + 1)`` quantile; the shifted log-normal with
    the observed mean that puts that quantile at the observed maximum gives sigma. One or two calls have no
    spread to estimate (the latency model treats them as their points).
    """
    gap = mean - low
    if calls <= 2 or gap <= 0 or high <= mean:
        return 0.0
    q = 1.0 - 1.0 / (calls + 1)
    sigma = _sigma_for(math.log((high - low) / gap), _STD_NORMAL.inv_cdf(q))
    return _stddev(gap, sigma)


PERCENTILE_METHOD_QUANTILES = (
    "MySQL 8 digest quantiles (QUANTILE_95/QUANTILE_99, from the server's per-digest latency histogram) per "
    "statement; the workload-wide figures are the calls-weighted mixture of per-statement log-normals shifted to "
    "the minimum and fitted to the mean and the server's P95, truncated at the maximum"
)
PERCENTILE_METHOD_EXTREMES = (
    "estimate: performance_schema on MariaDB keeps calls, mean, min and max but no stddev and no quantiles; each "
    "statement is a log-normal shifted to its minimum with its mean, whose 1-1/(calls+1) quantile is its "
    "maximum; the workload-wide figures are the calls-weighted mixture, truncated at each maximum"
)
