"""Normalization: repeating groups (names and types), and multi-valued columns and functional dependencies
found in the bounded data sample the connector stores in the snapshot (see auditor.sampling)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from itertools import combinations
from typing import TYPE_CHECKING

from auditor.engine import Unmet, check
from auditor.model import (
    Constraint,
    ForeignKeyJoin,
    Hit,
    ObjectRef,
    ParentMatch,
    Severity,
    Snapshot,
    Table,
    TableSample,
)
from auditor.sampling import (
    Dependency,
    FdThresholds,
    json_document_columns,
    sampling_gap,
    type_family,
)
from auditor.sqlquote import mysql_ident, mysql_qualified, pg_ident, pg_qualified

if TYPE_CHECKING:
    from auditor.sample_analysis import SampleFrame

BOTH = ("postgresql", "mysql")

def _frame(ts: TableSample) -> SampleFrame:
    """The table's sample decoded for NF03/NF04. The one place the checks import the numpy half of sampling:
    a scan that samples nothing never loads numpy (see auditor.sample_analysis)."""
    from auditor.sample_analysis import SampleFrame

    return SampleFrame(ts)


def requires_sample(snap: Snapshot) -> Unmet | None:
    gap = sampling_gap(snap.sampling, snap.notes)
    return None if gap is None else Unmet(*gap)


def _sampled(snap: Snapshot) -> Iterator[tuple[Table, TableSample]]:
    if snap.sampling is None:
        return
    for ts in snap.sampling.tables:
        table = snap.table(ts.schema, ts.table)
        if table is not None and ts.skipped_reason is None and ts.rows > 0:
            yield table, ts


def _documents(snap: Snapshot, table: Table) -> set[str]:
    return json_document_columns(table, snap.constraints_of(table.schema, table.name, "check"))


def _without_documents(snap: Snapshot, table: Table, ts: TableSample) -> TableSample:
    """The sample without its JSON documents (see auditor.sampling.json_document_columns): a document is neither
    a determinant nor a dependent. Snapshots taken before the probe skipped MariaDB's JSON (a LONGTEXT) and
    MySQL 8's json columns still hold their codes."""
    docs = _documents(snap, table) & {c.name for c in ts.columns}
    if not docs:
        return ts
    groups = ts.groups
    if groups is not None:
        groups = replace(groups, columns=tuple(c for c in groups.columns if c.name not in docs),
                         selections=tuple(s for s in groups.selections if not set(s.determinant) & docs))
    joins = tuple(replace(j, matches=tuple(m for m in j.matches if m.column not in docs)) for j in ts.fk_joins)
    return replace(ts, columns=tuple(c for c in ts.columns if c.name not in docs), groups=groups, fk_joins=joins)


def _sampled_facts(snap: Snapshot) -> Iterator[tuple[Table, TableSample]]:
    """The sampled tables, as NF03/NF04 judge them: without their JSON documents."""
    for table, ts in _sampled(snap):
        yield table, _without_documents(snap, table, ts)


# ------------------------------------------------------------------------------------------------------------
# NF01 repeating-group
# ------------------------------------------------------------------------------------------------------------

DEFAULT_ALLOWED_FAMILIES = (
    "address", "address_line", "addressline", "addr", "addr_line", "street", "street_line", "line",
    "x", "y", "z", "lat", "lon", "lng", "latitude", "longitude",  # coordinates: x1, y1, x2, y2 of a segment
)

_NUM_SUFFIX = re.compile(r"^(?P<stem>.*?[^\d_])_?(?P<n>\d{1,4})$")
_LETTER_SUFFIX = re.compile(r"^(?P<stem>.*[^_])_(?P<l>[a-z])$")
_TYPE_FAMILIES = {
    "text": "text", "character varying": "text", "varchar": "text", "character": "text", "char": "text",
    "bpchar": "text", "citext": "text", "smallint": "int", "integer": "int", "bigint": "int", "int": "int",
    "tinyint": "int", "mediumint": "int", "numeric": "number", "decimal": "number", "real": "number",
    "double precision": "number", "double": "number", "float": "number", "timestamp with time zone": "time",
    "timestamp without time zone": "time", "timestamp": "time", "datetime": "time", "date": "date",
}


def _type_family(data_type: str) -> str:
    base = data_type.lower().split("(", 1)[0].strip()
    if base.endswith(" unsigned"):
        base = base[: -len(" unsigned")]
    return _TYPE_FAMILIES.get(base, base)


@dataclass(frozen=True)
class RepeatingGroupOptions:
    allowed_families: tuple[str, ...] = DEFAULT_ALLOWED_FAMILIES  # stems that may repeat (case-insensitive)
    min_members: int = 2


def _roles_not_repeats(snap: Snapshot | None, table: Table, members: list[str], numbers: list[int]) -> bool:
    """Numbered columns that name the ends of a relationship, not positions in a list.

    - every member is a single-column foreign key and they reference different tables (``entity0`` ->
      artist, ``entity1`` -> label: MusicBrainz's ``l_artist_label``);
    - every member is a single-column foreign key to one table and together they belong to a declared key
      (primary key, unique constraint or unique index): an association, an edge of a graph
      (``l_artist_artist(entity0, entity1)``, ``tag_relation(tag1, tag2)``);
    - exactly two members numbered 0 and 1: the two ends of a binary relationship (``entity_type0``,
      ``entity_type1``), a list does not start counting at 0 and stop at 1.
    """
    if len(members) == 2 and numbers == [0, 1]:
        return True
    if snap is None:
        return False
    refs = []
    for m in members:
        fk = _fk_of(snap, table, (m,))
        if fk is None or fk.ref_table is None:
            return False
        refs.append((fk.ref_schema or table.schema, fk.ref_table))
    if len(set(refs)) == len(refs):
        return True
    if len(set(refs)) == 1:
        return any(set(members) <= set(k) for k in _keys(snap, table))
    return False


@functools.lru_cache(maxsize=65536)  # the same column names (id, name, created_at) in table after table
def _series_suffix(name: str) -> tuple[str, int, str | None] | None:
    """(stem, number, None) for a numbered name (phone2), (stem, 0, letter) for a lettered one (size_a), else
    None."""
    low = name.lower()
    # the patterns' last characters, tested first: most names end in neither a digit nor "_x" ($ also matches
    # before a final newline)
    tail = low[:-1] if low.endswith("\n") else low
    if tail[-1:].isdigit():
        m = _NUM_SUFFIX.match(low)
        return (m["stem"].rstrip("_"), int(m["n"]), None) if m else None
    if tail[-2:-1] == "_":
        m = _LETTER_SUFFIX.match(low)
        if m:
            return (m["stem"], 0, m["l"])
    return None


