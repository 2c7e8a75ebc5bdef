//! The open model's lanes: long-lived tasks that arrivals are handed to, as k6's arrival-rate
//! executors hand iterations to their pre-allocated VUs.
//!
//! Why: a task per arrival costs an allocation of the request's whole future (several KB,
//! moved on spawn), a new connection handle and timer, and a connection borrowed from a shared
//! set under a lock; at tens of thousands of arrivals a second that made an arrival cost about
//! twice a closed-model request. A lane is spawned once and keeps its session (connections,
//! timer) from one arrival to the next; an arrival costs a hand-off: an idle lane popped from
//! a stack, its arrival put in its inbox, one wake-up.
//!
//! The rules the open model keeps:
//! - a lane runs one arrival at a time, so lanes busy = requests in flight, and there are never
//!   more lanes than `max_in_flight`: an arrival that finds no idle lane starts a new one only
//!   below that cap, and is dropped (by the caller) at it, never queued;
//! - the idle lanes form a stack: the most recently used lane takes the next arrival (its
//!   connection is warm and the least likely to have been closed by the server), so a run
//!   needs only as many lanes as requests were ever in flight at once, and the lanes beyond
//!   what the current rate needs sink to the bottom;
//! - none is started ahead of need (k6's `preAllocatedVUs` guesses a number; here starting a
//!   lane costs one spawn and its connection opens on its first request either way, so lanes
//!   start with the first arrival that finds none idle);
//! - a lane idle for [`LANE_IDLE`] (since its last arrival was handed to it) is retired with
//!   its connections, except the most recently used one: after a spike or a ramp down, the
//!   target is not left holding keep-alive connections the rate no longer needs, while a
//!   low-rate test (even one arrival a minute) keeps reusing its one lane.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a lane may sit idle after its last arrival before it is retired (with its
/// connections). Common servers' keep-alive timeouts are 5 s (Apache httpd, Node.js) to 75 s
/// (nginx): a connection idle this long is worth little, and a spike's extra lanes are gone
/// a few seconds after it.
pub(super) const LANE_IDLE: Duration = Duration::from_secs(10);

/// An arrival handed to a lane: the scenario to run and where its latency runs from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Arrival {
    /// Scenario index.
    pub index: usize,
    /// Its intended time (coordinated omission corrected, see `scheduler::measured_start`).
    pub from: Instant,
    /// Its offset from the run's start: when the lane was last handed work.
    pub at: Duration,
}

/// The arrival loop's side of the lanes: how many exist and which are idle.
pub(super) struct Lanes {
    shared: Arc<Shared>,
    /// Lanes started and not retired.
    count: usize,
    /// At most this many lanes (`max_in_flight`).
    max: usize,
}

/// A lane's side: how it gets its next arrival.
pub(super) struct Lane {
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    /// Offset of the last arrival this lane was handed.
    last: Duration,
}

struct Shared {
    idle: Mutex<Idle>,
}

struct Idle {
    /// Idle lanes, the most recently used at the back; each with the offset of its last
    /// arrival.
    lanes: VecDeque<(Arc<Inbox>, Duration)>,
    /// The run is over: lanes finishing their arrival end instead of waiting for another.
    closed: bool,
}

/// Where an idle lane waits: the arrival handed to it (none when it is retired) and its wake.
#[derive(Default)]
struct Inbox {
    arrival: Mutex<Option<Arrival>>,
    wake: Notify,
}

/// Locks `mutex`; a lane that panicked while holding it left nothing half-done (each critical
/// section is one push, pop or take).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lanes {
    /// No lanes yet; at most `max` (at least 1).
    pub fn new(max: usize) -> Lanes {
        Lanes {
            shared: Arc::new(Shared {
                idle: Mutex::new(Idle {
                    lanes: VecDeque::new(),
                    closed: false,
                }),
            }),
            count: 0,
            max: max.max(1),
        }
    }

    /// Hands `arrival` to the most recently used idle lane; gives it back when none is idle.
    pub fn hand(&mut self, arrival: Arrival) -> Result<(), Arrival> {
        let Some((inbox, _)) = lock(&self.shared.idle).lanes.pop_back() else {
            return Err(arrival);
        };
        *lock(&inbox.arrival) = Some(arrival);
        inbox.wake.notify_one();
        Ok(())
    }

    /// A new lane for `arrival`, which found none idle, to be spawned by the caller running
    /// `arrival` first; `None` when `max` lanes exist: the arrival is to be dropped.
    pub fn add(&mut self, arrival: Arrival) -> Option<Lane> {
        if self.count >= self.max {
            return None;
        }
        self.count += 1;
        Some(Lane {
            shared: Arc::clone(&self.shared),
            inbox: Arc::default(),
            last: arrival.at,
        })
    }

    /// Retires the idle lanes whose last arrival came more than [`LANE_IDLE`] before `now`
    /// (an offset from the run's start), keeping the most recently used one.
    pub fn retire_idle(&mut self, now: Duration) {
        let mut idle = lock(&self.shared.idle);
        while idle.lanes.len() > 1
            && let Some((inbox, last)) = idle.lanes.front()
            && now.saturating_sub(*last) >= LANE_IDLE
        {
            inbox.wake.notify_one();
            idle.lanes.pop_front();
            self.count -= 1;
        }
    }

    /// Ends every idle lane now and every busy one after its arrival; returns how many are
    /// busy (requests in flight).
    pub fn close(self) -> usize {
        let mut idle = lock(&self.shared.idle);
        idle.closed = true;
        let retired = idle.lanes.len();
        for (inbox, _) in idle.lanes.drain(..) {
            inbox.wake.notify_one();
        }
        self.count - retired
    }

    /// Lanes started and not retired.
    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.count
    }
}

