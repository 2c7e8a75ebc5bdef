//! Numeric config values and their allowed ranges: rates, durations, sizes, ratios, quantiles,
//! buckets and counts. A value outside its range is refused while the YAML is read, so the
//! message carries the value's line and column.

use std::time::Duration;

use super::scalar::Kind;
use super::units::{self, out_of_range, quote};
use crate::scenario::Rate;

/// `targets[].rate`: at least 1/h, at most 1000/s.
pub struct RateKind;
impl Kind for RateKind {
    type Value = Rate;
    const EXPECTING: &'static str = "a rate such as 2/s, 30/m or 6/h";
    fn parse(text: &str) -> Result<Rate, String> {
        let per_second = units::parse_rate(text)?;
        let per_second = units::rate_in("rate", text, per_second, units::MAX_RATE_PER_SECOND)?;
        Ok(Rate { per_second })
    }
}

/// `global.max_total_rate`: at least 1/h, at most 100000/s.
pub struct TotalRateKind;
impl Kind for TotalRateKind {
    type Value = Rate;
    const EXPECTING: &'static str = "a rate such as 50/s";
    fn parse(text: &str) -> Result<Rate, String> {
        let per_second = units::parse_rate(text)?;
        let max = units::MAX_TOTAL_RATE_PER_SECOND;
        let per_second = units::rate_in("max_total_rate", text, per_second, max)?;
        Ok(Rate { per_second })
    }
}

/// Parses a duration and checks that it fits its field's range; `what` names the value and
/// `expected` states the range in the message.
pub fn duration_in(
    what: &str,
    text: &str,
    check: fn(Duration) -> bool,
    expected: &str,
) -> Result<Duration, String> {
    let duration = units::parse_duration(text)?;
    if check(duration) {
        Ok(duration)
    } else {
        Err(out_of_range(what, text, expected))
    }
}

const DURATION: &str = "a duration such as 250ms, 5s or 5m";

/// `targets[].timeout`: more than 0, at most 5m.
pub struct TimeoutKind;
impl Kind for TimeoutKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        let check = |d: Duration| !d.is_zero() && d <= Duration::from_secs(300);
        duration_in("timeout", text, check, "more than 0 and at most 5m")
    }
}

const HOUR: Duration = Duration::from_secs(3600);
const FIVE_MINUTES: Duration = Duration::from_secs(300);

/// `global.quantile_window`: at least 10s, so each window holds enough samples; at most 1h, so
/// it holds at most 3.6 million at the highest rate.
pub struct WindowKind;
impl Kind for WindowKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        let check = |d: Duration| d >= Duration::from_secs(10) && d <= HOUR;
        duration_in(
            "quantile window",
            text,
            check,
            "at least 10s and at most 1h",
        )
    }
}

/// Polling and sampling intervals: at least 1s (sysinfo needs time between CPU readings), at
/// most 1h.
pub struct IntervalKind;
impl Kind for IntervalKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        let check = |d: Duration| d >= Duration::from_secs(1) && d <= HOUR;
        duration_in("interval", text, check, "at least 1s and at most 1h")
    }
}

/// Latency limits (`max_latency`, `pNN` objectives): more than 0, at most the longest timeout.
pub struct LatencyKind;
impl Kind for LatencyKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        let check = |d: Duration| !d.is_zero() && d <= FIVE_MINUTES;
        duration_in("latency", text, check, "more than 0 and at most 5m")
    }
}

/// Latency bounds of the load section (grades, the absolute tolerance), in seconds: 0 to 5m.
pub struct LatencyBoundKind;
impl Kind for LatencyBoundKind {
    type Value = f64;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<f64, String> {
        let check = |d: Duration| d <= FIVE_MINUTES;
        duration_in("latency", text, check, "at most 5m").map(|d| d.as_secs_f64())
    }
}

/// `global.shutdown_grace`: 0 (stop without waiting) to 1h.
pub struct GraceKind;
impl Kind for GraceKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        duration_in("shutdown grace", text, |d| d <= HOUR, "at most 1h")
    }
}

/// `targets[].retry_after_cap`: 0s (ignore `Retry-After`) to 1h.
pub struct RetryAfterCapKind;
impl Kind for RetryAfterCapKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        let check = |d: Duration| d <= HOUR;
        duration_in(
            "retry_after_cap",
            text,
            check,
            "0s (ignore Retry-After) to 1h",
        )
    }
}

/// The largest `global.max_body_bytes`: a body is held in memory while it is checked.
const MAX_BODY_BYTES: u64 = 1 << 30;

