"""Reporters: render a Report into one output format. They hold no logic of their own."""

from __future__ import annotations

import dataclasses

from auditor.bulk import gc_paused
from auditor.report import Report
from auditor.textsafe import json_safe, safe_copy, terminal_safe


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None, limit: int | None = -1,
           verbose: bool = False) -> str:
    """The report in ``fmt``. What a terminal may show (text, Markdown, JSON, SARIF) carries no raw control
    character from object names or server messages (auditor.textsafe); HTML and XML escape their own.

    ``width``, ``limit`` (findings shown in full per check; None: all, -1: the default) and ``verbose``
    shape the text report only: every other format is complete whatever they say.

    No cyclic garbage collection while rendering (auditor.bulk.gc_paused): a reporter builds hundreds of
    thousands of short-lived strings, dicts and rows, freed by reference counting, and each collection they
    trigger would walk the snapshot's millions of objects again (a third of the time of the 10,000-table reports).
    """
    with gc_paused():
        return _render(report, fmt, color=color, width=width, limit=limit, verbose=verbose)


def _render(report: Report, fmt: str, *, color: bool, width: int | None, limit: int | None, verbose: bool) -> str:
    if fmt == "text":
        from reports.text import LIMIT, WIDTH, render_text

        return render_text(_terminal_safe_report(report), color=color, width=width or WIDTH,
                           limit=LIMIT if limit == -1 else limit, verbose=verbose)
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
