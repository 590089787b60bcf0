"""Same output before and after a change: a scan's catalog snapshot and findings, saved and compared.

    python bench/compare_scans.py save DSN OUT.json    # collect (no sampling), run every check, save both
    python bench/compare_scans.py diff A.json B.json   # exit 1 and the first differences when they differ

``save`` runs the code it is imported from: set ``DBAUDIT_SRC`` to another checkout (``git archive main | tar
-x -C /tmp/base``) to save the findings of that code with the same script. What changes from one run to the
next by itself (times, the session's own activity, the collection's duration) is left out; the catalog areas
(tables, columns, indexes, constraints, sequences, notes) and every finding (code, object, message, details)
are compared as they are.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("DBAUDIT_SRC", str(ROOT)))

SNAPSHOT_AREAS = ("schemas", "tables", "indexes", "constraints", "sequences", "notes", "unread_areas")


def save(dsn: str, out: str) -> None:
    from auditor.connectors import CollectOptions, collect
    from auditor.dsn import parse_dsn
    from auditor.engine import all_checks, run_checks
    from auditor.model import snapshot_to_dict
    from auditor.report import build_report
    from reports import render

    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    result = run_checks(snap, all_checks())
    report = json.loads(render(build_report(snap, result, datetime.now(UTC), 0.0), "json"))
    whole = snapshot_to_dict(snap)
    # the bloat estimates; not the freeze ages, which grow with every transaction the server runs meanwhile
    maintenance = {k: v for k, v in (whole.get("maintenance") or {}).items() if k not in ("freeze", "databases")}
    Path(out).write_text(json.dumps({
        "snapshot": {**{area: whole.get(area) for area in SNAPSHOT_AREAS}, "maintenance": maintenance},
        "findings": report.get("findings"),
        "score": report.get("score"),
    }, sort_keys=True, default=str))


def _first_differences(a: Any, b: Any, path: str, out: list[str], limit: int = 10) -> None:
    if len(out) >= limit or a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            _first_differences(a.get(key), b.get(key), f"{path}.{key}", out, limit)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _first_differences(x, y, f"{path}[{i}]", out, limit)
    else:
        out.append(f"{path}: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}")


def diff(a_path: str, b_path: str) -> int:
    a, b = (json.loads(Path(p).read_text()) for p in (a_path, b_path))
    differences: list[str] = []
    _first_differences(a, b, "", differences)
    counts = {k: len(a["snapshot"].get(k) or ()) for k in ("tables", "indexes", "constraints")}
    if differences:
        print(f"DIFFERENT ({len(a['findings'] or ())} vs {len(b['findings'] or ())} findings):")
        print("\n".join(differences))
        return 1
    print(f"identical: {len(a['findings'] or ())} findings, score {a['score']}, {counts}")
    return 0


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in ("save", "diff"):
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "save":
        save(sys.argv[2], sys.argv[3])
        return 0
    return diff(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    sys.exit(main())