def repeating_groups(table: Table, opts: RepeatingGroupOptions,
                     snap: Snapshot | None = None) -> list[tuple[str, list[str]]]:
    """(stem, member columns in order) of every repeating group of a table; with the snapshot, numbered
    foreign keys that are the ends of a relationship are left out (see :func:`_roles_not_repeats`)."""
    numbered: dict[str, dict[int, str]] = {}
    lettered: dict[str, dict[str, str]] = {}
    for c in table.columns:
        suffix = _series_suffix(c.name)
        if suffix is None:
            continue
        stem, n, letter = suffix
        if letter is None:
            numbered.setdefault(stem, {})[n] = c.name
        else:
            lettered.setdefault(stem, {})[letter] = c.name
    if not numbered and not lettered:
        return []
    names = {c.name.lower(): c for c in table.columns}
    allowed = {a.lower() for a in opts.allowed_families}
    out: list[tuple[str, list[str]]] = []
    for stem, by_n in numbered.items():
        if stem in allowed:
            continue
        nums = sorted(by_n)
        if nums != list(range(nums[0], nums[0] + len(nums))):
            continue  # ipv4/ipv6, sha1/sha256, int4/int8: names with numbers, not a numbered series
        members = [by_n[n] for n in nums]
        if _roles_not_repeats(snap, table, members, nums):
            continue
        if nums[0] == 2 and stem in names:
            members.insert(0, names[stem].name)  # phone, phone2, phone3
        out.append((stem, members))
    for stem, by_l in lettered.items():
        letters = sorted(by_l)
        if stem in allowed or letters != [chr(ord("a") + i) for i in range(len(letters))]:
            continue  # point_x/point_y, size_s/size_m: suffix letters that are not a series from "a"
        out.append((stem, [by_l[x] for x in letters]))
    result = []
    for stem, members in out:
        if len(members) < opts.min_members:
            continue
        families = {_type_family(c.data_type) for c in table.columns if c.name in members}
        if len(families) == 1:
            result.append((stem, members))
    return sorted(result, key=lambda g: g[1][0])


@check(code="NF01", name="repeating-group", severity=Severity.WARNING, engines=BOTH,
       options=RepeatingGroupOptions)
def repeating_group(snap: Snapshot, opts: RepeatingGroupOptions) -> Iterator[Hit]:
    """Columns that repeat one attribute with a numbered or lettered suffix (1NF).

    ## What it does
    Finds families of two or more columns that repeat one attribute with a suffix: a number series
    (`phone1, phone2, phone3`, `email_1, email_2`, or `phone, phone2`) or a letter series from `a` (`tag_a,
    tag_b`), whose types are the same or compatible (all text, all integers...). Judged from names and types
    only; no data is read. Numbers that are not a series (`ipv4`/`ipv6`, `sha1`/`sha256`) and letters that do
    not start at `a` (`point_x`/`point_y`) are not families. Numbered columns that name the ends of a
    relationship are not a repeating group either: foreign keys to different tables (`entity0` -> artist,
    `entity1` -> label), foreign keys to one table that together belong to a declared key (a link table's
    `entity0, entity1`, `tag_relation(tag1, tag2)`), and a pair numbered 0 and 1 (`entity_type0`,
    `entity_type1`). Coordinates (`x1, y1, x2, y2`) and postal address lines are allowed families.

    ## Why is this bad?
    A repeating group caps the number of values (a fourth phone needs a schema change), spreads one attribute
    over several columns so that every query must search all of them (`WHERE phone1 = $1 OR phone2 = $1 ...`),
    and cannot be indexed or constrained as one attribute. It breaks first normal form.

    ## Example
    ```sql
    CREATE TABLE contacts (id bigint PRIMARY KEY, name text, phone1 text, phone2 text, phone3 text);
    ```

    ## Fix
    Move the attribute to a child table, one row per value:
    ```sql
    CREATE TABLE contact_phones (
        contact_id bigint NOT NULL REFERENCES contacts (id),
        position smallint NOT NULL,
        phone text NOT NULL,
        PRIMARY KEY (contact_id, position)
    );
    ```

    ## Options
    - `allowed_families` (default `address, address_line, addressline, addr, addr_line, street, street_line,
      line, x, y, z, lat, lon, lng, latitude, longitude`): stems that may repeat, because
      `address_line1/address_line2` is the conventional postal layout and `x1, x2` the ends of a segment,
      not lists.
    - `min_members` (default 2): the smallest family reported.

    ## Known problems
    Deliberate pairs with another meaning (`home_team1, home_team2` that are not foreign keys) are reported;
    add their stem to `allowed_families`.

    ## References
    - https://en.wikipedia.org/wiki/First_normal_form
    """
    for table in snap.tables:
        if table.kind not in ("table", "partitioned") or table.is_partition:
            continue
        for stem, members in repeating_groups(table, opts, snap):
            child = f"{table.name}_{stem}s"
            yield Hit(
                object=ObjectRef(type="table", schema=table.schema, table=table.name, columns=tuple(members)),
                message=f"{table.qualified} repeats one attribute in {len(members)} columns "
                        f"({', '.join(members)}): a repeating group",
                details={"stem": stem, "members": list(members)},
                remediation=f"-- move {', '.join(members)} to a child table, one row per value, e.g.\n"
                            f"-- CREATE TABLE {pg_qualified(table.schema, child)} (<key of {table.name}> "
                            f"REFERENCES {pg_qualified(table.schema, table.name)}, position smallint, "
                            f"{stem} ..., PRIMARY KEY (<key>, position));",
            )


# ------------------------------------------------------------------------------------------------------------
# NF02 multi-valued-column
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultiValuedOptions:
    min_share: float = 0.2  # share of sampled non-null values that hold a list
    min_rows: int = 20  # sampled non-null values needed to judge
    max_two_item_share: float = 0.9  # above it the lists are pairs ("Smith, John", "Austin, TX")
    min_item_recurrence: float = 0.3  # word-group lists whose items recur less are terse prose, not lists
    min_position_overlap: float = 0.2  # two-item values whose items change places this often are lists
    report_structured_types: bool = True  # arrays and json/jsonb as info


DELIMITER_NAMES = {",": "comma", ";": "semicolon", "|": "pipe", "json": "JSON array"}


def _is_structured(data_type: str) -> str | None:
    t = data_type.lower().strip()
    if t.endswith("]") or t == "array":
        return "array"
    if t in ("json", "jsonb"):
        return t
    if t.startswith("set("):  # MySQL SET: a built-in multi-valued type, like an array
        return "set"
    return None


@check(code="NF02", name="multi-valued-column", severity=Severity.WARNING, engines=BOTH,
       options=MultiValuedOptions, requires=(requires_sample,), needs=("sampling",))
