//! A run cut into its plan's stages: per stage, the planned level and what the timeline
//! intervals falling in it measured. The findings compare stages (where p95 first doubled,
//! where throughput stopped growing) and the Prometheus table shows min/avg/max per stage.

use super::model::{LatencyHistogram, Report};

/// One stage of the plan with what was measured during it.
#[derive(Debug, Clone)]
pub struct StageWindow {
    /// 1-based stage number in the plan (stages of zero length included in the count).
    pub number: usize,
    /// Seconds since the start where the stage starts.
    pub start: f64,
    /// Where it ends (the run's end for the last stage of an interrupted run).
    pub end: f64,
    /// Planned level at the stage's end: users (closed) or requests/s (open).
    pub level: f64,
    /// Mean planned level over the stage (a ramp's midpoint).
    pub mean_level: f64,
    /// Requests finished in the stage.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Latency of the stage's requests.
    pub latency: LatencyHistogram,
}

impl StageWindow {
    /// Finished requests per second over the stage.
    pub fn throughput(&self) -> f64 {
        let length = self.end - self.start;
        if length > 0.0 {
            self.requests as f64 / length
        } else {
            0.0
        }
    }

    /// The stage's p95 latency, seconds.
    pub fn p95(&self) -> Option<f64> {
        self.latency.quantile(0.95).map(|d| d.as_secs_f64())
    }

    /// Whether a moment (seconds since the start) falls in the stage.
    pub fn holds(&self, offset: f64) -> bool {
        offset >= self.start && offset < self.end
    }
}

/// The stages of the run that have a length and started before the run ended; a timeline
/// interval belongs to the stage holding its midpoint.
pub fn windows(report: &Report) -> Vec<StageWindow> {
    let mut out = Vec::new();
    let (mut start, mut from) = (0.0, 0.0);
    for (i, stage) in report.plan.stages.iter().enumerate() {
        let end = (start + stage.duration_seconds).min(report.duration_seconds);
        if stage.duration_seconds > 0.0 && start < report.duration_seconds {
            let mut window = StageWindow {
                number: i + 1,
                start,
                end,
                level: stage.target,
                mean_level: (from + stage.target) / 2.0,
                requests: 0,
                failures: 0,
                latency: LatencyHistogram::new(),
            };
            let half = report.timeline_interval_seconds / 2.0;
            let within = |offset: f64| offset >= start && offset < end;
            for interval in report
                .timeline
                .iter()
                .filter(|i| within(i.offset_seconds + half))
            {
                window.requests += interval.requests;
                window.failures += interval.failures;
                window.latency.merge(&interval.latency);
            }
            out.push(window);
        }
        start += stage.duration_seconds;
        from = stage.target;
    }
    out
}
