//! A scenario's test data and the references its templates make: `{{ row.FIELD }}` needs a
//! `data:` file that has the field, `{{ var NAME }}` a step that sets the variable. Checked
//! when the config is loaded, so a reference that cannot be filled never reaches a request.

use super::FieldError;
use super::file::{DataFile, RequestFile, ScenarioFile, StepFile};
use crate::data::{DataSettings, DataSource, FieldUse, Mode, OnExhausted};
use crate::template::Template;

/// Every template of a request with its field path: the path, each header value, the body.
fn request_templates<'a>(path: &str, request: &'a RequestFile) -> Vec<(String, &'a Template)> {
    let mut templates = vec![(format!("{path}.path"), &request.path.0)];
    for (name, value) in &request.headers.0 {
        templates.push((format!("{path}.headers.{name}"), &value.0));
    }
    if let Some(body) = &request.body {
        templates.push((format!("{path}.body"), &body.0));
    }
    templates
}

/// Every template of a scenario with its field path and the variables set before it is
/// rendered: none for a single request; for a flow's step, those the `extract:` of the steps
/// before it set (`on_start` first).
pub(super) fn scenario_templates<'a>(
    path: &str,
    scenario: &'a ScenarioFile,
) -> Vec<(String, &'a Template, Vec<&'a str>)> {
    let mut out = Vec::new();
    if let Some(request) = &scenario.request {
        for (at, template) in request_templates(&format!("{path}.request"), request) {
            out.push((at, template, Vec::new()));
        }
    }
    let mut known: Vec<&str> = Vec::new();
    let steps = |list: &'a Option<Vec<StepFile>>, key: &'static str| {
        list.iter()
            .flatten()
            .enumerate()
            .map(move |(i, step)| (format!("{path}.{key}[{i}]"), step))
    };
    for (at, step) in steps(&scenario.on_start, "on_start").chain(steps(&scenario.steps, "steps")) {
        for (field, template) in request_templates(&format!("{at}.request"), &step.request) {
            out.push((field, template, known.clone()));
        }
        known.extend(step.extract.0.iter().map(|(var, _)| var.as_str()));
    }
    out
}

/// The row fields the templates read, each with the first template that reads it.
fn field_uses(templates: &[(String, &Template)]) -> Vec<FieldUse> {
    templates
        .iter()
        .flat_map(|(at, template)| {
            template.row_fields().map(|field| FieldUse {
                field: field.to_string(),
                at: at.clone(),
            })
        })
        .collect()
}

/// Rules of one scenario that need no file read: `on_exhausted` only with `unique`, rows only
/// with a data file, variables only where a step sets them.
pub(super) fn check(path: &str, scenario: &ScenarioFile) -> Result<(), FieldError> {
    if let Some(data) = &scenario.data
        && data.on_exhausted.is_some()
        && mode(data) != Mode::Unique
    {
        return Err(FieldError::new(
            format!("{path}.data.on_exhausted"),
            format!(
                "applies to mode unique only, found mode {}: remove it or set `mode: unique`",
                mode(data).as_str()
            ),
        ));
    }
    for (at, template, known) in scenario_templates(path, scenario) {
        if scenario.data.is_none()
            && let Some(field) = template.row_fields().next()
        {
            return Err(FieldError::new(
                at,
                format!(
                    "{{{{ row.{field} }}}} needs a data row: add `data: {{file: …}}` to the \
                     scenario"
                ),
            ));
        }
        if let Some(name) = template.variables().find(|v| !known.contains(v)) {
            let set = match known.is_empty() {
                true => "none".to_string(),
                false => known.join(", "),
            };
            return Err(FieldError::new(
                at,
                format!(
                    "{{{{ var {name} }}}} is never set before this request: variables come from \
                     the `extract:` of an earlier step of a flow (set by then: {set})"
                ),
            ));
        }
    }
    Ok(())
}

fn mode(data: &DataFile) -> Mode {
    data.mode.as_ref().map_or(Mode::Sequential, |m| m.0)
}

/// Opens and checks the scenario's data file against the fields its templates read; `file`
/// is the path resolved against the config file's directory.
pub(super) fn source(
    path: &str,
    data: &DataFile,
    file: std::path::PathBuf,
    templates: &[(String, &Template)],
) -> Result<DataSource, FieldError> {
    let settings = DataSettings {
        file,
        mode: mode(data),
        on_exhausted: data
            .on_exhausted
            .as_ref()
            .map_or(OnExhausted::default(), |o| o.0),
    };
    DataSource::open(settings, &field_uses(templates))
        .map_err(|e| FieldError::new(format!("{path}.data.file"), e.to_string()))
}