impl Lane {
    /// Waits idle until the next arrival is handed to this lane; `None` when the lane is
    /// retired or the run is over.
    pub async fn next(&mut self) -> Option<Arrival> {
        {
            let mut idle = lock(&self.shared.idle);
            if idle.closed {
                return None;
            }
            idle.lanes.push_back((Arc::clone(&self.inbox), self.last));
        }
        self.inbox.wake.notified().await;
        let arrival = lock(&self.inbox.arrival).take()?;
        self.last = arrival.at;
        Some(arrival)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(at_ms: u64) -> Arrival {
        Arrival {
            index: 0,
            from: Instant::now(),
            at: Duration::from_millis(at_ms),
        }
    }

    #[tokio::test]
    async fn the_most_recently_used_lane_takes_the_next_arrival() {
        let mut lanes = Lanes::new(3);
        assert!(lanes.hand(arrival(0)).is_err(), "none idle yet");
        let mut a = lanes.add(arrival(0)).unwrap();
        let mut b = lanes.add(arrival(1)).unwrap();
        // Both go idle, a first: b is the most recently used.
        let (mut a_next, mut b_next) = (Box::pin(a.next()), Box::pin(b.next()));
        assert!(futures_poll(&mut a_next).is_none());
        assert!(futures_poll(&mut b_next).is_none());
        lanes.hand(arrival(5)).unwrap();
        assert!(futures_poll(&mut a_next).is_none(), "a still idle");
        let got = futures_poll(&mut b_next).unwrap().unwrap();
        assert_eq!(got.at, Duration::from_millis(5));
        lanes.hand(arrival(6)).unwrap();
        assert_eq!(
            futures_poll(&mut a_next).unwrap().unwrap().at.as_millis(),
            6
        );
        assert!(lanes.hand(arrival(7)).is_err(), "both busy");
        assert_eq!(lanes.count(), 2);
    }

    #[tokio::test]
    async fn lanes_stop_at_the_cap() {
        let mut lanes = Lanes::new(2);
        let _a = lanes.add(arrival(0)).unwrap();
        let _b = lanes.add(arrival(0)).unwrap();
        assert!(lanes.add(arrival(0)).is_none(), "a third lane over max 2");
        assert_eq!(Lanes::new(0).max, 1);
    }

    #[tokio::test]
    async fn idle_lanes_retire_after_lane_idle_but_the_last_used_one_stays() {
        let mut lanes = Lanes::new(10);
        let idle_ms = LANE_IDLE.as_millis() as u64;
        let mut waiting = Vec::new();
        for at in [0, 100, 200] {
            let mut lane = lanes.add(arrival(at)).unwrap();
            waiting.push(Box::pin(async move { lane.next().await }));
        }
        for next in &mut waiting {
            assert!(futures_poll(next).is_none());
        }
        // Just before the first one's LANE_IDLE: nothing retires.
        lanes.retire_idle(Duration::from_millis(idle_ms - 1));
        assert_eq!(lanes.count(), 3);
        assert!(futures_poll(&mut waiting[0]).is_none());
        // At it: the first retires (woken with nothing), the others wait.
        lanes.retire_idle(Duration::from_millis(idle_ms));
        assert_eq!(lanes.count(), 2);
        assert!(futures_poll(&mut waiting[0]).unwrap().is_none());
        // Long after: all but the most recently used one.
        lanes.retire_idle(Duration::from_secs(3600));
        assert_eq!(lanes.count(), 1);
        assert!(futures_poll(&mut waiting[1]).unwrap().is_none());
        assert!(futures_poll(&mut waiting[2]).is_none());
        lanes.hand(arrival(3_600_000)).unwrap();
        assert!(futures_poll(&mut waiting[2]).unwrap().is_some());
    }

    #[tokio::test]
    async fn closing_ends_idle_lanes_now_and_busy_ones_after_their_arrival() {
        let mut lanes = Lanes::new(10);
        let mut idle = lanes.add(arrival(0)).unwrap();
        let mut busy = lanes.add(arrival(0)).unwrap();
        let mut idle_next = Box::pin(idle.next());
        assert!(futures_poll(&mut idle_next).is_none());
        assert_eq!(lanes.close(), 1, "one busy");
        assert!(futures_poll(&mut idle_next).unwrap().is_none());
        assert!(futures_poll(&mut Box::pin(busy.next())).unwrap().is_none());
    }

    /// Polls `future` once: `Some(output)` if it is ready.
    fn futures_poll<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(future).poll(&mut cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        }
    }
}