def multi_valued_column(snap: Snapshot, opts: MultiValuedOptions) -> Iterator[Hit]:
    """Text column whose values hold delimited lists, found in the data sample (1NF).

    ## What it does
    Reads the list profile the sampling probe computed for each sampled text column and reports a column
    when at least `min_share` of its sampled non-null values hold a delimited list: comma, semicolon or pipe
    separated, or a JSON array stored as text. Array, json/jsonb (and MariaDB's JSON, a LONGTEXT with a
    `json_valid` CHECK) and MySQL SET columns are reported as info from their type.

    A value counts as a list only when it splits into two or more non-empty items of one shape (all integers,
    all e-mail addresses, all short word groups of at most three words, all codes) or of codes, integers
    and word groups mixed (`A12, blue, XL-3`), none longer than 40 characters and none that reads as prose
    (a sentence end, or an item that starts or ends with a stop word such as "and", "the", "it"; "Behind the
    Scenes" is a name).
    Decimal numbers with a comma (`3,14`, `1.234,56`) are not lists, and address parts mixing digits and words
    (`12 Main St, Springfield`) are not list items. A column whose lists almost always have exactly two items
    (`max_two_item_share`) holds pairs such as `Smith, John` or `Austin, TX`, and is not reported, unless
    its items change places across values (`red,green` / `green,blue`, or an item also standing alone):
    pairs keep their parts in place, lists do not (`min_position_overlap`). So a column with a handful of
    distinct combinations is still a list when its items recur and move.

    Lists of word groups (and mixed lists) must also reuse a vocabulary: tags, sizes or names recur across
    values (`golf;tennis`,
    `chess;golf`), while terse free text (`Great product, fast shipping, would buy again`) puts different
    phrases in every value. The probe measures, over the distinct word-group lists of a column, the share of
    item occurrences whose item occurs in at least two of them; below `min_item_recurrence` those values are
    not counted as lists. Integer, number, e-mail, URL, code and JSON lists need no recurrence: their shape is
    not prose.

    ## Why is this bad?
    A list in one column cannot be constrained (no foreign key per item), indexed for "rows with item X"
    without special indexes, or updated item by item without rewriting the string; queries parse strings
    with LIKE or split functions. It breaks first normal form.

    ## Example
    ```sql
    CREATE TABLE articles (id bigint PRIMARY KEY, title text, tags text);  -- 'postgres,performance,index'
    ```

    ## Fix
    ```sql
    CREATE TABLE article_tags (article_id bigint REFERENCES articles (id), tag text,
                               PRIMARY KEY (article_id, tag));
    ```
    An array or jsonb column (reported as info) is sometimes the right choice: for values always read and
    written together, with a GIN index where they are searched.

    ## Options
    - `min_share` (default 0.2): share of sampled non-null values that must hold a list.
    - `min_rows` (default 20): sampled non-null values needed before judging a column.
    - `max_two_item_share` (default 0.9): above it the lists are pairs, not lists...
    - `min_position_overlap` (default 0.2): ...unless at least this share of their distinct items is seen
      at two positions (first and second, or alone).
    - `min_item_recurrence` (default 0.3): word-group lists whose items recur across distinct values less
      than this are free text, not lists.
    - `report_structured_types` (default true): report array, json/jsonb (MariaDB: a LONGTEXT with a
      `json_valid` CHECK) and MySQL SET columns as info.

    ## Known problems
    Needs the data sample (on by default, off with `--no-sample`). Values are never shown unless the scan ran
    with `--show-samples`, which keeps a few examples in the snapshot. Free text written from a small set of
    stock phrases recombined across rows ("fast shipping, great price" / "great price, would buy again")
    reuses its phrases like tags do, and is reported. A column with a single distinct list value has nothing
    to compare, so its shape alone decides.

    ## References
    - https://en.wikipedia.org/wiki/First_normal_form
    """
    for table, ts in _sampled(snap):
        docs = _documents(snap, table) if any(cs.profile is not None for cs in ts.columns) else set()
        for cs in ts.columns:
            p = cs.profile
            if (p is None or p.non_null < opts.min_rows or not p.delimiter or _is_structured(cs.data_type)
                    or cs.name in docs):
                continue  # a structured column's values are lists by design: reported as info below
            list_rows = p.list_rows
            if p.item_recurrence is not None and p.item_recurrence < opts.min_item_recurrence:
                list_rows -= p.word_list_rows  # phrases that never recur: prose written with commas
            share = list_rows / p.non_null
            pairs = (p.delimiter != "json" and p.two_item_share > opts.max_two_item_share
                     and (p.position_overlap or 0.0) < opts.min_position_overlap)
            if share < opts.min_share or pairs:
                continue
            details: dict[str, object] = {
                "delimiter": p.delimiter, "list_share": round(share, 3), "list_rows": list_rows,
                "sampled_values": p.non_null, "avg_items": p.avg_items, "sample_rows": ts.rows,
            }
            if p.item_recurrence is not None:
                details["item_recurrence"] = p.item_recurrence
            if p.position_overlap is not None:
                details["position_overlap"] = p.position_overlap
            if snap.sampling is not None and snap.sampling.show_samples and cs.examples:
                details["examples"] = list(cs.examples)
            yield Hit(
                object=ObjectRef(type="column", schema=table.schema, table=table.name, columns=(cs.name,)),
                message=f"{table.qualified}.{cs.name} holds {DELIMITER_NAMES.get(p.delimiter, p.delimiter)}-"
                        f"separated lists in {share:.0%} of {p.non_null} sampled values "
                        f"({p.avg_items:.1f} items on average)",
                details=details,
            )
    if not opts.report_structured_types:
        return
    for table in snap.tables:
        if table.kind not in ("table", "partitioned") or table.is_partition:
            continue
        docs = _documents(snap, table) if snap.constraints_of(table.schema, table.name, "check") else set()
        for c in table.columns:
            kind = _is_structured(c.data_type) or ("json" if c.name in docs else None)
            if kind is None:
                continue
            # MariaDB's JSON is a LONGTEXT with a json_valid CHECK: named for what it holds
            shown = c.data_type if _is_structured(c.data_type) else f"JSON ({c.data_type} with a json_valid CHECK)"
            yield Hit(
                object=ObjectRef(type="column", schema=table.schema, table=table.name, columns=(c.name,)),
                message=f"{table.qualified}.{c.name} is a {shown} column: several values in one "
                        "column; fine when they are always read together, otherwise a child table",
                details={"data_type": c.data_type, "kind": kind},
                severity=Severity.INFO,
            )


