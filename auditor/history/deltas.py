"""Interval figures between two recorded runs of one target, and the resets that bound them. Pure.

The server's counters are cumulative since its last statistics reset; dbaudit never resets them (PgHero's
``pg_stat_statements_reset()`` to get deltas wipes every other tool's view too). So a run keeps the counters,
and the next run subtracts. A counter is trusted only while it counts from the same origin:

- ``pg_stat_statements_info.stats_reset`` moved: every statement counts from that reset;
- ``pg_stat_database.stats_reset`` moved: every table and index counter counts from it;
- the server restarted (``pg_postmaster_start_time()``, MySQL/MariaDB ``Uptime``): on MySQL/MariaDB everything
  counts from the start (performance_schema lives in memory); PostgreSQL keeps its statistics and
  pg_stat_statements' across a clean restart (both are written to disk at shutdown, and discarded after a
  crash, which the two resets above then show), so there the restart is reported and each counter judged alone;
- a counter that went down was reset on its own (``pg_stat_statements_reset(userid, dbid, queryid)``,
  ``pg_stat_reset_single_table_counters()``, an evicted and re-added pg_stat_statements entry, a
  ``TRUNCATE`` of performance_schema's digest table).

After a reset the interval's figure is the counter itself (what accumulated since the reset, all of it inside the
interval): never a negative figure, never the cumulative figure of months.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from auditor.history.model import (
    HistoryOptions,
    IndexDelta,
    MetricDelta,
    PreviousRun,
    ResetEvent,
    StatementDelta,
    TableDelta,
)
from auditor.history.record import IndexCounters, RunRecord, StatementCounters, TableCounters
from auditor.model import Finding
from auditor.workload import LatencyModel, mixture_quantiles

# the server's reset and start times are exact timestamps; MySQL's start time is derived from Uptime (whole
# seconds) and the client's clock, so it moves by a second or two from one read to the next
_EXACT = timedelta(milliseconds=1)
_UPTIME_SLACK = timedelta(seconds=3)


@dataclass(frozen=True)
class Resets:
    events: tuple[ResetEvent, ...] = ()
    statements: bool = False  # every statement counter counts from a reset inside the interval
    tables: bool = False  # every table and index counter does


def detect_resets(prev: RunRecord, cur: RunRecord) -> Resets:
    events: list[ResetEvent] = []
    statements = tables = False
    prev_seen = prev.collected_at or prev.started_at
    slack = _UPTIME_SLACK if cur.engine == "mysql" else _EXACT
    restarted = cur.server_started is not None and (
        (prev.server_started is not None and cur.server_started > prev.server_started + slack)
        or (prev.server_started is None and cur.server_started > prev_seen))
    if restarted:
        if cur.engine == "mysql":
            statements = tables = True
            note = "performance_schema and the table statistics count from the start"
        else:
            note = ("PostgreSQL keeps its statistics across a clean restart; after a crash they restart from "
                    "zero, which the counters show")
        events.append(ResetEvent("restart", f"the server restarted at {when(cur.server_started)}: {note}",
                                 cur.server_started))
    if cur.stats_reset is not None and (prev.stats_reset is None or cur.stats_reset > prev.stats_reset + _EXACT):
        tables = True
        events.append(ResetEvent("stats_reset", f"the database's statistics were reset at "
                                 f"{when(cur.stats_reset)} (pg_stat_database.stats_reset): table and index "
                                 "figures count from then", cur.stats_reset))
    if cur.pgss_reset is not None and prev.pgss_reset is not None and cur.pgss_reset > prev.pgss_reset + _EXACT:
        statements = True
        events.append(ResetEvent("pg_stat_statements_reset", f"pg_stat_statements was reset at "
                                 f"{when(cur.pgss_reset)} (pg_stat_statements_info.stats_reset): statement "
                                 "figures count from then", cur.pgss_reset))
    elif (cur.pgss_dealloc is not None and prev.pgss_dealloc is not None
          and cur.pgss_dealloc > prev.pgss_dealloc):
        evicted = cur.pgss_dealloc - prev.pgss_dealloc
        if cur.engine == "postgresql":
            text = (f"pg_stat_statements evicted entries {evicted:,} times in the interval (pg_stat_statements.max "
                    "is too small): rarely run statements may be missing or count from their return")
        else:  # MySQL/MariaDB: Performance_schema_digest_lost, executions the full digest table had no row for
            text = (f"performance_schema had no digest row for {evicted:,} statement executions in the interval "
                    "(Performance_schema_digest_lost; performance_schema_digests_size is too small): statements "
                    "first run after the digest table filled are missing")
        events.append(ResetEvent("dealloc", text, objects=evicted))
    return Resets(tuple(events), statements, tables)


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "an unknown time"


def _counter(cur: int | None, prev: int | None, reset: bool) -> tuple[int | None, bool]:
    """The interval's count and whether it counts from a reset (the counter went down, or a reset is known)."""
    if cur is None:
        return None, False
    if prev is None or reset:
        return cur, reset
    if cur < prev:
        return cur, True
    return cur - prev, False


