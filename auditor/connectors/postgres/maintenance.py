"""The maintenance parts of a PostgreSQL collection: freeze ages, storage parameters, bloat estimate inputs.

Each part is one bulk catalog query in the connector's read-only transaction (see :mod:`auditor.maintenance`).
pg_class and pg_database are readable by every role; the bloat estimates use the pg_stats rows the connector
read once for the columns (column_stats.sql), which show only the columns the audit role may read, so a table
it may not read gets an estimate marked unusable, with the reason.

Two queries read relations' pages: the TOAST-heavy tables' sample (toast_columns.sql: about 256 heap pages of
each of at most 20 tables, value sizes read from their TOAST pointers, never the values) and pgstattuple's
measure of the bloat candidates (exact_bloat.sql). The catalog transaction only chooses what they read
(:class:`PageProbes`); they run after its COMMIT, each as a statement of its own (:func:`measure`), so that the
locks they take on those tables end with them and an application's ALTER TABLE does not queue behind the rest
of the catalog.
"""

from __future__ import annotations

import functools
import math
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from auditor.bulk import leading_fields
from auditor.connectors.postgres.posture import AreaReader
from auditor.connectors.postgres.session import TupleRows, as_tuples
from auditor.maintenance import (
    INDEX_BLOAT_AREA,
    TABLE_BLOAT_AREA,
    DatabaseFreeze,
    IndexBloat,
    Maintenance,
    TableBloat,
    TableFreeze,
    ToastColumn,
)
from auditor.model import Note
from auditor.sqlquote import pg_ident

DATABASES_AREA = "database_freeze"
MAXALIGN = 8
PAGE_HEADER = 24  # PageHeaderData
BTREE_OPAQUE = 16  # BTPageOpaqueData at the end of each B-tree page
HEAP_TUPLE_HEADER = 23  # HeapTupleHeaderData before alignment
ITEM_POINTER = 4  # the line pointer of each tuple


ProbeReader = Callable[[str, Mapping[str, Any], Mapping[str, str]], "list[dict[str, Any]] | None"]

# pgstattuple reads the pages it measures: at most this many heaps and B-trees, and this many pages in all
EXACT_MAX_RELATIONS = 20
EXACT_MAX_PAGES = 10 * 1024**3 // 8192  # 10 GiB of 8 kB pages
EXACT_MIN_PAGES = 128  # 1 MiB: smaller relations are not worth a look


# (schema, table or index) -> column -> (share of NULLs, average width) of pg_stats' own (not inherited) rows
ColumnStats = Mapping[tuple[str, str], Mapping[str, tuple[float, int]]]
# (schema, table) -> column number -> name, from columns.sql
ColumnNames = Mapping[tuple[str, str], Mapping[int, str]]


def bloat_stats(column_stats_rows: TupleRows) -> dict[tuple[str, str], dict[str, tuple[float, int]]]:
    """The estimates' inputs from column_stats.sql's rows, by relation. null_frac is a float4 on the server, and
    the server's arithmetic on it is double precision: the value is taken back to the float4 it is (0.3 arrives
    as the text "0.3"; the server computes with 0.30000001192...), so that the estimates are the ones the SQL
    computed. An array of C floats rounds them all at once, as struct's "f" would one by one."""
    fields = column_stats_rows.fields("schema", "table", "name", "null_frac", "avg_width", "inherited")
    own = [r for r in map(fields, column_stats_rows) if not r[5]]
    null_fracs = array("f", [r[3] for r in own]).tolist()
    stats: dict[tuple[str, str], dict[str, tuple[float, int]]] = {}
    of_relation: dict[str, tuple[float, int]] = {}
    last_schema = last_relation = None
    for (schema, relation, name, _, avg_width, _), null_frac in zip(own, null_fracs, strict=True):
        if relation != last_relation or schema != last_schema:  # column_stats.sql sends a relation's rows together
            last_schema, last_relation = schema, relation
            of_relation = stats.setdefault((schema, relation), {})
        of_relation[name] = (null_frac, int(avg_width))
    return stats


# of a relation's columns or keys: how many, how many have statistics, how many are expressions, the largest share
# of NULLs, the average data width
Widths = tuple[int, int, int, float, float]


def _widths(found: list[tuple[float, int] | None], expressions: int = 0) -> Widths:
    """Of these columns' statistics (None: none): how many have some, the largest share of NULLs, the average
    data width."""
    with_stats, max_null_frac, data_width = 0, 0.0, 0.0
    for entry in found:
        if entry is not None:
            null_frac, width = entry
            with_stats += 1
            if null_frac > max_null_frac:
                max_null_frac = null_frac
            data_width += (1 - null_frac) * width
    return len(found), with_stats, expressions, max_null_frac, data_width


