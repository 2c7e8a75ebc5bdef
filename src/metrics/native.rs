//! The native (sparse, exponential) form of `synthex_request_duration_seconds`, exported in the
//! protobuf exposition beside the classic buckets, as the Go client does.
//!
//! Bucket boundaries are powers of `2^(2^-schema)`: bucket `k` holds values in
//! `(base^(k-1), base^k]`, so at schema 3 each bucket is ~9 % wide and a quantile computed by
//! Prometheus is off by at most half that, at any latency, where a classic bucket between
//! 100 ms and 150 ms can be off by a third. Only populated buckets are kept (a sorted list), so
//! memory follows the spread of latencies, never the range of possible ones. When more than
//! `max_buckets` are populated, the resolution halves (schema − 1, neighbouring buckets merged),
//! exactly as client_golang does when no reset interval or zero-bucket widening is set; the
//! lower resolution stays until the process restarts.

use crate::scenario::NativeHistogramSettings;

/// Values at or below this go to the zero bucket: client_golang's default (2^-128), far below
/// any latency a clock can measure.
pub const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// The lowest schema Prometheus accepts: buckets 2^16 wide.
pub const MIN_SCHEMA: i32 = -4;
/// The highest schema Prometheus accepts: 256 buckets per power of two.
pub const MAX_SCHEMA: i32 = 8;

/// One native histogram of non-negative observations.
#[derive(Debug, Clone)]
pub struct NativeHistogram {
    schema: i32,
    max_buckets: usize,
    /// `2^(i/2^schema - 1)` for `i` in `0..2^schema`: the fractions in [0.5, 1) where the
    /// buckets of one power of two end (for schema > 0 only).
    bounds: Vec<f64>,
    /// Populated buckets, sorted by index: (index, count).
    buckets: Vec<(i32, u64)>,
    zero_count: u64,
}

impl NativeHistogram {
    /// An empty histogram at the configured resolution.
    pub fn new(settings: &NativeHistogramSettings) -> NativeHistogram {
        let schema = settings.schema.clamp(MIN_SCHEMA, MAX_SCHEMA);
        NativeHistogram {
            schema,
            max_buckets: settings.max_buckets,
            bounds: bounds(schema),
            buckets: Vec::new(),
            zero_count: 0,
        }
    }

    /// Counts one observation (seconds); negative and NaN values are not latencies and are
    /// counted in the zero bucket, so `_count` still agrees with the classic histogram.
    pub fn observe(&mut self, value: f64) {
        if value.is_nan() || value <= ZERO_THRESHOLD {
            self.zero_count += 1;
            return;
        }
        let key = self.key(value);
        match self.buckets.binary_search_by_key(&key, |&(k, _)| k) {
            Ok(i) => self.buckets[i].1 += 1,
            Err(i) => {
                self.buckets.insert(i, (key, 1));
                while self.buckets.len() > self.max_buckets && self.schema > MIN_SCHEMA {
                    self.halve_resolution();
                }
            }
        }
    }

    /// The bucket index of `value` (> 0, finite or +Inf) at the current schema, as client_golang
    /// and Prometheus compute it.
    fn key(&self, value: f64) -> i32 {
        let (frac, exp) = frexp(value);
        if self.schema > 0 {
            let within = self.bounds.partition_point(|&b| b < frac) as i32;
            within + (exp - 1) * self.bounds.len() as i32
        } else {
            // A power of two is the upper bound of the bucket below it.
            let key = if frac == 0.5 { exp - 1 } else { exp };
            let shift = -self.schema;
            let offset = (1 << shift) - 1;
            (key + offset) >> shift
        }
    }

    /// Schema − 1: bucket `k` becomes `ceil(k / 2)`, neighbours merged.
    fn halve_resolution(&mut self) {
        self.schema -= 1;
        self.bounds = bounds(self.schema);
        let mut merged: Vec<(i32, u64)> = Vec::with_capacity(self.buckets.len() / 2 + 1);
        for &(key, count) in &self.buckets {
            let key = (key + 1).div_euclid(2);
            match merged.last_mut() {
                Some((last, total)) if *last == key => *total += count,
                _ => merged.push((key, count)),
            }
        }
        self.buckets = merged;
    }

    /// The current schema (lower than configured once the resolution was halved).
    pub fn schema(&self) -> i32 {
        self.schema
    }

    /// Observations in the zero bucket.
    pub fn zero_count(&self) -> u64 {
        self.zero_count
    }

    /// Populated buckets in index order: (index, count).
    pub fn buckets(&self) -> &[(i32, u64)] {
        &self.buckets
    }
}

/// The fraction boundaries of a positive schema; empty for schema ≤ 0.
fn bounds(schema: i32) -> Vec<f64> {
    if schema <= 0 {
        return Vec::new();
    }
    let n = 1u32 << schema;
    (0..n)
        .map(|i| (f64::from(i) / f64::from(n) - 1.0).exp2())
        .collect()
}

