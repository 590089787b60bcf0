"""What reaches the user: no sampled value without --show-samples at scan time, no raw control character from an
object name, no part of a password, no grade for an audit of nothing or a partial scan, no metric from what
was not measured, no check judging a catalog area that was not read."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.audit import AuditSettings, run_audit, verdict, without_sample_values
from auditor.cli import main
from auditor.dsn import parse_dsn
from auditor.engine import REGISTRY, run_checks
from auditor.errors import DsnError, ExitCode
from auditor.model import Note, PlanSummary, Sampling, Snapshot, Statement, WorkloadInfo, snapshot_to_json
from auditor.scoring import Targets, compute_metrics
from auditor.textsafe import json_safe, terminal_safe
from reports import render
from tests.builders import fk, index, pk, snap, table
from tests.test_checks_normalization import sample

EVIL = "evil\x1b]0;pwned\x07\x1b[31mred\r\u202etxt.exe"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# ---- sampled values ------------------------------------------------------------------------------------------


def _with_examples() -> Snapshot:
    """A snapshot saved with --show-samples: NF02's examples are in it."""
    values = ["red,green", "blue,red,yellow", "green,blue"] * 10
    ts = sample("posts", {"id": list(range(len(values))), "tags": values}, text=("tags",))
    cols = tuple(dataclasses.replace(c, examples=("SECRET-red,green", "SECRET-blue")) if c.name == "tags" else c
                 for c in ts.columns)
    return snap(table("posts", ["id", "tags text"]), pk("posts"),
                sampling=Sampling(show_samples=True, tables=(dataclasses.replace(ts, columns=cols),)))


def test_sample_values_need_show_samples_at_scan_time(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    path.write_text(snapshot_to_json(_with_examples()), encoding="utf-8")
    for fmt in ("text", "json", "markdown", "html", "sarif", "junit"):
        code, out, _ = _run("scan", "--from", str(path), "--format", fmt, "--fail-on", "never")
        assert code == 0 and "posts" in out and "SECRET" not in out, fmt
    code, out, _ = _run("scan", "--from", str(path), "--format", "json", "--show-samples", "--fail-on", "never")
    (nf02,) = [f for f in json.loads(out)["findings"] if f["code"] == "NF02"]
    assert nf02["details"]["examples"] == ["SECRET-red,green", "SECRET-blue"]


def test_without_sample_values_drops_examples_and_statement_samples() -> None:
    s = dataclasses.replace(_with_examples(), statements=(
        Statement("1", "SELECT * FROM posts WHERE id = ?", calls=3, sample_text="SELECT * FROM posts WHERE id = 7"),))
    clean = without_sample_values(s)
    assert clean.sampling is not None and not clean.sampling.show_samples
    assert all(not c.examples for t in clean.sampling.tables for c in t.columns)
    assert clean.statements[0].sample_text is None
    plain = snap(table("t"))
    assert without_sample_values(plain) is plain  # nothing to drop, nothing copied


# ---- control characters ----------------------------------------------------------------------------------------


def test_terminal_safe_escapes_what_a_terminal_would_act_on() -> None:
    assert terminal_safe(EVIL) == "evil\\x1b]0;pwned\\x07\\x1b[31mred\\x0d\\u202etxt.exe"
    assert terminal_safe("a\nb\tc") == "a\\x0ab\\x09c"
    assert terminal_safe("a\nb\tc", keep_newlines=True) == "a\nb\tc"
    assert terminal_safe("plain naïve 表") == "plain naïve 表"
    assert json.loads(json_safe(json.dumps({"k": "x\x9by\u202ez"}, ensure_ascii=False))) == {"k": "x\x9by\u202ez"}


@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "sarif"])
def test_object_names_cannot_drive_the_terminal(fmt: str) -> None:
    s = snap(table(EVIL, ["id", "note text"]), table("ok"), pk("ok"))
    report = run_audit(s, AuditSettings(select=("KY01",)))
    out = render(report, fmt, color=False)
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out
    assert "pwned" in out  # shown, escaped
    if fmt == "json":  # the data itself is intact: JSON escapes, its readers get the name back
        assert EVIL in json.loads(out)["findings"][0]["message"]
    if fmt == "sarif":
        assert EVIL in json.loads(out)["runs"][0]["results"][0]["message"]["text"]