/// `global.max_body_bytes`: at least 1 byte, at most 1GiB.
pub struct BytesKind;
impl Kind for BytesKind {
    type Value = u64;
    const EXPECTING: &'static str = "a byte size such as 1MiB or 65536";
    fn parse(text: &str) -> Result<u64, String> {
        match units::parse_bytes(text)? {
            bytes @ 1..=MAX_BODY_BYTES => Ok(bytes),
            _ => Err(out_of_range(
                "byte size",
                text,
                "at least 1 byte and at most 1GiB",
            )),
        }
    }
}

/// `global.jitter`: 0% to 50% of the period.
pub struct JitterKind;
impl Kind for JitterKind {
    type Value = f64;
    const EXPECTING: &'static str = "a ratio such as 10% or 0.1";
    fn parse(text: &str) -> Result<f64, String> {
        match units::parse_ratio(text)? {
            ratio if ratio <= 0.5 => Ok(ratio),
            _ => Err(out_of_range("jitter", text, "0% to 50% of the period")),
        }
    }
}

/// Objective ratios (`error_ratio`, `cache_hit_ratio`): 0 to 1.
pub struct RatioKind;
impl Kind for RatioKind {
    type Value = f64;
    const EXPECTING: &'static str = "a ratio such as 1% or 0.01";
    fn parse(text: &str) -> Result<f64, String> {
        units::parse_ratio(text)
    }
}

/// Relative changes (`baseline_tolerances.latency_relative`, grade bounds of P99/P95): 0 to
/// 1000%.
pub struct ProportionKind;
impl Kind for ProportionKind {
    type Value = f64;
    const EXPECTING: &'static str = "a proportion such as 10% or 1.5";
    fn parse(text: &str) -> Result<f64, String> {
        match units::parse_proportion(text)? {
            value if value <= 10.0 => Ok(value),
            _ => Err(out_of_range("proportion", text, "0% to 1000% (0 to 10)")),
        }
    }
}

/// `load.findings.process_cpu` and `load.findings.limits`: a plain number, 0 or more (cores, or
/// whatever unit the Prometheus query returns).
pub struct LimitKind;
impl Kind for LimitKind {
    type Value = f64;
    const EXPECTING: &'static str = "a number such as 0.8 or 100";
    fn parse(text: &str) -> Result<f64, String> {
        number("limit", text)
    }
}

/// `objectives.availability`: above 0 and below 100% (100% leaves no error budget to burn).
pub struct AvailabilityKind;
impl Kind for AvailabilityKind {
    type Value = f64;
    const EXPECTING: &'static str = "a ratio such as 99.9%";
    fn parse(text: &str) -> Result<f64, String> {
        match units::parse_ratio(text)? {
            ratio if ratio > 0.0 && ratio < 1.0 => Ok(ratio),
            _ => Err(out_of_range(
                "availability",
                text,
                "more than 0% and less than 100%",
            )),
        }
    }
}

/// Parses a plain decimal number (YAML writes them as text), with no sign or exponent.
fn number(what: &str, text: &str) -> Result<f64, String> {
    units::parse_number(text).ok_or_else(|| {
        format!(
            "invalid {what} {}: expected a decimal number such as 0.25",
            quote(text)
        )
    })
}

/// `global.quantiles[]`: strictly between 0 and 1.
pub struct QuantileKind;
impl Kind for QuantileKind {
    type Value = f64;
    const EXPECTING: &'static str = "a quantile such as 0.95";
    fn parse(text: &str) -> Result<f64, String> {
        match number("quantile", text)? {
            q if q > 0.0 && q < 1.0 => Ok(q),
            _ => Err(out_of_range(
                "quantile",
                text,
                "more than 0 and less than 1",
            )),
        }
    }
}

/// `global.buckets[]`: a positive upper bound in seconds.
pub struct BucketKind;
impl Kind for BucketKind {
    type Value = f64;
    const EXPECTING: &'static str = "a bucket bound in seconds such as 0.25";
    fn parse(text: &str) -> Result<f64, String> {
        match number("bucket", text)? {
            bound if bound > 0.0 => Ok(bound),
            _ => Err(out_of_range("bucket", text, "more than 0 seconds")),
        }
    }
}

/// Parses a whole number in `1..=max`.
fn count(what: &str, text: &str, max: u32) -> Result<u32, String> {
    let trimmed = text.trim();
    let whole = !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit());
    match trimmed.parse::<u32>() {
        Ok(n) if whole && (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid {what} {}: expected a whole number from 1 to {max}",
            quote(text)
        )),
    }
}

