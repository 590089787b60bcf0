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


@dataclass(frozen=True)
class Clock:
    """The scan's deadline on the monotonic clock; ``timeout_s`` None: no overall bound."""

    timeout_s: float | None = None
    started: float = 0.0

    @classmethod
    def start(cls, timeout_s: float | None) -> Clock:
        return cls(timeout_s=timeout_s, started=time.monotonic())

    @property
    def deadline(self) -> float | None:
        return None if self.timeout_s is None else self.started + self.timeout_s

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
