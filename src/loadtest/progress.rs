//! What a running load test shows: on a terminal a live progress bar (elapsed / total, users or
//! rate, RPS, p95, error ratio), redrawn every second; without one (CI logs) a plain line every
//! few seconds, so a log stays readable and grep-able.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::recorder::{Live, Recorder};
use crate::report::format;
use crate::report::model::LoadModel;

/// Interval between two plain progress lines.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Complete timeline intervals the live figures cover.
const RECENT_INTERVALS: usize = 5;

/// Shows progress until `stop` is cancelled; `total` is the planned length of the run.
pub async fn show(
    recorder: Arc<Recorder>,
    model: LoadModel,
    total: Duration,
    level: impl Fn() -> f64 + Send,
    stop: CancellationToken,
) {
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = ProgressBar::new(total.as_secs().max(1));
        bar.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let every = if terminal {
        Duration::from_secs(1)
    } else {
        PLAIN_EVERY
    };
    let start = recorder.start();
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let elapsed = Instant::now().saturating_duration_since(start);
        let line = line(
            elapsed,
            total,
            model,
            level(),
            &recorder.live(RECENT_INTERVALS),
        );
        match &bar {
            Some(bar) => {
                bar.set_position(elapsed.as_secs());
                bar.set_message(line);
            }
            None => eprintln!("synthex load: {line}"),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// One progress line, e.g. `0:42 / 1:10  users 10  rps 812.4  p95 12.31ms  errors 0.00%  (33108 requests)`.
pub fn line(
    elapsed: Duration,
    total: Duration,
    model: LoadModel,
    level: f64,
    live: &Live,
) -> String {
    let load = match model {
        LoadModel::Closed => format!("users {}", level.round()),
        LoadModel::Open => format!("rate {level:.1}/s"),
    };
    let p95 = live
        .recent_p95
        .map_or_else(|| "-".to_string(), |d| format::duration(d.as_secs_f64()));
    let errors = live
        .recent_error_ratio
        .map_or_else(|| "-".to_string(), format::percent);
    format!(
        "{} / {}  {load}  rps {:.1}  p95 {p95}  errors {errors}  ({} requests, {} failed)",
        clock(elapsed),
        clock(total),
        live.recent_rps,
        live.requests,
        live.failures,
    )
}

fn clock(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_time_load_rate_latency_and_errors() {
        let live = Live {
            requests: 33_108,
            failures: 3,
            recent_rps: 812.44,
            recent_p95: Some(Duration::from_micros(12_310)),
            recent_error_ratio: Some(0.0),
        };
        let text = line(
            Duration::from_secs(42),
            Duration::from_secs(70),
            LoadModel::Closed,
            10.0,
            &live,
        );
        assert!(
            text.starts_with("0:42 / 1:10  users 10  rps 812.4  p95 "),
            "{text}"
        );
        assert!(text.ends_with("(33108 requests, 3 failed)"), "{text}");
        let open = line(
            Duration::ZERO,
            Duration::from_secs(70),
            LoadModel::Open,
            50.0,
            &Live {
                recent_p95: None,
                recent_error_ratio: None,
                ..live
            },
        );
        assert!(open.contains("rate 50.0/s"), "{open}");
        assert!(open.contains("p95 -  errors -"), "{open}");
    }
}
