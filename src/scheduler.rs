//! The daemon's open-model arrival schedule for one target.
//!
//! Slot `n` is due at `start + n · period + jitter(n)`, whatever the responses' latency: a slow
//! target does not slow the schedule down (that would hide the slowness, the coordinated-omission
//! trap), and it cannot make requests pile up either, because at most `max_in_flight` requests of
//! a target run at once. A slot that cannot start is counted as skipped, never silently lost:
//! `in_flight_cap` when the cap is full, `late` when synthex itself was held up for more than
//! [`LATE_AFTER`] past the slot's due time (the catch-up after a stall stays bounded).
//!
//! A timer wakes up a little after its deadline (see [`TIMER_SLACK`]), and at 1000/s that is
//! longer than a period, so every wake-up starts all the slots due by then: the schedule's rate is
//! delivered whatever the timer's resolution.
//!
//! The target's guard ([`crate::guard`]) may drop a slot too (backoff, `Retry-After`) or stop
//! the schedule while an operator pauses the target; it never adds one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, RngExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alarm::Alarm;
use crate::guard::Admission;
use crate::metrics::SkipReason;
use crate::scenario::Target;

/// The timing parameters of one target's schedule, taken from its config.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Time between two slots.
    pub period: Duration,
    /// Largest shift of a slot's start, as a fraction of the period (0 ≤ jitter ≤ 0.5).
    pub jitter: f64,
    /// Requests of this target allowed in flight at once.
    pub max_in_flight: usize,
    /// Scenario weights, in scenario order.
    pub weights: Vec<u32>,
}

impl Plan {
    /// The plan of `target` with the global jitter fraction.
    pub fn for_target(target: &Target, jitter: f64) -> Plan {
        Plan {
            period: target.rate.period(),
            jitter,
            max_in_flight: target.max_in_flight,
            weights: target.scenarios.iter().map(|s| s.weight).collect(),
        }
    }
}

/// What the schedule drives: asking whether a slot may be sent, starting a request for it, and
/// counting a skipped slot.
pub trait Dispatch: Send + Sync + 'static {
    /// Whether the slot due now may be sent ([`crate::guard::Guard::admit`]).
    fn admit(&self, now: Instant) -> Admission;
    /// Resolves once a paused target runs again.
    fn running(&self) -> impl Future<Output = ()> + Send + 'static;
    /// Runs one request of scenario `scenario` whose latency runs from `due` (the slot's due
    /// time, or its actual start when the timer fired only slightly late). The returned future is
    /// spawned; the in-flight permit is held until it completes.
    fn dispatch(
        self: &Arc<Self>,
        scenario: usize,
        due: Instant,
    ) -> impl Future<Output = ()> + Send + 'static;
    /// Counts a slot that did not start.
    fn skipped(&self, reason: SkipReason);
}

/// Runs the schedule until `shutdown` is cancelled, woken at each slot by `alarm`. Requests are
/// spawned on `tracker`, so the caller can wait for the in-flight ones to finish after the
/// schedule stops.
pub async fn run<D: Dispatch, R: Rng + Send>(
    plan: Plan,
    dispatch: Arc<D>,
    mut rng: R,
    mut alarm: Alarm,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let picker = WeightedPick::new(&plan.weights);
    let cap = Arc::new(Semaphore::new(plan.max_in_flight));
    // A random phase spreads sidecars that start together over the first period.
    let mut start = Instant::now() + plan.period.mul_f64(rng.random_range(0.0..1.0));
    let mut slot: u64 = 0;
    let mut due = due_time(start, plan.period, slot, plan.jitter, &mut rng);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = alarm.until(due) => {}
        }
        let now = Instant::now();
        let mut paused = false;
        // Jitter shifts a slot by at most a quarter period, so due times never go backwards.
        while due <= now {
            if now.saturating_duration_since(due) > LATE_AFTER {
                dispatch.skipped(SkipReason::Late);
            } else {
                match dispatch.admit(now) {
                    Admission::Send => match cap.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let scenario = picker.pick(&mut rng);
                            let work = dispatch.dispatch(scenario, measured_start(due, now));
                            // Boxed: a request's future is several KB, which the task would
                            // otherwise copy when spawned, first polled and finished.
                            tracker.spawn(hold_permit(Box::pin(work), permit));
                        }
                        Err(_) => dispatch.skipped(SkipReason::InFlightCap),
                    },
                    Admission::Skip(reason) => dispatch.skipped(reason),
                    Admission::Paused => {
                        paused = true;
                        break;
                    }
                }
            }
            slot += 1;
            due = due_time(start, plan.period, slot, plan.jitter, &mut rng);
        }
        if paused {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = dispatch.running() => {}
            }
            // Resumed: a new grid from now. The pause was noticed at a slot, so the last
            // request was at least a period (less jitter) ago, as on the old grid.
            start = Instant::now();
            slot = 0;
            due = due_time(start, plan.period, slot, plan.jitter, &mut rng);
        }
    }
}

