//! `basic_auth_users`: HTTP basic auth against bcrypt hashes, as exporter-toolkit checks it.
//!
//! bcrypt costs tens of milliseconds of CPU by design, so a check runs on the blocking pool
//! (never on the runtime that sends the probes), one at a time (a flood of wrong passwords
//! takes at most one core), and every verdict is remembered, as exporter-toolkit does: a scrape
//! every 15 s costs one bcrypt per process lifetime, and a scraper retrying a wrong password
//! does not queue bcrypt work ahead of the right one. An unknown user is checked against a
//! fixed hash all the same, so timing does not tell which users exist.
//!
//! The remembered verdicts hold no password: they are keyed by an HMAC of user and password
//! under a key made at start. At most [`REMEMBERED`] are kept (then the memory starts afresh).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::rand::SystemRandom;
use tokio::sync::Semaphore;

use super::FieldProblem;

/// bcrypt of "fakepassword" at cost 10: exporter-toolkit's hash for unknown users.
const FAKE_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Verdicts remembered at most.
pub const REMEMBERED: usize = 1024;

/// The users and their hashes, with the remembered verdicts.
pub struct BasicAuth {
    users: HashMap<String, String>,
    cache: Mutex<HashMap<Vec<u8>, bool>>,
    key: hmac::Key,
    /// One bcrypt at a time.
    gate: Arc<Semaphore>,
}

impl BasicAuth {
    /// Checks that every value is a bcrypt hash (`$2a$`, `$2b$`, `$2y$`).
    pub(super) fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, FieldProblem> {
        for (user, hash) in &users {
            if let Err(e) = bcrypt::HashParts::from_str(hash) {
                return Err((
                    format!("basic_auth_users.{user}"),
                    format!(
                        "not a bcrypt hash ({e}); expected e.g. the output of `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                    ),
                ));
            }
        }
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).map_err(|_| {
            (
                "basic_auth_users".to_string(),
                "the system's random number generator failed".to_string(),
            )
        })?;
        Ok(BasicAuth {
            users: users.into_iter().collect(),
            cache: Mutex::new(HashMap::new()),
            key,
            gate: Arc::new(Semaphore::new(1)),
        })
    }

    /// Whether the `Authorization` header value `header` holds a known user's password.
    pub async fn check(&self, header: Option<&[u8]>) -> bool {
        let Some((user, password)) = header.and_then(decode) else {
            return false;
        };
        let key = hmac::sign(&self.key, format!("{user}\0{password}").as_bytes())
            .as_ref()
            .to_vec();
        let remembered = || self.cache.lock().ok().and_then(|c| c.get(&key).copied());
        if let Some(verdict) = remembered() {
            return verdict;
        }
        let known = self.users.get(&user);
        let hash = known.map_or(FAKE_HASH, String::as_str).to_string();
        let Ok(_turn) = self.gate.acquire().await else {
            return false;
        };
        // The same credentials may have been checked while this request waited its turn.
        if let Some(verdict) = remembered() {
            return verdict;
        }
        let verified = {
            let password = password.clone();
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
                .await
                .is_ok_and(|result| result.unwrap_or(false))
        };
        let ok = verified && known.is_some();
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= REMEMBERED {
                cache.clear();
            }
            cache.insert(key, ok);
        }
        ok
    }
}

/// `Basic base64(user:password)` → (user, password).
fn decode(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}
