"""Baselines through the real CLI: record today's findings, then fail only on new ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.baseline import Baseline, BaselineEntry, compare, entry_for, fingerprint
from auditor.cli import main
from auditor.errors import ExitCode
from auditor.model import Finding, ObjectRef, Severity
from tests.policy_support import save_snapshot
from tests.test_cli import assert_one_line_error


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    save_snapshot(tmp_path, "today.json")
    save_snapshot(tmp_path, "later.json", extra_unused=True)  # one more unused index: a new finding
    return tmp_path


def scan(snapshot: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["scan", "--from", snapshot, "--no-color", "--fail-on", "warning", *args])


def as_json(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_record_then_only_new_findings_fail(workdir: Path) -> None:
    assert scan("today.json").exit_code == ExitCode.FINDINGS  # five warnings without a baseline

    recorded = scan("today.json", "--baseline", "base.json", "--update-baseline")
    assert recorded.exit_code == ExitCode.OK
    assert "baseline base.json: 5 findings recorded" in recorded.stderr
    doc = json.loads((workdir / "base.json").read_text(encoding="utf-8"))
    assert doc["format_version"] == 1 and doc["database"] == "shop" and len(doc["findings"]) == 5
    assert {e["code"] for e in doc["findings"]} == {"IX01", "KY01"}

    same = scan("today.json", "--baseline", "base.json", "--format", "json")
    assert same.exit_code == ExitCode.OK, same.output
    data = as_json(same)
    assert data["findings"] == []
    assert data["baseline"] == {"path": "base.json", "entries": 5, "new": 0, "unchanged": 5, "fixed": []}

    later = scan("later.json", "--baseline", "base.json", "--format", "json")
    assert later.exit_code == ExitCode.FINDINGS
    data = as_json(later)
    assert [f["object"]["index"] for f in data["findings"]] == ["orders_at_idx"]
    assert data["baseline"]["new"] == 1 and data["baseline"]["unchanged"] == 5


def test_fixed_entries_are_listed(workdir: Path) -> None:
    scan("later.json", "--baseline", "base.json", "--update-baseline")
    result = scan("today.json", "--baseline", "base.json")
    assert result.exit_code == ExitCode.OK
    assert "base.json: 6 recorded; 0 new, 5 unchanged (not shown above), 1 fixed" in result.stdout
    assert "fixed: IX01  unused-index  public.orders_at_idx" in result.stdout
    fixed = as_json(scan("today.json", "--baseline", "base.json", "--format", "json"))["baseline"]["fixed"]
    assert [(e["code"], e["object"]) for e in fixed] == [("IX01", "public.orders_at_idx")]


def test_entries_of_checks_that_did_not_run_are_not_fixed(workdir: Path) -> None:
    scan("today.json", "--baseline", "base.json", "--update-baseline")
    data = as_json(scan("today.json", "--baseline", "base.json", "--select", "IX01", "--format", "json"))
    assert data["baseline"]["fixed"] == [] and data["baseline"]["unchanged"] == 3


def test_baseline_from_the_config_file(workdir: Path) -> None:
    (workdir / "ci").mkdir()
    (workdir / "ci" / "dbaudit.toml").write_text('baseline = "known.json"\n', encoding="utf-8")
    scan("today.json", "--config", "ci/dbaudit.toml", "--update-baseline")
    assert (workdir / "ci" / "known.json").is_file()  # relative to the config file, not the working directory
    assert scan("today.json", "--config", "ci/dbaudit.toml").exit_code == ExitCode.OK
    assert scan("later.json", "--config", "ci/dbaudit.toml").exit_code == ExitCode.FINDINGS


def test_baseline_in_sarif_and_junit(workdir: Path) -> None:
    scan("today.json", "--baseline", "base.json", "--update-baseline")
    sarif = as_json(scan("later.json", "--baseline", "base.json", "--format", "sarif"))
    states = sorted(r["baselineState"] for r in sarif["runs"][0]["results"])
    assert states == ["new"] + ["unchanged"] * 5
    junit = scan("later.json", "--baseline", "base.json", "--format", "junit").stdout
    assert junit.count("<failure ") == 1 and "in the baseline: public.audit_2025_at_idx" in junit


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "baseline missing.json does not exist (write it first with --baseline missing.json --update-baseline)"),
        ("{not json", "is not a dbaudit baseline"),
        ('{"format_version": 1}', 'no "findings" array'),
        ('{"findings": [{"code": "IX01"}]}', "entry 1 has no fingerprint"),
        ('{"format_version": 99, "findings": []}', "format_version 99, newer than this dbaudit reads"),
    ],
)
def test_bad_baseline_file(workdir: Path, content: str | None, fragment: str) -> None:
    if content is not None:
        (workdir / "missing.json").write_text(content, encoding="utf-8")
    assert_one_line_error(scan("today.json", "--baseline", "missing.json"), fragment)


def test_update_baseline_needs_a_file(workdir: Path) -> None:
    assert_one_line_error(scan("today.json", "--update-baseline"), "--update-baseline needs --baseline FILE")


def test_unwritable_baseline(workdir: Path) -> None:
    assert_one_line_error(
        scan("today.json", "--baseline", "no/such/dir/base.json", "--update-baseline"), "cannot write baseline"
    )


# ---- fingerprints -------------------------------------------------------------------------------------------------


def _finding(obj: ObjectRef, message: str = "m", code: str = "IX01") -> Finding:
    return Finding(code, "unused-index", Severity.WARNING, "indexes", obj, message, {"index_bytes": 1})


def test_fingerprint_ignores_the_message_and_details() -> None:
    obj = ObjectRef(type="index", schema="public", table="t", index="t_idx")
    assert fingerprint(_finding(obj, "read 5 times")) == fingerprint(_finding(obj, "read 500 times"))
    other = ObjectRef(type="index", schema="public", table="t", index="t_idx2")
    assert fingerprint(_finding(obj)) != fingerprint(_finding(other))
    assert fingerprint(_finding(obj)) != fingerprint(_finding(obj, code="IX03"))


def test_statements_are_identified_by_their_text_not_their_queryid() -> None:
    a = ObjectRef(type="query", query="SELECT * FROM t\n WHERE id = $1", queryid="111")
    b = ObjectRef(type="query", query="SELECT * FROM t WHERE id = $1", queryid="222")
    assert fingerprint(_finding(a, code="WL03")) == fingerprint(_finding(b, code="WL03"))


def test_compare_matches_as_a_multiset() -> None:
    obj = ObjectRef(type="table", schema="s", table="t")
    twice = [_finding(obj), _finding(obj)]
    baseline = Baseline("b.json", (entry_for(twice[0]),))
    new, comparison = compare(twice, baseline)
    assert len(new) == 1 and len(comparison.unchanged) == 1 and comparison.fixed == ()
    gone = BaselineEntry("0" * 32, "KY01", "no-primary-key", "s.gone")
    _, comparison = compare([], Baseline("b.json", (gone,)), ran={"IX01"})
    assert comparison.fixed == ()  # KY01 did not run
    _, comparison = compare([], Baseline("b.json", (gone,)), ran={"KY01"})
    assert comparison.fixed == (gone,)
