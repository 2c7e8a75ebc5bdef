//! The human-readable status page served at `/`: for each target and scenario the configured
//! rate (and the rate the target's guard allows now), the last result, window quantiles, error
//! and cache hit ratios, and the target's last failures with time, reason, message and trace id
//! (what blackbox_exporter's debug log would tell, but always there; the latest of each reason
//! too, to look the request up in the service's tracing), and when the config was loaded with
//! the last refused reload's error. With `--web.enable-lifecycle`, each target has a Pause /
//! Resume button (a form post to `/-/targets/NAME/pause|resume`), for an operator in an
//! incident.
//!
//! Each target also gets two charts of its last hour in one-minute points, one line per
//! scenario, as Gatus draws response times: p95 and error ratio, each with the target's
//! objective drawn as a line ([`crate::metrics::history`] keeps the points). One
//! self-contained HTML document: the chart library and data are inline, nothing is fetched;
//! it reloads itself every 5 s. Every value that comes from config or a response is
//! HTML-escaped.

use std::fmt::{self, Write};
use std::time::Duration;

use crate::chart::{self, Axis, Chart, Line, Unit};
use crate::html::escape;
use crate::metrics::history::{HISTORY_POINTS, POINT_LENGTH};
use crate::metrics::status::{
    FailureRecord, LastResult, ScenarioStatus, StatusSnapshot, TargetStatus,
};
use crate::status_api::{ChartObjectives, unix_seconds};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.ok{color:#17702a}.fail{color:#b00020}.muted{color:#777}";

/// Renders the page. `ready` is the daemon's readiness, shown in the header; `controls` shows
/// the pause and resume buttons (only where the lifecycle endpoints act).
pub fn render(snapshot: &StatusSnapshot, ready: bool, controls: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = write_page(&mut out, snapshot, ready, controls);
    out
}

fn write_page(
    out: &mut String,
    snapshot: &StatusSnapshot,
    ready: bool,
    controls: bool,
) -> fmt::Result {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"5\">\n<title>synthex</title>\n\
         <style>{STYLE}</style>\n{}\n</head>\n<body>",
        chart::styles()
    )?;
    writeln!(
        out,
        "<h1>synthex {}</h1>\n<p>Config <code>{}</code> · window {} · {} · \
         <a href=\"/metrics\">Metrics</a> · <a href=\"/-/healthy\">Health</a> · \
         <a href=\"/-/ready\">Readiness</a></p>",
        escape(env!("CARGO_PKG_VERSION")),
        escape(&snapshot.source.display().to_string()),
        humantime::format_duration(snapshot.window),
        if ready {
            "<span class=\"ok\">ready</span>"
        } else {
            "<span class=\"fail\">not ready</span>"
        },
    )?;
    write_config(out, snapshot)?;
    for (index, target) in snapshot.targets.iter().enumerate() {
        write_target(out, index, target, controls)?;
    }
    writeln!(out, "{}\n</body>\n</html>", chart::scripts())
}

/// When the running config was loaded, and the last refused reload while it is the latest.
fn write_config(out: &mut String, snapshot: &StatusSnapshot) -> fmt::Result {
    writeln!(
        out,
        "<p>Config loaded {}</p>",
        humantime::format_rfc3339_seconds(snapshot.config.loaded_at)
    )?;
    if let Some(failure) = &snapshot.config.last_error {
        writeln!(
            out,
            "<p class=\"fail\">Last reload failed at {}; the configuration loaded before keeps \
             running:</p>\n<pre>{}</pre>",
            humantime::format_rfc3339_seconds(failure.at),
            escape(&failure.message),
        )?;
    }
    Ok(())
}

