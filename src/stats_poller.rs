//! Gauges from the target's own JSON stats endpoint (`targets[].stats`).
//!
//! Many services publish a few numbers of their own (cache hit ratio, pool sizes, queue depth) as
//! JSON. Polling them beside the synthetic requests puts the service's own view next to what
//! the probes see, on one dashboard, without a second exporter. Owns
//! `synthex_target_stat{target,field}` and `synthex_stats_poll_failures_total{target}`.
//!
//! A pointer to an object (or array) exports every number and boolean under it, the key path
//! joined with `.` (`field="cache.hits"`). Those keys come from the target, so they are data:
//! the exposition escapes them, keys longer than [`MAX_FIELD_CHARS`] or holding control
//! characters are dropped, and one target never has more than [`MAX_STAT_SERIES`] series
//! (the configured fields in name order, then keys in JSON key order). What is left out is
//! counted in `synthex_target_stat_dropped_total{target}` on every poll.
//!
//! The endpoint is read with the target's probe client, so it gets the same credentials, TLS
//! settings, proxy and body cap as the synthetic requests. A poll that fails (no answer, non-2xx,
//! not JSON) or lacks a configured field is counted, and the affected gauges are removed rather
//! than left at a stale value: a dashboard then shows a gap, not a number that is no longer true.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};
use serde_json::Value;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::probe::Probe;
use crate::scenario::StatsEndpoint;

/// Most `synthex_target_stat` series of one target.
pub const MAX_STAT_SERIES: usize = 100;

/// Longest `field` label value made from a target's key path, in characters.
pub const MAX_FIELD_CHARS: usize = 128;

/// Deepest nesting flattened under an object pointer; deeper values are dropped.
const MAX_DEPTH: usize = 16;

/// The stats gauges of every target, registered once in the daemon's registry.
pub struct StatsPoller {
    values: GaugeVec,
    failures: IntCounterVec,
    dropped: IntCounterVec,
    /// The `field` values each target exports now, so those gone from the answer are removed.
    exported: Mutex<HashMap<String, BTreeSet<String>>>,
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
        let dropped = IntCounterVec::new(
            Opts::new(
                "synthex_target_stat_dropped_total",
                "Stats-endpoint values left out: beyond the series cap, too deep, or with a key that is too long or holds control characters.",
            ),
            &["target"],
        )?;
        registry.register(Box::new(values.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(dropped.clone()))?;
        Ok(StatsPoller {
            values,
            failures,
            dropped,
            exported: Mutex::default(),
        })
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
        self.dropped.with_label_values(&[target]);
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
                self.export(target, Vec::new());
                return Err(error);
            }
        };
        let extracted = extract(&document, &endpoint.fields);
        self.dropped
            .with_label_values(&[target])
            .inc_by(extracted.dropped);
        self.export(target, extracted.found);
        if extracted.missing.is_empty() {
            return Ok(());
        }
        self.failures.with_label_values(&[target]).inc();
        let described: Vec<String> = extracted
            .missing
            .iter()
            .map(|(field, why)| format!("field {field}: {why}"))
            .collect();
        Err(described.join("; "))
    }

    /// The fields `target` exports now with their values: what a load test records per poll.
    pub fn current(&self, target: &str) -> Vec<(String, f64)> {
        let exported = self.exported.lock().unwrap_or_else(|e| e.into_inner());
        exported.get(target).map_or_else(Vec::new, |fields| {
            fields
                .iter()
                .map(|field| {
                    let value = self.values.with_label_values(&[target, field]).get();
                    (field.clone(), value)
                })
                .collect()
        })
    }

    /// Sets `target`'s gauges to `found` and removes those it exported before and not now.
    fn export(&self, target: &str, found: Vec<(String, f64)>) {
        let mut exported = self.exported.lock().unwrap_or_else(|e| e.into_inner());
        let now: BTreeSet<String> = found.iter().map(|(field, _)| field.clone()).collect();
        let before = exported.insert(target.to_string(), now.clone());
        for gone in before.iter().flatten().filter(|f| !now.contains(*f)) {
            let _absent = self.values.remove_label_values(&[target, gone]);
        }
        for (field, value) in found {
            self.values.with_label_values(&[target, &field]).set(value);
        }
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

/// What one poll found.
#[derive(Debug, Default, PartialEq)]
struct Extracted<'a> {
    /// `(field label, value)`, at most [`MAX_STAT_SERIES`].
    found: Vec<(String, f64)>,
    /// `(configured field, why it is missing)`.
    missing: Vec<(&'a str, String)>,
    /// Values left out (cap, depth, unusable keys).
    dropped: u64,
}

/// The configured fields found in `document` as numbers (objects flattened), those missing
/// with the reason, and how many values were left out.
fn extract<'a>(document: &Value, fields: &'a BTreeMap<String, String>) -> Extracted<'a> {
    let mut out = Extracted::default();
    for (field, pointer) in fields {
        match document.pointer(pointer) {
            Some(Value::Number(n)) => match n.as_f64() {
                Some(value) => out.keep(field.clone(), value),
                None => out
                    .missing
                    .push((field.as_str(), format!("{pointer} is out of range"))),
            },
            Some(Value::Bool(b)) => out.keep(field.clone(), if *b { 1.0 } else { 0.0 }),
            Some(nested @ (Value::Object(_) | Value::Array(_))) => {
                out.flatten(field, nested, 0);
            }
            Some(other) => out.missing.push((
                field.as_str(),
                format!(
                    "{pointer} holds {}, expected a number, a boolean or an object of them",
                    kind(other)
                ),
            )),
            None => out
                .missing
                .push((field.as_str(), format!("{pointer} is not in the document"))),
        }
    }
    out
}

