//! `--web.config.file`: TLS, basic auth, response headers and a request rate limit for the
//! exporter's port, in exporter-toolkit's format (the file every Prometheus exporter reads), so
//! an operator's existing file works unchanged.
//!
//! The file is read once at start and refused whole on any problem (exit 2 naming the file and
//! the field), never half-applied. Certificate, key and client CA files are the exception: they
//! are re-read when they change ([`TlsSource`]), as cert-manager rotates them in place.
//! Everything here is applied by the HTTP server layer ([`crate::http_server`]) to every
//! connection and request, whatever route answers it.

mod basic_auth;
mod client_cert;
mod file;
mod headers;
mod rate_limit;
mod tls;

use std::path::{Path, PathBuf};

use http::{HeaderName, HeaderValue};

pub use basic_auth::BasicAuth;
pub use rate_limit::RateLimit;
pub use tls::TlsSource;

use crate::config::{ConfigError, parse_error, read_text};
use file::WebConfigFile;

/// What `--web.config.file` asks of the server; [`WebLayer::plain`] without the flag.
pub struct WebLayer {
    /// TLS for every connection, when `tls_server_config` is set.
    pub tls: Option<TlsSource>,
    /// Required credentials, when `basic_auth_users` has users.
    pub auth: Option<BasicAuth>,
    /// Added to every response (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Requests beyond it get 429 (`rate_limit`).
    pub rate_limit: Option<RateLimit>,
}

impl WebLayer {
    /// Plain HTTP, no auth, no extra headers: the server without `--web.config.file`.
    pub fn plain() -> WebLayer {
        WebLayer {
            tls: None,
            auth: None,
            headers: Vec::new(),
            rate_limit: None,
        }
    }

    /// HTTPS with an in-memory certificate and key and nothing else (the demo's generated
    /// certificate); a key that does not match its certificate is refused.
    pub fn with_certificate(cert: String, key: String) -> Result<WebLayer, ConfigError> {
        let file = file::TlsServerFile {
            cert: Some(cert),
            key: Some(key),
            ..Default::default()
        };
        let tls = TlsSource::new(file, Path::new("")).map_err(|(field, message)| {
            ConfigError::Invalid {
                path: PathBuf::from("(generated certificate)"),
                field,
                message,
            }
        })?;
        Ok(WebLayer {
            tls: Some(tls),
            ..WebLayer::plain()
        })
    }

    /// Reads and checks the web config at `path`: unknown keys, unreadable or invalid
    /// certificate, key and CA files, bad hashes and headers are refused here, at start.
    /// Relative paths in it are relative to the file's directory, as exporter-toolkit has them.
    pub fn load(path: &Path) -> Result<WebLayer, ConfigError> {
        WebLayer::parse(&read_text(path)?, path)
    }

    /// [`WebLayer::load`] on `text` as if read from `source`.
    pub fn parse(text: &str, source: &Path) -> Result<WebLayer, ConfigError> {
        let file: WebConfigFile = if text.trim().is_empty() {
            WebConfigFile::default()
        } else {
            serde_yaml::from_str::<Option<WebConfigFile>>(text)
                .map_err(|e| parse_error(source, &e, ""))?
                .unwrap_or_default()
        };
        let invalid = |(field, message): (String, String)| ConfigError::Invalid {
            path: source.to_path_buf(),
            field,
            message,
        };
        let dir = source.parent().map(Path::to_path_buf).unwrap_or_default();
        let tls = file
            .tls_server_config
            .map(|tls| TlsSource::new(tls, &dir))
            .transpose()
            .map_err(invalid)?;
        let auth = file
            .basic_auth_users
            .filter(|users| !users.is_empty())
            .map(BasicAuth::new)
            .transpose()
            .map_err(invalid)?;
        let headers = headers::check(
            file.http_server_config
                .map(|http| http.headers)
                .unwrap_or_default(),
        )
        .map_err(invalid)?;
        let rate_limit = file
            .rate_limit
            .map(RateLimit::new)
            .transpose()
            .map_err(invalid)?
            .flatten();
        Ok(WebLayer {
            tls,
            auth,
            headers,
            rate_limit,
        })
    }

    /// The URL scheme clients use: `https` under TLS.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// A problem at a field of the web config: (field path, what was wrong).
type FieldProblem = (String, String);

/// `value` as a path relative to the web config's directory `dir`.
fn relative_to(dir: &Path, value: &str) -> PathBuf {
    let path = Path::new(value);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}
