//! Takes a flow variable's value out of a response: a JSON pointer into the body, a header, or
//! the first capture group of a regex over the body.
//!
//! A value that is not there fails the step (reason `assertion`): a later step would otherwise
//! send a request without its token and fail somewhere less obvious. The message names the
//! variable and where it was looked for, never the value found (it may be a credential).

use http::HeaderMap;

use crate::outcome::{Failure, FailureReason};
use crate::scenario::{ExtractSource, Extraction};

/// The value of `extraction` in a response with `headers` and `body`.
pub fn value(extraction: &Extraction, headers: &HeaderMap, body: &[u8]) -> Result<String, Failure> {
    let missing = |where_: String| Failure {
        reason: FailureReason::Assertion,
        message: format!("extract {}: {where_}", extraction.var),
    };
    match &extraction.source {
        ExtractSource::Json(pointer) => {
            let document: serde_json::Value = serde_json::from_slice(body)
                .map_err(|_| missing("the body is not JSON".to_string()))?;
            match document.pointer(pointer) {
                Some(serde_json::Value::String(text)) => Ok(text.clone()),
                Some(serde_json::Value::Null) | None => {
                    Err(missing(format!("no value at JSON pointer {pointer:?}")))
                }
                Some(other) => Ok(other.to_string()),
            }
        }
        ExtractSource::Header(name) => headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| missing(format!("no header {name} in the response"))),
        ExtractSource::Regex(regex) => {
            let text = String::from_utf8_lossy(body);
            regex
                .captures(&text)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string())
                .ok_or_else(|| {
                    missing(format!(
                        "regex {:?} does not match the body",
                        regex.as_str()
                    ))
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use regex::Regex;

    fn extraction(source: ExtractSource) -> Extraction {
        Extraction {
            var: "token".to_string(),
            source,
        }
    }

    #[test]
    fn each_source_finds_its_value_or_says_where_it_looked() {
        let body = br#"{"token": "t-1", "id": 42, "user": {"roles": ["a"]}, "none": null}"#;
        let mut headers = HeaderMap::new();
        headers.insert("x-token", HeaderValue::from_static("h-2"));
        let json = |p: &str| value(&extraction(ExtractSource::Json(p.into())), &headers, body);
        assert_eq!(json("/token").unwrap(), "t-1");
        assert_eq!(json("/id").unwrap(), "42");
        assert_eq!(json("/user/roles").unwrap(), r#"["a"]"#);
        let err = json("/missing").unwrap_err();
        assert_eq!(err.reason, FailureReason::Assertion);
        assert_eq!(
            err.message,
            r#"extract token: no value at JSON pointer "/missing""#
        );
        assert!(json("/none").is_err());
        let not_json = value(
            &extraction(ExtractSource::Json("/a".into())),
            &headers,
            b"<html>",
        );
        assert_eq!(
            not_json.unwrap_err().message,
            "extract token: the body is not JSON"
        );

        let header = |n: &'static str| {
            value(
                &extraction(ExtractSource::Header(HeaderName::from_static(n))),
                &headers,
                body,
            )
        };
        assert_eq!(header("x-token").unwrap(), "h-2");
        assert_eq!(
            header("x-other").unwrap_err().message,
            "extract token: no header x-other in the response"
        );

        let regex = |r: &str| {
            value(
                &extraction(ExtractSource::Regex(Regex::new(r).unwrap())),
                &headers,
                body,
            )
        };
        assert_eq!(regex(r#""id": (\d+)"#).unwrap(), "42");
        assert!(
            regex(r"order=(\d+)")
                .unwrap_err()
                .message
                .contains("does not match")
        );
    }
}