def test_colour_is_kept_and_names_still_escaped() -> None:
    s = snap(table(EVIL, ["id"]))
    out = render(run_audit(s, AuditSettings(select=("KY01",))), "text", color=True)
    assert "\x1b[" in out  # dbaudit's own colours
    assert "\x1b]0;" not in out and "\x07" not in out and "\\x1b]0;pwned\\x07" in out


def test_error_lines_escape_control_characters(tmp_path: Path) -> None:
    code, _, err = _run("scan", "--from", str(tmp_path / "no\x1b[2Jfile.json"))
    assert code == 2 and "\x1b" not in err and "no\\x1b[2Jfile.json" in err


# ---- passwords in URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["p@ss", "pa/ss", "p:a:ss", "100%", "%zz", "a@b/c:d%e#f?g", "%41"])
def test_url_passwords_are_read_whole(password: str) -> None:
    for scheme, key in (("postgresql", "dbname"), ("mysql", "database")):
        dsn = parse_dsn(f"{scheme}://app:{password}@db.internal:5432/shop")
        expected = "A" if password == "%41" else password  # a valid escape keeps its meaning
        assert dsn.params["password"] == expected and dsn.params["user"] == "app"
        assert dsn.params["host"] == "db.internal" and dsn.params[key] == "shop"
        assert "ss" not in dsn.display.replace("postgresql", "").replace("mysql", "")


@pytest.mark.parametrize("text", [
    "postgresql://app:Sec@ret/x@db:port/shop",
    "postgresql://app:Sec@ret/x@db:5432/shop?sslmode=maybe&x",
    "mysql://app:Sec@ret/x@db:port/shop",
    "mysql://app:Sec@ret/x@db/shop?nope=1",
])
def test_dsn_errors_never_echo_a_part_of_the_password(text: str) -> None:
    with pytest.raises(DsnError) as caught:
        parse_dsn(text)
    for part in ("Sec", "ret", "ret/x", "Sec@ret"):
        assert part not in str(caught.value), caught.value


# ---- never a false pass ----------------------------------------------------------------------------------------


def test_an_audit_of_nothing_is_not_graded_and_fails_unless_allowed() -> None:
    empty = dataclasses.replace(snap(), database="postgres", dsn="postgresql://app@db:5432")
    report = run_audit(empty, AuditSettings())
    assert not report.score.graded and report.score.grade == "not graded"
    assert report.empty is not None and "the DSN names no database" in report.empty
    assert verdict(report, AuditSettings()).exit_code == ExitCode.ERROR
    allowed = verdict(report, AuditSettings(allow_empty=True))
    assert allowed.exit_code == ExitCode.OK and allowed.level == "warning"
    # the look-alike: one table, graded
    assert run_audit(snap(table("t"), pk("t")), AuditSettings()).score.graded


def test_no_check_selected_is_not_graded() -> None:
    report = run_audit(snap(table("t")), AuditSettings(ignore=("*",)))
    assert report.findings == () and not report.score.graded and report.empty and "no check ran" in report.empty


def test_a_partial_scan_is_not_graded_and_exits_2() -> None:
    s = dataclasses.replace(snap(table("t"), pk("t")), interrupted="the server sent no answer; not collected: x")
    report = run_audit(s, AuditSettings())
    assert report.partial and not report.score.graded
    end = verdict(report, AuditSettings(fail_on="never"))
    assert end.exit_code == ExitCode.ERROR and end.message and end.message.startswith("partial report:")
    with pytest.raises(Exception, match="not recording a baseline"):
        run_audit(s, AuditSettings(baseline="b.json", update_baseline=True))


