//! The scrape-time collector for the windowed families: `synthex_request_latency_seconds`
//! (a summary; the prometheus crate has no Summary type, so it is built from the proto model)
//! and `synthex_cache_hit_ratio`. Both read the scenarios' sliding windows at scrape time.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use tokio::time::Instant;

use super::state::{TargetSlot, lock};
use crate::window::Counts;

const LATENCY_NAME: &str = "synthex_request_latency_seconds";
const LATENCY_HELP: &str = "Latency of synthetic requests from their scheduled start: quantiles over \
     the sliding window, _sum and _count since start.";
const CACHE_NAME: &str = "synthex_cache_hit_ratio";
const CACHE_HELP: &str = "Cache hits / (hits + misses) of the target over the sliding window; \
     absent while no response was classified.";

/// Reads the windows of every scenario at scrape.
pub(super) struct WindowCollector {
    targets: Arc<[TargetSlot]>,
    quantiles: Vec<f64>,
    descs: Vec<Desc>,
}

impl WindowCollector {
    /// A collector exporting `quantiles` (as configured) over the given targets' windows.
    pub(super) fn new(
        targets: Arc<[TargetSlot]>,
        quantiles: Vec<f64>,
    ) -> prometheus::Result<WindowCollector> {
        let descs = vec![
            Desc::new(
                LATENCY_NAME.into(),
                LATENCY_HELP.into(),
                vec!["target".into(), "scenario".into()],
                HashMap::new(),
            )?,
            Desc::new(
                CACHE_NAME.into(),
                CACHE_HELP.into(),
                vec!["target".into()],
                HashMap::new(),
            )?,
        ];
        Ok(WindowCollector {
            targets,
            quantiles,
            descs,
        })
    }

    fn summaries(&self, now: Instant) -> (Vec<proto::Metric>, Vec<proto::Metric>) {
        let scenario_count = self.targets.iter().map(|t| t.scenarios.len()).sum();
        let mut summaries = Vec::with_capacity(scenario_count);
        let mut ratios = Vec::new();
        for target in self.targets.iter() {
            let mut target_counts = Counts::default();
            for scenario in &target.scenarios {
                let mut state = lock(&scenario.state);
                let values = state.window.quantiles(now, &self.quantiles);
                target_counts.add(&state.window.counts(now));
                let mut summary = proto::Summary::default();
                summary.set_sample_count(state.count);
                summary.set_sample_sum(state.sum_seconds);
                drop(state);
                summary.set_quantile(
                    self.quantiles
                        .iter()
                        .zip(values)
                        .map(|(&q, value)| {
                            let mut quantile = proto::Quantile::default();
                            quantile.set_quantile(q);
                            // NaN for an empty window, as the Go client does.
                            quantile.set_value(value.map_or(f64::NAN, |d| d.as_secs_f64()));
                            quantile
                        })
                        .collect(),
                );
                let mut metric = proto::Metric::default();
                metric.set_label(scenario.labels.clone());
                metric.set_summary(summary);
                summaries.push(metric);
            }
            if let Some(ratio) = target_counts.cache_hit_ratio() {
                let mut gauge = proto::Gauge::default();
                gauge.set_value(ratio);
                let mut metric = proto::Metric::default();
                metric.set_label(vec![target.label.clone()]);
                metric.set_gauge(gauge);
                ratios.push(metric);
            }
        }
        (summaries, ratios)
    }
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_string());
    family.set_help(help.to_string());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

impl Collector for WindowCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (summaries, ratios) = self.summaries(Instant::now());
        vec![
            family(LATENCY_NAME, LATENCY_HELP, MetricType::SUMMARY, summaries),
            family(CACHE_NAME, CACHE_HELP, MetricType::GAUGE, ratios),
        ]
    }
}