/// `value = frac · 2^exp` with `frac` in [0.5, 1), for a positive normal number or +Inf (as
/// C's `frexp`; subnormals never get here, they are below the zero threshold).
fn frexp(value: f64) -> (f64, i32) {
    if value.is_infinite() {
        return (value, 0);
    }
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let frac = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1022u64 << 52));
    (frac, exponent - 1022)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The upper bound of bucket `key`: `2^(key · 2^-schema)`.
    fn upper_bound(h: &NativeHistogram, key: i32) -> f64 {
        (f64::from(key) * (-f64::from(h.schema)).exp2()).exp2()
    }

    fn histogram(schema: i32, max_buckets: usize) -> NativeHistogram {
        NativeHistogram::new(&NativeHistogramSettings {
            schema,
            max_buckets,
        })
    }

    /// The bucket of `value` by the definition, with logarithms instead of frexp and tables:
    /// the smallest `k` with `value <= base^k`.
    fn reference_key(value: f64, schema: i32) -> i32 {
        let k = (value.log2() * f64::from(schema).exp2()).ceil() as i32;
        let base = |k: i32| (f64::from(k) * (-f64::from(schema)).exp2()).exp2();
        // Log rounding can be one off next to a boundary: settle it with the bounds themselves.
        if value <= base(k - 1) {
            k - 1
        } else if value > base(k) {
            k + 1
        } else {
            k
        }
    }

    #[test]
    fn keys_follow_the_definition_at_every_schema() {
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            let h = histogram(schema, 10_000);
            let mut value = 1e-6;
            while value < 1e4 {
                assert_eq!(
                    h.key(value),
                    reference_key(value, schema),
                    "value {value} schema {schema}"
                );
                value *= 1.0137;
            }
            // Exact powers of two end a bucket (upper bounds are inclusive).
            assert_eq!(h.key(1.0), 0, "schema {schema}");
            assert_eq!(h.key(0.5), reference_key(0.5, schema), "schema {schema}");
            assert_eq!(h.key(4.0), reference_key(4.0, schema), "schema {schema}");
        }
        // Known values: at schema 0 bucket k is (2^(k-1), 2^k].
        let h = histogram(0, 100);
        assert_eq!(
            (h.key(1.0), h.key(1.5), h.key(2.0), h.key(2.1)),
            (0, 1, 1, 2)
        );
        assert_eq!((h.key(0.1), h.key(0.125), h.key(0.126)), (-3, -3, -2));
        let h = histogram(3, 100);
        // 2^(-24/8) = 0.125 is the upper bound of bucket -24.
        assert_eq!((h.key(0.125), h.key(0.125_000_1)), (-24, -23));
    }

    #[test]
    fn observations_are_counted_in_sorted_populated_buckets() {
        let mut h = histogram(0, 100);
        for v in [0.3, 1.5, 0.3, 0.0, 1.9, 100.0] {
            h.observe(v);
        }
        assert_eq!(h.zero_count(), 1);
        assert_eq!(h.buckets(), &[(-1, 2), (1, 2), (7, 1)]);
        assert_eq!(upper_bound(&h, 7), 128.0);
        assert_eq!(upper_bound(&h, -1), 0.5);
    }

    #[test]
    fn exceeding_max_buckets_halves_the_resolution_keeping_every_count() {
        // Schema 2: 4 buckets per power of two. 1.1, 1.3, 1.6, 1.9 fill buckets 1..=4.
        let mut h = histogram(2, 4);
        for v in [1.1, 1.3, 1.6, 1.9] {
            h.observe(v);
        }
        assert_eq!((h.schema(), h.buckets().len()), (2, 4));
        // A fifth bucket is one too many: schema 1, buckets (1, √2], (√2, 2], (2, 2√2].
        h.observe(2.5);
        assert_eq!(h.schema(), 1);
        assert_eq!(h.buckets(), &[(1, 2), (2, 2), (3, 1)]);
        for (key, _) in h.buckets() {
            assert_eq!(h.key(upper_bound(&h, *key)), *key);
        }
        // At the limit exactly nothing changes.
        let mut h = histogram(0, 3);
        for v in [1.0, 2.0, 4.0] {
            h.observe(v);
        }
        assert_eq!((h.schema(), h.buckets().len()), (0, 3));
        // Halving below the lowest schema is impossible: the limit is then exceeded.
        let mut h = histogram(MIN_SCHEMA, 1);
        for v in [1e-9, 1e9] {
            h.observe(v);
        }
        assert_eq!((h.schema(), h.buckets().len()), (MIN_SCHEMA, 2));
        let total: u64 = h.buckets().iter().map(|b| b.1).sum();
        assert_eq!(total, 2);
    }

    #[test]
    fn merged_buckets_match_a_histogram_built_at_the_lower_schema() {
        let values: Vec<f64> = (1..2000).map(|i| f64::from(i) * 0.000_731).collect();
        let mut reduced = histogram(5, 40);
        for v in &values {
            reduced.observe(*v);
        }
        let mut rebuilt = histogram(reduced.schema(), 10_000);
        for v in &values {
            rebuilt.observe(*v);
        }
        assert!(reduced.schema() < 5);
        assert_eq!(reduced.buckets(), rebuilt.buckets());
    }
}
