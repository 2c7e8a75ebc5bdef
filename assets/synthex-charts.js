/*
 * synthex-charts.js: the chart rules every synthex HTML page shares (load-test report,
 * comparison report, status page, trend report), drawn with the vendored uPlot.
 *
 * A page holds one or more JSON script elements of class sx-charts, each
 * {"charts": [CHART, ...]}, written by the Rust side (src/chart.rs), and one
 * div of class sx-chart per chart, its id the chart's id. CHART is
 *   { id, title,
 *     x: { unit, min?, max? },   unit: elapsed | clock | nines | run | seconds | ratio | bytes | count | rate | cores
 *     y: { unit, log? },
 *     xs: [x, ...],
 *     series: [{ label, values: [y | null, ...], color?, dash? }],
 *     bands?: [{ from, to, label }],   x ranges shaded in turn (the stages of a profile)
 *     lines?: [{ value, label }],      horizontal threshold lines
 *     join?: true,                     draw lines across nulls (series sampled at different xs)
 *     points?: true }                  a marker on every point (sparse data with gaps)
 *
 * The rules (why each chart looks the way it does):
 * - y starts at 0 and ends on a round 1-2-5 tick above the data and every threshold line;
 *   ratios never go past 100 %, memory ticks are 1-2-5 steps of KiB/MiB/GiB.
 * - elapsed time starts at 0 s and every elapsed chart of a page uses the range the page gives
 *   (the run's length), so charts line up; hovering or zooming one does the same on the others.
 * - a null value is a gap, never a 0 (unless the chart joins series sampled at different xs).
 * After drawing, each chart element carries what a test can check: data-series (lines drawn),
 * data-points (non-null points), data-x-range and data-y-range ("min,max"), data-y-ticks; the
 * <html> element carries data-sx-charts (charts drawn) and data-sx-errors (script errors seen).
 */
