"""The JSON report, format version 1 (DESIGN.md, "A finding, and the JSON report").

Field names are a public contract: fields may be added, never renamed or removed. Keys come out in a fixed
order (contract fields first, additions after) so that two runs over the same snapshot give identical output.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from auditor.config import IgnoreRule
from auditor.model import Note, Severity, Skipped
from auditor.report import REPORT_FORMAT_VERSION, Report
from auditor.scoring import Metric
from reports import jsontext

TOOL_NAME = "dbaudit"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the second; a naive datetime is taken as UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _metric(metric: Metric) -> dict[str, Any]:
    return {
        "key": metric.key,
        "label": metric.label,
        "value": metric.value,
        "unit": metric.unit,
        "target": metric.target,
        "passed": metric.passed,
        "status": metric.status,
        "method": metric.method,
        "reason": metric.reason,
        "measured": metric.measured,
    }


def _skipped(entry: Skipped) -> dict[str, Any]:
    # "enable" is always present (null when nothing would enable the check) so consumers need no key test
    return {"check": entry.check, "code": entry.code, "reason": entry.reason, "enable": entry.enable}


def _note(note: Note) -> dict[str, Any]:
    return {"area": note.area, "message": note.message, "objects": list(note.objects), "enable": note.enable}


def _ignore_rule(rule: IgnoreRule) -> dict[str, Any]:
    return {"check": rule.check, "object": rule.object, "reason": rule.reason, "where": rule.where}


def _baseline(report: Report) -> dict[str, Any] | None:
    """With --baseline: ``findings`` holds only the new findings; this says what the baseline held."""
    if report.baseline is None:
        return None
    return {
        "path": report.baseline.path,
        "entries": report.baseline.entries,
        "new": len(report.findings),
        "unchanged": len(report.baseline.unchanged),
        "fixed": [entry.as_dict() for entry in report.baseline.fixed],
    }


def report_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON types, in contract order."""
    summary = {sev.value: report.count(sev) for sev in (Severity.ERROR, Severity.WARNING, Severity.INFO)}
    summary["total"] = len(report.findings)
    return {
        "format_version": REPORT_FORMAT_VERSION,
        "tool": {"name": TOOL_NAME, "version": report.tool_version},
        "target": {
            "engine": report.target.engine,
            "server_version": report.target.server_version,
            "database": report.target.database,
            "dsn": report.target.dsn,
        },
        "started_at": iso_utc(report.started_at),
        "duration_s": report.duration_s,
        "metrics": {m.key: m.value for m in report.metrics},
        # upper and not_measured: additions (docs/scoring.md, "Checks and metrics not measured")
        "score": {"value": report.score.value, "grade": report.score.grade, "reason": report.score.reason,
                  "upper": report.score.upper, "not_measured": list(report.score.not_measured)},
        "findings": [f.as_dict() for f in report.findings],
        "skipped": [_skipped(s) for s in report.skipped],
        # additions to the version 1 contract
        "summary": summary,
        "quality": [_metric(m) for m in report.metrics],
        "notes": [_note(n) for n in report.notes],
        "checks_run": list(report.checks_run),
        "suppressed": [
            {**item.finding.as_dict(), "suppressed_by": _ignore_rule(item.rule)} for item in report.suppressed
        ],
        "stale_ignores": [_ignore_rule(rule) for rule in report.stale_ignores],
        "baseline": _baseline(report),
        # the scan stopped early (why, and what is missing); the audit judged nothing (why). Both: not graded
        "partial": report.partial,
        "empty": report.empty,
    }


def render_json(report: Report) -> str:
    doc = report_dict(report)
    if report.history is not None:
        # --history: what changed since the previous recorded run (reports.history has the contract)
        from reports.history import history_dict

        doc["history"] = history_dict(report.history)
    return jsontext.dumps(doc, default=str) + "\n"
