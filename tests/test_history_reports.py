"""The run history in the reports: the text "since" block, Markdown/HTML sections and trend charts, JSON."""

from __future__ import annotations

import json
import re
import xml.dom.minidom
from pathlib import Path

from auditor.audit import AuditSettings, run_audit
from auditor.report import Report
from reports import render
from tests.history_support import day_snapshot


def _history_reports(store: Path, days: int) -> list[Report]:
    return [run_audit(day_snapshot(d, rows_per_day=1_000_000, loose=d < days - 1,
                                   calls_per_day=1_000 if d < days - 1 else 3_000),
                      AuditSettings(history=str(store))) for d in range(days)]


def test_text_since_block_leads_the_report(tmp_path: Path) -> None:
    first, *_, last = _history_reports(tmp_path / "r.db", 4)
    text = render(first, "text")
    assert "History: first recorded run of this target (run 1" in text
    text = render(last, "text")
    block = text[text.index("Since "):text.index("Summary")]
    assert "(run 3, 24 h ago)" in block
    assert "findings: 0 new, 1 resolved" in block and "resolved: KY01 no-primary-key  public.loose" in block
    assert "workload: 9,010 calls" in block and "size: +95.4 MB over 1 table\n" in block
    assert text.index("Since ") < text.index("Summary")


def test_markdown_and_html_since_sections_and_trend_charts(tmp_path: Path) -> None:
    reports = _history_reports(tmp_path / "r.db", 6)
    md = render(reports[-1], "markdown")
    section = md[md.index("## Since the previous run"):md.index("## 2.")]
    assert "1 resolved" in section and "| KY01 no-primary-key |" in section
    assert "**Trends over 6 recorded runs**" in section and "`public.orders`" in section
    html = render(reports[-1], "html")
    charts = re.findall(r'<svg class="chart trend".*?</svg>', html, re.S)
    assert len(charts) == 3
    for chart in charts:
        xml.dom.minidom.parseString(chart)  # well-formed
        assert "style=" not in chart and "<script" not in chart
    assert "<figcaption>Health score</figcaption>" in html and "Top growers over the last 5 days" in html
    first = render(reports[0], "markdown")
    assert "First recorded run of this target" in first and "Trends over" not in first
    plain = render(run_audit(day_snapshot(0), AuditSettings()), "markdown")
    assert "Since the previous run" not in plain and "Run history" not in plain


def test_json_history_carries_trend_and_growers(tmp_path: Path) -> None:
    last = _history_reports(tmp_path / "r.db", 3)[-1]
    doc = json.loads(render(last, "json"))["history"]
    assert [r["run_id"] for r in doc["trend"]] == [1, 2, 3]
    assert doc["growers"][0]["table"] == "orders" and doc["growers"][0]["growth_bytes"] == 200_000_000
    assert json.loads(render(run_audit(day_snapshot(0), AuditSettings()), "json")).get("history") is None
