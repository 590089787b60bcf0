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
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from operator import attrgetter, methodcaller
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import BoolExprType, NullTestType

from auditor import sqlquote
from auditor.model import Constraint, Index, Snapshot, Table

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


def summed(values: Iterable[int | None]) -> int | None:
    """The sum of the known figures; None when none is known (the members of a partition tree, the indexes
    attached to a partitioned index: one member without a figure does not make the whole unknown)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def attached_indexes(snapshot: Snapshot) -> dict[tuple[str, str, str], list[Index]]:
    """(schema, table, name) of a partitioned index -> the indexes attached to it, one per partition (PostgreSQL
    keeps the scan counters on these: the partitioned index has none of its own)."""
    out: dict[tuple[str, str, str], list[Index]] = {}
    for ix in snapshot.indexes:
        if ix.parent_index is None:
            continue
        table = snapshot.table(ix.schema, ix.table)
        parent = snapshot.parent_of(table) if table is not None else None
        if parent is not None:
            out.setdefault((parent.schema, parent.name, ix.parent_index), []).append(ix)
    return out


def partition_indexes(attached: dict[tuple[str, str, str], list[Index]], ix: Index) -> list[Index]:
    """The indexes of the leaf partitions attached to a partitioned index, through sub-partitioned levels."""
    out: list[Index] = []
    for child in attached.get((ix.schema, ix.table, ix.name), []):
        below = partition_indexes(attached, child)
        out.extend(below or [child])
    return out


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
    rows = summed(table_rows(m) for m in members(snapshot, table) if m.kind != "partitioned")
    if rows is not None:
        return rows
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
# References
# ------------------------------------------------------------------------------------------------------------

# A column that names another entity: customer_id, customerId, CustomerID (not a bare "id").
_REF_COLUMN = re.compile(r"^(?P<stem>.+?)_?(?:id|Id|ID)$")
_REF_ENDINGS = ("id", "Id", "ID")
_REF_ENDINGS_OR_NEWLINE = (*_REF_ENDINGS, "\n")  # $ also matches before a final newline
_ref_shaped = methodcaller("endswith", _REF_ENDINGS_OR_NEWLINE)


def _singular_forms(name: str) -> set[str]:
    """The names a table of entities called ``name`` may have: customer -> customer, customers, customeres..."""
    n = name.lower()
    forms = {n, n + "s", n + "es"}
    if n.endswith("y"):
        forms.add(n[:-1] + "ies")
    return forms


@functools.lru_cache(maxsize=4096)  # the same stems (parent_id, customer_id) in table after table
def _table_forms(stem: str) -> tuple[str, ...]:
    return tuple(sorted(_singular_forms(stem)))


def reference_candidates(snapshot: Snapshot, tables: list[Table]) -> list[tuple[Table, str, Table]]:
    """(table, column, referenced table) for columns named after another table of the same schema.

    ``orders.customer_id`` with a table ``customers`` (or ``customer``) is a candidate. A table's own key
    (``film.film_id``) is not, nor the key a partition or an inheritance child has from its parent, and neither
    is a column named after no table (``external_id``).
    """
    by_name: dict[tuple[str, str], Table] = {}
    for t in tables:
        by_name.setdefault((t.schema, t.name.lower()), t)
    out: list[tuple[Table, str, Table]] = []
    # the table a column name points to, per schema and name: the same names (parent_id, customer_id) come back
    # in table after table
    named: dict[str, dict[str, Table | None]] = {}
    for t in tables:
        schema = t.schema
        known = named.get(schema)
        if known is None:
            known = named[schema] = {}
        # the pattern's end, tested first, in C: most columns end otherwise (tens of thousands on a large database)
        for name in filter(_ref_shaped, map(_name_of, t.columns)):
            if name in known:
                target = known[name]
            else:
                target = known[name] = _named_table(by_name, schema, name)
            # a table's own key (film.film_id) is no reference, nor is the key an inheritance child or a partition
            # has from its parent (payment_p2007_01.payment_id in jOOQ's sakila); a table without a parent is its
            # only ancestor
            if target is None or target.key == t.key or (
                    t.parent and any(a.key == target.key for a in ancestors(snapshot, t))):
                continue
            out.append((t, name, target))
    return out


def _named_table(by_name: dict[tuple[str, str], Table], schema: str, name: str) -> Table | None:
    """The table of ``schema`` a column called ``name`` is named after (customer_id -> customers), if any."""
    m = _REF_COLUMN.match(name)
    if m is None or not m.group("stem").strip("_"):
        return None
    stem = m.group("stem").rstrip("_")
    return next((by_name[(schema, f)] for f in _table_forms(stem) if (schema, f) in by_name), None)


def _named_references(snapshot: Snapshot) -> dict[tuple[str, str], list[tuple[Table, str, Table]]]:
    """:func:`reference_candidates` over the snapshot's tables, by referenced table: computed once per snapshot
    (WL03 asks for every hot lookup, and each pass reads every column of every table)."""
    found = snapshot.memo.get("named_references")
    if found is None:
        tables = [t for t in snapshot.tables if t.kind in ("table", "partitioned")]
        found = {}
        for child, column, target in reference_candidates(snapshot, tables):
            found.setdefault(target.key, []).append((child, column, target))
        snapshot.memo["named_references"] = found
    return found  # type: ignore[no-any-return]


def _foreign_keys_to(snapshot: Snapshot) -> dict[tuple[str, str], list[Constraint]]:
    """The foreign keys by the table they reference, in snapshot order; once per snapshot."""
    found = snapshot.memo.get("foreign_keys_to")
    if found is None:
        found = {}
        for fk in snapshot.foreign_keys():
            if fk.ref_table is not None:  # Constraint.ref_table_key, without a call per key
                found.setdefault((fk.ref_schema or fk.schema, fk.ref_table), []).append(fk)
        snapshot.memo["foreign_keys_to"] = found
    return found  # type: ignore[no-any-return]


def referencing_columns(snapshot: Snapshot, schema: str, table: str,
                        columns: Sequence[str]) -> dict[tuple[str, str], list[str]]:
    """The tables whose rows name one row of ``schema.table`` by ``columns``, with how: table key -> labels.

    Declared foreign keys to exactly those columns count ("orders(customer_id) [orders_customer_id_fkey]"), and,
    when ``columns`` is the table's one-column primary key, columns named after the table that no foreign key
    declares ("orders(customer_id), named after it": many schemas leave their references undeclared).
    """
    out: dict[tuple[str, str], list[str]] = {}
    declared: set[tuple[str, str, str]] = set()
    for fk in _foreign_keys_to(snapshot).get((schema, table), ()):
        if sorted(fk.ref_columns) == sorted(columns):
            out.setdefault(fk.table_key, []).append(f"{fk.schema}.{fk.table}({', '.join(fk.columns)}) [{fk.name}]")
            declared.update((fk.schema, fk.table, c) for c in fk.columns)
    pk = snapshot.constraints_of(schema, table, "primary_key")
    if len(columns) == 1 and pk and tuple(pk[0].columns) == tuple(columns):
        for child, column, _target in _named_references(snapshot).get((schema, table), ()):
            if (child.schema, child.name, column) not in declared:
                out.setdefault(child.key, []).append(
                    f"{child.schema}.{child.name}({column}), named after {schema}.{table}")
    return out


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


@functools.lru_cache(maxsize=4096)
def literal_equality_columns(predicate: str) -> frozenset[str] | None:
    """The columns of a predicate that is a conjunction of ``col = constant`` (or ``col IN (constants)``)
    tests, else None: ``(status = 'open'::text)`` -> {status}."""
    try:
        raw = parse_sql(f"SELECT 1 WHERE {predicate}")
    except Exception:  # noqa: BLE001 - pglast raises its own ParseError and a few others; all mean "not provable"
        return None
    where = getattr(raw[0].stmt, "whereClause", None) if raw else None
    out: set[str] = set()

    def constant(node: Any) -> bool:
        while isinstance(node, ast.TypeCast):
            node = node.arg
        if isinstance(node, ast.A_Const):
            return True
        return isinstance(node, tuple | list) and all(constant(n) for n in node)

    def column(node: Any) -> str | None:
        while isinstance(node, ast.TypeCast):
            node = node.arg
        if isinstance(node, ast.ColumnRef):
            fields = node.fields or ()
            last = fields[-1] if fields else None
            if isinstance(last, ast.String):
                return str(last.sval)
        return None

    def collect(node: Any) -> bool:
        if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
            return all(collect(arg) for arg in node.args or ())
        if isinstance(node, ast.A_Expr) and node.name and getattr(node.name[-1], "sval", None) == "=":
            name = column(node.lexpr)
            if name is not None and constant(node.rexpr):
                out.add(name)
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
    keys = index.columns
    # the common case first: the index leads with another column (also rejects an empty ``columns``)
    if not keys or keys[0] not in columns:
        return False
    if not index.is_valid or index.method in FK_LOOKUP_METHODS_EXCLUDED:
        return False
    n = len(columns)
    if len(keys) < n:
        return False
    leading = keys[:n]
    if n > 1 and (None in leading or sorted(c for c in leading if c is not None) != sorted(columns)):
        return False
    return implied_by_lookup(index.predicate, columns)


def fk_lookup_indexes(snapshot: Snapshot, schema: str, table: str, columns: Sequence[str]) -> list[Index]:
    """The indexes of one table that serve a referential lookup on ``columns``."""
    if len(columns) == 1:
        # most keys have one column: only the indexes that lead with it can serve them, found without a pass over
        # the table's indexes (IX05 asks for every foreign key)
        candidates = snapshot.indexes_leading_with(schema, table, columns[0])
    else:
        candidates = snapshot.indexes_of(schema, table)
    return [ix for ix in candidates if serves_fk_lookup(ix, columns)]


def fk_lookup_served(snapshot: Snapshot, table: Table, columns: Sequence[str]) -> bool:
    """An index serves the lookups of a foreign key on ``table``: one of its own, or, for a partitioned table,
    one on every partition (the lookups run partition by partition)."""
    if fk_lookup_indexes(snapshot, table.schema, table.name, columns):
        return True
    if table.kind != "partitioned":
        return False
    parts = snapshot.children_of(table)
    return bool(parts) and all(fk_lookup_served(snapshot, p, columns) for p in parts)


# ------------------------------------------------------------------------------------------------------------
# Creating an index on the table as the planner sees it
# ------------------------------------------------------------------------------------------------------------

# Beyond this many partitions the statement shows the per-partition steps as a comment rather than one per partition.
MAX_LISTED_PARTITIONS = 12


def new_index_name(table: str, columns: Sequence[str], suffix: str = "idx") -> str:
    """A name in the server's own style (table_col1_col2_idx), cut to PostgreSQL's 63-byte identifier limit."""
    base = "_".join([table, *columns]).replace(" ", "_")
    room = 63 - len(suffix.encode()) - 1
    if len(base) > room or not base.isascii():  # else it fits as it is, a byte per character
        base = base.encode()[:room].decode(errors="ignore")
    return f"{base}_{suffix}"


_name_of = attrgetter("name")
_schema_and_name_of = attrgetter("schema", "name")


class IndexNames:
    """New index names that collide with nothing: on PostgreSQL indexes and tables share one namespace per
    schema, on MySQL an index name is unique per table. Built once per run; each name given is reserved."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._per_table = snapshot.engine == "mysql"
        self._given: dict[tuple[str, ...], set[str]] = {}  # the names this one gave, per namespace
        self._table_indexes: dict[tuple[str, str], frozenset[str]] = {}  # MySQL: the names of a table's indexes
        self._index_names: frozenset[str] | None = None  # PostgreSQL: every index's name, read at the first name

    def _taken(self, schema: str, table: str, name: str) -> bool:
        """The namespace has an index of that name or, on PostgreSQL, a table."""
        if self._per_table:
            names = self._table_indexes.get((schema, table))
            if names is None:
                names = self._table_indexes[(schema, table)] = frozenset(
                    map(_name_of, self._snapshot.indexes_of(schema, table)))
            return name in names
        if (schema, name) in self._snapshot.table_map:
            return True
        index_names = self._index_names
        if index_names is None:
            index_names = self._index_names = _index_names(self._snapshot)
        # a proposed name rarely is any index's: the pairs with the schemas are made only then
        return name in index_names and (schema, name) in _index_schema_names(self._snapshot)

    def new(self, schema: str, table: str, columns: Sequence[str]) -> str:
        space = (schema, table) if self._per_table else (schema,)
        given = self._given.get(space)
        if given is None:
            given = self._given[space] = set()
        name = new_index_name(table, columns)
        n = 1
        while name in given or self._taken(schema, table, name):
            name = new_index_name(table, columns, suffix=f"idx{n}")
            n += 1
        given.add(name)
        return name