/// The largest `weight` and `max_in_flight`.
pub const MAX_COUNT: u32 = 10_000;

/// `scenarios[].weight`: 1 to 10000.
pub struct WeightKind;
impl Kind for WeightKind {
    type Value = u32;
    const EXPECTING: &'static str = "a weight such as 10";
    fn parse(text: &str) -> Result<u32, String> {
        count("weight", text, MAX_COUNT)
    }
}

/// `targets[].max_in_flight`: 1 to 10000.
pub struct InFlightKind;
impl Kind for InFlightKind {
    type Value = usize;
    const EXPECTING: &'static str = "a number of requests such as 4";
    fn parse(text: &str) -> Result<usize, String> {
        count("max_in_flight", text, MAX_COUNT).map(|n| n as usize)
    }
}

/// `targets[].backoff.after_failures`: 1 to 1000.
pub struct AfterFailuresKind;
impl Kind for AfterFailuresKind {
    type Value = u32;
    const EXPECTING: &'static str = "a number of failures such as 5";
    fn parse(text: &str) -> Result<u32, String> {
        count("after_failures", text, 1000)
    }
}

/// `global.native_histogram.schema`: -4 (buckets 2^16 wide) to 8 (256 buckets per power of
/// two), the schemas Prometheus accepts.
pub struct SchemaKind;
impl Kind for SchemaKind {
    type Value = i32;
    const EXPECTING: &'static str = "a schema such as 3";
    fn parse(text: &str) -> Result<i32, String> {
        let trimmed = text.trim();
        let digits = trimmed.strip_prefix('-').unwrap_or(trimmed);
        let whole = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        match trimmed.parse::<i32>() {
            Ok(n) if whole && (-4..=8).contains(&n) => Ok(n),
            _ => Err(format!(
                "invalid schema {}: expected a whole number from -4 to 8",
                quote(text)
            )),
        }
    }
}

/// `global.native_histogram.max_buckets`: 1 to 10000.
pub struct MaxBucketsKind;
impl Kind for MaxBucketsKind {
    type Value = usize;
    const EXPECTING: &'static str = "a number of buckets such as 160";
    fn parse(text: &str) -> Result<usize, String> {
        count("max_buckets", text, MAX_COUNT).map(|n| n as usize)
    }
}

/// An on/off switch (`global.trace_context`): `on`, `off`, `true` or `false`.
pub struct SwitchKind;
impl Kind for SwitchKind {
    type Value = bool;
    const EXPECTING: &'static str = "on or off";
    fn parse(text: &str) -> Result<bool, String> {
        match text.trim() {
            "on" | "true" => Ok(true),
            "off" | "false" => Ok(false),
            _ => Err(format!(
                "invalid switch {}: expected on or off",
                quote(text)
            )),
        }
    }
}

/// The most redirects a request may follow.
pub const MAX_REDIRECTS: u32 = 20;

/// `targets[].follow_redirects`: 0 (the default: the redirect is the answer) to 20.
pub struct RedirectsKind;
impl Kind for RedirectsKind {
    type Value = u32;
    const EXPECTING: &'static str = "a number of redirects such as 3";
    fn parse(text: &str) -> Result<u32, String> {
        let trimmed = text.trim();
        let whole = !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit());
        match trimmed.parse::<u32>() {
            Ok(n) if whole && n <= MAX_REDIRECTS => Ok(n),
            _ => Err(format!(
                "invalid follow_redirects {}: expected a whole number from 0 to {MAX_REDIRECTS}",
                quote(text)
            )),
        }
    }
}

/// A load-test threshold such as `p95 < 50ms`.
pub struct ThresholdKind;

