"""Reporters: golden files for text and JSON, and the JSON contract of DESIGN.md.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 pytest tests/test_reports.py``
and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditor.dsn import parse_dsn
from auditor.engine import DOCS_BASE, RunResult
from auditor.model import Finding, Note, ObjectRef, Sampling, Severity, Skipped, Snapshot, TableSample
from auditor.report import Report, Target, build_report
from auditor.scoring import Metric, Score
from reports import render
from reports.jsonfmt import iso_utc, render_json
from reports.text import WIDTH, render_text

GOLDEN = Path(__file__).parent / "golden"
PASSWORD = "s3cr3t-Pa55"


def _finding(
    code: str,
    check: str,
    severity: Severity,
    category: str,
    obj: ObjectRef,
    message: str,
    details: dict[str, Any] | None = None,
    remediation: str | None = None,
) -> Finding:
    return Finding(
        code=code,
        check=check,
        severity=severity,
        category=category,
        object=obj,
        message=message,
        details=details or {},
        remediation=remediation,
        doc_url=f"{DOCS_BASE}#{code.lower()}-{check}",
    )


def sample_report() -> Report:
    """A fixed report touching every part a reporter renders: each severity, odd identifiers, skips, notes."""
    dsn = parse_dsn(f"postgresql://app:{PASSWORD}@db.internal:5432/shop").display
    findings = (
        _finding(
            "IX04",
            "invalid-index",
            Severity.ERROR,
            "indexes",
            ObjectRef(type="index", schema="public", table="orders", index="orders_created_idx"),
            "public.orders_created_idx is INVALID: a CREATE INDEX CONCURRENTLY failed and left it behind; "
            "it is maintained on every write but never used by the planner",
            {"index_bytes": 16384},
            "DROP INDEX CONCURRENTLY public.orders_created_idx;\n"
            "CREATE INDEX CONCURRENTLY orders_created_idx ON public.orders (created_at);",
        ),
        _finding(
            "IX05",
            "missing-fk-index",
            Severity.WARNING,
            "indexes",
            ObjectRef(
                type="foreign_key",
                schema="public",
                table="orders",
                columns=("customer_id",),
                constraint="orders_customer_id_fkey",
            ),
            "public.orders(customer_id) references public.customers but no index leads with it",
            {"table_rows": 120000},
            "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);",
        ),
        _finding(
            "KY01",
            "no-primary-key",
            Severity.WARNING,
            "keys",
            ObjectRef(type="table", schema="Sales Data", table='odd "name"'),
            '"Sales Data"."odd ""name""" has no primary key',
            {"table_rows": None},
        ),
        _finding(
            "KY04",
            "sequence-exhaustion",
            Severity.INFO,
            "keys",
            ObjectRef(type="sequence", schema="public", sequence="events_id_seq"),
            "public.events_id_seq has used 12.5 % of the integer range of public.events.id",
            {"used_pct": 12.5, "last_value": 268435456},
        ),
    )
    metrics = (
        Metric(
            key="unused_indexes",
            label="Unused indexes",
            value=0,
            unit="indexes",
            target="0",
            passed=True,
            method="IX01 findings: indexes with no scans since the statistics were reset",
        ),
        Metric(
            key="schema_completeness_pct",
            label="Schema completeness",
            value=66.7,
            unit="%",
            target=">= 95 %",
            passed=False,
            method="share of tables with a primary key (2/3)",
        ),
        Metric(
            key="p95_ms",
            label="P95 latency",
            value=None,
            unit="ms",
            target="< 100 ms",
            reason="pg_stat_statements is not installed",
        ),
    )
    return Report(
        target=Target(engine="postgresql", server_version="15.18", database="shop", dsn=dsn),
        started_at=datetime(2026, 11, 24, 21, 0, tzinfo=UTC),
        duration_s=1.8,
        findings=findings,
        skipped=(
            Skipped(
                check="slow-query",
                code="WL01",
                reason="pg_stat_statements is not installed",
                enable="shared_preload_libraries = 'pg_stat_statements'; CREATE EXTENSION pg_stat_statements",
            ),
            Skipped(check="engine-only", code="ZZ01", reason="not applicable to postgresql"),
        ),
        metrics=metrics,
        score=Score(value=71, grade="C"),
        notes=(
            Note(
                area="privileges",
                message="3 tables are not readable by this role; their statistics are missing",
                objects=("hr.salaries", "hr.reviews", "hr.bonuses"),
                enable="GRANT pg_read_all_stats TO app",
            ),
        ),
        checks_run=("IX04", "IX05", "KY01", "KY04"),
        tool_version="0.1.0",
    )


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from the golden file; if intended, rerun with UPDATE_GOLDEN=1"


