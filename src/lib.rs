//! synthex: continuous synthetic traffic for HTTP services, exported as Prometheus metrics, and
//! bounded load tests on the same scenarios.
//!
//! # Layout
//! - [`config`]: reads and validates the YAML file into the domain model ([`scenario`]).
//! - [`scenario`]: the validated model every mode runs on (targets, scenarios, expectations).
//! - [`template`]: request templates that vary per send (`{{ int 1..9 }}`, `{{ row.email }}`).
//! - [`data`]: test data files (CSV, JSON lines) whose rows the iterations take.
//! - [`outcome`]: what one request produced, passed from the probe to the metrics.
//! - [`probe`]: sends one request with reqwest, times its phases and checks expectations.
//! - [`trace_context`]: the W3C `traceparent` each synthetic request carries.
//! - [`scheduler`]: the daemon's open-model arrival schedule with its in-flight cap.
//! - [`guard`]: backoff, `Retry-After` and pause: what keeps synthex off a target in trouble.
//! - [`metrics`]: the Prometheus registry and every synthex metric, including windowed quantiles.
//! - [`window`]: the sliding window of HDR histograms behind the summary and the status page.
//! - [`exporter`]: the hyper server for `/metrics`, `/`, `/-/healthy`, `/-/ready` and the rest.
//! - [`healthcheck`]: `synthex healthcheck`, for containers without a shell.
//! - [`http_server`]: the hardened accept loop both built-in HTTP services run on.
//! - [`status_page`]: the human-readable status page served at `/`.
//! - [`status_api`]: `/api/v1/history`, the status page's last hour as JSON.
//! - [`badge`]: `/badge/TARGET.svg`, SVG badges of a target's status, p95 and uptime.
//! - [`sampler`]: host and watched-process resource gauges, on a timer.
//! - [`watched`]: the watched service's process groups and their CPU, memory and count.
//! - [`proc_table`]: the kernel's process table, read from `/proc`.
//! - [`stats_poller`]: gauges from the target's own JSON stats endpoint.
//! - [`loadtest`]: `synthex load`: bounded load tests (profiles, executors, recorder).
//! - [`report`]: load-test reports: the serialisable model, renderers, thresholds, merge.
//! - [`chart`]: the charts of every HTML page (vendored uPlot and our axis rules, inline).
//! - [`demo`]: `synthex demo`, the demo target and the daemon in one process.
//! - [`demo_target`]: the built-in demo service.
//! - [`demo_tls`]: the demo's generated certificate for its HTTPS target.
//! - [`daemon`]: wires the above into `synthex run`.
//! - [`shutdown`]: SIGINT/SIGTERM handling.
//! - [`exit`]: the exit statuses of every command.
//! - [`logging`]: tracing-subscriber set-up in logfmt or JSON.
//! - `grammar_table` (tests only): the same value cases through every place a value is written.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alarm;
pub mod badge;
pub mod chart;
pub mod config;
pub mod connection_limit;
pub mod daemon;
pub mod data;
pub mod definition;
pub mod demo;
pub mod demo_session;
pub mod demo_target;
pub mod demo_tls;
pub mod exit;
pub mod exporter;
pub mod flow;
pub mod guard;
pub mod healthcheck;
pub mod html;
pub mod http_server;
pub mod loadtest;
pub mod logging;
pub mod metrics;
pub mod outcome;
pub mod probe;
pub mod proc_table;
pub mod reload;
pub mod report;
pub mod sampler;
pub mod scenario;
pub mod scheduler;
pub mod shutdown;
pub mod stats_poller;
pub mod status_api;
pub mod status_page;
pub mod template;
pub mod trace_context;
pub mod watched;
pub mod web;
pub mod window;

#[cfg(test)]
mod grammar_table;