impl Kind for ThresholdKind {
    type Value = crate::report::threshold::Threshold;
    const EXPECTING: &'static str = "a threshold such as \"p95 < 50ms\" or \"error_rate < 1%\"";
    fn parse(text: &str) -> Result<Self::Value, String> {
        text.parse()
            .map_err(|e: crate::report::threshold::ThresholdError| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_enforced_with_the_expected_range_in_the_message() {
        assert_eq!(RateKind::parse("30/m").unwrap().per_second, 0.5);
        assert_eq!(RateKind::parse("1000/s").unwrap().per_second, 1000.0);
        assert_eq!(
            RateKind::parse("1001/s").err().unwrap(),
            "rate \"1001/s\" is out of range: expected at least 1/h and at most 1000/s"
        );
        assert!(RateKind::parse("1/h").is_ok());
        assert!(RateKind::parse("1/1000000h").is_err());
        assert!(RateKind::parse("0.000001/h").is_err());
        assert!(RateKind::parse("0/s").is_err());
        assert!(TimeoutKind::parse("5m").is_ok());
        assert!(TimeoutKind::parse("5m 1s").is_err());
        assert!(TimeoutKind::parse("0s").is_err());
        assert!(WindowKind::parse("10s").is_ok());
        assert!(WindowKind::parse("9s").is_err());
        assert!(IntervalKind::parse("999ms").is_err());
        assert_eq!(GraceKind::parse("0s"), Ok(Duration::ZERO));
        assert!(BytesKind::parse("0").is_err());
        assert_eq!(JitterKind::parse("50%"), Ok(0.5));
        assert!(JitterKind::parse("51%").is_err());
        assert!(AvailabilityKind::parse("100%").is_err());
        assert!(QuantileKind::parse("1").is_err());
        assert!(QuantileKind::parse("0").is_err());
        assert_eq!(QuantileKind::parse("0.999"), Ok(0.999));
        assert!(BucketKind::parse("0").is_err());
        assert!(BucketKind::parse(".inf").is_err());
        assert_eq!(WeightKind::parse("3"), Ok(3));
        assert_eq!(
            WeightKind::parse("0"),
            Err("invalid weight \"0\": expected a whole number from 1 to 10000".to_string())
        );
        assert!(WeightKind::parse("1.5").is_err());
        assert!(InFlightKind::parse("-1").is_err());
        assert!(InFlightKind::parse("+5").is_err());
        assert_eq!(InFlightKind::parse("10000"), Ok(10_000));
        assert!(InFlightKind::parse("10001").is_err());
        assert!(InFlightKind::parse("18446744073709551615").is_err());
        assert!(WindowKind::parse("1h").is_ok());
        assert!(WindowKind::parse("1h 1ns").is_err());
        assert!(IntervalKind::parse("61m").is_err());
        assert!(GraceKind::parse("2h").is_err());
        assert_eq!(BytesKind::parse("1GiB"), Ok(1 << 30));
        assert!(BytesKind::parse("1073741825").is_err());
        assert!(LatencyKind::parse("5m 1ms").is_err());
        assert!(BucketKind::parse("1e-3").is_err());
        assert_eq!(TotalRateKind::parse("100000/s").unwrap().per_second, 1e5);
        assert_eq!(
            TotalRateKind::parse("100001/s").err().unwrap(),
            "max_total_rate \"100001/s\" is out of range: expected at least 1/h and at most 100000/s"
        );
        assert!(TotalRateKind::parse("0/s").is_err());
        assert_eq!(RetryAfterCapKind::parse("0s"), Ok(Duration::ZERO));
        assert_eq!(RetryAfterCapKind::parse("1h"), Ok(HOUR));
        assert!(RetryAfterCapKind::parse("1h 1ns").is_err());
        assert_eq!(AfterFailuresKind::parse("1"), Ok(1));
        assert_eq!(AfterFailuresKind::parse("1000"), Ok(1000));
        assert!(AfterFailuresKind::parse("0").is_err());
        assert!(AfterFailuresKind::parse("1001").is_err());
        assert_eq!(SchemaKind::parse("-4"), Ok(-4));
        assert_eq!(SchemaKind::parse("8"), Ok(8));
        assert_eq!(SchemaKind::parse("0"), Ok(0));
        for bad in ["-5", "9", "3.0", "+3", "-", "", "three"] {
            assert!(SchemaKind::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(MaxBucketsKind::parse("1"), Ok(1));
        assert_eq!(MaxBucketsKind::parse("10000"), Ok(10_000));
        assert!(MaxBucketsKind::parse("0").is_err());
        assert!(MaxBucketsKind::parse("10001").is_err());
        assert_eq!(SwitchKind::parse("off"), Ok(false));
        assert_eq!(SwitchKind::parse("true"), Ok(true));
        assert_eq!(
            SwitchKind::parse("no"),
            Err("invalid switch \"no\": expected on or off".into())
        );
        assert_eq!(RedirectsKind::parse("0"), Ok(0));
        assert_eq!(RedirectsKind::parse("20"), Ok(20));
        assert_eq!(
            RedirectsKind::parse("21"),
            Err("invalid follow_redirects \"21\": expected a whole number from 0 to 20".into())
        );
        assert!(RedirectsKind::parse("-1").is_err());
        assert!(RedirectsKind::parse("+1").is_err());
    }
}
