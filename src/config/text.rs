//! Structured strings in the config: names, label names, header names and values, methods,
//! URLs, templates, regexes, JSON pointers and status codes. Each kind parses while the YAML
//! is read (see [`super::scalar`]), so its message carries a line and column.

use std::path::PathBuf;
use std::str::FromStr;

use http::{HeaderName, HeaderValue, Method};
use regex::Regex;
use reqwest::Url;

use super::env::EnvText;
use super::scalar::Kind;
use super::units::quote;
use crate::data::{Mode, OnExhausted};
use crate::scenario::StatusMatch;
use crate::template::Template;

/// Label names synthex sets itself (or Prometheus attaches), refused in `global.labels`.
pub const RESERVED_LABELS: [&str; 12] = [
    "target", "scenario", "code", "reason", "phase", "result", "process", "field", "quantile",
    "le", "job", "instance",
];

/// Target, scenario, process, tag and stats field names: `[a-zA-Z0-9_.-]+`.
pub struct NameKind;
impl Kind for NameKind {
    type Value = String;
    const EXPECTING: &'static str = "a name of letters, digits, _, . or -";
    fn parse(text: &str) -> Result<String, String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if !text.is_empty() && text.chars().all(ok) {
            return Ok(text.to_string());
        }
        Err(format!(
            "invalid name {}: expected letters, digits, _, . or - (at least one)",
            quote(text)
        ))
    }
}

/// Whether `text` matches `[A-Za-z_][A-Za-z0-9_]*` (label and variable names).
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `global.labels` keys: Prometheus label names that synthex does not set itself.
pub struct LabelNameKind;
impl Kind for LabelNameKind {
    type Value = String;
    const EXPECTING: &'static str = "a label name such as env";
    fn parse(text: &str) -> Result<String, String> {
        if !is_identifier(text) {
            return Err(format!(
                "invalid label name {}: expected [a-zA-Z_][a-zA-Z0-9_]*",
                quote(text)
            ));
        }
        if RESERVED_LABELS.contains(&text) || text.starts_with("__") {
            return Err(format!(
                "label name {} is reserved: synthex or Prometheus sets it (reserved: {}, and any \
                 name starting with __)",
                quote(text),
                RESERVED_LABELS.join(", ")
            ));
        }
        Ok(text.to_string())
    }
}

/// Header names (request headers, cache headers, expected response headers).
pub struct HeaderNameKind;
impl Kind for HeaderNameKind {
    type Value = HeaderName;
    const EXPECTING: &'static str = "a header name such as X-Cache";
    fn parse(text: &str) -> Result<HeaderName, String> {
        HeaderName::from_str(text).map_err(|_| {
            format!(
                "invalid header name {}: expected letters, digits and !#$%&'*+-.^_`|~ without spaces",
                quote(text)
            )
        })
    }
}

/// Checks a header value without ever quoting it (it may be a secret).
pub fn header_value(text: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text).map_err(|_| {
        "invalid header value: expected visible ASCII characters, spaces and tabs only".to_string()
    })
}

/// `global.marker_header`: `Name: value`, or `""` to send no marker.
pub struct MarkerKind;
impl Kind for MarkerKind {
    type Value = Option<(HeaderName, HeaderValue)>;
    const EXPECTING: &'static str = "a header such as \"X-Synthetic: 1\"";
    fn parse(text: &str) -> Result<Self::Value, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let invalid = |why: String| {
            format!(
                "invalid marker header {}: {why}; expected \"Name: value\" or \"\" to disable",
                quote(text)
            )
        };
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| invalid("no `:`".to_string()))?;
        let name = HeaderNameKind::parse(name.trim()).map_err(invalid)?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| invalid("the value has characters not allowed in a header".into()))?;
        Ok(Some((name, value)))
    }
}

