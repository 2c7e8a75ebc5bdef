//! `abort_on_fail`: thresholds judged live, every second, on the running totals, so a run that
//! has already failed stops there instead of loading a broken service for the rest of its
//! length (k6's `abortOnFail`; `delay` is its `delayAbortEval`).
//!
//! The watcher only decides: it cancels the run's stop token and says which threshold ended
//! it and when. The executors then end the run as for any stop (no new request starts; those
//! in flight get the grace period) and the reports are written as usual.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::report::model::{Abort, Report};
use crate::report::threshold::Threshold;

/// How often the thresholds with `abort_on_fail` are judged.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Judges the `abort_on_fail` thresholds among `thresholds` every [`CHECK_INTERVAL`] from
/// `start` until `done` is cancelled: each once its delay has gone by, on `so_far(elapsed)`
/// (the run's report up to now). The first crossed cancels `stop_run` and is returned; `None`
/// when the run ended otherwise (or no threshold has `abort_on_fail`).
pub async fn watch(
    thresholds: Vec<Threshold>,
    start: Instant,
    so_far: impl Fn(Duration) -> Report,
    stop_run: CancellationToken,
    done: CancellationToken,
) -> Option<Abort> {
    let armed: Vec<(Threshold, Duration)> = thresholds
        .into_iter()
        .filter_map(|t| t.abort_delay().map(|delay| (t, delay)))
        .collect();
    if armed.is_empty() {
        return None;
    }
    let mut ticks = tokio::time::interval_at(start + CHECK_INTERVAL, CHECK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = done.cancelled() => return None,
            () = stop_run.cancelled() => return None,
            _ = ticks.tick() => {}
        }
        let elapsed = Instant::now().saturating_duration_since(start);
        let due: Vec<&Threshold> = armed
            .iter()
            .filter(|(_, delay)| elapsed >= *delay)
            .map(|(t, _)| t)
            .collect();
        if due.is_empty() {
            continue;
        }
        let report = so_far(elapsed);
        if let Some(result) = due.iter().find_map(|t| t.crossed(&report)) {
            tracing::warn!(
                threshold = %result.expression,
                detail = %result.detail,
                "abort_on_fail: threshold crossed, stopping the load test"
            );
            stop_run.cancel();
            return Some(Abort {
                threshold: result.expression,
                offset_seconds: elapsed.as_secs_f64(),
                detail: result.detail,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{LatencyHistogram, LoadModel, ScenarioStats};
    use crate::report::testing;
    use std::sync::{Arc, Mutex};

    /// A run whose requests and failures so far the test sets: `(requests, failures)`.
    fn report_of(counts: (u64, u64), elapsed: Duration) -> Report {
        let mut stats: ScenarioStats = testing::report().scenarios[0].clone();
        stats.requests = counts.0;
        stats.failures = counts.1;
        stats.latency = LatencyHistogram::new();
        stats
            .latency
            .record_n_at(Duration::from_millis(10), counts.0);
        Report::of_scenarios("t", LoadModel::Closed, vec![stats], elapsed.as_secs_f64())
    }

    fn armed(text: &str, delay: Duration) -> Threshold {
        text.parse::<Threshold>()
            .unwrap()
            .with_abort(delay)
            .unwrap()
    }

    /// Runs the watcher over a run whose totals `counts` holds; returns its verdict and when
    /// it returned, in paused time since the start.
    async fn run(
        thresholds: Vec<Threshold>,
        counts: Arc<Mutex<(u64, u64)>>,
        done_after: Duration,
    ) -> (Option<Abort>, Duration, bool) {
        let start = Instant::now();
        let (stop, done) = (CancellationToken::new(), CancellationToken::new());
        let ender = done.clone();
        tokio::spawn(async move {
            tokio::time::sleep(done_after).await;
            ender.cancel();
        });
        let so_far = move |elapsed| report_of(*counts.lock().unwrap(), elapsed);
        let abort = watch(thresholds, start, so_far, stop.clone(), done).await;
        (abort, start.elapsed(), stop.is_cancelled())
    }

    #[tokio::test(start_paused = true)]
    async fn a_crossed_threshold_stops_the_run_at_the_next_check() {
        let counts = Arc::new(Mutex::new((100, 0)));
        let setter = Arc::clone(&counts);
        tokio::spawn(async move {
            // Failures start at 3.5 s: the check at 4 s sees them.
            tokio::time::sleep(Duration::from_millis(3500)).await;
            *setter.lock().unwrap() = (120, 20);
        });
        let thresholds = vec![
            "p95 < 1s".parse().unwrap(),
            armed("error_rate < 10%", Duration::ZERO),
        ];
        let (abort, at, stopped) = run(thresholds, counts, Duration::from_secs(60)).await;
        let abort = abort.expect("aborted");
        assert!(stopped);
        assert_eq!(at, Duration::from_secs(4));
        assert_eq!(abort.offset_seconds, 4.0);
        assert_eq!(abort.threshold, "error_rate < 10%");
        assert_eq!(abort.detail, "error_rate 16.67% is 6.67% over 10%");
    }

    #[tokio::test(start_paused = true)]
    async fn no_decision_before_the_delay() {
        // Failing from the start; the delay of 5.5 s makes the check at 6 s the first.
        let counts = Arc::new(Mutex::new((10, 10)));
        let thresholds = vec![armed("error_rate < 1%", Duration::from_millis(5500))];
        let (abort, at, _) = run(thresholds, counts, Duration::from_secs(60)).await;
        assert_eq!(abort.unwrap().offset_seconds, 6.0);
        assert_eq!(at, Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn thresholds_without_abort_on_fail_or_data_never_stop_the_run() {
        // Failing all along, but without abort_on_fail.
        let failing = Arc::new(Mutex::new((10, 10)));
        let plain = vec!["error_rate < 1%".parse().unwrap()];
        let (abort, at, stopped) = run(plain, failing, Duration::from_secs(30)).await;
        assert_eq!((abort, stopped), (None, false));
        assert_eq!(at, Duration::ZERO, "nothing to watch: returns at once");
        // abort_on_fail, but no request to measure yet: not crossed, until the run ends.
        let nothing = Arc::new(Mutex::new((0, 0)));
        let on_nothing = vec![armed("p95 < 1ms", Duration::ZERO)];
        let (abort, at, stopped) = run(on_nothing, nothing, Duration::from_millis(9500)).await;
        assert_eq!((abort, stopped), (None, false));
        assert_eq!(at, Duration::from_millis(9500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_threshold_held_at_its_edge_does_not_stop_the_run() {
        // 10% errors against `< 10%` fails; `<= 10%` holds at exactly 10%.
        let counts = Arc::new(Mutex::new((100, 10)));
        let held = vec![armed("error_rate <= 10%", Duration::ZERO)];
        let (abort, _, stopped) = run(held, Arc::clone(&counts), Duration::from_secs(5)).await;
        assert_eq!((abort, stopped), (None, false));
        let crossed = vec![armed("error_rate < 10%", Duration::ZERO)];
        let (abort, at, _) = run(crossed, counts, Duration::from_secs(5)).await;
        assert_eq!(abort.unwrap().offset_seconds, 1.0);
        assert_eq!(at, Duration::from_secs(1));
    }
}
