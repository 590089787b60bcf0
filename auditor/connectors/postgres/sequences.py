"""Sequences' last values, read after the catalog's COMMIT in bounded batches (one autocommit statement each).

``pg_sequence_last_value()`` locks the sequence it reads (ROW EXCLUSIVE) until the end of the transaction, and a
savepoint does not release it. Read inside the catalog's transaction, a database of 10,000 serial columns had the
scan hold 10,000 locks until the catalog's COMMIT: more than the server's shared lock table holds with the
default settings (``max_locks_per_transaction`` 64 x ``max_connections`` 100 = 6,400 slots), so every session of the
server could fail with "out of shared memory", and an ALTER SEQUENCE or a DROP TABLE of a serial column waited for
the scan. Here each statement reads at most :data:`BATCH` sequences and its locks end with it.

Most of a batch's time is the server opening each sequence for the first time in that backend (its relation
cache entry: 0.1-0.25 ms a sequence, against 0.03 ms once open), so the batches are shared: whichever catalog
session has committed takes the next one (:class:`Batches`), the second session as soon as its share is read,
the first after its COMMIT.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass

from auditor.connectors.postgres.session import RECOVERABLE, Session
from auditor.connectors.yielding import first_line
from auditor.model import Note, Sequence, Snapshot
from auditor.textfmt import plural

# Locks one statement may hold at once: well under the 6,400 shared lock slots of a default server (64 x 100),
# and 20 round trips for 10,000 sequences.
BATCH = 500


@dataclass(frozen=True)
class LastValues:
    """What the batches read: the last values, the sequences found held, the batches that failed (and why)."""

    sequences: tuple[Sequence, ...]  # the sequences asked for
    values: dict[tuple[str, str], int]
    locked: list[str]
    failed: list[tuple[Seq[Sequence], str]]


@dataclass(frozen=True)
class _BatchRead:
    values: dict[tuple[str, str], int]
    locked: list[str]
    failed: str | None  # why the batch could not be read (refused, lock_timeout, statement_timeout)


def _read_batch(session: Session, part: Seq[Sequence]) -> _BatchRead:
    """One batch: an autocommit statement; refused or timed out, it is kept as failed; a lost connection raises."""
    try:
        rows = session.query("sequence_values", {"schemas": [s.schema for s in part],
                                                 "names": [s.name for s in part]})
    except RECOVERABLE as exc:
        return _BatchRead({}, [], first_line(exc))
    values: dict[tuple[str, str], int] = {}
    locked: list[str] = []
    for r in rows:
        if not r["readable"]:  # the privilege notes of the catalog already name it
            continue
        if r["locked"]:
            locked.append(f"{r['schema']}.{r['name']}")
        elif r["last_value"] is not None:  # None: never called, as the catalog left it
            values[(r["schema"], r["name"])] = int(r["last_value"])
    return _BatchRead(values, locked, None)


class Batches:
    """The batches of one set of sequences, each read once by whichever session takes it first (:meth:`read`,
    from any thread). A batch whose session was lost goes back for another session."""

    def __init__(self, sequences: tuple[Sequence, ...]) -> None:
        size = BATCH  # looked up now: tests shrink it
        self.sequences = sequences
        self._parts = [sequences[start:start + size] for start in range(0, len(sequences), size)]
        self._todo: deque[int] = deque(range(len(self._parts)))
        self._reading = 0
        self._reads: dict[int, _BatchRead] = {}
        self._cond = threading.Condition()

    def read(self, session: Session, stop: Callable[[], bool] | None = None) -> None:
        """Read batches on ``session`` until none is left to start (or ``stop`` says so); a lost connection puts
        its batch back and raises."""
        while True:
            with self._cond:
                if not self._todo or (stop is not None and stop()):
                    return
                part = self._todo.popleft()
                self._reading += 1
            try:
                got = _read_batch(session, self._parts[part])
            except BaseException:
                with self._cond:
                    self._todo.appendleft(part)
                    self._reading -= 1
                    self._cond.notify_all()
                raise
            with self._cond:
                self._reads[part] = got
                self._reading -= 1
                self._cond.notify_all()

    def result(self, session: Session) -> LastValues:
        """Every batch read: those left read on ``session``, those another session is reading waited for (a
        session's statements are bounded; one that is lost puts its batch back, read here then)."""
        while True:
            self.read(session)
            with self._cond:
                while self._reading and not self._todo:
                    self._cond.wait(0.5)
                if not self._todo:
                    break
        values: dict[tuple[str, str], int] = {}
        locked: list[str] = []
        failed: list[tuple[Seq[Sequence], str]] = []
        for part, sequences in enumerate(self._parts):
            got = self._reads[part]
            values.update(got.values)
            locked.extend(got.locked)
            if got.failed is not None:
                failed.append((sequences, got.failed))
        return LastValues(self.sequences, values, locked, failed)


def read_last_values(session: Session, snap: Snapshot, batches: Batches | None = None) -> Snapshot:
    """The snapshot with its sequences' last values, and a note for those that could not be read. ``batches``:
    those of exactly these sequences, posted by the catalog (the second session may have read some already),
    else read here."""
    if not snap.sequences:
        return snap
    if batches is None or (batches.sequences is not snap.sequences and batches.sequences != snap.sequences):
        batches = Batches(snap.sequences)
    read = batches.result(session)
    values, locked, failed = read.values, read.locked, read.failed
    sequences = tuple(dataclasses.replace(s, last_value=values[(s.schema, s.name)])
                      if (s.schema, s.name) in values else s for s in snap.sequences)
    notes = list(snap.notes)
    if locked:
        notes.append(Note(
            area="sequences",
            message=f"{plural(len(locked), 'sequence')} held by another session (ALTER SEQUENCE, DROP or TRUNCATE "
                    "... RESTART IDENTITY in progress): not waited for, their headroom is unknown",
            objects=tuple(sorted(locked)), enable="run dbaudit again when that statement has finished"))
    for unread, why in failed:
        notes.append(Note(
            area="sequences",
            message=f"the last value of {plural(len(unread), 'sequence')} could not be read ({why}): their "
                    "headroom is unknown",
            objects=tuple(s.qualified for s in unread),
            enable="run dbaudit again; raise --statement-timeout if the server was busy"))
    return dataclasses.replace(snap, sequences=sequences, notes=tuple(notes))