(function () {
  "use strict";

  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
    "#a16207", "#db2777", "#4b5563", "#65a30d"];
  var HEIGHT = 240;
  var Y_TICKS = 5;   // at most this many intervals on a y axis: readable at HEIGHT
  var ERRORS = [];

  function noteError(message) {
    ERRORS.push(String(message));
    document.documentElement.setAttribute("data-sx-errors", String(ERRORS.length));
  }
  window.addEventListener("error", function (e) { noteError(e.message); });

  // ---- numbers -----------------------------------------------------------------------------

  /** Rounds away binary noise (0.1 * 3 = 0.30000000000000004). */
  function clean(v) { return +(+v).toPrecision(12); }

  /** The 1-2-5 step that cuts `span` into at most `count` parts. */
  function niceStep(span, count) {
    var raw = span / Math.max(1, count);
    if (!(raw > 0) || !isFinite(raw)) return 1;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * mag >= raw * (1 - 1e-9)) return clean(steps[i] * mag);
    }
    return clean(10 * mag);
  }

  /** The binary unit (1, 1024, 1024², ...) a byte axis up to `max` is labelled in. */
  function byteUnit(max) {
    var unit = 1;
    while (max >= unit * 1024 && unit < Math.pow(1024, 4)) unit *= 1024;
    return unit;
  }

  /** The smallest value a unit's axis shows when every value is 0. */
  var EMPTY_TOP = { seconds: 0.001, ratio: 0.01, bytes: 1024, count: 1, rate: 1, cores: 1 };

  /** Linear y axis: [0, top] and its ticks; ratios end at 100 % at most. */
  function linearTicks(unit, max, count) {
    var top = max > 0 && isFinite(max) ? max : (EMPTY_TOP[unit] || 1);
    if (unit === "ratio") top = Math.min(top, 1);
    var scale = unit === "bytes" ? byteUnit(top) : 1;
    var step = clean(niceStep(top / scale, count) * scale);
    var ticks = [];
    for (var i = 0; ; i++) {
      var t = clean(i * step);
      ticks.push(t);
      if (t >= top * (1 - 1e-9)) break;
    }
    if (unit === "ratio" && ticks[ticks.length - 1] > 1) ticks[ticks.length - 1] = 1;
    return ticks;
  }

  /** Log y axis: 1-2-5 ticks per decade (powers of ten only across more than two decades). */
  function logTicks(min, max) {
    if (!(min > 0)) min = max > 0 ? max / 10 : 1e-3;
    if (!(max > min)) max = min * 10;
    var lo = Math.floor(Math.log10(min)), hi = Math.ceil(Math.log10(max));
    var mults = hi - lo > 2 ? [1] : [1, 2, 5];
    var ticks = [];
    for (var d = lo; d <= hi; d++) {
      for (var m = 0; m < mults.length; m++) {
        var t = clean(mults[m] * Math.pow(10, d));
        if (ticks.length && ticks[ticks.length - 1] >= max) return ticks;
        if (t * (1 + 1e-9) >= min || ticks.length === 0) {
          if (ticks.length === 0 && t > min) t = clean(Math.pow(10, d - 1) * mults[mults.length - 1]);
          ticks.push(t);
        }
      }
    }
    return ticks;
  }

  var ELAPSED_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
    7200, 10800, 21600, 43200, 86400];

  /** Elapsed-time ticks from `min` to `max` seconds, at most `count` of them. */
  function elapsedTicks(min, max, count) {
    var span = Math.max(max - min, 1e-9), step = ELAPSED_STEPS[ELAPSED_STEPS.length - 1];
    for (var i = 0; i < ELAPSED_STEPS.length; i++) {
      if (span / ELAPSED_STEPS[i] <= count) { step = ELAPSED_STEPS[i]; break; }
    }
    var ticks = [];
    for (var t = Math.ceil(min / step - 1e-9) * step; t <= max + 1e-9; t += step) ticks.push(clean(t));
    return ticks;
  }

  // ---- labels ------------------------------------------------------------------------------

  function trim(v, decimals) { return String(+v.toFixed(decimals)); }

  /** Digits after the point so that neighbouring ticks `step` apart read differently. */
  function decimalsFor(step) {
    return step > 0 ? Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9))) : 0;
  }

  /** A duration on an axis whose highest tick is `top` (the unit) and ticks `step` apart. */
  function seconds(v, step, top) {
    if (v === 0) return "0";
    var scale = Math.abs(top || v) < 1e-3 ? 1e6 : Math.abs(top || v) < 1 ? 1e3 : 1;
    var name = scale === 1e6 ? " µs" : scale === 1e3 ? " ms" : " s";
    return trim(v * scale, step ? decimalsFor(step * scale) : 2) + name;
  }

  /** Bytes in the binary unit of `top` (KiB, MiB, ...), ticks `step` apart. */
  function bytes(v, step, top) {
    if (v === 0) return "0";
    var names = ["B", "KiB", "MiB", "GiB", "TiB"];
    var unit = byteUnit(Math.abs(top || v));
    var i = Math.round(Math.log(unit) / Math.log(1024));
    return trim(v / unit, step ? decimalsFor(step / unit) : 1) + " " + names[i];
  }

  function elapsed(v) {
    v = clean(v);
    if (v < 60) return trim(v, 1) + "s";
    var h = Math.floor(v / 3600), m = Math.floor((v % 3600) / 60), s = clean(v % 60);
    if (h > 0) return h + "h" + (m ? m + "m" : "");
    return m + "m" + (s ? trim(s, 1) + "s" : "");
  }

  /** Unix seconds as local wall-clock time, HH:MM (the status page's last hour). */
  function clock(v) {
    var d = new Date(v * 1000);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  /** x of the percentile curve is -log10(1 - q): 0 → p0, 1 → p90, 2 → p99, 3 → p99.9. */
  function nines(x) {
    return "p" + String(clean(100 * (1 - Math.pow(10, -x))).toFixed(4).replace(/\.?0+$/, ""));
  }

  /** An axis label (ticks `step` apart, the highest `top`) or, without them, a hover value. */
  function label(unit, v, step, top) {
    if (v == null || !isFinite(v)) return "–";
    switch (unit) {
      case "seconds": return seconds(v, step, top);
      case "ratio": return trim(v * 100, step ? decimalsFor(step * 100) : 2) + " %";
      case "bytes": return bytes(v, step, top);
      case "elapsed": return elapsed(v);
      case "clock": return clock(v);
      case "nines": return nines(v);
      case "run": return "#" + trim(v, 0);
      case "rate": return trim(v, step ? decimalsFor(step) : 1) + (step ? "" : " /s");
      case "cores": return trim(v, step ? decimalsFor(step) : 2) + (step ? "" : " cores");
      default: return trim(v, step ? decimalsFor(step) : 1);
    }
  }

  // ---- charts ------------------------------------------------------------------------------

  var ALL = [];      // every drawn uPlot, with its spec
  var syncing = false;

  function finiteMax(spec) {
    var max = -Infinity, min = Infinity;
    spec.series.forEach(function (s) {
      s.values.forEach(function (v) {
        if (v != null && isFinite(v)) { max = Math.max(max, v); if (v > 0) min = Math.min(min, v); }
      });
    });
    (spec.lines || []).forEach(function (l) { max = Math.max(max, l.value); });
    return { min: min, max: max };
  }

  function yTicks(spec, u, min, max) {
    if (spec.y.log) return logTicks(min, max);
    return linearTicks(spec.y.unit, max, Y_TICKS);
  }

  function xTicks(spec, u, min, max) {
    var count = Math.max(2, Math.floor((u.bbox.width / devicePixelRatio) / 75));
    // Clock ticks are the same round steps counted from the epoch: whole minutes and hours.
    if (spec.x.unit === "elapsed" || spec.x.unit === "clock") return elapsedTicks(min, max, count);
    if (spec.x.unit === "nines") {
      var t = [];
      [0, Math.log10(2), 1, 2, 3, 4, 5, 6].forEach(function (x) { if (x >= min - 1e-9 && x <= max + 1e-9) t.push(x); });
      return t;
    }
    var step = niceStep(max - min, count), out = [];
    if (spec.x.unit === "run") step = Math.max(1, step);
    for (var v = Math.ceil(min / step - 1e-9) * step; v <= max + 1e-9; v += step) out.push(clean(v));
    return out;
  }

  function stepOf(ticks) { return ticks.length > 1 ? clean(ticks[1] - ticks[0]) : 0; }

  /** Stage bands (shaded in turn, labelled) under the series. */
  function drawBands(u, spec) {
    var ctx = u.ctx, bands = spec.bands || [];
    ctx.save();
    ctx.font = Math.round(10 * devicePixelRatio) + "px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.textAlign = "left";
    bands.forEach(function (b, i) {
      var x0 = Math.max(u.bbox.left, u.valToPos(b.from, "x", true));
      var x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(b.to, "x", true));
      if (x1 <= x0) return;
      ctx.fillStyle = i % 2 ? "rgba(37,99,235,0.07)" : "rgba(100,116,139,0.06)";
      ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
      ctx.strokeStyle = "rgba(100,116,139,0.45)";
      ctx.lineWidth = devicePixelRatio;
      ctx.beginPath(); ctx.moveTo(x0, u.bbox.top); ctx.lineTo(x0, u.bbox.top + u.bbox.height); ctx.stroke();
      if (b.label && x1 - x0 > 30 * devicePixelRatio) {
        ctx.fillStyle = "#475569";
        ctx.fillText(b.label, x0 + 3 * devicePixelRatio, u.bbox.top + 2 * devicePixelRatio, x1 - x0 - 6 * devicePixelRatio);
      }
    });
    ctx.restore();
  }

  /** Threshold lines over the series, labelled at the right end. */
  function drawLines(u, spec) {
    var ctx = u.ctx;
    ctx.save();
    ctx.font = Math.round(10 * devicePixelRatio) + "px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    (spec.lines || []).forEach(function (l) {
      var y = u.valToPos(l.value, "y", true);
      if (!(y >= u.bbox.top - 1 && y <= u.bbox.top + u.bbox.height + 1)) return;
      ctx.strokeStyle = "#b91c1c";
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
      ctx.fillStyle = "#b91c1c";
      ctx.fillText(l.label, u.bbox.left + u.bbox.width - 4 * devicePixelRatio, y - 2 * devicePixelRatio);
    });
    ctx.restore();
  }

  /** The state a test reads back from the element. */
  function publish(el, u, spec, ticks) {
    var points = 0;
    spec.series.forEach(function (s) { s.values.forEach(function (v) { if (v != null && isFinite(v)) points++; }); });
    el.setAttribute("data-series", String(spec.series.length));
    el.setAttribute("data-points", String(points));
    el.setAttribute("data-x-range", u.scales.x.min + "," + u.scales.x.max);
    el.setAttribute("data-y-range", u.scales.y.min + "," + u.scales.y.max);
    el.setAttribute("data-y-ticks", ticks.join(","));
  }

  function widthOf(el) { return Math.max(280, Math.floor(el.getBoundingClientRect().width || 600)); }

  function draw(spec) {
    var el = document.getElementById(spec.id);
    if (!el) { noteError("chart element #" + spec.id + " is missing"); return; }
    var extent = finiteMax(spec);
    if (extent.max === -Infinity) {
      el.innerHTML = "<div class=\"sx-title\"></div><p class=\"sx-empty\">no data</p>";
      el.firstChild.textContent = spec.title;
      el.setAttribute("data-series", "0");
      el.setAttribute("data-points", "0");
      return;
    }
    var lastYTicks = [];
    var xUnit = spec.x.unit, yUnit = spec.y.unit;
    var fixedX = spec.x.min != null && spec.x.max != null;
    var opts = {
      title: spec.title,
      width: widthOf(el),
      height: HEIGHT,
      cursor: { sync: spec.x.unit === "elapsed" ? { key: "sx-elapsed" } : undefined, drag: { x: true, y: false } },
      scales: {
        x: {
          time: false,
          range: function (u, min, max) {
            if (fixedX) return [spec.x.min, spec.x.max];
            if (xUnit === "nines") return [0, Math.max(max, 1)];
            return [Math.min(0, min), max > min ? max : min + 1];
          }
        },
        y: spec.y.log ? {
          distr: 3, log: 10,
          range: function (u, min, max) { var t = logTicks(extent.min, Math.max(max, extent.max)); return [t[0], t[t.length - 1]]; }
        } : {
          range: function (u, min, max) {
            var top = max;
            (spec.lines || []).forEach(function (l) { top = Math.max(top, l.value); });
            var t = linearTicks(yUnit, top, Y_TICKS);
            return [0, t[t.length - 1]];
          }
        }
      },
      axes: [
        {
          splits: function (u, i, min, max) { return xTicks(spec, u, min, max); },
          values: function (u, splits) {
            var step = stepOf(splits), top = splits[splits.length - 1];
            return splits.map(function (v) { return label(xUnit, v, step, top); });
          }
        },
        {
          size: 70,
          splits: function (u, i, min, max) { lastYTicks = yTicks(spec, u, min, max); return lastYTicks; },
          values: function (u, splits) {
            // A log axis labels each tick on its own (1 ms, 10 ms, 100 ms).
            return splits.map(function (v) {
              return spec.y.log ? label(yUnit, v, v, v) : label(yUnit, v, stepOf(splits), splits[splits.length - 1]);
            });
          }
        }
      ],
      series: [{ label: spec.x.label || (xUnit === "elapsed" ? "elapsed" : xUnit === "clock" ? "time" : xUnit === "nines" ? "percentile" : xUnit === "run" ? "run" : ""), value: function (u, v) { return label(xUnit, v); } }]
        .concat(spec.series.map(function (s, i) {
          return {
            label: s.label,
            stroke: s.color || PALETTE[i % PALETTE.length],
            width: 1.75,
            dash: s.dash ? [6, 4] : undefined,
            spanGaps: !!spec.join,
            // Markers where points stand apart (the status page's minutes): a lone point shows.
            points: spec.points ? { show: true, size: 5 } : { show: false },
            value: function (u, v) { return label(yUnit, v); }
          };
        })),
      hooks: {
        drawClear: [function (u) { drawBands(u, spec); }],
        draw: [function (u) { drawLines(u, spec); publish(el, u, spec, lastYTicks); }],
        setScale: [function (u, key) {
          if (key !== "x" || syncing || xUnit !== "elapsed") return;
          syncing = true;
          ALL.forEach(function (o) {
            if (o.u !== u && o.spec.x.unit === "elapsed") o.u.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
          });
          syncing = false;
        }]
      }
    };
    el.innerHTML = "";
    var u = new uPlot(opts, dataOf(spec), el);
    ALL.push({ u: u, spec: spec, el: el });
  }

  /** uPlot's data: the xs, then each series with anything not finite as a gap. */
  function dataOf(spec) {
    return [spec.xs].concat(spec.series.map(function (s) {
      return s.values.map(function (v) { return v == null || !isFinite(v) ? null : v; });
    }));
  }

  /**
   * Draws `spec`, or gives the chart already drawn with its id the new data, ranges and lines
   * (the live pages call it every second): the same axis rules, no flicker, hover kept.
   */
  function update(spec) {
    var at = -1;
    for (var i = 0; i < ALL.length; i++) if (ALL[i].spec.id === spec.id) at = i;
    try {
      if (at >= 0 && ALL[at].spec.series.length === spec.series.length) {
        var kept = ALL[at].spec;   // the object the chart's hooks read
        Object.keys(spec).forEach(function (k) { kept[k] = spec[k]; });
        ALL[at].u.setData(dataOf(kept));
      } else {
        if (at >= 0) { ALL[at].u.destroy(); ALL.splice(at, 1); }
        draw(spec);
      }
    } catch (e) { noteError(spec.id + ": " + (e && e.message)); }
    document.documentElement.setAttribute("data-sx-charts", String(ALL.length));
    document.documentElement.setAttribute("data-sx-errors", String(ERRORS.length));
  }

  function drawAll() {
    var blocks = document.querySelectorAll("script.sx-charts");
    for (var i = 0; i < blocks.length; i++) {
      var parsed;
      try { parsed = JSON.parse(blocks[i].textContent); } catch (e) { noteError("chart data: " + e.message); continue; }
      (parsed.charts || []).forEach(function (spec) {
        try { draw(spec); } catch (e) { noteError(spec.id + ": " + (e && e.message)); }
      });
    }
    document.documentElement.setAttribute("data-sx-charts", String(ALL.length));
    if (!document.documentElement.hasAttribute("data-sx-errors")) document.documentElement.setAttribute("data-sx-errors", String(ERRORS.length));
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        ALL.forEach(function (o) { o.u.setSize({ width: widthOf(o.el), height: HEIGHT }); });
      }, 100);
    });
  }

  window.SynthexCharts = {
    /** Draws every chart of the page's sx-charts blocks (called once the page has loaded). */
    drawAll: drawAll,
    /** Draws a chart or updates the one with the same id (the live pages). */
    update: update,
    /** Exposed for the tests and the live pages: the axis rules. */
    linearTicks: linearTicks, logTicks: logTicks, elapsedTicks: elapsedTicks, label: label,
    errors: ERRORS
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
