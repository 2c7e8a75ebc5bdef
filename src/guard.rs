//! The guards that protect a target from synthex's own traffic while it is in trouble.
//!
//! A canary keeps sending at its configured rate whatever the answers, which is right for a
//! healthy service and wrong for one that is failing: synthetic requests then add load to a
//! service that cannot take it, and ignore what it says about when to come back. Each target's
//! [`Guard`] is consulted at every slot of its schedule and told every outcome:
//! - **backoff**: after `after_failures` consecutive failed requests the target's rate halves,
//!   and halves again with each further failure, down to `floor`; the first success restores
//!   the configured rate;
//! - **`Retry-After`**: a 429 or 503 that carries it holds the target until then (at most
//!   `retry_after_cap`);
//! - **pause**: an operator stops the target's traffic during an incident, and resumes it.
//!
//! The guard only ever *drops* slots of the schedule, never adds or moves one: a slowed target
//! sends every `stride`-th slot of its grid, so the configured rate stays a hard ceiling
//! whatever the guard does. Dropped slots are counted as skipped (`backoff`, `retry_after`);
//! a paused target's slots are not, since no one expects them to be sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::{GuardGauges, SkipReason};
use crate::outcome::Outcome;
use crate::scenario::{Backoff, GuardSettings, Rate, Target};

/// The guards of the running targets, by target name: what the exporter's
/// `POST /-/targets/NAME/pause|resume` acts on. The daemon keeps it current across reloads (a
/// restarted target's new guard replaces the old one, a removed target's goes), so an operator
/// always reaches the guard whose schedule is running.
#[derive(Debug, Clone, Default)]
pub struct Guards(Arc<RwLock<HashMap<String, Arc<Guard>>>>);

impl Guards {
    /// Makes `guard` the one reached under its target's name.
    pub fn insert(&self, guard: Arc<Guard>) {
        self.write().insert(guard.target.clone(), guard);
    }

    /// Forgets every target whose name `keep` refuses.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.write().retain(|name, _| keep(name));
    }

    /// The guard of target `name`, if it runs.
    pub fn get(&self, name: &str) -> Option<Arc<Guard>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Guard>>> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the guard says about one slot of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send the request.
    Send,
    /// Do not send it, and count it as skipped for this reason.
    Skip(SkipReason),
    /// The target is paused by an operator: do not send, do not count.
    Paused,
}

/// One target's guard. Shared by its schedule (which asks [`Guard::admit`]), its requests
/// (which report to [`Guard::observe`]) and the exporter (which pauses and resumes it).
#[derive(Debug)]
pub struct Guard {
    target: String,
    /// Configured requests per second.
    rate: f64,
    backoff: Option<Backoff>,
    /// The largest stride backoff may reach: the one that keeps the rate at or above the floor.
    max_stride: u64,
    retry_after_cap: Duration,
    state: Mutex<State>,
    /// `true` while an operator has paused the target; watched by in-flight requests (to stop
    /// at once) and the schedule (to start again at once).
    paused: watch::Sender<bool>,
    gauges: GuardGauges,
}

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    /// Slots dropped since the last one sent.
    skipped_since_send: u64,
    /// Set by `Retry-After`: no request before then.
    hold_until: Option<Instant>,
}

impl Guard {
    /// The guard of `target`, which keeps `gauges` current.
    pub fn for_target(target: &Target, gauges: GuardGauges) -> Guard {
        Guard::new(&target.name, target.rate, &target.guard, gauges)
    }

    /// The guard of target `name` scheduled at `rate`.
    pub fn new(name: &str, rate: Rate, settings: &GuardSettings, gauges: GuardGauges) -> Guard {
        let rate = rate.per_second;
        let backoff = settings.backoff;
        let max_stride = backoff.map_or(1, |b| {
            // The tolerance keeps a floor that divides the rate on paper (2/s and 1/30s: 60)
            // from losing a step to rounding.
            ((rate / b.floor.per_second) * (1.0 + 1e-9))
                .floor()
                .max(1.0) as u64
        });
        // The exported pause state is the target's: a reload that restarts the target's
        // schedule under the same name keeps its gauges, and so a pause.
        let paused = gauges.paused.get() == 1;
        let guard = Guard {
            target: name.to_string(),
            rate,
            backoff,
            max_stride,
            retry_after_cap: settings.retry_after_cap,
            state: Mutex::new(State::default()),
            paused: watch::Sender::new(paused),
            gauges,
        };
        guard.publish(&State::default(), Instant::now());
        guard
    }

