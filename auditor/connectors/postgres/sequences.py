"""Sequences' last values, read after the catalog's COMMIT in bounded batches (one autocommit statement each).

``pg_sequence_last_value()`` locks the sequence it reads (ROW EXCLUSIVE) until the end of the transaction, and a
savepoint does not release it. Read inside the catalog's transaction, a database of 10,000 serial columns had the
scan hold 10,000 locks until the catalog's COMMIT: more than the server's shared lock table holds with the
default settings (``max_locks_per_transaction`` 64 x ``max_connections`` 100 = 6,400 slots), so every session of the
server could fail with "out of shared memory", and an ALTER SEQUENCE or a DROP TABLE of a serial column waited for
the scan. Here each statement reads at most :data:`BATCH` sequences and its locks end with it.
"""

from __future__ import annotations

import dataclasses
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


def fetch_last_values(session: Session, sequences: tuple[Sequence, ...], batch: int = BATCH) -> LastValues:
    """Send the batches (autocommit statements, each its own locks); a refused or timed-out batch is kept as
    failed, a lost connection raises."""
    values: dict[tuple[str, str], int] = {}
    locked: list[str] = []
    failed: list[tuple[Seq[Sequence], str]] = []
    for start in range(0, len(sequences), batch):
        part = sequences[start:start + batch]
        try:
            rows = session.query("sequence_values", {"schemas": [s.schema for s in part],
                                                     "names": [s.name for s in part]})
        except RECOVERABLE as exc:  # refused, lock_timeout or statement_timeout: this batch stays unknown
            failed.append((part, first_line(exc)))
            continue
        for r in rows:
            if not r["readable"]:  # the privilege notes of the catalog already name it
                continue
            if r["locked"]:
                locked.append(f"{r['schema']}.{r['name']}")
            elif r["last_value"] is not None:  # None: never called, as the catalog left it
                values[(r["schema"], r["name"])] = int(r["last_value"])
    return LastValues(sequences, values, locked, failed)


def read_last_values(session: Session, snap: Snapshot, batch: int = BATCH,
                     read: LastValues | None = None) -> Snapshot:
    """The snapshot with its sequences' last values, and a note for those that could not be read. ``read``:
    the batches already read for exactly these sequences (by the catalog's second session), else sent here."""
    if not snap.sequences:
        return snap
    if read is None or (read.sequences is not snap.sequences and read.sequences != snap.sequences):
        read = fetch_last_values(session, snap.sequences, batch)
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
