"""The findings' schema fixes as a phased, zero-downtime rollout: the migration plan of the design document.

Pure functions over the findings and the snapshot; the reporters render the plan and decide nothing. The phases
follow the expand/contract pattern the PostgreSQL community and the online-migration linters teach (squawk's
"require-concurrent-index-creation" and "adding-foreign-key-constraint" rules, strong_migrations, GitLab's
migration style guide, pgroll):

1. **Expand**: additive changes only, none that blocks reads or writes for long: indexes built
   ``CONCURRENTLY`` (MySQL/MariaDB: ``ALGORITHM=INPLACE LOCK=NONE``), new columns without a default (a catalog
   change), triggers that keep a new column in step, constraints added ``NOT VALID``.
2. **Backfill and validate**: existing rows copied in small committed batches, ``VALIDATE CONSTRAINT`` (a SHARE
   UPDATE EXCLUSIVE lock: reads and writes go on), unique indexes built concurrently on the filled columns.
3. **Switch and enforce**: one short transaction per table under ``lock_timeout`` (retry rather than queue
   behind a long transaction), in which the new column takes the old one's name, key, default and sequence.
4. **Contract**: what nothing uses any more is dropped, last, once the application runs on the new shape:
   unused, duplicate and redundant indexes (``DROP INDEX CONCURRENTLY``), the old columns.

Every step carries its rollback. MySQL and MariaDB have no ``NOT VALID``: a foreign key is added with
``foreign_key_checks = 0`` in the session (then ``ALGORITHM=INPLACE LOCK=NONE`` is allowed and the rows already
there are not checked) and validated by an anti-join that must return no row; a column's type cannot change in
place (``ALGORITHM=COPY`` blocks writes), so the plan runs it through gh-ost or pt-online-schema-change, which
copy the table in batches while keeping it in step and swap it with one atomic RENAME.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditor import sqlquote
from auditor.design import index_groups
from auditor.model import Column, Constraint, Finding, Index, Snapshot, Table
from auditor.relations import attached_indexes, members
from auditor.textfmt import plural

PHASES = (
    (1, "Expand: additive changes, online"),
    (2, "Backfill and validate"),
    (3, "Switch and enforce"),
    (4, "Contract: remove what nothing uses"),
)
BATCH_ROWS = 10_000  # rows per committed backfill batch: seconds of work, a short lock on each row
BATCH_PAGES = 1_000  # heap pages per batch when the table has no integer key to walk (8 MB at 8 kB pages)
LOCK_TIMEOUT = "5s"  # the switch gives up rather than queue writes behind a long transaction; retry it

INDEX_ADD_CODES = ("IX05", "WL02")
INDEX_DROP_CODES = ("IX02", "IX03", "IX01")  # duplicates first: the surest
# schema findings that need a design decision or an application change, not a scripted migration
DESIGN_CODES = {
    "KY01": "choosing the key is a design decision (a natural key, or a new identity column built online)",
    "NF01": "a model change: the application reads and writes the new child table",
    "NF02": "a model change: the application reads and writes the new child table",
    "NF03": "a model change: the dependent columns move to their own table",
    "NF04": "a model change: the dependent columns move to their own table",
    "WL03": "an application change: fetch the rows in one statement",
    "WL04": "an application change: keyset pagination",
}
_INTEGER_TYPES = {"smallint", "integer", "bigint", "int", "tinyint", "mediumint", "int2", "int4", "int8"}
_INT_RANK = {"smallint": 1, "int2": 1, "integer": 2, "int": 2, "int4": 2, "bigint": 3, "int8": 3}
_IDENT = r'(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|[^\s."`(;]+)'
_CREATE_INDEX = re.compile(
    rf"^CREATE (?P<unique>UNIQUE )?INDEX (?P<conc>CONCURRENTLY )?(?P<name>{_IDENT}) ON (?P<only>ONLY )?"
    rf"(?P<table>{_IDENT}(?:\.{_IDENT})?)"
)
_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')+)'(?:::regclass)?\)")


@dataclass(frozen=True)
class Step:
    phase: int
    title: str
    table: str  # "schema.table"
    codes: tuple[str, ...]  # the findings it settles
    forward: tuple[str, ...]  # statements, each sent on its own (CONCURRENTLY refuses a transaction block)
    rollback: tuple[str, ...]  # statements that undo it; comments only where nothing needs undoing
    lock: str  # what it locks, for how long
    note: str = ""
    kind: str = ""  # steps of one kind ("add-index", "drop-index", "drop-unused") merge when there are many


@dataclass(frozen=True)
class Plan:
    engine: str
    steps: tuple[Step, ...]
    design: tuple[tuple[Finding, str], ...]  # schema findings left to a design decision or the application, why
    manual: tuple[tuple[Finding, str], ...]  # fixes the plan cannot script, with the reason
    server: tuple[Finding, ...]  # settings and security: applied on the server, not migrated


def _sql_lines(text: str) -> tuple[str, ...]:
    """A remediation as statements: one per line, comments kept on their own line."""
    return tuple(line for line in (raw.rstrip() for raw in text.splitlines()) if line.strip())


def _unquote(ident: str) -> str:
    if ident[:1] == '"' and ident[-1:] == '"':
        return ident[1:-1].replace('""', '"')
    if ident[:1] == "`" and ident[-1:] == "`":
        return ident[1:-1].replace("``", "`")
    return ident


def _schema_of(qualified_table: str) -> str | None:
    parts = re.findall(_IDENT, qualified_table)
    return parts[0] if len(parts) == 2 else None


def _with_suffix(name: str, suffix: str, limit: int = 63) -> str:
    return name[: limit - len(suffix)] + suffix


# ---- indexes ---------------------------------------------------------------------------------------------------


def _index_add_step(snap: Snapshot, f: Finding) -> Step | None:
    if not f.remediation:
        return None
    forward = _sql_lines(f.remediation)
    rollback: list[str] = []
    names: list[str] = []
    for line in forward:
        m = _CREATE_INDEX.match(line)
        if m is None:
            continue
        schema = _schema_of(m["table"])
        name = f"{schema}.{m['name']}" if schema else m["name"]
        names.append(_unquote(m["name"]))
        if snap.engine == "mysql":
            rollback.append(f"ALTER TABLE {m['table']} DROP INDEX {m['name']}, ALGORITHM=INPLACE, LOCK=NONE;")
        elif m["only"]:  # the partitioned parent's index: dropping it drops the attached partitions' too
            rollback.insert(0, f"DROP INDEX IF EXISTS {name};")
        else:
            rollback.append(f"DROP INDEX CONCURRENTLY IF EXISTS {name};")
    if not rollback:
        return None
    table = ".".join(p for p in (f.object.schema, f.object.table) if p)
    lock = ("none that blocks: InnoDB builds the index while reads and writes go on (a brief metadata lock at "
            "the start and the end)" if snap.engine == "mysql" else
            "SHARE UPDATE EXCLUSIVE: reads and writes go on; it waits for the transactions already running")
    note = "" if snap.engine == "mysql" else \
        "A failed or cancelled concurrent build leaves an INVALID index behind: run the rollback, then retry."
    if any(line.startswith("DROP INDEX IF EXISTS ") for line in rollback):
        lock = ("SHARE on the partitioned table for the catalog-only CREATE ... ON ONLY; then, per partition, SHARE "
                "UPDATE EXCLUSIVE: reads and writes go on; each build waits for the transactions already running")
        note += (" The rollback's first DROP (the partitioned table's index, with the partitions' attached to it) "
                 "cannot be CONCURRENTLY: it locks the table and every partition ACCESS EXCLUSIVE until it ends.")
    more = f" (and {len(names) - 1} on its partitions or children)" if len(names) > 1 else ""
    return Step(1, f"Add the index {names[0]} on {table}{more}", table, (f.code,), forward, tuple(rollback),
                lock, note, "add-index")


def _serving(step: Step, lead: Finding, group: Sequence[Finding]) -> Step:
    """The step of the index that also settles the narrower proposals of its group, saying which and why."""
    keys = [f for f in group if f is not lead and f.code == "IX05"]
    narrower = [f for f in group if f is not lead and f.code != "IX05"]
    notes: list[str] = []
    if keys:
        named = ", ".join(f"{f.object.constraint or f.object.label()} ({', '.join(f.object.columns or ())})"
                          for f in keys)
        notes.append(f"It also serves the lookups of foreign key {named} (IX05): the key's columns lead it, so no "
                     "index of the key's own is built (it would be a redundant prefix of this one).")
    if narrower:
        notes.append(f"It also serves {plural(len(narrower), 'narrower proposal')} of WL02, whose columns lead it.")
    codes = tuple(dict.fromkeys((*step.codes, *(f.code for f in group))))
    return dataclasses.replace(step, codes=codes, note=" ".join((*notes, step.note)).strip())


def _recreate_index_sql(snap: Snapshot, ix: Index) -> tuple[str, ...]:
    """The statements that bring a dropped index back, without blocking writes where the engine allows it."""
    if snap.engine == "mysql":
        unique = "UNIQUE " if ix.is_unique else ""
        keys = ", ".join(sqlquote.mysql_ident(k.column) + (f"({k.prefix_length})" if k.prefix_length else "")
                         + (" DESC" if k.descending else "") if k.column else f"({k.expression})" for k in ix.keys)
        return (f"CREATE {unique}INDEX {sqlquote.mysql_ident(ix.name)} ON "
                f"{sqlquote.mysql_qualified(ix.schema, ix.table)} ({keys}) ALGORITHM=INPLACE LOCK=NONE;",)
    table = snap.table(ix.schema, ix.table)
    if table is not None and table.kind == "partitioned":
        # a plain CREATE INDEX would block writes to every partition until all are indexed: the parent's ON ONLY
        # (empty, invalid), each partition's built CONCURRENTLY under its old name and attached
        lines = [_on_only(_pg_definition(ix)) + ";", *_attached_rebuild(snap, ix, attached_indexes(snap))]
    else:
        lines = [re.sub(r"^CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX CONCURRENTLY ", _pg_definition(ix)) + ";"]
    if ix.constraint and ix.constraint_type in ("unique", "primary_key"):
        kind = "PRIMARY KEY" if ix.constraint_type == "primary_key" else "UNIQUE"
        lines.append(f"ALTER TABLE {sqlquote.pg_qualified(ix.schema, ix.table)} ADD CONSTRAINT "
                     f"{sqlquote.pg_ident(ix.constraint)} {kind} USING INDEX {sqlquote.pg_ident(ix.name)};")
    return tuple(lines)


def _pg_definition(ix: Index) -> str:
    """The index's CREATE INDEX, as the server printed it or rebuilt from the keys read, without the semicolon."""
    definition = ix.definition.rstrip(";")
    if definition:
        return definition
    keys = ", ".join((sqlquote.pg_ident(k.column) if k.column else f"({k.expression})")
                     + (" DESC" if k.descending else "") for k in ix.keys)
    unique = "UNIQUE " if ix.is_unique else ""
    method = f" USING {ix.method}" if ix.method != "btree" else ""
    where = f" WHERE {ix.predicate}" if ix.predicate else ""
    return (f"CREATE {unique}INDEX {sqlquote.pg_ident(ix.name)} ON "
            f"{sqlquote.pg_qualified(ix.schema, ix.table)}{method} ({keys}){where}")


