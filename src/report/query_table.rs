//! The Prometheus queries of a run as a table: per query, min / avg / max over the whole run
//! and per stage of the plan, with how many evaluations gave no value and why (a missing value
//! is shown as missing, never as 0).

use super::format;
use super::model::{QuerySeries, Report};
use super::stage_table;

/// Header of the table.
const HEADER: [&str; 7] = [
    "Query",
    "Stage",
    "Min",
    "Avg",
    "Max",
    "Missing",
    "Why missing",
];

/// The table's rows, header first; only the header when the run read no query.
pub fn cells(report: &Report) -> Vec<Vec<String>> {
    let mut rows = vec![HEADER.map(String::from).to_vec()];
    let windows = stage_table::stages(report);
    for series in &report.prometheus {
        rows.push(row(series, "all", |_| true));
        if windows.len() > 1 {
            for w in &windows {
                let stage = format!(
                    "{} (level {})",
                    w.span.number,
                    format::decimals(w.span.to, 1)
                );
                rows.push(row(series, &stage, |offset| w.span.holds(offset)));
            }
        }
    }
    rows
}

fn row(series: &QuerySeries, stage: &str, within: impl Fn(f64) -> bool) -> Vec<String> {
    let samples: Vec<_> = series
        .samples
        .iter()
        .filter(|s| within(s.offset_seconds))
        .collect();
    let values: Vec<f64> = samples.iter().filter_map(|s| s.value).collect();
    let missing = samples.len() - values.len();
    let why = samples
        .iter()
        .find_map(|s| s.problem.clone())
        .unwrap_or_default();
    let show = |v: Option<f64>| v.map_or("–".to_string(), |v| format::decimals(v, 3));
    let min = values.iter().copied().reduce(f64::min);
    let max = values.iter().copied().reduce(f64::max);
    let avg = format::ratio(values.iter().sum(), values.len() as f64);
    vec![
        series.name.clone(),
        stage.to_string(),
        show(min),
        show(avg),
        show(max),
        format!("{missing} of {}", samples.len()),
        why,
    ]
}
