"""Configuration files, their validation, precedence, per-check options, severities, targets and suppression.

Everything runs through the real CLI on a saved snapshot (tests/policy_support.py), in a temporary directory
that holds the config file, as a user would run it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.config import ConfigError, IgnoreRule, load_config, object_names, parse_config
from auditor.engine import find_check, run_checks
from auditor.errors import ExitCode
from auditor.model import ObjectRef, Severity, Statement, WorkloadInfo
from tests.builders import snap, table
from tests.policy_support import save_snapshot
from tests.test_cli import assert_one_line_error


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    save_snapshot(tmp_path)
    return tmp_path


def scan(*args: str) -> Result:
    return CliRunner().invoke(main, ["scan", "--from", "snap.json", "--no-color", *args])


def scan_json(*args: str) -> dict[str, Any]:
    result = scan("--format", "json", *args)
    assert result.exit_code in (0, 1), result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def codes(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for f in data["findings"]:
        obj = f["object"]
        out.append((f["code"], f["severity"], obj.get("index") or obj.get("table")))
    return sorted(out)


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


# ---- where the file is found ----------------------------------------------------------------------------------


def test_no_config_uses_the_defaults(workdir: Path) -> None:
    data = scan_json()
    assert [c for c, _, _ in codes(data)] == ["IX01", "IX01", "IX01", "KY01", "KY01"]
    assert data["suppressed"] == [] and data["stale_ignores"] == [] and data["baseline"] is None


def test_pyproject_tool_table_is_read(workdir: Path) -> None:
    write(workdir / "pyproject.toml", '[project]\nname = "x"\n\n[tool.dbaudit]\nselect = ["KY01"]\n')
    assert [c for c, _, _ in codes(scan_json())] == ["KY01", "KY01"]


def test_pyproject_without_a_tool_table_is_not_a_config(workdir: Path) -> None:
    write(workdir / "pyproject.toml", '[project]\nname = "x"\n')
    assert len(scan_json()["findings"]) == 5


def test_dbaudit_toml_wins_over_pyproject(workdir: Path) -> None:
    write(workdir / "pyproject.toml", '[tool.dbaudit]\nselect = ["KY01"]\n')
    write(workdir / "dbaudit.toml", 'select = ["IX01"]\n')
    assert [c for c, _, _ in codes(scan_json())] == ["IX01"] * 3


def test_explicit_config_file(workdir: Path) -> None:
    (workdir / "conf").mkdir()
    write(workdir / "conf" / "audit.toml", 'select = ["KY01"]\n')
    assert [c for c, _, _ in codes(scan_json("--config", "conf/audit.toml"))] == ["KY01", "KY01"]


def test_dbaudit_toml_may_use_a_tool_table_too(workdir: Path) -> None:
    write(workdir / "dbaudit.toml", '[tool.dbaudit]\nselect = ["KY01"]\n')
    assert [c for c, _, _ in codes(scan_json())] == ["KY01", "KY01"]


# ---- validation: one line, exit 2 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('fail_on = "warning"\n', ["dbaudit.toml", "unknown key 'fail_on'", "did you mean 'fail-on'?"]),
        ('selct = ["IX01"]\n', ["unknown key 'selct'", "did you mean 'select'?"]),
        ("[checks.unused-index]\nmin_stats_age = 3\n",
         ["unknown option 'min_stats_age' of unused-index", "did you mean 'min_stats_age_days'?"]),
        ('[checks.unused-index]\nmin_stats_age_days = "3"\n',
         ["[checks.unused-index] min_stats_age_days must be a number, got a string"]),
        ("[checks.unused-index]\nmin_table_scans = 2.5\n", ["min_table_scans must be an integer, got a number"]),
        ("[checks.repeating-group]\nallowed_families = [1]\n", ["allowed_families[0] must be a string"]),
        ("[checks.unused-indx]\nmin_table_scans = 3\n", ["names no check 'unused-indx'", "unused-index"]),
        ("[checks.duplicate-index]\nx = 1\n", ["duplicate-index has no options"]),
        ('[severities]\nIX01 = "fatal"\n', ["severities.IX01 must be one of error, warning, info, got 'fatal'"]),
        ("[severities]\nIX01 = 3\n", ["got an integer"]),
        ('[severities]\nno-primary-keys = "error"\n', ["names no check", "no-primary-key"]),
        ('fail-on = "sometimes"\n', ["fail-on must be one of error, warning, info, never, got 'sometimes'"]),
        ('format = "pdf"\n', ["format must be one of"]),
        ('select = ["IX9*"]\n', ["no check matches 'IX9*'"]),
        ("select = 3\n", ["select must be an array of strings"]),
        ("[targets]\np96_ms = 50\n", ["unknown target 'p96_ms'", "did you mean 'p99_ms'?"]),
        ('[targets]\np95_ms = "fast"\n', ["targets.p95_ms must be a number, got a string"]),
        ("[targets]\nunused_indexes = 1.5\n", ["targets.unused_indexes must be an integer"]),
        ('[[ignore]]\ncheck = "IX01"\nobject = "public.*"\n', ["ignore #1 needs reason"]),
        ('[[ignore]]\nobject = "public.*"\nreason = "x"\n', ["ignore #1 needs check"]),
        ('[[ignore]]\ncheck = "IX01"\nreason = "x"\nobjects = "a"\n',
         ["unknown key 'objects' in ignore #1", "did you mean 'object'?"]),
        ('[[ignore]]\ncheck = "unused-indexes"\nreason = "x"\n', ["ignore #1 names no check 'unused-indexes'"]),
        ("ignore = [3]\n", ["ignore #1 must be a check name or a table"]),
        ("baseline = 3\n", ["baseline must be a file name"]),
        ("select = [\n", ["is not valid TOML"]),
    ],
)
def test_invalid_config_is_one_line_and_exit_2(workdir: Path, text: str, fragments: list[str]) -> None:
    write(workdir / "dbaudit.toml", text)
    assert_one_line_error(scan(), *fragments)


def test_pyproject_errors_name_the_tool_table(workdir: Path) -> None:
    write(workdir / "pyproject.toml", '[tool.dbaudit]\nfailon = "error"\n')
    assert_one_line_error(scan(), "pyproject.toml", "unknown key 'failon' in [tool.dbaudit]", "'fail-on'")


def test_missing_explicit_config(workdir: Path) -> None:
    assert_one_line_error(scan("--config", "nope.toml"), "config file nope.toml does not exist")


def test_explicit_pyproject_without_tool_table(workdir: Path) -> None:
    write(workdir / "other.toml", "")
    write(workdir / "pyproject.toml", '[project]\nname = "x"\n')
    assert_one_line_error(scan("--config", "pyproject.toml"), "pyproject.toml: no [tool.dbaudit] table")


def test_config_file_that_is_not_utf8(workdir: Path) -> None:
    (workdir / "dbaudit.toml").write_bytes(b"select = ['\xff']\n")
    assert_one_line_error(scan(), "dbaudit.toml is not UTF-8 text")


# ---- precedence: CLI > file > defaults --------------------------------------------------------------------------


def test_fail_on_from_the_file_and_the_flag_wins(workdir: Path) -> None:
    assert scan().exit_code == ExitCode.OK  # warnings only, default fail-on error
    write(workdir / "dbaudit.toml", 'fail-on = "warning"\n')
    assert scan().exit_code == ExitCode.FINDINGS
    assert scan("--fail-on", "never").exit_code == ExitCode.OK


def test_format_from_the_file_and_the_flag_wins(workdir: Path) -> None:
    write(workdir / "dbaudit.toml", 'format = "json"\n')
    assert json.loads(scan().stdout)["format_version"] == 1
    assert scan("--format", "text").stdout.startswith("dbaudit ")


def test_select_and_ignore_from_the_file_and_the_flags_win(workdir: Path) -> None:
    write(workdir / "dbaudit.toml", 'select = ["keys"]\nignore = ["KY02"]\n')
    data = scan_json()
    assert [c for c, _, _ in codes(data)] == ["KY01", "KY01"]
    assert "KY02" not in data["checks_run"] and "KY03" in data["checks_run"]
    data = scan_json("--select", "IX01")
    assert [c for c, _, _ in codes(data)] == ["IX01"] * 3
    data = scan_json("--ignore", "KY01")  # replaces the file's ignore list: KY02 runs again
    assert "KY02" in data["checks_run"] and "KY01" not in data["checks_run"]


# ---- per-check options, severities, targets --------------------------------------------------------------------


def test_per_check_options_reach_the_check(workdir: Path) -> None:
    # statistics are 10 days old: by default (7 days) the unused indexes are warnings
    assert {sev for code, sev, _ in codes(scan_json()) if code == "IX01"} == {"warning"}
    write(workdir / "dbaudit.toml", "[checks.unused-index]\nmin_stats_age_days = 14\n")
    assert {sev for code, sev, _ in codes(scan_json()) if code == "IX01"} == {"info"}
    # the same check by code, with both options: tables read 500 times are below 1000, so nothing is reported
    write(workdir / "dbaudit.toml", "[checks.IX01]\nmin_stats_age_days = 14\nmin_table_scans = 1000\n")
    assert [code for code, _, _ in codes(scan_json())] == ["KY01", "KY01"]


def test_severity_override_changes_the_exit_code(workdir: Path) -> None:
    write(workdir / "dbaudit.toml", '[severities]\nno-primary-key = "error"\nIX01 = "info"\n')
    result = scan("--format", "json")
    assert result.exit_code == ExitCode.FINDINGS
    data = json.loads(result.stdout)
    assert {sev for code, sev, _ in codes(data) if code == "IX01"} == {"info"}
    assert data["findings"][0]["code"] == "KY01" and data["findings"][0]["severity"] == "error"  # errors first


def test_targets_reach_the_metrics(workdir: Path) -> None:
    write(workdir / "dbaudit.toml", "[targets]\nunused_indexes = 5\nschema_completeness_pct = 30\n")
    quality = {q["key"]: q for q in scan_json()["quality"]}
    assert quality["unused_indexes"]["target"] == "<= 5" and quality["unused_indexes"]["passed"] is True
    assert quality["schema_completeness_pct"]["target"] == ">= 30 %"


def test_a_target_moves_the_check_option_that_mirrors_it() -> None:
    """Red team 2 M4: targets.p95_ms = 50 makes WL01 flag a statement of P95 ~ 80 ms; WL01's own option wins."""
    slow = Statement(queryid="1", query="SELECT * FROM t WHERE a = $1", calls=100, total_ms=7000.0, mean_ms=70.0,
                     stddev_ms=5.0, min_ms=60.0, max_ms=90.0, rows=100)
    s = snap(table("t", ["id", "a"]), statements=(slow,), workload=WorkloadInfo(),
             extensions={"pg_stat_statements": "1.10"})

    def wl01(table: dict[str, Any]) -> list[str]:
        return [f.code for f in run_checks(s, [find_check("WL01")], parse_config(table).options).findings]  # type: ignore[list-item]

    assert wl01({}) == []
    assert wl01({"targets": {"p95_ms": 50}}) == ["WL01"]
    assert wl01({"targets": {"p95_ms": 50}, "checks": {"slow-query": {"p95_target_ms": 200}}}) == []
    assert wl01({"targets": {"p99_ms": 50}}) == []  # look-alike: no check mirrors the P99 target
    # other options of the check are kept; the rows threshold of coverage moves WL02's large_rows
    mixed = parse_config({"targets": {"p95_ms": 50, "large_table_rows": 500}, "checks": {"WL01": {"min_calls": 3}}})
    assert (mixed.options["WL01"].p95_target_ms, mixed.options["WL01"].min_calls) == (50.0, 3)
    assert mixed.options["WL02"].large_rows == 500 and isinstance(mixed.options["WL02"].large_rows, int)


