"""The entity-relationship diagram of the HTML report, laid out here and drawn as inline SVG.

No JavaScript library and no network: the layout is a small layered (Sugiyama-style) drawing done at report
time, so the diagram is in the file, prints, and shows the same in every browser.

* Layers: a referenced table sits above the tables that reference it (longest path from the tables that
  reference nothing; cycles are broken where a depth-first walk meets them; self-references are drawn as loops).
  A table with no relationship at all goes to a grid below the connected ones.
* Order inside a layer: a few barycenter sweeps (each table moves toward the mean position of its neighbours in
  the layers already placed), the classic heuristic to cut crossings.
* A layer wider than ``MAX_ROW_WIDTH`` wraps onto several rows, so 40 tables stay readable at 1,000 px when the
  drawing is scaled to the page (the page offers "actual size" with scrolling for the dense ones).
* Edges run from the bottom of the referenced table to the top of the referencing one, with crow's-foot ends:
  ``||`` one (a NOT NULL foreign key) or ``o|`` zero-or-one (a nullable one) at the referenced side, ``o{`` zero
  or many (or ``o|`` when the foreign key is also a unique key) at the referencing side, as in the Mermaid source.

Every name goes through html.escape; long types are shortened in the box with the full text in a tooltip.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass

from auditor.design import ErEntity, ErModel, ErRelation

CHAR_W = 7.0  # 12 px monospace advance, rounded up a little
TITLE_CHAR_W = 7.6  # the bold title
LINE_H = 17
TITLE_H = 24
PAD_X = 8
GAP_X = 36
GAP_Y = 64  # between rows: room for the edges' curves and crow's feet
MARGIN = 12
MAX_ROW_WIDTH = 1400
MAX_NAME_CHARS = 28
MAX_TYPE_CHARS = 18
MIN_BOX_W = 120
SWEEPS = 6

Key = tuple[str, str]


@dataclass
class Box:
    entity: ErEntity
    label: str
    width: float
    height: float
    layer: int = 0
    x: float = 0.0
    y: float = 0.0

    @property
    def cx(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class Layout:
    boxes: dict[Key, Box]
    width: float
    height: float


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# PostgreSQL's long type names and the short aliases it accepts for them: the box stays narrow, the tooltip keeps
# the catalog's spelling
_TYPE_ALIASES = (
    ("timestamp without time zone", "timestamp"),
    ("timestamp with time zone", "timestamptz"),
    ("time without time zone", "time"),
    ("time with time zone", "timetz"),
    ("character varying", "varchar"),
    ("double precision", "float8"),
    ("character", "char"),
)


def short_type(data_type: str) -> str:
    for long, alias in _TYPE_ALIASES:
        if data_type.startswith(long):
            return _short(alias + data_type[len(long):], MAX_TYPE_CHARS)
    return _short(data_type, MAX_TYPE_CHARS)


def _key_width(e: ErEntity) -> float:
    return max((len(",".join(a.keys)) for a in e.attributes), default=0) * 6.6 + 8


def _label(e: ErEntity, multi_schema: bool) -> str:
    return f"{e.schema}.{e.name}" if multi_schema else e.name


def _box(e: ErEntity, multi_schema: bool) -> Box:
    label = _label(e, multi_schema)
    name_w = max((len(_short(a.name, MAX_NAME_CHARS)) for a in e.attributes), default=0) * CHAR_W
    type_w = max((len(short_type(a.data_type)) for a in e.attributes), default=0) * CHAR_W
    body_w = _key_width(e) + name_w + 14 + type_w + 2 * PAD_X
    title_w = len(_short(label, MAX_NAME_CHARS + 12)) * TITLE_CHAR_W + 2 * PAD_X
    rows = len(e.attributes) + (1 if e.hidden_columns else 0)
    return Box(e, label, max(MIN_BOX_W, body_w, title_w), TITLE_H + rows * LINE_H + 6)


def _layers(keys: list[Key], relations: tuple[ErRelation, ...]) -> dict[Key, int]:
    """Longest-path layering of the referenced -> referencing graph, cycles broken by a depth-first walk."""
    children: dict[Key, list[Key]] = defaultdict(list)
    for r in relations:
        if r.parent != r.child:
            children[r.parent].append(r.child)
    # a depth-first walk from every table in name order keeps only the edges that do not close a cycle
    state: dict[Key, int] = {}  # 1 on the stack, 2 done
    forward: dict[Key, list[Key]] = defaultdict(list)

    def walk(start: Key) -> None:
        stack: list[tuple[Key, int]] = [(start, 0)]
        state[start] = 1
        while stack:
            node, i = stack.pop()
            kids = sorted(set(children[node]))
            if i < len(kids):
                stack.append((node, i + 1))
                kid = kids[i]
                if state.get(kid) == 1:
                    continue  # a back edge: drawn, but not used for the layers
                forward[node].append(kid)
                if kid not in state:
                    state[kid] = 1
                    stack.append((kid, 0))
            else:
                state[node] = 2

    for k in keys:
        if k not in state:
            walk(k)
    indegree: dict[Key, int] = defaultdict(int)
    for kids in forward.values():
        for kid in kids:
            indegree[kid] += 1
    layer = {k: 0 for k in keys}
    ready = [k for k in keys if indegree[k] == 0]
    while ready:
        node = ready.pop()
        for kid in forward[node]:
            layer[kid] = max(layer[kid], layer[node] + 1)
            indegree[kid] -= 1
            if indegree[kid] == 0:
                ready.append(kid)
    # a table referenced only from far below moves down to just above its highest child: shorter edges
    for k in sorted(keys, key=lambda key: -layer[key]):
        if forward[k]:
            layer[k] = max(layer[k], min(layer[kid] for kid in forward[k]) - 1)
    return layer


def _order(rows: list[list[Key]], neighbours: dict[Key, set[Key]]) -> None:
    """Barycenter sweeps, down then up: each row sorted by its tables' mean neighbour position."""
    def positions() -> dict[Key, float]:
        return {k: i / max(1, len(row) - 1) for row in rows for i, k in enumerate(row)}

    for sweep in range(SWEEPS):
        order = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        for r in order:
            pos = positions()
            ref = set(rows[r - 1] if sweep % 2 == 0 else rows[r + 1])
            current = {k: i for i, k in enumerate(rows[r])}

            def bary(k: Key, ref: set[Key] = ref, pos: dict[Key, float] = pos,
                     current: dict[Key, int] = current, row: list[Key] = rows[r]) -> float:
                near = [pos[n] for n in neighbours[k] if n in ref]
                if not near:
                    near = [pos[n] for n in neighbours[k] if n in pos and n not in row]
                return sum(near) / len(near) if near else current[k] / max(1, len(row) - 1)

            rows[r].sort(key=lambda k: (bary(k), current[k]))