pub(crate) async fn hold_permit(work: impl Future<Output = ()>, permit: OwnedSemaphorePermit) {
    work.await;
    drop(permit);
}

/// How late a timer may fire without the process being stalled. tokio rounds a deadline up to
/// its 1 ms tick and the poller rounds its wait up to a whole millisecond, so a timer routinely
/// fires up to 2 ms late; the OS's wake-up latency comes on top (measured on an idle loopback
/// bench: 1.1 ms late at the median, 2.1 ms at most). With a 2 ms slack about 1 % of the slots
/// crossed it and were charged the whole delay, which alone made p99 read 2 ms high.
const TIMER_SLACK: Duration = Duration::from_millis(3);

/// How far past its due time a slot may still start; a later one is skipped as `late`. Beyond
/// the timer's own lateness ([`TIMER_SLACK`]) and a busy host's run-queue wait (a few ms), only a
/// stall of synthex itself gets there: CPU throttling, a stopped host, a blocked runtime. It is
/// one figure at every rate, so `late` means the same thing at 1/min and at 1000/s, and the
/// catch-up after a stall is bounded (at most 100 ms worth of slots, under `max_in_flight`).
/// Starts held up by less than this are measured from the due time, so such a stall shows in
/// the latency instead.
const LATE_AFTER: Duration = Duration::from_millis(100);

/// `max_in_flight` when the config leaves it out: room for [`LATE_AFTER`] worth of slots, and
/// never fewer than 4. A wake-up a few ms late, or a short stall, starts every slot due by then
/// at once; with a cap smaller than that catch-up they would be skipped as `in_flight_cap`
/// against a target that is not slow at all (at 1000/s a cap of 4 lost 14 % of the slots on a
/// busy host). Up to 40/s this is 4; at 1000/s, 100.
pub fn default_max_in_flight(period: Duration) -> usize {
    let slots = LATE_AFTER.as_nanos().div_ceil(period.as_nanos().max(1));
    usize::try_from(slots).unwrap_or(usize::MAX).max(4)
}

/// Where a request's latency starts. A slot that starts within [`TIMER_SLACK`] of its due time
/// is measured from its actual start, so the prober's own timer resolution never inflates the
/// numbers (it would add about a millisecond to every request). A later start means synthex
/// itself was held up, and then latency runs from the due time, so the stall shows in the
/// numbers instead of hiding (coordinated omission).
pub(crate) fn measured_start(due: Instant, started: Instant) -> Instant {
    if started.saturating_duration_since(due) <= TIMER_SLACK {
        started.max(due)
    } else {
        due
    }
}

/// Due time of `slot`: on the fixed grid, shifted by up to ±jitter/2 of a period. The shift does
/// not accumulate, so the long-run rate is exact.
fn due_time<R: Rng>(
    start: Instant,
    period: Duration,
    slot: u64,
    jitter: f64,
    rng: &mut R,
) -> Instant {
    let on_grid = start + period.mul_f64(slot as f64);
    if jitter <= 0.0 {
        return on_grid;
    }
    let shift = rng.random_range(-jitter / 2.0..=jitter / 2.0);
    let offset = period.mul_f64(shift.abs());
    if shift < 0.0 {
        on_grid.checked_sub(offset).unwrap_or(on_grid)
    } else {
        on_grid + offset
    }
}

