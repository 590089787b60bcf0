"""Reporters: render a Report into one output format. They hold no logic of their own."""

from __future__ import annotations

import dataclasses

from auditor.report import Report
from auditor.textsafe import json_safe, safe_copy, terminal_safe


def render(report: Report, fmt: str, *, color: bool = False) -> str:
    """The report in ``fmt``. What a terminal may show (text, Markdown, JSON, SARIF) carries no raw control
    character from object names or server messages (auditor.textsafe); HTML and XML escape their own."""
    if fmt == "text":
        from reports.text import render_text

        return render_text(_terminal_safe_report(report), color=color)
    if fmt == "json":
        from reports.jsonfmt import render_json

        return json_safe(render_json(report))
    if fmt == "sarif":
        from reports.sarif import render_sarif

        return json_safe(render_sarif(report))
    if fmt == "junit":
        from reports.junit import render_junit

        return render_junit(report)
    if fmt == "markdown":
        from reports.markdown import render_markdown

        return terminal_safe(render_markdown(report), keep_newlines=True)
    if fmt == "html":
        from reports.htmlfmt import render_html

        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}")


def _terminal_safe_report(report: Report) -> Report:
    """The report with its strings escaped; of the snapshot, the text report shows the data sample only; the
    run history's lines are escaped as they are printed."""
    # the run history's part is escaped line by line where it is printed (reports.history.since_lines): it
    # can hold thousands of tables and statements, of which the text report shows a few
    safe = safe_copy(report, skip=frozenset({"snapshot", "history"}))
    snap = report.snapshot
    if snap is not None and snap.sampling is not None:
        sampling = safe_copy(snap.sampling)
        if sampling is not snap.sampling:
            safe = dataclasses.replace(safe, snapshot=dataclasses.replace(snap, sampling=sampling))
    return safe