# ------------------------------------------------------------------------------------------------------------
# NF03 partial-dependency, NF04 transitive-dependency
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DependencyOptions:
    max_error: float = 0.0  # exact or nothing: a dependency with violations in the sample is no warning
    near_dependencies: bool = False  # report near-dependencies (error up to near_max_error) as info
    near_max_error: float = 0.01
    min_rows: int = 20
    min_support_rows: int = 20
    min_mean_group: float = 2.0
    max_determinant_uniqueness: float = 0.9
    min_repeated_share: float = 0.1
    quasi_constant_share: float = 0.95
    max_chance: float = 1e-6
    max_key_columns: int = 4  # NF03: composite keys wider than this are not split

    def thresholds(self) -> FdThresholds:
        names = {f.name for f in fields(FdThresholds)}
        th = FdThresholds(**{k: getattr(self, k) for k in names})
        if self.near_dependencies:
            th = replace(th, max_error=max(self.max_error, self.near_max_error))
        return th


def _keys(snap: Snapshot, table: Table) -> list[tuple[str, ...]]:
    """Declared unique keys: primary key, unique constraints, valid unique indexes without predicate.

    An index left INVALID by a failed CREATE UNIQUE INDEX CONCURRENTLY (pg_index.indisvalid false) enforces
    nothing the rows must obey: no key (rt17: one on city hid zip -> city); IX04 reports the index itself."""
    keys: list[tuple[str, ...]] = []
    for c in snap.constraints_of(table.schema, table.name):
        if c.type in ("primary_key", "unique") and c.columns:
            keys.append(tuple(c.columns))
    for ix in snap.indexes_of(table.schema, table.name):
        cols = ix.columns
        if ix.is_unique and ix.is_valid and ix.is_ready and ix.predicate is None and cols \
                and all(c is not None for c in cols):
            keys.append(tuple(c for c in cols if c is not None))
    return list(dict.fromkeys(keys))


def _candidate_keys(snap: Snapshot, table: Table) -> list[tuple[str, ...]]:
    """The minimal declared keys: a unique key that holds another (UNIQUE (id, tenant_id) beside PRIMARY KEY
    (id)) is a superkey, not a candidate key. Normal forms speak of candidate keys: a column fixed by part of a
    superkey (tenant_id -> status) depends on a non-prime column, a transitive (3NF) dependency, not a 2NF one
    (rt17: NF03 called (id, tenant_id) "the key")."""
    keys = _keys(snap, table)
    return [k for k in keys if not any(set(o) < set(k) for o in keys)]


def _fk_of(snap: Snapshot, table: Table, columns: tuple[str, ...]) -> Constraint | None:
    for fk in snap.constraints_of(table.schema, table.name, "foreign_key"):
        if tuple(fk.columns) == columns:
            return fk
    return None


def _representative(snap: Snapshot, table: Table, members: list[str]) -> str:
    """The column that names a one-to-one class: a foreign key, then an *_id/_code column, then order."""
    order = {c.name: i for i, c in enumerate(table.columns)}

    def rank(name: str) -> tuple[int, int, int]:
        is_fk = _fk_of(snap, table, (name,)) is not None
        idish = name.lower().endswith(("_id", "id", "_code", "_no", "_key"))
        return (0 if is_fk else 1, 0 if idish else 1, order.get(name, 0))

    return min(members, key=rank)


def _group(snap: Snapshot, table: Table,
           deps: list[Dependency]) -> list[tuple[tuple[str, ...], list[Dependency]]]:
    """Group dependencies by determinant, merge one-to-one columns, and drop what another dependent implies.

    With a -> b and b -> a (one-to-one), only the representative is reported as determinant, the other as its
    dependent. With a -> b, b -> c and a -> c, c is reported under b only.
    """
    holds = {(d.determinant, d.dependent): d for d in deps}
    single = {d.determinant[0] for d in deps if len(d.determinant) == 1}
    # one-to-one classes among single-column determinants
    parent = {c: c for c in single}

    def find(c: str) -> str:
        while parent[c] != c:
            c = parent[c]
        return c

    for (det, dep) in holds:
        if len(det) == 1 and dep in single and ((dep,), det[0]) in holds:
            parent[find(det[0])] = find(dep)
    classes: dict[str, list[str]] = {}
    for c in single:
        classes.setdefault(find(c), []).append(c)
    rep_of = {c: _representative(snap, table, members) for members in classes.values() for c in members}

    by_det: dict[tuple[str, ...], dict[str, Dependency]] = {}
    for d in deps:
        det = d.determinant
        if len(det) == 1 and rep_of.get(det[0], det[0]) != det[0]:
            continue  # reported under its one-to-one representative
        by_det.setdefault(det, {})[d.dependent] = d
    def cls(c: str) -> str:
        return rep_of.get(c, c)

    def implied(y: str, det: tuple[str, ...], dependents: dict[str, Dependency]) -> bool:
        det_class = cls(det[0]) if len(det) == 1 else None
        for z in dependents:
            if z == y or (det_class is not None and cls(z) == det_class) or ((z,), y) not in holds:
                continue
            if ((y,), z) not in holds or z == cls(y):
                return True  # z -> y strictly, or y is one-to-one with z and z names their class
        return False

    out: list[tuple[tuple[str, ...], list[Dependency]]] = []
    for det, dependents in by_det.items():
        kept = [d for name, d in dependents.items() if not implied(name, det, dependents)]
        if kept:
            out.append((det, sorted(kept, key=lambda x: x.dependent)))
    return sorted(out)


def _copies(snap: Snapshot, table: Table, ts: TableSample, frame: SampleFrame,
            th: FdThresholds) -> list[Dependency]:
    """Dependents that equal a column of the row their foreign key references, from the join probe.

    A column that agrees with the parent's column on every joined row (within ``max_error``) copies it. The
    evidence is per row, so it holds even where each parent appears once in the sample; rows of one parent
    are counted once in the chance estimate (they are one fact), and a column constant in the sample is no
    copy (anything "agrees" with a constant).
    """
    out: list[Dependency] = []
    for join in ts.fk_joins:
        if join.skipped_reason is not None or join.rows < th.min_rows or join.parents < 2:
            continue
        by_column: dict[str, list[ParentMatch]] = {}
        for m in join.matches:
            if m.compared >= th.min_rows and m.compared - m.equal <= th.max_error * m.compared:
                by_column.setdefault(m.column, []).append(m)
        for column, matches in by_column.items():
            if column not in frame:
                continue
            _, distinct, top = frame.column_stats(column)
            if distinct < 2 or top >= th.quasi_constant_share:
                continue
            best = max(matches, key=lambda m: (m.equal - (m.compared - m.equal), m.compared))
            evidence = min(best.compared, join.parents)
            chance = math.exp(max(evidence * math.log(max(frame.collision(column), 1e-300)), -700.0))
            if chance > th.max_chance:
                continue
            out.append(Dependency(
                determinant=tuple(join.columns), dependent=column, rows=join.rows, support_rows=best.compared,
                determinant_distinct=join.parents, dependent_distinct=distinct,
                violations=best.compared - best.equal, chance=chance, groups=join.parents,
                kind="foreign_key_join", copies=f"{join.ref_schema}.{join.ref_table}.{best.parent_column}"))
    return out