/// Picks a scenario index with probability proportional to its weight.
#[derive(Debug, Clone)]
pub(crate) struct WeightedPick {
    cumulative: Vec<u64>,
}

impl WeightedPick {
    pub(crate) fn new(weights: &[u32]) -> WeightedPick {
        let mut total = 0u64;
        let cumulative = weights
            .iter()
            .map(|&w| {
                total += u64::from(w.max(1));
                total
            })
            .collect();
        WeightedPick { cumulative }
    }

    pub(crate) fn pick<R: Rng>(&self, rng: &mut R) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        // One scenario (most load tests) needs no draw.
        if total == 0 || self.cumulative.len() == 1 {
            return 0;
        }
        self.index_of(rng.random_range(0..total))
    }

    /// The scenario whose weight range holds `x` (`0 ≤ x < total`).
    fn index_of(&self, x: u64) -> usize {
        self.cumulative.partition_point(|&c| c <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// Records what the schedule did; each request takes `latency` of (paused) time.
    struct Recorder {
        latency: Duration,
        started: Mutex<Vec<(usize, Instant, Instant)>>,
        in_flight: AtomicUsize,
        max_seen: AtomicUsize,
        skipped_cap: AtomicU64,
        skipped_late: AtomicU64,
    }

    impl Recorder {
        fn new(latency: Duration) -> Arc<Recorder> {
            Arc::new(Recorder {
                latency,
                started: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
                max_seen: AtomicUsize::new(0),
                skipped_cap: AtomicU64::new(0),
                skipped_late: AtomicU64::new(0),
            })
        }
    }

    impl Dispatch for Recorder {
        // No guard here: the guard's own tests drive the schedule with one.
        fn admit(&self, _now: Instant) -> Admission {
            Admission::Send
        }

        fn running(&self) -> impl Future<Output = ()> + Send + 'static {
            std::future::ready(())
        }

        fn dispatch(
            self: &Arc<Self>,
            scenario: usize,
            due: Instant,
        ) -> impl Future<Output = ()> + Send + 'static {
            self.started
                .lock()
                .unwrap()
                .push((scenario, due, Instant::now()));
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_seen.fetch_max(now, Ordering::SeqCst);
            let me = Arc::clone(self);
            async move {
                tokio::time::sleep(me.latency).await;
                me.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        }

        fn skipped(&self, reason: SkipReason) {
            match reason {
                SkipReason::InFlightCap => self.skipped_cap.fetch_add(1, Ordering::SeqCst),
                SkipReason::Late => self.skipped_late.fetch_add(1, Ordering::SeqCst),
                other => panic!("no guard, yet a slot skipped for {other:?}"),
            };
        }
    }

    fn plan(per_second: f64, max_in_flight: usize, weights: Vec<u32>) -> Plan {
        Plan {
            period: Duration::from_secs_f64(1.0 / per_second),
            jitter: 0.1,
            max_in_flight,
            weights,
        }
    }

    async fn run_for(plan: Plan, rec: Arc<Recorder>, length: Duration) -> TaskTracker {
        let tracker = TaskTracker::new();
        let token = CancellationToken::new();
        let task = tokio::spawn(run(
            plan,
            rec,
            StdRng::seed_from_u64(42),
            Alarm::tokio(),
            tracker.clone(),
            token.clone(),
        ));
        tokio::time::sleep(length).await;
        token.cancel();
        task.await.unwrap();
        tracker
    }

    #[tokio::test(start_paused = true)]
    async fn holds_its_rate_whatever_the_latency() {
        for latency_ms in [1, 300] {
            let rec = Recorder::new(Duration::from_millis(latency_ms));
            run_for(plan(5.0, 8, vec![1]), rec.clone(), Duration::from_secs(60)).await;
            let sent = rec.started.lock().unwrap().len() as u64;
            let skipped =
                rec.skipped_cap.load(Ordering::SeqCst) + rec.skipped_late.load(Ordering::SeqCst);
            // 5/s over 60 s, minus at most the random initial phase of one period.
            assert!(
                (299..=300).contains(&(sent + skipped)),
                "latency {latency_ms} ms: {sent} sent + {skipped} skipped"
            );
            assert_eq!(skipped, 0);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slots_start_at_their_due_time_within_jitter() {
        let rec = Recorder::new(Duration::from_millis(10));
        run_for(plan(10.0, 4, vec![1]), rec.clone(), Duration::from_secs(10)).await;
        let started = rec.started.lock().unwrap();
        let first = started[0].1;
        for (n, (_, due, at)) in started.iter().enumerate() {
            // The timer wheel has millisecond resolution.
            assert!(
                *at - *due <= Duration::from_millis(1),
                "slot {n} started {:?} late",
                *at - *due
            );
            let grid = first + Duration::from_millis(100) * n as u32;
            let off = if *due > grid {
                *due - grid
            } else {
                grid - *due
            };
            // ±5% of a period around the grid, twice for the first slot's own jitter.
            assert!(
                off <= Duration::from_millis(10),
                "slot {n} is {off:?} off the grid"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn caps_in_flight_and_counts_the_skipped_slots() {
        // 10/s against a target that takes 2 s: 20 would be in flight without the cap.
        let rec = Recorder::new(Duration::from_secs(2));
        let tracker = run_for(plan(10.0, 3, vec![1]), rec.clone(), Duration::from_secs(30)).await;
        assert_eq!(rec.max_seen.load(Ordering::SeqCst), 3);
        let sent = rec.started.lock().unwrap().len() as u64;
        let skipped = rec.skipped_cap.load(Ordering::SeqCst);
        assert!(
            (299..=300).contains(&(sent + skipped)),
            "{sent} + {skipped}"
        );
        // Three slots every 2 s can run.
        assert!((44..=47).contains(&sent), "{sent} sent");
        tracker.close();
        tracker.wait().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_process_skips_late_slots_instead_of_bursting() {
        let rec = Recorder::new(Duration::from_millis(1));
        let tracker = TaskTracker::new();
        let token = CancellationToken::new();
        let sched = tokio::spawn(run(
            plan(10.0, 4, vec![1]),
            rec.clone(),
            StdRng::seed_from_u64(1),
            Alarm::tokio(),
            tracker,
            token.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Block the (single-threaded) runtime for 3 s of real schedule time.
        tokio::time::advance(Duration::from_secs(3)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        token.cancel();
        sched.await.unwrap();
        let sent = rec.started.lock().unwrap().len() as u64;
        let late = rec.skipped_late.load(Ordering::SeqCst);
        assert!(late >= 25, "{late} late slots");
        assert!((69..=70).contains(&(sent + late)), "{sent} + {late}");
    }

    /// Runs a 1000/s schedule (cap 200, requests of 200 µs) for 10 s of paused time, the clock
    /// moved only by `clock`, which gets the elapsed time and returns the next step.
    async fn run_at_the_maximum_rate(mut clock: impl FnMut(Duration) -> Duration) -> Arc<Recorder> {
        let rec = Recorder::new(Duration::from_micros(200));
        let token = CancellationToken::new();
        let sched = tokio::spawn(run(
            plan(1000.0, 200, vec![1]),
            rec.clone(),
            StdRng::seed_from_u64(7),
            Alarm::tokio(),
            TaskTracker::new(),
            token.clone(),
        ));
        let begin = Instant::now();
        while begin.elapsed() < Duration::from_secs(10) {
            tokio::time::advance(clock(begin.elapsed())).await;
        }
        token.cancel();
        sched.await.unwrap();
        rec
    }

    #[tokio::test(start_paused = true)]
    async fn wake_ups_later_than_a_period_still_start_every_slot() {
        // A busy host's timer: every wake-up 2.5 ms after the last, 2.5 periods at 1000/s.
        let rec = run_at_the_maximum_rate(|_| Duration::from_micros(2_500)).await;
        let started = rec.started.lock().unwrap();
        assert_eq!(rec.skipped_late.load(Ordering::SeqCst), 0);
        assert_eq!(rec.skipped_cap.load(Ordering::SeqCst), 0);
        // 10 s at 1000/s, minus the random phase of up to one period and the slots the last
        // step's wake-up had not reached yet (tokio's timer rounds deadlines up to 1 ms).
        assert!(
            (9_995..=10_000).contains(&started.len()),
            "{} started",
            started.len()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_at_the_maximum_rate_skips_only_what_is_past_the_cut_off() {
        // 1 ms steps, and one 500 ms stall at 5 s.
        let mut stalled = false;
        let rec = run_at_the_maximum_rate(|elapsed| {
            if elapsed >= Duration::from_secs(5) && !stalled {
                stalled = true;
                Duration::from_millis(500)
            } else {
                Duration::from_millis(1)
            }
        })
        .await;
        let late = rec.skipped_late.load(Ordering::SeqCst);
        let started = rec.started.lock().unwrap();
        // The slots due more than 100 ms before the wake-up: 400 of the 500 in the stall, give or
        // take the few due in the last millisecond before it (timers round up to 1 ms).
        assert!((398..=403).contains(&late), "{late} late");
        assert_eq!(rec.skipped_cap.load(Ordering::SeqCst), 0);
        assert!(
            (9_995..=10_000).contains(&(started.len() as u64 + late)),
            "{} started + {late} late",
            started.len()
        );
        // The catch-up: the 100 ms of slots within the cut-off start at the wake-up, measured
        // from their due times (but the last 3 ms of them, within the timer's slack); none starts
        // later than the cut-off.
        let caught_up = started
            .iter()
            .filter(|(_, from, at)| *at - *from > TIMER_SLACK)
            .inspect(|(_, from, at)| assert!(*at - *from <= LATE_AFTER))
            .count();
        assert!((95..=101).contains(&caught_up), "{caught_up} caught up");
    }

    #[tokio::test(start_paused = true)]
    async fn scenario_shares_follow_the_weights() {
        let rec = Recorder::new(Duration::from_millis(1));
        run_for(
            plan(50.0, 4, vec![50, 25, 25]),
            rec.clone(),
            Duration::from_secs(200),
        )
        .await;
        let started = rec.started.lock().unwrap();
        let total = started.len() as f64;
        for (scenario, share) in [(0, 0.5), (1, 0.25), (2, 0.25)] {
            let n = started.iter().filter(|(s, _, _)| *s == scenario).count() as f64;
            assert!(
                (n / total - share).abs() < 0.02,
                "scenario {scenario}: {n}/{total}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_scheduling_on_shutdown() {
        let rec = Recorder::new(Duration::from_millis(1));
        run_for(plan(10.0, 4, vec![1]), rec.clone(), Duration::from_secs(1)).await;
        let before = rec.started.lock().unwrap().len();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(rec.started.lock().unwrap().len(), before);
    }

    #[test]
    fn latency_starts_at_the_due_time_only_when_the_start_was_held_up() {
        let due = Instant::now();
        let timer_late = due + Duration::from_micros(2_200);
        assert_eq!(measured_start(due, timer_late), timer_late);
        assert_eq!(measured_start(due, due), due);
        let stalled = due + Duration::from_millis(30);
        assert_eq!(measured_start(due, stalled), due);
    }

    #[test]
    fn the_default_cap_holds_the_slots_of_the_late_cut_off() {
        let at = |per_second: f64| default_max_in_flight(Duration::from_secs_f64(1.0 / per_second));
        assert_eq!(at(1.0 / 3600.0), 4);
        assert_eq!(at(40.0), 4);
        assert_eq!(at(50.0), 5);
        assert_eq!(at(1000.0), 100);
    }

    #[test]
    fn weighted_pick_maps_ranges_to_indices() {
        let p = WeightedPick::new(&[2, 1]);
        assert_eq!(p.cumulative, vec![2, 3]);
        assert_eq!(p.index_of(0), 0);
        assert_eq!(p.index_of(1), 0);
        assert_eq!(p.index_of(2), 1);
    }
}
