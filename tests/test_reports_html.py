"""The HTML report: golden file, self-containment, escaping, and a real render in headless Chromium.

Regenerate the golden file after an intended change with ``UPDATE_GOLDEN=1 pytest tests/test_reports_html.py``.
Chromium comes from Debian's ``chromium`` package (scripts/system-deps installs it for `make test`).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.model import Severity
from reports.htmlfmt import render_html
from tests.conftest import NewDb, PgServer
from tests.report_samples import ODD_TABLE, design_report
from tests.test_reports_markdown import golden
from tests.test_sample_schemas import _load as load_sample

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000",
)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Collect:
    parser = _Collect()
    parser.feed(page)
    parser.close()
    return parser


def test_html_matches_golden() -> None:
    golden("design.html", render_html(design_report()))


def test_html_is_self_contained() -> None:
    page = render_html(design_report())
    parsed = _parse(page)
    assert "link" not in parsed.tags and "img" not in parsed.tags and "iframe" not in parsed.tags
    for name, value in parsed.attrs:
        if name in ("src", "href"):
            assert value is not None and value.startswith("#"), (name, value)
    # the only URL is the SVG namespace, which is never fetched
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in page


def test_odd_names_are_escaped() -> None:
    page = render_html(design_report())
    parsed = _parse(page)
    assert "b" not in parsed.tags  # the table name's "<b>" is text, not a tag
    assert any(ODD_TABLE in chunk for chunk in parsed.text)
    assert "&amp;amp;" in page  # "&amp;" in a name shows as such


def test_sections_charts_and_sortable_tables() -> None:
    page = render_html(design_report())
    for anchor in ("summary", "er", "tables", "normalization", "indexing", "queries", "scaling", "metrics", "next",
                   "findings"):
        assert f'id="{anchor}"' in page
    assert page.count("<svg") == 4  # the ER diagram; index usage, time by statement, table sizes
    assert page.count('<table class="sortable">') >= 3


# ---- headless Chromium -------------------------------------------------------------------------------------


def _chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: run scripts/system-deps as root (make test does)")
    return binary


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def _png_is_not_blank(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decompressed image data)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


SORT_PROBE = """<script>
window.addEventListener("load", function () {
  var table = document.querySelector("#tables ~ .tw table.sortable");
  var th = table.tHead.rows[0].cells[1];   // Rows (est.)
  th.click(); th.click();                  // descending
  document.body.setAttribute("data-first-row", table.tBodies[0].rows[0].cells[0].textContent);
  document.body.setAttribute("data-sorted", th.getAttribute("aria-sort"));
});
</script></body>"""


def test_findings_list_has_filters_and_fix_sql() -> None:
    report = design_report()
    page = render_html(report)
    assert page.count('<li class="finding"') == len(report.findings)
    listed = page[page.index('id="findings"'):]
    assert listed.count('class="copy"') == sum(1 for f in report.findings if f.remediation)
    assert '<option value="error">error (1)</option>' in page
    assert '<option value="IX05">IX05 missing-fk-index (1)</option>' in page
    assert '<option value="public.orders">public.orders (2)</option>' in page
    # the most severe first
    assert page.index('data-severity="error"') < page.index('data-severity="warning"')


def test_renders_in_headless_chromium_without_errors() -> None:
    page = render_html(design_report())
    with tempfile.TemporaryDirectory(prefix="dbaudit-html-") as tmp_name:
        tmp = Path(tmp_name)
        html_file = tmp / "report.html"
        html_file.write_text(page.replace("</body>", SORT_PROBE), encoding="utf-8")
        dom = _run(["--dump-dom", html_file.as_uri()], tmp)
        assert dom.returncode == 0, dom.stderr[-2000:]
        console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
                   or "Refused" in line]
        assert console == [], console
        body = re.search(r"<body([^>]*)>", dom.stdout)
        assert body is not None
        attrs = body.group(1)
        assert "data-js-errors" not in attrs
        ready = re.search(r'data-sortable-ready="(\d+)"', attrs)
        assert ready is not None and int(ready.group(1)) >= 3
        # clicking "Rows (est.)" twice sorts the tables overview descending: orders has the most rows
        assert 'data-sorted="descending"' in attrs and 'data-first-row="public.orders"' in attrs

        shot = tmp / "shot.png"
        run = _run(["--window-size=1280,1600", f"--screenshot={shot}", html_file.as_uri()], tmp)
        assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
        width, height, distinct = _png_is_not_blank(shot.read_bytes())
        assert (width, height) == (1280, 1600) and distinct > 16


# Runs after report.js: draws nothing itself, only measures and clicks, then writes the results on <body>.
PROBE = """<script>
window.addEventListener("load", function () {
  var b = document.body;
  function set(k, v) { b.setAttribute("data-probe-" + k, String(v)); }
  var entities = document.querySelectorAll("svg.er a.er-entity");
  var drawn = Array.prototype.filter.call(entities, function (e) {
    var r = e.getBoundingClientRect(); return r.width > 40 && r.height > 20;
  });
  set("entities", entities.length);
  set("drawn", drawn.length);
  set("edges", Array.prototype.filter.call(document.querySelectorAll("svg.er path.er-edge"), function (e) {
    return e.getTotalLength() > 10;
  }).length);
  set("page-width", document.documentElement.scrollWidth);
  set("window-width", window.innerWidth);
  set("scrolling-tables", Array.prototype.filter.call(document.querySelectorAll(".tw"), function (w) {
    return w.scrollWidth > w.clientWidth + 1;
  }).length);
  function shown() {
    return Array.prototype.filter.call(document.querySelectorAll("li.finding"), function (li) {
      return li.offsetParent !== null;
    }).length;
  }
  function choose(name, value) {
    var s = document.querySelector('select[data-filter="' + name + '"]');
    s.value = value; s.dispatchEvent(new Event("change"));
  }
  set("all", shown());
  choose("severity", "error"); set("errors", shown());
  choose("severity", ""); choose("check", "IX05"); set("ix05", shown());
  choose("check", ""); choose("table", "public.orders"); set("orders", shown());
  set("count-text", document.querySelector(".f-count").textContent);
  document.querySelector(".f-reset").click(); set("reset", shown());
  var copy = document.querySelector("li.finding .fix button.copy");
  copy.click();
  window.setTimeout(function () {
    set("copy", copy.textContent);
    set("selected", String(window.getSelection()) === copy.parentNode.querySelector("code").textContent);
  }, 50);
});
</script></body>"""


def _probe(page: str, width: int, tmp: Path) -> dict[str, str]:
    html_file = tmp / f"probe-{width}.html"
    html_file.write_text(page.replace("</body>", PROBE), encoding="utf-8")
    dom = _run([f"--window-size={width},900", "--dump-dom", html_file.as_uri()], tmp)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body is not None
    assert "data-js-errors" not in body.group(1), body.group(1)
    return dict(re.findall(r'data-probe-([a-z0-9-]+)="([^"]*)"', body.group(1)))


@pytest.mark.parametrize("width", [1000, 1400])
def test_diagram_drawn_filters_work_and_nothing_overflows(width: int) -> None:
    report = design_report()
    page = render_html(report)
    with tempfile.TemporaryDirectory(prefix="dbaudit-html-") as tmp_name:
        tmp = Path(tmp_name)
        got = _probe(page, width, tmp)
        # every table of the model is a drawn box, every relationship a drawn line
        assert got["entities"] == got["drawn"] == "5"
        assert got["edges"] == "2"
        # the page never scrolls sideways, and no table needs its own scroll bar at this width
        assert int(got["page-width"]) <= int(got["window-width"]) == width
        assert got["scrolling-tables"] == "0"
        # the filters: 6 findings, 1 error, 1 IX05, 2 on public.orders (IX01 and WL02), then all again
        assert (got["all"], got["errors"], got["ix05"], got["orders"], got["reset"]) == ("6", "1", "1", "2", "6")
        assert got["count-text"] == "2 of 6 shown"
        # the copy button: on the clipboard where the browser allows the page to write it, else the SQL selected
        # for Ctrl+C (headless Chromium gives a script's click no clipboard)
        assert (got["copy"], got["selected"]) in {("Copied", "false"), ("Selected: press Ctrl+C", "true")}, got

        shot = tmp / "shot.png"
        run = _run([f"--window-size={width},2000", f"--screenshot={shot}", html_file_of(tmp, width).as_uri()], tmp)
        assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
        w, h, distinct = _png_is_not_blank(shot.read_bytes())
        assert (w, h) == (width, 2000) and distinct > 16


def html_file_of(tmp: Path, width: int) -> Path:
    return tmp / f"probe-{width}.html"


def test_pagila_report_draws_its_diagram_in_chromium(pg_server: PgServer, pg_new_db: NewDb) -> None:
    """A schema written by others, on a real server: 15 tables (payment's partitions drawn through it)."""
    dsn = load_sample("pagila", pg_server, pg_new_db)
    report = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False, workload=False)))
    page = render_html(report)
    errors = sum(1 for f in report.findings if f.severity is Severity.ERROR)
    for width in (1000, 1400):
        with tempfile.TemporaryDirectory(prefix="dbaudit-html-") as tmp_name:
            got = _probe(page, width, Path(tmp_name))
        assert got["entities"] == got["drawn"] == "15"
        assert got["edges"] == "21"
        assert int(got["page-width"]) <= width
        assert got["scrolling-tables"] == "0", width  # every table fits, statements included
        assert int(got["all"]) == len(report.findings) == int(got["reset"])
        assert int(got["errors"]) == errors
