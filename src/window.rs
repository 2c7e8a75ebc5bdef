//! The sliding time window behind `synthex_request_latency_seconds`, `synthex_cache_hit_ratio`
//! and the status page: a ring of HDR histograms plus request/failure/cache counts.
//!
//! The window is split into `N` slots of `window / N` each, like the Go client's summary age
//! buckets. The newest slot takes new samples; once a slot's period is more than `N - 1` periods
//! old it is dropped. So a sample counts for between `window - window/N` and `window` after it
//! was recorded, never longer. Rotation is lazy (on record and on read) and driven by the `now`
//! the caller passes, so tests control time with tokio's paused clock.
//!
//! A running total of the live slots is kept next to the ring: recording goes into the newest
//! slot and the total, rotating subtracts the expiring slot from the total. A read then scans one
//! histogram instead of merging `N`, which keeps a scrape of 100 scenarios cheap.
//!
//! Values are whole microseconds with 3 significant digits (≤ 0.1% relative error from the
//! histogram, far below the 1% the summary promises); the histograms resize themselves to the
//! largest latency seen (up to a day), so no timeout is ever clipped.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::outcome::CacheResult;

/// Significant decimal digits kept by every histogram: 3 digits is a relative error ≤ 0.1%.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Per-window totals of one scenario (or, summed, one target).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests finished in the window.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Responses classified as cache hits.
    pub hits: u64,
    /// Responses classified as cache misses.
    pub misses: u64,
}

impl Counts {
    /// Adds `other` to `self`, for per-target totals over scenarios.
    pub fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.hits += other.hits;
        self.misses += other.misses;
    }

    /// Failed share of the requests; `None` without requests (a ratio of nothing is not 0).
    pub fn error_ratio(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.failures as f64 / self.requests as f64)
    }

    /// `hits / (hits + misses)`; `None` when no response said either, so a target without a
    /// cache never exports a misleading 0 or a NaN.
    pub fn cache_hit_ratio(&self) -> Option<f64> {
        let classified = self.hits + self.misses;
        (classified > 0).then(|| self.hits as f64 / classified as f64)
    }

    fn subtract(&mut self, other: &Counts) {
        self.requests -= other.requests;
        self.failures -= other.failures;
        self.hits -= other.hits;
        self.misses -= other.misses;
    }
}

/// One period's worth of samples.
#[derive(Debug, Clone)]
struct Slot {
    latency: Histogram<u32>,
    counts: Counts,
}

impl Slot {
    fn new() -> Slot {
        // `Histogram::new` auto-resizes from a tiny range, so idle scenarios stay small.
        let latency = Histogram::new(SIGNIFICANT_DIGITS)
            .expect("3 significant digits is within the HDR limit of 0..=5");
        Slot {
            latency,
            counts: Counts::default(),
        }
    }

    fn record(&mut self, micros: u64, success: bool, cache: CacheResult) {
        // `record` grows the histogram to fit (`saturating_record` would clamp instead); the
        // value is capped by `duration_to_micros`, so growing cannot fail.
        if self.latency.record(micros).is_err() {
            self.latency.saturating_record(micros);
        }
        self.counts.requests += 1;
        self.counts.failures += u64::from(!success);
        match cache {
            CacheResult::Hit => self.counts.hits += 1,
            CacheResult::Miss => self.counts.misses += 1,
            CacheResult::Unknown => {}
        }
    }

    fn is_empty(&self) -> bool {
        self.counts.requests == 0
    }

    /// Latencies at the given quantiles, in the order given; `None` without samples. Each is
    /// the smallest recorded value (to histogram precision) with at least that share of
    /// samples at or below it.
    fn quantiles(&self, quantiles: &[f64]) -> Vec<Option<Duration>> {
        if self.is_empty() {
            return vec![None; quantiles.len()];
        }
        // `value_at_quantiles` wants ascending input and scans the counts once.
        let mut order: Vec<usize> = (0..quantiles.len()).collect();
        order.sort_by(|&a, &b| quantiles[a].total_cmp(&quantiles[b]));
        let values = self
            .latency
            .value_at_quantiles(order.iter().map(|&i| quantiles[i]));
        let mut out = vec![None; quantiles.len()];
        for (&i, micros) in order.iter().zip(values) {
            out[i] = Some(Duration::from_micros(micros));
        }
        out
    }
}

