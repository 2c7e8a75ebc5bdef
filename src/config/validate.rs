//! Checks across fields and list items, run on the parsed file before the domain model is
//! built. Each rule has one message naming the field path and the offending value; single
//! values were already checked (with their line and column) while the YAML was read.

use super::FieldError;
use super::collections::BackoffFile;
use super::file::{ConfigFile, GlobalFile, ProcessFile, ScenarioFile, StepFile, TargetFile};
use super::secrets::Credentials;
use super::units::{format_number, format_rate, quote};
use crate::scenario::DEFAULT_MAX_TOTAL_RATE;

/// Runs every cross-field rule; the first violation is returned.
pub fn check(file: &ConfigFile) -> Result<(), FieldError> {
    check_global(&file.global)?;
    if file.targets.is_empty() {
        return Err(FieldError::new(
            "targets",
            "at least one target is required, found none",
        ));
    }
    let names: Vec<&str> = file.targets.iter().map(|t| t.name.0.as_str()).collect();
    if let Some((first, again)) = first_duplicate(&names) {
        return Err(FieldError::new(
            format!("targets[{again}].name"),
            format!(
                "duplicate target name {}: already used by targets[{first}]",
                quote(names[again])
            ),
        ));
    }
    for (index, target) in file.targets.iter().enumerate() {
        check_target(&format!("targets[{index}]"), target)?;
    }
    check_total_rate(file)?;
    check_processes(&file.resources.processes)?;
    super::load::check(&file.load)
}

/// The target rates must add up to at most `global.max_total_rate`: raising the budget is a
/// decision written in the file, never the side effect of a new target or a typo in a rate.
/// A flow run sends every one of its steps (`on_start` too: the daemon runs it on every run), so
/// it is counted as that many requests, not one.
fn check_total_rate(file: &ConfigFile) -> Result<(), FieldError> {
    let total: f64 = file.targets.iter().map(requests_per_second).sum();
    let flows = file
        .targets
        .iter()
        .flat_map(|t| &t.scenarios)
        .any(|s| s.steps.is_some());
    let counted = match flows {
        true => " of requests (each step of a flow run counted)",
        false => "",
    };
    let (limit, field, advice) = match &file.global.max_total_rate {
        Some(limit) => (limit.0.per_second, "global.max_total_rate", "the limit of"),
        None => (
            DEFAULT_MAX_TOTAL_RATE.per_second,
            "targets",
            "the default limit of",
        ),
    };
    // Rates such as 1/3s do not add up exactly in binary; a relative tolerance keeps a sum that
    // is the limit on paper from being refused.
    if total <= limit * (1.0 + 1e-9) {
        return Ok(());
    }
    let raise = match file.global.max_total_rate {
        Some(_) => "raise the limit",
        None => "raise the limit explicitly with global.max_total_rate",
    };
    Err(FieldError::new(
        field,
        format!(
            "the target rates add up to {}{counted}, more than {advice} {}: lower the rates, or \
             {raise} (at most 100000/s)",
            format_rate(total),
            format_rate(limit)
        ),
    ))
}

/// The most requests per second a target sends: its rate of scenario runs times the requests
/// of an average run, weighted as the scenarios are picked.
fn requests_per_second(target: &TargetFile) -> f64 {
    let weight = |s: &ScenarioFile| f64::from(s.weight.as_ref().map_or(1, |w| w.0));
    let requests = |s: &ScenarioFile| match &s.steps {
        Some(steps) => (steps.len() + s.on_start.as_ref().map_or(0, Vec::len)) as f64,
        None => 1.0,
    };
    let weights: f64 = target.scenarios.iter().map(weight).sum();
    let sent: f64 = target
        .scenarios
        .iter()
        .map(|s| weight(s) * requests(s))
        .sum();
    target.rate.0.per_second * sent / weights.max(1.0)
}

/// Indices of the first name that repeats an earlier one: (earlier, repeat).
fn first_duplicate<T: PartialEq>(items: &[T]) -> Option<(usize, usize)> {
    items.iter().enumerate().find_map(|(again, item)| {
        let first = items[..again].iter().position(|earlier| earlier == item)?;
        Some((first, again))
    })
}

