"""Errors that end a run with one clear line, and the exit codes."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0  # no finding at or above --fail-on
    FINDINGS = 1  # findings at or above --fail-on
    # usage, connection or permission error; also a partial report (the scan stopped early) and an audit
    # that saw no table (unless --allow-empty): neither may pass a CI job
    ERROR = 2


class AuditError(Exception):
    """A failure the user can act on. ``str(err)`` is a single line that never contains a password."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class DsnError(AuditError):
    """The DSN could not be understood."""


class ConnectError(AuditError):
    """The server could not be reached or refused the session."""


class SnapshotFileError(AuditError):
    """A saved snapshot could not be read."""


class ScanInterrupted(ConnectError):
    """The server stopped answering, the connection died, or ``--timeout`` ran out in the middle of a scan.

    Raised while the catalog is being read (then there is nothing to report); during the probes the connector
    catches it and returns what it collected, marked as partial (``Snapshot.interrupted``).
    """