def _join_of(ts: TableSample, det: tuple[str, ...]) -> ForeignKeyJoin | None:
    for join in ts.fk_joins:
        if tuple(join.columns) == det and join.skipped_reason is None and join.rows > 0:
            return join
    return None


def _merge(found: list[Dependency], copies: list[Dependency]) -> list[Dependency]:
    """The dependencies of the sample and the copies of the join, one per (determinant, dependent): a copy
    replaces the plain dependency it explains."""
    merged = {(d.determinant, d.dependent): d for d in found}
    for c in copies:
        merged[(c.determinant, c.dependent)] = c
    return list(merged.values())


def _drop_echoes(frame: SampleFrame, deps: list[Dependency], th: FdThresholds,
                 key_parts: Sequence[Dependency] = ()) -> list[Dependency]:
    """Drop x -> y where both x and y are stored once per value of another determinant k (k -> x, k -> y).

    Rows that repeat k repeat its facts: an invoice table repeats the billing city and state of each
    customer on every invoice, so "city -> state" seems supported by hundreds of rows while only the
    customers' few dozen addresses say anything. Such a dependency is judged again on one row per k; it
    stays only if it still holds there with the support the thresholds ask. ``key_parts`` are the
    dependencies of parts of composite keys (NF03's): an order's reference and date, stored on each of its
    lines, are facts of the order, not of each other.
    """
    by_det: dict[tuple[str, ...], set[str]] = {}
    for d in [*deps, *key_parts]:
        by_det.setdefault(d.determinant, set()).add(d.dependent)
    kept = []
    for d in deps:
        sources = [k for k, ys in by_det.items() if k != d.determinant and d.dependent in ys
                   and set(d.determinant) <= ys and all(c in frame for c in k)]
        if d.kind != "foreign_key_join" and sources:
            again = None
            for k in sources:
                again = frame.first_of_each(k).judge(d.determinant, d.dependent, th)
                if again is None:
                    break
            if again is None:
                continue
        kept.append(d)
    return kept


def _group_thresholds(th: FdThresholds) -> FdThresholds:
    """Thresholds on whole groups: two or three rows per value are full support there (each group is
    complete), so fewer rows per value pass; more witnessing rows are asked instead."""
    return replace(th, min_mean_group=min(th.min_mean_group, 1.5),
                   max_determinant_uniqueness=max(th.max_determinant_uniqueness, 0.8),
                   min_support_rows=max(th.min_support_rows, 50))


def _with_groups(uniform: SampleFrame, found: list[Dependency], determinants: list[tuple[str, ...]],
                 dependents: list[str], th: FdThresholds) -> list[Dependency]:
    """Add the dependencies the group sample shows for ``determinants``, and drop those it refutes.

    The group sample holds every row of each chosen determinant value, so a violation there is a real one:
    a dependency the uniform sample suggested and the whole groups break is dropped.
    """
    frames = {det: frame for det, frame in uniform.group_frames() if det in determinants}
    if not frames:
        return found
    gth = _group_thresholds(th)
    kept = []
    for d in found:
        frame = frames.get(d.determinant)
        if frame is not None and d.kind != "foreign_key_join":
            support, bad = frame.violations_on(d.determinant, d.dependent)
            if support and bad > th.max_error * support:
                continue
            if bad:  # within a near-dependency's allowance: its violations are the whole groups'
                d = replace(d, violations=bad, support_rows=support, kind="groups")
        kept.append(d)
    have = {(d.determinant, d.dependent) for d in kept}
    for det, frame in frames.items():
        deps = [y for y in dependents if y not in det and y in frame and not frame.is_unique(y)]
        for g in frame.find_dependencies([det], deps, gth):
            if (g.determinant, g.dependent) not in have:
                kept.append(replace(g, kind="groups"))
                have.add((g.determinant, g.dependent))
    return kept


def _drop_reversed(deps: list[Dependency]) -> list[Dependency]:
    """Drop x -> c where c is part of a multi-column determinant d with d -> x: x names the same thing as d
    (a label copied through a composite foreign key identifies its parent row), reported once, under d."""
    holds = {(d.determinant, d.dependent) for d in deps}
    wide = [det for det, _ in holds if len(det) > 1]
    return [d for d in deps if not (len(d.determinant) == 1 and any(
        d.dependent in w and (w, d.determinant[0]) in holds for w in wide))]


def _key_part_dependencies(ts: TableSample, frame: SampleFrame, keys: list[tuple[str, ...]], prime: set[str],
                           th: FdThresholds, max_key_columns: int) -> list[Dependency]:
    """Dependencies of proper subsets of composite keys on non-key columns (what NF03 looks for)."""
    subsets = list(dict.fromkeys(s for k in keys if 1 < len(k) <= max_key_columns
                                 for size in range(1, len(k)) for s in combinations(k, size)))
    if not subsets:
        return []
    dependents = [c.name for c in ts.columns if c.name not in prime]
    found = frame.find_dependencies(subsets, [c for c in dependents if not frame.is_unique(c)], th)
    return _with_groups(frame, found, subsets, dependents, th)


def _drop_ambiguous(deps: list[Dependency]) -> list[Dependency]:
    """Drop a dependent that two unrelated columns each determine: it follows a hidden attribute of the rows.

    Chinook's track.unit_price is 0.99 or 1.99 depending on whether the track is a video; album_id and
    genre_id both "determine" it in the data, and neither determines the other. The price is a fact about
    neither album nor genre. A dependent fixed by two determinants of which neither fixes the other is not
    reported (copies through foreign keys, which the join proves column by column, are kept).
    """
    holds = {(d.determinant, d.dependent) for d in deps}
    dets_of: dict[str, list[str]] = {}
    for d in deps:
        if len(d.determinant) == 1 and not d.copies:
            dets_of.setdefault(d.dependent, []).append(d.determinant[0])
    ambiguous = {y for y, xs in dets_of.items() for a, b in combinations(xs, 2)
                 if ((a,), b) not in holds and ((b,), a) not in holds}
    return [d for d in deps if d.copies or d.dependent not in ambiguous]


# how the rows of a table's first sample were chosen (TableSample.method), as the evidence line names it
_SAMPLE_METHODS = {
    "full": "whole table", "bernoulli": "uniform sample", "system": "block sample",
    "first_rows": "first rows read", "pk_ranges": "primary-key-range sample",
}