fn check_global(global: &GlobalFile) -> Result<(), FieldError> {
    if let Some(quantiles) = &global.quantiles {
        let values: Vec<f64> = quantiles.iter().map(|q| q.0).collect();
        if values.is_empty() {
            return Err(FieldError::new(
                "global.quantiles",
                "at least one quantile is required, found an empty list",
            ));
        }
        if let Some((_, again)) = first_duplicate(&values) {
            return Err(FieldError::new(
                format!("global.quantiles[{again}]"),
                format!("duplicate quantile {}", format_number(values[again])),
            ));
        }
    }
    if let Some(buckets) = &global.buckets {
        if buckets.is_empty() {
            return Err(FieldError::new(
                "global.buckets",
                "at least one bucket is required, found an empty list",
            ));
        }
        for (index, pair) in buckets.windows(2).enumerate() {
            if pair[1].0 <= pair[0].0 {
                return Err(FieldError::new(
                    format!("global.buckets[{}]", index + 1),
                    format!(
                        "buckets must be strictly increasing, found {} after {}",
                        format_number(pair[1].0),
                        format_number(pair[0].0)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_target(path: &str, target: &TargetFile) -> Result<(), FieldError> {
    check_auth(path, target)?;
    if let Some(BackoffFile::On(backoff)) = &target.backoff
        && let Some(floor) = &backoff.floor
        && floor.0.per_second > target.rate.0.per_second
    {
        return Err(FieldError::new(
            format!("{path}.backoff.floor"),
            format!(
                "floor {} is above the target's rate {}: expected at most the rate",
                format_rate(floor.0.per_second),
                format_rate(target.rate.0.per_second)
            ),
        ));
    }
    if let Some(cache) = &target.cache
        && cache.header.is_some()
        && cache.headers.is_some()
    {
        return Err(FieldError::new(
            format!("{path}.cache"),
            "both `header` and `headers` are set: expected one of them",
        ));
    }
    if let Some(stats) = &target.stats
        && stats.fields.0.is_empty()
    {
        return Err(FieldError::new(
            format!("{path}.stats.fields"),
            "at least one field is required, found none",
        ));
    }
    if target.scenarios.is_empty() {
        return Err(FieldError::new(
            format!("{path}.scenarios"),
            "at least one scenario is required, found none",
        ));
    }
    let names: Vec<&str> = target.scenarios.iter().map(|s| s.name.0.as_str()).collect();
    if let Some((_, again)) = first_duplicate(&names) {
        return Err(FieldError::new(
            format!("{path}.scenarios[{again}].name"),
            format!(
                "duplicate scenario name {} in target {}",
                quote(names[again]),
                quote(&target.name.0)
            ),
        ));
    }
    for (index, scenario) in target.scenarios.iter().enumerate() {
        super::data::check(&format!("{path}.scenarios[{index}]"), scenario)?;
        check_scenario(&format!("{path}.scenarios[{index}]"), scenario)?;
    }
    Ok(())
}

/// A scenario is a single request or a flow, never both; a flow has steps, unique step names
/// and one source per extracted variable.
fn check_scenario(path: &str, scenario: &ScenarioFile) -> Result<(), FieldError> {
    let steps = match (&scenario.request, &scenario.steps) {
        (Some(_), None) => {
            if scenario.on_start.is_some() {
                return Err(FieldError::new(
                    format!("{path}.on_start"),
                    "`on_start` belongs to a flow: expected `steps` instead of `request`",
                ));
            }
            return Ok(());
        }
        (None, Some(steps)) => steps,
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                path,
                "both `request` and `steps` are set: expected `request` (a single request) or \
                 `steps` (a flow)",
            ));
        }
        (None, None) => {
            return Err(FieldError::new(
                path,
                "expected `request` (a single request) or `steps` (a flow), found neither",
            ));
        }
    };
    if scenario.expect.is_some() {
        return Err(FieldError::new(
            format!("{path}.expect"),
            "a flow's expectations belong to its steps: move `expect` into each step",
        ));
    }
    if steps.is_empty() {
        return Err(FieldError::new(
            format!("{path}.steps"),
            "at least one step is required, found none",
        ));
    }
    let on_start = scenario.on_start.as_deref().unwrap_or_default();
    let all: Vec<(String, &StepFile)> = on_start
        .iter()
        .enumerate()
        .map(|(i, step)| (format!("{path}.on_start[{i}]"), step))
        .chain(
            steps
                .iter()
                .enumerate()
                .map(|(i, step)| (format!("{path}.steps[{i}]"), step)),
        )
        .collect();
    let names: Vec<&str> = all.iter().map(|(_, step)| step.name.0.as_str()).collect();
    if let Some((first, again)) = first_duplicate(&names) {
        return Err(FieldError::new(
            format!("{}.name", all[again].0),
            format!(
                "duplicate step name {}: already used by {}",
                quote(names[again]),
                all[first].0
            ),
        ));
    }
    for (step_path, step) in &all {
        for (var, source) in &step.extract.0 {
            let set = [
                source.json.is_some(),
                source.header.is_some(),
                source.regex.is_some(),
            ];
            if set.iter().filter(|s| **s).count() != 1 {
                return Err(FieldError::new(
                    format!("{step_path}.extract.{var}"),
                    "expected exactly one of `json` (a JSON pointer), `header` (a header name) \
                     or `regex` (a regex with a capture group)",
                ));
            }
        }
    }
    Ok(())
}

/// At most one source of the `Authorization` header, and one source per secret.
fn check_auth(path: &str, target: &TargetFile) -> Result<(), FieldError> {
    let has_header = target
        .headers
        .0
        .iter()
        .any(|(name, _)| name == http::header::AUTHORIZATION);
    let auth = Credentials {
        bearer_token: target.bearer_token.as_ref(),
        bearer_token_file: target.bearer_token_file.as_ref(),
        basic_auth: target.basic_auth.as_ref(),
    };
    check_credentials(path, &auth, has_header)
}

/// One source per secret and at most one of the `Authorization` header: a token, a token
/// file, basic auth or (`has_header`) an `Authorization` header.
pub fn check_credentials(
    path: &str,
    auth: &Credentials<'_>,
    has_header: bool,
) -> Result<(), FieldError> {
    let conflict =
        |field: &str, message: &str| Err(FieldError::new(format!("{path}.{field}"), message));
    if auth.bearer_token.is_some() && auth.bearer_token_file.is_some() {
        return conflict(
            "bearer_token_file",
            "both `bearer_token` and `bearer_token_file` are set: expected one of them",
        );
    }
    let bearer = auth.bearer_token.is_some() || auth.bearer_token_file.is_some();
    if bearer && auth.basic_auth.is_some() {
        return conflict(
            "basic_auth",
            "both a bearer token and `basic_auth` are set: expected one of them",
        );
    }
    if has_header && (bearer || auth.basic_auth.is_some()) {
        return conflict(
            "headers.authorization",
            "an Authorization header is set along with bearer_token or basic_auth: expected one of them",
        );
    }
    match auth.basic_auth {
        Some(basic) if basic.password.is_some() == basic.password_file.is_some() => conflict(
            "basic_auth",
            "expected exactly one of `password` or `password_file`",
        ),
        _ => Ok(()),
    }
}

fn check_processes(processes: &[ProcessFile]) -> Result<(), FieldError> {
    for (index, process) in processes.iter().enumerate() {
        let set: Vec<&str> = [
            ("exe", process.exe.is_some()),
            ("cmdline", process.cmdline.is_some()),
            ("pid_file", process.pid_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
        .collect();
        if set.len() != 1 {
            let found = match set.is_empty() {
                true => "none".to_string(),
                false => set.join(" and "),
            };
            return Err(FieldError::new(
                format!("resources.processes[{index}]"),
                format!("expected exactly one of exe, cmdline or pid_file, found {found}"),
            ));
        }
    }
    let names: Vec<&str> = processes.iter().map(|p| p.name.0.as_str()).collect();
    match first_duplicate(&names) {
        Some((first, again)) => Err(FieldError::new(
            format!("resources.processes[{again}].name"),
            format!(
                "duplicate process name {}: already used by resources.processes[{first}]",
                quote(names[again])
            ),
        )),
        None => Ok(()),
    }
}
