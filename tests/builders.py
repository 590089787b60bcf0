"""Tiny snapshot builders for check unit tests: state only what matters to the case at hand.

    snap(
        table("orders", columns=["id", "customer_id bigint"], seq_scan=500),
        pk("orders", ["id"]),
        fk("orders", ["customer_id"], "customers", ["id"]),
        index("orders", ["customer_id"], scans=0),
        stats_age=timedelta(days=30),
    )

Columns are ``"name"`` (integer) or ``"name type words"``; index keys are column names, ``"(expression)"``,
``"name(10)"`` (a MySQL prefix key), an optional trailing ``DESC`` / ``NULLS FIRST``, or ready-made
:class:`IndexKey` objects. Everything defaults to the ``public`` schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.model import (
    Column,
    ColumnRef,
    Constraint,
    Index,
    IndexKey,
    Sequence,
    Snapshot,
    Table,
    TableStats,
)
from auditor.posture import Posture, ServerSetting

NOW = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)

SnapObject = Table | Index | Constraint | Sequence


def col(spec: str | Column, position: int = 0) -> Column:
    if isinstance(spec, Column):
        return spec
    name, _, data_type = spec.partition(" ")
    return Column(name=name, data_type=data_type.strip() or "integer", position=position, nullable=True)


def table(
    name: str,
    columns: Iterable[str | Column] = ("id",),
    *,
    schema: str = "public",
    rows: int | None = 1000,
    kind: str = "table",
    seq_scan: int | None = None,
    idx_scan: int | None = None,
    is_partition: bool = False,
    parent: str | None = None,
    not_null: Iterable[str] = (),
) -> Table:
    required = set(not_null)
    cols = []
    for i, spec in enumerate(columns, start=1):
        c = col(spec, i)
        if c.name in required:
            c = Column(**{**c.__dict__, "nullable": False})
        cols.append(c)
    return Table(
        schema=schema,
        name=name,
        kind=kind,
        estimated_rows=rows,
        columns=tuple(cols),
        stats=TableStats(seq_scan=seq_scan, idx_scan=idx_scan),
        is_partition=is_partition,
        parent=parent,
    )


def key(spec: str | IndexKey) -> IndexKey:
    if isinstance(spec, IndexKey):
        return spec
    text = spec.strip()
    nulls_first = False
    descending = False
    upper = text.upper()
    if upper.endswith(" NULLS FIRST"):
        nulls_first, text = True, text[: -len(" NULLS FIRST")]
    elif upper.endswith(" NULLS LAST"):
        text = text[: -len(" NULLS LAST")]
    if text.upper().endswith(" DESC"):
        descending, text = True, text[: -len(" DESC")]
        if not upper.endswith(" NULLS LAST"):
            nulls_first = True  # PostgreSQL's default for DESC, as the catalog reports it
    if text.startswith("(") and text.endswith(")"):
        return IndexKey(expression=text[1:-1], descending=descending, nulls_first=nulls_first)
    prefix = re.fullmatch(r"(\w+)\((\d+)\)", text)  # a MySQL prefix key: name(10)
    if prefix is not None:
        return IndexKey(column=prefix.group(1), prefix_length=int(prefix.group(2)), descending=descending,
                        nulls_first=nulls_first)
    return IndexKey(column=text, descending=descending, nulls_first=nulls_first)


def index(
    table_name: str,
    keys: Iterable[str | IndexKey],
    *,
    name: str | None = None,
    schema: str = "public",
    unique: bool = False,
    primary: bool = False,
    predicate: str | None = None,
    method: str = "btree",
    include: Iterable[str] = (),
    valid: bool = True,
    scans: int | None = 0,
    constraint: str | None = None,
    constraint_type: str | None = None,
    size_bytes: int | None = 8192,
    partition_child: bool = False,
    parent_index: str | None = None,
) -> Index:
    built = tuple(key(k) for k in keys)
    default_name = "_".join([table_name, *(k.column or "expr" for k in built), "idx"])
    return Index(
        schema=schema,
        table=table_name,
        name=name or default_name,
        keys=built,
        include=tuple(include),
        method=method,
        is_unique=unique or primary,
        is_primary=primary,
        predicate=predicate,
        is_valid=valid,
        constraint=constraint,
        constraint_type=constraint_type,
        size_bytes=size_bytes,
        scans=scans,
        is_partition_child=partition_child or parent_index is not None,
        parent_index=parent_index,
    )


def pk(
    table_name: str, columns: Iterable[str] = ("id",), *, schema: str = "public", scans: int = 0
) -> tuple[Constraint, Index]:
    """A primary key constraint and the unique index that backs it."""
    cols = tuple(columns)
    name = f"{table_name}_pkey"
    return (
        Constraint(schema, table_name, name, "primary_key", columns=cols, index=name),
        index(
            table_name,
            cols,
            name=name,
            schema=schema,
            primary=True,
            constraint=name,
            constraint_type="primary_key",
            scans=scans,
        ),
    )


def unique(
    table_name: str, columns: Iterable[str], *, name: str | None = None, schema: str = "public"
) -> tuple[Constraint, Index]:
    """A UNIQUE constraint and its index."""
    cols = tuple(columns)
    cname = name or "_".join([table_name, *cols, "key"])
    return (
        Constraint(schema, table_name, cname, "unique", columns=cols, index=cname),
        index(
            table_name,
            cols,
            name=cname,
            schema=schema,
            unique=True,
            constraint=cname,
            constraint_type="unique",
        ),
    )


def fk(
    table_name: str,
    columns: Iterable[str],
    ref_table: str,
    ref_columns: Iterable[str] = ("id",),
    *,
    name: str | None = None,
    schema: str = "public",
    ref_schema: str | None = None,
    validated: bool = True,
    on_delete: str = "no action",
) -> Constraint:
    cols = tuple(columns)
    return Constraint(
        schema=schema,
        table=table_name,
        name=name or "_".join([table_name, *cols, "fkey"]),
        type="foreign_key",
        columns=cols,
        ref_schema=ref_schema or schema,
        ref_table=ref_table,
        ref_columns=tuple(ref_columns),
        validated=validated,
        on_delete=on_delete,
        on_update="no action",
        match_type="simple",
    )


def check_constraint(
    table_name: str, name: str, *, validated: bool = True, schema: str = "public"
) -> Constraint:
    return Constraint(schema, table_name, name, "check", definition="CHECK (x > 0)", validated=validated)


def sequence(
    name: str,
    *,
    last_value: int | None,
    data_type: str = "bigint",
    increment: int = 1,
    max_value: int | None = None,
    min_value: int | None = None,
    start_value: int | None = None,
    feeds: Iterable[tuple[str, str, str] | ColumnRef] = (),
    schema: str = "public",
    kind: str = "sequence",
    cycle: bool = False,
) -> Sequence:
    """``feeds`` are ColumnRefs or ``(table, column, data_type)`` triples in the same schema."""
    refs = tuple(f if isinstance(f, ColumnRef) else ColumnRef(schema, f[0], f[1], f[2]) for f in feeds)
    if max_value is None and kind == "sequence":
        max_value = _TYPE_MAX.get(data_type, 2**63 - 1) if increment > 0 else -1
    if min_value is None and kind == "sequence":
        min_value = 1 if increment > 0 else -_TYPE_MAX.get(data_type, 2**63 - 1) - 1
    if start_value is None:
        start_value = 1 if increment > 0 else -1
    return Sequence(
        schema=schema,
        name=name,
        data_type=data_type,
        start_value=start_value,
        increment=increment,
        min_value=min_value,
        max_value=max_value,
        last_value=last_value,
        cycle=cycle,
        feeds=refs,
        kind=kind,
    )


_TYPE_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}


def snap(
    *objects: SnapObject | Iterable[SnapObject],
    engine: str = "postgresql",
    stats_age: timedelta | None = timedelta(days=30),
    stats_reset: bool = True,
    server_version_num: int = 150000,
    database: str = "test",
    **extra: Any,
) -> Snapshot:
    """A snapshot of the given objects (nested tuples are flattened), collected at :data:`NOW`.

    ``stats_age`` sets how long the usage statistics cover, as a stats reset (``stats_reset=True``) or as the
    server start; None leaves both unknown.
    """
    flat: list[SnapObject] = []
    for obj in objects:
        if isinstance(obj, Table | Index | Constraint | Sequence):
            flat.append(obj)
        else:
            flat.extend(obj)
    since = NOW - stats_age if stats_age is not None else None
    return Snapshot(
        engine=engine,
        server_version_num=server_version_num,
        database=database,
        collected_at=NOW,
        stats_reset=since if stats_reset else None,
        server_started=None if stats_reset else since,
        tables=tuple(o for o in flat if isinstance(o, Table)),
        indexes=tuple(o for o in flat if isinstance(o, Index)),
        constraints=tuple(o for o in flat if isinstance(o, Constraint)),
        sequences=tuple(o for o in flat if isinstance(o, Sequence)),
        **extra,
    )


# ---- the posture (settings and security checks) ----------------------------------------------------------------

# built-in defaults (boot_val, unit, context) of the PostgreSQL settings the tests use
_PG_DEFAULTS: dict[str, tuple[str, str | None, str]] = {
    "fsync": ("on", None, "sighup"),
    "full_page_writes": ("on", None, "sighup"),
    "synchronous_commit": ("on", None, "user"),
    "autovacuum": ("on", None, "sighup"),
    "track_counts": ("on", None, "superuser"),
    "autovacuum_vacuum_cost_delay": ("2", "ms", "sighup"),
    "autovacuum_vacuum_cost_limit": ("-1", None, "sighup"),
    "vacuum_cost_delay": ("0", "ms", "user"),
    "vacuum_cost_limit": ("200", None, "user"),
    "vacuum_cost_page_miss": ("2", None, "user"),
    "block_size": ("8192", None, "internal"),
    "shared_buffers": ("16384", "8kB", "postmaster"),
    "max_wal_size": ("1024", "MB", "sighup"),
    "checkpoint_timeout": ("300", "s", "sighup"),
    "statement_timeout": ("0", "ms", "user"),
    "idle_in_transaction_session_timeout": ("0", "ms", "user"),
    "random_page_cost": ("4", None, "user"),
    "seq_page_cost": ("1", None, "user"),
    "enable_nestloop": ("on", None, "user"),
    "enable_seqscan": ("on", None, "user"),
    "enable_partitionwise_join": ("off", None, "user"),
    "password_encryption": ("scram-sha-256", None, "user"),
    "max_connections": ("100", None, "postmaster"),
    "autovacuum_freeze_max_age": ("200000000", None, "postmaster"),
    "autovacuum_multixact_freeze_max_age": ("400000000", None, "postmaster"),
    "autovacuum_vacuum_threshold": ("50", None, "sighup"),
    "autovacuum_vacuum_scale_factor": ("0.2", None, "sighup"),
    "autovacuum_analyze_threshold": ("50", None, "sighup"),
    "autovacuum_analyze_scale_factor": ("0.1", None, "sighup"),
}


def pg_settings(**overrides: str) -> tuple[ServerSetting, ...]:
    """Every setting of :data:`_PG_DEFAULTS` at its default, with ``overrides`` (name=value) applied."""
    out = []
    for name, (boot, unit, context) in _PG_DEFAULTS.items():
        value = overrides.get(name, boot)
        out.append(ServerSetting(name=name, value=value, unit=unit, boot_value=boot,
                                 source="default" if value == boot else "configuration file", context=context))
    return tuple(out)


def posture(**fields: Any) -> Posture:
    """A Posture with PostgreSQL's default settings unless ``settings`` is given."""
    fields.setdefault("settings", pg_settings())
    fields.setdefault("login", "dbaudit")
    return Posture(**fields)
