"""The regression factor and minimum calls of run history, from the command line and the configuration, on a real
PostgreSQL with pg_stat_statements: a statement twice as slow as last interval is regressed at factor 1.3, not
when the minimum calls exceed its interval's; `history diff` takes the same options. The reports' `history`
object follows docs/report.schema.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
import pytest

from auditor.config import ConfigError, parse_config
from auditor.history.model import HistoryOptions
from tests.conftest import NewDb

REPORT_SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "report.schema.json").read_text())
SCHEMA = ("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE items (id int PRIMARY KEY, v text);"
          " INSERT INTO items SELECT g, 'v' FROM generate_series(1, 100) g;")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True, text=True,
                          timeout=300, check=False, cwd=cwd)


def _validated(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator(REPORT_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)
    return data


def _sleeps(dsn: str, seconds: float, n: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(n):
            conn.execute("SELECT pg_sleep(%s)", (seconds,))
            conn.execute("SELECT v FROM items WHERE id = 7")  # activity: items is in history.tables


def _sleep_statement(doc: dict[str, Any]) -> dict[str, Any]:
    found = [s for s in doc["statements"] if "pg_sleep" in s["query"]]
    assert len(found) == 1, [s["query"] for s in doc["statements"]]
    return found[0]


def test_regression_factor_and_min_calls_from_cli_and_config(pg_new_db: NewDb, tmp_path: Path) -> None:
    dsn = pg_new_db(SCHEMA)
    base = ["scan", dsn, "--history", "runs.db", "--no-sample", "--fail-on", "never", "--format", "json"]
    first = _cli(*base, cwd=tmp_path)
    assert first.returncode == 0
    assert _validated(first.stdout)["history"]["previous_run"] is None
    _sleeps(dsn, 0.002, 20)
    assert _cli(*base, cwd=tmp_path).returncode == 0
    _sleeps(dsn, 0.010, 20)  # five times the sleep, 20 calls (a loaded machine adds ~1-2 ms to every sleep)
    third = _cli(*base, "--regression-factor", "1.3", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    doc = _validated(third.stdout)
    stmt = _sleep_statement(doc["history"])
    assert stmt["calls"] == 20 and stmt["regressed"] is True, stmt
    assert doc["history"]["previous_run"]["id"] == 2
    assert [t["table"] for t in doc["history"]["tables"]] == ["items"]
    # what breaks the contract is refused by the schema
    for broken in ({**doc["history"], "statements": [{**stmt, "calls": "20"}]},
                   {k: v for k, v in doc["history"].items() if k != "resets"},
                   {**doc["history"], "previous_run": {"id": 2}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**doc, "history": broken}, REPORT_SCHEMA)
    # the same pair of runs through `history diff`: the options, then the configuration's keys
    diff = ["history", "diff", "2", "3", "--store", "runs.db", "--format", "json"]
    out = _cli(*diff, "--regression-factor", "1.3", cwd=tmp_path)
    assert _sleep_statement(json.loads(out.stdout))["regressed"] is True, out.stderr
    out = _cli(*diff, "--regression-factor", "1.3", "--regression-min-calls", "21", cwd=tmp_path)
    assert _sleep_statement(json.loads(out.stdout))["regressed"] is False, out.stderr  # 20 calls < 21
    (tmp_path / "dbaudit.toml").write_text("history-regression-factor = 1.3\n", encoding="utf-8")
    out = _cli(*diff, cwd=tmp_path)
    assert _sleep_statement(json.loads(out.stdout))["regressed"] is True, out.stderr
    (tmp_path / "dbaudit.toml").write_text("history-regression-factor = 1.3\nhistory-regression-min-calls = 21\n",
                                           encoding="utf-8")
    out = _cli(*diff, cwd=tmp_path)
    assert _sleep_statement(json.loads(out.stdout))["regressed"] is False, out.stderr
    out = _cli(*diff, "--regression-min-calls", "20", cwd=tmp_path)  # the flag wins over the file
    assert _sleep_statement(json.loads(out.stdout))["regressed"] is True, out.stderr


def test_regression_options_are_validated(tmp_path: Path) -> None:
    assert parse_config({"history-regression-factor": 3, "history-regression-min-calls": 5}).history_options() \
        == HistoryOptions(regression_factor=3.0, regression_min_calls=5)
    assert parse_config({}).history_options() == HistoryOptions()
    assert parse_config({}).history_options(1.5, None) == HistoryOptions(regression_factor=1.5)
    for bad, message in (({"history-regression-factor": 1}, "above 1"), ({"history-regression-factor": "2"}, "above 1"),
                         ({"history-regression-min-calls": 2.5}, "whole number"),
                         ({"history-regression-min-calls": 0}, "whole number")):
        try:
            parse_config(bad)
        except ConfigError as exc:
            assert message in str(exc), str(exc)
        else:
            raise AssertionError(bad)
    out = _cli("scan", "--from", "nothing.json", "--regression-factor", "1", cwd=tmp_path)
    assert out.returncode == 2 and "'1' is not in the range 1.01 to 1000" in out.stderr, out.stderr
    (tmp_path / "snap.json").write_text("{}", encoding="utf-8")
    out = _cli("scan", "--from", "snap.json", "--regression-min-calls", "5", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "--regression-min-calls needs --history STORE" in out.stderr, out.stderr
