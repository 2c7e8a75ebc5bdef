//! What `synthex check-config` prints: the loaded config as a person reads it, with defaults
//! filled in and each scenario's share of its target's rate worked out.
//!
//! Secrets never appear: target header values (where tokens and passwords end up) print as
//! `<redacted>`, and the whole text goes through [`redact`], which hides passwords inside URLs
//! and secret query parameters, wherever they are (base URL, proxy, stats URL, request paths).

use std::fmt::Display;

use http::HeaderValue;

use super::secrets::{REDACTED, redact};
use super::units::{
    format_bytes, format_duration, format_number, format_percent, format_rate, quote,
};
use crate::data::Mode;
use crate::scenario::*;

/// Column where values start, so every section lines up.
const VALUE_COLUMN: usize = 20;

/// Renders `config` as aligned plain text: source, global settings, each target with its
/// scenarios, then resource sampling.
pub fn describe(config: &Config) -> String {
    let mut out = Out::default();
    out.row(0, "config file", config.source.display());
    out.blank();
    global(&mut out, &config.global);
    budget(&mut out, config);
    for target_config in &config.targets {
        out.blank();
        target(&mut out, target_config);
    }
    out.blank();
    resources(&mut out, &config.resources);
    if !config.load.thresholds.is_empty() {
        out.blank();
        out.heading(0, "load tests");
        for threshold in &config.load.thresholds {
            match threshold.abort_delay() {
                Some(delay) => out.row(
                    2,
                    "threshold",
                    format!(
                        "{threshold} (abort_on_fail, delay {})",
                        format_duration(delay)
                    ),
                ),
                None => out.row(2, "threshold", threshold),
            }
        }
    }
    redact(&out.text).into_owned()
}

#[derive(Default)]
struct Out {
    text: String,
}

impl Out {
    /// One `label value` line, the label indented by `indent` and the value aligned.
    fn row(&mut self, indent: usize, label: &str, value: impl Display) {
        let width = VALUE_COLUMN.saturating_sub(indent + 1).max(label.len());
        let line = format!("{:indent$}{label:<width$} {value}", "");
        self.text.push_str(line.trim_end());
        self.text.push('\n');
    }

    /// A section heading.
    fn heading(&mut self, indent: usize, title: &str) {
        self.text.push_str(&format!("{:indent$}{title}\n", ""));
    }

    /// A value under the previous row's, with no label.
    fn more(&mut self, indent: usize, value: impl Display) {
        self.row(indent, "", value);
    }

    fn blank(&mut self) {
        self.text.push('\n');
    }
}

fn list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn global(out: &mut Out, global: &Global) {
    out.heading(0, "global");
    let labels = list(
        global
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v))),
    );
    out.row(
        2,
        "labels",
        if labels.is_empty() {
            "none".into()
        } else {
            labels
        },
    );
    out.row(
        2,
        "quantiles",
        list(global.quantiles.iter().map(|q| format_number(*q))),
    );
    out.row(
        2,
        "quantile window",
        format_duration(global.quantile_window),
    );
    let buckets = list(global.buckets.iter().map(|b| format_number(*b)));
    out.row(2, "buckets", format!("{buckets} (seconds)"));
    out.row(2, "max body", format_bytes(global.max_body_bytes));
    let marker = match &global.marker_header {
        Some((name, value)) => format!("{name}: {}", header_text(value)),
        None => "none".to_string(),
    };
    out.row(2, "marker header", marker);
    out.row(
        2,
        "jitter",
        format!("{} of the period", format_percent(global.jitter)),
    );
    out.row(2, "shutdown grace", format_duration(global.shutdown_grace));
    let trace = match global.trace_context {
        true => "traceparent on every request, trace ids as exemplars",
        false => "off",
    };
    out.row(2, "trace context", trace.to_string());
    let native = match &global.native_histogram {
        Some(n) => format!(
            "schema {}, at most {} bucket{}",
            n.schema,
            n.max_buckets,
            if n.max_buckets == 1 { "" } else { "s" }
        ),
        None => "off".to_string(),
    };
    out.row(2, "native histogram", native);
}

/// The total budget and how much of it the targets use, in requests.
fn budget(out: &mut Out, config: &Config) {
    // A flow run is as many requests as it has steps, as the budget check counts it.
    let used: f64 = config
        .targets
        .iter()
        .map(|t| {
            let weights: u64 = t.scenarios.iter().map(|s| u64::from(s.weight)).sum();
            let sent: u64 = t
                .scenarios
                .iter()
                .map(|s| u64::from(s.weight) * s.rows().len() as u64)
                .sum();
            t.rate.per_second * sent as f64 / weights.max(1) as f64
        })
        .sum();
    out.row(
        2,
        "max total rate",
        format!(
            "{} (the targets send up to {})",
            format_rate(config.global.max_total_rate.per_second),
            format_rate(used)
        ),
    );
}

