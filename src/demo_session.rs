//! The demo target's login and session API, so the demo config can show a multi-step flow
//! (log in, take the token, use it; keep the cookie; add to the cart, check out):
//! - `POST /login[?user=NAME]`: `200 {"token": …, "user": …}` and `Set-Cookie: session=…`;
//! - `GET /me`: the session's user and cart, `401` without a valid `Authorization: Bearer`
//!   token or `session` cookie;
//! - `POST /cart/items[?sku=SKU]`: adds an item to the session's cart;
//! - `POST /checkout`: turns the cart into an order (`409` when the cart is empty).
//!
//! The token and the cookie carry the same session id, so either authenticates. Sessions are
//! bounded ([`MAX_SESSIONS`]): beyond it they are all dropped, so a load test logging in
//! forever cannot grow memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use rand::RngExt;

use crate::http_server::{Body, body, text};

/// Sessions kept at most.
pub const MAX_SESSIONS: usize = 10_000;

/// One logged-in user.
#[derive(Debug, Clone)]
struct Session {
    user: String,
    cart: Vec<String>,
}

/// The sessions of the demo target, and its order numbers.
#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    orders: AtomicU64,
    logins: AtomicU64,
}

/// Whether `path` belongs to the session API.
pub fn is_route(path: &str) -> bool {
    matches!(path, "/login" | "/me" | "/cart/items" | "/checkout")
}

impl Sessions {
    /// Logins so far (for the target's `/stats`).
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// Answers a request of the session API (`is_route(path)` holds).
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> Response<Body> {
        match (path, method) {
            ("/login", &Method::POST) => self.login(query),
            ("/me", &Method::GET | &Method::HEAD) => self.with_session(headers, |s| {
                json(
                    StatusCode::OK,
                    serde_json::json!({"user": s.user, "cart_items": s.cart.len()}),
                )
            }),
            ("/cart/items", &Method::POST) => self.with_session(headers, |s| {
                let sku = query_value(query, "sku").unwrap_or("demo-item");
                s.cart.push(sku.to_string());
                json(StatusCode::OK, serde_json::json!({"items": s.cart.len()}))
            }),
            ("/checkout", &Method::POST) => self.with_session(headers, |s| {
                if s.cart.is_empty() {
                    return json(
                        StatusCode::CONFLICT,
                        serde_json::json!({"error": "the cart is empty"}),
                    );
                }
                let order = self.orders.fetch_add(1, Ordering::Relaxed) + 1;
                let items = std::mem::take(&mut s.cart).len();
                json(
                    StatusCode::OK,
                    serde_json::json!({"order": order, "items": items, "status": "placed"}),
                )
            }),
            ("/login" | "/cart/items" | "/checkout", _) => method_not_allowed("POST"),
            _ => method_not_allowed("GET"),
        }
    }

    fn login(&self, query: &str) -> Response<Body> {
        let user = query_value(query, "user").unwrap_or("demo").to_string();
        let id = format!("{:032x}", rand::rng().random::<u128>());
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            if sessions.len() >= MAX_SESSIONS {
                sessions.clear();
            }
            sessions.insert(
                id.clone(),
                Session {
                    user: user.clone(),
                    cart: Vec::new(),
                },
            );
        }
        self.logins.fetch_add(1, Ordering::Relaxed);
        let mut response = json(
            StatusCode::OK,
            serde_json::json!({"token": id, "user": user}),
        );
        if let Ok(cookie) = HeaderValue::from_str(&format!("session={id}; Path=/; HttpOnly")) {
            response.headers_mut().insert(SET_COOKIE, cookie);
        }
        response
    }

    /// Runs `answer` on the request's session, or answers 401.
    fn with_session(
        &self,
        headers: &HeaderMap,
        answer: impl FnOnce(&mut Session) -> Response<Body>,
    ) -> Response<Body> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let id = session_ids(headers).find(|id| sessions.contains_key(*id));
        match id.and_then(|id| sessions.get_mut(id)) {
            Some(session) => answer(session),
            None => json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "log in first: POST /login, then send the token \
                                   as Authorization: Bearer or the session cookie"}),
            ),
        }
    }
}

/// The session ids a request presents: its bearer token, then its `session` cookies.
fn session_ids(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookies = headers
        .get_all(COOKIE)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("session="));
    bearer.into_iter().chain(cookies)
}

fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    body(status, "application/json", value.to_string().into())
}

fn method_not_allowed(allowed: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, &format!("use {allowed}\n"));
    response
        .headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static(allowed));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn ids_come_from_the_bearer_token_or_the_session_cookie() {
        let h = headers(&[
            ("authorization", "Bearer abc"),
            ("cookie", "theme=dark; session=def"),
        ]);
        assert_eq!(session_ids(&h).collect::<Vec<_>>(), ["abc", "def"]);
        assert_eq!(session_ids(&HeaderMap::new()).count(), 0);
        assert_eq!(query_value("user=ann&sku=", "user"), Some("ann"));
        assert_eq!(query_value("user=ann&sku=", "sku"), None);
    }
}