    /// Whether the slot due now may be sent. Called once per slot, in order.
    pub fn admit(&self, now: Instant) -> Admission {
        if self.is_paused() {
            return Admission::Paused;
        }
        let mut state = self.lock();
        let admission = if state.hold_until.is_some_and(|until| now < until) {
            // A held slot counts towards the stride: the first slot after a hold longer than
            // the backoff's spacing is sent.
            state.skipped_since_send += 1;
            Admission::Skip(SkipReason::RetryAfter)
        } else if state.skipped_since_send + 1 < self.stride(state.consecutive_failures) {
            state.skipped_since_send += 1;
            Admission::Skip(SkipReason::Backoff)
        } else {
            state.skipped_since_send = 0;
            Admission::Send
        };
        self.publish(&state, now);
        admission
    }

    /// Takes the outcome of one of the target's requests into account.
    pub fn observe(&self, outcome: &Outcome, now: Instant) {
        let mut state = self.lock();
        let stride_before = self.stride(state.consecutive_failures);
        state.consecutive_failures = match outcome.is_success() {
            true => 0,
            false => state.consecutive_failures.saturating_add(1),
        };
        let stride = self.stride(state.consecutive_failures);
        if stride != stride_before {
            self.log_backoff(stride_before, stride);
        }
        if let Some(asked) = outcome.retry_after
            && !self.retry_after_cap.is_zero()
        {
            let wait = asked.min(self.retry_after_cap);
            let until = now + wait;
            if state.hold_until.is_none_or(|held| held < until) {
                tracing::info!(
                    target = %self.target,
                    code = outcome.status.unwrap_or(0),
                    wait = %humantime::format_duration(wait),
                    asked = %humantime::format_duration(asked),
                    "target asked to retry later: holding its requests"
                );
                state.hold_until = Some(until);
            }
        }
        self.publish(&state, now);
    }

    /// Stops the target's traffic: no new request starts, and those in flight are abandoned
    /// (see [`Guard::paused`]). Returns whether it was running.
    pub fn pause(&self) -> bool {
        let changed = self
            .paused
            .send_if_modified(|paused| !std::mem::replace(paused, true));
        if changed {
            tracing::warn!(target = %self.target, "target paused by an operator");
        }
        self.publish(&self.lock(), Instant::now());
        changed
    }

    /// Starts the target's traffic again. Returns whether it was paused.
    pub fn resume(&self) -> bool {
        let changed = self
            .paused
            .send_if_modified(|paused| std::mem::replace(paused, false));
        if changed {
            tracing::info!(target = %self.target, "target resumed by an operator");
        }
        self.publish(&self.lock(), Instant::now());
        changed
    }

    /// Whether an operator has paused the target.
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Resolves once the target is paused (at once if it is): a request in flight races it so
    /// that a pause stops the traffic at once.
    pub fn paused(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut watching = self.paused.subscribe();
        async move {
            // An error means the guard is gone, and with it the target: stop as well.
            let _ = watching.wait_for(|paused| *paused).await;
        }
    }

