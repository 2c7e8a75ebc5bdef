//! The one grammar of every value written as text: durations, request rates, byte sizes and
//! ratios, wherever they are written (config keys, threshold expressions, command-line flags,
//! load profile files), plus the inverse formatting (`check-config`, messages).
//!
//! Numbers are decimals without sign or exponent, read digit by digit so a written value is
//! exact: `1.5s` is 1 500 000 000 ns, `1.5KiB` is 1536 bytes and `99.9%` is the double nearest
//! 0.999 (dividing a parsed 99.9 by 100 would give 0.9990000000000001). Parsers return the bare
//! value or a one-line lowercase message that quotes what was found and says what was expected;
//! the range of each field lives with the field (config kinds, flags, profile keys), using the
//! limits below where they are shared.

use std::time::Duration;

/// The largest number of requests per second a daemon target (and a user's pace) may ask for.
pub const MAX_RATE_PER_SECOND: f64 = 1000.0;

/// The smallest non-zero rate, one request an hour: a slower rate's period overflows timers
/// long before it could be useful.
pub const MIN_RATE_PER_SECOND: f64 = 1.0 / 3600.0;

/// The largest duration the grammar reads: 100 days, far beyond any field's range, so that sums
/// of durations and deadlines computed from them can never overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 24 * 3600);

/// The largest value `global.max_total_rate` may be raised to.
pub const MAX_TOTAL_RATE_PER_SECOND: f64 = 100_000.0;

/// Quotes `text` for a message: double quotes, control characters escaped, nothing else touched
/// (so a regex like `\d+` reads as written, not as `\\d+`).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c.is_control() || c == '"' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A decimal as written: whole part and fraction digits, with no sign or exponent.
struct Decimal<'a> {
    whole: &'a str,
    fraction: &'a str,
}

impl<'a> Decimal<'a> {
    /// `12`, `12.5`, `.5` or `12.`; at least one digit, only digits and one point.
    fn parse(text: &'a str) -> Option<Decimal<'a>> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let well_formed = digits(whole) && digits(fraction) && whole.len() + fraction.len() > 0;
        well_formed.then_some(Decimal { whole, fraction })
    }

    /// The value times `unit`, rounded to the nearest integer; `None` when it exceeds `u128`.
    fn times(&self, unit: u128) -> Option<u128> {
        let mut whole: u128 = 0;
        for digit in self.whole.bytes() {
            whole = whole
                .checked_mul(10)?
                .checked_add(u128::from(digit - b'0'))?;
        }
        // Digits past the 20th change the product by far less than one unit of 1 (unit < 10^20).
        let fraction = &self.fraction[..self.fraction.len().min(20)];
        let mut numerator: u128 = 0;
        for digit in fraction.bytes() {
            numerator = numerator * 10 + u128::from(digit - b'0');
        }
        let denominator = 10u128.pow(fraction.len() as u32);
        let part = (numerator.checked_mul(unit)? + denominator / 2) / denominator;
        whole.checked_mul(unit)?.checked_add(part)
    }

    /// The nearest double, read from the text (exact as far as a double can be).
    fn to_f64(&self) -> f64 {
        let whole = if self.whole.is_empty() {
            "0"
        } else {
            self.whole
        };
        format!("{whole}.{}0", self.fraction)
            .parse()
            .unwrap_or(f64::INFINITY)
    }

    /// The value divided by 100, as the nearest double (`99.9` → 0.999).
    fn percent_to_f64(&self) -> f64 {
        let padded = format!("{:0>3}", self.whole);
        let (integer, hundredths) = padded.split_at(padded.len() - 2);
        format!("{integer}.{hundredths}{}", self.fraction)
            .parse()
            .unwrap_or(f64::INFINITY)
    }
}

/// A finite, non-negative decimal number without sign, exponent or unit.
pub fn parse_number(text: &str) -> Option<f64> {
    Decimal::parse(text.trim())
        .map(|d| d.to_f64())
        .filter(|v| v.is_finite())
}

const DURATION_EXPECTED: &str = "expected a number with a unit such as 250ms, 1.5s, 5m or 1m 30s";

/// Nanoseconds per unit of a duration part.
fn duration_unit(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return None,
    })
}

