//! The web config file as YAML, in exporter-toolkit's format: the same keys, refused when
//! unknown, so a file written for node_exporter or Prometheus works here unchanged (or is
//! refused at start with the key named, never half-applied).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file. Every section is optional: an empty file serves plain HTTP without auth.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WebConfigFile {
    pub tls_server_config: Option<TlsServerFile>,
    pub http_server_config: Option<HttpServerFile>,
    #[serde(default)]
    pub basic_auth_users: Option<BTreeMap<String, String>>,
    pub rate_limit: Option<RateLimitFile>,
}

/// `tls_server_config`: Go's `crypto/tls` settings as exporter-toolkit names them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsServerFile {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub client_auth_type: Option<String>,
    pub client_ca_file: Option<String>,
    pub client_ca: Option<String>,
    pub cipher_suites: Option<Vec<String>>,
    pub curve_preferences: Option<Vec<String>>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    pub client_allowed_sans: Option<Vec<String>>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpServerFile {
    /// Accepted for compatibility and checked to be a boolean: synthex serves HTTP/1.1,
    /// which every scraper speaks.
    #[serde(rename = "http2")]
    pub _http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `rate_limit`: at most `burst` requests at once, refilled one per `interval`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RateLimitFile {
    pub burst: Option<u64>,
    pub interval: Option<String>,
}