/// Backoff, `Retry-After` and redirect settings of a target.
fn guards(out: &mut Out, target: &Target) {
    let backoff = match &target.guard.backoff {
        Some(b) => format!(
            "after {} consecutive failures, halving per further failure down to {}",
            b.after_failures,
            format_rate(b.floor.per_second.min(target.rate.per_second))
        ),
        None => "off".to_string(),
    };
    out.row(2, "backoff", backoff);
    let cap = target.guard.retry_after_cap;
    let retry_after = match cap.is_zero() {
        true => "ignored".to_string(),
        false => format!("429/503 pause the target, at most {}", format_duration(cap)),
    };
    out.row(2, "retry-after", retry_after);
    let redirects = match target.follow_redirects {
        0 => "not followed".to_string(),
        n => format!("followed, at most {n}"),
    };
    out.row(2, "redirects", redirects);
}

/// A header value as text, or `<redacted>` when it is sensitive.
fn header_text(value: &HeaderValue) -> String {
    match (value.is_sensitive(), value.to_str()) {
        (true, _) => REDACTED.to_string(),
        (false, Ok(text)) => text.to_string(),
        (false, Err(_)) => "<binary>".to_string(),
    }
}

fn target(out: &mut Out, target: &Target) {
    out.heading(0, &format!("target {}", target.name));
    out.row(2, "base url", &target.base_url);
    let period = format_duration(round_to_micros(target.rate.period()));
    out.row(
        2,
        "rate",
        format!(
            "{} (one request every {period})",
            format_rate(target.rate.per_second)
        ),
    );
    out.row(2, "timeout", format_duration(target.timeout));
    out.row(2, "max in flight", target.max_in_flight);
    let keep_alive = match target.keep_alive {
        true => "yes (pooled connections)",
        false => "no (a fresh connection per request)",
    };
    out.row(2, "keep-alive", keep_alive);
    guards(out, target);
    let headers = target
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", header_text(value)));
    out.row(2, "headers", or_none(list(headers)));
    let proxy = target.proxy.as_ref().map(ToString::to_string);
    out.row(
        2,
        "proxy",
        proxy.unwrap_or_else(|| "none (proxy variables are ignored)".into()),
    );
    tls(out, &target.tls);
    cache(out, &target.cache);
    if let Some(endpoint) = &target.stats {
        stats(out, endpoint);
    }
    out.row(2, "objectives", or_none(objectives(&target.objectives)));
    let total: u64 = target.scenarios.iter().map(|s| u64::from(s.weight)).sum();
    for scenario_config in &target.scenarios {
        out.blank();
        scenario(out, scenario_config, total, target.rate.per_second);
    }
}

fn stats(out: &mut Out, stats: &StatsEndpoint) {
    let every = format_duration(stats.interval);
    out.row(2, "stats", format!("{} every {every}", stats.url));
    for (field, pointer) in &stats.fields {
        out.more(2, format!("{field} = {}", quote(pointer)));
    }
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "none".to_string()
    } else {
        text
    }
}

/// Keeps periods such as 1/3 s readable (`333ms 333us` rather than nanoseconds).
fn round_to_micros(duration: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_micros(duration.as_micros().min(u128::from(u64::MAX)) as u64)
}

fn tls(out: &mut Out, tls: &TlsSettings) {
    let mut parts = vec![match &tls.ca_file {
        Some(ca) => format!("system roots and {}", ca.display()),
        None => "system roots".to_string(),
    }];
    if let Some(name) = &tls.server_name {
        parts.push(format!("verify as {name}"));
    }
    if tls.insecure_skip_verify {
        parts = vec!["certificate NOT verified (insecure_skip_verify)".to_string()];
    }
    out.row(2, "tls", parts.join(", "));
}

fn cache(out: &mut Out, cache: &CacheRule) {
    out.row(2, "cache headers", list(&cache.headers));
    out.more(
        2,
        format!("hit when a value matches {}", quote(cache.hit.as_str())),
    );
    if cache.age_is_hit {
        out.more(2, "otherwise Age > 0 is a hit, Age: 0 a miss");
    }
}

/// The `pNN` key a quantile was written as (0.95 → `p95`, 0.999 → `p999`).
fn objective_key(quantile: f64) -> String {
    let digits = format_number(quantile);
    format!("p{}", digits.strip_prefix("0.").unwrap_or(&digits))
}

fn objectives(objectives: &Objectives) -> String {
    let mut parts: Vec<String> = objectives
        .latency
        .iter()
        .map(|(q, limit)| format!("{} {}", objective_key(*q), format_duration(*limit)))
        .collect();
    let ratios = [
        ("error ratio", objectives.error_ratio),
        ("availability", objectives.availability),
        ("cache hit ratio", objectives.cache_hit_ratio),
    ];
    for (name, ratio) in ratios {
        if let Some(ratio) = ratio {
            parts.push(format!("{name} {}", format_percent(ratio)));
        }
    }
    parts.join(", ")
}

