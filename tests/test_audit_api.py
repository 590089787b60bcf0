"""The Python API (auditor.audit.run_audit): the pipeline the CLI, the demo and nightly runs share."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from auditor.audit import AuditSettings, SnapshotFile, collect_snapshot, run_audit
from auditor.config import Config, IgnoreRule
from auditor.connectors import CollectOptions
from auditor.errors import AuditError
from auditor.model import Severity, snapshot_to_json
from tests.conftest import PgServer, _run_id

SEED = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id), note text);
CREATE TABLE audit_log (at timestamptz, what text);
CREATE TABLE audit_old (at timestamptz, what text);
"""
QUICK = CollectOptions(sample=False, workload=False)


@pytest.fixture(scope="module")
def dsn(pg_server: PgServer, _pg_created_dbs: list[str]) -> str:
    name = f"dbaudit_api_{_run_id}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    _pg_created_dbs.append(name)
    target = pg_server.dsn(name)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(SEED)
    return target


def _codes(report: object) -> set[tuple[str, str]]:
    return {(f.code, f.object.label()) for f in report.findings}  # type: ignore[attr-defined]


def test_run_audit_on_a_live_server(dsn: str) -> None:
    report = run_audit(dsn, AuditSettings(collect=QUICK))
    found = _codes(report)
    assert ("KY01", "public.audit_log") in found and ("KY01", "public.audit_old") in found
    assert ("IX05", "public.orders(customer_id) [orders_customer_id_fkey]") in found
    assert report.target.engine == "postgresql" and report.snapshot is not None
    assert "KY01" in report.checks_run


def test_the_same_report_from_a_snapshot_object_and_from_its_file(dsn: str, tmp_path: Path) -> None:
    snap = collect_snapshot(dsn, QUICK)
    path = tmp_path / "snap.json"
    path.write_text(snapshot_to_json(snap), encoding="utf-8")
    from_memory = run_audit(snap, AuditSettings())
    from_file = run_audit(SnapshotFile(str(path)), AuditSettings())
    assert _codes(from_memory) == _codes(from_file) != set()


def test_selection_severities_and_suppression(dsn: str) -> None:
    snap = collect_snapshot(dsn, QUICK)
    settings = AuditSettings(
        select=("KY01", "IX05"),
        severities={"KY01": Severity.ERROR},
        ignores=(IgnoreRule(check="KY01", object="public.audit_old", reason="archive, read once a year"),),
    )
    report = run_audit(snap, settings)
    assert {f.code for f in report.findings} == {"KY01", "IX05"}
    ky01 = [f for f in report.findings if f.code == "KY01"]
    assert [f.object.label() for f in ky01] == ["public.audit_log"]
    assert all(f.severity is Severity.ERROR for f in ky01)
    assert [s.finding.object.label() for s in report.suppressed] == ["public.audit_old"]
    assert set(report.checks_run) == {"KY01", "IX05"}


def test_a_selection_that_matches_nothing_is_one_clear_error(dsn: str) -> None:
    with pytest.raises(AuditError, match="no check matches 'unused-indx'.*unused-index"):
        run_audit(dsn, AuditSettings(select=("unused-indx",)))


def test_baseline_recorded_then_only_new_findings_count(dsn: str, tmp_path: Path) -> None:
    snap = collect_snapshot(dsn, QUICK)
    path = str(tmp_path / "baseline.json")
    recorded = run_audit(snap, AuditSettings(select=("KY01",), baseline=path, update_baseline=True))
    assert len(json.loads(Path(path).read_text())["findings"]) == len(recorded.findings) == 2
    again = run_audit(snap, AuditSettings(select=("KY01",), baseline=path))
    assert again.findings == () and again.baseline is not None and len(again.baseline.unchanged) == 2


def test_update_baseline_without_a_file_is_refused() -> None:
    with pytest.raises(AuditError, match="--update-baseline needs --baseline"):
        run_audit(None, AuditSettings(update_baseline=True))


def test_settings_from_config_with_overrides_winning() -> None:
    config = Config(select=("IX",), ignore_checks=("IX01",), fail_on="warning", baseline=Path("/tmp/b.json"))
    plain = AuditSettings.from_config(config)
    assert (plain.select, plain.ignore, plain.fail_on, plain.baseline) == (("IX",), ("IX01",), "warning",
                                                                           "/tmp/b.json")
    flags = AuditSettings.from_config(config, select=("KY",), fail_on=None, baseline="other.json")
    assert (flags.select, flags.fail_on, flags.baseline) == (("KY",), "warning", "other.json")


def test_progress_reports_each_phase(dsn: str) -> None:
    phases: list[str] = []
    run_audit(dsn, AuditSettings(collect=QUICK, select=("KY01",), progress=phases.append))
    assert phases == ["collect", "catalog", "checks", "report"]


def test_the_collection_runs_without_cyclic_collections_and_leaves_none_frozen(dsn: str) -> None:
    # the snapshot's objects are built with the collector paused, the probes after the catalog included, and
    # frozen before it is back on (auditor.audit._run); after the run it is on again, nothing left frozen
    import gc

    seen: dict[str, bool] = {}

    def phase(name: str, *step: object) -> None:
        seen.setdefault(name, gc.isenabled())

    assert gc.isenabled()
    run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False), progress=phase))
    assert seen["collect"] is True  # before the collection: on
    assert seen["catalog"] is False and seen["statements"] is False  # the catalog, then the workload probe: off
    assert gc.isenabled() and gc.get_freeze_count() == 0
