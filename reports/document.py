"""The design document as a list of presentation blocks, rendered by reports.markdown and reports.htmlfmt.

Both formats carry the same content because both render these blocks; the HTML report adds the charts (the
markdown renderer shows their figures as tables already present nearby, so it skips them). Every figure comes
from the Report, auditor.scoring and auditor.design: nothing here decides anything, it only arranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from auditor import design, health, migration, scaling
from auditor.model import Finding, Severity, Snapshot
from auditor.report import Report
from auditor.scoring import NOT_MEASURED, PARTIAL, Metric, penalties
from auditor.textfmt import count, duration, elapsed_ms, plural
from reports.erdiagram import table_anchor
from reports.jsonfmt import iso_utc

ENGINE_LABEL = {"postgresql": "PostgreSQL", "mysql": "MySQL"}


# ---- blocks --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Badge:
    """A short status word: pass, FAIL, error, warning, info, not measured."""

    text: str
    kind: str  # pass, fail, na, error, warning, info, grade-A..F


Inline = str | Code | Strong | Badge
Cell = Inline | tuple[Inline, ...]


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Para:
    runs: tuple[Inline, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: frozenset[int] = frozenset()  # right-aligned columns, sorted as numbers
    sort_keys: tuple[tuple[float | None, ...], ...] = ()  # per row, per numeric column: the raw number


@dataclass(frozen=True)
class CodeBlock:
    text: str
    lang: str = ""


@dataclass(frozen=True)
class ListBlock:
    items: tuple[tuple[Block, ...], ...]
    ordered: bool = False


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as printed beside the bar
    kind: str = ""  # css class: "warn" for an unused index


@dataclass(frozen=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class LineChart:
    """A value over time (the run history's trends): points of (date label, value or None, value as printed)."""

    title: str
    points: tuple[tuple[str, float | None, str], ...]
    unit: str = ""  # "bytes" prints the axis as sizes, else the number and this unit

    def axis(self, value: float) -> str:
        if self.unit == "bytes":
            return human_bytes(int(value))
        return f"{value:.4g} {self.unit}".strip()


@dataclass(frozen=True)
class ErDiagram:
    """The entity-relationship diagram: Mermaid source in markdown, an SVG drawn at report time in HTML."""

    model: design.ErModel


@dataclass(frozen=True)
class FindingItem:
    severity: Severity
    code: str
    check: str
    table: str  # "schema.table" the finding is about, "" for server-level objects and queries
    object: str
    message: str
    fix: str | None  # the remediation SQL, when the check gives one


@dataclass(frozen=True)
class FindingList:
    """Every finding, most severe first: a filterable list with copyable fix SQL in HTML, a table in markdown."""

    items: tuple[FindingItem, ...]


Block = Heading | Para | Table | CodeBlock | ListBlock | Chart | ErDiagram | FindingList | LineChart


@dataclass
class Document:
    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)

    def h(self, level: int, text: str, anchor: str) -> None:
        self.blocks.append(Heading(level, text, anchor))

    def p(self, *runs: Inline) -> None:
        self.blocks.append(Para(tuple(runs)))


# ---- number formatting -------------------------------------------------------------------------------------


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def ms(v: float | None) -> str:
    return "-" if v is None else elapsed_ms(v)


def pct(v: float | None) -> str:
    return "-" if v is None else f"{v:g} %"


def metric_value(m: Metric) -> str:
    if m.value is None:
        return "-"
    if m.unit == "bytes" and isinstance(m.value, int):
        return human_bytes(m.value)
    value = f"{m.value:,}" if isinstance(m.value, int) else f"{m.value:g}"
    return f"{value} {m.unit}".strip()


def metric_status(m: Metric) -> Badge | str:
    kind = {"pass": "pass", "FAIL": "fail", NOT_MEASURED: "na", PARTIAL: "warning"}.get(m.status)
    return Badge(m.status, kind) if kind else m.status


def metric_how(m: Metric) -> str:
    """How a metric was measured, led by the part of the objects it covers; why not, for one not measured."""
    if m.value is None:
        return m.reason or ""
    over = f"over {m.measured}" + (f"; {m.reason}" if m.reason else "") if m.measured else ""
    return "; ".join(x for x in (over, m.method) if x)


def severity_badge(sev: Severity) -> Badge:
    return Badge(sev.value, sev.value)


def _one_line(text: str, limit: int = 0) -> str:
    flat = " ".join(text.split())
    return flat if not limit or len(flat) <= limit else flat[: limit - 3] + "..."


# ---- the sections ----------------------------------------------------------------------------------------------


def build_document(report: Report) -> Document:
    from reports.history_doc import growth_notes, since_section

    snap = report.snapshot or Snapshot(engine=report.target.engine, server_version=report.target.server_version,
                                       database=report.target.database)
    target = report.target
    engine = ENGINE_LABEL.get(target.engine, target.engine)
    if snap.flavor == "mariadb":
        engine = "MariaDB"
    doc = Document(
        title=f"Database design: {design.audited_name(target.database, snap)}",
        subtitle=f"Reverse-engineered from the live database by dbaudit {report.tool_version} on "
        f"{iso_utc(report.started_at)}: {engine} {target.server_version}, {target.dsn or '(unknown DSN)'}",
    )
    # the findings' steps, ranked once: the summary's key risks are the first of the next steps (section 10)
    workload_ms = design.workload_time_ms(report.snapshot)
    steps = design.finding_steps(report.findings, workload_ms=workload_ms)
    _summary(doc, report, snap, engine, steps)
    since_section(doc, report)  # run history (--history): what changed since the previous run, and the trends
    _er(doc, snap)
    _tables(doc, snap)
    _normalization(doc, report)
    _indexing(doc, report, snap)
    _queries(doc, report, snap)
    _scaling(doc, report, snap)
    growth_notes(doc, report)  # run history: CP03's projections, at the end of the scaling notes
    _operations(doc, report, snap)
    _metrics(doc, report)
    _next_steps(doc, report, workload_ms, steps)
    _migration(doc, report, snap)
    _all_findings(doc, report)
    _appendix(doc, report)
    return doc