fn scenario(out: &mut Out, scenario: &Scenario, total_weight: u64, target_rate: f64) {
    out.heading(2, &format!("scenario {}", scenario.name));
    let share = f64::from(scenario.weight) / total_weight.max(1) as f64;
    // A flow's weight picks whole runs, each several requests.
    let unit = match scenario.action {
        Action::Request(_) => "requests",
        Action::Flow(_) => "flow runs",
    };
    out.row(
        4,
        "weight",
        format!(
            "{} ({} of {unit}, {}/s)",
            scenario.weight,
            format_percent(share),
            format_number(target_rate * share)
        ),
    );
    if let Some(data) = &scenario.data {
        let settings = data.settings();
        let mut line = format!(
            "{} ({}, {} rows",
            settings.file.display(),
            settings.mode.as_str(),
            data.rows()
        );
        if settings.mode == Mode::Unique {
            line.push_str(&format!(
                ", on_exhausted: {}",
                settings.on_exhausted.as_str()
            ));
        }
        line.push(')');
        out.row(4, "data", line);
    }
    match &scenario.action {
        Action::Request(single) => call(out, 4, single),
        Action::Flow(flow) => {
            let mut steps = |what: &str, list: &[Step]| {
                for step in list {
                    out.heading(4, &format!("{what} {}", step.name));
                    call(out, 6, &step.call);
                    for extraction in &step.extract {
                        let from = match &extraction.source {
                            ExtractSource::Json(pointer) => format!("json {}", quote(pointer)),
                            ExtractSource::Header(name) => format!("header {name}"),
                            ExtractSource::Regex(regex) => {
                                format!("regex {}", quote(regex.as_str()))
                            }
                        };
                        out.row(6, "extract", format!("{} from {from}", extraction.var));
                    }
                }
            };
            steps("on_start", &flow.on_start);
            steps("step", &flow.steps);
        }
    }
    if !scenario.tags.is_empty() {
        out.row(4, "tags", list(&scenario.tags));
    }
}

/// A request and its expectations, at `indent`.
fn call(out: &mut Out, indent: usize, call: &Call) {
    let request = &call.request;
    out.row(
        indent,
        "request",
        format!("{} {}", request.method, request.path),
    );
    for (name, value) in &request.headers {
        out.row(indent, "header", format!("{name}: {value}"));
    }
    if let Some(body) = &request.body {
        out.row(indent, "body", body);
    }
    expectations(out, indent, &call.expect);
}

fn status_text(status: &StatusMatch) -> String {
    match status {
        StatusMatch::Code(code) => code.to_string(),
        StatusMatch::Class(class) => format!("{class}xx"),
    }
}

fn expectations(out: &mut Out, indent: usize, expect: &Expectations) {
    out.row(
        indent,
        "expect",
        format!("status {}", list(expect.status.iter().map(status_text))),
    );
    for text in &expect.body_contains {
        out.more(indent, format!("body contains {}", quote(text)));
    }
    for pattern in &expect.body_regex {
        out.more(indent, format!("body matches {}", quote(pattern.as_str())));
    }
    for (pointer, value) in &expect.json {
        out.more(indent, format!("json {} = {value}", quote(pointer)));
    }
    for header in &expect.headers {
        match &header.matches {
            Some(pattern) => out.more(
                indent,
                format!("header {} matches {}", header.name, quote(pattern.as_str())),
            ),
            None => out.more(indent, format!("header {} present", header.name)),
        }
    }
    if let Some(limit) = expect.max_latency {
        out.more(
            indent,
            format!("latency at most {}", format_duration(limit)),
        );
    }
}

fn resources(out: &mut Out, resources: &Resources) {
    out.heading(0, "resources");
    out.row(2, "interval", format_duration(resources.interval));
    if resources.processes.is_empty() {
        out.row(2, "processes", "none (host gauges only)");
    }
    for process in &resources.processes {
        let selector = match &process.selector {
            ProcessSelector::Exe(exe) => format!("executable {}", quote(exe)),
            ProcessSelector::Cmdline(regex) => {
                format!("command line matching {}", quote(regex.as_str()))
            }
            ProcessSelector::PidFile(path) => format!("pid from {}", path.display()),
        };
        out.row(2, &format!("process {}", process.name), selector);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_headers_are_redacted() {
        let mut value = HeaderValue::from_static("Bearer hunter2");
        assert_eq!(header_text(&value), "Bearer hunter2");
        value.set_sensitive(true);
        assert_eq!(header_text(&value), "<redacted>");
    }

    #[test]
    fn objective_keys_read_as_written() {
        assert_eq!(objective_key(0.95), "p95");
        assert_eq!(objective_key(0.999), "p999");
        assert_eq!(objective_key(0.5), "p5");
    }

    #[test]
    fn rows_align_values_in_one_column() {
        let mut out = Out::default();
        out.row(0, "config file", "x.yml");
        out.row(2, "rate", "2/s");
        out.row(4, "weight", 1);
        out.more(4, "next");
        assert_eq!(
            out.text,
            "config file         x.yml\n  rate              2/s\n    weight          1\n                    next\n"
        );
    }
}
