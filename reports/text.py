"""The human report: header, findings by severity with their fix, counts, metrics, skipped checks, notes.

Laid out for a 100-column terminal; long messages wrap, remediation SQL is printed as is (indented) so that it
can be copied. Formatting only: every figure comes from the Report.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from tabulate import tabulate

from auditor.model import Finding, Severity
from auditor.report import Report
from auditor.sampling import describe_skips, skipped_tables
from auditor.scoring import Metric
from reports.history import since_lines
from reports.jsonfmt import iso_utc

WIDTH = 100
ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)
ENGINE_LABEL = {"postgresql": "PostgreSQL", "mysql": "MySQL"}

_ANSI = {"red": "31", "yellow": "33", "cyan": "36", "green": "32", "bold": "1", "dim": "2"}
SEVERITY_COLOUR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_SINGULAR = {"indexes": "index", "bytes": "byte", "tables": "table", "statements": "statement"}
GRADE_COLOUR = {"A": "green", "B": "green", "C": "yellow", "D": "yellow", "F": "red"}


class _Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        codes = ";".join(_ANSI[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _wrap(text: str, indent: str, hang: int = 0) -> list[str]:
    """Wrap to WIDTH; ``hang`` extra spaces on continuation lines line them up after a "label: " prefix."""
    wrapped = textwrap.wrap(
        " ".join(text.split()),
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + " " * hang,
        break_on_hyphens=False,
    )
    return wrapped or [indent]


def _enable(text: str, indent: str) -> list[str]:
    """What would enable a check; a multi-line fix (a my.cnf section) keeps its lines, indented under it."""
    parts = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    if len(parts) <= 1:
        return _wrap(f"to enable: {text}", indent, hang=11)
    # each line is a line of a file or a statement: joining them would make "[mysqld] performance_schema = ON"
    return [f"{indent}to enable:", *(f"{indent}  {line}" for line in parts)]


def _heading(title: str, paint: _Painter) -> list[str]:
    return ["", paint(title, "bold"), paint("-" * len(title), "dim")]


def _header(report: Report, paint: _Painter) -> list[str]:
    target = report.target
    engine = ENGINE_LABEL.get(target.engine, target.engine)
    if report.snapshot is not None and report.snapshot.flavor == "mariadb":
        engine = "MariaDB"
    score = report.score
    rows = [
        ("target", target.dsn or "(unknown)"),
        ("server", f"{engine} {target.server_version}".strip()),
        ("database", target.database or "(unknown)"),
        ("started", f"{iso_utc(report.started_at)}, took {report.duration_s:.2f} s"),
        ("findings", _counts_line(report)),
        ("by check", _per_check_line(report)),
        (
            "score",
            paint(score.label(), "bold", GRADE_COLOUR.get(score.grade, "bold")),
        ),
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
        if "\x1b" in value:  # painted: short, and textwrap would count the escape codes
            lines.append(label.ljust(width) + value)
            continue
        # wrapped by hand: tabulate would not wrap a long per-check line
        lines.extend(textwrap.wrap(value, WIDTH, initial_indent=label.ljust(width), subsequent_indent=" " * width,
                                   break_long_words=False, break_on_hyphens=False))
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
            _plural(report.count(Severity.ERROR), "error"),
            _plural(report.count(Severity.WARNING), "warning"),
            f"{report.count(Severity.INFO)} info",
        )
    )


def _finding(finding: Finding, paint: _Painter) -> list[str]:
    code = paint(finding.code, SEVERITY_COLOUR[finding.severity])
    lines = [f"  {code}  {finding.check}  {finding.object.label()}"]
    lines.extend(_wrap(finding.message, "        "))
    if finding.remediation:
        lines.append(paint("        fix:", "dim"))
        lines.extend("          " + line for line in finding.remediation.splitlines())
    return lines


def _findings(findings: Iterable[Finding], paint: _Painter) -> list[str]:
    by_severity: dict[Severity, list[Finding]] = {sev: [] for sev in ORDER}
    for f in findings:
        by_severity[f.severity].append(f)
    lines: list[str] = []
    for sev in ORDER:
        group = by_severity[sev]
        if not group:
            continue
        lines.extend(_heading(f"{sev.value.upper()} ({len(group)})", paint))
        for finding in group:
            lines.extend(_finding(finding, paint))
            lines.append("")
        lines.pop()
    if not lines:
        lines = ["", paint("No findings.", "green")]
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
    if metric.value is None:
        return paint("not measured", "dim")
    if metric.passed is None:
        return ""
    return paint("pass", "green") if metric.passed else paint("FAIL", "red")


def _metrics(metrics: Iterable[Metric], paint: _Painter) -> list[str]:
    """One line per metric; how each was measured (or why not) once below the table, as numbered notes.

    P50, P95 and P99 come from one model and share its note, so the table stays one line per metric.
    """
    notes: dict[str, int] = {}  # note text -> its number
    rows = []
    for m in metrics:
        text = f"why not: {m.reason}" if m.value is None else (f"how: {m.method}" if m.method else "")
        ref = f"[{notes.setdefault(text, len(notes) + 1)}]" if text else ""
        rows.append([m.label, _metric_value(m), m.target, _metric_status(m, paint), ref])
    if not rows:
        return []
    table = tabulate(rows, headers=["metric", "value", "target", "status", "note"], tablefmt="simple")
    lines = [*_heading("Quality metrics", paint), table, ""]
    for text, number in notes.items():
        tag = f"[{number}]"
        lines.extend(_wrap(f"{tag} {text}", "  ", hang=len(tag) + 1))
    return lines


def _data_sample(report: Report) -> list[str]:
    """Which tables the normalization checks could judge: a partial sample is otherwise invisible."""
    sampling = report.snapshot.sampling if report.snapshot is not None else None
    if sampling is None:
        return []
    if not sampling.enabled:
        return ["", "data sample: off (--no-sample); NF02-NF04 skipped"]
    skips = skipped_tables(sampling)
    judged = len(sampling.tables) - sum(skips.values())
    text = (f"data sample: {judged} of {len(sampling.tables)} tables sampled (up to "
            f"{sampling.rows_per_table:,} rows each) in {sampling.duration_s:.2f} s")
    if skips:
        text += f"; not judged by NF02-NF04: {describe_skips(skips)}"
    return ["", *_wrap(text, "", hang=13)]


def _skipped(report: Report, paint: _Painter) -> list[str]:
    if not report.skipped:
        return []
    lines = _heading(f"Skipped checks ({len(report.skipped)})", paint)
    for entry in report.skipped:
        lines.append(f"  {entry.code}  {entry.check}")
        lines.extend(_wrap(f"why: {entry.reason}", "        ", hang=5))
        if entry.enable:
            lines.extend(_enable(entry.enable, "        "))
    return lines


def _notes(report: Report, paint: _Painter) -> list[str]:
    if not report.notes:
        return []
    lines = _heading(f"Notes ({len(report.notes)})", paint)
    for note in report.notes:
        lines.extend(_wrap(f"[{note.area}] {note.message}", "  ", hang=len(note.area) + 3))
        if note.objects:
            shown = ", ".join(note.objects[:10])
            more = f" and {len(note.objects) - 10} more" if len(note.objects) > 10 else ""
            lines.extend(_wrap(f"objects: {shown}{more}", "        ", hang=9))
        if note.enable:
            lines.extend(_enable(note.enable, "        "))
    return lines


def _policy(report: Report, paint: _Painter) -> list[str]:
    """Suppressed findings, stale ignores and the baseline comparison (auditor.config, auditor.baseline)."""
    lines: list[str] = []
    if report.suppressed:
        lines.extend(_heading(f"Suppressed findings ({len(report.suppressed)})", paint))
        for item in report.suppressed:
            lines.append(f"  {item.finding.code}  {item.finding.check}  {item.finding.object.label()}")
            lines.extend(_wrap(f"reason: {item.rule.reason}", "        ", hang=8))
    if report.stale_ignores:
        lines.extend(_heading(f"Stale ignores ({len(report.stale_ignores)})", paint))
        for rule in report.stale_ignores:
            lines.extend(_wrap(f"{rule.where or 'ignore'}: check {rule.check!r}, object {rule.object!r} matched no "
                               "finding; remove it", "  ", hang=4))
    if report.baseline is not None:
        base = report.baseline
        lines.extend(_heading("Baseline", paint))
        lines.extend(_wrap(f"{base.path}: {base.entries} recorded; {len(report.findings)} new, "
                           f"{len(base.unchanged)} unchanged (not shown above), {len(base.fixed)} fixed", "  ", hang=4))
        for entry in base.fixed:
            lines.append(f"  fixed: {entry.code}  {entry.check}  {entry.object}")
    return lines


def render_text(report: Report, color: bool = False) -> str:
    paint = _Painter(color)
    lines = _header(report, paint)
    lines.extend(since_lines(report))  # --history: what changed since the previous run, first
    lines.extend(_findings(report.findings, paint))
    lines.extend(_heading("Summary", paint))
    lines.extend(_counts(report))
    lines.extend(_data_sample(report))
    lines.extend(_metrics(report.metrics, paint))
    lines.extend(_skipped(report, paint))
    lines.extend(_notes(report, paint))
    lines.extend(_policy(report, paint))
    return "\n".join(line.rstrip() for line in lines) + "\n"