def test_text_report_matches_golden() -> None:
    _golden("report.txt", render_text(sample_report()))


def test_json_report_matches_golden() -> None:
    _golden("report.json", render_json(sample_report()))


def test_coloured_text_differs_only_by_ansi_codes() -> None:
    plain = render_text(sample_report())
    coloured = render_text(sample_report(), color=True)
    assert "\x1b[" in coloured and "\x1b[" not in plain
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_text_report_fits_in_100_columns_except_sql_and_names() -> None:
    report = sample_report()
    text = render_text(report)
    sql_lines = {line for f in report.findings if f.remediation for line in f.remediation.splitlines()}
    for line in text.splitlines():
        if line.strip() in sql_lines:
            continue  # remediation SQL is printed as is, to be copied
        assert len(line) <= WIDTH, line


def test_text_report_content() -> None:
    text = render_text(sample_report())
    # grouped by check, the checks with errors before those with warnings before those with info
    assert text.index("IX04  invalid-index  1 error") < text.index("IX05  missing-fk-index  1 warning") \
        < text.index("KY04  sequence-exhaustion  1 info")
    assert "        DROP INDEX CONCURRENTLY public.orders_created_idx;" in text
    assert "pg_stat_statements is not installed" in text  # unmeasured metric and skipped check say why
    assert "to enable: GRANT pg_read_all_stats TO app" in text
    assert "71/100, grade C" in text


def test_empty_report_says_no_findings() -> None:
    empty = Report(
        target=Target("postgresql", "15.18", "shop", "postgresql://app@h/shop"),
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration_s=0.0,
        findings=(),
        skipped=(),
        metrics=(),
        score=Score(100, "A"),
    )
    assert "No findings." in render_text(empty)
    assert json.loads(render_json(empty))["findings"] == []


# ---- the JSON contract -------------------------------------------------------------------------------------

CONTRACT: dict[str, Any] = {
    "format_version": int,
    "tool": {"name": str, "version": str},
    "target": {"engine": str, "server_version": str, "database": str, "dsn": str},
    "started_at": str,
    "duration_s": (int, float),
    "metrics": dict,
    "score": {"value": int, "grade": str},
    "findings": list,
    "skipped": list,
}
FINDING_CONTRACT: dict[str, Any] = {
    "code": str,
    "check": str,
    "severity": str,
    "category": str,
    "object": dict,
    "message": str,
    "details": dict,
    "remediation": (str, type(None)),
}
SKIPPED_CONTRACT: dict[str, Any] = {"check": str, "reason": str, "enable": (str, type(None))}


def _conforms(data: Any, shape: Any, where: str) -> None:
    if isinstance(shape, dict):
        assert isinstance(data, dict), f"{where} is not an object"
        for key, sub in shape.items():
            assert key in data, f"{where}.{key} is missing"
            _conforms(data[key], sub, f"{where}.{key}")
    else:
        assert isinstance(data, shape), f"{where} has type {type(data).__name__}"