def _table_bloats(rows: TupleRows, stats: ColumnStats) -> list[tuple[int, TableBloat]]:
    """Each table's estimate, with its oid."""
    fields = rows.fields("oid", "schema", "table", "pages", "reltuples", "fillfactor", "readable", "block_size",
                         "column_names", "has_name")
    out: list[tuple[int, TableBloat]] = []
    no_stats: Mapping[str, tuple[float, int]] = {}
    for r in rows:
        oid, schema, table, pages, reltuples, fillfactor, readable, block_size, column_names, has_name = fields(r)
        of_table = stats.get((schema, table), no_stats)
        widths = _widths([of_table.get(n) for n in column_names])
        out.append((int(oid), table_bloat(schema, table, pages, reltuples, fillfactor, readable, block_size,
                                          has_name, widths)))
    return out


def _index_bloats(rows: TupleRows, stats: ColumnStats, column_names: ColumnNames) -> list[tuple[int, IndexBloat]]:
    """Each index's estimate, with its oid. A column key goes by its table's statistics, an expression key by
    the index's own. Only the keys' columns are looked up (a table's every column once, for all its indexes,
    looked up 73,000 columns for 43,000 keys at 10,000 tables: 5% of this function's CPU)."""
    out: list[tuple[int, IndexBloat]] = []
    fields = rows.fields("oid", "schema", "table", "index", "pages", "reltuples", "fillfactor", "partial",
                         "deduplicated", "readable", "block_size", "attnums", "index_columns")
    no_names: Mapping[int, str] = {}
    no_stats: Mapping[str, tuple[float, int]] = {}
    last_schema = last_table = None
    names = no_names
    of_table = no_stats
    for r in rows:
        (oid, schema, table, index, pages, reltuples, fillfactor, partial, deduplicated, readable, block_size,
         attnums, index_columns) = fields(r)
        if table != last_table or schema != last_schema:  # index_bloat.sql sends them by table
            last_schema, last_table = schema, table
            names = column_names.get((schema, table), no_names)
            of_table = stats.get((schema, table), no_stats)
        if 0 in attnums:
            own = index_columns or ()
            of_index = stats.get((schema, index), no_stats)
            found = [of_index.get(own[pos]) if attnum == 0
                     else of_table.get(names[attnum]) if attnum in names else None
                     for pos, attnum in enumerate(attnums)]
            widths = _widths(found, attnums.count(0))
        else:
            widths = _widths([of_table.get(names[attnum]) if attnum in names else None for attnum in attnums])
        out.append((int(oid), index_bloat(schema, table, index, pages, reltuples, fillfactor, partial, deduplicated,
                                          readable, block_size, widths)))
    return out


@dataclass(frozen=True)
class PageProbes:
    """What the catalog transaction chose to read from relations' pages, for :func:`measure` after its COMMIT."""

    schemas: tuple[str, ...]  # toast_columns.sql's scope
    # the estimates' relations in the order of Maintenance.table_bloat / index_bloat (None: not estimated)
    heap_oids: tuple[int, ...] | None = None
    btree_oids: tuple[int, ...] | None = None
    # pgstattuple's candidates and its quoted schema; None: not measured (not installed, no grant, no estimate)
    exact_tables: tuple[int, ...] = ()
    exact_indexes: tuple[int, ...] = ()
    pgstattuple: str | None = None


