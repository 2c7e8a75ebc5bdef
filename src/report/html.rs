//! The self-contained HTML report (`report.html`): one file that opens offline, with inline CSS
//! and inline SVG charts (see [`chart`](super::chart)), no script and no external resource.
//!
//! It holds the summary table, thresholds, grades, charts over time (RPS, p50/p95/p99 from each
//! interval's histogram, error ratio, users or target rate, CPU and memory per resource series),
//! the breaking-point curve when there is one, resource usage and every failure group. All text
//! taken from the report (scenario names, messages, paths) is HTML-escaped.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use super::chart::{self, Chart, Series, Unit};
use super::findings;
use super::format::{self, escape_html as esc};
use super::grade::Grades;
use super::model::{LoadModel, Report};
use super::query_table;
use super::table::{self, HEADERS, Verdict};

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;\
color:#111;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}\
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd}\
th{text-align:left;background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.pass{color:#15803d}.fail{color:#b91c1c}.banner{background:#fee2e2;border:1px solid #b91c1c;\
padding:.6rem 1rem;font-weight:bold}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1rem}\
svg.chart{width:100%;height:auto;border:1px solid #e5e5e5}svg .grid{stroke:#eee}svg .axis{stroke:#999}\
svg text{font-size:11px;fill:#444}svg .title{font-size:13px;font-weight:bold;fill:#111}";

/// Writes the HTML report of `report` to `out`.
pub fn render(report: &Report, grades: &Grades, out: &mut impl Write) -> io::Result<()> {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>synthex load test {}: {}</title><style>{STYLE}</style></head><body>",
        esc(&report.plan.profile),
        Verdict::of(report, false)
    );
    if let Some(note) = table::interrupted_note(report) {
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
    thresholds(&mut page, report);
    findings_section(&mut page, report);
    grades_section(&mut page, grades);
    page.push_str("<h2>Over time</h2><div class=\"charts\">");
    for chart in charts(report) {
        page.push_str(&chart::svg(&chart));
    }
    page.push_str("</div>");
    if let Some(bp) = &report.breaking_point {
        let _ = write!(
            page,
            "<h2>Breaking point</h2><p>{}</p><div class=\"charts\">",
            esc(&table::breaking_point_sentence(bp))
        );
        for chart in breaking_point_charts(report) {
            page.push_str(&chart::svg(&chart));
        }
        page.push_str("</div>");
    }
    let usage = table::usage_cells(report);
    if usage.len() > 1 {
        page.push_str("<h2>Resource usage</h2>");
        html_table(&mut page, &usage);
    }
    let queries = query_table::cells(report);
    if queries.len() > 1 {
        page.push_str("<h2>Prometheus queries</h2>");
        html_table(&mut page, &queries);
    }
    failures(&mut page, report);
    page.push_str("</body></html>\n");
    out.write_all(page.as_bytes())
}

/// The start time as RFC 3339 UTC, or the raw number when it is not a valid time.
fn started(unix_seconds: f64) -> String {
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
fn html_table(page: &mut String, rows: &[Vec<String>]) {
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
    page.push_str("<h2>Thresholds</h2><ul>");
    for t in &report.thresholds {
        let class = if t.passed { "pass" } else { "fail" };
        let _ = write!(
            page,
            "<li class=\"{class}\">{} <code>{}</code>: {}</li>",
            table::mark(t.passed),
            esc(&t.expression),
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

fn grades_section(page: &mut String, grades: &Grades) {
    let _ = write!(page, "<h2>Grades: overall score {}/100</h2>", grades.score);
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
            table::scenario_label(with_target, &f.target, &f.scenario),
            f.method.clone(),
            f.reason.clone(),
            f.message.clone(),
            f.occurrences.to_string(),
        ]
    }));
    html_table(page, &rows);
}

/// The charts over time, one point per timeline interval (or resource sample).
pub fn charts(report: &Report) -> Vec<Chart> {
    let step = report.timeline_interval_seconds;
    let over_time = |f: &dyn Fn(&super::model::Interval) -> Option<f64>| -> Vec<(f64, f64)> {
        report
            .timeline
            .iter()
            .filter_map(|i| Some((i.offset_seconds, f(i)?)))
            .collect()
    };
    let series = |name: &str, points| Series {
        name: name.into(),
        points,
    };
    let per_second = |n: u64| format::ratio(n as f64, step);
    let quantile = |q: f64| over_time(&|i| i.latency.quantile(q).map(|d| d.as_secs_f64()));
    let chart = |id, title: &str, y_unit, series| Chart {
        id,
        title: title.into(),
        x_unit: Unit::Seconds,
        y_unit,
        series,
    };
    let (load_title, load) = match report.plan.model {
        LoadModel::Closed => ("Virtual users", over_time(&|i| Some(i.users as f64))),
        LoadModel::Open => (
            "Target rate (requests/s)",
            over_time(&|i| Some(i.target_rate)),
        ),
    };
    let resource = |f: &dyn Fn(&super::model::ResourceSample) -> f64| -> Vec<Series> {
        report
            .resources
            .iter()
            .map(|r| Series {
                name: table::series_label(report, r),
                points: r.samples.iter().map(|s| (s.offset_seconds, f(s))).collect(),
            })
            .collect()
    };
    let mut charts = vec![
        chart(
            "chart-rps",
            "Requests per second",
            Unit::Number,
            vec![
                series("requests/s", over_time(&|i| per_second(i.requests))),
                series("failures/s", over_time(&|i| per_second(i.failures))),
            ],
        ),
        chart(
            "chart-latency",
            "Latency",
            Unit::Seconds,
            vec![
                series("p50", quantile(0.50)),
                series("p95", quantile(0.95)),
                series("p99", quantile(0.99)),
            ],
        ),
        chart(
            "chart-errors",
            "Error ratio",
            Unit::Ratio,
            vec![series(
                "failed share",
                over_time(&|i| format::ratio(i.failures as f64, i.requests as f64)),
            )],
        ),
        chart(
            "chart-users",
            load_title,
            Unit::Number,
            vec![series(load_title, load)],
        ),
        chart("chart-cpu", "CPU", Unit::Ratio, resource(&|s| s.cpu_ratio)),
        chart(
            "chart-memory",
            "Memory",
            Unit::Bytes,
            resource(&|s| s.memory_bytes as f64),
        ),
    ];
    if !report.prometheus.is_empty() {
        // On the latency charts' time axis; an evaluation without a value leaves a gap.
        let queries = report
            .prometheus
            .iter()
            .map(|q| series(&q.name, q.values().collect()))
            .collect();
        charts.push(chart(
            "chart-prometheus",
            "Prometheus queries",
            Unit::Number,
            queries,
        ));
    }
    charts
}

/// The breaking-point curve: p95 and error ratio against the scheduled rate.
pub fn breaking_point_charts(report: &Report) -> Vec<Chart> {
    let Some(bp) = &report.breaking_point else {
        return Vec::new();
    };
    let curve = |f: &dyn Fn(&super::model::BreakingStep) -> Option<f64>| -> Vec<(f64, f64)> {
        bp.steps
            .iter()
            .filter_map(|s| Some((s.target_rate, f(s)?)))
            .collect()
    };
    let chart = |id, title: &str, y_unit, name: &str, points| Chart {
        id,
        title: title.into(),
        x_unit: Unit::Number,
        y_unit,
        series: vec![Series {
            name: name.into(),
            points,
        }],
    };
    vec![
        chart(
            "chart-breaking-latency",
            "p95 by arrival rate (requests/s)",
            Unit::Seconds,
            "p95",
            curve(&|s| s.p95_seconds),
        ),
        chart(
            "chart-breaking-errors",
            "Error ratio by arrival rate (requests/s)",
            Unit::Ratio,
            "error ratio",
            curve(&|s| s.error_ratio),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{BreakingPoint, BreakingStep};
    use crate::report::testing;

    fn rendered(report: &Report) -> String {
        crate::report::rendered_with(report, render)
    }

    #[test]
    fn the_page_is_self_contained_with_every_chart() {
        let html = rendered(&testing::report());
        for id in [
            "chart-rps",
            "chart-latency",
            "chart-errors",
            "chart-users",
            "chart-cpu",
            "chart-memory",
        ] {
            assert!(html.contains(&format!("<svg id=\"{id}\"")), "{id}");
        }
        assert_eq!(html.matches("<polyline").count(), 2 + 3 + 1 + 1 + 1 + 1);
        assert!(!html.contains("<script") && !html.contains("<link"));
        assert!(!html.contains("src=") && !html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("started 2023-11-14T22:13:20Z"), "{html}");
        assert!(html.contains("<td>Total</td><td class=\"n\">600</td>"));
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
        assert!(html.contains("<svg id=\"chart-breaking-latency\""));
        assert_eq!(started(-1.0), "-1");
    }
}
