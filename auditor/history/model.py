"""What the run history adds to a report: the comparison of this run with the previous one of the same target.

Pure frozen dataclasses, read by the reporters (``history`` in the JSON report, the text report's "since" block).
Every workload and table figure here is the *interval's* (between the previous run and this one), never the
cumulative count since the server's last statistics reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from auditor.model import Finding

# fine-grained runs are kept this many days, then rolled up daily (pgwatch keeps 14-30 days of fine
# metrics by default, pganalyze 35 days of query statistics on its standard plan)
RETENTION_DAYS = 35


@dataclass(frozen=True)
class HistoryOptions:
    """How runs are compared.

    A statement *regressed* when its interval mean or P95 is at least ``regression_factor`` times the previous
    interval's (its cumulative figures when the previous run had no interval), with at least
    ``regression_min_calls`` calls in both and a mean of at least ``regression_min_ms`` now: a statement going
    from 0.01 to 0.03 ms is noise, not a regression. The factor of 2 follows pganalyze's and pgwatch's default
    "2x slower than usual" query alerts.
    """

    regression_factor: float = 2.0
    regression_min_calls: int = 10
    regression_min_ms: float = 1.0


@dataclass(frozen=True)
class PreviousRun:
    id: int
    started_at: datetime


@dataclass(frozen=True)
class StatementDelta:
    """One statement's interval figures, per (database, user, statement fingerprint, toplevel).

    ``status``: "new" (not seen at the previous run), "regressed", "steady", or "vanished" (seen then, not now:
    its figures are zero). ``reset``: its counters were reset in the interval, so the figures count from the
    reset, not from the previous run.
    """

    query: str
    calls: int
    total_ms: float
    mean_ms: float
    p95_ms: float | None
    regressed: bool
    database: str
    user: str
    toplevel: bool
    fingerprint: str
    rows: int = 0
    shared_blks_hit: int = 0
    shared_blks_read: int = 0
    status: str = "steady"
    previous_mean_ms: float | None = None
    previous_p95_ms: float | None = None
    reset: bool = False
    p99_ms: float | None = None
    regressed_by: tuple[str, ...] = ()  # which figures regressed: "mean", "p95"


@dataclass(frozen=True)
class TableDelta:
    """A table's size and activity between the runs. ``rows`` and ``bytes`` are today's; the ``*_delta`` are the
    interval's change; scans and dead rows count the interval (from a reset when ``reset``)."""

    schema: str
    table: str
    rows: int | None
    rows_delta: int | None
    bytes: int | None
    bytes_delta: int | None
    growth_bytes_per_day: float | None
    seq_scans: int | None = None
    idx_scans: int | None = None
    dead_rows: int | None = None
    dead_rows_delta: int | None = None
    status: str = "steady"  # "new", "steady", "dropped"
    reset: bool = False


@dataclass(frozen=True)
class IndexDelta:
    """An index's scans in the interval (from a reset when ``reset``) and its size change."""

    schema: str
    table: str
    index: str
    scans: int | None
    bytes: int | None
    bytes_delta: int | None
    status: str = "steady"  # "new", "steady", "dropped"
    reset: bool = False


@dataclass(frozen=True)
class ResetEvent:
    """A statistics reset or a server restart detected between the runs, and what it means for the figures."""

    kind: str  # "restart", "stats_reset", "pg_stat_statements_reset", "counter_decrease", "dealloc"
    message: str
    at: datetime | None = None
    objects: int = 0  # how many entries it touched, when known


@dataclass(frozen=True)
class MetricDelta:
    key: str
    previous: float | None
    current: float | None

    @property
    def delta(self) -> float | None:
        if self.previous is None or self.current is None:
            return None
        return round(self.current - self.previous, 3)


@dataclass(frozen=True)
class TrendRun:
    """One stored complete run's headline figures, for the trend charts."""

    run_id: int
    started_at: datetime
    score: int | None
    p95_ms: float | None  # the report's P95 (cumulative since the statistics reset)
    interval_p95_ms: float | None  # the P95 of the run's interval
    db_bytes: int | None


@dataclass(frozen=True)
class Grower:
    """A table's growth across the stored runs of the trend window."""

    schema: str
    table: str
    bytes_first: int | None
    bytes_last: int | None
    days: float

    @property
    def growth(self) -> int:
        return (self.bytes_last or 0) - (self.bytes_first or 0)


@dataclass(frozen=True)
class HistoryComparison:
    """This run against the previous recorded run of the same target (``previous_run`` None: the first)."""

    store: str  # where the run was recorded (no password)
    run_id: int  # this run's id in the store
    target: str
    previous_run: PreviousRun | None = None
    interval_s: float | None = None
    new_findings: tuple[Finding, ...] = ()
    resolved_findings: tuple[Finding, ...] = ()
    statements: tuple[StatementDelta, ...] = ()  # the interval's statements (calls > 0), costliest first
    vanished_statements: tuple[StatementDelta, ...] = ()
    tables: tuple[TableDelta, ...] = ()  # tables whose size or activity changed, biggest growth first
    indexes: tuple[IndexDelta, ...] = ()  # indexes scanned or resized in the interval, new or dropped
    resets: tuple[ResetEvent, ...] = ()
    metrics: tuple[MetricDelta, ...] = ()
    score_previous: int | None = None
    score_current: int | None = None
    interval_p95_ms: float | None = None  # workload-wide P95 of the interval's calls
    interval_p99_ms: float | None = None
    interval_calls: int = 0
    options: HistoryOptions = field(default_factory=HistoryOptions)
    trend: tuple[TrendRun, ...] = ()  # the target's stored complete runs (this one last), for the charts
    growers: tuple[Grower, ...] = ()  # the tables that grew most across the trend's last 30 days
    # the previous run's findings this run could not look at (object left out, statement not run since a reset,
    # plan not read): neither resolved nor dropped, carried into this run's record
    not_looked_at: tuple[Finding, ...] = ()

    @property
    def regressed(self) -> tuple[StatementDelta, ...]:
        return tuple(s for s in self.statements if s.regressed)

    @property
    def new_statements(self) -> tuple[StatementDelta, ...]:
        return tuple(s for s in self.statements if s.status == "new")

    def __post_init__(self) -> None:
        # new and resolved findings in the report's order (auditor.engine: severity, check, object), whatever
        # order the store returned the previous run's findings in: a SQLite and a PostgreSQL store give the same
        for name in ("new_findings", "resolved_findings"):
            object.__setattr__(self, name, tuple(sorted(getattr(self, name), key=finding_order)))


def finding_order(f: Finding) -> tuple[int, str, str, str]:
    return (-f.severity.rank, f.code, f.object.label(), f.message)