fn write_target(
    out: &mut String,
    index: usize,
    target: &TargetStatus,
    controls: bool,
) -> fmt::Result {
    writeln!(
        out,
        "<h2>{}</h2>\n<p><code>{}</code> · rate {} · {} · window error ratio {} · \
         window cache hit ratio {}</p>",
        escape(&target.name),
        escape(&target.origin),
        rate(target.rate_per_second),
        effective(target),
        ratio(target.counts.error_ratio()),
        ratio(target.counts.cache_hit_ratio()),
    )?;
    if controls {
        let (action, label) = if target.paused {
            ("resume", "Resume traffic")
        } else {
            ("pause", "Pause traffic")
        };
        writeln!(
            out,
            "<form method=\"post\" action=\"/-/targets/{}/{action}\"><button>{label}</button></form>",
            // Target names are URL-safe (letters, digits, `_`, `.`, `-`).
            escape(&target.name),
        )?;
    }
    writeln!(out, "{}", chart::grid(&history_charts(index, target)))?;
    writeln!(
        out,
        "<table>\n<tr><th>Scenario</th><th>Rate</th><th>Last result</th><th>p50</th>\
         <th>p95</th><th>p99</th><th>Requests (window)</th><th>Error ratio</th>\
         <th>Cache hit ratio</th></tr>"
    )?;
    for scenario in &target.scenarios {
        write_scenario(out, scenario)?;
    }
    writeln!(out, "</table>")?;
    write_failures(out, target)
}

/// The target's p95 and error-ratio charts over the last hour: one line per scenario on the
/// same minutes, a gap where a scenario had no request, and the objective as a line.
fn history_charts(index: usize, target: &TargetStatus) -> [Chart; 2] {
    let mut xs: Vec<u64> = target
        .scenarios
        .iter()
        .flat_map(|s| s.history.iter().map(|p| unix_seconds(p.start)))
        .collect();
    xs.sort_unstable();
    xs.dedup();
    let last = xs.last().copied().unwrap_or(0) + POINT_LENGTH.as_secs();
    let first = last.saturating_sub(POINT_LENGTH.as_secs() * (HISTORY_POINTS as u64 + 1));
    let x = Axis::clock(first as f64, last as f64);
    let objectives = ChartObjectives::of(&target.objectives);
    let mut p95 = Chart::new(
        format!("target-{index}-p95"),
        format!("{}: p95 latency, last hour", target.name),
        x,
        Axis::of(Unit::Seconds),
    )
    .with_points()
    .xs(xs.iter().map(|&x| x as f64).collect());
    let mut errors = Chart::new(
        format!("target-{index}-errors"),
        format!("{}: error ratio, last hour", target.name),
        x,
        Axis::of(Unit::Ratio),
    )
    .with_points()
    .xs(xs.iter().map(|&x| x as f64).collect());
    for scenario in &target.scenarios {
        let at = |start: u64| {
            scenario
                .history
                .iter()
                .find(|p| unix_seconds(p.start) == start)
        };
        p95 = p95.series(
            &scenario.name,
            xs.iter()
                .map(|&x| at(x).and_then(|p| p.point.p95).map(|d| d.as_secs_f64()))
                .collect(),
        );
        errors = errors.series(
            &scenario.name,
            xs.iter()
                .map(|&x| at(x).and_then(|p| p.point.error_ratio()))
                .collect(),
        );
    }
    if let Some(limit) = objectives.p95_seconds {
        p95 = p95.lines(vec![Line {
            value: limit,
            label: format!(
                "objective {}",
                latency(Some(Duration::from_secs_f64(limit)))
            ),
        }]);
    }
    if let Some(limit) = objectives.error_ratio {
        errors = errors.lines(vec![Line {
            value: limit,
            label: format!("objective {}", ratio(Some(limit))),
        }]);
    }
    [p95, errors]
}

fn write_scenario(out: &mut String, scenario: &ScenarioStatus) -> fmt::Result {
    let [p50, p95, p99] = scenario.quantiles;
    writeln!(
        out,
        "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        escape(&scenario.name),
        rate(scenario.rate_per_second),
        last_result(scenario.last.as_ref()),
        latency(p50),
        latency(p95),
        latency(p99),
        scenario.counts.requests,
        ratio(scenario.counts.error_ratio()),
        ratio(scenario.counts.cache_hit_ratio()),
    )
}