def _summary(doc: Document, report: Report, snap: Snapshot, engine: str, steps: list[design.Step]) -> None:
    doc.h(2, "1. Executive summary", "summary")
    tables = design.audited_tables(snap)
    # every relation once: a partition through its parent (design.table_sizes), never beside it
    sizes = design.table_sizes(snap)
    total_bytes = sum(r.total_bytes or 0 for r in sizes.values())
    index_bytes = sum(t.index_bytes or 0 for t in snap.tables if t.kind in ("table", "partitioned"))
    rows = sum(r.rows or 0 for r in sizes.values())
    measured = [m for m in report.metrics if m.passed is not None]
    failed = [m for m in measured if m.passed is False]
    unmeasured = [m for m in report.metrics if m.value is None]
    partial = [m for m in report.metrics if m.status == PARTIAL]
    score = report.score
    doc.blocks.append(Table(
        headers=("", ""),
        rows=(
            ("Engine", f"{engine} {report.target.server_version}".strip()),
            ("Database", (Code(report.target.database), f" at {report.target.dsn}")) if report.target.database
            else ("Audited", (design.audited_name(None, snap), f" at {report.target.dsn}")),
            ("Size", f"{len(tables)} tables, {len(snap.indexes)} indexes, {human_bytes(total_bytes)} "
                     f"(of which indexes {human_bytes(index_bytes)}), about {rows:,} rows"),
            ("Health score", (Strong(f"{score.value}/100"), " ", Badge(f"grade {score.grade}",
                                                                        f"grade-{score.grade}"),
                              *((f", at least: {score.coverage()}",) if score.upper is not None else ()))
                             if score.graded else Strong(score.label())),
            *((("Partial report", Strong(report.partial)),) if report.partial else ()),
            *((("Nothing audited", Strong(report.empty)),) if report.empty else ()),
            ("Findings", f"{plural(report.count(Severity.ERROR), 'error')}, "
                         f"{plural(report.count(Severity.WARNING), 'warning')}, {report.count(Severity.INFO)} info"),
            ("Server health", _health_counts(report)),
            ("Quality metrics", f"{len(measured) - len(failed)} passed, {len(failed)} failed"
                                + (f" ({', '.join(m.label for m in failed)})" if failed else "")
                                + (f", {len(partial)} partial ({', '.join(m.label for m in partial)})"
                                   if partial else "")
                                + f", {len(unmeasured)} not measured"),
        ),
    ))
    risks = design.key_risks(report.findings, found=steps)
    doc.h(3, "Key risks", "risks")
    if not risks:
        doc.p("No error or warning finding.")
        return
    doc.blocks.append(ListBlock(tuple(
        (Para((severity_badge(r.severity) if r.severity else "", " ", Strong(r.title), f": {r.detail}")),)
        for r in risks
    ), ordered=True))


def _health_counts(report: Report) -> str:
    found = health.health_findings(report.findings)
    if not found:
        return "no maintenance, replication, settings, security or capacity finding (section 8)"
    by: dict[str, int] = {}
    for f in found:
        by[f.category] = by.get(f.category, 0) + 1
    return ", ".join(f"{family} {by[family]}" for family in health.HEALTH_FAMILIES if family in by) \
        + " finding(s) (section 8)"


def _er(doc: Document, snap: Snapshot) -> None:
    doc.h(2, "2. Entity-relationship diagram", "er")
    model = design.er_model(snap)
    if not model.entities:
        doc.p("The audited schemas hold no table.")
        return
    for family in model.families:
        doc.p(family.text() + f" (the same tables in {', '.join(family.schemas[1:3])}"
              + (", ..." if len(family.schemas) > 3 else "") + " are not drawn again).")
    doc.p(f"{len(model.entities)} tables and {len(model.relations)} foreign-key relationships, from the "
          "catalog. Crow's feet mark the referencing side; ", Code("|o"),
          " marks a foreign key whose columns may be NULL; keys and up to "
          f"{design.ER_MAX_COLUMNS} columns per table are shown.")
    doc.blocks.append(ErDiagram(model))
    if model.relations:
        doc.blocks.append(Table(
            headers=("Referenced table", "Referencing table", "Columns", "Cardinality", "Foreign key"),
            rows=tuple(
                (Code(".".join(r.parent)), Code(".".join(r.child)), Code(", ".join(r.columns)),
                 ("0..1" if r.optional else "1") + (" to 0..1" if r.one_to_one else " to many"), Code(r.constraint))
                for r in model.relations
            ),
        ))
    if model.omitted:
        shown = ", ".join(f"{s}.{n}" for s, n in model.omitted[:20])
        more = f" and {len(model.omitted) - 20} more" if len(model.omitted) > 20 else ""
        doc.p(f"Trimmed: the diagram shows the {len(model.entities)} most connected of {model.total_tables} "
              f"tables; left out: {shown}{more} ({model.omitted_relations} relationships not drawn). Every "
              "table has its definition in section 3.")
    hidden = [e for e in model.entities if e.hidden_columns]
    if hidden:
        doc.p("Columns left out of the diagram (see the table definitions): "
              + ", ".join(f"{e.name} ({e.hidden_columns})" for e in hidden) + ".")