def layout(model: ErModel) -> Layout:
    boxes = {e.key: _box(e, model.multi_schema) for e in model.entities}
    keys = sorted(boxes)
    neighbours: dict[Key, set[Key]] = defaultdict(set)
    for r in model.relations:
        if r.parent != r.child:
            neighbours[r.parent].add(r.child)
            neighbours[r.child].add(r.parent)
    connected = [k for k in keys if neighbours[k]]
    lonely = [k for k in keys if not neighbours[k]]
    layer = _layers(connected, model.relations)

    rows: list[list[Key]] = []
    for n in sorted(set(layer.values())):
        members = [k for k in connected if layer[k] == n]
        # wrap a wide layer: consecutive chunks that each fit MAX_ROW_WIDTH
        chunk: list[Key] = []
        width = 0.0
        for k in members:
            w = boxes[k].width + GAP_X
            if chunk and width + w > MAX_ROW_WIDTH:
                rows.append(chunk)
                chunk, width = [], 0.0
            chunk.append(k)
            width += w
        if chunk:
            rows.append(chunk)
    _order(rows, neighbours)
    # the unconnected tables: a grid under the drawing, rows as wide as the widest connected row
    widest = max([sum(boxes[k].width + GAP_X for k in row) - GAP_X for row in rows] + [0.0])
    limit = max(widest, min(MAX_ROW_WIDTH, sum(boxes[k].width + GAP_X for k in lonely)))
    chunk, width = [], 0.0
    for k in lonely:
        w = boxes[k].width + GAP_X
        if chunk and width + w > limit:
            rows.append(chunk)
            chunk, width = [], 0.0
        chunk.append(k)
        width += w
    if chunk:
        rows.append(chunk)

    row_widths = [sum(boxes[k].width for k in row) + GAP_X * (len(row) - 1) for row in rows]
    total_w = max(row_widths, default=0.0)
    y = float(MARGIN)
    for row, row_w in zip(rows, row_widths, strict=True):
        x = MARGIN + (total_w - row_w) / 2
        for k in row:
            b = boxes[k]
            b.x, b.y = x, y
            x += b.width + GAP_X
        y += max(boxes[k].height for k in row) + GAP_Y
    height = y - GAP_Y + MARGIN if rows else 2 * MARGIN
    return Layout(boxes, total_w + 2 * MARGIN, height)


