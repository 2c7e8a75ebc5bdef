//! The cap on the exporter's open connections, below the process's file-descriptor limit.
//!
//! Every connection holds a descriptor, and so does every probe request: a flood of idle
//! connections to the metrics port must never take the descriptors the probes need (they
//! would fail with "Too many open files" and raise a false "target down"). So the exporter
//! keeps at most [`ConnectionLimit::for_process`]'s cap open, leaving a reserve of the
//! descriptor limit to the probes.
//!
//! At the cap, a new connection takes the place of the oldest one that has not yet sent a
//! complete request (a slow or idle client, by far the cheapest to drop): a flood of half-open
//! connections cannot lock Prometheus out, it only pushes the flood's own oldest connections
//! out. Only when every open connection is serving requests is the new one refused.
//!
//! After a flood, the memory its connections held is handed back to the kernel: glibc keeps
//! freed heap pages mapped (resident memory stayed doubled after 1,100 connections), so once
//! the open connections fall to a quarter of a peak of at least [`FLOOD`], the release
//! function the binary installed (`malloc_trim`) runs on a blocking thread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::{IntCounter, IntGauge, Registry};
use tokio_util::sync::CancellationToken;

/// Most connections kept open, whatever the descriptor limit: Prometheus needs one or two.
pub const MAX_CONNECTIONS: usize = 1024;

/// Descriptors always left to the probes, sampler and log files: a quarter of the limit, and
/// at least this many.
pub const MIN_RESERVE: u64 = 128;

/// Connections that make a flood worth releasing memory after.
pub const FLOOD: usize = 64;

/// Hands freed memory back to the operating system (the allocator is the binary's choice).
pub type ReleaseMemory = fn();

/// The exporter's connection counts, as metrics (created unregistered; [`ServerStats::register`]
/// adds them to the exporter's registry).
#[derive(Clone)]
pub struct ServerStats {
    /// Connections open now.
    pub open: IntGauge,
    /// The cap.
    pub limit: IntGauge,
    /// New connections closed at once because every slot was serving requests.
    pub refused: IntCounter,
    /// Connections without a complete request closed to make room for a new one.
    pub evicted: IntCounter,
    /// TLS handshakes that failed or timed out (wrong or missing client certificate, plain
    /// HTTP on the TLS port, a client that never finished).
    pub tls_handshake_failures: IntCounter,
    /// Requests answered 401 (wrong or missing credentials).
    pub unauthorized: IntCounter,
    /// Requests answered 429 by `rate_limit`.
    pub rate_limited: IntCounter,
}

impl ServerStats {
    fn new() -> ServerStats {
        // Names and help texts are constants: creating these metrics cannot fail.
        let gauge = |name: &str, help: &str| {
            IntGauge::new(name, help).unwrap_or_else(|_| unreachable!("valid metric name {name}"))
        };
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).unwrap_or_else(|_| unreachable!("valid metric name {name}"))
        };
        ServerStats {
            open: gauge(
                "synthex_exporter_connections",
                "Connections open to the exporter's port.",
            ),
            limit: gauge(
                "synthex_exporter_connections_limit",
                "Most connections the exporter keeps open (below the file-descriptor limit).",
            ),
            refused: counter(
                "synthex_exporter_connections_refused_total",
                "Connections closed at once because the exporter had its limit of connections, all serving requests.",
            ),
            evicted: counter(
                "synthex_exporter_connections_evicted_total",
                "Connections that had not sent a complete request, closed to make room for a new one at the limit.",
            ),
            tls_handshake_failures: counter(
                "synthex_exporter_tls_handshake_failures_total",
                "TLS handshakes on the exporter's port that failed or timed out.",
            ),
            unauthorized: counter(
                "synthex_exporter_requests_unauthorized_total",
                "Requests to the exporter answered 401 (missing or wrong credentials).",
            ),
            rate_limited: counter(
                "synthex_exporter_requests_rate_limited_total",
                "Requests to the exporter answered 429 by the web config's rate_limit.",
            ),
        }
    }

    /// Adds every count to `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.open.clone()))?;
        registry.register(Box::new(self.limit.clone()))?;
        registry.register(Box::new(self.refused.clone()))?;
        registry.register(Box::new(self.evicted.clone()))?;
        registry.register(Box::new(self.tls_handshake_failures.clone()))?;
        registry.register(Box::new(self.unauthorized.clone()))?;
        registry.register(Box::new(self.rate_limited.clone()))
    }
}

/// The open connections, oldest first, and the cap.
pub struct ConnectionLimit {
    max: usize,
    slots: Mutex<Slots>,
    stats: ServerStats,
    release: Option<ReleaseMemory>,
}

#[derive(Default)]
struct Slots {
    next_id: u64,
    open: BTreeMap<u64, Entry>,
    /// Most connections open at once since memory was last released.
    peak: usize,
}

