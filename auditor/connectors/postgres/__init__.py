"""PostgreSQL connector: one read-only session, a fixed set of bulk catalog queries, a :class:`Snapshot` out.

The catalog is read in one short REPEATABLE READ transaction, committed before any probe runs; the probes
(the reads of relations' pages the catalog chose, data sample, EXPLAIN) then run statement by statement, so no
lock outlives the statement that needed it.

The queries live in ``sql/*.sql`` (one per snapshot area, columns aliased to the snapshot's field names).
Their number does not depend on the size of the schema: each reads a whole area at once, filtered in SQL to
the schemas being audited. A query the role may not run is noted, and the collection goes on with the rest.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import psycopg

from auditor import progress
from auditor.bulk import leading_fields
from auditor.connectors import CollectOptions, catalog_cut, interrupted, sample_budget, with_sampling
from auditor.connectors.guard import Clock, DeadlineReached, WaitExpired
from auditor.connectors.postgres import operations
from auditor.connectors.postgres import sequences as sequence_values
from auditor.connectors.postgres.maintenance import (
    DATABASES_AREA,
    PageProbes,
    bloat_stats,
    collect_maintenance,
    measure,
)
from auditor.connectors.postgres.posture import POSTURE_SETTINGS, collect_posture
from auditor.connectors.postgres.prefetch import AreaRead, Prefetch, Read, read_area, read_probe
from auditor.connectors.postgres.replication import collect_replication
from auditor.connectors.postgres.session import (
    Session,
    SessionLimits,
    TupleRows,
    as_tuples,
    connect,
    crowded,
    open_imported,
    open_session,
)
from auditor.connectors.postgres.yielding import PgLockYield
from auditor.connectors.yielding import first_line, unavailable_note_text
from auditor.dsn import Dsn
from auditor.errors import AuditError, ScanInterrupted
from auditor.maintenance import INDEX_BLOAT_AREA, TABLE_BLOAT_AREA
from auditor.model import (
    Column,
    ColumnRef,
    Constraint,
    Index,
    IndexKey,
    Note,
    Sequence,
    Snapshot,
    Table,
    TableStats,
)
from auditor.posture import (
    FUNCTIONS_AREA,
    HBA_AREA,
    IO_AREA,
    ROLE_SETTINGS_AREA,
    ROLES_AREA,
    SCHEMA_PRIVILEGES_AREA,
    SERVER_STATS_AREA,
    SETTINGS_AREA,
)
from auditor.replication import PREPARED_AREA, REPLICA_AREA, SLOTS_AREA, STANDBYS_AREA
from auditor.sampling import SamplingBudget, sampling_off
from auditor.sqlquote import pg_ident, pg_qualified

__all__ = ["area_names", "catalog_file", "collect", "glob_to_regex", "limits_of"]

# settings the checks and reports read; autovacuum*, track_* and pg_stat_statements.* come along by prefix
SETTINGS = (
    "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size", "random_page_cost",
    "seq_page_cost", "effective_io_concurrency", "max_connections", "default_statistics_target",
    "shared_preload_libraries", "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
    "log_min_duration_statement", "wal_level", "max_wal_size", "min_wal_size", "checkpoint_timeout",
    "checkpoint_completion_target", "synchronous_commit", "fsync", "full_page_writes", "jit", "ssl",
    "password_encryption", "listen_addresses", "server_encoding", "lc_collate", "TimeZone", "block_size",
    "data_checksums", "max_parallel_workers", "max_parallel_workers_per_gather", "max_worker_processes",
    "huge_pages", "temp_buffers", "hot_standby", "max_locks_per_transaction", "default_transaction_isolation",
    "in_hot_standby", "server_version", "parallel_leader_participation", "max_slot_wal_keep_size",
    "wal_keep_size",
)

STAT_FIELDS = (
    "seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_tup_ins", "n_tup_upd", "n_tup_del",
    "n_tup_hot_upd", "n_live_tup", "n_dead_tup", "n_mod_since_analyze", "last_vacuum", "last_autovacuum",
    "last_analyze", "last_autoanalyze", "vacuum_count", "autovacuum_count", "analyze_count",
    "autoanalyze_count",
)


def glob_to_regex(pattern: str) -> str:
    """A schema glob (``*``, ``?``, ``[abc]``) as an anchored PostgreSQL regular expression."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 2 if pattern[i + 1:i + 2] in ("!", "]") else i + 1)
            body = pattern[i + 1:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        elif ch.isalnum() or ch == "_" or ord(ch) > 127:
            out.append(ch)
        else:
            out.append("\\" + ch)
        i += 1
    return "^" + "".join(out) + "$"


def limits_of(options: CollectOptions, clock: Clock | None = None) -> SessionLimits:
    connect_s = options.connect_timeout_s
    if clock is not None:
        # libpq counts whole seconds, and 0 would mean "wait forever"
        connect_s = max(1, min(connect_s, int(clock.cap(connect_s))))
    return SessionLimits(
        connect_timeout_s=connect_s,
        statement_timeout_ms=options.statement_timeout_ms,
        lock_timeout_ms=options.lock_timeout_ms,
        idle_in_transaction_timeout_ms=options.idle_in_transaction_timeout_ms,
    )


def collect(dsn: Dsn, options: CollectOptions) -> Snapshot:
    """Read the catalog in one short read-only transaction, commit, then run the probes statement by statement.

    The catalog's locks end with its COMMIT, before any probe runs; the probes run in autocommit mode, so the
    lock a sample or an EXPLAIN takes ends with its statement. When the connection is lost or cut (the server
    stopped answering, ``--timeout`` ran out) during the probes, the snapshot keeps what was collected and says
    what is missing in ``interrupted``.
    """
    clock = Clock.start(options.timeout_s, options.started, reserve=True)
    started = time.perf_counter()
    collected_at = datetime.now(UTC)
    limits = limits_of(options, clock)
    with open_session(dsn, limits, clock) as session:
        progress.report("catalog")
        collector = _Collector(session, dsn, options)
        snap: Snapshot | None = None
        try:
            try:
                with session.transaction(export=CATALOG_SESSIONS > 1) as exported, _without_cycle_collection():
                    if exported is not None:
                        collector.second = lambda: open_imported(dsn, limits, clock, exported)
                    snap = collector.run()
            except ScanInterrupted:
                if snap is None or not clock.expired():
                    raise
                # --timeout ran out after the catalog was built (its COMMIT cut): the connection's close ends the
                # transaction; the catalog read is reported, partial (the probes do not start)
            assert snap is not None
            snap = catalog_cut(snap, clock.reached())
            catalog_queries = session.round_trips + collector.second_sent()
            duration = round(time.perf_counter() - started, 4)
            snap = _run_probes(session, snap, options, clock, collector.measure_pages, collector.last_values)
        finally:
            collector.finish()
    return dataclasses.replace(snap, queries_sent=catalog_queries + collector.page_queries,
                               collected_at=collected_at, collect_duration_s=duration)


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Reading the catalog builds a million small objects (rows, then the snapshot's), none of them in a
    reference cycle: the cyclic garbage collector would walk them all again at every full collection (2 s of
    CPU at 10,000 tables). It is paused meanwhile and runs as before afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_probes(session: Session, snap: Snapshot, options: CollectOptions, clock: Clock,
                measure_pages: Callable[[Snapshot], Snapshot] | None,
                read_values: Callable[[Session, Snapshot], Snapshot]) -> Snapshot:
    """The bounded live probes, after the catalog's COMMIT (they need its tables), in autocommit mode.

    ``read_values``: the snapshot with the sequences' last values, first (:meth:`_Collector.last_values`: the
    batches the catalog's second session has not read yet, read on this one). ``measure_pages`` next
    (:meth:`_Collector.measure_pages`: the relations' pages the catalog chose to read, one statement each).
    The data sample and the EXPLAINs count their own round trips (``Sampling.queries``,
    ``WorkloadInfo.queries_sent``): the snapshot's ``queries_sent`` covers the fixed catalog part and the
    page reads (a fixed number too), ``collect_duration_s`` the catalog. Their budgets shrink to what is left of
    ``--timeout``, so that they end in time rather than being cut.
    """
    def sample(s: Snapshot) -> Snapshot:
        bounded = sample_budget(options, clock)
        if not (bounded.sample and bounded.normalization_sample):
            # sampling off: its module (and numpy's 0.1-0.2 s of import, which it needs) is not loaded at all
            return with_sampling(s, sampling_off(SamplingBudget.from_options(bounded)), bounded)
        from auditor.connectors.postgres import sampling

        # the sample's lock watcher is a second connection: not where the applications would be left without a
        # free slot
        no_room = crowded(session)

        def open_watcher() -> psycopg.Connection[Any]:
            if no_room is not None:
                raise no_room
            return connect(session.dsn, limits_of(options, clock))

        yielder = PgLockYield(open_watcher)
        try:
            result = sampling.probe(session.conn, s.tables, bounded, s.constraints, s.indexes, yielder)
        finally:
            yielder.close()
        s = with_sampling(s, result, bounded)
        if yielder.unavailable is not None:
            note = Note(area="sampling", message=unavailable_note_text(yielder.unavailable))
            s = dataclasses.replace(s, notes=(*s.notes, note))
        return s

    def explain(s: Snapshot) -> Snapshot:
        from auditor.connectors.postgres import workload

        bounded = workload.WorkloadOptions(
            time_budget_s=clock.cap(workload.WorkloadOptions.time_budget_s, reserve=2.0),
            explain_timeout_ms=min(workload.WorkloadOptions.explain_timeout_ms, options.statement_timeout_ms))
        return workload.collect_workload(session.conn, s, bounded)

    def last_values(s: Snapshot) -> Snapshot:
        return read_values(session, s)

    # the sequences' last values first: the headroom checks need them, and they cost a few statements
    steps: list[tuple[str, Callable[[Snapshot], Snapshot]]] = [("sequences", last_values), ("sampling", sample)]
    if measure_pages is not None:
        steps.insert(1, ("maintenance", measure_pages))
    if options.workload:
        steps.append(("workload", explain))
    for i, (area, probe) in enumerate(steps):
        try:
            if clock.expired():
                raise ScanInterrupted(f"the scan ran past --timeout {clock.timeout_s:g} s")
            snap = _guarded(session, snap, area, probe)
        except (ScanInterrupted, WaitExpired, DeadlineReached, psycopg.OperationalError) as exc:
            if isinstance(exc, psycopg.OperationalError) and not (session.conn.closed or session.conn.broken):
                raise
            why = exc.message if isinstance(exc, ScanInterrupted) else str(exc) if isinstance(
                exc, DeadlineReached) else str(session.interruption(exc))
            return interrupted(snap, why, [name for name, _ in steps[i:]])
    return snap


def _guarded(session: Session, snap: Snapshot, area: str, probe: Callable[[Snapshot], Snapshot]) -> Snapshot:
    """Run a probe: a server error costs its part of the snapshot, not the run; a lost connection ends it."""
    try:
        return probe(snap)
    except (psycopg.errors.Error, psycopg.DatabaseError) as exc:
        if session.conn.closed or session.conn.broken:
            raise
        first = first_line(exc)
        note = Note(area=area, message=f"the {area} probe stopped: {first}")
        return dataclasses.replace(snap, notes=(*snap.notes, note))


# How many sessions read the catalog: the second reads its share of the areas (SECOND_SHARE) in the first's
# snapshot, at the same time (see prefetch.py); 1: one session reads them all, one after another (tests).
CATALOG_SESSIONS = 2
# The areas the second session reads, chosen so that the two sessions end together and the collection gets the
# areas it builds the most from early. The figures: the time one session took for each area (bench15_*,
# PostgreSQL 15, 2026-11-29, the shortest of three scans, load average 10-13 on 2 CPUs: for their ratios; ms at
# 2,000 / 10,000 tables): indexes 552 / 2,681, constraints 630 / 2,617, columns 614 / 1,694, tables 327 / 1,577,
# index_bloat 177 / 1,436, sequences 191 / 1,253, the sequences' last values 222 / 1,137, io 110 / 1,112,
# column_stats 162 / 923, server_stats 152 / 796, table_bloat 120 / 677, freeze 50 / 301, definer_functions
# 101 / 253, the rest 100 / 90 together (at 20 tables: 160 ms in all). The second reads columns and indexes
# first, then freeze, index_bloat and server_stats; the first tables, column_stats, constraints, sequences, io
# and the rest. (io was the second's under that load; on a quiet machine the second then ended 0.45 s after
# the first at 10,000 tables, and with io moved they end within 0.1 s: scan 4.33-4.42 s against 4.43-4.50 s,
# three interleaved runs each, load average 0.4.) The last values go to whichever session has committed
# and is free (sequences.Batches), the second first. index_bloat needs column_stats' rows, which the first has
# read by then (when it has not, in a small schema, the first reads it). The areas whose rows depend on the
# reading session (server, activity: is_self; server_settings: the session's own values) stay with the first.
SECOND_SHARE = frozenset({"columns", "indexes", "freeze", INDEX_BLOAT_AREA, SERVER_STATS_AREA})

# catalog areas, in the order their outcomes are recorded (columns.sql is sent first, see _Collector._plan); each
# is one query, filtered to the audited schemas
CATALOG_AREAS = ("tables", "columns", "column_stats", "constraints", "indexes", "sequences")


def catalog_file(area: str, superuser: bool) -> str:
    """The file that reads a catalog area for this role: a superuser reads the column statistics from
    pg_statistic, the same rows pg_stats would show it, without the view's privilege check per column."""
    return "column_stats_superuser" if area == "column_stats" and superuser else area


def area_names(area: str, server_major: int) -> dict[str, str] | None:
    """What fills the ``{name}`` placeholders of a catalog file on this server version."""
    if area == "indexes":
        return {"nulls_not_distinct": "i.indnullsnotdistinct" if server_major >= 15 else "false"}
    if area == "replication_slots":  # wal_status and safe_wal_size came in PostgreSQL 13, inactive_since in 17
        return {"wal_status": "s.wal_status" if server_major >= 13 else "NULL::text",
                "safe_wal_size": "s.safe_wal_size" if server_major >= 13 else "NULL::bigint",
                "inactive_since": "s.inactive_since" if server_major >= 17 else "NULL::timestamptz"}
    return None


class _Collector:
    """Reads the areas through a :class:`Prefetch` (the queries go out from its thread, ahead of their turn) and
    builds the snapshot's objects from each area as it arrives, while the server reads the next ones."""

    def __init__(self, session: Session, dsn: Dsn, options: CollectOptions) -> None:
        self.session = session
        self.dsn = dsn
        self.options = options
        self.notes: list[Note] = []
        self.unread: list[str] = []
        self.locked: dict[int, dict[str, Any]] = {}  # oid -> locks.sql row, for every relation left out
        self.prefetch: Prefetch | None = None  # while run() reads the catalog
        self.page_probes: PageProbes | None = None  # what measure_pages reads, once run() chose it
        self.page_queries = 0  # round trips of measure_pages
        self.second: Callable[[], Session] | None = None  # opens the second catalog session (see collect)
        self.finished: Prefetch | None = None  # run()'s, until finish(): its second session outlives run()

    def _read(self, area: str, params: Mapping[str, Any], sql_file: str | None = None,
              when: Callable[[Mapping[str, int | None]], bool] | None = None) -> Read:
        return Read(area, params, sql_file, area_names(area, self.session.server_major), when=when)

    def _take(self, read: Read) -> list[dict[str, Any]] | None:
        """An area's rows, and what its reading decided (refusal notes, areas unread, locks) recorded in the
        collection's own order."""
        if self.prefetch is None:  # after the catalog's COMMIT (measure_pages): sent now, in autocommit mode
            reader = read_probe if read.kind == "probe" else read_area
            return self._record(reader(self.session, read, self.locked))
        return self._record(self.prefetch.take(read))

    def _record(self, result: AreaRead) -> list[dict[str, Any]] | None:
        self.notes.extend(result.notes)
        self.unread.extend(result.unread)
        for r in result.locks:
            self.locked.setdefault(int(r["oid"]), r)
        return result.rows

    def _area(self, area: str, params: Mapping[str, Any], sql_file: str | None = None
              ) -> list[dict[str, Any]] | None:
        """Rows of one catalog query, or None (with a note) when the server refused it. ``sql_file`` names the
        file when it is another than the area's own (notes still name the area)."""
        return self._take(self._read(area, params, sql_file))

    def _probe_area(self, area: str, params: Mapping[str, Any], names: Mapping[str, str]
                    ) -> list[dict[str, Any]] | None:
        """An optional query that reads relations' pages (pgstattuple): any server error costs only its figures
        (a note says why); a lost connection still ends the run."""
        return self._take(Read(area, params, None, names, kind="probe"))

    def measure_pages(self, snap: Snapshot) -> Snapshot:
        """After the catalog's COMMIT, in autocommit mode: the reads of relations' pages that :meth:`run` chose
        (the TOAST column sample, pgstattuple), each a statement of its own, so that the locks they take on
        those tables end with it rather than with the catalog's transaction. Their errors are handled and
        noted as in the catalog (the same readers, without the prefetch; :meth:`Session.query` sends no
        savepoint here)."""
        if snap.maintenance is None or self.page_probes is None:
            return snap
        notes, unread, sent = len(self.notes), len(self.unread), self.session.round_trips
        try:
            maintenance = measure(self._area, self._probe_area, snap.maintenance, self.page_probes, self.notes,
                                  sample=self.options.sample)
        finally:
            self.page_queries = self.session.round_trips - sent
        return dataclasses.replace(snap, maintenance=maintenance, notes=(*snap.notes, *self.notes[notes:]),
                                   unread_areas=(*snap.unread_areas, *self.unread[unread:]))

    def _read_locks(self, schemas: list[str]) -> None:
        rows = self._area("locks", {"schemas": schemas, "dropped": False}) or []
        for r in rows:
            self.locked.setdefault(int(r["oid"]), r)

    def _plan(self, server: Mapping[str, Any], ext: Mapping[str, Any], schemas: list[str]) -> list[Read]:
        """The reads after locks.sql, in the order :meth:`run` and the collect_* functions it calls take them.
        An area missing here is still read when asked for (later); one here that is never asked for is a query
        too many: a test checks that none is."""
        scope = {"schemas": schemas}
        superuser = bool(server.get("is_superuser"))
        read = self._read
        # columns.sql before tables.sql: the client has work to do with the columns, none with the tables alone;
        # indexes (the second session's) before constraints (the first's): the collection builds them first
        order = ("columns", "tables", "column_stats", "indexes", "constraints", "sequences")
        reads = [read(area, scope, catalog_file(area, superuser)) for area in order]
        reads.append(read("activity", {}))

        # collect_maintenance (before collect_posture: its index estimates are the client's longest work after the
        # catalog areas, done while the server reads posture's areas): the estimates only with column_stats'
        # rows, pgstattuple's grant check only with estimates to refine (toast_columns and the exact_bloat probe
        # read relations' pages: measure_pages sends them after the COMMIT)
        def stats_read(done: Mapping[str, int | None]) -> bool:
            return done.get("column_stats") is not None  # not read yet (another session's): asked for later

        def estimated(done: Mapping[str, int | None]) -> bool:
            return any(done.get(area) for area in (TABLE_BLOAT_AREA, INDEX_BLOAT_AREA))

        reads += [read("freeze", scope), read(DATABASES_AREA, {}),
                  read(TABLE_BLOAT_AREA, scope, when=stats_read), read(INDEX_BLOAT_AREA, scope, when=stats_read)]
        if "pgstattuple" in (ext.get("installed") or {}):
            reads.append(read("pgstattuple_access", {}, when=estimated))
        # collect_posture
        reads += [read(SETTINGS_AREA, {"settings": list(POSTURE_SETTINGS)}), read(ROLE_SETTINGS_AREA, {}),
                  read("roles_passwords" if server.get("can_read_authid") else ROLES_AREA, {})]
        if server.get("can_read_hba"):
            reads.append(read(HBA_AREA, {}))
        reads += [read(SCHEMA_PRIVILEGES_AREA, scope), read(FUNCTIONS_AREA, scope), read(SERVER_STATS_AREA, {}),
                  read(IO_AREA, scope)]
        # collect_replication
        reads += [read(area, {}) for area in (REPLICA_AREA, PREPARED_AREA, SLOTS_AREA, STANDBYS_AREA)]
        return reads

    def run(self) -> Snapshot:
        self.session.tuple_areas = TUPLE_AREAS
        second = self.second

        def open_second() -> Session:
            assert second is not None
            session = second()
            session.tuple_areas = TUPLE_AREAS
            return session

        self.prefetch = self.finished = Prefetch(self.session, None if second is None else open_second,
                                                 SECOND_SHARE)
        done = False
        try:
            snap = self._run()
            done = True
            return snap
        finally:
            self.prefetch.close(abort=not done)
            self.prefetch = None
            self.session.tuple_areas = frozenset()

    def second_sent(self) -> int:
        """The second session's catalog round trips (0 when there was none)."""
        return 0 if self.finished is None else self.finished.second_catalog_sent()

    def last_values(self, session: Session, snap: Snapshot) -> Snapshot:
        """The snapshot with its sequences' last values: the batches the second session has not read are read on
        ``session`` (after the catalog's COMMIT), then the second session is closed."""
        batches = None if self.finished is None else self.finished.sequence_batches()
        snap = sequence_values.read_last_values(session, snap, batches=batches)
        if self.finished is not None:
            self.finished.second_closed()
        return snap

    def finish(self) -> None:
        """The second session closed (cancelled when still running: the scan stopped)."""
        if self.finished is not None:
            self.finished.finish()

    def _run(self) -> Snapshot:
        server = (self._area("server", {"settings": list(SETTINGS)}) or [{}])[0]
        role = str(server.get("role") or "")
        ext = (self._area("extensions", {}) or [{}])[0]
        schema_rows = self._area("schemas", {
            "include": [glob_to_regex(p) for p in self.options.include_schemas],
            "exclude": [glob_to_regex(p) for p in self.options.exclude_schemas],
        }) or []
        schemas = [r["name"] for r in schema_rows if r["included"] and not r["excluded"]]
        if not schemas and schema_rows:
            raise AuditError(_no_schema_message(schema_rows, self.options))
        self._read_locks(schemas)
        assert self.prefetch is not None
        self.prefetch.plan(self._plan(server, ext, schemas))
        scope = {"schemas": schemas}
        superuser = bool(server.get("is_superuser"))

        def area_rows(area: str) -> TupleRows:
            rows = self._area(area, scope, catalog_file(area, superuser))
            return TupleRows() if rows is None else as_tuples(rows)

        # each area is built as soon as it is there, while the server reads the next; the relations found locked
        # meanwhile are taken out of the built objects afterwards (as _without_locked takes them out of rows)
        # columns.sql goes out first (see _plan): the index writer and the columns by table are built while the
        # server reads tables.sql; what its reading decided is recorded after tables.sql's, in CATALOG_AREAS' order
        columns_read = self.prefetch.take(self._read("columns", scope, catalog_file("columns", superuser)))
        column_rows = _tuple_rows(columns_read.rows)
        columns_of = _columns_by_table(column_rows)
        writer = _IndexWriter(columns_of, column_rows, server.get("reserved_words") or (),
                              bool(server.get("quote_all_identifiers")))
        rows = {"tables": area_rows("tables")}
        self._record(columns_read)
        rows["columns"] = column_rows
        rows["column_stats"] = area_rows("column_stats")
        tables = _tables(rows["tables"], column_rows, columns_of, rows["column_stats"])
        # indexes before constraints: the second session reads them while the first reads constraints (see _plan);
        # what their reading decided is recorded in CATALOG_AREAS' order
        indexes_read = self.prefetch.take(self._read("indexes", scope, catalog_file("indexes", superuser)))
        index_rows = _tuple_rows(indexes_read.rows)
        indexes = writer.indexes(index_rows)
        rows["constraints"] = area_rows("constraints")
        constraints = _constraints(rows["constraints"], writer.column_names)
        self._record(indexes_read)
        rows["indexes"] = index_rows
        rows["sequences"] = area_rows("sequences")
        sequences = _sequences(rows["sequences"])
        if self.locked:
            rows = _without_locked(rows, self.locked.values())
            tables, indexes, constraints, sequences = _objects_without_locked(
                tables, indexes, constraints, sequences, self.locked.values(), writer)
            self.notes.append(_locked_note(list(self.locked.values())))
        # their last values: read by whichever session has committed (the second, as soon as its share is read)
        self.prefetch.post_sequences(sequences)
        activity_rows = self._area("activity", {})
        second_pid = self.prefetch.second_pid
        if activity_rows is not None and second_pid is not None:
            # the catalog's second session is the scan's own reading, not a session of the server's: as with one
            # session, the activity shows dbaudit once
            activity_rows = [r for r in activity_rows if r["pid"] != second_pid]

        privilege_notes = _privilege_notes(rows["tables"], rows["sequences"], role, self.session.server_major)
        # the maintenance areas are read before posture's (see _plan), and what their reading notes is recorded
        # after posture's, as when they were read after them
        notes, unread = self.notes, self.unread
        self.notes, self.unread = [], []
        # the bloat estimates read column_stats' pg_stats rows: without them, no estimate (and the same note)
        stats_read = "column_stats" not in unread
        if not stats_read:
            self.unread.extend((TABLE_BLOAT_AREA, INDEX_BLOAT_AREA))
        maintenance, self.page_probes = collect_maintenance(
            self._area, schemas, self.notes, "pgstattuple" in (ext.get("installed") or {}), role,
            stats=bloat_stats(rows["column_stats"]) if stats_read else None,
            stats_note=next((n for n in notes if n.area == "column_stats"), None),
            column_names=writer.column_names)
        maintenance_notes, maintenance_unread = self.notes, self.unread
        self.notes, self.unread = [*notes, *privilege_notes], unread
        posture = collect_posture(self._area, server, schemas, self.notes)
        self.notes.extend(maintenance_notes)
        self.unread.extend(maintenance_unread)
        replication = collect_replication(self._area, role, self.notes)
        capabilities = list(server.get("member_of") or [])
        if server.get("is_superuser"):
            capabilities.insert(0, "superuser")
        version_num = int(server.get("server_version_num") or self.session.conn.info.server_version)
        return Snapshot(
            engine="postgresql",
            server_version=_short_version(str(server.get("server_version") or ""), version_num),
            server_version_num=version_num,
            database=str(server.get("database") or self.dsn.database),
            dsn=self.dsn.display,
            settings={str(k): str(v) for k, v in (server.get("settings") or {}).items()},
            extensions={str(k): str(v) for k, v in (ext.get("installed") or {}).items()},
            available_extensions=tuple(ext.get("available") or ()),
            capabilities=tuple(capabilities),
            stats_reset=server.get("stats_reset"),
            server_started=server.get("server_started"),
            schemas=tuple(schemas),
            tables=tables,
            indexes=indexes,
            constraints=constraints,
            sequences=sequences,
            notes=tuple(self.notes),
            activity=None if activity_rows is None else operations.activity(activity_rows, capabilities, role),
            posture=posture,
            maintenance=maintenance,
            replication=replication,
            unread_areas=tuple(self.unread),
        )


def _tuple_rows(rows: list[Any] | None) -> TupleRows:
    """An area's rows taken ahead of their turn: TupleRows (one of Session.tuple_areas), empty when not read."""
    return rows if isinstance(rows, TupleRows) else TupleRows()


def _objects_without_locked(tables: tuple[Table, ...], indexes: tuple[Index, ...],
                            constraints: tuple[Constraint, ...], sequences: tuple[Sequence, ...],
                            locked: Iterable[dict[str, Any]], writer: _IndexWriter
                            ) -> tuple[tuple[Table, ...], tuple[Index, ...], tuple[Constraint, ...],
                                       tuple[Sequence, ...]]:
    """The objects built from the areas' rows, as if built from :func:`_without_locked`'s rows (and the index
    writer's column names without the locked tables', which the maintenance estimates read)."""
    locked = list(locked)
    gone = {(r["schema"], r["name"]) for r in locked if r["kind"] == "table"}
    gone_sequences = {(r["schema"], r["name"]) for r in locked if r["kind"] == "sequence"}
    for key in gone:
        writer.column_names.pop(key, None)
        writer.collations.pop(key, None)
    return (tuple(t for t in tables if (t.schema, t.name) not in gone),
            tuple(i for i in indexes if (i.schema, i.table) not in gone),
            tuple(c for c in constraints if (c.schema, c.table) not in gone),
            tuple(s for s in sequences if (s.schema, s.name) not in gone_sequences))


def _without_locked(rows: dict[str, TupleRows], locked: Iterable[dict[str, Any]]) -> dict[str, TupleRows]:
    """Every area without the locked relations, so that no check judges a table from part of its catalog.

    An area read before a retry may still hold a table that a later area left out: the union of every lock
    seen during the transaction decides, for every area alike.
    """
    tables = {(r["schema"], r["name"]) for r in locked if r["kind"] == "table"}
    sequences = {(r["schema"], r["name"]) for r in locked if r["kind"] == "sequence"}
    if not tables and not sequences:
        return rows

    def without(area: str, table: str, gone: set[tuple[str, str]]) -> TupleRows:
        key = rows[area].fields("schema", table)
        return TupleRows((r for r in rows[area] if key(r) not in gone), rows[area].columns)

    out = dict(rows)
    out["tables"] = without("tables", "name", tables)
    for area in ("columns", "column_stats", "indexes", "constraints"):
        out[area] = without(area, "table", tables)
    out["sequences"] = without("sequences", "name", sequences)
    return out


def _locked_note(locked: list[dict[str, Any]]) -> Note:
    names = tuple(sorted(f"{r['schema']}.{r['name']}" for r in locked))
    return Note(
        area="locks",
        message=f"{len(names)} relation(s) were locked by another session (ACCESS EXCLUSIVE: an ALTER TABLE, "
                "TRUNCATE, DROP or REINDEX in progress) or dropped while the catalog was read, and were not read; "
                "no check judged them, and they are left out of the metrics",
        objects=names,
        enable="run dbaudit again when that statement has finished",
    )


def _no_schema_message(rows: list[dict[str, Any]], options: CollectOptions) -> str:
    """Why the patterns select nothing, with the schemas there are: auditing nothing would look like a pass."""
    names = [str(r["name"]) for r in rows]
    shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
    if not any(r["included"] for r in rows):
        patterns = " ".join(f"--schema {p!r}" for p in options.include_schemas)
        return f"no schema matches {patterns} (schemas: {shown})"
    patterns = " ".join(f"--exclude-schema {p!r}" for p in options.exclude_schemas)
    return f"{patterns} leaves no schema to audit (schemas: {shown})"


def _short_version(text: str, num: int) -> str:
    """'15.19' from '15.19 (Debian 15.19-0+deb12u1)'."""
    m = re.match(r"\d+(\.\d+)*", text)
    if m:
        return m.group(0)
    return f"{num // 10000}.{num % 10000}"


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


# the objects made in bulk are given their fields by position, in these orders (checked at import)
COLUMN_FIELDS = leading_fields(Column, "name", "data_type", "nullable", "default", "comment", "position", "identity",
                               "null_frac", "n_distinct", "generated", "base_type")
TABLE_FIELDS = leading_fields(Table, "schema", "name", "kind", "estimated_rows", "total_bytes", "table_bytes",
                              "index_bytes", "toast_bytes", "comment", "parent", "is_partition", "engine",
                              "partitioned", "partition_count", "altered_at", "columns", "stats", "policy_columns")
TABLE_STATS_FIELDS = leading_fields(TableStats, *STAT_FIELDS)
INDEX_FIELDS = leading_fields(Index, "schema", "table", "name", "keys", "include", "method", "is_unique",
                              "is_primary", "predicate", "is_valid", "is_ready", "constraint", "constraint_type",
                              "definition", "size_bytes", "scans", "tuples_read", "tuples_fetched", "visible",
                              "is_partition_child", "parent_index")
CONSTRAINT_FIELDS = leading_fields(Constraint, "schema", "table", "name", "type", "columns", "definition",
                                   "validated", "deferrable", "ref_schema", "ref_table", "ref_columns", "on_update",
                                   "on_delete", "match_type", "index", "ref_column_types", "ref_column_base_types",
                                   "domain")

# the areas fetched as tuples (Session.tuple_areas): the large ones, read by name through TupleRows.fields
TUPLE_AREAS = frozenset({"columns", "tables", "column_stats", "column_stats_superuser", "constraints", "indexes",
                         "sequences", INDEX_BLOAT_AREA, TABLE_BLOAT_AREA, "freeze", IO_AREA, FUNCTIONS_AREA})

Row = tuple[Any, ...]


def _columns_by_table(column_rows: TupleRows) -> dict[tuple[str, str], list[Row]]:
    """columns.sql's rows by table, in their order (columns.sql sends them in no order)."""
    columns_of: dict[tuple[str, str], list[Row]] = {}
    table_of = column_rows.fields("schema", "table")
    for c in column_rows:
        key = table_of(c)
        columns = columns_of.get(key)
        if columns is None:
            columns_of[key] = [c]
        else:
            columns.append(c)
    if column_rows.columns:
        by_position = itemgetter(column_rows.columns.index("position"))
        for columns in columns_of.values():
            columns.sort(key=by_position)
    return columns_of


def _tables(table_rows: TupleRows, column_rows: TupleRows, columns_of: Mapping[tuple[str, str], list[Row]],
            stat_rows: TupleRows) -> tuple[Table, ...]:
    """``columns_of``: :func:`_columns_by_table`'s. The rows' values are taken as psycopg typed them (the
    files cast every number and flag; null_frac and n_distinct are real, which psycopg gives as float)."""
    # (schema, table) -> column -> (null_frac, n_distinct): the table's own row wins over its children's; by table,
    # so that each column is looked up by its name alone (column_stats.sql sends a table's rows together, mostly)
    stats: dict[tuple[str, str], dict[str, tuple[float | None, float | None]]] = {}
    of_table: dict[str, tuple[float | None, float | None]] = {}
    last_schema = last_table = None
    for schema, table, name, inherited, null_frac, n_distinct in map(
            stat_rows.fields("schema", "table", "name", "inherited", "null_frac", "n_distinct"), stat_rows):
        if table != last_table or schema != last_schema:
            last_schema, last_table = schema, table
            of_table = stats.setdefault((schema, table), {})
        if not inherited or name not in of_table:
            of_table[name] = (null_frac, n_distinct)
    no_stats = (None, None)
    no_columns: dict[str, tuple[float | None, float | None]] = {}
    # a column's fields in COLUMN_FIELDS' order, but for the statistics, which go between the two parts
    head = column_rows.fields("name", "data_type", "nullable", "default", "comment", "position", "identity")
    tail = column_rows.fields("generated", "base_type")
    # the same column (name, type, position, default, statistics...) recurs in many tables of a big schema: one
    # immutable object for all of them (fewer objects to build and hold)
    shared: dict[tuple[Any, ...], Column] = {}
    tables: list[Table] = []
    table_fields = table_rows.fields("schema", "name", "kind", "estimated_rows", "total_bytes", "table_bytes",
                                     "index_bytes", "toast_bytes", "comment", "parent_schema", "parent_name",
                                     "is_partition", "policy_columns")
    table_stats = table_rows.fields(*STAT_FIELDS)
    for r in table_rows:
        (schema, name, kind, estimated_rows, total_bytes, table_bytes, index_bytes, toast_bytes, comment,
         parent_schema, parent_name, is_partition, policy_columns) = table_fields(r)
        cols = []
        column_stats = stats.get((schema, name), no_columns)
        for c in columns_of.get((schema, name), ()):
            first = head(c)
            spec = first + column_stats.get(first[0], no_stats) + tail(c)  # COLUMN_FIELDS' order
            built = shared.get(spec)
            if built is None:
                built = shared[spec] = Column(*spec)
            cols.append(built)
        tables.append(Table(  # TABLE_FIELDS' order
            schema, name, kind, estimated_rows, total_bytes, table_bytes, index_bytes, toast_bytes, comment,
            None if parent_name is None else f"{parent_schema}.{parent_name}", is_partition, None, False, 0, None,
            tuple(cols), TableStats(*table_stats(r)),
            tuple(sorted(policy_columns)) if policy_columns else ()))
    return tuple(tables)


DEFAULT_COLLATION = 100  # pg_collation's "default" (the database's collation)
_LOWER_CASE_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class _IndexWriter:
    """Indexes from indexes.sql rows: key columns named from their numbers (columns.sql), and the CREATE INDEX of
    the plain indexes written as pg_get_indexdef() writes it (the query brings the server's own text for the
    others, and their keys' expression, operator class and collation).

    ``column_names`` and ``collations``: (schema, table) -> column number -> the column's name, its collation."""

    def __init__(self, columns_of: Mapping[tuple[str, str], list[Row]], column_rows: TupleRows,
                 reserved_words: Iterable[str], quote_all: bool) -> None:
        self.column_names: dict[tuple[str, str], dict[int, str]] = {}
        self.collations: dict[tuple[str, str], dict[int, int]] = {}
        numbered = column_rows.fields("position", "name", "collation")
        for table, columns in columns_of.items():
            fields = list(map(numbered, columns))
            self.column_names[table] = {position: name for position, name, _ in fields}
            self.collations[table] = {position: collation for position, _, collation in fields}
        self.reserved = frozenset(reserved_words)
        self.quote_all = quote_all
        self.quoted: dict[str, str] = {}
        # the same key (column name, ordering, opclass, collation) recurs in many indexes: one immutable object
        self.keys: dict[tuple[Any, ...], IndexKey] = {}
        # a plain key (column, indoption, COLLATE "default" or not): its IndexKey and its text in a CREATE INDEX
        self.plain_keys: dict[tuple[str, int, bool], tuple[IndexKey, str]] = {}

    def quote(self, name: str) -> str:
        """quote_ident(): as is when lower case, not a keyword that needs quoting, and not quote_all_identifiers."""
        quoted = self.quoted.get(name)
        if quoted is None:
            quoted = self.quoted[name] = self.quote_once(name)
        return quoted

    def quote_once(self, name: str) -> str:
        """:meth:`quote` without keeping the result: for an index's own name, which no other index has."""
        if self.quote_all or not _LOWER_CASE_NAME.fullmatch(name) or name in self.reserved:
            return '"' + name.replace('"', '""') + '"'
        return name

    def _key(self, spec: tuple[Any, ...]) -> IndexKey:
        key = self.keys.get(spec)
        if key is None:
            key = self.keys[spec] = IndexKey(*spec)  # IndexKey's fields, in order
        return key

    def indexes(self, rows: TupleRows) -> tuple[Index, ...]:
        fields = rows.fields(
            "schema", "table", "name", "attnums", "key_count", "options", "collations", "details", "method",
            "is_unique", "is_primary", "predicate", "is_valid", "is_ready", "constraint", "constraint_type",
            "definition", "size_bytes", "scans", "tuples_read", "tuples_fetched", "is_partition_child",
            "parent_index")
        out: list[Index] = []
        last_schema = last_table = None
        names: Mapping[int, str] = {}
        column_collations: Mapping[int, int] = {}
        on_table = ""
        plain_keys = self.plain_keys
        for r in rows:
            (schema, table_name, name, attnums, key_count, options, collations, details, method, is_unique,
             is_primary, predicate, is_valid, is_ready, constraint, constraint_type, definition, size_bytes,
             scans, tuples_read, tuples_fetched, is_partition_child, parent_index) = fields(r)
            if table_name != last_table or schema != last_schema:  # indexes.sql sends them by table
                last_schema, last_table = schema, table_name
                table = (schema, table_name)
                names = self.column_names.get(table, {})
                column_collations = self.collations.get(table, {})
                on_table = f" ON {self.quote(schema)}.{self.quote(table_name)} USING "
            keys: list[IndexKey] = []
            texts: list[str] | None = None  # the keys' text in a CREATE INDEX written here; None: not written here
            if details:
                for pos in range(key_count):
                    attnum, option, detail = attnums[pos], options[pos], details[pos]
                    # an expression (0), or a column the columns area missed (it was refused): no column name
                    keys.append(self._key((names.get(attnum) if attnum else None, detail["expression"],
                                           bool(option & 1), bool(option & 2), detail["opclass"],
                                           detail["collation"])))
            else:
                texts = []
                # default operator class, and no collation or the database's: named only where the column has
                # another (pg_get_indexdef prints COLLATE "default" then)
                for attnum, option, collation in zip(attnums[:key_count], options, collations, strict=False):
                    column = names.get(attnum) if attnum else None
                    if column is None:
                        named = collation not in (0, DEFAULT_COLLATION)
                        keys.append(self._key((None, None, bool(option & 1), bool(option & 2), None,
                                               "default" if named else None)))
                        texts = None
                        continue
                    named = collation != 0 and collation != column_collations.get(attnum, DEFAULT_COLLATION)
                    plain = plain_keys.get((column, option, named))
                    if plain is None:
                        key = self._key((column, None, bool(option & 1), bool(option & 2), None,
                                         "default" if named else None))
                        plain = plain_keys[(column, option, named)] = (
                            key, self.quote(column) + (f" COLLATE {self.quote('default')}" if named else ""))
                    keys.append(plain[0])
                    if texts is not None:
                        texts.append(plain[1])
            # most indexes have no INCLUDE column: no generator made for them (0.5 µs an index: 20 ms at 10,000 tables)
            include = tuple([names[a] for a in attnums[key_count:] if a in names]) if len(attnums) > key_count \
                else ()
            if definition is None and texts is None and all(k.column is not None for k in keys):
                # the server's text missing (the index dropped meanwhile): written from the keys' details
                q = self.quote
                texts = [q(k.column or "") + (f" COLLATE {q(k.collation)}" if k.collation else "") for k in keys]
            if definition is None and texts is not None:
                definition = self.plain_definition(name, is_unique, method, on_table, texts, include)
            out.append(Index(  # INDEX_FIELDS' order
                schema, table_name, name, tuple(keys), include, method, is_unique, is_primary, predicate, is_valid,
                is_ready, constraint, constraint_type, definition or "", size_bytes, scans, tuples_read,
                tuples_fetched, True, is_partition_child, parent_index))
        return tuple(out)

    def plain_definition(self, name: str, is_unique: bool, method: str, on_table: str, texts: list[str],
                         include: tuple[str, ...]) -> str:
        """pg_get_indexdef() of an index of column keys, ascending, with default operator classes, without a
        predicate, storage parameters or NULLS NOT DISTINCT, on a table (not a partitioned one's ON ONLY);
        ``on_table``: " ON schema.table USING ", ``texts``: its keys' (a column, and its collation where named)."""
        q = self.quote
        covering = f" INCLUDE ({', '.join(q(c) for c in include)})" if include else ""
        return (f"CREATE {'UNIQUE ' if is_unique else ''}INDEX {self.quote_once(name)}{on_table}{q(method)} "
                f"({', '.join(texts)}){covering}")


# the system columns a CHECK constraint may name (tableoid), by their fixed numbers
SYSTEM_COLUMNS = {-1: "ctid", -2: "xmin", -3: "cmin", -4: "xmax", -5: "cmax", -6: "tableoid"}


def _constraints(rows: TupleRows, column_names: Mapping[tuple[str, str], Mapping[int, str]]
                 ) -> tuple[Constraint, ...]:
    fields = rows.fields("schema", "table", "name", "type", "attnums", "definition", "validated", "deferrable",
                         "ref_schema", "ref_table", "ref_columns", "on_update", "on_delete", "match_type", "index",
                         "ref_column_types", "ref_column_base_types", "domain")
    out: list[Constraint] = []
    no_names: Mapping[int, str] = {}
    names = no_names
    last_schema = last_table = None
    for r in rows:
        (schema, table, name, type_, attnums, definition, validated, deferrable, ref_schema, ref_table,
         ref_columns, on_update, on_delete, match_type, index, ref_column_types, ref_column_base_types,
         domain) = fields(r)
        if table != last_table or schema != last_schema:  # constraints.sql sends them by table
            last_schema, last_table = schema, table
            names = column_names.get((schema, table), no_names)
        out.append(Constraint(  # CONSTRAINT_FIELDS' order
            schema, table, name, type_,
            tuple([names.get(a) or SYSTEM_COLUMNS.get(a, "") for a in attnums]) if attnums else (),
            definition or "", validated, deferrable, ref_schema, ref_table,
            tuple(ref_columns) if ref_columns else (), on_update, on_delete, match_type, index,
            tuple(ref_column_types) if ref_column_types else (),
            tuple(ref_column_base_types) if ref_column_base_types else (), domain))
    return tuple(out)


def _sequences(rows: TupleRows) -> tuple[Sequence, ...]:
    fields = rows.fields("schema", "name", "data_type", "start_value", "increment", "min_value", "max_value",
                         "cycle", "feeds")
    out: list[Sequence] = []
    for r in rows:
        schema, name, data_type, start_value, increment, min_value, max_value, cycle, feeds = fields(r)
        out.append(Sequence(
            schema=schema, name=name, data_type=data_type, start_value=start_value, increment=increment,
            min_value=min_value, max_value=max_value, last_value=None, cycle=cycle,
            feeds=tuple(ColumnRef(schema=f["schema"], table=f["table"], column=f["column"],
                                  data_type=f["data_type"]) for f in feeds or ()),
        ))
    return tuple(out)


def _privilege_notes(table_rows: TupleRows, sequence_rows: TupleRows, role: str, server_major: int) -> list[Note]:
    notes: list[Note] = []
    grantee = pg_ident(role) if role else "<role>"
    everything = f"GRANT pg_read_all_data TO {grantee}" if server_major >= 14 else None
    # (schema, name, readable) of each table, each sequence
    tables = list(map(table_rows.fields("schema", "name", "readable"), table_rows))
    sequences = list(map(sequence_rows.fields("schema", "name", "readable"), sequence_rows))

    def grant(kind: str, rows: list[Row], all_rows: list[Row]) -> str:
        """GRANT ... ON ALL ... IN SCHEMA where a whole schema is closed, else the objects one by one."""
        closed_schemas = {r[0] for r in rows}
        parts: list[str] = []
        for schema in sorted(closed_schemas):
            total = sum(1 for r in all_rows if r[0] == schema)
            mine = [r for r in rows if r[0] == schema]
            if len(mine) == total and total > 1:
                everything_in = f"ALL {kind.upper()}S IN SCHEMA {pg_ident(schema)}"
                parts.append(f"GRANT SELECT ON {everything_in} TO {grantee};")
            else:
                kw = "" if kind == "table" else "SEQUENCE "
                parts.append(f"GRANT SELECT ON {kw}{', '.join(pg_qualified(r[0], r[1]) for r in mine)} "
                             f"TO {grantee};")
        text = " ".join(parts)
        return f"{text} (or {everything})" if everything else text

    closed = [r for r in tables if not r[2]]
    if closed:
        notes.append(Note(
            area="privileges",
            message=f"role {role or '?'} cannot read {len(closed)} table(s): their column statistics are "
                    "missing and data sampling skips them",
            objects=tuple(f"{schema}.{name}" for schema, name, _ in closed),
            enable=grant("table", closed, tables),
        ))
    hidden = [r for r in sequences if not r[2]]
    if hidden:
        notes.append(Note(
            area="sequences",
            message=f"role {role or '?'} cannot read the last value of {len(hidden)} sequence(s): their "
                    "headroom is unknown",
            objects=tuple(f"{schema}.{name}" for schema, name, _ in hidden),
            enable=grant("sequence", hidden, sequences),
        ))
    return notes
