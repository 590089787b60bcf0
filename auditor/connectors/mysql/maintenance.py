"""The maintenance part of a MySQL/MariaDB collection: free space and InnoDB's statistics counters per table.

``DATA_FREE`` and the table options come from information_schema.TABLES, readable wherever the tables are.
InnoDB's counters (rows its statistics counted, rows modified since) come from INNODB_SYS_TABLESTATS (MariaDB,
MySQL 5.7) or INNODB_TABLESTATS (MySQL 8), which need the PROCESS privilege: without it the counters stay
unknown and a Note names the GRANT. Both are one query whatever the number of tables, and the counters' query
returns only the audited schemas' rows (``rows`` binds ``%(schemas)s``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pymysql

from auditor.maintenance import INNODB_STATS_AREA, InnodbTableStats, Maintenance, index_free_pages
from auditor.model import Note

Rows = Callable[[str], "list[dict[str, Any]]"]
# access denied (1227: PROCESS needed; 1142/1143: a table or column refused; 1044: the schema)
_DENIED = frozenset({1044, 1142, 1143, 1227})
_TIMED_OUT = frozenset({1969, 3024})  # max_statement_time (MariaDB) / max_execution_time (MySQL) exceeded
_ENCODED = re.compile(r"@([0-9a-fA-F]{4})")
_AUTO_RECALC = re.compile(r"stats_auto_recalc=(\w+)")


def decode_innodb_name(name: str) -> tuple[str, str] | None:
    """('shop', 'order-lines') from InnoDB's 'shop/order@002dlines' (its file-name encoding of odd characters);
    None for a name without a schema part (system tables) or a partition ('t#P#p0')."""
    schema, sep, table = name.partition("/")
    if not sep or "#" in table:
        return None
    return _plain(schema), _plain(table)


def _plain(text: str) -> str:
    if "@" not in text:  # most names: nothing encoded
        return text
    return _ENCODED.sub(lambda m: chr(int(m.group(1), 16)), text)


def index_free_bytes(index_pages: Sequence[Mapping[str, Any]], page_size: int) -> dict[tuple[str, str], int]:
    """(schema, table) -> bytes of index pages that hold no leaf past InnoDB's reserve, summed over the table's
    indexes, from the rows of index_sizes.sql (mysql.innodb_index_stats ``size`` and ``n_leaf_pages``). Partitions
    ('t#P#p0') are left out, like the partitioned table itself (its tablespaces are per partition)."""
    out: dict[tuple[str, str], int] = {}
    for r in index_pages:
        name = decode_innodb_name(f"{_text(r['schema_name'])}/{_text(r['table_name'])}")
        if name is None or r["pages"] is None or r.get("leaf_pages") is None:
            continue
        free = index_free_pages(int(r["pages"]), int(r["leaf_pages"]), page_size)
        out[name] = out.get(name, 0) + free * page_size
    return out


def collect_maintenance(table_rows: Sequence[Mapping[str, Any]], rows: Rows, flavor: str, vnum: int,
                        settings: Mapping[str, str], login: str, notes: list[Note],
                        index_pages: Sequence[Mapping[str, Any]] | None = None) -> Maintenance:
    """``index_pages``: the rows of index_sizes.sql, None when mysql.innodb_index_stats was not readable."""
    counters: dict[tuple[str, str], Mapping[str, Any]] = {}
    if flavor == "mariadb":
        area = "innodb_tablestats.mariadb"
    else:
        area = "innodb_tablestats.mysql8" if vnum >= 80000 else "innodb_tablestats"
    try:
        stat_rows = rows(area)
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else 0
        if code in _TIMED_OUT:
            # not a privilege: the query ran out of time (a server with very many tables, or a loaded one)
            why, enable = "the query took longer than the statement timeout", "dbaudit scan --statement-timeout <ms>"
        elif code in _DENIED:
            why, enable = "they need the PROCESS privilege", f"GRANT PROCESS ON *.* TO {login}"
        else:
            why, enable = "the query failed", None
        notes.append(Note(
            area=INNODB_STATS_AREA,
            message="InnoDB's statistics counters (rows modified since the statistics were computed) were not "
                    f"read: {why} ({_error_text(exc)})",
            enable=enable,
        ))
        stat_rows = None
    for row in stat_rows or ():
        name = decode_innodb_name(_text(row["name"]))
        if name is not None:
            counters[name] = row
    default_recalc = (settings.get("innodb_stats_auto_recalc") or "ON").upper() in ("ON", "1")
    page_size = int(settings.get("innodb_page_size", "16384") or 16384)
    segment_free = index_free_bytes(index_pages, page_size) if index_pages is not None else {}
    out = []
    for r in table_rows:
        key = (_text(r["schema_name"]), _text(r["table_name"]))
        options = _text(r["create_options"]).lower()
        recalc = default_recalc
        m = _AUTO_RECALC.search(options) if "stats_auto_recalc" in options else None
        if m:
            recalc = m.group(1) not in ("0", "off")
        c = counters.get(key)
        # the system tablespace (SPACE 0), or a general tablespace (MySQL) that holds other tables too
        shared = None if c is None else (int(c["space"] or 0) == 0 or int(c["space_tables"] or 0) > 1)
        out.append(InnodbTableStats(
            schema=key[0], table=key[1],
            data_free=None if r["data_free"] is None else int(r["data_free"]),
            shared_tablespace=shared,
            # 'Initialized' (MySQL) or 1 (MariaDB's STATS_INITIALIZED is an integer)
            stats_initialized=None if c is None else _text(c["initialized"]).lower() in ("initialized", "1"),
            stats_rows=None if c is None or c["num_rows"] is None else int(c["num_rows"]),
            modified=None if c is None or c["modified"] is None else int(c["modified"]),
            auto_recalc=recalc,
            index_free_bytes=segment_free.get(key) if index_pages is not None else None,
        ))
    return Maintenance(innodb=tuple(out), innodb_counters=stat_rows is not None)


def _text(value: Any) -> str:
    if type(value) is str:  # the common case first
        return value
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _error_text(exc: pymysql.err.MySQLError) -> str:
    if len(exc.args) > 1:
        return f"error {exc.args[0]}: {' '.join(str(exc.args[1]).split())}"
    return " ".join(str(exc).split())
