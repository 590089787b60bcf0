"""A text report people can read at any size: grouped by check, the first N objects and "and M more", the
terminal's width, skip reasons merged, methodology behind --verbose; progress on stderr only on a terminal;
NO_COLOR / FORCE_COLOR. JSON and SARIF stay complete whatever the text shows."""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.model import Finding, ObjectRef, Severity, Skipped, snapshot_to_json
from auditor.report import Report
from auditor.scoring import Metric
from reports import render
from reports.text import LIMIT, render_text
from tests.builders import fk, pk, snap, table
from tests.conftest import NewDb, PgServer
from tests.test_reports import sample_report

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def _many(n: int, code: str = "IX05", check: str = "missing-fk-index",
          severity: Severity = Severity.WARNING) -> list[Finding]:
    return [Finding(code=code, check=check, severity=severity, category="indexes",
                    object=ObjectRef(type="foreign_key", schema="app", table=f"t{i:03d}", columns=("parent_id",),
                                     constraint=f"t{i:03d}_parent_fk"),
                    message=f"app.t{i:03d}(parent_id) references app.parent but no index leads with it",
                    remediation=f"CREATE INDEX CONCURRENTLY t{i:03d}_parent_id_idx ON app.t{i:03d} (parent_id);")
            for i in range(n)]


def _big_report() -> Report:
    findings = [*_many(300), *_many(3, "KY01", "no-primary-key", Severity.ERROR),
                *_many(40, "NF01", "repeating-group", Severity.INFO)]
    return dataclasses.replace(sample_report(), findings=tuple(findings))