/// A secret or deployment-specific string with `${VAR}` references (target header values,
/// `bearer_token`, `basic_auth.password`). A literal value is checked as a header value.
pub struct SecretKind;
impl Kind for SecretKind {
    type Value = EnvText;
    const EXPECTING: &'static str = "a string (may reference ${VAR})";
    fn parse(text: &str) -> Result<EnvText, String> {
        let parsed = EnvText::parse(text)?;
        if let Some(literal) = parsed.as_literal() {
            header_value(&literal)?;
        }
        Ok(parsed)
    }
}

/// Checks an `http`/`https` URL with a host. `shown` is what messages quote: the text as
/// written, so a secret expanded from the environment never appears, and redacted, so a
/// password written in the file does not either.
pub fn http_url(what: &str, text: &str, shown: &str) -> Result<Url, String> {
    let shown = &super::redact(shown);
    let url = Url::parse(text.trim()).map_err(|e| {
        format!(
            "invalid {what} {}: {e}: expected http(s)://host[:port][/path]",
            quote(shown)
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "invalid {what} {}: scheme {} is not supported: expected http or https",
            quote(shown),
            quote(url.scheme())
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("invalid {what} {}: expected a host", quote(shown)));
    }
    Ok(url)
}

/// `base_url` and `proxy`: an http(s) URL, checked now unless it references `${VAR}`.
pub struct UrlKind;
impl Kind for UrlKind {
    type Value = EnvText;
    const EXPECTING: &'static str = "a URL such as http://127.0.0.1:8080";
    fn parse(text: &str) -> Result<EnvText, String> {
        let parsed = EnvText::parse(text)?;
        if let Some(literal) = parsed.as_literal() {
            http_url("URL", &literal, &literal)?;
        }
        Ok(parsed)
    }
}

/// `stats.url`: an absolute http(s) URL, or a path starting with `/` appended to `base_url`.
pub struct StatsUrlKind;
impl Kind for StatsUrlKind {
    type Value = String;
    const EXPECTING: &'static str = "a path such as /stats or a URL";
    fn parse(text: &str) -> Result<String, String> {
        if !text.starts_with('/') {
            http_url("stats URL", text, text)?;
        }
        Ok(text.to_string())
    }
}

/// `request.method`: a standard method, case-insensitive.
pub struct MethodKind;
impl Kind for MethodKind {
    type Value = Method;
    const EXPECTING: &'static str = "a method such as GET";
    fn parse(text: &str) -> Result<Method, String> {
        const METHODS: [&str; 8] = [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
        ];
        let upper = text.trim().to_ascii_uppercase();
        match METHODS.contains(&upper.as_str()) {
            true => Method::from_str(&upper).map_err(|e| e.to_string()),
            false => Err(format!(
                "invalid method {}: expected one of {}",
                quote(text),
                METHODS.join(", ")
            )),
        }
    }
}

/// `request.path`: a template that starts with `/`.
pub struct PathKind;
impl Kind for PathKind {
    type Value = Template;
    const EXPECTING: &'static str = "a path such as /orders/{{ int 1..100 }}";
    fn parse(text: &str) -> Result<Template, String> {
        if !text.starts_with('/') {
            return Err(format!(
                "invalid path {}: expected a path starting with /",
                quote(text)
            ));
        }
        Template::parse(text).map_err(|e| format!("invalid {e}"))
    }
}

/// `request.body` and scenario header values: templates. `${VAR}` is refused here because it
/// would be sent literally; secrets belong in the target's headers or auth.
pub struct TemplateKind;
impl Kind for TemplateKind {
    type Value = Template;
    const EXPECTING: &'static str = "a text template";
    fn parse(text: &str) -> Result<Template, String> {
        if text.contains("${") {
            return Err(
                "${VAR} is not expanded in scenario requests: put secrets in the \
                        target's headers, bearer_token or basic_auth"
                    .to_string(),
            );
        }
        Template::parse(text).map_err(|e| format!("invalid {e}"))
    }
}

/// Makes the regex crate's multi-line syntax error one line: its final `error: …` line.
fn regex(text: &str) -> Result<Regex, String> {
    Regex::new(text).map_err(|e| {
        let detail = match &e {
            regex::Error::Syntax(message) => message
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(message)
                .to_string(),
            other => other.to_string(),
        };
        format!("invalid regex {}: {detail}", quote(text))
    })
}

/// Regexes (`cache.hit`, `body_regex`, `cmdline`).
pub struct RegexKind;
impl Kind for RegexKind {
    type Value = Regex;
    const EXPECTING: &'static str = "a regular expression";
    fn parse(text: &str) -> Result<Regex, String> {
        regex(text)
    }
}

/// `extract.VAR.regex`: a regex with at least one capture group, whose first group is the value.
pub struct CaptureRegexKind;
impl Kind for CaptureRegexKind {
    type Value = Regex;
    const EXPECTING: &'static str = "a regular expression with a capture group";
    fn parse(text: &str) -> Result<Regex, String> {
        let parsed = regex(text)?;
        // captures_len counts the implicit whole-match group.
        if parsed.captures_len() < 2 {
            return Err(format!(
                "regex {} has no capture group: expected one such as 'id=(\\d+)', whose \
                 match becomes the variable",
                quote(text)
            ));
        }
        Ok(parsed)
    }
}

/// Flow variable names (`extract:` keys, `{{ var NAME }}`): `[A-Za-z_][A-Za-z0-9_]*`.
pub struct VarNameKind;
impl Kind for VarNameKind {
    type Value = String;
    const EXPECTING: &'static str = "a variable name such as token";
    fn parse(text: &str) -> Result<String, String> {
        match is_identifier(text) {
            true => Ok(text.to_string()),
            false => Err(format!(
                "invalid variable name {}: expected [A-Za-z_][A-Za-z0-9_]*",
                quote(text)
            )),
        }
    }
}

/// `expect.headers` values: a regex the value must match, or `""` for presence only.
pub struct OptionalRegexKind;
impl Kind for OptionalRegexKind {
    type Value = Option<Regex>;
    const EXPECTING: &'static str = "a regular expression, or \"\" for presence only";
    fn parse(text: &str) -> Result<Option<Regex>, String> {
        match text {
            "" => Ok(None),
            _ => regex(text).map(Some),
        }
    }
}

/// JSON pointers (RFC 6901): empty (the whole document) or `/a/b`, `~` only as `~0` or `~1`.
pub struct PointerKind;
impl Kind for PointerKind {
    type Value = String;
    const EXPECTING: &'static str = "a JSON pointer such as /cache/hit_rate";
    fn parse(text: &str) -> Result<String, String> {
        let bad_tilde = text
            .split('~')
            .skip(1)
            .any(|after| !after.starts_with(['0', '1']));
        if (text.is_empty() || text.starts_with('/')) && !bad_tilde {
            return Ok(text.to_string());
        }
        Err(format!(
            "invalid JSON pointer {}: expected \"\" or a path starting with / such as /cache/hit_rate \
             (write ~0 for ~ and ~1 for /)",
            quote(text)
        ))
    }
}

/// `expect.status[]`: a code such as `200` or a class such as `2xx`.
pub struct StatusKind;
impl Kind for StatusKind {
    type Value = StatusMatch;
    const EXPECTING: &'static str = "a status such as 200 or 2xx";
    fn parse(text: &str) -> Result<StatusMatch, String> {
        let lower = text.trim().to_ascii_lowercase();
        let parsed = match lower.strip_suffix("xx") {
            Some(class) => class
                .parse()
                .ok()
                .filter(|c| (1..=5).contains(c))
                .map(StatusMatch::Class),
            None => lower
                .parse()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .map(StatusMatch::Code),
        };
        parsed.ok_or_else(|| {
            format!(
                "invalid status {}: expected a code 100..599 such as 200, or a class 1xx..5xx",
                quote(text)
            )
        })
    }
}

/// `tls.server_name`: a DNS name or IP address to verify instead of the URL host.
pub struct ServerNameKind;
impl Kind for ServerNameKind {
    type Value = String;
    const EXPECTING: &'static str = "a DNS name such as api.internal";
    fn parse(text: &str) -> Result<String, String> {
        match rustls::pki_types::ServerName::try_from(text) {
            Ok(_) => Ok(text.to_string()),
            Err(_) => Err(format!(
                "invalid server name {}: expected a DNS name or an IP address",
                quote(text)
            )),
        }
    }
}

/// Non-empty strings (`exe`).
pub struct NonEmptyKind;
impl Kind for NonEmptyKind {
    type Value = String;
    const EXPECTING: &'static str = "a non-empty string";
    fn parse(text: &str) -> Result<String, String> {
        match text.is_empty() {
            true => Err("empty value: expected a non-empty string".to_string()),
            false => Ok(text.to_string()),
        }
    }
}

/// `basic_auth.username`: non-empty, without `:` (RFC 7617 splits user and password there).
pub struct UsernameKind;
impl Kind for UsernameKind {
    type Value = String;
    const EXPECTING: &'static str = "a user name";
    fn parse(text: &str) -> Result<String, String> {
        match text.contains(':') {
            true => {
                Err("invalid user name: expected no `:` (it separates user and password)".into())
            }
            false => NonEmptyKind::parse(text),
        }
    }
}

/// File paths (`*_file`, `ca_file`, `pid_file`); relative ones are resolved against the config
/// file's directory when the config is built.
pub struct FileKind;
impl Kind for FileKind {
    type Value = PathBuf;
    const EXPECTING: &'static str = "a file path";
    fn parse(text: &str) -> Result<PathBuf, String> {
        NonEmptyKind::parse(text).map(PathBuf::from)
    }
}

/// `data.mode`.
pub struct DataModeKind;
impl Kind for DataModeKind {
    type Value = Mode;
    const EXPECTING: &'static str = "sequential, random or unique";
    fn parse(text: &str) -> Result<Mode, String> {
        [Mode::Sequential, Mode::Random, Mode::Unique]
            .into_iter()
            .find(|mode| mode.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "invalid data mode {}: expected sequential, random or unique",
                    quote(text)
                )
            })
    }
}

