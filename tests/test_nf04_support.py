"""NF04 on determinants that barely repeat (rt: "orders.customer_id is determined by shipping_address").

A determinant whose few repeated values (a default such as '') hold many rows, every other value seen once,
passes the rows-per-value bounds yet tests the dependency on almost none of its values; at least
``min_repeated_share`` of its distinct sampled values must occur twice. zip -> city at two or three rows per
zip still holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auditor.sample_analysis import SampleFrame
from auditor.sampling import FdThresholds


def _frame(det: Sequence[int], dep: Sequence[int]) -> SampleFrame:
    return SampleFrame(None, {"det": np.array(det, dtype=np.int64), "dep": np.array(dep, dtype=np.int64)})


def _repeated_plus_singletons(groups: int, rows_each: int, singletons: int) -> SampleFrame:
    """``groups`` values of ``rows_each`` rows, each with its own dependent value, then values seen once."""
    det = [g for g in range(groups) for _ in range(rows_each)] + list(range(groups, groups + singletons))
    dep = [g for g in range(groups) for _ in range(rows_each)] + [i % groups for i in range(singletons)]
    return _frame(det, dep)


def test_a_few_repeated_values_of_a_nearly_unique_determinant_are_no_evidence() -> None:
    # 5 values of 1,200 rows, 4,000 seen once: 2.5 rows per value, yet 5 of 4,005 values tested
    assert _repeated_plus_singletons(5, 1200, 4000).find_dependencies([("det",)], ["dep"], FdThresholds()) == []
    # the edge: 10 of 100 distinct values repeated is enough, 10 of 101 is not
    assert _repeated_plus_singletons(10, 100, 90).judge(("det",), "dep", FdThresholds()) is not None
    assert _repeated_plus_singletons(10, 100, 91).judge(("det",), "dep", FdThresholds()) is None


def test_zip_to_city_at_two_or_three_rows_per_zip_still_holds() -> None:
    rows = [z for z in range(1200) for _ in range(2 + z % 2)]  # 1,200 zips of 2 or 3 rows
    found = _frame(rows, [z // 4 for z in rows]).judge(("det",), "dep", FdThresholds())
    assert found is not None and found.groups == 1200 and found.violations == 0