def _interval_p95(calls: int, mean: float, stddev: float, low: float, high: float) -> float:
    """The interval's P95 with the same estimator as the cumulative figures (auditor.workload.LatencyModel):
    bounded by the statement's cumulative minimum and maximum, which hold every call of the interval."""
    if calls <= 1:
        return round(mean, 3)
    if calls == 2:
        return round(mean + stddev, 3)  # two calls a and b: mean +- the population stddev
    model = LatencyModel(calls=calls, mean=mean, stddev=stddev, low=min(low, mean), high=max(high, mean))
    return round(model.quantile(0.95), 3)


def _interval_p99(calls: int, mean: float, stddev: float, low: float, high: float) -> float:
    if calls <= 2:
        return _interval_p95(calls, mean, stddev, low, high)
    model = LatencyModel(calls=calls, mean=mean, stddev=stddev, low=min(low, mean), high=max(high, mean))
    return round(model.quantile(0.99), 3)


def _model(calls: int, mean: float, stddev: float, low: float, high: float) -> LatencyModel:
    if calls <= 2:
        return LatencyModel(calls=1, mean=mean, stddev=0.0, low=mean, high=mean)
    return LatencyModel(calls=calls, mean=mean, stddev=stddev, low=min(low, mean), high=max(high, mean))


@dataclass(frozen=True)
class StatementResult:
    statements: tuple[StatementDelta, ...]
    vanished: tuple[StatementDelta, ...]
    recorded: tuple[StatementCounters, ...]  # this run's counters with their interval figures filled in
    decreased: int  # entries whose counters went down
    p95_ms: float | None
    calls: int
    p99_ms: float | None = None


def statement_deltas(prev: Iterable[StatementCounters], cur: Iterable[StatementCounters], reset_all: bool,
                     options: HistoryOptions, session_texts: Collection[str] = (),
                     prev_seen: datetime | None = None) -> StatementResult:
    """The interval's statements. A key whose ``stats_since`` (PG17+; MySQL/MariaDB FIRST_SEEN: the earliest of
    its entries') is later than at the previous run -- or, when the previous run did not keep it, than
    ``prev_seen`` (when that run read its counters; None: not compared) -- was reset since, even if its counters
    did not go down. An entry added to a key (the text under another default database or parameter type) starts
    later than the others and moves nothing: its calls are the interval's, the others' are subtracted."""
    before = {s.key: s for s in prev}
    out: list[StatementDelta] = []
    recorded: list[StatementCounters] = []
    models: list[LatencyModel] = []
    decreased = 0
    for c in cur:
        p = before.pop(c.key, None)
        reset = reset_all
        # the entry started counting after the previous run: compared with the entry's own start then (the
        # server's clock on both sides), else with when the previous run read it
        entry_reset = c.stats_since is not None and (
            c.stats_since > p.stats_since + _EXACT if p is not None and p.stats_since is not None
            else prev_seen is not None and c.stats_since > prev_seen)
        if p is not None and not reset and (entry_reset or c.calls < p.calls or c.total_ms < p.total_ms - 1e-6):
            reset = True
            decreased += 1
        base = None if (p is None or reset) else p
        calls = c.calls - (base.calls if base else 0)
        if calls <= 0:
            recorded.append(c)
            continue
        total = max(0.0, c.total_ms - (base.total_ms if base else 0.0))
        sumsq = max(0.0, c.sumsq_ms - (base.sumsq_ms if base else 0.0))
        mean = total / calls
        stddev = math.sqrt(max(0.0, sumsq / calls - mean**2))
        p95 = _interval_p95(calls, mean, stddev, c.min_ms, c.max_ms)
        prev_mean, prev_p95 = _previous_figures(p, options)
        judged = p is not None and calls >= options.regression_min_calls and mean >= options.regression_min_ms
        regressed_by = tuple(name for name, now, before in (("mean", mean, prev_mean), ("p95", p95, prev_p95))
                             if judged and before is not None and before > 0
                             and now >= options.regression_factor * before)
        regressed = bool(regressed_by)
        status = "new" if p is None else "regressed" if regressed else "steady"
        out.append(StatementDelta(
            query=c.query, calls=calls, total_ms=round(total, 3), mean_ms=round(mean, 3), p95_ms=p95,
            regressed=regressed, database=c.database, user=c.user, toplevel=c.toplevel, fingerprint=c.fingerprint,
            rows=max(0, c.rows - (base.rows if base else 0)),
            shared_blks_hit=max(0, c.blks_hit - (base.blks_hit if base else 0)),
            shared_blks_read=max(0, c.blks_read - (base.blks_read if base else 0)),
            status=status, previous_mean_ms=prev_mean, previous_p95_ms=prev_p95, reset=reset,
            p99_ms=_interval_p99(calls, mean, stddev, c.min_ms, c.max_ms), regressed_by=regressed_by))
        recorded.append(replace(c, interval_calls=calls, interval_mean_ms=round(mean, 6), interval_p95_ms=p95))
        if c.toplevel and " ".join(c.query.split()).lower() not in session_texts:
            models.append(_model(calls, mean, stddev, c.min_ms, c.max_ms))
    vanished = () if reset_all else tuple(
        StatementDelta(query=p.query, calls=0, total_ms=0.0, mean_ms=0.0, p95_ms=None, regressed=False,
                       database=p.database, user=p.user, toplevel=p.toplevel, fingerprint=p.fingerprint,
                       status="vanished")
        for p in before.values())
    out.sort(key=lambda s: (-s.total_ms, s.fingerprint, s.user))
    weights = [float(m.calls) for m in models]
    judged = bool(models) and sum(weights) > 0
    p95_all, p99_all = (round(value, 3) for value in mixture_quantiles(models, (0.95, 0.99), weights)) if judged \
        else (None, None)
    return StatementResult(tuple(out), vanished, tuple(recorded), decreased, p95_all,
                           sum(s.calls for s in out if s.toplevel), p99_all)