def test_parse_config_builds_typed_values() -> None:
    config = parse_config(
        {
            "severities": {"unused-index": "ERROR"},
            "checks": {"sequence-exhaustion": {"warn_pct": 50}, "NF01": {"allowed_families": ["phone"]}},
            "targets": {"p95_ms": 50},
        }
    )
    assert config.severities == {"IX01": Severity.ERROR}
    assert config.options["KY04"].warn_pct == 50.0 and isinstance(config.options["KY04"].warn_pct, float)
    assert config.options["NF01"].allowed_families == ("phone",)
    assert config.targets is not None and config.targets.p95_ms == 50.0
    with pytest.raises(ConfigError, match="configures KY04 a second time"):
        parse_config({"checks": {"KY04": {"warn_pct": 1}, "sequence-exhaustion": {"warn_pct": 2}}})


def test_load_config_without_any_file(tmp_path: Path) -> None:
    assert load_config(cwd=tmp_path).path is None


# ---- suppression --------------------------------------------------------------------------------------------------

IGNORES = """
[[ignore]]
check = "unused-index"
object = "public.audit_*"
reason = "archive tables, read at month end"

[[ignore]]
check = "KY*"
object = "public.nothing_*"
reason = "a table dropped last year"

[[ignore]]
check = "slow-query"
reason = "never judged: the workload checks do not run on this snapshot"
"""


