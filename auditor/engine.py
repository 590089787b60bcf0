"""The check registry, selection, preconditions and the run loop.

A check is a small pure function over ``(snapshot, options)`` registered with :func:`check`. Preconditions are
declared on the decorator; the engine turns an unmet one into a :class:`~auditor.model.Skipped` entry that says why
and how to enable the check.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.bulk import cached, gc_paused_keeping
from auditor.model import Finding, Hit, Severity, Skipped, Snapshot, WorkloadInfo

DOCS_BASE = "https://github.com/dbaudit/dbaudit/blob/main/docs/checks.md"

DOC_SECTIONS_REQUIRED = ("What it does", "Why is this bad?", "Example", "Fix")
DOC_SECTIONS_OPTIONAL = ("Options", "Known problems", "References")

ENGINES = frozenset({"postgresql", "mysql"})
# the live probes a check may need beyond the catalog; the CLI skips a probe that no selected check needs
PROBES = frozenset({"sampling", "workload"})
NOT_NEEDED = "not collected: no selected check needs it"
# The catalog areas most checks read; a check reads these unless its decorator says otherwise (``reads=``).
# When the query of an area failed (Snapshot.unread_areas), the checks reading it are skipped: judging keys
# without the indexes (say) would report every foreign key as unindexed.
CORE_AREAS = frozenset({"tables", "columns", "constraints", "indexes"})
WORKLOAD_OFF = "workload collection was off (--no-workload)"

CODE_RE = re.compile(r"^[A-Z]{2}\d{2}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Unmet:
    """Why a precondition does not hold, and the grant or setting that would make it hold."""

    reason: str
    enable: str | None = None


Precondition = Callable[[Snapshot], Unmet | None]


@dataclass(frozen=True)
class NoOptions:
    """Checks without options take this."""


CheckFunc = Callable[[Snapshot, Any], Iterable[Hit]]


@dataclass(frozen=True)
class CheckSpec:
    code: str
    name: str
    severity: Severity
    category: str
    engines: frozenset[str]
    func: CheckFunc
    options: type = NoOptions
    requires: tuple[Precondition, ...] = ()
    not_applicable: Mapping[str, str] = dataclasses.field(default_factory=dict)  # engine -> why
    needs: frozenset[str] = frozenset()  # probes whose results the check reads (PROBES)
    reads: frozenset[str] = CORE_AREAS  # catalog areas whose rows the check reads

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "")

    @property
    def summary(self) -> str:
        return self.doc.splitlines()[0] if self.doc else ""

    @cached  # stamped on every finding: tens of thousands on a large database
    def doc_url(self) -> str:
        return f"{DOCS_BASE}#{self.code.lower()}-{self.name}"

    def doc_sections(self) -> dict[str, str]:
        return parse_doc_sections(self.doc)


REGISTRY: dict[str, CheckSpec] = {}


def check(
    *,
    code: str,
    name: str,
    severity: Severity,
    engines: Iterable[str],
    options: type = NoOptions,
    requires: Iterable[Precondition] = (),
    not_applicable: Mapping[str, str] | None = None,
    category: str | None = None,
    needs: Iterable[str] = (),
    reads: Iterable[str] = CORE_AREAS,
) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check. The family (category) defaults to the module's name, e.g. ``checks.indexes``.

    ``needs`` names the live probes the check reads (``"sampling"``, ``"workload"``); a scan collects a probe
    only when a selected check needs it.
    """

    def register(func: CheckFunc) -> CheckFunc:
        if not CODE_RE.match(code):
            raise ValueError(f"check code {code!r} must be two capitals and two digits")
        if not NAME_RE.match(name):
            raise ValueError(f"check name {name!r} must be kebab-case")
        for spec in REGISTRY.values():
            if spec.code == code or spec.name == name:
                if spec.func.__qualname__ == func.__qualname__ and spec.func.__module__ == func.__module__:
                    break  # re-import of the same module
                raise ValueError(f"check {code} {name} collides with {spec.code} {spec.name}")
        engine_set = frozenset(engines)
        unknown = engine_set - ENGINES
        if unknown:
            raise ValueError(f"check {code}: unknown engines {sorted(unknown)}")
        family = category or func.__module__.rsplit(".", 1)[-1]
        need_set = frozenset(needs)
        if need_set - PROBES:
            raise ValueError(f"check {code}: unknown probes {sorted(need_set - PROBES)}")
        REGISTRY[code] = CheckSpec(
            code=code,
            name=name,
            severity=severity,
            category=family,
            engines=engine_set,
            func=func,
            options=options,
            requires=tuple(requires),
            not_applicable=dict(not_applicable or {}),
            needs=need_set,
            reads=frozenset(reads),
        )
        return func

    return register


def load_checks() -> dict[str, CheckSpec]:
    """Import the battery (registration happens at import) and return the registry."""
    import checks  # noqa: F401  (imports every family)

    return REGISTRY


