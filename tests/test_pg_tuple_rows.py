"""The collector's large catalog areas come as tuple rows, read by column name (session.TupleRows)."""

from __future__ import annotations

import pytest

from auditor.connectors.postgres.session import TupleRows, as_tuples


def test_fields_read_by_name_in_the_order_asked() -> None:
    rows = TupleRows([("public", "orders", 3), ("app", "users", 1)], ["schema", "table", "position"])
    assert list(map(rows.fields("position", "schema"), rows)) == [(3, "public"), (1, "app")]
    assert list(map(rows.fields("table"), rows)) == [("orders",), ("users",)]  # one name: still a tuple


def test_rows_not_read_have_no_columns_and_nothing_to_read() -> None:
    rows = TupleRows()
    assert list(map(rows.fields("schema", "table"), rows)) == []


def test_a_column_the_file_does_not_have_is_an_error() -> None:
    with pytest.raises(ValueError):
        TupleRows([("public",)], ["schema"]).fields("schema", "name")


def test_dict_rows_are_refused_where_tuples_are_expected() -> None:
    with pytest.raises(TypeError):
        as_tuples([{"schema": "public"}])
