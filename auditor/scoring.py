"""Quality metrics and the health score.

Each metric carries its target, its value, pass/fail and how it was measured; a metric that could not be measured
has ``value = None`` and says why in ``reason`` instead of showing 0. The targets come from :class:`Targets`
(``[tool.dbaudit.targets]`` in the configuration).

The health score (0-100) is documented in docs/scoring.md:

    penalty(check, severity) = min(cap(severity), weight(severity) x findings of that check at that severity)
    score = 100 - sum of the penalties - 5 x failed metrics, clamped to 0..100
    weights: error 10, warning 3, info 0.5; caps: error 25, warning 10, info 2.
    grade: A >= 90, B >= 80, C >= 70, D >= 60, else F.

The per-check cap makes the score count kinds of problems rather than objects: one systemic habit (every foreign
key of a 500-table schema without its index) costs as much as it does in a 10-table schema, and does not hide
every other signal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.engine import REGISTRY
from auditor.maintenance import (
    INNODB_STATS_AREA,
    analyze_late,
    innodb_analyze_late,
    never_analyzed,
    vacuum_late,
)
from auditor.model import Finding, Severity, Snapshot, Table
from auditor.posture import hit_ratios
from auditor.relations import reference_candidates
from auditor.textfmt import duration

SEVERITY_WEIGHT = {Severity.ERROR: 10.0, Severity.WARNING: 3.0, Severity.INFO: 0.5}
SEVERITY_CAP = {Severity.ERROR: 25.0, Severity.WARNING: 10.0, Severity.INFO: 2.0}
FAILED_METRIC_PENALTY = 5.0
WRAPAROUND = 2**31  # transaction ids and multixacts wrap around at 2^31
GRADES = ((90, "A"), (80, "B"), (70, "C"), (60, "D"))


@dataclass(frozen=True)
class Targets:
    """The quality targets (DESIGN.md, "Quality metrics"); ``[tool.dbaudit.targets]`` overrides them."""

    index_coverage_pct: float = 90.0  # at least
    p95_ms: float = 100.0  # below
    p99_ms: float = 500.0  # below
    schema_completeness_pct: float = 95.0  # at least
    normalization_pct: float = 100.0  # at least
    unused_indexes: int = 0  # at most
    large_table_rows: int = 10_000  # a table this large must be reached through an index (index coverage)
    cache_hit_ratio_pct: float = 99.0  # at least (PgHero's cache_hit_rate_threshold)
    cache_hit_min_blocks: int = 100_000  # block requests before the ratio is judged
    # at least this share of the 2^31 transaction ids (and multixacts) left before wraparound: check_postgres'
    # txn_wraparound warns at an age of 1.3 billion, 39.5 % left
    xid_headroom_pct: float = 40.0
    # at least this share of the tables with rows kept up with by autovacuum (neither MT06's dead rows nor
    # MT08's stale statistics)
    vacuumed_on_time_pct: float = 95.0
    # a metric computed from a part of its objects (sampled tables, explained statements' calls) is reported
    # only when that part reaches this share; below it the metric is "not measured", never a pass
    min_measured_pct: float = 50.0


@dataclass(frozen=True)
class Part:
    """One sub-figure of a metric (schema completeness shows its parts)."""

    label: str
    value: float | None  # None: not applicable (say why in detail)
    detail: str = ""
    counted: bool = True  # False: shown for information, not part of the metric's value


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
    parts: tuple[Part, ...] = ()
    # what the value was computed from when it covers only part of the objects: "18 of 20 tables",
    # "24 of 26 statements (95.1 % of their calls)"; None when it covers them all
    measured: str | None = None


@dataclass(frozen=True)
class Score:
    value: int | None  # None: not graded (``reason`` says why)
    grade: str  # A-F, or NOT_GRADED
    formula: str = (
        "100 - sum over checks and severities of min(cap, weight x count) - 5 x failed metrics; "
        "weight/cap: error 10/25, warning 3/10, info 0.5/2"
    )
    reason: str | None = None

    @property
    def graded(self) -> bool:
        return self.value is not None

    def label(self) -> str:
        """'71/100, grade C', or 'not graded (why)'."""
        if self.value is None:
            return f"{NOT_GRADED} ({self.reason})" if self.reason else NOT_GRADED
        return f"{self.value}/100, grade {self.grade}"


NOT_GRADED = "not graded"


def compute_metrics(snapshot: Snapshot, findings: Iterable[Finding], targets: Targets | None = None,
                    checks_run: Iterable[str] | None = None,
                    check_options: Mapping[str, Any] | None = None) -> tuple[Metric, ...]:
    """The quality metrics. ``checks_run`` (codes) lets a metric built on findings say it was not measured when
    none of its checks ran (``--select IX`` does not judge normalization); None: every check ran.
    ``check_options``: the options the checks ran with, by code (the defaults for the others): a metric built on
    a check's findings judges by the same marks (IX01's ``min_stats_age_days``)."""
    targets = targets or Targets()
    findings = list(findings)
    tables = audited_tables(snapshot)
    ran = None if checks_run is None else frozenset(checks_run)
    ix01 = (check_options or {}).get("IX01")
    if ix01 is None and "IX01" in REGISTRY:
        ix01 = REGISTRY["IX01"].options()
    min_age_days: float | None = getattr(ix01, "min_stats_age_days", None)
    metrics: list[Metric] = [*_unused_metrics(snapshot, findings, targets, ran, min_age_days),
                             _completeness_metric(snapshot, tables, targets)]
    metrics.extend(_workload_metrics(snapshot, targets))
    metrics.append(_normalization_metric(snapshot, tables, findings, targets, ran))
    metrics.append(_cache_metric(snapshot, targets))
    metrics.append(_xid_headroom_metric(snapshot, targets))
    metrics.append(_on_time_metric(snapshot, targets))
    return tuple(metrics)


def compute_score(metrics: Iterable[Metric], findings: Iterable[Finding], not_graded: str | None = None) -> Score:
    """The health score; ``not_graded``: why there is none (an audit of nothing, a partial scan): a score of
    100 for a database nobody looked at would read as a pass."""
    if not_graded is not None:
        return Score(value=None, grade=NOT_GRADED, reason=not_graded)
    penalty = sum(p for _, _, _, p in penalties(findings))
    failed = Counter(m.passed for m in metrics)[False]
    value = int(round(max(0.0, min(100.0, 100.0 - penalty - FAILED_METRIC_PENALTY * failed))))
    return Score(value=value, grade=grade_for(value))


def penalties(findings: Iterable[Finding]) -> list[tuple[str, Severity, int, float]]:
    """(check code, severity, findings, points lost) per check and severity, largest loss first."""
    counts: dict[tuple[str, Severity], int] = defaultdict(int)
    for f in findings:
        counts[(f.code, f.severity)] += 1
    out = [
        (code, sev, n, min(SEVERITY_CAP[sev], SEVERITY_WEIGHT[sev] * n)) for (code, sev), n in counts.items()
    ]
    return sorted(out, key=lambda row: (-row[3], row[0], -row[1].rank))


def grade_for(value: int) -> str:
    for threshold, grade in GRADES:
        if value >= threshold:
            return grade
    return "F"


def audited_tables(snapshot: Snapshot) -> list[Table]:
    """Ordinary and partitioned tables; partitions are judged through their parent."""
    return [t for t in snapshot.tables if t.kind in ("table", "partitioned") and not t.is_partition]


# ------------------------------------------------------------------------------------------------------------
# Unused indexes
# ------------------------------------------------------------------------------------------------------------


def unused_candidate_reason(finding: Finding) -> str | None:
    """Why an IX01 finding is a candidate to watch rather than an index to drop; None: drop it.

    An info-level IX01 comes from statistics younger than the check's evidence window ("too early to judge"),
    and one without a drop statement is an index the tool itself says to keep (the only index covering a
    foreign key, or one attached to its partitioned table's index).
    """
    if finding.code != "IX01":
        return None
    if finding.severity == Severity.INFO and finding.details.get("young_table_window"):
        return "too early to judge"  # MySQL/MariaDB: no drop statement while the index may be that young
    if not finding.remediation:
        return "kept"
    if finding.severity == Severity.INFO:
        return "too early to judge"
    return None


def _too_young(snapshot: Snapshot, findings: list[Finding], min_age_days: float) -> str | None:
    """Why no index can be called unused yet: the usage statistics (and the stored runs of ``--history``)
    cover less than IX01's ``min_stats_age_days``; its findings are then candidates (info), and "0, pass" or a
    count would contradict them. None: old enough."""
    age = snapshot.stats_age_seconds()
    history = snapshot.run_history
    if (age is not None and age >= min_age_days * 86_400) or (
            history is not None and history.window_days >= min_age_days):
        return None
    covered = "of unknown age" if age is None else f"cover {duration(age)}"
    reason = (f"too early to judge: the index usage statistics {covered}, less than the {min_age_days:g} days "
              "IX01 (unused-index) needs to call an index unused (its min_stats_age_days)")
    reasons = [unused_candidate_reason(f) for f in findings if f.code == "IX01"]
    candidates, kept = reasons.count("too early to judge"), reasons.count("kept")
    if candidates:
        reason += (f"; {candidates} candidate{'s' if candidates != 1 else ''} reported as info "
                   "(their drop statements are for review, not yet advice)")
    if kept:  # the other IX01 findings beside them: indexes the check itself says to keep
        reason += (f"{'; and' if candidates else ';'} {kept} index{'es' if kept != 1 else ''} to keep "
                   "(reported without a drop statement)")
    return reason


def _unused_metrics(snapshot: Snapshot, findings: list[Finding], targets: Targets,
                    ran: frozenset[str] | None, min_age_days: float | None = None) -> list[Metric]:
    target = f"<= {targets.unused_indexes}" if targets.unused_indexes else "0"
    reason: str | None = None
    if ran is not None and "IX01" not in ran:
        # no finding because nothing looked: "0, pass" would be a claim the run never tested
        reason = "IX01 (unused-index) did not run (not selected, ignored or skipped)"
    elif snapshot.indexes and all(ix.scans is None for ix in snapshot.indexes):
        reason = ("no index usage figures were collected (statistics not readable: "
                  "performance_schema off or no privilege on it, or no access to the statistics views)")
    elif min_age_days is not None:
        reason = _too_young(snapshot, findings, min_age_days)
    if reason is not None:
        return [
            Metric(key="unused_indexes", label="Unused indexes", value=None, unit="indexes", target=target,
                   reason=reason),
            Metric(key="unused_index_bytes", label="Unused index size", value=None, unit="bytes", target="0",
                   reason=reason),
        ]
    reported = [f for f in findings if f.code == "IX01"]
    unused = [f for f in reported if unused_candidate_reason(f) is None]
    unused_bytes = sum(int(f.details.get("index_bytes") or 0) for f in unused)
    method = "IX01 findings of warning or error severity with a drop statement: indexes with no scans since " \
             "the statistics were reset"
    kinds = Counter(unused_candidate_reason(f) for f in reported if unused_candidate_reason(f) is not None)
    if kinds:
        n = sum(kinds.values())
        why = []
        if kinds["too early to judge"]:
            why.append(f"{kinds['too early to judge']} too early to judge (statistics younger than IX01's "
                       "evidence window, reported as info)")
        if kinds["kept"]:
            why.append(f"{kinds['kept']} to keep (the only index covering a foreign key, or attached to its "
                       "partitioned table's index)")
        method += f"; {n} more candidate{'s' if n != 1 else ''}, not counted: " + ", ".join(why)
    return [
        Metric(
            key="unused_indexes", label="Unused indexes", value=len(unused), unit="indexes", target=target,
            passed=len(unused) <= targets.unused_indexes, method=method,
        ),
        Metric(
            key="unused_index_bytes", label="Unused index size", value=unused_bytes, unit="bytes", target="0",
            passed=None,  # judged through unused_indexes; not penalised twice
            method="sum of the sizes of the counted IX01 indexes",
        ),
    ]


# ------------------------------------------------------------------------------------------------------------
# Schema completeness
# ------------------------------------------------------------------------------------------------------------

def _share(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1)


def _completeness_metric(snapshot: Snapshot, tables: list[Table], targets: Targets) -> Metric:
    label, target = "Schema completeness", f">= {targets.schema_completeness_pct:g} %"
    if not tables:
        return Metric(key="schema_completeness_pct", label=label, value=None, unit="%", target=target,
                      reason="no tables in the audited schemas")
    parts: list[Part] = []

    with_pk = sum(1 for t in tables if snapshot.constraints_of(t.schema, t.name, "primary_key"))
    parts.append(Part("Tables with a primary key", _share(with_pk, len(tables)), f"{with_pk}/{len(tables)}"))

    # A foreign key counts for its own table. A partitioned table may declare its keys on each partition instead
    # (pagila's payment does): a partition's key counts for its partitioned ancestors too. An inheritance child
    # is a table of its own (jOOQ's sakila payment_p2007_01...): its keys count for it, never for its parent.
    fk_columns: set[tuple[str, str, str]] = set()
    for c in snapshot.foreign_keys():
        owners = [c.table_key]
        table = snapshot.table(*c.table_key)
        while table is not None and table.is_partition and (parent := snapshot.parent_of(table)) is not None:
            owners.append(parent.key)
            table = parent
        fk_columns.update((schema, name, col) for schema, name in owners for col in c.columns)
    candidates = reference_candidates(snapshot, tables)
    if candidates:
        declared = sum(1 for t, col, _ in candidates if (t.schema, t.name, col) in fk_columns)
        parts.append(Part("Reference columns declared as foreign keys", _share(declared, len(candidates)),
                          f"{declared}/{len(candidates)} columns named after another table (x_id -> x/xs)"))
    else:
        parts.append(Part("Reference columns declared as foreign keys", None,
                          "no column is named after another table (x_id -> x/xs)"))

    def constrained(t: Table) -> bool:
        pk_cols = {col for c in snapshot.constraints_of(t.schema, t.name, "primary_key") for col in c.columns}
        if any(not col.nullable and col.name not in pk_cols for col in t.columns):
            return True
        return any(c.type in ("unique", "check", "foreign_key", "exclusion")
                   for c in snapshot.constraints_of(t.schema, t.name))

    with_constraints = sum(1 for t in tables if constrained(t))
    parts.append(Part("Tables with constraints beyond the key", _share(with_constraints, len(tables)),
                      f"{with_constraints}/{len(tables)} declare NOT NULL on a non-key column, a CHECK, UNIQUE "
                      "or FOREIGN KEY"))

    commented = sum(1 for t in tables if t.comment)
    parts.append(Part("Tables with a comment", _share(commented, len(tables)), f"{commented}/{len(tables)}",
                      counted=False))

    counted = [p.value for p in parts if p.counted and p.value is not None]
    value = round(sum(counted) / len(counted), 1)
    return Metric(
        key="schema_completeness_pct", label=label, value=value, unit="%", target=target,
        passed=value >= targets.schema_completeness_pct,
        method="mean of: " + "; ".join(f"{p.label.lower()} {p.detail}" for p in parts if p.counted
                                       and p.value is not None)
        + f" (comments, shown apart, are not counted: {commented}/{len(tables)} tables have one)",
        parts=tuple(parts),
    )


# ------------------------------------------------------------------------------------------------------------
# Workload and normalization
# ------------------------------------------------------------------------------------------------------------


def _workload_metrics(snapshot: Snapshot, targets: Targets) -> list[Metric]:
    from auditor.workload import index_coverage, workload_percentiles
    from auditor.workload_loss import digests_full

    out: list[Metric] = []
    large = targets.large_table_rows
    full = digests_full(snapshot)
    if full is not None:
        # the recent workload is missing: a figure over what the table kept is not the workload's, never a pass
        out.append(Metric(key="index_coverage_pct", label="Workload index coverage", value=None, unit="%",
                          target=f">= {targets.index_coverage_pct:g} %", reason=full))
        for key, label, limit in (("p50_ms", "P50 latency", None), ("p95_ms", "P95 latency", targets.p95_ms),
                                  ("p99_ms", "P99 latency", targets.p99_ms)):
            out.append(Metric(key=key, label=label, value=None, unit="ms",
                              target=f"< {limit:g} ms" if limit is not None else "", reason=full))
        return out
    pct, how = index_coverage(snapshot, large)
    plans = "generic plan" if snapshot.engine == "postgresql" else "EXPLAIN plan"
    measured = explained_share(snapshot)
    of: str | None = None
    if pct is not None and measured is not None:
        explained, candidates, calls_pct = measured
        of = f"{explained} of {candidates} statements ({calls_pct:g} % of their calls)"
        if calls_pct < targets.min_measured_pct:
            pct, how = None, (f"only {of} could be explained, below the {targets.min_measured_pct:g} % a "
                              f"figure needs; not explained: {_not_explained(snapshot)}")
        elif explained == candidates:
            of = None
    out.append(
        Metric(
            key="index_coverage_pct", label="Workload index coverage", value=pct, unit="%",
            target=f">= {targets.index_coverage_pct:g} %",
            passed=None if pct is None else pct >= targets.index_coverage_pct,
            method=f"calls-weighted share of explained statements whose {plans} reaches every table of "
            f">= {large} rows through an index; {how}" if pct is not None else "",
            reason=None if pct is not None else how,
            measured=of,
        )
    )
    lat = workload_percentiles(snapshot)
    for key, label, value, limit in (
        ("p50_ms", "P50 latency", lat.p50_ms, None),
        ("p95_ms", "P95 latency", lat.p95_ms, targets.p95_ms),
        ("p99_ms", "P99 latency", lat.p99_ms, targets.p99_ms),
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


def explained_share(snapshot: Snapshot) -> tuple[int, int, float] | None:
    """(explained, candidates, % of the candidates' calls explained) over the top-level statements dbaudit tried
    or meant to explain; statements that have no plan by nature (utility statements: SET, BEGIN, DDL) are not
    candidates. None when no statement is a candidate."""
    from auditor.workload import application_statements, plans_by_queryid, unexplainable_by_nature

    plans = plans_by_queryid(snapshot)
    explained = candidates = explained_calls = candidate_calls = 0
    for stmt in application_statements(snapshot):
        plan = plans.get(stmt.queryid)
        if plan is None or not stmt.toplevel or (not plan.explained and unexplainable_by_nature(plan.reason)):
            continue
        candidates += 1
        candidate_calls += stmt.calls
        if plan.explained:
            explained += 1
            explained_calls += stmt.calls
    if candidates == 0:
        return None
    share = 100.0 * explained_calls / candidate_calls if candidate_calls else 100.0 * explained / candidates
    return explained, candidates, round(share, 1)


def _not_explained(snapshot: Snapshot) -> str:
    reasons = dict(snapshot.workload.not_explained) if snapshot.workload is not None else {}
    top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return "; ".join(f"{n}: {reason}" for reason, n in top) or "see the workload notes"


def _normalization_metric(snapshot: Snapshot, tables: list[Table], findings: list[Finding],
                          targets: Targets, ran: frozenset[str] | None = None) -> Metric:
    label = "Tables in 3NF"
    target = "100 %" if targets.normalization_pct >= 100 else f">= {targets.normalization_pct:g} %"
    if ran is not None and not any(code.startswith("NF") for code in ran):
        # no finding because nothing looked: "100 % pass" would be a claim the run never tested
        return Metric(key="normalization_pct", label=label, value=None, unit="%", target=target,
                      reason="no normalization check (NF01-NF04) ran")
    if not tables:
        return Metric(key="normalization_pct", label=label, value=None, unit="%", target=target,
                      reason="no tables in the audited schemas")
    from auditor.sampling import describe_skips, sampling_gap, skipped_tables

    gap = sampling_gap(snapshot.sampling, snapshot.notes)
    if gap is not None or snapshot.sampling is None or not snapshot.sampling.tables:
        why = gap[0] if gap is not None else "no table was sampled"
        return Metric(key="normalization_pct", label=label, value=None, unit="%", target=target,
                      reason=f"{why}, so 2NF/3NF cannot be judged")
    nf = [f for f in findings if f.code.startswith("NF")]
    # info-level NF findings are design notes (an array column read as a whole), not violations
    audited = {t.key for t in tables}
    flagged = {(f.object.schema or "", f.object.table or "") for f in nf if f.severity != Severity.INFO} & audited
    notes = {(f.object.schema, f.object.table) for f in nf if f.severity == Severity.INFO} - flagged
    # a table counts when its data was sampled (NF02-NF04 judged it) or a finding already says it is not in
    # 3NF; a table nobody sampled is neither clean nor flagged, and stays out of the share
    judged = {t.key for t in snapshot.sampling.tables if t.skipped_reason is None and t.rows > 0}
    measured = (judged & audited) | flagged
    of = f"{len(measured)} of {len(audited)} tables"
    share = 100.0 * len(measured) / len(audited)
    if share < targets.min_measured_pct:
        skips = skipped_tables(snapshot.sampling)
        why = f"; not judged: {describe_skips(skips)}" if skips else ""
        return Metric(key="normalization_pct", label=label, value=None, unit="%", target=target,
                      reason=f"only {of} could be judged ({share:.0f} %, below the {targets.min_measured_pct:g} % "
                             f"a figure needs){why}", measured=of)
    clean = len(measured - flagged)
    pct = _share(clean, len(measured))
    method = (f"share of the tables measured ({of}: sampled, or flagged by a finding) with no NF01-NF04 "
              f"finding of warning or error severity ({clean}/{len(measured)}); dependencies judged on sampled "
              "data")
    if notes:
        method += f"; {len(notes)} more with an info-level design note, not counted"
    return Metric(key="normalization_pct", label=label, value=pct, unit="%", target=target,
                  passed=pct >= targets.normalization_pct, method=method,
                  measured=of if len(measured) < len(audited) else None)


# ------------------------------------------------------------------------------------------------------------
# Cache hit ratio
# ------------------------------------------------------------------------------------------------------------


def _cache_metric(snapshot: Snapshot, targets: Targets) -> Metric:
    """The lowest of the cache hit ratios the server's counters give (PgHero passes a database only when both
    its table and its index ratio meet the target), once there were enough requests to judge."""
    label, target = "Cache hit ratio", f">= {targets.cache_hit_ratio_pct:g} %"
    ratios = hit_ratios(snapshot.engine, snapshot.posture)
    if not ratios:
        why = ("the buffer counters were not read (pg_statio_user_tables / _indexes)" if snapshot.engine ==
               "postgresql" else "the InnoDB buffer pool counters were not read (SHOW GLOBAL STATUS)")
        return Metric(key="cache_hit_ratio_pct", label=label, value=None, unit="%", target=target, reason=why)
    judged = [r for r in ratios if r.requests >= targets.cache_hit_min_blocks]
    shown = "; ".join(f"{r.kind}: {r.hits:,} of {r.requests:,} requests served from the cache"
                      + (f" ({100.0 * r.hits / r.requests:.2f} %)" if r.requests else "") for r in ratios)
    if not judged:
        return Metric(key="cache_hit_ratio_pct", label=label, value=None, unit="%", target=target,
                      reason=f"fewer than {targets.cache_hit_min_blocks:,} block requests since the statistics "
                             f"were reset or the server started ({shown}): too few to judge")
    worst = min(judged, key=lambda r: (r.pct or 0.0))
    value = round(worst.pct or 0.0, 2)
    source = ("block requests of the audited tables' heap and indexes served from shared buffers "
              "(pg_statio_user_tables / _indexes)" if snapshot.engine == "postgresql"
              else "InnoDB page requests served by the buffer pool (1 - Innodb_buffer_pool_reads / "
                   "Innodb_buffer_pool_read_requests)")
    return Metric(key="cache_hit_ratio_pct", label=label, value=value, unit="%", target=target,
                  passed=value >= targets.cache_hit_ratio_pct,
                  method=f"the lowest ratio of {source}, since the statistics were reset or the server started; "
                         f"{shown}")


# ------------------------------------------------------------------------------------------------------------
# XID headroom and tables vacuumed / analyzed on time
# ------------------------------------------------------------------------------------------------------------


def _xid_headroom_metric(snapshot: Snapshot, targets: Targets) -> Metric:
    """What is left of the 2^31 transaction ids and multixacts before wraparound, for the server's oldest
    database (its datfrozenxid / datminmxid): the lower of the two."""
    label, target = "XID headroom", f">= {targets.xid_headroom_pct:g} %"
    if snapshot.engine != "postgresql":
        return Metric(key="xid_headroom_pct", label=label, value=None, unit="%", target=target,
                      reason="MySQL/MariaDB transaction ids do not wrap around")
    databases = snapshot.maintenance.databases if snapshot.maintenance is not None else None
    if not databases:
        return Metric(key="xid_headroom_pct", label=label, value=None, unit="%", target=target,
                      reason="the databases' freeze ages (pg_database) were not read")
    oldest_xid = max(databases, key=lambda d: d.xid_age)
    oldest_mxid = max(databases, key=lambda d: d.mxid_age)
    xid_left = 100.0 * (WRAPAROUND - oldest_xid.xid_age) / WRAPAROUND
    mxid_left = 100.0 * (WRAPAROUND - oldest_mxid.mxid_age) / WRAPAROUND
    value = round(min(xid_left, mxid_left), 2)
    parts = (
        Part("transaction ids", round(xid_left, 2),
             f"oldest: database {oldest_xid.name}, age(datfrozenxid) {oldest_xid.xid_age:,}"),
        Part("multixacts", round(mxid_left, 2),
             f"oldest: database {oldest_mxid.name}, mxid_age(datminmxid) {oldest_mxid.mxid_age:,}"),
    )
    return Metric(key="xid_headroom_pct", label=label, value=value, unit="%", target=target,
                  passed=value >= targets.xid_headroom_pct, parts=parts,
                  method="the share of the 2^31 transaction ids (and multixacts) not yet used since the oldest "
                         "unfrozen one of the server's oldest database (age(datfrozenxid), "
                         "mxid_age(datminmxid) in pg_database), the lower of the two; MT01/MT02 name the tables")


def _on_time_metric(snapshot: Snapshot, targets: Targets) -> Metric:
    """The share of the tables with rows that autovacuum (InnoDB's statistics recalculation) keeps up with."""
    label, target = "Tables vacuumed and analyzed on time", f">= {targets.vacuumed_on_time_pct:g} %"

    def unmeasured(reason: str) -> Metric:
        return Metric(key="vacuumed_on_time_pct", label=label, value=None, unit="%", target=target, reason=reason)

    if snapshot.engine == "postgresql":
        posture = snapshot.posture
        if posture is None or posture.setting("autovacuum_vacuum_threshold") is None:
            return unmeasured("the autovacuum settings (pg_settings) were not read")
        hidden = {o for n in snapshot.notes if n.area == "privileges" for o in n.objects}
        tables = [t for t in snapshot.tables if t.kind in ("table", "materialized_view")
                  and (t.stats.n_live_tup or 0) + (t.stats.n_dead_tup or 0) + max(t.estimated_rows or 0, 0) > 0]
        if not tables:
            return unmeasured("no table with rows in the audited schemas")
        vacuum = [t for t in tables if vacuum_late(snapshot, t) is not None]
        analyze = [t for t in tables if never_analyzed(t, t.qualified in hidden)
                   or analyze_late(snapshot, t) is not None]
        late = {t.key for t in vacuum} | {t.key for t in analyze}
        value = round(_share(len(tables) - len(late), len(tables)), 1)
        return Metric(
            key="vacuumed_on_time_pct", label=label, value=value, unit="%", target=target,
            passed=value >= targets.vacuumed_on_time_pct,
            parts=(Part("vacuumed on time", round(_share(len(tables) - len(vacuum), len(tables)), 1),
                        f"{len(vacuum)} of {len(tables)} with dead rows past their trigger (MT06)"),
                   Part("analyzed on time", round(_share(len(tables) - len(analyze), len(tables)), 1),
                        f"{len(analyze)} of {len(tables)} never analyzed or past their analyze trigger (MT08)")),
            method=f"{len(tables) - len(late)} of {len(tables)} tables with rows (partitions included) have "
                   "neither dead rows past their autovacuum trigger (at least 10 % and 10,000 of them, MT06) nor "
                   "stale statistics (never analyzed, or modified past twice the analyze trigger, MT08), the "
                   "tables' own storage parameters first")
    maintenance = snapshot.maintenance
    if maintenance is None or not maintenance.innodb_counters:
        note = next((n for n in snapshot.notes if n.area == INNODB_STATS_AREA), None)
        return unmeasured(note.message if note is not None else "InnoDB's statistics counters were not read")
    innodb = [t for t in snapshot.tables if t.kind == "table" and (t.engine or "").lower() == "innodb"]
    counted = [(t, s) for t in innodb if (s := maintenance.innodb_of(t.schema, t.name)) is not None
               and s.modified is not None and s.stats_rows is not None]
    if not counted:
        return unmeasured("InnoDB has opened none of the audited tables since the server started: no counters")
    measured = f"{len(counted)} of {len(innodb)} InnoDB tables"
    if _share(len(counted), len(innodb)) < targets.min_measured_pct:
        return Metric(key="vacuumed_on_time_pct", label=label, value=None, unit="%", target=target,
                      reason=f"InnoDB has counters for only {measured} (the others were not opened since the "
                             f"server started), below {targets.min_measured_pct:g} %", measured=measured)
    late_rows = [t for t, s in counted if innodb_analyze_late(s) is not None]
    value = round(_share(len(counted) - len(late_rows), len(counted)), 1)
    return Metric(
        key="vacuumed_on_time_pct", label=label, value=value, unit="%", target=target,
        passed=value >= targets.vacuumed_on_time_pct,
        measured=None if len(counted) == len(innodb) else measured,
        method=f"{len(counted) - len(late_rows)} of {len(counted)} InnoDB tables have no more rows modified since "
               "their statistics were computed than twice InnoDB's 10 % recalculation point (MT08); InnoDB purges "
               "old row versions by itself, so only the statistics are judged")