def check_options(code: str, given: Any = None) -> Any:
    """The options check ``code`` ran with: ``given`` (the run's), else its defaults; None for a check not
    registered. What a metric or a history record judges by the same marks as the check (IX01's
    ``min_stats_age_days``)."""
    if given is None and code in REGISTRY:
        return REGISTRY[code].options()
    return given


def all_checks() -> list[CheckSpec]:
    return sorted(load_checks().values(), key=lambda s: s.code)


def find_check(token: str) -> CheckSpec | None:
    token = token.strip()
    for spec in all_checks():
        if spec.code.lower() == token.lower() or spec.name == token.lower():
            return spec
    return None


# --------------------------------------------------------------------------------------------------------------
# Preconditions
# --------------------------------------------------------------------------------------------------------------


def requires_extension(name: str, enable: str | None = None) -> Precondition:
    def pre(snap: Snapshot) -> Unmet | None:
        if snap.engine != "postgresql" or name in snap.extensions:
            return None
        return Unmet(f"the {name} extension is not installed", enable or f"CREATE EXTENSION {name}")

    pre.__name__ = f"requires_extension_{name}"
    return pre


def requires_capability(name: str, reason: str, enable: str) -> Precondition:
    def pre(snap: Snapshot) -> Unmet | None:
        return None if name in snap.capabilities else Unmet(reason, enable)

    pre.__name__ = f"requires_capability_{name}"
    return pre


# --------------------------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------------------------


class SelectionError(ValueError):
    pass


def _matches(spec: CheckSpec, token: str) -> bool:
    t = token.strip()
    if not t:
        return False
    low = t.lower()
    if low == "all":
        return True
    if any(ch in t for ch in "*?["):
        return fnmatch.fnmatchcase(spec.code, t.upper()) or fnmatch.fnmatchcase(spec.name, low)
    if spec.code.lower() == low or spec.name == low or spec.category == low:
        return True
    # a code prefix: "IX" or "IX0"
    return bool(re.fullmatch(r"[A-Za-z]{1,2}\d?", t)) and spec.code.startswith(t.upper())


def select_checks(
    specs: Iterable[CheckSpec], select: Iterable[str] = (), ignore: Iterable[str] = ()
) -> list[CheckSpec]:
    """Pick checks by code (IX01), name (unused-index), family (indexes), prefix (IX) or glob (IX0*, *-index).

    An empty ``select`` means every check. A token that matches no check is an error naming the nearest ones.
    """
    specs = list(specs)
    select = [s for s in select if s.strip()]
    ignore = [s for s in ignore if s.strip()]
    for token in [*select, *ignore]:
        if not any(_matches(spec, token) for spec in specs):
            raise SelectionError(f"no check matches {token!r}{_nearest_hint(token, specs)}")
    chosen = [s for s in specs if not select or any(_matches(s, t) for t in select)]
    return [s for s in chosen if not any(_matches(s, t) for t in ignore)]


def _nearest_hint(token: str, specs: list[CheckSpec]) -> str:
    import difflib

    names = [s.name for s in specs] + [s.code for s in specs] + sorted({s.category for s in specs})
    close = difflib.get_close_matches(token.lower(), [n.lower() for n in names], n=3, cutoff=0.5)
    if not close:
        return " (see `dbaudit checks`)"
    originals = {n.lower(): n for n in names}
    return "; did you mean " + " or ".join(originals[c] for c in close) + "?"


def needed_probes(specs: Iterable[CheckSpec]) -> frozenset[str]:
    """The probes the given checks read: a scan with ``--select KY01`` needs neither sampling nor the workload."""
    return frozenset().union(*(spec.needs for spec in specs))


def mark_not_needed(snap: Snapshot, probes: Iterable[str]) -> Snapshot:
    """Record in the snapshot that these probes were left out because no selected check needs them (the
    workload metrics then say so instead of "the workload was not collected")."""
    if "workload" in set(probes) and snap.workload is None:
        source = "performance_schema" if snap.engine == "mysql" else "pg_stat_statements"
        snap = dataclasses.replace(snap, workload=WorkloadInfo(source=source, status="not_collected",
                                                               message=NOT_NEEDED))
    return snap


def mark_workload_off(snap: Snapshot) -> Snapshot:
    """Record in the snapshot that the user turned the workload probe off (``--no-workload``): the WL checks
    and the metrics then say so instead of asking to enable pg_stat_statements or performance_schema, which
    may well be on. Both connectors leave ``workload`` None when the probe does not run."""
    if snap.workload is None:
        source = "performance_schema" if snap.engine == "mysql" else "pg_stat_statements"
        snap = dataclasses.replace(snap, workload=WorkloadInfo(source=source, status="off", message=WORKLOAD_OFF))
    return snap


# --------------------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    findings: tuple[Finding, ...]
    skipped: tuple[Skipped, ...]
    ran: tuple[str, ...]  # codes of the checks that ran


