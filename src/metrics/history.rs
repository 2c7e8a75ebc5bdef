//! The last hour of one scenario in one-minute points (requests, failures, p95), for the status
//! page's charts, `GET /api/v1/history` and the uptime badge, as Gatus keeps its response-time
//! history.
//!
//! Memory is fixed per scenario, whatever the traffic: a ring of [`HISTORY_POINTS`] finished
//! minutes allocated once (40 bytes a point) and one accumulator for the minute in progress, an
//! HDR histogram of 2 significant digits (p95 to within 1 %) that grows with the largest latency
//! seen and stops at one day ([`MAX_ACCUMULATOR_BYTES`]). The ring lives in the scenario's state,
//! so a reload keeps it for an unchanged scenario and drops it with a removed or changed one,
//! exactly like the scenario's series.
//!
//! Minutes are numbered from an epoch placed on a wall-clock minute boundary when the history
//! starts, so points begin at `:00` seconds as in Grafana; time itself is the `now` the caller
//! passes (tokio's clock, paused in tests).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::window::duration_to_micros;

/// Finished minutes kept: one hour.
pub const HISTORY_POINTS: usize = 60;

/// Length of one point.
pub const POINT_LENGTH: Duration = Duration::from_secs(60);

/// Significant digits of the minute accumulator: p95 within 1 %, a quarter of the memory of 3.
const SIGNIFICANT_DIGITS: u8 = 2;

/// Largest size of the minute accumulator's counts (4 bytes each, grown to the largest latency
/// recorded, one day at most); tested at that edge.
pub const MAX_ACCUMULATOR_BYTES: usize = 16 * 1024;

/// One minute of one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPoint {
    /// Index of the minute since the history's epoch.
    minute: u64,
    /// Requests finished in the minute.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// 95th percentile latency of those requests; `None` without requests.
    pub p95: Option<Duration>,
}

impl HistoryPoint {
    /// Failed share of the minute's requests; `None` without requests.
    pub fn error_ratio(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.failures as f64 / self.requests as f64)
    }
}

/// A point as read at some moment: when its minute started, and whether it is still running.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DatedPoint {
    /// Wall-clock start of the minute.
    pub start: SystemTime,
    /// False for the minute in progress (its figures still change).
    pub complete: bool,
    /// The figures.
    pub point: HistoryPoint,
}

/// The minute in progress.
#[derive(Debug, Clone)]
struct Accumulator {
    minute: u64,
    requests: u64,
    failures: u64,
    latency: Histogram<u32>,
}

/// One scenario's last hour.
#[derive(Debug, Clone)]
pub struct History {
    /// On a wall-clock minute boundary (as of the start).
    epoch: Instant,
    /// The wall-clock time of `epoch`: a whole minute.
    epoch_wall: SystemTime,
    /// Finished minutes, oldest first, never more than [`HISTORY_POINTS`].
    points: VecDeque<HistoryPoint>,
    current: Accumulator,
}