impl Extracted<'_> {
    /// Keeps `(field, value)` while under the cap; counts it as dropped beyond.
    fn keep(&mut self, field: String, value: f64) {
        if self.found.len() < MAX_STAT_SERIES {
            self.found.push((field, value));
        } else {
            self.dropped += 1;
        }
    }

    /// Every number and boolean under `value`, named `prefix.key.key…`; strings and nulls
    /// inside an object are skipped (they are not values to graph).
    fn flatten(&mut self, prefix: &str, value: &Value, depth: usize) {
        let children: Box<dyn Iterator<Item = (String, &Value)>> = match value {
            Value::Object(map) => Box::new(map.iter().map(|(k, v)| (k.clone(), v))),
            Value::Array(items) => {
                Box::new(items.iter().enumerate().map(|(i, v)| (i.to_string(), v)))
            }
            _ => return,
        };
        for (key, child) in children {
            let name = format!("{prefix}.{key}");
            let usable = name.chars().count() <= MAX_FIELD_CHARS
                && !key.chars().any(char::is_control)
                && depth < MAX_DEPTH;
            match child {
                Value::Number(_) | Value::Bool(_) if !usable => self.dropped += 1,
                Value::Number(n) => match n.as_f64() {
                    Some(v) => self.keep(name, v),
                    None => self.dropped += 1,
                },
                Value::Bool(b) => self.keep(name, if *b { 1.0 } else { 0.0 }),
                Value::Object(_) | Value::Array(_) if !usable => {
                    self.dropped += leaves(child);
                }
                Value::Object(_) | Value::Array(_) => self.flatten(&name, child, depth + 1),
                Value::String(_) | Value::Null => {}
            }
        }
    }
}

/// Numbers and booleans under `value`, however deep.
fn leaves(value: &Value) -> u64 {
    match value {
        Value::Number(_) | Value::Bool(_) => 1,
        Value::Object(map) => map.values().map(leaves).sum(),
        Value::Array(items) => items.iter().map(leaves).sum(),
        Value::String(_) | Value::Null => 0,
    }
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
        let out = extract(&document, &fields);
        let found: Vec<(&str, f64)> = out.found.iter().map(|(f, v)| (f.as_str(), *v)).collect();
        assert_eq!(
            found,
            vec![("active", 3.0), ("hit_ratio", 0.75), ("warm", 1.0)]
        );
        assert_eq!(
            out.missing,
            vec![
                ("gone", "/pool/idle is not in the document".to_string()),
                (
                    "name",
                    "/pool/name holds a string, expected a number, a boolean or an object of them"
                        .to_string()
                ),
            ]
        );
        assert_eq!(out.dropped, 0);
    }

    #[test]
    fn objects_flatten_up_to_the_cap_and_the_rest_is_counted() {
        let mut many = serde_json::Map::new();
        for i in 0..MAX_STAT_SERIES + 5 {
            many.insert(format!("k{i:04}"), serde_json::json!(i));
        }
        let long = "x".repeat(MAX_FIELD_CHARS);
        let document = serde_json::json!({
            "a": {"ok": 1, "bad\nkey": 2, "list": [true, "skip", null], (long): 3},
            "many": many,
        });
        let fields: BTreeMap<String, String> = [("a", "/a"), ("b", "/many")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let out = extract(&document, &fields);
        assert_eq!(out.found.len(), MAX_STAT_SERIES);
        assert_eq!(out.found[0], ("a.list.0".to_string(), 1.0));
        assert_eq!(out.found[1], ("a.ok".to_string(), 1.0));
        assert_eq!(out.found[2], ("b.k0000".to_string(), 0.0));
        // The control character, the over-long key and what is beyond the cap.
        assert_eq!(out.dropped, 2 + 7);
        assert!(out.missing.is_empty());
    }
}
