"""Quality metrics and the health score.

Each metric carries its target, its value, pass/fail and how it was measured; a metric that could not be measured
has ``value = None`` and says why in ``reason`` instead of showing 0. The targets come from :class:`Targets`
(``[tool.dbaudit.targets]`` in the configuration).

The health score (0-100) is documented in docs/scoring.md:

    penalty(check, severity) = min(cap(severity), weight(severity) x findings of that check at that severity)
    score = 100 - sum of the penalties - 5 x failed metrics
            - cap(its default severity) per check not measured - 5 x metrics not measured, clamped to 0..100
    weights: error 10, warning 3, info 0.5; caps: error 25, warning 10, info 2.
    grade: A >= 90, B >= 80, C >= 70, D >= 60, else F.

A check that applies to the engine but was skipped because dbaudit could not read what it needs (a privilege, an
extension, a setting, a failed query) and a metric left unmeasured for the same kind of reason count at their
worst, so the score is a lower bound that never rises because less could be seen; ``Score.upper`` is what it
would be had they all been clean. What the user chose not to audit (``--select``/``--ignore``,
``--no-workload``, ``--no-sample``, no ``--history``) and what does not apply to the engine cost nothing.

The per-check cap makes the score count kinds of problems rather than objects: one systemic habit (every foreign
key of a 500-table schema without its index) costs as much as it does in a 10-table schema, and does not hide
every other signal.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.engine import NOT_NEEDED, load_checks
from auditor.engine import check_options as options_of
from auditor.maintenance import (
    INNODB_STATS_AREA,
    analyze_late,
    innodb_analyze_late,
    never_analyzed,
    vacuum_late,
)
from auditor.model import Finding, Severity, Skipped, Snapshot, Table
from auditor.posture import hit_ratios
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
    # unmeasured because what it needs could not be read (a privilege, an extension, a setting the user can
    # change), not because it does not apply: the score counts it as failed
    unread: bool = False

    @property
    def status(self) -> str:
        """The verdict every format prints: "pass", "FAIL", "not measured", "partial" (a value over part of the
        objects that can neither meet nor miss the target; ``reason`` says why), or "" (no target)."""
        if self.value is None:
            return NOT_MEASURED
        if self.passed is None:
            return PARTIAL if self.measured is not None and self.reason is not None else ""
        return "pass" if self.passed else "FAIL"


@dataclass(frozen=True)
class Score:
    value: int | None  # None: not graded (``reason`` says why)
    grade: str  # A-F, or NOT_GRADED
    formula: str = (
        "100 - sum over checks and severities of min(cap, weight x count) - 5 x failed metrics - cap per check "
        "not measured - 5 x metrics not measured; weight/cap: error 10/25, warning 3/10, info 0.5/2"
    )
    reason: str | None = None
    # the score had every check and metric not measured (``not_measured``) been clean; None when everything
    # that applies was measured (``value`` is then the score itself, not a lower bound)
    upper: int | None = None
    not_measured: tuple[str, ...] = ()  # check codes and metric keys counted at their worst

    @property
    def graded(self) -> bool:
        return self.value is not None

    def label(self) -> str:
        """'71/100, grade C', '40/100, grade F (at least: ...)', or 'not graded (why)'."""
        if self.value is None:
            return f"{NOT_GRADED} ({self.reason})" if self.reason else NOT_GRADED
        if self.upper is None:
            return f"{self.value}/100, grade {self.grade}"
        return f"{self.value}/100, grade {self.grade} (at least; {self.coverage()})"

    def coverage(self) -> str:
        """'2 checks and 1 metric not measured count as failed: up to 63 had they been clean'."""
        metrics = sum(1 for name in self.not_measured if not CHECK_CODE.match(name))
        checks = len(self.not_measured) - metrics
        parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((checks, "check"), (metrics, "metric")) if n]
        return (f"{' and '.join(parts)} not measured count as failed: up to {self.upper} had "
                f"{'it' if len(self.not_measured) == 1 else 'they'} been clean")


NOT_GRADED = "not graded"
NOT_MEASURED = "not measured"
PARTIAL = "partial"
CHECK_CODE = re.compile(r"^[A-Z]{2}\d{2}$")
# skip reasons of what the user chose not to audit (auditor.engine, auditor.sampling) and of CP03 waiting for its
# recorded runs (checks.growth: no --history, or not yet a day of runs): out of scope, not a blind spot
USER_CHOICES = ("(--no-workload)", "(--no-sample)", NOT_NEEDED, "growth needs ")


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
    ix01 = options_of("IX01", (check_options or {}).get("IX01"))
    min_age_days: float | None = getattr(ix01, "min_stats_age_days", None)
    metrics: list[Metric] = [*_unused_metrics(snapshot, findings, targets, ran, min_age_days),
                             _completeness_metric(snapshot, tables, targets)]
    metrics.extend(_workload_metrics(snapshot, targets))
    metrics.append(_normalization_metric(snapshot, tables, findings, targets, ran))
    metrics.append(_cache_metric(snapshot, targets))
    metrics.append(_xid_headroom_metric(snapshot, targets))
    metrics.append(_on_time_metric(snapshot, targets))
    return tuple(_marked_unread(snapshot, m) for m in metrics)


# the workload probe's states in which the statement statistics could not be read (auditor.model.WorkloadInfo);
# "off" (--no-workload) and "not_collected" (no selected check needs it) are the user's choice
UNREAD_WORKLOAD = frozenset({"not_installed", "not_loaded", "no_privilege", "error"})
WORKLOAD_METRICS = frozenset({"index_coverage_pct", "p95_ms", "p99_ms"})


def _marked_unread(snapshot: Snapshot, metric: Metric) -> Metric:
    """``metric`` marked ``unread`` when it has a target and the statement statistics it is built on could not
    be read (the other metrics mark themselves where they find their inputs missing)."""
    workload = snapshot.workload
    if (metric.key in WORKLOAD_METRICS and metric.value is None and workload is not None
            and workload.status in UNREAD_WORKLOAD):
        return dataclasses.replace(metric, unread=True)
    return metric


def compute_score(metrics: Iterable[Metric], findings: Iterable[Finding], not_graded: str | None = None,
                  skipped: Iterable[Skipped] = (), engine: str = "") -> Score:
    """The health score; ``not_graded``: why there is none (an audit of nothing, a partial scan): a score of
    100 for a database nobody looked at would read as a pass. ``skipped``: the run's skipped checks on an
    ``engine`` server; those that apply but could not run (:func:`not_measured`) and the metrics that could not
    be read (``Metric.unread``) count at their worst, so that an audit role that sees less never gets the better
    score."""
    if not_graded is not None:
        return Score(value=None, grade=NOT_GRADED, reason=not_graded)
    metrics = list(metrics)
    penalty = sum(p for _, _, _, p in penalties(findings))
    failed = Counter(m.passed for m in metrics)[False]
    measured = 100.0 - penalty - FAILED_METRIC_PENALTY * failed
    checks = not_measured(skipped, engine)
    # a partial metric (over part of its tables or calls, the target neither met nor missed) is, for the score,
    # a verdict not measured: at its worst in the lower bound, or a lock on one table would lift the score
    unread = [m.key for m in metrics if m.unread or m.status == PARTIAL]
    registry = load_checks()
    worst = sum(SEVERITY_CAP[registry[s.code].severity] for s in checks)  # not_measured keeps registered ones
    worst += FAILED_METRIC_PENALTY * len(unread)
    value = _clamp(measured - worst)
    if not checks and not unread:
        return Score(value=value, grade=grade_for(value))
    return Score(value=value, grade=grade_for(value), upper=_clamp(measured),
                 not_measured=(*(s.code for s in checks), *unread))


def _clamp(score: float) -> int:
    return int(round(max(0.0, min(100.0, score))))


def not_measured(skipped: Iterable[Skipped], engine: str) -> list[Skipped]:
    """The skipped checks that are blind spots: every check skipped on an ``engine`` server (what it needs could
    not be read: a privilege, an extension, a setting, a failed query, ``--timeout``), except those that do not
    apply to the engine (their decorator says so) and those the user left out (:data:`USER_CHOICES`)."""
    registry = load_checks()

    def applies(code: str) -> bool:
        spec = registry.get(code)
        return spec is not None and engine in spec.engines and engine not in spec.not_applicable

    return [s for s in skipped if applies(s.code) and not any(choice in s.reason for choice in USER_CHOICES)]


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
    unread = False
    if ran is not None and "IX01" not in ran:
        # no finding because nothing looked: "0, pass" would be a claim the run never tested
        reason = "IX01 (unused-index) did not run (not selected, ignored or skipped)"
    elif snapshot.indexes and all(ix.scans is None for ix in snapshot.indexes):
        reason = ("no index usage figures were collected (statistics not readable: "
                  "performance_schema off or no privilege on it, or no access to the statistics views)")
        unread = True
    elif min_age_days is not None:
        reason = _too_young(snapshot, findings, min_age_days)
    if reason is not None:
        return [
            Metric(key="unused_indexes", label="Unused indexes", value=None, unit="indexes", target=target,
                   reason=reason, unread=unread),
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
    from auditor.relations import reference_candidates  # pglast: not imported before a scan connects

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
    # a table a lock kept out of the catalog has keys and constraints nobody read: the value covers the rest,
    # and is bounded over all of them as if each unread table scored 0 or 100 %
    locked = len(set(locked_relations(snapshot)))
    of = f"{len(tables)} of {len(tables) + locked} tables (not read: {locked} locked by another session while " \
         "the catalog was read)" if locked else None
    passed: bool | None = value >= targets.schema_completeness_pct
    reason = None
    if locked:
        passed, reason = _partial_verdict(value * len(tables) / 100.0, len(tables), len(tables) + locked,
                                          targets.schema_completeness_pct, target)
    return Metric(
        key="schema_completeness_pct", label=label, value=value, unit="%", target=target,
        passed=passed, reason=reason, measured=of,
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
    passed: bool | None = None if pct is None else pct >= targets.index_coverage_pct
    undecided: str | None = None
    if pct is not None and measured is not None:
        explained, candidates, calls_pct = measured
        of = f"{explained} of {candidates} statements ({calls_pct:g} % of their calls)"
        if calls_pct < targets.min_measured_pct:
            pct, passed, how = None, None, (f"only {of} could be explained, below the {targets.min_measured_pct:g} "
                                            f"% a figure needs; not explained: {_not_explained(snapshot)}")
        elif explained == candidates:
            of = None
        else:
            # the calls not explained may be covered or not: the workload's share lies between these bounds
            low = pct * calls_pct / 100.0
            high = low + 100.0 - calls_pct
            passed = True if low >= targets.index_coverage_pct else False if high < targets.index_coverage_pct \
                else None
            if passed is None:
                undecided = (f"over all the calls the share lies between {low:.1f} % and {high:.1f} %, so the target "
                             f"(>= {targets.index_coverage_pct:g} %) is neither met nor missed; not explained: "
                             f"{_not_explained(snapshot)}")
    out.append(
        Metric(
            key="index_coverage_pct", label="Workload index coverage", value=pct, unit="%",
            target=f">= {targets.index_coverage_pct:g} %",
            passed=passed,
            method=f"calls-weighted share of explained statements whose {plans} reaches every table of "
            f">= {large} rows through an index; {how}" if pct is not None else "",
            reason=undecided if pct is not None else how,
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
    from auditor.sampling import EMPTY, describe_skips, sampling_gap

    gap = sampling_gap(snapshot.sampling, snapshot.notes)
    if gap is not None or snapshot.sampling is None or not snapshot.sampling.tables:
        why = gap[0] if gap is not None else "no table was sampled"
        # a sample refused or failed (its fix is a grant or a setting), not turned off nor of empty tables only
        unread = gap is not None and gap[1] is not None and "(--no-sample)" not in gap[0]
        return Metric(key="normalization_pct", label=label, value=None, unit="%", target=target,
                      reason=f"{why}, so 2NF/3NF cannot be judged", unread=unread)
    nf = [f for f in findings if f.code.startswith("NF")]
    # info-level NF findings are design notes (an array column read as a whole), not violations
    audited = {t.key for t in tables}
    flagged = {(f.object.schema or "", f.object.table or "") for f in nf if f.severity != Severity.INFO} & audited
    notes = {(f.object.schema, f.object.table) for f in nf if f.severity == Severity.INFO} - flagged
    # a table counts when its data was sampled (NF02-NF04 judged it) or a finding already says it is not in
    # 3NF; a table nobody sampled is neither clean nor flagged, and stays out of the share
    judged = {t.key for t in snapshot.sampling.tables if t.skipped_reason is None and t.rows > 0}
    measured = (judged & audited) | flagged
    unjudged = _unjudged_tables(snapshot, audited - measured)
    # a table with no rows holds no dependency to judge, and no violation either: it is left out of the share
    # (its columns' names are still judged by NF01), so a schema with empty tables can still pass
    empty = unjudged.pop(EMPTY, 0)
    total = len(measured) + sum(unjudged.values())
    of = f"{len(measured)} of {total} tables" + (f" with rows ({empty} empty, not counted)" if empty else "")
    why = f"not judged: {describe_skips(unjudged)}" if unjudged else ""
    if not total:
        return Metric(key="normalization_pct", label=label, value=None, unit="%", target=target,
                      reason=f"every table is empty ({empty}): no data to judge")
    share = 100.0 * len(measured) / total
    if not measured or share < targets.min_measured_pct:
        below = f" ({share:.0f} %, below the {targets.min_measured_pct:g} % a figure needs)" if measured else ""
        return Metric(key="normalization_pct", label=label, value=None, unit="%", target=target,
                      reason=f"only {of} could be judged{below}; {why}", measured=f"{of} ({why})")
    if unjudged:
        of += f" ({why})"
    clean = len(measured - flagged)
    pct = _share(clean, len(measured))
    counted = f"{len(measured)} of {total}" + (f" with rows, {empty} empty not counted" if empty else "")
    method = (f"share of the tables measured ({counted}: sampled, or flagged by a finding) with no "
              f"NF01-NF04 finding of warning or error severity ({clean}/{len(measured)}); dependencies judged on "
              "sampled data")
    if notes:
        method += f"; {len(notes)} more with an info-level design note, not counted"
    passed, reason = _partial_verdict(clean, len(measured), total, targets.normalization_pct, target)
    return Metric(key="normalization_pct", label=label, value=pct, unit="%", target=target, passed=passed,
                  method=method, reason=reason, measured=of if unjudged else None)


def _unjudged_tables(snapshot: Snapshot, unjudged: set[tuple[str, str]]) -> Counter[str]:
    """Why the tables the normalization share leaves out were not judged, counted by reason (the sample's
    skip reasons), with the tables a lock kept out of the catalog: a table the scan never read must not vanish
    from the count, or a share over the rest would read as every table's."""
    from auditor.sampling import EMPTY

    assert snapshot.sampling is not None
    samples = {t.key: t for t in snapshot.sampling.tables}
    reasons: Counter[str] = Counter()
    for key in unjudged:
        sample = samples.get(key)
        reasons[(sample.skipped_reason or EMPTY) if sample is not None else "not in the data sample"] += 1
    locked = set(locked_relations(snapshot))
    if locked:
        reasons["locked by another session while the catalog was read, not read"] += len(locked)
    return reasons


