"""The human report: header, findings grouped by check with their fix, counts, metrics, skipped checks, notes.

Built to stay readable at any size: the findings of a check come together (worst severity first), a check
with more than ``limit`` findings shows the first ``limit`` in full, then one line with how many more there are
and on which objects (``limit=None`` shows all; the JSON and SARIF reports always hold every finding);
checks skipped for the same reason are listed once; the notes on how each metric was measured only with
``verbose``. Text wraps to ``width`` (the CLI passes the terminal's, ``COLUMNS`` first); remediation SQL is
printed as is (indented) so that it can be copied, only its ``--`` comment lines wrap. Formatting only: every
figure comes from the Report.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.color import ColorSystem
from rich.style import Style
from tabulate import tabulate

from auditor import design
from auditor.model import Finding, Severity, Skipped
from auditor.report import Report
from auditor.sampling import describe_skips, skipped_tables
from auditor.scoring import NOT_MEASURED, PARTIAL, Metric
from auditor.textfmt import elapsed, elapsed_ms, plural
from auditor.textsafe import terminal_safe
from reports.history import since_lines
from reports.jsonfmt import iso_utc

WIDTH = 100  # when the CLI knows no terminal width (a file, a pipe without COLUMNS)
MIN_WIDTH = 40
LIMIT = 5  # findings shown in full per check unless --limit / --all
ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)
ENGINE_LABEL = {"postgresql": "PostgreSQL", "mysql": "MySQL"}

SEVERITY_COLOUR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_SINGULAR = {"indexes": "index", "bytes": "byte", "tables": "table", "statements": "statement"}
GRADE_COLOUR = {"A": "green", "B": "green", "C": "yellow", "D": "yellow", "F": "red"}


class _Painter:
    """Styles text with rich's 16 standard colours (the CLI decides whether: --color, NO_COLOR, a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        return Style.parse(" ".join(styles)).render(text, color_system=ColorSystem.STANDARD)


@dataclass(frozen=True)
class _Layout:
    paint: _Painter
    width: int = WIDTH
    limit: int | None = LIMIT
    verbose: bool = False

    def wrap(self, text: str, indent: str, hang: int = 0) -> list[str]:
        """Wrap to the width; ``hang`` extra spaces on continuation lines line them up after a "label: "."""
        wrapped = textwrap.wrap(
            " ".join(text.split()),
            max(self.width, MIN_WIDTH),
            initial_indent=indent,
            subsequent_indent=indent + " " * hang,
            break_on_hyphens=False,
        )
        return wrapped or [indent]


def _enable(text: str, indent: str, layout: _Layout) -> list[str]:
    """What would enable a check; a multi-line fix (a my.cnf section) keeps its lines, indented under it."""
    parts = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    if len(parts) <= 1:
        return layout.wrap(f"to enable: {text}", indent, hang=11)
    # each line is a line of a file or a statement: joining them would make "[mysqld] performance_schema = ON"
    return [f"{indent}to enable:", *(f"{indent}  {line}" for line in parts)]


def _heading(title: str, paint: _Painter) -> list[str]:
    return ["", paint(title, "bold"), paint("-" * len(title), "dim")]



def _server_wide(report: Report) -> str:
    """The header's database of a scan whose DSN names none (MySQL/MariaDB: every schema the account sees)."""
    audited = design.audited_name(None, report.snapshot) if report.snapshot is not None else "the whole server"
    return f"none named, server-wide: {audited}"

