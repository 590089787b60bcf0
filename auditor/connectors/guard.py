"""Client-side bounds on every wait for the server, and the scan's overall deadline (``--timeout``).

``statement_timeout`` / ``max_statement_time`` are enforced by the server: a server that stops answering (its
process stopped, a network black hole, a frozen VM) never sends the cancellation, and a plain blocking read
waits forever. The :class:`Watchdog` bounds each wait from the client: a wait that outlives the statement bound
(the server-side limit plus a grace) or the scan's deadline has its socket shut down from a helper thread, so
the driver's blocked read returns at once with a connection error, which the connector turns into a partial
report (:class:`~auditor.errors.ScanInterrupted`).

Shutting the socket down works the same for psycopg (whose waits poll the socket) and PyMySQL (blocking
``recv``), for TCP and Unix sockets, and needs no signal, so it also works when dbaudit runs in a thread of
another program.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

# Time a statement may take past its server-side limit before the client gives up on the server: the
# cancellation has to reach the client, and a loaded server is slow to send it.
GRACE_S = 2.0
GRACE_SHARE = 0.2


def statement_bound_s(statement_timeout_ms: int) -> float:
    """How long the client waits for one statement: the server-side limit, plus a grace."""
    seconds = statement_timeout_ms / 1000
    return seconds * (1 + GRACE_SHARE) + GRACE_S


# The share of --timeout kept for the checks and the report after the collection, at most RESERVE_MAX_S: the
# checks took 1.6-1.8 s and the text report 0.3-0.6 s on 4,000-10,000 tables (red team rt17, 2026-11-29:
# pg_timeout7/9, my_timeout12; bench/bench_checks.py on the 10,000-table snapshot: 1.6 s of CPU), so 5 s is
# enough at any size; 15 % leaves the collection most of a short budget.
RESERVE_SHARE = 0.15
RESERVE_MAX_S = 5.0
# No check starts in the last CHECKS_STOP_SHARE of --timeout (at most CHECKS_STOP_MAX_S): the report is built
# and rendered then. Measured on the 10,000-table snapshot (/work/notes/snap10k.json, 16,211 findings,
# 2026-11-29): rendering took 0.86 s of CPU as text, 0.38 s as JSON (3.0 s as Markdown), the slowest check
# 0.21 s (IX05, bench/bench_checks.py).
CHECKS_STOP_SHARE = 0.05
CHECKS_STOP_MAX_S = 2.0
# ... and at least the time the report of that many tables takes to build and render: 2.7 s of wall time at
# 10,000 tables on this 2-CPU machine at load 5.6 (--timeout 14 on bench15_10000, "report done" to the end,
# 2026-11-29), within what the collection keeps for the checks and the report.
REPORT_S_PER_TABLE = 2.7 / 10_000
# How long past the collection's deadline the client waits for the server's own cancellation of a statement
# (statement_timeout / max_statement_time, set to what is left) before it cuts the connection: the
# cancellation reaches the client within milliseconds on a live server (measured: 2-20 ms on loopback).
DEADLINE_GRACE_S = 0.5


# Of what is left of the collection when the data sample starts, the share kept for the workload probe after
# it, at most WORKLOAD_RESERVE_MAX_S, none under --no-workload. A fixed 5 s left nothing to sample under a short
# --timeout (red team, MariaDB, --timeout 10: 12 of 12 tables not sampled, the run over 4 s early); the probe
# reads the digests in one statement (MariaDB: never EXPLAINs) and bounds its EXPLAINs by what is left, so a
# share is enough, and the sample uses the rest.
WORKLOAD_RESERVE_SHARE = 0.3
WORKLOAD_RESERVE_MAX_S = 5.0


def workload_reserve_s(left_s: float | None, workload: bool) -> float:
    """Seconds of the ``left_s`` left of the collection kept for the workload probe (see WORKLOAD_RESERVE_SHARE);
    0 without a bound or a workload probe."""
    if left_s is None or not workload:
        return 0.0
    return min(WORKLOAD_RESERVE_SHARE * max(0.0, left_s), WORKLOAD_RESERVE_MAX_S)


def collection_reserve_s(timeout_s: float) -> float:
    """Seconds of ``--timeout`` kept for the checks and the report (see RESERVE_SHARE)."""
    return min(RESERVE_SHARE * timeout_s, RESERVE_MAX_S)


def checks_stop_s(timeout_s: float, tables: int = 0) -> float:
    """Seconds before the end of ``--timeout`` after which no check starts, for a snapshot of ``tables`` tables
    (see CHECKS_STOP_SHARE, REPORT_S_PER_TABLE)."""
    share = min(CHECKS_STOP_SHARE * timeout_s, CHECKS_STOP_MAX_S)
    return min(collection_reserve_s(timeout_s), max(share, REPORT_S_PER_TABLE * tables))


@dataclass(frozen=True)
class Clock:
    """The collection's deadline on the monotonic clock: ``--timeout`` counted from ``started`` (when the command
    started), less ``reserve_s`` kept for the checks and the report; ``timeout_s`` None: no overall bound.
    Messages name ``timeout_s``, the user's figure."""

    timeout_s: float | None = None
    started: float = 0.0
    reserve_s: float = 0.0

    @classmethod
    def start(cls, timeout_s: float | None, started: float | None = None, reserve: bool = False) -> Clock:
        """``started``: when the command started (``time.monotonic()``), else now; ``reserve``: keep
        :func:`collection_reserve_s` for the checks and the report."""
        return cls(timeout_s=timeout_s, started=time.monotonic() if started is None else started,
                   reserve_s=collection_reserve_s(timeout_s) if reserve and timeout_s is not None else 0.0)

    @property
    def deadline(self) -> float | None:
        return None if self.timeout_s is None else self.started + self.timeout_s - self.reserve_s

    def remaining(self) -> float | None:
        deadline = self.deadline
        return None if deadline is None else deadline - time.monotonic()

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def cap(self, seconds: float, reserve: float = 0.0) -> float:
        """``seconds``, or less when the deadline (minus ``reserve``) comes first; never below zero."""
        left = self.remaining()
        return seconds if left is None else max(0.0, min(seconds, left - reserve))

    def reached(self) -> str:
        """The words for what ended a part of the scan at the deadline."""
        return f"--timeout {self.timeout_s:g} s reached"