LOCKS_AREA = "locks"  # the note of the relations the catalog left out (auditor.connectors.postgres)


def locked_relations(snapshot: Snapshot) -> list[str]:
    """The relations a lock (an ALTER TABLE, TRUNCATE, DROP in progress) kept out of the catalog, by name, in the
    notes' order: what makes the report partial (auditor.report) and the metrics over tables bounded. The note
    does not tell tables from sequences: a locked sequence counts as an unread table, which can make a metric
    partial, never a pass."""
    return [name for n in snapshot.notes if n.area == LOCKS_AREA for name in n.objects]


def _partial_verdict(good: float, measured: int, total: int, target_pct: float,
                     target: str) -> tuple[bool | None, str | None]:
    """(passed, why there is no verdict) for a share of ``good`` among ``measured`` of ``total`` objects, judged
    as the share of all ``total``: the objects not measured may be good or bad, so the share lies between
    good / total and (good + unmeasured) / total. A pass needs the lowest of those to meet the target, a failure
    the highest to miss it; in between the target is neither met nor missed (the demanding reading of a target
    over every table: "every table in 3NF" is not confirmed by the tables that were judged)."""
    if measured == total:
        return 100.0 * good / total >= target_pct, None
    low, high = 100.0 * good / total, 100.0 * (good + total - measured) / total
    if low >= target_pct:
        return True, None
    if high < target_pct:
        return False, None
    return None, (f"over all {total} tables the figure lies between {low:.1f} % and {high:.1f} %, so the target "
                  f"({target}) is neither met nor missed")


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
        return Metric(key="cache_hit_ratio_pct", label=label, value=None, unit="%", target=target, reason=why,
                      unread=True)
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
                      reason="the databases' freeze ages (pg_database) were not read", unread=True)
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

    def unmeasured(reason: str, unread: bool = False) -> Metric:
        return Metric(key="vacuumed_on_time_pct", label=label, value=None, unit="%", target=target, reason=reason,
                      unread=unread)

    if snapshot.engine == "postgresql":
        posture = snapshot.posture
        if posture is None or posture.setting("autovacuum_vacuum_threshold") is None:
            return unmeasured("the autovacuum settings (pg_settings) were not read", unread=True)
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
        return unmeasured(note.message if note is not None else "InnoDB's statistics counters were not read",
                          unread=True)
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
    passed: bool | None = value >= targets.vacuumed_on_time_pct
    reason = None
    if len(counted) < len(innodb):
        measured += " (not judged: the others were not opened since the server started)"
        passed, reason = _partial_verdict(len(counted) - len(late_rows), len(counted), len(innodb),
                                          targets.vacuumed_on_time_pct, target)
    return Metric(
        key="vacuumed_on_time_pct", label=label, value=value, unit="%", target=target,
        passed=passed, reason=reason,
        measured=None if len(counted) == len(innodb) else measured,
        method=f"{len(counted) - len(late_rows)} of {len(counted)} InnoDB tables have no more rows modified since "
               "their statistics were computed than twice InnoDB's 10 % recalculation point (MT08); InnoDB purges "
               "old row versions by itself, so only the statistics are judged")
