"""The numpy half of data sampling: dense value codes, the sample frames and the functional-dependency search.

What the codes are and why they carry nothing of the values: see :mod:`auditor.sampling` (the privacy model).
This is the one module that imports numpy. It is imported only where a sample is taken (the connectors'
sampling probes, themselves imported when a scan samples) or judged (NF03/NF04 in checks.normalization), so a
scan that samples nothing (--no-sample, --from a snapshot without a sample) never loads numpy (~0.1-0.2 s of
start-up).

Everything here is pure: no connection, no I/O.
"""

from __future__ import annotations

import base64
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from auditor.model import (
    ColumnSample,
    Constraint,
    GroupSample,
    GroupSelection,
    ListProfile,
    Table,
    TableSample,
)
from auditor.sampling import (
    MAX_GROUP_CANDIDATES,
    Dependency,
    FdThresholds,
    SamplingBudget,
    list_profile,
    sample_examples,
    type_family,
)

Codes = npt.NDArray[np.int64]

_GROUP_FAMILIES = ("text", "int", "uuid", "number")  # codes, ids, names; not floats, times or flags
_IDISH = ("_id", "id", "_code", "code", "_no", "_num", "_key", "sku", "zip", "postcode", "postal_code", "_ref")


def profiled_column(name: str, data_type: str, hashes: Sequence[object], texts: list[str | None] | None,
                    budget: SamplingBudget) -> ColumnSample:
    """One column's sample: equality codes from the server-side hashes, plus, for a text column, the NF02
    list profile and (only with --show-samples) a few example values. The raw texts are not kept."""
    profile = None
    examples: tuple[str, ...] = ()
    if texts is not None:
        profile = list_profile(texts)
        if budget.show_samples:
            examples = sample_examples(texts, budget.examples_per_column)
    return column_sample(name, data_type, hashes, profile, examples)


