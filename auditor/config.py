"""Configuration: ``[tool.dbaudit]`` in pyproject.toml or a ``dbaudit.toml``, validated, and suppression.

Where it is read from: ``--config FILE``, else ``dbaudit.toml`` in the current directory, else ``pyproject.toml``
there when it has a ``[tool.dbaudit]`` table. In dbaudit.toml the keys sit at the top level (a ``[tool.dbaudit]``
table works too). Every mistake is one line naming the file and the key, with the nearest valid key when there is
one; the CLI turns it into exit code 2. Command-line flags win over the file.

``ignore`` holds two kinds of entries. A string leaves a check out like ``--ignore``; a table keeps the check but
suppresses its findings on matching objects, and must say why::

    [tool.dbaudit]
    ignore = ["IX03"]                      # or [[tool.dbaudit.ignore]] tables only, see below

    [[tool.dbaudit.ignore]]
    check = "unused-index"                 # code, name, or a glob over either
    object = "public.audit_*"              # glob over the finding's object (see object_names)
    reason = "written by the nightly archiver, read at month end"

An ignore table that matches no finding of a check that ran is reported as stale, so that suppressions do not
outlive the problem they were written for.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.engine import CheckSpec, RunResult, SelectionError, all_checks, find_check, select_checks
from auditor.errors import AuditError
from auditor.model import Finding, ObjectRef, Severity
from auditor.scoring import Targets

if TYPE_CHECKING:
    from auditor.history.model import HistoryOptions

CONFIG_FILE = "dbaudit.toml"
PYPROJECT = "pyproject.toml"

FORMATS = ("text", "json", "markdown", "html", "sarif", "junit")
FAIL_ON = ("error", "warning", "info", "never")

# Check options that mirror a metric target: a target set in [targets] moves the option too, unless the check's
# own table sets it (so p95_ms = 50 makes WL01 flag statements over 50 ms, as the metric counts them).
TARGET_OPTIONS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "p95_ms": (("WL01", "p95_target_ms"),),
    "large_table_rows": (("WL02", "large_rows"),),
    "cache_hit_ratio_pct": (("ST08", "target_pct"),),
    "cache_hit_min_blocks": (("ST08", "min_blocks"),),
}

TOP_LEVEL_KEYS = ("select", "ignore", "fail-on", "format", "severities", "checks", "targets", "baseline",
                  "history", "history-retention-days", "history-regression-factor", "history-regression-min-calls")
IGNORE_KEYS = ("check", "object", "reason")


class ConfigError(AuditError):
    """The configuration file is missing, unreadable or invalid."""


@dataclass(frozen=True)
class IgnoreRule:
    """Suppress the findings of ``check`` on objects matching ``object``; ``where`` locates it in the file."""

    check: str
    object: str
    reason: str
    where: str = ""

    def matches_check(self, finding: Finding) -> bool:
        token = self.check.strip()
        if any(ch in token for ch in "*?["):
            return fnmatch.fnmatchcase(finding.code, token.upper()) or fnmatch.fnmatchcase(finding.check, token.lower())
        return token.upper() == finding.code or token.lower() == finding.check

    def matches(self, finding: Finding) -> bool:
        return self.matches_check(finding) and any(
            fnmatch.fnmatchcase(name, self.object) for name in object_names(finding.object)
        )


@dataclass(frozen=True)
class SuppressedFinding:
    finding: Finding
    rule: IgnoreRule


@dataclass(frozen=True)
class Config:
    """The validated file. Empty fields mean "not set": the CLI's own defaults then apply."""

    path: Path | None = None
    select: tuple[str, ...] | None = None
    ignore_checks: tuple[str, ...] | None = None
    fail_on: str | None = None
    format: str | None = None
    severities: Mapping[str, Severity] = field(default_factory=dict)  # check code -> severity
    options: Mapping[str, Any] = field(default_factory=dict)  # check code -> options dataclass instance
    targets: Targets | None = None  # None: the defaults of auditor.scoring
    ignores: tuple[IgnoreRule, ...] = ()
    baseline: Path | None = None  # relative to the config file's directory
    # the run store (auditor.history): a file path relative to the config file's directory, or a URL as given
    history: str | None = None
    history_retention_days: float | None = None  # runs older than this are rolled up daily (default 35)
    # a statement regressed when its interval mean or P95 is this many times the previous (default 2) ...
    history_regression_factor: float | None = None
    # ... with at least this many calls in both intervals (default 10)
    history_regression_min_calls: int | None = None

    def history_options(self, factor: float | None = None, min_calls: int | None = None) -> HistoryOptions:
        """How runs are compared: the command line's ``factor`` / ``min_calls`` over the file's, over the
        defaults of :class:`~auditor.history.model.HistoryOptions`."""
        from auditor.history.model import HistoryOptions

        factor = factor if factor is not None else self.history_regression_factor
        min_calls = min_calls if min_calls is not None else self.history_regression_min_calls
        chosen: dict[str, Any] = {}
        if factor is not None:
            chosen["regression_factor"] = factor
        if min_calls is not None:
            chosen["regression_min_calls"] = min_calls
        return HistoryOptions(**chosen)