def _evidence_text(deps: list[Dependency], method: str = "") -> str:
    """One line of evidence for the report: distinct determinant values, rows and groups examined, violations."""
    d = min(deps, key=lambda x: x.support_rows)
    violations = max(x.violations for x in deps)
    kind = {"uniform": _SAMPLE_METHODS.get(method, "uniform sample"), "groups": "whole-group sample",
            "foreign_key_join": "sampled rows joined to the referenced rows"}.get(d.kind, d.kind)
    return (f"evidence: {d.determinant_distinct:,} distinct determinant values, {d.support_rows:,} rows in "
            f"{d.groups:,} groups examined, {violations:,} violating rows ({kind})")


def _hit(snap: Snapshot, table: Table, ts: TableSample, det: tuple[str, ...], deps: list[Dependency],
         key: tuple[str, ...] | None) -> Hit:
    dependents = [d.dependent for d in deps]
    det_text = ", ".join(f"{table.qualified}.{c}" for c in det) if len(det) == 1 else \
        f"({', '.join(det)}) of {table.qualified}"
    fk = _fk_of(snap, table, det)
    copies = [d for d in deps if d.copies]
    plain = [d for d in deps if not d.copies]
    parts = []
    if copies:
        ref = f"{fk.ref_schema or table.schema}.{fk.ref_table}" if fk is not None and fk.ref_table else ""
        pairs = ", ".join(f"{table.qualified}.{d.dependent} copies {d.copies}" for d in copies)
        parts.append(f"{pairs} through the foreign key ({', '.join(det)}) to {ref}")
    if plain:
        dep_text = ", ".join(f"{table.qualified}.{d.dependent}" for d in plain)
        verb = "is" if len(plain) == 1 else "are"
        parts.append(f"{dep_text} {verb} determined by {det_text}")
    message = "; ".join(parts)
    if key is not None:
        message += f", part of the key ({', '.join(key)})"
    join = _join_of(ts, det)
    if plain and fk is not None and join is not None and not copies:
        message += (f" ({join.ref_schema}.{join.ref_table}, which {', '.join(det)} references, "
                    "has no column that holds the same values)")
    message += f"; {_evidence_text(deps, ts.method)}"
    details: dict[str, object] = {
        "determinant": list(det),
        "dependent": dependents,
        "evidence": {d.dependent: d.evidence(ts.rows, ts.method) for d in deps},
        "sample_rows": ts.rows,
        "sample_method": ts.method,
    }
    if key is not None:
        details["key"] = list(key)
    if copies and fk is not None and fk.ref_table is not None:
        ref = f"{fk.ref_schema or table.schema}.{fk.ref_table}"
        details["references"] = f"{fk.ref_schema or table.schema}.{fk.ref_table}"
        details["copies"] = {d.dependent: d.copies for d in copies}
        one = len(copies) == 1
        they, them, equal, copies_word = ("it", "it", "equals", "the copy") if one else \
            ("they", "them", "equal", "the copies")
        remediation = (f"-- {', '.join(d.dependent for d in copies)} {equal} the referenced row of {ref} on every "
                       f"sampled row. If {they} must keep the value as it was when the row was written (an "
                       f"invoice's billing address, a price at the time of sale), {they} {'is' if one else 'are'} "
                       f"a deliberate snapshot: keep {them} and suppress this finding. If {they} must follow the "
                       f"referenced row, read {them} from {ref} through {', '.join(det)} and drop {copies_word}:\n"
                       + "\n".join(_drop_column(snap, table, d.dependent) for d in copies))
        if plain:
            remediation += (f"\n-- move {', '.join(d.dependent for d in plain)} to a table keyed by "
                            f"{', '.join(det)}, referenced from {table.qualified}")
    else:
        remediation = (f"-- move {', '.join(dependents)} to a table keyed by {', '.join(det)}, "
                       f"referenced from {table.qualified}")
    near = any(d.violations for d in deps)
    return Hit(
        object=ObjectRef(type="table", schema=table.schema, table=table.name, columns=(*det, *dependents)),
        message=message,
        details=details,
        remediation=remediation,
        severity=Severity.INFO if near else None,
    )


def _drop_column(snap: Snapshot, table: Table, column: str) -> str:
    if snap.engine == "mysql":
        return f"ALTER TABLE {mysql_qualified(table.schema, table.name)} DROP COLUMN {mysql_ident(column)};"
    return f"ALTER TABLE {pg_qualified(table.schema, table.name)} DROP COLUMN {pg_ident(column)};"


def _split_near(group: list[Dependency]) -> list[list[Dependency]]:
    """Exact dependencies and near ones (info) in separate findings."""
    exact = [d for d in group if not d.violations]
    near = [d for d in group if d.violations]
    return [g for g in (exact, near) if g]


@check(code="NF03", name="partial-dependency", severity=Severity.WARNING, engines=BOTH,
       options=DependencyOptions, requires=(requires_sample,), needs=("sampling",))
