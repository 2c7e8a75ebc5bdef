//! Expectations on a response: the status check (`http_status`) and every other check
//! (`assertion`), each failing with a message that says what was expected and what was found.
//!
//! Found values are quoted and truncated: messages go to logs and the status page, so they must
//! stay short and never echo a whole body.

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;

use crate::outcome::{Failure, FailureReason};
use crate::scenario::{Expectations, StatusMatch};

/// Longest excerpt of a found value quoted in a message.
const EXCERPT_CHARS: usize = 80;

/// The status check alone; `None` when `status` is accepted.
pub(crate) fn check_status(expect: &Expectations, status: u16) -> Option<Failure> {
    if expect.status.iter().any(|m| m.matches(status)) {
        return None;
    }
    let accepted: Vec<String> = expect.status.iter().map(describe_status).collect();
    Some(Failure {
        reason: FailureReason::HttpStatus,
        message: format!("expected status {}, got {status}", accepted.join(", ")),
    })
}

fn describe_status(m: &StatusMatch) -> String {
    match m {
        StatusMatch::Code(code) => code.to_string(),
        StatusMatch::Class(class) => format!("{class}xx"),
    }
}

/// Every check other than the status, in a fixed order (headers, body text, body regex, JSON,
/// latency); the first miss is reported.
pub(crate) fn check_response(
    expect: &Expectations,
    headers: &HeaderMap,
    body: &[u8],
    latency: Duration,
) -> Option<Failure> {
    let message = check_headers(expect, headers)
        .or_else(|| check_body(expect, body))
        .or_else(|| check_json(expect, body))
        .or_else(|| check_latency(expect, latency))?;
    Some(Failure {
        reason: FailureReason::Assertion,
        message,
    })
}

fn check_headers(expect: &Expectations, headers: &HeaderMap) -> Option<String> {
    expect.headers.iter().find_map(|wanted| {
        let Some(value) = headers.get(&wanted.name) else {
            return Some(format!("header {} missing", wanted.name));
        };
        let pattern = wanted.matches.as_ref()?;
        let text = String::from_utf8_lossy(value.as_bytes());
        if pattern.is_match(&text) {
            None
        } else {
            Some(format!(
                "header {}: expected to match {:?}, found {}",
                wanted.name,
                pattern.as_str(),
                excerpt(&text)
            ))
        }
    })
}

fn check_body(expect: &Expectations, body: &[u8]) -> Option<String> {
    if expect.body_contains.is_empty() && expect.body_regex.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    if let Some(missing) = expect.body_contains.iter().find(|s| !text.contains(*s)) {
        return Some(format!("body does not contain {missing:?}"));
    }
    expect
        .body_regex
        .iter()
        .find(|re| !re.is_match(&text))
        .map(|re| format!("body does not match {:?}", re.as_str()))
}

fn check_json(expect: &Expectations, body: &[u8]) -> Option<String> {
    let (first_pointer, _) = expect.json.first()?;
    let document: Value = match serde_json::from_slice(body) {
        Ok(document) => document,
        Err(e) => return Some(format!("json {first_pointer}: body is not JSON ({e})")),
    };
    expect
        .json
        .iter()
        .find_map(|(pointer, wanted)| match document.pointer(pointer) {
            Some(found) if json_equal(found, wanted) => None,
            Some(found) => Some(format!(
                "json {pointer}: expected {}, found {}",
                cut(&wanted.to_string()),
                cut(&found.to_string())
            )),
            None => Some(format!(
                "json {pointer}: expected {}, found nothing at that pointer",
                cut(&wanted.to_string())
            )),
        })
}

/// JSON equality where numbers compare by value (`5` from YAML equals `5.0` in a body).
fn json_equal(found: &Value, wanted: &Value) -> bool {
    match (found, wanted) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => found == wanted,
    }
}

fn check_latency(expect: &Expectations, latency: Duration) -> Option<String> {
    let limit = expect.max_latency?;
    (latency > limit).then(|| {
        format!(
            "latency {} exceeds max_latency {}",
            humantime::format_duration(round_to_ms(latency)),
            humantime::format_duration(limit)
        )
    })
}

fn round_to_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `text` quoted, cut to [`EXCERPT_CHARS`] characters.
pub(crate) fn excerpt(text: &str) -> String {
    let (head, was_cut) = split(text);
    format!("{head:?}{}", if was_cut { "…" } else { "" })
}

/// `text` (already JSON, so already quoted where needed) cut to [`EXCERPT_CHARS`] characters.
fn cut(text: &str) -> String {
    let (head, was_cut) = split(text);
    format!("{head}{}", if was_cut { "…" } else { "" })
}

fn split(text: &str) -> (String, bool) {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    (head, chars.next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_quotes_and_cuts_long_values() {
        assert_eq!(excerpt("pending"), "\"pending\"");
        let long = "x".repeat(500);
        let cut = excerpt(&long);
        assert!(cut.ends_with('…') && cut.len() < 100, "{cut}");
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&serde_json::json!(5.0), &serde_json::json!(5)));
        assert!(!json_equal(&serde_json::json!("5"), &serde_json::json!(5)));
    }
}
