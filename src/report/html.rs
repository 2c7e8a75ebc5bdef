//! The self-contained HTML report (`report.html`): one file that opens offline, with inline
//! CSS, the vendored uPlot and the report's chart data inline (see [`crate::chart`]), no
//! external resource.
//!
//! It holds the summary table, thresholds, grades, the charts of [`charts`](super::charts)
//! (all scenarios over time, each scenario on its own, response-time distributions,
//! resources, the breaking-point curve when there is one), resource usage and every failure
//! group. All text taken from the report (scenario names, messages, paths) is HTML-escaped in
//! the page and JSON-escaped in the chart data.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use super::charts;
use super::findings;
use super::format;
use super::grade::Grades;
use super::model::{Report, ThresholdResult};
use super::profile_runs;
use super::query_table;
use super::stage_table;
use super::table::{self, HEADERS, Verdict};
use crate::chart;
use crate::html::escape as esc;

pub(crate) const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;\
color:#111;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}\
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd}\
th{text-align:left;background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.pass{color:#15803d}.fail{color:#b91c1c}.banner{background:#fee2e2;border:1px solid #b91c1c;\
padding:.6rem 1rem;font-weight:bold}";

/// Writes the HTML report of `report` to `out`.
pub fn render(report: &Report, grades: &Grades, out: &mut impl Write) -> io::Result<()> {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>synthex load test {}: {}</title><style>{STYLE}</style>{}</head><body>",
        esc(&report.plan.profile),
        Verdict::of(report, false),
        chart::styles()
    );
    if let Some(note) = table::end_note(report) {
        let _ = write!(page, "<p class=\"banner\">{}</p>", esc(&note));
    }
    let _ = write!(
        page,
        "<h1>synthex load test: {}</h1><p>{}<br>started {}, synthex {}</p>",
        Verdict::of(report, false),
        esc(&table::headline(report)),
        started(report.started_at),
        esc(&report.synthex_version)
    );
    page.push_str("<h2>Summary</h2>");
    let mut rows = vec![HEADERS.map(String::from).to_vec()];
    rows.extend(table::rows(report).iter().map(table::Row::cells));
    html_table(&mut page, &rows);
    if let Some(warmup) = table::warmup_sentence(report) {
        let _ = write!(page, "<p>{}</p>", esc(&warmup));
    }
    for line in table::data_sentences(report) {
        let _ = write!(page, "<p>{}</p>", esc(&line));
    }
    stage_tables(&mut page, report);
    profile_sections(&mut page, report);
    thresholds(&mut page, report);
    findings_section(&mut page, report);
    grades_section(&mut page, grades);
    page.push_str("<h2>Over time, all scenarios</h2>");
    page.push_str(&chart::grid(&charts::over_time(report)));
    page.push_str("<h2>By scenario</h2>");
    page.push_str(&chart::grid(&charts::per_scenario(report)));
    let resources = charts::resources(report);
    if !resources.is_empty() {
        page.push_str("<h2>Resources</h2>");
        page.push_str(&chart::grid(&resources));
    }
    if let Some(bp) = &report.breaking_point {
        let _ = write!(
            page,
            "<h2>Breaking point</h2><p>{}</p>",
            esc(&table::breaking_point_sentence(bp))
        );
        page.push_str(&chart::grid(&charts::breaking_point(report)));
    }
    let flows = table::flow_cells(report);
    if flows.len() > 1 {
        page.push_str("<h2>Flows (whole runs)</h2>");
        html_table(&mut page, &flows);
    }
    let usage = table::usage_cells(report);
    if usage.len() > 1 {
        page.push_str("<h2>Resource usage</h2>");
        html_table(&mut page, &usage);
    }
    let queries = query_table::cells(report);
    if queries.len() > 1 {
        page.push_str("<h2>Prometheus queries</h2>");
        page.push_str(&chart::grid(&charts::prometheus(report)));
        html_table(&mut page, &queries);
    }
    failures(&mut page, report);
    page.push_str(&chart::scripts());
    page.push_str("</body></html>\n");
    out.write_all(page.as_bytes())
}

/// The start time as RFC 3339 UTC, or the raw number when it is not a valid time.
pub(crate) fn started(unix_seconds: f64) -> String {
    Duration::try_from_secs_f64(unix_seconds)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .map_or_else(
            || format::decimals(unix_seconds, 3),
            |t| humantime::format_rfc3339_seconds(t).to_string(),
        )
}

/// A table whose first row is the header; cells after the first column that start with a digit
/// are right-aligned numbers.
pub(crate) fn html_table(page: &mut String, rows: &[Vec<String>]) {
    let Some((header, body)) = rows.split_first() else {
        return;
    };
    page.push_str("<table><thead><tr>");
    for cell in header {
        let _ = write!(page, "<th>{}</th>", esc(cell));
    }
    page.push_str("</tr></thead><tbody>");
    for row in body {
        page.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let numeric = i > 0 && cell.starts_with(|c: char| c.is_ascii_digit() || c == '-');
            let class = if numeric { " class=\"n\"" } else { "" };
            let _ = write!(page, "<td{class}>{}</td>", esc(cell));
        }
        page.push_str("</tr>");
    }
    page.push_str("</tbody></table>");
}

