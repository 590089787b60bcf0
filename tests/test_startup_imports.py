"""What a scan imports before it connects: the collection does not wait for the checks, nor for rich when nothing
is shown (issue 15: the time to the first SQL statement). Each case runs in a fresh interpreter, whose modules
are those of the code path alone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import NewDb
from tests.mysql_support import NewMySqlDb, mysql_new_db, mysql_server  # noqa: F401  (pytest fixtures)

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_live_scan_connects_before_the_checks_are_imported() -> None:
    # the connector stood in for: what is imported when it is called, and whether the checks arrive meanwhile
    result = _run("""
        import json, sys, time
        import auditor.audit as audit
        from auditor import progress
        from tests.builders import snap, table

        seen = {}

        def collect(dsn, options, workload_off=False):
            seen["checks_at_connect"] = "checks" in sys.modules
            seen["sampling"] = options.normalization_sample
            seen["workload"] = options.workload
            progress.report("catalog")  # the session is open: the server reads the catalog
            deadline = time.monotonic() + 30
            while "checks.workload" not in sys.modules and time.monotonic() < deadline:
                time.sleep(0.01)
            seen["checks_meanwhile"] = "checks.workload" in sys.modules
            return snap(table("orders", ["id bigint"], rows=10))

        audit.collect_snapshot = collect
        phases = []
        report = audit.run_audit("postgresql://u@h/db", audit.AuditSettings(progress=phases.append,
                                                                             allow_empty=True))
        seen["checks_run"] = list(report.checks_run)
        seen["phases"] = phases
        direct = audit.run_audit(snap(table("orders", ["id bigint"], rows=10)), audit.AuditSettings(allow_empty=True))
        seen["checks_direct"] = list(direct.checks_run)
        print(json.dumps(seen))
    """)
    assert result["checks_at_connect"] is False
    assert result["checks_meanwhile"] is True
    assert result["sampling"] is True and result["workload"] is True  # every probe: the whole battery needs them
    assert result["checks_run"] == result["checks_direct"] and result["checks_run"]
    assert result["phases"] == ["collect", "catalog", "checks", "report"]  # the user's hook still sees every phase


def test_the_command_line_connects_before_importing_what_judges_and_renders() -> None:
    # the run history's store and interval figures (with --history only), the SQL parser (pglast) of the workload
    # and of the scoring's reference candidates, the report and its renderers: none of them is needed to connect
    later = ("pglast", "auditor.workload", "auditor.relations", "auditor.history.runs", "auditor.history.store",
             "auditor.history.deltas", "sqlite3", "auditor.report", "reports", "checks")
    result = _run(f"""
        import json, sys
        import auditor.audit as audit
        from auditor.cli import main

        seen = {{}}

        def collect(dsn, options, workload_off=False):
            seen.update({{name: name in sys.modules for name in {later!r}}})
            raise SystemExit(0)

        audit.collect_snapshot = collect
        try:
            main.main(["scan", "postgresql://u@h/db", "--format", "json", "-q"])  # not __call__: it ends the process
        except SystemExit:
            pass
        print(json.dumps(seen))
    """)
    assert result == dict.fromkeys(later, False)


def test_a_selection_is_checked_before_connecting() -> None:
    result = _run("""
        import json
        import auditor.audit as audit
        from auditor.errors import AuditError

        def collect(dsn, options, workload_off=False):
            raise AssertionError("connected")

        audit.collect_snapshot = collect
        try:
            audit.run_audit("postgresql://u@h/db", audit.AuditSettings(select=("no-such-check",)))
        except AuditError as exc:
            print(json.dumps({"error": str(exc)}))
    """)
    assert "no-such-check" in str(result["error"])


def test_progress_to_a_file_does_not_import_rich() -> None:
    result = _run("""
        import io, json, os, sys
        os.environ.pop("FORCE_COLOR", None); os.environ.pop("TTY_COMPATIBLE", None)
        from auditor.progress import TerminalProgress

        shown = TerminalProgress(stream=io.StringIO())
        shown("catalog")
        shown.close()
        print(json.dumps({"rich": "rich" in sys.modules, "enabled": shown.enabled}))
    """)
    assert result == {"rich": False, "enabled": False}


def test_progress_verbose_to_a_file_still_prints_its_lines() -> None:
    result = _run("""
        import io, json, os
        os.environ.pop("FORCE_COLOR", None); os.environ.pop("TTY_COMPATIBLE", None)
        from auditor.progress import TerminalProgress

        stream = io.StringIO()
        with TerminalProgress(stream=stream, verbose=True) as shown:
            shown("catalog")
            shown("checks")
        print(json.dumps({"text": stream.getvalue()}))
    """)
    text = str(result["text"])
    assert "dbaudit: catalog done in" in text and "dbaudit: checks done in" in text


def test_progress_forced_colour_is_a_terminal() -> None:
    result = _run("""
        import io, json, os
        os.environ["FORCE_COLOR"] = "1"
        from auditor.progress import TerminalProgress

        print(json.dumps({"enabled": TerminalProgress(stream=io.StringIO()).enabled}))
    """)
    assert result == {"enabled": True}


def _scan_modules(dsn: str) -> dict[str, object]:
    return _run(f"""
        import json, sys
        from auditor.audit import AuditSettings, run_audit
        from auditor.connectors import CollectOptions

        report = run_audit({dsn!r}, AuditSettings(collect=CollectOptions(sample=False), allow_empty=True))
        print(json.dumps({{"numpy": "numpy" in sys.modules, "tables": len(report.snapshot.tables),
                          "sampling": report.snapshot.sampling is not None and report.snapshot.sampling.enabled}}))
    """)


def test_a_live_scan_without_a_sample_never_imports_numpy_postgresql(pg_new_db: NewDb) -> None:
    # the sampling probe's module needs numpy (0.1-0.2 s of import): with --no-sample it is not loaded at all
    result = _scan_modules(pg_new_db("CREATE TABLE t (id int PRIMARY KEY, a text)"))
    assert result == {"numpy": False, "tables": 1, "sampling": False}


def test_a_live_scan_without_a_sample_never_imports_numpy_mysql(mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    result = _scan_modules(mysql_new_db("CREATE TABLE t (id int PRIMARY KEY, a text)"))
    assert result == {"numpy": False, "tables": 1, "sampling": False}
