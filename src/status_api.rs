//! `GET /api/v1/history`: every target's and scenario's last hour in one-minute points (p95,
//! requests, failures, error ratio) with the objectives to compare them with, as JSON. The
//! status page embeds the same document for its charts; dashboards and scripts can read it too.
//!
//! Shape (times are Unix seconds, latencies seconds, ratios 0–1; `null` where a minute had no
//! request, so a chart shows a gap rather than a zero):
//! `{"interval_seconds": 60, "targets": [{"name", "objectives": {"p95_seconds", "error_ratio"},
//! "scenarios": [{"name", "points": [{"start", "complete", "requests", "failures",
//! "p95_seconds", "error_ratio"}]}]}]}`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::metrics::history::{DatedPoint, POINT_LENGTH};
use crate::metrics::status::{StatusSnapshot, TargetStatus};
use crate::scenario::Objectives;

/// The whole document.
#[derive(Debug, Serialize)]
pub struct HistoryDocument<'a> {
    /// Length of one point.
    pub interval_seconds: u64,
    /// Targets in config order.
    pub targets: Vec<TargetHistory<'a>>,
}

/// One target's scenarios and objectives.
#[derive(Debug, Serialize)]
pub struct TargetHistory<'a> {
    /// Target name.
    pub name: &'a str,
    /// The lines the charts draw.
    pub objectives: ChartObjectives,
    /// Scenarios in config order.
    pub scenarios: Vec<ScenarioHistory<'a>>,
}

/// The objectives a p95 and an error-ratio chart can show.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct ChartObjectives {
    /// `objectives.p95`, seconds.
    pub p95_seconds: Option<f64>,
    /// `objectives.error_ratio`, else the error budget of `objectives.availability`.
    pub error_ratio: Option<f64>,
}

impl ChartObjectives {
    /// The chartable part of a target's objectives.
    pub fn of(objectives: &Objectives) -> ChartObjectives {
        ChartObjectives {
            p95_seconds: objectives
                .latency
                .iter()
                .find(|(q, _)| (*q - 0.95).abs() < 1e-9)
                .map(|(_, limit)| limit.as_secs_f64()),
            error_ratio: objectives
                .error_ratio
                .or(objectives.availability.map(|a| 1.0 - a)),
        }
    }
}

/// One scenario's points.
#[derive(Debug, Serialize)]
pub struct ScenarioHistory<'a> {
    /// Scenario name.
    pub name: &'a str,
    /// Oldest first; the last one is the minute in progress.
    pub points: Vec<PointJson>,
}

/// One minute.
#[derive(Debug, Serialize, PartialEq)]
pub struct PointJson {
    /// Start of the minute, Unix seconds.
    pub start: u64,
    /// False for the minute in progress.
    pub complete: bool,
    /// Requests finished in the minute.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// 95th percentile latency, seconds.
    pub p95_seconds: Option<f64>,
    /// Failed share.
    pub error_ratio: Option<f64>,
}

impl From<&DatedPoint> for PointJson {
    fn from(dated: &DatedPoint) -> PointJson {
        let point = &dated.point;
        PointJson {
            start: unix_seconds(dated.start),
            complete: dated.complete,
            requests: point.requests,
            failures: point.failures,
            p95_seconds: point.p95.map(|d| d.as_secs_f64()),
            error_ratio: point.error_ratio(),
        }
    }
}

/// The document of `snapshot`.
pub fn history(snapshot: &StatusSnapshot) -> HistoryDocument<'_> {
    HistoryDocument {
        interval_seconds: POINT_LENGTH.as_secs(),
        targets: snapshot.targets.iter().map(target_history).collect(),
    }
}

fn target_history(target: &TargetStatus) -> TargetHistory<'_> {
    TargetHistory {
        name: &target.name,
        objectives: ChartObjectives::of(&target.objectives),
        scenarios: target
            .scenarios
            .iter()
            .map(|scenario| ScenarioHistory {
                name: &scenario.name,
                points: scenario.history.iter().map(PointJson::from).collect(),
            })
            .collect(),
    }
}

/// The document as JSON text.
pub fn history_json(snapshot: &StatusSnapshot) -> String {
    // Plain numbers, strings and options: serialising cannot fail.
    serde_json::to_string(&history(snapshot)).unwrap_or_else(|_| "{}".to_string())
}

/// Whole seconds since the epoch (0 before it).
pub(crate) fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_error_line_falls_back_to_the_availability_budget() {
        let mut objectives = Objectives {
            latency: vec![
                (0.99, Duration::from_millis(300)),
                (0.95, Duration::from_millis(80)),
            ],
            availability: Some(0.999),
            ..Objectives::default()
        };
        let lines = ChartObjectives::of(&objectives);
        assert_eq!(lines.p95_seconds, Some(0.08));
        assert!((lines.error_ratio.unwrap() - 0.001).abs() < 1e-12);
        objectives.error_ratio = Some(0.02);
        objectives.latency.remove(1);
        let lines = ChartObjectives::of(&objectives);
        assert_eq!((lines.p95_seconds, lines.error_ratio), (None, Some(0.02)));
    }
}
