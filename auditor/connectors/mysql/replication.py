"""The replication area of a MySQL/MariaDB collection: this server's replica channels, and the server's clock.

One statement whatever the schema: ``SHOW ALL SLAVES STATUS`` on MariaDB (every named connection),
``SHOW REPLICA STATUS`` on MySQL 8.0.22+ and ``SHOW SLAVE STATUS`` before. The columns are read under both
spellings (``Replica_IO_Running`` / ``Slave_IO_Running``, ``Seconds_Behind_Source`` / ``_Master``, ...). A
primary answers with no row. The statement needs REPLICATION CLIENT (MySQL) or SLAVE MONITOR (MariaDB 10.5.9+;
REPLICATION CLIENT before): without it the area is None, with a note naming the GRANT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pymysql

from auditor.model import Note
from auditor.replication import REPLICA_AREA, ReplicaStatus, Replication

Rows = Callable[[str], "list[dict[str, Any]]"]


def replica_sql(flavor: str, vnum: int) -> str:
    """The name of the .sql file for this server."""
    if flavor == "mariadb":
        return "replica_status"
    return "replica_status.mysql8" if vnum >= 80022 else "replica_status.mysql57"


def replica_grant(flavor: str, vnum: int, login: str) -> str:
    if flavor == "mariadb" and vnum >= 100509:
        return f"GRANT SLAVE MONITOR ON *.* TO {login}"
    return f"GRANT REPLICATION CLIENT ON *.* TO {login}"


def collect_replication(rows: Rows, flavor: str, vnum: int, now_utc: datetime, login: str,
                        notes: list[Note]) -> Replication:
    try:
        channel_rows = rows(replica_sql(flavor, vnum))
    except pymysql.err.MySQLError as exc:
        text = " ".join(str(exc.args[1] if len(exc.args) > 1 else exc).split())
        notes.append(Note(area=REPLICA_AREA,
                          message=f"the replica status was not read ({text}): whether this server replicates, "
                                  "and how far behind, is unknown",
                          enable=replica_grant(flavor, vnum, login)))
        return Replication(server_time=now_utc, replicas=None)
    return Replication(server_time=now_utc, replicas=tuple(replica_status(r) for r in channel_rows))


def _get(r: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in r:
            value = r[name]
            if isinstance(value, bytes | bytearray):
                return value.decode("utf-8", errors="replace")
            return value
    return None


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def replica_status(r: Mapping[str, Any]) -> ReplicaStatus:
    """One channel of SHOW REPLICA STATUS / SHOW [ALL] SLAVE[S] STATUS, under either spelling."""
    host = _get(r, "Source_Host", "Master_Host")
    port = _get(r, "Source_Port", "Master_Port")
    return ReplicaStatus(
        channel=str(_get(r, "Channel_Name", "Connection_name") or ""),
        source=f"{host}:{port}" if host else None,
        io_running=_get(r, "Replica_IO_Running", "Slave_IO_Running"),
        sql_running=_get(r, "Replica_SQL_Running", "Slave_SQL_Running"),
        seconds_behind=_opt_int(_get(r, "Seconds_Behind_Source", "Seconds_Behind_Master")),
        last_io_error=_get(r, "Last_IO_Error") or None,
        last_sql_error=_get(r, "Last_SQL_Error") or None,
        sql_delay_s=_opt_int(_get(r, "SQL_Delay")),
    )
