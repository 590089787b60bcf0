"""The check registry: identity rules, documentation rules, selection, and docs/checks.md kept in step."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

import checks
from auditor.engine import (
    CODE_RE,
    DOC_SECTIONS_REQUIRED,
    NAME_RE,
    CheckSpec,
    NoOptions,
    SelectionError,
    all_checks,
    select_checks,
)
from auditor.model import Hit, Severity, Snapshot
from reports.catalogue import catalogue_markdown, heading_anchors, render_catalogue, render_explain

DOCS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "checks.md"

# Family -> code prefix. A new family picks a new two-letter prefix and adds it here.
FAMILY_PREFIX = {
    "indexes": "IX",
    "keys": "KY",
    "normalization": "NF",
    "workload": "WL",
    "maintenance": "MT",
    "capacity": "CP",
    "replication": "RP",
    "settings": "ST",
    "security": "SC",
}

SPECS = all_checks()


def _ids(spec: CheckSpec) -> str:
    return spec.code


# ---- identity ----------------------------------------------------------------------------------------------


def test_registry_is_not_empty() -> None:
    assert SPECS, "no check is registered: is checks/__init__.py importing the families?"


def test_codes_and_names_are_unique_and_well_formed() -> None:
    codes = [s.code for s in SPECS]
    names = [s.name for s in SPECS]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names), sorted(n for n in names if names.count(n) > 1)
    for spec in SPECS:
        assert CODE_RE.match(spec.code) and NAME_RE.match(spec.name), spec
        # a name that looks like a code or a family would make selection ambiguous
        assert not CODE_RE.match(spec.name.upper()) and spec.name not in FAMILY_PREFIX


def test_codes_follow_the_family_prefix() -> None:
    prefixes: dict[str, set[str]] = defaultdict(set)
    for spec in SPECS:
        assert spec.category in FAMILY_PREFIX, (
            f"{spec.code}: family {spec.category!r} has no prefix in this test"
        )
        assert spec.code.startswith(FAMILY_PREFIX[spec.category]), (
            f"{spec.code} {spec.name} is in family {spec.category}; its code should start with "
            f"{FAMILY_PREFIX[spec.category]}"
        )
        prefixes[spec.code[:2]].add(spec.category)
    assert all(len(families) == 1 for families in prefixes.values()), prefixes


def test_every_module_of_the_battery_is_imported_and_registers_checks() -> None:
    modules = {m.name for m in pkgutil.iter_modules(checks.__path__) if not m.name.startswith("_")}
    imported = {m.__name__.rsplit(".", 1)[-1] for m in checks.FAMILIES}
    assert modules <= imported, f"checks/__init__.py does not import {sorted(modules - imported)}"
    registering = {s.func.__module__ for s in SPECS}
    for name in sorted(modules):
        module = importlib.import_module(f"checks.{name}")
        assert module.__name__ in registering, f"checks/{name}.py registers no check"


# ---- documentation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_docstring_has_summary_and_required_sections(spec: CheckSpec) -> None:
    doc = spec.doc
    assert doc, f"{spec.code} has no docstring"
    lines = doc.splitlines()
    assert lines[0].strip() and not lines[0].startswith("#"), f"{spec.code}: the first line must be a summary"
    assert len(lines) == 1 or not lines[1].strip(), (
        f"{spec.code}: the summary must be one line, then a blank line"
    )
    sections = spec.doc_sections()
    missing = [s for s in DOC_SECTIONS_REQUIRED if not sections.get(s)]
    assert not missing, f"{spec.code} {spec.name}: docstring lacks (or has empty) sections {missing}"


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_options_are_typed_dataclasses_with_defaults(spec: CheckSpec) -> None:
    assert dataclasses.is_dataclass(spec.options), f"{spec.code}: options must be a dataclass"
    for f in dataclasses.fields(spec.options):
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        assert has_default, f"{spec.code}: option {f.name} has no default"
    spec.options()  # constructible with no arguments
    if dataclasses.fields(spec.options):
        assert "Options" in spec.doc_sections(), f"{spec.code} has options but no '## Options' section"


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_explain_renders_every_check(spec: CheckSpec) -> None:
    text = render_explain(spec)
    assert text.startswith(f"{spec.code} {spec.name}: ")
    assert spec.doc_url in text
    for section in DOC_SECTIONS_REQUIRED:
        assert f"\n{section}\n" in text


def test_doc_urls_point_at_headings_of_the_generated_page() -> None:
    anchors = heading_anchors(catalogue_markdown(SPECS))
    for spec in SPECS:
        base, fragment = spec.doc_url.split("#", 1)
        assert base.endswith("docs/checks.md")
        assert fragment in anchors, f"{spec.doc_url}: no heading with that anchor in docs/checks.md"


def test_github_anchor_rules() -> None:
    page = "# Checks\n## IX01 unused-index\n#### Why is this bad?\n```\n# no\n```\n#### Why is this bad?\n"
    assert heading_anchors(page) == ["checks", "ix01-unused-index", "why-is-this-bad", "why-is-this-bad-1"]


def test_docs_page_is_up_to_date() -> None:
    expected = render_catalogue("markdown")
    actual = DOCS_PAGE.read_text(encoding="utf-8") if DOCS_PAGE.exists() else ""
    assert actual == expected, "docs/checks.md is out of date with the check registry: run `make docs`"


# ---- selection ---------------------------------------------------------------------------------------------


def _noop(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """Test check."""
    yield from ()


def _spec(code: str, name: str, category: str) -> CheckSpec:
    return CheckSpec(
        code=code,
        name=name,
        severity=Severity.WARNING,
        category=category,
        engines=frozenset({"postgresql"}),
        func=_noop,
    )


FAKE = [
    _spec("IX01", "unused-index", "indexes"),
    _spec("IX02", "duplicate-index", "indexes"),
    _spec("IX10", "bloated-index", "indexes"),
    _spec("KY01", "no-primary-key", "keys"),
    _spec("KY02", "fk-type-mismatch", "keys"),
    _spec("WL01", "slow-query", "workload"),
]


def _codes(select: tuple[str, ...] = (), ignore: tuple[str, ...] = ()) -> list[str]:
    return [s.code for s in select_checks(FAKE, select, ignore)]


@pytest.mark.parametrize(
    ("select", "ignore", "expected"),
    [
        ((), (), ["IX01", "IX02", "IX10", "KY01", "KY02", "WL01"]),
        (("IX01",), (), ["IX01"]),
        (("ix01",), (), ["IX01"]),  # codes are case-insensitive
        (("unused-index",), (), ["IX01"]),
        (("keys",), (), ["KY01", "KY02"]),  # family
        (("IX",), (), ["IX01", "IX02", "IX10"]),  # prefix
        (("IX0",), (), ["IX01", "IX02"]),  # longer prefix
        (("IX0*",), (), ["IX01", "IX02"]),  # glob on codes
        (("*-index",), (), ["IX01", "IX02", "IX10"]),  # glob on names
        (("all",), (), ["IX01", "IX02", "IX10", "KY01", "KY02", "WL01"]),
        (("IX01", "slow-query"), (), ["IX01", "WL01"]),
        (("indexes",), ("IX02",), ["IX01", "IX10"]),  # ignore wins over select
        ((), ("keys", "slow-query"), ["IX01", "IX02", "IX10"]),
        (("KY01",), ("KY01",), []),
        ((" ",), (), ["IX01", "IX02", "IX10", "KY01", "KY02", "WL01"]),  # blank tokens are dropped
    ],
)
def test_selection(select: tuple[str, ...], ignore: tuple[str, ...], expected: list[str]) -> None:
    assert _codes(select, ignore) == expected


@pytest.mark.parametrize(
    ("token", "hint"),
    [("unused-indx", "unused-index"), ("key", "keys"), ("slow-queries", "slow-query")],
)
def test_unknown_token_names_the_nearest(token: str, hint: str) -> None:
    with pytest.raises(SelectionError) as err:
        select_checks(FAKE, (token,), ())
    message = str(err.value)
    assert repr(token) in message and hint in message and "\n" not in message


def test_unknown_ignore_token_is_an_error_too() -> None:
    # an ignore that matches nothing is most likely a typo that would silently keep the check on
    with pytest.raises(SelectionError, match="did you mean KY01"):
        select_checks(FAKE, (), ("KY1",))


def test_unknown_token_without_a_near_name_points_to_the_list() -> None:
    with pytest.raises(SelectionError, match=re.escape("dbaudit checks")):
        select_checks(FAKE, ("zzzzzz",), ())