/// Parses a duration: one or more parts `<decimal><unit>` (units `ns`, `us`/`µs`, `ms`, `s`,
/// `m`, `h`, `d`), optionally separated by spaces and added up: `250ms`, `1.5s`, `1m 30s`.
/// Rounded to the nanosecond; at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {}: {DURATION_EXPECTED}", quote(text));
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let number = Decimal::parse(number).ok_or_else(invalid)?;
        let unit = duration_unit(unit).ok_or_else(invalid)?;
        let nanos = number.times(unit).ok_or_else(|| too_large(text))?;
        total = total.checked_add(nanos).ok_or_else(|| too_large(text))?;
        rest = after.trim_start();
    }
    if total > MAX_DURATION.as_nanos() {
        return Err(too_large(text));
    }
    let nanos = u64::try_from(total).map_err(|_| too_large(text))?;
    Ok(Duration::from_nanos(nanos))
}

fn too_large(text: &str) -> String {
    format!(
        "invalid duration {}: longer than the longest duration synthex reads, 100d",
        quote(text)
    )
}

/// Parses a rate `N/s`, `N/m` or `N/h` (N may be decimal), `N/<duration>` such as `1/30s`, or
/// a bare `N` per second, into requests per second. Any non-negative value; the caller checks its range.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let invalid = || {
        format!(
            "invalid rate {}: expected N/s, N/m, N/h or N per duration, such as 2/s, 30/m, \
             0.5/h or 1/30s",
            quote(text)
        )
    };
    let (count, seconds) = match text.split_once('/') {
        Some((count, unit)) => {
            let seconds = match unit.trim() {
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                per => match parse_duration(per) {
                    Ok(duration) if !duration.is_zero() => duration.as_secs_f64(),
                    _ => return Err(invalid()),
                },
            };
            (count, seconds)
        }
        None => (text, 1.0),
    };
    let count = parse_number(count).ok_or_else(invalid)?;
    Ok(count / seconds)
}

/// Checks a non-zero rate against [`MIN_RATE_PER_SECOND`]..=`max`; `what` names it in the
/// message.
pub fn rate_in(what: &str, text: &str, per_second: f64, max: f64) -> Result<f64, String> {
    if (MIN_RATE_PER_SECOND..=max).contains(&per_second) {
        Ok(per_second)
    } else {
        let expected = format!("at least 1/h and at most {}", format_rate(max));
        Err(out_of_range(what, text, &expected))
    }
}

/// Refuses `text` as `what` out of range, saying which range was expected.
pub fn out_of_range(what: &str, text: &str, expected: &str) -> String {
    format!(
        "{what} {} is out of range: expected {expected}",
        quote(text)
    )
}

/// Parses a byte size: integer bytes, or a number with a unit (`kB`, `MB`, `GB` are powers of
/// 1000; `KiB`, `MiB`, `GiB` powers of 1024; `B` is bytes), rounded to the byte.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "invalid byte size {}: expected a number of bytes or a size such as 512KiB, 1MiB, 1MB or 10kB",
            quote(text)
        )
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u128 = match unit {
        "" | "B" => 1,
        "kB" | "KB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(invalid()),
    };
    let number = Decimal::parse(number.trim()).ok_or_else(invalid)?;
    if unit.is_empty() && !number.fraction.is_empty() {
        return Err(invalid());
    }
    number
        .times(multiplier)
        .and_then(|bytes| u64::try_from(bytes).ok())
        .ok_or_else(|| format!("invalid byte size {}: too large", quote(text)))
}

const RATIO_EXPECTED: &str =
    "expected a percentage such as 1% or 99.9%, or a number between 0 and 1";

/// Parses a ratio: a percentage `0%`..`100%` or a plain number `0`..`1`.
pub fn parse_ratio(text: &str) -> Result<f64, String> {
    let value = parse_proportion(text)
        .map_err(|_| format!("invalid ratio {}: {RATIO_EXPECTED}", quote(text)))?;
    if value <= 1.0 {
        return Ok(value);
    }
    if text.trim().ends_with('%') {
        Err(format!("invalid ratio {}: at most 100%", quote(text)))
    } else {
        Err(format!(
            "invalid ratio {}: {RATIO_EXPECTED} (did you mean {}%?)",
            quote(text),
            format_number(value)
        ))
    }
}

