//! Which redirects a request follows: none by default, since the probe measures the service and
//! not wherever it points (a 301 is then the answer, judged by `expect.status`). With
//! `follow_redirects: N` up to N are followed, and the two ways a chain goes wrong are failures
//! of their own, so an alert or a dashboard can tell them apart from the service failing:
//! `redirect_loop` (back to a URL the request already visited) and `too_many_redirects`.
//!
//! reqwest follows the redirects, with this policy; a target that follows redirects therefore
//! never uses the direct connection (see [`super::Connection`]), and both paths give the same
//! outcome.

use std::fmt;

use reqwest::redirect::{Attempt, Policy};

use crate::outcome::FailureReason;

/// Why a redirect was refused; found in the error chain by [`super::classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The next URL was already requested in this chain.
    Loop,
    /// The chain is longer than allowed.
    TooMany(u32),
}

impl Refused {
    /// The failure reason of a request whose redirect was refused.
    pub(crate) fn reason(self) -> FailureReason {
        match self {
            Refused::Loop => FailureReason::RedirectLoop,
            Refused::TooMany(_) => FailureReason::TooManyRedirects,
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Loop => f.write_str("redirect loop: the Location was already visited"),
            Refused::TooMany(max) => write!(f, "too many redirects: follow_redirects allows {max}"),
        }
    }
}

impl std::error::Error for Refused {}

/// The reqwest policy for a target that follows at most `max` redirects.
pub(crate) fn policy(max: u32) -> Policy {
    if max == 0 {
        return Policy::none();
    }
    Policy::custom(move |attempt| match judge(&attempt, max) {
        Some(refused) => attempt.error(refused),
        None => attempt.follow(),
    })
}

/// `None` to follow `attempt`, or why not. A loop is named as such even past the limit: it is
/// the more useful diagnosis.
fn judge(attempt: &Attempt<'_>, max: u32) -> Option<Refused> {
    // `previous` holds the first URL and every one redirected to so far.
    let previous = attempt.previous();
    if previous.contains(attempt.url()) {
        Some(Refused::Loop)
    } else if previous.len() > max as usize {
        Some(Refused::TooMany(max))
    } else {
        None
    }
}