struct Entry {
    served: Arc<AtomicBool>,
    evict: CancellationToken,
}

/// One admitted connection's place; dropping it frees the place.
pub struct Slot {
    id: u64,
    limit: Arc<ConnectionLimit>,
    served: Arc<AtomicBool>,
    evicted: CancellationToken,
}

impl Slot {
    /// Resolves when the connection was chosen to make room for a newer one.
    pub async fn evicted(&self) {
        self.evicted.cancelled().await;
    }

    /// The flag to set once the connection has sent a complete request: it is no longer
    /// evicted then.
    pub fn served_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.served)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = self.limit.lock();
        if slots.open.remove(&self.id).is_some() {
            self.limit.stats.open.dec();
        }
        if slots.peak >= FLOOD && slots.open.len() * 4 <= slots.peak {
            slots.peak = slots.open.len();
            if let Some(release) = self.limit.release {
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => drop(runtime.spawn_blocking(release)),
                    Err(_) => release(),
                }
            }
        }
    }
}

impl ConnectionLimit {
    /// A cap of `max` connections.
    pub fn new(max: usize) -> ConnectionLimit {
        let stats = ServerStats::new();
        stats.limit.set(i64::try_from(max).unwrap_or(i64::MAX));
        ConnectionLimit {
            max: max.max(1),
            slots: Mutex::new(Slots::default()),
            stats,
            release: None,
        }
    }

    /// Calls `release` on a blocking thread after a flood of connections ends.
    pub fn releasing_memory_with(self, release: ReleaseMemory) -> ConnectionLimit {
        ConnectionLimit {
            release: Some(release),
            ..self
        }
    }

    /// The cap for this process: [`MAX_CONNECTIONS`], lowered so that a reserve (a quarter of
    /// the file-descriptor limit, at least [`MIN_RESERVE`]) stays free for everything else.
    pub fn for_process() -> ConnectionLimit {
        ConnectionLimit::new(cap_for(descriptor_limit()))
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The counts, for the exporter to register.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// A place for a new connection, evicting the oldest connection that has not sent a
    /// complete request if the cap is reached; `None` (counted as refused) when every open
    /// connection is serving requests.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut slots = self.lock();
        if slots.open.len() >= self.max {
            let idle = slots
                .open
                .iter()
                .find(|(_, entry)| !entry.served.load(Ordering::Relaxed))
                .map(|(id, _)| *id);
            match idle.and_then(|id| slots.open.remove(&id)) {
                Some(entry) => {
                    entry.evict.cancel();
                    self.stats.evicted.inc();
                    self.stats.open.dec();
                }
                None => {
                    self.stats.refused.inc();
                    return None;
                }
            }
        }
        let id = slots.next_id;
        slots.next_id += 1;
        let served = Arc::new(AtomicBool::new(false));
        let evicted = CancellationToken::new();
        slots.open.insert(
            id,
            Entry {
                served: Arc::clone(&served),
                evict: evicted.clone(),
            },
        );
        self.stats.open.inc();
        slots.peak = slots.peak.max(slots.open.len());
        Some(Slot {
            id,
            limit: Arc::clone(self),
            served,
            evicted,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cap for a soft descriptor limit of `nofile` (`None`: unknown, or unlimited).
pub fn cap_for(nofile: Option<u64>) -> usize {
    let Some(nofile) = nofile else {
        return MAX_CONNECTIONS;
    };
    let reserve = (nofile / 4).max(MIN_RESERVE);
    let room = usize::try_from(nofile.saturating_sub(reserve)).unwrap_or(usize::MAX);
    room.clamp(1, MAX_CONNECTIONS)
}

/// The soft `RLIMIT_NOFILE` of this process (from `/proc/self/limits`), `None` when unlimited
/// or unreadable.
pub fn descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    soft_nofile(&limits)
}

/// The soft limit on the "Max open files" line of a `/proc/PID/limits` text.
fn soft_nofile(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_a_quarter_and_at_least_128_descriptors() {
        assert_eq!(cap_for(Some(1024)), 768);
        assert_eq!(cap_for(Some(256)), 128);
        assert_eq!(cap_for(Some(129)), 1);
        assert_eq!(cap_for(Some(100)), 1);
        assert_eq!(cap_for(Some(1_048_576)), MAX_CONNECTIONS);
        assert_eq!(cap_for(None), MAX_CONNECTIONS);
    }

    #[test]
    fn reads_the_soft_limit_of_open_files() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max processes             63488                63488                processes\n\
                    Max open files            1024                 524288               files\n";
        assert_eq!(soft_nofile(text), Some(1024));
        assert_eq!(
            soft_nofile("Max open files  unlimited  unlimited  files\n"),
            None
        );
    }
}
