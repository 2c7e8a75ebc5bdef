//! Secrets of a target resolved at load time: `${VAR}` expansion, `*_file` reads, and the
//! `Authorization` header built from `bearer_token` or `basic_auth`.
//!
//! Every header value made here is marked sensitive (`HeaderValue::set_sensitive`), so `Debug`
//! prints `Sensitive` instead of it, and no message produced here contains a secret's value:
//! they name the field, the variable or the file instead.
//!
//! Secrets can also sit inside URLs (`http://user:password@host`, `?api_key=…`), and URLs reach
//! logs, errors, the status page and reports from many places, some of them in other crates'
//! messages. [`redact`] is the one filter every printed text goes through, so no caller has to
//! remember which of its URLs might carry a secret.

use std::borrow::Cow;
use std::path::Path;

use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};

use super::env::{EnvLookup, EnvText};
use super::file::{BasicAuthFile, TargetFile};
use super::scalar::Scalar;
use super::text::header_value;
use super::text::{FileKind, SecretKind};
use super::{FieldError, io_message};

/// What a secret prints as, everywhere synthex prints text.
pub const REDACTED: &str = "<redacted>";

/// Query parameter names (lower case, `-` and `_` removed) that hold a secret when they contain
/// one of these words: `key`, `api_key`, `X-Amz-Signature`, `access_token`, `client_secret`…
const SECRET_PARAM_WORDS: [&str; 8] = [
    "key",
    "token",
    "secret",
    "password",
    "signature",
    "credential",
    "session",
    "auth",
];

/// Short query parameter names that hold a secret (`?sig=…` of signed URLs, `?pwd=…`).
const SECRET_PARAM_NAMES: [&str; 5] = ["sig", "pwd", "passwd", "pass", "jwt"];

