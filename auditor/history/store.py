"""The run store: every recorded run of every target, in a SQLite file (the default: nothing to install).

The store has its own schema version (table ``schema_version``) and applies the migrations it lacks when it is
opened; a store written by a newer dbaudit is refused rather than misread. SQL is kept to what SQLite and
PostgreSQL share (text timestamps in ISO 8601 UTC, integer booleans) so that both give the same answers.

Layout: ``runs`` (one row per run: when, target without password, status, score, metrics, the server's reset
and start times), ``run_statements`` / ``run_tables`` / ``run_indexes`` (the cumulative counters deltas need, per
run), ``statement_texts`` (each statement fingerprint's text, once), ``findings`` (each finding identity's last
form) and ``run_findings`` (which identities each run found).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.errors import AuditError
from auditor.history.model import RETENTION_DAYS
from auditor.history.record import IndexCounters, RunRecord, StatementCounters, TableCounters, finding_of
from auditor.model import Finding


class StoreError(AuditError):
    """The run store cannot be opened, read or written."""


class _ProbeDone(Exception):
    """Rolls the write probe's transaction back."""


class StoreIsAuditedError(StoreError):
    """The run store is the audited database itself (refused unless the user accepts it)."""


# which PostgreSQL server and database a connection reached, whatever the URL calls it (localhost, 127.0.0.1, a
# unix socket): the cluster's system identifier (pg_control_system(), readable by every role unless revoked),
# else the postmaster's start time and port, which no two running servers share; and the database
IDENTITY_SQL = ("SELECT (SELECT system_identifier::text FROM pg_control_system()), "
                "pg_postmaster_start_time()::text, current_setting('port'), current_database()")
IDENTITY_FALLBACK_SQL = ("SELECT NULL::text, pg_postmaster_start_time()::text, current_setting('port'), "
                         "current_database()")


@dataclass(frozen=True)
class ServerIdentity:
    system_identifier: str | None
    started: str
    port: str
    database: str

    def same_database(self, other: ServerIdentity) -> bool:
        if self.database != other.database:
            return False
        if self.system_identifier and other.system_identifier:
            # a physical standby shares its primary's identifier: a store there would be replicated into it
            return self.system_identifier == other.system_identifier
        return (self.started, self.port) == (other.started, other.port)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