/// Several windows added together: a target's window over all its scenarios.
#[derive(Debug)]
pub struct Merged(Slot);

impl Default for Merged {
    fn default() -> Merged {
        Merged(Slot::new())
    }
}

impl Merged {
    /// Latencies at the given quantiles over every window added, in the order given; `None`
    /// without samples.
    pub fn quantiles(&self, quantiles: &[f64]) -> Vec<Option<Duration>> {
        self.0.quantiles(quantiles)
    }
}

/// A sliding window of latencies and counts for one scenario.
#[derive(Debug, Clone)]
pub struct Window {
    /// Ring of slots; the slot of period `p` is `slots[p % N]`.
    slots: Vec<Slot>,
    /// Sum of every live slot.
    total: Slot,
    slot_len: Duration,
    epoch: Instant,
    /// Period index of the newest slot.
    current: u64,
}

impl Window {
    /// A window of length `window` split into `slots` slots (at least 1), starting at `now`.
    pub fn new(window: Duration, slots: usize, now: Instant) -> Window {
        let slots = slots.max(1);
        let slot_len = (window / slots as u32).max(Duration::from_millis(1));
        Window {
            slots: (0..slots).map(|_| Slot::new()).collect(),
            total: Slot::new(),
            slot_len,
            epoch: now,
            current: 0,
        }
    }

    /// Adds one finished request seen at `now`.
    pub fn record(&mut self, now: Instant, latency: Duration, success: bool, cache: CacheResult) {
        self.rotate(now);
        let micros = duration_to_micros(latency);
        let newest = (self.current % self.slots.len() as u64) as usize;
        self.slots[newest].record(micros, success, cache);
        self.total.record(micros, success, cache);
    }

    /// Latencies at the given quantiles over the window as of `now`, in the order given;
    /// `None` when the window holds no sample. Each quantile is the smallest recorded value
    /// (to histogram precision) with at least that share of samples at or below it.
    pub fn quantiles(&mut self, now: Instant, quantiles: &[f64]) -> Vec<Option<Duration>> {
        self.rotate(now);
        self.total.quantiles(quantiles)
    }

    /// Adds the window's samples as of `now` to `merged`.
    pub fn add_to(&mut self, now: Instant, merged: &mut Merged) {
        self.rotate(now);
        // Both auto-resize, so adding cannot run out of range.
        let _ = merged.0.latency.add(&self.total.latency);
        merged.0.counts.add(&self.total.counts);
    }

    /// Request, failure and cache counts over the window as of `now`.
    pub fn counts(&mut self, now: Instant) -> Counts {
        self.rotate(now);
        self.total.counts
    }

    /// Drops every slot whose period has left the window by `now`.
    fn rotate(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        let period = u64::try_from(elapsed / self.slot_len.as_nanos()).unwrap_or(u64::MAX);
        if period <= self.current {
            return;
        }
        let n = self.slots.len() as u64;
        // Advancing by `n` periods or more empties the whole ring; never loop further than that.
        let steps = (period - self.current).min(n);
        for step in 1..=steps {
            let index = ((self.current + step) % n) as usize;
            self.expire(index);
        }
        self.current = period;
    }

    fn expire(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.is_empty() {
            return;
        }
        if self.total.latency.subtract(&slot.latency).is_err() {
            // Cannot happen (the total holds every sample of every slot); should it anyway, a
            // total rebuilt from the remaining slots is still exact.
            slot.latency.reset();
            slot.counts = Counts::default();
            self.rebuild_total();
            return;
        }
        self.total.counts.subtract(&slot.counts);
        slot.latency.reset();
        slot.counts = Counts::default();
    }

    fn rebuild_total(&mut self) {
        let mut total = Slot::new();
        for slot in &self.slots {
            // Both auto-resize, so adding cannot run out of range.
            let _ = total.latency.add(&slot.latency);
            total.counts.add(&slot.counts);
        }
        self.total = total;
    }
}

/// Longest latency kept as is (a day); anything longer is recorded as a day, so one absurd
/// value cannot make a histogram grow without bound.
const MAX_MICROS: u64 = 86_400 * 1_000_000;

