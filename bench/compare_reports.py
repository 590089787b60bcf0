"""The reports of two code trees on the same snapshot file, compared format by format (issue 15's "same output").

    git archive main | tar -x -C /tmp/base
    python bench/compare_reports.py /tmp/base SNAPSHOT.json [--config FILE]

Runs ``dbaudit scan --from SNAPSHOT`` with the code of ``/tmp/base`` and with this tree's, in JSON, text, SARIF,
markdown, HTML and JUnit XML, and prints IDENTICAL or the first differences for each. What changes from one run
to the next by itself is left out: the run's start time and duration, the tool's version, and durations and dates
in the text formats. Exit status 1 when a format differs.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("json", "text", "sarif", "markdown", "html", "junit")
# durations and dates; JUnit's time="..." attributes (its timestamp is a date)
_VOLATILE_TEXT = re.compile(r"\d+(\.\d+)? s\b|\d{4}-\d\d-\d\dT[\d:.+Z-]+|\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?( UTC)?"
                            r'|\btime="[\d.]+"')


def report(tree: str, snapshot: str, fmt: str, extra: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": tree, "COLUMNS": "140", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", "--from", snapshot, "--format", fmt, *extra],
                          cwd="/", env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{tree}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def _steady(fmt: str, text: str) -> Any:
    """The report without what differs from run to run by itself."""
    if fmt == "json":
        data = json.loads(text)
        for key in ("started_at", "duration_s", "tool"):
            data.pop(key, None)
        return data
    if fmt == "sarif":
        data = json.loads(text)
        for run in data.get("runs", []):
            run.get("tool", {}).get("driver", {}).pop("version", None)
            for invocation in run.get("invocations", []):
                invocation.pop("startTimeUtc", None)
                invocation.pop("endTimeUtc", None)
        return data
    return _VOLATILE_TEXT.sub("<t>", text)


def differences(a: Any, b: Any, path: str = "", out: list[str] | None = None, limit: int = 20) -> list[str]:
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if type(a) is not type(b):
        out.append(f"{path}: {str(a)[:120]!r} != {str(b)[:120]!r}")
    elif isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{path}.{key}: only in {'the second' if key in b else 'the first'}")
            else:
                differences(a[key], b[key], f"{path}.{key}", out, limit)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items != {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            differences(x, y, f"{path}[{i}]", out, limit)
    elif isinstance(a, str) and "\n" in a and a != b:
        out.extend(list(difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0))[:limit])
    elif a != b:
        out.append(f"{path}: {str(a)[:120]!r} != {str(b)[:120]!r}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("base", help="the other code tree (a checkout or `git archive` of it)")
    parser.add_argument("snapshot", help="a snapshot file (dbaudit snapshot -o FILE)")
    parser.add_argument("--config", help="the dbaudit.toml both scans read")
    args = parser.parse_args()
    # the scans run from / (from here, `python -m` would import this tree first): absolute paths
    snapshot = str(Path(args.snapshot).resolve())
    extra = ["--config", str(Path(args.config).resolve())] if args.config else []
    status = 0
    for fmt in FORMATS:
        before = _steady(fmt, report(args.base, snapshot, fmt, extra))
        after = _steady(fmt, report(str(ROOT), snapshot, fmt, extra))
        found = differences(before, after)
        count = f" ({len(after['findings'])} findings)" if fmt == "json" else ""
        print(f"{args.snapshot} {fmt}: {'IDENTICAL' if not found else 'DIFFERENT'}{count}")
        for line in found:
            print(f"    {line}")
        status = status or (1 if found else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