# Beyond this many tables, the per-table definitions of the report (columns, constraints, indexes) are those of
# the largest ones only; the list of tables stays whole.
DETAIL_MAX_TABLES = 500


def _tables(doc: Document, snap: Snapshot) -> None:
    doc.h(2, "3. Table definitions", "tables")
    profiles = design.table_profiles(snap)
    if not profiles:
        doc.p("No tables.")
        return
    doc.blocks.append(Table(
        headers=("Table", "Rows (est.)", "Size", "Indexes", "Scans", "Index scans", "Rows written", "Reads"),
        rows=tuple(
            (Code(p.table.qualified), _rows(p), human_bytes(_bytes(p)),
             str(len(p.indexes)), count(p.mix.reads), pct(p.mix.index_scan_pct), count(p.mix.writes),
             pct(p.mix.read_pct))
            for p in profiles
        ),
        numeric=frozenset({1, 2, 3, 4, 5, 6, 7}),
        sort_keys=tuple(
            (None, _row_count(p), _bytes(p), len(p.indexes), p.mix.reads,
             p.mix.index_scan_pct, p.mix.writes, p.mix.read_pct)
            for p in profiles
        ),
    ))
    doc.p("Reads is the read/write mix: table scans (sequential and index) as a share of scans plus rows "
          "written, from the server's statistics since they were last reset."
          + (" Rows marked (live) are the live-tuple count of a table never analyzed, which has no planner "
             "estimate yet." if any(p.size is not None and p.size.rows_from_live for p in profiles) else ""))
    detailed = profiles
    if len(profiles) > DETAIL_MAX_TABLES:
        # a 20,000-table schema would make a report of tens of megabytes that a browser barely opens
        largest = sorted(profiles, key=lambda p: (-(_bytes(p) or 0), -(_row_count(p) or 0),
                                                  p.table.schema, p.table.name))[:DETAIL_MAX_TABLES]
        shown = {p.table.key for p in largest}
        detailed = [p for p in profiles if p.table.key in shown]
        doc.p(f"Trimmed: the definitions below are those of the {DETAIL_MAX_TABLES} largest of the "
              f"{len(profiles)} tables (by size, then rows); every table is in the list above, and a snapshot "
              "(dbaudit snapshot) holds all their definitions.")
    for p in detailed:
        t = p.table
        doc.h(3, t.qualified, table_anchor(t.schema, t.name))
        facts: list[Inline] = [f"{t.kind.replace('_', ' ')}, about {_rows(p)} rows, {human_bytes(_bytes(p))}"]
        if p.partitions:
            facts.append(f", {p.partitions} partitions (rows, size, scans and rows written summed over them)")
        if t.engine:
            facts.append(f", engine {t.engine}")
        if p.mix.reads is not None or p.mix.writes is not None:
            facts.append(f"; {_reads(p)}, "
                         f"{count(p.mix.rows_inserted)} rows inserted, {count(p.mix.rows_updated)} updated, "
                         f"{count(p.mix.rows_deleted)} deleted")
        doc.p(*facts, ".")
        if t.comment:
            doc.p("Comment: ", _one_line(t.comment))
        doc.blocks.append(Table(
            headers=("Column", "Type", "Constraints"),
            rows=tuple((Code(c.column.name), Code(c.column.data_type), "; ".join(c.constraints))
                       for c in p.columns),
        ))
        if p.constraints:
            doc.blocks.append(Table(
                headers=("Constraint", "Definition"),
                rows=tuple((Code(c.name), (Code(_one_line(c.definition)),
                                           "" if c.validated else " (NOT VALID)")) for c in p.constraints),
            ))
        if p.indexes:
            figures = p.index_figures or tuple((i.size_bytes, i.scans) for i in p.indexes)
            doc.blocks.append(Table(
                headers=("Index", "Definition", "Size", "Scans"),
                rows=tuple(
                    (Code(i.name), Code(_one_line(i.definition) or ", ".join(k.text for k in i.keys)),
                     human_bytes(size), count(scans) + ("" if i.is_valid else " (INVALID)"))
                    for i, (size, scans) in zip(p.indexes, figures, strict=True)
                ),
                numeric=frozenset({2, 3}),
                sort_keys=tuple((None, None, size, scans) for size, scans in figures),
            ))
            if p.partitions:
                doc.p("A partitioned index's size and scans are those of its partitions' indexes, summed.")


def _row_count(p: design.TableProfile) -> int | None:
    return p.size.rows if p.size is not None else p.table.estimated_rows


def _rows(p: design.TableProfile) -> str:
    live = p.size is not None and p.size.rows_from_live and p.size.rows is not None
    return count(_row_count(p)) + (" (live)" if live else "")


def _bytes(p: design.TableProfile) -> int | None:
    return p.size.total_bytes if p.size is not None else p.table.total_bytes


