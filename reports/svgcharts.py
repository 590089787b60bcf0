"""Line charts of the run history (score, P95, database size over the stored runs) as inline SVG.

Drawn with presentation attributes only (no inline style, which the report's Content-Security-Policy forbids);
every point carries its date and value in a <title> (the tooltip).
"""

from __future__ import annotations

from html import escape

from reports.document import LineChart

WIDTH = 760
HEIGHT = 180
LEFT = 70  # room for the value axis labels
RIGHT = 16
TOP = 14
BOTTOM = 30  # room for the date labels


def _esc(text: str) -> str:
    return escape(text, quote=True)


def line_chart(chart: LineChart) -> str:
    points = [(label, value, text) for label, value, text in chart.points if value is not None]
    if len(points) < 2:
        return ""
    values = [v for _, v, _ in points]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    span_x = WIDTH - LEFT - RIGHT
    span_y = HEIGHT - TOP - BOTTOM
    step = span_x / (len(points) - 1)

    def y_of(v: float) -> float:
        return TOP + span_y * (1 - (v - low) / (high - low))

    coords = [(LEFT + i * step, y_of(v)) for i, (_, v, _) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts = [
        f'<svg class="chart trend" role="img" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_esc(chart.title)}</title>",
        f'<line x1="{LEFT}" y1="{TOP + span_y}" x2="{WIDTH - RIGHT}" y2="{TOP + span_y}" stroke="#999" '
        'stroke-width="1"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + span_y}" stroke="#999" stroke-width="1"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{_esc(chart.axis(high))}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + span_y}" text-anchor="end">{_esc(chart.axis(low))}</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}">{_esc(points[0][0])}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{_esc(points[-1][0])}</text>',
        f'<polyline points="{path}" fill="none" stroke="#2b6cb0" stroke-width="2"/>',
    ]
    radius = 3 if len(points) <= 60 else 1.5
    for (x, y), (label, _, text) in zip(coords, points, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="#2b6cb0">'
                     f"<title>{_esc(label)}: {_esc(text)}</title></circle>")
    parts.append("</svg>")
    return f"<figure><figcaption>{_esc(chart.title)}</figcaption>{''.join(parts)}</figure>"