def _index_names(snapshot: Snapshot) -> frozenset[str]:
    """The name of every index, in any schema: once per snapshot, shared by the checks that propose indexes (tens
    of thousands of names, read in one pass in C, without a (schema, name) pair made for each; the tables' are
    the keys of ``Snapshot.table_map``)."""
    found = snapshot.memo.get("index_names")
    if found is None:
        found = snapshot.memo["index_names"] = frozenset(map(_name_of, snapshot.indexes))
    return found  # type: ignore[no-any-return]


def _index_schema_names(snapshot: Snapshot) -> frozenset[tuple[str, str]]:
    """(schema, name) of every index: once per snapshot, when a proposed name is some index's."""
    found = snapshot.memo.get("index_schema_names")
    if found is None:
        found = snapshot.memo["index_schema_names"] = frozenset(map(_schema_and_name_of, snapshot.indexes))
    return found  # type: ignore[no-any-return]


def create_index_sql(snapshot: Snapshot, table: Table, columns: Sequence[str], names: IndexNames,
                     with_children: bool = True, expression: str | None = None) -> str:
    """The statements that create a B-tree index on ``columns`` of ``table`` without blocking writes for long.

    - MySQL/MariaDB: one online CREATE INDEX (InnoDB builds a secondary index while reads and writes go on).
    - A plain PostgreSQL table: CREATE INDEX CONCURRENTLY.
    - A partitioned table, where PostgreSQL refuses CONCURRENTLY and a plain CREATE INDEX blocks writes to every
      partition until all are indexed: the parent's index ON ONLY the parent (invalid, empty), each partition's
      built CONCURRENTLY and attached; the parent's index becomes valid once every partition has one.
    - An inheritance parent (``with_children``): its children do not share its indexes, so one index per table.

    ``expression`` (PostgreSQL): an index on that expression of ``columns``' one column instead, named after it.
    """
    engine = snapshot.engine
    if engine == "mysql":
        name = names.new(table.schema, table.name, columns)
        # in CREATE INDEX the two options take a space, not a comma: the comma form is ALTER TABLE's, and
        # MariaDB and MySQL both refuse it here (error 1064)
        return (f"CREATE INDEX {sqlquote.mysql_ident(name)} ON {sqlquote.mysql_qualified(table.schema, table.name)} "
                f"({sqlquote.column_list(engine, columns)}) ALGORITHM=INPLACE LOCK=NONE;")
    cols = f"({expression})" if expression else sqlquote.pg_column_list(columns)
    if expression:
        columns = tuple(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression))[:4] or tuple(columns)  # for the name
    if table.kind == "partitioned":
        return _partitioned_index_sql(snapshot, table, columns, names, cols, attach=expression is None)
    if not with_children:  # the table alone (IX05's thousands of foreign keys): the loop below, for one target
        name = names.new(table.schema, table.name, columns)
        return (f"CREATE INDEX CONCURRENTLY {sqlquote.pg_ident(name)} "
                f"ON {sqlquote.pg_qualified(table.schema, table.name)} ({cols});")
    targets = members(snapshot, table)
    if len(targets) > 1:
        # an inheritance tree: the members that already have the index need none
        targets = [t for t in targets if expression or not _has_index_on(snapshot, t, columns)] or [table]
    lines = []
    if len(targets) > 1 or targets[0].key != table.key:
        lines.append("-- inheritance children do not share their parent's indexes: one index per table")
    for t in targets:
        name = names.new(t.schema, t.name, columns)
        lines.append(f"CREATE INDEX CONCURRENTLY {sqlquote.pg_ident(name)} "
                     f"ON {sqlquote.pg_qualified(t.schema, t.name)} ({cols});")
    return "\n".join(lines)