def _findings_table(findings: Sequence[Finding]) -> Table:
    return Table(
        headers=("Severity", "Check", "Object", "Finding"),
        rows=tuple((severity_badge(f.severity), f"{f.code} {f.check}", Code(f.object.label()), f.message)
                   for f in findings),
    )


def _normalization(doc: Document, report: Report) -> None:
    doc.h(2, "4. Normalization analysis", "normalization")
    metric = next((m for m in report.metrics if m.key == "normalization_pct"), None)
    if metric is not None:
        if metric.value is None:
            doc.p(Strong(f"{metric.label}: not measured"), f" ({metric.reason}).")
        else:
            status = f", {metric.status}" if metric.status else ""
            doc.p(Strong(f"{metric.label}: {metric_value(metric)}"), f" (target {metric.target}{status}); "
                  f"{metric_how(metric)}.")
    nf = [f for f in report.findings if f.code.startswith("NF")]
    if nf:
        doc.blocks.append(_findings_table(nf))
    else:
        doc.p("No repeating group, multi-valued column, partial or transitive dependency was found.")


def _sql_item(f: Finding, also: Sequence[Finding] = ()) -> tuple[Block, ...]:
    """A finding and its fix; ``also``: the findings the same statement settles, listed under it."""
    head = Para((severity_badge(f.severity), " ", f"{f.code} ", Code(f.object.label()), f": {f.message}"))
    more = tuple(Para(("The same statement settles ", severity_badge(g.severity), " ", f"{g.code} ",
                       Code(g.object.label()), f": {g.message}"
                       + (" (this index serves its lookups: the key's columns lead it)"
                          if g.code == "IX05" and f.code == "WL02" else ""))) for g in also)
    return (head, *more, CodeBlock(f.remediation, "sql")) if f.remediation else (head, *more)


def _indexing(doc: Document, report: Report, snap: Snapshot) -> None:
    doc.h(2, "5. Indexing strategy", "indexing")
    strategy = design.index_strategy(report.findings)
    doc.h(3, "Drop or rebuild", "index-drop")
    if strategy.drop:
        doc.p(f"{len(strategy.drop)} indexes cost writes and space without serving reads"
              + (f"; the unused ones hold {human_bytes(strategy.unused_bytes)}" if strategy.unused_bytes else "")
              + ". Check replicas and rare jobs before dropping an unused index: its statistics are this "
              "server's only.")
        doc.blocks.append(ListBlock(tuple(_sql_item(f, strategy.also.get(id(f), ())) for f in strategy.drop)))
    else:
        doc.p("Nothing to drop.")
    if strategy.watch:
        doc.p(f"{len(strategy.watch)} unused-index candidates not to drop yet (statistics too young to judge, "
              "or an index the check says to keep, such as the only one covering a foreign key):")
        doc.blocks.append(ListBlock(tuple(
            (Para((severity_badge(f.severity), " ", f"{f.code} ", Code(f.object.label()), f": {f.message}")),)
            for f in strategy.watch)))
    doc.h(3, "Add", "index-add")
    if strategy.add:
        doc.p("Indexes the workload or the foreign keys need (WL02 proposals first, verified with hypothetical "
              "indexes where hypopg is installed):")
        doc.blocks.append(ListBlock(tuple(_sql_item(f, strategy.also.get(id(f), ())) for f in strategy.add)))
    else:
        doc.p("No missing index was found.")
    usage = design.index_usage(snap)
    if usage:
        title = ("Index usage: scans since the statistics were reset (never-scanned indexes that back no constraint "
                 "marked)")
        if any(u.partitions for u in usage):
            title += "; a partitioned table's index: the scans of its partitions' indexes, summed"
        doc.blocks.append(Chart(title, tuple(
            Bar(f"{u.index.table}.{u.index.name}" + (f" ({plural(u.partitions, 'partition')})" if u.partitions else ""),
                float(u.scans), count(u.scans) if u.scans or u.index.backs_constraint else "0, never scanned",
                "" if u.scans or u.index.backs_constraint else "warn") for u in usage)))


def _queries(doc: Document, report: Report, snap: Snapshot) -> None:
    doc.h(2, "6. Query optimization", "queries")
    views = design.top_statements(snap, report.findings)
    if not views:
        why = (snap.workload.message or snap.workload.status) if snap.workload else "the workload was not collected"
        doc.p(f"No workload figures: {why}.")
        return
    info = snap.workload
    if info is not None:
        since = f" since {iso_utc(info.stats_reset)}" if info.stats_reset else ""
        doc.p(f"The {len(views)} statements with the most total execution time of the {info.statements_total} "
              f"recorded by {info.source}{since}; {_how_planned(snap)}.")
    doc.blocks.append(Table(
        headers=("#", "Statement", "Total", "Share", "Calls", "Mean", "Rows", "Plan", "Findings"),
        rows=tuple(
            (str(i), Code(_one_line(v.statement.query, 90)), ms(v.statement.total_ms), pct(v.share_pct),
             count(v.statement.calls), ms(v.statement.mean_ms), count(v.statement.rows),
             _plan_text(v), ", ".join(sorted({f.code for f in v.findings})) or "-")
            for i, v in enumerate(views, 1)
        ),
        numeric=frozenset({0, 2, 3, 4, 5, 6}),
        sort_keys=tuple((float(i), None, v.statement.total_ms, v.share_pct, float(v.statement.calls),
                         v.statement.mean_ms, float(v.statement.rows)) for i, v in enumerate(views, 1)),
    ))
    doc.blocks.append(Chart("Total execution time by statement (ms)", tuple(
        Bar(f"#{i} {_one_line(v.statement.query, 60)}", v.statement.total_ms, ms(v.statement.total_ms))
        for i, v in enumerate(views, 1)
    )))
    flagged = [(i, v) for i, v in enumerate(views, 1) if v.findings]
    for i, v in flagged:
        doc.h(3, f"Statement #{i}", f"q{i}")
        doc.blocks.append(CodeBlock(v.statement.query.strip(), "sql"))
        doc.blocks.append(ListBlock(tuple(_sql_item(f) for f in v.findings)))


