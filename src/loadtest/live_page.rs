//! The live page of a running load test, served at `/` with `synthex load
//! --web.listen-address`, as Locust's web UI shows a test: users (or rate), requests/s and
//! failures/s, p50/p95/p99 over time as charts updated every second, the per-scenario table,
//! the failures, and a Stop button (with `--web.enable-lifecycle`).
//!
//! One HTML document with everything inline (uPlot, the shared chart rules, this page's
//! script); it reads `GET /api/v1/load?since=N` ([`super::live`]) every second from the server
//! that served it and nothing else. The first document is embedded, so the page draws at once.
//! Text from the config or from responses (names, failure messages) is only ever set as text
//! (`textContent`), never parsed as HTML.

use super::live::LiveTest;
use crate::chart;
use crate::report::model::LoadModel;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.fail{color:#b00020}.muted{color:#777}#figures span{margin-right:1.2em}\
#figures b{font-variant-numeric:tabular-nums}\
button{font-size:1em;padding:.3em 1.2em;background:#b00020;color:#fff;border:0;border-radius:4px;\
cursor:pointer}button:disabled{background:#999;cursor:default}";

/// The page's own script: polling, tables, and the chart specs it hands to the shared chart
/// script (`SynthexCharts.update`), which owns every axis rule.
const SCRIPT: &str = include_str!("../../assets/live-page.js");

/// The page, with the test's data as of now embedded.
pub fn render(live: &LiveTest) -> String {
    let document = live.json(0).replace('<', "\\u003c");
    let model = match live.model() {
        LoadModel::Closed => "closed model: virtual users",
        LoadModel::Open => "open model: arrival rate",
    };
    let level = match live.model() {
        LoadModel::Closed => "users",
        LoadModel::Open => "rate",
    };
    let stop = if live.can_stop() {
        "<button id=\"stop\" type=\"button\">Stop</button>"
    } else {
        "<span class=\"muted\">Start with <code>--web.enable-lifecycle</code> for a Stop \
         button.</span>"
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>synthex load test</title>\n<style>{STYLE}</style>\n{styles}\n</head>\n<body>\n\
         <h1>synthex load test</h1>\n\
         <p>Profile <code id=\"profile\">{profile}</code> · {model} · <a href=\"metrics\">Metrics</a></p>\n\
         <p id=\"figures\"><span>State <b id=\"state\"></b></span>\
         <span>Time <b id=\"elapsed\"></b></span><span>{level} <b id=\"level\"></b></span>\
         <span>RPS <b id=\"rps\"></b></span><span>p95 <b id=\"p95\"></b></span>\
         <span>Requests <b id=\"requests\"></b></span><span>Failures <b id=\"failures\"></b></span>\
         {stop}</p>\n\
         <div class=\"sx-charts\"><div class=\"sx-chart\" id=\"chart-rps\"></div>\
         <div class=\"sx-chart\" id=\"chart-latency\"></div>\
         <div class=\"sx-chart\" id=\"chart-level\"></div></div>\n\
         <h2>Scenarios</h2>\n<table><thead><tr><th>Target</th><th>Scenario</th><th>Method</th>\
         <th>Requests</th><th>Failures</th><th>RPS</th><th>p50</th><th>p95</th><th>p99</th>\
         <th>Max</th></tr></thead><tbody id=\"scenarios\"></tbody></table>\n\
         <h2>Failures</h2>\n<p id=\"no-failures\" class=\"muted\">No failures.</p>\n\
         <table><thead><tr><th>Target</th><th>Scenario</th><th>Reason</th><th>Message</th>\
         <th>Occurrences</th></tr></thead><tbody id=\"failures-table\"></tbody></table>\n\
         <script type=\"application/json\" id=\"live-data\">{document}</script>\n\
         {scripts}\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        styles = chart::styles(),
        profile = crate::html::escape(live.profile()),
        scripts = chart::scripts(),
    )
}
