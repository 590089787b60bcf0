"""Tables as the planner and the foreign keys see them, pure functions over the snapshot.

**Partition trees.** A statement names a table; the planner reads it together with its partitions (declarative
partitioning) or its inheritance children, and a plan lists one scan per member. Judging each member on its
own misses a statement that reads a large table through many small partitions, and proposing an index for a
member names a table the statement never mentions. :func:`named_table` maps a scanned member back to the table
the statement named, :func:`planned_rows` gives the rows the planner reads when it reads that table whole (the
members' rows summed), :func:`members` lists the tables an index on it must cover.

**Referential lookups.** A DELETE, or a key UPDATE, on a referenced table makes PostgreSQL look for referencing
rows with ``SELECT 1 FROM ONLY child x WHERE fk_col = $1 [AND ...] FOR KEY SHARE OF x``. An index serves that
lookup when its leading key columns are the foreign key's columns (in any order, a composite key as a whole) and,
for a partial index, when its predicate is implied by the lookup: ``fk_col = $1`` is strict, so it implies
``fk_col IS NOT NULL`` and nothing else. :func:`fk_lookup_indexes` is that notion, shared by IX01 (never drop the
only such index) and IX05 (a foreign key without one).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import BoolExprType, NullTestType

from auditor.model import Index, Snapshot, Table

# BRIN only narrows block ranges: every referential check on a delete would read large parts of the table
FK_LOOKUP_METHODS_EXCLUDED = frozenset({"brin"})


# ------------------------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------------------------


def table_rows(table: Table) -> int | None:
    """Best row estimate of one relation: reltuples when it was analysed, else the live-tuple counter.

    Not the larger of the two: the counter drifts (after CREATE TABLE AS + ANALYZE it counts the rows twice),
    while reltuples is what ANALYZE measured. The counter wins only when the table was never analysed
    (reltuples unknown) or has changed by more than its own size since the last ANALYZE.
    """
    live = table.stats.n_live_tup if table.stats.n_live_tup is not None and table.stats.n_live_tup >= 0 else None
    analysed = table.estimated_rows if table.estimated_rows is not None and table.estimated_rows >= 0 else None
    if analysed is None:
        return live
    changed = table.stats.n_mod_since_analyze
    if live is not None and changed is not None and changed > max(analysed, 1000):
        return live
    return analysed


def members(snapshot: Snapshot, table: Table) -> list[Table]:
    """The table and every partition or inheritance child below it, depth first (each once)."""
    out: list[Table] = []
    seen: set[tuple[str, str]] = set()

    def walk(t: Table) -> None:
        if t.key in seen:
            return
        seen.add(t.key)
        out.append(t)
        for child in snapshot.children_of(t):
            walk(child)

    walk(table)
    return out


def planned_rows(snapshot: Snapshot, table: Table) -> int | None:
    """The rows the planner reads when a statement reads ``table`` whole: its own and its members' rows.

    A partitioned table holds no rows of its own; its analysed estimate is the sum ANALYZE saw over the
    partitions, used only when no partition has a figure. An inheritance parent holds rows of its own besides
    its children's. None when no member has a figure.
    """
    known: list[int] = []
    for member in members(snapshot, table):
        if member.kind == "partitioned":
            continue
        rows = table_rows(member)
        if rows is not None:
            known.append(rows)
    if known:
        return sum(known)
    return table_rows(table) if table.kind == "partitioned" else None


def is_partition_tree(snapshot: Snapshot, table: Table) -> bool:
    """The table is read with partitions or inheritance children: a plan scans more than the table itself."""
    return table.kind == "partitioned" or bool(snapshot.children_of(table))


def ancestors(snapshot: Snapshot, table: Table) -> Iterator[Table]:
    """The table itself, then its parent, the parent's parent... (cycle-safe)."""
    seen: set[tuple[str, str]] = set()
    current: Table | None = table
    while current is not None and current.key not in seen:
        seen.add(current.key)
        yield current
        current = snapshot.parent_of(current)


def named_table(snapshot: Snapshot, scanned: Table, named: Collection[tuple[str, str]]) -> Table:
    """The table a statement named, for a relation its plan scans: the scanned table itself or the nearest
    ancestor the statement names (the partitioned table, the inheritance parent). A member of no named table
    stays itself."""
    for t in ancestors(snapshot, scanned):
        if t.key in named:
            return t
    return scanned


# ------------------------------------------------------------------------------------------------------------
# Referential lookups
# ------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _not_null_columns(predicate: str) -> frozenset[str] | None:
    """The columns of a predicate that is a conjunction of ``col IS NOT NULL`` tests, else None."""
    try:
        raw = parse_sql(f"SELECT 1 WHERE {predicate}")
    except Exception:  # noqa: BLE001 - pglast raises its own ParseError and a few others; all mean "not provable"
        return None
    where = getattr(raw[0].stmt, "whereClause", None) if raw else None
    out: set[str] = set()

    def collect(node: Any) -> bool:
        if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
            return all(collect(arg) for arg in node.args or ())
        if isinstance(node, ast.NullTest) and node.nulltesttype == NullTestType.IS_NOT_NULL \
                and isinstance(node.arg, ast.ColumnRef):
            fields = node.arg.fields or ()
            last = fields[-1] if fields else None
            if isinstance(last, ast.String):
                out.add(str(last.sval))
                return True
        return False

    return frozenset(out) if where is not None and collect(where) else None


def implied_by_lookup(predicate: str | None, columns: Collection[str]) -> bool:
    """A partial index's predicate holds for every row a lookup ``col = $1`` on ``columns`` can find.

    The lookup's equality is strict, so it implies ``col IS NOT NULL`` for each of the columns; PostgreSQL's
    planner proves exactly that (predtest.c), and nothing more, from a parameter it does not know.
    """
    if predicate is None:
        return True
    tested = _not_null_columns(predicate)
    return tested is not None and tested <= set(columns)


def serves_fk_lookup(index: Index, columns: Sequence[str]) -> bool:
    """The index can serve a referential lookup on ``columns``: valid, not BRIN, its first len(columns) keys
    are those columns (any order, no expression), and a partial one's predicate is implied by the lookup."""
    if not index.is_valid or index.method in FK_LOOKUP_METHODS_EXCLUDED or not columns:
        return False
    n = len(columns)
    if len(index.keys) < n:
        return False
    leading = index.columns[:n]
    if any(c is None for c in leading) or sorted(c for c in leading if c is not None) != sorted(columns):
        return False
    return implied_by_lookup(index.predicate, columns)


def fk_lookup_indexes(snapshot: Snapshot, schema: str, table: str, columns: Sequence[str]) -> list[Index]:
    """The indexes of one table that serve a referential lookup on ``columns``."""
    return [ix for ix in snapshot.indexes_of(schema, table) if serves_fk_lookup(ix, columns)]


def fk_lookup_served(snapshot: Snapshot, table: Table, columns: Sequence[str]) -> bool:
    """An index serves the lookups of a foreign key on ``table``: one of its own, or, for a partitioned table,
    one on every partition (the lookups run partition by partition)."""
    if fk_lookup_indexes(snapshot, table.schema, table.name, columns):
        return True
    if table.kind != "partitioned":
        return False
    parts = snapshot.children_of(table)
    return bool(parts) and all(fk_lookup_served(snapshot, p, columns) for p in parts)
