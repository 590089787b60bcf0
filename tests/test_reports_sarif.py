"""SARIF 2.1.0: golden file, validation against the official OASIS schema, rules from the registry, locations
and fingerprints that CI systems (GitHub code scanning) accept.

Regenerate the golden file after an intended change with ``UPDATE_GOLDEN=1 pytest tests/test_reports_sarif.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.engine import all_checks
from auditor.model import Severity
from auditor.report import Report, Target
from auditor.scoring import Score
from reports.sarif import FINGERPRINT_KEY, render_sarif
from tests.policy_support import policy_report, save_snapshot
from tests.test_reports import PASSWORD, sample_report

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")  # the official OASIS schema, errata 01
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def sarif(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render_sarif(report))
    return data


def assert_valid(validator: jsonschema.Draft4Validator, data: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def empty_report() -> Report:
    return Report(
        target=Target("postgresql", "16.4", "shop", "postgresql://app@h/shop"),
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration_s=0.0,
        findings=(),
        skipped=(),
        metrics=(),
        score=Score(100, "A"),
    )


def test_sarif_matches_golden() -> None:
    actual = render_sarif(policy_report())
    path = GOLDEN / "report.sarif"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert actual == path.read_text(encoding="utf-8"), "report.sarif differs; if intended, rerun with UPDATE_GOLDEN=1"


@pytest.mark.parametrize("make", [policy_report, sample_report, empty_report], ids=["policy", "sample", "empty"])
def test_sarif_validates_against_the_schema(validator: jsonschema.Draft4Validator, make: Any) -> None:
    assert_valid(validator, sarif(make()))


def test_sarif_from_the_cli_validates(
    validator: jsonschema.Draft4Validator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real run: findings, skipped checks (no pg_stat_statements, no sample), a suppression and a baseline."""
    monkeypatch.chdir(tmp_path)
    save_snapshot(tmp_path)
    (tmp_path / "dbaudit.toml").write_text(
        '[[ignore]]\ncheck = "IX01"\nobject = "public.audit_2025*"\nreason = "archive"\n', encoding="utf-8"
    )
    runner = CliRunner()
    runner.invoke(main, ["scan", "--from", "snap.json", "--baseline", "b.json", "--update-baseline"])
    result = runner.invoke(main, ["scan", "--from", "snap.json", "--format", "sarif", "--baseline", "b.json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert_valid(validator, data)
    run = data["runs"][0]
    # 4 WL + 3 NF checks skipped, the MySQL-only checks, not applicable to this PostgreSQL snapshot, and CP03,
    # which needs the run history (--history)
    mysql_only = sum(1 for s in all_checks() if "postgresql" not in s.engines)
    assert len(run["invocations"][0]["toolExecutionNotifications"]) == 7 + mysql_only + 1
    assert [r.get("suppressions", [{}])[0].get("justification") for r in run["results"]].count("archive") == 1
    assert run["properties"]["baseline"]["unchanged"] == 4


def test_rules_come_from_the_registry() -> None:
    data = sarif(policy_report())
    rules = {r["id"]: r for r in data["runs"][0]["tool"]["driver"]["rules"]}
    # every check that ran, was skipped or has a finding, and no other
    assert sorted(rules) == ["IX01", "IX04", "IX05", "KY01", "NF02", "WL01", "WL03"]
    specs = {s.code: s for s in all_checks()}
    for code, rule in rules.items():
        spec = specs[code]
        assert rule["name"] == spec.name
        assert rule["shortDescription"]["text"] == spec.summary
        assert rule["helpUri"] == spec.doc_url
        assert rule["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning", "info": "note"}[
            spec.severity.value
        ]
        sections = spec.doc_sections()
        assert rule["fullDescription"]["text"] == " ".join(sections["What it does"].split())
        for title in ("What it does", "Why is this bad?", "Example", "Fix"):
            assert f"## {title}\n\n{sections[title]}" in rule["help"]["markdown"]
    assert rules["IX01"]["properties"]["options"] == {"min_stats_age_days": 7.0, "min_table_scans": 100,
                                                      "history_days": 30.0}
    for result in data["runs"][0]["results"]:
        assert data["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_levels_locations_and_fixes() -> None:
    results = sarif(policy_report())["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("IX04", "error"),
        ("IX05", "warning"),
        ("KY01", "warning"),
        ("WL03", "note"),
        ("IX01", "warning"),
    ]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results]
    # repository-relative paths: GitHub code scanning rejects unknown URI schemes such as db://
    assert all("://" not in u and not u.startswith("/") for u in uris)
    assert uris[0] == "db/shop/public/orders"
    assert uris[2] == "db/shop/Sales%20Data/odd%20%22name%22%20%3C%26%3E"
    assert uris[3].startswith("db/shop/queries/")
    logical = [r["locations"][0]["logicalLocations"][0] for r in results]
    assert logical[0] == {"name": "orders_created_idx", "fullyQualifiedName": "public.orders.orders_created_idx",
                          "kind": "index"}
    assert logical[1]["fullyQualifiedName"] == "public.orders.orders_customer_id_fkey"
    assert logical[1]["kind"] == "foreign_key"
    assert logical[2]["kind"] == "table"
    assert results[0]["properties"]["remediation"] == "DROP INDEX CONCURRENTLY public.orders_created_idx;"
    assert results[4]["suppressions"] == [{"kind": "external", "status": "accepted", "justification": "archive tables"}]


def test_artifact_uris_name_each_level_once() -> None:
    """Red team (MariaDB): "db/logi/logi/tickets" named the schema twice, and an account's finding got "db/logi",
    the database's own path."""
    from auditor.model import Finding, ObjectRef

    def uri(engine: str, obj: ObjectRef) -> str:
        finding = Finding(code="SC01", check="weak-authentication", severity=Severity.WARNING,
                          category="security", object=obj, message="m")
        report = dataclasses.replace(empty_report(), target=Target(engine, "10.11", "logi", "x://h/logi"),
                                     findings=(finding,))
        return str(sarif(report)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
                   ["uri"])

    table = ObjectRef(type="table", schema="logi", table="tickets")
    assert uri("mysql", table) == "db/logi/tickets"
    assert uri("postgresql", table) == "db/logi/logi/tickets"  # database logi, schema logi: two levels
    assert uri("mysql", ObjectRef(type="role", role="'app'@'%'")) == "server/roles/%27app%27%40%27%25%27"
    assert uri("mysql", ObjectRef(type="setting", setting="sync_binlog")) == "server/settings/sync_binlog"
    assert uri("postgresql", ObjectRef(type="database", database="logi")) == "db/logi"
    assert uri("postgresql", ObjectRef(type="function", schema="public", function="f(integer)")) == \
        "db/logi/public/functions/f%28integer%29"
    assert uri("postgresql", ObjectRef(type="replication_slot", slot="s1")) == "server/replication_slots/s1"


def test_fingerprints_are_stable_and_ignore_the_message() -> None:
    report = policy_report()
    changed = dataclasses.replace(
        report,
        findings=tuple(dataclasses.replace(f, message=f.message + " (now 5 % worse)") for f in report.findings),
    )
    before = [r["partialFingerprints"] for r in sarif(report)["runs"][0]["results"]]
    after = [r["partialFingerprints"] for r in sarif(changed)["runs"][0]["results"]]
    assert before == after
    keys = [p[FINGERPRINT_KEY] for p in before]
    assert len(set(keys)) == len(keys)
    assert all(p["primaryLocationLineHash"] == p[FINGERPRINT_KEY] for p in before)


def test_skipped_checks_and_stale_ignores_are_notifications() -> None:
    invocation = sarif(policy_report())["runs"][0]["invocations"][0]
    skipped = invocation["toolExecutionNotifications"]
    assert skipped[0]["associatedRule"]["id"] == "WL01"
    assert "pg_stat_statements is not installed" in skipped[0]["message"]["text"]
    assert "CREATE EXTENSION pg_stat_statements" in skipped[0]["message"]["text"]
    stale = invocation["toolConfigurationNotifications"]
    assert len(stale) == 1 and "dbaudit.toml ignore #2" in stale[0]["message"]["text"]


def test_zero_findings_is_an_empty_result_list() -> None:
    data = sarif(empty_report())
    assert data["version"] == "2.1.0" and data["runs"][0]["results"] == []
    assert data["runs"][0]["tool"]["driver"]["rules"] == []


def test_password_never_appears() -> None:
    assert PASSWORD not in render_sarif(sample_report())


def test_severity_levels_cover_every_severity() -> None:
    from reports.sarif import LEVEL

    assert set(LEVEL) == set(Severity) and set(LEVEL.values()) <= {"error", "warning", "note", "none"}