# ---- drawing --------------------------------------------------------------------------------------------------

# Crow's-foot ends in marker coordinates: the path arrives from the left and the box edge is at x=20.
MARKERS = (
    ("er-one", '<path d="M12,-6V6M16,-6V6"/>'),
    ("er-zero-one", '<circle cx="8" cy="0" r="3.5"/><path d="M16,-6V6"/>'),
    ("er-zero-many", '<circle cx="5" cy="0" r="3.5"/><path d="M20,-6L10,0L20,6M10,0H20"/>'),
)


def _defs() -> str:
    markers = "".join(
        f'<marker id="{name}{suffix}" viewBox="0 -8 21 16" refX="20" refY="0" markerWidth="21" markerHeight="16" '
        f'markerUnits="userSpaceOnUse" orient="{orient}">{body}</marker>'
        for name, body in MARKERS
        for suffix, orient in (("", "auto"), ("-start", "auto-start-reverse"))
    )
    return f"<defs>{markers}</defs>"


def _ports(boxes: dict[Key, Box], relations: tuple[ErRelation, ...]) -> dict[tuple[int, str], float]:
    """The x of every edge end along its box's side, spread evenly and ordered by the far end's x."""
    ends: dict[tuple[Key, str], list[tuple[float, int]]] = defaultdict(list)
    for i, r in enumerate(relations):
        if r.parent == r.child:
            continue
        p, c = boxes[r.parent], boxes[r.child]
        ends[(r.parent, "bottom" if c.y >= p.y else "top")].append((c.cx, i))
        ends[(r.child, "top" if c.y > p.y else "bottom")].append((p.cx, i))
    xs: dict[tuple[int, str], float] = {}
    for (key, _side), items in ends.items():
        b = boxes[key]
        items.sort()
        for n, (_, i) in enumerate(items, 1):
            x = b.x + b.width * n / (len(items) + 1)
            xs[(i, "parent" if relations[i].parent == key else "child")] = x
    return xs


def _edge(i: int, r: ErRelation, boxes: dict[Key, Box], ports: dict[tuple[int, str], float]) -> str:
    p, c = boxes[r.parent], boxes[r.child]
    start = "er-zero-one" if r.optional else "er-one"
    end = "er-zero-one" if r.one_to_one else "er-zero-many"
    if r.parent == r.child:  # a loop on the right side of the box
        x = p.x + p.width
        y1, y2 = p.y + TITLE_H / 2, p.y + TITLE_H / 2 + 18
        d = f"M{x:.1f},{y1:.1f} C{x + 40:.1f},{y1:.1f} {x + 40:.1f},{y2:.1f} {x:.1f},{y2:.1f}"
    else:
        x1, x2 = ports[(i, "parent")], ports[(i, "child")]
        if c.y > p.y:
            y1, y2 = p.y + p.height, c.y
        elif c.y < p.y:
            y1, y2 = p.y, c.y + c.height
        else:  # same row (a broken cycle): leave from the bottom of both and bend below
            y1 = p.y + p.height
            y2 = c.y + c.height
        bend = max(28.0, abs(y2 - y1) / 2) if c.y != p.y else 40.0
        s1 = 1 if c.y >= p.y else -1
        s2 = -1 if c.y > p.y else 1
        d = (f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + s1 * bend:.1f} {x2:.1f},{y2 + s2 * bend:.1f} "
             f"{x2:.1f},{y2:.1f}")
    tip = f"{'.'.join(r.child)}({', '.join(r.columns)}) references {'.'.join(r.parent)}: {r.constraint}"
    return (f'<path class="er-edge" data-from="{_esc(".".join(r.child))}" data-to="{_esc(".".join(r.parent))}" '
            f'd="{d}" marker-start="url(#{start}-start)" marker-end="url(#{end})"><title>{_esc(tip)}</title>'
            "</path>")


