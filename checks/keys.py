"""Keys: primary keys, foreign-key types, unvalidated constraints, sequence headroom."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from auditor import sqlquote
from auditor.engine import NoOptions, check
from auditor.model import ColumnRef, Constraint, Hit, Index, ObjectRef, Sequence, Severity, Snapshot, Table
from auditor.sampling import type_family

BOTH = ("postgresql", "mysql")


# ------------------------------------------------------------------------------------------------------------
# KY01 no-primary-key
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Promotable:
    """A unique key over NOT NULL columns that could become the primary key."""

    name: str
    columns: tuple[str, ...]
    is_constraint: bool  # a UNIQUE constraint (else a unique index of no constraint)
    index: Index | None  # the index behind it, when the snapshot has it


def _promotable_key(snap: Snapshot, table: Table) -> _Promotable | None:
    """A unique constraint or index over whole NOT NULL columns (no expression, no prefix) that could become the
    primary key: the fewest columns first."""
    indexes = {ix.name: ix for ix in snap.indexes_of(table.schema, table.name)}
    candidates = [_Promotable(c.name, c.columns, True, indexes.get(c.index or c.name))
                  for c in snap.constraints_of(table.schema, table.name, "unique")]
    candidates += [
        _Promotable(ix.name, tuple(c for c in ix.columns if c is not None), False, ix)
        for ix in indexes.values()
        if ix.is_unique and not ix.is_primary and ix.is_valid and ix.predicate is None and not ix.constraint
    ]
    for key in sorted(candidates, key=lambda c: (len(c.columns), c.name)):
        cols = [table.column(c) for c in key.columns]
        whole = key.index is None or (None not in key.index.columns and len(key.index.columns) == len(key.columns))
        if key.columns and whole and all(c is not None and not c.nullable for c in cols):
            return key
    return None


def _pk_sql(snap: Snapshot, table: Table, key: _Promotable | None) -> str:
    """The primary key's DDL: the promotable key promoted, else what to decide (dbaudit cannot know which columns
    identify a row, and does not name a new column for the user)."""
    target = sqlquote.qualified(snap.engine, table.schema, table.name)
    if key is None:
        surrogate = ("BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY" if snap.engine == "mysql"
                     else "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
        return (f"-- no NOT NULL unique key to promote: declare the columns that identify a row\n"
                f"-- ALTER TABLE {target} ADD PRIMARY KEY (<columns>);\n"
                f"-- or, when none do, add a surrogate key:\n"
                f"-- ALTER TABLE {target} ADD COLUMN <name> {surrogate};")
    columns = sqlquote.column_list(snap.engine, key.columns)
    name = sqlquote.ident(snap.engine, key.name)
    if snap.engine == "mysql":
        if key.index is not None and key.index.supports_fk:
            return f"ALTER TABLE {target} ADD PRIMARY KEY ({columns});"  # InnoDB keeps it for the foreign key
        return f"ALTER TABLE {target} DROP INDEX {name}, ADD PRIMARY KEY ({columns});"
    ix = key.index
    if (not key.is_constraint and ix is not None and table.kind == "table" and ix.method == "btree"
            and not ix.include and all(k.column is not None and not k.descending and not k.nulls_first
                                       and k.opclass is None and k.collation is None for k in ix.keys)):
        return f"ALTER TABLE {target} ADD PRIMARY KEY USING INDEX {name};"
    # a constraint's index cannot be taken over (nor a partitioned table's): the key builds its own index
    return f"ALTER TABLE {target} ADD PRIMARY KEY ({columns});"


@check(code="KY01", name="no-primary-key", severity=Severity.WARNING, engines=BOTH)
def no_primary_key(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """Table without a primary key.

    ## What it does
    Flags ordinary and partitioned tables that have no PRIMARY KEY constraint. Partitions are judged through
    their parent, and a table whose rows are identified by a NOT NULL unique constraint is still flagged, but
    the message says which unique key could be promoted.

    ## Why is this bad?
    Without a primary key rows cannot be addressed reliably: ORMs and logical replication need one, duplicate
    rows creep in, and other tables cannot reference this one with a foreign key.

    ## Example
    ```sql
    CREATE TABLE audit_log (created_at timestamptz, message text);
    ```

    ## Fix
    Promote the NOT NULL unique key when there is one (the finding's fix names it: PostgreSQL takes a unique
    index over as is, MySQL/MariaDB swaps it for the primary key in one statement):
    ```sql
    ALTER TABLE tickets ADD PRIMARY KEY USING INDEX tickets_a_b_idx;   -- PostgreSQL
    ALTER TABLE tickets DROP INDEX uq, ADD PRIMARY KEY (a, b);         -- MySQL/MariaDB
    ```
    Otherwise declare the columns that identify a row, or add a surrogate key:
    ```sql
    ALTER TABLE audit_log ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
    ```

    ## References
    - https://wiki.postgresql.org/wiki/Don%27t_Do_This
    """
    for table in snap.tables:
        if table.kind not in ("table", "partitioned") or table.is_partition:
            continue
        if snap.constraints_of(table.schema, table.name, "primary_key"):
            continue
        message = f"{table.qualified} has no primary key"
        promotable = _promotable_key(snap, table)
        if promotable is not None:
            message += f"; its NOT NULL unique key {promotable.name} could be promoted"
        yield Hit(
            object=ObjectRef(type="table", schema=table.schema, table=table.name),
            message=message,
            details={"table_rows": table.estimated_rows,
                     "promotable_key": None if promotable is None else promotable.name},
            remediation=_pk_sql(snap, table, promotable),
        )


# ------------------------------------------------------------------------------------------------------------
# KY02 fk-type-mismatch
# ------------------------------------------------------------------------------------------------------------

# Spellings of one type, mapped to the form PostgreSQL's format_type prints (MySQL types pass through).
_PG_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int2": "smallint",
    "int8": "bigint",
    "varchar": "character varying",
    "char": "character",
    "bpchar": "character",
    "bool": "boolean",
    "float8": "double precision",
    "float4": "real",
    "decimal": "numeric",
    "timestamptz": "timestamp with time zone",
    "timetz": "time with time zone",
    "varbit": "bit varying",
}
# Types whose modifier is a maximum length: a different length is a smaller matter than a different type.
_LENGTH_TYPES = frozenset(
    {"character varying", "character", "bit varying", "bit", "varchar", "char", "varbinary", "binary"}
)
_MYSQL_INTEGERS = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint"})
_MODIFIER = re.compile(r"\(([^)]*)\)")


@functools.lru_cache(maxsize=4096)  # a few dozen types, met on every key column of every table
def normalize_type(engine: str, data_type: str) -> tuple[str, str]:
    """(base type, full normalized type) of a column type as the server prints it."""
    text = " ".join(data_type.strip().lower().split())
    base = _MODIFIER.sub("", text).strip()
    base = " ".join(base.split())
    if engine == "mysql":
        first = base.split(" ", 1)[0]
        if first in _MYSQL_INTEGERS:
            # display widths such as int(11) mean nothing for the values a column holds
            text = base
        return base, text
    head, _, rest = base.partition(" ")
    if head in _PG_ALIASES and not rest:
        base = _PG_ALIASES[head]
        mod = _MODIFIER.search(text)
        text = base + (f"({mod.group(1)})" if mod else "")
    return base, text


@check(code="KY02", name="fk-type-mismatch", severity=Severity.WARNING, engines=BOTH)
def fk_type_mismatch(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """Foreign key column whose type differs from the referenced column's.

    ## What it does
    Compares, pair by pair, the type of each foreign key column with the type of the column it references:
    integer against bigint, text against varchar, numeric precisions, and so on. When the only difference is
    the length of a character or bit type (varchar(10) against varchar(20)) the finding is info. A column
    whose type is a domain is compared through the type under the domain, and no ALTER COLUMN is proposed
    for it (that would drop the domain from the column). The referenced column's type is read with the
    foreign key, so a key into a schema left out with `--exclude-schema` is still checked.

    ## Why is this bad?
    Joins across the key compare values of two types and may need a cast, which can keep an index from being
    used; a narrower referencing column overflows or truncates values the referenced key accepts (an integer
    foreign key on a bigint id fails once ids pass 2^31).

    ## Example
    ```sql
    CREATE TABLE customers (id bigint PRIMARY KEY);
    CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer REFERENCES customers (id));
    ```

    ## Fix
    Give the referencing column the referenced column's type (this rewrites the table under an ACCESS
    EXCLUSIVE lock, except when only a varchar length grows):
    ```sql
    ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;
    ```
    On MariaDB, which refuses to change a column its foreign key uses, the key is dropped and added back around
    a `MODIFY COLUMN` that keeps the column's NULL / NOT NULL, default, collation and comment:
    ```sql
    ALTER TABLE orders DROP FOREIGN KEY orders_ibfk_1, MODIFY COLUMN customer_id bigint NOT NULL;
    ALTER TABLE orders ADD CONSTRAINT orders_ibfk_1 FOREIGN KEY (customer_id) REFERENCES shop.customers (id);
    ```
    No fix is printed on MySQL 8 (its catalog gives a default as a bare value) nor where the key's ON DELETE /
    ON UPDATE actions were not readable.
    """
    tables = snap.table_map  # once, not a method call per foreign key (thousands on a large database)
    engine = snap.engine
    # the (column type, referenced type) pairs found to match: a few pairs (bigint, bigint) for thousands of keys
    matching: set[tuple[str, str]] = set()
    for fk in snap.foreign_keys():
        ref_key = fk.ref_table_key
        table = tables.get((fk.schema, fk.table))
        if table is None or ref_key is None or table.is_partition and _has_parent_fk(snap, table, fk):
            continue
        ref = tables.get(ref_key)
        pairs: list[_TypePair] = []
        worst: Severity | None = None
        for i, (column, ref_column) in enumerate(zip(fk.columns, fk.ref_columns, strict=False)):
            mine = table.column(column)
            theirs = _referenced_type(fk, i, ref, ref_column)
            if mine is None or theirs is None:
                continue
            ref_type, ref_base = theirs
            # a domain is judged by the type under it: a domain over bigint referencing a bigint key matches
            compared = (mine.base_type or mine.data_type, ref_base or ref_type)
            if compared in matching:
                continue
            base, full = normalize_type(engine, compared[0])
            ref_base_name, ref_full = normalize_type(engine, compared[1])
            if full == ref_full:
                matching.add(compared)
                continue
            level = Severity.INFO if base == ref_base_name and base in _LENGTH_TYPES else Severity.WARNING
            if worst is None or level.rank > worst.rank:
                worst = level
            pairs.append(_TypePair(column, mine.data_type, mine.base_type, ref_column, ref_type, ref_base))
        if not pairs or worst is None:
            continue
        ref_label = f"{ref_key[0]}.{ref_key[1]}"
        described = ", ".join(p.describe() for p in pairs)
        message = (
            f"{table.qualified} foreign key {fk.name} has columns whose types differ from {ref_label}'s: "
            f"{described}"
        )
        domains = sorted({p.type for p in pairs if p.base_type is not None})
        if domains:
            # ALTER COLUMN ... TYPE would replace the domain (and drop its constraints) on this column
            message += (
                f"; {', '.join(domains)} {'is a domain' if len(domains) == 1 else 'are domains'}: change the "
                "type under the domain, or give the column another domain, rather than retype the column"
            )
        changes = [
            (p.column, p.ref_type)
            for p in pairs
            if p.base_type is None and not _narrows(snap, p.type, p.ref_base_type or p.ref_type)
        ]
        yield Hit(
            object=ObjectRef(
                type="foreign_key", schema=fk.schema, table=fk.table, columns=fk.columns, constraint=fk.name
            ),
            message=message,
            details={
                "pairs": [p.as_details() for p in pairs],
                "references": ref_label,
            },
            remediation=_retype_sql(snap, fk, changes),
            severity=Severity.INFO if worst is Severity.INFO else None,
        )


@dataclass(frozen=True)
class _TypePair:
    """One foreign key column and the column it references, with the types under their domains (or None)."""

    column: str
    type: str
    base_type: str | None
    ref_column: str
    ref_type: str
    ref_base_type: str | None

    def describe(self) -> str:
        mine = self.type + (f" (over {self.base_type})" if self.base_type else "")
        theirs = self.ref_type + (f" (over {self.ref_base_type})" if self.ref_base_type else "")
        return f"{self.column} {mine} -> {self.ref_column} {theirs}"

    def as_details(self) -> dict[str, str]:
        out = {"column": self.column, "type": self.type, "ref_column": self.ref_column, "ref_type": self.ref_type}
        if self.base_type:
            out["base_type"] = self.base_type
        if self.ref_base_type:
            out["ref_base_type"] = self.ref_base_type
        return out


def _referenced_type(
    fk: Constraint, position: int, ref: Table | None, ref_column: str
) -> tuple[str, str | None] | None:
    """(declared type, type under its domain or None) of a referenced column.

    The constraint carries them when the connector read them (PostgreSQL), so a referenced table outside the
    audited schemas is still judged; otherwise they come from the referenced table of the snapshot.
    """
    if position < len(fk.ref_column_types):
        bases = fk.ref_column_base_types
        return fk.ref_column_types[position], bases[position] if position < len(bases) else None
    column = ref.column(ref_column) if ref is not None else None
    if column is None:
        return None
    return column.data_type, column.base_type


def _narrows(snap: Snapshot, mine: str, theirs: str) -> bool:
    """Whether giving the referencing column the referenced type would cut its integer range."""
    a, b = integer_range(snap.engine, mine), integer_range(snap.engine, theirs)
    return a is not None and b is not None and b[1] < a[1]


def _has_parent_fk(snap: Snapshot, table: Table, fk: Constraint) -> bool:
    if not table.parent:
        return False
    parent_schema, _, parent_name = table.parent.rpartition(".")
    return any(
        p.columns == fk.columns and p.ref_table_key == fk.ref_table_key
        for p in snap.constraints_of(parent_schema or table.schema, parent_name, "foreign_key")
    )


def _retype_sql(snap: Snapshot, fk: Constraint, changes: list[tuple[str, str]]) -> str | None:
    # narrowing a wider referencing column is no fix: the referenced key is the one to widen, with its other
    # referencing columns, which is a migration of its own
    if not changes:
        return None
    if snap.engine == "mysql":
        return _modify_sql(snap, fk, changes)
    table = sqlquote.pg_qualified(fk.schema, fk.table)
    # the referenced type is printed by the server, already quoted where it needs to be
    actions = ", ".join(f"ALTER COLUMN {sqlquote.pg_ident(c)} TYPE {t}" for c, t in changes)
    return f"ALTER TABLE {table} {actions};"


def _modify_sql(snap: Snapshot, fk: Constraint, changes: list[tuple[str, str]]) -> str | None:
    """MariaDB: MODIFY COLUMN restates the whole column, so it keeps NULL / NOT NULL, the default, the collation
    (which implies the character set) and the comment. MariaDB refuses to change a column its foreign key uses
    (error 1832, whatever foreign_key_checks): the key is dropped, the column changed, the key added back (which
    checks every row again). None where the column's definition is not fully known: MySQL 8 prints a default
    as a bare value, not an expression; an AUTO_INCREMENT or generated column; a backslash in a literal (its
    meaning follows sql_mode); a key whose ON DELETE / ON UPDATE actions were not readable."""
    table = snap.table(fk.schema, fk.table)
    # without the key's ON DELETE / ON UPDATE (REFERENTIAL_CONSTRAINTS hidden) it cannot be added back as it was
    if snap.flavor != "mariadb" or table is None or not fk.definition or fk.on_delete is None:
        return None
    modifies = []
    for name, new_type in changes:
        col = table.column(name)
        if col is None or col.identity or col.generated or "\\" in (col.default or "") + (col.comment or ""):
            return None
        parts = [f"MODIFY COLUMN {sqlquote.mysql_ident(name)} {new_type}"]
        if col.collation and type_family(new_type) == "text":
            parts.append(f"COLLATE {col.collation}")
        parts.append("NULL" if col.nullable else "NOT NULL")
        if col.default is not None:
            parts.append(f"DEFAULT {col.default}")  # MariaDB prints it as an SQL expression
        if col.comment:
            parts.append("COMMENT '" + col.comment.replace("'", "''") + "'")
        modifies.append(" ".join(parts))
    target = sqlquote.mysql_qualified(fk.schema, fk.table)
    key = sqlquote.mysql_ident(fk.name)
    return ("-- MariaDB does not change a column its foreign key uses: drop the key, change the column, add the "
            "key back\n"
            f"ALTER TABLE {target} DROP FOREIGN KEY {key}, {', '.join(modifies)};\n"
            f"ALTER TABLE {target} ADD CONSTRAINT {key} {fk.definition};")


# ------------------------------------------------------------------------------------------------------------
# KY03 unvalidated-constraint
# ------------------------------------------------------------------------------------------------------------


@check(code="KY03", name="unvalidated-constraint", severity=Severity.WARNING, engines=BOTH)
def unvalidated_constraint(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """Constraint added NOT VALID and never validated.

    ## What it does
    Flags foreign keys, check constraints (and, on PostgreSQL 18, NOT NULL constraints) that were added with
    NOT VALID and never validated afterwards, including the check constraints of domains
    (`ALTER DOMAIN ... ADD CONSTRAINT ... NOT VALID`), which are validated with `ALTER DOMAIN ... VALIDATE
    CONSTRAINT`.

    ## Why is this bad?
    NOT VALID only checks new and updated rows: the rows already there may break the rule, and the planner
    cannot use the constraint to prove anything (constraint exclusion, join removal).

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
        FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
    ```

    ## Fix
    Validation takes only a SHARE UPDATE EXCLUSIVE lock, so reads and writes go on while it scans:
    ```sql
    ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;
    ```

    ## References
    - https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-VALIDATE-CONSTRAINT
    """
    for con in snap.constraints:
        if con.validated:
            continue
        kind = con.type.replace("_", " ")
        if con.domain is not None:
            yield _unvalidated_domain_constraint(snap, con, kind)
            continue
        remediation = None
        if snap.engine == "postgresql":
            remediation = (
                f"ALTER TABLE {sqlquote.pg_qualified(con.schema, con.table)} "
                f"VALIDATE CONSTRAINT {sqlquote.pg_ident(con.name)};"
                " -- takes only a SHARE UPDATE EXCLUSIVE lock"
            )
        ref_type = "foreign_key" if con.type == "foreign_key" else "constraint"
        yield Hit(
            object=ObjectRef(
                type=ref_type,
                schema=con.schema,
                table=con.table,
                columns=con.columns or None,
                constraint=con.name,
            ),
            message=f"{kind} constraint {con.name} on {con.schema}.{con.table} was never validated: "
            "existing rows may break it",
            details={"constraint_type": con.type},
            remediation=remediation,
        )


def _unvalidated_domain_constraint(snap: Snapshot, con: Constraint, kind: str) -> Hit:
    domain = sqlquote.pg_qualified(con.schema, con.domain or "")
    return Hit(
        object=ObjectRef(type="constraint", schema=con.schema, domain=con.domain, constraint=con.name),
        message=f"{kind} constraint {con.name} on domain {con.schema}.{con.domain} was never validated: "
        "values already stored in columns of this domain may break it",
        details={"constraint_type": con.type, "domain": f"{con.schema}.{con.domain}"},
        remediation=(
            f"ALTER DOMAIN {domain} VALIDATE CONSTRAINT {sqlquote.pg_ident(con.name)};"
            " -- scans every column of the domain; writes to those tables may wait meanwhile"
        ),
    )


# ------------------------------------------------------------------------------------------------------------
# KY04 sequence-exhaustion
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceExhaustionOptions:
    """Options of sequence-exhaustion: the share of the usable range (percent) for a warning, an error."""

    warn_pct: float = 75.0
    error_pct: float = 90.0


_PG_INT_RANGE = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_MYSQL_INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}


@functools.lru_cache(maxsize=4096)
def integer_range(engine: str, data_type: str) -> tuple[int, int] | None:
    """(min, max) of an integer column type; None for anything else (numeric columns have no such limit)."""
    base, _ = normalize_type(engine, data_type)
    words = base.split()
    if not words:
        return None
    if engine == "mysql":
        bits = _MYSQL_INT_BITS.get(words[0])
        if bits is None:
            return None
        if "unsigned" in words:
            return (0, 2**bits - 1)
        return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    head = _PG_ALIASES.get(base, base)
    return _PG_INT_RANGE.get(head)


def _usable_range(snap: Snapshot, seq: Sequence) -> tuple[int | None, int | None, ColumnRef | None]:
    """The narrowest (min, max) of the sequence's bounds and its columns' types, and the limiting column."""
    low, high = seq.min_value, seq.max_value
    own = integer_range(snap.engine, seq.data_type) if seq.kind == "sequence" else None
    if own is not None:
        low = own[0] if low is None else max(low, own[0])
        high = own[1] if high is None else min(high, own[1])
    limiting: ColumnRef | None = None
    for ref in seq.feeds:
        rng = integer_range(snap.engine, ref.data_type)
        if rng is None:
            continue
        bound_before = high if seq.increment > 0 else low
        low = rng[0] if low is None else max(low, rng[0])
        high = rng[1] if high is None else min(high, rng[1])
        if (high if seq.increment > 0 else low) != bound_before:
            limiting = ref
    return low, high, limiting


@check(
    code="KY04",
    name="sequence-exhaustion",
    severity=Severity.WARNING,
    engines=BOTH,
    options=SequenceExhaustionOptions,
    reads=("sequences", "tables", "columns"),
)
def sequence_exhaustion(snap: Snapshot, opts: SequenceExhaustionOptions) -> Iterator[Hit]:
    """Sequence or AUTO_INCREMENT counter past a share of its usable range.

    ## What it does
    Measures how much of its range a sequence (or a MySQL AUTO_INCREMENT counter) has used. The usable range
    ends at the smaller of the sequence's own limit and the largest value of the narrowest integer column it
    feeds: an integer column fed by a bigint sequence fails at 2^31 - 1, whatever the sequence allows.
    Descending sequences are measured towards their minimum. Warning from `warn_pct`, error from `error_pct`.
    A finding names the table and the column(s) the sequence feeds (`object.table`, `object.columns`), the
    limiting column's table first, so that a baseline or an ignore by table and column finds it; on
    MySQL/MariaDB, where the counter is the AUTO_INCREMENT column's own, the object is that column.

    ## Why is this bad?
    When the range runs out every INSERT fails ("nextval: reached maximum value" or "integer out of range", a
    duplicate key on MySQL), and the fix, widening the column, rewrites the table under an exclusive lock: it
    must be done well before.

    ## Example
    ```sql
    CREATE TABLE events (id serial PRIMARY KEY);  -- integer column, 1.9 billion ids used
    ```

    ## Fix
    Widen the column and the sequence to bigint. This rewrites the table under an ACCESS EXCLUSIVE lock (plan
    a window, or migrate through a new column):
    ```sql
    ALTER TABLE events ALTER COLUMN id TYPE bigint;
    ALTER SEQUENCE events_id_seq AS bigint NO MAXVALUE;
    ```

    Only the ALTER TABLE rewrites the table: a sequence feeding bigint columns is widened on its own. A
    sequence given its own MAXVALUE below its type's limit (`MAXVALUE 999999`) may be part of a numbering
    scheme, so the fix then raises that limit by a digit rather than removing it.

    ## Options
    - `warn_pct` (default 75.0): share of the range used that makes a warning.
    - `error_pct` (default 90.0): share of the range used that makes an error.

    ## Known problems
    A sequence whose last value cannot be read (never used, or no privilege) is not judged.
    """
    for seq in snap.sequences:
        if seq.last_value is None or seq.increment == 0:
            continue
        low, high, limiting = _usable_range(snap, seq)
        ascending = seq.increment > 0
        limit = high if ascending else low
        if limit is None:
            continue
        if seq.cycle and limiting is None:
            continue  # wraps around by design, and no column overflows before it does
        # Measured from zero, as "share of the type's range" is read, unless the sequence was set up to count
        # from the far end of the range (start at the type's minimum to double an integer's headroom).
        start = seq.start_value if seq.start_value is not None else 0
        origin = min(start, 0) if ascending else max(start, 0)
        span = (limit - origin) if ascending else (origin - limit)
        used = (seq.last_value - origin) if ascending else (origin - seq.last_value)
        if span <= 0:
            continue
        pct = 100.0 * max(used, 0) / span
        if pct < opts.warn_pct:
            continue
        severity = Severity.ERROR if pct >= opts.error_pct else None
        typed = [ref for ref in seq.feeds if integer_range(snap.engine, ref.data_type) is not None]
        column_type = (limiting or (typed[0] if typed else None) or seq).data_type
        label = _sequence_label(seq)
        if limiting is not None:
            bound = f"the {limiting.data_type} column {limiting.table}.{limiting.column}"
        elif seq.kind == "auto_increment":
            bound = f"the {column_type} column's maximum"  # the counter has no bound of its own
        else:
            bound = f"its own {'maximum' if ascending else 'minimum'}"
        # the table and columns it feeds, so that a baseline or an ignore by table and column finds it: the
        # limiting column's table first, else the first it feeds
        fed = limiting or (seq.feeds[0] if seq.feeds else None)
        fed_columns = tuple(dict.fromkeys(
            r.column for r in seq.feeds if fed is not None and (r.schema, r.table) == (fed.schema, fed.table)))
        if snap.engine == "mysql":
            # an AUTO_INCREMENT counter is the column's, not a sequence object of its own
            obj = ObjectRef(type="column", schema=fed.schema if fed else seq.schema, table=fed.table if fed else None,
                            columns=fed_columns or None)
        else:
            # the schema is the table's: a sequence kept in another schema is named with its own
            elsewhere = fed is not None and fed.schema != seq.schema
            obj = ObjectRef(type="sequence", schema=fed.schema if fed else seq.schema,
                            table=fed.table if fed else None, columns=fed_columns or None,
                            sequence=seq.qualified if elsewhere else seq.name)
        feeds = ", ".join(f"{r.schema}.{r.table}.{r.column}" for r in seq.feeds)
        message = f"{label} has used {pct:.1f}% of its range ({seq.last_value} of {limit}), up to {bound}"
        if seq.kind == "sequence" and feeds:
            message += f"; it feeds {feeds}"
        yield Hit(
            object=obj,
            message=message,
            details={
                "last_value": seq.last_value,
                "max_value": limit,
                "used_pct": round(pct, 2),
                "column_type": column_type,
                "increment": seq.increment,
                "feeds": [f"{r.schema}.{r.table}.{r.column}" for r in seq.feeds],
            },
            remediation=_widen_sql(snap, seq, limiting),
            severity=severity,
        )


def _sequence_label(seq: Sequence) -> str:
    if seq.kind == "auto_increment" and seq.feeds:
        ref = seq.feeds[0]
        return f"AUTO_INCREMENT of {ref.schema}.{ref.table}.{ref.column}"
    return f"sequence {seq.qualified}"


def _own_bound(snap: Snapshot, seq: Sequence) -> int | None:
    """The MAXVALUE (MINVALUE when descending) a sequence was given below what its type allows, else None."""
    if seq.kind != "sequence":
        return None
    own = integer_range(snap.engine, seq.data_type)
    if own is None:
        return None
    if seq.increment > 0:
        return seq.max_value if seq.max_value is not None and seq.max_value < own[1] else None
    return seq.min_value if seq.min_value is not None and seq.min_value > own[0] else None


def _widen_sql(snap: Snapshot, seq: Sequence, limiting: ColumnRef | None) -> str | None:
    rewrite = "-- rewrites the table under an exclusive lock: plan a maintenance window"
    if snap.engine == "mysql":
        narrow = [
            ref
            for ref in seq.feeds
            if (rng := integer_range(snap.engine, ref.data_type)) is not None and rng[1] < 2**63 - 1
        ]
        lines = [rewrite] if narrow else []
        for ref in narrow:
            unsigned = " UNSIGNED" if "unsigned" in ref.data_type.lower() else ""
            lines.append(
                f"ALTER TABLE {sqlquote.mysql_qualified(ref.schema, ref.table)} MODIFY "
                f"{sqlquote.mysql_ident(ref.column)} BIGINT{unsigned} NOT NULL AUTO_INCREMENT;"
            )
        return "\n".join(lines) if narrow else None
    ascending = seq.increment > 0
    name = sqlquote.pg_qualified(seq.schema, seq.name)
    own_bound = _own_bound(snap, seq) if limiting is None else None
    if own_bound is None:
        narrow = [
            ref
            for ref in seq.feeds
            if (rng := integer_range(snap.engine, ref.data_type)) is not None and rng[1] < 2**63 - 1
        ]
        lines = [rewrite] if narrow else []
        lines += [_retype_column_sql(ref) for ref in narrow]
        lines.append(f"ALTER SEQUENCE {name} AS bigint {'NO MAXVALUE' if ascending else 'NO MINVALUE'};")
        return "\n".join(lines)
    # A limit set by hand below the type's (MAXVALUE 999999) is part of a numbering scheme, such as numbers of
    # a fixed width: lifting it to the type's limit would be a change of format, so propose one more digit.
    digits = str(abs(own_bound))
    widened = abs(own_bound) * 10 + (9 if set(digits) == {"9"} else 0)  # 999999 -> 9999999, 5000 -> 50000
    widened = min(widened, 2**63 - 1) if ascending else -min(widened, 2**63)
    keyword = "MAXVALUE" if ascending else "MINVALUE"
    lines = [
        f"-- the sequence stops at its own {keyword} {own_bound}, set below its type's limit: the numbering "
        "scheme (e.g. numbers of a fixed width) may depend on it; raise it only where the format allows"
    ]
    narrow = [
        ref
        for ref in seq.feeds
        if (rng := integer_range(snap.engine, ref.data_type)) is not None and not rng[0] <= widened <= rng[1]
    ]
    if narrow:
        lines.append(rewrite)
        lines += [_retype_column_sql(ref) for ref in narrow]
    own = integer_range(snap.engine, seq.data_type)
    retype = " AS bigint" if own is not None and not own[0] <= widened <= own[1] else ""
    lines.append(f"ALTER SEQUENCE {name}{retype} {keyword} {widened};")
    return "\n".join(lines)


def _retype_column_sql(ref: ColumnRef) -> str:
    return (
        f"ALTER TABLE {sqlquote.pg_qualified(ref.schema, ref.table)} "
        f"ALTER COLUMN {sqlquote.pg_ident(ref.column)} TYPE bigint;"
    )
