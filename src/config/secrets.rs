//! Secrets of a target resolved at load time: `${VAR}` expansion, `*_file` reads, and the
//! `Authorization` header built from `bearer_token` or `basic_auth`.
//!
//! Every header value made here is marked sensitive (`HeaderValue::set_sensitive`), so `Debug`
//! prints `Sensitive` instead of it, and no message produced here contains a secret's value:
//! they name the field, the variable or the file instead.

use std::path::Path;

use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};

use super::env::{EnvLookup, EnvText};
use super::file::{BasicAuthFile, TargetFile};
use super::text::header_value;
use super::{FieldError, io_message};

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
    if let Some(token) = &target.bearer_token {
        let field = format!("{path}.bearer_token");
        let token = expand(&field, &token.0, env)?;
        headers.insert(
            AUTHORIZATION,
            sensitive(&field, &format!("Bearer {token}"))?,
        );
    }
    if let Some(file) = &target.bearer_token_file {
        let field = format!("{path}.bearer_token_file");
        let token = read_secret(&field, &resolve(&file.0))?;
        headers.insert(
            AUTHORIZATION,
            sensitive(&field, &format!("Bearer {token}"))?,
        );
    }
    if let Some(auth) = &target.basic_auth {
        let value = basic_auth(&format!("{path}.basic_auth"), auth, env, resolve)?;
        headers.insert(AUTHORIZATION, value);
    }
    Ok(headers)
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