def collect_maintenance(read: AreaReader, schemas: list[str], notes: list[Note], pgstattuple: bool = False,
                        role: str = "", stats: ColumnStats | None = None, stats_note: Note | None = None,
                        column_names: ColumnNames | None = None) -> tuple[Maintenance, PageProbes]:
    """The catalog's part, and what :func:`measure` reads from relations' pages after the catalog's COMMIT.

    ``stats``: pg_stats' rows as :func:`bloat_stats` gives them, None when column_stats.sql could not be read
    (then no estimate either: ``stats_note`` says why, for each of them); ``column_names`` names the B-tree
    keys' columns."""
    scope = {"schemas": schemas}
    freeze_rows = read("freeze", scope)
    database_rows = read(DATABASES_AREA, {})
    if stats is None:
        table_rows = index_rows = None
        for area in (TABLE_BLOAT_AREA, INDEX_BLOAT_AREA):
            why = stats_note.message.replace("the column_stats query", f"the {area} query") if stats_note else \
                f"pg_stats could not be read: no {area} estimate"
            notes.append(Note(area=area, message=why, enable=stats_note.enable if stats_note else None))
    else:
        table_rows, index_rows = read(TABLE_BLOAT_AREA, scope), read(INDEX_BLOAT_AREA, scope)
    heaps = btrees = None
    if stats is not None and table_rows is not None:
        heaps = _table_bloats(as_tuples(table_rows), stats)
    if stats is not None and index_rows is not None:
        btrees = _index_bloats(as_tuples(index_rows), stats, column_names or {})
    probes = PageProbes(schemas=tuple(schemas),
                        heap_oids=None if heaps is None else tuple(oid for oid, _ in heaps),
                        btree_oids=None if btrees is None else tuple(oid for oid, _ in btrees))
    if pgstattuple and (heaps or btrees):
        probes = _exact_candidates(read, probes, heaps or [], btrees or [], notes, role)
    maintenance = Maintenance(
        freeze=None if freeze_rows is None else _freeze(as_tuples(freeze_rows)),
        databases=None if database_rows is None else tuple(
            DatabaseFreeze(name=str(r["name"]), xid_age=int(r["xid_age"]), mxid_age=int(r["mxid_age"]),
                           allow_connections=bool(r["allow_connections"])) for r in database_rows),
        table_bloat=None if heaps is None else tuple(b for _, b in heaps),
        index_bloat=None if btrees is None else tuple(b for _, b in btrees),
    )
    return maintenance, probes


def measure(read: AreaReader, probe: ProbeReader, maintenance: Maintenance, probes: PageProbes,
            notes: list[Note], sample: bool = True) -> Maintenance:
    """Read what the catalog chose from the relations' pages, in autocommit mode (after the catalog's COMMIT):
    the TOAST-heavy tables' column sample (unless ``--no-sample``: it reads table data) and pgstattuple's
    measure of the bloat candidates. ``read`` and ``probe`` run one statement each, so no lock they take
    outlives it."""
    toast_rows = None
    if not sample:
        note = _toast_sample_off_note(maintenance)
        if note is not None:
            notes.append(note)
    else:
        toast_rows = read("toast_columns", {"schemas": list(probes.schemas)})
    exact: dict[tuple[str, int], Mapping[str, Any]] | None = None
    if probes.pgstattuple is not None:
        exact = {}
        if probes.exact_tables or probes.exact_indexes:
            rows = probe("exact_bloat", {"tables": list(probes.exact_tables), "indexes": list(probes.exact_indexes)},
                         {"pgstattuple": probes.pgstattuple})
            exact = None if rows is None else {(str(r["kind"]), int(r["oid"])): r for r in rows}
    table_bloat, index_bloat = maintenance.table_bloat, maintenance.index_bloat
    if exact is not None:
        if table_bloat is not None and probes.heap_oids is not None:
            table_bloat = tuple(_with_exact(b, exact.get(("table", oid)))
                                for oid, b in zip(probes.heap_oids, table_bloat, strict=True))
        if index_bloat is not None and probes.btree_oids is not None:
            index_bloat = tuple(_with_exact(b, exact.get(("index", oid)))
                                for oid, b in zip(probes.btree_oids, index_bloat, strict=True))
    return replace(
        maintenance, table_bloat=table_bloat, index_bloat=index_bloat,
        exact_bloat="pgstattuple" if exact else None,
        toast_columns=None if toast_rows is None else tuple(
            ToastColumn(schema=str(r["schema"]), table=str(r["table"]), column=str(r["column"]),
                        avg_bytes=float(r["avg_bytes"] or 0)) for r in toast_rows),
    )


# toast_columns.sql's choice: TOAST of 128 pages (1 MiB) or more and at least the heap's, the 20 largest
TOAST_SAMPLE_MIN_PAGES = 128
TOAST_SAMPLE_TABLES = 20


