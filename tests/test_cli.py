"""The command line, offline: snapshots built here, saved as JSON, scanned with `dbaudit scan --from FILE`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.engine import REGISTRY, all_checks, check
from auditor.errors import ExitCode
from auditor.model import (
    Column,
    Constraint,
    Hit,
    Index,
    IndexKey,
    ObjectRef,
    Severity,
    Snapshot,
    Table,
    snapshot_to_json,
)
from reports.catalogue import render_catalogue
from tests.test_reports import assert_json_contract

PASSWORD = "hunter2-Secret"

TEST_CODE = "TS99"


def _table(name: str) -> Table:
    return Table(
        "public",
        name,
        estimated_rows=10,
        columns=(Column("id", "integer", nullable=False, position=1), Column("note", "text", position=2)),
    )


def _snapshot(*, with_pk: bool) -> Snapshot:
    """One table; without a primary key it draws exactly one KY01 warning."""
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    if with_pk:
        constraints = (
            Constraint("public", "notes", "notes_pkey", "primary_key", columns=("id",), index="notes_pkey"),
        )
        indexes = (
            Index(
                "public",
                "notes",
                "notes_pkey",
                keys=(IndexKey("id"),),
                is_unique=True,
                is_primary=True,
                constraint="notes_pkey",
                constraint_type="primary_key",
                scans=5,
            ),
        )
    return Snapshot(
        engine="postgresql",
        server_version="15.18",
        server_version_num=150018,
        database="shop",
        dsn="postgresql://app@db.internal:5432/shop",
        collected_at=datetime(2026, 11, 24, 21, 0, tzinfo=UTC),
        stats_reset=datetime(2026, 10, 1, tzinfo=UTC),
        schemas=("public",),
        tables=(_table("notes"),),
        constraints=constraints,
        indexes=indexes,
    )


def _save(tmp_path: Path, snap: Snapshot, name: str = "snap.json") -> str:
    path = tmp_path / name
    path.write_text(snapshot_to_json(snap), encoding="utf-8")
    return str(path)


@pytest.fixture
def no_pk_file(tmp_path: Path) -> str:
    return _save(tmp_path, _snapshot(with_pk=False))


@pytest.fixture
def clean_file(tmp_path: Path) -> str:
    return _save(tmp_path, _snapshot(with_pk=True), "clean.json")


@pytest.fixture
def error_check() -> Iterator[str]:
    """A check that always reports one error, registered for one test, so the exit codes can be tested with
    an error-severity finding whatever severities the real battery settles on."""

    def always_error(snap: Snapshot, opts: object) -> Iterator[Hit]:
        """Always one error (test only)."""
        yield Hit(object=ObjectRef(type="database"), message=f"{snap.database} is under test")

    check(
        code=TEST_CODE,
        name="test-always-error",
        severity=Severity.ERROR,
        engines=("postgresql",),
        category="testing",
    )(always_error)
    try:
        yield TEST_CODE
    finally:
        REGISTRY.pop(TEST_CODE, None)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == ExitCode.ERROR, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dbaudit: error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


# ---- scan and exit codes -----------------------------------------------------------------------------------


def test_scan_from_snapshot_prints_the_text_report(no_pk_file: str) -> None:
    result = run("scan", "--from", no_pk_file, "--select", "KY01")
    assert result.exit_code == ExitCode.OK, result.output
    assert "KY01  no-primary-key  1 warning\n  public.notes\n" in result.stdout
    assert "postgresql://app@db.internal:5432/shop" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [
        ("error", ExitCode.OK),
        ("warning", ExitCode.FINDINGS),
        ("info", ExitCode.FINDINGS),
        ("never", ExitCode.OK),
    ],
)
def test_fail_on_with_a_warning(no_pk_file: str, fail_on: str, expected: ExitCode) -> None:
    result = run("scan", "--from", no_pk_file, "--select", "KY01", "--fail-on", fail_on)
    assert result.exit_code == expected, result.output


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [
        ("error", ExitCode.FINDINGS),
        ("warning", ExitCode.FINDINGS),
        ("info", ExitCode.FINDINGS),
        ("never", ExitCode.OK),
    ],
)
def test_fail_on_with_an_error(clean_file: str, error_check: str, fail_on: str, expected: ExitCode) -> None:
    result = run("scan", "--from", clean_file, "--select", error_check, "--fail-on", fail_on)
    assert result.exit_code == expected, result.output
    assert "test-always-error" in result.stdout


@pytest.mark.parametrize("fail_on", ["error", "warning", "info", "never"])
def test_clean_snapshot_exits_0(clean_file: str, fail_on: str) -> None:
    result = run("scan", "--from", clean_file, "--select", "KY01", "--fail-on", fail_on)
    assert result.exit_code == ExitCode.OK, result.output
    assert "No findings." in result.stdout


def test_default_fail_on_is_error(clean_file: str, error_check: str) -> None:
    assert run("scan", "--from", clean_file, "--select", error_check).exit_code == ExitCode.FINDINGS


def test_json_format_parses_and_follows_the_contract(no_pk_file: str) -> None:
    result = run("scan", "--from", no_pk_file, "--format", "json", "--select", "keys")
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.stdout)
    assert_json_contract(data)
    assert [f["code"] for f in data["findings"]] == ["KY01"]
    assert data["findings"][0]["object"] == {"type": "table", "schema": "public", "table": "notes"}
    assert data["target"]["dsn"] == "postgresql://app@db.internal:5432/shop"
    assert set(data["checks_run"]) == {s.code for s in all_checks() if s.category == "keys"}


def test_output_file(no_pk_file: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run(
        "scan", "--from", no_pk_file, "--format", "json", "--output", str(out), "--fail-on", "warning"
    )
    assert result.exit_code == ExitCode.FINDINGS  # writing to a file does not change the verdict
    assert result.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8"))["format_version"] == 1


def test_output_to_an_unwritable_place(no_pk_file: str, tmp_path: Path) -> None:
    result = run("scan", "--from", no_pk_file, "--output", str(tmp_path / "missing-dir" / "r.txt"))
    assert_one_line_error(result, "cannot write")


@pytest.mark.parametrize("command", ["scan", "snapshot"])
def test_unwritable_output_fails_before_collecting(tmp_path: Path, command: str) -> None:
    # the DSN points at a closed port: had the collection started, the error would be about the connection
    target = str(tmp_path / "no-such-dir" / "x.json")
    result = run(command, "postgresql://app@127.0.0.1:1/shop", "--connect-timeout", "1", "-o", target)
    assert_one_line_error(result, f"cannot write {target}: directory", "does not exist")
    result = run(command, "postgresql://app@127.0.0.1:1/shop", "--connect-timeout", "1", "-o", str(tmp_path))
    assert_one_line_error(result, "it is a directory")


def test_mariadb_server_is_labelled_mariadb_in_the_text_header(tmp_path: Path) -> None:
    snap = dataclasses.replace(_snapshot(with_pk=True), engine="mysql", flavor="mariadb",
                               server_version="10.11.19-MariaDB", dsn="mysql://root@127.0.0.1:3306/shop")
    result = run("scan", "--from", _save(tmp_path, snap), "--no-color")
    assert "MariaDB 10.11.19-MariaDB" in result.stdout
    assert "MySQL 10.11" not in result.stdout
    mysql = dataclasses.replace(snap, flavor=None, server_version="8.0.36")
    assert "MySQL 8.0.36" in run("scan", "--from", _save(tmp_path, mysql, "m.json"), "--no-color").stdout


def test_select_and_ignore(no_pk_file: str) -> None:
    selected = json.loads(run("scan", "--from", no_pk_file, "--format", "json", "--select", "KY01").stdout)
    assert selected["checks_run"] == ["KY01"]
    ignored = json.loads(run("scan", "--from", no_pk_file, "--format", "json", "--ignore", "KY01").stdout)
    assert "KY01" not in ignored["checks_run"] and ignored["findings"] == []
    by_name = json.loads(
        run("scan", "--from", no_pk_file, "--format", "json", "--select", "no-primary-key").stdout
    )
    assert by_name["checks_run"] == ["KY01"]


@pytest.mark.parametrize(
    ("option", "token", "hint"),
    [
        ("--select", "no-primary-keys", "no-primary-key"),
        ("--ignore", "KY1", "KY01"),
        ("--select", "qqqqqq", ""),
    ],
)
def test_unknown_check_in_selection(no_pk_file: str, option: str, token: str, hint: str) -> None:
    result = run("scan", "--from", no_pk_file, option, f"KY01,{token}")
    assert_one_line_error(result, f"no check matches {token!r}", hint)


def test_password_never_printed(tmp_path: Path) -> None:
    # a snapshot written by hand (or an older tool) with the password in its DSN
    snap = _snapshot(with_pk=False)
    leaky = Snapshot(**{**snap.__dict__, "dsn": f"postgresql://app:{PASSWORD}@db.internal/shop"})
    path = _save(tmp_path, leaky)
    for fmt in ("text", "json"):
        result = run("scan", "--from", path, "--format", fmt)
        assert PASSWORD not in result.output


# ---- bad input ---------------------------------------------------------------------------------------------


def test_missing_snapshot_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    assert_one_line_error(run("scan", "--from", str(missing)), "cannot read snapshot", str(missing))


@pytest.mark.parametrize(
    "content",
    [
        "not json at all",
        "",
        "[1, 2, 3]",
        '{"engine": "postgresql", "tables": 5}',
        '{"engine": "postgresql", "format_version": 99}',
        '{"engine": "postgresql", "tables": [{"schema": "public"}]}',
    ],
    ids=["garbage", "empty", "list", "wrong-type", "future-version", "missing-field"],
)
def test_corrupt_snapshot_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    assert_one_line_error(run("scan", "--from", str(path)), "not a dbaudit snapshot")


def test_binary_snapshot_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(run("scan", "--from", str(path)), str(path))


def test_snapshot_path_is_a_directory(tmp_path: Path) -> None:
    assert_one_line_error(run("scan", "--from", str(tmp_path)), "cannot read snapshot")


def test_dsn_and_from_together(no_pk_file: str) -> None:
    result = run("scan", f"postgresql://app:{PASSWORD}@db.internal/shop", "--from", no_pk_file)
    assert_one_line_error(result, "either a DSN or --from")
    assert PASSWORD not in result.output


def test_corrupt_snapshot_in_a_real_process(tmp_path: Path) -> None:
    # the console entry point, not the test runner: no traceback reaches the terminal
    path = tmp_path / "bad.json"
    path.write_text("{", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.cli", "scan", "--from", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == ExitCode.ERROR
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("fail_on, code", [("warning", ExitCode.FINDINGS), ("never", ExitCode.OK)])
def test_quick_exit_keeps_the_report_and_the_exit_code(no_pk_file: str, tmp_path: Path, fail_on: str,
                                                      code: ExitCode) -> None:
    # the process ends without freeing its objects one by one (auditor.cli._exit_process): the report on stdout
    # (a pipe, block-buffered) and in -o FILE is whole, the stderr line is there, the exit code is the run's
    out = tmp_path / "report.json"
    for extra in ([], ["-o", str(out)]):
        proc = subprocess.run(
            [sys.executable, "-m", "auditor", "scan", "--from", no_pk_file, "--format", "json", "--fail-on",
             fail_on, "--verbose", *extra],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == code, proc.stderr
        report = json.loads(out.read_text(encoding="utf-8") if extra else proc.stdout)
        assert [f["code"] for f in report["findings"]] == ["KY01"]
        assert "report done" in proc.stderr


# ---- checks and explain ------------------------------------------------------------------------------------


def test_checks_lists_every_check() -> None:
    result = run("checks")
    assert result.exit_code == ExitCode.OK
    for spec in all_checks():
        assert spec.code in result.stdout and spec.name in result.stdout
    assert all(len(line) <= 100 for line in result.stdout.splitlines())


def test_checks_json_and_markdown() -> None:
    data = json.loads(run("checks", "--format", "json").stdout)
    assert [c["code"] for c in data] == [s.code for s in all_checks()]
    assert {"code", "name", "severity", "engines", "summary", "doc_url", "options"} <= set(data[0])
    assert run("checks", "--format", "markdown").stdout == render_catalogue("markdown")


@pytest.mark.parametrize("token", ["IX01", "ix01", "unused-index"])
def test_explain_by_code_or_name(token: str) -> None:
    result = run("explain", token)
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.startswith("IX01 unused-index: ")
    assert "What it does" in result.stdout and "docs/checks.md#ix01-unused-index" in result.stdout


def test_explain_describes_every_option_of_ix01() -> None:
    """rt11: `history_days` was in the options table but had no description."""
    out = run("explain", "IX01").stdout
    options = out.split("\nOptions\n", 1)[1]
    for name in ("min_stats_age_days", "min_table_scans", "history_days"):
        assert f"`{name}` (default" in options, (name, options)
    assert "with run history (`--history`), the days of stored runs judged" in " ".join(options.split())


def test_explain_unknown_check() -> None:
    assert_one_line_error(
        run("explain", "unused-indexes"), "no check called 'unused-indexes'", "unused-index"
    )
    assert_one_line_error(run("explain", "ZZ42"), "no check called 'ZZ42'")
