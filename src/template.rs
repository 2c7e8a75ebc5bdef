//! Request templates: text that varies per send so synthetic traffic does not hit one cache key.
//!
//! Syntax: literal text with `{{ … }}` placeholders, one of
//! - `{{ int LO..HI }}`: a random integer in `LO..=HI`;
//! - `{{ choice [a, b, c] }}`: one of the listed words, uniformly;
//! - `{{ uuid }}`: a random version-4 UUID.
//!
//! Templates are parsed once at config load; rendering never fails.

use std::fmt;

use rand::{Rng, RngExt};
use thiserror::Error;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Int { low: i64, high: i64 },
    Choice(Vec<String>),
    Uuid,
}

/// Why a template was refused; the message names the placeholder and what was expected.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("template {template:?}: {problem}")]
pub struct TemplateError {
    template: String,
    problem: String,
}

impl Template {
    /// Parses `source`, refusing unknown or malformed placeholders.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let fail = |problem: String| TemplateError {
            template: source.to_string(),
            problem,
        };
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| fail("unclosed `{{`: expected `}}`".to_string()))?;
            parts.push(parse_placeholder(after[..close].trim()).map_err(fail)?);
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err(fail("`}}` without an opening `{{`".to_string()));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// A template of fixed text, with no placeholders.
    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Literal(text.to_string())],
        }
    }

    /// Whether every render gives the same text.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// One rendering, with fresh random values.
    pub fn render<R: Rng + ?Sized>(&self, rng: &mut R) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Int { low, high } => {
                    out.push_str(&rng.random_range(*low..=*high).to_string())
                }
                Part::Choice(words) => out.push_str(&words[rng.random_range(0..words.len())]),
                Part::Uuid => out.push_str(&uuid_v4(rng.random())),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => f.write_str(text)?,
                Part::Int { low, high } => write!(f, "{{{{ int {low}..{high} }}}}")?,
                Part::Choice(words) => write!(f, "{{{{ choice [{}] }}}}", words.join(", "))?,
                Part::Uuid => f.write_str("{{ uuid }}")?,
            }
        }
        Ok(())
    }
}

fn parse_placeholder(body: &str) -> Result<Part, String> {
    let (function, argument) = match body.split_once(char::is_whitespace) {
        Some((f, a)) => (f, a.trim()),
        None => (body, ""),
    };
    match function {
        "int" => parse_int_range(argument),
        "choice" => parse_choice(argument),
        "uuid" if argument.is_empty() => Ok(Part::Uuid),
        "uuid" => Err(format!("`uuid` takes no argument, found {argument:?}")),
        "" => Err("empty placeholder `{{ }}`: expected int, choice or uuid".to_string()),
        other => Err(format!(
            "unknown placeholder {other:?}: expected `int LO..HI`, `choice [a, b]` or `uuid`"
        )),
    }
}

fn parse_int_range(argument: &str) -> Result<Part, String> {
    let expected = || format!("`int` expects a range like `1..1000`, found {argument:?}");
    let (low, high) = argument.split_once("..").ok_or_else(expected)?;
    let low: i64 = low.trim().parse().map_err(|_| expected())?;
    let high: i64 = high.trim().parse().map_err(|_| expected())?;
    if low > high {
        return Err(format!(
            "`int {low}..{high}`: the low end must not exceed the high end"
        ));
    }
    Ok(Part::Int { low, high })
}

fn parse_choice(argument: &str) -> Result<Part, String> {
    let inner = argument
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .ok_or_else(|| format!("`choice` expects a list like `[a, b, c]`, found {argument:?}"))?;
    let words: Vec<String> = inner
        .split(',')
        // Quotes are decoration (`["a", "b"]` as in YAML): spaces and quotes at either end go,
        // in any mix, so a word never starts or ends with one and `Display` writes it back.
        .map(|w| {
            w.trim_matches(|c: char| c.is_whitespace() || c == '"')
                .to_string()
        })
        .collect();
    if words.iter().any(|w| w.is_empty()) {
        return Err(format!("`choice [{inner}]`: empty entry in the list"));
    }
    Ok(Part::Choice(words))
}

