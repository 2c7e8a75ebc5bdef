//! `GET /badge/TARGET.svg?metric=status|p95|uptime`: a small SVG badge of one target for READMEs
//! and internal status pages, in the flat style of shields.io and Gatus (grey label, coloured
//! value), served through the exporter's web config like every endpoint.
//!
//! - `status` (the default): `up` or `down` by the target's latest finished request,
//!   `paused`, or `no data` before the first result.
//! - `p95`: the 95th percentile over the quantile window, all the target's scenarios together.
//! - `uptime`: the share of successful requests over the last hour (the status page's history).
//!
//! The value is green when it meets the target's objective (`objectives.p95`;
//! `objectives.availability`, else `1 - objectives.error_ratio`, for uptime) and red when it
//! does not; blue without an objective, grey without data.

use std::fmt::Write;
use std::time::Duration;

use crate::html::escape;
use crate::metrics::status::{StatusSnapshot, TargetStatus};
use crate::report::format;
use crate::status_api::ChartObjectives;

/// What a badge shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadgeMetric {
    /// Up, down, paused.
    Status,
    /// Window p95 latency.
    P95,
    /// Successful share over the last hour.
    Uptime,
}

impl BadgeMetric {
    /// The `metric` query parameter; `None` names the default.
    pub fn parse(value: Option<&str>) -> Result<BadgeMetric, String> {
        match value {
            None | Some("status") => Ok(BadgeMetric::Status),
            Some("p95") => Ok(BadgeMetric::P95),
            Some("uptime") => Ok(BadgeMetric::Uptime),
            Some(other) => Err(format!("metric {other:?}: expected status, p95 or uptime")),
        }
    }
}

/// Badge colours, as shields.io names them.
const GREEN: &str = "#4c1";
const RED: &str = "#e05d44";
const BLUE: &str = "#007ec6";
const GREY: &str = "#9f9f9f";

/// The badge's three parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    /// Left, on grey.
    pub label: String,
    /// Right, on the colour.
    pub value: String,
    /// Fill of the value's part.
    pub colour: &'static str,
}

/// The badge of `target` for `metric`; `None` when the snapshot has no such target.
pub fn badge(snapshot: &StatusSnapshot, target: &str, metric: BadgeMetric) -> Option<Badge> {
    let target = snapshot.targets.iter().find(|t| t.name == target)?;
    Some(match metric {
        BadgeMetric::Status => status(target),
        BadgeMetric::P95 => p95(target, snapshot.window),
        BadgeMetric::Uptime => uptime(target),
    })
}

fn status(target: &TargetStatus) -> Badge {
    let latest = target
        .scenarios
        .iter()
        .filter_map(|s| s.last.as_ref())
        .max_by_key(|last| last.finished_at);
    let (value, colour) = if target.paused {
        ("paused", GREY)
    } else {
        match latest {
            None => ("no data", GREY),
            Some(last) if last.failure.is_none() => ("up", GREEN),
            Some(_) => ("down", RED),
        }
    };
    Badge {
        label: target.name.clone(),
        value: value.to_string(),
        colour,
    }
}

fn p95(target: &TargetStatus, window: Duration) -> Badge {
    let objective = ChartObjectives::of(&target.objectives).p95_seconds;
    let (value, colour) = match target.quantiles[1] {
        None => ("no data".to_string(), GREY),
        Some(p95) => {
            let seconds = p95.as_secs_f64();
            let colour = objective.map_or(BLUE, |limit| if seconds <= limit { GREEN } else { RED });
            (format::duration(seconds), colour)
        }
    };
    Badge {
        label: format!("{} p95 {}", target.name, humantime::format_duration(window)),
        value,
        colour,
    }
}

fn uptime(target: &TargetStatus) -> Badge {
    let (requests, failures) = target
        .scenarios
        .iter()
        .flat_map(|s| &s.history)
        .fold((0u64, 0u64), |(r, f), p| {
            (r + p.point.requests, f + p.point.failures)
        });
    let objective = target
        .objectives
        .availability
        .or(target.objectives.error_ratio.map(|e| 1.0 - e));
    let (value, colour) = if requests == 0 {
        ("no data".to_string(), GREY)
    } else {
        let share = (requests - failures) as f64 / requests as f64;
        let colour = objective.map_or(BLUE, |slo| if share >= slo { GREEN } else { RED });
        (percent(share), colour)
    };
    Badge {
        label: format!("{} uptime 1h", target.name),
        value,
        colour,
    }
}