fn write_failures(out: &mut String, target: &TargetStatus) -> fmt::Result {
    if target.recent_failures.is_empty() {
        let note = if target.has_result {
            "No failures since start."
        } else {
            "No results yet."
        };
        return writeln!(out, "<p class=\"muted\">{note}</p>");
    }
    writeln!(
        out,
        "<h3>Last failures of {}</h3>\n<table>\n<tr><th>Time (UTC)</th><th>Scenario</th>\
         <th>Reason</th><th>Trace id</th><th>Message</th></tr>",
        escape(&target.name)
    )?;
    for failure in &target.recent_failures {
        write_failure(out, failure, false)?;
    }
    writeln!(out, "</table>")?;
    writeln!(
        out,
        "<h3>Last failure of each reason</h3>\n<table>\n<tr><th>Reason</th><th>Time (UTC)</th>\
         <th>Scenario</th><th>Trace id</th><th>Message</th></tr>"
    )?;
    for failure in &target.last_failure_by_reason {
        write_failure(out, failure, true)?;
    }
    writeln!(out, "</table>")
}

/// One failure as a table row; `reason_first` for the per-reason table. The trace id (of the
/// request's `traceparent`) is what to search for in the service's tracing.
fn write_failure(out: &mut String, failure: &FailureRecord, reason_first: bool) -> fmt::Result {
    let reason = format!("<td class=\"fail\">{}</td>", failure.reason);
    let (first, third) = match reason_first {
        true => (reason.as_str(), ""),
        false => ("", reason.as_str()),
    };
    let trace = failure.trace_id.map_or_else(
        || "<span class=\"muted\">none</span>".to_string(),
        |id| format!("<code>{id}</code>"),
    );
    writeln!(
        out,
        "<tr>{first}<td>{}</td><td>{}</td>{third}<td>{trace}</td><td>{}</td></tr>",
        humantime::format_rfc3339_seconds(failure.at),
        escape(&failure.scenario),
        escape(&failure.message),
    )
}

fn last_result(last: Option<&LastResult>) -> String {
    let Some(last) = last else {
        return "<span class=\"muted\">none yet</span>".to_string();
    };
    let status = last
        .status
        .map_or_else(|| "no response".to_string(), |s| s.to_string());
    let verdict = match &last.failure {
        None => "<span class=\"ok\">ok</span>".to_string(),
        Some(failure) => format!(
            "<span class=\"fail\" title=\"{}\">{}</span>",
            escape(&failure.message),
            failure.reason
        ),
    };
    format!(
        "{verdict} · {status} · {} · {}",
        latency(Some(last.latency)),
        humantime::format_rfc3339_seconds(last.finished_at)
    )
}

/// What the guard allows now, flagged when it is not the configured rate.
fn effective(target: &TargetStatus) -> String {
    let now = target.effective_rate_per_second;
    if target.paused {
        "<span class=\"fail\">paused</span>".to_string()
    } else if now == 0.0 {
        "effective <span class=\"fail\">0 (Retry-After)</span>".to_string()
    } else if now < target.rate_per_second {
        format!(
            "effective <span class=\"fail\">{} (backoff)</span>",
            rate(now)
        )
    } else {
        format!("effective {}", rate(now))
    }
}

fn rate(per_second: f64) -> String {
    if per_second >= 1.0 {
        format!("{}/s", trim(per_second))
    } else {
        format!("{}/m", trim(per_second * 60.0))
    }
}

/// A number with at most 3 decimals and no trailing zeros.
fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn latency(value: Option<Duration>) -> String {
    match value {
        Some(d) => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
        None => "–".to_string(),
    }
}

fn ratio(value: Option<f64>) -> String {
    match value {
        Some(r) => format!("{:.2}%", r * 100.0),
        None => "–".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_naturally() {
        assert_eq!(rate(2.0), "2/s");
        assert_eq!(rate(12.5), "12.5/s");
        assert_eq!(rate(0.5), "30/m");
        assert_eq!(rate(1.0 / 60.0), "1/m");
    }

    #[test]
    fn missing_values_show_a_dash() {
        assert_eq!(latency(None), "–");
        assert_eq!(ratio(None), "–");
        assert_eq!(latency(Some(Duration::from_micros(12_345))), "12.3 ms");
        assert_eq!(ratio(Some(0.0123)), "1.23%");
    }
}
