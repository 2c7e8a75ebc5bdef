//! What identifies a target or scenario across config reloads: a fingerprint of its full
//! definition. A reload keeps whatever has the same fingerprint (a running schedule, a
//! scenario's counters, histograms and quantile window) and replaces the rest, so an unchanged
//! part of the config never restarts and its series never reset.
//!
//! The fingerprints hash the validated model's `Debug` text plus the bytes of every header
//! value: secrets are sensitive header values whose `Debug` hides them, and a rotated secret must
//! still count as a change (the requests it sends differ).

use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use http::HeaderMap;

use crate::scenario::{DEFAULT_MAX_TOTAL_RATE, Global, GuardSettings, Rate, Scenario, Target};

/// Identity of a target's schedule and probe: any change to the target or to the global
/// settings its requests use restarts it. `shutdown_grace` is read at shutdown only, and
/// `max_total_rate` at load only.
pub fn runner_key(global: &Global, target: &Target) -> u64 {
    let global = Global {
        shutdown_grace: Duration::ZERO,
        max_total_rate: DEFAULT_MAX_TOTAL_RATE,
        ..global.clone()
    };
    let mut hasher = DefaultHasher::new();
    format!("{global:?}{target:?}").hash(&mut hasher);
    hash_headers(&target.headers, &mut hasher);
    hasher.finish()
}

/// Identity of what one scenario's series measure: the request it sends (target connection
/// settings and the scenario's own definition) and how results are judged and bucketed. The
/// schedule (rate, weight, cap, jitter, budget, guards), trace headers, tags, objectives and the stats endpoint
/// are left out: a changed rate must not reset the counters of requests that are still the same.
pub fn scenario_key(global: &Global, target: &Target, scenario: &Scenario) -> u64 {
    let global = Global {
        shutdown_grace: Duration::ZERO,
        jitter: 0.0,
        max_total_rate: DEFAULT_MAX_TOTAL_RATE,
        // Trace headers change no measurement: switching them keeps the series.
        trace_context: true,
        ..global.clone()
    };
    let target = Target {
        rate: Rate { per_second: 1.0 },
        max_in_flight: 1,
        guard: GuardSettings::default(),
        stats: None,
        objectives: Default::default(),
        scenarios: Vec::new(),
        ..target.clone()
    };
    let scenario = Scenario {
        weight: 1,
        tags: Vec::new(),
        ..scenario.clone()
    };
    let mut hasher = DefaultHasher::new();
    format!("{global:?}{target:?}{scenario:?}").hash(&mut hasher);
    hash_headers(&target.headers, &mut hasher);
    hasher.finish()
}

fn hash_headers(headers: &HeaderMap, hasher: &mut DefaultHasher) {
    for (name, value) in headers {
        name.as_str().hash(hasher);
        value.as_bytes().hash(hasher);
    }
}

/// A checksum of a file's content, for `--config.auto-reload-interval` (the Prometheus way:
/// reload when the bytes change, whatever the modification time says; ConfigMap mounts swap a
/// symlink and keep odd timestamps).
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// `Debug` text equality, for settings that must not change on a reload.
pub fn same<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use std::path::Path;

    fn load(text: &str) -> crate::scenario::Config {
        config::load_str(text, Path::new("t.yml")).unwrap()
    }

    const BASE: &str = "targets:\n  - name: a\n    base_url: http://127.0.0.1:1\n    rate: 2/s\n    headers: {Authorization: \"Bearer one\"}\n    scenarios:\n      - {name: x, request: {path: /x}}\n      - {name: y, weight: 2, request: {path: /y}}\n";

    fn keys(text: &str) -> (u64, u64, u64) {
        let c = load(text);
        let t = &c.targets[0];
        (
            runner_key(&c.global, t),
            scenario_key(&c.global, t, &t.scenarios[0]),
            scenario_key(&c.global, t, &t.scenarios[1]),
        )
    }

    #[test]
    fn the_same_text_gives_the_same_keys() {
        assert_eq!(keys(BASE), keys(BASE));
    }

    #[test]
    fn a_rate_or_weight_change_restarts_the_schedule_but_keeps_the_scenarios() {
        let (runner, x, y) = keys(BASE);
        let changed = BASE.replace("2/s", "5/s").replace("weight: 2", "weight: 3");
        let (runner2, x2, y2) = keys(&changed);
        assert_ne!(runner, runner2);
        assert_eq!((x, y), (x2, y2));
    }

    #[test]
    fn a_changed_request_or_secret_is_a_new_definition() {
        let (runner, x, y) = keys(BASE);
        let (_, x2, y2) = keys(&BASE.replace("/y}", "/z}"));
        assert_eq!(x, x2);
        assert_ne!(y, y2);
        let (runner3, x3, _) = keys(&BASE.replace("Bearer one", "Bearer two"));
        assert_ne!(runner, runner3);
        assert_ne!(x, x3);
    }

    #[test]
    fn guards_and_the_budget_restart_the_schedule_but_redirects_change_what_is_measured() {
        let (runner, x, _) = keys(BASE);
        let guarded = BASE.replace(
            "rate: 2/s\n",
            "rate: 2/s\n    backoff: off\n    retry_after_cap: 1s\n",
        );
        let (runner2, x2, _) = keys(&guarded);
        assert_ne!(runner, runner2);
        assert_eq!(x, x2);
        let budget = format!("global: {{max_total_rate: 3/s}}\n{BASE}");
        assert_eq!(keys(&budget), keys(BASE));
        let (_, x3, _) = keys(&BASE.replace("rate: 2/s\n", "rate: 2/s\n    follow_redirects: 1\n"));
        assert_ne!(x, x3);
    }

    #[test]
    fn checksums_follow_the_bytes() {
        assert_eq!(checksum(b"a: 1\n"), checksum(b"a: 1\n"));
        assert_ne!(checksum(b"a: 1\n"), checksum(b"a: 2\n"));
    }
}