def partial_dependency(snap: Snapshot, opts: DependencyOptions) -> Iterator[Hit]:
    """Non-key column determined by part of a composite key, found in the data sample (2NF).

    ## What it does
    For each table with a composite primary key (or a composite unique key whose columns are all NOT NULL),
    a candidate key (minimal: a unique key that holds another, such as UNIQUE (id, tenant_id) beside PRIMARY
    KEY (id), is a superkey, and what part of it determines is NF04's), looks in the sampled rows for a
    non-key column whose value is fixed by a proper subset of the key: every
    sampled row with the same `order_id` has the same `customer_id`, whatever the `product_id`. Dependencies
    are found on value codes (equality only, never the values), allowing a small error (`max_error`), and
    need support: the determinant's values must repeat, and independent columns must be very unlikely to
    agree that well. Columns of any declared key, columns unique in the sample and JSON documents (json,
    jsonb, MariaDB's JSON) are not dependents, and a document is no determinant either. Exact or nothing by
    default: a dependency with a violating row in the sample is no finding (see `near_dependencies`).

    Copies through foreign keys: the probe joins a sample of the rows to the rows each foreign key
    (single or composite) references and counts, per pair of columns of one type family, the rows where the
    two agree (compared on the server; only counts come back). A column that agrees with a column `Y` of the
    referenced row on every joined row is reported as "X copies parent.Y": the join proves it row by row,
    even when each parent appears once in the sample. Where the determinant is a foreign key but no column
    of the referenced table agrees, the wording is "is determined by", with a note that the referenced table
    has no such column; a table is never said to hold data it does not have. A column equal to the referenced
    row may be a deliberate snapshot (an invoice's billing address, a price at the time of sale): the fix
    says how to tell. The text, Markdown and HTML reports end each message with its evidence: distinct
    determinant values, rows and groups examined, violating rows and the kind of sample.

    ## Why is this bad?
    The dependent value is stored once per key row instead of once per determinant value: it is repeated,
    can disagree between rows (update anomalies), and cannot exist without a full key row. It breaks second
    normal form.

    ## Example
    ```sql
    CREATE TABLE order_items (order_id bigint, product_id bigint, customer_id bigint, qty int,
                              PRIMARY KEY (order_id, product_id));  -- customer_id depends on order_id alone
    ```

    ## Fix
    ```sql
    ALTER TABLE order_items DROP COLUMN customer_id;  -- read it from orders through order_id
    ```

    ## Options
    - `max_key_columns` (default 4): wider composite keys are not split.
    - `max_error` (default 0): the g3 error bound: the share of the witnessing rows (rows whose
      determinant value repeats) that may be removed for the dependency to hold exactly. 0: exact or nothing.
    - `near_dependencies` (default false), `near_max_error` (default 0.01): also report dependencies broken
      by at most this share of the witnessing rows, as info with their violation count (correlations of
      95-98 % stay silent either way).
    - `min_rows` (default 20), `min_support_rows` (default 20): sampled rows with a non-null determinant, and
      of them rows whose determinant value occurs at least twice.
    - `min_mean_group` (default 2.0): sampled rows per distinct determinant value; below it the dependency is
      nearly vacuous.
    - `max_determinant_uniqueness` (default 0.9): a determinant with more distinct values per row than this
      is nearly unique (a key), not a determinant.
    - `min_repeated_share` (default 0.1): share of the determinant's distinct sampled values seen on two rows
      or more (the groups that test the dependency): a nearly unique column whose few repeated values (a
      default such as '') hold many rows tests the dependency on almost none of its values.
    - `quasi_constant_share` (default 0.95): a dependent whose most common value covers this share of the
      sample is "determined" by anything, and is left out.
    - `max_chance` (default 1e-6): the probability that independent columns with the same value frequencies
      would agree within every consistent determinant group; a dependency more likely than this to be a
      coincidence is not reported.

    ## Known problems
    A sample shows what the data does, not what it must do: a dependency that holds by accident in the sample
    (or only in it) is reported, and one broken by a single row is not (unless `near_dependencies`). Needs
    the data sample (on by default, off with `--no-sample`). Deliberate denormalization (a price copied at
    order time) is reported too, worded as a copy with how to tell a snapshot; suppress it by check and
    object. MySQL/MariaDB join the first rows of the table, not a spread sample.

    ## References
    - https://en.wikipedia.org/wiki/Second_normal_form
    - Kivinen & Mannila, "Approximate inference of functional dependencies from relations" (g3 error), 1995
    """
    th = opts.thresholds()
    for table, ts in _sampled_facts(snap):
        keys = _candidate_keys(snap, table)
        prime = {c for k in keys for c in k}
        composite = [k for k in keys if 1 < len(k) <= opts.max_key_columns and _key_is_not_null(table, k)]
        if not composite:
            continue
        frame = _frame(ts)
        non_prime = [c.name for c in ts.columns if c.name not in prime and not frame.is_unique(c.name)]
        copies = [c for c in _copies(snap, table, ts, frame, th) if c.dependent not in prime]
        reported: set[tuple[tuple[str, ...], str]] = set()
        for key in composite:
            subsets = [s for size in range(1, len(key)) for s in combinations(key, size)]
            deps = frame.find_dependencies(subsets, non_prime, th)
            dependents = [c.name for c in ts.columns if c.name not in prime]
            deps = _with_groups(frame, deps, subsets, dependents, th)
            deps = _merge(deps, [c for c in copies if set(c.determinant) < set(key)])
            # keep minimal determinants only: (a) -> x makes (a, b) -> x redundant
            deps = [d for d in deps if not any(
                o.dependent == d.dependent and set(o.determinant) < set(d.determinant) for o in deps)]
            deps = [d for d in deps if (d.determinant, d.dependent) not in reported
                    and d.dependent not in table.policy_columns]
            for det, group in _group(snap, table, deps):
                reported.update((det, d.dependent) for d in group)
                for part in _split_near(group):
                    yield _hit(snap, table, ts, det, part, key)



def _null_heavy_text(frame: SampleFrame, ts: TableSample, column: str) -> bool:
    """A text column NULL in most sampled rows: free text filled now and then (a composer, a note) is no
    determinant; the few rows that have it say nothing about the others."""
    sample = next((c for c in ts.columns if c.name == column), None)
    if sample is None or type_family(sample.data_type) != "text" or not frame.rows:
        return False
    nonnull, _, _ = frame.column_stats(column)
    return nonnull < 0.5 * frame.rows


# names of text columns that hold codes or identifiers (a zip, a SKU, a reference, an e-mail), not free text
_CODE_NAMES = ("_id", "id", "_code", "code", "_no", "_num", "_key", "sku", "zip", "postcode", "postal_code", "_ref",
               "email")


# distinct values per sampled non-null row from which a text column is free text: a value every row or two
FREE_TEXT_UNIQUENESS = 0.5
# referenced rows per distinct text from which the text labels them: about one each (a name, an address)
LABEL_SHARE = 0.9


def _free_text(table: Table, column: str) -> bool:
    """A text column whose name says nothing of a code: an address, a name, a city; not a zip, a sku or an
    e-mail (an identifier: customer_email -> customer_id is reported)."""
    col = table.column(column)
    return col is not None and type_family(col.data_type) == "text" and not column.lower().endswith(_CODE_NAMES)


def _keyed_by_free_text(snap: Snapshot, table: Table, frame: SampleFrame, d: Dependency) -> bool:
    """A foreign key column said to depend on a free-text column, itself no foreign key, that is nearly unique
    in the sample or names about one referenced row per value.

    A text that labels one referenced row (each shipping address, or ship name, used by one customer) is a fact
    of that row, stored beside its key; "move customer_id to a table keyed by shipping_address" inverts the
    relationship, and no DBA keys a table by free text. A category that many referenced rows share the rows of
    (city -> region_id) is still reported. Where the key also determines the text, the pair is one-to-one and
    is reported under the foreign key."""
    det = d.determinant
    if len(det) != 1 or _fk_of(snap, table, (d.dependent,)) is None or _fk_of(snap, table, det) is not None \
            or det[0] not in frame or not _free_text(table, det[0]):
        return False
    nonnull, distinct, _ = frame.column_stats(det[0])
    nearly_unique = nonnull > 0 and distinct >= FREE_TEXT_UNIQUENESS * nonnull
    return nearly_unique or d.dependent_distinct >= LABEL_SHARE * d.determinant_distinct


def _key_is_not_null(table: Table, key: tuple[str, ...]) -> bool:
    cols = [table.column(c) for c in key]
    return all(c is not None and not c.nullable for c in cols)


@check(code="NF04", name="transitive-dependency", severity=Severity.WARNING, engines=BOTH,
       options=DependencyOptions, requires=(requires_sample,), needs=("sampling",))
