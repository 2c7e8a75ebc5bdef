//! What one synthetic request produced: the single value passed from the probe to whoever consumes
//! results (the daemon's metrics today, the load-test aggregator later). The probe knows nothing about
//! who scheduled it; consumers know nothing about how the request was made.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::trace_context::TraceId;

/// The result of one request. A failed request is data, not an error.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// From the *scheduled* start to the end of the body (coordinated-omission aware): a request
    /// that started late because the runtime or the in-flight cap held it shows that delay here.
    pub latency: Duration,
    /// HTTP status, when a response head arrived.
    pub status: Option<u16>,
    /// How long a 429 or 503 answer asked clients to wait (its `Retry-After`), uncapped.
    pub retry_after: Option<Duration>,
    /// Why the request failed; `None` on success.
    pub failure: Option<Failure>,
    /// Cache classification of the response.
    pub cache: CacheResult,
    /// Phase timings, measured from the actual start of the request.
    pub phases: Phases,
    /// Body bytes read (up to the cap).
    pub body_bytes: u64,
    /// Earliest `notAfter` in the peer certificate chain of the target's latest TLS handshake,
    /// kept so requests on pooled connections report it too; `None` before any handshake (and
    /// always for plain HTTP). Recorded even when verification then fails.
    pub cert_expiry: Option<SystemTime>,
    /// Wall-clock time the request finished, shown on the status page.
    pub finished_at: SystemTime,
    /// The trace id of the request's `traceparent` header; `None` with `trace_context: off`
    /// or when the request was never sent (it failed to render).
    pub trace_id: Option<TraceId>,
}

impl Outcome {
    /// Whether the request met every expectation.
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }

    /// The `code` label's key: a valid status code (100–599) as it is, `0` when no response
    /// arrived (as blackbox_exporter's `probe_http_status_code` does), and [`OTHER_CODE`] for
    /// any other number a target put in its status line, so a target answering random statuses
    /// cannot create hundreds of series.
    pub fn code(&self) -> u16 {
        match self.status {
            None => 0,
            Some(code @ 100..=599) => code,
            Some(_) => OTHER_CODE,
        }
    }

    /// The `code` label value of [`Outcome::code`].
    pub fn code_label(&self) -> String {
        code_label(self.code())
    }
}

/// [`Outcome::code`] of a status outside 100–599; sorts after every real code.
pub const OTHER_CODE: u16 = u16::MAX;

/// The `code` label value of a key from [`Outcome::code`]: the number, or `other`.
pub fn code_label(code: u16) -> String {
    match code {
        OTHER_CODE => "other".to_string(),
        code => code.to_string(),
    }
}

/// A failed request: a bounded reason (a metric label) and a human message (logs and status
/// page only, never a label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The failure class.
    pub reason: FailureReason,
    /// What happened, e.g. `expected status 200, got 503`.
    pub message: String,
}

/// The bounded set of failure classes: the `reason` label of `synthex_request_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// The request (or a phase of it) ran past the timeout.
    Timeout,
    /// TCP connection refused, reset or unreachable before a response head.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The status code is not among the accepted ones.
    HttpStatus,
    /// An expectation other than the status failed (body, JSON, header, max latency).
    Assertion,
    /// The body could not be read completely: reset mid-body, or larger than the cap.
    Body,
    /// A redirect led back to a URL already visited by the same request.
    RedirectLoop,
    /// More redirects than `follow_redirects` allows.
    TooManyRedirects,
    /// Anything else (malformed response, protocol error).
    Other,
}

impl FailureReason {
    /// Every reason, in label order; used to pre-create series so rates start at zero.
    pub const ALL: [FailureReason; 10] = [
        FailureReason::Timeout,
        FailureReason::Connect,
        FailureReason::Dns,
        FailureReason::Tls,
        FailureReason::HttpStatus,
        FailureReason::Assertion,
        FailureReason::Body,
        FailureReason::RedirectLoop,
        FailureReason::TooManyRedirects,
        FailureReason::Other,
    ];

    /// The label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Connect => "connect",
            FailureReason::Dns => "dns",
            FailureReason::Tls => "tls",
            FailureReason::HttpStatus => "http_status",
            FailureReason::Assertion => "assertion",
            FailureReason::Body => "body",
            FailureReason::RedirectLoop => "redirect_loop",
            FailureReason::TooManyRedirects => "too_many_redirects",
            FailureReason::Other => "other",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cache classification of one response: the `result` label of `synthex_cache_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheResult {
    /// A cache header said hit (or `Age > 0` when that rule is on).
    Hit,
    /// A cache header was present and did not say hit.
    Miss,
    /// No cache information in the response, or no response.
    Unknown,
}

impl CacheResult {
    /// The label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
            CacheResult::Unknown => "unknown",
        }
    }
}

/// Phase durations of one request, as blackbox_exporter, Cloudprober and k6 report them. `dns` and
/// `connect` are `None` on a reused connection; `first_byte` and `transfer` on a request that did
/// not get that far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    /// Name resolution.
    pub dns: Option<Duration>,
    /// TCP connect plus TLS handshake.
    pub connect: Option<Duration>,
    /// Connection ready (or request start on a reused connection) to response head.
    pub first_byte: Option<Duration>,
    /// Response head to end of body.
    pub transfer: Option<Duration>,
}

impl Phases {
    /// `(label, duration)` of each phase that happened.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Duration)> {
        [
            ("dns", self.dns),
            ("connect", self.connect),
            ("first_byte", self.first_byte),
            ("transfer", self.transfer),
        ]
        .into_iter()
        .filter_map(|(name, d)| d.map(|d| (name, d)))
    }
}
