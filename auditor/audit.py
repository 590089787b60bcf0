"""The audit pipeline, and dbaudit's Python API: ``run_audit(source, settings) -> Report``.

One function runs a whole audit: collect (or load) the snapshot → run the selected checks → apply the configured
severities → suppress what the ignore rules cover → record the run and compare it with the previous one (with a
run store: ``history``) → compare with (or record) the baseline. The command line, the demo and the tests call it;
so can any Python program::

    from auditor.audit import AuditSettings, run_audit
    from auditor.config import load_config

    report = run_audit("postgresql://app@db.internal/shop", AuditSettings.from_config(load_config()))
    for finding in report.findings:
        print(finding.code, finding.object.label(), finding.message)

``source`` is a DSN (a ``postgresql://``/``mysql://`` URL or a libpq key=value string; None reads
``DBAUDIT_DSN`` and the ``PG*`` variables), a :class:`SnapshotFile` saved by ``dbaudit snapshot``, or a
:class:`~auditor.model.Snapshot` already in memory. Every failure the user can act on raises
:class:`~auditor.errors.AuditError` (one line, never a password); rendering is left to ``reports.render``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import os
import stat
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from auditor import baseline as baselines
from auditor import progress
from auditor.bulk import frozen_heap, gc_paused
from auditor.config import Config, IgnoreRule, apply_severities, suppress
from auditor.connectors import CollectOptions, partial
from auditor.connectors.guard import Clock, checks_stop_s
from auditor.engine import (
    PROBES,
    CheckSpec,
    SelectionError,
    all_checks,
    load_checks,
    mark_not_needed,
    mark_workload_off,
    needed_probes,
    run_checks,
    select_checks,
)
from auditor.errors import AuditError, ExitCode, SnapshotFileError
from auditor.history.model import RETENTION_DAYS, HistoryOptions
from auditor.model import SNAPSHOT_MAX_MB, Severity, Snapshot, SnapshotFieldError, snapshot_from_json
from auditor.progress import Progress

if TYPE_CHECKING:
    # the run store (with --history) and the report are imported where they are first used: the collection
    # starts without them (the report's modules arrive while the server reads the catalog, see _run)
    from auditor.history.store import RunStore
    from auditor.report import Report
    from auditor.scoring import Targets

__all__ = ["AuditSettings", "Progress", "SnapshotFile", "Verdict", "collect_snapshot", "load_snapshot", "run_audit",
           "verdict"]



@dataclass(frozen=True)
class SnapshotFile:
    """A snapshot saved with ``dbaudit snapshot`` (``dbaudit scan --from FILE``), read up to ``max_bytes``."""

    path: str
    max_bytes: int = SNAPSHOT_MAX_MB * 1_000_000


Source = str | Snapshot | SnapshotFile | None


@dataclass(frozen=True)
class AuditSettings:
    """Everything a run needs besides its source. :meth:`from_config` builds it from a configuration file, the
    command line's flags given as overrides (flags win over the file, the file over the defaults)."""

    select: tuple[str, ...] = ()  # check codes, names, families, prefixes or globs; empty: every check
    ignore: tuple[str, ...] = ()  # checks left out (same forms)
    collect: CollectOptions = field(default_factory=CollectOptions)
    # the user turned the workload probe off (--no-workload): the WL checks then say so rather than ask to
    # enable pg_stat_statements, which may well be on
    workload_off: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)  # check code -> options dataclass instance
    severities: Mapping[str, Severity] = field(default_factory=dict)  # check code -> severity
    ignores: tuple[IgnoreRule, ...] = ()  # suppressions by check + object pattern
    targets: Targets | None = None  # None: the defaults of auditor.scoring
    baseline: str | None = None  # compare with the findings recorded in this file
    update_baseline: bool = False  # record this run's findings in ``baseline`` instead
    fail_on: str = "error"  # error, warning, info, never: recorded in the report for the renderers and the CLI
    # an audit that judged nothing (no table seen, no check run) is an error unless this is set (--allow-empty)
    allow_empty: bool = False
    # called as each phase starts ("collect", "catalog", "explain", "sampling", "checks", ...) and for each step
    # of the long ones, with what is being done, the how-manieth of how many (auditor.progress)
    progress: Progress | None = field(default=None, compare=False)
    history: str | None = None  # record the run in this store and compare it with the previous one
    history_options: HistoryOptions = field(default_factory=HistoryOptions)
    history_retention_days: float = RETENTION_DAYS  # fine-grained runs kept this long, then rolled up daily
    history_in_audited_db: bool = False  # the user accepts a PostgreSQL store in the audited database itself
    # exit 1 only for findings new since the previous recorded run, at or above this severity (needs history)
    fail_on_new: str | None = None

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> AuditSettings:
        """Settings from a validated configuration; ``overrides`` (None values ignored) win over the file."""
        base = cls(
            select=config.select or (),
            ignore=config.ignore_checks or (),
            options=config.options,
            severities=config.severities,
            ignores=config.ignores,
            targets=config.targets,
            baseline=str(config.baseline) if config.baseline else None,
            fail_on=config.fail_on or "error",
            history=config.history,
            history_retention_days=config.history_retention_days or RETENTION_DAYS,
            history_options=config.history_options(),
        )
        return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def checks(self) -> list[CheckSpec]:
        """The selected checks, or AuditError naming the nearest check when a token matches none."""
        try:
            return select_checks(all_checks(), self.select, self.ignore)
        except SelectionError as exc:
            raise AuditError(str(exc)) from None


