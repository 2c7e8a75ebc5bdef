//! Load-test reports: the [`model::Report`] a run produces and everything made from it.
//!
//! `model` holds the versioned, serialisable report with exact latency histograms; the other
//! submodules render it (summary table, JSON, Locust-compatible CSV, Markdown, HTML), grade it,
//! check thresholds, compare it with a baseline and merge shard reports.

pub mod model;