    /// Resolves once the target is running (at once if it is): the schedule waits on it while
    /// paused, so traffic restarts at once instead of at the next slot of the old grid.
    pub fn running(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut watching = self.paused.subscribe();
        async move {
            if watching.wait_for(|paused| !*paused).await.is_err() {
                // The guard is gone: never resolve, the schedule is being shut down.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The rate the guard allows as of `now`: 0 while held or paused.
    pub fn effective_rate(&self, now: Instant) -> f64 {
        self.allowed(&self.lock(), now)
    }

    fn allowed(&self, state: &State, now: Instant) -> f64 {
        let held = state.hold_until.is_some_and(|until| now < until);
        if held || self.is_paused() {
            return 0.0;
        }
        self.rate / self.stride(state.consecutive_failures) as f64
    }

    fn publish(&self, state: &State, now: Instant) {
        self.gauges.effective_rate.set(self.allowed(state, now));
        self.gauges.paused.set(i64::from(self.is_paused()));
    }

    /// One slot in `stride` is sent after `failures` consecutive failures: 1 below the
    /// threshold, then 2, 4, 8, … up to [`Guard::max_stride`].
    fn stride(&self, failures: u32) -> u64 {
        let Some(backoff) = &self.backoff else {
            return 1;
        };
        let Some(halvings) = failures
            .saturating_add(1)
            .checked_sub(backoff.after_failures)
        else {
            return 1;
        };
        if halvings == 0 {
            return 1;
        }
        1u64.checked_shl(halvings)
            .unwrap_or(u64::MAX)
            .min(self.max_stride)
    }

    fn log_backoff(&self, before: u64, after: u64) {
        let rate = |stride: u64| crate::config::units::format_rate(self.rate / stride as f64);
        if after == 1 {
            tracing::info!(target = %self.target, rate = %rate(after), "target recovered: configured rate restored");
        } else if before == 1 {
            tracing::warn!(target = %self.target, rate = %rate(after), "target keeps failing: backing off");
        } else {
            tracing::debug!(target = %self.target, rate = %rate(after), "backing off further");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    //! The guard alone, and the guard driving the real schedule ([`crate::scheduler::run`]) in
    //! paused time, against a dispatcher whose "target" answers as each test says.

    use std::future::Future;
    use std::sync::Arc;
    use std::sync::Mutex;
    use std::time::SystemTime;

    use prometheus::{Gauge, IntGauge};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    use super::*;
    use crate::outcome::{CacheResult, Failure, FailureReason, Phases};
    use crate::scheduler::{self, Dispatch, Plan};

    fn gauges() -> GuardGauges {
        GuardGauges {
            effective_rate: Gauge::new("effective", "test").unwrap(),
            paused: IntGauge::new("paused", "test").unwrap(),
        }
    }

    fn settings(after_failures: u32, floor: f64, cap: Duration) -> GuardSettings {
        GuardSettings {
            backoff: Some(Backoff {
                after_failures,
                floor: Rate { per_second: floor },
            }),
            retry_after_cap: cap,
        }
    }

    fn guard(rate: f64, settings: &GuardSettings) -> Guard {
        Guard::new("api", Rate { per_second: rate }, settings, gauges())
    }

    /// An answer of `status`: 200 succeeds, anything else fails; `retry_after` as the probe
    /// would have read it.
    fn answer(status: u16, retry_after: Option<Duration>) -> Outcome {
        Outcome {
            latency: Duration::from_millis(1),
            status: Some(status),
            retry_after,
            failure: (status != 200).then(|| Failure {
                reason: FailureReason::HttpStatus,
                message: format!("got {status}"),
            }),
            cache: CacheResult::Unknown,
            phases: Phases::default(),
            body_bytes: 0,
            cert_expiry: None,
            finished_at: SystemTime::now(),
            trace_id: None,
        }
    }

    #[test]
    fn strides_double_per_failure_past_the_threshold_up_to_the_floor() {
        // 2/s with the default floor of 1/30s: one slot in 60 at most.
        let g = guard(2.0, &GuardSettings::default());
        let strides: Vec<u64> = (0..14).map(|f| g.stride(f)).collect();
        assert_eq!(strides, [1, 1, 1, 1, 1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(g.stride(u32::MAX), 60);
        // A floor that does not divide the rate rounds the stride down: never below the floor.
        let g = guard(1.0, &settings(1, 0.3, Duration::ZERO));
        assert_eq!(g.max_stride, 3);
        // A floor at the rate, or a target without backoff, never slows down.
        assert_eq!(guard(0.5, &settings(1, 0.5, Duration::ZERO)).stride(100), 1);
        let off = GuardSettings {
            backoff: None,
            ..GuardSettings::default()
        };
        assert_eq!(guard(2.0, &off).stride(1000), 1);
    }

    #[test]
    fn failures_slow_the_target_and_the_first_success_restores_it() {
        let g = guard(4.0, &settings(2, 0.25, Duration::ZERO));
        let now = Instant::now();
        let admitted = |g: &Guard, slots: usize| -> Vec<Admission> {
            (0..slots).map(|_| g.admit(now)).collect()
        };
        g.observe(&answer(500, None), now);
        assert_eq!(
            g.gauges.effective_rate.get(),
            4.0,
            "one failure is not yet a pattern"
        );
        g.observe(&answer(500, None), now);
        assert_eq!(g.gauges.effective_rate.get(), 2.0);
        let skip = Admission::Skip(SkipReason::Backoff);
        assert_eq!(
            admitted(&g, 4),
            [skip, Admission::Send, skip, Admission::Send]
        );
        for _ in 0..10 {
            g.observe(&answer(503, None), now);
        }
        assert_eq!(g.gauges.effective_rate.get(), 0.25, "down to the floor");
        assert_eq!(admitted(&g, 16).iter().filter(|a| **a == skip).count(), 15);
        g.observe(&answer(200, None), now);
        assert_eq!(g.gauges.effective_rate.get(), 4.0);
        assert_eq!(admitted(&g, 3), [Admission::Send; 3]);
    }

    #[test]
    fn retry_after_holds_the_target_up_to_the_cap() {
        let g = guard(1.0, &settings(5, 0.1, Duration::from_secs(30)));
        let t0 = Instant::now();
        g.observe(&answer(429, Some(Duration::from_secs(10))), t0);
        assert_eq!(g.gauges.effective_rate.get(), 0.0);
        let held = Admission::Skip(SkipReason::RetryAfter);
        assert_eq!(g.admit(t0 + Duration::from_millis(9_999)), held);
        assert_eq!(g.admit(t0 + Duration::from_secs(10)), Admission::Send);
        assert_eq!(g.gauges.effective_rate.get(), 1.0);
        // An hour asked, 30 s granted; a shorter wait asked meanwhile does not shorten it.
        g.observe(&answer(503, Some(Duration::from_secs(3600))), t0);
        g.observe(&answer(503, Some(Duration::from_secs(1))), t0);
        assert_eq!(g.admit(t0 + Duration::from_millis(29_999)), held);
        assert_eq!(g.admit(t0 + Duration::from_secs(30)), Admission::Send);
        // A zero cap ignores the header.
        let deaf = guard(1.0, &settings(5, 0.1, Duration::ZERO));
        deaf.observe(&answer(429, Some(Duration::from_secs(10))), t0);
        assert_eq!(deaf.admit(t0), Admission::Send);
    }

    #[test]
    fn pause_and_resume_report_whether_they_changed_anything() {
        let g = guard(2.0, &GuardSettings::default());
        assert!(g.pause());
        assert!(!g.pause());
        assert_eq!(g.admit(Instant::now()), Admission::Paused);
        assert_eq!(
            (g.gauges.paused.get(), g.gauges.effective_rate.get()),
            (1, 0.0)
        );
        assert!(g.resume());
        assert!(!g.resume());
        assert_eq!(g.admit(Instant::now()), Admission::Send);
        assert_eq!(
            (g.gauges.paused.get(), g.gauges.effective_rate.get()),
            (0, 2.0)
        );
    }

    /// A target behind a real guard: `respond` says how it answers a request sent at a time
    /// (measured from the test's start); each answer takes 1 ms.
    struct Canary {
        guard: Guard,
        t0: Instant,
        respond: Box<dyn Fn(Duration) -> Outcome + Send + Sync>,
        sent: Mutex<Vec<Instant>>,
        skipped: Mutex<Vec<SkipReason>>,
    }

    impl Canary {
        fn new(
            guard: Guard,
            respond: impl Fn(Duration) -> Outcome + Send + Sync + 'static,
        ) -> Arc<Canary> {
            Arc::new(Canary {
                guard,
                t0: Instant::now(),
                respond: Box::new(respond),
                sent: Mutex::new(Vec::new()),
                skipped: Mutex::new(Vec::new()),
            })
        }

        /// Send times since the start, in seconds.
        fn sent(&self) -> Vec<f64> {
            let sent = self.sent.lock().unwrap();
            sent.iter()
                .map(|at| (*at - self.t0).as_secs_f64())
                .collect()
        }

        fn skipped(&self, reason: SkipReason) -> usize {
            let skipped = self.skipped.lock().unwrap();
            skipped.iter().filter(|r| **r == reason).count()
        }
    }

    impl Dispatch for Canary {
        fn admit(&self, now: Instant) -> Admission {
            self.guard.admit(now)
        }

        fn running(&self) -> impl Future<Output = ()> + Send + 'static {
            self.guard.running()
        }

        fn dispatch(
            self: &Arc<Self>,
            _scenario: usize,
            _due: Instant,
        ) -> impl Future<Output = ()> + Send + 'static {
            let now = Instant::now();
            self.sent.lock().unwrap().push(now);
            let outcome = (self.respond)(now - self.t0);
            let me = Arc::clone(self);
            async move {
                tokio::time::sleep(outcome.latency).await;
                me.guard.observe(&outcome, Instant::now());
            }
        }

        fn skipped(&self, reason: SkipReason) {
            self.skipped.lock().unwrap().push(reason);
        }
    }

    /// Runs the schedule of `canary` at `rate` with `jitter`, calling `during` while it runs.
    async fn schedule<F: Future<Output = ()>>(
        canary: &Arc<Canary>,
        rate: f64,
        jitter: f64,
        during: F,
    ) {
        let plan = Plan {
            period: Duration::from_secs_f64(1.0 / rate),
            jitter,
            max_in_flight: 4,
            weights: vec![1],
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(scheduler::run(
            plan,
            Arc::clone(canary),
            StdRng::seed_from_u64(7),
            crate::alarm::Alarm::tokio(),
            TaskTracker::new(),
            stop.clone(),
        ));
        during.await;
        stop.cancel();
        task.await.unwrap();
    }

    /// Gaps between consecutive sends, in periods of `rate`, rounded.
    fn gaps(sent: &[f64], rate: f64) -> Vec<u64> {
        sent.windows(2)
            .map(|w| ((w[1] - w[0]) * rate).round() as u64)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_target_is_slowed_on_its_grid_and_restored_by_a_success() {
        // 4/s; after 2 failures the stride doubles per failure up to 16 (floor 1/4s). The
        // target fails for its first 30 s.
        let canary = Canary::new(guard(4.0, &settings(2, 0.25, Duration::ZERO)), |at| {
            answer(
                if at < Duration::from_secs(30) {
                    500
                } else {
                    200
                },
                None,
            )
        });
        schedule(
            &canary,
            4.0,
            0.0,
            tokio::time::sleep(Duration::from_secs(60)),
        )
        .await;
        let sent = canary.sent();
        let gaps = gaps(&sent, 4.0);
        assert_eq!(gaps[..6], [1, 2, 4, 8, 16, 16], "{gaps:?}");
        let failing = sent.iter().filter(|at| **at < 30.0).count();
        // 2 + 1 + 1 + 1 + 1 sends in the first 8 s, then one every 4 s.
        assert!((10..=12).contains(&failing), "{failing} sent while failing");
        // The first success restores the rate: from then on every slot is sent.
        let recovered = sent.iter().position(|at| *at >= 30.0).unwrap();
        assert!(gaps[recovered..].iter().all(|g| *g == 1), "{gaps:?}");
        assert!(
            sent[recovered] < 34.0,
            "the first request after recovery is on the stride"
        );
        // Every slot is either sent or counted as skipped by the backoff.
        let slots = sent.len() + canary.skipped(SkipReason::Backoff);
        assert!((239..=240).contains(&slots), "{slots} slots in 60 s at 4/s");
        assert_eq!(canary.guard.gauges.effective_rate.get(), 4.0);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_holds_the_schedule_and_counts_the_held_slots() {
        // 10/s; the first answer is a 429 asking for 120 s, capped at 5 s.
        let canary = Canary::new(
            guard(10.0, &settings(5, 0.1, Duration::from_secs(5))),
            |at| match at < Duration::from_millis(100) {
                true => answer(429, Some(Duration::from_secs(120))),
                false => answer(200, None),
            },
        );
        schedule(
            &canary,
            10.0,
            0.0,
            tokio::time::sleep(Duration::from_secs(20)),
        )
        .await;
        let sent = canary.sent();
        let hold = sent[1] - sent[0];
        // Held from the answer (1 ms after the send) for 5 s, then the next slot of the grid.
        assert!((5.001..=5.101).contains(&hold), "held {hold} s");
        assert!(gaps(&sent[1..], 10.0).iter().all(|g| *g == 1));
        let held = canary.skipped(SkipReason::RetryAfter);
        assert!((49..=50).contains(&held), "{held} slots held");
        assert_eq!(canary.skipped(SkipReason::Backoff), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_target_sends_nothing_and_restarts_at_once() {
        // 1 request every 10 s.
        let canary = Canary::new(guard(0.1, &GuardSettings::default()), |_| answer(200, None));
        let pause_resume = async {
            tokio::time::sleep(Duration::from_secs(25)).await;
            canary.guard.pause();
            tokio::time::sleep(Duration::from_secs(100)).await;
            canary.guard.resume();
            tokio::time::sleep(Duration::from_secs(25)).await;
        };
        schedule(&canary, 0.1, 0.0, pause_resume).await;
        let sent = canary.sent();
        let before = sent.iter().filter(|at| **at < 25.0).count();
        assert!((2..=3).contains(&before), "{sent:?}");
        assert!(sent.iter().all(|at| *at < 25.0 || *at >= 125.0), "{sent:?}");
        // The schedule notices the pause at its next slot, sends nothing until the resume, then
        // starts a new grid at once.
        let after: Vec<f64> = sent.iter().copied().filter(|at| *at >= 125.0).collect();
        assert_eq!(after.len(), 3, "{sent:?}");
        assert!(after[0] - 125.0 < 0.002, "{sent:?}");
        assert!(SkipReason::ALL.iter().all(|r| canary.skipped(*r) == 0));
    }

    /// The largest number of sends within any window of `width` seconds.
    fn busiest_window(sent: &[f64], width: f64) -> usize {
        (0..sent.len())
            .map(|i| {
                sent[i..]
                    .iter()
                    .take_while(|at| **at < sent[i] + width)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn the_configured_rate_is_a_ceiling_whatever_the_guard_does() {
        // Ten minutes at 5/s with the widest jitter: healthy, failing (backoff), a 503 with
        // Retry-After, a pause right after a request, healthy again. No window of 1 s ever
        // holds more than ceil(5) + 1 requests, and the total stays within rate × time + 1.
        let t = Duration::from_secs;
        let canary = Canary::new(guard(5.0, &settings(3, 0.5, t(60))), move |at| {
            if at < t(120) || at >= t(300) {
                answer(200, None)
            } else if at < t(240) {
                answer(500, None)
            } else {
                answer(503, Some(t(20)))
            }
        });
        let pause_resume = async {
            tokio::time::sleep(t(400)).await;
            // Right after a send, so a careless restart would send again at once.
            let sent = canary.sent.lock().unwrap().len();
            while canary.sent.lock().unwrap().len() == sent {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            canary.guard.pause();
            tokio::time::sleep(t(3)).await;
            canary.guard.resume();
            tokio::time::sleep(t(197)).await;
        };
        schedule(&canary, 5.0, 0.5, pause_resume).await;
        let sent = canary.sent();
        assert!(
            busiest_window(&sent, 1.0) <= 6,
            "{}",
            busiest_window(&sent, 1.0)
        );
        let elapsed = 600.0;
        assert!(sent.len() as f64 <= 5.0 * elapsed + 1.0, "{}", sent.len());
        // The guard did act: the failing minutes sent far fewer than 5/s.
        let failing = sent
            .iter()
            .filter(|at| (120.0..300.0).contains(*at))
            .count();
        assert!(failing < 200, "{failing} sent in 3 failing minutes");
        assert!(canary.skipped(SkipReason::Backoff) > 0);
        assert!(canary.skipped(SkipReason::RetryAfter) > 0);
        // And it let go: the last minute is at the full rate.
        let last = sent.iter().filter(|at| **at >= 540.0).count();
        assert!(
            (295..=301).contains(&last),
            "{last} sent in the last minute"
        );
    }
}