def run_audit(source: Source, settings: AuditSettings | None = None) -> Report:
    """Collect or load the snapshot, run the checks and return the report (see the module's docstring)."""
    settings = settings or AuditSettings()
    if settings.collect.started is None:
        # --timeout counts from here unless the caller (the command line) started its clock earlier: each call
        # has its own budget
        settings = dataclasses.replace(settings, collect=dataclasses.replace(settings.collect,
                                                                             started=time.monotonic()))
    with progress.announcing(settings.progress):
        return _run_audit(source, settings)


def _run_audit(source: Source, settings: AuditSettings) -> Report:
    if settings.update_baseline and not settings.baseline:
        raise AuditError("--update-baseline needs --baseline FILE (or baseline = \"FILE\" in the config)")
    if settings.history is not None:
        from auditor.history.location import check_location

        check_location(settings.history)  # "" is an error, not history switched off
    if settings.fail_on_new and not settings.history:
        raise AuditError("--fail-on-new needs --history STORE (or history = \"FILE\" in the config)")
    # the whole battery (no --select, no --ignore) reads every probe: its modules need not be imported before the
    # collection, which starts the sooner (they are imported while the server reads the catalog, see _run)
    specs = settings.checks() if settings.select or settings.ignore else None
    # a missing or broken baseline fails before the collection, which can take minutes
    known = baselines.read_baseline(settings.baseline) if settings.baseline and not settings.update_baseline \
        else None
    store = None
    if settings.history:
        # a store that cannot be opened fails before the collection, which can take minutes
        from auditor.history import check_store_server, check_store_target, open_store

        check = None
        if not settings.history_in_audited_db and isinstance(source, str | None):
            audited = source if source is not None else os.environ.get("DBAUDIT_DSN")
            check_store_target(settings.history, audited)

            def check(opened: RunStore) -> None:
                # by server identity, before the store writes anything (its schema included)
                check_store_server(opened, audited, settings.collect.connect_timeout_s)

        store = open_store(settings.history, before_migrate=check)
    try:
        return _run(source, settings, specs, known, store)
    finally:
        if store is not None:
            store.close()


def _run(source: Source, settings: AuditSettings, specs: list[CheckSpec] | None, known: baselines.Baseline | None,
         store: RunStore | None) -> Report:
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    _phase(settings, "collect")
    # the snapshot's millions of objects (a 10,000-table database) are built with the cyclic collector paused,
    # the probes after the catalog included, and frozen before it runs again: no collection walks them. With the
    # collector back on during the probes, the first collections walked the whole fresh catalog two or three
    # times (about half a second at 10,000 tables) for no garbage: none of it is in a cycle
    with contextlib.ExitStack() as stack:
        with _importing_judging_meanwhile(settings if specs is None else None), gc_paused():
            snap = _snapshot_of(source, settings, specs)
            # the snapshot lives until the end: frozen before the collector is back on (its next allocation
            # would otherwise start a collection of everything built meanwhile)
            stack.enter_context(frozen_heap())
        return _judge(snap, settings, settings.checks() if specs is None else specs, known, store, started, t0)