def _on_only(definition: str) -> str:
    return re.sub(rf"^(CREATE (?:UNIQUE )?INDEX {_IDENT} ON )(?!ONLY )", r"\1ONLY ", definition)


def _attached_rebuild(snap: Snapshot, ix: Index, attached: dict[tuple[str, str, str], list[Index]]) -> list[str]:
    """Each partition's index of a partitioned index, rebuilt and attached (a sub-partitioned level the same way)."""
    lines: list[str] = []
    for child in sorted(attached.get((ix.schema, ix.table, ix.name), []), key=lambda c: (c.schema, c.table)):
        part = snap.table(child.schema, child.table)
        if part is not None and part.kind == "partitioned":
            lines.append(_on_only(_pg_definition(child)) + ";")
            lines += _attached_rebuild(snap, child, attached)
        else:
            lines.append(re.sub(r"^CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX CONCURRENTLY ", _pg_definition(child))
                         + ";")
        lines.append(f"ALTER INDEX {sqlquote.pg_qualified(ix.schema, ix.name)} ATTACH PARTITION "
                     f"{sqlquote.pg_qualified(child.schema, child.name)};")
    return lines


def _online_mysql_drop(line: str) -> str:
    """ALTER TABLE ... DROP INDEX: a metadata change in InnoDB; say so, so that it fails rather than copies."""
    if line.startswith("ALTER TABLE ") and " DROP INDEX " in line and "ALGORITHM" not in line:
        return line.rstrip(";") + ", ALGORITHM=INPLACE, LOCK=NONE;"
    return line


