"""The check catalogue, rendered from the registry: `dbaudit checks` (text, json, markdown) and `explain`.

The markdown form is docs/checks.md verbatim (`make docs` regenerates it); a test keeps the two in step. Each
check gets a ``### IX01 unused-index`` heading, whose GitHub anchor is the fragment of ``CheckSpec.doc_url``.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import MISSING, fields, is_dataclass
from typing import Any

from tabulate import tabulate

from auditor.engine import DOC_SECTIONS_OPTIONAL, DOC_SECTIONS_REQUIRED, CheckSpec, all_checks

WIDTH = 100
ENGINE_ORDER = ("postgresql", "mysql")
FAMILY_TITLES = {
    "indexes": "Indexes",
    "keys": "Keys",
    "normalization": "Normalization",
    "workload": "Workload",
    "maintenance": "Maintenance",
    "replication": "Replication",
    "capacity": "Capacity",
    "settings": "Settings",
    "security": "Security",
}


# ------------------------------------------------------------------------------------------------------------
# Shared pieces
# ------------------------------------------------------------------------------------------------------------


def engines_text(spec: CheckSpec) -> str:
    known = [e for e in ENGINE_ORDER if e in spec.engines]
    return ", ".join(known + sorted(spec.engines - set(ENGINE_ORDER)))


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp)


def options_of(spec: CheckSpec) -> list[dict[str, Any]]:
    """name, type, default and help of each option; help comes from ``field(metadata={"help": ...})``."""
    if not is_dataclass(spec.options):
        return []
    out = []
    for f in fields(spec.options):
        if f.default is not MISSING:
            default: Any = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = None
        out.append(
            {
                "name": f.name,
                "type": _type_name(f.type),
                "default": default,
                "help": str(f.metadata.get("help", "")),
            }
        )
    return out


def _default_text(value: Any) -> str:
    if isinstance(value, tuple | list | set | frozenset):
        return "[" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def ordered_sections(spec: CheckSpec) -> list[tuple[str, str]]:
    """The docstring's sections in the house order, then any others in the order written."""
    sections = spec.doc_sections()
    order = [*DOC_SECTIONS_REQUIRED, *DOC_SECTIONS_OPTIONAL]
    named = [(title, sections[title]) for title in order if title in sections]
    extra = [(t, b) for t, b in sections.items() if t != "summary" and t not in order]
    return named + extra