def _entity(b: Box, anchor: str) -> str:
    e = b.entity
    name = ".".join(e.key)
    parts = [
        f'<a href="#{_esc(anchor)}" class="er-entity" data-table="{_esc(name)}">'
        f"<title>{_esc(name)}: {len(e.attributes) + e.hidden_columns} columns</title>",
        f'<rect class="er-box" x="{b.x:.1f}" y="{b.y:.1f}" width="{b.width:.1f}" height="{b.height:.1f}" rx="4"/>',
        f'<rect class="er-head" x="{b.x:.1f}" y="{b.y:.1f}" width="{b.width:.1f}" height="{TITLE_H}" rx="4"/>',
        f'<text class="er-name" x="{b.cx:.1f}" y="{b.y + 16:.1f}" text-anchor="middle">'
        f"{_esc(_short(b.label, MAX_NAME_CHARS + 12))}</text>",
    ]
    name_x = b.x + PAD_X + _key_width(e)
    type_x = b.x + b.width - PAD_X
    for n, a in enumerate(e.attributes):
        y = b.y + TITLE_H + (n + 1) * LINE_H - 3
        keys = ",".join(a.keys)
        cls = "er-col pk" if "PK" in a.keys else "er-col"
        null = "" if a.nullable or "PK" in a.keys else " NOT NULL"
        tip = f"{a.name} {a.data_type}{null}" + (f" ({', '.join(a.keys)})" if a.keys else "")
        parts.append(
            f"<g><title>{_esc(tip)}</title>"
            + (f'<text class="er-key" x="{b.x + PAD_X:.1f}" y="{y:.1f}">{_esc(keys)}</text>' if keys else "")
            + f'<text class="{cls}" x="{name_x:.1f}" y="{y:.1f}">{_esc(_short(a.name, MAX_NAME_CHARS))}</text>'
            f'<text class="er-type" x="{type_x:.1f}" y="{y:.1f}" text-anchor="end">'
            f"{_esc(short_type(a.data_type))}</text></g>"
        )
    if e.hidden_columns:
        y = b.y + TITLE_H + (len(e.attributes) + 1) * LINE_H - 3
        parts.append(f'<text class="er-more" x="{name_x:.1f}" y="{y:.1f}">+{e.hidden_columns} more '
                     f"column{'s' if e.hidden_columns > 1 else ''}</text>")
    parts.append("</a>")
    return "".join(parts)


def table_anchor(schema: str, name: str) -> str:
    """The id of a table's definition in the design document (reports.document._tables)."""
    return f"t-{schema}-{name}"


def render_svg(model: ErModel) -> str:
    """The diagram as one <svg> element, scaled to its container by CSS (width/height are its natural size)."""
    lay = layout(model)
    ports = _ports(lay.boxes, model.relations)
    edges = "".join(_edge(i, r, lay.boxes, ports) for i, r in enumerate(model.relations))
    entities = "".join(_entity(b, table_anchor(*k)) for k, b in sorted(lay.boxes.items()))
    w, h = lay.width + 40, lay.height  # room on the right for self-reference loops
    title = f"Entity-relationship diagram: {len(model.entities)} tables, {len(model.relations)} relationships"
    return (f'<svg class="er" role="img" width="{w:.0f}" height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{_esc(title)}</title>{_defs()}'
            f'<g class="er-edges">{edges}</g><g class="er-entities">{entities}</g></svg>')