/// `100%`, `99.95%`, `12.5%`: never rounded up to 100 % while a request failed.
fn percent(share: f64) -> String {
    format::percent((share * 10_000.0).floor() / 10_000.0)
}

/// Height of the badge, pixels.
const HEIGHT: u32 = 20;

/// Horizontal padding on each side of a text, pixels.
const PADDING: f64 = 6.0;

/// The badge as an SVG document. Texts are escaped; their widths are estimated from Verdana's
/// advance widths at 11 px and pinned with `textLength`, so the badge looks the same whatever
/// font the viewer substitutes.
pub fn render(badge: &Badge) -> String {
    let label_text = text_width(&badge.label);
    let value_text = text_width(&badge.value);
    let label_width = (label_text + 2.0 * PADDING).round();
    let value_width = (value_text + 2.0 * PADDING).round();
    let width = label_width + value_width;
    let label = escape(&badge.label);
    let value = escape(&badge.value);
    let mut out = String::with_capacity(1024);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{HEIGHT}\" \
         role=\"img\" aria-label=\"{label}: {value}\"><title>{label}: {value}</title>\
         <linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" \
         stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
         <clipPath id=\"r\"><rect width=\"{width}\" height=\"{HEIGHT}\" rx=\"3\" fill=\"#fff\"/>\
         </clipPath><g clip-path=\"url(#r)\"><rect width=\"{label_width}\" height=\"{HEIGHT}\" \
         fill=\"#555\"/><rect x=\"{label_width}\" width=\"{value_width}\" height=\"{HEIGHT}\" \
         fill=\"{colour}\"/><rect width=\"{width}\" height=\"{HEIGHT}\" fill=\"url(#s)\"/></g>\
         <g fill=\"#fff\" text-anchor=\"middle\" \
         font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">",
        colour = badge.colour,
    );
    for (text, centre, length) in [
        (&label, label_width / 2.0, label_text),
        (&value, label_width + value_width / 2.0, value_text),
    ] {
        let _ = write!(
            out,
            "<text x=\"{centre}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\" \
             textLength=\"{length:.0}\">{text}</text>\
             <text x=\"{centre}\" y=\"14\" textLength=\"{length:.0}\">{text}</text>"
        );
    }
    out.push_str("</g></svg>");
    out
}

/// Width of `text` in Verdana 11 px, pixels (advance widths of the common characters; others
/// count as a wide letter).
fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'I' | '.' | ',' | ':' | ';' | '!' | '|' | '\'' => 3.7,
            ' ' => 3.9,
            'f' | 'j' | 'r' | 't' | '(' | ')' | '[' | ']' | '-' | '/' => 4.9,
            'm' | 'w' | 'M' | 'W' | '%' => 10.5,
            '0'..='9' | 'a'..='z' | '_' | 'µ' => 7.0,
            'A'..='Z' => 7.6,
            _ => 8.0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_never_rounds_up_to_a_clean_record() {
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.999_95), "99.99%");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(percent(0.0), "0%");
    }

    #[test]
    fn unknown_metrics_are_refused_with_the_choices() {
        assert_eq!(BadgeMetric::parse(None), Ok(BadgeMetric::Status));
        assert_eq!(BadgeMetric::parse(Some("p95")), Ok(BadgeMetric::P95));
        assert_eq!(
            BadgeMetric::parse(Some("p99")),
            Err("metric \"p99\": expected status, p95 or uptime".to_string())
        );
    }

    #[test]
    fn the_svg_escapes_its_texts_and_fits_them() {
        let svg = render(&Badge {
            label: "a<b".to_string(),
            value: "up".to_string(),
            colour: GREEN,
        });
        assert!(svg.contains(">a&lt;b</text>"), "{svg}");
        assert!(!svg.contains("a<b"), "{svg}");
        let wide = render(&Badge {
            label: "a much longer label".to_string(),
            value: "up".to_string(),
            colour: GREEN,
        });
        let width = |svg: &str| -> f64 {
            let start = svg.find("width=\"").unwrap() + 7;
            svg[start..].split('"').next().unwrap().parse().unwrap()
        };
        assert!(width(&wide) > width(&svg) + 80.0);
    }
}