def _shown(text: str, code: str) -> list[str]:
    """The object lines printed under a check's heading."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{code}  "))
    out = []
    for line in lines[start + 1:]:
        if not line.strip() or re.match(r"[A-Z]{2}\d\d  ", line):
            break
        if line.startswith("  app."):
            out.append(line.strip())
    return out


def test_a_large_check_shows_its_first_objects_and_how_many_more() -> None:
    text = render_text(_big_report())
    assert len(_shown(text, "IX05")) == LIMIT
    assert f"... and {300 - LIMIT} more: " in text
    assert "IX05  missing-fk-index  300 warnings on 300 tables" in text
    # the check's one-line summary from the registry heads a large group
    assert "Foreign key whose columns no index leads with." in text
    # a small group is shown whole, with no "more" line
    assert len(_shown(text, "KY01")) == 3
    # checks with errors come first, then warnings, then info
    assert text.index("KY01  no-primary-key") < text.index("IX05  missing-fk-index") < text.index("NF01  ")
    assert len(text.splitlines()) < 120


def test_limit_and_all() -> None:
    report = _big_report()
    assert len(_shown(render_text(report, limit=2), "IX05")) == 2
    everything = render_text(report, limit=None)
    assert len(_shown(everything, "IX05")) == 300
    assert "more:" not in everything
    # JSON and SARIF hold every finding, whatever the text shows
    assert len(json.loads(render(report, "json", limit=1))["findings"]) == 343
    assert len(json.loads(render(report, "sarif", limit=1))["runs"][0]["results"]) == 343


@pytest.mark.parametrize("width", [60, 100, 140])
def test_wraps_to_the_width_except_sql_and_names(width: int) -> None:
    report = _big_report()
    text = render_text(report, width=width)
    for line in text[:text.index("\nSummary\n")].splitlines():  # the tables below are as wide as they are
        stripped = line.strip()
        if stripped.startswith(("CREATE ", "DROP ", "ALTER ", "app.", "Sales Data")) or "|" in line:
            continue  # SQL is printed as is, to be copied; an object name is not cut
        assert len(line) <= width, line
    if width == 140:
        assert any(len(line) > 100 for line in text.splitlines() if not line.strip().startswith("CREATE"))


def test_a_long_sql_comment_wraps_into_comment_lines() -> None:
    long = "-- " + " ".join(["word"] * 60)
    report = dataclasses.replace(sample_report(), findings=(
        dataclasses.replace(_many(1)[0], remediation=f"{long}\nCREATE INDEX x ON app.t (c);"),))
    lines = render_text(report, width=80).splitlines()
    comment = [line for line in lines if line.strip().startswith("--")]
    assert len(comment) > 1 and all(len(line) <= 80 for line in comment)
    assert "        CREATE INDEX x ON app.t (c);" in lines


def test_identical_skip_reasons_are_listed_once() -> None:
    why = "pg_stat_statements is not installed"
    enable = "shared_preload_libraries = 'pg_stat_statements'; CREATE EXTENSION pg_stat_statements"
    skipped = tuple(Skipped(check=name, code=code, reason=why, enable=enable)
                    for code, name in (("WL01", "slow-query"), ("WL02", "missing-index"),
                                       ("WL03", "n-plus-one"), ("WL04", "offset-pagination")))
    text = render_text(dataclasses.replace(sample_report(), skipped=(*skipped, Skipped("other", "ZZ01", "no"))))
    assert text.count(why) == 2  # the P95 metric's note, and the merged skip entry
    assert "  WL01 slow-query, WL02 missing-index, WL03 n-plus-one, WL04 offset-pagination" in text
    assert "Skipped checks (5)" in text


def test_methodology_only_with_verbose() -> None:
    method = "calls-weighted mixture of per-statement log-normals"
    report = dataclasses.replace(sample_report(), metrics=(
        Metric(key="p95", label="P95 latency", value=3.0, unit="ms", method=method),
        Metric(key="p99", label="P99 latency", value=None, unit="ms", reason="no statement recorded")))
    quiet = render_text(report)
    assert method not in quiet and "--verbose" in quiet
    assert "why not: no statement recorded" in quiet  # why a metric is missing is always said
    assert method in render_text(report, verbose=True)


# ---- the command line: colour, progress --------------------------------------------------------------------

def timeless(text: str) -> str:
    return re.sub(r"started .*", "", text)


def _snapshot_file(tmp_path: Path) -> Path:
    """30 child tables whose foreign key has no index: 30 IX05 findings."""
    objects = [table("parent", ["id"], not_null=["id"]), pk("parent")]
    for i in range(30):
        name = f"t{i:03d}"
        objects += [table(name, ["id", "parent_id"], not_null=["id"]), pk(name), fk(name, ["parent_id"], "parent")]
    path = tmp_path / "snap.json"
    path.write_text(snapshot_to_json(snap(*objects, schemas=("public",), dsn="postgresql://u@h/app")))
    return path


def _dbaudit(*args: str, env: dict[str, str] | None = None, tty_stdout: bool = False,
             tty_stderr: bool = False) -> tuple[int, str, str]:
    """Run the CLI in a real process; stdout and/or stderr on a pseudo-terminal when asked."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    full_env.update(env or {})
    fds: dict[str, tuple[int, int]] = {}
    out_target: int = subprocess.PIPE
    err_target: int = subprocess.PIPE
    if tty_stdout:
        fds["out"] = pty.openpty()
        out_target = fds["out"][1]
    if tty_stderr:
        fds["err"] = pty.openpty()
        err_target = fds["err"][1]
    proc = subprocess.Popen([sys.executable, "-m", "auditor", *args], stdout=out_target, stderr=err_target,
                            stdin=subprocess.DEVNULL, env=full_env)
    for _, slave in fds.values():
        os.close(slave)
    chunks: dict[str, bytes] = {"out": b"", "err": b""}
    readers = {fds[k][0]: k for k in fds}
    pipes = {}
    if proc.stdout is not None:
        pipes[proc.stdout.fileno()] = "out"
    if proc.stderr is not None:
        pipes[proc.stderr.fileno()] = "err"
    open_fds = {**readers, **pipes}
    deadline = time.monotonic() + 120
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], 1.0)
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # a pty's master reads EIO once the child is gone
                data = b""
            if not data:
                del open_fds[fd]
                continue
            chunks[open_fds[fd]] += data
    proc.wait(timeout=60)
    for master, _ in fds.values():
        os.close(master)
    return (proc.returncode, chunks["out"].decode(errors="replace").replace("\r\n", "\n"),
            chunks["err"].decode(errors="replace"))


def test_progress_shows_on_a_terminal_and_never_on_stdout(tmp_path: Path) -> None:
    snap = str(_snapshot_file(tmp_path))
    code, out, err = _dbaudit("scan", "--from", snap, "--fail-on", "never", tty_stderr=True)
    assert code == 0
    # rich redraws a dozen times a second: a fast run may show only its last phase
    assert re.search(r"connecting|running the checks|building the report", ANSI.sub("", err))
    assert out.startswith("dbaudit ") and "building the report" not in out and "\x1b" not in out
    # not a terminal: nothing on stderr
    code, out2, err2 = _dbaudit("scan", "--from", snap, "--fail-on", "never")
    assert (code, err2) == (0, "") and timeless(out2) == timeless(out)
    # --quiet: nothing even on a terminal
    code, _, err3 = _dbaudit("scan", "--from", snap, "--fail-on", "never", "--quiet", tty_stderr=True)
    assert (code, ANSI.sub("", err3).strip()) == (0, "")
    # --verbose: the phases and their durations, on stderr
    code, out4, err4 = _dbaudit("scan", "--from", snap, "--fail-on", "never", "--verbose")
    assert code == 0 and re.search(r"dbaudit: checks done in \d+\.\d\d s", err4)
    assert "done in" not in out4