def assert_json_contract(data: dict[str, Any]) -> None:
    _conforms(data, CONTRACT, "report")
    assert data["format_version"] == 1
    assert data["tool"]["name"] == "dbaudit"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["started_at"])
    assert data["score"]["grade"] in {"A", "B", "C", "D", "F"} and 0 <= data["score"]["value"] <= 100
    for key, value in data["metrics"].items():
        assert isinstance(value, int | float | type(None)), f"metrics.{key} is not a number or null"
    for i, finding in enumerate(data["findings"]):
        _conforms(finding, FINDING_CONTRACT, f"findings[{i}]")
        assert finding["severity"] in {"error", "warning", "info"}
        assert re.fullmatch(r"[A-Z]{2}\d\d", finding["code"])
        assert set(finding["object"]) <= {
            "type",
            "schema",
            "table",
            "columns",
            "index",
            "constraint",
            "sequence",
            "query",
            "queryid",
        }
    for i, entry in enumerate(data["skipped"]):
        _conforms(entry, SKIPPED_CONTRACT, f"skipped[{i}]")


def test_json_follows_the_contract() -> None:
    data = json.loads(render_json(sample_report()))
    assert_json_contract(data)
    assert list(data)[:9] == list(CONTRACT)  # contract fields first, in the documented order
    assert data["target"]["dsn"] == "postgresql://app@db.internal:5432/shop"
    assert data["started_at"] == "2026-11-24T21:00:00Z"
    assert data["metrics"] == {"unused_indexes": 0, "schema_completeness_pct": 66.7, "p95_ms": None}
    assert data["summary"] == {"error": 1, "warning": 2, "info": 1, "total": 4}
    assert [q["key"] for q in data["quality"]] == list(data["metrics"])
    assert data["skipped"][1]["enable"] is None
    assert data["findings"][1]["object"]["columns"] == ["customer_id"]


def test_json_is_deterministic() -> None:
    assert render_json(sample_report()) == render_json(sample_report())


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_password_never_appears(fmt: str) -> None:
    assert PASSWORD not in render(sample_report(), fmt)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_password_in_a_hand_written_snapshot_is_redacted(fmt: str) -> None:
    snap = Snapshot(
        engine="postgresql",
        server_version="15.18",
        database="shop",
        dsn=f"postgresql://app:{PASSWORD}@db.internal/shop",
    )
    report = build_report(
        snap, RunResult(findings=(), skipped=(), ran=()), datetime(2026, 1, 1, tzinfo=UTC), 0.1
    )
    assert PASSWORD not in render(report, fmt)