def _header(report: Report, layout: _Layout) -> list[str]:
    paint = layout.paint
    target = report.target
    engine = ENGINE_LABEL.get(target.engine, target.engine)
    if report.snapshot is not None and report.snapshot.flavor == "mariadb":
        engine = "MariaDB"
    score = report.score
    rows = [
        ("target", target.dsn or "(unknown)"),
        ("server", f"{engine} {target.server_version}".strip()),
        ("database", target.database or _server_wide(report)),
        ("started", f"{iso_utc(report.started_at)}, took {elapsed(report.duration_s)}"),
        ("findings", _counts_line(report)),
        ("by check", _per_check_line(report)),
        ("score", score.label()),
    ]
    if report.partial:
        rows.insert(0, ("PARTIAL", report.partial))
    if report.empty:
        rows.insert(0, ("EMPTY", report.empty))
    width = max(len(label) for label, _ in rows) + 2
    lines = [paint(f"dbaudit {report.tool_version} report", "bold")]
    for label, value in rows:
        if not value:
            continue
        # wrapped by hand: tabulate would not wrap a long per-check line; the score is painted after wrapping (a
        # lower bound's label is long, and textwrap would count the escape codes)
        wrapped = textwrap.wrap(value, max(layout.width, MIN_WIDTH), initial_indent=label.ljust(width),
                                subsequent_indent=" " * width, break_long_words=False, break_on_hyphens=False)
        if label == "score":
            wrapped = [line[:width] + paint(line[width:], "bold", GRADE_COLOUR.get(score.grade, "bold"))
                       for line in wrapped]
        lines.extend(wrapped)
    return lines


def _per_check_line(report: Report) -> str:
    """'IX05 x13, KY01 x2, IX04 x1': the checks that fired, most findings first, to see the shape at a glance."""
    counts: dict[str, int] = {}
    for f in report.findings:
        counts[f.code] = counts.get(f.code, 0) + 1
    return ", ".join(f"{code} x{n}" for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _counts_line(report: Report) -> str:
    return ", ".join(
        (
            plural(report.count(Severity.ERROR), "error"),
            plural(report.count(Severity.WARNING), "warning"),
            f"{report.count(Severity.INFO)} info",
        )
    )


def _remediation(text: str, indent: str, layout: _Layout) -> list[str]:
    """SQL as is, to be copied; a ``--`` comment line longer than the width wraps into more comment lines."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("--") and len(indent) + len(line) > layout.width:
            lead = indent + line[: len(line) - len(stripped)] + "-- "
            body = stripped[2:].strip()
            lines.extend(textwrap.wrap(body, max(layout.width, MIN_WIDTH), initial_indent=lead,
                                       subsequent_indent=lead + "   ", break_long_words=False,
                                       break_on_hyphens=False) or [lead.rstrip()])
        else:
            lines.append(indent + line)
    return lines


def _severity_counts(findings: Sequence[Finding]) -> str:
    parts = []
    for sev in ORDER:
        n = sum(1 for f in findings if f.severity == sev)
        if n:
            parts.append(f"{n} info" if sev is Severity.INFO else plural(n, sev.value))
    return ", ".join(parts)


def _finding(finding: Finding, layout: _Layout, mixed: bool) -> list[str]:
    paint = layout.paint
    tag = " " + paint(f"({Severity(finding.severity).value})", SEVERITY_COLOUR[finding.severity]) if mixed else ""
    lines = [f"  {finding.object.label()}{tag}"]
    lines.extend(layout.wrap(finding.message, "      "))
    if finding.remediation:
        lines.append(paint("      fix:", "dim"))
        lines.extend(_remediation(finding.remediation, "        ", layout))
    return lines


def _tables_of(findings: Iterable[Finding]) -> set[str]:
    return {f"{f.object.schema}.{f.object.table}" if f.object.schema else f.object.table
            for f in findings if f.object.table}


def _more(rest: Sequence[Finding], layout: _Layout) -> list[str]:
    """'... and 283 more: a, b, c, ...': the objects not shown, on as many names as fit in two lines."""
    head = f"... and {len(rest)} more"
    budget = 2 * max(layout.width, MIN_WIDTH) - 6 - len(head) - 60
    names: list[str] = []
    used = 0
    for f in rest:
        label = f.object.label()
        if used + len(label) + 2 > budget:
            break
        names.append(label)
        used += len(label) + 2
    listed = ": " + ", ".join(names) + (", ..." if len(names) < len(rest) else "") if names else ""
    hint = " (--all or --limit N shows them; the JSON report lists every one)"
    return layout.wrap(f"{head}{listed}{hint}", "  ", hang=4)


def _check_group(findings: list[Finding], layout: _Layout, summary: str) -> list[str]:
    paint = layout.paint
    ordered = sorted(findings, key=lambda f: ORDER.index(f.severity))  # stable: the check's own order within
    worst = ordered[0].severity
    first = ordered[0]
    mixed = len({f.severity for f in ordered}) > 1
    counts = _severity_counts(ordered)
    if mixed:
        counts = f"{len(ordered)} findings: {counts}"
    tables = _tables_of(ordered)
    limit = layout.limit
    large = limit is not None and len(ordered) > limit
    title = f"{paint(first.code, SEVERITY_COLOUR[worst], 'bold')}  {paint(first.check, 'bold')}  {counts}"
    if large and len(tables) > 1:
        title += f", on {len(tables)} tables" if mixed else f" on {len(tables)} tables"
    lines = [title]
    if large and summary:  # one line on what the check looks for, so the group reads without the details
        lines.extend(layout.wrap(summary, "  "))
    shown = ordered if limit is None else ordered[:limit]
    for finding in shown:
        lines.extend(_finding(finding, layout, mixed))
    if len(shown) < len(ordered):
        lines.extend(_more(ordered[len(shown):], layout))
    return lines


def _summaries() -> dict[str, str]:
    """Each check's one-line summary from the registry (the same text as `dbaudit checks`)."""
    try:
        from auditor.engine import all_checks

        return {spec.code: spec.summary for spec in all_checks()}
    except Exception:  # a renderer never fails for want of a docstring
        return {}


def _findings(findings: Iterable[Finding], layout: _Layout) -> list[str]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.code, []).append(f)
    if not groups:
        return ["", layout.paint("No findings.", "green")]
    summaries = _summaries()
    ordered = sorted(groups.values(), key=lambda g: (min(ORDER.index(f.severity) for f in g), g[0].code))
    total = sum(len(g) for g in ordered)
    lines = _heading(f"Findings ({total} in {plural(len(ordered), 'check')})", layout.paint)
    for group in ordered:
        lines.extend(_check_group(group, layout, summaries.get(group[0].code, "")))
        lines.append("")
    lines.pop()
    return lines