/// `data.on_exhausted`.
pub struct OnExhaustedKind;
impl Kind for OnExhaustedKind {
    type Value = OnExhausted;
    const EXPECTING: &'static str = "stop or fail";
    fn parse(text: &str) -> Result<OnExhausted, String> {
        [OnExhausted::Stop, OnExhausted::Fail]
            .into_iter()
            .find(|action| action.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "invalid on_exhausted {}: expected stop or fail",
                    quote(text)
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6901 escaping of one reference token.
    fn escape(segment: &str) -> String {
        segment.replace('~', "~0").replace('/', "~1")
    }

    proptest! {
        #[test]
        fn pointers_never_panic_and_accepted_ones_are_well_formed(text in "[~/a-z01]{0,12}|.{0,12}") {
            if let Ok(pointer) = PointerKind::parse(&text) {
                prop_assert!(pointer.is_empty() || pointer.starts_with('/'));
                let _ = serde_json::json!({"a": [1, {"~": 2}]}).pointer(&pointer);
            }
        }

        #[test]
        fn an_escaped_path_finds_its_value(segments in prop::collection::vec("[~/a-z ]{0,5}", 1..4), value in any::<i64>()) {
            let mut document = serde_json::Value::from(value);
            for segment in segments.iter().rev() {
                document = serde_json::json!({ segment.clone(): document });
            }
            let text: String = segments.iter().map(|s| format!("/{}", escape(s))).collect();
            let pointer = PointerKind::parse(&text).unwrap();
            prop_assert_eq!(document.pointer(&pointer), Some(&serde_json::Value::from(value)));
        }
    }
}