def transitive_dependency(snap: Snapshot, opts: DependencyOptions) -> Iterator[Hit]:
    """Non-key column determined by another non-key column, found in the data sample (3NF).

    ## What it does
    Looks in the sampled rows of each table for a non-key column whose value is fixed by another non-key
    column: every row with the same `customer_id` has the same `customer_email`, or every row with the same
    `zip_code` the same `city`. Candidate keys (primary key, unique constraints, valid unique indexes; not
    an index left INVALID by a failed concurrent build, nor a superkey holding another key), columns
    unique in the sample, constant or nearly constant columns, and nearly unique columns are never
    determinants; the determinant's values must repeat (support) and independent columns must be very
    unlikely to agree that well. Two columns that determine each other (one-to-one) are reported once, and a
    dependency implied by two others (a -> b -> c) is reported only at its last step. Evidence is counts
    (distinct values, support, confidence, sample size), never values. Exact or nothing by default: a
    dependency with a violating row in the sample is no finding (see `near_dependencies`).

    Look-alikes that stay silent: where rows repeat the facts of another determinant (an invoice repeats its
    customer's city and state), a dependency between those facts (city -> state) is judged again on one row
    per that determinant, so a few dozen addresses do not pass for hundreds of rows. A dependent that two
    unrelated columns each determine (Chinook's track.unit_price, fixed by album and by genre because videos
    cost more) follows a hidden attribute of the rows, not either column, and is not reported. A text
    column NULL in most sampled rows (a note written now and then) is no determinant, and a column that a
    row-level security policy reads (a `tenant_id` beside the key that determines it) is carried for the
    policy, not a dependent (PostgreSQL). A foreign key column is never reported as determined by free text (a
    text column whose name says nothing of a code, unlike `zip`, `sku` or `email`, with at least one distinct
    value per two sampled rows or about one referenced row per value): a shipping address or a ship name used
    by one customer is a fact of that customer, and a table keyed by it is no fix; `city -> region_id` is
    reported.
    A JSON document (json, jsonb, or MariaDB's JSON: a LONGTEXT with a `json_valid` CHECK) is neither a
    determinant nor a dependent; the probes do not read it.

    Copies through foreign keys: the probe joins a sample of the rows to the rows each foreign key
    (single or composite) references and counts, per pair of columns of one type family, the rows where the
    two agree (compared on the server; only counts come back). A column that agrees with a column `Y` of the
    referenced row on every joined row is reported as "X copies parent.Y": the join proves it row by row,
    even when each parent appears once in the sample. Where the determinant is a foreign key but no column
    of the referenced table agrees, the wording is "is determined by", with a note that the referenced table
    has no such column; a table is never said to hold data it does not have. A column equal to the referenced
    row may be a deliberate snapshot (an invoice's billing address, a price at the time of sale): the fix
    says how to tell. The text, Markdown and HTML reports end each message with its evidence: distinct
    determinant values, rows and groups examined, violating rows and the kind of sample.

    ## Why is this bad?
    The dependent is a fact about the determinant, stored again on every row that mentions it: it wastes
    space, and an update of one row leaves the others disagreeing. It breaks third normal form.

    ## Example
    ```sql
    CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers, customer_email text);
    ```

    ## Fix
    ```sql
    ALTER TABLE orders DROP COLUMN customer_email;  -- join customers through customer_id
    ```

    ## Options
    - `max_error` (default 0): the g3 error bound: the share of the witnessing rows (rows whose
      determinant value repeats) that may be removed for the dependency to hold exactly. 0: exact or nothing.
    - `near_dependencies` (default false), `near_max_error` (default 0.01): also report dependencies broken
      by at most this share of the witnessing rows, as info with their violation count (correlations of
      95-98 % stay silent either way).
    - `min_rows` (default 20), `min_support_rows` (default 20): sampled rows with a non-null determinant, and
      of them rows whose determinant value occurs at least twice.
    - `min_mean_group` (default 2.0): sampled rows per distinct determinant value; below it the dependency is
      nearly vacuous.
    - `max_determinant_uniqueness` (default 0.9): a determinant with more distinct values per row than this
      is nearly unique (a key), not a determinant.
    - `min_repeated_share` (default 0.1): share of the determinant's distinct sampled values seen on two rows
      or more (the groups that test the dependency): a nearly unique column whose few repeated values (a
      default such as '') hold many rows tests the dependency on almost none of its values.
    - `quasi_constant_share` (default 0.95): a dependent whose most common value covers this share of the
      sample is "determined" by anything, and is left out.
    - `max_chance` (default 1e-6): the probability that independent columns with the same value frequencies
      would agree within every consistent determinant group; a dependency more likely than this to be a
      coincidence is not reported.

    ## Known problems
    A sample shows what the data does, not what it must do; on small tables coincidences are possible despite
    the chance bound, and deliberate denormalization (a snapshot of an address at order time) is reported,
    worded as a copy with how to tell a snapshot. Needs the data sample (on by default, off with
    `--no-sample`). MySQL/MariaDB join the first rows of the table to the referenced rows, not a spread
    sample.

    ## References
    - https://en.wikipedia.org/wiki/Third_normal_form
    """
    th = opts.thresholds()
    for table, ts in _sampled_facts(snap):
        keys = _candidate_keys(snap, table)
        prime = {c for k in keys for c in k}
        frame = _frame(ts)
        candidates = [c.name for c in ts.columns if c.name not in prime and not frame.is_unique(c.name)]
        determinants = [(c,) for c in candidates if not _null_heavy_text(frame, ts, c)]
        deps = frame.find_dependencies(determinants, candidates, th)
        non_prime = [c.name for c in ts.columns if c.name not in prime]
        group_dets = [det for det, _ in frame.group_frames() if not set(det) & prime]
        deps = _with_groups(frame, deps, group_dets, non_prime, th)
        in_keys = [set(k) for k in keys if len(k) > 1]
        copies = [c for c in _copies(snap, table, ts, frame, th) if c.dependent not in prime
                  and not any(set(c.determinant) <= k for k in in_keys) and not set(c.determinant) & prime]
        key_parts = _key_part_dependencies(ts, frame, keys, prime, th, opts.max_key_columns)
        deps = _drop_ambiguous(_drop_reversed(_drop_echoes(frame, _merge(deps, copies), th, key_parts)))
        deps = [d for d in deps if d.dependent not in table.policy_columns]
        for det, group in _group(snap, table, deps):
            # after _group: the dependency still hides what it implies (customer_id -> name under the address)
            group = [d for d in group if not _keyed_by_free_text(snap, table, frame, d)]
            for part in _split_near(group):
                yield _hit(snap, table, ts, det, part, None)

