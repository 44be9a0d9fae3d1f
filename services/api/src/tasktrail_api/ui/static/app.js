// tasktrail web UI behaviour. Loaded as a file (CSP script-src 'self'); no inline script.
(function () {
  "use strict";

  // --- theme ---------------------------------------------------------------------------
  var root = document.documentElement;
  var saved = localStorage.getItem("tasktrail-theme");
  if (saved) root.setAttribute("data-theme", saved);

  function toggleTheme() {
    var dark = root.getAttribute("data-theme") === "dark" ||
      (!root.getAttribute("data-theme") && matchMedia("(prefers-color-scheme: dark)").matches);
    var next = dark ? "light" : "dark";
    root.setAttribute("data-theme", next);
    localStorage.setItem("tasktrail-theme", next);
  }

  // --- times: local time shown, UTC on hover ------------------------------------------
  function localize(scope) {
    (scope || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.textContent = d.toLocaleString();
      el.title = d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    });
  }

  function announce(text) {
    var region = document.getElementById("live-status");
    if (region) region.textContent = text;
  }

  // --- keyboard: / to search, j/k to move through rows, Enter to open -------------------
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-task-id], tr[data-worker]")); }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var current = all.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = Math.max(0, Math.min(all.length - 1, current + step));
    all.forEach(function (r) { r.classList.remove("selected"); });
    all[next].classList.add("selected");
    var link = all[next].querySelector("a");
    if (link) link.focus();
  }

  function onKey(event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/") {
      var search = document.getElementById("search");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (event.key === "j") { move(1); } else if (event.key === "k") { move(-1); }
  }

  // --- live updates ----------------------------------------------------------------------
  var paused = false, held = [], fresh = 0;

  function parseRows(html) {
    var t = document.createElement("template");
    t.innerHTML = "<table><tbody>" + html + "</tbody></table>";
    return Array.prototype.slice.call(t.content.querySelectorAll("tbody > tr"));
  }

  function morph(existing, incoming) {
    if (window.Idiomorph) { Idiomorph.morph(existing, incoming); } else { existing.replaceWith(incoming); }
  }

  // New rows go on top only while that cannot move what the reader looks at: the newest-first
  // first page, scrolled to the top, the pointer off the table. Otherwise they are counted.
  var pointerOnTable = false;

  function canInsert(body) {
    return body && body.getAttribute("data-insert") === "true" && window.scrollY < 40 && !pointerOnTable &&
      !document.querySelector("tr.selected");
  }

  // Pushes wait for the next turn of the event loop and are applied together: a browser that
  // falls behind (a busy machine, a slow tab) changes its table once for every push waiting,
  // the latest version of each row winning, instead of once per push.
  var waiting = [], flushing = false;

  function queueRows(html) {
    waiting.push(html);
    if (!flushing) { flushing = true; setTimeout(flushRows, 0); }
  }

  function flushRows() {
    var pushes = waiting, seen = {}, latest = [];
    waiting = []; flushing = false;
    for (var i = pushes.length - 1; i >= 0; i--) {
      parseRows(pushes[i]).forEach(function (row) {
        if (!seen[row.id]) { seen[row.id] = true; latest.push(row); }
      });
    }
    applyRows(latest);
  }

  // While the page follows the list (canInsert), it shows what a reload would: new rows and
  // rows whose time changed take their place in the list's order (newest first, ties by id,
  // as the server sorts), and the rows pushed past the page's size go, so its size (and its
  // cost) stays that of a page. ``data-at`` is the row's time as fixed-width ISO text, so
  // text order is time order.
  function descending(x, y) { return x < y ? 1 : x > y ? -1 : 0; }

  function newerFirst(a, b) {
    return descending(a.getAttribute("data-at") || "", b.getAttribute("data-at") || "") ||
      descending(a.getAttribute("data-task-id"), b.getAttribute("data-task-id"));
  }

  function insertRows(body, incoming) {
    var limit = parseInt(body.getAttribute("data-limit"), 10) || incoming.length;
    incoming.forEach(function (row) { row.classList.add("fresh"); localize(row); body.appendChild(row); });
    var ordered = Array.prototype.slice.call(body.children).sort(newerFirst);
    var block = document.createDocumentFragment();
    ordered.slice(0, limit).forEach(function (row) { block.appendChild(row); });
    ordered.slice(limit).forEach(function (row) { row.remove(); });
    body.appendChild(block);
  }

  function applyRows(incoming) {
    var added = 0, changed = 0, body = document.getElementById("task-rows"), inserted = [];
    var insert = canInsert(body), moved = false;
    incoming.forEach(function (row) {
      var existing = document.getElementById(row.id);
      if (existing) {
        moved = moved || existing.getAttribute("data-at") !== row.getAttribute("data-at");
        morph(existing, row); changed += 1; localize(document.getElementById(row.id));
      }
      else if (insert) { inserted.push(row); }
      else { added += 1; }
    });
    if (insert && (inserted.length || moved)) { insertRows(body, inserted); changed += inserted.length; }
    if (added) {
      fresh += added;
      var marker = document.getElementById("new-marker");
      if (marker) { marker.hidden = false; marker.textContent = fresh + " new"; }
      announce(fresh + " new tasks");
    }
    if (changed) document.body.dispatchEvent(new CustomEvent("rows-changed"));
  }

  function applyLeft(ids) {
    ids.split(" ").forEach(function (id) {
      var row = document.getElementById("task-" + id);
      if (row) row.classList.add("left");
    });
  }

  function applyWorkers(html) {
    var unknown = 0;
    parseRows(html).forEach(function (row) {
      var existing = document.getElementById(row.id);
      if (existing) { morph(existing, row); localize(document.getElementById(row.id)); } else { unknown += 1; }
    });
    if (unknown) announce(unknown + " new workers: reload to see them");
  }

  var handlers = {
    rows: queueRows,
    left: applyLeft,
    many: function () {
      var marker = document.getElementById("new-marker");
      if (marker) { marker.hidden = false; marker.textContent = "Many changes: reload"; }
    },
    workers: applyWorkers,
    task: function () { if (window.htmx) htmx.trigger(document.body, "task-changed"); },
    overview: throttle(function () { if (window.htmx) htmx.trigger(document.body, "overview-changed"); }, 2000),
    reload: function () { location.reload(); }
  };

  function throttle(fn, ms) {
    var last = 0, timer = null;
    return function () {
      var now = Date.now();
      if (now - last >= ms) { last = now; fn(); return; }
      if (!timer) timer = setTimeout(function () { timer = null; last = Date.now(); fn(); }, ms - (now - last));
    };
  }

  function dispatch(name, data) {
    if (paused && name !== "reload") { held.push([name, data]); return; }
    handlers[name](data);
  }

  function connect() {
    var url = document.body.getAttribute("data-live");
    if (!url || !window.EventSource) return;
    var since = document.body.getAttribute("data-live-since");
    var source = new EventSource(url + (url.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(since || ""));
    var dot = document.getElementById("live-dot");
    source.onopen = function () { if (dot) { dot.classList.add("on"); dot.title = "Live: connected"; } };
    source.onerror = function () { if (dot) { dot.classList.remove("on"); dot.title = "Live: reconnecting"; } };
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (event) { dispatch(name, event.data); });
    });
  }

  function togglePause(button) {
    paused = !paused;
    button.setAttribute("aria-pressed", paused ? "true" : "false");
    button.textContent = paused ? "Resume live" : "Pause live";
    announce(paused ? "Live updates paused" : "Live updates resumed");
    if (!paused) { var queued = held; held = []; queued.forEach(function (e) { handlers[e[0]](e[1]); }); }
  }

  // --- charts (uPlot) ----------------------------------------------------------------------
  var chart = null;

  function drawChart(el, range) {
    fetch(el.getAttribute("data-stats") + "?range=" + range, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        var data = [body.times, body.succeeded, body.failed];
        el.setAttribute("data-points", String(body.times.length));
        el.setAttribute("data-total", String(body.total));
        var opts = {
          width: Math.max(300, el.clientWidth), height: 240,
          cursor: { drag: { x: true, y: false } },
          series: [{}, { label: "succeeded", stroke: "#1a7f37", width: 2 }, { label: "failed", stroke: "#c62828", width: 2 }],
          axes: [{}, { label: "tasks / " + body.step_label }],
          hooks: { setSelect: [function (u) {
            if (u.select.width < 2) return;
            var from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
            location.href = "/ui/tasks?timestamp_after=" + encodeURIComponent(new Date(from * 1000).toISOString()) +
              "&timestamp_before=" + encodeURIComponent(new Date(to * 1000).toISOString());
          }] }
        };
        if (chart) chart.destroy();
        el.textContent = "";
        chart = new uPlot(opts, data, el);
      })
      .catch(function () { el.textContent = "No chart data."; });
  }

  function setupChart() {
    var el = document.getElementById("chart");
    if (!el || !window.uPlot) return;
    var range = "1h";
    drawChart(el, range);
    document.querySelectorAll("[data-range]").forEach(function (b) {
      b.addEventListener("click", function () {
        range = b.getAttribute("data-range");
        document.querySelectorAll("[data-range]").forEach(function (o) { o.setAttribute("aria-pressed", o === b ? "true" : "false"); });
        drawChart(el, range);
      });
    });
    document.body.addEventListener("overview-changed", throttle(function () { drawChart(el, range); }, 10000));
  }

  function setupSparks() {
    if (!window.uPlot) return;
    document.querySelectorAll("[data-trend]").forEach(function (el) {
      var trend = JSON.parse(el.getAttribute("data-trend") || "{}");
      if (!trend.t || !trend.t.length) { el.textContent = "–"; return; }
      var opts = {
        width: 240, height: 48, legend: { show: false }, cursor: { show: false },
        axes: [{ show: false }, { show: false }],
        series: [{}, { label: "depth", stroke: "#1f6feb", width: 1.5, fill: "rgba(31,111,235,0.12)" }]
      };
      el.textContent = "";
      new uPlot(opts, [trend.t, trend.d], el);
      el.setAttribute("data-points", String(trend.t.length));
    });
  }

  // --- small things --------------------------------------------------------------------------
  function onClick(event) {
    var target = event.target;
    if (target.id === "theme") toggleTheme();
    else if (target.id === "pause") togglePause(target);
    else if (target.id === "new-marker") {
      if (window.htmx) htmx.ajax("GET", target.getAttribute("data-href"), { target: "#task-table", headers: { "HX-Target": "task-table" } });
      else location.href = target.getAttribute("data-href");
    }
    else if (target.classList && target.classList.contains("copy") && navigator.clipboard) {
      navigator.clipboard.writeText(target.getAttribute("data-copy")).then(function () { announce("Copied"); });
    } else if (target.id === "select-all") {
      document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = target.checked; });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    document.addEventListener("keydown", onKey);
    document.addEventListener("click", onClick);
    document.body.addEventListener("htmx:afterSwap", function (e) { localize(e.target); fresh = 0; });
    // A list the server cannot serve (400) still replaces the table: it says what is wrong.
    document.body.addEventListener("htmx:beforeSwap", function (e) {
      if (e.detail.xhr.status === 400 && e.detail.target && e.detail.target.id === "task-table") {
        e.detail.shouldSwap = true; e.detail.isError = false;
      }
    });
    document.addEventListener("pointerover", function (e) { pointerOnTable = !!(e.target.closest && e.target.closest("table.tasks")); });
    connect();
    setupChart();
    setupSparks();
  });
})();