# {id}: the dialect's auto-numbered primary key
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, their counters and findings", (
        """CREATE TABLE runs (
            id {id},
            target TEXT NOT NULL,
            engine TEXT NOT NULL,
            database_name TEXT NOT NULL,
            started_at TEXT NOT NULL,
            collected_at TEXT,
            duration_s DOUBLE PRECISION,
            status TEXT NOT NULL,
            message TEXT,
            score INTEGER,
            grade TEXT,
            metrics TEXT NOT NULL,
            server_started TEXT,
            stats_reset TEXT,
            pgss_reset TEXT,
            pgss_dealloc BIGINT,
            workload_read INTEGER NOT NULL,
            db_bytes BIGINT,
            interval_p95_ms DOUBLE PRECISION,
            tool_version TEXT NOT NULL)""",
        "CREATE INDEX runs_target_started ON runs (target, started_at)",
        """CREATE TABLE statement_texts (
            fingerprint TEXT PRIMARY KEY,
            query TEXT NOT NULL)""",
        """CREATE TABLE run_statements (
            run_id BIGINT NOT NULL,
            fingerprint TEXT NOT NULL,
            database_name TEXT NOT NULL,
            user_name TEXT NOT NULL,
            toplevel INTEGER NOT NULL,
            calls BIGINT NOT NULL,
            total_ms DOUBLE PRECISION NOT NULL,
            sumsq_ms DOUBLE PRECISION NOT NULL,
            min_ms DOUBLE PRECISION NOT NULL,
            max_ms DOUBLE PRECISION NOT NULL,
            rows_count BIGINT NOT NULL,
            blks_hit BIGINT NOT NULL,
            blks_read BIGINT NOT NULL,
            interval_calls BIGINT,
            interval_mean_ms DOUBLE PRECISION,
            interval_p95_ms DOUBLE PRECISION,
            stats_since TEXT)""",
        "CREATE INDEX run_statements_run ON run_statements (run_id)",
        """CREATE TABLE run_tables (
            run_id BIGINT NOT NULL,
            schema_name TEXT NOT NULL,
            table_name TEXT NOT NULL,
            rows_count BIGINT,
            bytes BIGINT,
            seq_scan BIGINT,
            idx_scan BIGINT,
            dead_rows BIGINT,
            n_tup_ins BIGINT,
            n_tup_upd BIGINT,
            n_tup_del BIGINT)""",
        "CREATE INDEX run_tables_run ON run_tables (run_id)",
        """CREATE TABLE run_indexes (
            run_id BIGINT NOT NULL,
            schema_name TEXT NOT NULL,
            table_name TEXT NOT NULL,
            index_name TEXT NOT NULL,
            scans BIGINT,
            bytes BIGINT)""",
        "CREATE INDEX run_indexes_run ON run_indexes (run_id)",
        """CREATE TABLE findings (
            fingerprint TEXT PRIMARY KEY,
            code TEXT NOT NULL,
            finding TEXT NOT NULL)""",
        """CREATE TABLE run_findings (
            run_id BIGINT NOT NULL,
            fingerprint TEXT NOT NULL,
            severity TEXT NOT NULL)""",
        "CREATE INDEX run_findings_run ON run_findings (run_id)",
    )),
    Migration(2, "daily roll-up of old runs; the checks each run ran", (
        "ALTER TABLE runs ADD COLUMN rollup INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE runs ADD COLUMN checks_run TEXT",
        "ALTER TABLE findings ADD COLUMN form_key TEXT",
        # per index: first recorded, last seen scanned (IX01's window without reading every run's counters)
        """CREATE TABLE index_usage (
            target TEXT NOT NULL,
            schema_name TEXT NOT NULL,
            table_name TEXT NOT NULL,
            index_name TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_used TEXT,
            last_scans BIGINT,
            PRIMARY KEY (target, schema_name, table_name, index_name))""",
    )),
    Migration(3, "each run's own form of its findings; findings a run did not look at", (
        # 1: the previous run's finding, kept as it was because this run could not see its object (locked table,
        # statement not run since a reset): not one of the run's own findings
        "ALTER TABLE run_findings ADD COLUMN carried INTEGER NOT NULL DEFAULT 0",
        # the form (message, figures) the run reported, shared by the runs that reported the same one; rows from
        # before version 3 have none and read the identity's last form (findings)
        "ALTER TABLE run_findings ADD COLUMN form_id BIGINT",
        """CREATE TABLE finding_forms (
            id {id},
            form_key TEXT NOT NULL UNIQUE,
            finding TEXT NOT NULL)""",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class RunStore:
    """An open run store. Use as a context manager, or call :meth:`close`."""

    id_type = "INTEGER PRIMARY KEY"  # SQLite: an alias of the rowid, numbered on insert
    placeholder = "?"

    def __init__(self, location: str, conn: Any) -> None:
        self.location = location
        self._conn = conn
        # why the store cannot be written (found when it was opened), or None: it is still read (the previous
        # runs' facts), but runs are not recorded in it
        self.write_error: str | None = None

    # ---- connection-level parts a dialect changes -------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._conn.cursor()
        try:
            cur.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall()) if cur.description else []
        finally:
            cur.close()

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        cur = self._conn.cursor()
        try:
            cur.executemany(self._sql(sql), [tuple(r) for r in rows])
        finally:
            cur.close()

    def _insert_run(self, values: Sequence[Any]) -> int:
        cur = self._conn.cursor()
        try:
            cur.execute(self._sql(_INSERT_RUN), tuple(values))
            return int(cur.lastrowid)
        finally:
            cur.close()

    def _tables(self) -> set[str]:
        return {r[0] for r in self._rows("SELECT name FROM sqlite_master WHERE type = 'table'")}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction. SQLite's is taken IMMEDIATE: concurrent writers (a fleet scan's threads, two
        cron jobs) queue on the busy timeout instead of failing when a read would have to become a write."""
        if self._conn.in_transaction:
            yield
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self.write_failure(exc) from None
        try:
            yield
            self._conn.commit()
        except sqlite3.Error as exc:
            self._rollback()
            raise self.write_failure(exc) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # the write failed; so may its rollback (the file went away, the disk is full)
        with contextlib.suppress(sqlite3.Error):
            self._conn.rollback()

    def write_failure(self, exc: BaseException) -> StoreError:
        """The error to raise when the store refused a write: one line, no driver class names."""
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        from auditor.dsn import redact

        return StoreError(redact(f"cannot write to run store {self.location}: {first}"))

    def probe_write(self) -> str | None:
        """Why the store cannot be written (a read-only file, directory, database or role), or None: a row
        inserted into ``schema_version`` and rolled back."""
        try:
            with self.transaction():
                self._rows("INSERT INTO schema_version (version, applied_at, description) VALUES (?, ?, ?)",
                           (0, "probe", "write probe, rolled back"))
                raise _ProbeDone
        except _ProbeDone:
            return None
        except StoreError as exc:
            return str(exc)

    def _lock_for_migration(self) -> None:
        """Held until the migration's transaction ends (SQLite: the IMMEDIATE transaction itself)."""

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- schema ----------------------------------------------------------------------------------------

    def version(self) -> int:
        if "schema_version" not in self._tables():
            return 0
        rows = self._rows("SELECT MAX(version) FROM schema_version")
        return int(rows[0][0] or 0) if rows else 0

    def migrate(self, upto: int = SCHEMA_VERSION) -> int:
        """Apply the migrations the store lacks (up to ``upto``); returns the version it is at."""
        if self.version() == upto == SCHEMA_VERSION:
            return upto  # nothing to do: no write (a read-only store is still read)
        with self.transaction():
            # two scans starting together on a new store: the second waits here, then finds the tables made
            self._lock_for_migration()
            current = self.version()
            if current > SCHEMA_VERSION:
                raise StoreError(f"run store {self.location} has schema version {current}, newer than this "
                                 f"dbaudit reads ({SCHEMA_VERSION}): upgrade dbaudit")
            if current == 0 and "schema_version" not in self._tables():
                self._rows("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL, "
                           "description TEXT NOT NULL)")
            for step in MIGRATIONS:
                if current < step.version <= upto:
                    for statement in step.statements:
                        self._rows(statement.replace("{id}", self.id_type))
                    self._rows("INSERT INTO schema_version (version, applied_at, description) VALUES (?, ?, ?)",
                               (step.version, _iso(datetime.now(UTC)), step.description))
                    current = step.version
        return current

    # ---- runs ------------------------------------------------------------------------------------------

    def save_run(self, run: RunRecord) -> int:
        """Record a run with its counters and findings; returns its id."""
        if self.write_error:
            raise StoreError(self.write_error)
        with self.transaction():
            run_id = self._insert_run((
                run.target, run.engine, run.database, _iso(run.started_at), _iso(run.collected_at),
                run.duration_s, run.status, run.message, run.score, run.grade,
                json.dumps(dict(run.metrics), sort_keys=True), _iso(run.server_started), _iso(run.stats_reset),
                _iso(run.pgss_reset), run.pgss_dealloc, int(run.workload_read), run.db_bytes, run.interval_p95_ms,
                run.tool_version, int(run.rollup), json.dumps(list(run.checks_run)) if run.checks_run is not None
                else None))
            texts = {s.fingerprint: s.query for s in run.statements}
            self._many("INSERT INTO statement_texts (fingerprint, query) VALUES (?, ?) ON CONFLICT (fingerprint) "
                       "DO NOTHING", texts.items())
            self._many(
                "INSERT INTO run_statements (run_id, fingerprint, database_name, user_name, toplevel, calls, "
                "total_ms, sumsq_ms, min_ms, max_ms, rows_count, blks_hit, blks_read, interval_calls, "
                "interval_mean_ms, interval_p95_ms, stats_since) VALUES (" + ", ".join("?" * 17) + ")",
                ((run_id, s.fingerprint, s.database, s.user, int(s.toplevel), s.calls, s.total_ms, s.sumsq_ms,
                  s.min_ms, s.max_ms, s.rows, s.blks_hit, s.blks_read, s.interval_calls, s.interval_mean_ms,
                  s.interval_p95_ms, _iso(s.stats_since)) for s in run.statements))
            self._many(
                "INSERT INTO run_tables (run_id, schema_name, table_name, rows_count, bytes, seq_scan, idx_scan, "
                "dead_rows, n_tup_ins, n_tup_upd, n_tup_del) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((run_id, t.schema, t.table, t.rows, t.bytes, t.seq_scan, t.idx_scan, t.dead_rows, t.n_tup_ins,
                  t.n_tup_upd, t.n_tup_del) for t in run.tables))
            self._many(
                "INSERT INTO run_indexes (run_id, schema_name, table_name, index_name, scans, bytes) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                ((run_id, i.schema, i.table, i.index, i.scans, i.bytes) for i in run.indexes))
            # each identity's last form; unchanged forms (most, night after night) are not rewritten
            latest = dict((*run.carried, *run.findings))
            forms = {fp: _form_key(f) for fp, f in latest.items()}
            jsons: dict[str, str] = {}

            def text(fp: str) -> str:
                if fp not in jsons:
                    jsons[fp] = _finding_json(latest[fp])
                return jsons[fp]

            stored = dict(self._rows("SELECT fingerprint, form_key FROM findings")) if latest else {}
            changed = [fp for fp in sorted(latest) if stored.get(fp) != forms[fp]]
            self._many("INSERT INTO findings (fingerprint, code, finding, form_key) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (fingerprint) DO UPDATE SET code = excluded.code, finding = excluded.finding, "
                       "form_key = excluded.form_key",
                       ((fp, latest[fp].code, text(fp), forms[fp]) for fp in changed))
            # the run's own forms, once each: most are the same night after night, and only new ones are written
            keys = {fp: _run_form_key(fp, forms[fp]) for fp in latest}
            ids = self._form_ids(set(keys.values()))
            fresh = sorted({keys[fp]: fp for fp in latest if keys[fp] not in ids}.items())
            self._many("INSERT INTO finding_forms (form_key, finding) VALUES (?, ?) ON CONFLICT (form_key) "
                       "DO NOTHING", ((key, text(fp)) for key, fp in fresh))
            if fresh:
                ids.update(self._form_ids({key for key, _ in fresh}))
            self._many("INSERT INTO run_findings (run_id, fingerprint, severity, carried, form_id) "
                       "VALUES (?, ?, ?, ?, ?)",
                       [*((run_id, fp, f.severity.value, 0, ids.get(keys[fp])) for fp, f in run.findings),
                        *((run_id, fp, f.severity.value, 1, ids.get(keys[fp])) for fp, f in run.carried)])
            if run.status == "ok" and run.indexes:
                self._track_index_usage(run, run_id)
        return run_id

    def _form_ids(self, keys: set[str]) -> dict[str, int]:
        """The ids of the stored finding forms among ``keys``."""
        out: dict[str, int] = {}
        for chunk in _chunks(sorted(keys)):
            marks = ", ".join("?" for _ in chunk)
            out.update((r[1], int(r[0])) for r in self._rows(
                f"SELECT id, form_key FROM finding_forms WHERE form_key IN ({marks})", chunk))
        return out

    def _track_index_usage(self, run: RunRecord, run_id: int) -> None:
        """Keep ``index_usage`` up to date with this run: an index whose counter rose since the previous run (or
        counts from a reset and is above zero) was used by this run's time; a dropped index is forgotten, so one
        re-created under its name starts afresh."""
        before = self._rows("SELECT stats_reset, server_started FROM runs WHERE target = ? AND status = 'ok' AND "
                            "id <> ? AND started_at < ? ORDER BY started_at DESC, id DESC LIMIT 1",
                            (run.target, run_id, _iso(run.started_at)))
        reset = False
        if before:
            old_reset, old_start = _time(before[0][0]), _time(before[0][1])
            reset = run.stats_reset is not None and (old_reset is None or run.stats_reset > old_reset)
            reset = reset or (run.engine == "mysql" and run.server_started is not None and old_start is not None
                              and run.server_started > old_start + timedelta(seconds=3))
        known = self.index_usage(run.target)
        now = _iso(run.started_at)
        rows: list[tuple[str, str, str, str, str | None, str | None, int | None]] = []
        for ix in run.indexes:
            key = (ix.schema, ix.table, ix.index)
            seen = known.pop(key, None)
            if seen is None:
                rows.append((run.target, *key, now, None, ix.scans))
                continue
            first, last_used, last_scans = seen
            rose = ix.scans is not None and (
                (ix.scans > 0 and (reset or last_scans is None or ix.scans < last_scans))
                or (last_scans is not None and ix.scans > last_scans))
            rows.append((run.target, *key, _iso(first), now if rose else _iso(last_used), ix.scans))
        self._many("INSERT INTO index_usage (target, schema_name, table_name, index_name, first_seen, last_used, "
                   "last_scans) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (target, schema_name, table_name, "
                   "index_name) DO UPDATE SET first_seen = excluded.first_seen, last_used = excluded.last_used, "
                   "last_scans = excluded.last_scans", rows)
        self._many("DELETE FROM index_usage WHERE target = ? AND schema_name = ? AND table_name = ? AND "
                   "index_name = ?", ((run.target, *key) for key in known))

    def prune(self, keep_days: float = RETENTION_DAYS, now: datetime | None = None, target: str | None = None,
              drop_days: float | None = None) -> PruneResult:
        """Retention: runs older than ``keep_days`` are rolled up daily -- the last run of each target and UTC
        day is kept (its statement counters dropped: the day's point keeps its tables, indexes, findings,
        metrics and score, what trends and growth read), the day's other runs deleted. Runs older than
        ``drop_days`` (None: never) are deleted whole."""
        if self.write_error:
            raise StoreError(self.write_error)
        now = now or datetime.now(UTC)
        horizon = _iso(now - timedelta(days=keep_days))
        where, params = ("AND target = ?", (target,)) if target else ("", ())
        old = self._rows(f"SELECT id, target, started_at, rollup FROM runs WHERE started_at < ? {where} "
                         "ORDER BY target, started_at, id", (horizon, *params))
        last_of_day: dict[tuple[str, str], int] = {}
        for run_id, run_target, started, _ in old:
            last_of_day[(run_target, str(started)[:10])] = int(run_id)
        keep = set(last_of_day.values())
        doomed = [int(r[0]) for r in old if int(r[0]) not in keep]
        rolled = [int(r[0]) for r in old if int(r[0]) in keep and not r[3]]
        if drop_days is not None:
            limit = _iso(now - timedelta(days=drop_days))
            doomed += [int(r[0]) for r in self._rows(f"SELECT id FROM runs WHERE started_at < ? {where}",
                                                     (limit, *params))]
            doomed = sorted(set(doomed))
            rolled = [r for r in rolled if r not in set(doomed)]
        with self.transaction():
            for chunk in _chunks(doomed):
                marks = ", ".join("?" for _ in chunk)
                for table in ("run_statements", "run_tables", "run_indexes", "run_findings", "runs"):
                    column = "id" if table == "runs" else "run_id"
                    self._rows(f"DELETE FROM {table} WHERE {column} IN ({marks})", chunk)
            for chunk in _chunks(rolled):
                marks = ", ".join("?" for _ in chunk)
                self._rows(f"DELETE FROM run_statements WHERE run_id IN ({marks})", chunk)
                self._rows(f"UPDATE runs SET rollup = 1 WHERE id IN ({marks})", chunk)
            # texts and finding forms no run refers to any more (a roll-up keeps the findings)
            if doomed or rolled:
                self._rows("DELETE FROM statement_texts WHERE fingerprint NOT IN "
                           "(SELECT DISTINCT fingerprint FROM run_statements)")
            if doomed:
                self._rows("DELETE FROM findings WHERE fingerprint NOT IN (SELECT DISTINCT fingerprint FROM "
                           "run_findings)")
                self._rows("DELETE FROM finding_forms WHERE id NOT IN (SELECT DISTINCT form_id FROM "
                           "run_findings WHERE form_id IS NOT NULL)")
        return PruneResult(deleted=len(doomed), rolled_up=len(rolled))

    def finding_counts(self, ids: Sequence[int] | None = None) -> dict[int, int]:
        rows = self._rows("SELECT run_id, COUNT(*) FROM run_findings WHERE carried = 0 GROUP BY run_id")
        wanted = set(ids) if ids is not None else None
        return {int(r[0]): int(r[1]) for r in rows if wanted is None or int(r[0]) in wanted}

    def table_bytes(self, run_id: int) -> dict[tuple[str, str], int | None]:
        return {(r[0], r[1]): r[2] for r in self._rows(
            "SELECT schema_name, table_name, bytes FROM run_tables WHERE run_id = ?", (run_id,))}

    def index_scans(self, run_id: int) -> list[tuple[tuple[str, str, str], int | None]]:
        return [((r[0], r[1], r[2]), r[3]) for r in self._rows(
            "SELECT schema_name, table_name, index_name, scans FROM run_indexes WHERE run_id = ?", (run_id,))]

    def index_usage(self, target: str) -> dict[tuple[str, str, str], tuple[datetime, datetime | None, int | None]]:
        """Per index of ``target``: when it was first recorded, the last run that saw its scan counter rise (None:
        never), and its counter then."""
        return {(r[0], r[1], r[2]): (_time(r[3]) or datetime.now(UTC), _time(r[4]), r[5]) for r in self._rows(
            "SELECT schema_name, table_name, index_name, first_seen, last_used, last_scans FROM index_usage "
            "WHERE target = ?", (target,))}

    def table_sizes(self, run_id: int) -> list[tuple[tuple[str, str], int | None, int | None]]:
        return [((r[0], r[1]), r[2], r[3]) for r in self._rows(
            "SELECT schema_name, table_name, rows_count, bytes FROM run_tables WHERE run_id = ?", (run_id,))]

    def targets(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT target FROM runs ORDER BY target")]

    def previous_run(self, target: str, before: datetime) -> RunRecord | None:
        """The latest complete run of ``target`` that started before ``before``, with its counters."""
        rows = self._rows(f"SELECT {_RUN_COLUMNS} FROM runs WHERE target = ? AND status = 'ok' AND started_at < ? "
                          "ORDER BY started_at DESC, id DESC LIMIT 1", (target, _iso(before)))
        # its findings stay stored forms: the comparison rebuilds only the resolved ones
        return self._with_counters(_run_of(rows[0]), full_findings=False) if rows else None

    def load_run(self, run_id: int, counters: bool = True) -> RunRecord | None:
        rows = self._rows(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            return None
        run = _run_of(rows[0])
        return self._with_counters(run) if counters else run

    def runs(self, target: str | None = None) -> list[RunRecord]:
        """Every run (of ``target``), oldest first, without counters."""
        where, params = ("WHERE target = ?", (target,)) if target else ("", ())
        return [_run_of(r) for r in self._rows(f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY started_at, id",
                                               params)]

    def _with_counters(self, run: RunRecord, full_findings: bool = True) -> RunRecord:
        rid = run.id
        statements = tuple(
            StatementCounters(r[0], r[1], r[2], bool(r[3]), r[4] or "", int(r[5]), float(r[6]), float(r[7]),
                              float(r[8]), float(r[9]), int(r[10]), int(r[11]), int(r[12]),
                              None if r[13] is None else int(r[13]), r[14], r[15], _time(r[16]))
            for r in self._rows(
                "SELECT s.fingerprint, s.database_name, s.user_name, s.toplevel, t.query, s.calls, s.total_ms, "
                "s.sumsq_ms, s.min_ms, s.max_ms, s.rows_count, s.blks_hit, s.blks_read, s.interval_calls, "
                "s.interval_mean_ms, s.interval_p95_ms, s.stats_since FROM run_statements s "
                "LEFT JOIN statement_texts t ON t.fingerprint = s.fingerprint WHERE s.run_id = ?", (rid,)))
        tables = tuple(TableCounters(*r) for r in self._rows(
            "SELECT schema_name, table_name, rows_count, bytes, seq_scan, idx_scan, dead_rows, n_tup_ins, "
            "n_tup_upd, n_tup_del FROM run_tables WHERE run_id = ?", (rid,)))
        indexes = tuple(IndexCounters(*r) for r in self._rows(
            "SELECT schema_name, table_name, index_name, scans, bytes FROM run_indexes WHERE run_id = ?", (rid,)))
        # the run's own form of each finding (the identity's last form for runs from before schema version 3)
        rows = self._rows("SELECT r.fingerprint, f.code, COALESCE(o.finding, f.finding), r.carried "
                          "FROM run_findings r JOIN findings f ON f.fingerprint = r.fingerprint "
                          "LEFT JOIN finding_forms o ON o.id = r.form_id WHERE r.run_id = ?", (rid,))
        stored = [(r[0], r[1], r[2]) for r in rows if not r[3]]
        carried = [(r[0], r[1], r[2]) for r in rows if r[3]]
        findings: list[tuple[str, Finding]] = []
        kept: list[tuple[str, Finding]] = []
        if full_findings:
            forms: dict[str, Finding | None] = {}
            for out, source in ((findings, stored), (kept, carried)):
                for fp, _, text in source:
                    finding = forms[fp] if fp in forms else forms.setdefault(fp, finding_of(text))
                    if finding is not None:  # a form this dbaudit cannot rebuild is left out rather than misread
                        out.append((fp, finding))
        return RunRecord(**{**run.__dict__, "statements": statements, "tables": tables, "indexes": indexes,
                            "findings": tuple(findings), "carried": tuple(kept),
                            "stored_findings": () if full_findings else tuple(stored),
                            "stored_carried": () if full_findings else tuple(carried)})


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    rolled_up: int


def _chunks(ids: Sequence[Any], size: int = 500) -> Iterator[list[Any]]:
    for i in range(0, len(ids), size):
        yield list(ids[i:i + size])


class PgRunStore(RunStore):
    """A run store in a PostgreSQL database (a ``postgresql://`` URL), in its own schema ``dbaudit_history``,
    created on first use: a store a team or a fleet shares. Migrations take an advisory lock, so that two
    scans starting at once do not both create the tables."""

    id_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    placeholder = "%s"

    def _insert_run(self, values: Sequence[Any]) -> int:
        rows = self._rows(_INSERT_RUN + " RETURNING id", values)
        return int(rows[0][0])

    def _tables(self) -> set[str]:
        return {r[0] for r in self._rows("SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                                         (PG_SCHEMA,))}

    def identity(self) -> ServerIdentity:
        """The server and database the store's connection reached."""
        import psycopg

        try:
            row = self._rows(IDENTITY_SQL)[0]
        except psycopg.errors.InsufficientPrivilege:
            row = self._rows(IDENTITY_FALLBACK_SQL)[0]
        return ServerIdentity(None if row[0] is None else str(row[0]), str(row[1]), str(row[2]), str(row[3]))

    def _lock_for_migration(self) -> None:
        self._rows("SELECT pg_advisory_xact_lock(hashtext('dbaudit_history migrations'))")
        self._rows(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # the session is in autocommit: reads leave no transaction open, writes get one here
        import psycopg

        if self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            yield
            return
        try:
            with self._conn.transaction():
                yield
        except psycopg.Error as exc:
            raise self.write_failure(exc) from None


PG_SCHEMA = "dbaudit_history"


def _form_key(finding: Finding) -> str:
    """What distinguishes one form of a finding identity from another (its figures change, its identity not)."""
    text = repr((finding.severity.value, finding.message, finding.remediation, sorted(finding.details.items(),
                                                                                       key=lambda kv: kv[0])))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _run_form_key(fingerprint: str, form_key: str) -> str:
    """One form of one finding identity (``finding_forms``): the identity and what its report said."""
    return hashlib.sha256(f"{fingerprint}:{form_key}".encode()).hexdigest()[:32]


def _finding_json(finding: Finding) -> str:
    # the report's own form of a finding (fields left out are None), which from_jsonable rebuilds
    return json.dumps(finding.as_dict(), sort_keys=True, ensure_ascii=False, default=str)


_RUN_FIELDS = ("target", "engine", "database_name", "started_at", "collected_at", "duration_s", "status", "message",
               "score", "grade", "metrics", "server_started", "stats_reset", "pgss_reset", "pgss_dealloc",
               "workload_read", "db_bytes", "interval_p95_ms", "tool_version", "rollup", "checks_run")
_INSERT_RUN = f"INSERT INTO runs ({', '.join(_RUN_FIELDS)}) VALUES ({', '.join('?' for _ in _RUN_FIELDS)})"
_RUN_COLUMNS = "id, " + ", ".join(_RUN_FIELDS)


def _run_of(r: Sequence[Any]) -> RunRecord:
    return RunRecord(
        id=int(r[0]), target=r[1], engine=r[2], database=r[3], started_at=_time(r[4]) or datetime.now(UTC),
        collected_at=_time(r[5]), duration_s=r[6], status=r[7], message=r[8], score=r[9], grade=r[10],
        metrics=json.loads(r[11] or "{}"), server_started=_time(r[12]), stats_reset=_time(r[13]),
        pgss_reset=_time(r[14]), pgss_dealloc=r[15], workload_read=bool(r[16]), db_bytes=r[17],
        interval_p95_ms=r[18], tool_version=r[19] or "", rollup=bool(r[20]),
        checks_run=tuple(json.loads(r[21])) if r[21] else None)


def is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def open_store(location: str, migrate: bool = True,
               before_migrate: Callable[[RunStore], None] | None = None) -> RunStore:
    """Open (creating it on first use) the store at ``location``: a SQLite file path, or a ``postgresql://``
    URL (the tables live in the schema ``dbaudit_history``). ``before_migrate`` is called with the open store
    before anything is written to it (the check that it is not the audited database)."""
    if is_url(location):
        return _open_pg(location, migrate, before_migrate)
    path = Path(location)
    if path.is_dir():
        raise StoreError(f"run store {location} is a directory: give a file path")
    if not path.parent.is_dir():
        raise StoreError(f"cannot create run store {location}: directory {path.parent} does not exist")
    conn = None
    try:
        # transactions are begun by RunStore.transaction (BEGIN IMMEDIATE), reads run on their own
        conn = sqlite3.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        _wal_mode(conn)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        conn = _read_only_sqlite(path, location, exc)
    store = RunStore(location, conn)
    try:
        if before_migrate is not None:
            before_migrate(store)
        store.version()  # a file that is no database fails here, as a read
        if migrate:
            store.migrate()
            store.write_error = store.probe_write()
    except sqlite3.DatabaseError as exc:
        store.close()
        raise StoreError(f"cannot use run store {location}: {exc}") from None
    except BaseException:
        store.close()
        raise
    return store


SQLITE_BUSY_TIMEOUT_S = 30  # how long a write waits for another writer (a fleet scan's threads, two cron jobs)


def _wal_mode(conn: sqlite3.Connection) -> None:
    """Put the store in WAL mode (readers never wait for the writer). The switch needs the file to itself and
    SQLite answers "database is locked" at once, without its busy handler, when another connection is opening
    the same new file (two targets of a fleet scan recording their first runs): retried for the busy timeout,
    so that the store is not taken for a read-only one."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


def _read_only_sqlite(path: Path, location: str, exc: sqlite3.Error) -> sqlite3.Connection:
    """An existing store that cannot be opened for writing (an immutable file, a read-only directory where the
    WAL's files cannot be made): opened read-only, so that the scan still reads the previous runs (the write
    probe then says why nothing is recorded); an error when even that fails."""
    if not path.is_file():
        raise StoreError(f"cannot open run store {location}: {exc}") from None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, timeout=30,
                               isolation_level=None, check_same_thread=False)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error:
        raise StoreError(f"cannot open run store {location}: {exc}") from None
    return conn


def _open_pg(location: str, migrate: bool, before_migrate: Callable[[RunStore], None] | None = None) -> RunStore:
    import psycopg

    from auditor.dsn import redact

    shown = redact(location)
    try:
        conn = psycopg.connect(location, connect_timeout=10, application_name="dbaudit-history", autocommit=True,
                               options=f"-c search_path={PG_SCHEMA} -c lock_timeout=30s -c statement_timeout=300s")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StoreError(redact(f"cannot open run store {shown}: {first}")) from None
    store = PgRunStore(shown, conn)
    try:
        if before_migrate is not None:
            before_migrate(store)
        if migrate:
            store.migrate()
            store.write_error = store.probe_write()
    except psycopg.Error as exc:
        store.close()
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StoreError(redact(f"cannot use run store {shown}: {first}")) from None
    except BaseException:
        store.close()
        raise
    return store
