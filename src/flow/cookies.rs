//! The cookie jar of one virtual user (or one daemon flow run): what `Set-Cookie` answers
//! stored, sent back by the later requests of the same flow as a browser would, with no
//! configuration.
//!
//! A flow talks to one target, so the jar holds that target's cookies only and `Domain` is not
//! needed to choose them; what a flow does need is honoured: `Path` (RFC 6265 §5.1.4 path
//! match), expiry by `Max-Age` (preferred) or `Expires`, deletion by an expired cookie, and
//! `Secure` (sent over HTTPS only). A cookie replaces an earlier one of the same name and path.
//! The jar is bounded ([`MAX_COOKIES`]), so a target setting a new cookie on every answer cannot
//! grow memory.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue};

/// Cookies kept at most; a new one beyond this replaces the oldest.
pub const MAX_COOKIES: usize = 50;

/// One stored cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cookie {
    name: String,
    value: String,
    path: String,
    expires: Option<SystemTime>,
    secure: bool,
}

/// The cookies of one session, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jar {
    cookies: Vec<Cookie>,
}

impl Jar {
    /// Stores the `Set-Cookie` headers of a response to a request for `request_path`.
    pub fn store(&mut self, headers: &HeaderMap, request_path: &str, now: SystemTime) {
        for value in headers.get_all(http::header::SET_COOKIE) {
            if let Ok(text) = value.to_str()
                && let Some(cookie) = parse(text, request_path, now)
            {
                self.put(cookie, now);
            }
        }
    }

    fn put(&mut self, cookie: Cookie, now: SystemTime) {
        self.cookies
            .retain(|c| !(c.name == cookie.name && c.path == cookie.path));
        self.cookies.retain(|c| c.expires.is_none_or(|at| at > now));
        if cookie.expires.is_some_and(|at| at <= now) {
            // An expired cookie is how a server deletes one.
            return;
        }
        if self.cookies.len() == MAX_COOKIES {
            self.cookies.remove(0);
        }
        self.cookies.push(cookie);
    }

    /// The `Cookie` header for a request of `request_path` (query allowed), or `None` when no
    /// stored cookie applies. Longer paths first, as RFC 6265 §5.4 asks.
    pub fn header(&self, request_path: &str, https: bool, now: SystemTime) -> Option<HeaderValue> {
        let path = path_of(request_path);
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.expires.is_none_or(|at| at > now))
            .filter(|c| https || !c.secure)
            .filter(|c| path_matches(path, &c.path))
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let text: Vec<String> = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        HeaderValue::from_str(&text.join("; ")).ok()
    }

    /// Whether no cookie is stored.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }
}

/// The path part of a request target (before `?` or `#`).
fn path_of(target: &str) -> &str {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    &target[..end]
}

/// RFC 6265 §5.1.4: `cookie_path` is a prefix of `path` ending at a `/` boundary.
fn path_matches(path: &str, cookie_path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
}

/// RFC 6265 §5.1.4 default path: the request path up to its last `/`, or `/`.
fn default_path(request_path: &str) -> String {
    let path = path_of(request_path);
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(at) => path[..at].to_string(),
    }
}

/// One `Set-Cookie` value; `None` when it has no `name=value` pair (RFC 6265 §5.2 ignores it).
fn parse(text: &str, request_path: &str, now: SystemTime) -> Option<Cookie> {
    let mut parts = text.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut cookie = Cookie {
        name: name.to_string(),
        value: value.trim().trim_matches('"').to_string(),
        path: default_path(request_path),
        expires: None,
        secure: false,
    };
    let mut max_age = None;
    for attribute in parts {
        let (key, val) = match attribute.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (attribute.trim(), ""),
        };
        match key.to_ascii_lowercase().as_str() {
            "path" if val.starts_with('/') => cookie.path = val.to_string(),
            "secure" => cookie.secure = true,
            "max-age" => {
                max_age = val.parse::<i64>().ok().map(|seconds| match seconds {
                    ..=0 => SystemTime::UNIX_EPOCH,
                    seconds => now + Duration::from_secs(seconds.unsigned_abs()),
                })
            }
            "expires" => {
                if let Ok(at) = httpdate::parse_http_date(val) {
                    cookie.expires = Some(at);
                }
            }
            _ => {}
        }
    }
    // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
    if max_age.is_some() {
        cookie.expires = max_age;
    }
    Some(cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(http::header::SET_COOKIE, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn sent(jar: &Jar, path: &str, https: bool, now: SystemTime) -> Option<String> {
        jar.header(path, https, now)
            .map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn cookies_follow_path_secure_and_replacement() {
        let now = SystemTime::now();
        let mut jar = Jar::default();
        jar.store(
            &headers(&[
                "session=abc; Path=/; HttpOnly",
                "cart=1; Path=/cart",
                "tls=x; Secure",
                "broken",
            ]),
            "/login?next=/",
            now,
        );
        assert_eq!(
            sent(&jar, "/me", false, now).as_deref(),
            Some("session=abc")
        );
        assert_eq!(
            sent(&jar, "/cart/items?n=1", false, now).as_deref(),
            Some("cart=1; session=abc")
        );
        // `/cartoon` is not under `/cart`.
        assert_eq!(
            sent(&jar, "/cartoon", false, now).as_deref(),
            Some("session=abc")
        );
        assert_eq!(
            sent(&jar, "/x", true, now).as_deref(),
            Some("session=abc; tls=x")
        );
        jar.store(&headers(&["session=def; Path=/"]), "/login", now);
        assert_eq!(
            sent(&jar, "/me", false, now).as_deref(),
            Some("session=def")
        );
    }

    #[test]
    fn expiry_by_max_age_or_expires_and_deletion() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut jar = Jar::default();
        jar.store(
            &headers(&[
                "short=1; Max-Age=10",
                "dated=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
                "both=3; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=100",
            ]),
            "/",
            now,
        );
        assert_eq!(
            sent(&jar, "/", false, now).as_deref(),
            Some("short=1; both=3")
        );
        let later = now + Duration::from_secs(11);
        assert_eq!(sent(&jar, "/", false, later).as_deref(), Some("both=3"));
        jar.store(&headers(&["both=; Max-Age=0"]), "/", later);
        assert_eq!(sent(&jar, "/", false, later), None);
        assert!(jar.is_empty());
    }

    #[test]
    fn the_jar_is_bounded_and_drops_the_oldest() {
        let now = SystemTime::now();
        let mut jar = Jar::default();
        for i in 0..=MAX_COOKIES {
            jar.store(&headers(&[&format!("c{i}=v")]), "/", now);
        }
        let header = sent(&jar, "/", false, now).unwrap();
        assert_eq!(header.split("; ").count(), MAX_COOKIES);
        assert!(!header.split("; ").any(|c| c == "c0=v"), "{header}");
        assert!(header.contains(&format!("c{MAX_COOKIES}=v")));
    }

    #[test]
    fn default_path_is_the_directory_of_the_request() {
        assert_eq!(default_path("/a/b/c?x=/y"), "/a/b");
        assert_eq!(default_path("/login"), "/");
        assert_eq!(default_path(""), "/");
    }
}
