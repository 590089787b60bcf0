"""Fleet scans: many databases from an inventory, with bounded concurrency, into one run store.

``dbaudit scan --targets inventory.toml --history STORE`` scans every target of the inventory (or of this
machine's shard of it, ``--shard i/n``) with at most ``--concurrency`` scans at a time. A target that fails
(unreachable, refused, partial) never stops the others: its error is recorded in the store as a run with status
``error`` and listed in the summary.

The inventory is TOML::

    [[target]]
    name = "shop"                                  # optional: defaults to the DSN without its password
    dsn = "postgresql://dbaudit@db1.internal/shop"

    [[target]]
    name = "billing"
    dsn-env = "BILLING_DSN"                        # the DSN read from this environment variable (passwords)

or a plain file of DSNs, one per line: blank lines and comments are ignored, a comment being a ``#`` at the
start of a line or after whitespace (outside single quotes), so that a ``#`` inside a password
(``postgresql://u:pa#ss@h/db``, ``password='a #b'``) stays part of the DSN.

A target whose ``dsn-env`` variable is not set fails alone, like an unreachable one (an error run in the store, a
line in the summary); a shard that does not hold it never reads the variable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from auditor.audit import AuditSettings, run_audit, verdict
from auditor.dsn import parse_dsn, redact
from auditor.errors import AuditError, ExitCode
from auditor.history.store import StoreIsAuditedError
from auditor.report import Report

TARGET_KEYS = ("name", "dsn", "dsn-env")


class InventoryError(AuditError):
    """The inventory file is unreadable or malformed."""


@dataclass(frozen=True)
class FleetTarget:
    name: str
    dsn: str  # may hold a password: never printed (see ``shown``); "" when ``error`` says why there is none
    error: str | None = None  # the target cannot be scanned (its dsn-env variable is not set)

    @property
    def shown(self) -> str:
        return redact(self.dsn) if self.dsn else self.name


@dataclass(frozen=True)
class TargetResult:
    target: FleetTarget
    report: Report | None  # None: the scan failed
    error: str | None = None
    exit_code: ExitCode = ExitCode.OK
    duration_s: float = 0.0
    run_id: int | None = None  # the error run recorded in the store for a failed target


def load_inventory(path: str, environ: dict[str, str] | None = None) -> list[FleetTarget]:
    """The targets of an inventory file (TOML with ``[[target]]`` tables, or one DSN a line)."""
    env = dict(os.environ) if environ is None else environ
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(f"inventory {path} does not exist") from None
    except IsADirectoryError:
        raise InventoryError(f"inventory {path} is a directory") from None
    except OSError as exc:
        raise InventoryError(f"cannot read inventory {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InventoryError(f"inventory {path} is not UTF-8 text") from None
    if path.endswith(".toml") or re.search(r"^\s*\[\[target\]\]", text, re.M):
        targets = _toml_targets(path, text, env)
    else:
        dsns = [strip_comment(line) for line in text.splitlines()]
        targets = [FleetTarget(redact(dsn), dsn) for dsn in dsns if dsn]
    if not targets:
        raise InventoryError(f"inventory {path} lists no target")
    seen: set[str] = set()
    for t in targets:
        if t.name in seen:
            raise InventoryError(f"inventory {path}: target name {t.name!r} appears twice")
        seen.add(t.name)
    return targets


def _toml_targets(path: str, text: str, env: dict[str, str]) -> list[FleetTarget]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"inventory {path} is not valid TOML: {exc}") from None
    unknown = set(data) - {"target"}
    if unknown:
        raise InventoryError(f"inventory {path}: unknown key {sorted(unknown)[0]!r} (expected [[target]] tables)")
    entries = data.get("target", [])
    if not isinstance(entries, list):
        raise InventoryError(f"inventory {path}: target must be an array of tables ([[target]])")
    out = []
    for i, entry in enumerate(entries, start=1):
        where = f"inventory {path}: target {i}"
        if not isinstance(entry, dict):
            raise InventoryError(f"{where} is not a table")
        bad = set(entry) - set(TARGET_KEYS)
        if bad:
            raise InventoryError(f"{where}: unknown key {sorted(bad)[0]!r} (known: {', '.join(TARGET_KEYS)})")
        dsn = entry.get("dsn")
        if "dsn-env" in entry:
            variable = entry["dsn-env"]
            if not isinstance(variable, str) or not variable.strip():
                raise InventoryError(f"{where}: dsn-env must name an environment variable (a string)")
            name = entry.get("name", f"${variable}")
            if not isinstance(name, str) or not name:
                raise InventoryError(f"{where}: name must be a string")
            if not env.get(variable, "").strip():
                # this target fails alone when scanned (an error run), not the whole inventory
                out.append(FleetTarget(name, "", error=f"environment variable {variable!r} (dsn-env) is not set"))
                continue
            dsn = env[variable]
        if not isinstance(dsn, str) or not dsn.strip():
            raise InventoryError(f"{where} has no dsn (or dsn-env)")
        name = entry.get("name", redact(dsn))
        if not isinstance(name, str) or not name:
            raise InventoryError(f"{where}: name must be a string")
        out.append(FleetTarget(name, dsn.strip()))
    return out


def strip_comment(line: str) -> str:
    """A line of a plain DSN file without its comment: from a ``#`` that starts the line or follows whitespace,
    outside single quotes (libpq's quoting, backslash escapes); a ``#`` inside a DSN's password is kept."""
    quoted = False
    previous = " "
    i = 0
    while i < len(line):
        ch = line[i]
        if quoted and ch == "\\":
            i += 2
            previous = "x"
            continue
        if ch == "'":
            quoted = not quoted
        elif ch == "#" and not quoted and previous.isspace():
            return line[:i].strip()
        previous = ch
        i += 1
    return line.strip()


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 1 <= i <= n."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise AuditError(f"--shard {text!r}: give i/n with 1 <= i <= n, e.g. 2/4")
    return int(match.group(1)), int(match.group(2))


def shard(targets: Sequence[FleetTarget], index: int, count: int) -> list[FleetTarget]:
    """This machine's share: targets whose name hashes to ``index`` of ``count`` (1-based). By the name's hash,
    not its position, so that adding a target to the inventory moves no other target to another machine."""
    return [t for t in targets
            if int(hashlib.sha256(t.name.encode("utf-8")).hexdigest(), 16) % count == index - 1]


def scan_fleet(targets: Sequence[FleetTarget], settings: AuditSettings, concurrency: int = 4,
               on_done: Callable[[TargetResult], None] | None = None) -> list[TargetResult]:
    """Scan every target, at most ``concurrency`` at a time; results in the inventory's order."""
    results: dict[int, TargetResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="dbaudit-scan") as pool:
        futures = {pool.submit(_scan_one, t, settings): i for i, t in enumerate(targets)}
        for future in as_completed(futures):
            result = future.result()
            if result.report is None:
                result = dataclasses.replace(result, run_id=_error_runs.pop(result.target, None))
            results[futures[future]] = result
            if on_done is not None:
                on_done(result)
    return [results[i] for i in range(len(targets))]


def _scan_one(target: FleetTarget, settings: AuditSettings) -> TargetResult:
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        if target.error is not None:
            raise AuditError(target.error)
        report = run_audit(target.dsn, settings)
    except Exception as exc:  # noqa: BLE001 - one target's failure, whatever it is, must not stop the others
        message = str(exc) if isinstance(exc, AuditError) else f"internal error: {type(exc).__name__}: {exc}"
        message = _redacted(" ".join(message.split()), target)
        if not isinstance(exc, StoreIsAuditedError):  # never written into the audited database, errors neither
            _record_error(target, settings, started, message, time.perf_counter() - t0)
        return TargetResult(target, None, message, ExitCode.ERROR, time.perf_counter() - t0)
    end = verdict(report, settings)
    return TargetResult(target, report, end.message if end.exit_code == ExitCode.ERROR else None, end.exit_code,
                        time.perf_counter() - t0)


def _redacted(message: str, target: FleetTarget) -> str:
    if not target.dsn:
        return message
    try:
        return redact(message, parse_dsn(target.dsn))
    except AuditError:
        return redact(message)


# the id of each failed target's error run in the store, taken by scan_fleet into the target's result
_error_runs: dict[FleetTarget, int] = {}


def _record_error(target: FleetTarget, settings: AuditSettings, started: datetime, message: str,
                  duration: float) -> None:
    """The failed scan as a run with status ``error`` in the store (never the previous run of a later one); its
    id goes to ``_error_runs``."""
    if not settings.history:
        return
    from auditor.history import open_store
    from auditor.history.record import RunRecord

    try:
        if not target.dsn:
            raise AuditError(target.error or "no DSN")
        dsn = parse_dsn(target.dsn)
        shown, engine = dsn.display, dsn.engine
        database = dsn.params.get("dbname") or dsn.params.get("database") or ""
    except AuditError:
        shown, engine, database = target.shown, "unknown", ""
    try:
        with open_store(settings.history) as store:
            _error_runs[target] = store.save_run(RunRecord(
                target=shown, engine=engine, database=database, started_at=started, duration_s=round(duration, 3),
                status="error", message=message))
    except AuditError:
        pass  # the store itself failing is reported by the other targets' runs, and in the summary


def fleet_exit_code(results: Sequence[TargetResult]) -> ExitCode:
    """2 when a target failed, else 1 when a target's findings fail it (--fail-on / --fail-on-new), else 0."""
    if any(r.exit_code == ExitCode.ERROR for r in results):
        return ExitCode.ERROR
    if any(r.exit_code == ExitCode.FINDINGS for r in results):
        return ExitCode.FINDINGS
    return ExitCode.OK

