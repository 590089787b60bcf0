"""JUnit XML: one testsuite per check family, one testcase per check.

A check that ran and found nothing passes; one with findings has a single ``failure`` element whose message
counts them and whose text lists each (object, message, fix, documentation). One failure per testcase, because
several CI readers keep only the first failure of a testcase. A check that could not run is ``skipped`` with the
reason. Findings below the effective ``--fail-on`` (warnings and info with the default ``error``, every finding
with ``never``), findings already in a ``--baseline`` and suppressed ones do not fail; they are listed in the
testcase's ``system-out``, so that a job whose scan exits 0 shows no failure either.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field

from auditor.engine import find_check
from auditor.model import Finding, Severity, Skipped
from auditor.report import Report
from reports.jsonfmt import TOOL_NAME, iso_utc

# XML 1.0 forbids most control characters even when escaped; a message must never make the file unparsable
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("?", text)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class _Case:
    code: str
    name: str
    category: str
    findings: list[Finding] = field(default_factory=list)
    quiet: list[str] = field(default_factory=list)  # baselined and suppressed findings, for system-out
    skipped: Skipped | None = None


def _finding_text(finding: Finding) -> str:
    lines = [f"[{finding.severity.value}] {finding.object.label()}", f"  {' '.join(finding.message.split())}"]
    if finding.remediation:
        lines.append("  fix:")
        lines.extend(f"    {line}" for line in finding.remediation.splitlines())
    if finding.doc_url:
        lines.append(f"  docs: {finding.doc_url}")
    return "\n".join(lines)


def _fails(finding: Finding, fail_on: str) -> bool:
    """Whether the finding makes the scan exit 1, as the CLI decides it."""
    if fail_on == "never":
        return False
    try:
        threshold = Severity(fail_on)
    except ValueError:
        threshold = Severity.ERROR
    return finding.severity.rank >= threshold.rank


def _cases(report: Report) -> list[_Case]:
    cases: dict[str, _Case] = {}

    def case(code: str, name: str, category: str | None = None) -> _Case:
        if code not in cases:
            spec = find_check(code)
            known = spec is not None and spec.code == code
            cases[code] = _Case(
                code=code,
                name=spec.name if spec is not None and known else name,
                category=category or (spec.category if spec is not None and known else "other"),
            )
        return cases[code]

    for code in report.checks_run:
        case(code, code)
    for entry in report.skipped:
        case(entry.code, entry.check).skipped = entry
    for finding in report.findings:
        c = case(finding.code, finding.check, finding.category)
        if _fails(finding, report.fail_on):
            c.findings.append(finding)
        else:
            c.quiet.append(f"below --fail-on {report.fail_on}: {_finding_text(finding)}")
    for finding in report.baseline.unchanged if report.baseline else ():
        case(finding.code, finding.check, finding.category).quiet.append(
            f"in the baseline: {finding.object.label()}: {_one_line(finding.message)}"
        )
    for item in report.suppressed:
        f = item.finding
        case(f.code, f.check, f.category).quiet.append(
            f"suppressed ({item.rule.reason}): {f.object.label()}: {_one_line(f.message)}"
        )
    return sorted(cases.values(), key=lambda c: (c.category, c.code))


def _testcase(suite: ET.Element, case: _Case) -> None:
    classname = f"{TOOL_NAME}.{case.category}"
    element = ET.SubElement(suite, "testcase", classname=classname, name=f"{case.code} {case.name}", time="0")
    if case.skipped is not None:
        why = case.skipped.reason + (f"; to enable: {case.skipped.enable}" if case.skipped.enable else "")
        ET.SubElement(element, "skipped", message=_clean(_one_line(why)))
    elif case.findings:
        worst = max((f.severity for f in case.findings), key=lambda s: s.rank)
        first = case.findings[0]
        count = len(case.findings)
        summary = f"{count} finding{'s' if count != 1 else ''}: {first.object.label()}: {first.message}"
        if count > 1:
            summary += f" (and {count - 1} more)"
        failure = ET.SubElement(element, "failure", message=_clean(_one_line(summary)), type=worst.value)
        failure.text = _clean("\n\n".join(_finding_text(f) for f in case.findings))
    if case.quiet:
        out = ET.SubElement(element, "system-out")
        out.text = _clean("\n".join(case.quiet))


def junit_tree(report: Report) -> ET.Element:
    by_family: dict[str, list[_Case]] = defaultdict(list)
    for case in _cases(report):
        by_family[case.category].append(case)
    timestamp = iso_utc(report.started_at)
    root = ET.Element(
        "testsuites",
        name=f"{TOOL_NAME} {report.target.database}".strip(),
        time=f"{report.duration_s:.3f}",
    )
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for family in sorted(by_family):
        cases = by_family[family]
        failures = sum(1 for c in cases if c.findings and c.skipped is None)
        skipped = sum(1 for c in cases if c.skipped is not None)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{TOOL_NAME}.{family}",
            tests=str(len(cases)),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
            time="0",
            timestamp=timestamp,
        )
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("engine", report.target.engine),
            ("server_version", report.target.server_version),
            ("database", report.target.database),
            ("dsn", report.target.dsn),
        ):
            ET.SubElement(props, "property", name=key, value=_clean(value))
        for case in cases:
            _testcase(suite, case)
        totals["tests"] += len(cases)
        totals["failures"] += failures
        totals["skipped"] += skipped
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(totals["skipped"]))
    return root


def render_junit(report: Report) -> str:
    root = junit_tree(report)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"

