// Every table of a page, on phones: each cell labelled with its column's header (data-label, shown by style.css
// when the rows stack); on any screen: a table wider than its card scrolls inside it instead of overflowing.
// Templates may set data-label themselves (server-side); this fills only the cells that lack one.
(function () {
  "use strict";
  function headers(table) {
    var row = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    var out = [];
    if (!row) return out;
    for (var i = 0; i < row.cells.length; i++) {
      var text = row.cells[i].textContent.replace(/\s+/g, " ").trim();
      for (var span = row.cells[i].colSpan || 1; span > 0; span--) out.push(text);
    }
    return out;
  }
  function label(table) {
    var names = headers(table);
    if (!names.length) return;
    for (var b = 0; b < table.tBodies.length; b++) {
      var rows = table.tBodies[b].rows;
      for (var r = 0; r < rows.length; r++) {
        var col = 0;
        for (var c = 0; c < rows[r].cells.length; c++) {
          var cell = rows[r].cells[c];
          if (!cell.hasAttribute("data-label") && names[col]) cell.setAttribute("data-label", names[col]);
          col += cell.colSpan || 1;
        }
      }
    }
  }
  function contain(table) {
    var parent = table.parentElement;
    if (!parent || parent.classList.contains("scroll-x")) return;
    var box = document.createElement("div");
    box.className = "scroll-x";
    parent.insertBefore(box, table);
    box.appendChild(table);
  }
  // a box that scrolls is reachable by keyboard (WCAG 2.1.1; axe's scrollable-region-focusable), only while it does
  function focusable() {
    var boxes = document.querySelectorAll("main .scroll-x");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].scrollWidth > boxes[i].clientWidth + 1) boxes[i].setAttribute("tabindex", "0");
      else if (boxes[i].getAttribute("tabindex") === "0") boxes[i].removeAttribute("tabindex");
    }
  }
  function run() {
    var tables = document.querySelectorAll("main table");
    for (var i = 0; i < tables.length; i++) {
      label(tables[i]);
      contain(tables[i]);
    }
    focusable();
    window.addEventListener("resize", focusable);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
})();
