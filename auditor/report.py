"""The Report: everything a reporter renders, assembled from a snapshot and a run's findings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor.baseline import BaselineComparison
from auditor.config import IgnoreRule, SuppressedFinding
from auditor.dsn import redact
from auditor.engine import RunResult
from auditor.model import Finding, Note, Severity, Skipped, Snapshot
from auditor.scoring import (
    Metric,
    Score,
    Targets,
    audited_tables,
    compute_metrics,
    compute_score,
    locked_relations,
)
from auditor.textfmt import elapsed_ms
from auditor.workload_loss import statement_loss_notes

if TYPE_CHECKING:  # auditor.history imports this module
    from auditor.history.model import HistoryComparison

REPORT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Target:
    engine: str
    server_version: str
    database: str
    dsn: str


@dataclass(frozen=True)
class Report:
    target: Target
    started_at: datetime
    duration_s: float
    findings: tuple[Finding, ...]
    skipped: tuple[Skipped, ...]
    metrics: tuple[Metric, ...]
    score: Score
    notes: tuple[Note, ...] = ()
    checks_run: tuple[str, ...] = ()
    snapshot: Snapshot | None = field(default=None, compare=False)
    tool_version: str = __version__
    targets: Targets = field(default_factory=Targets)
    # suppression and baselines (auditor.config, auditor.baseline): findings an ignore rule took out, ignore
    # rules whose check ran but matched nothing, and the comparison with --baseline (findings then holds only
    # the new ones)
    suppressed: tuple[SuppressedFinding, ...] = ()
    stale_ignores: tuple[IgnoreRule, ...] = ()
    baseline: BaselineComparison | None = None
    # the effective --fail-on (error, warning, info, never): findings below it do not fail a CI job
    fail_on: str = "error"
    # the scan stopped early (Snapshot.interrupted): why, and what is missing. The report is not graded.
    partial: str | None = None
    # why this audit judged nothing (no table seen, no check run). The report is not graded, and the run
    # fails unless the user accepts it (--allow-empty)
    empty: str | None = None
    # --history: this run against the previous recorded run of the same target (auditor.history)
    history: HistoryComparison | None = None
    # --history: why the run store could not be written (the run was not recorded, or old runs not rolled up);
    # the report says so in a note and the run ends in exit code 2
    history_error: str | None = None
    # check code -> the options dataclass the checks ran with (the configured ones): the design document's
    # figures follow the same marks as the checks (CP02's min_rows in "Partitioning candidates")
    check_options: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def at_or_above(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity.rank >= severity.rank]

    def metric_values(self) -> dict[str, Any]:
        return {m.key: m.value for m in self.metrics}


def build_report(
    snapshot: Snapshot,
    result: RunResult,
    started_at: datetime,
    duration_s: float,
    targets: Targets | None = None,
    check_options: Mapping[str, Any] | None = None,
) -> Report:
    targets = targets or Targets()
    metrics = compute_metrics(snapshot, result.findings, targets, checks_run=result.ran, check_options=check_options)
    empty = empty_reason(snapshot, result)
    partial = partial_reason(snapshot)
    not_graded = None
    if partial is not None:
        not_graded = "partial scan"
    elif empty is not None:
        not_graded = "nothing was audited"
    return Report(
        target=Target(
            engine=snapshot.engine,
            server_version=snapshot.server_version,
            database=snapshot.database,
            # a snapshot saved by hand or by another tool may carry a password; reports never do
            dsn=redact(snapshot.dsn),
        ),
        started_at=started_at,
        duration_s=round(duration_s, 3),
        findings=result.findings,
        skipped=result.skipped,
        metrics=metrics,
        score=compute_score(metrics, result.findings, not_graded=not_graded, skipped=result.skipped,
                            engine=snapshot.engine),
        notes=snapshot.notes + statement_loss_notes(snapshot) + set_apart_note(snapshot),
        checks_run=result.ran,
        snapshot=snapshot,
        targets=targets,
        partial=partial,
        empty=empty,
    )


_SET_APART_WORDS = {"bulk_load": ("bulk load", "bulk loads", "multi-row INSERT ... VALUES, LOAD DATA, COPY FROM"),
                    "ddl": ("DDL or maintenance statement", "DDL and maintenance statements",
                            "CREATE, ALTER, DROP, LOCK TABLES, VACUUM, ..."),
                    "dump": ("backup read", "backup reads",
                             "mysqldump / mariadb-dump SELECT SQL_NO_CACHE, pg_dump COPY TO stdout")}


def set_apart_note(snapshot: Snapshot) -> tuple[Note, ...]:
    """A note naming the recorded statements that are not the application's queries (a dump restore, a
    migration, a batch load): they are shown here, apart, and judged by no WL check nor counted in P50-P99."""
    from auditor.workload import set_apart

    groups = set_apart(snapshot)
    if not groups:
        return ()
    parts = []
    objects: list[str] = []
    for kind in ("bulk_load", "ddl", "dump"):
        group = groups.get(kind, [])
        if not group:
            continue
        one, many, examples = _SET_APART_WORDS[kind]
        calls = sum(s.calls for s in group)
        parts.append(f"{len(group)} {one if len(group) == 1 else many} ({examples}; {calls:,} calls, "
                     f"{elapsed_ms(sum(s.total_ms for s in group))} in total)")
        objects.extend(" ".join(s.query.split())[:80] for s in group[:5])
    return (Note(area="workload", objects=tuple(objects), message=(
        "set apart from the application's workload, not judged by WL01-WL04 nor counted in P50-P99 or the "
        "index coverage: " + "; ".join(parts))),)


def partial_reason(snapshot: Snapshot) -> str | None:
    """Why the report covers only part of the database, None when it covers it all: the scan stopped early, or
    tables were left out of the catalog because another session held them under ACCESS EXCLUSIVE (or dropped
    them) while it was read. A graded score without them would grade the tables that happened to be free (the
    largest table is the likeliest to be under a long ALTER), and a CI gate would pass on what nobody read."""
    reasons = [f"the scan stopped early: {snapshot.interrupted}"] if snapshot.interrupted else []
    locked = locked_relations(snapshot)
    if locked:
        shown = ", ".join(locked[:5]) + (f" and {len(locked) - 5} more" if len(locked) > 5 else "")
        reasons.append(f"{len(locked)} relation{'s' if len(locked) != 1 else ''} locked by another session (or "
                       f"dropped) while the catalog was read, not read: {shown}; scan again once that statement "
                       "has finished")
    return "; ".join(reasons) or None


def empty_reason(snapshot: Snapshot, result: RunResult) -> str | None:
    """Why the audit judged nothing, in words a user acts on; None when it judged something.

    "No findings, 100/100" for a database nobody looked at would be a false pass: a forgotten database name
    (``postgresql://host`` audits the empty ``postgres`` database), an account that may see no table, every
    check deselected.
    """
    if not result.ran:
        if result.skipped:
            return f"no check ran: all {len(result.skipped)} selected checks were skipped (see Skipped checks)"
        return "no check ran: --select/--ignore (or the configuration) left no check selected"
    if audited_tables(snapshot):
        return None
    where = f"database {snapshot.database!r}" if snapshot.database else "the server"
    schemas = ", ".join(snapshot.schemas) if snapshot.schemas else "none"
    text = f"the audit saw no table in {where} (schemas: {schemas})"
    if snapshot.engine == "postgresql" and "/" not in snapshot.dsn.split("://", 1)[-1]:
        text += "; the DSN names no database, so the server's default one was audited"
    elif snapshot.engine == "mysql" and not snapshot.database:
        text += "; the DSN names no database and the account sees no table in any"
    return text + ": check the database name, the --schema patterns and the account's privileges"
