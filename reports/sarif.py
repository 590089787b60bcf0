"""SARIF 2.1.0: one run, the rules rendered from the check registry, one result per finding.

A database has no source files, so each result carries

- a ``logicalLocation`` that says what the finding is about (``kind`` = the object type: table, index,
  foreign_key, sequence, query, ...; ``fullyQualifiedName`` = schema.table.index and so on), and
- a ``physicalLocation`` with a stable, repository-relative artifact path (each part percent-encoded), because
  CI systems need one: GitHub code scanning refuses results whose URI has a scheme it does not know
  (``db://...`` is rejected as "unrecognized SARIF location URI scheme") and files alerts by path. The path need
  not exist in the repository; the alert is then shown without a code snippet. One name per level, never twice:

  - a schema object: ``db/<database>/<schema>/<table>`` (or ``<sequence>``, ``<domain>``, ``functions/<f>``) on
    PostgreSQL, ``db/<schema>/<table>`` on MySQL/MariaDB, where the schema is the database; a schema alone
    ``db/<database>/<schema>`` (PostgreSQL), ``db/<schema>`` (MySQL/MariaDB);
  - a statement: ``db/<database>/queries/<fingerprint>``; the database itself: ``db/<database>``;
  - a server-wide object: ``server/<kind>/<name>``: ``server/roles/<role or 'user'@'host'>``,
    ``server/settings/<name>``, ``server/hba/<rule>``, ``server/replication_slots/<slot>``,
    ``server/replicas/<channel>``, ``server/sessions/<pid or gid>``; ``server`` when it names none.

``partialFingerprints`` hold the finding's identity (check code + object, never the message; the same hash as
``--baseline`` uses), under ``dbaudit/v1`` and under ``primaryLocationLineHash`` so that GitHub matches an alert
across runs without trying to hash source lines that do not exist. The remediation SQL is in the result's
``properties.remediation`` (SARIF ``fixes`` describe edits to files, which a live database does not have).
Suppressed findings are included with a ``suppressions`` entry (GitHub then closes the alert); with a baseline,
results say ``baselineState`` new or unchanged. Skipped checks and stale ignores are notifications of the
invocation.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from auditor.baseline import fingerprint
from auditor.engine import DOCS_BASE, CheckSpec, find_check, option_fields
from auditor.model import Finding, ObjectRef, Severity
from auditor.report import Report
from reports import jsontext
from reports.jsonfmt import TOOL_NAME, iso_utc

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = DOCS_BASE.split("/blob/", 1)[0]
FINGERPRINT_KEY = "dbaudit/v1"

LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}

# json.dumps(details, default=str) without a new encoder per finding
_DETAILS = json.JSONEncoder(default=str)
_PLAIN = frozenset({str, int, float, bool, type(None)})

_HELP_SECTIONS = ("What it does", "Why is this bad?", "Example", "Fix", "Options", "Known problems", "References")


def _rule(spec: CheckSpec) -> dict[str, Any]:
    sections = spec.doc_sections()
    parts = [f"**{spec.code} {spec.name}**: {spec.summary}"]
    for title in _HELP_SECTIONS:
        body = sections.get(title)
        if body:
            parts.append(f"## {title}\n\n{body}")
    markdown = "\n\n".join(parts)
    what = " ".join(sections.get("What it does", spec.summary).split())
    options = {name: default for name, _type, default in option_fields(spec)}
    properties: dict[str, Any] = {
        "category": spec.category,
        "engines": sorted(spec.engines),
        "tags": ["database", spec.category, *sorted(spec.engines)],
    }
    if options:
        properties["options"] = _plain(options)
    return {
        "id": spec.code,
        "name": spec.name,
        "shortDescription": {"text": spec.summary},
        "fullDescription": {"text": what},
        "help": {"text": f"{spec.summary} See {spec.doc_url}", "markdown": markdown},
        "helpUri": spec.doc_url,
        "defaultConfiguration": {"level": LEVEL[spec.severity]},
        "properties": properties,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _fallback_rule(code: str, name: str) -> dict[str, Any]:
    """A check the registry does not know (a snapshot or report from a newer dbaudit)."""
    return {"id": code, "name": name, "shortDescription": {"text": name}}


# server-wide objects: (ObjectRef field, path segment), the first set wins
_SERVER_OBJECTS = (("role", "roles"), ("setting", "settings"), ("rule", "hba"), ("slot", "replication_slots"),
                   ("channel", "replicas"), ("pid", "sessions"), ("gid", "sessions"))


def _artifact_uri(report: Report, obj: ObjectRef, identity: str) -> str:
    """The finding's path (see the module's docstring)."""
    database = report.target.database or obj.database or "database"
    if obj.type == "query":
        parts = ["db", database, "queries", identity[:16]]
    elif obj.schema is not None:
        # MySQL/MariaDB: the schema is the database, named once
        parts = ["db", obj.schema] if report.target.engine == "mysql" else ["db", database, obj.schema]
        if obj.function is not None:
            parts += ["functions", obj.function]
        else:
            parts += [p for p in (obj.table or obj.sequence or obj.domain,) if p]
    elif obj.type == "database":
        parts = ["db", obj.database or database]
    else:
        parts = ["server"]
        for field_name, segment in _SERVER_OBJECTS:
            value = getattr(obj, field_name)
            if value is not None:
                parts += [segment, str(value) or "default"]
                break
    return "/".join(quote(p, safe="") for p in parts)


def _qualified_name(obj: ObjectRef) -> str:
    if obj.type == "query":
        return obj.queryid or obj.label()
    names = [obj.schema, obj.table]
    if obj.type == "index":
        names.append(obj.index)
    elif obj.type == "sequence":
        names = [obj.schema, obj.sequence]
    elif obj.type in ("foreign_key", "constraint") and obj.constraint:
        names.append(obj.constraint)
    elif obj.type == "column" and obj.columns:
        names.append(",".join(obj.columns))
    return ".".join(n for n in names if n) or obj.label()


def _logical_name(obj: ObjectRef) -> str:
    for value in (obj.index, obj.sequence, obj.constraint, obj.table, obj.schema):
        if value:
            return value
    return obj.label()


def _result(
    report: Report,
    finding: Finding,
    rule_index: dict[str, int],
    *,
    baseline_state: str | None = None,
    suppression: str | None = None,
) -> dict[str, Any]:
    identity = fingerprint(finding)
    obj = finding.object
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": rule_index[finding.code],
        "level": LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _artifact_uri(report, obj, identity)},
                    "region": {"startLine": 1},
                },
                "logicalLocations": [
                    {
                        "name": _logical_name(obj),
                        "fullyQualifiedName": _qualified_name(obj),
                        "kind": obj.type,
                    }
                ],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: identity, "primaryLocationLineHash": identity},
    }
    if baseline_state:
        result["baselineState"] = baseline_state
    if suppression is not None:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": suppression}]
    properties: dict[str, Any] = {
        "check": finding.check,
        "severity": finding.severity.value,
        "category": finding.category,
        "object": obj.as_dict(),
    }
    if finding.details:
        details = finding.details
        # plain values (most findings' details) are what the JSON round trip would give back; any other value is
        # made JSON by it (default=str)
        flat = all(type(k) is str and type(v) in _PLAIN for k, v in details.items())
        properties["details"] = dict(details) if flat else json.loads(_DETAILS.encode(dict(details)))
    if finding.remediation:
        properties["remediation"] = finding.remediation
    result["properties"] = properties
    return result


def sarif_dict(report: Report) -> dict[str, Any]:
    unchanged = report.baseline.unchanged if report.baseline else ()
    every_finding = [*report.findings, *unchanged, *(s.finding for s in report.suppressed)]
    names: dict[str, str] = {code: code for code in report.checks_run}
    names.update({s.code: s.check for s in report.skipped})
    names.update({f.code: f.check for f in every_finding})
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    for code in sorted(names):
        spec = find_check(code)
        rule_index[code] = len(rules)
        rules.append(_rule(spec) if spec is not None and spec.code == code else _fallback_rule(code, names[code]))

    with_baseline = report.baseline is not None
    results = [
        _result(report, f, rule_index, baseline_state="new" if with_baseline else None)
        for f in report.findings
    ]
    results += [_result(report, f, rule_index, baseline_state="unchanged") for f in unchanged]
    results += [
        _result(report, s.finding, rule_index, baseline_state="new" if with_baseline else None,
                suppression=s.rule.reason)
        for s in report.suppressed
    ]

    skipped_notes = [
        {
            "level": "note",
            "message": {
                "text": f"{s.code} {s.check} was skipped: {s.reason}"
                + (f". To enable it: {s.enable}" if s.enable else "")
            },
            "associatedRule": {"id": s.code, "index": rule_index[s.code]},
        }
        for s in report.skipped
    ]
    stale_notes = [
        {
            "level": "warning",
            "message": {
                "text": f"stale ignore ({rule.where or 'config'}): check {rule.check!r}, object {rule.object!r} "
                f"matched no finding; remove it (reason given: {rule.reason})"
            },
        }
        for rule in report.stale_ignores
    ]
    invocation: dict[str, Any] = {
        # a partial scan (it stopped early) or an audit of nothing is not a successful run
        "executionSuccessful": not (report.partial or report.empty),
        "startTimeUtc": iso_utc(report.started_at),
        "endTimeUtc": iso_utc(report.started_at + timedelta(seconds=report.duration_s)),
    }
    problems = [{"level": "error", "message": {"text": text}} for text in (report.partial, report.empty) if text]
    if skipped_notes or problems:
        invocation["toolExecutionNotifications"] = problems + skipped_notes
    if stale_notes:
        invocation["toolConfigurationNotifications"] = stale_notes

    run_properties: dict[str, Any] = {
        "engine": report.target.engine,
        "serverVersion": report.target.server_version,
        "database": report.target.database,
        "dsn": report.target.dsn,
        "score": {"value": report.score.value, "grade": report.score.grade, "reason": report.score.reason},
        "metrics": {m.key: m.value for m in report.metrics},
    }
    if report.baseline is not None:
        run_properties["baseline"] = {
            "path": report.baseline.path,
            "entries": report.baseline.entries,
            "new": len(report.findings),
            "unchanged": len(report.baseline.unchanged),
            "fixed": [e.as_dict() for e in report.baseline.fixed],
        }
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        # one category per audited database, so that alerts of two databases in one repository do not close
        # each other
        "automationDetails": {"id": f"{TOOL_NAME}/{report.target.engine}/{report.target.database}/"},
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": run_properties,
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report: Report) -> str:
    return jsontext.dumps(sarif_dict(report)) + "\n"
