"""Quality metrics and the health score.

Each metric carries its target, its value, pass/fail and how it was measured; a metric that could not be measured
has ``value = None`` and says why in ``reason`` instead of showing 0.

The health score (0-100) is documented in docs/scoring.md:

    score = 100
            - sum over checks of min(cap, weight(severity) x findings of that check)
            - 10 x failed metrics
    clamped to 0..100; weights: error 10, warning 3, info 0.5; cap 25 per check.
    grade: A >= 90, B >= 80, C >= 70, D >= 60, else F.

The per-check cap keeps one systemic problem (say 300 unused indexes) from hiding every other signal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from auditor.model import Finding, Severity, Snapshot, Table

SEVERITY_WEIGHT = {Severity.ERROR: 10.0, Severity.WARNING: 3.0, Severity.INFO: 0.5}
PER_CHECK_CAP = 25.0
FAILED_METRIC_PENALTY = 10.0


@dataclass(frozen=True)
class Metric:
    key: str  # JSON key in report["metrics"]
    label: str
    value: float | int | None
    unit: str = ""
    target: str = ""  # human form: ">= 90 %", "< 100 ms", "0"
    passed: bool | None = None  # None when unmeasured or when the metric has no target
    method: str = ""
    reason: str | None = None  # why it could not be measured


@dataclass(frozen=True)
class Score:
    value: int
    grade: str
    formula: str = "100 - sum_checks(min(25, weight x count)) - 10 x failed metrics; error 10, warning 3, info 0.5"


def compute_metrics(snapshot: Snapshot, findings: Iterable[Finding]) -> tuple[Metric, ...]:
    findings = list(findings)
    metrics: list[Metric] = []

    unused = [f for f in findings if f.code == "IX01"]
    unused_bytes = sum(int(f.details.get("index_bytes") or 0) for f in unused)
    metrics.append(
        Metric(
            key="unused_indexes",
            label="Unused indexes",
            value=len(unused),
            unit="indexes",
            target="0",
            passed=len(unused) == 0,
            method="IX01 findings: indexes with no scans since the statistics were reset",
        )
    )
    metrics.append(
        Metric(
            key="unused_index_bytes",
            label="Unused index size",
            value=unused_bytes,
            unit="bytes",
            target="0",
            passed=None,  # judged through unused_indexes; not penalised twice
            method="sum of the sizes of the IX01 indexes",
        )
    )

    tables = [t for t in snapshot.tables if t.kind in ("table", "partitioned") and not t.is_partition]
    if tables:
        with_pk = sum(1 for t in tables if snapshot.constraints_of(t.schema, t.name, "primary_key"))
        commented = sum(1 for t in tables if t.comment)
        pk_pct = 100.0 * with_pk / len(tables)
        metrics.append(
            Metric(
                key="schema_completeness_pct",
                label="Schema completeness",
                value=round(pk_pct, 1),
                unit="%",
                target=">= 95 %",
                passed=pk_pct >= 95.0,
                method=f"share of tables with a primary key ({with_pk}/{len(tables)}); "
                f"{commented} of {len(tables)} tables have a comment",
            )
        )
    else:
        metrics.append(
            Metric(
                key="schema_completeness_pct",
                label="Schema completeness",
                value=None,
                unit="%",
                target=">= 95 %",
                reason="no tables in the audited schemas",
            )
        )

    metrics.extend(_workload_metrics(snapshot))
    metrics.append(_normalization_metric(snapshot, tables, findings))
    return tuple(metrics)


def compute_score(metrics: Iterable[Metric], findings: Iterable[Finding]) -> Score:
    per_check: dict[str, float] = defaultdict(float)
    for f in findings:
        per_check[f.code] += SEVERITY_WEIGHT[f.severity]
    penalty = sum(min(PER_CHECK_CAP, v) for v in per_check.values())
    failed = Counter(m.passed for m in metrics)[False]
    value = int(round(max(0.0, min(100.0, 100.0 - penalty - FAILED_METRIC_PENALTY * failed))))
    return Score(value=value, grade=grade_for(value))


def grade_for(value: int) -> str:
    for threshold, grade in ((90, "A"), (80, "B"), (70, "C"), (60, "D")):
        if value >= threshold:
            return grade
    return "F"


def _workload_metrics(snapshot: Snapshot) -> list[Metric]:
    from auditor.workload import DEFAULT_LARGE_ROWS, index_coverage, workload_percentiles

    out: list[Metric] = []
    pct, how = index_coverage(snapshot, DEFAULT_LARGE_ROWS)
    out.append(
        Metric(
            key="index_coverage_pct", label="Workload index coverage", value=pct, unit="%", target=">= 90 %",
            passed=None if pct is None else pct >= 90.0,
            method="calls-weighted share of explained statements whose generic plan reaches every table of "
            f">= {DEFAULT_LARGE_ROWS} rows through an index; {how}" if pct is not None else "",
            reason=None if pct is not None else how,
        )
    )
    lat = workload_percentiles(snapshot)
    for key, label, value, limit in (
        ("p50_ms", "P50 latency", lat.p50_ms, None),
        ("p95_ms", "P95 latency", lat.p95_ms, 100.0),
        ("p99_ms", "P99 latency", lat.p99_ms, 500.0),
    ):
        out.append(
            Metric(
                key=key, label=label, value=value, unit="ms",
                target=f"< {limit:g} ms" if limit is not None else "",
                passed=None if value is None or limit is None else value < limit,
                method=f"{lat.method}; {lat.statements} statements, {lat.calls} calls" if value is not None else "",
                reason=None if value is not None else lat.reason,
            )
        )
    return out


def _normalization_metric(snapshot: Snapshot, tables: list[Table], findings: list[Finding]) -> Metric:
    label, target = "Tables in 3NF", "100 %"
    if not tables:
        return Metric(key="normalization_pct", label=label, value=None, unit="%", target=target,
                      reason="no tables in the audited schemas")
    flagged = {(f.object.schema, f.object.table) for f in findings if f.code.startswith("NF")}
    sampled = snapshot.sampling is not None and bool(snapshot.sampling.tables)
    if not sampled:
        return Metric(key="normalization_pct", label=label, value=None, unit="%", target=target,
                      reason="no data sample was collected (sampling off with --no-sample, or no readable "
                      "table), so 2NF/3NF cannot be judged")
    clean = sum(1 for t in tables if (t.schema, t.name) not in flagged)
    pct = round(100.0 * clean / len(tables), 1)
    return Metric(
        key="normalization_pct", label=label, value=pct, unit="%", target=target, passed=clean == len(tables),
        method=f"share of tables with no NF01-NF04 finding ({clean}/{len(tables)}); dependencies judged on "
        "sampled data",
    )