/// Whole microseconds, rounded to nearest, capped at [`MAX_MICROS`].
pub(crate) fn duration_to_micros(d: Duration) -> u64 {
    u64::try_from((d.as_nanos() + 500) / 1000)
        .unwrap_or(MAX_MICROS)
        .min(MAX_MICROS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn empty_window_has_no_quantiles() {
        let now = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), 5, now);
        assert_eq!(w.quantiles(now, &[0.5, 0.99]), vec![None, None]);
        assert_eq!(w.counts(now), Counts::default());
    }

    #[test]
    fn quantiles_come_back_in_the_order_asked() {
        let now = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), 5, now);
        for v in 1..=100 {
            w.record(now, ms(v), true, CacheResult::Unknown);
        }
        let q = w.quantiles(now, &[0.99, 0.5]);
        let p99 = q[0].unwrap().as_secs_f64();
        let p50 = q[1].unwrap().as_secs_f64();
        assert!((p99 - 0.099).abs() / 0.099 < 0.001, "p99 {p99}");
        assert!((p50 - 0.050).abs() / 0.050 < 0.001, "p50 {p50}");
    }

    #[test]
    fn slots_expire_one_period_at_a_time() {
        let start = Instant::now();
        let mut w = Window::new(Duration::from_secs(50), 5, start);
        w.record(start, ms(100), false, CacheResult::Hit);
        w.record(
            start + Duration::from_secs(25),
            ms(200),
            true,
            CacheResult::Miss,
        );
        let c = w.counts(start + Duration::from_secs(49));
        assert_eq!((c.requests, c.failures, c.hits, c.misses), (2, 1, 1, 1));
        // At 50 s the first period (0..10 s) has left; the sample from 25 s remains.
        let c = w.counts(start + Duration::from_secs(50));
        assert_eq!((c.requests, c.failures, c.hits, c.misses), (1, 0, 0, 1));
        let q = w.quantiles(start + Duration::from_secs(50), &[0.5]);
        let p50 = q[0].unwrap().as_secs_f64();
        assert!((p50 - 0.2).abs() < 0.001, "p50 {p50}");
        // At 70 s the 20..30 s period has left too.
        assert_eq!(w.counts(start + Duration::from_secs(70)), Counts::default());
        assert_eq!(
            w.quantiles(start + Duration::from_secs(70), &[0.5]),
            vec![None]
        );
    }

    #[test]
    fn a_long_gap_clears_everything_and_recording_resumes() {
        let start = Instant::now();
        let mut w = Window::new(Duration::from_secs(10), 5, start);
        w.record(start, ms(5), true, CacheResult::Unknown);
        let later = start + Duration::from_secs(3600);
        w.record(later, ms(7), true, CacheResult::Unknown);
        assert_eq!(w.counts(later).requests, 1);
        let p = w.quantiles(later, &[1.0])[0].unwrap().as_secs_f64();
        assert!((p - 0.007).abs() < 0.00001, "max {p}");
    }

    #[test]
    fn huge_latencies_are_kept_not_clipped() {
        let now = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), 5, now);
        w.record(now, Duration::from_secs(600), true, CacheResult::Unknown);
        let p = w.quantiles(now, &[0.5])[0].unwrap().as_secs_f64();
        assert!((p - 600.0).abs() / 600.0 < 0.001, "p50 {p}");
    }

    #[test]
    fn merged_windows_give_the_quantiles_of_all_their_samples() {
        let now = Instant::now();
        let mut fast = Window::new(Duration::from_secs(60), 5, now);
        let mut slow = Window::new(Duration::from_secs(60), 5, now);
        for v in 1..=90 {
            fast.record(now, ms(v), true, CacheResult::Unknown);
        }
        for v in 91..=100 {
            slow.record(now, ms(v), true, CacheResult::Unknown);
        }
        let mut merged = Merged::default();
        assert_eq!(merged.quantiles(&[0.5]), vec![None]);
        fast.add_to(now, &mut merged);
        slow.add_to(now, &mut merged);
        let p95 = merged.quantiles(&[0.95])[0].unwrap().as_secs_f64();
        assert!((p95 - 0.095).abs() / 0.095 < 0.001, "p95 {p95}");
    }

    #[test]
    fn ratios_need_data() {
        let c = Counts::default();
        assert_eq!(c.error_ratio(), None);
        assert_eq!(c.cache_hit_ratio(), None);
        let c = Counts {
            requests: 4,
            failures: 1,
            hits: 3,
            misses: 1,
        };
        assert_eq!(c.error_ratio(), Some(0.25));
        assert_eq!(c.cache_hit_ratio(), Some(0.75));
    }
}