def test_iso_utc_converts_other_zones() -> None:
    from datetime import timedelta, timezone

    moment = datetime(2026, 11, 24, 23, 30, 15, 999, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(moment) == "2026-11-24T21:30:15Z"


# ---- docs/scoring.md describes auditor/scoring.py ----------------------------------------------------------


def test_scoring_page_matches_the_code() -> None:
    from auditor.scoring import FAILED_METRIC_PENALTY, SEVERITY_CAP, SEVERITY_WEIGHT, compute_score

    page = (Path(__file__).resolve().parent.parent / "docs" / "scoring.md").read_text(encoding="utf-8")
    for sev, weight in SEVERITY_WEIGHT.items():
        assert f"| {sev.value} | {weight:g} | {SEVERITY_CAP[sev]:g} |" in page, (
            f"docs/scoring.md: weight/cap of {sev.value} is not {weight:g}/{SEVERITY_CAP[sev]:g}"
        )
    assert f"Failed metric: {FAILED_METRIC_PENALTY:g}**" in page
    assert f"- {FAILED_METRIC_PENALTY:g} x (number of failed metrics)" in page

    # the worked example of the page
    def many(code: str, severity: Severity, n: int) -> list[Finding]:
        return [
            _finding(code, "x", severity, "keys", ObjectRef(type="table", table=f"t{i}"), "m")
            for i in range(n)
        ]

    findings = (
        many("KY01", Severity.WARNING, 3)
        + many("IX04", Severity.ERROR, 2)
        + many("IX01", Severity.WARNING, 40)
    )
    failed = [
        Metric(key=k, label=k, value=1, passed=False) for k in ("unused_indexes", "schema_completeness_pct")
    ]
    score = compute_score(failed, findings)
    assert (score.value, score.grade) == (51, "F")
    assert "= 51  ->  grade F" in page


def test_text_report_says_which_tables_the_sample_covers() -> None:
    budget = "the sampling budget of 60 s was used up"
    sampling = Sampling(rows_per_table=10_000, duration_s=60.2, tables=(
        TableSample(schema="public", table="a", rows=10_000, method="full"),
        TableSample(schema="public", table="b", skipped_reason=budget),
        TableSample(schema="public", table="c", skipped_reason=budget),
    ))
    snapshot = Snapshot(engine="postgresql", server_version="15.18", database="shop", sampling=sampling)
    text = render_text(dataclasses.replace(sample_report(), snapshot=snapshot))
    assert (f"data sample: 1 of 3 tables sampled (up to 10,000 rows each) in 60.2 s; not judged by NF02-NF04: "
            f"2: {budget}") in " ".join(text.split())
    off = dataclasses.replace(snapshot, sampling=Sampling(enabled=False))
    assert "data sample: off (--no-sample)" in render_text(dataclasses.replace(sample_report(), snapshot=off))


def test_text_metrics_state_a_shared_method_once() -> None:
    method = "calls-weighted mixture of per-statement log-normals; 21 statements, 573 calls"
    metrics = tuple(Metric(key=k, label=k, value=1.5, unit="ms", method=method) for k in ("p50", "p95", "p99"))
    text = render_text(dataclasses.replace(sample_report(), metrics=metrics), verbose=True)
    assert text.count(method) == 1
    assert [line.split()[-1] for line in text.splitlines() if line.startswith("p9") or line.startswith("p50")] \
        == ["[1]", "[1]", "[1]"]


def test_text_keeps_the_lines_of_a_multi_line_enable() -> None:
    fix = "[mysqld]\nperformance_schema = ON"
    report = dataclasses.replace(sample_report(), skipped=(
        Skipped(check="slow-query", code="WL01", reason="performance_schema is OFF", enable=fix),
        Skipped(check="n-plus-one", code="WL03", reason="pg_stat_statements is not installed",
                enable="CREATE EXTENSION pg_stat_statements"),
    ))
    lines = render_text(report).splitlines()
    at = lines.index("  WL01 slow-query")
    # each line of the my.cnf section stays a line, indented under the entry, never "[mysqld] performance_schema"
    assert lines[at + 2:at + 5] == ["        to enable:", "          [mysqld]", "          performance_schema = ON"]
    assert "        to enable: CREATE EXTENSION pg_stat_statements" in lines


def test_a_server_wide_scan_names_what_it_audited_in_the_header() -> None:
    """Red team (MariaDB, a DSN without a database): the header said "database (unknown)"."""
    report = sample_report()
    wide = dataclasses.replace(report, target=dataclasses.replace(report.target, database=None),
                               snapshot=Snapshot(engine="mysql", server_version="10.11", schemas=("logi", "shop")))
    header = render_text(wide).split("\n\n")[0]
    assert re.search(r"database +none named, server-wide: logi, shop\n", header + "\n"), header
    assert "(unknown)" not in header


def test_per_table_reads_on_mysql_are_rows_not_scans() -> None:
    """Red team (MariaDB, performance_schema on): "- scans (- by index)" beside the rows written that P_S counted;
    MySQL/MariaDB count rows read, not scans."""
    from auditor.design import ReadWriteMix, TableProfile
    from auditor.model import Table, TableStats
    from reports.document import _reads

    def profile(stats: TableStats) -> TableProfile:
        mix = ReadWriteMix(stats.seq_scan, stats.idx_scan, stats.n_tup_ins, stats.n_tup_upd, stats.n_tup_del)
        return TableProfile(table=Table(schema="logi", name="t", stats=stats), columns=(), indexes=(),
                            constraints=(), mix=mix)

    assert _reads(profile(TableStats(seq_tup_read=9_000, idx_tup_fetch=1_000, n_tup_ins=5))) == \
        "10,000 rows read (10 % through an index)"
    assert _reads(profile(TableStats(seq_scan=3, idx_scan=1))) == "4 scans (25 % by index)"
    assert _reads(profile(TableStats(n_tup_ins=5))) == "reads not counted"
    assert _reads(profile(TableStats(seq_tup_read=0, idx_tup_fetch=0))) == "no row read"
