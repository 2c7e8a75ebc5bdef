//! Plain (non-atomic) series data of one scenario, kept under the scenario's mutex, and label
//! sets rendered once at start-up. Owning these instead of using prometheus vectors lets a
//! scrape write text straight from them: the prometheus crate's gather + TextEncoder path
//! spends ~2 µs and several allocations per series, too slow for 100 scenarios in 5 ms.

use std::fmt::Write;

/// Upper bounds of a histogram (without `+Inf`) and their `le` label text, rendered once.
#[derive(Debug)]
pub(super) struct Bounds {
    pub(super) upper: Vec<f64>,
    pub(super) text: Vec<String>,
}

impl Bounds {
    /// Bounds as configured; must be strictly increasing (the config validates it).
    pub(super) fn new(upper: &[f64]) -> Bounds {
        Bounds {
            upper: upper.to_vec(),
            text: upper.iter().map(|b| b.to_string()).collect(),
        }
    }
}

/// A classic histogram: per-bucket (non-cumulative) counts, the last one being `+Inf`.
#[derive(Debug, Clone)]
pub(super) struct HistogramData {
    pub(super) counts: Vec<u64>,
    pub(super) sum: f64,
    pub(super) count: u64,
}

impl HistogramData {
    pub(super) fn new(bounds: &Bounds) -> HistogramData {
        HistogramData {
            counts: vec![0; bounds.upper.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Counts `value` in the first bucket whose upper bound is ≥ `value` (Prometheus `le`);
    /// returns that bucket's index (the number of bounds for `+Inf`).
    pub(super) fn observe(&mut self, bounds: &Bounds, value: f64) -> usize {
        let index = bounds.upper.partition_point(|&upper| upper < value);
        self.counts[index] += 1;
        self.sum += value;
        self.count += 1;
        index
    }
}

/// A label set as `name="value"` pairs, both as data (for the proto model) and as text ready to
/// paste between braces (for the fast text path).
#[derive(Debug, Clone)]
pub(super) struct Labels {
    pub(super) pairs: Vec<(String, String)>,
    pub(super) text: String,
}

impl Labels {
    /// Labels in the given order; values are escaped for the text format here, once.
    pub(super) fn new(pairs: &[(&str, &str)]) -> Labels {
        let mut text = String::new();
        for (i, (name, value)) in pairs.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let _ = write!(text, "{name}=\"{}\"", escape_label_value(value));
        }
        Labels {
            pairs: pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            text,
        }
    }
}

/// Escapes a label value for the text format: backslash, double quote and newline.
pub(super) fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_at_or_above() {
        let bounds = Bounds::new(&[0.1, 0.5, 1.0]);
        let mut h = HistogramData::new(&bounds);
        for v in [0.05, 0.1, 0.3, 1.0, 7.0] {
            h.observe(&bounds, v);
        }
        assert_eq!(h.counts, vec![2, 1, 1, 1]);
        assert_eq!(h.count, 5);
        assert!((h.sum - 8.45).abs() < 1e-12);
        assert_eq!(bounds.text, ["0.1", "0.5", "1"]);
    }

    #[test]
    fn label_text_is_escaped_once() {
        let labels = Labels::new(&[("target", "api"), ("env", "a\"b\\c\nd")]);
        assert_eq!(labels.text, r#"target="api",env="a\"b\\c\nd""#);
        assert_eq!(labels.pairs[1].1, "a\"b\\c\nd");
    }
}
