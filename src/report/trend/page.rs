//! The trend as one offline HTML page: the verdict, the runs, and per scenario its table and
//! three charts over the runs (p95, error ratio, requests/s; x is the run number, a run the
//! scenario did not run in is a gap), a degraded stretch shaded. Charts are drawn by the
//! vendored uPlot through [`crate::chart`]; every text from the reports is escaped.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::super::html::{STYLE, html_table};
use super::degradation::{Kind, Metric};
use super::render::{run_cells, scenario_cells};
use super::{ScenarioTrend, Trend};
use crate::chart::{self, Axis, Band, Chart, Unit};
use crate::html::escape as esc;

/// Writes the page of `trend` to `out`.
pub fn render(trend: &Trend, out: &mut impl Write) -> io::Result<()> {
    let mut page = String::new();
    let verdict = if trend.degradations.is_empty() {
        "no degradation"
    } else {
        "degraded"
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>synthex trend: {verdict}</title><style>{STYLE}</style>{}</head><body>\
         <h1>synthex trend: {verdict}</h1><p>{} runs. Rule: {}.</p>",
        chart::styles(),
        trend.runs.len(),
        esc(&trend.rule.describe())
    );
    if !trend.degradations.is_empty() {
        page.push_str("<div class=\"banner\"><ul>");
        for d in &trend.degradations {
            let _ = write!(page, "<li>{}</li>", esc(&d.summary));
        }
        page.push_str("</ul></div>");
    }
    page.push_str("<h2>Runs</h2>");
    html_table(&mut page, &run_cells(trend));
    for (index, scenario) in trend.scenarios.iter().enumerate() {
        let _ = write!(page, "<h2>{}</h2>", esc(&scenario.name));
        html_table(&mut page, &scenario_cells(scenario));
        page.push_str(&chart::grid(&charts(trend, index, scenario)));
    }
    page.push_str(&chart::scripts());
    page.push_str("</body></html>\n");
    out.write_all(page.as_bytes())
}

/// The three charts of one scenario: `chart-trend-s{index}-p95`, `-errors`, `-rps`.
pub fn charts(trend: &Trend, index: usize, scenario: &ScenarioTrend) -> Vec<Chart> {
    let runs = trend.runs.len();
    let xs: Vec<f64> = (1..=runs).map(|r| r as f64).collect();
    [
        (Metric::P95, "p95", Unit::Seconds),
        (Metric::ErrorRatio, "errors", Unit::Ratio),
        (Metric::Rps, "rps", Unit::Rate),
    ]
    .into_iter()
    .map(|(metric, id, unit)| {
        let mut values = vec![None; runs];
        for point in &scenario.points {
            if let Some(slot) = values.get_mut(point.run - 1) {
                *slot = metric.of(point);
            }
        }
        let bands = trend
            .degradations
            .iter()
            .filter(|d| d.scenario == scenario.name && d.metric == metric)
            .filter_map(|d| {
                let from = match d.kind {
                    Kind::Steady => d.runs.first(),
                    Kind::Drift => d.runs.get(1),
                }?;
                Some(Band {
                    from: *from as f64,
                    to: *d.runs.last()? as f64,
                    label: format!("{:?} degradation", d.kind).to_lowercase(),
                })
            })
            .collect();
        Chart::new(
            format!("chart-trend-s{index}-{id}"),
            format!("{}: {} by run", scenario.name, metric.name()),
            Axis::runs(runs),
            Axis::of(unit),
        )
        .xs(xs.clone())
        .series(scenario.name.clone(), values)
        .bands(bands)
        .with_points()
    })
    .collect()
}
