//! The per-target prometheus families (skips, in-flight, certificate expiry, up) and the
//! config-derived constant gauges (build info, schedule, objectives), set once at start-up.
//! The per-scenario families live in [`super::collector`].

use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::scenario::{Config, Target};

/// The plain per-target families, registered in the registry at construction.
pub(super) struct Families {
    pub(super) skipped: IntCounterVec,
    pub(super) in_flight: IntGaugeVec,
    pub(super) cert_expiry: GaugeVec,
    pub(super) target_up: IntGaugeVec,
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
        };
        registry.register(Box::new(families.skipped.clone()))?;
        registry.register(Box::new(families.in_flight.clone()))?;
        registry.register(Box::new(families.cert_expiry.clone()))?;
        registry.register(Box::new(families.target_up.clone()))?;
        Ok(families)
    }
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    IntCounterVec::new(Opts::new(name, help), labels)
}

/// Registers the gauges that only restate the configuration and the build, so dashboards and
/// alert rules can compare what happens with what was asked for.
pub(super) fn register_constants(config: &Config, registry: &Registry) -> prometheus::Result<()> {
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
    registry.register(Box::new(build))?;

    let schedule = GaugeVec::new(
        Opts::new(
            "synthex_schedule_requests_per_second",
            "Configured request rate of the target, over all its scenarios.",
        ),
        &["target"],
    )?;
    for target in &config.targets {
        schedule
            .with_label_values(&[&target.name])
            .set(target.rate.per_second);
    }
    registry.register(Box::new(schedule))?;
    register_objectives(&config.targets, registry)
}

fn register_objectives(targets: &[Target], registry: &Registry) -> prometheus::Result<()> {
    let latency = GaugeVec::new(
        Opts::new(
            "synthex_objective_latency_seconds",
            "Latency objective of the target at quantile slo_quantile, from the config \
             (not `quantile`: that label is reserved for summaries).",
        ),
        &["target", "slo_quantile"],
    )?;
    let error_ratio = ratio_gauge(
        "synthex_objective_error_ratio",
        "Highest acceptable failure ratio of the target, from the config.",
    )?;
    let availability = ratio_gauge(
        "synthex_objective_availability_ratio",
        "Availability objective (SLO) of the target, from the config.",
    )?;
    let cache = ratio_gauge(
        "synthex_objective_cache_hit_ratio",
        "Lowest acceptable cache hit ratio of the target, from the config.",
    )?;
    for target in targets {
        let name = target.name.as_str();
        let objectives = &target.objectives;
        for (quantile, limit) in &objectives.latency {
            latency
                .with_label_values(&[name, &quantile.to_string()])
                .set(limit.as_secs_f64());
        }
        set_if(&error_ratio, name, objectives.error_ratio);
        set_if(&availability, name, objectives.availability);
        set_if(&cache, name, objectives.cache_hit_ratio);
    }
    for family in [latency, error_ratio, availability, cache] {
        registry.register(Box::new(family))?;
    }
    Ok(())
}

fn ratio_gauge(name: &str, help: &str) -> prometheus::Result<GaugeVec> {
    GaugeVec::new(Opts::new(name, help), &["target"])
}

fn set_if(family: &GaugeVec, target: &str, value: Option<f64>) {
    if let Some(value) = value {
        family.with_label_values(&[target]).set(value);
    }
}

/// Handles of a target's lazily created series: absent until their first value, so a gauge
/// never claims a state (down, expiry 0) that was never observed.
#[derive(Default)]
pub(super) struct LazyTargetSeries {
    pub(super) up: std::sync::OnceLock<IntGauge>,
    pub(super) cert_expiry: std::sync::OnceLock<Gauge>,
}
