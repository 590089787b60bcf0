"""JUnit XML: golden file, well-formedness, and the structure CI readers expect.

Regenerate the golden file after an intended change with ``UPDATE_GOLDEN=1 pytest tests/test_reports_junit.py``.
"""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.engine import all_checks
from auditor.report import Report, Target
from auditor.scoring import Score
from reports.junit import render_junit
from tests.policy_support import policy_report, save_snapshot
from tests.test_reports import PASSWORD, sample_report

GOLDEN = Path(__file__).parent / "golden"


def parse(report: Report) -> ET.Element:
    text = render_junit(report)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def test_junit_matches_golden() -> None:
    actual = render_junit(policy_report())
    path = GOLDEN / "report.junit.xml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert actual == path.read_text(encoding="utf-8"), "report.junit.xml differs; rerun with UPDATE_GOLDEN=1"


def strict_report() -> Report:
    """The policy report as a scan with --fail-on info renders it: every finding fails its check."""
    return dataclasses.replace(policy_report(), fail_on="info")


def test_one_suite_per_family_one_case_per_check() -> None:
    root = parse(strict_report())
    assert root.tag == "testsuites"
    suites = {s.get("name", ""): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["dbaudit.indexes", "dbaudit.keys", "dbaudit.normalization", "dbaudit.workload"]
    cases = {c.get("name", ""): c for c in root.iter("testcase")}
    assert sorted(cases) == [
        "IX01 unused-index",
        "IX04 invalid-index",
        "IX05 missing-fk-index",
        "KY01 no-primary-key",
        "NF02 multi-valued-column",
        "WL01 slow-query",
        "WL03 n-plus-one",
    ]
    # totals agree with the elements, as strict readers check
    for suite in [root, *suites.values()]:
        found = list(suite.iter("testcase"))
        assert int(suite.get("tests", "-1")) == len(found)
        assert int(suite.get("failures", "-1")) == sum(1 for c in found if c.find("failure") is not None)
        assert int(suite.get("skipped", "-1")) == sum(1 for c in found if c.find("skipped") is not None)
        assert suite.get("errors") == "0"


def test_failures_skips_and_quiet_findings() -> None:
    cases = {c.get("name"): c for c in parse(strict_report()).iter("testcase")}
    failure = cases["IX04 invalid-index"].find("failure")
    assert failure is not None and failure.get("type") == "error"
    assert failure.get("message", "").startswith("1 finding: public.orders_created_idx: ")
    assert "DROP INDEX CONCURRENTLY public.orders_created_idx;" in (failure.text or "")
    assert "docs: https://" in (failure.text or "")
    assert cases["WL03 n-plus-one"].find("failure").get("type") == "info"  # type: ignore[union-attr]
    skipped = cases["WL01 slow-query"].find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith("pg_stat_statements is not installed")
    # a suppressed finding does not fail its check; it is listed
    ix01 = cases["IX01 unused-index"]
    assert ix01.find("failure") is None
    assert "suppressed (archive tables): public.audit_2025_at_idx" in (ix01.findtext("system-out") or "")


def test_hostile_names_and_control_characters_stay_well_formed() -> None:
    text = render_junit(strict_report())
    assert "\x01" not in text
    root = ET.fromstring(text.encode("utf-8"))
    failure = [c for c in root.iter("testcase") if c.get("name") == "KY01 no-primary-key"][0].find("failure")
    assert failure is not None and 'odd "name" <&>' in failure.get("message", "")


def test_no_findings_all_cases_pass() -> None:
    report = Report(
        target=Target("postgresql", "16.4", "shop", "postgresql://app@h/shop"),
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration_s=0.0,
        findings=(),
        skipped=(),
        metrics=(),
        score=Score(100, "A"),
        checks_run=("IX01", "KY01"),
    )
    root = parse(report)
    assert root.get("tests") == "2" and root.get("failures") == "0"


def test_junit_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    save_snapshot(tmp_path)
    result = CliRunner().invoke(main, ["scan", "--from", "snap.json", "--format", "junit", "-o", "junit.xml"])
    assert result.exit_code == 0, result.output
    root = ET.parse(tmp_path / "junit.xml").getroot()
    # the scan exits 0 (warnings are below the default --fail-on error): CI must not see a failure either
    assert root.get("failures") == "0" and not list(root.iter("failure"))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert "below --fail-on error: [warning]" in (cases["KY01 no-primary-key"].findtext("system-out") or "")
    # no workload, no sample in this snapshot; the MySQL-only checks do not apply to it; CP03 needs the run
    # history (--history)
    mysql_only = sum(1 for s in all_checks() if "postgresql" not in s.engines)
    assert int(root.get("skipped", "0")) == 7 + mysql_only + 1
    strict = CliRunner().invoke(main, ["scan", "--from", "snap.json", "--format", "junit", "-o", "strict.xml",
                                       "--fail-on", "warning"])
    assert strict.exit_code == 1, strict.output
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "strict.xml").getroot().iter("testcase")}
    assert "2 findings" in cases["KY01 no-primary-key"].find("failure").get("message", "")  # type: ignore[union-attr]


def test_findings_below_fail_on_are_not_failures() -> None:
    report = policy_report()
    default = {c.get("name"): c for c in parse(report).iter("testcase")}
    assert default["IX04 invalid-index"].find("failure") is not None  # an error fails with the default
    assert default["WL03 n-plus-one"].find("failure") is None  # info: listed, not failed
    assert "[info]" in (default["WL03 n-plus-one"].findtext("system-out") or "")
    never = parse(dataclasses.replace(report, fail_on="never"))
    assert never.get("failures") == "0" and not list(never.iter("failure"))


def test_password_never_appears() -> None:
    assert PASSWORD not in render_junit(sample_report())
