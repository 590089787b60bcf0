"""The maintenance parts of a PostgreSQL collection: freeze ages, storage parameters, bloat estimate inputs.

Each part is one bulk catalog query in the connector's read-only transaction (see :mod:`auditor.maintenance`).
pg_class and pg_database are readable by every role; the bloat estimates read pg_stats, which shows only the
columns the audit role may read, so a table it may not read gets an estimate marked unusable, with the reason.
Nothing here reads a table's pages but the TOAST-heavy tables' sample (toast_columns.sql: about 256 heap
pages of each of at most 20 tables, value sizes read from their TOAST pointers, never the values).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from auditor.connectors.postgres.posture import AreaReader
from auditor.maintenance import (
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


def collect_maintenance(read: AreaReader, schemas: list[str], notes: list[Note],
                        probe: ProbeReader | None = None, pgstattuple: bool = False, role: str = "") -> Maintenance:
    scope = {"schemas": schemas}
    freeze_rows = read("freeze", scope)
    database_rows = read(DATABASES_AREA, {})
    table_rows = read("table_bloat", scope)
    index_rows = read("index_bloat", scope)
    toast_rows = read("toast_columns", scope)
    heaps = None if table_rows is None else [(int(r["oid"]), table_bloat(r)) for r in table_rows]
    btrees = None if index_rows is None else [(int(r["oid"]), index_bloat(r)) for r in index_rows]
    exact = None
    if pgstattuple and probe is not None and (heaps or btrees):
        exact = _exact(read, probe, heaps or [], btrees or [], notes, role)
        if exact is not None:
            heaps = [(oid, _with_exact(b, exact.get(("table", oid)))) for oid, b in heaps or []] \
                if heaps is not None else None
            btrees = [(oid, _with_exact(b, exact.get(("index", oid)))) for oid, b in btrees or []] \
                if btrees is not None else None
    return Maintenance(
        freeze=None if freeze_rows is None else tuple(_freeze(r) for r in freeze_rows),
        databases=None if database_rows is None else tuple(
            DatabaseFreeze(name=str(r["name"]), xid_age=int(r["xid_age"]), mxid_age=int(r["mxid_age"]),
                           allow_connections=bool(r["allow_connections"])) for r in database_rows),
        table_bloat=None if heaps is None else tuple(b for _, b in heaps),
        index_bloat=None if btrees is None else tuple(b for _, b in btrees),
        exact_bloat="pgstattuple" if exact else None,
        toast_columns=None if toast_rows is None else tuple(
            ToastColumn(schema=str(r["schema"]), table=str(r["table"]), column=str(r["column"]),
                        avg_bytes=float(r["avg_bytes"] or 0)) for r in toast_rows),
    )


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


def _exact(read: AreaReader, probe: ProbeReader, heaps: list[tuple[int, TableBloat]],
           btrees: list[tuple[int, IndexBloat]], notes: list[Note], role: str
           ) -> dict[tuple[str, int], Mapping[str, Any]] | None:
    access = read("pgstattuple_access", {})
    if not access:
        return None
    row = access[0]
    if not (row["can_approx"] and row["can_index"]):
        notes.append(Note(area="exact_bloat",
                          message="pgstattuple is installed but the audit role may not run its functions: bloat "
                                  "is estimated from pg_stats instead of measured",
                          enable=f"GRANT pg_stat_scan_tables TO {pg_ident(role) if role else '<role>'}"))
        return None
    tables, indexes = _candidates(heaps), _candidates(btrees)
    if not tables and not indexes:
        return {}
    rows = probe("exact_bloat", {"tables": tables, "indexes": indexes},
                 {"pgstattuple": pg_ident(str(row["schema"]))})
    if rows is None:
        return None
    return {(str(r["kind"]), int(r["oid"])): r for r in rows}


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


def _freeze(r: Mapping[str, Any]) -> TableFreeze:
    return TableFreeze(
        schema=str(r["schema"]), table=str(r["table"]), kind=str(r["kind"]), xid_age=_int(r["xid_age"]),
        mxid_age=_int(r["mxid_age"]), toast_xid_age=_int(r["toast_xid_age"]),
        toast_mxid_age=_int(r["toast_mxid_age"]), reloptions=tuple(str(o) for o in r["reloptions"] or ()),
        toast_reloptions=tuple(str(o) for o in r["toast_reloptions"] or ()), pages=_int(r["pages"]),
        toast_pages=_int(r["toast_pages"]),
    )


def _align_pad(n: float) -> int:
    """Bytes that align ``n`` up to MAXALIGN."""
    rest = math.ceil(n) % MAXALIGN
    return 0 if rest == 0 else MAXALIGN - rest


def heap_tuple_bytes(columns: int, max_null_frac: float, data_width: float) -> float:
    """Bytes one heap row takes on its page: line pointer, aligned header (with a null bitmap when some column
    has NULLs), aligned data."""
    header = HEAP_TUPLE_HEADER + ((7 + columns) // 8 if max_null_frac > 0 else 0)
    return ITEM_POINTER + header + _align_pad(header) + data_width + _align_pad(data_width)


def table_bloat(r: Mapping[str, Any]) -> TableBloat:
    pages = int(r["pages"])
    block = int(r["block_size"])
    fillfactor = int(r["fillfactor"])
    base = TableBloat(schema=str(r["schema"]), table=str(r["table"]), pages=pages, fillfactor=fillfactor,
                      block_size=block)
    reltuples = float(r["reltuples"])
    if not r["readable"]:
        return replace(base, estimable=False,
                          reason="the audit role may not read the table, so pg_stats hides its columns")
    if reltuples < 0:
        return replace(base, estimable=False, reason="never vacuumed nor analyzed")
    if int(r["columns"]) != int(r["with_stats"]):
        missing = int(r["columns"]) - int(r["with_stats"])
        return replace(base, estimable=False,
                          reason=f"{missing} of its {int(r['columns'])} columns have no statistics (ANALYZE)")
    if r["has_name"]:
        return replace(base, estimable=False,
                          reason="a column of type name, whose width pg_stats misreports")
    row = heap_tuple_bytes(int(r["columns"]), float(r["max_null_frac"]), float(r["data_width"]))
    per_page = (block - PAGE_HEADER) * fillfactor / 100.0 / row
    expected = math.ceil(reltuples / per_page) if per_page > 0 else None
    return replace(base, expected_pages=expected)


def btree_tuple_bytes(max_null_frac: float, data_width: float) -> float:
    """Bytes one B-tree leaf entry takes: line pointer, aligned IndexTupleData (with a null bitmap when a key has
    NULLs), aligned key data."""
    header = 8 + (4 if max_null_frac > 0 else 0)
    padded = header + _align_pad(header) + data_width + (_align_pad(data_width) if data_width else 0)
    return ITEM_POINTER + padded


def index_bloat(r: Mapping[str, Any]) -> IndexBloat:
    pages = int(r["pages"])
    block = int(r["block_size"])
    fillfactor = int(r["fillfactor"])
    base = IndexBloat(schema=str(r["schema"]), table=str(r["table"]), index=str(r["index"]), pages=pages,
                      fillfactor=fillfactor, block_size=block, deduplicated=bool(r["deduplicated"]))
    reltuples = float(r["reltuples"])
    if not r["readable"]:
        return replace(base, estimable=False,
                          reason="the audit role may not read the table, so pg_stats hides its columns")
    if r["partial"]:
        return replace(base, estimable=False,
                          reason="a partial index: pg_stats describes every row, not the predicate's")
    if reltuples < 0:
        return replace(base, estimable=False, reason="never vacuumed nor analyzed")
    if int(r["keys"]) != int(r["with_stats"]):
        what = "an expression key" if int(r["expressions"]) else "a key column"
        return replace(base, estimable=False,
                          reason=f"{what} has no statistics (ANALYZE the table)")
    entry = btree_tuple_bytes(float(r["max_null_frac"]), float(r["data_width"]))
    per_page = math.floor((block - PAGE_HEADER - BTREE_OPAQUE) * fillfactor / 100.0 / entry)
    # one metapage, then the leaves; the inner levels are a few percent more and are left to the margin
    expected = 1 + math.ceil(reltuples / per_page) if per_page > 0 else None
    return replace(base, expected_pages=expected)
