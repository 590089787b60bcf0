"""Shared parts of the transaction, replication and capacity checks: preconditions on the areas, durations."""

from __future__ import annotations

from datetime import datetime

from auditor.engine import Precondition, Unmet
from auditor.model import Snapshot
from auditor.replication import PREPARED_AREA, REPLICA_AREA, SLOTS_AREA, STANDBYS_AREA

_AREA_OF = {
    "prepared_xacts": PREPARED_AREA,
    "slots": SLOTS_AREA,
    "standbys": STANDBYS_AREA,
    "replicas": REPLICA_AREA,
}
_WHAT = {
    "prepared_xacts": "the prepared transactions (pg_prepared_xacts)",
    "slots": "the replication slots (pg_replication_slots)",
    "standbys": "the standbys streaming from this server (pg_stat_replication)",
    "replicas": "this server's replica status",
}


def requires_replication(*, postgresql: tuple[str, ...] = (), mysql: tuple[str, ...] = ()) -> Precondition:
    """The replication areas a check reads, per engine; a missing one skips the check with its note's GRANT."""
    needed = {"postgresql": postgresql, "mysql": mysql}

    def pre(snap: Snapshot) -> Unmet | None:
        for attr in needed.get(snap.engine, ()):
            if snap.replication is not None and getattr(snap.replication, attr) is not None:
                continue
            note = next((n for n in snap.notes if n.area == _AREA_OF[attr]), None)
            if note is not None:
                return Unmet(note.message, note.enable)
            return Unmet(f"{_WHAT[attr]} were not collected (a snapshot from an older dbaudit, or the query was "
                         "refused)", None)
        return None

    pre.__name__ = "requires_replication_" + "_".join(sorted({*postgresql, *mysql}))
    return pre


def requires_full_activity(*engines: str) -> Precondition:
    """Every session's state and times (pg_read_all_stats; MySQL's PROCESS): a partial view skips the check,
    since a transaction the role cannot see is not a transaction that is not there."""

    def pre(snap: Snapshot) -> Unmet | None:
        if snap.engine not in engines:
            return None
        if snap.activity is None:
            note = next((n for n in snap.notes if n.area == "activity"), None)
            if note is not None:
                return Unmet(note.message, note.enable)
            return Unmet("the sessions were not read (a snapshot from an older dbaudit)", None)
        if not snap.activity.complete:
            return Unmet(snap.activity.reason or "the audit role sees only part of the sessions",
                         snap.activity.enable)
        return None

    pre.__name__ = "requires_full_activity_" + "_".join(engines)
    return pre


def server_now(snap: Snapshot) -> datetime | None:
    """The server's clock at collection time (else the collector's): ages are measured against it."""
    if snap.replication is not None and snap.replication.server_time is not None:
        return snap.replication.server_time
    return snap.collected_at


