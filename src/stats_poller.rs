//! Gauges from the target's own JSON stats endpoint (`targets[].stats`).
//!
//! Many services publish a few numbers of their own (cache hit ratio, pool sizes, queue depth) as
//! JSON. Polling them beside the synthetic requests puts the service's own view next to what
//! the probes see, on one dashboard, without a second exporter. Owns
//! `synthex_target_stat{target,field}` and `synthex_stats_poll_failures_total{target}`.
//!
//! The endpoint is read with the target's probe client, so it gets the same credentials, TLS
//! settings, proxy and body cap as the synthetic requests. A poll that fails (no answer, non-2xx,
//! not JSON) or lacks a configured field is counted, and the affected gauges are removed rather
//! than left at a stale value: a dashboard then shows a gap, not a number that is no longer true.

use std::collections::BTreeMap;

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};
use serde_json::Value;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::probe::Probe;
use crate::scenario::StatsEndpoint;

/// The stats gauges of every target, registered once in the daemon's registry.
pub struct StatsPoller {
    values: GaugeVec,
    failures: IntCounterVec,
}

impl StatsPoller {
    /// Registers `synthex_target_stat` and `synthex_stats_poll_failures_total` in `registry`.
    pub fn new(registry: &Registry) -> Result<StatsPoller, prometheus::Error> {
        let values = GaugeVec::new(
            Opts::new(
                "synthex_target_stat",
                "Numeric field of the target's own JSON stats endpoint (booleans as 0/1).",
            ),
            &["target", "field"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "synthex_stats_poll_failures_total",
                "Polls of the target's stats endpoint that failed or lacked a configured field.",
            ),
            &["target"],
        )?;
        registry.register(Box::new(values.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        Ok(StatsPoller { values, failures })
    }

    /// Polls `endpoint` every `endpoint.interval` until `shutdown` is cancelled. Logs when the
    /// endpoint starts failing and when it recovers, not on every poll.
    pub async fn run(
        &self,
        target: &str,
        endpoint: &StatsEndpoint,
        probe: &Probe,
        shutdown: CancellationToken,
    ) {
        // Present at 0 from the start, so `rate()` and `increase()` see the first failure.
        self.failures.with_label_values(&[target]);
        let mut ticks = tokio::time::interval(endpoint.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let result = tokio::select! {
                () = shutdown.cancelled() => return,
                result = self.poll_once(target, endpoint, probe) => result,
            };
            match (result, &last_error) {
                (Ok(()), Some(_)) => {
                    tracing::info!(%target, url = %endpoint.url, "stats endpoint recovered");
                    last_error = None;
                }
                (Err(error), previous) if previous.as_ref() != Some(&error) => {
                    tracing::warn!(%target, url = %endpoint.url, %error, "stats endpoint poll failed");
                    last_error = Some(error);
                }
                _ => {}
            }
        }
    }

    /// Removes the gauges a reload made obsolete: the fields of `old` that `new` no longer
    /// polls, and the failure counter too when the target (or its stats endpoint) is gone.
    pub fn retire(&self, target: &str, old: &StatsEndpoint, new: Option<&StatsEndpoint>) {
        for field in old.fields.keys() {
            if !new.is_some_and(|new| new.fields.contains_key(field)) {
                let _absent = self.values.remove_label_values(&[target, field]);
            }
        }
        if new.is_none() {
            let _absent = self.failures.remove_label_values(&[target]);
        }
    }

    /// Polls once and updates the gauges; the error says what was wrong with the answer.
    pub async fn poll_once(
        &self,
        target: &str,
        endpoint: &StatsEndpoint,
        probe: &Probe,
    ) -> Result<(), String> {
        let document = match fetch_json(endpoint, probe).await {
            Ok(document) => document,
            Err(error) => {
                self.failures.with_label_values(&[target]).inc();
                for field in endpoint.fields.keys() {
                    let _absent = self.values.remove_label_values(&[target, field]);
                }
                return Err(error);
            }
        };
        let (found, missing) = extract(&document, &endpoint.fields);
        for (field, value) in found {
            self.values.with_label_values(&[target, field]).set(value);
        }
        if missing.is_empty() {
            return Ok(());
        }
        self.failures.with_label_values(&[target]).inc();
        for (field, _) in &missing {
            let _absent = self.values.remove_label_values(&[target, field]);
        }
        let described: Vec<String> = missing
            .iter()
            .map(|(field, why)| format!("field {field}: {why}"))
            .collect();
        Err(described.join("; "))
    }
}

async fn fetch_json(endpoint: &StatsEndpoint, probe: &Probe) -> Result<Value, String> {
    let (status, body) = probe
        .fetch(endpoint.url.clone())
        .await
        .map_err(|failure| format!("{}: {}", failure.reason, failure.message))?;
    if !(200..300).contains(&status) {
        return Err(format!("status {status}, expected 2xx"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("the body is not JSON: {e}"))
}

/// What one poll found: `(field, value)` pairs and `(field, why it is missing)` pairs.
type Extracted<'a> = (Vec<(&'a str, f64)>, Vec<(&'a str, String)>);

/// The configured fields found in `document` as numbers, and those missing with the reason.
fn extract<'a>(document: &Value, fields: &'a BTreeMap<String, String>) -> Extracted<'a> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (field, pointer) in fields {
        match document.pointer(pointer) {
            Some(Value::Number(n)) => match n.as_f64() {
                Some(value) => found.push((field.as_str(), value)),
                None => missing.push((field.as_str(), format!("{pointer} is out of range"))),
            },
            Some(Value::Bool(b)) => found.push((field.as_str(), if *b { 1.0 } else { 0.0 })),
            Some(other) => missing.push((
                field.as_str(),
                format!(
                    "{pointer} holds {}, expected a number or boolean",
                    kind(other)
                ),
            )),
            None => missing.push((field.as_str(), format!("{pointer} is not in the document"))),
        }
    }
    (found, missing)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_booleans_are_read_and_the_rest_reported() {
        let document = serde_json::json!({
            "cache": {"hit_rate": 0.75, "warm": true},
            "pool": {"active": 3, "name": "main"},
        });
        let fields: BTreeMap<String, String> = [
            ("hit_ratio", "/cache/hit_rate"),
            ("warm", "/cache/warm"),
            ("active", "/pool/active"),
            ("name", "/pool/name"),
            ("gone", "/pool/idle"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (found, missing) = extract(&document, &fields);
        assert_eq!(
            found,
            vec![("active", 3.0), ("hit_ratio", 0.75), ("warm", 1.0)]
        );
        assert_eq!(
            missing,
            vec![
                ("gone", "/pool/idle is not in the document".to_string()),
                (
                    "name",
                    "/pool/name holds a string, expected a number or boolean".to_string()
                ),
            ]
        );
    }
}
