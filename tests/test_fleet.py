"""Fleet scans (`dbaudit scan --targets`): bounded concurrency, failures isolated, shards, the summary."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from auditor.audit import AuditSettings
from auditor.fleet import (
    FleetTarget,
    InventoryError,
    load_inventory,
    parse_shard,
    scan_fleet,
    shard,
    strip_comment,
)
from auditor.history import open_store
from auditor.throwaway import free_port
from tests.conftest import NewDb

SCHEMA = "CREATE TABLE items (id int PRIMARY KEY, v text); CREATE TABLE loose (x int);"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, **(env or {})})


def test_a_fleet_scan_records_every_target_and_isolates_the_failing_one(pg_new_db: NewDb, tmp_path: Path) -> None:
    shop, billing = pg_new_db(SCHEMA), pg_new_db(SCHEMA)
    dead = f"postgresql://nobody@127.0.0.1:{free_port()}/gone"
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(f'[[target]]\nname = "shop"\ndsn = "{shop}"\n\n[[target]]\nname = "dead"\n'
                         f'dsn = "{dead}"\n\n[[target]]\nname = "billing"\ndsn-env = "BILLING_DSN"\n')
    store = str(tmp_path / "runs.db")
    out = tmp_path / "reports"
    out.mkdir()
    base = ["scan", "--targets", str(inventory), "--history", store, "--no-sample", "--concurrency", "2",
            "--fail-on", "never"]
    first = _cli(*base, "--output-dir", str(out), "--format", "json", env={"BILLING_DSN": billing})
    assert first.returncode == 2, first.stderr  # a target failed
    rows = {r["name"]: r for r in json.loads(first.stdout)["targets"]}
    assert [rows[n]["status"] for n in ("shop", "dead", "billing")] == ["ok", "error", "ok"], (rows, first.stderr)
    assert "dead" in first.stderr and rows["dead"]["error"] and rows["shop"]["score"] is not None
    assert sorted(p.name for p in out.iterdir()) == ["billing.json", "shop.json"]
    with open_store(store) as s:
        runs = s.runs()
    assert sorted(r.status for r in runs) == ["error", "ok", "ok"]
    assert next(r for r in runs if r.status == "error").message == rows["dead"]["error"]
    # the next night: one fix in shop; the summary shows it per target
    with psycopg.connect(shop, autocommit=True) as conn:
        conn.execute("ALTER TABLE loose ADD PRIMARY KEY (x)")
    second = _cli(*base, env={"BILLING_DSN": billing})
    assert second.returncode == 2
    lines = {line.split()[0]: line for line in second.stdout.splitlines()[3:]}
    assert "3 targets scanned, 2 ok, 1 failed" in second.stdout
    shop_line = lines["shop"].split()
    assert shop_line[1] == "ok" and shop_line[5:7] == ["0", "1"]  # new 0, resolved 1
    assert lines["dead"].split()[1] == "error"


def test_concurrency_is_bounded_and_a_crash_stays_with_its_target(monkeypatch: pytest.MonkeyPatch) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def fake_audit(dsn: str, settings: AuditSettings) -> Any:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        if "boom" in dsn:
            raise RuntimeError("unexpected")
        raise_audit = __import__("auditor.errors", fromlist=["AuditError"]).AuditError
        raise raise_audit(f"cannot reach {dsn}")

    monkeypatch.setattr("auditor.fleet.run_audit", fake_audit)
    targets = [FleetTarget(f"t{i}", f"postgresql://h{i}/db{'boom' if i == 3 else ''}") for i in range(12)]
    results = scan_fleet(targets, AuditSettings(), concurrency=3)
    assert peak == 3
    assert [r.target.name for r in results] == [t.name for t in targets]
    assert results[3].error == "internal error: RuntimeError: unexpected"
    assert all(r.report is None and r.error for r in results)


def test_shards_split_the_inventory_once_and_stably() -> None:
    targets = [FleetTarget(f"db{i}", f"postgresql://h/db{i}") for i in range(50)]
    parts = [shard(targets, i, 4) for i in range(1, 5)]
    assert sorted(t.name for p in parts for t in p) == sorted(t.name for t in targets)
    assert all(parts)  # 50 names over 4 shards: none empty
    more = [*targets, FleetTarget("db-new", "postgresql://h/new")]
    assert [t for t in shard(more, 2, 4) if t.name != "db-new"] == parts[1]  # adding a target moves no other
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "x", "1/0"):
        with pytest.raises(Exception, match="--shard"):
            parse_shard(bad)


def test_inventory_forms_and_errors(tmp_path: Path) -> None:
    plain = tmp_path / "dsns.txt"
    plain.write_text("# the fleet\npostgresql://a:secret@h1/shop\n\npostgresql://h2/billing\n")
    targets = load_inventory(str(plain))
    assert [t.name for t in targets] == ["postgresql://a:***@h1/shop", "postgresql://h2/billing"]
    assert targets[0].dsn == "postgresql://a:secret@h1/shop"
    cases = {
        "missing.toml": (None, "does not exist"),
        "bad.toml": ("[[target]\n", "not valid TOML"),
        "unknown.toml": ('[[target]]\ndsn = "postgresql://h/x"\nport = 5\n', "unknown key 'port'"),
        "env.toml": ('[[target]]\ndsn-env = 5\n', "dsn-env must name an environment variable"),
        "twice.toml": ('[[target]]\nname = "a"\ndsn = "postgresql://h/x"\n[[target]]\nname = "a"\n'
                       'dsn = "postgresql://h/y"\n', "appears twice"),
        "empty.txt": ("# nothing\n", "lists no target"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(InventoryError, match=re.escape(message)):
            load_inventory(str(path), environ={})
        out = _cli("scan", "--targets", str(path))
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    both = _cli("scan", "postgresql://h/x", "--targets", str(plain))
    assert both.returncode == 2 and "not both" in both.stderr
    lone = _cli("scan", "--from", str(plain), "--shard", "1/2")
    assert lone.returncode == 2 and "--shard needs --targets" in lone.stderr


def test_plain_dsn_files_take_inline_comments_but_keep_a_hash_in_a_password(tmp_path: Path) -> None:
    plain = tmp_path / "dsns.txt"
    plain.write_text("# the fleet\n"
                     "postgresql://a:pa#ss@h1/shop   # the shop, primary\n"
                     "  postgresql://h2/billing\t# billing\n"
                     "host=h3 dbname=crm password='se #cret'  # libpq form, quoted password with a space and #\n"
                     "mysql://u:x@h4/legacy#frag\n")
    targets = load_inventory(str(plain))
    assert [t.dsn for t in targets] == ["postgresql://a:pa#ss@h1/shop", "postgresql://h2/billing",
                                        "host=h3 dbname=crm password='se #cret'", "mysql://u:x@h4/legacy#frag"]
    assert all("#" not in t.name or "frag" in t.name for t in targets)  # the names are redacted DSNs
    assert strip_comment("# whole line") == "" and strip_comment("x=1 y='a\\' #b' # c") == "x=1 y='a\\' #b'"


def test_an_unset_dsn_env_fails_only_its_target(pg_new_db: NewDb, tmp_path: Path) -> None:
    """rt11: an unset dsn-env aborted the whole run (exit 2, nothing scanned), even for a shard without it; -o was
    ignored, -q still printed info lines, the error row's run_id was null, --output-dir had to exist."""
    shop = pg_new_db(SCHEMA)
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(f'[[target]]\nname = "shop"\ndsn = "{shop}"\n\n'
                         '[[target]]\nname = "billing"\ndsn-env = "FX_BILLING_DSN_UNSET"\n')
    store = str(tmp_path / "runs.db")
    summary = tmp_path / "summary.json"
    reports = tmp_path / "nightly" / "reports"  # does not exist yet
    base = ["scan", "--targets", str(inventory), "--history", store, "--no-sample", "--fail-on", "never"]
    run = _cli(*base, "-q", "-o", str(summary), "--output-dir", str(reports), "--format", "json")
    assert run.returncode == 2, run.stderr  # a target failed
    assert run.stdout == "" and run.stderr == "", (run.stdout, run.stderr)  # -q: no info lines; summary in -o
    rows = {r["name"]: r for r in json.loads(summary.read_text())["targets"]}
    assert rows["shop"]["status"] == "ok" and rows["billing"]["status"] == "error"
    assert rows["billing"]["error"] == "environment variable 'FX_BILLING_DSN_UNSET' (dsn-env) is not set"
    assert sorted(p.name for p in reports.iterdir()) == ["shop.json"]
    with open_store(store) as s:
        runs = {r.id: r for r in s.runs()}
    error_run = runs[rows["billing"]["run_id"]]
    assert (error_run.status, error_run.target, error_run.message) == ("error", "billing", rows["billing"]["error"])
    assert runs[rows["shop"]["run_id"]].status == "ok"
    # without -q the info lines are there, one per target
    loud = _cli(*base, "--output-dir", str(reports))
    assert sorted(line.split(":")[2].strip() for line in loud.stderr.splitlines()) == ["billing", "shop"], loud.stderr
    # a shard that does not hold billing never reads its variable
    listed = load_inventory(str(inventory), environ={})
    mine = next(f"{i}/2" for i in (1, 2) if [t.name for t in shard(listed, i, 2)] == ["shop"])
    alone = _cli(*base, "--shard", mine)
    assert alone.returncode == 0, alone.stderr
    assert "1 targets scanned, 1 ok, 0 failed" in alone.stdout
    # -o on an existing directory is refused before anything is scanned
    refused = _cli(*base, "-o", str(tmp_path))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "is a directory" in refused.stderr