impl History {
    /// An empty history as of `now`, when the wall clock reads `wall`.
    pub fn new(now: Instant, wall: SystemTime) -> History {
        let into_minute = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() % POINT_LENGTH.as_nanos());
        let into_minute = Duration::from_nanos(u64::try_from(into_minute).unwrap_or(0));
        let (epoch, epoch_wall) =
            match (now.checked_sub(into_minute), wall.checked_sub(into_minute)) {
                (Some(epoch), Some(epoch_wall)) => (epoch, epoch_wall),
                _ => (now, wall),
            };
        let latency = Histogram::new(SIGNIFICANT_DIGITS)
            .expect("2 significant digits is within the HDR limit of 0..=5");
        History {
            epoch,
            epoch_wall,
            points: VecDeque::with_capacity(HISTORY_POINTS),
            current: Accumulator {
                minute: 0,
                requests: 0,
                failures: 0,
                latency,
            },
        }
    }

    /// Adds one request finished at `now`.
    pub fn record(&mut self, now: Instant, latency: Duration, success: bool) {
        self.roll(now);
        let micros = duration_to_micros(latency);
        let current = &mut self.current;
        if current.latency.record(micros).is_err() {
            current.latency.saturating_record(micros);
        }
        current.requests += 1;
        current.failures += u64::from(!success);
    }

    /// The points of the last hour as of `now`, oldest first: every finished minute of the
    /// last [`HISTORY_POINTS`], empty ones included (they are gaps in a chart, not zeros), then
    /// the minute in progress. Each is dated on the wall clock as it read when the history
    /// started, so starts are whole minutes.
    pub fn points(&mut self, now: Instant) -> Vec<DatedPoint> {
        self.roll(now);
        let start_of =
            |minute: u64| self.epoch_wall + POINT_LENGTH * u32::try_from(minute).unwrap_or(0);
        let mut out: Vec<DatedPoint> = self
            .points
            .iter()
            .map(|point| DatedPoint {
                start: start_of(point.minute),
                complete: true,
                point: *point,
            })
            .collect();
        out.push(DatedPoint {
            start: start_of(self.current.minute),
            complete: false,
            point: self.current.point(),
        });
        out
    }

    /// Bytes held by the minute accumulator's counts, for the memory bound.
    pub fn accumulator_bytes(&self) -> usize {
        self.current.latency.distinct_values() * std::mem::size_of::<u32>()
    }

    /// Closes the minutes that have ended by `now`, the skipped ones as empty points, and drops
    /// those older than an hour.
    fn roll(&mut self, now: Instant) {
        let minute = self.minute_of(now);
        if minute <= self.current.minute {
            return;
        }
        let closed = self.current.point();
        self.push(closed);
        // Minutes without a request; never more than the ring holds.
        let first_gap = (closed.minute + 1).max(minute.saturating_sub(HISTORY_POINTS as u64));
        for gap in first_gap..minute {
            self.push(HistoryPoint {
                minute: gap,
                requests: 0,
                failures: 0,
                p95: None,
            });
        }
        let current = &mut self.current;
        current.minute = minute;
        current.requests = 0;
        current.failures = 0;
        current.latency.reset();
    }

    fn push(&mut self, point: HistoryPoint) {
        if self.points.len() == HISTORY_POINTS {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }

    fn minute_of(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(elapsed / POINT_LENGTH.as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Accumulator {
    fn point(&self) -> HistoryPoint {
        HistoryPoint {
            minute: self.minute,
            requests: self.requests,
            failures: self.failures,
            p95: (self.requests > 0)
                .then(|| Duration::from_micros(self.latency.value_at_quantile(0.95))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Within the accumulator's 1 % of `seconds`.
    fn assert_near(p95: Option<Duration>, seconds: f64) {
        let p95 = p95.expect("a p95").as_secs_f64();
        assert!(
            (p95 - seconds).abs() / seconds <= 0.01,
            "p95 {p95}, expected {seconds}"
        );
    }

    /// A history whose epoch is a wall-clock minute boundary `now`.
    fn aligned() -> (History, SystemTime) {
        let wall = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        (History::new(Instant::now(), wall), wall)
    }

    #[tokio::test(start_paused = true)]
    async fn one_point_per_minute_with_its_own_p95_and_error_ratio() {
        let (mut history, wall) = aligned();
        let start = Instant::now();
        // Minute 0: 100 requests of 1..=100 ms, 5 failed.
        for i in 1..=100 {
            history.record(start, ms(i), i > 5);
        }
        // Minute 1: 10 requests of 200 ms, none failed.
        tokio::time::advance(Duration::from_secs(61)).await;
        for _ in 0..10 {
            history.record(Instant::now(), ms(200), true);
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        let points = history.points(Instant::now());
        assert_eq!(points.len(), 3, "{points:?}");
        let [first, second, current] = [points[0], points[1], points[2]];
        assert!(first.complete && second.complete && !current.complete);
        assert_eq!((first.point.requests, first.point.failures), (100, 5));
        assert_eq!(first.point.error_ratio(), Some(0.05));
        assert_near(first.point.p95, 0.095);
        assert_eq!(second.point.requests, 10);
        assert_near(second.point.p95, 0.2);
        assert_eq!(current.point.requests, 0);
        assert_eq!(current.point.p95, None);
        // Points start on wall-clock minutes.
        assert_eq!(first.start, wall);
        assert_eq!(second.start, wall + Duration::from_secs(60));
        assert_eq!(current.start, wall + Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn points_begin_on_the_wall_clock_minute() {
        // Started 45 s into a minute: the first point still starts at :00 and ends 15 s later.
        let wall = UNIX_EPOCH + Duration::from_secs(1_800_000_045);
        let mut history = History::new(Instant::now(), wall);
        history.record(Instant::now(), ms(1), true);
        tokio::time::advance(Duration::from_secs(15)).await;
        history.record(Instant::now(), ms(1), true);
        let points = history.points(Instant::now());
        assert_eq!(points.len(), 2);
        assert_eq!(
            points[0].start,
            UNIX_EPOCH + Duration::from_secs(1_800_000_000)
        );
        assert_eq!((points[0].point.requests, points[1].point.requests), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_hour_at_most_and_quiet_minutes_are_gaps() {
        let (mut history, wall) = aligned();
        // A request every minute for 90 minutes.
        for minute in 0..90u64 {
            history.record(Instant::now(), ms(minute + 1), true);
            tokio::time::advance(POINT_LENGTH).await;
        }
        let points = history.points(Instant::now());
        // 60 finished minutes (30..=89) and the one in progress (90).
        assert_eq!(points.len(), HISTORY_POINTS + 1);
        assert_eq!(points[0].start, wall + POINT_LENGTH * 30);
        assert_near(points[0].point.p95, 0.031);
        assert_near(points[59].point.p95, 0.090);
        // The edge: the oldest kept point is exactly an hour before the minute in progress.
        assert_eq!(
            points[60].start.duration_since(points[0].start).unwrap(),
            Duration::from_secs(3600)
        );

        // 10 quiet minutes: empty points, not zeros, and still 60 of them.
        tokio::time::advance(POINT_LENGTH * 10).await;
        let points = history.points(Instant::now());
        assert_eq!(points.len(), HISTORY_POINTS + 1);
        let quiet = &points[points.len() - 11..];
        assert!(
            quiet
                .iter()
                .all(|p| p.point.requests == 0 && p.point.p95.is_none())
        );
        assert_eq!(quiet[0].point.error_ratio(), None);

        // Two quiet hours: nothing but gaps, and the ring never grows.
        tokio::time::advance(Duration::from_secs(7200)).await;
        let points = history.points(Instant::now());
        assert_eq!(points.len(), HISTORY_POINTS + 1);
        assert!(points.iter().all(|p| p.point.requests == 0));
        assert_eq!(history.points.capacity(), HISTORY_POINTS);
    }

    #[tokio::test(start_paused = true)]
    async fn memory_stays_within_the_documented_bound() {
        let (mut history, _) = aligned();
        history.record(Instant::now(), ms(5), true);
        let small = history.accumulator_bytes();
        // A day-long latency (the most a latency counts as) grows the accumulator to its largest.
        history.record(Instant::now(), Duration::from_secs(86_400 * 2), false);
        let largest = history.accumulator_bytes();
        assert!(largest > small, "{small} → {largest}");
        assert!(largest <= MAX_ACCUMULATOR_BYTES, "{largest} bytes");
        // Thousands of requests a minute for an hour change neither the ring nor the accumulator.
        for _ in 0..HISTORY_POINTS + 5 {
            for i in 0..2_000u64 {
                history.record(Instant::now(), Duration::from_micros(i * 997), i % 7 != 0);
            }
            tokio::time::advance(POINT_LENGTH).await;
        }
        assert_eq!(history.points.len(), HISTORY_POINTS);
        assert_eq!(history.points.capacity(), HISTORY_POINTS);
        assert_eq!(history.accumulator_bytes(), largest);
        assert_eq!(std::mem::size_of::<HistoryPoint>(), 40);
    }
}