def _counts(report: Report) -> list[str]:
    rows = [[sev.value, report.count(sev)] for sev in ORDER]
    rows.append(["total", len(report.findings)])
    return [tabulate(rows, headers=["severity", "findings"], tablefmt="simple", colalign=("left", "right"))]


def _metric_value(metric: Metric) -> str:
    if metric.value is None:
        return "-"
    value = f"{metric.value:,}" if isinstance(metric.value, int) else f"{metric.value:g}"
    if metric.unit == "%":
        return f"{value} %"
    unit = _SINGULAR.get(metric.unit, metric.unit) if metric.value == 1 else metric.unit
    return f"{value} {unit}".strip()


def _metric_status(metric: Metric, paint: _Painter) -> str:
    style = {"pass": "green", "FAIL": "red", NOT_MEASURED: "dim", PARTIAL: "yellow"}.get(metric.status)
    return paint(metric.status, style) if style else metric.status


def _metrics(metrics: Iterable[Metric], layout: _Layout) -> list[str]:
    """One line per metric; why one was not measured once below the table, as numbered notes, and with
    ``verbose`` how each was measured.

    P50, P95 and P99 come from one model and share its note, so the table stays one line per metric.
    """
    notes: dict[str, int] = {}  # note text -> its number
    rows = []
    for m in metrics:
        how = f"how: {m.method}" if m.method and layout.verbose else ""
        # a value over part of the objects says so whatever the verbosity: it is not the whole database's
        over = f"over {m.measured}" + (f"; {m.reason}" if m.reason else "") if m.measured else ""
        text = f"why not: {m.reason}" if m.value is None else "; ".join(x for x in (over, how) if x)
        ref = f"[{notes.setdefault(text, len(notes) + 1)}]" if text else ""
        rows.append([m.label, _metric_value(m), m.target, _metric_status(m, layout.paint), ref])
    if not rows:
        return []
    headers = ["metric", "value", "target", "status", "note"] if notes else ["metric", "value", "target", "status"]
    table = tabulate([row if notes else row[:4] for row in rows], headers=headers, tablefmt="simple")
    lines = [*_heading("Quality metrics", layout.paint), table]
    if notes:
        lines.append("")
    for text, number in notes.items():
        tag = f"[{number}]"
        lines.extend(layout.wrap(f"{tag} {text}", "  ", hang=len(tag) + 1))
    if not layout.verbose and any(m.method for m in metrics if m.value is not None):
        lines.extend(["", *layout.wrap("how each metric is measured: --verbose", "  ")])
    return lines


