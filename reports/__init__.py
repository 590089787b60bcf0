"""Reporters: render a Report into one output format. They hold no logic of their own."""

from __future__ import annotations

from auditor.report import Report


def render(report: Report, fmt: str, *, color: bool = False) -> str:
    if fmt == "text":
        from reports.text import render_text

        return render_text(report, color=color)
    if fmt == "json":
        from reports.jsonfmt import render_json

        return render_json(report)
    if fmt == "sarif":
        from reports.sarif import render_sarif

        return render_sarif(report)
    if fmt == "junit":
        from reports.junit import render_junit

        return render_junit(report)
    if fmt == "markdown":
        from reports.markdown import render_markdown

        return render_markdown(report)
    if fmt == "html":
        from reports.htmlfmt import render_html

        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}")
