//! `${VAR}` references in config values that may carry secrets or differ per deployment
//! (target header values, `bearer_token`, `basic_auth.password`, `proxy`, `base_url`).
//!
//! The syntax is checked while the YAML is read (so a malformed reference gets a line and
//! column); the lookup happens afterwards through a caller-supplied function, so tests never
//! touch the process environment. `${VAR:-default}` uses `default` when `VAR` is unset or empty
//! (as in the shell and docker compose). `$${` writes a literal `${`; any other `$` is literal.

/// How the loader reads environment variables: the process environment in production, a fixed
/// table in tests.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as [`EnvLookup`] expects it. Values that are not valid Unicode
/// count as unset, which the loader reports as a missing variable.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A config string with `${VAR}` references, checked but not yet expanded.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvText {
    parts: Vec<Part>,
}

#[derive(Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var {
        name: String,
        default: Option<String>,
    },
}

impl EnvText {
    /// Parses `text`, refusing an unclosed `${` or an invalid variable name. The message never
    /// contains the text itself, since it may be a secret.
    pub fn parse(text: &str) -> Result<EnvText, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            if rest[..at].ends_with('$') {
                // `$${` is an escaped, literal `${`.
                literal.push_str(&rest[..at - 1]);
                literal.push_str("${");
                rest = &rest[at + 2..];
                continue;
            }
            literal.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let close = after
                .find('}')
                .ok_or("unclosed `${`: expected `${NAME}` (write `$${` for a literal `${`)")?;
            let (name, default) = match after[..close].split_once(":-") {
                Some((name, default)) => (name, Some(default.to_string())),
                None => (&after[..close], None),
            };
            if !is_var_name(name) {
                return Err(format!(
                    "invalid environment variable name {}: expected letters, digits and _ \
                     (not starting with a digit)",
                    super::units::quote(name)
                ));
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            let name = name.to_string();
            parts.push(Part::Var { name, default });
            rest = &after[close + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(EnvText { parts })
    }

    /// The text when it references no variable, so it can be checked while the YAML is read.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var { .. } => return None,
            }
        }
        Some(out)
    }

    /// The value with every reference replaced; `Err` names the first variable that is unset
    /// and has no default.
    pub fn expand(&self, env: EnvLookup<'_>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var { name, default } => {
                    let value = match (env(name), default) {
                        (Some(value), Some(_)) if !value.is_empty() => value,
                        (Some(value), None) => value,
                        (_, Some(default)) => default.clone(),
                        (None, None) => return Err(name.clone()),
                    };
                    out.push_str(&value);
                }
            }
        }
        Ok(out)
    }

    /// The text as written in the file (`Bearer ${TOKEN}`), safe to show: it holds the
    /// variable's name, never its value.
    pub fn as_written(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.replace("${", "$${"),
                Part::Var {
                    name,
                    default: None,
                } => format!("${{{name}}}"),
                Part::Var {
                    name,
                    default: Some(default),
                } => format!("${{{name}:-{default}}}"),
            })
            .collect()
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_string())
    }

    #[test]
    fn expands_references_and_keeps_other_dollars() {
        let text = EnvText::parse("Bearer ${TOKEN} costs $5, $${LITERAL}").unwrap();
        assert_eq!(text.as_literal(), None);
        assert_eq!(
            text.expand(&env).unwrap(),
            "Bearer s3cret costs $5, ${LITERAL}"
        );
        assert_eq!(text.as_written(), "Bearer ${TOKEN} costs $5, $${LITERAL}");
        let plain = EnvText::parse("no refs $here").unwrap();
        assert_eq!(plain.as_literal().as_deref(), Some("no refs $here"));
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let text = EnvText::parse("${TOKEN:-x}/${NOPE:-fallback}/${EMPTY:-e}/${EMPTY}").unwrap();
        let env = |name: &str| match name {
            "TOKEN" => Some("t".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(text.expand(&env).unwrap(), "t/fallback/e/");
        assert_eq!(
            text.as_written(),
            "${TOKEN:-x}/${NOPE:-fallback}/${EMPTY:-e}/${EMPTY}"
        );
    }

    #[test]
    fn names_the_missing_variable() {
        let text = EnvText::parse("${TOKEN}:${NOPE}").unwrap();
        assert_eq!(text.expand(&env), Err("NOPE".to_string()));
    }

    #[test]
    fn refuses_malformed_references_without_echoing_the_value() {
        let err = EnvText::parse("secret-value ${TOKEN").err().unwrap();
        assert!(err.starts_with("unclosed `${`"), "{err}");
        assert!(!err.contains("secret-value"));
        let err = EnvText::parse("${1X}").err().unwrap();
        assert!(
            err.starts_with("invalid environment variable name \"1X\""),
            "{err}"
        );
        assert!(EnvText::parse("${}").is_err());
    }
}
