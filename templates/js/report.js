// The report's few interactions, on top of a page that is complete without them: a film of frames becomes a slider
// with a play button, results tables sort by a column, folds open for a link into them and for printing, and a verdict
// cell's explanation (shown by CSS on hover and focus) hides on Escape. Nothing here fetches anything.
(function () {
  "use strict";
  var doc = document;

  function film(fig) {
    var frames = fig.querySelectorAll(".frame");
    if (frames.length < 2) return;
    var at = 0, timer = null;
    var bar = doc.createElement("div");
    bar.className = "film-controls";
    bar.innerHTML = '<button type="button" class="play" aria-label="Play">\u25B6</button>' +
      '<input type="range" min="0" step="1" aria-label="Frame of training">' + '<output aria-live="polite"></output>';
    var play = bar.children[0], slider = bar.children[1], label = bar.children[2];
    slider.max = frames.length - 1;
    function show(i) {
      at = i;
      for (var k = 0; k < frames.length; k++) frames[k].classList.toggle("on", k === i);
      slider.value = i;
      label.textContent = frames[i].getAttribute("data-label");
      slider.setAttribute("aria-valuetext", label.textContent);
    }
    function stop() {
      clearInterval(timer);
      timer = null;
      play.textContent = "\u25B6";
      play.setAttribute("aria-label", "Play");
    }
    play.addEventListener("click", function () {
      if (timer) return stop();
      if (at === frames.length - 1) show(0);
      play.textContent = "\u275A\u275A";
      play.setAttribute("aria-label", "Pause");
      timer = setInterval(function () {
        if (at === frames.length - 1) return stop();
        show(at + 1);
      }, 700);
    });
    slider.addEventListener("input", function () {
      stop();
      show(+slider.value);
    });
    fig.insertBefore(bar, fig.querySelector("figcaption"));
    fig.classList.add("live");
    show(0);
  }

  function number(cell) {
    var text = cell.firstChild && cell.firstChild.nodeType === 3 ? cell.firstChild.nodeValue : cell.textContent;
    var v = parseFloat(text.replace(/,/g, "").replace("\u2212", "-"));
    return isNaN(v) ? null : v;
  }

  function sortable(table) {
    var heads = table.tHead.rows[0].cells, body = table.tBodies[0];
    var original = Array.prototype.slice.call(body.rows);
    Array.prototype.forEach.call(heads, function (th, col) {
      if (!th.textContent.trim()) return;
      var button = doc.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () {
        var next = { none: "ascending", ascending: "descending", descending: "none" }[th.getAttribute("aria-sort") || "none"];
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        var rows = original.slice();
        if (next !== "none") {
          th.setAttribute("aria-sort", next);
          rows.sort(function (a, b) {
            var x = number(a.cells[col]), y = number(b.cells[col]);
            if (x === null || y === null) return (x === null) - (y === null);  // no value: always last
            return next === "ascending" ? x - y : y - x;
          });
        }
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function reveal(id) {
    var target = id && doc.getElementById(decodeURIComponent(id));
    for (var node = target; node; node = node.parentElement) if (node.tagName === "DETAILS") node.open = true;
  }

  doc.querySelectorAll(".film").forEach(film);
  doc.querySelectorAll("table[data-sortable]").forEach(sortable);
  reveal(location.hash.slice(1));
  addEventListener("hashchange", function () { reveal(location.hash.slice(1)); });
  doc.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest('a[href^="#"]');
    if (link) reveal(link.getAttribute("href").slice(1));
  });
  doc.querySelectorAll("td.cell").forEach(function (cell) {  // Escape hides a verdict's explanation until it is left
    function wake() { cell.classList.remove("quiet"); }
    cell.addEventListener("mouseleave", wake);
    cell.addEventListener("focusout", wake);
  });
  doc.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    doc.querySelectorAll("td.cell:hover, td.cell:focus-within").forEach(function (c) { c.classList.add("quiet"); });
  });
  var opened = [];
  addEventListener("beforeprint", function () {  // a printed report is the whole report: every fold open
    opened = Array.prototype.filter.call(doc.querySelectorAll("details"), function (d) { return !d.open; });
    opened.forEach(function (d) { d.open = true; });
  });
  addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
  });
})();
