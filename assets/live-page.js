/*
 * The live page of a running load test (src/loadtest/live_page.rs): polls
 * /api/v1/load?since=N every second, fills the figures and tables (as text, never as HTML),
 * and hands the chart specs to the shared chart script (SynthexCharts.update), which owns every
 * axis rule. Sets data-live-polls on <html> after each answer, for the browser tests.
 */
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("live-data").textContent);
  var points = [];
  var next = 0;
  var polls = 0;
  var ended = false;
  var levelUnit = doc.model === "open" ? "rate" : "count";
  var levelName = doc.model === "open" ? "scheduled requests/s" : "users";
  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }
  function fill(id, rows, toCells) {
    var body = document.getElementById(id);
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      toCells(r).forEach(function (c) { cell(tr, c[0], c[1]); });
      body.appendChild(tr);
    });
  }
  var L = function (unit, v) { return SynthexCharts.label(unit, v); };
  function clock(s) {
    s = Math.floor(s);
    return Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
  }
  function set(id, text) { document.getElementById(id).textContent = text; }
  function charts() {
    var xs = points.map(function (p) { return p.offset_seconds; });
    var col = function (k) { return points.map(function (p) { return p[k]; }); };
    var x = { unit: "elapsed", min: 0, max: Math.max(doc.planned_seconds, doc.elapsed_seconds, 1) };
    SynthexCharts.update({ id: "chart-rps", title: "Requests per second", x: x, y: { unit: "rate" }, xs: xs,
      series: [{ label: "requests/s", values: col("requests_per_second") },
               { label: "failures/s", values: col("failures_per_second"), color: "#dc2626" }] });
    SynthexCharts.update({ id: "chart-latency", title: "Response time", x: x, y: { unit: "seconds" }, xs: xs,
      series: [{ label: "p50", values: col("p50_seconds") },
               { label: "p95", values: col("p95_seconds") },
               { label: "p99", values: col("p99_seconds") }] });
    SynthexCharts.update({ id: "chart-level", title: doc.model === "open" ? "Scheduled arrival rate" : "Users",
      x: x, y: { unit: levelUnit }, xs: xs, series: [{ label: levelName, values: col("level") }] });
  }
  function show(d) {
    doc = d;
    points = points.concat(d.points);
    next = d.next;
    var last = points.length ? points[points.length - 1] : null;
    set("state", d.state);
    set("elapsed", clock(d.elapsed_seconds) + " / " + clock(d.planned_seconds));
    set("level", last ? L(levelUnit, last.level) : "–");
    set("rps", last ? L("rate", last.requests_per_second) : "–");
    set("p95", last && last.p95_seconds != null ? L("seconds", last.p95_seconds) : "–");
    set("requests", String(d.requests));
    set("failures", String(d.failures) + (d.requests ? " (" + L("ratio", d.failures / d.requests) + ")" : ""));
    fill("scenarios", d.scenarios, function (s) {
      return [[s.target], [s.scenario], [s.method], [String(s.requests), "num"],
        [String(s.failures), s.failures ? "num fail" : "num"], [L("rate", s.requests_per_second), "num"],
        [L("seconds", s.p50_seconds), "num"], [L("seconds", s.p95_seconds), "num"],
        [L("seconds", s.p99_seconds), "num"], [L("seconds", s.max_seconds), "num"]];
    });
    fill("failures-table", d.failure_groups, function (f) {
      return [[f.target], [f.scenario], [f.reason, "fail"], [f.message], [String(f.occurrences), "num"]];
    });
    document.getElementById("no-failures").hidden = d.failure_groups.length > 0;
    var stop = document.getElementById("stop");
    if (stop && d.state !== "running") { stop.disabled = true; stop.textContent = "Stopping…"; }
    charts();
    polls++;
    document.documentElement.setAttribute("data-live-polls", String(polls));
  }
  function poll() {
    if (ended) return;
    fetch("api/v1/load?since=" + next, { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(show)
      .catch(function () {
        ended = true;
        set("state", doc.state === "running" ? "disconnected" : "ended: the reports are written");
        var stop = document.getElementById("stop");
        if (stop) stop.disabled = true;
      });
  }
  var stop = document.getElementById("stop");
  if (stop) stop.addEventListener("click", function () {
    if (!window.confirm("Stop the load test now? Requests in flight are counted as interrupted.")) return;
    stop.disabled = true;
    fetch("-/stop", { method: "POST" }).then(function (r) {
      stop.textContent = r.ok ? "Stopping…" : "Stop refused (HTTP " + r.status + ")";
    });
  });
  show(doc);
  setInterval(poll, 1000);
})();
