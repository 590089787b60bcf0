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

from reports.htmlfmt import render_html
from tests.report_samples import ODD_TABLE, design_report
from tests.test_reports_markdown import golden

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
    for anchor in ("summary", "er", "tables", "normalization", "indexing", "queries", "scaling", "metrics", "next"):
        assert f'id="{anchor}"' in page
    assert page.count("<svg") == 3  # index usage, time by statement, table sizes
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
  var table = document.querySelector("#tables ~ table.sortable");
  var th = table.tHead.rows[0].cells[1];   // Rows (est.)
  th.click(); th.click();                  // descending
  document.body.setAttribute("data-first-row", table.tBodies[0].rows[0].cells[0].textContent);
  document.body.setAttribute("data-sorted", th.getAttribute("aria-sort"));
});
</script></body>"""


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