_DROP_WHY = {"IX02": "duplicate", "IX03": "redundant", "IX01": "unused"}


def _index_drop_step(snap: Snapshot, found: Sequence[Finding]) -> Step | None:
    """One index's drop, whichever checks ask for it (a duplicate that is also unused: one DROP, both reasons)."""
    f = found[0]
    if not f.remediation or not f.object.index:
        return None
    ix = next((i for i in snap.indexes_of(f.object.schema or "", f.object.table or "")
               if i.name == f.object.index), None)
    if ix is None:
        return None
    forward = tuple(_online_mysql_drop(line) for line in _sql_lines(f.remediation))
    codes = tuple(dict.fromkeys(g.code for g in found))
    why = " and ".join(_DROP_WHY[c] for c in codes if c in _DROP_WHY)
    note = ("Its statistics are this server's only: check the replicas and the rare jobs (month end) first."
            if "IX01" in codes else "")
    parent = snap.table(ix.schema, ix.table)
    if snap.engine == "mysql":
        lock = "none that blocks: dropping a secondary index is a metadata change"
    elif parent is not None and parent.kind == "partitioned":
        parts = sum(1 for m in members(snap, parent) if m.key != parent.key)
        lock = (f"ACCESS EXCLUSIVE on the partitioned table and each of its {parts} partitions until the DROP ends: "
                "reads and writes wait (PostgreSQL refuses CONCURRENTLY there); run it at a quiet hour")
    else:
        lock = "SHARE UPDATE EXCLUSIVE: reads and writes go on"
    table = f"{ix.schema}.{ix.table}"
    return Step(4, f"Drop the {why} index {ix.qualified}".replace("  ", " "), table, codes, forward,
                _recreate_index_sql(snap, ix), lock, note, "drop-unused" if codes == ("IX01",) else "drop-index")


def _rebuild_step(snap: Snapshot, f: Finding) -> Step | None:
    if not f.remediation:
        return None
    table = ".".join(p for p in (f.object.schema, f.object.table) if p)
    leftover = ("-- nothing to undo: REINDEX CONCURRENTLY swaps the new index in only when it is built; if it "
                "fails, drop the leftover <index>_ccnew index it names")
    if snap.engine == "mysql":
        leftover = "-- nothing to undo: the rebuild replaces the index only when it succeeds"
    return Step(2, f"Rebuild the invalid index {f.object.label()}", table, (f.code,), _sql_lines(f.remediation),
                (leftover,), "SHARE UPDATE EXCLUSIVE: reads and writes go on", "")


# ---- constraints ----------------------------------------------------------------------------------------------


def _validate_step(snap: Snapshot, f: Finding) -> Step | None:
    o = f.object
    table = ".".join(p for p in (o.schema, o.table or o.domain) if p)
    if snap.engine == "mysql":
        con = next((c for c in snap.constraints if c.schema == o.schema and c.table == o.table
                    and c.name == o.constraint), None)
        if con is None or con.type != "check":
            return None
        qualified = sqlquote.mysql_qualified(con.schema, con.table)
        clause = re.sub(r"^CHECK\s*", "", con.definition.strip()) or "<the check clause>"
        return Step(2, f"Enforce the check {con.name} on {table}", table, (f.code,), (
            f"SELECT count(*) FROM {qualified} WHERE NOT ({clause});  -- must be 0 before enforcing",
            f"ALTER TABLE {qualified} ALTER CHECK {sqlquote.mysql_ident(con.name)} ENFORCED;",
        ), (f"ALTER TABLE {qualified} ALTER CHECK {sqlquote.mysql_ident(con.name)} NOT ENFORCED;",),
            "MySQL 8.0.16+ reads every row as it enforces the check: time it on a replica first", "")
    if not f.remediation:
        return None
    return Step(2, f"Validate {o.constraint} on {table}", table, (f.code,), _sql_lines(f.remediation),
                ("-- nothing to undo: a validation that fails or is cancelled leaves the constraint NOT VALID, "
                 "as before",),
                "SHARE UPDATE EXCLUSIVE on the table (and ROW SHARE on the referenced one): reads and writes go "
                "on", "A failure names a row that breaks the rule: fix the data, then validate again.")


