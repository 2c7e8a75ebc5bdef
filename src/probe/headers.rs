//! A request's header lines without a copy of its target's: the probe's base headers
//! (User-Agent, Accept, the marker, the target's headers) borrowed, plus what the request
//! itself sets (cookies, scenario headers) and its generated `traceparent`.
//!
//! Why: cloning the base `HeaderMap` for every request and growing it to add `traceparent`
//! was about 1,750 instructions per request of a load test. The direct connection writes these
//! lines straight into its request buffer ([`RequestHeaders::lines`]); reqwest gets the map it
//! always got ([`RequestHeaders::to_map`]).
//!
//! The lines and their order are exactly those of that map: the base map, each header the
//! request sets `insert`ed into it (taking the place where the base first had that name, with
//! the base's values of that name dropped, or else appended), then a generated `traceparent`
//! appended unless one was configured.

use http::header::{CONNECTION, CONTENT_LENGTH, GetAll, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::trace_context::{self, TRACEPARENT, TraceId};

/// The name of a generated `traceparent` line, borrowed by [`RequestHeaders::lines`].
static TRACEPARENT_NAME: HeaderName = TRACEPARENT;

/// The names every request looks up ([`RequestHeaders::values`]): the direct connection's
/// framing rules and the trace context.
static LOOKED_UP: [HeaderName; 5] = [
    CONNECTION,
    HOST,
    TRACEPARENT,
    TRANSFER_ENCODING,
    CONTENT_LENGTH,
];

/// A target's base headers, and whether they have none of the names every request looks up:
/// then a request that does not set one need not hash the name to find it missing.
#[derive(Debug)]
pub(crate) struct BaseHeaders {
    map: HeaderMap,
    /// The map has none of [`LOOKED_UP`].
    plain: bool,
}

impl BaseHeaders {
    /// Looks `map` over once.
    pub(crate) fn new(map: HeaderMap) -> BaseHeaders {
        let plain = !LOOKED_UP.iter().any(|name| map.contains_key(name));
        BaseHeaders { map, plain }
    }

    /// The headers as a map.
    pub(crate) fn map(&self) -> &HeaderMap {
        &self.map
    }
}

/// The headers one request sends (see the module doc).
pub(crate) struct RequestHeaders<'a> {
    base: &'a BaseHeaders,
    /// Headers this request sets, one value per name: each replaces the base's of its name.
    set: HeaderMap,
    /// The `traceparent` generated for this request, when none was configured.
    traceparent: Option<[u8; trace_context::VALUE_LEN]>,
}

impl<'a> RequestHeaders<'a> {
    /// The base headers alone.
    pub(crate) fn new(base: &'a BaseHeaders) -> RequestHeaders<'a> {
        RequestHeaders {
            base,
            set: HeaderMap::new(),
            traceparent: None,
        }
    }

    /// Sets `name` to `value` alone, as `HeaderMap::insert` would.
    pub(crate) fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        self.set.insert(name, value);
    }

    /// Adds a fresh `traceparent` unless the config set one itself (then sent as it is), and
    /// returns the trace id the request carries.
    pub(crate) fn trace(&mut self) -> Option<TraceId> {
        if let Some(configured) = self.values(&TRACEPARENT).iter().next() {
            return trace_context::parse(configured.as_bytes());
        }
        let (id, value) = trace_context::generate();
        self.traceparent = Some(value);
        Some(id)
    }

