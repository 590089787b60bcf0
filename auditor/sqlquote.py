"""Quoting for the remediation SQL dbaudit prints (never runs).

Object names can hold quotes, spaces, capitals, unicode and reserved words; every identifier that goes into
printed SQL passes through here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

_PG_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")

# PostgreSQL keywords that cannot be used as bare identifiers in every position (reserved and
# "reserved (can be function or type)" plus the type-like non-reserved ones that trip column lists).
_PG_RESERVED = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate collation
    column concurrently constraint create cross current_catalog current_date current_role current_schema current_time
    current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign freeze
    from full grant group having ilike in initially inner intersect into is isnull join lateral leading left like limit
    localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing primary
    references returning right select session_user similar some symmetric system_user table tablesample then to
    trailing true union unique user using variadic verbose when where window with
    between bigint bit boolean char character coalesce dec decimal exists extract float greatest grouping inout int
    integer interval json json_array json_arrayagg json_exists json_object json_objectagg json_query json_scalar
    json_serialize json_table json_value least merge_action national nchar none normalize nullif numeric out overlay
    position precision real row setof smallint substring time timestamp treat trim values varchar xmlattributes
    xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
    """.split()
)


@functools.lru_cache(maxsize=65536)  # the same table and schema names, in thousands of remediations
def pg_ident(name: str) -> str:
    """Quote a PostgreSQL identifier only when it needs it, doubling embedded quotes."""
    if _PG_PLAIN.match(name) and name not in _PG_RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def pg_qualified(schema: str | None, name: str) -> str:
    return f"{pg_ident(schema)}.{pg_ident(name)}" if schema else pg_ident(name)


def pg_column_list(columns: Iterable[str]) -> str:
    return ", ".join(map(pg_ident, columns))  # no generator: once per proposed index, thousands of times


def mysql_ident(name: str) -> str:
    """Quote a MySQL/MariaDB identifier with backticks, doubling embedded backticks."""
    return "`" + name.replace("`", "``") + "`"


def mysql_qualified(schema: str | None, name: str) -> str:
    return f"{mysql_ident(schema)}.{mysql_ident(name)}" if schema else mysql_ident(name)


def ident(engine: str, name: str) -> str:
    return mysql_ident(name) if engine == "mysql" else pg_ident(name)


def qualified(engine: str, schema: str | None, name: str) -> str:
    return mysql_qualified(schema, name) if engine == "mysql" else pg_qualified(schema, name)


def column_list(engine: str, columns: Iterable[str]) -> str:
    return ", ".join(ident(engine, c) for c in columns)


def pg_literal(text: str) -> str:
    """A PostgreSQL string literal (standard_conforming_strings, the default since 9.1): quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def mysql_account(user: str, host: str) -> str:
    """An account name as CREATE/DROP/GRANT write it: 'user'@'host'.

    A name with a backslash is quoted as an identifier instead, where a backslash is itself whatever the
    sql_mode (NO_BACKSLASH_ESCAPES changes how a string literal reads it, not an identifier).
    """

    def part(text: str) -> str:
        if "\\" in text:
            return mysql_ident(text)
        return "'" + text.replace("'", "''") + "'"

    return f"{part(user)}@{part(host)}"
