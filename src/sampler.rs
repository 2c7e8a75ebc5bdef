//! Host and watched-process resource gauges, sampled on a timer.
//!
//! Owns `synthex_host_*` (CPU, memory, load, CPU count, from sysinfo) and drives the
//! `synthex_watched_*{process}` gauges of [`crate::watched`]. The gauges are set by a sampler
//! task rather than computed at scrape time, because CPU usage is a difference between two
//! readings and because the `/proc` reads are blocking I/O that must stay off both the scrape
//! path and the async workers (vector's host_metrics, rust-prometheus' `ProcessCollector`).
//! When nothing is watched, the process table is not read at all.

use std::time::{Duration, Instant};

use prometheus::{Gauge, Opts, Registry};
use sysinfo::System;
use tokio_util::sync::CancellationToken;

use crate::scenario::Resources;
use crate::watched::WatchedGroups;

/// Delay between the priming sample and the first one that carries CPU usage, so CPU gauges
/// appear soon after start instead of one full interval later. Above sysinfo's 200 ms minimum
/// between two host CPU readings.
const PRIME_DELAY: Duration = Duration::from_millis(500);

/// Samples host and watched-process resources into gauges of one registry.
///
/// Holds its state between samples because CPU usage is computed from the difference between
/// two readings: the first sample only primes the CPU readings (they read 0 until the second).
pub struct Sampler {
    interval: Duration,
    system: System,
    host: HostGauges,
    watched: WatchedGroups,
    /// When the latest sample read its sources.
    sampled_at: Option<Instant>,
}

/// Host-wide gauges, registered once.
struct HostGauges {
    cpu_ratio: Gauge,
    memory_used: Gauge,
    memory_total: Gauge,
    load1: Gauge,
    load5: Gauge,
    load15: Gauge,
    cpus: Gauge,
}

/// One source's resource usage in the latest sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// `host` or the watched group's name.
    pub source: String,
    /// Host: busy share of all cores together (0–1); process group: CPU seconds per second
    /// (1 = one full core), both between the last two samples.
    pub cpu_ratio: f64,
    /// Host: memory in use; process group: resident memory; bytes.
    pub memory_bytes: u64,
}

impl Sampler {
    /// Registers the host and watched-process gauges in `registry` and prepares the readers.
    ///
    /// Fails when a gauge name is already registered, or (as a `prometheus::Error::Msg`) when
    /// this platform cannot be sampled, so a misconfigured daemon stops at start-up.
    pub fn new(resources: &Resources, registry: &Registry) -> Result<Sampler, prometheus::Error> {
        let system = System::new().map_err(|err| {
            prometheus::Error::Msg(format!(
                "cannot sample host resources on this platform: {err}"
            ))
        })?;
        let host = HostGauges::register(registry)?;
        let watched = WatchedGroups::register(&resources.processes, registry)?;
        Ok(Sampler {
            interval: resources.interval,
            system,
            host,
            watched,
            sampled_at: None,
        })
    }

    /// Samples every `resources.interval` until `shutdown` is cancelled.
    ///
    /// The first sample primes CPU readings and a second follows after 500 ms, so every gauge is
    /// meaningful within a second of start. Each sample runs on tokio's blocking pool because
    /// the `/proc` reads are synchronous.
    pub async fn run(self, shutdown: CancellationToken) {
        self.run_observed(shutdown, |_, _| {}).await;
    }

    /// [`Sampler::run`], calling `observe` after every sample with the instant it read its
    /// sources and the new [`Reading`]s: the load test keeps them as its report's resource series.
    pub async fn run_observed(
        self,
        shutdown: CancellationToken,
        mut observe: impl FnMut(Instant, Vec<Reading>) + Send,
    ) {
        let mut sampler = self;
        let start = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval_at(start + PRIME_DELAY, sampler.interval);
        // After a stall (suspended VM, overloaded host) sample once, not in a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let joined = tokio::task::spawn_blocking(move || {
                sampler.sample_once();
                sampler
            })
            .await;
            sampler = match joined {
                Ok(sampler) => sampler,
                Err(err) => {
                    tracing::error!(error = %err, "resource sampler stopped: a sample panicked");
                    return;
                }
            };
            if let Some(at) = sampler.sampled_at {
                observe(at, sampler.readings());
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
        }
    }

    /// Takes one sample now and sets every gauge. Blocking (reads `/proc`).
    ///
    /// Public so tests and callers with their own timing can drive samples; CPU ratios need two
    /// calls at least 200 ms apart (the first primes them).
    pub fn sample_once(&mut self) {
        self.sampled_at = Some(Instant::now());
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.watched.sample();
        // Host gauges last: a scrape that shows this sample's host figures shows its process
        // figures too.
        self.set_host_gauges();
    }

    /// The latest sample: the host first (`source` "host", busy share of all cores and memory
    /// in use), then each watched group (CPU seconds per second and resident memory).
    pub fn readings(&self) -> Vec<Reading> {
        let host = Reading {
            source: "host".to_string(),
            cpu_ratio: self.host.cpu_ratio.get(),
            memory_bytes: self.host.memory_used.get() as u64,
        };
        std::iter::once(host)
            .chain(self.watched.latest().map(|(name, cpu, rss)| Reading {
                source: name.to_string(),
                cpu_ratio: cpu,
                memory_bytes: rss as u64,
            }))
            .collect()
    }

    fn set_host_gauges(&self) {
        let host = &self.host;
        host.cpu_ratio
            .set(f64::from(self.system.global_cpu_usage()) / 100.0);
        host.memory_used.set(self.system.used_memory() as f64);
        host.memory_total.set(self.system.total_memory() as f64);
        host.cpus.set(self.system.cpus().len() as f64);
        match System::load_average() {
            Ok(load) => {
                host.load1.set(load.one);
                host.load5.set(load.five);
                host.load15.set(load.fifteen);
            }
            Err(err) => tracing::debug!(error = %err, "load average unavailable"),
        }
    }
}

impl HostGauges {
    fn register(registry: &Registry) -> Result<HostGauges, prometheus::Error> {
        let gauge = |name: &str, help: &str| -> Result<Gauge, prometheus::Error> {
            let gauge = Gauge::with_opts(Opts::new(name, help))?;
            registry.register(Box::new(gauge.clone()))?;
            Ok(gauge)
        };
        Ok(HostGauges {
            cpu_ratio: gauge(
                "synthex_host_cpu_usage_ratio",
                "Host CPU busy time over all cores, 0 to 1, between the last two samples.",
            )?,
            memory_used: gauge(
                "synthex_host_memory_used_bytes",
                "Host memory in use (total minus available), in bytes.",
            )?,
            memory_total: gauge(
                "synthex_host_memory_total_bytes",
                "Host memory size in bytes.",
            )?,
            load1: gauge("synthex_host_load1", "Host load average over 1 minute.")?,
            load5: gauge("synthex_host_load5", "Host load average over 5 minutes.")?,
            load15: gauge("synthex_host_load15", "Host load average over 15 minutes.")?,
            cpus: gauge(
                "synthex_host_cpus",
                "Number of CPUs the host reports (not a container CPU quota).",
            )?,
        })
    }
}
