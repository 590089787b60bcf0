"""The maintenance parts of a PostgreSQL collection: freeze ages, storage parameters, bloat estimate inputs.

Each part is one bulk catalog query in the connector's read-only transaction (see :mod:`auditor.maintenance`).
pg_class and pg_database are readable by every role; the bloat estimates read pg_stats, which shows only the
columns the audit role may read, so a table it may not read gets an estimate marked unusable, with the reason.
Nothing here reads a table's pages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from auditor.connectors.postgres.posture import AreaReader
from auditor.maintenance import (
    DatabaseFreeze,
    IndexBloat,
    Maintenance,
    TableBloat,
    TableFreeze,
)
from auditor.model import Note

DATABASES_AREA = "database_freeze"
MAXALIGN = 8
PAGE_HEADER = 24  # PageHeaderData
BTREE_OPAQUE = 16  # BTPageOpaqueData at the end of each B-tree page
HEAP_TUPLE_HEADER = 23  # HeapTupleHeaderData before alignment
ITEM_POINTER = 4  # the line pointer of each tuple


def collect_maintenance(read: AreaReader, schemas: list[str], notes: list[Note]) -> Maintenance:
    scope = {"schemas": schemas}
    freeze_rows = read("freeze", scope)
    database_rows = read(DATABASES_AREA, {})
    table_rows = read("table_bloat", scope)
    index_rows = read("index_bloat", scope)
    return Maintenance(
        freeze=None if freeze_rows is None else tuple(_freeze(r) for r in freeze_rows),
        databases=None if database_rows is None else tuple(
            DatabaseFreeze(name=str(r["name"]), xid_age=int(r["xid_age"]), mxid_age=int(r["mxid_age"]),
                           allow_connections=bool(r["allow_connections"])) for r in database_rows),
        table_bloat=None if table_rows is None else tuple(table_bloat(r) for r in table_rows),
        index_bloat=None if index_rows is None else tuple(index_bloat(r) for r in index_rows),
    )


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
