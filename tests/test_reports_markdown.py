"""The markdown design document: golden file, sections, escaping, the Mermaid diagram.

Regenerate the golden file after an intended change with
``UPDATE_GOLDEN=1 pytest tests/test_reports_markdown.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from auditor.engine import RunResult
from auditor.model import Snapshot
from auditor.report import build_report
from reports import render
from reports.markdown import code_span, escape, render_markdown
from tests.report_samples import ODD_TABLE, design_report
from tests.test_design import assert_mermaid_syntax

GOLDEN = Path(__file__).parent / "golden"

SECTIONS = (
    "## 1. Executive summary", "### Key risks", "## 2. Entity-relationship diagram", "## 3. Table definitions",
    "## 4. Normalization analysis", "## 5. Indexing strategy", "## 6. Query optimization", "## 7. Scaling notes",
    "## 8. Maintenance and operations", "## 9. Quality metrics", "## 10. Next steps",
)


def golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{name} differs from the golden file; if intended, rerun with UPDATE_GOLDEN=1")


def test_markdown_matches_golden() -> None:
    golden("design.md", render_markdown(design_report()))


def test_markdown_has_every_section_in_order() -> None:
    text = render(design_report(), "markdown")
    positions = [text.index(s) for s in SECTIONS]
    assert positions == sorted(positions)


def test_markdown_content() -> None:
    text = render_markdown(design_report())
    # the sample snapshot holds no settings nor counters: three metrics not measured, counted as failed
    assert ("| Health score | **45/100** grade F, at least: 3 metrics not measured count as failed: up to 60 had "
            "they been clean |") in text
    assert "CREATE INDEX CONCURRENTLY orders_status_created_at_idx ON public.orders (status, created_at);" in text
    assert "### Partitioning candidates" in text
    assert "| `public.orders` | 150,000,000 | 37.3 GB | 150,000,000 rows | `PARTITION BY RANGE (created_at)" in text
    assert "## 11. Migration plan" in text and "### Phase 1. Expand: additive changes, online" in text
    # metrics: target, verdict and method or reason on every row
    assert re.search(r"\| Schema completeness \| 68\.9 % \| >= 95 % \| \*\*FAIL\*\* \| mean of", text)
    assert "| Tables with a comment | 20 % | no | 1/5 |" in text
    assert "(+10 points)" in text and "Enable WL03 n-plus-one" in text


def test_mermaid_block_is_valid() -> None:
    text = render_markdown(design_report())
    block = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert block is not None
    assert_mermaid_syntax(block.group(1))


def test_odd_names_are_escaped() -> None:
    text = render_markdown(design_report())
    prose = re.sub(r"```.*?```", "", text, flags=re.S)  # fences hold SQL and Mermaid verbatim
    prose = re.sub(r"(`+).*?\1", "", prose)  # and code spans, names verbatim
    prose = re.sub(r"^\|[-:|]+\|$", "", prose, flags=re.M)  # table delimiter rows
    prose = re.sub(r"(^|(?<=\s))\|(?=\s|$)", "", prose, flags=re.M)  # cell separators
    prose = re.sub(r"\*\*(?=\S)(.*?\S)\*\*", r"\1", prose)  # our own bold
    assert not re.search(r"(?<!\\)[<|*`]", prose), "unescaped markup outside code"
    assert code_span(ODD_TABLE, in_table=True) == "`` odd \"name\" <b>&amp;\\|%`x` ``"
    # in a table cell, a pipe inside a code span is escaped; the cell count of the row stays right
    row = next(line for line in text.splitlines() if line.startswith("| `` Sales Data.odd"))
    assert row.count(" | ") == 7
    assert escape("a|b <i> *c* x_y _z_ &") == r"a\|b \<i> \*c\* x_y \_z\_ &amp;"
    assert code_span("a`b") == "`` a`b ``"


def test_empty_snapshot_renders_every_section() -> None:
    report = build_report(Snapshot(engine="postgresql", database="empty"), RunResult((), (), ()),
                          datetime(2026, 1, 1, tzinfo=UTC), 0.1)
    text = render_markdown(report)
    for s in SECTIONS:
        assert s in text
    assert "The audited schemas hold no table." in text
    assert "No workload figures: the workload was not collected." in text