def test_no_color_and_force_color(tmp_path: Path) -> None:
    snap = str(_snapshot_file(tmp_path))
    _, on_tty, _ = _dbaudit("scan", "--from", snap, "--fail-on", "never", tty_stdout=True)
    assert "\x1b[" in on_tty
    _, no_color, _ = _dbaudit("scan", "--from", snap, "--fail-on", "never", tty_stdout=True,
                              env={"NO_COLOR": "1"})
    assert "\x1b[" not in no_color
    _, forced, _ = _dbaudit("scan", "--from", snap, "--fail-on", "never", env={"FORCE_COLOR": "1"})
    assert "\x1b[" in forced
    # the flag wins over both
    _, flagged, _ = _dbaudit("scan", "--from", snap, "--fail-on", "never", "--no-color", env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in flagged
    assert timeless(ANSI.sub("", forced)) == timeless(flagged)


def test_columns_sets_the_width(tmp_path: Path) -> None:
    snap = str(_snapshot_file(tmp_path))
    _, narrow, _ = _dbaudit("scan", "--from", snap, "--fail-on", "never", env={"COLUMNS": "60"})
    _, wide, _ = _dbaudit("scan", "--from", snap, "--fail-on", "never", env={"COLUMNS": "160"})
    findings = narrow[:narrow.index("\nSummary\n")]
    prose = [line for line in findings.splitlines() if not line.strip().startswith(("CREATE", "public."))]
    assert max(len(line) for line in prose) <= 60
    assert len(narrow.splitlines()) > len(wide.splitlines())


def test_limit_and_all_on_the_command_line(tmp_path: Path) -> None:
    snap = str(_snapshot_file(tmp_path))
    _, default, _ = _dbaudit("scan", "--from", snap, "--fail-on", "never")
    _, two, _ = _dbaudit("scan", "--from", snap, "--fail-on", "never", "--limit", "2")
    _, every, _ = _dbaudit("scan", "--from", snap, "--fail-on", "never", "--all")
    assert f"... and {30 - LIMIT} more" in default and "... and 28 more" in two and "more:" not in every
    code, _, err = _dbaudit("scan", "--from", snap, "--limit", "2", "--all")
    assert code == 2 and err.count("\n") == 1 and "--limit" in err


# ---- a real schema: MusicBrainz ------------------------------------------------------------------------------

def test_musicbrainz_report_fits_in_400_lines(pg_server: PgServer, pg_new_db: NewDb, tmp_path: Path) -> None:
    from tests.test_sample_schemas import _load

    dsn = _load("musicbrainz", pg_server, pg_new_db)
    report = run_audit(dsn, AuditSettings())
    assert len(report.findings) > 300
    text = render(report, "text")
    assert len(text.splitlines()) < 400, len(text.splitlines())
    assert len(json.loads(render(report, "json"))["findings"]) == len(report.findings)
    # every check that fired has its heading, with its full count
    for code in {f.code for f in report.findings}:
        n = sum(1 for f in report.findings if f.code == code)
        assert re.search(rf"^{code}  \S+  .*\b{n} ", text, re.M) or n == 1, code


def test_progress_hook_gets_every_phase_and_step(pg_new_db: NewDb) -> None:
    dsn = pg_new_db("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
                    "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY);"
                    "CREATE TABLE c (id int PRIMARY KEY);"
                    "INSERT INTO a SELECT g, g::text FROM generate_series(1, 500) g;"
                    "SELECT count(*) FROM a WHERE v = '7'")
    events: list[tuple[str, str, int | None, int | None]] = []

    def hook(phase: str, detail: str = "", done: int | None = None, total: int | None = None) -> None:
        events.append((phase, detail, done, total))

    run_audit(dsn, AuditSettings(progress=hook))
    phases = [e[0] for e in events]
    order = [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]
    assert order[:2] == ["collect", "catalog"] and order[-2:] == ["checks", "report"]
    assert {"sampling", "statements", "explain"} <= set(order)
    assert [e[1:] for e in events if e[0] == "sampling" and e[1]] == [("public.a", 1, 3), ("public.b", 2, 3),
                                                                      ("public.c", 3, 3)]
    explained = [e for e in events if e[0] == "explain"]
    assert explained and explained[-1][2] == explained[-1][3]