# ---- widening an integer column (KY02, KY04) -------------------------------------------------------------------


@dataclass(frozen=True)
class _Widen:
    table: Table
    column: Column
    new_type: str
    codes: tuple[str, ...]
    sequence: str | None  # KY04's sequence, qualified


def _widenings(snap: Snapshot, findings: Sequence[Finding]) -> list[_Widen]:
    """The columns KY04 (the counter's columns) and KY02 (a foreign key's narrower columns) widen, each once."""
    found: dict[tuple[str, str, str], _Widen] = {}
    for f in findings:
        if f.code == "KY04" and f.object.sequence:
            seq = next((s for s in snap.sequences if s.schema == f.object.schema and s.name == f.object.sequence),
                       None)
            if seq is None:
                continue
            for ref in seq.feeds:
                t = snap.table(ref.schema, ref.table)
                c = t.column(ref.column) if t is not None else None
                if t is None or c is None or c.data_type in ("bigint", "int8") or "bigint" in c.data_type.lower():
                    continue
                key = (t.schema, t.name, c.name)
                found.setdefault(key, _Widen(t, c, "bigint", ("KY04",), seq.qualified))
        elif f.code == "KY02" and f.object.constraint:
            con = next((c for c in snap.constraints_of(f.object.schema or "", f.object.table or "", "foreign_key")
                        if c.name == f.object.constraint), None)
            t = snap.table(f.object.schema or "", f.object.table or "")
            if con is None or t is None:
                continue
            for name, ref_type in zip(con.columns, con.ref_column_types, strict=False):
                c = t.column(name)
                # only a widening: a wider referencing column is KY02's other case, whose fix is the referenced key's
                if c is None or _INT_RANK.get(ref_type, 0) <= _INT_RANK.get(c.data_type, 9):
                    continue
                key = (t.schema, t.name, c.name)
                if key in found:
                    found[key] = _Widen(t, c, found[key].new_type, (*found[key].codes, "KY02"), found[key].sequence)
                else:
                    found[key] = _Widen(t, c, ref_type, ("KY02",), None)
    # a key is widened before the columns that reference it, so that their new foreign keys point at it
    return sorted(found.values(), key=lambda w: (w.column.name not in _pk_columns(snap, w.table), w.table.schema,
                                                 w.table.name, w.column.name))


def _pk_columns(snap: Snapshot, t: Table) -> tuple[str, ...]:
    pk = next((c for c in snap.constraints_of(t.schema, t.name, "primary_key")), None)
    return pk.columns if pk is not None else ()


def _walk_key(snap: Snapshot, t: Table) -> str | None:
    """A single-column integer primary key to batch the backfill by ranges of, else None (then heap pages)."""
    pk = _pk_columns(snap, t)
    if len(pk) != 1:
        return None
    col = t.column(pk[0])
    return pk[0] if col is not None and col.data_type.split("(")[0] in _INTEGER_TYPES else None


def _backfill_sql(snap: Snapshot, t: Table, old: str, new: str) -> str:
    qt = sqlquote.pg_qualified(t.schema, t.name)
    o, n = sqlquote.pg_ident(old), sqlquote.pg_ident(new)
    key = _walk_key(snap, t)
    if key is not None:
        k = sqlquote.pg_ident(key)
        return (
            f"DO $$ -- {BATCH_ROWS:,} rows a batch, each committed (PostgreSQL 11+, run outside a transaction)\n"
            "DECLARE\n  lo bigint;\n  top bigint;\nBEGIN\n"
            f"  SELECT min({k}), max({k}) INTO lo, top FROM {qt};\n"
            "  WHILE lo <= top LOOP\n"
            f"    UPDATE {qt} SET {n} = {o} WHERE {k} >= lo AND {k} < lo + {BATCH_ROWS} "
            f"AND {n} IS DISTINCT FROM {o};\n"
            "    COMMIT;\n"
            f"    lo := lo + {BATCH_ROWS};\n"
            "  END LOOP;\nEND $$;"
        )
    return (
        f"DO $$ -- {BATCH_PAGES:,} heap pages a batch by ctid ranges (PostgreSQL 14+ reads them by TID Range Scan)\n"
        "DECLARE\n  page bigint := 0;\n"
        f"  pages bigint := pg_relation_size({sqlquote.pg_literal(qt)}) / current_setting('block_size')::int;\n"
        "BEGIN\n  WHILE page <= pages LOOP\n"
        f"    UPDATE {qt} SET {n} = {o} WHERE ctid >= format('(%s,0)', page)::tid "
        f"AND ctid < format('(%s,0)', page + {BATCH_PAGES})::tid AND {n} IS DISTINCT FROM {o};\n"
        "    COMMIT;\n"
        f"    page := page + {BATCH_PAGES};\n"
        "  END LOOP;\nEND $$;"
    )


def _key_list(ix: Index, old: str, new: str) -> str | None:
    """An index's keys with ``old`` replaced by ``new``; None when a key is an expression (left to the reader)."""
    parts = []
    for k in ix.keys:
        if k.column is None:
            return None
        name = new if k.column == old else k.column
        parts.append(sqlquote.pg_ident(name) + (" DESC" if k.descending else ""))
    return ", ".join(parts)


