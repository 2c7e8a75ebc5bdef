//! The health gate (`load.health`): one request per target before any load. A load test
//! against a broken deployment would only measure the breakage and could be mistaken for a
//! regression, so an unhealthy target stops the run before its first load request.

use std::time::Duration;

use tokio::time::Instant;

use crate::probe::Probe;
use crate::scenario::{Call, HealthCheck, RequestTemplate};
use crate::template::Iteration;

/// Sends the health request to every probe's target (`names[i]` names `probes[i]`'s target)
/// and returns one line per unhealthy target, saying what it answered; empty when all are
/// healthy.
pub async fn check(health: &HealthCheck, probes: &[Probe], names: &[String]) -> Vec<String> {
    let call = Call {
        request: RequestTemplate {
            method: http::Method::GET,
            path: health.path.clone(),
            headers: Vec::new(),
            body: None,
        },
        expect: health.expect.clone(),
    };
    let iteration = Iteration::default();
    let mut unhealthy = Vec::new();
    for (probe, name) in probes.iter().zip(names) {
        let asked =
            tokio::time::timeout(health.timeout, probe.run(&call, Instant::now(), &iteration));
        let problem = match asked.await {
            Err(_) => Some(format!("no answer within {}", show(health.timeout))),
            Ok(outcome) => outcome.failure.map(|f| match outcome.status {
                Some(status) if !f.message.contains(&status.to_string()) => {
                    format!("status {status}: {}", f.message)
                }
                _ => f.message,
            }),
        };
        if let Some(problem) = problem {
            unhealthy.push(format!(
                "target {name} is not healthy: GET {} {problem}",
                health.path
            ));
        }
    }
    unhealthy
}

fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
