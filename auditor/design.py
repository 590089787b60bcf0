"""Derived figures for the design document (markdown and HTML reports), pure functions over the snapshot.

The reporters render these and nothing else: the entity-relationship graph (trimmed to the most connected tables
for large schemas), per-table profiles with their read/write mix, the largest tables and partitioning candidates,
the index strategy (what to drop, what to add), the costliest statements with their findings, and a prioritised
list of next steps ordered by the score points each would recover.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
from auditor.scoring import FAILED_METRIC_PENALTY, Metric, audited_tables, penalties, unused_candidate_reason
from auditor.workload import latency_statements

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
class ErModel:
    entities: tuple[ErEntity, ...]
    relations: tuple[ErRelation, ...]
    total_tables: int
    omitted: tuple[tuple[str, str], ...] = ()  # tables left out, most connected first
    omitted_relations: int = 0
    multi_schema: bool = False  # names need their schema to be unambiguous


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
    """
    tables = audited_tables(snapshot)
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


def _qualified_cols(schema: str | None, table: str | None, cols: Iterable[str]) -> str:
    return f"{schema}.{table}({', '.join(cols)})"


def table_profiles(snapshot: Snapshot) -> list[TableProfile]:
    sizes = table_sizes(snapshot)
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
        out.append(TableProfile(
            table=t,
            columns=tuple(cols),
            indexes=tuple(sorted(snapshot.indexes_of(t.schema, t.name), key=lambda i: i.name)),
            constraints=tuple(c for c in cons if c.type in ("check", "exclusion")),
            mix=ReadWriteMix(s.seq_scan, s.idx_scan, s.n_tup_ins, s.n_tup_upd, s.n_tup_del),
            partitions=sizes[t.key].partitions if t.key in sizes else 0,
            size=sizes.get(t.key),
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
    """
    tables = {t.key: t for t in audited_tables(snapshot)}
    by_key = {t.key: t for t in snapshot.tables}
    members: dict[tuple[str, str], list[Table]] = defaultdict(list)
    for t in snapshot.tables:
        owner = _owner(t, by_key)
        if owner in tables:
            members[owner].append(t)

    def total(values: Iterable[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    out: dict[tuple[str, str], TableSize] = {}
    for k, ms in members.items():
        leaves = [m for m in ms if m.kind != "partitioned"] or [tables[k]]
        estimates = [row_estimate(m) for m in leaves]
        rows = total(r for r, _ in estimates)
        if rows is None and tables[k].estimated_rows is not None:
            rows = tables[k].estimated_rows  # partitions never counted, the parent was analyzed
        out[k] = TableSize(tables[k], rows, total(m.total_bytes for m in ms), sum(1 for m in ms if m.key != k),
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
    drop: tuple[Finding, ...]  # IX04, IX02, IX03, IX01, in that order
    add: tuple[Finding, ...]  # WL02 (verified by the workload first), IX05
    unused_bytes: int = 0
    # IX01 findings not to act on yet: too early to judge, or an index the check says to keep
    watch: tuple[Finding, ...] = ()


def index_strategy(findings: Iterable[Finding]) -> IndexStrategy:
    findings = list(findings)

    def ordered(codes: Sequence[str]) -> tuple[Finding, ...]:
        return tuple(f for code in codes for f in findings if f.code == code)

    listed = ordered(DROP_CODES)
    drop = tuple(f for f in listed if unused_candidate_reason(f) is None)
    return IndexStrategy(
        drop=drop,
        add=ordered(ADD_CODES),
        unused_bytes=sum(int(f.details.get("index_bytes") or 0) for f in drop if f.code == "IX01"),
        watch=tuple(f for f in listed if unused_candidate_reason(f) is not None),
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


def index_usage(snapshot: Snapshot, limit: int = 20) -> list[Index]:
    """Indexes by scans, busiest first, then the never-scanned ones by size (the chart's bars)."""
    known = [i for i in snapshot.indexes if i.scans is not None and not i.is_partition_child]
    used = sorted((i for i in known if i.scans), key=lambda i: (-(i.scans or 0), i.schema, i.name))
    unused = sorted((i for i in known if not i.scans), key=lambda i: (-(i.size_bytes or 0), i.schema, i.name))
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


def next_steps(findings: Iterable[Finding], metrics: Iterable[Metric], skipped: Iterable[Skipped] = (),
               max_sql: int = 3) -> list[Step]:
    """What to do, most valuable first: errors, then by the score points each fix recovers.

    One step per check and severity (the score counts them that way), then one per failed metric, then the
    checks that could not run with what would enable them.
    """
    findings = list(findings)
    steps: list[Step] = []
    for code, sev, n, points in penalties(findings):
        group = [f for f in findings if f.code == code and f.severity == sev]
        first = group[0]
        what = f"{n} {first.check} finding{'s' if n != 1 else ''}"
        title = f"{code} {first.check}: fix {n} {sev.value}{'s' if n != 1 and sev != Severity.INFO else ''}"
        # an unused index that is too early to judge, or one to keep, is watched, never dropped
        watched = [f for f in group if unused_candidate_reason(f) is not None]
        if watched and len(watched) == n:
            reasons = sorted({unused_candidate_reason(f) or "" for f in watched})
            title = f"{code} {first.check}: watch {n} candidate{'s' if n != 1 else ''} ({', '.join(reasons)})"
        steps.append(Step(
            title=title,
            detail=f"{what}; e.g. {first.message}",
            points=points, severity=sev, code=code,
            examples=tuple(f.object.label() for f in group[:5]),
            sql=tuple(f.remediation for f in group if f.remediation and f not in watched)[:max_sql],
        ))
    steps.sort(key=lambda s: (s.severity != Severity.ERROR, -s.points, s.code or ""))
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


def key_risks(findings: Iterable[Finding], limit: int = 5) -> list[Step]:
    """The few findings groups an executive summary names: errors first, then the costliest warnings."""
    return [s for s in next_steps(findings, ()) if s.severity != Severity.INFO][:limit]
