//! `synthex compare OLD NEW --html=FILE`: the comparison as one offline page, drawn with the
//! same chart code as the run report ([`crate::chart`], [`super::super::charts`]): both runs'
//! plans side by side, the delta table with regressions highlighted, and per scenario the two
//! runs' percentile curves and throughput overlaid (baseline dashed, current solid).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{Comparison, Verdict};
use crate::chart::{self, Axis, Chart, Unit};
use crate::config::units::format_duration;
use crate::html::escape as esc;
use crate::report::charts;
use crate::report::format;
use crate::report::html::{STYLE, html_table, started};
use crate::report::model::Report;
use crate::report::table;

const COMPARE_STYLE: &str = "tr.regression td{background:#fee2e2}tr.improvement td{background:#dcfce7}\
.plans{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}";

/// Writes the comparison page of `old` (the baseline) and `new`.
pub fn render(
    old: &Report,
    new: &Report,
    comparison: &Comparison,
    out: &mut impl Write,
) -> io::Result<()> {
    let verdict = if comparison.has_regressions() {
        "regressed"
    } else {
        "no regressions"
    };
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>synthex comparison: {verdict}</title><style>{STYLE}{COMPARE_STYLE}</style>{}</head><body>\
         <h1>synthex comparison: {verdict}</h1><p>Tolerances: {}</p>",
        chart::styles(),
        esc(&comparison.tolerances_text())
    );
    plans(&mut page, old, new, comparison);
    deltas(&mut page, comparison);
    page.push_str("<h2>By scenario</h2>");
    page.push_str(&chart::grid(&overlays(old, new)));
    page.push_str(&chart::scripts());
    page.push_str("</body></html>\n");
    out.write_all(page.as_bytes())
}

/// Both plans side by side, and what differs between them.
fn plans(page: &mut String, old: &Report, new: &Report, comparison: &Comparison) {
    page.push_str("<h2>Plans</h2><div class=\"plans\">");
    for (title, report) in [("Baseline", old), ("Current", new)] {
        let stages: Vec<String> = report
            .plan
            .stages
            .iter()
            .map(|s| {
                // A stage's length is a span as the profile wrote it (`0s`, `30s`, `1m 30s`),
                // not a latency (`0µs`).
                let length = std::time::Duration::try_from_secs_f64(s.duration_seconds)
                    .map_or_else(|_| format::duration(s.duration_seconds), format_duration);
                format!("{length} → {}", format::decimals(s.target, 1))
            })
            .collect();
        let rows = vec![
            vec![title.to_string(), String::new()],
            vec!["run".into(), table::headline(report)],
            vec!["started".into(), started(report.started_at)],
            vec!["stages".into(), stages.join(", ")],
            vec!["synthex".into(), report.synthex_version.clone()],
        ];
        page.push_str("<div>");
        html_table(page, &rows);
        page.push_str("</div>");
    }
    page.push_str("</div>");
    if !comparison.plan_differences.is_empty() {
        page.push_str("<p>The runs differ:</p><ul>");
        for d in &comparison.plan_differences {
            let _ = write!(page, "<li>{}</li>", esc(d));
        }
        page.push_str("</ul>");
    }
}

/// Every compared figure, regressions first and highlighted.
fn deltas(page: &mut String, comparison: &Comparison) {
    page.push_str(
        "<h2>Changes</h2><table><thead><tr><th>Verdict</th><th>Scenario</th><th>Metric</th>\
         <th>Baseline → current (change)</th></tr></thead><tbody>",
    );
    let order = [
        Verdict::Regression,
        Verdict::Improvement,
        Verdict::Unchanged,
    ];
    for verdict in order {
        for change in comparison.changes.iter().filter(|c| c.verdict == verdict) {
            let (class, word) = match verdict {
                Verdict::Regression => ("regression", "❌ regression"),
                Verdict::Improvement => ("improvement", "✅ improvement"),
                Verdict::Unchanged => ("", "unchanged"),
            };
            let _ = write!(
                page,
                "<tr class=\"{class}\"><td>{word}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&change.scenario),
                change.metric.name(),
                esc(&change.describe())
            );
        }
    }
    page.push_str("</tbody></table>");
    for (side, names) in [
        ("baseline", &comparison.only_in_baseline),
        ("current run", &comparison.only_in_current),
    ] {
        if !names.is_empty() {
            let _ = write!(
                page,
                "<p>Only in the {side}: {}</p>",
                esc(&names.join(", "))
            );
        }
    }
}

/// Per scenario of both runs: the percentile curves overlaid, and the requests per second of
/// both over elapsed time (when the reports keep per-scenario timelines).
pub fn overlays(old: &Report, new: &Report) -> Vec<Chart> {
    let length = charts::run_length(old).max(charts::run_length(new));
    let mut out = Vec::new();
    for (index, current) in new.scenarios.iter().enumerate() {
        let Some(before) = old
            .scenarios
            .iter()
            .position(|s| s.target == current.target && s.scenario == current.scenario)
        else {
            continue;
        };
        let name = table::label(new, current);
        out.push(charts::distribution(
            &format!("chart-compare-latency-s{index}"),
            &format!("Response time: {name} (log scale)"),
            [
                ("baseline".to_string(), &old.scenarios[before].latency, true),
                ("current".to_string(), &current.latency, false),
            ]
            .into_iter(),
        ));
        if current.timeline.is_empty() || old.scenarios[before].timeline.is_empty() {
            continue;
        }
        out.push(
            Chart::new(
                format!("chart-compare-rps-s{index}"),
                format!("Requests per second: {name}"),
                Axis::elapsed(length),
                Axis::of(Unit::Rate),
            )
            .aligned(vec![
                ("baseline".into(), charts::scenario_rates(old, before)),
                ("current".into(), charts::scenario_rates(new, index)),
            ])
            .dash(0),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::{Tolerances, compare};
    use crate::report::model::StageSummary;
    use crate::report::testing;

    #[test]
    fn plan_stages_read_as_spans_not_latencies() {
        let mut old = testing::report();
        old.plan.stages = vec![
            StageSummary {
                duration_seconds: 0.0,
                target: 10.0,
                profile: None,
            },
            StageSummary {
                duration_seconds: 90.0,
                target: 10.0,
                profile: None,
            },
        ];
        let new = testing::report();
        let mut page = Vec::new();
        render(
            &old,
            &new,
            &compare(&old, &new, &Tolerances::default()),
            &mut page,
        )
        .unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains("0s → 10, 1m 30s → 10"), "{page}");
        assert!(!page.contains("0µs →"), "{page}");
    }
}