fn thresholds(page: &mut String, report: &Report) {
    if report.thresholds.is_empty() {
        return;
    }
    page.push_str("<h2>Thresholds</h2>");
    threshold_list(page, &report.thresholds, ThresholdResult::label);
}

/// A run of several profiles: each profile's scenarios and thresholds.
fn profile_sections(page: &mut String, report: &Report) {
    for section in profile_runs::sections(report) {
        let _ = write!(page, "<h2>Profile {}</h2>", esc(&section.title));
        html_table(page, &section.cells);
        if !section.thresholds.is_empty() {
            threshold_list(page, &section.thresholds, |t| t.expression.clone());
        }
    }
}

/// Threshold verdicts as a list, each named by `name`.
fn threshold_list(
    page: &mut String,
    results: &[ThresholdResult],
    name: fn(&ThresholdResult) -> String,
) {
    page.push_str("<ul>");
    for t in results {
        let class = if t.passed { "pass" } else { "fail" };
        let _ = write!(
            page,
            "<li class=\"{class}\">{} <code>{}</code>: {}</li>",
            table::mark(t.passed),
            esc(&name(t)),
            esc(&t.detail)
        );
    }
    page.push_str("</ul>");
}

fn findings_section(page: &mut String, report: &Report) {
    page.push_str("<h2>Findings</h2>");
    if report.findings.is_empty() {
        let _ = write!(page, "<p>{}</p>", esc(&findings::healthy_line(report)));
        return;
    }
    page.push_str("<ul>");
    for f in &report.findings {
        let _ = write!(
            page,
            "<li class=\"fail\"><strong>{}</strong><ul>",
            esc(&f.summary)
        );
        for line in &f.evidence {
            let _ = write!(page, "<li>{}</li>", esc(line));
        }
        let _ = write!(page, "<li>next: {}</li></ul></li>", esc(&f.next));
    }
    page.push_str("</ul>");
}

/// Load levels side by side: the stage table and the stats-endpoint fields per stage.
fn stage_tables(page: &mut String, report: &Report) {
    if report.stages.len() < 2 {
        return;
    }
    page.push_str("<h2>Stages</h2>");
    html_table(page, &stage_table::cells(&report.stages));
    let stats = stage_table::stats_cells(&report.stages);
    if !stats.is_empty() {
        page.push_str("<p>Stats endpoint per stage (mean of the polls):</p>");
        html_table(page, &stats);
    }
}

fn grades_section(page: &mut String, grades: &Grades) {
    let _ = write!(page, "<h2>Score: {}</h2>", esc(&grades.score.to_string()));
    html_table(page, &grades.score.cells());
    page.push_str("<h2>Grades</h2>");
    let mut rows = vec![vec!["Signal".into(), "Value".into(), "Grade".into()]];
    rows.extend(grades.signals.iter().map(|g| {
        let name = g.signal.name().to_string();
        vec![name, g.signal.show(g.value), g.grade.to_string()]
    }));
    html_table(page, &rows);
}