def _toast_sample_off_note(maintenance: Maintenance) -> Note | None:
    """Under ``--no-sample``, what toast_columns.sql would have sampled (from the freeze area's page counts,
    which know no column privilege): None when no table has TOAST worth a look."""
    if maintenance.freeze is None:
        names: tuple[str, ...] = ()
    else:
        heavy = sorted((f for f in maintenance.freeze
                        if f.kind in ("table", "materialized_view") and f.toast_pages is not None
                        and f.toast_pages >= max(TOAST_SAMPLE_MIN_PAGES, f.pages or 0)),
                       key=lambda f: -(f.toast_pages or 0))[:TOAST_SAMPLE_TABLES]
        if not heavy:
            return None
        names = tuple(sorted(f"{f.schema}.{f.table}" for f in heavy))
    count = f"{len(names)} table(s) with the most TOAST" if names else "the tables with the most TOAST"
    return Note(area="toast_columns",
                message=f"data sampling was off (--no-sample): the stored sizes of the large columns of {count} "
                        "were not sampled, so CP01 lists the columns that can hold large values without telling "
                        "which one holds the bytes",
                objects=names,
                enable="run the scan without --no-sample (data sampling is on by default)")


def _candidates(items: list[tuple[int, TableBloat]] | list[tuple[int, IndexBloat]]) -> list[int]:
    """The relations worth an exact look: the largest estimated bloat first, then (no usable estimate) the
    largest, within the relation and page budgets."""
    ranked = sorted(((oid, b) for oid, b in items if b.pages >= EXACT_MIN_PAGES),
                    key=lambda ob: (-(ob[1].bloat_bytes or 0), -ob[1].pages))
    chosen: list[int] = []
    pages = 0
    for oid, b in ranked:
        if b.estimable and (b.bloat_pct or 0) < 10:
            continue  # the estimate already says there is little to find
        if len(chosen) >= EXACT_MAX_RELATIONS or pages + b.pages > EXACT_MAX_PAGES:
            break
        chosen.append(oid)
        pages += b.pages
    return chosen


def _exact_candidates(read: AreaReader, probes: PageProbes, heaps: list[tuple[int, TableBloat]],
                      btrees: list[tuple[int, IndexBloat]], notes: list[Note], role: str) -> PageProbes:
    """``probes`` with pgstattuple's candidates, when the audit role may run it (else a note says so)."""
    access = read("pgstattuple_access", {})
    if not access:
        return probes
    row = access[0]
    if not (row["can_approx"] and row["can_index"]):
        notes.append(Note(area="exact_bloat",
                          message="pgstattuple is installed but the audit role may not run its functions: bloat "
                                  "is estimated from pg_stats instead of measured",
                          enable=f"GRANT pg_stat_scan_tables TO {pg_ident(role) if role else '<role>'}"))
        return probes
    return replace(probes, exact_tables=tuple(_candidates(heaps)), exact_indexes=tuple(_candidates(btrees)),
                   pgstattuple=pg_ident(str(row["schema"])))


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _with_exact(b: TableBloat | IndexBloat, r: Mapping[str, Any] | None) -> Any:
    if r is None:
        return b
    if isinstance(b, TableBloat):
        return replace(b, exact_free_pct=_finite(r["free_pct"]), exact_dead_pct=_finite(r["dead_pct"]))
    return replace(b, exact_leaf_density=_finite(r["leaf_density"]))


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _freeze(rows: TupleRows) -> tuple[TableFreeze, ...]:
    fields = rows.fields("schema", "table", "kind", "xid_age", "mxid_age", "toast_xid_age", "toast_mxid_age",
                         "reloptions", "toast_reloptions", "pages", "toast_pages")
    out: list[TableFreeze] = []
    for r in rows:
        (schema, table, kind, xid_age, mxid_age, toast_xid_age, toast_mxid_age, reloptions, toast_reloptions, pages,
         toast_pages) = fields(r)
        out.append(TableFreeze(
            schema=str(schema), table=str(table), kind=str(kind), xid_age=_int(xid_age), mxid_age=_int(mxid_age),
            toast_xid_age=_int(toast_xid_age), toast_mxid_age=_int(toast_mxid_age),
            reloptions=tuple(str(o) for o in reloptions or ()),
            toast_reloptions=tuple(str(o) for o in toast_reloptions or ()), pages=_int(pages),
            toast_pages=_int(toast_pages),
        ))
    return tuple(out)


def _align_pad(n: float) -> int:
    """Bytes that align ``n`` up to MAXALIGN."""
    rest = math.ceil(n) % MAXALIGN
    return 0 if rest == 0 else MAXALIGN - rest