def _previous_figures(p: StatementCounters | None, options: HistoryOptions) -> tuple[float | None, float | None]:
    """What this run's interval is judged against: the previous interval, else the previous cumulative mean."""
    if p is None:
        return None, None
    if p.interval_calls is not None and p.interval_calls >= options.regression_min_calls:
        return p.interval_mean_ms, _spread_p95(p.interval_mean_ms, p.interval_p95_ms)
    if p.calls >= options.regression_min_calls:
        mean = p.total_ms / p.calls
        stddev = math.sqrt(max(0.0, p.sumsq_ms / p.calls - mean**2))
        return round(mean, 6), _spread_p95(mean, _interval_p95(p.calls, mean, stddev, p.min_ms, p.max_ms))
    return None, None


_P95_ROUNDING = 0.0005  # P95 figures are kept to three decimals, means to six


def _spread_p95(mean: float | None, p95: float | None) -> float | None:
    """``p95`` when it is one: a "P95" not above the mean is the mean itself, estimated with no spread (the
    interval's variance came out as zero: on MariaDB the difference of two estimated stddevs), and a P95 now
    twice that is no regression of the P95."""
    if p95 is None or mean is None or p95 <= mean + _P95_ROUNDING:
        return None
    return p95


GROWTH_MIN_INTERVAL_S = 3600  # shorter intervals give no growth_bytes_per_day


def table_deltas(prev: Iterable[TableCounters], cur: Iterable[TableCounters], reset_all: bool,
                 interval_s: float | None) -> tuple[tuple[TableDelta, ...], int]:
    before = {(t.schema, t.table): t for t in prev}
    out: list[TableDelta] = []
    decreased = 0
    # a per-day rate from minutes of change is noise scaled up (440 kB in 8 s is not "-4.7 GB a day")
    days = interval_s / 86_400 if interval_s and interval_s >= GROWTH_MIN_INTERVAL_S else None
    for c in cur:
        p = before.pop((c.schema, c.table), None)
        if p is None:
            out.append(TableDelta(c.schema, c.table, c.rows, None, c.bytes, None, None, c.seq_scan, c.idx_scan,
                                  c.dead_rows, None, status="new"))
            continue
        own_reset = not reset_all and any(
            x is not None and y is not None and x < y
            for x, y in ((c.seq_scan, p.seq_scan), (c.idx_scan, p.idx_scan), (c.n_tup_ins, p.n_tup_ins)))
        decreased += own_reset
        reset = reset_all or own_reset
        seq, _ = _counter(c.seq_scan, p.seq_scan, reset)
        idx, _ = _counter(c.idx_scan, p.idx_scan, reset)
        rows_delta = c.rows - p.rows if c.rows is not None and p.rows is not None else None
        bytes_delta = c.bytes - p.bytes if c.bytes is not None and p.bytes is not None else None
        dead_delta = c.dead_rows - p.dead_rows if c.dead_rows is not None and p.dead_rows is not None else None
        growth = round(bytes_delta / days, 1) if bytes_delta is not None and days else None
        if not (rows_delta or bytes_delta or seq or idx or dead_delta):
            continue
        out.append(TableDelta(c.schema, c.table, c.rows, rows_delta, c.bytes, bytes_delta, growth, seq, idx,
                              c.dead_rows, dead_delta, reset=reset))
    out.extend(TableDelta(p.schema, p.table, None, None, None, None, None, status="dropped")
               for p in before.values())
    out.sort(key=lambda t: (t.bytes_delta is None, -(t.bytes_delta or 0), t.schema, t.table))
    return tuple(out), decreased


