//! The per-target prometheus families (skips, in-flight, certificate expiry, up) and the
//! config-derived constant gauges (build info, schedule, objectives), set at start-up and on
//! every reload.
//! The per-scenario families live in [`super::collector`].

use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::scenario::{Config, Target};

/// The plain per-target families, registered in the registry at construction.
pub(super) struct Families {
    pub(super) skipped: IntCounterVec,
    pub(super) in_flight: IntGaugeVec,
    pub(super) cert_expiry: GaugeVec,
    pub(super) target_up: IntGaugeVec,
    pub(super) effective_rate: GaugeVec,
    pub(super) paused: IntGaugeVec,
}

/// A target's guard gauges: what rate synthex actually allows it now, and whether an operator
/// paused it. Cheap to clone (the handles share their value).
#[derive(Debug, Clone)]
pub struct GuardGauges {
    /// `synthex_effective_requests_per_second{target}`.
    pub effective_rate: Gauge,
    /// `synthex_target_paused{target}`.
    pub paused: IntGauge,
}

impl Families {
    /// Creates and registers the families; nothing is exported until a label set exists.
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Families> {
        let families = Families {
            skipped: counter_vec(
                "synthex_requests_skipped_total",
                "Scheduled request slots that were not started, by reason.",
                &["target", "reason"],
            )?,
            in_flight: IntGaugeVec::new(
                Opts::new(
                    "synthex_in_flight_requests",
                    "Synthetic requests currently in flight.",
                ),
                &["target"],
            )?,
            cert_expiry: GaugeVec::new(
                Opts::new(
                    "synthex_tls_cert_expiry_timestamp_seconds",
                    "Earliest notAfter in the target's certificate chain, as a Unix timestamp.",
                ),
                &["target"],
            )?,
            target_up: IntGaugeVec::new(
                Opts::new(
                    "synthex_target_up",
                    "1 when the target's last synthetic request succeeded, else 0.",
                ),
                &["target"],
            )?,
            effective_rate: GaugeVec::new(
                Opts::new(
                    "synthex_effective_requests_per_second",
                    "Request rate synthex allows the target now: the configured rate, less \
                     while backoff slows it down, 0 while Retry-After or an operator pauses it.",
                ),
                &["target"],
            )?,
            paused: IntGaugeVec::new(
                Opts::new(
                    "synthex_target_paused",
                    "1 while an operator has paused the target's traffic, else 0.",
                ),
                &["target"],
            )?,
        };
        registry.register(Box::new(families.effective_rate.clone()))?;
        registry.register(Box::new(families.paused.clone()))?;
        registry.register(Box::new(families.skipped.clone()))?;
        registry.register(Box::new(families.in_flight.clone()))?;
        registry.register(Box::new(families.cert_expiry.clone()))?;
        registry.register(Box::new(families.target_up.clone()))?;
        Ok(families)
    }
}

impl Families {
    /// The guard gauges of target `name`, starting at its configured rate, not paused.
    pub(super) fn guard_gauges(&self, name: &str, rate: f64) -> GuardGauges {
        let gauges = GuardGauges {
            effective_rate: self.effective_rate.with_label_values(&[name]),
            paused: self.paused.with_label_values(&[name]),
        };
        gauges.effective_rate.set(rate);
        gauges.paused.set(0);
        gauges
    }
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    IntCounterVec::new(Opts::new(name, help), labels)
}

/// Registers `synthex_build_info`, which never changes.
pub(super) fn register_build_info(registry: &Registry) -> prometheus::Result<()> {
    let build = IntGaugeVec::new(
        Opts::new(
            "synthex_build_info",
            "Always 1; the labels name the synthex version and git revision.",
        ),
        &["version", "revision"],
    )?;
    build
        .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("SYNTHEX_REVISION")])
        .set(1);
    registry.register(Box::new(build))
}

/// The gauges that only restate the configuration (schedule, objectives), so dashboards and
/// alert rules can compare what happens with what was asked for. A reload updates them.
pub(super) struct Constants {
    /// Schedule, latency, error ratio, availability, cache hit ratio, in the order
    /// [`Constants::series`] indexes them.
    families: [GaugeVec; 5],
}

/// One constant series: the index of its family, its label values and its value.
type Series = (usize, Vec<String>, f64);

impl Constants {
    /// Creates and registers the families and sets them from `config`.
    pub(super) fn register(config: &Config, registry: &Registry) -> prometheus::Result<Constants> {
        let families = [
            GaugeVec::new(
                Opts::new(
                    "synthex_schedule_requests_per_second",
                    "Configured request rate of the target, over all its scenarios.",
                ),
                &["target"],
            )?,
            GaugeVec::new(
                Opts::new(
                    "synthex_objective_latency_seconds",
                    "Latency objective of the target at quantile slo_quantile, from the config \
                     (not `quantile`: that label is reserved for summaries).",
                ),
                &["target", "slo_quantile"],
            )?,
            ratio_gauge(
                "synthex_objective_error_ratio",
                "Highest acceptable failure ratio of the target, from the config.",
            )?,
            ratio_gauge(
                "synthex_objective_availability_ratio",
                "Availability objective (SLO) of the target, from the config.",
            )?,
            ratio_gauge(
                "synthex_objective_cache_hit_ratio",
                "Lowest acceptable cache hit ratio of the target, from the config.",
            )?,
        ];
        for family in &families {
            registry.register(Box::new(family.clone()))?;
        }
        let constants = Constants { families };
        constants.apply(&[], &config.targets);
        Ok(constants)
    }

    /// Moves the gauges from the `old` targets' values to the `new` ones': sets every new
    /// series first, then removes the old series the new config no longer has, so a scrape in
    /// between never misses a series that stays.
    pub(super) fn apply(&self, old: &[Target], new: &[Target]) {
        let wanted = series(new);
        for (family, labels, value) in &wanted {
            self.families[*family]
                .with_label_values(&labels.iter().map(String::as_str).collect::<Vec<_>>())
                .set(*value);
        }
        for (family, labels, _) in series(old) {
            if !wanted.iter().any(|(f, l, _)| *f == family && *l == labels) {
                let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                let _ = self.families[family].remove_label_values(&labels);
            }
        }
    }
}

fn series(targets: &[Target]) -> Vec<Series> {
    let mut out = Vec::new();
    for target in targets {
        let name = target.name.clone();
        out.push((0, vec![name.clone()], target.rate.per_second));
        let objectives = &target.objectives;
        for (quantile, limit) in &objectives.latency {
            out.push((
                1,
                vec![name.clone(), quantile.to_string()],
                limit.as_secs_f64(),
            ));
        }
        for (family, value) in [
            (2, objectives.error_ratio),
            (3, objectives.availability),
            (4, objectives.cache_hit_ratio),
        ] {
            if let Some(value) = value {
                out.push((family, vec![name.clone()], value));
            }
        }
    }
    out
}

fn ratio_gauge(name: &str, help: &str) -> prometheus::Result<GaugeVec> {
    GaugeVec::new(Opts::new(name, help), &["target"])
}

/// Handles of a target's lazily created series: absent until their first value, so a gauge
/// never claims a state (down, expiry 0) that was never observed.
#[derive(Default)]
pub(super) struct LazyTargetSeries {
    pub(super) up: std::sync::OnceLock<IntGauge>,
    pub(super) cert_expiry: std::sync::OnceLock<Gauge>,
}
