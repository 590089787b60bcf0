"""The server's operational state in the snapshot: sessions, and what the maintenance and replication checks read.

These frozen dataclasses are part of :class:`auditor.model.Snapshot` (imported there) and round-trip through its
JSON like the rest. Every area is read by one bulk catalog query whatever the size of the schema: the sessions of
the whole server (bounded by ``max_connections``), not one query per table.

Statement texts of live sessions are kept only as a short, single-line form with every literal replaced by
``?`` (:func:`redact_statement`): a session's text carries the application's values, and a report must not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# how much of a session's statement the snapshot keeps (the connectors fetch its first 1024 characters)
STATEMENT_KEEP_CHARS = 160

# client kinds of a session (Backend.client)
LOCAL = "local"  # a Unix-domain socket
LOOPBACK = "loopback"  # TCP from this host (127.0.0.0/8, ::1)
REMOTE = "remote"  # TCP from elsewhere


@dataclass(frozen=True)
class Backend:
    """One server session or process: a pg_stat_activity row, or a MySQL/MariaDB PROCESSLIST thread.

    Times are absolute (UTC). ``visible`` is False when the audit role may not see the session's details
    (PostgreSQL without pg_read_all_stats shows other roles' sessions without state, times or statement); the
    fields it hides are then None, which never means "idle" or "no transaction".
    """

    pid: int
    user: str | None = None
    database: str | None = None
    application_name: str | None = None
    # PostgreSQL: pg_stat_activity.backend_type ("client backend", "autovacuum worker", "walsender", ...);
    # MySQL/MariaDB: "client" for connections, "system" for the server's own threads (daemons, event scheduler),
    # "replication" for binlog dump and replica threads
    backend_type: str | None = None
    client: str | None = None  # LOCAL, LOOPBACK, REMOTE; None for server processes and hidden sessions
    client_addr: str | None = None  # IP address of a TCP client
    ssl: bool | None = None  # None: not known (MySQL without performance_schema, or hidden)
    # PostgreSQL: "active", "idle", "idle in transaction", "idle in transaction (aborted)", "fastpath function
    # call", "disabled"; MySQL/MariaDB: the same words, derived from COMMAND and the InnoDB transaction
    state: str | None = None
    backend_start: datetime | None = None
    xact_start: datetime | None = None  # start of the open transaction, None outside one
    query_start: datetime | None = None  # start of the current (or, when idle, the last) statement
    state_change: datetime | None = None  # when ``state`` last changed: for "idle in transaction", idle since
    xid_age: int | None = None  # PostgreSQL: age of the session's own transaction id (it has written)
    xmin_age: int | None = None  # PostgreSQL: age of the session's snapshot xmin (what it holds back)
    wait_event_type: str | None = None
    wait_event: str | None = None
    is_self: bool = False  # dbaudit's own session
    visible: bool = True
    statement: str | None = None  # redact_statement() of the current or last statement
    command: str | None = None  # MySQL/MariaDB PROCESSLIST COMMAND ("Query", "Sleep", "Binlog Dump", ...)
    rows_modified: int | None = None  # MySQL/MariaDB: INNODB_TRX.trx_rows_modified of the open transaction

    @property
    def in_transaction(self) -> bool:
        return self.xact_start is not None


@dataclass(frozen=True)
class Activity:
    """The sessions of the whole server at collection time.

    ``complete`` is False when the audit role sees only part of them (PostgreSQL: no pg_read_all_stats;
    MySQL/MariaDB: no PROCESS privilege); ``enable`` then names the grant that lifts the limit.
    """

    backends: tuple[Backend, ...] = ()
    complete: bool = True
    enable: str | None = None
    reason: str | None = None  # why incomplete, one line

    def clients(self) -> list[Backend]:
        """Application sessions: client backends other than dbaudit's own."""
        return [b for b in self.backends if b.backend_type in ("client backend", "client") and not b.is_self]


# ------------------------------------------------------------------------------------------------------------
# Statement text without literals
# ------------------------------------------------------------------------------------------------------------

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
_WORD_CHAR = re.compile(r"[A-Za-z0-9_$]")


def redact_statement(text: str | None, engine: str = "postgresql", limit: int = STATEMENT_KEEP_CHARS) -> str | None:
    """A statement's text on one line, without its literals, at most ``limit`` characters.

    String literals ('...', E'...', $tag$...$tag$ on PostgreSQL; '...' and "..." on MySQL/MariaDB) and numbers
    become ``?``, comments are dropped; identifiers stay, quoted ones included. A literal cut off by the server's
    own text limit is replaced up to the end, so no part of a value survives. Empty text gives None.
    """
    if text is None:
        return None
    mysql = engine == "mysql"
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        word_before = i > 0 and bool(_WORD_CHAR.match(text[i - 1]))
        if (ch == "-" and nxt == "-") or (mysql and ch == "#"):
            end = text.find("\n", i)
            i = n if end < 0 else end
            out.append(" ")
        elif ch == "/" and nxt == "*":
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        elif ch == "'" or (mysql and ch == '"'):
            i = _quoted_end(text, i, ch, backslash=mysql)
            out.append("?")
        elif not mysql and ch in "eE" and nxt == "'" and not word_before:
            i = _quoted_end(text, i + 1, "'", backslash=True)
            out.append("?")
        elif not mysql and ch in "bBxXuUnN" and nxt in "'&" and not word_before:
            start = i + 1 if nxt == "'" else i + 2  # B'0101', X'ff', N'text', U&'d\0061t'
            if text[start:start + 1] == "'":
                i = _quoted_end(text, start, "'", backslash=False)
                out.append("?")
            else:
                out.append(ch)
                i += 1
        elif ch == '"' or ch == "`":
            end = _quoted_end(text, i, ch, backslash=False)
            out.append(text[i:end])  # a quoted identifier: kept
            i = end
        elif ch == "$" and not mysql and not word_before and (m := _DOLLAR_TAG.match(text, i)):
            if m.group(0) == "$" or text[i + 1:i + 2].isdigit():
                out.append(ch)
                i += 1
            else:
                tag = m.group(0)
                end = text.find(tag, m.end())
                i = n if end < 0 else end + len(tag)
                out.append("?")
        elif (ch.isdigit() or (ch == "." and nxt.isdigit())) and not word_before \
                and (m := _NUMBER.match(text, i)):
            i = m.end()
            out.append("?")
        else:
            out.append(ch)
            i += 1
    flat = " ".join("".join(out).split())
    if not flat:
        return None
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def _quoted_end(text: str, start: int, quote: str, *, backslash: bool) -> int:
    """Index just past the quoted text opening at ``start``; the end of the text when it is cut off."""
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n
