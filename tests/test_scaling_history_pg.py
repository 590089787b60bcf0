"""The design document's growth figures from a real run history: two recorded runs of a live PostgreSQL, rows
added between them; the fastest-growing table is named with its growth (auditor.scaling reads report.history).
Skipped until the run history (auditor.history, issue 11) is on the branch."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from reports.markdown import render_markdown
from tests.conftest import NewDb

pytest.importorskip("auditor.history", reason="the run history (auditor.history) is not on this branch yet")

QUICK = CollectOptions(sample=False, workload=False)


def test_growth_comes_from_two_recorded_runs(pg_new_db: NewDb, tmp_path: Path) -> None:
    dsn = pg_new_db("""
        CREATE TABLE events (id bigserial PRIMARY KEY, payload text);
        CREATE TABLE settings (id int PRIMARY KEY, value text);
        INSERT INTO events (payload) SELECT repeat('x', 200) FROM generate_series(1, 1000);
        INSERT INTO settings VALUES (1, 'a');
        ANALYZE;
    """)
    settings = AuditSettings(collect=QUICK, history=str(tmp_path / "history.sqlite"))
    first = run_audit(dsn, settings)
    text = render_markdown(first)
    assert "No growth figures" in text  # the first recorded run has nothing to compare with
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO events (payload) SELECT repeat('y', 200) FROM generate_series(1, 20000)")
        conn.execute("ANALYZE")
    second = run_audit(dsn, settings)
    text = render_markdown(second)
    growth = text[text.index("### Fastest-growing tables"):text.index("### Partitioning candidates")]
    rows = [line for line in growth.splitlines() if line.startswith("| `")]
    assert rows and rows[0].startswith("| `public.events` |"), growth
    assert "20,000" in rows[0]  # rows added between the runs
    # seconds apart: what grew, but no per-day projection and so no partitioning advice from it
    assert rows[0].endswith("| - | - |") and "Per-day figures need runs at least 6 h apart." in growth
    assert "No unpartitioned table" in text
    assert not any("settings" in r for r in rows)  # unchanged: not growing
