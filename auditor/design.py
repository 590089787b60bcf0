"""Derived figures for the design document (markdown and HTML reports), pure functions over the snapshot.

The reporters render these and nothing else: the entity-relationship graph (trimmed to the most connected tables
for large schemas), per-table profiles with their read/write mix, the largest tables and partitioning candidates,
the index strategy (what to drop, what to add), the costliest statements with their findings, and a prioritised
list of next steps ordered by the database time each would save, then the score points it recovers.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from auditor.model import (
    Column,
    Constraint,
    Finding,
    Index,
    PlanSummary,
    Severity,
    Skipped,
    Snapshot,
    Statement,
    Table,
)
from auditor.relations import attached_indexes, partition_indexes, summed
from auditor.relations import members as tree_members
from auditor.scoring import FAILED_METRIC_PENALTY, Metric, audited_tables, penalties, unused_candidate_reason
from auditor.textfmt import elapsed_ms
from auditor.workload import APPLICATION, latency_statements, statement_class, unexplainable_by_nature

ER_MAX_TABLES = 40
ER_MAX_COLUMNS = 12  # per entity in the diagram; keys are always shown
PARTITION_ROWS = 100_000_000
TOP_STATEMENTS = 10
LARGEST_TABLES = 10

DROP_CODES = ("IX04", "IX02", "IX03", "IX01")  # invalid first: it costs writes and never helps a read
ADD_CODES = ("WL02", "IX05")


# ------------------------------------------------------------------------------------------------------------
# Entity-relationship graph
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErAttribute:
    name: str
    data_type: str
    keys: tuple[str, ...] = ()  # "PK", "FK", "UK"
    nullable: bool = True


@dataclass(frozen=True)
class ErEntity:
    schema: str
    name: str
    attributes: tuple[ErAttribute, ...]
    hidden_columns: int = 0  # non-key columns left out of the diagram

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class ErRelation:
    parent: tuple[str, str]  # the referenced table
    child: tuple[str, str]  # the table holding the foreign key
    constraint: str
    columns: tuple[str, ...]
    optional: bool  # some FK column is nullable: a child may have no parent
    one_to_one: bool  # the FK columns are also a primary or unique key of the child


@dataclass(frozen=True)
class SchemaFamily:
    """Schemas named alike (``tenant_1``, ``tenant_2``...) that hold the same tables with the same columns:
    the copies of a schema-per-tenant design."""

    prefix: str  # the name without its number: "tenant_"
    schemas: tuple[str, ...]  # in number order; the first stands for them all
    tables: tuple[str, ...]  # the table names each holds

    @property
    def pattern(self) -> str:
        return f"{self.prefix}*"

    @property
    def representative(self) -> str:
        return self.schemas[0]

    def text(self) -> str:
        """``tenant_* schemas: 400 schemas of the same 10 tables, tenant_1 shown``"""
        return (f"{self.pattern} schemas: {len(self.schemas):,} schemas of the same {len(self.tables)} "
                f"table{'s' if len(self.tables) != 1 else ''}, {self.representative} shown")


# A family needs at least this many schemas: two alike (app_v1, app_v2) may be a migration's old and new copy,
# both worth seeing; a schema-per-tenant design has many (rt17: 400)
SCHEMA_FAMILY_MIN = 3
_NUMBERED = re.compile(r"^(.*\D)(\d+)$")


def schema_families(tables: Iterable[Table]) -> list[SchemaFamily]:
    """The families of numbered schemas holding identical tables (names, columns and types), largest first."""
    by_schema: dict[str, list[Table]] = defaultdict(list)
    for t in tables:
        by_schema[t.schema].append(t)
    groups: dict[tuple[object, ...], list[tuple[int, str]]] = defaultdict(list)
    for schema, members in by_schema.items():
        m = _NUMBERED.match(schema)
        if m is None:
            continue
        shape = tuple(sorted((t.name, t.kind, tuple((c.name, c.data_type) for c in
                                                     sorted(t.columns, key=lambda c: c.position)))
                             for t in members))
        groups[(m.group(1), shape)].append((int(m.group(2)), schema))
    families = [SchemaFamily(prefix=str(key[0]), schemas=tuple(s for _, s in sorted(members)),
                             tables=tuple(sorted(t[0] for t in key[1])))  # type: ignore[attr-defined]
                for key, members in groups.items() if len(members) >= SCHEMA_FAMILY_MIN]
    families.sort(key=lambda f: (-len(f.schemas), f.prefix))
    return families


def audited_name(database: str | None, snapshot: Snapshot) -> str:
    """What a scan audited, for a title: the database, else its schemas (a family as ``tenant_* (400
    schemas)``), else the server. MariaDB/MySQL scanned without a database in the URL audit every schema."""
    if database:
        return database
    schemas = sorted(set(snapshot.schemas) | {t.schema for t in snapshot.tables})
    if not schemas:
        return "the whole server"
    families = schema_families(audited_tables(snapshot))
    in_family = {s for f in families for s in f.schemas}
    names = [s for s in schemas if s not in in_family] + [f"{f.pattern} ({len(f.schemas):,} schemas)"
                                                         for f in families]
    if len(names) <= 4:
        return ", ".join(names)
    return f"{len(schemas):,} schemas ({', '.join(names[:3])}, ...)"


@dataclass(frozen=True)
class ErModel:
    entities: tuple[ErEntity, ...]
    relations: tuple[ErRelation, ...]
    total_tables: int
    omitted: tuple[tuple[str, str], ...] = ()  # tables left out, most connected first
    omitted_relations: int = 0
    multi_schema: bool = False  # names need their schema to be unambiguous
    # schema families drawn through one representative schema each (their copies are not in ``total_tables``)
    families: tuple[SchemaFamily, ...] = ()


def _table_keys(snapshot: Snapshot, t: Table) -> tuple[set[str], set[str], set[str], list[set[str]]]:
    pk: set[str] = set()
    fk: set[str] = set()
    uk: set[str] = set()
    unique_sets: list[set[str]] = []
    for c in snapshot.constraints_of(t.schema, t.name):
        if c.type == "primary_key":
            pk.update(c.columns)
            unique_sets.append(set(c.columns))
        elif c.type == "foreign_key":
            fk.update(c.columns)
        elif c.type == "unique":
            uk.update(c.columns)
            unique_sets.append(set(c.columns))
    return pk, fk, uk, unique_sets


def _entity(snapshot: Snapshot, t: Table, max_columns: int) -> ErEntity:
    pk, fk, uk, _ = _table_keys(snapshot, t)
    keyed = pk | fk | uk
    others_room = max(0, max_columns - sum(1 for c in t.columns if c.name in keyed))
    attrs: list[ErAttribute] = []
    hidden = 0
    for col in sorted(t.columns, key=lambda c: c.position):
        keys = tuple(k for k, group in (("PK", pk), ("FK", fk), ("UK", uk)) if col.name in group)
        if not keys:
            if others_room <= 0:
                hidden += 1
                continue
            others_room -= 1
        attrs.append(ErAttribute(col.name, col.data_type, keys, col.nullable))
    return ErEntity(t.schema, t.name, tuple(attrs), hidden)


def er_model(snapshot: Snapshot, max_tables: int = ER_MAX_TABLES, max_columns: int = ER_MAX_COLUMNS) -> ErModel:
    """Tables and foreign keys; beyond ``max_tables`` only the most connected tables are kept.

    Connectedness is the number of foreign keys a table holds or is referenced by (self-references count
    once); ties go to the larger table, then to the name. Partitions are shown through their parent.

    When most tables are copies of one another in numbered schemas (schema per tenant: 400 schemas of the same
    10 tables), each family is drawn through its first schema, with its relationships and those to the
    shared tables; the copies are left out and the family says so (rt17: 38 unconnected tenant_N.orders).
    """
    tables = audited_tables(snapshot)
    families = tuple(schema_families(tables))
    copies = {s for f in families for s in f.schemas[1:]}
    if families and 2 * sum(1 for t in tables if t.schema in copies) > len(tables):
        tables = [t for t in tables if t.schema not in copies]
    else:
        families = ()
    known = {t.key for t in tables}
    parent_of = {t.key: tuple(t.parent.split(".", 1)) for t in snapshot.tables if t.parent and "." in t.parent}

    relations: dict[tuple[tuple[str, str], tuple[str, str], tuple[str, ...]], ErRelation] = {}
    for c in snapshot.foreign_keys():
        ref = c.ref_table_key
        if ref is None:
            continue
        child = parent_of.get(c.table_key, c.table_key)
        parent = parent_of.get(ref, ref)
        if child not in known or parent not in known:
            continue
        child_table = snapshot.table(*child)
        assert child_table is not None
        _, _, _, unique_sets = _table_keys(snapshot, child_table)
        optional = any(col.nullable for name in c.columns if (col := child_table.column(name)) is not None)
        one_to_one = any(s == set(c.columns) for s in unique_sets)
        # a foreign key repeated on every partition is one relationship of the parent
        relations.setdefault((parent, child, c.columns), ErRelation(
            parent=parent, child=child, constraint=c.name, columns=c.columns, optional=optional,
            one_to_one=one_to_one))

    degree: dict[tuple[str, str], int] = defaultdict(int)
    for r in relations.values():
        degree[r.child] += 1
        if r.parent != r.child:
            degree[r.parent] += 1
    ranked = sorted(tables, key=lambda t: (-degree[t.key], -(t.estimated_rows or 0), t.schema, t.name))
    kept = ranked[:max_tables]
    kept_keys = {t.key for t in kept}
    shown = [r for r in relations.values() if r.parent in kept_keys and r.child in kept_keys]
    # diagram order: by name, so that the text is stable and easy to scan
    kept.sort(key=lambda t: (t.schema, t.name))
    shown.sort(key=lambda r: (r.parent, r.child, r.constraint))
    return ErModel(
        entities=tuple(_entity(snapshot, t, max_columns) for t in kept),
        relations=tuple(shown),
        total_tables=len(tables),
        omitted=tuple(t.key for t in ranked[max_tables:]),
        omitted_relations=len(relations) - len(shown),
        multi_schema=len({t.schema for t in tables}) > 1,
        families=families,
    )


# Mermaid erDiagram syntax: quoted entity names may hold anything but ", %, backslash and line breaks; attribute
# types and names are single words of letters, digits, -, _, [, ], ( and ); comments are "..." without ".
_MERMAID_WORD_BAD = re.compile(r"[^A-Za-z0-9_\-\[\]()]")
# Quoted names keep letters, digits, spaces, "." "-" "$" only: Mermaid also reads entity codes (#35;), HTML
# tags and `markdown strings` inside labels, so everything else becomes "_".
_MERMAID_QUOTED_BAD = re.compile(r"[^\w .$-]")
_MERMAID_KEY_WORDS = {"pk", "fk", "uk"}


def mermaid_quoted(text: str) -> str:
    return '"' + _MERMAID_QUOTED_BAD.sub("_", text) + '"'


def mermaid_word(text: str) -> str:
    word = _MERMAID_WORD_BAD.sub("_", text.replace(" ", "_").replace(",", "_"))
    if not word or not (word[0].isascii() and (word[0].isalpha() or word[0] == "_")):
        word = "_" + word
    if word.lower() in _MERMAID_KEY_WORDS:
        word += "_"
    return word


def _entity_label(key: tuple[str, str], multi_schema: bool) -> str:
    return f"{key[0]}.{key[1]}" if multi_schema else key[1]


def mermaid_er(model: ErModel) -> str:
    """The model as a Mermaid ``erDiagram``; every name quoted or sanitised for the grammar."""
    # names that sanitise alike ("a b" and "a_b") get a numbered suffix so that they stay two entities
    names: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for e in model.entities:
        base = mermaid_quoted(_entity_label(e.key, model.multi_schema))[1:-1]
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[e.key] = f'"{name}"'
    lines = ["erDiagram"]
    for e in model.entities:
        lines.append(f"    {names[e.key]} {{")
        for a in e.attributes:
            name = mermaid_word(a.name)
            keys = f" {','.join(a.keys)}" if a.keys else ""
            notes = [] if a.nullable or "PK" in a.keys else ["NOT NULL"]
            if name != a.name:
                notes.insert(0, f"column {a.name}")
            comment = f" {mermaid_quoted(', '.join(notes))}" if notes else ""  # "column a_b_c", "NOT NULL"
            lines.append(f"        {mermaid_word(a.data_type)} {name}{keys}{comment}")
        lines.append("    }")
    for r in model.relations:
        left = "||" if not r.optional else "|o"
        right = "o|" if r.one_to_one else "o{"
        label = mermaid_quoted(r.constraint)
        lines.append(f"    {names[r.parent]} {left}--{right} {names[r.child]} : {label}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnProfile:
    column: Column
    constraints: tuple[str, ...]  # "PK", "FK -> public.users(id)", "UNIQUE", "NOT NULL", "DEFAULT ..."


@dataclass(frozen=True)
class ReadWriteMix:
    seq_scans: int | None
    index_scans: int | None
    rows_inserted: int | None
    rows_updated: int | None
    rows_deleted: int | None

    @property
    def reads(self) -> int | None:
        if self.seq_scans is None and self.index_scans is None:
            return None
        return (self.seq_scans or 0) + (self.index_scans or 0)

    @property
    def writes(self) -> int | None:
        parts = (self.rows_inserted, self.rows_updated, self.rows_deleted)
        return None if all(p is None for p in parts) else sum(p or 0 for p in parts)

    @property
    def read_pct(self) -> float | None:
        """Scans as a share of scans plus rows written: an approximate read/write mix."""
        r, w = self.reads, self.writes
        if r is None or w is None or r + w == 0:
            return None
        return round(100.0 * r / (r + w), 1)

    @property
    def index_scan_pct(self) -> float | None:
        r = self.reads
        if not r:
            return None
        return round(100.0 * (self.index_scans or 0) / r, 1)


@dataclass(frozen=True)
class TableProfile:
    table: Table
    columns: tuple[ColumnProfile, ...]
    indexes: tuple[Index, ...]
    constraints: tuple[Constraint, ...]  # check and exclusion constraints (keys show on the columns)
    mix: ReadWriteMix
    partitions: int = 0
    size: TableSize | None = None  # rows and bytes with the partitions summed in (table_sizes)
    # per index of ``indexes``, (bytes, scans): a partitioned table's index has neither, its partitions' indexes
    # attached to it have them, summed here (like its scans and rows written in ``mix``)
    index_figures: tuple[tuple[int | None, int | None], ...] = ()


def _qualified_cols(schema: str | None, table: str | None, cols: Iterable[str]) -> str:
    return f"{schema}.{table}({', '.join(cols)})"


def _partitioned_mix(snapshot: Snapshot, t: Table) -> ReadWriteMix:
    """A partitioned table's scans and rows written: its partitions' (the server counts them there)."""
    stats = [m.stats for m in tree_members(snapshot, t)]
    return ReadWriteMix(summed(s.seq_scan for s in stats), summed(s.idx_scan for s in stats),
                        summed(s.n_tup_ins for s in stats), summed(s.n_tup_upd for s in stats),
                        summed(s.n_tup_del for s in stats))


def table_profiles(snapshot: Snapshot) -> list[TableProfile]:
    sizes = table_sizes(snapshot)
    attached = attached_indexes(snapshot) if any(t.kind == "partitioned" for t in snapshot.tables) else {}
    out: list[TableProfile] = []
    for t in sorted(audited_tables(snapshot), key=lambda t: (t.schema, t.name)):
        cons = snapshot.constraints_of(t.schema, t.name)
        cols: list[ColumnProfile] = []
        for col in sorted(t.columns, key=lambda c: c.position):
            marks: list[str] = []
            for c in cons:
                if col.name not in c.columns:
                    continue
                if c.type == "primary_key":
                    marks.append("PK" if len(c.columns) == 1 else f"PK ({', '.join(c.columns)})")
                elif c.type == "unique":
                    marks.append("UNIQUE" if len(c.columns) == 1 else f"UNIQUE ({', '.join(c.columns)})")
                elif c.type == "foreign_key" and c.ref_table:
                    i = c.columns.index(col.name)
                    ref_col = c.ref_columns[i] if i < len(c.ref_columns) else "?"
                    marks.append(f"FK -> {c.ref_schema or c.schema}.{c.ref_table}({ref_col})")
            if not col.nullable:
                marks.append("NOT NULL")
            if col.identity:
                marks.append(f"IDENTITY {col.identity.upper()}")
            if col.generated:
                marks.append(f"GENERATED ({col.generated})")
            elif col.default:
                marks.append(f"DEFAULT {col.default}")
            cols.append(ColumnProfile(col, tuple(marks)))
        s = t.stats
        indexes = tuple(sorted(snapshot.indexes_of(t.schema, t.name), key=lambda i: i.name))
        partitioned = t.kind == "partitioned" and bool(attached)
        figures = []
        for ix in indexes:
            leaves = partition_indexes(attached, ix) if partitioned else []
            figures.append((summed(leaf.size_bytes for leaf in leaves), summed(leaf.scans for leaf in leaves))
                           if leaves else (ix.size_bytes, ix.scans))
        out.append(TableProfile(
            table=t,
            columns=tuple(cols),
            indexes=indexes,
            constraints=tuple(c for c in cons if c.type in ("check", "exclusion")),
            mix=_partitioned_mix(snapshot, t) if t.kind == "partitioned" else
            ReadWriteMix(s.seq_scan, s.idx_scan, s.n_tup_ins, s.n_tup_upd, s.n_tup_del),
            partitions=sizes[t.key].partitions if t.key in sizes else 0,
            size=sizes.get(t.key),
            index_figures=tuple(figures),
        ))
    return out


@dataclass(frozen=True)
class TableSize:
    table: Table
    rows: int | None
    total_bytes: int | None
    partitions: int = 0
    rows_from_live: bool = False  # some rows come from the live-tuple count of a never-analyzed table


def row_estimate(t: Table) -> tuple[int | None, bool]:
    """The table's rows: the planner's estimate, else (never analyzed) the statistics' live-tuple count.

    The second value says the figure is the live-tuple count: PostgreSQL keeps ``n_live_tup`` up to date on
    every write, while ``reltuples`` stays unknown until the first ANALYZE.
    """
    if t.estimated_rows is not None:
        return t.estimated_rows, False
    if t.kind != "partitioned" and t.stats.n_live_tup is not None:
        return t.stats.n_live_tup, True
    return None, False


def _owner(t: Table, by_key: dict[tuple[str, str], Table] | None = None) -> tuple[str, str]:
    """The table a relation's size counts for: a partition's top-level parent, else itself."""
    key = t.key
    seen = {key}
    current = t
    while current.is_partition and current.parent and "." in current.parent:
        schema, name = current.parent.split(".", 1)
        key = (schema, name)
        parent = by_key.get(key) if by_key is not None else None
        if parent is None or key in seen:
            break
        seen.add(key)
        current = parent
    return key


def table_sizes(snapshot: Snapshot) -> dict[tuple[str, str], TableSize]:
    """Rows and total size of every audited table, each partitioned table with its partitions summed in.

    Rows come from the leaf tables only: a partitioned parent that was analyzed carries the total of its
    partitions as its own estimate, and adding both would count every row twice. Sizes add up every member
    (a partitioned parent has no storage of its own on PostgreSQL, so it adds nothing).

    Computed once per snapshot (the document, the scaling section and the largest tables all ask): callers
    read the mapping and never change it.
    """
    found = snapshot.memo.get("table_sizes")
    if found is None:
        found = snapshot.memo["table_sizes"] = _table_sizes(snapshot)
    return found  # type: ignore[no-any-return]


def _table_sizes(snapshot: Snapshot) -> dict[tuple[str, str], TableSize]:
    tables = {t.key: t for t in audited_tables(snapshot)}
    by_key = {t.key: t for t in snapshot.tables}
    members: dict[tuple[str, str], list[Table]] = defaultdict(list)
    for t in snapshot.tables:
        owner = _owner(t, by_key)
        if owner in tables:
            members[owner].append(t)

    out: dict[tuple[str, str], TableSize] = {}
    for k, ms in members.items():
        leaves = [m for m in ms if m.kind != "partitioned"] or [tables[k]]
        estimates = [row_estimate(m) for m in leaves]
        rows = summed(r for r, _ in estimates)
        if rows is None and tables[k].estimated_rows is not None:
            rows = tables[k].estimated_rows  # partitions never counted, the parent was analyzed
        # PostgreSQL's partitions are tables of their own; MySQL/MariaDB's are counted on the table
        partitions = sum(1 for m in ms if m.key != k) or tables[k].partition_count
        out[k] = TableSize(tables[k], rows, summed(m.total_bytes for m in ms), partitions,
                           rows_from_live=any(live and r is not None for r, live in estimates))
    return out


def largest_tables(snapshot: Snapshot, limit: int = LARGEST_TABLES) -> list[TableSize]:
    """The largest tables by total size (partitions summed into their parent), then by rows."""
    rows = list(table_sizes(snapshot).values())
    rows.sort(key=lambda r: (-(r.total_bytes or 0), -(r.rows or 0), r.table.schema, r.table.name))
    return rows[:limit]


def partition_candidates(snapshot: Snapshot, min_rows: int = PARTITION_ROWS) -> list[TableSize]:
    """Unpartitioned tables of at least ``min_rows`` estimated rows."""
    return [
        TableSize(t, t.estimated_rows, t.total_bytes)
        for t in sorted(audited_tables(snapshot), key=lambda t: -(t.estimated_rows or 0))
        if t.kind == "table" and (t.estimated_rows or 0) >= min_rows
    ]


# ------------------------------------------------------------------------------------------------------------
# Indexing strategy and queries
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexStrategy:
    drop: tuple[Finding, ...]  # IX04, IX02, IX03, IX01, in that order; one per index
    add: tuple[Finding, ...]  # WL02 (verified by the workload first), IX05; one per index to create
    unused_bytes: int = 0
    # IX01 findings not to act on yet: too early to judge, or an index the check says to keep
    watch: tuple[Finding, ...] = ()
    # id() of a listed finding -> the other findings its statement settles (an index both duplicate and unused,
    # a WL02 index that serves a foreign key): each statement is listed once, with every reason
    also: dict[int, tuple[Finding, ...]] = field(default_factory=dict)


def index_strategy(findings: Iterable[Finding]) -> IndexStrategy:
    findings = list(findings)

    def ordered(codes: Sequence[str]) -> tuple[Finding, ...]:
        return tuple(f for code in codes for f in findings if f.code == code)

    also: dict[int, tuple[Finding, ...]] = {}
    listed = ordered(DROP_CODES)
    first_drop: dict[tuple[str, str, str], Finding] = {}
    drop: list[Finding] = []
    for f in listed:
        if unused_candidate_reason(f) is not None:
            continue
        if f.object.index and f.remediation:
            key = (f.object.schema or "", f.object.table or "", f.object.index)
            lead = first_drop.setdefault(key, f)
            if lead is not f:
                also[id(lead)] = (*also.get(id(lead), ()), f)
                continue
        drop.append(f)
    add: list[Finding] = []
    settled: set[int] = set()
    for lead, group in index_groups([f for f in findings if f.code in ADD_CODES]):
        others = tuple(f for f in group if f is not lead)
        if others:
            also[id(lead)] = others
            settled.update(id(f) for f in others)
    seen_sql: dict[str, Finding] = {}
    for f in ordered(ADD_CODES):
        if id(f) in settled:
            continue
        lead = seen_sql.setdefault(f.remediation, f) if f.remediation else f
        if lead is not f:  # the very statement proposed again (two checks, one index)
            also[id(lead)] = (*also.get(id(lead), ()), f)
            continue
        add.append(f)
    return IndexStrategy(
        drop=tuple(drop),
        add=tuple(add),
        unused_bytes=sum(int(f.details.get("index_bytes") or 0) for f in listed
                         if f.code == "IX01" and unused_candidate_reason(f) is None),
        watch=tuple(f for f in listed if unused_candidate_reason(f) is not None),
        also=also,
    )


@dataclass(frozen=True)
class StatementView:
    statement: Statement
    share_pct: float  # of the workload's total execution time
    plan: PlanSummary | None
    findings: tuple[Finding, ...]


def top_statements(snapshot: Snapshot, findings: Iterable[Finding], limit: int = TOP_STATEMENTS) -> list[
        StatementView]:
    """The statements that took the most total execution time, each with its plan and findings."""
    by_query: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.object.queryid:
            by_query[f.object.queryid].append(f)
    plans = {p.queryid: p for p in snapshot.plans}
    # transaction and session control (BEGIN, SET, SAVEPOINT...) is not what a DBA tunes
    stmts = latency_statements(snapshot)
    total = sum(s.total_ms for s in stmts) or 1.0
    ranked = sorted(stmts, key=lambda s: (-s.total_ms, s.queryid))[:limit]
    return [
        StatementView(s, round(100.0 * s.total_ms / total, 1), plans.get(s.queryid),
                      tuple(by_query.get(s.queryid, ())))
        for s in ranked
    ]


@dataclass(frozen=True)
class IndexUse:
    """One bar of the index-usage chart: an index's scans and size; for a partitioned table's index (PostgreSQL
    keeps no counter on it) those of the indexes attached to it on its leaf partitions, summed, as IX01 judges
    it, with how many partitions they are."""

    index: Index
    scans: int
    size_bytes: int | None
    partitions: int = 0


def index_usage(snapshot: Snapshot, limit: int = 20) -> list[IndexUse]:
    """Indexes by scans, busiest first, then the never-scanned ones by size (the chart's bars). A partition's
    attached index is no bar of its own: it counts in its partitioned index's."""
    partitioned = any(t.kind == "partitioned" for t in snapshot.tables)
    attached = attached_indexes(snapshot) if partitioned else {}
    known: list[IndexUse] = []
    for i in snapshot.indexes:
        if i.is_partition_child:
            continue
        leaves = partition_indexes(attached, i) if attached else []
        if leaves and all(leaf.scans is not None for leaf in leaves):
            scans = sum(leaf.scans or 0 for leaf in leaves)
            known.append(IndexUse(i, scans, summed(leaf.size_bytes for leaf in leaves), len(leaves)))
        elif not leaves and i.scans is not None:
            known.append(IndexUse(i, i.scans, i.size_bytes))
    used = sorted((u for u in known if u.scans), key=lambda u: (-u.scans, u.index.schema, u.index.name))
    unused = sorted((u for u in known if not u.scans),
                    key=lambda u: (-(u.size_bytes or 0), u.index.schema, u.index.name))
    half = limit // 2
    picked = used[: max(half, limit - len(unused))]
    return picked + unused[: limit - len(picked)]


# ------------------------------------------------------------------------------------------------------------
# Next steps and key risks
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    title: str
    detail: str
    points: float  # score points recovered when done
    severity: Severity | None = None
    code: str | None = None
    examples: tuple[str, ...] = ()  # objects
    sql: tuple[str, ...] = ()  # remediation, first few
    saves_ms: float | None = None  # measured statement time the fix addresses (see statement_time_saved)
    saves_how: str = ""  # how saves_ms was estimated, for the reader
    codes: tuple[str, ...] = ()  # every check a merged step resolves (one CREATE INDEX for WL02 and IX05)


WORKLOAD_TIME_CODES = ("WL01", "WL02", "WL03", "WL04")
MIN_SAVED_SHARE = 0.01  # a step saving less than this share of the workload's time is ranked by points


def statement_time_saved(finding: Finding) -> tuple[float, bool] | None:
    """(ms, estimated) of database time a workload finding's fix would save; None for other findings.

    The basis is the statement's measured total execution time in the statistics window. A WL02 proposal that
    hypopg verified saves that time in the proportion its plan cost falls (1 - cost_after / cost_before): an
    estimate. Otherwise the statement's whole time is what is at stake, an upper bound (estimated False).
    """
    if finding.code not in WORKLOAD_TIME_CODES:
        return None
    total = finding.details.get("total_ms")
    if not isinstance(total, int | float) or total <= 0:
        return None
    before, after = finding.details.get("cost_before"), finding.details.get("cost_after")
    if (finding.code == "WL02" and finding.details.get("verified") and isinstance(before, int | float)
            and isinstance(after, int | float) and before > 0):
        return max(0.0, float(total) * (1.0 - min(1.0, after / before))), True
    return float(total), False


def _statement_key(f: Finding) -> str:
    return f.object.queryid or f.object.query or f.message


def _saved(findings: Iterable[Finding], fixed_elsewhere: Collection[str] = ()) -> tuple[float | None, str]:
    """Time the fixes of ``findings`` would save, counting each statement once, and how it was estimated.

    A slow statement (WL01) that another workload finding gives a fix for (an index, a join instead of a loop)
    is counted there, not here: WL01 names a symptom, the other step the cure.
    """
    by_statement: dict[str, tuple[float, bool]] = {}
    for f in findings:
        saved = statement_time_saved(f)
        key = _statement_key(f)
        if saved is None or (f.code == "WL01" and key in fixed_elsewhere):
            continue
        if key not in by_statement or saved[0] > by_statement[key][0]:
            by_statement[key] = saved
    if not by_statement:
        return None, ""
    total = sum(ms for ms, _ in by_statement.values())
    estimated = sum(1 for _, est in by_statement.values() if est)
    n = len(by_statement)
    what = f"{n} statements' measured time" if n != 1 else "the statement's measured time"
    if estimated == n:
        how = f"{what} scaled by the plan cost hypopg predicts"
    elif estimated:
        how = f"{what}, {estimated} scaled by the plan cost hypopg predicts; an upper bound"
    else:
        how = f"{what}; an upper bound"
    return total, how


def _points_per_finding(findings: list[Finding]) -> dict[int, float]:
    """Each finding's share of the score points its check and severity lose (the score caps them per group)."""
    out: dict[int, float] = {}
    for code, sev, n, points in penalties(findings):
        for f in findings:
            if f.code == code and f.severity == sev:
                out[id(f)] = points / n
    return out


def _index_target(f: Finding) -> tuple[str, str, tuple[str, ...]] | None:
    """(schema, table, columns) of the index a WL02 or IX05 finding proposes to create; None otherwise."""
    if f.code not in ADD_CODES or not f.remediation or "CREATE INDEX" not in f.remediation.upper():
        return None
    if not f.object.table or not f.object.columns:
        return None
    expression = f.details.get("expression")
    if expression:  # an expression index serves only its expression: it merges with the same one alone
        return f.object.schema or "", f.object.table, (f"({expression})",)
    return f.object.schema or "", f.object.table, tuple(f.object.columns)


def _serves(wide: tuple[str, ...], narrow: tuple[str, ...], ordered: bool) -> bool:
    """Whether an index on ``wide`` serves what one on ``narrow`` was proposed for: ``narrow`` leads it (a
    foreign key's columns in any order: its lookup is equality on all of them)."""
    if len(narrow) > len(wide):
        return False
    lead = wide[: len(narrow)]
    return lead == narrow if ordered else set(lead) == set(narrow)


def index_groups(findings: list[Finding]) -> list[tuple[Finding, list[Finding]]]:
    """One index per table where several proposals would do: (the finding whose index to create, every finding
    that index resolves). A WL02 proposal absorbs a narrower WL02 proposal it leads with (same columns in order)
    and an IX05 key whose columns lead it, also an IX05 key declared on one of the partitions its index covers
    (pagila declares its payment keys partition by partition; details.scanned names them); an IX05 proposal
    absorbs only an identical one. Only groups holding a WL02 finding are returned: the other IX05 proposals stay
    in their check's step. Groups are kept per table, so a schema with thousands of keys is grouped in one pass.
    """
    proposals = [(f, t) for f in findings if (t := _index_target(f)) is not None]
    # widest first, WL02 before IX05 on equal width, so each proposal joins the widest index that serves it
    proposals.sort(key=lambda ft: (-len(ft[1][2]), ft[0].code != "WL02", ft[1]))
    groups: list[tuple[Finding, tuple[str, ...], list[Finding]]] = []
    by_table: dict[tuple[str, str], list[int]] = defaultdict(list)  # table -> groups whose index lands on it
    for f, (schema, table, columns) in proposals:
        home = None
        for i in by_table.get((schema, table), ()):
            lead, keys, _ = groups[i]
            if (lead.object.schema or "", lead.object.table) != (schema, table) and f.code != "IX05":
                continue  # a partition's entry: only a foreign key declared on the partition joins it there
            if _serves(keys, columns, ordered=f.code == "WL02") and (lead.code == "WL02" or keys == columns):
                home = groups[i]
                break
        if home is not None:
            home[2].append(f)
            continue
        groups.append((f, columns, [f]))
        by_table[(schema, table)].append(len(groups) - 1)
        if f.code == "WL02":
            for member in f.details.get("scanned", ()) or ():
                part_schema, _, part = str(member).partition(".")
                if part and (part_schema, part) != (schema, table):
                    by_table[(part_schema, part)].append(len(groups) - 1)
    return [(lead, members) for lead, _, members in groups if any(m.code == "WL02" for m in members)]


def next_steps(findings: Iterable[Finding], metrics: Iterable[Metric], skipped: Iterable[Skipped] = (),
               max_sql: int = 3, workload_ms: float | None = None,
               found: list[Step] | None = None) -> list[Step]:
    """What to do, most valuable first: errors, then by the database time each would save, then by score points.

    The time a step saves is the measured execution time of the statements its fixes address (see
    statement_time_saved); steps saving less than MIN_SAVED_SHARE of ``workload_ms`` (the workload's total
    time, when known) are ranked with the steps that save no measured time, by the score points they recover.
    A proposed index is one step however many findings propose it: WL02 statements that one index serves and
    the IX05 foreign key it leads with are merged into it, so no CREATE INDEX is proposed twice. Then one step
    per remaining check and severity (the score counts them that way), one per failed metric, and the checks
    that could not run with what would enable them.

    ``found``: the findings' steps already ranked by :func:`finding_steps` (a report that shows them twice, as
    key risks and as next steps, ranks them once).
    """
    steps = list(found) if found is not None else finding_steps(findings, max_sql, workload_ms)
    for m in metrics:
        if m.passed is False:
            steps.append(Step(
                title=f"Bring {m.label.lower()} to its target ({m.target})",
                detail=f"now {m.value}{' ' + m.unit if m.unit else ''}; {m.method}",
                points=FAILED_METRIC_PENALTY,
            ))
    for s in skipped:
        if s.enable:
            steps.append(Step(title=f"Enable {s.code} {s.check}", detail=f"{s.reason}; to enable: {s.enable}",
                              points=0.0))
    return steps


def finding_steps(findings: Iterable[Finding], max_sql: int = 3, workload_ms: float | None = None) -> list[Step]:
    """The steps of :func:`next_steps` that fix findings, ranked (its failed metrics and checks to enable come
    after them)."""
    findings = list(findings)
    share = _points_per_finding(findings)
    cured = {_statement_key(f) for f in findings if f.code in WORKLOAD_TIME_CODES and f.code != "WL01"}
    steps: list[Step] = []
    merged: set[int] = set()
    for lead, group in index_groups(findings):
        merged.update(id(f) for f in group)
        saves, how = _saved(group)
        codes = tuple(sorted({f.code for f in group}))
        counted = ", ".join(f"{c} x{n}" if (n := sum(1 for f in group if f.code == c)) > 1 else c for c in codes)
        also = [f.object.label() for f in group if f.code == "IX05"]
        detail = (f"resolves {counted}; e.g. {lead.message}" if len(group) > 1
                  else f"1 {lead.check} finding; e.g. {lead.message}")
        if also:
            more = f" and {len(also) - 3} more" if len(also) > 3 else ""
            detail += f"; also serves the lookups of foreign key {', '.join(also[:3])}{more}"
        steps.append(Step(
            title=f"Create the index on {lead.object.schema}.{lead.object.table} "
                  f"({lead.details.get('expression') or ', '.join(lead.object.columns or ())})",
            detail=detail,
            points=round(sum(share.get(id(f), 0.0) for f in group), 2),
            severity=max((f.severity for f in group), key=lambda s: s.rank), code=lead.code,
            examples=tuple(f.object.label() for f in group[:5]),
            sql=(lead.remediation,) if lead.remediation else (),
            saves_ms=saves, saves_how=how, codes=codes,
        ))
    rest = [f for f in findings if id(f) not in merged]
    for code, sev, n, _ in penalties(rest):
        group = [f for f in rest if f.code == code and f.severity == sev]
        first = group[0]
        what = f"{n} {first.check} finding{'s' if n != 1 else ''}"
        title = f"{code} {first.check}: fix {n} {sev.value}{'s' if n != 1 and sev != Severity.INFO else ''}"
        # an unused index that is too early to judge, or one to keep, is watched, never dropped
        watched = [f for f in group if unused_candidate_reason(f) is not None]
        if watched and len(watched) == n:
            reasons = sorted({unused_candidate_reason(f) or "" for f in watched})
            title = f"{code} {first.check}: watch {n} candidate{'s' if n != 1 else ''} ({', '.join(reasons)})"
        saves, how = _saved(group, cured)
        steps.append(Step(
            title=title,
            detail=f"{what}; e.g. {first.message}",
            points=round(sum(share.get(id(f), 0.0) for f in group), 2), severity=sev, code=code,
            examples=tuple(f.object.label() for f in group[:5]),
            sql=tuple(f.remediation for f in group if f.remediation and f not in watched)[:max_sql],
            saves_ms=saves, saves_how=how, codes=(code,),
        ))
    floor = MIN_SAVED_SHARE * workload_ms if workload_ms else 0.0

    def timed(s: Step) -> float:
        return s.saves_ms if s.saves_ms is not None and s.saves_ms > floor else 0.0

    steps.sort(key=lambda s: (s.severity != Severity.ERROR, -timed(s), -s.points, s.code or "", s.title))
    return steps


def saving_text(step: Step, workload_ms: float | None = None) -> str:
    """'saves up to 1.2 s of the measured database time (52.1 % of the workload)', or '' when unmeasured."""
    if step.saves_ms is None:
        return ""
    bound = "about" if step.saves_how and "upper bound" not in step.saves_how else "up to"
    value = elapsed_ms(step.saves_ms)
    share = f", {100.0 * step.saves_ms / workload_ms:.1f} % of the workload's" if workload_ms else ""
    return f"saves {bound} {value} of measured database time{share}"


def workload_time_ms(snapshot: Snapshot | None) -> float | None:
    """The workload's total measured execution time (the statements a DBA tunes), for ranking next steps."""
    if snapshot is None:
        return None
    total = sum(s.total_ms for s in latency_statements(snapshot))
    return total or None


def key_risks(findings: Iterable[Finding], limit: int = 5, workload_ms: float | None = None,
              found: list[Step] | None = None) -> list[Step]:
    """The few findings groups an executive summary names: errors first, then the costliest warnings.
    ``found``: the findings' steps already ranked by :func:`finding_steps`."""
    steps = found if found is not None else finding_steps(findings, workload_ms=workload_ms)
    return [s for s in steps if s.severity != Severity.INFO][:limit]


def unexplained_by_reason(missed: Sequence[tuple[Statement, str]]) -> list[tuple[str, int]]:
    """How many of the unexplained statements each kind of reason holds, most first: a 2,473-statement list
    whose 200 first lines are the server's errors says nothing of the 2,273 simply past the statement budget.
    The server's errors (``error 42725: ...``) are one kind."""
    counts = Counter(_reason_kind(reason) for _, reason in missed)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


# where in the statement a parser stopped ("... Line 1, Col: 28.", "..., at index 26"): one reason, many positions
_PARSE_POSITION = re.compile(r"[.,]?\s*(?:Line \d+, )?Col:? \d+\.?|,? at (?:index|location) \d+")


def _reason_kind(reason: str) -> str:
    """The kind of an unexplained statement's reason: the server's errors are one, a parse error is one per
    message, wherever in the statement the parser stopped."""
    if reason.startswith("error "):
        return "an error from the server"
    if reason.startswith("cannot be parsed"):
        return _PARSE_POSITION.sub("", reason).rstrip()
    return reason


def unexplained_statements(snapshot: Snapshot | None) -> list[tuple[Statement, str]]:
    """Top-level statements dbaudit meant to explain and could not, costliest first, with the reason.

    Statements that have no plan by nature (SET, BEGIN, DDL) are left out: nothing was missed there; so are those
    set apart from the application's workload (DDL, bulk loads, backup reads: :func:`statement_class`), whatever
    their plan's reason (a MariaDB digest of a CREATE TABLE may not parse).
    """
    if snapshot is None:
        return []
    plans = {p.queryid: p for p in snapshot.plans}
    out = []
    for stmt in snapshot.statements:
        plan = plans.get(stmt.queryid)
        if plan is None or plan.explained or not stmt.toplevel or unexplainable_by_nature(plan.reason) \
                or statement_class(stmt.query) != APPLICATION:
            continue
        out.append((stmt, plan.reason or "unknown"))
    return sorted(out, key=lambda sr: (-sr[0].total_ms, sr[0].queryid))