def _data_sample(report: Report, layout: _Layout) -> list[str]:
    """Which tables the normalization checks could judge: a partial sample is otherwise invisible."""
    sampling = report.snapshot.sampling if report.snapshot is not None else None
    if sampling is None:
        return []
    if not sampling.enabled:
        return ["", "data sample: off (--no-sample); NF02-NF04 skipped"]
    skips = skipped_tables(sampling)
    judged = len(sampling.tables) - sum(skips.values())
    text = (f"data sample: {judged} of {len(sampling.tables)} tables sampled (up to "
            f"{sampling.rows_per_table:,} rows each) in {elapsed(sampling.duration_s)}")
    if skips:
        text += f"; not judged by NF02-NF04: {describe_skips(skips)}"
    return ["", *layout.wrap(text, "", hang=13)]


def _skipped(report: Report, layout: _Layout) -> list[str]:
    """Skipped checks, those skipped for the same reason (and with the same remedy) listed together."""
    if not report.skipped:
        return []
    merged: dict[tuple[str, str | None], list[Skipped]] = {}
    for entry in report.skipped:
        merged.setdefault((entry.reason, entry.enable), []).append(entry)
    lines = _heading(f"Skipped checks ({len(report.skipped)})", layout.paint)
    for (reason, enable), entries in merged.items():
        lines.extend(layout.wrap(", ".join(f"{e.code} {e.check}" for e in entries), "  ", hang=2))
        lines.extend(layout.wrap(f"why: {reason}", "        ", hang=5))
        if enable:
            lines.extend(_enable(enable, "        ", layout))
    return lines


def _notes(report: Report, layout: _Layout) -> list[str]:
    if not report.notes:
        return []
    lines = _heading(f"Notes ({len(report.notes)})", layout.paint)
    for note in report.notes:
        lines.extend(layout.wrap(f"[{note.area}] {note.message}", "  ", hang=len(note.area) + 3))
        if note.objects:
            shown = ", ".join(note.objects[:10])
            more = f" and {len(note.objects) - 10} more" if len(note.objects) > 10 else ""
            lines.extend(layout.wrap(f"objects: {shown}{more}", "        ", hang=9))
        if note.enable:
            lines.extend(_enable(note.enable, "        ", layout))
    return lines


def _policy(report: Report, layout: _Layout) -> list[str]:
    """Suppressed findings, stale ignores and the baseline comparison (auditor.config, auditor.baseline)."""
    lines: list[str] = []
    if report.suppressed:
        lines.extend(_heading(f"Suppressed findings ({len(report.suppressed)})", layout.paint))
        for item in report.suppressed:
            lines.append(f"  {item.finding.code}  {item.finding.check}  {item.finding.object.label()}")
            lines.extend(layout.wrap(f"reason: {item.rule.reason}", "        ", hang=8))
    if report.stale_ignores:
        lines.extend(_heading(f"Stale ignores ({len(report.stale_ignores)})", layout.paint))
        for rule in report.stale_ignores:
            lines.extend(layout.wrap(f"{rule.where or 'ignore'}: check {rule.check!r}, object {rule.object!r} "
                                     "matched no finding; remove it", "  ", hang=4))
    if report.baseline is not None:
        base = report.baseline
        lines.extend(_heading("Baseline", layout.paint))
        lines.extend(layout.wrap(f"{base.path}: {base.entries} recorded; {len(report.findings)} new, "
                                 f"{len(base.unchanged)} unchanged (not shown above), {len(base.fixed)} fixed",
                                 "  ", hang=4))
        for entry in base.fixed:
            lines.append(f"  fixed: {entry.code}  {entry.check}  {entry.object}")
    return lines