fn failures(page: &mut String, report: &Report) {
    if report.failures.is_empty() {
        return;
    }
    page.push_str("<h2>Failures</h2>");
    let with_target = table::several_targets(report);
    let mut rows = vec![
        ["Scenario", "Method", "Reason", "Message", "Count"]
            .map(String::from)
            .to_vec(),
    ];
    rows.extend(report.failures.iter().map(|f| {
        vec![
            table::scenario_label(with_target, &f.target, &f.name()),
            f.method.clone(),
            f.reason.clone(),
            f.message.clone(),
            f.occurrences.to_string(),
        ]
    }));
    html_table(page, &rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{BreakingPoint, BreakingStep};
    use crate::report::testing;

    fn rendered(report: &Report) -> String {
        crate::report::rendered_with(report, render)
    }

    /// The chart data blocks of a page, parsed.
    fn chart_data(html: &str) -> Vec<serde_json::Value> {
        html.split("<script type=\"application/json\" class=\"sx-charts\">")
            .skip(1)
            .flat_map(|block| {
                let json = block.split("</script>").next().unwrap();
                let page: serde_json::Value = serde_json::from_str(json).unwrap();
                page["charts"].as_array().unwrap().clone()
            })
            .collect()
    }

    #[test]
    fn the_page_is_self_contained_with_every_chart() {
        let report = testing::report();
        let html = rendered(&report);
        let charts = chart_data(&html);
        let ids: Vec<&str> = charts.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, testing::chart_ids(false));
        for id in &ids {
            assert!(html.contains(&format!("<div class=\"sx-chart\" id=\"{id}\"></div>")));
        }
        // uPlot and our script inline, nothing loaded from anywhere.
        assert_eq!(html.matches("<script>").count(), 2);
        assert!(!html.contains("<link") && !html.contains("src="));
        assert!(html.contains("started 2023-11-14T22:13:20Z"), "{html}");
        assert!(html.contains("<td>Total</td><td class=\"n\">600</td>"));

        // Each scenario's requests per second, interval by interval, from the samples: one
        // request every 1/60 s, scenarios in turn, so 20 per second each.
        let rps = &charts[5];
        assert_eq!(rps["series"].as_array().unwrap().len(), 3);
        assert_eq!(rps["series"][1]["label"], "api/search");
        assert_eq!(rps["series"][1]["values"][4], 20.0);
        assert_eq!(rps["xs"][0], 0.5, "an interval is plotted at its middle");
        assert_eq!(rps["x"]["max"], 10.0);
        // Failures by reason: sample i fails with http_status when i % 37 == 0 and with timeout
        // when i % 37 == 18; interval 0 holds samples 0..60.
        let reasons = &charts[3];
        assert_eq!(reasons["series"][0]["label"], "http_status");
        assert_eq!(reasons["series"][0]["values"][0], 2.0);
        assert_eq!(reasons["series"][1]["label"], "timeout");
        assert_eq!(reasons["series"][1]["values"][0], 2.0);
        // The profile's one stage is shaded.
        assert_eq!(
            charts[0]["bands"],
            serde_json::json!([{"from": 0.0, "to": 10.0, "label": "to 10 users"}])
        );
    }

    #[test]
    fn the_last_partial_interval_is_charted_per_its_length() {
        let mut report = testing::report();
        report.timeline[9].duration_seconds = Some(0.5);
        report.duration_seconds = 9.5;
        let charts = chart_data(&rendered(&report));
        let rps = &charts[0];
        let requests = report.timeline[9].requests as f64;
        assert_eq!(rps["series"][0]["values"][9], requests / 0.5);
        assert_eq!(rps["xs"][9], 9.25);
        assert_eq!(rps["x"]["max"], 9.5);
    }

    #[test]
    fn thresholds_are_lines_on_the_chart_they_limit() {
        let mut report = testing::report();
        for expression in [
            "p95 < 80ms",
            "search: p99 < 0.1s",
            "error_rate < 5%",
            "requests > 5",
        ] {
            report
                .thresholds
                .push(crate::report::model::ThresholdResult {
                    expression: expression.into(),
                    measured: None,
                    passed: true,
                    detail: String::new(),
                    profile: None,
                });
        }
        let charts = chart_data(&rendered(&report));
        let lines = |id: &str| charts.iter().find(|c| c["id"] == id).unwrap()["lines"].clone();
        assert_eq!(
            lines("chart-latency"),
            serde_json::json!([{"value": 0.08, "label": "p95 < 80ms"}])
        );
        assert_eq!(
            lines("chart-latency-s1"),
            serde_json::json!([{"value": 0.1, "label": "search: p99 < 0.1s"}])
        );
        assert_eq!(lines("chart-latency-s0"), serde_json::Value::Null);
        assert_eq!(
            lines("chart-errors"),
            serde_json::json!([{"value": 0.05, "label": "error_rate < 5%"}])
        );
    }

    #[test]
    fn report_text_is_escaped() {
        let mut report = testing::report();
        report.scenarios[0].scenario = "<img src=x onerror=alert(1)>".into();
        report.failures[0].message = "got \"<b>\" & more".into();
        let html = rendered(&report);
        assert!(!html.contains("<img"), "unescaped name");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("got &quot;&lt;b&gt;&quot; &amp; more"));
    }

    #[test]
    fn a_breaking_point_run_draws_its_curve() {
        let mut report = testing::report();
        let step = |rate: f64, p95: f64, passed| BreakingStep {
            target_rate: rate,
            achieved_rate: rate,
            p95_seconds: Some(p95),
            error_ratio: Some(0.0),
            passed,
        };
        report.breaking_point = Some(BreakingPoint {
            model: crate::report::model::LoadModel::Open,
            highest_passing_rate: Some(200.0),
            breaking_rate: Some(300.0),
            first_broken: Some("p95 < 200ms".into()),
            steps: vec![
                step(100.0, 0.05, true),
                step(200.0, 0.1, true),
                step(300.0, 0.4, false),
            ],
        });
        let html = rendered(&report);
        assert!(
            html.contains(
                "highest rate that held: 200 req/s; broke at 300 req/s on p95 &lt; 200ms"
            ),
            "{html}"
        );
        let ids: Vec<serde_json::Value> =
            chart_data(&html).iter().map(|c| c["id"].clone()).collect();
        assert!(ids.contains(&"chart-breaking-latency".into()), "{ids:?}");
        assert_eq!(started(-1.0), "-1");
    }
}
