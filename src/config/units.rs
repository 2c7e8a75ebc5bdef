//! Units written as text in the config file: durations, request rates, byte sizes and ratios,
//! plus the inverse formatting used by `check-config`.
//!
//! Parsers return the bare value or a one-line lowercase message that quotes what was found and
//! says what was expected; range checks that depend on the field live with the field's kind.

use std::time::Duration;

/// The largest number of requests per second a rate may ask for (checked by the rate kind).
pub const MAX_RATE_PER_SECOND: f64 = 1000.0;

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

/// Parses a humantime duration such as `250ms`, `5s`, `5m`, `1h` or `1m 30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!(
            "invalid duration {}: expected a number with a unit such as 250ms, 5s, 5m or 1h",
            quote(text)
        )
    })
}

/// Parses a rate `N/s`, `N/m` or `N/h` (N may be decimal) into requests per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let invalid = || format!("invalid rate {}: expected N/s, N/m or N/h", quote(text));
    let (count, unit) = text.split_once('/').ok_or_else(invalid)?;
    let seconds = match unit.trim() {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(invalid()),
    };
    let count = parse_plain_number(count).ok_or_else(invalid)?;
    Ok(count / seconds)
}

/// Parses a byte size: integer bytes, or a number with a unit (`kB`, `MB`, `GB` are powers of
/// 1000; `KiB`, `MiB`, `GiB` powers of 1024; `B` is bytes).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "invalid byte size {}: expected a number of bytes or a size such as 512KiB, 1MiB, 1MB or 10kB",
            quote(text)
        )
    };
    let trimmed = text.trim();
    if let Ok(bytes) = trimmed.parse::<u64>() {
        return Ok(bytes);
    }
    let split = trimmed
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(invalid)?;
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit {
        "B" => 1,
        "kB" | "KB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(invalid()),
    };
    let number = parse_plain_number(number).ok_or_else(invalid)?;
    let bytes = (number * multiplier as f64).round();
    if bytes > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as u64)
}

/// Parses a ratio: a percentage `0%`..`100%` or a plain number `0`..`1`.
pub fn parse_ratio(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let expected = "expected a percentage such as 1% or 99.9%, or a number between 0 and 1";
    let invalid = || format!("invalid ratio {}: {expected}", quote(text));
    if let Some(percent) = trimmed.strip_suffix('%') {
        parse_plain_number(percent).ok_or_else(invalid)?;
        let value =
            parse_plain_number(&shift_two_places_left(percent.trim())).ok_or_else(invalid)?;
        if value > 1.0 {
            return Err(format!("invalid ratio {}: at most 100%", quote(text)));
        }
        return Ok(value);
    }
    let value = parse_plain_number(trimmed).ok_or_else(invalid)?;
    if value > 1.0 {
        return Err(format!(
            "invalid ratio {}: {expected} (did you mean {}%?)",
            quote(text),
            format_number(value)
        ));
    }
    Ok(value)
}

/// Divides a decimal by 100 in its text, so `99.9%` becomes exactly the double nearest 0.999
/// (dividing the parsed 99.9 by 100 gives 0.9990000000000001).
fn shift_two_places_left(decimal: &str) -> String {
    let (whole, fraction) = decimal.split_once('.').unwrap_or((decimal, ""));
    let whole = format!("{whole:0>3}");
    let (integer, hundredths) = whole.split_at(whole.len() - 2);
    format!("{integer}.{hundredths}{fraction}")
}

/// A finite, non-negative decimal number without sign, exponent or unit.
fn parse_plain_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let well_formed = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.chars().any(|c| c.is_ascii_digit());
    well_formed.then(|| text.parse::<f64>().ok()).flatten()
}

/// Formats a number without trailing zeros (`0.5`, `2`, `0.005`), to at most 6 decimals.
pub fn format_number(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Formats a duration the way it is written in the file (`250ms`, `5m`, `1h 30m`).
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_string();
    }
    humantime::format_duration(duration).to_string()
}

/// Formats a ratio as a percentage (`0.999` → `99.9%`).
pub fn format_percent(ratio: f64) -> String {
    format!("{}%", format_number(ratio * 100.0))
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

/// Formats a rate in the most readable unit: `2/s`, `30/m` (0.5/s) or `6/h`.
pub fn format_rate(per_second: f64) -> String {
    if per_second >= 1.0 {
        format!("{}/s", format_number(per_second))
    } else if per_second * 60.0 >= 1.0 {
        format!("{}/m", format_number(per_second * 60.0))
    } else {
        format!("{}/h", format_number(per_second * 3600.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_humantime_and_refuse_bare_numbers() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration(" 1m 30s "), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("5"),
            Err(
                "invalid duration \"5\": expected a number with a unit such as 250ms, 5s, 5m or 1h"
                    .into()
            )
        );
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn rates_convert_to_per_second() {
        assert_eq!(parse_rate("2/s"), Ok(2.0));
        assert_eq!(parse_rate("30/m"), Ok(0.5));
        assert_eq!(parse_rate("0.5/s"), Ok(0.5));
        assert_eq!(parse_rate("36/h"), Ok(0.01));
        assert_eq!(parse_rate(" 3 / s "), Ok(3.0));
        for bad in ["2/x", "2", "/s", "x/s", "-1/s", "1e3/s", "2/s/s"] {
            assert_eq!(
                parse_rate(bad),
                Err(format!(
                    "invalid rate {}: expected N/s, N/m or N/h",
                    quote(bad)
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn byte_sizes_accept_decimal_and_binary_units() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_bytes("1MB"), Ok(1_000_000));
        assert_eq!(parse_bytes("10kB"), Ok(10_000));
        assert_eq!(parse_bytes("1.5 KiB"), Ok(1536));
        assert_eq!(parse_bytes("7B"), Ok(7));
        for bad in ["1 XB", "MiB", "-1", "1mib", "1.2.3MB", ""] {
            assert!(
                parse_bytes(bad)
                    .unwrap_err()
                    .starts_with("invalid byte size"),
                "{bad}"
            );
        }
    }

    #[test]
    fn ratios_accept_percent_or_fraction() {
        assert_eq!(parse_ratio("1%"), Ok(0.01));
        assert_eq!(parse_ratio("99.9%"), Ok(0.999));
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
            Err("invalid ratio \"50\": expected a percentage such as 1% or 99.9%, or a number between 0 and 1 (did you mean 50%?)".into())
        );
        assert!(parse_ratio("-1%").is_err());
        assert!(parse_ratio("x").is_err());
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
        assert_eq!(format_number(0.005), "0.005");
        assert_eq!(format_number(10.0), "10");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s 500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn quote_keeps_backslashes_and_escapes_controls() {
        assert_eq!(quote(r"\d+"), r#""\d+""#);
        assert_eq!(quote("a\nb\"c"), r#""a\nb\"c""#);
    }
}
