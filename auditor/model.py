"""The typed, immutable data that travels between the stages.

A connector fills a :class:`Snapshot`; checks read it and yield :class:`Hit` objects, which the engine stamps into
:class:`Finding` objects with the check's metadata. Everything here is a frozen dataclass and round-trips through
JSON (:func:`snapshot_to_json` / :func:`snapshot_from_json`), so that a saved snapshot reproduces a report offline.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

SNAPSHOT_FORMAT_VERSION = 1


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


# --------------------------------------------------------------------------------------------------------------
# The snapshot
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # formatted as the server prints it: "integer", "character varying(20)", "bigint"
    nullable: bool = True
    default: str | None = None
    comment: str | None = None
    position: int = 0
    identity: str | None = None  # "always" / "by default" for identity columns
    null_frac: float | None = None  # pg_stats: share of NULLs
    n_distinct: float | None = None  # pg_stats: > 0 absolute count, < 0 minus the share of rows


@dataclass(frozen=True)
class TableStats:
    """Activity counters (pg_stat_user_tables); None where the server keeps no such figure."""

    seq_scan: int | None = None
    seq_tup_read: int | None = None
    idx_scan: int | None = None
    idx_tup_fetch: int | None = None
    n_tup_ins: int | None = None
    n_tup_upd: int | None = None
    n_tup_del: int | None = None
    n_tup_hot_upd: int | None = None
    n_live_tup: int | None = None
    n_dead_tup: int | None = None
    n_mod_since_analyze: int | None = None
    last_vacuum: datetime | None = None
    last_autovacuum: datetime | None = None
    last_analyze: datetime | None = None
    last_autoanalyze: datetime | None = None
    vacuum_count: int | None = None
    autovacuum_count: int | None = None
    analyze_count: int | None = None
    autoanalyze_count: int | None = None


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str = "table"  # table, partitioned, foreign, view, materialized_view
    estimated_rows: int | None = None  # None when the table was never analyzed
    total_bytes: int | None = None
    table_bytes: int | None = None
    index_bytes: int | None = None
    toast_bytes: int | None = None
    comment: str | None = None
    parent: str | None = None  # "schema.table" of the partitioned parent, for partitions and inheritance children
    is_partition: bool = False
    engine: str | None = None  # storage engine (MySQL)
    columns: tuple[Column, ...] = ()
    stats: TableStats = field(default_factory=TableStats)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None


@dataclass(frozen=True)
class IndexKey:
    """One key position of an index: a plain column, or an expression (then ``column`` is None)."""

    column: str | None = None
    expression: str | None = None
    descending: bool = False
    nulls_first: bool = False
    opclass: str | None = None  # None when it is the type's default operator class
    collation: str | None = None  # None when it is the column's default collation

    @property
    def text(self) -> str:
        return self.column if self.column is not None else f"({self.expression})"


@dataclass(frozen=True)
class Index:
    schema: str
    table: str
    name: str
    keys: tuple[IndexKey, ...] = ()
    include: tuple[str, ...] = ()  # INCLUDE (covering) columns, not part of the key
    method: str = "btree"
    is_unique: bool = False
    is_primary: bool = False
    predicate: str | None = None  # partial index WHERE clause, None for a full index
    is_valid: bool = True
    is_ready: bool = True
    constraint: str | None = None  # name of the constraint this index backs
    constraint_type: str | None = None  # "primary_key", "unique", "exclusion"
    definition: str = ""  # CREATE INDEX statement as the server prints it
    size_bytes: int | None = None
    scans: int | None = None  # idx_scan; None when unknown (no statistics, no privilege)
    tuples_read: int | None = None
    tuples_fetched: int | None = None
    visible: bool = True  # MySQL 8 invisible indexes
    is_partition_child: bool = False  # attached to a partitioned parent's index

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def table_key(self) -> tuple[str, str]:
        return (self.schema, self.table)

    @property
    def columns(self) -> tuple[str | None, ...]:
        """Key columns in order; None at expression positions."""
        return tuple(k.column for k in self.keys)

    @property
    def backs_constraint(self) -> bool:
        return self.constraint is not None or self.is_primary


@dataclass(frozen=True)
class Constraint:
    schema: str
    table: str
    name: str
    type: str  # "primary_key", "unique", "foreign_key", "check", "exclusion", "not_null"
    columns: tuple[str, ...] = ()
    definition: str = ""
    validated: bool = True
    deferrable: bool = False
    # foreign keys only: the referenced side, pairwise with ``columns``
    ref_schema: str | None = None
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()
    on_update: str | None = None  # "no action", "restrict", "cascade", "set null", "set default"
    on_delete: str | None = None
    match_type: str | None = None  # "simple", "full", "partial"
    index: str | None = None  # the index that backs a PK/unique/exclusion constraint

    @property
    def table_key(self) -> tuple[str, str]:
        return (self.schema, self.table)

    @property
    def ref_table_key(self) -> tuple[str, str] | None:
        if self.ref_table is None:
            return None
        return (self.ref_schema or self.schema, self.ref_table)


@dataclass(frozen=True)
class ColumnRef:
    schema: str
    table: str
    column: str
    data_type: str = ""


@dataclass(frozen=True)
class Sequence:
    schema: str
    name: str
    data_type: str = "bigint"  # the sequence's own type
    start_value: int | None = None
    increment: int = 1
    min_value: int | None = None
    max_value: int | None = None
    last_value: int | None = None  # None: never called, or not readable
    cycle: bool = False
    # the columns it feeds (owned-by, identity, or DEFAULT nextval(...)), with their types
    feeds: tuple[ColumnRef, ...] = ()
    # MySQL AUTO_INCREMENT counters are modelled as sequences with kind "auto_increment"
    kind: str = "sequence"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Note:
    """Something the connector could not see in full, kept so that reports can say so."""

    area: str  # "tables", "statistics", "sequences", "privileges", ...
    message: str
    objects: tuple[str, ...] = ()
    enable: str | None = None  # the grant or setting that would lift the limit


@dataclass(frozen=True)
class Snapshot:
    engine: str  # "postgresql" or "mysql"
    server_version: str = ""
    server_version_num: int = 0  # PostgreSQL: 150004; MySQL: 80036 / MariaDB 101106
    database: str = ""
    dsn: str = ""  # display form, never with a password
    collected_at: datetime | None = None
    collect_duration_s: float | None = None
    queries_sent: int = 0  # round trips of the collection, for the benchmark and the query-count test
    flavor: str | None = None  # "mariadb" for MariaDB on the mysql engine
    settings: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, str] = field(default_factory=dict)  # name -> installed version
    available_extensions: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()  # e.g. "pg_read_all_stats", "superuser"
    stats_reset: datetime | None = None  # when usage statistics were last reset
    server_started: datetime | None = None
    schemas: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    indexes: tuple[Index, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    notes: tuple[Note, ...] = ()
    format_version: int = SNAPSHOT_FORMAT_VERSION

    # ---- lookups (computed once, not serialized) -------------------------------------------------------------
    @cached_property
    def table_map(self) -> dict[tuple[str, str], Table]:
        return {t.key: t for t in self.tables}

    @cached_property
    def _indexes_by_table(self) -> dict[tuple[str, str], list[Index]]:
        out: dict[tuple[str, str], list[Index]] = {}
        for ix in self.indexes:
            out.setdefault(ix.table_key, []).append(ix)
        return out

    @cached_property
    def _constraints_by_table(self) -> dict[tuple[str, str], list[Constraint]]:
        out: dict[tuple[str, str], list[Constraint]] = {}
        for c in self.constraints:
            out.setdefault(c.table_key, []).append(c)
        return out

    def table(self, schema: str, name: str) -> Table | None:
        return self.table_map.get((schema, name))

    def indexes_of(self, schema: str, table: str) -> list[Index]:
        return self._indexes_by_table.get((schema, table), [])

    def constraints_of(self, schema: str, table: str, type: str | None = None) -> list[Constraint]:
        cons = self._constraints_by_table.get((schema, table), [])
        return [c for c in cons if type is None or c.type == type]

    def foreign_keys(self) -> Iterator[Constraint]:
        return (c for c in self.constraints if c.type == "foreign_key")

    def has_extension(self, name: str) -> bool:
        return name in self.extensions

    @property
    def stats_since(self) -> datetime | None:
        """Start of the window the usage counters cover: the later of the last reset and the server start."""
        moments = [m for m in (self.stats_reset, self.server_started) if m is not None]
        return max(moments) if moments else None

    def stats_age_seconds(self) -> float | None:
        since = self.stats_since
        if since is None or self.collected_at is None:
            return None
        return max(0.0, (self.collected_at - since).total_seconds())


# --------------------------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectRef:
    """What a finding is about. Only the fields that apply are set; None fields are left out of JSON."""

    type: str  # "table", "index", "foreign_key", "constraint", "sequence", "column", "query", "database"
    schema: str | None = None
    table: str | None = None
    columns: tuple[str, ...] | None = None
    index: str | None = None
    constraint: str | None = None
    sequence: str | None = None
    query: str | None = None
    queryid: str | None = None

    def label(self) -> str:
        """Short human form: schema.table(cols) / schema.index ..."""
        base = ".".join(p for p in (self.schema, self.table) if p)
        if self.type == "index" and self.index:
            return f"{self.schema}.{self.index}" if self.schema else self.index
        if self.type == "sequence" and self.sequence:
            return f"{self.schema}.{self.sequence}" if self.schema else self.sequence
        if self.type == "query" and self.query:
            q = " ".join(self.query.split())
            return q if len(q) <= 80 else q[:77] + "..."
        if self.columns:
            base += "(" + ", ".join(self.columns) + ")"
        if self.constraint and self.type in ("constraint", "foreign_key"):
            base += f" [{self.constraint}]"
        return base or self.type

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True)
class Hit:
    """What a check yields: the object, a message, evidence and the fix. The engine adds the check metadata."""

    object: ObjectRef
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    remediation: str | None = None
    severity: Severity | None = None  # overrides the check's default severity for this one hit


@dataclass(frozen=True)
class Finding:
    code: str
    check: str
    severity: Severity
    category: str
    object: ObjectRef
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    remediation: str | None = None
    doc_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "check": self.check,
            "severity": self.severity.value,
            "category": self.category,
            "object": self.object.as_dict(),
            "message": self.message,
            "details": _jsonable(dict(self.details)),
            "remediation": self.remediation,
        }
        if self.doc_url:
            out["doc_url"] = self.doc_url
        return out


@dataclass(frozen=True)
class Skipped:
    check: str
    code: str
    reason: str
    enable: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "code": self.code, "reason": self.reason}
        if self.enable:
            out["enable"] = self.enable
        return out


# --------------------------------------------------------------------------------------------------------------
# JSON round trip
# --------------------------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for any dataclass of this module (datetimes as ISO 8601)."""
    return _jsonable(value)