def object_names(obj: ObjectRef) -> list[str]:
    """Every name an ignore's ``object`` glob is tried against: the report's label and the qualified names.

    For an index of public.orders: ``public.orders_created_idx`` (the label), ``public.orders`` and
    ``public.orders.orders_created_idx``; for a foreign key also ``public.orders.orders_customer_id_fkey``; for
    a statement its normalized text and queryid.
    """
    names = [obj.label()]
    schema_prefix = f"{obj.schema}." if obj.schema else ""
    if obj.table:
        table = f"{schema_prefix}{obj.table}"
        names.append(table)
        for sub in (obj.index, obj.constraint):
            if sub:
                names.append(f"{table}.{sub}")
        for column in obj.columns or ():
            names.append(f"{table}.{column}")
    for sub in (obj.index, obj.sequence, obj.constraint):
        if sub:
            names.append(f"{schema_prefix}{sub}")
    for server_level in (obj.setting, obj.role, obj.rule, obj.database):
        if server_level:
            names.append(server_level)
    if obj.function:
        names.append(f"{schema_prefix}{obj.function}")
        names.append(f"{schema_prefix}{obj.function.split('(', 1)[0]}")
    if obj.query:
        names.append(" ".join(obj.query.split()))
    if obj.queryid:
        names.append(obj.queryid)
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------------------------------------------
# Finding and reading the file
# --------------------------------------------------------------------------------------------------------------


