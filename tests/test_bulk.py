"""The helpers for objects made in bulk (auditor/bulk.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from auditor.bulk import leading_fields


@dataclass(frozen=True)
class _Point:
    x: int
    y: int
    label: str = ""


def test_leading_fields_accepts_the_first_fields_in_their_order() -> None:
    assert leading_fields(_Point, "x", "y") == ("x", "y")
    assert leading_fields(_Point, "x", "y", "label") == ("x", "y", "label")
    assert _Point(*(1, 2)) == _Point(x=1, y=2)


def test_leading_fields_refuses_another_order_or_a_field_that_is_not_first() -> None:
    # a builder passing (y, x) by position would swap them silently: refused when its module is imported
    with pytest.raises(TypeError, match="_Point's fields begin"):
        leading_fields(_Point, "y", "x")
    with pytest.raises(TypeError):
        leading_fields(_Point, "y")
    with pytest.raises(TypeError):
        leading_fields(_Point, "x", "y", "label", "extra")
