//! The per-target reqwest client and the parts of a request that never change: base URL and
//! base headers.
//!
//! Choices a canary needs, unlike an ordinary client:
//! - no redirects are followed unless `follow_redirects` allows them ([`super::redirect`]): the
//!   probe reports what the service answers (a 301 is visible as a status, and `expect.status`
//!   can accept it), not what some other URL answers;
//! - no retries, not even reqwest's default retry of protocol NACKs: a retry would hide the
//!   very failure the probe exists to count, and inflate latency;
//! - environment proxy variables are ignored (a sidecar probing 127.0.0.1 must not go through
//!   a corporate proxy); only `target.proxy` is used;
//! - `keep_alive: false` disables the pool, so every request opens its own connection and its
//!   DNS, connect and TLS phases are measured.

use std::sync::Arc;

use http::header::{ACCEPT, HOST, USER_AGENT};
use http::{HeaderMap, HeaderValue};
use reqwest::{Url, retry};

use super::ProbeErrorKind;
use super::expect::excerpt;
use super::redirect;
use super::timing::{ConnectTimingLayer, TimedResolver};
use super::tls::{self, CertExpiry};
use crate::scenario::{Global, Target};

/// `User-Agent` of every synthetic request, so service logs can tell them apart.
pub(crate) const USER_AGENT_VALUE: &str = concat!("synthex/", env!("CARGO_PKG_VERSION"));

/// What a target's requests share.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// `scheme://host[:port][/base/path]` without a trailing slash; a rendered path (which starts
    /// with `/`) is appended to it.
    base: String,
    /// User-Agent, marker header, target headers (and `Host` when `tls.server_name` rewrote it).
    pub(crate) headers: HeaderMap,
}

impl Endpoint {
    /// Whether requests go over TLS, so cookies marked `Secure` may be sent.
    pub(crate) fn is_https(&self) -> bool {
        self.base.starts_with("https:")
    }

    /// The request URL for a rendered path (and query).
    pub(crate) fn url(&self, rendered_path: &str) -> Result<Url, String> {
        let text = format!("{}{rendered_path}", self.base);
        Url::parse(&text).map_err(|e| format!("rendered URL {} is invalid: {e}", excerpt(&text)))
    }
}

/// Builds the reqwest client and endpoint of `target`.
pub(crate) fn build(
    target: &Target,
    global: &Global,
    expiry: Arc<CertExpiry>,
) -> Result<(reqwest::Client, Endpoint), ProbeErrorKind> {
    let alias = server_name_alias(target);
    let resolver = match &alias {
        Some((name, real_host)) => TimedResolver::with_alias(name.clone(), real_host.clone()),
        None => TimedResolver::default(),
    };
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls::client_config(&target.tls, expiry, None)?)
        .redirect(redirect::policy(target.follow_redirects))
        .retry(retry::never())
        .timeout(target.timeout)
        .connect_timeout(target.timeout)
        .user_agent(USER_AGENT_VALUE)
        .dns_resolver(resolver)
        .connector_layer(ConnectTimingLayer);
    builder = match &target.proxy {
        Some(proxy) => builder.proxy(
            reqwest::Proxy::all(proxy.as_str())
                .map_err(|e| ProbeErrorKind::Proxy(e.to_string()))?,
        ),
        None => builder.no_proxy(),
    };
    if !target.keep_alive {
        builder = builder.pool_max_idle_per_host(0);
    }
    let client = builder.build().map_err(ProbeErrorKind::Client)?;
    Ok((client, endpoint(target, global, alias.is_some())))
}

/// With `tls.server_name` on an HTTPS target reached directly, requests go to
/// `https://<server_name>:<port>` so that rustls sends that name as SNI, and the resolver maps
/// the name back to the URL's real host. Returns `(server_name, real host)`.
fn server_name_alias(target: &Target) -> Option<(String, String)> {
    let name = target.tls.server_name.as_ref()?;
    let url = &target.base_url;
    if url.scheme() != "https" || target.proxy.is_some() {
        // Through a proxy the CONNECT must name the real host; the verifier still checks
        // the certificate against server_name.
        return None;
    }
    // An IPv6 literal comes bracketed; the resolver wants the bare address.
    let real_host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    (!real_host.eq_ignore_ascii_case(name)).then(|| (name.clone(), real_host.to_string()))
}

fn endpoint(target: &Target, global: &Global, rewrite_host: bool) -> Endpoint {
    let mut base = target.base_url.clone();
    base.set_query(None);
    base.set_fragment(None);
    let mut headers = HeaderMap::new();
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    // reqwest's default, spelled out so the direct connection sends it too.
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    if rewrite_host {
        // The service still sees the URL's own authority in Host, as with blackbox_exporter's
        // `server_name`: only SNI and verification use the configured name.
        let url = &target.base_url;
        let host = url.host_str().unwrap_or_default();
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&authority) {
            headers.insert(HOST, value);
        }
        if let Some(name) = &target.tls.server_name {
            // Validated as a server name by tls::client_config, so this cannot fail.
            let _ = base.set_host(Some(name));
        }
    }
    if let Some((name, value)) = &global.marker_header {
        headers.insert(name.clone(), value.clone());
    }
    for name in target.headers.keys() {
        headers.remove(name);
    }
    for (name, value) in &target.headers {
        let mut value = value.clone();
        // Target headers carry credentials; keep them out of debug output.
        value.set_sensitive(true);
        headers.append(name.clone(), value);
    }
    Endpoint {
        base: base.as_str().trim_end_matches('/').to_string(),
        headers,
    }
}