def _how_planned(snap: Snapshot) -> str:
    """How the statements' plans were obtained: EXPLAIN (PostgreSQL's generic plans, MySQL 8's sample texts), or
    on MySQL/MariaDB without a sample text the digest's execution counters, which no EXPLAIN is run for."""
    counted = sum(1 for p in snap.plans if p.explained and p.method == "digest_counters")
    explained = sum(1 for p in snap.plans if p.explained and p.method != "digest_counters")
    how = "generic plans" if snap.engine == "postgresql" else "of their sample texts"
    words = [f"{explained:,} {_was(explained)} explained ({how}, never executed)"] if explained or not counted else []
    if counted:
        words.append(f"{counted:,} {_was(counted)} judged from performance_schema's execution counters (no EXPLAIN: "
                     "the server keeps no sample text)")
    return "; ".join(words)


def _reads(p: design.TableProfile) -> str:
    """A table's reads: scans on PostgreSQL; on MySQL/MariaDB, which count rows and no scans, the rows read."""
    if p.mix.reads is not None:
        return f"{count(p.mix.reads)} scans ({pct(p.mix.index_scan_pct)} by index)"
    stats = p.table.stats
    if stats.seq_tup_read is None and stats.idx_tup_fetch is None:
        return "reads not counted"
    rows = (stats.seq_tup_read or 0) + (stats.idx_tup_fetch or 0)
    if not rows:
        return "no row read"
    return f"{count(rows)} rows read ({pct(round(100.0 * (stats.idx_tup_fetch or 0) / rows, 1))} through an index)"


def _was(n: int) -> str:
    return "was" if n == 1 else "were"


def _plan_text(v: design.StatementView) -> str:
    if v.plan is None:
        return "not explained"
    if not v.plan.explained:
        return f"not explained: {v.plan.reason or 'unknown'}"
    scans = [f"{s.scan_type} on {s.table}" + (f" ({s.index})" if s.index else "") for s in v.plan.scans]
    return "; ".join(scans[:4]) + ("; ..." if len(scans) > 4 else "") if scans else "no table scan"


def _scaling(doc: Document, report: Report, snap: Snapshot) -> None:
    doc.h(2, "7. Scaling notes", "scaling")
    largest = design.largest_tables(snap)
    if largest:
        doc.h(3, "Largest tables", "scaling-largest")
        doc.blocks.append(Table(
            headers=("Table", "Rows (est.)", "Total size", "Partitions"),
            rows=tuple((Code(r.table.qualified), count(r.rows), human_bytes(r.total_bytes),
                        str(r.partitions) if r.partitions else "-") for r in largest),
            numeric=frozenset({1, 2, 3}),
            sort_keys=tuple((None, r.rows, r.total_bytes, r.partitions) for r in largest),
        ))
        doc.blocks.append(Chart("Largest tables (total size with indexes and TOAST)", tuple(
            Bar(r.table.qualified, float(r.total_bytes or 0), human_bytes(r.total_bytes)) for r in largest
        )))
    _growth(doc, report)
    _partitioning(doc, report, snap)
    seq = [f for f in report.findings if f.code == "KY04"]
    if seq:
        doc.h(3, "Counters running out of range", "scaling-counters")
        if snap.engine == "postgresql":
            doc.p("The migration plan (section 10) widens these columns without a maintenance window.")
        doc.blocks.append(ListBlock(tuple(_sql_item(f) for f in seq)))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "never"


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else duration(seconds)