@contextlib.contextmanager
def _importing_judging_meanwhile(settings: AuditSettings | None) -> Iterator[None]:
    """With ``settings``: the checks' and the report's modules imported in a thread once the connector starts on
    the catalog (its "catalog" phase: the session is open), while the server works, rather than before the
    connection. The block's end waits for the import (a failure is left for the main thread's own import to
    raise)."""
    if settings is None:
        yield
        return
    shown = settings.progress
    started: list[threading.Thread] = []

    def hook(phase: str, *step: Any) -> None:
        if phase == "catalog" and not started:
            thread = threading.Thread(target=_import_judging, name="dbaudit-imports", daemon=True)
            started.append(thread)
            thread.start()
        if shown is not None:
            shown(phase, *step)

    try:
        with progress.announcing(hook):
            yield
    finally:
        for thread in started:
            thread.join()


def _import_judging() -> None:
    with contextlib.suppress(Exception):
        load_checks()
        import auditor.report  # noqa: F401  (what _judge needs next)


def _judge(snap: Snapshot, settings: AuditSettings, specs: list[CheckSpec], known: baselines.Baseline | None,
           store: RunStore | None, started: datetime, t0: float) -> Report:
    from auditor.report import build_report

    if store is not None:
        # the previous runs' facts, for the checks that judge over time (IX01's window, CP03's growth)
        from auditor.history import attach_run_history

        snap = attach_run_history(snap, store)
    _phase(settings, "checks")
    stop_at, reached = _checks_stop(settings.collect, len(snap.tables))
    result = apply_severities(run_checks(snap, specs, settings.options, stop_at=stop_at,
                                         stop_reason=f"not run: {reached}"), settings.severities)
    not_run = [s.code for s in result.skipped if s.reason == f"not run: {reached}"]
    if not_run:
        snap = partial(snap, f"{reached} before every check ran; not run: {', '.join(not_run)}")
    kept = suppress(result, settings.ignores)
    _phase(settings, "report")
    report = build_report(snap, kept.result, started, time.perf_counter() - t0, settings.targets,
                          check_options=settings.options)
    report = dataclasses.replace(report, suppressed=kept.suppressed, stale_ignores=kept.stale,
                                 fail_on=settings.fail_on, check_options=dict(settings.options))
    if settings.update_baseline and (report.partial or report.empty):
        # a baseline written from a partial or empty audit would accept, unseen, whatever the rest holds
        raise AuditError(f"not recording a baseline: {report.partial or report.empty}")
    if store is not None:
        # every finding the ignore rules kept, before the baseline narrows them to the new ones
        from auditor.history import record_and_compare

        _phase(settings, "history")
        report = record_and_compare(report, store, settings.history_options, settings.history_retention_days)
    if settings.update_baseline and settings.baseline:
        # recording a baseline accepts today's findings; the report itself stays a plain one
        baselines.write_baseline(settings.baseline, report.findings, snap.database, started)
    elif known is not None:
        new, comparison = baselines.compare(report.findings, known, report.checks_run)
        report = dataclasses.replace(report, findings=new, baseline=comparison)
    return report


def _checks_stop(options: CollectOptions, tables: int) -> tuple[float | None, str]:
    """When no check may start any more (``time.monotonic()``; None: no bound), and the words for it: the last
    ``checks_stop_s`` of ``--timeout`` are the report's."""
    if options.timeout_s is None or options.started is None:
        return None, ""
    clock = Clock(timeout_s=options.timeout_s, started=options.started,
                  reserve_s=checks_stop_s(options.timeout_s, tables))
    return clock.deadline, clock.reached()


