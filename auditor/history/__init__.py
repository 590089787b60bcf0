"""Run history: record each run in a store and compare it with the previous run of the same target.

``dbaudit scan DSN --history STORE`` (or ``history = "..."`` in ``[tool.dbaudit]``) calls :func:`record_and_compare`
from the pipeline (:func:`auditor.audit.run_audit`): the previous complete run of the target is read, this run's
interval figures are computed against it (:mod:`auditor.history.deltas`, never resetting anything on the server),
the run is recorded (:mod:`auditor.history.store`) and the report gets a
:class:`~auditor.history.model.HistoryComparison`. The store is the user's file; the audited database is never
written.

The steps live in :mod:`auditor.history.runs`, imported when one of its names is first read here: a scan reads
the options (:mod:`auditor.history.model`) before it connects, but the store, the interval figures and their
workload model (pglast) only with ``--history`` (issue 15: the time to the first SQL statement).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor.history.runs import (
        RETENTION_DAYS,
        HistoryComparison,
        HistoryOptions,
        RunStore,
        StoreError,
        StoreIsAuditedError,
        TrendPoint,
        attach_run_history,
        check_store_server,
        check_store_target,
        compare_runs,
        diff_runs,
        not_recorded,
        one_target,
        open_store,
        record_and_compare,
        trend,
        trend_of,
    )

__all__ = ["RETENTION_DAYS", "HistoryComparison", "HistoryOptions", "RunStore", "StoreError", "StoreIsAuditedError",
           "TrendPoint", "attach_run_history", "check_store_server", "check_store_target", "compare_runs",
           "diff_runs", "not_recorded", "one_target", "open_store", "record_and_compare", "trend", "trend_of"]


def __getattr__(name: str) -> Any:
    """A name of :mod:`auditor.history.runs`, which is imported the first time one is read (PEP 562)."""
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return getattr(importlib.import_module("auditor.history.runs"), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
