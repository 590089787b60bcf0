"""Progress of a scan: what the pipeline announces, and the CLI's display of it on stderr.

The pipeline announces each phase as it starts — ``collect``, ``catalog``, ``statements``, ``explain``,
``sampling``, ``history``, ``checks``, ``report`` — and, inside the long ones, each step (the table being
sampled, the statement being explained) with its number and the total. Code deep in a connector calls
:func:`report` without a hook being passed down to it: :func:`announcing` installs the hook for the duration of
a run (a context variable, so concurrent runs in threads do not mix).

:class:`TerminalProgress` shows it with rich on stderr — one transient status line on a terminal, nothing
when stderr is not one, a line per finished phase with ``verbose`` — so it never mixes into the report on
stdout. rich also honours ``NO_COLOR`` and ``FORCE_COLOR`` and the terminal's width.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING

from auditor.textsafe import terminal_safe

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

PHASES = ("collect", "catalog", "statements", "explain", "sampling", "history", "checks", "report")
_LABELS = {
    "collect": "connecting",
    "catalog": "reading the catalog",
    "statements": "reading the statement statistics",
    "explain": "EXPLAINing statements",
    "sampling": "sampling tables",
    "history": "reading the history",
    "checks": "running the checks",
    "report": "building the report",
}


# A progress hook: called with the phase's name as each phase starts, and within the long ones as
# ``hook(phase, detail, done, total)`` for each step: what is being done, the how-manieth of how many. A hook that
# takes the name only gets the phases.
Progress = Callable[..., None]


_hook: ContextVar[Progress | None] = ContextVar("dbaudit_progress", default=None)


def report(phase: str, detail: str = "", done: int | None = None, total: int | None = None) -> None:
    """Announce a phase or a step to the hook of the current run, if any; never raises."""
    hook = _hook.get()
    if hook is None:
        return
    with contextlib.suppress(Exception):  # a display problem must never end an audit
        if detail or done is not None or total is not None:
            hook(phase, detail, done, total)
        else:  # a phase starts: a hook that takes only the phase's name (``list.append``) gets it too
            hook(phase)


@contextlib.contextmanager
def announcing(hook: Progress | None) -> Iterator[None]:
    """Send :func:`report`'s announcements to ``hook`` until the block ends."""
    token = _hook.set(hook)
    try:
        yield
    finally:
        _hook.reset(token)


def use_color(flag: bool | None, output: str | None, stream: IO[str] | None = None) -> bool:
    """Whether the text report is coloured: ``--color``/``--no-color`` first, then ``NO_COLOR`` (any non-empty
    value: no colour, https://no-color.org), then ``FORCE_COLOR`` (non-empty: colour, even into a pipe), else
    only when the report goes to a terminal. A report written to a file (``-o``) is never coloured unasked."""
    if flag is not None:
        return flag
    if output not in (None, "-"):
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    return bool(stream.isatty())


def text_width(output: str | None, default: int = 100) -> int:
    """Columns of the text report: ``COLUMNS`` when set, else the terminal's when the report goes to one, else
    ``default`` (a file, a pipe)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if output in (None, "-") and sys.stdout.isatty():
        return shutil.get_terminal_size((default, 24)).columns
    return default


class TerminalProgress:
    """The CLI's hook: a transient rich status line on stderr, only when stderr is a terminal.

    ``quiet``: nothing at all. ``verbose``: also one line per finished phase with its duration and count of
    steps (those lines are written even when stderr is not a terminal: asked for, they belong in a CI log).
    """

    def __init__(self, *, quiet: bool = False, verbose: bool = False, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._console: Console | None = None
        # rich (some 40 modules) is imported only when something may be shown: not for a scan whose stderr is a
        # file or a pipe, where its import would only delay the connection
        self.enabled = not quiet and _may_be_terminal(stream or sys.stderr) and self.console.is_terminal
        self.verbose = verbose and not quiet
        self._status: Status | None = None
        self._phase: str | None = None
        self._phase_started = 0.0
        self._steps = 0

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            stream = self._stream
            self._console = Console(file=stream or sys.stderr, stderr=stream is None, highlight=False)
        return self._console

    def __call__(self, phase: str, detail: str = "", done: int | None = None, total: int | None = None) -> None:
        if phase != self._phase:
            self._finish_phase()
            self._phase, self._phase_started, self._steps = phase, time.perf_counter(), 0
        if done is not None:
            self._steps = max(self._steps, done)
        if not self.enabled:
            return
        text = _LABELS.get(phase, phase)
        if total:
            text += f" {done or 0}/{total}"
        if detail:
            text += f": {_clip(terminal_safe(detail), max(20, self.console.width - len(text) - 6))}"
        from rich.markup import escape

        if self._status is None:
            self._status = self.console.status(escape(text), spinner="dots")
            self._status.start()
        else:
            self._status.update(escape(text))

    def _finish_phase(self) -> None:
        if self._phase is None or not self.verbose:
            return
        seconds = time.perf_counter() - self._phase_started
        steps = f", {self._steps} steps" if self._steps else ""
        # printed above the status line while it shows (rich's Live keeps it at the bottom)
        self.console.print(f"dbaudit: {self._phase} done in {seconds:.2f} s{steps}", markup=False, soft_wrap=True)

    def close(self) -> None:
        """End the display: the status line disappears; in verbose mode the last phase's line is printed."""
        self._finish_phase()
        self._phase = None
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _may_be_terminal(stream: IO[str]) -> bool:
    """False where rich's ``Console.is_terminal`` is sure to be False (so that rich need not be imported to ask
    it): no TTY_COMPATIBLE nor FORCE_COLOR in the environment (either can make it a terminal) and a stream that is
    not a TTY. rich 13-15, ``Console.is_terminal``."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream: rich says False too
        return False


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