def heap_tuple_bytes(columns: int, max_null_frac: float, data_width: float) -> float:
    """Bytes one heap row takes on its page: line pointer, aligned header (with a null bitmap when some column
    has NULLs), aligned data."""
    header = HEAP_TUPLE_HEADER + ((7 + columns) // 8 if max_null_frac > 0 else 0)
    return ITEM_POINTER + header + _align_pad(header) + data_width + _align_pad(data_width)


def table_bloat(schema: str, table: str, pages: int, reltuples: float, fillfactor: int, readable: bool,
                block_size: int, has_name: bool, widths: Widths) -> TableBloat:
    """The estimate of one table of table_bloat.sql (its row's fields), from its columns' :func:`_widths`."""
    # built once with its outcome (dataclasses.replace per table cost a third of a second at 10,000 tables)
    columns, with_stats, _, max_null_frac, data_width = widths
    block, fillfactor, reltuples = int(block_size), int(fillfactor), float(reltuples)
    expected: float | None = None
    reason: str | None = None
    if not readable:
        reason = "the audit role may not read the table, so pg_stats hides its columns"
    elif reltuples < 0:
        reason = "never vacuumed nor analyzed"
    elif columns != with_stats:
        reason = f"{columns - with_stats} of its {columns} columns have no statistics (ANALYZE)"
    elif has_name:
        reason = "a column of type name, whose width pg_stats misreports"
    else:
        per_page = _heap_rows_per_page(block, fillfactor, columns, max_null_frac, data_width)
        expected = math.ceil(reltuples / per_page) if per_page > 0 else None
    return TableBloat(str(schema), str(table), int(pages), expected, fillfactor,  # TABLE_BLOAT_FIELDS' order
                      reason is None, reason, block)


@functools.lru_cache(maxsize=4096)
def _heap_rows_per_page(block: int, fillfactor: int, columns: int, max_null_frac: float, data_width: float) -> float:
    """How many rows of this shape a heap page holds: tables of a schema come in few shapes (computed once each,
    not per table)."""
    return (block - PAGE_HEADER) * fillfactor / 100.0 / heap_tuple_bytes(columns, max_null_frac, data_width)


def btree_tuple_bytes(max_null_frac: float, data_width: float) -> float:
    """Bytes one B-tree leaf entry takes: line pointer, aligned IndexTupleData (with a null bitmap when a key has
    NULLs), aligned key data."""
    header = 8 + (4 if max_null_frac > 0 else 0)
    padded = header + _align_pad(header) + data_width + (_align_pad(data_width) if data_width else 0)
    return ITEM_POINTER + padded


def index_bloat(schema: str, table: str, index: str, pages: int, reltuples: float, fillfactor: int, partial: bool,
                deduplicated: bool, readable: bool, block_size: int, widths: Widths) -> IndexBloat:
    """The estimate of one index of index_bloat.sql (its row's fields), from its keys' :func:`_widths`."""
    keys, with_stats, expressions, max_null_frac, data_width = widths
    block, fillfactor, reltuples = int(block_size), int(fillfactor), float(reltuples)
    expected: float | None = None
    reason: str | None = None
    if not readable:
        reason = "the audit role may not read the table, so pg_stats hides its columns"
    elif partial:
        reason = "a partial index: pg_stats describes every row, not the predicate's"
    elif reltuples < 0:
        reason = "never vacuumed nor analyzed"
    elif keys != with_stats:
        what = "an expression key" if expressions else "a key column"
        reason = f"{what} has no statistics (ANALYZE the table)"
    else:
        per_page = _btree_entries_per_page(block, fillfactor, max_null_frac, data_width)
        # one metapage, then the leaves; the inner levels are a few percent more and are left to the margin
        expected = 1 + math.ceil(reltuples / per_page) if per_page > 0 else None
    return IndexBloat(str(schema), str(table), str(index), int(pages), expected,  # INDEX_BLOAT_FIELDS' order
                      fillfactor, reason is None, reason, block, bool(deduplicated))


@functools.lru_cache(maxsize=4096)
def _btree_entries_per_page(block: int, fillfactor: int, max_null_frac: float, data_width: float) -> int:
    """How many leaf entries of this shape a B-tree page holds: an index's keys come in few shapes (an integer
    column without NULLs, ...): computed once each, not per index (40,000 at 10,000 tables)."""
    return math.floor((block - PAGE_HEADER - BTREE_OPAQUE) * fillfactor / 100.0
                      / btree_tuple_bytes(max_null_frac, data_width))


# the estimates are given their fields by position, in these orders (checked at import)
TABLE_BLOAT_FIELDS = leading_fields(TableBloat, "schema", "table", "pages", "expected_pages", "fillfactor",
                                    "estimable", "reason", "block_size")
INDEX_BLOAT_FIELDS = leading_fields(IndexBloat, "schema", "table", "index", "pages", "expected_pages", "fillfactor",
                                    "estimable", "reason", "block_size", "deduplicated")