@dataclass(frozen=True)
class Verdict:
    """How a run ends: its exit code, and the line to print on stderr (None: none)."""

    exit_code: ExitCode
    message: str | None = None
    level: str = "error"  # "error" or "warning": the word after "dbaudit: "


def verdict(report: Report, settings: AuditSettings) -> Verdict:
    """The exit code of a finished run (README, "Exit codes").

    A partial report (the scan stopped early) and an audit that judged nothing end in 2, whatever the findings:
    neither may pass a CI job. ``--allow-empty`` turns the second into a warning. So does a run the ``--history``
    store could not record (a read-only file or database): the report is written, with a note.
    """
    if report.partial:
        return Verdict(ExitCode.ERROR, f"partial report: {report.partial}")
    if report.empty and not settings.allow_empty:
        return Verdict(ExitCode.ERROR, f"{report.empty} (--allow-empty accepts an empty audit)")
    if report.history_error:
        return Verdict(ExitCode.ERROR, f"run history not updated: {report.history_error} (the report was "
                       "written, with a note)")
    warning = Verdict(ExitCode.OK, report.empty, "warning") if report.empty else Verdict(ExitCode.OK)
    if settings.update_baseline:
        return warning  # recording a baseline accepts today's findings
    if settings.fail_on_new:
        # only what appeared since the previous recorded run counts (none on a target's first run)
        new = report.history.new_findings if report.history is not None else ()
        threshold = Severity(settings.fail_on_new)
        if any(f.severity.rank >= threshold.rank for f in new):
            return dataclasses.replace(warning, exit_code=ExitCode.FINDINGS)
        return warning
    if settings.fail_on != "never" and report.at_or_above(Severity(settings.fail_on)):
        return dataclasses.replace(warning, exit_code=ExitCode.FINDINGS)
    return warning


def without_sample_values(snap: Snapshot) -> Snapshot:
    """The snapshot without the sampled values it may hold (saved with ``--show-samples``): they are shown only
    when the scan itself asks for them, whatever the file holds."""
    sampling = snap.sampling
    if sampling is not None and (sampling.show_samples or any(c.examples for t in sampling.tables
                                                               for c in t.columns)):
        sampling = dataclasses.replace(sampling, show_samples=False, tables=tuple(
            dataclasses.replace(t, columns=tuple(dataclasses.replace(c, examples=()) if c.examples else c
                                                 for c in t.columns))
            for t in sampling.tables))
    statements = snap.statements
    if any(st.sample_text is not None for st in statements):
        statements = tuple(dataclasses.replace(st, sample_text=None) for st in statements)
    if sampling is snap.sampling and statements is snap.statements:
        return snap
    return dataclasses.replace(snap, sampling=sampling, statements=statements)


def _phase(settings: AuditSettings, name: str) -> None:
    progress.report(name)


def _snapshot_of(source: Source, settings: AuditSettings, specs: list[CheckSpec] | None) -> Snapshot:
    if isinstance(source, Snapshot | SnapshotFile):
        snap = source if isinstance(source, Snapshot) else load_snapshot(source.path, source.max_bytes)
        return snap if settings.collect.show_samples else without_sample_values(snap)
    # collect only the probes a selected check reads: --select KY01 neither samples tables nor EXPLAINs (``sample``
    # stays the user's --no-sample: CP01's TOAST column sizes, one bounded query, follow it alone)
    unneeded = {"sampling", "workload"} - (PROBES if specs is None else needed_probes(specs))
    options = dataclasses.replace(
        settings.collect,
        normalization_sample=settings.collect.normalization_sample and "sampling" not in unneeded,
        workload=settings.collect.workload and not settings.workload_off and "workload" not in unneeded,
    )
    snap = collect_snapshot(source, options, workload_off=settings.workload_off)
    return mark_not_needed(snap, unneeded)