def _build(tp: Any, value: Any) -> Any:
    """Rebuild a value of type ``tp`` from its JSON form (inverse of :func:`_jsonable`)."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        # the first member that accepts the value wins; our unions are "X | None"
        return _build(args[0], value) if len(args) == 1 else value
    if origin is tuple:
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_build(inner, v) for v in value)
    if origin in (list, set, frozenset):
        (inner,) = typing.get_args(tp) or (Any,)
        return origin(_build(inner, v) for v in value)
    if origin in (dict, Mapping) or tp in (dict, Mapping) or origin is typing.Mapping:
        args = typing.get_args(tp)
        inner = args[1] if len(args) == 2 else Any
        return {k: _build(inner, v) for k, v in value.items()}
    if tp is datetime:
        return datetime.fromisoformat(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {}
        names = {f.name for f in dataclasses.fields(tp)}
        for key, v in value.items():
            if key in names:  # unknown keys from a newer writer are ignored
                kwargs[key] = _build(hints[key], v)
        return tp(**kwargs)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def snapshot_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    return {f.name: _jsonable(getattr(snapshot, f.name)) for f in dataclasses.fields(snapshot)}


def snapshot_from_dict(data: Mapping[str, Any]) -> Snapshot:
    version = data.get("format_version", SNAPSHOT_FORMAT_VERSION)
    if version > SNAPSHOT_FORMAT_VERSION:
        raise ValueError(
            f"snapshot format_version {version} is newer than this dbaudit understands ({SNAPSHOT_FORMAT_VERSION})"
        )
    result = _build(Snapshot, dict(data))
    assert isinstance(result, Snapshot)
    return result


def snapshot_to_json(snapshot: Snapshot, indent: int | None = 1) -> str:
    return json.dumps(snapshot_to_dict(snapshot), indent=indent, ensure_ascii=False)


def snapshot_from_json(text: str) -> Snapshot:
    return snapshot_from_dict(json.loads(text))