    /// The values of `name` the request sends, except a generated `traceparent` (which the
    /// framing rules that ask never look for).
    pub(crate) fn values(&self, name: &HeaderName) -> GetAll<'_, HeaderValue> {
        // A name every request looks up that the base lacks can only be in `set`, and an
        // empty `set` (the usual case) answers without hashing the name.
        let not_in_base = self.base.plain && LOOKED_UP.contains(name);
        if not_in_base || self.set.contains_key(name) {
            self.set.get_all(name)
        } else {
            self.base.map.get_all(name)
        }
    }

    /// Every header line, in the order the map of [`RequestHeaders::to_map`] has them.
    pub(crate) fn lines(&self) -> impl Iterator<Item = (&HeaderName, &[u8])> {
        // The base's values of one name come one after the other: the first is replaced by
        // the set value, the others dropped.
        let mut replaced: Option<&HeaderName> = None;
        let base = self.base.map.iter().filter_map(move |(name, value)| {
            if self.set.is_empty() {
                return Some((name, value.as_bytes()));
            }
            match self.set.get(name) {
                None => Some((name, value.as_bytes())),
                Some(_) if replaced == Some(name) => None,
                Some(set) => {
                    replaced = Some(name);
                    Some((name, set.as_bytes()))
                }
            }
        });
        let added = self
            .set
            .iter()
            .filter(|(name, _)| !self.base.map.contains_key(*name))
            .map(|(name, value)| (name, value.as_bytes()));
        let generated = self
            .traceparent
            .as_ref()
            .map(|value| (&TRACEPARENT_NAME, &value[..]));
        base.chain(added).chain(generated)
    }

    /// The headers as one map, for reqwest.
    pub(crate) fn to_map(&self) -> HeaderMap {
        let mut map = self.base.map.clone();
        for (name, value) in &self.set {
            map.insert(name.clone(), value.clone());
        }
        if let Some(value) = self
            .traceparent
            .and_then(|value| HeaderValue::from_bytes(&value).ok())
        {
            map.insert(TRACEPARENT, value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ACCEPT, COOKIE, USER_AGENT};

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn from_lines(headers: &RequestHeaders<'_>) -> Vec<(String, Vec<u8>)> {
        let lines = headers.lines();
        lines.map(|(n, v)| (n.to_string(), v.to_vec())).collect()
    }

    fn from_map(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        map.iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    /// The lines are those of the map reqwest gets, in its order, whatever the request sets.
    #[test]
    fn lines_are_the_maps_in_its_order() {
        let base = BaseHeaders::new(map(&[
            ("user-agent", "synthex"),
            ("accept", "*/*"),
            ("x-team", "a"),
            ("x-team", "b"),
            ("x-last", "z"),
        ]));
        let sets: [&[(&'static str, &'static str)]; 4] = [
            &[],
            &[("x-team", "c")],
            &[("cookie", "s=1"), ("accept", "text/plain"), ("x-new", "n")],
            &[("x-new", "n"), ("x-team", "c"), ("x-new", "m")],
        ];
        for set in sets {
            for trace in [false, true] {
                let mut headers = RequestHeaders::new(&base);
                for (name, value) in set {
                    headers.insert(
                        HeaderName::from_static(name),
                        HeaderValue::from_static(value),
                    );
                }
                let id = trace.then(|| headers.trace()).flatten();
                assert_eq!(trace, id.is_some());
                let mut expected = base.map().clone();
                for (name, value) in set {
                    expected.insert(
                        HeaderName::from_static(name),
                        HeaderValue::from_static(value),
                    );
                }
                assert_eq!(from_map(&headers.to_map()), from_lines(&headers), "{set:?}");
                let sent = headers.to_map();
                let without_trace: Vec<_> = from_map(&sent)
                    .into_iter()
                    .filter(|(n, _)| n != "traceparent")
                    .collect();
                assert_eq!(without_trace, from_map(&expected), "{set:?}");
                if let Some(id) = id {
                    let (name, value) = from_lines(&headers).pop().unwrap();
                    assert_eq!(name, "traceparent");
                    assert_eq!(trace_context::parse(&value), Some(id));
                }
            }
        }
        let headers = RequestHeaders::new(&base);
        assert_eq!(headers.values(&USER_AGENT).iter().count(), 1);
        assert_eq!(headers.values(&COOKIE).iter().count(), 0);
        let mut headers = RequestHeaders::new(&base);
        headers.insert(ACCEPT, HeaderValue::from_static("text/plain"));
        let accept: Vec<_> = headers.values(&ACCEPT).iter().collect();
        assert_eq!(accept, ["text/plain"]);
        // A name every request looks up, set by the request on a base without it.
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        let connection: Vec<_> = headers.values(&CONNECTION).iter().collect();
        assert_eq!(connection, ["close"]);
        let with_host = BaseHeaders::new(map(&[("host", "example.com")]));
        let headers = RequestHeaders::new(&with_host);
        let host: Vec<_> = headers.values(&HOST).iter().collect();
        assert_eq!(host, ["example.com"]);
    }

    /// A configured `traceparent` (target or scenario header) is sent as it is, and its trace
    /// id is the request's.
    #[test]
    fn a_configured_traceparent_is_kept() {
        let configured = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let base = BaseHeaders::new(map(&[("traceparent", configured)]));
        for from_scenario in [false, true] {
            let empty = BaseHeaders::new(HeaderMap::new());
            let mut headers = RequestHeaders::new(if from_scenario { &empty } else { &base });
            if from_scenario {
                headers.insert(TRACEPARENT, HeaderValue::from_static(configured));
            }
            let id = headers.trace().map(|id| id.to_string());
            assert_eq!(id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
            assert_eq!(
                from_lines(&headers),
                [("traceparent".to_string(), configured.as_bytes().to_vec())]
            );
        }
    }
}
