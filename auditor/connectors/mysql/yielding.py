"""MySQL/MariaDB's poll for :class:`~auditor.connectors.yielding.LockYield`.

A statement waiting for a metadata lock shows in ``information_schema.PROCESSLIST`` as ``Waiting for table
metadata lock``; seeing other accounts' sessions there takes the PROCESS privilege. The lock itself is not
named there (``performance_schema.metadata_locks`` is off by default on MariaDB), so the waiter is matched by
the table's name in its statement: a waiter that merely mentions the name makes the sample yield needlessly,
which costs a table's sample, never a finding. The sample is cancelled with ``KILL QUERY`` (own session, no
privilege needed).
"""

from __future__ import annotations

import re
from typing import Any

from auditor.connectors.yielding import LockYield
from auditor.workload import DBAUDIT_MARKER, PROBE_ALIAS

# the alias marks them as dbaudit's in performance_schema's digests, which drop comments
WAITERS_SQL = (f"{DBAUDIT_MARKER} SELECT '{PROBE_ALIAS}' AS {PROBE_ALIAS}, ID FROM information_schema.PROCESSLIST"
               " WHERE ID <> %(own)s AND STATE LIKE 'Waiting for table metadata lock%%'"
               " AND INFO REGEXP %(pattern)s LIMIT 1")
PROCESS_SQL = (f"{DBAUDIT_MARKER} SELECT '{PROBE_ALIAS}' AS {PROBE_ALIAS}, COUNT(*)"
               " FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'PROCESS'")
# the watcher's own statements: a poll that cannot answer quickly is not worth waiting for (seconds)
WATCHER_STATEMENT_TIMEOUT_S = 1.0


def name_pattern(table: str) -> str:
    """A regular expression (MariaDB's PCRE, MySQL 8's ICU) for the table's name as a whole identifier."""
    return rf"(^|[^A-Za-z0-9_$]){re.escape(table)}([^A-Za-z0-9_$]|$)"


class MySqlLockYield(LockYield[Any]):
    def __init__(self, open_watcher: Any, user: str, mariadb: bool) -> None:
        super().__init__(open_watcher)
        self.user = user
        self.mariadb = mariadb

    def prepare(self, watcher: Any) -> str | None:
        with watcher.cursor() as cur:
            cur.execute(f"{DBAUDIT_MARKER} SET SESSION max_statement_time = {WATCHER_STATEMENT_TIMEOUT_S:g}"
                        if self.mariadb else
                        f"{DBAUDIT_MARKER} SET SESSION max_execution_time = {int(WATCHER_STATEMENT_TIMEOUT_S * 1000)}")
            cur.execute(PROCESS_SQL)
            row = cur.fetchone()
        if not row or not row[1]:
            return (f"the account cannot see other sessions: GRANT PROCESS ON *.* TO {self.user} lets dbaudit "
                    "see a session waiting for a sampled table's metadata lock")
        return None

    def waiter(self, watcher: Any, own_id: int, schema: str, table: str) -> int | None:
        with watcher.cursor() as cur:
            cur.execute(WAITERS_SQL, {"own": own_id, "pattern": name_pattern(table)})
            row = cur.fetchone()
        return None if row is None else int(row[1])

    def close_watcher(self, watcher: Any) -> None:
        watcher.close()


def kill_query(own_id: int) -> Any:
    """The cancel of :meth:`LockYield.watching`: ``KILL QUERY`` of dbaudit's sampling session."""
    def cancel(watcher: Any) -> None:
        with watcher.cursor() as cur:
            cur.execute(f"{DBAUDIT_MARKER} KILL QUERY {int(own_id)}")
    return cancel

