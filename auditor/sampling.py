"""Engine-independent parts of data sampling: budget, table choice, list profiles, coverage and notes.

Privacy model. A connector's sampling probe hashes every sampled value on the server and turns the hashes
into *dense codes* per column (0, 1, 2, ... in order of first appearance; NULL is -1). Codes preserve equality
inside one column -- all that distinct counts and functional-dependency discovery need -- and carry nothing of
the value itself: not even a hash that could be matched against guesses. Text columns also get a
:class:`ListProfile` (counts of delimited-list-looking values, and how much their items recur across values)
computed while the values are in memory, and then the values are dropped. Raw values are kept only as a few
``examples`` when the user passes ``--show-samples``.

Codes are stored in the snapshot as ``"u1:"``/``"u2:"``/``"u4:"`` + base64(zlib(little-endian code + 1)), so
that a 10,000-row column costs a few KB of JSON and loads without a per-value Python object.

The codes themselves, the sample frames and the functional-dependency search are numpy code, in
:mod:`auditor.sample_analysis`. Everything here is pure: no connection, no I/O.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor.model import (
    Constraint,
    ListProfile,
    Note,
    Sampling,
    Table,
    TableSample,
)

if TYPE_CHECKING:
    from auditor.connectors import CollectOptions

# Nothing here imports numpy: the codes, the frames and the dependency search that need it live in
# auditor.sample_analysis, imported only where a sample is taken or judged, so that a scan that samples nothing
# (--no-sample, --from a snapshot without a sample) does not pay numpy's import (~0.1-0.2 s of start-up).


# ------------------------------------------------------------------------------------------------------------
# Budget
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplingBudget:
    """Limits of the sampling probe; every one is a bound, so a scan's cost does not depend on the data."""

    rows_per_table: int = 10_000
    table_timeout_s: float = 5.0  # per-table statement_timeout
    budget_s: float = 60.0  # whole probe; tables left when it runs out are skipped with a note
    max_tables: int = 200  # past it, the tables with the fewest rows are skipped with a note (sampling_choice)
    max_columns: int = 100  # wider tables are skipped
    max_table_bytes: int = 1 << 40  # 1 TiB: above it even TABLESAMPLE SYSTEM is not worth the risk
    full_read_rows: int = 20_000  # tables estimated at or below this are read whole (up to rows_per_table)
    # whole-group sample: tables estimated above this are not scanned for it; on PostgreSQL their candidate
    # determinants that lead an index are read through it instead (= ANY of values drawn by TABLESAMPLE)
    group_scan_max_rows: int = 5_000_000
    bernoulli_max_rows: int = 1_000_000  # up to this, row-level BERNOULLI; above, block-level SYSTEM
    profile_chars: int = 512  # text is cut to this length before profiling
    show_samples: bool = False
    examples_per_column: int = 3
    # values one table's sample may hold on the client (rows x sampled expressions): the timeouts bound the
    # server's work, this bounds the client's time and memory (hashing, list profiles, the dependency checks)
    # whatever --sample-rows asks; the default rows of the widest sampled table stay below it
    max_values: int = 2_000_000
    # ``--timeout`` (seconds) when it shortened ``budget_s`` (auditor.connectors: what was left of it), else None
    cut_by_timeout_s: float | None = None

    def used_up(self) -> str:
        """Why a table met after the budget ran out is not sampled, rounded figures."""
        if self.cut_by_timeout_s is not None:
            if self.budget_s < MIN_TABLE_SECONDS:
                return f"--timeout {self.cut_by_timeout_s:g} s left no time for sampling"
            return (f"--timeout {self.cut_by_timeout_s:g} s left {self.budget_s:.1f} s for sampling, "
                    "used up")
        return f"the sampling budget of {round(self.budget_s, 1):g} s was used up"

    def rows_for(self, values_per_row: int) -> int:
        """Rows to sample from a table whose sample holds ``values_per_row`` values per row."""
        return max(1, min(self.rows_per_table, self.max_values // max(1, values_per_row)))

    @classmethod
    def from_options(cls, options: CollectOptions) -> SamplingBudget:
        return cls(rows_per_table=options.sample_rows, table_timeout_s=options.sample_table_timeout_s,
                   budget_s=options.sample_budget_s, max_tables=options.sample_max_tables,
                   show_samples=options.show_samples,
                   cut_by_timeout_s=options.timeout_s if options.sample_budget_cut else None)


# Seconds of budget below which no further table is started: a sample could not finish in it.
MIN_TABLE_SECONDS = 0.2


def sampling_choice(tables: list[Table], max_tables: int) -> set[tuple[str, str]]:
    """The tables the sample reads when there are more than ``max_tables``: those with rows, the most rows first
    (the statistics' estimate), then those never analyzed (no estimate), the empty ones last. In schema and name
    order, a schema of thousands of empty or lookup tables spent the whole limit before its big tables."""
    if len(tables) <= max_tables:
        return {t.key for t in tables}

    def rank(t: Table) -> tuple[int, int, str, str]:
        rows = t.estimated_rows
        if rows is None or rows < 0:
            return (1, 0, t.schema, t.name)
        return (2, 0, t.schema, t.name) if rows == 0 else (0, -rows, t.schema, t.name)

    return {t.key for t in sorted(tables, key=rank)[:max_tables]}


def past_the_limit(max_tables: int) -> str:
    return f"past the limit of {max_tables} sampled tables (those with the most rows are sampled)"


def skipped_table(table: Table, reason: str) -> TableSample:
    return TableSample(schema=table.schema, table=table.name, estimated_rows=table.estimated_rows,
                       skipped_reason=reason)


def sampling_off(budget: SamplingBudget | None = None) -> Sampling:
    """What the snapshot records under ``--no-sample``: the checks then say how to turn sampling on."""
    budget = budget or SamplingBudget()
    return Sampling(enabled=False, show_samples=False, rows_per_table=budget.rows_per_table, budget_s=0.0)


def over_limits(table: Table, budget: SamplingBudget, remaining_s: float) -> TableSample | None:
    """The skipped record of a table too wide or too big to sample, or met after the budget ran out."""
    if len(table.columns) > budget.max_columns:
        return skipped_table(table, f"{len(table.columns)} columns, more than the limit of {budget.max_columns}")
    if table.total_bytes is not None and table.total_bytes > budget.max_table_bytes:
        return skipped_table(table, f"{table.total_bytes} bytes, more than the limit of {budget.max_table_bytes}")
    if remaining_s < MIN_TABLE_SECONDS:
        return skipped_table(table, budget.used_up())
    return None


def sample_examples(texts: Iterable[str | None], limit: int, max_chars: int = 80) -> tuple[str, ...]:
    """A few distinct values cut to ``max_chars``, list-looking ones first (they are what NF02 shows)."""
    seen: list[str] = []
    texts = list(texts)
    for want_list in (True, False):
        for t in texts:
            if t is None or t[:max_chars] in seen or (list_items(t) is not None) != want_list:
                continue
            seen.append(t[:max_chars])
            if len(seen) >= limit:
                return tuple(seen)
    return tuple(seen)


# ------------------------------------------------------------------------------------------------------------
# Copies through foreign keys: which child/parent column pairs the join probe compares
# ------------------------------------------------------------------------------------------------------------

MAX_PAIRS_PER_FK = 120  # aggregates per join query stay bounded whatever the tables' widths

_FAMILIES = {
    "text": "text", "character varying": "text", "varchar": "text", "character": "text", "char": "text",
    "bpchar": "text", "citext": "text", "name": "text", "tinytext": "text", "mediumtext": "text",
    "longtext": "text", "enum": "text", "smallint": "int", "integer": "int", "bigint": "int", "int": "int",
    "tinyint": "int", "mediumint": "int", "int2": "int", "int4": "int", "int8": "int", "numeric": "number",
    "decimal": "number", "real": "float", "double precision": "float", "double": "float", "float": "float",
    "money": "number", "timestamp with time zone": "time", "timestamp without time zone": "time",
    "timestamp": "time", "datetime": "time", "date": "date", "uuid": "uuid", "boolean": "bool", "bool": "bool",
}


def type_family(data_type: str) -> str:
    """A coarse family of a column type: columns of one family can hold copies of each other."""
    base = data_type.lower().split("(", 1)[0].strip()
    for suffix in (" unsigned", " zerofill"):
        base = base.removesuffix(suffix)
    return _FAMILIES.get(base, base)


_JSON_VALID = re.compile(r"json_valid\s*\(\s*(?:`((?:[^`]|``)+)`|([A-Za-z0-9_$]+))\s*\)", re.IGNORECASE)


def json_document_columns(table: Table, constraints: Iterable[Constraint]) -> set[str]:
    """The columns of ``table`` that hold JSON documents: a json/jsonb type, or (MariaDB, whose JSON is an alias
    of LONGTEXT) a CHECK constraint of the table calling ``json_valid(column)``. A document is no list item nor
    a fact other columns depend on: the sampling probes do not read it and NF03/NF04 never judge it."""
    names = {c.name for c in table.columns if c.data_type.lower().strip() in ("json", "jsonb")}
    for con in constraints:
        if con.type == "check" and con.definition and "json_valid" in con.definition.lower():
            for quoted, bare in _JSON_VALID.findall(con.definition):
                name = quoted.replace("``", "`") if quoted else bare
                if table.column(name) is not None:
                    names.add(name)
    return names


def copy_pairs(child: Table, parent: Table, fk: Constraint, sampled: Callable[[str], bool],
               key_columns: Iterable[str] = (), limit: int = MAX_PAIRS_PER_FK) -> list[tuple[str, str]]:
    """(child column, parent column) pairs the foreign-key join probe compares: same type family, both of a
    sampled type; not the foreign key's own columns, not the child's key columns (they identify, they are
    not copies), not the referenced key. Nearest names first, at most ``limit`` pairs."""
    skip_child = set(fk.columns) | set(key_columns)
    skip_parent = set(fk.ref_columns)
    kids = [c for c in child.columns if c.name not in skip_child and sampled(c.data_type)]
    parents = [c for c in parent.columns if c.name not in skip_parent and sampled(c.data_type)]
    pairs = [(k.name, p.name) for k in kids for p in parents if type_family(k.data_type) == type_family(p.data_type)]

    def nearness(pair: tuple[str, str]) -> tuple[int, int]:
        k, p = pair[0].lower(), pair[1].lower()
        return (0 if k == p else 1 if k.endswith(p) or p.endswith(k) else 2, 0)

    return sorted(pairs, key=nearness)[:limit]


# ------------------------------------------------------------------------------------------------------------
# Group sampling: whole groups of high-cardinality candidate determinants
# ------------------------------------------------------------------------------------------------------------

MAX_GROUP_CANDIDATES = 6  # determinants per table whose groups a second, hash-keyed sample keeps whole
HASH_SLICES = 1 << 20  # the hash space is cut into this many slices; a candidate takes the first k
GROUP_SEED = 7  # a seed of its own, so that the chosen values do not follow the uniform sample's order


def group_threshold(estimated_rows: int | None, rows_per_table: int, candidates: int) -> int:
    """How many of the ``HASH_SLICES`` slices each candidate takes: about rows_per_table / candidates rows."""
    est = max(int(estimated_rows or 0), 1)
    share = 0.8 * (rows_per_table / max(candidates, 1)) / est  # 80 %: LIMIT should not cut the scan short
    return max(1, min(HASH_SLICES, int(share * HASH_SLICES)))


# ------------------------------------------------------------------------------------------------------------
# Coverage: why tables were not sampled, in words the checks and reports share
# ------------------------------------------------------------------------------------------------------------

EMPTY = "empty"  # a sampled table with no rows: nothing to judge, though nothing failed


def _fix_for(reason: str) -> str | None:
    if reason.startswith("--timeout"):
        return "give the whole scan more time with --timeout SECONDS (default 600)"
    if "budget" in reason:
        return "give the probe more time with --sample-budget SECONDS (default 60)"
    if "privilege" in reason:
        return "GRANT SELECT on the tables to the role that scans"
    if "took longer" in reason or "locked" in reason:
        return "scan when the server is less busy, or sample fewer rows with --sample-rows"
    return None


def skipped_tables(sampling: Sampling) -> Counter[str]:
    """Tables the sample cannot judge, counted by reason (``EMPTY`` for tables sampled with no rows)."""
    return Counter(t.skipped_reason or EMPTY for t in sampling.tables if t.skipped_reason is not None or t.rows == 0)


def describe_skips(skips: Counter[str], limit: int = 3) -> str:
    """'9: the sampling budget of 60 s was used up; 2: empty' -- the commonest reasons first."""
    parts = [f"{n}: {'no rows' if reason == EMPTY else reason}" for reason, n in skips.most_common(limit)]
    rest = sum(skips.values()) - sum(n for _, n in skips.most_common(limit))
    if rest:
        parts.append(f"{rest}: other reasons")
    return "; ".join(parts)


def sampling_gap(sampling: Sampling | None, notes: Iterable[Note] = ()) -> tuple[str, str | None] | None:
    """(reason, how to fix) when the data sample can judge no table at all, else None.

    Tells apart the cases a user acts on differently: the probe failed (its note says why), the snapshot comes
    from a collector older than sampling, sampling was turned off, and every table was skipped (no privilege,
    budget used up...) or empty.
    """
    if sampling is None:
        stopped = next((n for n in notes if n.area == "sampling"), None)
        if stopped is not None:
            return stopped.message, stopped.enable or "fix the cause above and scan again"
        return ("the snapshot holds no data sample: it was written by a dbaudit from before data sampling",
                "collect the snapshot again with this dbaudit (sampling is on unless --no-sample)")
    if not sampling.enabled:
        return ("data sampling was off (--no-sample)",
                "run the scan without --no-sample (data sampling is on by default)")
    skips = skipped_tables(sampling)
    if not sampling.tables or sum(skips.values()) < len(sampling.tables):
        return None  # some table was sampled (or there is no table to judge)
    if set(skips) == {EMPTY}:
        return f"every sampled table is empty ({len(sampling.tables)})", None
    reason = f"no table could be sampled ({describe_skips(skips)})"
    fixes = [f for f in (_fix_for(r) for r, _ in skips.most_common()) if f]
    return reason, "; ".join(dict.fromkeys(fixes)) or None


# ------------------------------------------------------------------------------------------------------------
# Delimited-list profile (NF02)
# ------------------------------------------------------------------------------------------------------------

DELIMITERS = (",", ";", "|")
MAX_ITEM_CHARS = 40
MAX_ITEM_WORDS = 3

_DECIMAL_COMMA = re.compile(r"^[-+]?\d{1,3}(?:\.\d{3})*,\d+$|^[-+]?\d+,\d+$")
_INT = re.compile(r"^[-+]?\d+$")
_NUMBER = re.compile(r"^[-+]?\d*[.,]?\d+(?:[eE][-+]?\d+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)
_ALPHA_WORDS = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+){0,2}$")
_TOKEN = re.compile(r"^[\w][\w.\-:/#+]*$")
# Sentences, not lists: an item holding one of these words is prose ("I liked it, and it works").
_STOP_WORDS = frozenset(re.findall(r"\w+", (
    "a an and are as at be but by for from has have he her his i if in is it its me my not of on or our "
    "she so that the their they this to was we were with you your"
)))


def _item_class(item: str) -> str | None:
    """Shape of one list item; None when it does not look like a list item at all."""
    if not item or len(item) > MAX_ITEM_CHARS or item[-1] in ".!?" and not _NUMBER.match(item):
        return None
    if _INT.match(item):
        return "int"
    if _NUMBER.match(item):
        return "number"
    if _EMAIL.match(item):
        return "email"
    if _URL.match(item):
        return "url"
    if _ALPHA_WORDS.match(item):
        words = item.lower().replace("-", " ").replace("'", " ").split()
        if len(words) > MAX_ITEM_WORDS or words[0] in _STOP_WORDS or words[-1] in _STOP_WORDS:
            return None  # "and it works", "I liked it": prose; "Behind the Scenes" is a name
        return "words"
    if _TOKEN.match(item):
        return "token"
    return None  # "12 Main St", "IL 62701": multi-word with digits is an address part, not a list item


_MIXABLE = frozenset({"int", "words", "token"})
RECURRING_SHAPES = ("words", "mixed")  # shapes prose can take: counted as lists only when their items recur


def list_shape(value: str) -> tuple[str, list[str], str] | None:
    """(delimiter, items, item shape) when ``value`` looks like a delimited list, else None.

    A list has at least two non-empty items of one shape (all integers, all e-mails, all short word groups,
    all codes...), none of them prose (no sentence end, no stop word), no item longer than 40 characters. A
    JSON array stored as text is a list whatever its length (shape ``"json"``).
    """
    text = value.strip()
    if not text:
        return None
    if text[0] == "[" and text[-1] == "]":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return "json", [str(x) for x in parsed], "json"
    if _DECIMAL_COMMA.match(text):
        return None
    for delim in DELIMITERS:
        if delim not in text:
            continue
        items = [p.strip() for p in text.split(delim)]
        if items and items[-1] == "" and len(items) > 2:
            items.pop()  # a trailing delimiter ("a,b,c,") is still a list
        if len(items) < 2:
            continue
        classes = {_item_class(i) for i in items}
        if len(classes) == 1 and None not in classes:
            return delim, items, classes.pop() or ""
        if None not in classes and classes <= _MIXABLE:
            return delim, items, "mixed"  # codes and words ("A12, blue, XL-3"): a list if its items recur
    return None


def list_items(value: str) -> tuple[str, list[str]] | None:
    """(delimiter, items) when ``value`` looks like a delimited list (see :func:`list_shape`), else None."""
    found = list_shape(value)
    return None if found is None else (found[0], found[1])


def item_recurrence(lists: Iterable[tuple[str, ...]]) -> float | None:
    """Share of item occurrences whose item also occurs in another of the distinct ``lists``.

    Counted over distinct lists, not rows: a review repeated in a thousand rows is still one text. Tags,
    sizes or names reuse a small vocabulary across values ("golf;tennis", "chess;golf"); terse free text
    ("Great product, fast shipping") puts different phrases in every value. None with fewer than two
    distinct lists: nothing to compare.
    """
    distinct = [tuple(dict.fromkeys(items)) for items in set(lists)]
    if len(distinct) < 2:
        return None
    spread = Counter(item for items in distinct for item in items)
    total = sum(len(items) for items in distinct)
    recurring = sum(1 for items in distinct for item in items if spread[item] >= 2)
    return round(recurring / total, 3) if total else None


def position_overlap(lists: Iterable[tuple[str, ...]], singles: Iterable[str] = ()) -> float | None:
    """Share of the distinct items of ``lists`` seen at two or more positions (a value holding one item
    alone counts as position 0). Pairs keep their parts in place ("Smith, John": surnames first, given names
    second; "Austin, TX"); lists do not ("red,green", "green,blue"). None without a list to measure."""
    positions: dict[str, set[int]] = {}
    for items in lists:
        for i, item in enumerate(items):
            positions.setdefault(item, set()).add(i)
    if not positions:
        return None
    for item in singles:
        if item in positions:
            positions[item].add(0)
    moved = sum(1 for p in positions.values() if len(p) > 1)
    return round(moved / len(positions), 3)


def list_profile(values: Iterable[str | None]) -> ListProfile:
    """Count the values that hold delimited lists, for the dominant delimiter.

    The values are read once, in memory; only counts and shares come out (see the module's privacy model).
    """
    non_null = 0
    per_delim: dict[str, list[int]] = {}
    word_lists: dict[str, list[tuple[str, ...]]] = {}  # word-group lists per delimiter, items case-folded
    all_lists: dict[str, set[tuple[str, ...]]] = {}  # distinct lists per delimiter, items case-folded
    singles: set[str] = set()  # short values that hold no list: an item standing alone
    for v in values:
        if v is None:
            continue
        non_null += 1
        found = list_shape(v)
        if found is None:
            text = " ".join(v.lower().split())
            if text and len(text) <= MAX_ITEM_CHARS:
                singles.add(text)
            continue
        delim, items, shape = found
        per_delim.setdefault(delim, []).append(len(items))
        folded = tuple(" ".join(i.lower().split()) for i in items)
        all_lists.setdefault(delim, set()).add(folded)
        if shape in RECURRING_SHAPES:
            word_lists.setdefault(delim, []).append(folded)
    if not per_delim:
        return ListProfile(non_null=non_null)
    delim, counts = max(per_delim.items(), key=lambda kv: len(kv[1]))
    words = word_lists.get(delim, [])
    return ListProfile(
        position_overlap=position_overlap(all_lists.get(delim, set()), singles),
        non_null=non_null,
        list_rows=len(counts),
        delimiter=delim,
        avg_items=round(sum(counts) / len(counts), 3),
        two_item_share=round(sum(1 for c in counts if c == 2) / len(counts), 3),
        word_list_rows=len(words),
        item_recurrence=item_recurrence(words) if words else None,
    )


# ------------------------------------------------------------------------------------------------------------
# Functional dependencies (NF03, NF04)
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FdThresholds:
    """When a dependency found in a sample counts; the checks' options carry the same fields."""

    max_error: float = 0.01  # g3: share of the repeated rows to remove for the FD to hold exactly
    min_rows: int = 20  # sampled rows with a non-null determinant
    min_support_rows: int = 20  # rows whose determinant value occurs at least twice
    min_mean_group: float = 2.0  # rows per distinct determinant value: below it the FD is nearly vacuous
    max_determinant_uniqueness: float = 0.9  # distinct/rows above it: nearly unique, a key, not a determinant
    # share of the determinant's distinct values seen on two rows or more (the groups that test the FD): a nearly
    # unique column whose few repeated values (a default such as '') hold many rows passes the rows-per-value
    # bounds, yet tests the FD on almost none of its values
    min_repeated_share: float = 0.1
    quasi_constant_share: float = 0.95  # a dependent this constant is 'determined' by anything
    max_chance: float = 1e-6  # probability that independent columns would agree this well


# The evidence's "sampling" of a dependency found in a table's first sample, by how its rows were chosen
# (TableSample.method): BERNOULLI picks each row alike (uniform); SYSTEM whole pages (block: rows stored together
# come together); MySQL/MariaDB read the whole table, its first rows or primary-key ranges.
FIRST_SAMPLE_KINDS = {"bernoulli": "uniform", "system": "block", "full": "whole_table", "first_rows": "first_rows",
                      "pk_ranges": "pk_ranges"}


@dataclass(frozen=True)
class Dependency:
    determinant: tuple[str, ...]
    dependent: str
    rows: int  # rows with a non-null determinant
    support_rows: int  # of which in repeated determinant groups: the rows that witness the FD
    determinant_distinct: int
    dependent_distinct: int
    violations: int  # rows to remove for the FD to hold exactly
    chance: float  # probability that independent columns would look this dependent
    groups: int = 0  # determinant values whose rows were examined together (repeated groups, or parents)
    kind: str = "uniform"  # the sample that showed it: "uniform", "groups" (whole groups), "foreign_key_join"
    copies: str | None = None  # "schema.table.column" of the referenced row's column the dependent equals

    @property
    def error(self) -> float:
        return self.violations / self.support_rows if self.support_rows else 1.0

    @property
    def confidence(self) -> float:
        return 1.0 - self.error

    def evidence(self, sample_rows: int, method: str = "") -> dict[str, object]:
        """The figures behind the dependency; ``method`` is the table sample's (TableSample.method), which names
        the sampling of a dependency found in it."""
        return {
            "sample_rows": sample_rows,
            "determinant_distinct": self.determinant_distinct,
            "dependent_distinct": self.dependent_distinct,
            "support_rows": self.support_rows,
            "violating_rows": self.violations,
            "confidence": round(self.confidence, 4),
            "chance": float(f"{self.chance:.3g}"),
            "groups": self.groups,
            "sampling": FIRST_SAMPLE_KINDS.get(method, method or "uniform") if self.kind == "uniform" else self.kind,
            **({"copies": self.copies} if self.copies else {}),
        }


# ------------------------------------------------------------------------------------------------------------
# Notes
# ------------------------------------------------------------------------------------------------------------

# tables named per note at the most; the message gives the full count
NOTE_OBJECTS = 50


def skipped_notes(sampling: Sampling) -> tuple[Note, ...]:
    """One note per reason a table was not sampled (a lock, a timeout, a yield to a waiting session, the
    limits), naming the tables, so that a report says what its normalization verdicts did not see; likewise for
    the foreign-key joins and group samples of sampled tables that could not be read (a referenced table locked
    by another session's LOCK TABLES ... WRITE, a timeout)."""
    by_reason: dict[str, list[str]] = {}
    for t in sampling.tables:
        if t.skipped_reason:
            by_reason.setdefault(t.skipped_reason, []).append(f"{t.schema}.{t.table}")
    # a table sampled whose rows could not be joined to those its foreign keys reference (the referenced table
    # locked, too slow...) or whose group sample failed: its copies and dependencies are judged on less
    joins: dict[str, list[str]] = {}
    groups: dict[str, list[str]] = {}
    for t in sampling.tables:
        for j in t.fk_joins:
            if j.skipped_reason:
                joins.setdefault(j.skipped_reason, []).append(
                    f"{t.schema}.{t.table} -> {j.ref_schema}.{j.ref_table} ({j.constraint})")
        if t.groups is not None and t.groups.skipped_reason:
            groups.setdefault(t.groups.skipped_reason, []).append(f"{t.schema}.{t.table}")
    notes = []
    for what, found in (("not sampled", by_reason),
                        ("not sampled (NF03/NF04 do not compare those rows with the referenced ones)", joins),
                        ("without a group sample (NF02-NF04 judge them on the uniform sample)", groups)):
        for reason, names in found.items():
            more = f" (the first {NOTE_OBJECTS} named)" if len(names) > NOTE_OBJECTS else ""
            count = "1 table" if len(names) == 1 else f"{len(names)} tables"
            if found is joins:
                count = "1 foreign key join" if len(names) == 1 else f"{len(names)} foreign key joins"
            notes.append(Note(area="sampling", message=f"{count} {what}: {reason}{more}",
                              objects=tuple(names[:NOTE_OBJECTS])))
    return tuple(notes)
