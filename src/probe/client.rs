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
use url::Position;

use super::ProbeErrorKind;
use super::expect::excerpt;
use super::headers::BaseHeaders;
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
    /// Where the base URL's path starts in `base` (its length when it has none).
    path_start: usize,
    /// User-Agent, marker header, target headers (and `Host` when `tls.server_name` rewrote it).
    pub(crate) headers: BaseHeaders,
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

    /// The request target (path and query) of [`Endpoint::url`]`(rendered_path)`, without
    /// parsing a URL, when the rendered path is one URL parsing leaves exactly as it is; `None`
    /// otherwise (then parse the URL). Most rendered paths are: `/orders/42?page=2`.
    pub(crate) fn verbatim_target(&self, rendered_path: &str) -> Option<String> {
        verbatim(rendered_path).then(|| format!("{}{rendered_path}", &self.base[self.path_start..]))
    }
}

/// Whether URL parsing keeps `path` (a path and query) byte for byte: it starts with `/`, holds
/// only characters no part of a URL escapes, no `%` (an escaped dot is a dot segment) and no
/// segment starting with a dot (`.` and `..` segments are resolved); a fragment (`#`) would be
/// cut off, a `\` turned into `/`, a space or `'` escaped.
fn verbatim(path: &str) -> bool {
    let (path_part, query) = match path.split_once('?') {
        Some((path_part, query)) => (path_part, Some(query)),
        None => (path, None),
    };
    let plain = |text: &str, extra: &[u8]| {
        text.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b"-._~!$&()*+,;=:@/".contains(&b) || extra.contains(&b)
        })
    };
    path_part.starts_with('/')
        && !path_part.contains("/.")
        && plain(path_part, b"")
        && query.is_none_or(|query| plain(query, b"?"))
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
        .tls_backend_preconfigured(tls_config(target, expiry)?)
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

/// The target's TLS configuration: with the trust roots loaded now for an HTTPS target (or one
/// behind a proxy, which may be asked to tunnel), on demand for a plain-HTTP one.
fn tls_config(
    target: &Target,
    expiry: Arc<CertExpiry>,
) -> Result<rustls::ClientConfig, ProbeErrorKind> {
    if target.base_url.scheme() == "https" || target.proxy.is_some() {
        tls::client_config(&target.tls, expiry, None)
    } else {
        tls::on_demand_client_config(&target.tls, expiry)
    }
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
    let path_start = base[..Position::BeforePath].len();
    Endpoint {
        base: base.as_str().trim_end_matches('/').to_string(),
        path_start,
        headers: BaseHeaders::new(headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint_of(base_url: &str) -> Endpoint {
        let base = Url::parse(base_url).unwrap();
        Endpoint {
            base: base.as_str().trim_end_matches('/').to_string(),
            path_start: base[..Position::BeforePath].len(),
            headers: BaseHeaders::new(HeaderMap::new()),
        }
    }

    /// The URL parser is the reference: wherever the verbatim target is used it is exactly the
    /// parsed URL's path and query, and the paths URL parsing would change are left to it.
    #[test]
    fn a_verbatim_target_is_what_url_parsing_makes_of_the_path() {
        let verbatim = [
            "/",
            "/orders/42",
            "/cache/7?page=2&sort=-date",
            "/a-b_c.d~e/f:g@h!$&()*+,;=",
            "/search?q=a/b?c",
            "/file.json",
        ];
        let parsed = [
            "/a b",
            "/a/./b",
            "/a/../b",
            "/.well-known/x",
            "/a%2e%2e/b",
            "/%41",
            "/a#frag",
            "/a\\b",
            "/q?x='y'",
            "/é",
            "/a\"b",
            "/a{b}",
            "no-slash",
            "",
        ];
        for base in [
            "http://127.0.0.1:8080",
            "http://h:81/",
            "http://h/base/path/",
        ] {
            let endpoint = endpoint_of(base);
            for path in verbatim {
                let url = endpoint.url(path).unwrap();
                assert_eq!(
                    endpoint.verbatim_target(path).as_deref(),
                    Some(&url[Position::BeforePath..Position::AfterQuery]),
                    "{base} {path}"
                );
            }
            for path in parsed {
                assert_eq!(endpoint.verbatim_target(path), None, "{base} {path}");
            }
        }
    }
}