/// Formats 16 random bytes as an RFC 4122 version-4 UUID.
fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn renders_every_placeholder_within_its_domain() {
        let t = Template::parse("/orders/{{ int 5..7 }}/{{choice [a, b]}}?id={{ uuid }}").unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let s = t.render(&mut rng);
            let rest = s.strip_prefix("/orders/").unwrap();
            let (n, rest) = rest.split_once('/').unwrap();
            assert!((5..=7).contains(&n.parse::<i64>().unwrap()), "{s}");
            let (word, uuid) = rest.split_once("?id=").unwrap();
            assert!(word == "a" || word == "b", "{s}");
            assert_eq!(uuid.len(), 36);
            assert_eq!(&uuid[14..15], "4", "version nibble in {uuid}");
            assert!("89ab".contains(&uuid[19..20]), "variant nibble in {uuid}");
        }
        assert!(!t.is_static());
        assert!(Template::parse("/health").unwrap().is_static());
    }

    #[test]
    fn int_range_covers_both_ends() {
        let t = Template::parse("{{ int 1..3 }}").unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let seen: std::collections::BTreeSet<String> =
            (0..300).map(|_| t.render(&mut rng)).collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["1", "2", "3"]);
    }

    #[test]
    fn refuses_malformed_placeholders_with_a_clear_message() {
        let cases = [
            (
                "/a/{{ int 1..x }}",
                "`int` expects a range like `1..1000`, found \"1..x\"",
            ),
            (
                "/a/{{ int 9..1 }}",
                "the low end must not exceed the high end",
            ),
            (
                "/a/{{ choice a, b }}",
                "`choice` expects a list like `[a, b, c]`",
            ),
            ("/a/{{ choice [a,,b] }}", "empty entry in the list"),
            ("/a/{{ uuid 4 }}", "`uuid` takes no argument"),
            ("/a/{{ random }}", "unknown placeholder \"random\""),
            ("/a/{{ int 1..2", "unclosed `{{`"),
            ("/a/}}", "`}}` without an opening `{{`"),
            ("/a/{{}}", "empty placeholder"),
        ];
        for (source, expected) in cases {
            let err = Template::parse(source).unwrap_err().to_string();
            assert!(err.contains(expected), "{source}: {err}");
            assert!(err.starts_with(&format!("template {source:?}")), "{err}");
        }
    }

    /// Found by `choice_lists_round_trip`: `[a "]` kept `a ` (space) and `[a" "]` kept `a"`,
    /// while their `Display` was read back as `a`.
    #[test]
    fn regression_quoted_choice_words_are_trimmed_inside_the_quotes() {
        for source in [
            "{{ choice [a \"] }}",
            "{{ choice [\" a\"] }}",
            "{{ choice [a\" \"] }}",
            "{{ choice [a] }}",
        ] {
            let t = Template::parse(source).unwrap();
            assert_eq!(t.to_string(), "{{ choice [a] }}", "{source}");
        }
    }

    #[test]
    fn display_round_trips() {
        let source = "/p/{{ int 1..9 }}/{{ choice [x, y] }}/{{ uuid }}";
        let t = Template::parse(source).unwrap();
        assert_eq!(t.to_string(), source);
        assert_eq!(Template::parse(&t.to_string()).unwrap(), t);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Template-like text: braces, placeholder words, numbers, lists and quotes.
        fn template_text() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop_oneof![
                    Just("{{".to_string()),
                    Just("}}".to_string()),
                    Just(" int ".to_string()),
                    Just(" choice ".to_string()),
                    Just(" uuid ".to_string()),
                    Just("..".to_string()),
                    Just("[".to_string()),
                    Just("]".to_string()),
                    Just(",".to_string()),
                    Just("\"".to_string()),
                    Just("-9223372036854775808".to_string()),
                    Just("9223372036854775807".to_string()),
                    "[a-z0-9/ ,-]{1,4}",
                ],
                0..12,
            )
            .prop_map(|parts| parts.concat())
        }

        proptest! {
            #[test]
            fn parsing_never_panics_and_what_parses_renders_and_round_trips(
                source in template_text(),
                seed in any::<u64>(),
            ) {
                if let Ok(template) = Template::parse(&source) {
                    let mut rng = StdRng::seed_from_u64(seed);
                    let _ = template.render(&mut rng);
                    prop_assert_eq!(Template::parse(&template.to_string()), Ok(template));
                }
            }

            #[test]
            fn choice_lists_round_trip(inner in "[\" a-z,\\]]{0,8}", seed in any::<u64>()) {
                if let Ok(template) = Template::parse(&format!("{{{{ choice [{inner}] }}}}")) {
                    let _ = template.render(&mut StdRng::seed_from_u64(seed));
                    prop_assert_eq!(Template::parse(&template.to_string()), Ok(template));
                }
            }

            #[test]
            fn ints_stay_within_any_range(a in any::<i64>(), b in any::<i64>(), seed in any::<u64>()) {
                let (low, high) = (a.min(b), a.max(b));
                let t = Template::parse(&format!("{{{{ int {low}..{high} }}}}")).unwrap();
                let n: i64 = t.render(&mut StdRng::seed_from_u64(seed)).parse().unwrap();
                prop_assert!((low..=high).contains(&n));
            }
        }
    }
}