/// Parses a proportion that may exceed 1: a percentage (`150%` is 1.5) or a plain number. Used
/// for relative changes; ratios of a whole use [`parse_ratio`].
pub fn parse_proportion(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(percent) => Decimal::parse(percent.trim()).map(|d| d.percent_to_f64()),
        None => Decimal::parse(trimmed).map(|d| d.to_f64()),
    };
    value.filter(|v| v.is_finite()).ok_or_else(|| {
        format!(
            "invalid proportion {}: expected a percentage such as 10% or 150%, or a number such as 0.1",
            quote(text)
        )
    })
}

/// Parses the number of a percentile name after its `p`: `95` and `99.9` are percentages
/// (0.95, 0.999), `100` is the maximum, and three or more digits without a point are the
/// Prometheus shorthand `0.NNN` (`999` is 0.999, `9999` is 0.9999). Exact as ratios are; `None`
/// unless the result is more than 0 and at most 1.
pub fn parse_percentile(digits: &str) -> Option<f64> {
    let decimal = Decimal::parse(digits)?;
    let value = if digits.contains('.') || digits.len() <= 2 || digits == "100" {
        decimal.percent_to_f64()
    } else {
        format!("0.{digits}").parse().ok()?
    };
    (value > 0.0 && value <= 1.0).then_some(value)
}

/// Formats a number without trailing zeros (`0.5`, `2`, `0.005`), to at most 6 decimals.
pub fn format_number(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" || text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Formats a duration the way it is written (`250ms`, `5m`, `1h 30m`, `1s 500us`); parsing the
/// result gives the same duration back, to the nanosecond.
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_string();
    }
    let mut nanos = duration.as_nanos();
    let mut parts = Vec::new();
    for unit in ["d", "h", "m", "s", "ms", "us", "ns"] {
        let size = duration_unit(unit).unwrap_or(1);
        if nanos >= size {
            parts.push(format!("{}{unit}", nanos / size));
            nanos %= size;
        }
    }
    parts.join(" ")
}

/// Formats a ratio as a percentage (`0.999` → `99.9%`), or as the plain number when six
/// decimals of a percentage would not read back as the same value.
pub fn format_percent(ratio: f64) -> String {
    let percent = format!("{}%", format_number(ratio * 100.0));
    if parse_proportion(&percent) == Ok(ratio) {
        percent
    } else {
        format!("{ratio}")
    }
}

