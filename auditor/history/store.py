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

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.errors import AuditError
from auditor.history.record import IndexCounters, RunRecord, StatementCounters, TableCounters
from auditor.model import Finding, SnapshotFieldError, from_jsonable, to_jsonable


class StoreError(AuditError):
    """The run store cannot be opened, read or written."""


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
        try:
            yield
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

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
        current = self.version()
        if current > SCHEMA_VERSION:
            raise StoreError(f"run store {self.location} has schema version {current}, newer than this dbaudit "
                             f"reads ({SCHEMA_VERSION}): upgrade dbaudit")
        with self.transaction():
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
        with self.transaction():
            run_id = self._insert_run((
                run.target, run.engine, run.database, _iso(run.started_at), _iso(run.collected_at),
                run.duration_s, run.status, run.message, run.score, run.grade,
                json.dumps(dict(run.metrics), sort_keys=True), _iso(run.server_started), _iso(run.stats_reset),
                _iso(run.pgss_reset), run.pgss_dealloc, int(run.workload_read), run.db_bytes, run.interval_p95_ms,
                run.tool_version))
            known = {r[0] for r in self._rows("SELECT fingerprint FROM statement_texts")} if run.statements \
                else set()
            texts = {s.fingerprint: s.query for s in run.statements if s.fingerprint not in known}
            self._many("INSERT INTO statement_texts (fingerprint, query) VALUES (?, ?)", texts.items())
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
            latest = {fp: f for fp, f in run.findings}
            if latest:
                have = {r[0] for r in self._rows("SELECT fingerprint FROM findings")}
                self._many("UPDATE findings SET code = ?, finding = ? WHERE fingerprint = ?",
                           ((f.code, _finding_json(f), fp) for fp, f in latest.items() if fp in have))
                self._many("INSERT INTO findings (fingerprint, code, finding) VALUES (?, ?, ?)",
                           ((fp, f.code, _finding_json(f)) for fp, f in latest.items() if fp not in have))
            self._many("INSERT INTO run_findings (run_id, fingerprint, severity) VALUES (?, ?, ?)",
                       ((run_id, fp, f.severity.value) for fp, f in run.findings))
        return run_id

    def previous_run(self, target: str, before: datetime) -> RunRecord | None:
        """The latest complete run of ``target`` that started before ``before``, with its counters."""
        rows = self._rows(f"SELECT {_RUN_COLUMNS} FROM runs WHERE target = ? AND status = 'ok' AND started_at < ? "
                          "ORDER BY started_at DESC, id DESC LIMIT 1", (target, _iso(before)))
        return self._with_counters(_run_of(rows[0])) if rows else None

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

    def _with_counters(self, run: RunRecord) -> RunRecord:
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
        findings: list[tuple[str, Finding]] = []
        for fp, text in self._rows("SELECT r.fingerprint, f.finding FROM run_findings r JOIN findings f "
                                   "ON f.fingerprint = r.fingerprint WHERE r.run_id = ?", (rid,)):
            try:
                findings.append((fp, from_jsonable(Finding, json.loads(text))))
            except (ValueError, SnapshotFieldError):
                continue  # a form this dbaudit cannot rebuild: left out rather than misread
        return RunRecord(**{**run.__dict__, "statements": statements, "tables": tables, "indexes": indexes,
                            "findings": tuple(findings)})


def _finding_json(finding: Finding) -> str:
    return json.dumps(to_jsonable(finding), sort_keys=True, ensure_ascii=False)


_RUN_FIELDS = ("target", "engine", "database_name", "started_at", "collected_at", "duration_s", "status", "message",
               "score", "grade", "metrics", "server_started", "stats_reset", "pgss_reset", "pgss_dealloc",
               "workload_read", "db_bytes", "interval_p95_ms", "tool_version")
_INSERT_RUN = f"INSERT INTO runs ({', '.join(_RUN_FIELDS)}) VALUES ({', '.join('?' for _ in _RUN_FIELDS)})"
_RUN_COLUMNS = "id, " + ", ".join(_RUN_FIELDS)


def _run_of(r: Sequence[Any]) -> RunRecord:
    return RunRecord(
        id=int(r[0]), target=r[1], engine=r[2], database=r[3], started_at=_time(r[4]) or datetime.now(UTC),
        collected_at=_time(r[5]), duration_s=r[6], status=r[7], message=r[8], score=r[9], grade=r[10],
        metrics=json.loads(r[11] or "{}"), server_started=_time(r[12]), stats_reset=_time(r[13]),
        pgss_reset=_time(r[14]), pgss_dealloc=r[15], workload_read=bool(r[16]), db_bytes=r[17],
        interval_p95_ms=r[18], tool_version=r[19] or "")


def open_store(location: str, migrate: bool = True) -> RunStore:
    """Open (creating it on first use) the store at ``location``: a SQLite file path."""
    if location.startswith(("postgresql://", "postgres://")):
        raise StoreError("a PostgreSQL run store is not available in this dbaudit yet: give a file path")
    path = Path(location)
    if path.is_dir():
        raise StoreError(f"run store {location} is a directory: give a file path")
    if not path.parent.is_dir():
        raise StoreError(f"cannot create run store {location}: directory {path.parent} does not exist")
    try:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level="DEFERRED")
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open run store {location}: {exc}") from None
    store = RunStore(location, conn)
    try:
        if migrate:
            store.migrate()
    except sqlite3.DatabaseError as exc:
        store.close()
        raise StoreError(f"cannot use run store {location}: {exc}") from None
    except BaseException:
        store.close()
        raise
    return store
