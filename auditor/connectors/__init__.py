"""Connectors: one read-only session per run, a fixed number of bulk catalog queries, a Snapshot out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from auditor.connectors.guard import Clock, workload_reserve_s
from auditor.dsn import Dsn
from auditor.errors import AuditError
from auditor.model import Note, Sampling, Snapshot, WorkloadInfo
from auditor.sampling import skipped_notes


@dataclass(frozen=True)
class CollectOptions:
    include_schemas: tuple[str, ...] = ()  # glob patterns; empty: every non-system schema
    exclude_schemas: tuple[str, ...] = ()  # glob patterns
    connect_timeout_s: int = 10
    statement_timeout_ms: int = 30_000  # every statement, probes included (their own limits are capped by it)
    # the whole run (--timeout), counted from ``started``: the collection stops early enough for the checks and
    # the report (auditor.connectors.guard.RESERVE_SHARE), past it the report is partial; None: no overall bound
    timeout_s: float | None = 600.0
    # when the command started (time.monotonic()); None: when the collection starts (run_audit sets it)
    started: float | None = None
    lock_timeout_ms: int = 1_000
    idle_in_transaction_timeout_ms: int = 60_000  # ends a stalled session server-side
    # reading table data: the normalization checks' sample (auditor.sampling) and CP01's TOAST column sizes;
    # --no-sample sets sample=False
    sample: bool = True
    # the normalization checks' per-table sample (NF02-NF04), when ``sample`` allows it: the pipeline turns it
    # off when no selected check reads it (CP01's column sizes, one bounded query, follow ``sample`` alone)
    normalization_sample: bool = True
    show_samples: bool = False  # keep a few raw example values in the snapshot (--show-samples)
    sample_rows: int = 10_000  # rows per table
    sample_table_timeout_s: float = 5.0
    sample_budget_s: float = 60.0  # the whole sampling probe
    sample_budget_cut: bool = False  # set by the connectors: --timeout left less than sample_budget_s
    sample_max_tables: int = 200
    # the workload probe (pg_stat_statements, generic-plan EXPLAIN, hypopg); --no-workload sets it off
    workload: bool = True


# the probes, in the order they run, with the words a partial report uses for what they collect
PROBE_WORDS = {"sequences": "the sequences' last values (KY04)",
               "maintenance": "the TOAST column sample (CP01) and pgstattuple's bloat measures (MT09, MT10)",
               "sampling": "the data sample (NF02-NF04)",
               "workload": "the workload (WL01-WL04, latency, index coverage)"}


def interrupted(snap: Snapshot, why: str, missing: list[str]) -> Snapshot:
    """The snapshot of a scan that stopped early: ``why``, what was not collected, and for each probe not
    collected a record that says so (the checks reading it then say the scan stopped, rather than ask to
    enable a data sample or pg_stat_statements that may well be on)."""
    words = [PROBE_WORDS[name] for name in missing]
    reason = f"not collected: the scan stopped early ({why})"
    notes = list(snap.notes)
    workload = snap.workload
    if "sampling" in missing:
        notes.append(Note(area="sampling", message=f"the data sample was {reason}",
                          enable="scan again when the server answers"))
    if "workload" in missing:
        source = "performance_schema" if snap.engine == "mysql" else "pg_stat_statements"
        workload = WorkloadInfo(source=source, status="interrupted", message=f"the workload was {reason}")
    return partial(dataclasses.replace(snap, notes=tuple(notes), workload=workload,
                                       sampling=None if "sampling" in missing else snap.sampling),
                   f"{why}; not collected: {', '.join(words)}")


def partial(snap: Snapshot, why: str) -> Snapshot:
    """The snapshot marked as partial (``interrupted``) for ``why``, after any earlier reason."""
    return dataclasses.replace(snap, interrupted=why if not snap.interrupted else f"{snap.interrupted}; {why}")


def sample_budget(options: CollectOptions, clock: Clock) -> CollectOptions:
    """The options the sampling probe runs with: its budget capped by what is left of ``--timeout`` (less what
    the workload probe after it keeps, :func:`~auditor.connectors.guard.workload_reserve_s`), saying so when it
    was; its per-table limit by ``--statement-timeout``."""
    budget = clock.cap(options.sample_budget_s, reserve=workload_reserve_s(clock.remaining(), options.workload))
    return dataclasses.replace(options, sample_budget_s=budget, sample_budget_cut=budget < options.sample_budget_s,
                               sample_table_timeout_s=probe_limit_s(options.sample_table_timeout_s, options))


def sampling_cut(snap: Snapshot, options: CollectOptions) -> Snapshot:
    """When ``--timeout`` left too little time to sample every table the sample chose: the report is partial."""
    if not options.sample_budget_cut or snap.sampling is None or options.timeout_s is None:
        return snap
    cut = f"--timeout {options.timeout_s:g} s left"
    left = [t for t in snap.sampling.tables if (t.skipped_reason or "").startswith(cut)]
    if not left:
        return snap
    return partial(snap, f"{left[0].skipped_reason}: {len(left)} of {len(snap.sampling.tables)} tables not "
                         "sampled (NF02-NF04)")


def with_sampling(snap: Snapshot, sampling: Sampling, options: CollectOptions) -> Snapshot:
    """The snapshot with the sampling probe's outcome: a note per reason tables were not sampled, and partial
    when ``--timeout`` cut the sample short (:func:`sampling_cut`)."""
    return sampling_cut(dataclasses.replace(snap, sampling=sampling, notes=(*snap.notes, *skipped_notes(sampling))),
                        options)


def catalog_cut(snap: Snapshot, reached: str) -> Snapshot:
    """When ``--timeout`` left catalog areas unread (their notes say ``reached``): the snapshot is partial and
    names them; the checks that read them are skipped by their own notes."""
    areas = list(dict.fromkeys(n.area for n in snap.notes if reached in n.message))
    if not areas:
        return snap
    return partial(snap, f"{reached} while the catalog was read; not read: {', '.join(areas)}")


def probe_limit_s(limit_s: float, options: CollectOptions) -> float:
    """A probe's own time limit per statement, capped by ``--statement-timeout``: the smaller of the two."""
    return min(limit_s, options.statement_timeout_ms / 1000)


def collect(dsn: Dsn, options: CollectOptions | None = None) -> Snapshot:
    """Open a read-only session on the DSN's server and return its snapshot."""
    options = options or CollectOptions()
    if dsn.engine == "postgresql":
        from auditor.connectors.postgres import collect as collect_pg

        return collect_pg(dsn, options)
    if dsn.engine == "mysql":
        from auditor.connectors.mysql import collect as collect_mysql

        return collect_mysql(dsn, options)
    raise AuditError(f"unsupported engine {dsn.engine!r}")
