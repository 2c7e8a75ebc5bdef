//! Maps a reqwest error (or the direct connection's, worded as hyper's) to a
//! [`FailureReason`] and a short human message.
//!
//! reqwest exposes `is_timeout`, `is_dns` and `is_connect`, but not TLS: a handshake or
//! verification failure is a `rustls::Error` somewhere down the `source()` chain, often inside
//! an `io::Error` (whose `source()` skips its own payload, so the walk below opens it with
//! `get_ref`). The order of the checks matters: a TLS failure is also a "connect" error to
//! hyper, and a timeout can happen in any phase.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use super::{http1, redirect};
use crate::outcome::{Failure, FailureReason};

/// Longest failure message kept; error chains can be long and are not meant for labels.
const MAX_MESSAGE_CHARS: usize = 300;

/// Where the request was when the error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before the response head arrived (connect, TLS, sending, waiting).
    Head,
    /// While reading the response body.
    Body,
}

/// What the caller knows about an error beyond its `source()` chain: reqwest says it with
/// `is_timeout`/`is_dns`/`is_connect`, the direct connection knows which step failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Step {
    /// Name resolution failed.
    Resolve,
    /// Opening the connection failed.
    Connect,
    /// Anything later (or not known).
    #[default]
    Exchange,
}

/// Classifies `error`, raised at `stage` of a request limited to `timeout`.
pub(crate) fn failure(error: reqwest::Error, stage: Stage, timeout: Duration) -> Failure {
    // The URL is left out: it may carry tokens in its query and is known from the target.
    let error = error.without_url();
    if error.is_timeout() {
        return timed_out(stage, timeout);
    }
    let step = if error.is_dns() {
        Step::Resolve
    } else if error.is_connect() {
        Step::Connect
    } else {
        Step::Exchange
    };
    classify(&error, step, stage)
}

/// The failure of a request that ran past `timeout` at `stage`.
pub(crate) fn timed_out(stage: Stage, timeout: Duration) -> Failure {
    let during = match stage {
        Stage::Head => "before the response head arrived",
        Stage::Body => "while reading the body",
    };
    Failure {
        reason: FailureReason::Timeout,
        message: format!(
            "timed out after {} {during}",
            humantime::format_duration(timeout)
        ),
    }
}

/// Classifies an error other than a timeout, raised by `step` at `stage`.
pub(crate) fn classify(error: &(dyn StdError + 'static), step: Step, stage: Stage) -> Failure {
    let chain = chain(error);
    Failure {
        reason: reason(step, &chain, stage),
        message: describe(&chain),
    }
}

fn reason(step: Step, chain: &[&(dyn StdError + 'static)], stage: Stage) -> FailureReason {
    if let Some(refused) = chain
        .iter()
        .find_map(|e| e.downcast_ref::<redirect::Refused>())
    {
        refused.reason()
    } else if step == Step::Resolve {
        FailureReason::Dns
    } else if chain.iter().any(|e| e.is::<rustls::Error>()) {
        FailureReason::Tls
    } else if stage == Stage::Body {
        // Reset, EOF or a protocol error mid-body: the head was fine, the body is not.
        FailureReason::Body
    } else if step == Step::Connect || chain.iter().any(|e| is_connection_lost(*e)) {
        FailureReason::Connect
    } else {
        FailureReason::Other
    }
}

/// The connection went away before a response head: refused, reset, or closed without a
/// single byte of response.
fn is_connection_lost(error: &(dyn StdError + 'static)) -> bool {
    if let Some(io) = error.downcast_ref::<io::Error>() {
        return matches!(
            io.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::NotConnected
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable
        );
    }
    error
        .downcast_ref::<hyper::Error>()
        .is_some_and(|e| e.is_incomplete_message())
        || error
            .downcast_ref::<http1::Error>()
            .is_some_and(http1::Error::is_incomplete)
}

/// The error and its causes, outermost first, looking inside `io::Error` payloads.
fn chain<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        out.push(current);
        if out.len() >= 16 {
            break;
        }
        next = match current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    out
}

/// Wrapper texts of reqwest and hyper-util that add nothing to the cause below them.
const NOISE: [&str; 4] = [
    "client error (",
    "dns error",
    "error resolving DNS",
    "request or response body error",
];

/// `cause: root cause`, without reqwest's and hyper-util's generic wrapper texts and repeats,
/// cut to [`MAX_MESSAGE_CHARS`].
fn describe(chain: &[&(dyn StdError + 'static)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for error in chain {
        let text = error.to_string();
        let noise = error.is::<reqwest::Error>() || NOISE.iter().any(|n| text.starts_with(n));
        if !noise && !text.is_empty() && parts.last().is_none_or(|last| *last != text) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        // Only wrappers: better a vague message than none.
        parts = chain.iter().take(1).map(|e| e.to_string()).collect();
    }
    let message = parts.join(": ");
    if message.chars().count() > MAX_MESSAGE_CHARS {
        let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}…")
    } else {
        message
    }
}