def _grouped(specs: Iterable[CheckSpec]) -> list[tuple[str, list[CheckSpec]]]:
    groups: dict[str, list[CheckSpec]] = {}
    for spec in sorted(specs, key=lambda s: s.code):
        groups.setdefault(spec.category, []).append(spec)
    return list(groups.items())


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading (before de-duplication)."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def heading_anchors(markdown: str) -> list[str]:
    """Every heading anchor of a page in order, de-duplicated the way GitHub does (-1, -2, ...)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    in_fence = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        match = None if in_fence else re.match(r"^#{1,6} (.+?)\s*#*\s*$", line)
        if not match:
            continue
        base = github_anchor(match.group(1))
        n = seen.get(base, 0)
        out.append(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def check_heading(spec: CheckSpec) -> str:
    return f"{spec.code} {spec.name}"


# ------------------------------------------------------------------------------------------------------------
# dbaudit checks
# ------------------------------------------------------------------------------------------------------------


def _catalogue_text(specs: list[CheckSpec]) -> str:
    rows = [[s.code, s.name, s.severity.value, engines_text(s), s.summary] for s in specs]
    headers = ["code", "name", "severity", "engines", "summary"]
    # the summary column takes whatever width the others leave in WIDTH columns
    fixed = tabulate([r[:4] for r in rows], headers=headers[:4], tablefmt="simple")
    used = max((len(line) for line in fixed.splitlines()), default=0) + 2
    summary_width = max(24, WIDTH - used)
    widths = [None, None, None, None, summary_width]
    table = tabulate(rows, headers=headers, tablefmt="simple", maxcolwidths=widths)
    noun = "check" if len(specs) == 1 else "checks"
    return f"{table}\n\n{len(specs)} {noun}. `dbaudit explain CODE` prints one in full.\n"


def _catalogue_json(specs: list[CheckSpec]) -> str:
    out = [
        {
            "code": s.code,
            "name": s.name,
            "severity": s.severity.value,
            "category": s.category,
            "engines": [e for e in ENGINE_ORDER if e in s.engines] + sorted(s.engines - set(ENGINE_ORDER)),
            "summary": s.summary,
            "doc_url": s.doc_url,
            "options": [
                {
                    **o,
                    "default": o["default"]
                    if isinstance(o["default"], str | int | float | bool | None)
                    else list(o["default"])
                    if isinstance(o["default"], tuple | list | set | frozenset)
                    else str(o["default"]),
                }
                for o in options_of(s)
            ],
            "doc": s.doc,
        }
        for s in specs
    ]
    return json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _options_table_md(spec: CheckSpec) -> list[str]:
    opts = options_of(spec)
    if not opts:
        return []
    with_help = any(o["help"] for o in opts)
    lines = [
        "| Option | Type | Default |" + (" Meaning |" if with_help else ""),
        "|---|---|---|" + ("---|" if with_help else ""),
    ]
    for o in opts:
        row = f"| `{o['name']}` | `{_md_cell(o['type'])}` | `{_md_cell(_default_text(o['default']))}` |"
        lines.append(row + (f" {_md_cell(o['help'])} |" if with_help else ""))
    return lines


def _check_markdown(spec: CheckSpec) -> list[str]:
    lines = [
        f"### {check_heading(spec)}",
        "",
        f"**{_md_cell(spec.summary)}**",
        "",
        f"Severity: `{spec.severity.value}` · Engines: {engines_text(spec)} · Family: {spec.category}",
        "",
    ]
    has_options_section = False
    for title, body in ordered_sections(spec):
        lines += [f"#### {title}", ""]
        if body:
            lines += [*body.splitlines(), ""]
        if title == "Options":
            has_options_section = True
            table = _options_table_md(spec)
            if table:
                lines += [*table, ""]
    if not has_options_section and options_of(spec):
        lines += ["#### Options", "", *_options_table_md(spec), ""]
    for engine, why in sorted(spec.not_applicable.items()):
        lines += [f"Not applicable to {engine}: {why}", ""]
    return lines


def catalogue_markdown(specs: list[CheckSpec]) -> str:
    lines = [
        "# Checks",
        "",
        "<!-- Generated from the check registry by `dbaudit checks --format markdown`; do not edit by hand.",
        "     Edit the check's docstring and run `make docs`. -->",
        "",
        "Every check has a stable code, a name, a default severity and the engines it applies to. Select or",
        "ignore checks by code (`IX01`), name (`unused-index`), family (`indexes`), prefix (`IX`) or glob",
        "(`*-index`); `dbaudit explain CODE` prints one of these pages in the terminal.",
        "",
        "| Code | Name | Severity | Engines | Summary |",
        "|---|---|---|---|---|",
    ]
    for s in specs:
        anchor = s.doc_url.rsplit("#", 1)[1]
        link = f"[{s.code}](#{anchor})"
        cells = [link, f"`{s.name}`", s.severity.value, engines_text(s), _md_cell(s.summary)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for family, group in _grouped(specs):
        lines += [f"## {FAMILY_TITLES.get(family, family.title())}", ""]
        for spec in group:
            lines += _check_markdown(spec)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def render_catalogue(fmt: str, specs: Iterable[CheckSpec] | None = None) -> str:
    chosen = sorted(specs if specs is not None else all_checks(), key=lambda s: s.code)
    if fmt == "text":
        return _catalogue_text(chosen)
    if fmt == "json":
        return _catalogue_json(chosen)
    if fmt == "markdown":
        return catalogue_markdown(chosen)
    raise ValueError(f"unknown catalogue format {fmt!r}")


# ------------------------------------------------------------------------------------------------------------
# dbaudit explain
# ------------------------------------------------------------------------------------------------------------


def _fill(text: str, indent: str, hang: str) -> list[str]:
    # URLs and SQL identifiers must stay whole to be copied
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=hang,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _terminal_body(body: str) -> list[str]:
    """A markdown section body for a terminal: fences dropped and their contents indented, prose wrapped."""
    out: list[str] = []
    in_fence = False
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            text = " ".join(paragraph)
            if text.startswith(("- ", "* ")):
                out.extend(_fill(text[2:], "  " + text[:2], "    "))
            else:
                out.extend(_fill(text, "  ", "  "))
            paragraph.clear()

    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            out.append("      " + line if line.strip() else "")
        elif not line.strip():
            flush()
            out.append("")
        elif line.lstrip().startswith(("- ", "* ", "| ")):
            flush()
            if line.lstrip().startswith("| "):
                out.append("  " + line.strip())
            else:
                paragraph.append(line.strip())
        else:
            paragraph.append(line.strip())
    flush()
    while out and out[-1] == "":
        out.pop()
    return out


def render_explain(spec: CheckSpec) -> str:
    lines = [
        f"{spec.code} {spec.name}: {spec.summary}",
        "",
        f"  severity  {spec.severity.value}",
        f"  engines   {engines_text(spec)}",
        f"  family    {spec.category}",
    ]
    for title, body in ordered_sections(spec):
        if title == "Options":
            continue  # printed below with the defaults
        lines += ["", title, *_terminal_body(body)]
    opts = options_of(spec)
    sections = spec.doc_sections()
    if opts or "Options" in sections:
        lines += ["", "Options"]
        if "Options" in sections:
            lines += _terminal_body(sections["Options"])
        if opts:
            with_help = any(o["help"] for o in opts)
            rows = [
                [o["name"], o["type"], _default_text(o["default"]), *([o["help"]] if with_help else [])]
                for o in opts
            ]
            headers = ["option", "type", "default", *(["meaning"] if with_help else [])]
            table = tabulate(
                rows,
                headers=headers,
                tablefmt="simple",
                disable_numparse=True,
                maxcolwidths=[None, None, None, 50] if with_help else None,
            )
            lines += [""] + ["  " + line for line in table.splitlines()]
    for engine, why in sorted(spec.not_applicable.items()):
        lines += ["", f"Not applicable to {engine}: {why}"]
    lines += ["", f"Documentation: {spec.doc_url}"]
    return "\n".join(line.rstrip() for line in lines) + "\n"
