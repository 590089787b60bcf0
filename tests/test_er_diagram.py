"""The ER diagram's layout (reports.erdiagram): boxes never overlap, a referenced table sits above the tables that
reference it, wide layers wrap, names are escaped, and a big schema is trimmed to the most connected tables."""

from __future__ import annotations

import itertools
import re

from auditor.design import ER_MAX_TABLES, er_model
from reports.erdiagram import GAP_X, MARGIN, MAX_ROW_WIDTH, Box, layout, render_svg, short_type
from tests.builders import fk, pk, snap, table
from tests.report_samples import ODD_TABLE, design_snapshot


def _overlap(a: Box, b: Box) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def _assert_no_overlap(boxes: list[Box]) -> None:
    for a, b in itertools.combinations(boxes, 2):
        assert not _overlap(a, b), (a.label, b.label)


def test_referenced_tables_sit_above_and_nothing_overlaps() -> None:
    model = er_model(design_snapshot())
    lay = layout(model)
    boxes = lay.boxes
    assert set(boxes) == {e.key for e in model.entities}
    _assert_no_overlap(list(boxes.values()))
    for r in model.relations:
        assert boxes[r.parent].y + boxes[r.parent].height < boxes[r.child].y, r.constraint
    for b in boxes.values():
        assert b.x >= MARGIN and b.x + b.width <= lay.width - MARGIN + 0.01


def test_a_cycle_and_a_self_reference_are_drawn() -> None:
    s = snap(
        table("store", ["id", "manager_id"]), table("staff", ["id", "store_id", "boss_id"]),
        pk("store"), pk("staff"),
        fk("store", ["manager_id"], "staff"), fk("staff", ["store_id"], "store"), fk("staff", ["boss_id"], "staff"),
    )
    model = er_model(s)
    svg = render_svg(model)
    assert svg.count('class="er-edge"') == 3
    assert svg.count('class="er-entity"') == 2
    _assert_no_overlap(list(layout(model).boxes.values()))


def test_forty_tables_wrap_into_rows_and_the_rest_is_left_out() -> None:
    # a star: 60 tables referencing one hub, plus some chains; only the 40 most connected are drawn
    hub = table("hub", ["id"])
    leaves = [table(f"leaf_{n:02d}", ["id", "hub_id", "description text", "created_at timestamp with time zone"])
              for n in range(60)]
    s = snap(hub, pk("hub"), *leaves, *(pk(t.name) for t in leaves),
             *(fk(t.name, ["hub_id"], "hub") for t in leaves))
    model = er_model(s)
    assert len(model.entities) == ER_MAX_TABLES and len(model.omitted) == 21
    lay = layout(model)
    _assert_no_overlap(list(lay.boxes.values()))
    assert lay.width <= MAX_ROW_WIDTH + 2 * MARGIN
    rows = sorted({b.y for b in lay.boxes.values()})
    assert len(rows) >= 4  # the hub's 39 children wrapped onto several rows under it
    assert lay.boxes[("public", "hub")].y == rows[0]
    # a wrapped row is packed: neighbours GAP_X apart
    first = sorted((b for b in lay.boxes.values() if b.y == rows[1]), key=lambda b: b.x)
    assert all(abs(b.x - (a.x + a.width + GAP_X)) < 0.01 for a, b in itertools.pairwise(first))


def test_tables_without_relationships_go_to_a_grid_below() -> None:
    s = snap(table("a", ["id"]), table("b", ["id", "a_id"]), table("lonely", ["id"]), table("alone", ["id"]),
             pk("a"), pk("b"), fk("b", ["a_id"], "a"))
    boxes = layout(er_model(s)).boxes
    connected_bottom = max(boxes[("public", k)].y + boxes[("public", k)].height for k in ("a", "b"))
    assert boxes[("public", "lonely")].y > connected_bottom and boxes[("public", "alone")].y > connected_bottom


def test_names_are_escaped_and_long_types_shortened() -> None:
    svg = render_svg(er_model(design_snapshot()))
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert 'href="#t-Sales Data-odd &quot;name&quot; &lt;b&gt;&amp;amp;|%`x`"' in svg
    assert ODD_TABLE not in svg  # only its escaped form
    assert short_type("timestamp with time zone") == "timestamptz"
    assert short_type("character varying(20)") == "varchar(20)"
    assert len(short_type("a_very_long_user_defined_type_name")) == 18
    # every entity, edge and marker reference resolves inside the SVG
    for ref in re.findall(r"url\(#([^)]+)\)", svg):
        assert f'id="{ref}"' in svg
