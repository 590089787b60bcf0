"""`--format markdown`: the database design document (reports.document) as GitHub-flavoured Markdown.

Every name from the database is escaped: in table cells and text, Markdown punctuation, HTML tags and pipes are
backslash-escaped or turned into entities; code spans and fences grow longer than any backtick run inside.
The ER diagram is a ```mermaid block, which GitHub, GitLab and most editors draw.
"""

from __future__ import annotations

import re

from auditor.design import mermaid_er
from auditor.report import Report
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

# Only what GFM treats as markup: emphasis, code, links, HTML, table pipes, strikethrough. An underscore inside a
# word (order_items) is never emphasis and stays as is, so that names read naturally in the raw text.
_SPECIAL = re.compile(r"([\\`*\[\]<|~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


_WHITESPACE = re.compile(r"\s+")
_BACKTICKS = re.compile(r"`+")
_FENCES = re.compile(r"`{3,}")


def escape(text: str) -> str:
    """Plain text for a Markdown paragraph or table cell: one line, markup escaped, & as an entity."""
    flat = text.replace("&", "&amp;")
    # printable text holds no whitespace but spaces: without two in a row there is no run to fold (the common
    # case, tested without the regex: a 10,000-table document escapes some 170,000 cells)
    if not flat.isprintable() or "  " in flat:
        flat = _WHITESPACE.sub(" ", flat)
    return _SPECIAL.sub(r"\\\g<0>", flat)


def code_span(text: str, in_table: bool = False) -> str:
    flat = " ".join(text.split())
    longest = max((len(m) for m in _BACKTICKS.findall(flat)), default=0) if "`" in flat else 0
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or longest else ""
    if in_table:  # a pipe inside a code span still splits a GFM table row
        flat = flat.replace("|", "\\|")
    return f"{fence}{pad}{flat}{pad}{fence}"


def _inline(run: Inline, in_table: bool = False) -> str:
    if isinstance(run, Code):
        return code_span(run.text, in_table)
    if isinstance(run, Strong):
        return f"**{escape(run.text)}**" if run.text.strip() else ""
    if isinstance(run, Badge):
        return f"**{escape(run.text)}**" if run.kind in ("fail", "error") else escape(run.text)
    return escape(run)


def _cell(cell: Inline | tuple[Inline, ...]) -> str:
    runs = cell if isinstance(cell, tuple) else (cell,)
    return "".join(_inline(r, in_table=True) for r in runs) or " "


def _fence(text: str, lang: str) -> list[str]:
    longest = max((len(m) for m in _FENCES.findall(text)), default=0) if "```" in text else 0
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", *text.rstrip("\n").splitlines(), fence]


def _table(t: Table) -> list[str]:
    header = "| " + " | ".join(escape(h) or " " for h in t.headers) + " |"
    align = "|" + "|".join("---:" if i in t.numeric else "---" for i in range(len(t.headers))) + "|"
    body = ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    return [header, align, *body]


def _findings(block: FindingList) -> list[str]:
    """One row per finding; the fix SQL is in the sections above, in the HTML and in the JSON report."""
    return _table(Table(
        headers=("Severity", "Check", "Object", "Finding"),
        rows=tuple((Badge(i.severity.value, i.severity.value), f"{i.code} {i.check}", Code(i.object), i.message)
                   for i in block.items),
    ))


LINE_CHART_ROWS = 10  # a trend's last runs listed in Markdown (the HTML draws them all)


def _line_chart(chart: LineChart) -> list[str]:
    """A trend as a small table of its last runs: Markdown has no charts."""
    points = chart.points[-LINE_CHART_ROWS:]
    shown = f" (the last {len(points)} of {len(chart.points)} runs)" if len(points) < len(chart.points) else ""
    lines = [f"*{escape(chart.title)}*{shown}", "", "| Run | Value |", "|---|---:|"]
    lines.extend(f"| {_cell(label)} | {_cell(text)} |" for label, _, text in points)
    return lines


def _block(block: Block, indent: str = "") -> list[str]:
    if isinstance(block, Heading):
        return [f"{'#' * block.level} {escape(block.text)}"]
    if isinstance(block, Para):
        return ["".join(_inline(r) for r in block.runs).strip()]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, CodeBlock):
        return _fence(block.text, block.lang)
    if isinstance(block, ListBlock):
        lines: list[str] = []
        for n, item in enumerate(block.items, 1):
            marker = f"{n}. " if block.ordered else "- "
            pad = " " * len(marker)
            for k, sub in enumerate(item):
                sub_lines = _block(sub)
                if k > 0:
                    lines.append("")
                for j, line in enumerate(sub_lines):
                    prefix = marker if k == 0 and j == 0 else pad
                    lines.append(prefix + line if line else "")
        return lines
    if isinstance(block, LineChart):
        return _line_chart(block)
    if isinstance(block, Chart):
        return []  # the figures are in the tables beside it; charts are drawn in the HTML report
    if isinstance(block, ErDiagram):
        return _fence(mermaid_er(block.model), "mermaid")  # GitHub and GitLab draw it
    if isinstance(block, FindingList):
        return _findings(block)
    raise TypeError(f"unknown block {type(block).__name__}")  # pragma: no cover


def render_markdown(report: Report) -> str:
    doc = build_document(report)
    lines = [f"# {escape(doc.title)}", "", f"_{escape(doc.subtitle)}_"]
    for block in doc.blocks:
        rendered = _block(block)
        if rendered:
            lines.append("")
            lines.extend(rendered)
    return "\n".join(line.rstrip() for line in lines) + "\n"