def widen_blocker(snap: Snapshot, w: _Widen) -> str | None:
    """Why the scripted widening does not apply to this column (then it is left to the reader), or None."""
    pk = _pk_columns(snap, w.table)
    if w.column.name in pk and len(pk) > 1:
        return "the column is part of a composite primary key"
    if w.table.kind == "partitioned" or snap.children_of(w.table) or w.table.parent:
        return "partitioned or inherited tables need the change on every member"
    others = [con.name for con in snap.constraints_of(w.table.schema, w.table.name)
              if con.type in ("unique", "exclusion", "check") and w.column.name in con.columns]
    if others:
        return f"constraints {', '.join(others)} name the column and would need rebuilding"
    word = re.compile(rf"\b{re.escape(w.column.name)}\b")
    by_expression = [ix.name for ix in snap.indexes_of(w.table.schema, w.table.name)
                     if any(k.expression and word.search(k.expression) for k in ix.keys)
                     or (ix.predicate and word.search(ix.predicate))]
    if by_expression:
        return f"expression or partial indexes {', '.join(by_expression)} use the column and would need rebuilding"
    return None


def _pg_widen_steps(snap: Snapshot, w: _Widen, dropped: frozenset[tuple[str, str]] = frozenset()) -> list[Step]:
    """The four steps that widen one column online; ``dropped``: indexes (schema, name) phase 4 drops anyway,
    which are not copied onto the new column."""
    t, c = w.table, w.column
    qt = sqlquote.pg_qualified(t.schema, t.name)
    label = f"{t.schema}.{t.name}.{c.name}"
    new = _with_suffix(c.name, "_new")
    old = _with_suffix(c.name, "_old")
    o, n, od = sqlquote.pg_ident(c.name), sqlquote.pg_ident(new), sqlquote.pg_ident(old)
    fn = sqlquote.pg_qualified(t.schema, _with_suffix(f"{t.name}_{c.name}", "_widen_sync"))
    trigger = sqlquote.pg_ident(_with_suffix(f"{t.name}_{c.name}", "_widen_sync"))
    check = sqlquote.pg_ident(_with_suffix(f"{t.name}_{new}", "_not_null"))
    is_pk = c.name in _pk_columns(snap, t) and len(_pk_columns(snap, t)) == 1
    pk = next(iter(snap.constraints_of(t.schema, t.name, "primary_key")), None)
    new_key = sqlquote.pg_ident(_with_suffix(f"{t.name}_{new}", "_key"))
    steps: list[Step] = []
    table_label = f"{t.schema}.{t.name}"

    # phase 1: the new column, kept in step by a trigger, its NOT NULL prepared NOT VALID
    forward = [
        f"ALTER TABLE {qt} ADD COLUMN {n} {w.new_type};  -- no default: a catalog change, no rewrite",
        f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.{n} := NEW.{o}; RETURN NEW; "
        "END $$;",
        f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {qt} FOR EACH ROW EXECUTE FUNCTION {fn}();",
    ]
    if not c.nullable:
        forward.append(f"ALTER TABLE {qt} ADD CONSTRAINT {check} CHECK ({n} IS NOT NULL) NOT VALID;")
    steps.append(Step(
        1, f"Widen {label} to {w.new_type}: add {new}, kept in step by a trigger", table_label, w.codes,
        tuple(forward),
        (f"DROP TRIGGER IF EXISTS {trigger} ON {qt};", f"DROP FUNCTION IF EXISTS {fn}();",
         f"ALTER TABLE {qt} DROP COLUMN IF EXISTS {n};"),
        "ACCESS EXCLUSIVE for milliseconds per statement (catalog changes only); NOT VALID skips the scan",
        "Run under a lock_timeout so that a long transaction makes it fail fast rather than queue writes.",
    ))

    # phase 2: backfill, validate, and build the new column's indexes concurrently
    forward = [_backfill_sql(snap, t, c.name, new)]
    rollback: list[str] = []
    if not c.nullable:
        forward.append(f"ALTER TABLE {qt} VALIDATE CONSTRAINT {check};")
    if is_pk:
        forward.append(f"CREATE UNIQUE INDEX CONCURRENTLY {new_key} ON {qt} ({n});")
        rollback.append(f"DROP INDEX CONCURRENTLY IF EXISTS {sqlquote.pg_qualified(t.schema, _unquote(new_key))};")
    renames: list[tuple[str, str]] = []
    manual: list[str] = []
    for ix in snap.indexes_of(t.schema, t.name):
        if c.name not in ix.columns or ix.backs_constraint or (ix.schema, ix.name) in dropped:
            continue
        keys = _key_list(ix, c.name, new)
        if keys is None:  # an expression on another column, beside this one: left to the reader
            manual.append(ix.name)
            continue
        copy = _with_suffix(ix.name, "_new")
        unique = "UNIQUE " if ix.is_unique else ""
        method = f" USING {ix.method}" if ix.method != "btree" else ""
        where = f" WHERE {ix.predicate}" if ix.predicate else ""  # a predicate on other columns, kept as is
        forward.append(f"CREATE {unique}INDEX CONCURRENTLY {sqlquote.pg_ident(copy)} ON {qt}{method} ({keys})"
                       f"{where};")
        rollback.append(f"DROP INDEX CONCURRENTLY IF EXISTS {sqlquote.pg_qualified(t.schema, copy)};")
        renames.append((copy, ix.name))
    steps.append(Step(
        2, f"Backfill {label} into {new} in batches, then validate", table_label, w.codes, tuple(forward),
        tuple(rollback) or ("-- nothing to undo: the copied values are harmless; phase 1's rollback drops them",),
        "row locks one batch at a time; the validation and the index builds take SHARE UPDATE EXCLUSIVE",
        "Pause between batches if replicas lag; the trigger fills the rows written meanwhile."
        + (f" Recreate by hand on {new}: {', '.join(manual)} (expression or partial index)." if manual else ""),
    ))

    # phase 3: the switch, in one short transaction
    forward = ["BEGIN;", f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';"]
    referencing = [fk for fk in snap.foreign_keys() if fk.ref_table_key == (t.schema, t.name)
                   and c.name in fk.ref_columns] if is_pk else []
    for fk in referencing:
        forward.append(f"ALTER TABLE {sqlquote.pg_qualified(fk.schema, fk.table)} DROP CONSTRAINT "
                       f"{sqlquote.pg_ident(fk.name)};")
    if not c.nullable:
        forward += [f"ALTER TABLE {qt} ALTER COLUMN {n} SET NOT NULL;  -- the validated CHECK spares the scan "
                    "(PostgreSQL 12+)", f"ALTER TABLE {qt} DROP CONSTRAINT IF EXISTS {check};"]
    if is_pk and pk is not None:
        forward += [f"ALTER TABLE {qt} DROP CONSTRAINT {sqlquote.pg_ident(pk.name)};",
                    f"ALTER TABLE {qt} ADD CONSTRAINT {sqlquote.pg_ident(pk.name)} PRIMARY KEY USING INDEX "
                    f"{new_key};"]
    forward += [f"DROP TRIGGER {trigger} ON {qt};", f"DROP FUNCTION {fn}();"]
    sequence = _sequence_of(c, w.sequence)
    if c.default is not None and c.identity is None:
        forward += [f"ALTER TABLE {qt} ALTER COLUMN {o} DROP DEFAULT;",
                    f"ALTER TABLE {qt} ALTER COLUMN {n} SET DEFAULT {c.default};"]
    if sequence is not None and c.identity is None:
        # the sequence must follow: dropping the old column would drop a sequence it owns
        forward.append(f"ALTER SEQUENCE {sequence} OWNED BY {qt}.{n};")
        if "KY04" in w.codes:
            forward.append(f"ALTER SEQUENCE {sequence} AS bigint NO MAXVALUE;")
    forward += [f"ALTER TABLE {qt} RENAME COLUMN {o} TO {od};", f"ALTER TABLE {qt} RENAME COLUMN {n} TO {o};"]
    if c.identity is not None:
        forward += [f"ALTER TABLE {qt} ALTER COLUMN {od} DROP IDENTITY;",
                    f"ALTER TABLE {qt} ALTER COLUMN {o} ADD GENERATED {c.identity.upper()} AS IDENTITY;",
                    f"SELECT setval(pg_get_serial_sequence({sqlquote.pg_literal(qt)}, {sqlquote.pg_literal(c.name)}),"
                    f" (SELECT coalesce(max({o}), 0) + 1 FROM {qt}), false);"]
    if not c.nullable or is_pk:
        forward.append(f"ALTER TABLE {qt} ALTER COLUMN {od} DROP NOT NULL;  -- new rows leave it empty")
    own_fks = [fk for fk in snap.constraints_of(t.schema, t.name, "foreign_key") if c.name in fk.columns]
    for fk in own_fks:
        forward += [f"ALTER TABLE {qt} DROP CONSTRAINT {sqlquote.pg_ident(fk.name)};", _fk_sql(fk, "NOT VALID")]
    for fk in referencing:
        forward.append(_fk_sql(fk, "NOT VALID"))
    forward.append("COMMIT;")
    # rollback of the switch: back to the state after phase 2, so that the switch can run again. Rows written
    # since the switch have no old value: copied back under the lock (a scan: seconds on a big table).
    old_key = sqlquote.pg_ident(_with_suffix(f"{t.name}_{old}", "_key"))
    rollback = []
    if is_pk:
        rollback.append(f"CREATE UNIQUE INDEX CONCURRENTLY {old_key} ON {qt} ({od});  -- before the lock")
    rollback += ["BEGIN;", f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';",
                 f"UPDATE {qt} SET {od} = {o} WHERE {od} IS DISTINCT FROM {o};  -- rows written since the switch"]
    for fk in referencing + own_fks:
        rollback.append(f"ALTER TABLE {sqlquote.pg_qualified(fk.schema, fk.table)} DROP CONSTRAINT IF EXISTS "
                        f"{sqlquote.pg_ident(fk.name)};")
    if is_pk and pk is not None:
        rollback += [f"ALTER TABLE {qt} DROP CONSTRAINT {sqlquote.pg_ident(pk.name)};",
                     f"ALTER TABLE {qt} ADD CONSTRAINT {sqlquote.pg_ident(pk.name)} PRIMARY KEY USING INDEX "
                     f"{old_key};  -- sets NOT NULL again: a scan under the lock"]
    rollback += [f"ALTER TABLE {qt} RENAME COLUMN {o} TO {n};", f"ALTER TABLE {qt} RENAME COLUMN {od} TO {o};"]
    if not c.nullable and not is_pk:
        rollback.append(f"ALTER TABLE {qt} ALTER COLUMN {o} SET NOT NULL;  -- a scan under the lock")
    if c.default is not None and c.identity is None:
        rollback += [f"ALTER TABLE {qt} ALTER COLUMN {n} DROP DEFAULT;",
                     f"ALTER TABLE {qt} ALTER COLUMN {o} SET DEFAULT {c.default};"]
    if sequence is not None and c.identity is None:
        rollback.append(f"ALTER SEQUENCE {sequence} OWNED BY {qt}.{o};")
    if c.identity is not None:
        rollback += [f"ALTER TABLE {qt} ALTER COLUMN {n} DROP IDENTITY;",
                     f"ALTER TABLE {qt} ALTER COLUMN {o} ADD GENERATED {c.identity.upper()} AS IDENTITY;",
                     f"SELECT setval(pg_get_serial_sequence({sqlquote.pg_literal(qt)}, {sqlquote.pg_literal(c.name)}),"
                     f" (SELECT coalesce(max({o}), 0) + 1 FROM {qt}), false);"]
    rollback += [f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.{n} := NEW.{o}; "
                 "RETURN NEW; END $$;",
                 f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {qt} FOR EACH ROW EXECUTE FUNCTION {fn}();"]
    for fk in own_fks + referencing:
        rollback.append(_fk_sql(fk, "NOT VALID"))
    rollback.append("COMMIT;")
    rollback += [f"ALTER TABLE {sqlquote.pg_qualified(fk.schema, fk.table)} VALIDATE CONSTRAINT "
                 f"{sqlquote.pg_ident(fk.name)};" for fk in own_fks + referencing]
    if is_pk:
        rollback.append(f"CREATE UNIQUE INDEX CONCURRENTLY {new_key} ON {qt} ({n});  -- as after phase 2")
    steps.append(Step(
        3, f"Switch {label} to the {w.new_type} column", table_label, w.codes, tuple(forward), tuple(rollback),
        f"ACCESS EXCLUSIVE for the transaction's milliseconds; lock_timeout {LOCK_TIMEOUT}: on a timeout, retry",
        "Views and functions that name the column keep reading the old one: recreate them in the same "
        "transaction." + (" The foreign keys come back NOT VALID and are validated in phase 4." if referencing
                          or own_fks else ""),
    ))

    # phase 4: validate the re-created foreign keys, drop the old column, give the indexes their names back
    forward = [f"ALTER TABLE {sqlquote.pg_qualified(fk.schema, fk.table)} VALIDATE CONSTRAINT "
               f"{sqlquote.pg_ident(fk.name)};" for fk in own_fks + referencing]
    forward.append(f"ALTER TABLE {qt} DROP COLUMN {od};  -- once the application no longer reads it")
    forward += [f"ALTER INDEX {sqlquote.pg_qualified(t.schema, copy)} RENAME TO {sqlquote.pg_ident(name)};"
                for copy, name in renames]
    steps.append(Step(
        4, f"Drop the old {label} ({c.data_type})", table_label, w.codes, tuple(forward),
        ("-- the validations need no undo; the dropped column does not come back: take the backup first, or "
         "keep the old column until the new one has run a full business cycle",),
        "SHARE UPDATE EXCLUSIVE to validate; ACCESS EXCLUSIVE for milliseconds to drop (no rewrite)",
        "",
    ))
    return steps


def _sequence_of(c: Column, known: str | None) -> str | None:
    if c.default:
        m = _NEXTVAL.search(c.default)
        if m:
            return m.group(1).replace("''", "'")
    return sqlquote.pg_qualified(*known.split(".", 1)) if known and "." in known else known


def _fk_sql(fk: Constraint, suffix: str) -> str:
    ref = sqlquote.pg_qualified(fk.ref_schema or fk.schema, fk.ref_table or "")
    actions = "".join(f" ON {event} {action.upper()}" for event, action in (("UPDATE", fk.on_update),
                                                                            ("DELETE", fk.on_delete))
                      if action and action != "no action")
    return (f"ALTER TABLE {sqlquote.pg_qualified(fk.schema, fk.table)} ADD CONSTRAINT {sqlquote.pg_ident(fk.name)} "
            f"FOREIGN KEY ({sqlquote.pg_column_list(fk.columns)}) REFERENCES {ref} "
            f"({sqlquote.pg_column_list(fk.ref_columns)}){actions} {suffix};")


def _mysql_widen_step(snap: Snapshot, f: Finding) -> Step | None:
    """MySQL/MariaDB change a column's type only by copying the table: through an online schema-change tool."""
    if not f.remediation:
        return None
    alters = [line for line in _sql_lines(f.remediation) if line.startswith("ALTER TABLE ")]
    if not alters:
        return None
    forward: list[str] = ["-- MySQL and MariaDB change a type only with ALGORITHM=COPY, which blocks writes: run "
                          "each ALTER through gh-ost or pt-online-schema-change, e.g."]
    rollback: list[str] = []
    for line in alters:
        m = re.match(rf"ALTER TABLE (?P<table>{_IDENT}(?:\.{_IDENT})?) (?P<change>.*);$", line)
        if m is None:
            continue
        parts = [_unquote(p) for p in re.findall(_IDENT, m["table"])]
        schema, name = (parts[0], parts[1]) if len(parts) == 2 else (snap.database or "", parts[0])
        change = "'" + m["change"].replace("'", "'\\''") + "'"  # one shell word: backticks stay literal
        forward.append(f"-- pt-online-schema-change --alter {change} D={schema},t={name} "
                       "--no-drop-old-table --execute")
        forward.append(f"--   (or: gh-ost --database={schema} --table={name} --alter={change} --execute)")
        referenced = [fk.name for fk in snap.foreign_keys() if fk.ref_table_key == (schema, name)]
        own = snap.constraints_of(schema, name, "foreign_key")
        if referenced:
            forward.append(f"--   {name} is referenced by foreign keys ({', '.join(referenced)}): pt-online-schema-"
                           "change needs --alter-foreign-keys-method=rebuild_constraints")
        if referenced or own:
            forward.append("--   gh-ost does not support tables with foreign keys: use pt-online-schema-change")
        rollback.append(f"-- pt-online-schema-change kept the old table as _{name}_old: "
                        f"RENAME TABLE {sqlquote.mysql_qualified(schema, name)} TO "
                        f"{sqlquote.mysql_qualified(schema, name + '_widened')}, "
                        f"{sqlquote.mysql_qualified(schema, '_' + name + '_old')} TO "
                        f"{sqlquote.mysql_qualified(schema, name)};")
    table = ".".join(p for p in (f.object.schema, f.object.table) if p)
    return Step(3, f"Widen the counter {f.object.label()}", table or f.object.label(), (f.code,), tuple(forward),
                tuple(rollback), "the tools copy in small chunks and swap with one atomic RENAME TABLE",
                "Both tools need a primary or unique key on the table; test them on a replica first.")


GROUP_AT = 4  # this many steps of one kind in a phase read better as one step with one statement a line
_GROUP_TITLES = {"add-index": "Add {n} indexes", "drop-index": "Drop {n} duplicate or redundant indexes",
                 "drop-unused": "Drop {n} unused indexes"}


def _merged(steps: list[Step]) -> list[Step]:
    """Many steps of one kind (a schema with hundreds of missing foreign-key indexes) as one step each kind."""
    by_kind: dict[tuple[str, int], list[Step]] = {}  # grouped once: thousands of steps compared pairwise took 10 s
    for s in steps:
        if s.kind:
            by_kind.setdefault((s.kind, s.phase), []).append(s)
    out: list[Step] = []
    for step in steps:
        group = by_kind.get((step.kind, step.phase), []) if step.kind else []
        if len(group) < GROUP_AT or not step.kind:
            out.append(step)
            continue
        if step is not group[0]:
            continue
        tables = sorted({s.table for s in group})
        codes = tuple(sorted({c for s in group for c in s.codes}))
        title = _GROUP_TITLES[step.kind].format(n=len(group)) + f" on {len(tables)} tables"
        out.append(Step(step.phase, title, ", ".join(tables), codes,
                        tuple(line for s in group for line in s.forward),
                        tuple(line for s in reversed(group) for line in s.rollback), step.lock, step.note, step.kind))
    return out


# ---- the plan --------------------------------------------------------------------------------------------------


def plan(snap: Snapshot, findings: Iterable[Finding]) -> Plan:
    findings = list(findings)
    steps: list[Step] = []
    manual: list[tuple[Finding, str]] = []
    added: dict[tuple[str, ...], int] = {}
    # one index where a wider proposal serves a narrower one (a WL02 composite led by a foreign key's columns):
    # building both would leave the narrower one redundant (IX03 on the next scan)
    served: dict[int, list[Finding]] = {}
    for lead, group in index_groups(findings):
        served[id(lead)] = group
        served.update((id(f), []) for f in group if f is not lead)
    for code in INDEX_ADD_CODES:
        for f in findings:
            settles = served.get(id(f))
            if settles == []:
                continue  # settled by the wider index of its group
            if f.code == code and (step := _index_add_step(snap, f)) is not None:
                if settles:
                    step = _serving(step, f, settles)
                at = added.get(step.forward)
                if at is not None:  # WL02 and IX05 may propose the same index: one step settles both
                    if f.code not in steps[at].codes:
                        steps[at] = dataclasses.replace(steps[at], codes=(*steps[at].codes, f.code))
                    continue
                added[step.forward] = len(steps)
                steps.append(step)
    repairs = {"IX04": _rebuild_step, "KY03": _validate_step}
    for f in findings:
        build = repairs.get(f.code)
        if build is not None and (step := build(snap, f)) is not None:
            steps.append(step)
    if snap.engine == "mysql":
        steps += [s for f in findings if f.code == "KY04" and (s := _mysql_widen_step(snap, f)) is not None]
    else:
        dropped = frozenset((f.object.schema or "", f.object.index) for f in findings
                            if f.code in INDEX_DROP_CODES and f.object.index)
        for w in _widenings(snap, findings):
            blocker = widen_blocker(snap, w)
            if blocker is None:
                steps += _pg_widen_steps(snap, w, dropped)
                continue
            for f in findings:
                if f.code in w.codes and (f.object.table == w.table.name or f.code == "KY04") \
                        and all(m is not f for m, _ in manual):
                    manual.append((f, f"{w.table.schema}.{w.table.name}.{w.column.name}: {blocker}"))
    drops: dict[tuple[str, str, str], list[Finding]] = {}  # per index, in INDEX_DROP_CODES order
    for code in INDEX_DROP_CODES:
        for f in findings:
            if f.code == code and f.object.index:
                drops.setdefault((f.object.schema or "", f.object.table or "", f.object.index), []).append(f)
    steps += [s for found in drops.values() if (s := _index_drop_step(snap, found)) is not None]
    steps.sort(key=lambda s: s.phase)  # stable: the order above holds within a phase
    steps = _merged(steps)
    design = tuple((f, DESIGN_CODES[f.code]) for f in findings if f.code in DESIGN_CODES)
    server = tuple(f for f in findings if f.code[:2] in ("SC", "ST"))
    return Plan(snap.engine, tuple(steps), design, tuple(manual), server)