def unmet_precondition(spec: CheckSpec, snap: Snapshot) -> Unmet | None:
    if snap.engine not in spec.engines:
        why = spec.not_applicable.get(snap.engine)
        return Unmet(why or f"not applicable to {snap.engine}", None)
    if snap.engine in spec.not_applicable:
        return Unmet(spec.not_applicable[snap.engine], None)
    unread = sorted(spec.reads & set(snap.unread_areas))
    if unread:
        note = next((n for n in snap.notes if n.area in unread), None)
        why = f"the {', '.join(unread)} catalog quer{'ies' if len(unread) > 1 else 'y'} failed"
        return Unmet(f"{why} ({note.message})" if note else why, note.enable if note else None)
    for pre in spec.requires:
        unmet = pre(snap)
        if unmet is not None:
            return unmet
    return None


def run_checks(
    snap: Snapshot,
    specs: Iterable[CheckSpec],
    options: Mapping[str, Any] | None = None,
    severities: Mapping[str, Severity] | None = None,
    stop_at: float | None = None,
    stop_reason: str = "",
) -> RunResult:
    """Run the given checks over a snapshot. ``options`` maps a check code to its options instance.

    ``stop_at`` (``time.monotonic()``; ``--timeout``): no check starts after it, each one left is skipped with
    ``stop_reason`` (\"not run: --timeout N s reached\")."""
    options = options or {}
    severities = severities or {}
    # the findings by (severity, check), each group in the order its check yielded them: the report's order,
    # as a stable sort by (severity, code, label) gives it, with a sort by label within each group only
    groups: dict[tuple[int, str], list[Finding]] = {}
    skipped: list[Skipped] = []
    ran: list[str] = []
    with gc_paused_keeping():  # tens of thousands of findings on a large database, over millions of objects
        for spec in specs:
            if stop_at is not None and time.monotonic() >= stop_at:
                skipped.append(Skipped(check=spec.name, code=spec.code, reason=stop_reason,
                                       enable="raise --timeout"))
                continue
            unmet = unmet_precondition(spec, snap)
            if unmet is not None:
                skipped.append(Skipped(check=spec.name, code=spec.code, reason=unmet.reason, enable=unmet.enable))
                continue
            opts = options.get(spec.code) or spec.options()
            default_severity = severities.get(spec.code, spec.severity) or spec.severity
            code, name, category, doc_url = spec.code, spec.name, spec.category, spec.doc_url
            usual: list[Finding] = []  # at the default severity: most of them
            other: dict[Severity, list[Finding]] = {}
            for hit in spec.func(snap, opts):
                severity = hit.severity or default_severity
                # :func:`stamp`, inlined: called once per finding, tens of thousands of times
                finding = Finding(code, name, severity, category, hit.object, hit.message, dict(hit.details),
                                  hit.remediation, doc_url)
                if severity == default_severity:
                    usual.append(finding)
                else:
                    other.setdefault(severity, []).append(finding)
            for severity, found in ((default_severity, usual), *other.items()):
                if found:
                    groups.setdefault((_DESCENDING_RANK[severity], code), []).extend(found)
            ran.append(spec.code)
        findings: list[Finding] = []
        for key in sorted(groups):
            group = groups[key]
            group.sort(key=_object_label)
            findings.extend(group)
    return RunResult(findings=tuple(findings), skipped=tuple(skipped), ran=tuple(ran))


_DESCENDING_RANK = {severity: -severity.rank for severity in Severity}  # not the enum's value per finding


def _object_label(finding: Finding) -> str:
    return finding.object.label()


def stamp(spec: CheckSpec, hit: Hit, default_severity: Severity | None = None) -> Finding:
    return Finding(
        code=spec.code,
        check=spec.name,
        severity=hit.severity or default_severity or spec.severity,
        category=spec.category,
        object=hit.object,
        message=hit.message,
        details=dict(hit.details),
        remediation=hit.remediation,
        doc_url=spec.doc_url,
    )


def iter_hits(spec: CheckSpec, snap: Snapshot, opts: Any = None) -> Iterator[Hit]:
    """Run one check directly (tests)."""
    yield from spec.func(snap, opts if opts is not None else spec.options())


# --------------------------------------------------------------------------------------------------------------
# Docstrings
# --------------------------------------------------------------------------------------------------------------

_SECTION_RE = re.compile(r"^## (.+?)\s*$", re.MULTILINE)


def parse_doc_sections(doc: str) -> dict[str, str]:
    """Split a check docstring into its summary and ``## Section`` bodies."""
    out: dict[str, str] = {}
    parts = _SECTION_RE.split(doc)
    out["summary"] = parts[0].strip()
    for title, body in zip(parts[1::2], parts[2::2], strict=False):
        out[title.strip()] = body.strip()
    return out


def option_fields(spec: CheckSpec) -> list[tuple[str, str, Any]]:
    """(name, type, default) of a check's options."""
    if not dataclasses.is_dataclass(spec.options):
        return []
    out = []
    for f in dataclasses.fields(spec.options):
        default = f.default if f.default is not dataclasses.MISSING else None
        out.append((f.name, str(f.type), default))
    return out
