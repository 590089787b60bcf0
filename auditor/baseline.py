"""Baselines: record today's findings so that CI fails only on new ones.

``dbaudit scan ... --baseline FILE --update-baseline`` writes FILE; ``dbaudit scan ... --baseline FILE`` then
reports the findings that are not in it as new (they alone decide the exit code), counts the ones that are, and
lists the baseline entries no finding matches any more (fixed, or the object is gone).

A finding is identified by its check and its object (:func:`fingerprint`), never by its message, whose figures
(row counts, sizes, percentages) change from one run to the next. Entries are matched as a multiset: two
findings with the same identity need two entries.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.errors import AuditError
from auditor.model import Finding, ObjectRef

BASELINE_FORMAT_VERSION = 1


class BaselineError(AuditError):
    """The baseline file is unreadable or not a dbaudit baseline."""


def object_identity(obj: ObjectRef) -> dict[str, Any]:
    """The object's identifying fields. A statement is identified by its normalized text, not by its queryid,
    which pg_stat_statements derives from table OIDs and so differs between servers and after a restore."""
    ident = obj.as_dict()
    if obj.query is not None:
        ident.pop("queryid", None)
        ident["query"] = " ".join(obj.query.split())
    return ident


def fingerprint(finding: Finding) -> str:
    """A stable identity of a finding: its check code and its object, hashed (sha256, 32 hex digits)."""
    key = json.dumps({"code": finding.code, "object": object_identity(finding.object)}, sort_keys=True)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class BaselineEntry:
    fingerprint: str
    code: str
    check: str
    object: str  # the object's label, for people reading the file and the "fixed" list
    message: str = ""  # as it was when recorded; informative only, never compared

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "code": self.code,
            "check": self.check,
            "object": self.object,
            "message": self.message,
        }


@dataclass(frozen=True)
class Baseline:
    path: str
    entries: tuple[BaselineEntry, ...]
    created_at: str | None = None
    database: str | None = None


@dataclass(frozen=True)
class BaselineComparison:
    """What a scan with ``--baseline`` found: the report keeps the new findings, this keeps the rest."""

    path: str
    entries: int  # entries in the baseline file
    unchanged: tuple[Finding, ...]  # findings already in the baseline (do not fail the run)
    fixed: tuple[BaselineEntry, ...]  # entries that no finding of this run matches
    updated: bool = False  # the file was (re)written by this run with --update-baseline


def entry_for(finding: Finding) -> BaselineEntry:
    return BaselineEntry(
        fingerprint=fingerprint(finding),
        code=finding.code,
        check=finding.check,
        object=finding.object.label(),
        message=finding.message,
    )


def baseline_text(findings: Iterable[Finding], database: str, created_at: datetime) -> str:
    entries = sorted((entry_for(f) for f in findings), key=lambda e: (e.code, e.object, e.fingerprint))
    moment = created_at.astimezone(UTC) if created_at.tzinfo else created_at
    doc = {
        "format_version": BASELINE_FORMAT_VERSION,
        "tool": "dbaudit",
        "created_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": database,
        "findings": [e.as_dict() for e in entries],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_baseline(path: str | Path, findings: Iterable[Finding], database: str, created_at: datetime) -> int:
    findings = list(findings)
    try:
        Path(path).write_text(baseline_text(findings, database, created_at), encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc.strerror}") from None
    return len(findings)


def read_baseline(path: str | Path) -> Baseline:
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(
            f"baseline {where} does not exist (write it first with --baseline {where} --update-baseline)"
        ) from None
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BaselineError(f"{where} is not a dbaudit baseline: it is not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BaselineError(f"{where} is not a dbaudit baseline: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise BaselineError(f"{where} is not a dbaudit baseline: no \"findings\" array")
    version = doc.get("format_version", BASELINE_FORMAT_VERSION)
    if not isinstance(version, int) or version > BASELINE_FORMAT_VERSION:
        raise BaselineError(f"baseline {where} has format_version {version!r}, newer than this dbaudit reads")
    entries: list[BaselineEntry] = []
    for i, item in enumerate(doc["findings"], start=1):
        if not isinstance(item, dict) or not isinstance(item.get("fingerprint"), str):
            raise BaselineError(f"{where} is not a dbaudit baseline: entry {i} has no fingerprint")
        entries.append(
            BaselineEntry(
                fingerprint=item["fingerprint"],
                code=str(item.get("code", "")),
                check=str(item.get("check", "")),
                object=str(item.get("object", "")),
                message=str(item.get("message", "")),
            )
        )
    return Baseline(where, tuple(entries), doc.get("created_at"), doc.get("database"))


def compare(
    findings: Iterable[Finding], baseline: Baseline, ran: Collection[str] | None = None
) -> tuple[tuple[Finding, ...], BaselineComparison]:
    """Split findings into new ones and ones the baseline already holds; list the entries nothing matched.

    ``ran`` holds the codes of the checks that ran: an entry of a check that was deselected or skipped is not
    "fixed", it was simply not looked at.
    """
    remaining = Counter(e.fingerprint for e in baseline.entries)
    new: list[Finding] = []
    unchanged: list[Finding] = []
    for finding in findings:
        fp = fingerprint(finding)
        if remaining[fp] > 0:
            remaining[fp] -= 1
            unchanged.append(finding)
        else:
            new.append(finding)
    fixed: list[BaselineEntry] = []
    for entry in baseline.entries:
        if remaining[entry.fingerprint] > 0:
            remaining[entry.fingerprint] -= 1
            if ran is None or entry.code in ran:
                fixed.append(entry)
    return tuple(new), BaselineComparison(
        path=baseline.path, entries=len(baseline.entries), unchanged=tuple(unchanged), fixed=tuple(fixed)
    )
