//! Number formatting shared by every report renderer, so that a latency reads the
//! same in the summary table, the Markdown, the HTML and a threshold's verdict.
//!
//! Latencies are carried as `f64` seconds throughout the report code; they are shown in µs when
//! tiny, ms with one or two decimals, and s when large, with trailing zeros dropped (`50ms`,
//! `62.1ms`, `4.25ms`, `850µs`, `1.5s`).

use std::fmt::Write as _;

/// A latency in seconds as a short human string: `850µs`, `4.25ms`, `62.1ms`, `1.5s`, `95.3s`.
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 0.001 {
        format!("{}µs", (seconds * 1e6).round())
    } else if seconds < 0.1 {
        format!("{}ms", decimals(seconds * 1e3, 2))
    } else if seconds < 1.0 {
        format!("{}ms", decimals(seconds * 1e3, 1))
    } else if seconds < 10.0 {
        format!("{}s", decimals(seconds, 2))
    } else {
        format!("{}s", decimals(seconds, 1))
    }
}

/// A ratio (0–1) as a percentage with up to two decimals: `0.0125` → `1.25%`.
pub fn percent(ratio: f64) -> String {
    format!("{}%", decimals(ratio * 100.0, 2))
}

/// A rate (requests/s) with one decimal: `1234.5`.
pub fn rate(per_second: f64) -> String {
    format!("{per_second:.1}")
}

/// A byte count in binary units: `512 B`, `1.5 KiB`, `230.4 MiB`, `3.2 GiB`.
pub fn bytes(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024.0 {
        return format!("{} B", bytes.round());
    }
    let mut value = bytes / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{} {}", decimals(value, 1), UNITS[unit])
}

/// `value` rounded to at most `places` decimals, trailing zeros (and a bare point) removed.
pub fn decimals(value: f64, places: usize) -> String {
    let mut text = format!("{value:.places$}");
    if text.contains('.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" {
        text = "0".to_string();
    }
    text
}

/// `numerator / denominator`, `None` when the denominator is not positive.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

/// Pads `rows` into columns two spaces apart, aligned by `spec`: one letter per column, `l` for
/// left or `r` for right (columns beyond the spec are left-aligned).
pub fn align(rows: &[Vec<String>], spec: &str) -> Vec<String> {
    let right: Vec<bool> = spec.chars().map(|c| c == 'r').collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let pad = " ".repeat(widths[c].saturating_sub(cell.chars().count()));
                let gap = if c == 0 { "" } else { "  " };
                if right.get(c).copied().unwrap_or(false) {
                    let _ = write!(line, "{gap}{pad}{cell}");
                } else {
                    let _ = write!(line, "{gap}{cell}{pad}");
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_human_unit() {
        assert_eq!(duration(0.000_85), "850µs");
        assert_eq!(duration(0.0), "0µs");
        assert_eq!(duration(0.004_25), "4.25ms");
        assert_eq!(duration(0.05), "50ms");
        assert_eq!(duration(0.0621), "62.1ms");
        assert_eq!(duration(0.1234), "123.4ms");
        assert_eq!(duration(1.5), "1.5s");
        assert_eq!(duration(95.34), "95.3s");
    }

    #[test]
    fn ratios_rates_and_bytes() {
        assert_eq!(percent(0.0125), "1.25%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(rate(1234.56), "1234.6");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3 GiB");
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(1.0, 4.0), Some(0.25));
    }

    #[test]
    fn columns_align_as_specified() {
        let rows = vec![
            vec!["Name".to_string(), "Requests".to_string(), "x".to_string()],
            vec!["a_long_name".to_string(), "7".to_string(), "yy".to_string()],
        ];
        assert_eq!(
            align(&rows, "lr"),
            vec!["Name         Requests  x", "a_long_name         7  yy"]
        );
    }
}
