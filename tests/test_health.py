"""The figures of the design document's "Maintenance and operations" section (auditor.health)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from auditor import health
from auditor.model import Snapshot, Table, TableStats
from auditor.operations import Activity, Backend
from auditor.posture import Role
from auditor.replication import PreparedXact, Replication
from reports.markdown import render_markdown
from tests.builders import NOW, pg_settings, posture, snap


def test_settings_read_as_a_dba_writes_them() -> None:
    s = snap(posture=posture(settings=pg_settings(shared_buffers="16384", statement_timeout="30000")))
    values = {name: (value, source) for name, value, source in health.settings_that_matter(s)}
    assert values["shared_buffers"] == ("128 MB", "default")
    assert values["statement_timeout"] == ("30 s", "configuration file")
    assert values["idle_in_transaction_session_timeout"] == ("0 (off)", "default")


def test_vacuum_rows_most_dead_first_with_the_maintenance_areas_freeze_age() -> None:
    busy = Table("public", "orders", stats=TableStats(n_live_tup=900, n_dead_tup=100,
                                                      last_autovacuum=NOW - timedelta(days=1)))
    quiet = Table("public", "tags", stats=TableStats(n_live_tup=50, n_dead_tup=0))
    unknown = Table("public", "archive")
    s = snap(busy, quiet, unknown)
    # the maintenance area (another part of the snapshot) is read attribute by attribute
    freeze = SimpleNamespace(freeze=(SimpleNamespace(schema="public", table="orders", xid_age=1234,
                                                     toast_xid_age=5678),))
    object.__setattr__(s, "maintenance", freeze)
    rows = health.vacuum_rows(s)
    assert [r.table.name for r in rows] == ["orders", "archive", "tags"]  # ties by name
    assert rows[0].dead_pct == 10.0 and rows[0].xid_age == 5678 and rows[0].last_vacuum is not None
    assert not rows[1].stats_known


def test_sessions_and_security_facts() -> None:
    s = snap(activity=Activity(backends=(
        Backend(pid=1, backend_type="client backend", state="idle in transaction",
                xact_start=NOW - timedelta(minutes=5)),
        Backend(pid=2, backend_type="client backend", state="idle"),
        Backend(pid=3, backend_type="client backend", state="active", is_self=True),
    )), replication=Replication(server_time=NOW, prepared_xacts=(PreparedXact(gid="x"),)),
        posture=posture(roles=(Role("app"), Role("admin", superuser=True)), passwords_known=False))
    summary = health.session_summary(s)
    assert summary is not None and summary.total == 2 and summary.prepared == 1
    assert summary.oldest_transaction_s == 300
    facts = dict(health.security_facts(s))
    assert facts["Login roles"] == "2, of which superusers: 1"
    assert facts["Passwords stored as MD5"].startswith("unknown")
    assert facts["pg_hba.conf trust / password rules"] == "not readable"


def test_an_old_snapshot_renders_the_section() -> None:
    from auditor.report import Report, Target
    from auditor.scoring import Score

    report = Report(target=Target(engine="postgresql", server_version="15", database="x", dsn="postgresql://x"),
                    started_at=NOW, duration_s=0.1, findings=(), skipped=(), metrics=(), score=Score(100, "A"),
                    checks_run=(), tool_version="0", snapshot=Snapshot(engine="postgresql"))
    text = render_markdown(report)
    assert "## 8. Maintenance and operations" in text and "Replication was not read." in text
