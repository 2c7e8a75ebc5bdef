//! The service's own metrics during a load test (`load.prometheus`): every query is evaluated
//! as an instant query at the test's own clock every `interval`, from the start to the end of
//! the run, and kept as a [`QuerySeries`] in the report.
//!
//! A query must return one value (one series, or a scalar). An evaluation that fails (the
//! server is down, the PromQL is wrong, the answer is not one series) or returns no data keeps
//! its reason and no value: a gap in the data is never shown as 0. Before the first request
//! every query is evaluated once: a Prometheus that cannot be reached, or that refuses a query,
//! stops the run then (a test whose resource data would be missing is worth fixing first).

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::AUTHORIZATION;
use reqwest::Url;
use serde::Deserialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::probe::client::USER_AGENT_VALUE;
use crate::probe::tls::{CertExpiry, client_config};
use crate::report::model::{QuerySample, QuerySeries};
use crate::scenario::PrometheusSource;

/// A client for one Prometheus server.
pub struct Prometheus {
    client: reqwest::Client,
    endpoint: Url,
    source: PrometheusSource,
}

/// What one evaluation gave: a value or why there is none.
pub type Evaluation = Result<f64, String>;

impl Prometheus {
    /// Builds the client (TLS settings and credentials of `source`).
    pub fn new(source: &PrometheusSource) -> Result<Prometheus, String> {
        let tls = client_config(&source.tls, Arc::new(CertExpiry::default()), None)
            .map_err(|e| format!("load.prometheus.tls: {e}"))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(source.timeout)
            .connect_timeout(source.timeout)
            .user_agent(USER_AGENT_VALUE)
            .no_proxy()
            .build()
            .map_err(|e| format!("load.prometheus: cannot build the HTTP client: {e}"))?;
        let mut endpoint = source.url.clone();
        let path = format!("{}/api/v1/query", endpoint.path().trim_end_matches('/'));
        endpoint.set_path(&path);
        endpoint.set_query(None);
        Ok(Prometheus {
            client,
            endpoint,
            source: source.clone(),
        })
    }

    /// Evaluates `query` at `at`.
    pub async fn evaluate(&self, query: &str, at: SystemTime) -> Evaluation {
        let time = at
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("query", query)
            .append_pair("time", &format!("{time:.3}"));
        let mut request = self.client.get(url);
        if let Some(value) = &self.source.authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        let response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading the answer: {}", describe(&e)))?;
        interpret(status.as_u16(), &body)
    }

    /// Evaluates every query once, now: the start-up check. Errors name each query that
    /// failed and why (no data is not an error: the series may appear under load).
    pub async fn check(&self) -> Result<(), String> {
        let now = SystemTime::now();
        let mut problems = Vec::new();
        for (name, query) in &self.source.queries {
            match self.evaluate(query, now).await {
                Err(problem) if problem != NO_DATA => problems.push(format!("{name}: {problem}")),
                _ => {}
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(format!(
            "load.prometheus ({}): {}; fix the server address, credentials or queries before the test",
            crate::config::redact(self.source.url.as_str()),
            problems.join("; ")
        ))
    }

    /// Evaluates every query every interval from `start` until `stop`, into `series` (one per
    /// query, in config order). The run's clock: an evaluation's offset is its time since
    /// `start`, and Prometheus evaluates the query at that wall-clock time.
    pub async fn sample(
        self,
        start: Instant,
        started_at: SystemTime,
        series: Arc<Mutex<Vec<QuerySeries>>>,
        stop: CancellationToken,
    ) {
        if let Ok(mut all) = series.lock() {
            *all = self
                .source
                .queries
                .iter()
                .map(|(name, query)| QuerySeries {
                    name: name.clone(),
                    query: query.clone(),
                    samples: Vec::new(),
                })
                .collect();
        }
        let mut ticks = tokio::time::interval_at(start, self.source.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let tick = tokio::select! {
                tick = ticks.tick() => tick,
                () = stop.cancelled() => return,
            };
            let offset = tick.saturating_duration_since(start);
            let at = started_at + offset;
            for (index, (_, query)) in self.source.queries.iter().enumerate() {
                let evaluation = tokio::select! {
                    e = self.evaluate(query, at) => e,
                    () = stop.cancelled() => return,
                };
                let sample = QuerySample {
                    offset_seconds: offset.as_secs_f64(),
                    value: evaluation.as_ref().ok().copied(),
                    problem: evaluation.err(),
                };
                if let Ok(mut all) = series.lock()
                    && let Some(s) = all.get_mut(index)
                {
                    s.samples.push(sample);
                }
            }
        }
    }
}

/// The problem of an evaluation that returned nothing.
pub const NO_DATA: &str = "no data";

/// The query API's answer (the fields synthex reads).
#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: serde_json::Value,
}

/// One value out of a query API answer, or what is wrong with it.
fn interpret(status: u16, body: &[u8]) -> Evaluation {
    let answer: Answer = serde_json::from_slice(body).map_err(|_| {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        format!("HTTP {status}, not a Prometheus query API answer: {text:?}")
    })?;
    if answer.status != "success" {
        return Err(format!(
            "{} error: {}",
            answer.error_type.as_deref().unwrap_or("query"),
            answer.error.as_deref().unwrap_or("no message")
        ));
    }
    let data = answer.data.ok_or("success without data")?;
    let text = match data.result_type.as_str() {
        "scalar" => data.result.get(1).cloned(),
        "vector" => {
            let series = data
                .result
                .as_array()
                .ok_or("vector result is not a list")?;
            match series.as_slice() {
                [] => return Err(NO_DATA.to_string()),
                [one] => one.get("value").and_then(|v| v.get(1)).cloned(),
                many => {
                    return Err(format!(
                        "{} series: expected one (aggregate with sum, max or avg)",
                        many.len()
                    ));
                }
            }
        }
        other => return Err(format!("a {other} result: expected one series or a scalar")),
    };
    let value: f64 = text
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .ok_or("no value in the result")?
        .parse()
        .map_err(|_| "the value is not a number".to_string())?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("the value is {value}"))
    }
}

/// A transport error with its causes (reqwest's own text stops at "error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "no answer in time".to_string()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    crate::config::redact(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_one_value_or_a_reason() {
        let vector = |result: &str| {
            format!(r#"{{"status":"success","data":{{"resultType":"vector","result":{result}}}}}"#)
        };
        let one = vector(r#"[{"metric":{},"value":[1.5,"0.25"]}]"#);
        assert_eq!(interpret(200, one.as_bytes()), Ok(0.25));
        assert_eq!(
            interpret(200, vector("[]").as_bytes()),
            Err(NO_DATA.to_string())
        );
        let two = vector(r#"[{"value":[1,"1"]},{"value":[1,"2"]}]"#);
        assert!(
            interpret(200, two.as_bytes())
                .unwrap_err()
                .starts_with("2 series")
        );
        let nan = vector(r#"[{"metric":{},"value":[1.5,"NaN"]}]"#);
        assert_eq!(
            interpret(200, nan.as_bytes()),
            Err("the value is NaN".into())
        );
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}"#;
        assert_eq!(interpret(200, scalar.as_bytes()), Ok(7.0));
        let error = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert_eq!(
            interpret(400, error.as_bytes()),
            Err("bad_data error: parse error".into())
        );
        assert!(
            interpret(502, b"<html>bad gateway</html>")
                .unwrap_err()
                .starts_with("HTTP 502, not a Prometheus")
        );
    }
}