def _operations(doc: Document, report: Report, snap: Snapshot) -> None:
    """Vacuum and analyze per table, transaction ID ages, sessions, replication, settings, security posture."""
    doc.h(2, "8. Maintenance and operations", "operations")
    found = health.health_findings(report.findings)
    if found:
        shown = found[:30]
        doc.p(f"{plural(len(found), 'server health finding')} (maintenance, replication, settings, security, "
              "capacity)" + (f"; the first {len(shown)}:" if len(found) > len(shown) else ":"))
        doc.blocks.append(Table(
            headers=("Check", "Severity", "Object", "Finding"),
            rows=tuple((f"{f.code} {f.check}", severity_badge(f.severity), Code(f.object.label()),
                        _one_line(f.message, 200)) for f in shown),
        ))
    else:
        doc.p("No maintenance, replication, settings, security or capacity finding.")

    doc.h(3, "Vacuum and statistics", "operations-vacuum")
    rows = health.vacuum_rows(snap)
    if snap.engine == "postgresql" and rows:
        with_age = any(r.xid_age is not None for r in rows)
        headers = ("Table", "Live rows", "Dead rows", "Dead %", "Last vacuum", "Last analyze",
                   "Changed since analyze") + (("XID age",) if with_age else ())
        doc.blocks.append(Table(
            headers=headers,
            rows=tuple((Code(r.table.qualified), count(r.live), count(r.dead),
                        "-" if r.dead_pct is None else f"{r.dead_pct:.1f} %",
                        _when(r.last_vacuum) if r.stats_known else "-",
                        _when(r.last_analyze) if r.stats_known else "-", count(r.modified_since_analyze))
                       + ((count(r.xid_age),) if with_age else ()) for r in rows),
            numeric=frozenset({1, 2, 3, 6} | ({7} if with_age else set())),
            sort_keys=tuple((None, r.live, r.dead, r.dead_pct, None, None, r.modified_since_analyze)
                            + ((r.xid_age,) if with_age else ()) for r in rows),
        ))
    elif rows:
        doc.p("InnoDB purges old row versions by itself; its statistics are kept per table (see MT08 and MT11 "
              "among the findings above).")
    else:
        doc.p("No table to show.")
    ages = health.database_ages(snap)
    freeze = (snap.settings.get("autovacuum_freeze_max_age") or "").strip()
    if ages:
        limit = f" (autovacuum_freeze_max_age {int(freeze):,})" if freeze.isdigit() else ""
        doc.p(f"Transaction ID age per database{limit}:")
        doc.blocks.append(Table(
            headers=("Database", "XID age", "Multixact age"),
            rows=tuple((Code(d.name), count(d.xid_age), count(d.mxid_age)) for d in ages[:10]),
            numeric=frozenset({1, 2}),
            sort_keys=tuple((None, d.xid_age, d.mxid_age) for d in ages[:10]),
        ))
    elif snap.engine == "postgresql":
        doc.p("Transaction ID ages per database were not collected.")

    doc.h(3, "Sessions", "operations-sessions")
    sessions = health.session_summary(snap)
    if sessions is None:
        doc.p("The sessions were not read.")
    else:
        states = ", ".join(f"{n} {state}" for state, n in sessions.by_state) or "none"
        parts = [f"{sessions.total} client session(s): {states}; {sessions.in_transaction} in a transaction",
                 f", the oldest open for {_age(sessions.oldest_transaction_s)}"
                 if sessions.oldest_transaction_s is not None else ""]
        if sessions.prepared is not None:
            parts.append(f"; {sessions.prepared} prepared transaction(s)")
        if not sessions.complete:
            parts.append(" (the audit role sees only part of them)")
        doc.p("".join(parts) + ".")

    doc.h(3, "Replication", "operations-replication")
    _replication(doc, snap)

    doc.h(3, "Settings that matter", "operations-settings")
    settings = health.settings_that_matter(snap)
    if settings:
        doc.blocks.append(Table(headers=("Setting", "Value", "Source"),
                                rows=tuple((Code(n), v, src or "-") for n, v, src in settings)))
    else:
        doc.p("The server settings were not read.")

    doc.h(3, "Security posture", "operations-security")
    facts = health.security_facts(snap)
    if facts:
        doc.blocks.append(Table(headers=("", ""), rows=tuple((k, v) for k, v in facts)))
    else:
        doc.p("The roles and authentication rules were not read.")


def _replication(doc: Document, snap: Snapshot) -> None:
    rep = snap.replication
    if rep is None:
        doc.p("Replication was not read.")
        return
    if snap.engine == "postgresql":
        role = "a standby (in recovery)" if rep.in_recovery else "a primary"
        doc.p(f"This server is {role}; {len(rep.standbys or ())} standby(s) stream from it, "
              f"{len(rep.slots or ())} replication slot(s).")
        if rep.slots:
            doc.blocks.append(Table(
                headers=("Slot", "Type", "Active", "WAL kept", "wal_status"),
                rows=tuple((Code(s.name), s.slot_type, "yes" if s.active else "no", human_bytes(s.retained_bytes),
                            s.wal_status or "-") for s in rep.slots),
            ))
        if rep.standbys:
            doc.blocks.append(Table(
                headers=("Standby", "Address", "State", "Replay lag", "WAL not replayed"),
                rows=tuple((Code(s.application_name or str(s.pid)), s.client_addr or "-", s.state or "-",
                            _age(s.replay_lag_s), human_bytes(s.replay_lag_bytes)) for s in rep.standbys),
            ))
        for r in rep.replicas or ():
            doc.p(f"Replay: received up to {r.receive_lsn or '?'}, replayed up to {r.replay_lsn or '?'} "
                  f"({human_bytes(r.receive_replay_bytes)} waiting), last replayed commit {_when(r.last_replay_at)}"
                  + ("; replay is paused" if r.replay_paused else "") + ".")
        return
    if rep.replicas is None:
        doc.p("The replica status was not readable.")
    elif not rep.replicas:
        doc.p("This server replicates from no source.")
    else:
        doc.blocks.append(Table(
            headers=("Channel", "Source", "I/O thread", "SQL thread", "Seconds behind"),
            rows=tuple((Code(r.channel or "(default)"), r.source or "-", r.io_running or "-", r.sql_running or "-",
                        count(r.seconds_behind)) for r in rep.replicas),
        ))