# A catalog statement is not sent with less than this left before the collection's deadline: its server-side
# timeout would end it before it read anything (the smallest catalog area takes ~1 ms, the large ones 0.1-1 s at
# 10,000 tables).
MIN_STATEMENT_S = 0.05


class DeadlineReached(Exception):
    """The collection's deadline came before a catalog statement was sent: it was not sent (its area is then
    reported as not read)."""


def deadline_bound_ms(clock: Clock, statement_timeout_ms: int) -> int | None:
    """The server-side timeout for a statement sent now, when what is left of the collection is shorter than
    ``statement_timeout_ms`` (None: the session's own applies); DeadlineReached when too little is left."""
    left = clock.remaining()
    if left is None or left * 1000 >= statement_timeout_ms:
        return None
    if left < MIN_STATEMENT_S:
        raise DeadlineReached(clock.reached())
    return max(1, int(left * 1000))


class WaitExpired(Exception):
    """A wait would start after the deadline: nothing was sent."""


class Watchdog:
    """Shuts a connection's socket down when a wait on it outlives its bound (see the module's docstring).

    ``waiting(fileno)`` brackets one wait; :attr:`fired` then tells why the socket was shut down
    (``"statement"`` or ``"deadline"``), None while it never was.
    """

    def __init__(self, statement_timeout_ms: int, clock: Clock) -> None:
        self.statement_timeout_ms = statement_timeout_ms
        self.bound_s = statement_bound_s(statement_timeout_ms)
        self.clock = clock
        self.fired: str | None = None
        self._cond = threading.Condition()
        self._armed: tuple[float, int, str] | None = None  # (expires at, socket, why)
        self._thread: threading.Thread | None = None
        self._stopped = False

    def describe(self) -> str | None:
        """Why the watchdog cut the connection, as a report line; None when it did not."""
        if self.fired == "deadline":
            return f"the scan ran past --timeout {self.clock.timeout_s:g} s"
        if self.fired == "statement":
            return (f"the server sent no answer for {self.bound_s:g} s (--statement-timeout "
                    f"{self.statement_timeout_ms} ms plus a grace): it stopped responding")
        return None

    @contextmanager
    def waiting(self, fileno: int) -> Iterator[None]:
        now = time.monotonic()
        expires, why = now + self.bound_s, "statement"
        deadline = self.clock.deadline
        if deadline is not None:
            # the server cancels the statement at the deadline itself (its timeout capped by what is left): the
            # cut is for a server that does not answer
            deadline += DEADLINE_GRACE_S
        if deadline is not None and deadline < expires:
            expires, why = deadline, "deadline"
        if expires <= now:
            self.fired = why
            raise WaitExpired(why)
        with self._cond:
            self._armed = (expires, fileno, why)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="dbaudit-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._armed = None
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _watch(self) -> None:
        with self._cond:
            while not self._stopped:
                if self._armed is None:
                    self._cond.wait()
                    continue
                expires, fileno, why = self._armed
                left = expires - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._armed = None
                self.fired = why
                shut_down(fileno)


def shut_down(fileno: int) -> None:
    """End every read and write on the socket behind ``fileno`` without closing the descriptor its owner holds.

    ``shutdown`` acts on the socket, not on the descriptor, so a duplicate does it and the driver's own
    descriptor stays valid (closing it under the driver could hand the number to another file).
    """
    try:
        dup = socket.socket(fileno=os.dup(fileno))
    except OSError:
        return
    with suppress(OSError):
        dup.shutdown(socket.SHUT_RDWR)
    dup.close()


def keepalive(sock: socket.socket, statement_timeout_ms: int) -> None:
    """TCP keepalives and TCP_USER_TIMEOUT on a socket the driver opened (PyMySQL has no option for them)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    for level, name, value in (
        (socket.SOL_SOCKET, "SO_KEEPALIVE", 1),
        (socket.IPPROTO_TCP, "TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
        (socket.IPPROTO_TCP, "TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
        (socket.IPPROTO_TCP, "TCP_KEEPCNT", KEEPALIVE_COUNT),
        (socket.IPPROTO_TCP, "TCP_USER_TIMEOUT", user_timeout_ms(statement_timeout_ms)),
    ):
        option = getattr(socket, name, None)
        if option is None:  # not every platform has every option
            continue
        with suppress(OSError):
            sock.setsockopt(level, option, value)


# A dead peer (the host gone, a network black hole) is noticed after idle + interval x count seconds of
# silence; TCP_USER_TIMEOUT bounds how long sent data may stay unacknowledged.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3


def user_timeout_ms(statement_timeout_ms: int) -> int:
    return int(statement_bound_s(statement_timeout_ms) * 1000)
