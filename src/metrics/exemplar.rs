//! Exemplars of the duration histogram: for each classic bucket, the trace id of the latest
//! request that landed in it, with its latency and time, as the Go client keeps them. The
//! OpenMetrics text and the protobuf exposition attach them to the bucket (Prometheus takes a
//! native histogram's exemplars from its classic buckets too), so a dashboard point leads to
//! the service's trace of that very request.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::trace_context::TraceId;

/// The label an exemplar's trace id is exported under (Grafana's default for trace links).
pub const TRACE_ID_LABEL: &str = "trace_id";

/// One request's trace id and latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exemplar {
    /// The `traceparent` trace id the request carried.
    pub trace_id: TraceId,
    /// Its latency in seconds (the observed value).
    pub value: f64,
    /// When it finished.
    pub at: SystemTime,
}

impl Exemplar {
    /// Seconds since the Unix epoch with the sub-second part, as OpenMetrics writes timestamps.
    pub fn unix_seconds(&self) -> f64 {
        self.at
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }
}
