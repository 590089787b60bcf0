"""MT03-MT05 on small snapshots: each fires, stays silent on its look-alike, and has its edge."""

from __future__ import annotations

from datetime import timedelta

from auditor.engine import iter_hits, load_checks, unmet_precondition
from auditor.model import Hit, Note, Severity, Snapshot
from auditor.operations import Activity, Backend
from auditor.replication import PREPARED_AREA, PreparedXact, Replication, ReplicationSlot, Standby
from checks.transactions import LongTransactionOptions, StalePreparedOptions, XminHorizonOptions
from tests.builders import NOW, snap

SPECS = load_checks()


def hits(code: str, s: Snapshot, opts: object = None) -> list[Hit]:
    spec = SPECS[code]
    assert unmet_precondition(spec, s) is None, unmet_precondition(spec, s)
    return list(iter_hits(spec, s, opts))


def labels(found: list[Hit]) -> list[str]:
    return [h.object.label() for h in found]


def client(pid: int, *, user: str = "app", state: str = "active", xact_min: float | None = None,
           idle_min: float | None = None, xmin_age: int | None = None, **extra: object) -> Backend:
    xact_start = NOW - timedelta(minutes=xact_min) if xact_min is not None else None
    state_change = NOW - timedelta(minutes=idle_min) if idle_min is not None else xact_start
    fields: dict[str, object] = {"pid": pid, "user": user, "database": "shop", "backend_type": "client backend",
                                 "client": "loopback", "state": state, "xact_start": xact_start,
                                 "state_change": state_change, "xmin_age": xmin_age}
    fields.update(extra)
    return Backend(**fields)  # type: ignore[arg-type]


def pg(*backends: Backend, complete: bool = True, **replication: object) -> Snapshot:
    replication.setdefault("prepared_xacts", ())
    replication.setdefault("slots", ())
    replication.setdefault("standbys", ())
    replication.setdefault("server_time", NOW)
    return snap(activity=Activity(backends=backends, complete=complete,
                                  enable=None if complete else "GRANT pg_monitor TO app",
                                  reason=None if complete else "role app sees its own sessions only"),
                replication=Replication(**replication),  # type: ignore[arg-type]
                settings={"autovacuum_freeze_max_age": "200000000"})


# ---- MT03 xmin-horizon-held --------------------------------------------------------------------------------


def test_mt03_names_every_kind_of_holder() -> None:
    s = pg(
        client(11, state="idle in transaction", xact_min=90, xmin_age=2_000_000),
        Backend(pid=12, user="replicator", backend_type="walsender", xmin_age=3_000_000, client_addr="10.0.0.5"),
        prepared_xacts=(PreparedXact(gid="order-7781", owner="app", database="shop", xid_age=1_500_000,
                                     prepared=NOW - timedelta(hours=3)),),
        slots=(ReplicationSlot(name="old_replica", slot_type="physical", xmin_age=5_000_000),
               ReplicationSlot(name="cdc", slot_type="logical", catalog_xmin_age=4_000_000, active=False)),
        standbys=(Standby(pid=12, application_name="replica1", client_addr="10.0.0.5"),),
    )
    found = hits("MT03", s)
    assert sorted(labels(found)) == ["app pid 11", "prepared transaction order-7781", "slot cdc",
                                     "slot old_replica", "standby replica1"]
    by = {h.object.label(): h for h in found}
    assert by["app pid 11"].details["holder"] == "session"
    assert "idle in transaction" in by["app pid 11"].message and "90 min" in by["app pid 11"].message
    assert by["app pid 11"].remediation.startswith("SELECT pg_terminate_backend(11);")
    assert "catalog_xmin" in by["slot cdc"].message
    assert "pg_drop_replication_slot('old_replica')" in (by["slot old_replica"].remediation or "")
    assert "ROLLBACK PREPARED 'order-7781'" in (by["prepared transaction order-7781"].remediation or "")
    assert "hot_standby_feedback" in by["standby replica1"].message
    assert all(h.severity is None for h in found)  # warnings below autovacuum_freeze_max_age


def test_mt03_silent_for_its_own_session_server_processes_and_an_active_logical_slot() -> None:
    s = pg(
        client(1, xmin_age=9_000_000, is_self=True),
        Backend(pid=2, backend_type="autovacuum worker", xmin_age=9_000_000),
        client(3, xmin_age=999_999),  # below the edge
        slots=(ReplicationSlot(name="cdc", slot_type="logical", catalog_xmin_age=9_000_000, active=True,
                               active_pid=77),),
    )
    assert hits("MT03", s) == []


def test_mt03_edge_and_error_past_the_freeze_max_age() -> None:
    at_edge = pg(client(3, xmin_age=1000))
    assert labels(hits("MT03", at_edge, XminHorizonOptions(max_xmin_age=1000))) == ["app pid 3"]
    assert hits("MT03", at_edge, XminHorizonOptions(max_xmin_age=1001)) == []
    (h,) = hits("MT03", pg(client(3, xmin_age=250_000_000)))
    assert h.severity is Severity.ERROR


