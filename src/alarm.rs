//! The schedule's wake-up at each slot's due time ([`crate::scheduler`]), from a Linux timerfd
//! of its own instead of tokio's timer wheel.
//!
//! Why: tokio's wheel files a deadline more than 64 ms ahead in a coarser level, wakes the
//! runtime at the start of that level's 64 ms slot only to move the deadline down a level, and
//! wakes it again at the deadline. At the daemon's usual rates (a period of 64 ms or more) every
//! slot thus cost two wake-ups of the runtime thread, each an `epoll_wait` that sleeps and two
//! context switches, one of them for nothing. A timerfd fires once, at the deadline, through the
//! runtime's own `epoll`: one wake-up per slot for two cheap system calls (`timerfd_settime`,
//! then `read`).
//!
//! Where no timerfd can be made (out of file descriptors, a platform without it) the alarm
//! sleeps on tokio's timer as before, and tests on tokio's paused clock use [`Alarm::tokio`]:
//! a timerfd keeps real time.

use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, timerfd_create, timerfd_settime,
};
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// Wakes its owner at a given instant; one deadline at a time.
#[derive(Debug)]
pub struct Alarm(Option<AsyncFd<OwnedFd>>);

impl Alarm {
    /// An alarm on a timerfd of its own (CLOCK_MONOTONIC, the clock of [`Instant`]), or on
    /// tokio's timer when none can be made. Needs a runtime with I/O enabled.
    pub fn timerfd() -> Alarm {
        // `AsyncFd::new` is deprecated because an arbitrary `AsRawFd` may close or swap its fd
        // while registered; an `OwnedFd` owned by the `AsyncFd` cannot, and the sound
        // replacement (`AsyncFd::register`) is `unsafe`, which this crate forbids.
        #[allow(deprecated)]
        let made = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .map_err(std::io::Error::from)
        .and_then(AsyncFd::new);
        match made {
            Ok(fd) => Alarm(Some(fd)),
            Err(err) => {
                tracing::debug!(error = %err, "no timerfd: the schedule sleeps on tokio's timer");
                Alarm::tokio()
            }
        }
    }

    /// An alarm on tokio's timer, which follows tokio's paused clock in tests.
    pub fn tokio() -> Alarm {
        Alarm(None)
    }

    /// Resolves at `due` (at once if it has passed). Cancel-safe: dropped before it fires, the
    /// next call re-arms the timer, and a stale expiry is never taken for the new deadline.
    pub async fn until(&mut self, due: Instant) {
        let Some(fd) = &self.0 else {
            return tokio::time::sleep_until(due).await;
        };
        let wait = due.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return;
        }
        if arm(fd, wait).is_err() {
            return tokio::time::sleep_until(due).await;
        }
        // The timer was armed after `due - wait` was read, so it fires at `due` or later: an
        // earlier readiness is a stale expiry of a deadline given up before it fired.
        while Instant::now() < due {
            let Ok(mut ready) = fd.readable().await else {
                return tokio::time::sleep_until(due).await;
            };
            let mut expirations = [0u8; 8];
            let read = rustix::io::read(fd.get_ref(), &mut expirations);
            ready.clear_ready();
            if let Err(err) = read
                && err != rustix::io::Errno::AGAIN
            {
                return tokio::time::sleep_until(due).await;
            }
        }
    }
}

/// Arms the timer to fire once, `wait` (more than zero) from now.
fn arm(fd: &AsyncFd<OwnedFd>, wait: Duration) -> rustix::io::Result<()> {
    let zero = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let value = rustix::time::Timespec {
        tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    let spec = Itimerspec {
        it_interval: zero,
        it_value: value,
    };
    timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_at_the_deadline_not_before_and_survives_an_abandoned_wait() {
        let mut alarm = Alarm::timerfd();
        assert!(alarm.0.is_some(), "this host can make a timerfd");
        // Given up before it fires: its expiry must not end the next wait early.
        let abandoned = Instant::now() + Duration::from_millis(20);
        tokio::select! {
            () = alarm.until(abandoned) => panic!("fired before its deadline"),
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        for wait in [80, 3, 130] {
            let due = Instant::now() + Duration::from_millis(wait);
            alarm.until(due).await;
            let now = Instant::now();
            assert!(now >= due, "woke {:?} early", due - now);
            // Late only by the machine's scheduling (a loaded CI runner's thread can wait
            // hundreds of ms), never by a missed or lost expiry, which would hang here.
            assert!(
                now - due < Duration::from_secs(2),
                "woke {:?} late",
                now - due
            );
        }
        // A deadline already past resolves at once.
        alarm.until(Instant::now()).await;
    }
}