def test_suppressed_findings_are_counted_and_stale_ignores_reported(workdir: Path) -> None:
    write(workdir / "dbaudit.toml", IGNORES)
    data = scan_json()
    assert codes(data) == [
        ("IX01", "warning", "orders_note_idx"),
        ("KY01", "warning", "audit_2025"),
        ("KY01", "warning", "audit_2026"),
    ]
    suppressed = data["suppressed"]
    assert [s["object"]["index"] for s in suppressed] == ["audit_2025_at_idx", "audit_2026_at_idx"]
    assert suppressed[0]["suppressed_by"] == {
        "check": "unused-index",
        "object": "public.audit_*",
        "reason": "archive tables, read at month end",
        "where": "dbaudit.toml ignore #1",
    }
    # only the KY* rule is stale: slow-query was skipped (no pg_stat_statements), which proves nothing
    assert [r["where"] for r in data["stale_ignores"]] == ["dbaudit.toml ignore #2"]
    assert data["metrics"]["unused_indexes"] == 1  # suppressed findings do not count against the metrics

    text = scan().stdout
    assert "Suppressed findings (2)" in text and "reason: archive tables, read at month end" in text
    assert "Stale ignores (1)" in text and "dbaudit.toml ignore #2: check 'KY*', object 'public.nothing_*'" in text


