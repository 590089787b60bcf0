// dbaudit HTML report: sortable tables. Inlined at render time; no network, no library.
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (e) {
    errors.push(String(e.message));
    document.body.setAttribute("data-js-errors", errors.join(" | "));
  });

  function cellValue(cell) {
    var raw = cell.getAttribute("data-v");
    if (raw !== null) {
      return raw === "" ? null : parseFloat(raw);
    }
    return cell.textContent.trim().toLowerCase();
  }

  function compare(a, b) {
    // missing numbers sort last whatever the direction
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    return String(a).localeCompare(String(b), undefined, {numeric: true});
  }

  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var ths = table.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; i++) { ths[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
    var sign = dir === "ascending" ? 1 : -1;
    rows = rows.map(function (row, n) { return {row: row, n: n, v: cellValue(row.cells[index])}; });
    rows.sort(function (x, y) {
      if (x.v === null || y.v === null) { return compare(x.v, y.v) || x.n - y.n; }
      return sign * compare(x.v, y.v) || x.n - y.n;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }

  function init() {
    var tables = document.querySelectorAll("table.sortable");
    Array.prototype.forEach.call(tables, function (table) {
      var ths = table.tHead ? table.tHead.rows[0].cells : [];
      Array.prototype.forEach.call(ths, function (th, index) {
        th.setAttribute("tabindex", "0");
        th.addEventListener("click", function () { sortBy(table, index, th); });
        th.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, index, th); }
        });
      });
    });
    document.body.setAttribute("data-sortable-ready", String(tables.length));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