/// Formats a byte count with the largest binary unit that divides it exactly (`1MiB`).
pub fn format_bytes(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// Formats a rate in the most readable unit that reads back as the same value: `2/s`, `30/m`
/// (0.5/s) or `6/h`; a rate no unit writes exactly in six decimals is written in full per second.
pub fn format_rate(per_second: f64) -> String {
    let readable = if per_second >= 1.0 {
        0
    } else if per_second * 60.0 >= 1.0 {
        1
    } else {
        2
    };
    let units = [("s", 1.0), ("m", 60.0), ("h", 3600.0)];
    (0..units.len())
        .map(|i| units[(readable + i) % units.len()])
        .map(|(unit, seconds)| format!("{}/{unit}", format_number(per_second * seconds)))
        .find(|text| parse_rate(text) == Ok(per_second))
        .unwrap_or_else(|| format!("{per_second}/s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_add_decimal_parts_exactly_and_refuse_bare_numbers() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration(" 1m 30s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250 µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.0000000005s"), Ok(Duration::new(1, 1)));
        assert_eq!(parse_duration("100d"), Ok(MAX_DURATION));
        assert_eq!(
            parse_duration("5"),
            Err(format!("invalid duration \"5\": {DURATION_EXPECTED}"))
        );
        for bad in [
            "-5s",
            "",
            "ms",
            "1.2.3ms",
            "5 parsecs",
            "1e3s",
            "5s 3",
            "1M",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for huge in ["100d 1ns", "99999999999999999999999999999999999999999h"] {
            assert!(
                parse_duration(huge).unwrap_err().contains("longer than"),
                "{huge}"
            );
        }
    }

    #[test]
    fn rates_convert_to_per_second() {
        assert_eq!(parse_rate("2/s"), Ok(2.0));
        assert_eq!(parse_rate("30/m"), Ok(0.5));
        assert_eq!(parse_rate("0.5/s"), Ok(0.5));
        assert_eq!(parse_rate("36/h"), Ok(0.01));
        assert_eq!(parse_rate(" 3 / s "), Ok(3.0));
        assert_eq!(parse_rate("200"), Ok(200.0));
        assert_eq!(parse_rate("1/30s"), Ok(1.0 / 30.0));
        assert_eq!(parse_rate("3/5m"), Ok(0.01));
        assert_eq!(parse_rate("1/500ms"), Ok(2.0));
        for bad in [
            "2/x", "/s", "x/s", "-1/s", "1e3/s", "2/s/s", "", "1/0s", "1/30",
        ] {
            assert_eq!(
                parse_rate(bad),
                Err(format!(
                    "invalid rate {}: expected N/s, N/m, N/h or N per duration, such as 2/s, \
                     30/m, 0.5/h or 1/30s",
                    quote(bad)
                )),
                "{bad}"
            );
        }
        let daemon =
            |text: &str| rate_in("rate", text, parse_rate(text).unwrap(), MAX_RATE_PER_SECOND);
        assert_eq!(daemon("1/h"), Ok(1.0 / 3600.0));
        assert!(daemon("0.9/h").is_err());
        assert_eq!(daemon("1000/s"), Ok(1000.0));
        assert_eq!(
            daemon("1000.001/s"),
            Err(
                "rate \"1000.001/s\" is out of range: expected at least 1/h and at most 1000/s"
                    .into()
            )
        );
    }

    #[test]
    fn byte_sizes_accept_decimal_and_binary_units_exactly() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_bytes("1MB"), Ok(1_000_000));
        assert_eq!(parse_bytes("10kB"), Ok(10_000));
        assert_eq!(parse_bytes("1.5 KiB"), Ok(1536));
        assert_eq!(parse_bytes("7B"), Ok(7));
        assert_eq!(parse_bytes("0.1GB"), Ok(100_000_000));
        for bad in ["1 XB", "MiB", "-1", "1mib", "1.2.3MB", "", "1.5"] {
            assert!(
                parse_bytes(bad)
                    .unwrap_err()
                    .starts_with("invalid byte size"),
                "{bad}"
            );
        }
        assert!(
            parse_bytes("18446744073709551616")
                .unwrap_err()
                .ends_with("too large")
        );
    }

    #[test]
    fn ratios_accept_percent_or_fraction_exactly() {
        assert_eq!(parse_ratio("1%"), Ok(0.01));
        assert_eq!(parse_ratio("99.9%"), Ok(0.999));
        assert_ne!(99.9 / 100.0, 0.999, "the case this parser exists for");
        assert_eq!(parse_ratio("0.5%"), Ok(0.005));
        assert_eq!(parse_ratio("100%"), Ok(1.0));
        assert_eq!(parse_ratio("99.99%"), Ok(0.9999));
        assert_eq!(parse_ratio("0.25"), Ok(0.25));
        assert_eq!(parse_ratio("1"), Ok(1.0));
        assert_eq!(parse_ratio("0%"), Ok(0.0));
        assert_eq!(
            parse_ratio("150%"),
            Err("invalid ratio \"150%\": at most 100%".into())
        );
        assert_eq!(
            parse_ratio("50"),
            Err(format!(
                "invalid ratio \"50\": {RATIO_EXPECTED} (did you mean 50%?)"
            ))
        );
        assert!(parse_ratio("-1%").is_err());
        assert!(parse_ratio("x").is_err());
        assert_eq!(parse_proportion("150%"), Ok(1.5));
        assert_eq!(parse_percentile("99.9"), Some(0.999));
        assert_eq!(parse_percentile("999"), Some(0.999));
        assert_eq!(parse_percentile("95"), Some(0.95));
        assert_eq!(parse_percentile("5"), Some(0.05));
        assert_eq!(parse_percentile("100"), Some(1.0));
        assert_eq!(parse_percentile("9999"), Some(0.9999));
        for bad in ["0", "00", "100.1", "", "x", "1e1", "-5"] {
            assert_eq!(parse_percentile(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatting_round_trips_through_parsing() {
        assert_eq!(format_bytes(1 << 20), "1MiB");
        assert_eq!(format_bytes(1_000_000), "1000000B");
        assert_eq!(parse_bytes(&format_bytes(512 * 1024)), Ok(512 * 1024));
        assert_eq!(format_rate(2.0), "2/s");
        assert_eq!(format_rate(0.5), "30/m");
        assert_eq!(format_rate(0.01), "36/h");
        assert_eq!(parse_rate(&format_rate(0.5)), Ok(0.5));
        assert_eq!(format_percent(0.999), "99.9%");
        assert_eq!(format_percent(1.5), "150%");
        assert_eq!(format_number(0.005), "0.005");
        assert_eq!(format_number(10.0), "10");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s 500ms");
        assert_eq!(format_duration(Duration::new(90061, 1)), "1d 1h 1m 1s 1ns");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    /// Found by `ratios_round_trip`, `rates_round_trip` and `written_rates_round_trip`:
    /// formatting to six decimals lost digits, so `check-config` showed another value.
    #[test]
    fn regression_formatting_keeps_every_digit() {
        assert_eq!(format_percent(0.4951876304208945), "0.4951876304208945");
        assert_eq!(format_rate(495.1877706465527), "495.1877706465527/s");
        assert_eq!(format_rate(72.292 / 60.0), "72.292/m");
        assert_eq!(parse_rate(&format_rate(72.292 / 60.0)), Ok(72.292 / 60.0));
    }

    #[test]
    fn quote_keeps_backslashes_and_escapes_controls() {
        assert_eq!(quote(r"\d+"), r#""\d+""#);
        assert_eq!(quote("a\nb\"c"), r#""a\nb\"c""#);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Text made of the grammar's own characters, so mutations reach deep into the parsers.
        fn grammar_text() -> impl Strategy<Value = String> {
            "[0-9. µnsmhdKMGiBkx%/+e-]{0,24}"
        }

        proptest! {
            #[test]
            fn parsers_never_panic(text in grammar_text(), any in ".{0,24}") {
                for t in [&text, &any] {
                    let _ = parse_duration(t);
                    let _ = parse_rate(t);
                    let _ = parse_bytes(t);
                    let _ = parse_ratio(t);
                    let _ = parse_proportion(t);
                    let _ = parse_percentile(t);
                }
            }

            #[test]
            fn durations_round_trip_to_the_nanosecond(nanos in 0..=MAX_DURATION.as_nanos() as u64) {
                let duration = Duration::from_nanos(nanos);
                prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
            }

            #[test]
            fn sizes_round_trip(bytes in any::<u64>()) {
                prop_assert_eq!(parse_bytes(&format_bytes(bytes)), Ok(bytes));
            }

            #[test]
            fn ratios_round_trip(ratio in 0.0..=1.0f64) {
                prop_assert_eq!(parse_ratio(&format_percent(ratio)), Ok(ratio));
            }

            #[test]
            fn written_percentages_are_the_decimal_divided_exactly(whole in 0u32..100, fraction in 0u32..1000) {
                let text = format!("{whole}.{fraction:03}%");
                let exact: f64 = format!("0.{whole:02}{fraction:03}").parse().unwrap();
                prop_assert_eq!(parse_ratio(&text), Ok(exact));
                prop_assert_eq!(parse_ratio(&format_percent(exact)), Ok(exact));
            }

            #[test]
            fn rates_round_trip(per_second in MIN_RATE_PER_SECOND..=MAX_RATE_PER_SECOND) {
                prop_assert_eq!(parse_rate(&format_rate(per_second)), Ok(per_second));
            }

            #[test]
            fn written_rates_round_trip(count in 1u32..100_000, unit in prop::sample::select(vec!["s", "m", "h"])) {
                let per_second = parse_rate(&format!("{}/{unit}", f64::from(count) / 1000.0)).unwrap();
                prop_assert_eq!(parse_rate(&format_rate(per_second)), Ok(per_second));
            }
        }
    }
}
