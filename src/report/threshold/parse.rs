//! Parsing of threshold expressions, with messages that name the bad part and what was expected.

use std::fmt;
use std::str::FromStr;

use super::{Metric, Op, Scope, Threshold, ThresholdError};
use crate::config::units::{
    parse_duration, parse_number, parse_percentile, parse_rate, parse_ratio, quote,
};

const METRICS: &str = "p50, p95, p99 (any pNN), avg, min, max, error_rate, rps or requests";

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(expression: &str) -> Result<Threshold, ThresholdError> {
        parse(expression).map_err(|problem| ThresholdError {
            expression: expression.to_string(),
            problem,
        })
    }
}

impl TryFrom<String> for Threshold {
    type Error = ThresholdError;

    fn try_from(expression: String) -> Result<Threshold, ThresholdError> {
        expression.parse()
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

fn parse(expression: &str) -> Result<Threshold, String> {
    let text = expression.trim();
    if text.is_empty() {
        return Err("empty threshold (expected e.g. p95 < 50ms)".into());
    }
    if let Some(rest) = text.strip_prefix(PROMETHEUS_PREFIX) {
        return parse_query(text, rest);
    }
    let (scope, condition) = match text.rsplit_once(':') {
        Some((scope, condition)) => (Some(parse_scope(scope)?), condition.trim()),
        None => (None, text),
    };
    let (at, op, op_len) = comparison(condition)?;
    let metric = parse_metric(condition[..at].trim())?;
    let value = condition[at + op_len..].trim();
    let limit = parse_value(metric, value)?;
    Ok(Threshold {
        expression: text.to_string(),
        scope,
        query: None,
        metric,
        op,
        limit,
        abort_after: None,
    })
}

/// What starts a threshold on a `load.prometheus` query.
const PROMETHEUS_PREFIX: &str = "prometheus.";

/// `prometheus.NAME < X` (the peak) or `prometheus.NAME:avg < X`; `rest` follows the prefix.
fn parse_query(text: &str, rest: &str) -> Result<Threshold, String> {
    let (at, op, op_len) = comparison(rest)?;
    let left = rest[..at].trim();
    let (name, metric) = match left.split_once(':') {
        None => (left, Metric::QueryPeak),
        Some((name, "max")) => (name, Metric::QueryPeak),
        Some((name, "avg")) => (name, Metric::QueryAvg),
        Some((_, other)) => {
            return Err(format!(
                "{other:?} is not a summary of a query (expected prometheus.NAME, prometheus.NAME:max or prometheus.NAME:avg)"
            ));
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if name.is_empty() || !name.chars().all(valid) {
        return Err(format!(
            "{name:?} is not a query name (expected the NAME of a load.prometheus.queries entry)"
        ));
    }
    let value = rest[at + op_len..].trim();
    let limit = parse_number(value).ok_or_else(|| {
        format!(
            "invalid limit {}: expected a number such as 0.8 or 100",
            quote(value)
        )
    })?;
    Ok(Threshold {
        expression: text.to_string(),
        scope: None,
        query: Some(name.to_string()),
        metric,
        op,
        limit,
        abort_after: None,
    })
}

/// Where the comparison operator of `condition` is: `(byte offset, operator, its length)`.
fn comparison(condition: &str) -> Result<(usize, Op, usize), String> {
    ["<=", ">=", "<", ">"]
        .iter()
        .find_map(|token| {
            let op = match *token {
                "<=" => Op::Le,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                _ => Op::Gt,
            };
            condition.find(token).map(|at| (at, op, token.len()))
        })
        .ok_or_else(|| {
            format!("no comparison in {condition:?} (expected <, <=, > or >=, e.g. p95 < 50ms)")
        })
}

fn parse_scope(scope: &str) -> Result<Scope, String> {
    let parts: Vec<String> = scope
        .trim()
        .split('/')
        .map(|p| p.trim().to_string())
        .collect();
    if parts.len() > 3 || parts.iter().any(String::is_empty) {
        return Err(format!(
            "{scope:?} is not a row name (expected `scenario:`, `flow/step:`, `target/scenario:` or `target/flow/step:` before the condition)"
        ));
    }
    Ok(Scope { parts })
}

fn parse_metric(name: &str) -> Result<Metric, String> {
    let metric = match name {
        "avg" | "mean" => Metric::Avg,
        "min" => Metric::Min,
        "max" => Metric::Max,
        "error_rate" => Metric::ErrorRate,
        "rps" => Metric::Rps,
        "requests" => Metric::Requests,
        "" => {
            return Err(format!(
                "no metric before the comparison (expected {METRICS})"
            ));
        }
        _ => match name.strip_prefix('p').and_then(parse_percentile) {
            Some(q) => Metric::Percentile(q),
            _ => return Err(format!("{name:?} is not a metric (expected {METRICS})")),
        },
    };
    Ok(metric)
}

/// The limit of a threshold on `metric`, in its unit, read with the one grammar of values.
fn parse_value(metric: Metric, value: &str) -> Result<f64, String> {
    match metric {
        Metric::ErrorRate => parse_ratio(value),
        Metric::Rps => parse_rate(value),
        Metric::Requests => parse_number(value)
            .filter(|n| n.fract() == 0.0)
            .ok_or_else(|| {
                format!(
                    "invalid count {}: expected a whole number such as 1000",
                    quote(value)
                )
            }),
        _ => parse_duration(value).map(|d| d.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(expression: &str) -> String {
        expression.parse::<Threshold>().unwrap_err().to_string()
    }

    #[test]
    fn every_documented_form_parses() {
        for (text, metric, op, limit) in [
            ("p95 < 50ms", Metric::Percentile(0.95), Op::Lt, 0.05),
            ("p99<200ms", Metric::Percentile(0.99), Op::Lt, 0.2),
            ("p50 <= 10ms", Metric::Percentile(0.5), Op::Le, 0.01),
            ("p99.9 < 1s", Metric::Percentile(0.999), Op::Lt, 1.0),
            ("p999 < 1s", Metric::Percentile(0.999), Op::Lt, 1.0),
            ("avg < 20ms", Metric::Avg, Op::Lt, 0.02),
            ("max < 1s", Metric::Max, Op::Lt, 1.0),
            ("error_rate < 1%", Metric::ErrorRate, Op::Lt, 0.01),
            ("error_rate < 0.01", Metric::ErrorRate, Op::Lt, 0.01),
            ("rps > 100", Metric::Rps, Op::Gt, 100.0),
            ("rps > 120/m", Metric::Rps, Op::Gt, 2.0),
            ("p95 < 1m 30s", Metric::Percentile(0.95), Op::Lt, 90.0),
            ("error_rate < 99.9%", Metric::ErrorRate, Op::Lt, 0.999),
            ("requests >= 1000", Metric::Requests, Op::Ge, 1000.0),
        ] {
            let t: Threshold = text.parse().unwrap();
            assert_eq!(
                (t.metric, t.op, t.limit, t.scope),
                (metric, op, limit, None),
                "{text}"
            );
        }
        for (text, name) in [
            ("api/order_status: p95 < 50ms", "api/order_status"),
            ("order_status: p95 < 50ms", "order_status"),
            ("session/me: p99 < 2s", "session/me"),
            (" api / session / me : p99 < 2s", "api/session/me"),
        ] {
            let t: Threshold = text.parse().unwrap();
            assert_eq!(t.scope_name().as_deref(), Some(name), "{text}");
        }
    }

    #[test]
    fn malformed_thresholds_name_the_bad_part() {
        assert_eq!(
            error("p95 < 50 parsecs"),
            r#"threshold "p95 < 50 parsecs": invalid duration "50 parsecs": expected a number with a unit such as 250ms, 1.5s, 5m or 1m 30s"#
        );
        assert_eq!(
            error("p96x < 50ms"),
            format!(r#"threshold "p96x < 50ms": "p96x" is not a metric (expected {METRICS})"#)
        );
        assert!(error("p95 50ms").contains("no comparison in \"p95 50ms\""));
        assert!(error("error_rate < 150%").contains("invalid ratio \"150%\": at most 100%"));
        assert!(error("rps > lots").contains("invalid rate \"lots\""));
        assert!(error("requests > 1.5").contains("invalid count \"1.5\""));
        assert!(error(": p95 < 1s").contains("is not a row name"));
        assert!(error("/x: p95 < 1s").contains("is not a row name"));
        assert!(error("a//c: p95 < 1s").contains("is not a row name"));
        assert_eq!(
            error("a/b/c/d: p95 < 1s"),
            r#"threshold "a/b/c/d: p95 < 1s": "a/b/c/d" is not a row name (expected `scenario:`, `flow/step:`, `target/scenario:` or `target/flow/step:` before the condition)"#
        );
        assert!(error("< 1s").contains("no metric before the comparison"));
        assert!(error("p0 < 1s").contains("\"p0\" is not a metric"));
        assert!(error("  ").contains("empty threshold"));
    }

    #[test]
    fn thresholds_deserialise_from_strings() {
        let t: Vec<Threshold> = serde_json::from_str(r#"["p95 < 50ms"]"#).unwrap();
        assert_eq!(t[0].to_string(), "p95 < 50ms");
        assert!(serde_json::from_str::<Vec<Threshold>>(r#"["p95 < 50"]"#).is_err());
    }

    mod properties {
        use std::time::Duration;

        use super::*;
        use crate::config::units::{MAX_DURATION, format_duration, format_percent, format_rate};
        use proptest::prelude::*;

        fn threshold_text() -> impl Strategy<Value = String> {
            let part = prop_oneof![
                prop::sample::select(vec![
                    "p95",
                    "p99.9",
                    "p999",
                    "p",
                    "p0",
                    "p100.5",
                    "error_rate",
                    "rps",
                    "requests",
                    "avg",
                    "max",
                    "<",
                    "<=",
                    ">",
                    ">=",
                    ":",
                    "/",
                    "%",
                    "ms",
                    "1m 30s",
                    "/s",
                    "api",
                    " ",
                    "..",
                    "-",
                    "1e9",
                ])
                .prop_map(str::to_string),
                "[0-9.]{1,6}",
                ".{0,3}",
            ];
            prop::collection::vec(part, 0..8).prop_map(|parts| parts.concat())
        }

        proptest! {
            #[test]
            fn parsing_never_panics(text in threshold_text()) {
                if let Ok(t) = text.parse::<Threshold>() {
                    prop_assert_eq!(t.to_string().parse::<Threshold>(), Ok(t));
                }
            }

            #[test]
            fn limits_are_the_grammar_values(
                nanos in 0..=MAX_DURATION.as_nanos() as u64,
                ratio in 0.0..=1.0f64,
                rate in 0.001..=1000.0f64,
            ) {
                let duration = Duration::from_nanos(nanos);
                let t: Threshold = format!("p99.9 < {}", format_duration(duration)).parse().unwrap();
                prop_assert_eq!((t.metric, t.limit), (Metric::Percentile(0.999), duration.as_secs_f64()));
                let t: Threshold = format!("error_rate <= {}", format_percent(ratio)).parse().unwrap();
                prop_assert_eq!(t.limit, ratio);
                let t: Threshold = format!("api/x: rps > {}", format_rate(rate)).parse().unwrap();
                prop_assert_eq!(t.limit, rate);
            }
        }
    }
}