def collect_snapshot(dsn_text: str | None, options: CollectOptions, workload_off: bool = False) -> Snapshot:
    """Read a live server into a snapshot. ``workload_off``: the user turned the workload probe off, which the
    snapshot records so that the WL checks say so rather than ask to enable what may well be on."""
    from auditor.connectors import collect
    from auditor.dsn import parse_dsn

    snap = collect(parse_dsn(dsn_text), options)
    if workload_off:
        snap = mark_workload_off(snap)
    if not snap.schemas and (options.include_schemas or options.exclude_schemas):
        # an audit of nothing would print "no findings": the patterns are wrong (the PostgreSQL connector
        # says so itself, with the schemas there are)
        given = [f"--schema {p!r}" for p in options.include_schemas]
        given += [f"--exclude-schema {p!r}" for p in options.exclude_schemas]
        raise AuditError(f"no schema left to audit with {' '.join(given)}")
    return snap


def load_snapshot(path: str, max_bytes: int = SNAPSHOT_MAX_MB * 1_000_000) -> Snapshot:
    """A snapshot saved by ``dbaudit snapshot``, or SnapshotFileError with one line saying what is wrong.

    The file is read up to ``max_bytes`` (``--max-snapshot-mb``): ``--from /dev/zero`` or a stray multi-gigabyte
    file ends at once rather than filling the memory. Every field is checked as it is rebuilt, and the error
    names the first that does not fit.
    """
    text = _read_capped(path, max_bytes)
    try:
        return snapshot_from_json(text)
    except SnapshotFieldError as exc:
        raise SnapshotFileError(f"{path} is not a dbaudit snapshot: {_clip(str(exc))}") from None
    except json.JSONDecodeError as exc:
        raise SnapshotFileError(f"{path} is not a dbaudit snapshot: invalid JSON at line {exc.lineno} column "
                                f"{exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise SnapshotFileError(f"{path} is not a dbaudit snapshot: its JSON is nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise SnapshotFileError(f"{path} is not a dbaudit snapshot: {_clip(str(exc))}") from None


def _read_capped(path: str, max_bytes: int) -> str:
    limit = f"larger than {max_bytes / 1_000_000:g} MB (--max-snapshot-mb)"
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise SnapshotFileError(f"cannot read snapshot {path}: it is a directory")
            if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                raise SnapshotFileError(f"snapshot {path} is {limit}")
            head = handle.read(64 * 1024)
            if head.startswith(GZIP_MAGIC):
                return _read_gzip(path, handle, max_bytes, limit)
            if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
                # /dev/zero, a binary file, a report saved by mistake: no need to read further
                raise SnapshotFileError(f"{path} is not a dbaudit snapshot: it does not hold a JSON object")
            rest = handle.read(max_bytes + 1 - len(head))
    except IsADirectoryError:
        raise SnapshotFileError(f"cannot read snapshot {path}: it is a directory") from None
    except OSError as exc:
        raise SnapshotFileError(f"cannot read snapshot {path}: {exc.strerror}") from None
    data = head + rest
    if len(data) > max_bytes:
        raise SnapshotFileError(f"snapshot {path} is {limit}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SnapshotFileError(f"{path} is not a dbaudit snapshot: it is not UTF-8 text") from None


GZIP_MAGIC = b"\x1f\x8b"


def _read_gzip(path: str, handle: BinaryIO, max_bytes: int, limit: str) -> str:
    """A snapshot saved as ``.json.gz`` (``dbaudit snapshot -o snap.json.gz``), read up to ``max_bytes`` once
    decompressed: a small file that inflates to gigabytes ends as soon as it passes the limit."""
    handle.seek(0)
    try:
        with gzip.GzipFile(fileobj=handle, mode="rb") as unzipped:
            data = unzipped.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SnapshotFileError(f"{path} is not a dbaudit snapshot: a damaged gzip file ({exc})") from None
    if len(data) > max_bytes:
        raise SnapshotFileError(f"snapshot {path} is {limit} once decompressed")
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        raise SnapshotFileError(f"{path} is not a dbaudit snapshot: it does not hold a JSON object")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SnapshotFileError(f"{path} is not a dbaudit snapshot: it is not UTF-8 text") from None


def _clip(text: str, limit: int = 300) -> str:
    first = (text.splitlines() or [""])[0]
    return first if len(first) <= limit else first[:limit - 3] + "..."
