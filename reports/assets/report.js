// dbaudit HTML report: sortable tables, the findings filter and copy buttons, the ER diagram's zoom and
// highlighting. Inlined at render time; no network, no library.
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

  function initFilters() {
    var selects = document.querySelectorAll(".filters select[data-filter]");
    var items = document.querySelectorAll("ol.findings > li.finding");
    var count = document.querySelector(".filters .f-count");
    function apply() {
      var wanted = {};
      Array.prototype.forEach.call(selects, function (s) { wanted[s.getAttribute("data-filter")] = s.value; });
      var shown = 0;
      Array.prototype.forEach.call(items, function (li) {
        var ok = Object.keys(wanted).every(function (k) {
          return wanted[k] === "" || li.getAttribute("data-" + k) === wanted[k];
        });
        li.hidden = !ok;
        if (ok) { shown += 1; }
      });
      if (count) { count.textContent = shown + " of " + items.length + " shown"; }
    }
    Array.prototype.forEach.call(selects, function (s) { s.addEventListener("change", apply); });
    var reset = document.querySelector(".filters .f-reset");
    if (reset) {
      reset.addEventListener("click", function () {
        Array.prototype.forEach.call(selects, function (s) { s.value = ""; });
        apply();
      });
    }
    apply();
  }

  function copyText(text, done) {
    // the Clipboard API where the page may use it, else the older selection-based copy
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(legacyCopy(text)); });
    } else {
      done(legacyCopy(text));
    }
  }

  function legacyCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function initCopy() {
    Array.prototype.forEach.call(document.querySelectorAll(".fix button.copy"), function (button) {
      button.addEventListener("click", function () {
        var code = button.parentNode.querySelector("code");
        copyText(code ? code.textContent : "", function (ok) {
          if (!ok && code) {  // no clipboard for this page: select the SQL, so that Ctrl+C copies it
            window.getSelection().selectAllChildren(code);
          }
          button.textContent = ok ? "Copied" : "Selected: press Ctrl+C";
          window.setTimeout(function () { button.textContent = "Copy SQL"; }, 1500);
        });
      });
    });
  }

  function initDiagram() {
    var zoom = document.querySelector("button.er-zoom");
    if (zoom) {
      zoom.addEventListener("click", function () {
        var figure = zoom.closest("figure");
        var actual = figure.classList.toggle("actual");
        zoom.setAttribute("aria-pressed", String(actual));
        zoom.textContent = actual ? "Fit to width" : "Actual size";
      });
    }
    var edges = document.querySelectorAll("svg.er .er-edge");
    Array.prototype.forEach.call(document.querySelectorAll("svg.er a.er-entity"), function (entity) {
      var name = entity.getAttribute("data-table");
      function mark(on) {
        Array.prototype.forEach.call(edges, function (edge) {
          if (edge.getAttribute("data-from") === name || edge.getAttribute("data-to") === name) {
            edge.classList.toggle("hl", on);
          }
        });
      }
      entity.addEventListener("mouseenter", function () { mark(true); });
      entity.addEventListener("mouseleave", function () { mark(false); });
      entity.addEventListener("focus", function () { mark(true); });
      entity.addEventListener("blur", function () { mark(false); });
    });
    document.body.setAttribute("data-er-entities", String(document.querySelectorAll("svg.er a.er-entity").length));
  }

  function init() {
    initFilters();
    initCopy();
    initDiagram();
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
