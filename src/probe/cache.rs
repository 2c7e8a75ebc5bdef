//! Cache hit detection from response headers, per the target's `cache:` rule.
//!
//! Caches and CDNs disagree on header names (`X-Cache`, `X-Cache-Status`, `CF-Cache-Status`), so
//! the rule lists them in order and the first one present decides. `Age` is a fallback some
//! setups need (a shared cache adds it only to stored responses), hence opt-in.

use http::header::AGE;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::outcome::CacheResult;
use crate::scenario::CacheRule;

/// Classifies one response's headers.
pub(crate) fn classify(rule: &CacheRule, headers: &HeaderMap) -> CacheResult {
    if let Some(value) = first_listed(&rule.headers, headers) {
        // A value that is not text cannot say "hit".
        let text = value.to_str().unwrap_or("");
        return if rule.hit.is_match(text) {
            CacheResult::Hit
        } else {
            CacheResult::Miss
        };
    }
    if rule.age_is_hit
        && let Some(age) = headers.get(AGE)
    {
        return match age.to_str().ok().and_then(|a| a.trim().parse::<u64>().ok()) {
            Some(0) => CacheResult::Miss,
            Some(_) => CacheResult::Hit,
            None => CacheResult::Unknown,
        };
    }
    CacheResult::Unknown
}

/// The first value of the earliest of `names` that `headers` holds, as
/// `names.iter().find_map(|name| headers.get(name))` finds it, in one walk over the response's
/// lines instead of one hashed lookup per name: a response seldom carries any of the cache
/// headers, and its mostly standard names differ from theirs without a byte compared.
fn first_listed<'h>(names: &[HeaderName], headers: &'h HeaderMap) -> Option<&'h HeaderValue> {
    let mut found: Option<(usize, &HeaderValue)> = None;
    for (name, value) in headers {
        let rank = found.map_or(names.len(), |(rank, _)| rank);
        // Only an earlier name counts: the first value of a name comes first in the walk.
        if let Some(index) = names[..rank].iter().position(|wanted| wanted == name) {
            found = Some((index, value));
        }
    }
    found.map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn rule(age_is_hit: bool) -> CacheRule {
        CacheRule {
            headers: vec![
                HeaderName::from_static("x-cache"),
                HeaderName::from_static("cf-cache-status"),
            ],
            hit: Regex::new(r"(?i)\bhit\b").unwrap(),
            age_is_hit,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn first_listed_header_present_decides() {
        let r = rule(false);
        let cases = [
            (vec![("x-cache", "HIT from edge")], CacheResult::Hit),
            (vec![("x-cache", "MISS")], CacheResult::Miss),
            (vec![("x-cache", "hitch")], CacheResult::Miss),
            (vec![("cf-cache-status", "HIT")], CacheResult::Hit),
            // X-Cache comes first in the rule, so it wins over CF-Cache-Status.
            (
                vec![("x-cache", "MISS"), ("cf-cache-status", "HIT")],
                CacheResult::Miss,
            ),
            (
                vec![("cf-cache-status", "HIT"), ("x-cache", "MISS")],
                CacheResult::Miss,
            ),
            // The first value of a header decides, as `HeaderMap::get` gives it.
            (
                vec![("x-cache", "HIT"), ("x-cache", "MISS")],
                CacheResult::Hit,
            ),
            (vec![("age", "30")], CacheResult::Unknown),
            (vec![], CacheResult::Unknown),
        ];
        for (pairs, expected) in cases {
            assert_eq!(classify(&r, &headers(&pairs)), expected, "{pairs:?}");
        }
    }

    #[test]
    fn age_counts_only_when_enabled_and_no_cache_header() {
        let r = rule(true);
        assert_eq!(classify(&r, &headers(&[("age", "12")])), CacheResult::Hit);
        assert_eq!(classify(&r, &headers(&[("age", "0")])), CacheResult::Miss);
        assert_eq!(
            classify(&r, &headers(&[("age", "soon")])),
            CacheResult::Unknown
        );
        assert_eq!(
            classify(&r, &headers(&[("x-cache", "MISS"), ("age", "12")])),
            CacheResult::Miss
        );
    }
}
