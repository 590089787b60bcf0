"""The command line: parse, dispatch, map errors to exit codes. No audit logic lives here."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from auditor import __version__, progress
from auditor.dsn import redact
from auditor.errors import AuditError, ExitCode
from auditor.model import SNAPSHOT_MAX_MB, snapshot_to_json
from auditor.progress import TerminalProgress, text_width, use_color
from auditor.textsafe import terminal_safe

if TYPE_CHECKING:
    from auditor.connectors import CollectOptions

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("text", "json", "markdown", "html", "sarif", "junit")
FAIL_ON = ("error", "warning", "info", "never")


def _say(message: str, level: str = "error") -> None:
    # object names and server messages can hold control characters: a terminal must not act on them
    click.echo(f"dbaudit: {level}: {terminal_safe(' '.join(message.split()))}", err=True)


def _fail(message: str) -> None:
    _say(message)
    sys.exit(int(ExitCode.ERROR))


def handle_errors(func: F) -> F:
    """One clear line on stderr and exit 2 for every failure the user can act on; never a traceback.

    An error dbaudit did not foresee is a bug: it still ends in one line (its type and first line, no
    password), and ``DBAUDIT_DEBUG=1`` shows the traceback for a bug report.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AuditError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted")
        except BrokenPipeError:
            sys.exit(int(ExitCode.OK))
        except (SystemExit, click.exceptions.Exit, click.ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
            if os.environ.get("DBAUDIT_DEBUG"):
                raise
            from auditor.dsn import redact

            first = (str(exc).strip().splitlines() or [""])[0]
            _fail(redact(f"internal error: {type(exc).__name__}: {first} (set DBAUDIT_DEBUG=1 to see where; "
                         "please report it)"))

    return wrapper  # type: ignore[return-value]


class Finite(click.ParamType):
    """A number within [low, high]; NaN and the infinities are refused (they pass every range comparison)."""

    name = "number"

    def __init__(self, low: float, high: float, integer: bool = False) -> None:
        self.low, self.high, self.integer = low, high, integer

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.integer and number != int(number):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if not self.low <= number <= self.high:
            self.fail(f"{value!r} is not in the range {self.low:g} to {self.high:g}", param, ctx)
        return int(number) if self.integer else number


class Group(click.Group):
    """The dbaudit command group: usage errors end like every other error, in one line, exit 2."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The process's entry (the ``dbaudit`` script, ``python -m auditor``): the run, then a quick exit.

        Click's test runner calls :meth:`main` instead, so tests keep the ordinary exit."""
        try:
            self.main(*args, **kwargs)
        except SystemExit as exc:
            _exit_process(exc.code)
        _exit_process(0)

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            _fail("interrupted")
        except click.ClickException as exc:
            # click's own text, e.g. "No such option: --fromm (Possible options: --from)"
            _fail(redact(exc.format_message()) + _unquoted_dsn_hint(exc))
        except BrokenPipeError:
            sys.exit(int(ExitCode.OK))
        sys.exit(code if isinstance(code, int) else 0)


def _exit_process(code: Any) -> None:
    """End the process with ``code`` (as ``sys.exit`` takes it) without tearing its objects down one by one.

    A 10,000-table scan leaves a snapshot and a report of millions of objects; the interpreter's ordinary exit
    frees each of them and then its modules, some 0.3-0.4 s after the report is written. Here the exit
    handlers run and the standard streams are flushed as in an ordinary exit, then the process ends at once
    (``os._exit``): nothing else is left to write. While a thread that is not a daemon still runs (the
    ordinary exit would wait for it), or under a profiler or a tracer (``python -m cProfile``, coverage: they
    write their data as the ordinary exit unwinds), the ordinary exit is taken."""
    import threading

    if sys.getprofile() is not None or sys.gettrace() is not None or any(
            t is not threading.main_thread() and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a reader that went away (| head) or a closed stream: nothing more can be written anyway
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(status)


def _unquoted_dsn_hint(exc: click.ClickException) -> str:
    """A libpq ``key=value`` DSN given without quotes arrives as several arguments: say to quote it."""
    message = exc.format_message()
    if not message.startswith("Got unexpected extra argument"):
        return ""
    words = sys.argv[1:]
    if sum(1 for w in words if re.match(r"^[A-Za-z_]+=", w)) < 2:
        return ""
    dsn = " ".join(w for w in words if re.match(r"^[A-Za-z_]+=", w) and not w.lower().startswith("password="))
    return f"; a key=value DSN is one argument: quote it, e.g. dbaudit scan \"{terminal_safe(dsn)}\""


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return tuple(out)


def _connection_options(func: F) -> F:
    func = click.option("--schema", "schemas", multiple=True, metavar="PATTERN",
                        help="Audit only schemas matching this glob (repeatable; default: all non-system).")(func)
    func = click.option("--exclude-schema", "exclude_schemas", multiple=True, metavar="PATTERN",
                        help="Leave out schemas matching this glob (repeatable).")(func)
    func = click.option("--connect-timeout", type=Finite(1, 600, integer=True), default=10, show_default=True,
                        help="Seconds to wait for the server to answer.")(func)
    func = click.option("--statement-timeout", type=Finite(100, 3_600_000, integer=True), default=30_000,
                        show_default=True,
                        help="Upper bound of every statement dbaudit sends, probes included, in ms.")(func)
    func = click.option("--timeout", "scan_timeout", type=Finite(1, 86_400), default=600, show_default=True,
                        help="Seconds the whole run may take, from the command's start; what it leaves out "
                             "makes the report partial (exit 2).")(func)
    func = click.option("--no-sample", "no_sample", is_flag=True,
                        help="Do not read table data: the normalization checks NF02-NF04 are then skipped, and "
                             "CP01 does not size the large columns.")(func)
    func = click.option("--show-samples", is_flag=True,
                        help="Keep a few sampled example values in the snapshot and report (off: never shown).")(func)
    func = click.option("--sample-rows", type=Finite(100, 1_000_000, integer=True), default=10_000,
                        show_default=True, help="Rows sampled per table.")(func)
    func = click.option("--sample-budget", type=Finite(1, 3600), default=60.0, show_default=True,
                        help="Seconds the whole data sampling may take.")(func)
    func = click.option("--no-workload", "no_workload", is_flag=True,
                        help="Do not read pg_stat_statements / EXPLAIN statements (WL checks are skipped).")(func)
    return func


def _collect_options(kwargs: dict[str, Any], started: float | None = None) -> CollectOptions:
    """``started``: when the command started (``--timeout`` counts from it); None: each run's own start."""
    from auditor.connectors import CollectOptions

    return CollectOptions(
        started=started,
        include_schemas=_split(kwargs["schemas"]),
        exclude_schemas=_split(kwargs["exclude_schemas"]),
        connect_timeout_s=kwargs["connect_timeout"],
        statement_timeout_ms=kwargs["statement_timeout"],
        timeout_s=kwargs["scan_timeout"],
        sample=not kwargs["no_sample"],
        show_samples=kwargs["show_samples"],
        sample_rows=kwargs["sample_rows"],
        sample_budget_s=kwargs["sample_budget"],
        workload=not kwargs["no_workload"],
    )


def _check_output(output: str | None) -> None:
    """Fail before the collection, which can take minutes, when the report could not be written anyway."""
    if output is None or output == "-":
        return
    path = Path(output)
    folder = path.parent
    if path.is_dir():
        raise AuditError(f"cannot write {output}: it is a directory")
    if not folder.is_dir():
        raise AuditError(f"cannot write {output}: directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise AuditError(f"cannot write {output}: permission denied")


def _write(text: str, output: str | None) -> None:
    if output is None or output == "-":
        # color=True: click would strip the codes off a pipe, but the colour was decided already (FORCE_COLOR)
        click.echo(text, nl=not text.endswith("\n"), color=True)
        return
    try:
        Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise AuditError(f"cannot write {output}: {exc.strerror}") from None


def _write_gzip(text: str, output: str) -> None:
    """A snapshot file ending in .gz is gzip-compressed (a 10,000-table snapshot: ~37 MB, ~1.2 MB gzipped);
    ``scan --from`` reads either."""
    import gzip

    try:
        with gzip.open(output, "wt", encoding="utf-8", compresslevel=6) as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        raise AuditError(f"cannot write {output}: {exc.strerror}") from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dbaudit")
def main() -> None:
    """Audit a live PostgreSQL or MySQL/MariaDB database: indexes, keys, workload, risks.

    \b
    Exit codes: 0 no finding at or above --fail-on, 1 there are, 2 usage, connection or permission error,
    a partial report (the scan stopped early), or an audit that saw no table (unless --allow-empty).
    """


@main.command()
@click.argument("dsn", required=False)
@click.option("--from", "from_file", metavar="FILE", help="Scan a saved snapshot instead of a live server.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Report format (default: the config file's, else text).")
@click.option("-o", "--output", metavar="FILE", help="Write the report to FILE instead of stdout.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default=None,
              help="Exit 1 when a finding has at least this severity (default: the config file's, else error).")
@click.option("--config", "config_file", metavar="FILE",
              help="Read settings from FILE (default: ./dbaudit.toml, else [tool.dbaudit] of ./pyproject.toml).")
@click.option("--baseline", "baseline_file", metavar="FILE",
              help="Compare with the findings recorded in FILE: only new ones count for the exit code.")
@click.option("--update-baseline", is_flag=True,
              help="Record this run's findings in the --baseline FILE (and exit 0).")
@click.option("--history", "history_store", metavar="STORE",
              help="Record the run in STORE (a SQLite file, created on first use) and report what changed since "
                   "the previous run of the same target.")
@click.option("--history-in-audited-db", is_flag=True,
              help="Accept a postgresql:// --history store in the audited database itself (refused otherwise).")
@click.option("--fail-on-new", type=click.Choice(FAIL_ON[:3]), default=None,
              help="Exit 1 only for findings new since the previous recorded run, at or above this severity "
                   "(needs --history; replaces --fail-on).")
@click.option("--regression-factor", type=Finite(1.01, 1000), default=None, metavar="X",
              help="With --history: a statement regressed when its interval mean or P95 is X times the previous "
                   "interval's (default: the config's history-regression-factor, else 2).")
@click.option("--regression-min-calls", type=Finite(1, 1_000_000_000, integer=True), default=None, metavar="N",
              help="With --history: ... and it had at least N calls in both intervals (default: the config's "
                   "history-regression-min-calls, else 10).")
@click.option("--targets", "targets_file", metavar="INVENTORY",
              help="Scan every database of INVENTORY (TOML [[target]] tables, or one DSN a line) and print a "
                   "summary per target.")
@click.option("--concurrency", type=Finite(1, 64, integer=True), default=4, show_default=True,
              help="With --targets: scans running at once.")
@click.option("--shard", metavar="I/N", help="With --targets: scan only this machine's share of the inventory.")
@click.option("--output-dir", metavar="DIR",
              help="With --targets: write each target's report (in --format) into DIR.")
@click.option("--select", multiple=True, metavar="CHECKS",
              help="Run only these checks: codes, names, families, prefixes or globs (comma-separated).")
@click.option("--ignore", multiple=True, metavar="CHECKS", help="Leave out these checks (same forms as --select).")
@click.option("--color/--no-color", default=None,
              help="Colour the text report (default: on a terminal, unless NO_COLOR is set; FORCE_COLOR forces it).")
@click.option("--limit", type=Finite(1, 1_000_000, integer=True), default=None, metavar="N",
              help="Text report: show the first N findings of each check in full, then how many more (default 5).")
@click.option("--all", "show_all", is_flag=True,
              help="Text report: show every finding (JSON, SARIF and the other formats always hold them all).")
@click.option("-v", "--verbose", is_flag=True,
              help="Say how each metric is measured, and print each phase's duration on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr (it is shown only on a terminal anyway).")
@click.option("--allow-empty", is_flag=True,
              help="Accept an audit that saw no table or ran no check (otherwise exit 2).")
@click.option("--max-snapshot-mb", type=Finite(1, 1_000_000), default=SNAPSHOT_MAX_MB, show_default=True,
              help="Refuse a --from snapshot file larger than this.")
@_connection_options
@handle_errors
def scan(dsn: str | None, from_file: str | None, fmt: str | None, output: str | None, fail_on: str | None,
         config_file: str | None, baseline_file: str | None, update_baseline: bool, history_store: str | None,
         history_in_audited_db: bool, fail_on_new: str | None, regression_factor: float | None,
         regression_min_calls: int | None, targets_file: str | None, concurrency: int,
         shard: str | None, output_dir: str | None,
         select: tuple[str, ...], ignore: tuple[str, ...], color: bool | None, limit: int | None,
         show_all: bool, verbose: bool, quiet: bool, allow_empty: bool, max_snapshot_mb: float,
         **conn_kwargs: Any) -> None:
    """Audit the database at DSN (or a snapshot saved with `dbaudit snapshot`).

    DSN is a postgresql:// URL or a libpq key=value string (quoted: one argument), or a mysql:// (or
    mariadb://) URL. Without one dbaudit reads DBAUDIT_DSN, then the PG* variables. What a mysql:// URL leaves
    out comes from the [client] group of ~/.my.cnf, then MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_UNIX_PORT and
    MYSQL_PWD, as for the mysql client.

    \b
    Examples:
      dbaudit scan postgresql://app@db.internal:5432/shop
      dbaudit scan "host=db.internal dbname=shop user=app sslmode=require"
      dbaudit scan mysql://app@db.internal:3306/shop
      dbaudit scan "mariadb://app@localhost/shop?socket=/run/mysqld/mysqld.sock"
      dbaudit scan "$DSN" --format html -o report.html
      dbaudit scan "$DSN" --format sarif -o dbaudit.sarif --fail-on warning
      dbaudit scan --from shop.json --all
    """
    started = time.monotonic()  # --timeout bounds the whole command, from here
    from auditor.audit import AuditSettings, SnapshotFile, run_audit, verdict
    from auditor.config import load_config

    if from_file and dsn:
        raise AuditError("give either a DSN or --from FILE, not both")
    if show_all and limit is not None:
        raise AuditError("give either --limit N or --all, not both")
    if quiet and verbose:
        raise AuditError("give either --quiet or --verbose, not both")
    _check_output(output)
    if history_store is not None:
        from auditor.history.location import check_location

        check_location(history_store)  # --history "" is an error, not history switched off
    config = load_config(config_file)
    # command-line flags win over the file, the file over the built-in defaults
    fmt = fmt or config.format or "text"
    if fmt not in FORMATS:
        raise AuditError(f"{config.path}: format {fmt!r} is not available in this dbaudit ({', '.join(FORMATS)})")
    settings = AuditSettings.from_config(
        config,
        select=_split(select) if select else None,
        ignore=_split(ignore) if ignore else None,
        fail_on=fail_on,
        baseline=baseline_file,
        update_baseline=update_baseline,
        collect=_collect_options(conn_kwargs),
        workload_off=conn_kwargs["no_workload"],
        allow_empty=allow_empty,
        history=history_store,
        history_in_audited_db=history_in_audited_db or None,
        fail_on_new=fail_on_new,
        history_options=config.history_options(regression_factor, regression_min_calls),
    )
    for given, flag in ((regression_factor, "--regression-factor"), (regression_min_calls, "--regression-min-calls")):
        if given is not None and not settings.history:
            raise AuditError(f"{flag} needs --history STORE (or history = \"FILE\" in the config)")
    if targets_file:
        if dsn or from_file:
            raise AuditError("give either --targets INVENTORY or a DSN / --from FILE, not both")
        _scan_fleet(targets_file, settings, fmt, concurrency, shard, output_dir, output, quiet)
        return
    if shard or output_dir:
        raise AuditError(f"{'--shard' if shard else '--output-dir'} needs --targets INVENTORY")
    source = SnapshotFile(from_file, max_bytes=int(max_snapshot_mb * 1_000_000)) if from_file else dsn
    # one target: its --timeout counts from the command's start (each fleet target's from its own)
    settings = dataclasses.replace(settings, collect=dataclasses.replace(settings.collect, started=started))
    with TerminalProgress(quiet=quiet, verbose=verbose) as shown:
        report = run_audit(source, dataclasses.replace(settings, progress=shown))
    if settings.update_baseline:
        click.echo(f"baseline {settings.baseline}: {len(report.findings)} findings recorded", err=True)
    from reports import render  # after the collection: not needed to connect

    text = render(report, fmt, color=use_color(color, output), width=text_width(output),
                  limit=None if show_all else (limit or -1), verbose=verbose)
    _write(text, output)
    end = verdict(report, settings)
    if end.message:
        _say(end.message, end.level)
    if end.exit_code != ExitCode.OK:
        sys.exit(int(end.exit_code))


def _scan_fleet(inventory: str, settings: Any, fmt: str, concurrency: int, shard_text: str | None,
                output_dir: str | None, output: str | None, quiet: bool) -> None:
    """Scan the inventory's targets (this shard's); the summary goes to stdout or ``-o FILE``, each report into
    ``--output-dir`` (created when missing); ``-q`` leaves out the per-target info lines."""
    import re

    from auditor.fleet import fleet_exit_code, load_inventory, parse_shard, scan_fleet, shard
    from reports import render
    from reports.history import render_fleet

    targets = load_inventory(inventory)
    if shard_text:
        targets = shard(targets, *parse_shard(shard_text))
    if output_dir:
        if Path(output_dir).exists() and not Path(output_dir).is_dir():
            raise AuditError(f"--output-dir {output_dir} is not a directory")
        try:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditError(f"cannot create --output-dir {output_dir}: {exc.strerror}") from None
    suffix = {"text": "txt", "json": "json", "markdown": "md", "html": "html", "sarif": "sarif", "junit": "xml"}

    def done(result: Any) -> None:
        state = "failed: " + (result.error or "") if result.report is None else f"score {result.report.score.label()}"
        if not quiet:
            _say(f"{result.target.name}: {state} ({result.duration_s:.1f} s)", "info")
        if output_dir and result.report is not None:
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", result.target.name).strip("_") or "target"
            _write(render(result.report, fmt), str(Path(output_dir) / f"{name}.{suffix[fmt]}"))

    results = scan_fleet(targets, settings, concurrency, on_done=done)
    summary_format = "json" if fmt == "json" else "text"
    if output is None or output == "-":
        _emit(render_fleet(results, summary_format), summary_format)
    else:
        _write(render_fleet(results, summary_format), output)
    code = fleet_exit_code(results)
    if code != ExitCode.OK:
        sys.exit(int(code))


@main.command()
@click.argument("dsn", required=False)
@click.option("-o", "--output", metavar="FILE",
              help="Write the snapshot to FILE (default: stdout); gzip-compressed when FILE ends in .gz.")
@click.option("-v", "--verbose", is_flag=True, help="Print each phase's duration on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr (it is shown only on a terminal anyway).")
@_connection_options
@handle_errors
def snapshot(dsn: str | None, output: str | None, verbose: bool, quiet: bool, **conn_kwargs: Any) -> None:
    """Save what dbaudit reads from the server as JSON, to scan later with `dbaudit scan --from FILE`."""
    started = time.monotonic()  # --timeout bounds the whole command, from here
    from auditor.audit import collect_snapshot
    from auditor.bulk import gc_paused

    _check_output(output)
    # no cyclic collection walks the snapshot's millions of objects (a 10,000-table database) while they are
    # built and written: none of them is garbage (as in a scan: auditor.audit._run)
    with gc_paused():
        with TerminalProgress(quiet=quiet, verbose=verbose) as shown, progress.announcing(shown):
            progress.report("collect")
            snap = collect_snapshot(dsn, _collect_options(conn_kwargs, started),
                                    workload_off=conn_kwargs["no_workload"])
        if output and output.endswith(".gz"):
            _write_gzip(snapshot_to_json(snap), output)
        else:
            _write(snapshot_to_json(snap), output)
    if output and output != "-":
        click.echo(terminal_safe(f"snapshot of {snap.dsn}: {len(snap.tables)} tables, {len(snap.indexes)} "
                                 f"indexes -> {output}"), err=True)
    if snap.interrupted:
        _fail(f"partial snapshot: the scan stopped early: {snap.interrupted}")


@main.command(name="checks")
@click.option("--format", "fmt", type=click.Choice(("text", "json", "markdown")), default="text",
              show_default=True)
@handle_errors
def list_checks(fmt: str) -> None:
    """List every check with its code, name, severity and engines."""
    from reports.catalogue import render_catalogue

    click.echo(render_catalogue(fmt), nl=False)


@main.command()
@click.argument("check")
@handle_errors
def explain(check: str) -> None:
    """Print the documentation of one check, by code (IX01) or name (unused-index)."""
    from auditor.engine import _nearest_hint, all_checks, find_check
    from reports.catalogue import render_explain

    spec = find_check(check)
    if spec is None:
        raise AuditError(f"no check called {check!r}{_nearest_hint(check, all_checks())}")
    click.echo(render_explain(spec), nl=False)


# ---- dbaudit history: the run store -------------------------------------------------------------------------


def _store_options(func: F) -> F:
    func = click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text",
                        show_default=True)(func)
    func = click.option("--config", "config_file", metavar="FILE",
                        help="Read the store's location (history = ...) from FILE.")(func)
    func = click.option("--store", metavar="STORE",
                        help="The run store: a SQLite file or a postgresql:// URL (default: the config's history).")(
        func)
    return func


def _open_history(store: str | None, config_file: str | None) -> Any:
    from auditor.config import load_config
    from auditor.history import open_store
    from auditor.history.location import check_location

    if store is not None:
        check_location(store)  # --store "" is an error, not "use the config's"
    location = store or load_config(config_file).history
    if not location:
        raise AuditError("no run store: give --store STORE (or history = \"FILE\" in the config)")
    if "://" not in location and not Path(location).is_file():
        raise AuditError(f"run store {location} does not exist (dbaudit scan --history {location} creates it)")
    return open_store(location)


def _emit(text: str, fmt: str) -> None:
    from auditor.textsafe import json_safe

    click.echo(json_safe(text) if fmt == "json" else terminal_safe(text, keep_newlines=True), nl=False)


@main.group()
def history() -> None:
    """Browse and maintain the run store that `dbaudit scan --history STORE` records into."""


@history.command(name="list")
@click.option("--target", metavar="DSN", help="Only the runs of this target (as `list` prints it).")
@_store_options
@handle_errors
def history_list(target: str | None, store: str | None, config_file: str | None, fmt: str) -> None:
    """List the recorded runs, oldest first."""
    from reports.history import render_runs

    with _open_history(store, config_file) as runs_store:
        runs = runs_store.runs(target)
        _emit(render_runs(runs, runs_store.finding_counts(), fmt), fmt)


@history.command(name="show")
@click.argument("run_id", type=Finite(1, 2**62, integer=True), metavar="RUN")
@_store_options
@handle_errors
def history_show(run_id: int, store: str | None, config_file: str | None, fmt: str) -> None:
    """Show one recorded run: its score, metrics, findings and busiest statements."""
    from reports.history import render_run

    with _open_history(store, config_file) as runs_store:
        run = runs_store.load_run(run_id)
        if run is None:
            raise AuditError(f"run {run_id} is not in the store {runs_store.location} (dbaudit history list)")
        from auditor.history import trend_of

        _, growers = trend_of(runs_store, run.target, until=run)  # the growers its own report listed
        _emit(render_run(run, fmt, growers=growers), fmt)


@history.command(name="diff")
@click.argument("first", type=Finite(1, 2**62, integer=True), metavar="A")
@click.argument("second", type=Finite(1, 2**62, integer=True), metavar="B")
@click.option("--regression-factor", type=Finite(1.01, 1000), default=None, metavar="X",
              help="A statement regressed when its interval mean or P95 is X times run A's (default: the config's "
                   "history-regression-factor, else 2).")
@click.option("--regression-min-calls", type=Finite(1, 1_000_000_000, integer=True), default=None, metavar="N",
              help="... with at least N calls in both (default: the config's history-regression-min-calls, else 10).")
@_store_options
@handle_errors
def history_diff(first: int, second: int, regression_factor: float | None, regression_min_calls: int | None,
                 store: str | None, config_file: str | None, fmt: str) -> None:
    """What changed from run A to run B: findings, statements (interval figures), tables, resets."""
    from auditor.config import load_config
    from auditor.history import diff_runs
    from reports.history import render_diff

    options = load_config(config_file).history_options(regression_factor, regression_min_calls)

    with _open_history(store, config_file) as runs_store:
        a, b = runs_store.load_run(first, counters=False), runs_store.load_run(second, counters=False)
        if a is not None and b is not None and a.started_at > b.started_at:
            raise AuditError(f"run {first} ({a.started_at:%Y-%m-%d %H:%M} UTC) is newer than run {second} "
                             f"({b.started_at:%Y-%m-%d %H:%M} UTC): give the older run first (dbaudit history diff "
                             f"{second} {first})")
        _emit(render_diff(diff_runs(runs_store, first, second, options), fmt), fmt)


@history.command(name="trend")
@click.argument("metric")
@click.option("--target", metavar="DSN", help="The target (needed when the store holds several).")
@click.option("--days", type=Finite(0.01, 36_500), default=None, help="Only the last DAYS of runs.")
@_store_options
@handle_errors
def history_trend(metric: str, target: str | None, days: float | None, store: str | None,
                  config_file: str | None, fmt: str) -> None:
    """A metric over the recorded runs: score, db_bytes, interval_p95_ms, findings, or a report metric (p95_ms,
    index_coverage_pct, ...)."""
    from auditor.history import one_target, trend
    from reports.history import render_trend

    with _open_history(store, config_file) as runs_store:
        chosen = one_target(runs_store, target)
        _emit(render_trend(trend(runs_store, metric, chosen, days), metric, chosen, fmt), fmt)


@history.command(name="prune")
@click.option("--keep-days", type=Finite(1, 36_500), default=None,
              help="Roll runs older than this up daily (default: the config's history-retention-days, else 35).")
@click.option("--drop-days", type=Finite(0, 36_500), default=None,
              help="Delete runs older than this entirely (default: never).")
@click.option("--target", metavar="DSN", help="Only the runs of this target.")
@_store_options
@handle_errors
def history_prune(keep_days: float | None, drop_days: float | None, target: str | None, store: str | None,
                  config_file: str | None, fmt: str) -> None:
    """Apply the retention: old runs rolled up to one per day, the oldest deleted when asked."""
    import json

    from auditor.config import load_config
    from auditor.history import RETENTION_DAYS

    keep = keep_days if keep_days is not None else (load_config(config_file).history_retention_days
                                                    or RETENTION_DAYS)
    with _open_history(store, config_file) as runs_store:
        result = runs_store.prune(keep, target=target, drop_days=drop_days)
    if fmt == "json":
        _emit(json.dumps({"rolled_up": result.rolled_up, "deleted": result.deleted}) + "\n", fmt)
    else:
        _emit(f"{result.rolled_up} runs rolled up daily, {result.deleted} deleted\n", fmt)


if __name__ == "__main__":  # pragma: no cover
    main()
