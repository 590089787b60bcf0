"""The Report: everything a reporter renders, assembled from a snapshot and a run's findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditor import __version__
from auditor.baseline import BaselineComparison
from auditor.config import IgnoreRule, SuppressedFinding
from auditor.dsn import redact
from auditor.engine import RunResult
from auditor.model import Finding, Note, Severity, Skipped, Snapshot
from auditor.scoring import Metric, Score, Targets, compute_metrics, compute_score

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
) -> Report:
    targets = targets or Targets()
    metrics = compute_metrics(snapshot, result.findings, targets, checks_run=result.ran)
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
        score=compute_score(metrics, result.findings),
        notes=snapshot.notes,
        checks_run=result.ran,
        snapshot=snapshot,
        targets=targets,
    )