def test_suppression_changes_the_exit_code(workdir: Path) -> None:
    write(workdir / "dbaudit.toml", 'fail-on = "warning"\n[[ignore]]\ncheck = "IX01"\nreason = "r"\n'
          '[[ignore]]\ncheck = "KY01"\nobject = "public.audit_20[0-9][0-9]"\nreason = "r"\n')
    result = scan("--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.stdout)["findings"] == []


def test_string_entries_of_ignore_leave_the_check_out(workdir: Path) -> None:
    write(workdir / "dbaudit.toml", 'ignore = ["IX01", {check = "KY01", object = "public.audit_2025", reason = "r"}]\n')
    data = scan_json()
    assert "IX01" not in data["checks_run"]
    assert codes(data) == [("KY01", "warning", "audit_2026")]
    assert len(data["suppressed"]) == 1


def test_object_names_cover_labels_and_qualified_names() -> None:
    index = ObjectRef(type="index", schema="public", table="orders", index="orders_note_idx")
    assert set(object_names(index)) == {"public.orders_note_idx", "public.orders", "public.orders.orders_note_idx"}
    fk = ObjectRef(type="foreign_key", schema="s", table="t", columns=("a",), constraint="t_a_fkey")
    assert {"s.t(a) [t_a_fkey]", "s.t", "s.t.a", "s.t.t_a_fkey", "s.t_a_fkey"} <= set(object_names(fk))
    query = ObjectRef(type="query", query="SELECT *\n  FROM t WHERE id = $1", queryid="-42")
    assert "SELECT * FROM t WHERE id = $1" in object_names(query) and "-42" in object_names(query)


def test_ignore_rule_matching_is_case_sensitive_on_objects() -> None:
    from auditor.model import Finding

    finding = Finding("KY01", "no-primary-key", Severity.WARNING, "keys",
                      ObjectRef(type="table", schema="Sales", table="Orders"), "m")
    assert IgnoreRule("ky01", "Sales.*", "r").matches(finding)
    assert IgnoreRule("no-primary-key", "Sales.Orders", "r").matches(finding)
    assert not IgnoreRule("KY01", "sales.*", "r").matches(finding)  # PostgreSQL names are case-sensitive
    assert not IgnoreRule("IX01", "*", "r").matches(finding)