def _growth(doc: Document, report: Report) -> None:
    doc.h(3, "Fastest-growing tables", "scaling-growth")
    history = getattr(report, "history", None)  # the run history, when this run was compared with a previous one
    grown = scaling.growth(history)
    if not grown:
        doc.p("No growth figures: growth needs two recorded runs of this database (the run history), and "
              + ("this report was made without one." if history is None else
                 "the history holds no earlier run with table sizes, or no table grew."))
        return
    span = scaling.interval_s(history)
    previous = getattr(getattr(history, "previous_run", None), "started_at", None)
    since = f" on {iso_utc(previous)}" if previous is not None else ""
    doc.p(f"What grew since the previous recorded run{since}"
          + (f", {duration(span)} before this one" if span else "") + "."
          + ("" if (span or 0) >= scaling.MIN_PROJECTION_S else
             f" Per-day figures need runs at least {duration(scaling.MIN_PROJECTION_S)} apart."))
    doc.blocks.append(Table(
        headers=("Table", "Size now", "Growth", "Rows added", "Per day", "Doubles in"),
        rows=tuple((Code(g.table), human_bytes(g.bytes_now), human_bytes(g.bytes_delta), count(g.rows_delta),
                    human_bytes(int(g.per_day)) if g.per_day else "-",
                    f"{g.days_to_double:,.0f} days" if g.days_to_double else "-")
                   for g in grown),
        numeric=frozenset({1, 2, 3, 4, 5}),
        sort_keys=tuple((None, g.bytes_now, g.bytes_delta, g.rows_delta, g.per_day, g.days_to_double)
                        for g in grown),
    ))


def _partitioning(doc: Document, report: Report, snap: Snapshot) -> None:
    doc.h(3, "Partitioning candidates", "scaling-partitions")
    cp02 = (getattr(report, "check_options", None) or {}).get("CP02")
    found = scaling.candidates(snap, getattr(report, "history", None), report.findings, cp02)
    min_rows, min_bytes = scaling.marks(cp02)
    configured = " (CP02's configured marks)" if (min_rows, min_bytes) != scaling.marks() else ""
    if not found:
        doc.p(f"No unpartitioned table has {min_rows:,} estimated rows or "
              f"{human_bytes(min_bytes)}{configured} (nor grows there within a year): partitioning is not "
              "needed for size yet.")
        return
    doc.p(f"Unpartitioned tables past {min_rows:,} estimated rows or "
          f"{human_bytes(min_bytes)}{configured}, or growing there within a year. Partitioning rewrites the "
          "table: build the partitioned copy beside it, copy the rows in batches while a trigger keeps it in step, "
          "then switch names in one short transaction (the pattern of the migration plan's widenings).")
    doc.blocks.append(Table(
        headers=("Table", "Rows (est.)", "Total size", "Why", "Partition key to start from"),
        rows=tuple((Code(c.table.qualified), count(c.rows), human_bytes(c.total_bytes), c.reason, Code(c.key))
                   for c in found),
        numeric=frozenset({1, 2}),
        sort_keys=tuple((None, c.rows, c.total_bytes) for c in found),
    ))


def _metrics(doc: Document, report: Report) -> None:
    doc.h(2, "9. Quality metrics", "metrics")
    doc.blocks.append(Table(
        headers=("Metric", "Value", "Target", "Status", "How it was measured / why not"),
        rows=tuple((m.label, metric_value(m), m.target or "-", metric_status(m),
                    metric_how(m)) for m in report.metrics),
    ))
    for m in report.metrics:
        if m.parts:
            doc.p(Strong(f"{m.label}, its parts:"))
            doc.blocks.append(Table(
                headers=("Part", "Share", "Counted", "Detail"),
                rows=tuple((p.label, pct(p.value), "yes" if p.counted and p.value is not None else "no",
                            p.detail) for p in m.parts),
            ))
    score = report.score
    doc.p(Strong(f"Health score {score.label()}"), f": {score.formula} (docs/scoring.md).")
    lost = penalties(report.findings)
    failed = [m for m in report.metrics if m.passed is False]
    if lost or failed:
        rows: list[tuple[Cell, ...]] = [(f"{code} ({sev.value})", str(n), f"-{points:g}")
                                        for code, sev, n, points in lost]
        from auditor.scoring import FAILED_METRIC_PENALTY

        rows += [(f"failed metric: {m.label}", "1", f"-{FAILED_METRIC_PENALTY:g}") for m in failed]
        doc.blocks.append(Table(headers=("Points lost to", "Findings", "Points"), rows=tuple(rows),
                                numeric=frozenset({1, 2})))


def _next_steps(doc: Document, report: Report, workload_ms: float | None, found: list[design.Step]) -> None:
    doc.h(2, "10. Next steps", "next")
    steps = design.next_steps(report.findings, report.metrics, report.skipped, workload_ms=workload_ms, found=found)
    if not steps:
        doc.p("Nothing to do: no finding, every measured metric meets its target.")
        return
    doc.p("Ranked by the measured database time each step would save (errors first), then by the score points "
          "it recovers; one index proposed by several checks is one step.")
    items: list[tuple[Block, ...]] = []
    for s in steps:
        gain = [part for part in (design.saving_text(s, workload_ms), f"+{s.points:g} points" if s.points else "")
                if part]
        head: list[Inline] = [Strong(s.title + (f" ({'; '.join(gain)})" if gain else "")), f": {s.detail}"]
        if s.saves_how:
            head.append(f" (time: {s.saves_how})")
        blocks: list[Block] = [Para(tuple(head))]
        if s.sql:
            blocks.append(CodeBlock("\n".join(s.sql), "sql"))
        items.append(tuple(blocks))
    doc.blocks.append(ListBlock(tuple(items), ordered=True))