def _has_index_on(snapshot: Snapshot, table: Table, columns: Sequence[str]) -> bool:
    n = len(columns)
    return any(ix.is_valid and ix.predicate is None and tuple(ix.columns[:n]) == tuple(columns)
               for ix in snapshot.indexes_of(table.schema, table.name))


def attachable_index(snapshot: Snapshot, part: Table, columns: Sequence[str]) -> Index | None:
    """A partition's index that ``ALTER INDEX parent ATTACH PARTITION`` accepts for a plain B-tree index on
    ``columns``: valid, attached to no other index, B-tree, not unique, no predicate nor INCLUDE, exactly those
    columns in that order, ascending, with the default operator class and collation."""
    for ix in snapshot.indexes_of(part.schema, part.name):
        if (not ix.is_valid or ix.is_partition_child or ix.is_unique or ix.backs_constraint or ix.method != "btree"
                or ix.predicate is not None or ix.include or len(ix.keys) != len(columns)):
            continue
        if all(k.column == c and k.expression is None and not k.descending and not k.nulls_first
               and k.opclass is None and k.collation is None for k, c in zip(ix.keys, columns, strict=True)):
            return ix
    return None


def unserved_partitions(snapshot: Snapshot, table: Table, columns: Sequence[str]) -> list[Table]:
    """The leaf partitions of a partitioned table whose foreign-key lookups on ``columns`` no index serves."""
    out: list[Table] = []
    for part in sorted(snapshot.children_of(table), key=lambda t: (t.schema, t.name)):
        if fk_lookup_indexes(snapshot, part.schema, part.name, columns):
            continue
        if part.kind == "partitioned":
            out.extend(unserved_partitions(snapshot, part, columns))
        else:
            out.append(part)
    return out


