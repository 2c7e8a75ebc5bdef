//! `Retry-After` on a 429 or 503 answer (RFC 9110 §10.2.3): how long the service asks clients
//! to wait. The probe reads it into the [`crate::outcome::Outcome`]; the target's guard decides
//! what to do with it ([`crate::guard`]).

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::RETRY_AFTER;

/// The statuses whose `Retry-After` asks the client to hold off: 429 Too Many Requests and
/// 503 Service Unavailable (on a 3xx it only says when to follow the redirect).
const HOLD_OFF: [u16; 2] = [429, 503];

/// The wait a `status` answer with `headers` asks for, as of `now`: `delay-seconds` or an
/// HTTP date. `None` for other statuses, without the header, with a value that is neither
/// form, or with a date that has passed: then there is nothing to wait for.
pub(crate) fn requested_wait(
    status: u16,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    if !HOLD_OFF.contains(&status) {
        return None;
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time"; the guard caps it.
        Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .ok()?
    };
    (!wait.is_zero()).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(status: u16, value: &str, now: SystemTime) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, value.parse().unwrap());
        requested_wait(status, &headers, now)
    }

    #[test]
    fn seconds_and_http_dates_on_429_and_503() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(wait(429, "120", now), Some(Duration::from_secs(120)));
        assert_eq!(wait(503, " 7 ", now), Some(Duration::from_secs(7)));
        // RFC 9110's example date is 784111777 s after the epoch; 10 s later.
        assert_eq!(
            wait(503, "Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            wait(429, "99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn nothing_to_wait_for() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            wait(500, "120", now),
            None,
            "only 429 and 503 ask to hold off"
        );
        assert_eq!(wait(301, "120", now), None);
        assert_eq!(wait(429, "0", now), None);
        assert_eq!(wait(429, "Sun, 06 Nov 1994 08:49:37 GMT", now), None, "now");
        assert_eq!(
            wait(429, "Sun, 06 Nov 1994 08:00:00 GMT", now),
            None,
            "past"
        );
        for bad in ["-5", "1.5", "soon", "", "120s", "Sun, 06 Nov 1994"] {
            assert_eq!(wait(429, bad, now), None, "{bad:?}");
        }
        assert_eq!(requested_wait(429, &HeaderMap::new(), now), None);
    }
}