def index_deltas(prev: Iterable[IndexCounters], cur: Iterable[IndexCounters], reset_all: bool
                 ) -> tuple[IndexDelta, ...]:
    """Indexes scanned or resized in the interval, and the new and dropped ones; most scanned first."""
    before = {(i.schema, i.table, i.index): i for i in prev}
    out: list[IndexDelta] = []
    for c in cur:
        p = before.pop((c.schema, c.table, c.index), None)
        if p is None:
            out.append(IndexDelta(c.schema, c.table, c.index, c.scans, c.bytes, None, status="new"))
            continue
        scans, reset = _counter(c.scans, p.scans, reset_all)
        grew = c.bytes - p.bytes if c.bytes is not None and p.bytes is not None else None
        if scans or grew:
            out.append(IndexDelta(c.schema, c.table, c.index, scans, c.bytes, grew, reset=reset))
    out.extend(IndexDelta(p.schema, p.table, p.index, None, None, None, status="dropped") for p in before.values())
    out.sort(key=lambda i: (-(i.scans or 0), i.schema, i.table, i.index))
    return tuple(out)


@dataclass(frozen=True)
class FindingChanges:
    new: tuple[Finding, ...]
    resolved: tuple[Finding, ...]
    carried: tuple[tuple[str, Finding], ...]  # (fingerprint, finding): previous findings not looked at


def finding_changes(prev: Iterable[tuple[str, str, Callable[[], Finding | None]]],
                    cur: Iterable[tuple[str, Finding]], ran: Collection[str],
                    prev_ran: Collection[str] | None = None,
                    unseen: Callable[[str, Finding], bool] | None = None) -> FindingChanges:
    """New, resolved and carried findings by identity (check + object, as baselines), matched as a multiset.
    ``prev`` gives each previous finding's fingerprint, code, and a function that builds it (only the absent ones
    are built). A finding of a check that did not run this time is not resolved, and one of a check that did not
    run the previous time (``prev_ran``, when recorded) is not new: neither was looked at. Nor is a previous
    finding that ``unseen`` says this run could not see (its object left out, its statement not run since a
    reset): it is carried, as it was, into this run's record, so that seeing it again is not new."""
    prev = list(prev)
    remaining = Counter(fp for fp, _, _ in prev)
    new: list[Finding] = []
    for fp, finding in cur:
        if remaining[fp] > 0:
            remaining[fp] -= 1
        elif prev_ran is None or finding.code in prev_ran:
            new.append(finding)
    resolved: list[Finding] = []
    carried: list[tuple[str, Finding]] = []
    for fp, code, make in prev:
        if remaining[fp] > 0:
            remaining[fp] -= 1
            if code in ran:
                built = make()
                if built is None:
                    continue
                if unseen is not None and unseen(fp, built):
                    carried.append((fp, built))
                else:
                    resolved.append(built)
    return FindingChanges(tuple(new), tuple(resolved), tuple(carried))


def _finding_order(f: Finding) -> tuple[int, str, str, str]:
    return (-f.severity.rank, f.code, f.object.label(), f.message)


def metric_deltas(prev: RunRecord, cur: RunRecord) -> tuple[MetricDelta, ...]:
    keys = list(cur.metrics) + [k for k in prev.metrics if k not in cur.metrics]
    return tuple(MetricDelta(k, prev.metrics.get(k), cur.metrics.get(k)) for k in keys)


def previous_run(prev: RunRecord) -> PreviousRun:
    assert prev.id is not None
    return PreviousRun(prev.id, prev.started_at)