def _and(numbers: list[int]) -> str:
    """1 and 3; 1, 3 and 4."""
    words = [str(n) for n in numbers]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def _migration(doc: Document, report: Report, snap: Snapshot) -> None:
    doc.h(2, "11. Migration plan", "migration")
    plan = migration.plan(snap, report.findings)
    mysql = plan.engine == "mysql"
    if not plan.steps:
        doc.p("No finding asks for a schema change that needs rolling out.")
    else:
        # the phases keep their numbers (the steps refer to "phase 4"): the ones without a step are named
        phases = sorted({s.phase for s in plan.steps})
        which = (f"the {len(phases)} phases" if len(phases) == len(migration.PHASES) else
                 f"{len(phases)} of the {len(migration.PHASES)} phases ({_and(phases)})" if len(phases) > 1 else
                 f"phase {phases[0]} of the {len(migration.PHASES)}")
        doc.p(f"The schema fixes as {plural(len(plan.steps), 'step')} in {which} that keep the "
              "application running: additive changes first, then backfills and validations, then a short "
              "switch, and what nothing uses is dropped last. ",
              *(("Run the statements one at a time",) if mysql else
                ("Run every statement on its own (", Code("CONCURRENTLY"), " refuses a transaction block)")),
              ", finish a phase everywhere (replicas included) before the next, and keep each step's rollback "
              "at hand.")
        if mysql:
            doc.p("MySQL and MariaDB have no ", Code("NOT VALID"), ": a foreign key is added with ",
                  Code("SET SESSION foreign_key_checks = 0"), " (then ", Code("ALGORITHM=INPLACE, LOCK=NONE"),
                  " is allowed and the rows already there are not checked) and validated by an anti-join that "
                  "must return no row; a CHECK constraint is added ", Code("NOT ENFORCED"), " (MySQL 8.0.16+) "
                  "and enforced once a query finds no row breaking it. Index changes name ",
                  Code("ALGORITHM=INPLACE LOCK=NONE"), " so that the server refuses rather than copies the table; "
                  "a type change always copies it, so it goes through gh-ost or pt-online-schema-change.")
        else:
            doc.p("Set ", Code(f"lock_timeout = '{migration.LOCK_TIMEOUT}'"), " in the session that runs them: a "
                  "DDL statement queued behind a long transaction blocks every query after it, and failing fast "
                  "then retrying is the safe choice.")
        for number, title in migration.PHASES:
            steps = [s for s in plan.steps if s.phase == number]
            if not steps:
                continue
            doc.h(3, f"Phase {number}. {title}", f"migration-{number}")
            doc.blocks.append(ListBlock(tuple(_step_item(s) for s in steps), ordered=True))
    left = list(plan.design) + list(plan.manual)
    if left:
        doc.h(3, "Not scripted", "migration-manual")
        doc.p("Schema findings the plan leaves to you (a design decision, an application change, or a case the "
              "scripted pattern does not cover):")
        doc.blocks.append(Table(
            headers=("Check", "Object", "Why not scripted"),
            rows=tuple((f"{f.code} {f.check}", Code(f.object.label()), why) for f, why in left),
        ))
    if plan.server:
        doc.p(f"{plural(len(plan.server), 'server setting and security finding')} change the server, not the "
              "schema: they are applied as their fix says (see the findings below), outside this plan.")


def _step_item(step: migration.Step) -> tuple[Block, ...]:
    head: list[Inline] = [Strong(step.title), f" ({', '.join(step.codes)}). Locks: {step.lock}."]
    if step.note:
        head.append(f" {step.note}")
    return (Para(tuple(head)), CodeBlock("\n".join(step.forward), "sql"), Para(("Rollback:",)),
            CodeBlock("\n".join(step.rollback), "sql"))


SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def finding_table(f: Finding) -> str:
    """The table a finding is about, "schema.table", or "" when it is about no table."""
    o = f.object
    return ".".join(p for p in (o.schema, o.table) if p) if o.table else ""


def _all_findings(doc: Document, report: Report) -> None:
    doc.h(2, "12. All findings", "findings")
    if not report.findings:
        doc.p("No finding.")
        return
    ordered = sorted(report.findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.code,
                                                      f.object.label()))
    fixes = sum(1 for f in ordered if f.remediation)
    doc.p(f"{plural(len(ordered), 'finding')}, most severe first; {fixes} come with the SQL that fixes them "
          "(read it before running it; the migration plan above orders the schema changes).")
    doc.blocks.append(FindingList(tuple(
        FindingItem(f.severity, f.code, f.check, finding_table(f), f.object.label(), f.message, f.remediation)
        for f in ordered
    )))


def _appendix(doc: Document, report: Report) -> None:
    if not report.skipped and not report.notes:
        return
    doc.h(2, "Appendix: what this audit could not see", "appendix")
    if report.skipped:
        doc.blocks.append(Table(
            headers=("Check", "Why skipped", "To enable"),
            rows=tuple((f"{s.code} {s.check}", s.reason, Code(s.enable) if s.enable else "-")
                       for s in report.skipped),
        ))
    for n in report.notes:
        more = f" Objects: {', '.join(n.objects[:10])}" + (" ..." if len(n.objects) > 10 else "") + "." \
            if n.objects else ""
        doc.p(Strong(f"[{n.area}]"), f" {n.message}.{more}", *((" To enable: ", Code(n.enable)) if n.enable
                                                               else ()))