NEXT_STEPS = 5
UNEXPLAINED = 10


def _next_steps(report: Report, layout: _Layout) -> list[str]:
    """The first few steps of the design document's list: what saves the most measured time first."""
    workload_ms = design.workload_time_ms(report.snapshot)
    steps = [s for s in design.next_steps(report.findings, (), workload_ms=workload_ms)
             if s.severity != Severity.INFO][:NEXT_STEPS]
    if not steps:
        return []
    lines = _heading("Next steps (by measured time saved, errors first)", layout.paint)
    for n, step in enumerate(steps, 1):
        lines.extend(layout.wrap(f"{n}. {step.title}", "  ", hang=3))
        saving = design.saving_text(step, workload_ms)
        if saving:
            lines.extend(layout.wrap(f"{saving} ({step.saves_how})", "     "))
        if step.detail.startswith("resolves "):  # one index for several findings
            lines.extend(layout.wrap(step.detail.split("; e.g. ")[0], "     "))
    return lines


def _unexplained(report: Report, layout: _Layout) -> list[str]:
    """Statements dbaudit meant to explain and could not: their plans are in no workload check or figure."""
    missed = design.unexplained_statements(report.snapshot)
    if not missed:
        return []
    lines = _heading(f"Statements not explained ({len(missed)})", layout.paint)
    kinds = design.unexplained_by_reason(missed)
    if len(kinds) > 1:
        lines.extend(layout.wrap("by reason: " + ", ".join(f"{n:,} {kind}" for kind, n in kinds), "  "))
    lines.extend(layout.wrap("no plan, so not judged by WL02 nor counted in index coverage; the reason, then the "
                             "statement:", "  "))
    for stmt, reason in missed[:UNEXPLAINED]:
        query = terminal_safe(" ".join(stmt.query.split()))  # the snapshot's text is not escaped for us
        query = query if len(query) <= 200 else query[:197] + "..."
        figures = f"{stmt.calls:,} calls, {elapsed_ms(stmt.total_ms)}"
        lines.extend(layout.wrap(f"{terminal_safe(reason)} ({figures}): {query}", "  ", hang=4))
    if len(missed) > UNEXPLAINED:
        lines.append(f"  and {len(missed) - UNEXPLAINED} more")
    return lines


def render_text(report: Report, color: bool = False, *, width: int = WIDTH, limit: int | None = LIMIT,
                verbose: bool = False) -> str:
    """The text report; ``limit`` findings in full per check (None: all), wrapped to ``width`` columns,
    the methodology notes with ``verbose``."""
    layout = _Layout(_Painter(color), max(width, MIN_WIDTH), limit, verbose)
    lines = _header(report, layout)
    lines.extend(since_lines(report))  # --history: what changed since the previous run, first
    lines.extend(_findings(report.findings, layout))
    lines.extend(_heading("Summary", layout.paint))
    lines.extend(_counts(report))
    lines.extend(_data_sample(report, layout))
    lines.extend(_metrics(report.metrics, layout))
    lines.extend(_next_steps(report, layout))
    lines.extend(_unexplained(report, layout))
    lines.extend(_skipped(report, layout))
    lines.extend(_notes(report, layout))
    lines.extend(_policy(report, layout))
    return "\n".join(line.rstrip() for line in lines) + "\n"