def group_candidates(table: Table, sample: TableSample, constraints: Iterable[Constraint],
                     rows_per_table: int, limit: int = MAX_GROUP_CANDIDATES) -> list[tuple[str, ...]]:
    """Candidate determinants whose groups the uniform sample cannot see whole, best first.

    The uniform sample of a large table almost never holds two rows of a value that occurs two or three
    times in the table: a code with tens of thousands of values, an order id of a composite-key order-lines
    table, a foreign key. Those are the candidates: proper leading prefixes and single columns of composite
    declared keys (2NF), foreign keys (3NF), and other columns of a code-like type whose values rarely repeat
    in the sample (fewer than two rows per value) and are mostly non-NULL. Declared single-column keys are
    never candidates (their groups are one row). None when the uniform sample read the whole table (a plain
    read that stopped short of its LIMIT).
    """
    if sample.rows == 0 or (sample.method in ("full", "first_rows") and sample.rows < rows_per_table):
        return []
    frame = SampleFrame(sample)
    cols = {c.name: c for c in table.columns}
    constraints = list(constraints)
    unique_one = {k.columns[0] for k in constraints if k.type in ("primary_key", "unique") and len(k.columns) == 1}

    def sparse(det: tuple[str, ...]) -> bool:
        if not all(c in frame for c in det):
            return False
        codes = frame.combined(det)
        nonnull = int((codes >= 0).sum())
        if nonnull < max(20, sample.rows // 2):
            return False  # NULL-heavy: not a determinant worth a scan
        distinct = int(np.unique(codes[codes >= 0]).size)
        return nonnull / max(distinct, 1) < 2.0 * 1.5  # fewer than ~3 rows per value: support is thin

    found: list[tuple[str, ...]] = []
    for k in constraints:
        if k.type in ("primary_key", "unique") and len(k.columns) > 1:
            found += [tuple(k.columns[:i]) for i in range(1, len(k.columns))]
            found += [(c,) for c in k.columns[1:]]
    for k in constraints:
        if k.type == "foreign_key" and k.columns:
            found.append(tuple(k.columns))
    others = [c.name for c in table.columns if type_family(c.data_type) in _GROUP_FAMILIES]
    others.sort(key=lambda n: 0 if n.lower().endswith(_IDISH) else 1)
    found += [(c,) for c in others]
    out: list[tuple[str, ...]] = []
    for det in dict.fromkeys(found):
        if len(det) == 1 and det[0] in unique_one or not all(c in cols for c in det) or not sparse(det):
            continue
        out.append(det)
        if len(out) >= limit:
            break
    return out


def group_sample(columns: Sequence[tuple[str, str]], hashes: Sequence[Sequence[object]],
                 selections: Sequence[tuple[tuple[str, ...], Sequence[object]]], duration_s: float) -> GroupSample:
    """The GroupSample of rows fetched by a connector: per column its hashes (row-aligned), per candidate
    determinant the rows chosen for it (truthy flags)."""
    cols = tuple(column_sample(name, data_type, values) for (name, data_type), values in zip(columns, hashes,
                                                                                             strict=True))
    sels = []
    for det, flags in selections:
        mask = np.array([1 if f else 0 for f in flags], dtype=np.int64)
        sels.append(GroupSelection(determinant=tuple(det), mask=encode_codes(mask), rows=int(mask.sum())))
    rows = len(hashes[0]) if hashes else 0
    return GroupSample(rows=rows, duration_s=round(duration_s, 4), columns=cols, selections=tuple(sels))


def dense_codes(values: Sequence[object]) -> Codes:
    """Dense codes for a column of values or hashes: equal values share a code, NULL (None) is -1."""
    seen: dict[object, int] = {}
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = -1
        else:
            code = seen.get(v)
            if code is None:
                code = seen[v] = len(seen)
            out[i] = code
    return out


def encode_codes(codes: Codes) -> str:
    shifted = codes.astype(np.int64) + 1
    top = int(shifted.max()) if shifted.size else 0
    kind, dtype = ("u1", "<u1") if top < 1 << 8 else ("u2", "<u2") if top < 1 << 16 else ("u4", "<u4")
    raw = shifted.astype(dtype).tobytes()
    return kind + ":" + base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def decode_codes(text: str) -> Codes:
    if not text:
        return np.empty(0, dtype=np.int64)
    kind, _, payload = text.partition(":")
    dtype = {"u1": "<u1", "u2": "<u2", "u4": "<u4"}.get(kind)
    if dtype is None:
        raise ValueError(f"unknown code encoding {kind!r}")
    raw = zlib.decompress(base64.b64decode(payload))
    return np.frombuffer(raw, dtype=dtype).astype(np.int64) - 1


def column_sample(name: str, data_type: str, values: Sequence[object], profile: ListProfile | None = None,
                  examples: tuple[str, ...] = ()) -> ColumnSample:
    codes = dense_codes(values)
    nulls = int((codes < 0).sum())
    distinct = int(codes.max()) + 1 if codes.size and codes.max() >= 0 else 0
    return ColumnSample(name=name, data_type=data_type, codes=encode_codes(codes), distinct=distinct,
                        nulls=nulls, profile=profile, examples=examples)


class SampleFrame:
    """A table sample decoded for analysis: one code array per column, rows aligned."""

    def __init__(self, sample: TableSample | None, codes: dict[str, Codes] | None = None) -> None:
        self.sample = sample
        self.codes: dict[str, Codes] = codes if codes is not None else \
            {c.name: decode_codes(c.codes) for c in sample.columns} if sample is not None else {}
        self.rows = sample.rows if sample is not None else len(next(iter(self.codes.values()), ()))
        self._stats: dict[str, tuple[int, int, float]] = {}

    def rows_where(self, mask: npt.NDArray[np.bool_]) -> SampleFrame:
        """The frame of the rows ``mask`` selects."""
        return SampleFrame(None, {name: c[mask] for name, c in self.codes.items()})

    def first_of_each(self, columns: Sequence[str]) -> SampleFrame:
        """One row per distinct value of ``columns`` (rows where any is NULL dropped): facts stored once per
        determinant value, counted once."""
        combined = self.combined(columns)
        _, first = np.unique(combined, return_index=True)
        mask = np.zeros(self.rows, dtype=bool)
        mask[first] = True
        return self.rows_where(mask & (combined >= 0))

    def collision(self, column: str) -> float:
        """Probability that two sampled non-null values of ``column`` drawn at random are equal."""
        c = self.codes[column]
        c = c[c >= 0]
        if not c.size:
            return 1.0
        p = np.bincount(c).astype(np.float64) / c.size
        return float((p * p).sum())

    def __contains__(self, column: str) -> bool:
        return column in self.codes

    def column_stats(self, column: str) -> tuple[int, int, float]:
        """(non-null rows, distinct, top value share among all rows) of one column."""
        if column not in self._stats:
            c = self.codes[column]
            counts = np.bincount(c + 1)  # slot 0 counts NULLs
            nonnull = int(c.size - counts[0]) if counts.size else 0
            distinct = int((counts[1:] > 0).sum())
            top = float(counts.max() / c.size) if c.size else 1.0
            self._stats[column] = (nonnull, distinct, top)
        return self._stats[column]

    def is_unique(self, column: str) -> bool:
        nonnull, distinct, _ = self.column_stats(column)
        return nonnull == self.rows and distinct == self.rows and self.rows > 0

    def combined(self, columns: Sequence[str]) -> Codes:
        """Codes of a column tuple: NULL when any member is NULL."""
        out = self.codes[columns[0]].copy()
        for name in columns[1:]:
            other = self.codes[name]
            null = (out < 0) | (other < 0)
            mixed = out * (int(other.max()) + 1) + other
            _, inverse = np.unique(np.where(null, -1, mixed), return_inverse=True)
            out = inverse.astype(np.int64) - (1 if null.any() else 0)
            out[null] = -1
        return out

    def group_frames(self) -> list[tuple[tuple[str, ...], SampleFrame]]:
        """(determinant, frame of the rows chosen for it) for each selection of the table's group sample."""
        g = self.sample.groups if self.sample is not None else None
        if g is None or g.skipped_reason is not None or not g.rows:
            return []
        codes = {c.name: decode_codes(c.codes) for c in g.columns}
        whole = SampleFrame(None, codes)
        return [(sel.determinant, whole.rows_where(decode_codes(sel.mask) == 1)) for sel in g.selections if sel.rows]

    def find_dependencies(self, determinants: Iterable[tuple[str, ...]], dependents: Iterable[str],
                          th: FdThresholds) -> list[Dependency]:
        """Every dependency from one of ``determinants`` (column tuples) to one of ``dependents`` that holds."""
        deps = [d for d in dependents if d in self]
        out: list[Dependency] = []
        for determinant in determinants:
            if not all(c in self for c in determinant):
                continue
            det = _Determinant(self.combined(determinant))
            if not det.usable(th):
                continue
            for dependent in deps:
                if dependent in determinant:
                    continue
                found = dependency(self, det, determinant, dependent, th)
                if found is not None:
                    out.append(found)
        return out

    def judge(self, determinant: Sequence[str], dependent: str, th: FdThresholds) -> Dependency | None:
        """The one dependency ``determinant -> dependent`` on this frame, or None when it does not hold there."""
        if not all(c in self for c in (*determinant, dependent)):
            return None
        det = _Determinant(self.combined(determinant))
        return dependency(self, det, tuple(determinant), dependent, th) if det.usable(th) else None

    def violations_on(self, determinant: Sequence[str], dependent: str) -> tuple[int, int]:
        """(rows in repeated determinant groups, rows to remove for determinant -> dependent to hold) on this frame."""
        if not all(c in self for c in (*determinant, dependent)):
            return 0, 0
        det = _Determinant(self.combined(determinant))
        if det.support == 0:
            return 0, 0
        y = self.codes[dependent][det.mask][det.repeated] + 1
        kept, _ = _kept_rows(det.x, y)
        return det.support, det.support - kept


class _Determinant:
    """Per-determinant precomputation: which rows witness a dependency, grouped."""

    def __init__(self, codes: Codes) -> None:
        mask = codes >= 0
        x = codes[mask]
        self.mask = mask
        self.rows = int(x.size)
        counts = np.bincount(x) if x.size else np.zeros(0, dtype=np.int64)
        self.distinct = int((counts > 0).sum())
        repeated = counts[x] >= 2 if x.size else np.zeros(0, dtype=bool)
        self.support = int(repeated.sum())
        self.x = x[repeated]
        self.repeated = repeated
        # sizes of the repeated groups, in the order np.unique sorts their codes
        self.sizes = counts[counts >= 2]

    def usable(self, th: FdThresholds) -> bool:
        if self.rows < th.min_rows or self.distinct < 2 or self.support < th.min_support_rows:
            return False
        if self.sizes.size < th.min_repeated_share * self.distinct:
            return False
        if self.distinct / self.rows > th.max_determinant_uniqueness:
            return False
        return self.rows / self.distinct >= th.min_mean_group


def _kept_rows(x: Codes, y: Codes) -> tuple[int, Codes]:
    """Rows kept if each group keeps its most frequent dependent value; distinct values per group."""
    width = int(y.max()) + 1
    pairs, counts = np.unique(x * width + y, return_counts=True)
    groups = pairs // width
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    best = np.maximum.reduceat(counts, starts)
    pair_groups = np.diff(np.r_[starts, pairs.size])  # distinct dependent values per determinant group
    return int(best.sum()), pair_groups


def _chance(group_sizes_pure: Counter[int], y: Codes) -> float:
    """Chance that independent columns agree within every pure group: prod over groups of sum_v p_v^size."""
    freqs = np.bincount(y).astype(np.float64)
    p = freqs[freqs > 0] / y.size
    log_chance = 0.0
    for size, n_groups in group_sizes_pure.items():
        log_chance += n_groups * math.log(max(float((p**size).sum()), 1e-300))
    return math.exp(max(log_chance, -700.0))


def dependency(frame: SampleFrame, det: _Determinant, determinant: tuple[str, ...], dependent: str,
               th: FdThresholds) -> Dependency | None:
    """The dependency determinant -> dependent when the sample supports it within the thresholds."""
    _, dep_distinct, top = frame.column_stats(dependent)
    if dep_distinct < 2 or top >= th.quasi_constant_share:
        return None
    y = frame.codes[dependent][det.mask][det.repeated] + 1  # NULL is a value of the dependent here
    kept, pair_groups = _kept_rows(det.x, y)
    violations = det.support - kept
    if violations > th.max_error * det.support:
        return None
    # group sizes of the pure groups, for the chance estimate (impure groups give no evidence)
    pure_sizes = Counter(det.sizes[pair_groups == 1].tolist())
    chance = _chance(pure_sizes, y)
    if chance > th.max_chance:
        return None
    return Dependency(
        determinant=determinant,
        dependent=dependent,
        rows=det.rows,
        support_rows=det.support,
        determinant_distinct=det.distinct,
        dependent_distinct=dep_distinct,
        violations=violations,
        chance=chance,
        groups=int(det.sizes.size),
    )
