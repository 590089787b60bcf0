"""`--format html`: the design document (reports.document) as one self-contained HTML page.

No network at view time: the CSS and the small sorting script (reports/assets) are inlined, the charts are inline
SVG drawn here, and a Content-Security-Policy forbids loading anything. Every text from the database goes
through html.escape, attribute values included. The ER diagram is an SVG laid out at report time
(reports.erdiagram), with its Mermaid source folded below it; the findings list filters by severity, check and
table and copies each fix's SQL (reports/assets/report.js). Every table sits in a box that scrolls sideways, so the
page itself never does, even at 1,000 px.
"""

from __future__ import annotations

import html
import re
from importlib import resources

from auditor.design import mermaid_er
from auditor.model import Severity
from auditor.report import Report
from reports import erdiagram
from reports.document import (
    Badge,
    Block,
    Chart,
    Code,
    CodeBlock,
    ErDiagram,
    FindingList,
    Heading,
    Inline,
    LineChart,
    ListBlock,
    Para,
    Strong,
    Table,
    build_document,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
CHART_WIDTH = 760
LABEL_WIDTH = 300
VALUE_WIDTH = 90
BAR_HEIGHT = 18
BAR_GAP = 6
LABEL_CHARS = 40
COPY_BUTTON = '<button type="button" class="copy" title="Copy the SQL">Copy SQL</button>'


_HTML_SPECIAL = re.compile("[&<>\"']")  # what html.escape(quote=True) replaces


def _esc(text: str) -> str:
    if _HTML_SPECIAL.search(text) is None:  # most names and figures: one scan instead of five replacements
        return text
    return html.escape(text, quote=True)


def _asset(name: str) -> str:
    return resources.files("reports").joinpath("assets", name).read_text(encoding="utf-8")


def _inline(run: Inline) -> str:
    if type(run) is str:  # the common case first
        return _esc(run)
    if isinstance(run, Code):
        return f"<code>{_esc(run.text)}</code>"
    if isinstance(run, Strong):
        return f"<strong>{_esc(run.text)}</strong>"
    if isinstance(run, Badge):
        return f'<span class="badge b-{_esc(run.kind)}">{_esc(run.text)}</span>'
    return _esc(run)


def _cell(cell: Inline | tuple[Inline, ...]) -> str:
    runs = cell if isinstance(cell, tuple) else (cell,)
    return "".join(_inline(r) for r in runs)


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _table(t: Table) -> str:
    if not any(t.headers):  # a key/value table: the first column is the row header
        rows = "".join(f"<tr><th scope=\"row\">{_cell(r[0])}</th>{''.join(f'<td>{_cell(c)}</td>' for c in r[1:])}"
                       "</tr>" for r in t.rows)
        return f'<div class="tw"><table class="kv"><tbody>{rows}</tbody></table></div>'
    sortable = len(t.rows) > 2
    num = ' class="num"'
    head = "".join(
        f'<th scope="col"{num if i in t.numeric else ""}>{_esc(h)}</th>' for i, h in enumerate(t.headers)
    )
    body: list[str] = []
    for n, row in enumerate(t.rows):
        keys = t.sort_keys[n] if n < len(t.sort_keys) else ()
        cells = []
        for i, c in enumerate(row):
            if i in t.numeric:
                raw = keys[i] if i < len(keys) else None
                cells.append(f'<td class="num" data-v="{_number(raw)}">{_cell(c)}</td>')
            else:
                cells.append(f"<td>{_cell(c)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    cls = ' class="sortable"' if sortable else ""
    return f'<div class="tw"><table{cls}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _chart(chart: Chart) -> str:
    """A horizontal bar chart as inline SVG; the full label is in each bar's <title> (tooltip)."""
    bars = chart.bars
    if not bars:
        return ""
    top = max(b.value for b in bars) or 1.0
    span = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = len(bars) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    parts = [
        f'<svg class="chart" role="img" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_esc(chart.title)}</title>",
    ]
    for i, b in enumerate(bars):
        y = BAR_GAP + i * (BAR_HEIGHT + BAR_GAP)
        width = max(1.0, span * b.value / top) if b.value > 0 else 0.0
        label = b.label if len(b.label) <= LABEL_CHARS else b.label[: LABEL_CHARS - 3] + "..."
        kind = f" {_esc(b.kind)}" if b.kind else ""
        parts.append(
            f"<g><title>{_esc(b.label)}: {_esc(b.text)}</title>"
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 5}" text-anchor="end">{_esc(label)}</text>'
            f'<rect class="bar{kind}" x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}"/>'
            f'<text class="val{kind}" x="{LABEL_WIDTH + width + 6:.1f}" y="{y + BAR_HEIGHT - 5}">{_esc(b.text)}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return f"<figure><figcaption>{_esc(chart.title)}</figcaption>{''.join(parts)}</figure>"


def _er_diagram(block: ErDiagram) -> str:
    """The drawn diagram, scaled to the page (a button shows it at actual size), then its Mermaid source folded."""
    source = f'<pre><code class="language-mermaid">{_esc(mermaid_er(block.model).rstrip())}</code></pre>'
    return (
        '<figure class="er-figure"><figcaption>Entity-relationship diagram '
        '<button type="button" class="er-zoom" aria-pressed="false">Actual size</button></figcaption>'
        f'<div class="er-wrap">{erdiagram.render_svg(block.model)}</div></figure>'
        "<details><summary>Mermaid source of the diagram (for a Mermaid viewer; the markdown report carries it "
        f"too, which GitHub and GitLab draw)</summary>{source}</details>"
    )


def _options(name: str, counts: dict[str, int], labels: dict[str, str] | None = None) -> str:
    total = sum(counts.values())
    opts = [f'<option value="">all ({total})</option>']
    opts += [f'<option value="{_esc(k)}">{_esc((labels or {}).get(k, k) or "(no table)")} ({n})</option>'
             for k, n in counts.items()]
    return (f'<label>{_esc(name.capitalize())} <select data-filter="{_esc(name)}">{"".join(opts)}</select>'
            "</label>")


def _finding_list(block: FindingList) -> str:
    """Filters (severity, check, table), then one item per finding with its fix SQL and a copy button."""
    items = block.items
    severities = {s.value: n for s in Severity if (n := sum(1 for i in items if i.severity is s))}
    checks: dict[str, int] = {}
    check_labels: dict[str, str] = {}
    for i in sorted(items, key=lambda i: i.code):
        checks[i.code] = checks.get(i.code, 0) + 1
        check_labels[i.code] = f"{i.code} {i.check}"
    tables: dict[str, int] = {}
    for i in sorted(items, key=lambda i: (i.table == "", i.table)):
        tables[i.table] = tables.get(i.table, 0) + 1
    filters = (
        '<div class="filters" role="group" aria-label="Filter the findings">'
        + _options("severity", severities) + _options("check", checks, check_labels) + _options("table", tables)
        + '<button type="button" class="f-reset">Show all</button>'
        f'<span class="f-count" aria-live="polite">{len(items)} of {len(items)} shown</span></div>'
    )
    rows: list[str] = []
    for i in items:
        sev = i.severity.value
        fix = ""
        if i.fix:
            fix = (f'<div class="fix">{COPY_BUTTON}'
                   f'<pre><code class="language-sql">{_esc(i.fix.rstrip())}</code></pre></div>')
        rows.append(
            f'<li class="finding" data-severity="{_esc(sev)}" data-check="{_esc(i.code)}" '
            f'data-table="{_esc(i.table)}"><div class="f-head"><span class="badge b-{_esc(sev)}">{_esc(sev)}</span> '
            f"<strong>{_esc(i.code)}</strong> {_esc(i.check)} <code>{_esc(i.object)}</code></div>"
            f'<p class="f-msg">{_esc(i.message)}</p>{fix}</li>'
        )
    return f'{filters}<ol class="findings">{"".join(rows)}</ol>'


def _block(block: Block) -> str:
    if isinstance(block, Heading):
        return f'<h{block.level} id="{_esc(block.anchor)}">{_esc(block.text)}</h{block.level}>'
    if isinstance(block, Para):
        return f"<p>{''.join(_inline(r) for r in block.runs)}</p>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, CodeBlock):
        cls = f' class="language-{_esc(block.lang)}"' if block.lang else ""
        pre = f"<pre><code{cls}>{_esc(block.text.rstrip())}</code></pre>"
        if block.lang == "sql":  # SQL to run: a copy button beside it
            return f'<div class="fix">{COPY_BUTTON}{pre}</div>'
        return pre
    if isinstance(block, ListBlock):
        tag = "ol" if block.ordered else "ul"
        items = "".join(f"<li>{''.join(_block(b) for b in item)}</li>" for item in block.items)
        return f"<{tag}>{items}</{tag}>"
    if isinstance(block, Chart):
        return _chart(block)
    if isinstance(block, LineChart):
        from reports.svgcharts import line_chart

        return line_chart(block)
    if isinstance(block, ErDiagram):
        return _er_diagram(block)
    if isinstance(block, FindingList):
        return _finding_list(block)
    raise TypeError(f"unknown block {type(block).__name__}")  # pragma: no cover


def render_html(report: Report) -> str:
    doc = build_document(report)
    toc = "".join(
        f'<li><a href="#{_esc(b.anchor)}">{_esc(b.text.split(". ", 1)[-1])}</a></li>'
        for b in doc.blocks
        if isinstance(b, Heading) and b.level == 2
    )
    body = "\n".join(_block(b) for b in doc.blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="dbaudit {_esc(report.tool_version)}">\n'
        f"<title>{_esc(doc.title)}</title>\n<style>\n{_asset('report.css')}</style>\n</head>\n<body>\n"
        f"<header><h1>{_esc(doc.title)}</h1><p>{_esc(doc.subtitle)}</p></header>\n"
        f'<div class="layout"><nav aria-label="Contents"><ol>{toc}</ol></nav>\n<main>\n{body}\n</main></div>\n'
        f"<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n"
    )