def find_config(explicit: str | None, cwd: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The config file and its dbaudit table, or None when there is none to read."""
    if explicit is not None:
        path = Path(explicit)
        data = _read_toml(path)
        table = _dbaudit_table(path, data)
        if table is None:
            raise ConfigError(f"{path}: no [tool.dbaudit] table")
        return path, table
    base = cwd or Path()  # relative, so that messages name "dbaudit.toml" rather than a long absolute path
    own = base / CONFIG_FILE
    if own.is_file():
        data = _read_toml(own)
        return own, _dbaudit_table(own, data) or {}
    pyproject = base / PYPROJECT
    if pyproject.is_file():
        table = _dbaudit_table(pyproject, _read_toml(pyproject))
        if table is not None:
            return pyproject, table
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _dbaudit_table(path: Path, data: dict[str, Any]) -> dict[str, Any] | None:
    tool = data.get("tool")
    if isinstance(tool, dict) and isinstance(tool.get("dbaudit"), dict):
        return dict(tool["dbaudit"])
    if path.name == PYPROJECT:
        return None
    # dbaudit.toml (or any other name given with --config): keys at the top level
    return dict(data)


def load_config(explicit: str | None = None, cwd: Path | None = None) -> Config:
    found = find_config(explicit, cwd)
    if found is None:
        return Config()
    path, table = found
    return parse_config(table, path)


# --------------------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------------------


def _hint(key: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(key.replace("_", "-"), valid, n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid keys: {', '.join(valid)}" if valid else ""


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def parse_config(table: Mapping[str, Any], path: Path | None = None) -> Config:
    """Validate the ``[tool.dbaudit]`` table; raise ConfigError on the first mistake."""
    where = str(path) if path else "config"
    prefix = "in [tool.dbaudit]" if path is None or path.name == PYPROJECT else "at the top level"
    for key in table:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} {prefix}{_hint(key, TOP_LEVEL_KEYS)}")
    specs = all_checks()

    select = _string_list(table, "select", where)
    ignore_checks, ignores = _ignore_entries(table.get("ignore"), where, specs)
    for token in [*(select or ()), *(ignore_checks or ())]:
        try:
            select_checks(specs, [token])
        except SelectionError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    fail_on = _choice(table, "fail-on", FAIL_ON, where)
    fmt = _choice(table, "format", FORMATS, where)

    baseline: Path | None = None
    if "baseline" in table:
        value = table["baseline"]
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: baseline must be a file name (a string), got {_type_name(value)}")
        baseline = (path.parent if path else Path.cwd()) / value

    history: str | None = None
    if "history" in table:
        value = table["history"]
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: history must be a file name or a postgresql:// URL (a string), got "
                              f"{_type_name(value)}")
        history = value if "://" in value else str((path.parent if path else Path.cwd()) / value)

    retention = _number(table, "history-retention-days", where, lambda v: 1 <= v <= 36_500,
                        "a number of days from 1 to 36500")
    factor = _number(table, "history-regression-factor", where, lambda v: 1 < v <= 1000,
                     "a number above 1 and at most 1000")
    calls = _number(table, "history-regression-min-calls", where, lambda v: 1 <= v <= 1_000_000_000,
                    "a whole number from 1 to 1000000000", whole=True)
    min_calls = None if calls is None else int(calls)

    targets = _targets(table.get("targets"), where)
    return Config(
        path=path,
        select=select,
        ignore_checks=ignore_checks,
        fail_on=fail_on,
        format=fmt,
        severities=_severities(table.get("severities"), where, specs),
        options=_mirror_targets(_check_options(table.get("checks"), where, specs), table.get("checks"),
                                targets, table.get("targets")),
        targets=targets,
        ignores=ignores,
        baseline=baseline,
        history=history,
        history_retention_days=retention,
        history_regression_factor=factor,
        history_regression_min_calls=min_calls,
    )


def _string_list(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be an array of strings (check codes, names or families)")
    return tuple(v.strip() for v in value if v.strip())


def _number(table: Mapping[str, Any], key: str, where: str, within: Callable[[float], bool], expected: str,
            whole: bool = False) -> float | None:
    """A number the table may set: None when it does not, a ConfigError naming ``expected`` when it is not one
    (a boolean is not), is fractional where ``whole``, or is out of ``within``."""
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float) or not within(value):
        raise ConfigError(f"{where}: {key} must be {expected}, got {value!r}")
    return float(value)


def _choice(table: Mapping[str, Any], key: str, choices: Sequence[str], where: str) -> str | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, str) or value not in choices:
        shown = repr(value) if isinstance(value, str) else _type_name(value)
        raise ConfigError(f"{where}: {key} must be one of {', '.join(choices)}, got {shown}")
    return value


def _spec_for(token: Any, where: str, section: str, specs: list[CheckSpec]) -> CheckSpec:
    spec = find_check(str(token))
    if spec is None:
        names = [s.name for s in specs] + [s.code for s in specs]
        raise ConfigError(f"{where}: [{section}] names no check {str(token)!r}{_hint(str(token), names)}")
    return spec


def _severities(value: Any, where: str, specs: list[CheckSpec]) -> dict[str, Severity]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: severities must be a table of check = \"error\" | \"warning\" | \"info\"")
    out: dict[str, Severity] = {}
    allowed = [s.value for s in Severity]
    for token, sev in value.items():
        spec = _spec_for(token, where, "severities", specs)
        if not isinstance(sev, str) or sev.lower() not in allowed:
            shown = repr(sev) if isinstance(sev, str) else _type_name(sev)
            raise ConfigError(
                f"{where}: severities.{token} must be one of error, warning, info, got {shown}"
            )
        out[spec.code] = Severity(sev.lower())
    return out


def _check_options(value: Any, where: str, specs: list[CheckSpec]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: checks must be a table of [checks.<name>] tables")
    out: dict[str, Any] = {}
    for token, given in value.items():
        spec = _spec_for(token, where, "checks", specs)
        section = f"checks.{token}"
        if not isinstance(given, dict):
            raise ConfigError(f"{where}: [{section}] must be a table of options, got {_type_name(given)}")
        if spec.code in out:
            raise ConfigError(f"{where}: [{section}] configures {spec.code} a second time")
        out[spec.code] = build_options(spec, given, f"{where}: [{section}]")
    return out


def _mirror_targets(options: dict[str, Any], checks: Any, targets: Targets | None,
                    given_targets: Any) -> dict[str, Any]:
    """``options`` with each target of :data:`TARGET_OPTIONS` set in the file copied into the check options
    that mirror it, where the check's own table does not set that option (the check's own value wins)."""
    if targets is None or not isinstance(given_targets, dict):
        return options
    set_by_check = {(spec.code, key) for token, given in (checks or {}).items()
                    if (spec := find_check(str(token))) is not None for key in given}
    out = dict(options)
    for target, mirrors in TARGET_OPTIONS.items():
        if target not in given_targets:
            continue
        for code, option in mirrors:
            spec = find_check(code)
            if spec is None or (code, option) in set_by_check:
                continue
            current = out.get(code) or spec.options()
            value = getattr(targets, target)
            hint = typing.get_type_hints(spec.options)[option]
            out[code] = dataclasses.replace(current, **{option: int(value) if hint is int else float(value)})
    return out


def build_options(spec: CheckSpec, given: Mapping[str, Any], where: str) -> Any:
    """An instance of the check's options dataclass from a TOML table, each value checked against its type."""
    if not dataclasses.is_dataclass(spec.options):
        raise ConfigError(f"{where}: {spec.code} {spec.name} has no options")
    fields = {f.name: f for f in dataclasses.fields(spec.options)}
    if not fields and given:
        raise ConfigError(f"{where}: {spec.code} {spec.name} has no options")
    hints = typing.get_type_hints(spec.options)
    kwargs: dict[str, Any] = {}
    for key, raw in given.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown option {key!r} of {spec.name}{_hint(key, fields)}")
        kwargs[key] = _coerce(hints[key], raw, f"{where} {key}")
    return spec.options(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {_type_name(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be an integer, got {_type_name(value)}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):  # TOML has nan and inf, which pass every range comparison
                raise ConfigError(f"{where} must be a finite number, got {value}")
            return float(value)
        raise ConfigError(f"{where} must be a number, got {_type_name(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {_type_name(value)}")
    if origin in (tuple, list, frozenset, set):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        inner = args[0] if args else Any
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be an array, got {_type_name(value)}")
        items = [v if inner is Any else _coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else origin(items)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(members[0], value, where) if len(members) == 1 else value
    return value


def _targets(value: Any, where: str) -> Targets | None:
    """Metric targets, e.g. ``p95_ms = 50``, checked against auditor.scoring.Targets."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: targets must be a table such as {{ p95_ms = 50 }}")
    valid = [f.name for f in dataclasses.fields(Targets)]
    hints = typing.get_type_hints(Targets)
    kwargs: dict[str, Any] = {}
    for key, raw in value.items():
        if key not in valid:
            raise ConfigError(f"{where}: unknown target {key!r}{_hint(key, valid)}")
        kwargs[key] = _coerce(hints[key], raw, f"{where}: targets.{key}")
    return Targets(**kwargs)


def _ignore_entries(
    value: Any, where: str, specs: list[CheckSpec]
) -> tuple[tuple[str, ...] | None, tuple[IgnoreRule, ...]]:
    if value is None:
        return None, ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{where}: ignore must be an array of check names or of {{check, object, reason}} tables")
    checks: list[str] = []
    rules: list[IgnoreRule] = []
    for i, entry in enumerate(value, start=1):
        label = f"ignore #{i}"
        if isinstance(entry, str):
            if entry.strip():
                checks.append(entry.strip())
            continue
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: {label} must be a check name or a table, got {_type_name(entry)}")
        for key in entry:
            if key not in IGNORE_KEYS:
                raise ConfigError(f"{where}: unknown key {key!r} in {label}{_hint(key, IGNORE_KEYS)}")
        for key in IGNORE_KEYS:
            if key == "object" and key not in entry:
                continue
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                why = "says why the findings are accepted" if key == "reason" else "names a check (code or name)"
                raise ConfigError(f"{where}: {label} needs {key} = \"...\", which {why}")
        rule = IgnoreRule(
            check=entry["check"].strip(),
            object=str(entry.get("object", "*")).strip() or "*",
            reason=" ".join(entry["reason"].split()),
            where=f"{where} {label}",
        )
        if not any(rule.matches_check(_probe(spec)) for spec in specs):
            names = [s.name for s in specs] + [s.code for s in specs]
            raise ConfigError(f"{where}: {label} names no check {rule.check!r}{_hint(rule.check, names)}")
        rules.append(rule)
    return (tuple(checks) if checks else None), tuple(rules)


def _probe(spec: CheckSpec) -> Finding:
    """A finding-shaped stand-in, to test whether an ignore's check pattern names this check."""
    return Finding(spec.code, spec.name, spec.severity, spec.category, ObjectRef(type="database"), "")


# --------------------------------------------------------------------------------------------------------------
# Applying it
# --------------------------------------------------------------------------------------------------------------


def apply_severities(result: RunResult, severities: Mapping[str, Severity]) -> RunResult:
    """Give every finding of a configured check the configured severity, and re-sort as the engine does."""
    if not severities:
        return result
    findings = [
        dataclasses.replace(f, severity=severities[f.code]) if f.code in severities else f for f in result.findings
    ]
    findings.sort(key=lambda f: (-f.severity.rank, f.code, f.object.label()))
    return dataclasses.replace(result, findings=tuple(findings))


@dataclass(frozen=True)
class Suppression:
    result: RunResult  # without the suppressed findings
    suppressed: tuple[SuppressedFinding, ...]
    stale: tuple[IgnoreRule, ...]  # rules whose check ran and that matched nothing


def suppress(result: RunResult, rules: Sequence[IgnoreRule]) -> Suppression:
    """Take out the findings an ignore rule matches (the first matching rule is credited)."""
    if not rules:
        return Suppression(result, (), ())
    kept: list[Finding] = []
    suppressed: list[SuppressedFinding] = []
    used: set[int] = set()
    for finding in result.findings:
        for i, rule in enumerate(rules):
            if rule.matches(finding):
                suppressed.append(SuppressedFinding(finding, rule))
                used.add(i)
                break
        else:
            kept.append(finding)
    ran = {spec.code: spec for spec in all_checks() if spec.code in result.ran}
    # a rule is only stale when its check ran: a skipped or deselected check proves nothing either way
    stale = tuple(
        rule
        for i, rule in enumerate(rules)
        if i not in used and any(rule.matches_check(_probe(spec)) for spec in ran.values())
    )
    return Suppression(dataclasses.replace(result, findings=tuple(kept)), tuple(suppressed), stale)