def _workload(explained: int, refused: int) -> Snapshot:
    statements, plans = [], []
    for i in range(explained + refused):
        statements.append(Statement(str(i), f"SELECT * FROM t WHERE id = $1 AND n = {i}", calls=10))
        plans.append(PlanSummary(str(i), explained=True) if i < explained
                     else PlanSummary(str(i), reason="permission denied"))
    statements.append(Statement("u", "SET work_mem = '1MB'", calls=1000))  # no plan by nature: not counted
    plans.append(PlanSummary("u", reason="utility statement"))
    return snap(table("t", rows=100), pk("t"), statements=tuple(statements), plans=tuple(plans),
                workload=WorkloadInfo(not_explained={"permission denied": refused}))


def test_index_coverage_counts_only_explained_statements_and_says_how_many() -> None:
    (m,) = [m for m in compute_metrics(_workload(24, 2), []) if m.key == "index_coverage_pct"]
    assert m.value == 100.0 and m.measured == "24 of 26 statements (92.3 % of their calls)"
    (full,) = [m for m in compute_metrics(_workload(3, 0), []) if m.key == "index_coverage_pct"]
    assert full.value == 100.0 and full.measured is None


def test_index_coverage_below_the_floor_is_not_measured() -> None:
    (m,) = [m for m in compute_metrics(_workload(2, 24), []) if m.key == "index_coverage_pct"]
    assert m.value is None and m.passed is None
    assert m.reason and "only 2 of 26 statements (7.7 % of their calls)" in m.reason and "permission denied" \
        in m.reason
    # the edge: exactly the floor is measured
    (edge,) = [m for m in compute_metrics(_workload(13, 13), []) if m.key == "index_coverage_pct"]
    assert edge.value == 100.0
    (strict,) = [m for m in compute_metrics(_workload(13, 13), [], Targets(min_measured_pct=60))
                 if m.key == "index_coverage_pct"]
    assert strict.value is None


def test_normalization_below_the_floor_is_not_measured() -> None:
    tables = [table(f"t{i:02d}") for i in range(20)]
    one_sampled = Sampling(tables=(sample("t00", {"id": [1, 2, 3]}),))
    (m,) = [m for m in compute_metrics(snap(*tables, sampling=one_sampled), []) if m.key == "normalization_pct"]
    assert m.value is None and m.reason and m.reason.startswith("only 1 of 20 tables could be judged (5 %")
    ten = Sampling(tables=tuple(sample(f"t{i:02d}", {"id": [1, 2, 3]}) for i in range(10)))
    (half,) = [m for m in compute_metrics(snap(*tables, sampling=ten), []) if m.key == "normalization_pct"]
    assert half.value == 100.0 and half.measured == "10 of 20 tables (not judged: 10: not in the data sample)"


# ---- catalog areas that were not read ----------------------------------------------------------------------------


def test_checks_reading_an_unread_area_are_skipped_not_misled() -> None:
    """The false IX05 of the issue: the indexes query failed, so every foreign key looked unindexed."""
    full = snap(table("parent"), pk("parent"), table("child", ["id", "parent_id"]), pk("child"),
                fk("child", ["parent_id"], "parent"), index("child", ["parent_id"]))
    broken = dataclasses.replace(full, indexes=(), unread_areas=("indexes",), notes=(Note(
        "indexes", "the indexes query ran past statement_timeout; that part of the snapshot is empty",
        enable="raise --statement-timeout"),))
    specs = [REGISTRY[c] for c in ("IX05", "KY01", "KY04", "IX01")]
    result = run_checks(broken, specs)
    assert result.findings == ()
    assert {s.code for s in result.skipped} == {"IX05", "KY01", "IX01"}  # KY04 reads sequences, not indexes
    assert all("the indexes catalog query failed" in s.reason and s.enable == "raise --statement-timeout"
               for s in result.skipped)
    # the look-alike, read in full: the foreign key has its index, both tables their keys
    assert run_checks(full, [REGISTRY["IX05"], REGISTRY["KY01"]]).findings == ()


def test_snapshot_fields_round_trip() -> None:
    s = dataclasses.replace(snap(table("t")), unread_areas=("indexes",), interrupted="why",
                            collected_at=datetime(2026, 1, 1, tzinfo=UTC))
    from auditor.model import snapshot_from_json

    assert snapshot_from_json(snapshot_to_json(s)) == s
