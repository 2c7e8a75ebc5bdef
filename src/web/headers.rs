//! `http_server_config.headers`: the security headers exporter-toolkit lets an operator add to
//! every response, with the same allowed names and values, so a file accepted by
//! `promtool check web-config` means the same here.

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue};

use super::FieldProblem;

/// Header names that may be set, each with its allowed values (empty: any value).
const ALLOWED: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Checks every header against the allowed names and values and returns them ready to send.
pub(super) fn check(
    headers: BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, FieldProblem> {
    headers
        .into_iter()
        .map(|(name, value)| {
            let field = format!("http_server_config.headers.{name}");
            let Some((_, values)) = ALLOWED.iter().find(|(allowed, _)| *allowed == name) else {
                let names: Vec<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
                return Err((
                    field,
                    format!("this header can not be configured; expected one of {names:?}"),
                ));
            };
            if !values.is_empty() && !values.contains(&value.as_str()) {
                return Err((
                    field,
                    format!("invalid value {value:?}; expected one of {values:?}"),
                ));
            }
            let header_value = HeaderValue::from_str(&value).map_err(|_| {
                (
                    field.clone(),
                    format!("{value:?} is not a valid header value (control characters?)"),
                )
            })?;
            let header_name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| (field, e.to_string()))?;
            Ok((header_name, header_value))
        })
        .collect()
}