/// `text` with the password of every URL in it (`scheme://user:PASSWORD@host`, or the bare
/// authority `user:PASSWORD@host`) and the value of
/// every secret-looking query parameter (`?key=`, `&token=`, `&api_key=`, `&sig=`… any case)
/// replaced by [`REDACTED`]. Works on free text (a log message, an error chain), not only on a
/// bare URL, so a URL quoted inside another crate's message is caught too.
pub fn redact(text: &str) -> Cow<'_, str> {
    let spans = secret_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end) in spans {
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The byte ranges of `text` that hold a secret, sorted by start.
fn secret_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    // User info, `user:password@host`, with or without the `scheme://` before it: libraries
    // print authorities bare too (a connection pool's key, a proxy's address).
    for (at, _) in text.match_indices('@') {
        let start = text[..at]
            .rfind(|c: char| c.is_whitespace() || "\"'`<>\\/([{,=;".contains(c))
            .map_or(0, |i| i + 1);
        if let Some(colon) = text[start..at].find(':')
            && start + colon + 1 < at
        {
            spans.push((start + colon + 1, at));
        }
    }
    for (separator, _) in text.match_indices(['?', '&', ';']) {
        let name_start = separator + 1;
        let name_end = end_of(text, name_start, |c| {
            matches!(c, '=' | '&' | '?' | '/' | '#')
        });
        if !text[name_end..].starts_with('=') || !secret_param(&text[name_start..name_end]) {
            continue;
        }
        let value_start = name_end + 1;
        let value_end = end_of(text, value_start, |c| matches!(c, '&' | '#' | ';'));
        if value_end > value_start {
            spans.push((value_start, value_end));
        }
    }
    spans.sort_unstable();
    // Overlapping spans (an unencoded `@` inside a password) become one.
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Where the URL part starting at `from` ends: at whitespace, a quote or bracket that delimits
/// a URL in text, or a character `stop` names.
fn end_of(text: &str, from: usize, stop: impl Fn(char) -> bool) -> usize {
    text[from..]
        .find(|c: char| {
            c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`' | ',') || stop(c)
        })
        .map_or(text.len(), |i| from + i)
}

/// Whether a query parameter of this name carries a secret.
fn secret_param(name: &str) -> bool {
    if name.is_empty() || name.len() > 64 {
        return false;
    }
    let folded: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_PARAM_NAMES.contains(&folded.as_str())
        || SECRET_PARAM_WORDS.iter().any(|word| folded.contains(word))
}

/// Expands `${VAR}` references of the value at `field`.
pub fn expand(field: &str, text: &EnvText, env: EnvLookup<'_>) -> Result<String, FieldError> {
    text.expand(env)
        .map_err(|var| FieldError::new(field, format!("environment variable {var} is not set")))
}

/// Reads a secret file, trimming the trailing newline that editors and `echo` add.
pub fn read_secret(field: &str, path: &Path) -> Result<String, FieldError> {
    let content = std::fs::read_to_string(path).map_err(|e| {
        FieldError::new(
            field,
            format!("cannot read {}: {}", path.display(), io_message(&e)),
        )
    })?;
    let secret = content.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(FieldError::new(
            field,
            format!("file {} is empty: expected the secret", path.display()),
        ));
    }
    Ok(secret)
}

/// A sensitive header value; the error names the field, never the value.
fn sensitive(field: &str, text: &str) -> Result<HeaderValue, FieldError> {
    let mut value = header_value(text).map_err(|message| FieldError::new(field, message))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The target's headers with secrets resolved, plus `Authorization` from bearer or basic auth.
/// `resolve` turns a file path from the config into the path to read.
pub fn target_headers(
    path: &str,
    target: &TargetFile,
    env: EnvLookup<'_>,
    resolve: &dyn Fn(&Path) -> std::path::PathBuf,
) -> Result<HeaderMap, FieldError> {
    let mut headers = HeaderMap::new();
    for (name, text) in &target.headers.0 {
        let field = format!("{path}.headers.{name}");
        let expanded = expand(&field, &text.0, env)?;
        headers.insert(name.clone(), sensitive(&field, &expanded)?);
    }
    let auth = Credentials {
        bearer_token: target.bearer_token.as_ref(),
        bearer_token_file: target.bearer_token_file.as_ref(),
        basic_auth: target.basic_auth.as_ref(),
    };
    if let Some(value) = authorization(path, &auth, env, resolve)? {
        headers.insert(AUTHORIZATION, value);
    }
    Ok(headers)
}

/// The credential keys a target (or the load test's Prometheus) may have.
pub struct Credentials<'a> {
    /// `bearer_token`.
    pub bearer_token: Option<&'a Scalar<SecretKind>>,
    /// `bearer_token_file`.
    pub bearer_token_file: Option<&'a Scalar<FileKind>>,
    /// `basic_auth`.
    pub basic_auth: Option<&'a BasicAuthFile>,
}

/// The `Authorization` value the credentials at `path` make, if any (the last given wins:
/// basic auth over a token file over a token, as validation allows only one).
pub fn authorization(
    path: &str,
    auth: &Credentials<'_>,
    env: EnvLookup<'_>,
    resolve: &dyn Fn(&Path) -> std::path::PathBuf,
) -> Result<Option<HeaderValue>, FieldError> {
    let mut value = None;
    if let Some(token) = auth.bearer_token {
        let field = format!("{path}.bearer_token");
        let token = expand(&field, &token.0, env)?;
        value = Some(sensitive(&field, &format!("Bearer {token}"))?);
    }
    if let Some(file) = auth.bearer_token_file {
        let field = format!("{path}.bearer_token_file");
        let token = read_secret(&field, &resolve(&file.0))?;
        value = Some(sensitive(&field, &format!("Bearer {token}"))?);
    }
    if let Some(basic) = auth.basic_auth {
        value = Some(basic_auth(
            &format!("{path}.basic_auth"),
            basic,
            env,
            resolve,
        )?);
    }
    Ok(value)
}

fn basic_auth(
    path: &str,
    auth: &BasicAuthFile,
    env: EnvLookup<'_>,
    resolve: &dyn Fn(&Path) -> std::path::PathBuf,
) -> Result<HeaderValue, FieldError> {
    let (field, password) = match (&auth.password, &auth.password_file) {
        (Some(text), _) => {
            let field = format!("{path}.password");
            let password = expand(&field, &text.0, env)?;
            (field, password)
        }
        (None, Some(file)) => {
            let field = format!("{path}.password_file");
            let password = read_secret(&field, &resolve(&file.0))?;
            (field, password)
        }
        (None, None) => (format!("{path}.password"), String::new()),
    };
    let credentials = base64(format!("{}:{password}", auth.username.0).as_bytes());
    sensitive(&field, &format!("Basic {credentials}"))
}

/// Standard base64 with padding (RFC 4648 §4), as HTTP basic authentication requires.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let group = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(group >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_and_secret_query_values_are_redacted_anywhere_in_text() {
        let cases = [
            (
                "http://alice:hunter2@host/api",
                "http://alice:<redacted>@host/api",
            ),
            ("http://alice@host/api", "http://alice@host/api"),
            ("https://host/x?a=1&b=2", "https://host/x?a=1&b=2"),
            (
                "poll of http://h/s?API_KEY=k1&page=2&Access-Token=t2#top failed",
                "poll of http://h/s?API_KEY=<redacted>&page=2&Access-Token=<redacted>#top failed",
            ),
            (
                "url=\"http://h/?sig=abc\"",
                "url=\"http://h/?sig=<redacted>\"",
            ),
            (
                "http://u:p%40ss@[::1]:80/?key=v",
                "http://u:<redacted>@[::1]:80/?key=<redacted>",
            ),
            ("?token=", "?token="),
            ("http://u:p@ss@h/", "http://u:<redacted>@h/"),
            (
                "checkout (\"http\", alice:pw@127.0.0.1:80)",
                "checkout (\"http\", alice:<redacted>@127.0.0.1:80)",
            ),
            (
                "mail alice@example.com at 10:30",
                "mail alice@example.com at 10:30",
            ),
            ("no url here: a=b", "no url here: a=b"),
            (
                "http://x/?X-Amz-Signature=s&monkey=m&password=p",
                "http://x/?X-Amz-Signature=<redacted>&monkey=<redacted>&password=<redacted>",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(redact(text), expected, "{text}");
        }
        assert!(matches!(redact("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn secret_files_are_trimmed_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "abc123\r\n").unwrap();
        assert_eq!(read_secret("f", &file).unwrap(), "abc123");
        std::fs::write(&file, "\n").unwrap();
        let err = read_secret("f", &file).unwrap_err();
        assert!(err.message.contains("is empty"), "{}", err.message);
        let missing = dir.path().join("nope");
        let err = read_secret("t.bearer_token_file", &missing).unwrap_err();
        assert_eq!(
            err.message,
            format!(
                "cannot read {}: no such file or directory",
                missing.display()
            )
        );
    }

    #[test]
    fn invalid_secret_value_is_refused_without_echoing_it() {
        let err = sensitive("t.bearer_token", "Bearer a\nsecret").unwrap_err();
        assert!(!err.message.contains("secret"), "{}", err.message);
        assert!(sensitive("f", "Bearer ok").unwrap().is_sensitive());
    }
}
