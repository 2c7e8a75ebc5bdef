//! Numeric config values and their allowed ranges: rates, durations, sizes, ratios, quantiles,
//! buckets and counts. A value outside its range is refused while the YAML is read, so the
//! message carries the value's line and column.

use std::time::Duration;

use super::scalar::Kind;
use super::units::{self, MAX_RATE_PER_SECOND, quote};
use crate::scenario::Rate;

/// Refuses `text` as `what` out of range, saying which range was expected.
fn out_of_range(what: &str, text: &str, expected: &str) -> String {
    format!(
        "{what} {} is out of range: expected {expected}",
        quote(text)
    )
}

/// `targets[].rate`: more than 0, at most 1000/s.
pub struct RateKind;
impl Kind for RateKind {
    type Value = Rate;
    const EXPECTING: &'static str = "a rate such as 2/s, 30/m or 6/h";
    fn parse(text: &str) -> Result<Rate, String> {
        let per_second = units::parse_rate(text)?;
        if per_second <= 0.0 || per_second > MAX_RATE_PER_SECOND {
            return Err(out_of_range("rate", text, "more than 0 and at most 1000/s"));
        }
        Ok(Rate { per_second })
    }
}

/// Parses a duration and checks `min < d` (or `min <= d`) and `d <= max`.
fn duration_in(
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

/// `global.quantile_window`: at least 10s, so each window holds enough samples.
pub struct WindowKind;
impl Kind for WindowKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        let check = |d: Duration| d >= Duration::from_secs(10);
        duration_in("quantile window", text, check, "at least 10s")
    }
}

/// Polling and sampling intervals: at least 1s (sysinfo needs time between CPU readings).
pub struct IntervalKind;
impl Kind for IntervalKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        let check = |d: Duration| d >= Duration::from_secs(1);
        duration_in("interval", text, check, "at least 1s")
    }
}

/// Latency limits (`max_latency`, `pNN` objectives): more than 0.
pub struct LatencyKind;
impl Kind for LatencyKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        duration_in("latency", text, |d| !d.is_zero(), "more than 0")
    }
}

/// `global.shutdown_grace`: any duration; 0 stops without waiting.
pub struct GraceKind;
impl Kind for GraceKind {
    type Value = Duration;
    const EXPECTING: &'static str = DURATION;
    fn parse(text: &str) -> Result<Duration, String> {
        units::parse_duration(text)
    }
}

/// `global.max_body_bytes`: at least 1 byte.
pub struct BytesKind;
impl Kind for BytesKind {
    type Value = u64;
    const EXPECTING: &'static str = "a byte size such as 1MiB or 65536";
    fn parse(text: &str) -> Result<u64, String> {
        match units::parse_bytes(text)? {
            0 => Err(out_of_range("byte size", text, "at least 1 byte")),
            bytes => Ok(bytes),
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

/// Parses a plain finite number (YAML writes them as decimal text).
fn number(what: &str, text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(format!("invalid {what} {}: expected a number", quote(text))),
    }
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

/// Parses a whole number of at least 1.
fn count<T: std::str::FromStr + PartialOrd + From<u8>>(
    what: &str,
    text: &str,
) -> Result<T, String> {
    match text.trim().parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        _ => Err(format!(
            "invalid {what} {}: expected a whole number of at least 1",
            quote(text)
        )),
    }
}

/// `scenarios[].weight`: at least 1.
pub struct WeightKind;
impl Kind for WeightKind {
    type Value = u32;
    const EXPECTING: &'static str = "a weight such as 10";
    fn parse(text: &str) -> Result<u32, String> {
        count("weight", text)
    }
}

/// `targets[].max_in_flight`: at least 1.
pub struct InFlightKind;
impl Kind for InFlightKind {
    type Value = usize;
    const EXPECTING: &'static str = "a number of requests such as 4";
    fn parse(text: &str) -> Result<usize, String> {
        count("max_in_flight", text)
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
            "rate \"1001/s\" is out of range: expected more than 0 and at most 1000/s"
        );
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
            Err("invalid weight \"0\": expected a whole number of at least 1".to_string())
        );
        assert!(WeightKind::parse("1.5").is_err());
        assert!(InFlightKind::parse("-1").is_err());
    }
}
