"""Maintenance, the transaction side: what holds back vacuum's horizon, long and forgotten transactions.

These checks belong to the maintenance family (MT); they live apart from the table-side maintenance checks
(checks/maintenance.py) because they read the server's sessions and prepared transactions, not the tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from auditor.engine import check
from auditor.model import Hit, ObjectRef, Severity, Snapshot
from auditor.operations import Backend
from auditor.replication import PreparedXact
from auditor.sqlquote import pg_ident, pg_literal
from auditor.textfmt import count, duration
from checks._operations import requires_full_activity, requires_replication, server_now
from checks._posture import BOTH, requires_activity

MAINTENANCE = "maintenance"
NO_VACUUM = {"mysql": "MySQL/MariaDB have no vacuum horizon: InnoDB's purge lag is read from its history list"}

# server processes that hold a snapshot for their own work and let it go by themselves
_SERVER_WORKERS = frozenset({"autovacuum worker", "autovacuum launcher", "walsender", "walreceiver",
                             "logical replication launcher", "logical replication worker",
                             "parallel worker", "background writer", "checkpointer", "walwriter",
                             "startup", "archiver"})


def _session_ref(b: Backend, engine: str = "postgresql") -> ObjectRef:
    # MySQL/MariaDB: a connection (thread) id, what KILL takes, not an operating system process id
    return ObjectRef(type="connection" if engine == "mysql" else "session", role=b.user, database=b.database,
                     pid=b.pid)


def _age_s(now: datetime | None, moment: datetime | None) -> float | None:
    if now is None or moment is None:
        return None
    return max(0.0, (now - moment).total_seconds())


def _freeze_max_age(snap: Snapshot) -> int:
    value = (snap.settings.get("autovacuum_freeze_max_age") or "").strip()
    return int(value) if value.isdigit() else 200_000_000


# ------------------------------------------------------------------------------------------------------------
# MT03 xmin-horizon-held
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XminHorizonOptions:
    # transactions a holder may keep vacuum's horizon behind; about 15 minutes at 1,000 transactions per second
    max_xmin_age: int = 1_000_000


@check(code="MT03", name="xmin-horizon-held", severity=Severity.WARNING, engines=("postgresql",),
       category=MAINTENANCE, options=XminHorizonOptions, not_applicable=NO_VACUUM, reads=("activity",),
       requires=(requires_activity("postgresql"), requires_replication(postgresql=("prepared_xacts", "slots"))))
def xmin_horizon_held(snap: Snapshot, opts: XminHorizonOptions) -> Iterator[Hit]:
    """Something holds back vacuum's xmin horizon: dead rows newer than it cannot be removed anywhere.

    ## What it does
    Names every holder whose transaction horizon is at least `max_xmin_age` transactions old: a session with an
    old snapshot or transaction ID (pg_stat_activity `backend_xmin` / `backend_xid`), a prepared transaction
    (pg_prepared_xacts), a replication slot's `xmin` (a standby's hot_standby_feedback kept in a physical
    slot), the `catalog_xmin` of an inactive logical slot, and a standby's feedback through a walsender without
    a slot. A holder past `autovacuum_freeze_max_age` is an error, and says so: vacuum cannot freeze past it
    either. Holders are judged from `max_xmin_age` or half of `autovacuum_freeze_max_age`, whichever is
    lower, so that a server tuned to a small freeze age never leaves such a holder unreported.
    dbaudit's own session, autovacuum and the other server processes are left out.

    ## Why is this bad?
    VACUUM may only remove row versions that no transaction can still see. One old snapshot pins that horizon
    for every table of the database (and for the shared catalogs server-wide; a slot or a prepared transaction
    pins it for every database): autovacuum keeps running, finds nothing it may remove, tables and indexes
    bloat, and in the end freezing stalls and the server heads for transaction ID wraparound.

    ## Example
    A report opened in a `REPEATABLE READ` transaction and left open over the weekend; a standby that went
    away while its physical slot kept its feedback.

    ## Fix
    Find out why the holder is there, then end it:
    ```sql
    SELECT pg_terminate_backend(4242);          -- a forgotten session (its transaction is rolled back)
    ROLLBACK PREPARED 'order-7781';             -- a prepared transaction its manager gave up on
    SELECT pg_drop_replication_slot('old_replica');  -- a slot whose consumer is gone for good
    ```
    A connected standby's feedback (a walsender without a slot, or an active physical slot) is not dropped:
    end or shorten the long queries on that standby, or turn `hot_standby_feedback` off there.

    ## Options
    - `max_xmin_age` (default 1,000,000 transactions): dbaudit's own default, about a quarter of an hour of a
      busy server's work; half of `autovacuum_freeze_max_age` when that is lower. Amazon RDS's
      `postgres_get_av_diag()` names the same holders (active statement, idle in transaction, prepared
      transaction, logical slot, read replica) but only once they reach 500 million, the wraparound
      emergency; bloat starts far earlier.

    ## Known problems
    An active logical slot holds `catalog_xmin` while its consumer decodes, which is normal: only inactive
    logical slots are judged on it. Sessions are a moment's view; a holder that came and went between two
    scans is not seen.

    ## References
    - https://www.postgresql.org/docs/current/routine-vacuuming.html#VACUUM-FOR-WRAPAROUND
    - Amazon RDS, "Resolving identifiable vacuum blockers" (postgres_get_av_diag)
    - pganalyze VACUUM advisor, "xmin horizon"
    """
    assert snap.activity is not None and snap.replication is not None
    freeze = _freeze_max_age(snap)
    # a holder past autovacuum_freeze_max_age is an error whatever max_xmin_age says (rt10b: a server tuned to
    # a small freeze age went silent): judged from half of it on
    limit = min(opts.max_xmin_age, max(1, freeze // 2))
    now = server_now(snap)

    def severity(age: int) -> Severity | None:
        return Severity.ERROR if age >= freeze else None

    def back(age: int) -> str:
        return f"{count(age)} {_transactions(age)} back"

    def why(age: int) -> str:
        if age < freeze:
            return ""
        return (f"; that is past autovacuum_freeze_max_age = {count(freeze)}: vacuum cannot freeze rows newer "
                "than the horizon, so anti-wraparound vacuums repeat without advancing relfrozenxid and the "
                "server heads for transaction ID wraparound")

    standby_names = {s.pid: s for s in snap.replication.standbys or ()}
    walsenders = {b.pid: b for b in snap.activity.backends if b.backend_type == "walsender"}
    for b in snap.activity.backends:
        age = max(b.xmin_age or 0, b.xid_age or 0)
        if b.is_self or age < limit:
            continue
        if b.backend_type == "walsender":
            standby = standby_names.get(b.pid)
            name = (standby.application_name if standby else None) or b.application_name or "?"
            where = (standby.client_addr if standby else None) or b.client_addr or "?"
            yield Hit(
                object=ObjectRef(type="standby", channel=name, pid=b.pid),
                message=f"the standby {name} at {where} (walsender pid {b.pid}) holds vacuum's horizon "
                        f"{back(age)} through hot_standby_feedback (no slot): long queries on the standby keep "
                        f"dead rows on the primary{why(age)}",
                details={"holder": "standby_feedback", "xmin_age": age, "pid": b.pid, "application_name": name},
                remediation=_feedback_fix(name, where),
                severity=severity(age),
            )
            continue
        if b.backend_type in _SERVER_WORKERS:
            continue
        since = _age_s(now, b.xact_start)
        held = f", its transaction open for {duration(since)}" if since is not None else ""
        if b.xmin_age:
            pinned = "no dead row newer than its snapshot can be removed"
        else:  # a transaction ID but no snapshot: idle between statements of a writing transaction
            pinned = ("it holds no snapshot, but its transaction ID keeps every row version deleted or updated "
                      "since it began")
        yield Hit(
            object=_session_ref(b),
            message=f"session {b.pid} of {b.user or '?'} on {b.database or '?'} ({b.state or 'state hidden'}"
                    f"{held}) holds vacuum's horizon {back(age)}: {pinned}{why(age)}",
            details={"holder": "session", "xmin_age": age, "pid": b.pid, "user": b.user, "state": b.state,
                     "application_name": b.application_name, "transaction_s": round(since) if since else since},
            remediation=f"SELECT pg_terminate_backend({b.pid});  -- after checking with its owner: its open "
                        "transaction is rolled back",
            severity=severity(age),
        )
    for x in snap.replication.prepared_xacts or ():
        if x.xid_age is None or x.xid_age < limit:
            continue
        yield Hit(
            object=_prepared_ref(x),
            message=f"prepared transaction {pg_literal(x.gid)} of {x.owner or '?'} on {x.database or '?'} holds "
                    f"vacuum's horizon {back(x.xid_age)} in every database, and keeps its locks, until it is "
                    f"committed or rolled back{why(x.xid_age)}",
            details={"holder": "prepared_transaction", "xmin_age": x.xid_age, "gid": x.gid, "owner": x.owner},
            remediation=_resolve_prepared(x),
            severity=severity(x.xid_age),
        )
    for slot in snap.replication.slots or ():
        age = slot.xmin_age or 0
        what = "its xmin (a standby's hot_standby_feedback)"
        if not slot.active and (slot.catalog_xmin_age or 0) > age:
            age, what = slot.catalog_xmin_age or 0, "its catalog_xmin (the system catalogs)"
        if age < limit:
            continue
        state = "active" if slot.active else "inactive"
        if slot.active and slot.slot_type == "physical" and age == (slot.xmin_age or 0):
            # a connected standby's feedback: dropping the slot fails (it is in use) and would not help; the
            # long queries are on the standby
            standby = standby_names.get(slot.active_pid or -1)
            sender = walsenders.get(slot.active_pid or -1)
            name = (standby.application_name if standby else None) or (sender.application_name if sender
                                                                       else None) or "?"
            where = (standby.client_addr if standby else None) or (sender.client_addr if sender else None) or "?"
            yield Hit(
                object=ObjectRef(type="replication_slot", slot=slot.name),
                message=f"active physical replication slot {slot.name} (walsender pid {slot.active_pid}, standby "
                        f"{name} at {where}) holds vacuum's horizon {back(age)} through its xmin, the standby's "
                        "hot_standby_feedback: long queries on the standby keep dead rows on the primary, in every "
                        f"database{why(age)}",
                details={"holder": "standby_feedback", "xmin_age": slot.xmin_age,
                         "catalog_xmin_age": slot.catalog_xmin_age, "slot": slot.name, "active": True,
                         "pid": slot.active_pid, "application_name": name, "client_addr": where},
                remediation=_feedback_fix(name, where),
                severity=severity(age),
            )
            continue
        yield Hit(
            object=ObjectRef(type="replication_slot", slot=slot.name),
            message=f"{state} {slot.slot_type} replication slot {slot.name} holds vacuum's horizon {back(age)} "
                    f"through {what}, in every database{why(age)}",
            details={"holder": "replication_slot", "xmin_age": slot.xmin_age,
                     "catalog_xmin_age": slot.catalog_xmin_age, "slot": slot.name, "active": slot.active},
            remediation=f"SELECT pg_drop_replication_slot({pg_literal(slot.name)});  -- only if its consumer is "
                        "gone for good: a standby or subscriber using it must then be rebuilt",
            severity=severity(age),
        )


def _transactions(n: int) -> str:
    return "transaction" if n == 1 else "transactions"


def _feedback_fix(name: str, where: str) -> str:
    return (f"-- on the standby {name} at {where}: end or shorten its long queries (pg_stat_activity there), "
            "or let them be cancelled instead of holding the primary back:\n"
            "ALTER SYSTEM SET hot_standby_feedback = off;\nSELECT pg_reload_conf();")


def _prepared_ref(x: PreparedXact) -> ObjectRef:
    return ObjectRef(type="prepared_transaction", gid=x.gid, database=x.database)


def _resolve_prepared(x: PreparedXact) -> str:
    where = f"\\c {pg_ident(x.database)}\n" if x.database else ""
    return (f"-- as {x.owner or 'its owner'} or a superuser, in its database, once the transaction manager has "
            f"decided its outcome:\n{where}ROLLBACK PREPARED {pg_literal(x.gid)};  -- or COMMIT PREPARED "
            f"{pg_literal(x.gid)};")


# ------------------------------------------------------------------------------------------------------------
# MT04 long-transaction
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LongTransactionOptions:
    max_idle_in_transaction_s: float = 1800.0  # 30 min, the default
    max_transaction_s: float = 3600.0  # a transaction open for an hour, doing work or not


@check(code="MT04", name="long-transaction", severity=Severity.WARNING, engines=BOTH, category=MAINTENANCE,
       options=LongTransactionOptions, reads=("activity",),
       requires=(requires_full_activity("postgresql", "mysql"),))
def long_transaction(snap: Snapshot, opts: LongTransactionOptions) -> Iterator[Hit]:
    """A session idle in its open transaction, or a transaction open for too long.

    ## What it does
    Flags client sessions that have sat idle inside an open transaction for `max_idle_in_transaction_s`
    (measured from `state_change`, when they went idle; MySQL/MariaDB: a sleeping thread with an InnoDB
    transaction) and transactions open for `max_transaction_s` whatever they do (`xact_start`;
    INNODB_TRX.trx_started). A PostgreSQL session `idle in transaction (aborted)` (a statement failed, the
    application never rolled back) is judged on the idle limit too: it holds no lock or snapshot any more, but
    keeps its connection; `idle_in_transaction_session_timeout` ends it as well. dbaudit's own session,
    autovacuum, walsenders and the servers' replication and system threads are not judged. Needs every
    session in view: `pg_read_all_stats` (pg_monitor) on PostgreSQL, `PROCESS` on MySQL/MariaDB, otherwise the
    check is skipped. On a standby, the role setting of the fix is to be run on the primary (it replicates).

    ## Why is this bad?
    An open transaction keeps its locks (an `ALTER TABLE` queues behind it, and every query queues behind the
    `ALTER`), keeps its snapshot (vacuum cannot remove dead rows on PostgreSQL; InnoDB's purge falls behind and
    the undo history grows), and idle in transaction it is usually an application that forgot to commit, or
    died between statements with its connection left open in a pool.

    ## Example
    ```python
    conn = pool.get(); conn.execute("UPDATE accounts ..."); call_a_slow_web_service()  # commit comes later
    ```

    ## Fix
    Commit or roll back in the application, and bound it on the server:
    ```sql
    SELECT pg_terminate_backend(4242);
    ALTER ROLE app SET idle_in_transaction_session_timeout = '30min';
    ```
    MySQL/MariaDB: `KILL 4242;` (MariaDB: `SET GLOBAL idle_transaction_timeout = 1800;`).

    ## Options
    - `max_idle_in_transaction_s` (default 1800): the issue's 30 minutes; pg-extras' `long_running_queries` lists
      statements from 5 minutes on, PgHero's from 60 s (`long_running_query_sec`).
    - `max_transaction_s` (default 3600): dbaudit's own default, twice the idle limit, because batch jobs and
      dumps legitimately run for a while.

    ## Known problems
    A moment's view: transactions that come and go between scans are not seen. `pg_dump` holds one long
    transaction by design; it is still reported, since it holds vacuum back all the same.

    ## References
    - https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-IDLE-IN-TRANSACTION-SESSION-TIMEOUT
    - PgHero (`long_running_query_sec`), pg-extras (`long_running_queries`)
    - https://mariadb.com/kb/en/server-system-variables/#idle_transaction_timeout
    """
    assert snap.activity is not None
    now = server_now(snap)
    for b in snap.activity.clients():
        aborted = b.state == "idle in transaction (aborted)"
        # a failed transaction has no xact_start any more (PostgreSQL clears it); it waits for its ROLLBACK
        if (b.xact_start is None and not aborted) or not b.visible:
            continue
        open_s = _age_s(now, b.xact_start)
        idle_s = _age_s(now, b.state_change) if (b.state or "").startswith("idle in transaction") else None
        idle_long = idle_s is not None and idle_s >= opts.max_idle_in_transaction_s
        open_long = open_s is not None and open_s >= opts.max_transaction_s
        if not idle_long and not open_long:
            continue
        if aborted:
            what = (f"has been idle in its failed transaction for {duration(idle_s or 0)} (idle in transaction "
                    "(aborted)): it holds no lock or snapshot any more, but keeps its connection and pool slot "
                    "until the application rolls back")
        elif idle_long:
            what = f"has been idle in its open transaction for {duration(idle_s or 0)}"
            if open_s is not None:
                what += f" (transaction open for {duration(open_s)})"
        else:
            what = f"has had a transaction open for {duration(open_s or 0)} ({b.state or 'state unknown'})"
        modified = f", {b.rows_modified} row(s) modified" if b.rows_modified else ""
        last = f"; last statement: {b.statement}" if b.statement else ""
        holds = ("" if aborted else ": it keeps its locks and holds back "
                 + ("InnoDB's purge" if snap.engine == "mysql" else "vacuum"))
        # MySQL/MariaDB: a connection (thread) id, what KILL takes, not an operating system pid
        who = f"connection {b.pid}" if snap.engine == "mysql" else f"session {b.pid}"
        yield Hit(
            object=_session_ref(b, snap.engine),
            message=f"{who} of {b.user or '?'}" + (f" on {b.database}" if b.database else "")
                    + f" {what}{modified}{holds}{last}",
            details={"pid": b.pid, "user": b.user, "state": b.state, "idle_s": _round(idle_s),
                     "transaction_s": _round(open_s), "application_name": b.application_name,
                     "rows_modified": b.rows_modified},
            remediation=_end_session(snap, b, idle_long, opts),
        )


def _round(v: float | None) -> int | None:
    return None if v is None else round(v)


def _end_session(snap: Snapshot, b: Backend, idle: bool, opts: LongTransactionOptions) -> str:
    minutes = max(1, round(opts.max_idle_in_transaction_s / 60))
    if snap.engine == "mysql":
        fix = f"KILL {b.pid};  -- after checking with its owner: its open transaction is rolled back"
        if idle and snap.flavor == "mariadb":
            fix += f"\nSET GLOBAL idle_transaction_timeout = {round(opts.max_idle_in_transaction_s)};"
        return fix
    fix = f"SELECT pg_terminate_backend({b.pid});  -- after checking with its owner: its transaction is rolled back"
    if idle and b.user:
        standby = (snap.replication is not None and snap.replication.in_recovery) \
            or (snap.settings.get("in_hot_standby") or "").lower() == "on"
        if standby:  # a hot standby is read-only: role settings are written on the primary and replicate
            fix += "\n-- on the primary (this server is a read-only standby; the setting replicates to it):"
        fix += f"\nALTER ROLE {pg_ident(b.user)} SET idle_in_transaction_session_timeout = '{minutes}min';"
    return fix


# ------------------------------------------------------------------------------------------------------------
# MT05 stale-prepared-transaction
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StalePreparedOptions:
    max_age_s: float = 300.0  # the 5 minutes: a two-phase commit's second phase takes milliseconds


@check(code="MT05", name="stale-prepared-transaction", severity=Severity.WARNING, engines=("postgresql",),
       category=MAINTENANCE, options=StalePreparedOptions, reads=(),
       not_applicable={"mysql": "XA transactions are not read on MySQL/MariaDB (XA RECOVER needs "
                                "XA_RECOVER_ADMIN)"},
       requires=(requires_replication(postgresql=("prepared_xacts",)),))
def stale_prepared_transaction(snap: Snapshot, opts: StalePreparedOptions) -> Iterator[Hit]:
    """A transaction prepared for two-phase commit long ago and never committed or rolled back.

    ## What it does
    Flags every pg_prepared_xacts entry prepared at least `max_age_s` ago, with its global identifier, owner,
    database and how far it holds back the transaction horizon.

    ## Why is this bad?
    A prepared transaction survives disconnects and restarts: nobody's session owns it any more. Until a
    transaction manager resolves it, it keeps every lock it took (writers on those rows, and DDL on those
    tables, wait forever) and holds back vacuum's horizon in every database, heading for wraparound.

    ## Example
    A coordinator crashed between `PREPARE TRANSACTION 'order-7781'` and `COMMIT PREPARED 'order-7781'`.

    ## Fix
    Ask the transaction manager for the outcome, then, in the transaction's database:
    ```sql
    ROLLBACK PREPARED 'order-7781';  -- or COMMIT PREPARED 'order-7781';
    ```
    and set `max_prepared_transactions = 0` where nothing uses two-phase commit.

    ## Options
    - `max_age_s` (default 300): the issue's five minutes; the second phase normally follows within
      milliseconds. The PostgreSQL manual: "It is unwise to leave transactions in the prepared state for a
      long time".

    ## References
    - https://www.postgresql.org/docs/current/sql-prepare-transaction.html
    - https://www.postgresql.org/docs/current/view-pg-prepared-xacts.html
    """
    assert snap.replication is not None
    now = server_now(snap)
    for x in snap.replication.prepared_xacts or ():
        age = _age_s(now, x.prepared)
        if age is None or age < opts.max_age_s:
            continue
        held = f", holding vacuum's horizon {count(x.xid_age)} transactions back" if x.xid_age else ""
        yield Hit(
            object=_prepared_ref(x),
            message=f"transaction {pg_literal(x.gid)} of {x.owner or '?'} on {x.database or '?'} was prepared "
                    f"{duration(age)} ago and is still neither committed nor rolled back: it keeps its locks"
                    f"{held}",
            details={"gid": x.gid, "owner": x.owner, "database": x.database, "age_s": round(age),
                     "xid_age": x.xid_age},
            remediation=_resolve_prepared(x),
        )
