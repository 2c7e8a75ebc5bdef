//! W3C Trace Context (`traceparent`) for synthetic requests: each request carries a fresh,
//! sampled trace id, so the service's own tracing records it, and the latency histogram keeps
//! that id as an exemplar, so a slow point on a dashboard leads to the service's trace of it.
//!
//! Only the `traceparent` header is written (version `00`, random 16-byte trace id and 8-byte
//! parent id, flags `01` = sampled); synthex records no spans of its own. A `traceparent` the
//! config sets itself (a target or scenario header) is sent unchanged and its trace id is the
//! one kept, when it is well formed.
//!
//! Ids come from a fast non-cryptographic generator (xoshiro256++, rand's `SmallRng`), one per
//! thread, seeded from the operating system's randomness when the thread first needs one. The
//! W3C spec asks for ids that are random and unique, not unpredictable; this is what the
//! OpenTelemetry SDKs do (Rust's `RandomIdGenerator`: a thread-local `SmallRng` seeded from
//! entropy; Go's: `math/rand` seeded from `crypto/rand`), and it costs a few nanoseconds per id
//! instead of a ChaCha block per request on the load test's hot path.

use std::cell::RefCell;
use std::fmt;

use http::HeaderName;
use rand::Rng;
use rand::rngs::SmallRng;

/// The header's name, lower case as HTTP/2 wants it; a constant, so looking it up and adding
/// it does not parse the name on every request.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

thread_local! {
    /// This thread's id generator, seeded from the OS (through rand's thread generator, which
    /// the OS seeds) on first use.
    static IDS: RefCell<SmallRng> = RefCell::new(rand::make_rng());
}

/// A 16-byte W3C trace id; never all zeros (the spec's invalid value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// The 32 lower-case hex digits, as tracing backends show and search it.
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; 32];
        hex_into(&self.0, &mut text);
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&text).unwrap_or_default())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
}

/// Length of a version `00` `traceparent` value: `00-` 32 hex `-` 16 hex `-01`.
pub const VALUE_LEN: usize = 55;

/// A new sampled `traceparent` value and its trace id, from the thread's generator. The value
/// is plain bytes (ASCII), so a request can write it without allocating a header value.
pub fn generate() -> (TraceId, [u8; VALUE_LEN]) {
    // Whole words: `random::<[u8; N]>()` would draw every byte on its own.
    let (mut trace, mut parent) = IDS.with_borrow_mut(|rng| {
        let trace = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
        (trace.to_le_bytes(), rng.next_u64().to_le_bytes())
    });
    // All-zero ids are invalid; one in 2^128 (or 2^64) draws, so any fixed non-zero byte will do.
    if trace == [0; 16] {
        trace[15] = 1;
    }
    if parent == [0; 8] {
        parent[7] = 1;
    }
    // "00-" 32 hex "-" 16 hex "-01"
    let mut text = *b"00-00000000000000000000000000000000-0000000000000000-01";
    hex_into(&trace, &mut text[3..35]);
    hex_into(&parent, &mut text[36..52]);
    (TraceId(trace), text)
}

/// The trace id of a `traceparent` value, when it is well formed (version `00`: exactly four
/// dash-separated lower-case hex fields of 2, 32, 16 and 2 digits, neither id all zeros;
/// a later version may append fields after the flags).
pub fn parse(value: &[u8]) -> Option<TraceId> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let mut fields = text.split('-');
    let version = fields.next()?;
    let trace = fields.next()?;
    let parent = fields.next()?;
    let flags = fields.next()?;
    let rest_ok = match version {
        "00" => fields.next().is_none(),
        "ff" => false,
        _ => true,
    };
    let lower_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !rest_ok
        || !lower_hex(version, 2)
        || !lower_hex(trace, 32)
        || !lower_hex(parent, 16)
        || !lower_hex(flags, 2)
        || parent.bytes().all(|b| b == b'0')
    {
        return None;
    }
    let mut id = [0u8; 16];
    for (byte, pair) in id.iter_mut().zip(trace.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    (id != [0; 16]).then_some(TraceId(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_valid_sampled_version_00_headers() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let (id, value) = generate();
            let text = std::str::from_utf8(&value).unwrap();
            assert_eq!(text.len(), 55, "{text}");
            assert!(text.starts_with("00-") && text.ends_with("-01"), "{text}");
            assert_eq!(&text[3..35], id.to_string());
            assert_eq!(parse(&value), Some(id));
            assert!(seen.insert(id), "trace id repeated: {id}");
        }
    }

    #[test]
    fn parse_takes_well_formed_values_only() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse(good.as_bytes()).map(|id| id.to_string()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        // A future version may carry more fields.
        assert!(parse(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").is_some());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
