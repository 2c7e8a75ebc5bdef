//! The trend as a terminal table, as Markdown (a CI comment or a wiki page) and as JSON (for
//! tools): the runs, then per scenario its signals run by run with the change from the run
//! before, then the degradations (or one line saying there is none).

use std::io::{self, Write};

use super::super::format;
use super::super::html::started;
use super::super::markdown::{escape, write_table};
use super::degradation::Metric;
use super::{ScenarioTrend, Trend};

/// The runs table, header first.
pub fn run_cells(trend: &Trend) -> Vec<Vec<String>> {
    let mut rows = vec![
        ["#", "Started (UTC)", "Tool", "Profile", "Length", "Run"]
            .map(String::from)
            .to_vec(),
    ];
    rows.extend(trend.runs.iter().enumerate().map(|(i, run)| {
        vec![
            (i + 1).to_string(),
            started(run.started_at),
            serde_plain(&run.tool),
            run.profile.clone(),
            format::duration(run.duration_seconds),
            run.name.clone(),
        ]
    }));
    rows
}

/// A unit enum's serialised name (`synthex`, `locust`).
fn serde_plain(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One scenario's table, header first: per run its requests and each signal with the change
/// from the scenario's previous run (relative; in percentage points for the error ratio).
pub fn scenario_cells(scenario: &ScenarioTrend) -> Vec<Vec<String>> {
    let mut header = vec!["#".to_string(), "Requests".to_string()];
    for metric in Metric::ALL {
        header.push(metric.name().to_string());
        header.push("change".to_string());
    }
    let mut rows = vec![header];
    let dash = || "-".to_string();
    for (i, point) in scenario.points.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| &scenario.points[j]);
        let mut row = vec![point.run.to_string(), point.requests.to_string()];
        for metric in Metric::ALL {
            let now = metric.of(point);
            row.push(now.map_or_else(dash, |v| metric.show(v)));
            let change = match (before.and_then(|b| metric.of(b)), now) {
                (Some(b), Some(n)) => change(metric, b, n),
                _ => dash(),
            };
            row.push(change);
        }
        rows.push(row);
    }
    rows
}

/// The change of a signal between two runs: `+12.5%`, `-3%`, or `+0.4 pt` for a ratio.
fn change(metric: Metric, before: f64, after: f64) -> String {
    let signed = |v: f64, text: String| if v > 0.0 { format!("+{text}") } else { text };
    match metric {
        Metric::ErrorRatio => {
            let points = (after - before) * 100.0;
            signed(points, format!("{} pt", format::decimals(points, 2)))
        }
        Metric::P95 | Metric::Rps => match format::ratio(after - before, before) {
            Some(relative) => signed(relative, format::percent(relative)),
            None => "-".to_string(),
        },
    }
}

/// Column alignment of [`scenario_cells`].
const SCENARIO_ALIGN: &str = "rrrrrrrr";

/// The headline: how many runs, from when to when.
fn headline(trend: &Trend) -> String {
    match (trend.runs.first(), trend.runs.last()) {
        (Some(first), Some(last)) => format!(
            "{} runs from {} to {}",
            trend.runs.len(),
            started(first.started_at),
            started(last.started_at)
        ),
        _ => "no runs".to_string(),
    }
}

/// The verdict line when nothing degraded.
fn steady_line(trend: &Trend) -> String {
    format!(
        "No degradation: {} (at least {} runs needed).",
        trend.rule.describe(),
        trend.rule.runs + 1
    )
}

/// Writes the terminal table.
pub fn text(trend: &Trend, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "synthex trend: {}\n", headline(trend))?;
    for line in format::align(&run_cells(trend), "rlllrl") {
        writeln!(out, "  {line}")?;
    }
    for scenario in &trend.scenarios {
        writeln!(out, "\n{}", scenario.name)?;
        for line in format::align(&scenario_cells(scenario), SCENARIO_ALIGN) {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out)?;
    if trend.degradations.is_empty() {
        writeln!(out, "{}", steady_line(trend))?;
    } else {
        writeln!(out, "Degradations ({}):", trend.rule.describe())?;
        for d in &trend.degradations {
            writeln!(out, "  ! {}", d.summary)?;
        }
    }
    Ok(())
}

/// Writes the Markdown page.
pub fn markdown(trend: &Trend, out: &mut impl Write) -> io::Result<()> {
    let mark = if trend.degradations.is_empty() {
        "✅"
    } else {
        "❌"
    };
    writeln!(out, "## synthex trend: {mark} {}\n", headline(trend))?;
    if trend.degradations.is_empty() {
        writeln!(out, "{}\n", steady_line(trend))?;
    } else {
        writeln!(out, "### Degradations\n")?;
        writeln!(out, "Rule: {}.\n", trend.rule.describe())?;
        for d in &trend.degradations {
            writeln!(out, "- ❌ {}", escape(&d.summary))?;
        }
        writeln!(out)?;
    }
    writeln!(out, "### Runs\n")?;
    write_table(out, &run_cells(trend), "rlllrl")?;
    for scenario in &trend.scenarios {
        writeln!(out, "### {}\n", escape(&scenario.name))?;
        write_table(out, &scenario_cells(scenario), SCENARIO_ALIGN)?;
    }
    Ok(())
}

/// Writes the JSON document: the [`Trend`] as it is.
pub fn json(trend: &Trend, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, trend)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_relative_or_in_points() {
        assert_eq!(change(Metric::P95, 0.02, 0.025), "+25%");
        assert_eq!(change(Metric::Rps, 100.0, 90.0), "-10%");
        assert_eq!(change(Metric::P95, 0.0, 0.01), "-");
        assert_eq!(change(Metric::ErrorRatio, 0.01, 0.015), "+0.5 pt");
        assert_eq!(change(Metric::ErrorRatio, 0.01, 0.01), "0 pt");
    }
}
