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
    raise ValueError(f"unknown format {fmt!r}")