def _partitioned_index_sql(snapshot: Snapshot, table: Table, columns: Sequence[str], names: IndexNames, cols: str,
                           attach: bool = True) -> str:
    parent_index = names.new(table.schema, table.name, columns)
    lines = [f"CREATE INDEX {sqlquote.pg_ident(parent_index)} "
             f"ON ONLY {sqlquote.pg_qualified(table.schema, table.name)} ({cols});"]
    parts = sorted(snapshot.children_of(table), key=lambda t: (t.schema, t.name))
    if not parts:
        return lines[0]
    if len(parts) > MAX_LISTED_PARTITIONS:
        stem = "_".join(columns)
        lines.append(f"-- then, for each of its {len(parts)} partitions (a sub-partitioned one without CONCURRENTLY):")
        lines.append(f"--   CREATE INDEX CONCURRENTLY <partition>_{stem}_idx ON <partition> ({cols});")
        lines.append(f"--   ALTER INDEX {sqlquote.pg_qualified(table.schema, parent_index)} ATTACH PARTITION "
                     f"<partition>_{stem}_idx;")
        having = [p.name for p in parts if attach and attachable_index(snapshot, p, columns) is not None]
        if having:
            many = f"{len(having)} partitions have" if len(having) > 1 else "1 partition has"
            lines.append(f"-- {many} an index on exactly ({cols}) already (e.g. {having[0]}): attach that one "
                         "instead of building another")
        lines.append("-- the parent's index becomes valid when every partition's index is attached")
        return "\n".join(lines)
    for part in parts:
        existing = attachable_index(snapshot, part, columns) if attach else None
        if existing is not None:
            # the partition has the very index already: attached, it counts for the parent (a second one built
            # beside it would be a duplicate)
            lines.append(f"ALTER INDEX {sqlquote.pg_qualified(table.schema, parent_index)} "
                         f"ATTACH PARTITION {sqlquote.pg_qualified(part.schema, existing.name)};")
            continue
        name = names.new(part.schema, part.name, columns)
        # a sub-partitioned partition refuses CONCURRENTLY too; its own index then covers its sub-partitions
        concurrently = "" if part.kind == "partitioned" else "CONCURRENTLY "
        lines.append(f"CREATE INDEX {concurrently}{sqlquote.pg_ident(name)} "
                     f"ON {sqlquote.pg_qualified(part.schema, part.name)} ({cols});")
        lines.append(f"ALTER INDEX {sqlquote.pg_qualified(table.schema, parent_index)} "
                     f"ATTACH PARTITION {sqlquote.pg_qualified(part.schema, name)};")
    return "\n".join(lines)