def test_mt03_skipped_with_the_note_when_slots_were_not_read() -> None:
    s = snap(activity=Activity(), replication=Replication(prepared_xacts=(), slots=None),
             notes=(Note(area="replication_slots", message="refused", enable="GRANT pg_monitor TO app"),))
    unmet = unmet_precondition(SPECS["MT03"], s)
    assert unmet is not None and unmet.enable == "GRANT pg_monitor TO app"
    old = snap(activity=Activity())  # a snapshot from before the replication areas
    assert unmet_precondition(SPECS["MT03"], old) is not None


# ---- MT04 long-transaction ---------------------------------------------------------------------------------


def test_mt04_idle_in_transaction_and_long_transactions() -> None:
    s = pg(
        client(21, state="idle in transaction", xact_min=40, idle_min=31),
        client(22, state="active", xact_min=61),
        client(23, state="idle in transaction (aborted)", xact_min=45, idle_min=45),
    )
    found = hits("MT04", s)
    assert labels(found) == ["app pid 21", "app pid 22", "app pid 23"]
    assert "idle in its open transaction for 31 min" in found[0].message
    assert "ALTER ROLE app SET idle_in_transaction_session_timeout = '30min';" in (found[0].remediation or "")
    assert "transaction open for 61 min" in found[1].message
    assert "idle_in_transaction_session_timeout" not in (found[1].remediation or "")


def test_mt04_silent_on_its_guards() -> None:
    s = pg(
        client(31, state="idle in transaction", xact_min=200, idle_min=200, is_self=True),
        Backend(pid=32, backend_type="autovacuum worker", state="active", xact_start=NOW - timedelta(hours=5)),
        Backend(pid=33, backend_type="walsender", state="active", xact_start=NOW - timedelta(hours=5)),
        client(34, state="idle in transaction", xact_min=29, idle_min=29),  # under both limits
        client(35, state="idle", xact_min=None),  # no transaction
        client(36, state="active", xact_min=59),
    )
    assert hits("MT04", s) == []


def test_mt04_edges_through_the_options() -> None:
    s = pg(client(41, state="idle in transaction", xact_min=2, idle_min=1))
    opts = LongTransactionOptions(max_idle_in_transaction_s=60, max_transaction_s=10_000)
    assert labels(hits("MT04", s, opts)) == ["app pid 41"]
    assert hits("MT04", s, LongTransactionOptions(max_idle_in_transaction_s=61, max_transaction_s=10_000)) == []
    assert labels(hits("MT04", s, LongTransactionOptions(max_transaction_s=120))) == ["app pid 41"]
    assert hits("MT04", s, LongTransactionOptions(max_transaction_s=121)) == []


def test_mt04_is_skipped_with_the_grant_when_sessions_are_hidden() -> None:
    unmet = unmet_precondition(SPECS["MT04"], pg(client(1), complete=False))
    assert unmet is not None and unmet.enable == "GRANT pg_monitor TO app"


def test_mt04_on_mysql_kills_and_sets_mariadb_timeout() -> None:
    b = Backend(pid=7, user="app", backend_type="client", state="idle in transaction",
                xact_start=NOW - timedelta(hours=2), state_change=NOW - timedelta(hours=2), rows_modified=12,
                command="Sleep")
    s = snap(engine="mysql", flavor="mariadb", activity=Activity(backends=(b,)),
             replication=Replication(server_time=NOW, replicas=()))
    (h,) = hits("MT04", s)
    assert "12 row(s) modified" in h.message
    assert h.remediation == ("KILL 7;  -- after checking with its owner: its open transaction is rolled back\n"
                             "SET GLOBAL idle_transaction_timeout = 1800;")


def test_mt04_measures_against_the_servers_clock() -> None:
    # the collector's clock (NOW) runs an hour ahead of the server's: the transaction is 10 minutes old, not 70
    s = pg(client(51, state="active", xact_min=70), server_time=NOW - timedelta(hours=1))
    assert hits("MT04", s) == []
    assert labels(hits("MT04", pg(client(51, state="active", xact_min=70)))) == ["app pid 51"]


# ---- MT05 stale-prepared-transaction ----------------------------------------------------------------------


def _prepared(minutes: float, gid: str = "order-1") -> PreparedXact:
    return PreparedXact(gid=gid, owner="app", database="shop", xid_age=40,
                        prepared=NOW - timedelta(minutes=minutes))


def test_mt05_fires_past_max_age_with_the_fix() -> None:
    (h,) = hits("MT05", pg(prepared_xacts=(_prepared(6), _prepared(4, "order-2"))))
    assert h.object.label() == "prepared transaction order-1"
    assert h.details["age_s"] == 360
    assert h.remediation is not None and "ROLLBACK PREPARED 'order-1';" in h.remediation
    assert "\\c shop" in h.remediation


def test_mt05_silent_when_none_is_pending_and_at_the_edge() -> None:
    assert hits("MT05", pg()) == []
    assert labels(hits("MT05", pg(prepared_xacts=(_prepared(5),)))) == ["prepared transaction order-1"]
    assert hits("MT05", pg(prepared_xacts=(_prepared(5),)), StalePreparedOptions(max_age_s=301)) == []


def test_mt05_skipped_when_the_area_was_refused() -> None:
    s = snap(replication=Replication(prepared_xacts=None),
             notes=(Note(area=PREPARED_AREA, message="refused", enable="GRANT pg_monitor TO app"),))
    unmet = unmet_precondition(SPECS["MT05"], s)
    assert unmet is not None and unmet.reason == "refused"
