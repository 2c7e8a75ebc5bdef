//! Random mutations of the shipped example config (every key synthex knows) never panic the
//! loader: each gives a config or an error that names the file and a line:column or field path.

use std::path::Path;

use proptest::prelude::*;
use synthex::config::{ConfigError, load_str_with_env};

const EXAMPLE: &str = include_str!("../../config/synthex.yml");

/// Text that matters to YAML and to synthex's value grammar.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-:{}\\[\\],#&*!|>'\"%@` \n\t0-9.a-zA-Z/~$µ]{0,8}",
        prop::sample::select(vec![
            "0",
            "-1",
            "1e309",
            "18446744073709551616",
            "999999999999999999999h",
            "0.5/h",
            "1000.1/s",
            "100%",
            "1.5",
            "~",
            "null",
            "[]",
            "{}",
            "${X}",
            "$${",
            "{{ int 9..1 }}",
            "p0",
            "p100",
            ".inf",
            ".nan",
            "\u{0}",
            "\u{feff}",
            "--- ",
            "!!binary x",
        ])
        .prop_map(str::to_string),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace `len` bytes at `at` (both scaled to the text) with a fragment.
    Splice { at: usize, len: usize, with: String },
    /// Replace the value after the first `: ` of a line with a fragment.
    Value { line: usize, with: String },
    /// Delete a line.
    Delete { line: usize },
    /// Repeat a line.
    Repeat { line: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..12usize, fragment()).prop_map(|(at, len, with)| Mutation::Splice {
            at,
            len,
            with
        }),
        (any::<usize>(), fragment()).prop_map(|(line, with)| Mutation::Value { line, with }),
        any::<usize>().prop_map(|line| Mutation::Delete { line }),
        any::<usize>().prop_map(|line| Mutation::Repeat { line }),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match mutation {
        Mutation::Splice { at, len, with } => {
            let mut at = at % text.len();
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + len).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            return format!("{}{with}{}", &text[..at], &text[end..]);
        }
        Mutation::Value { line, with } => {
            let line = &mut lines[line % text.lines().count()];
            if let Some(colon) = line.find(": ") {
                line.replace_range(colon + 2.., with);
            }
        }
        Mutation::Delete { line } => {
            lines.remove(line % text.lines().count());
        }
        Mutation::Repeat { line } => {
            let line = line % text.lines().count();
            lines.insert(line, lines[line].clone());
        }
    }
    lines.join("\n")
}

/// `config/synthex.yml:L:C: …`, `config/synthex.yml: field: …` or one of the whole-file errors.
fn is_located(error: &ConfigError) -> bool {
    match error {
        ConfigError::Parse {
            location, message, ..
        } => location.is_some() || message.split(": ").next().is_some_and(|p| !p.contains(' ')),
        ConfigError::Invalid { field, .. } => !field.is_empty(),
        ConfigError::Empty { .. } | ConfigError::Read { .. } => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_mutated_config_loads_or_is_refused_with_its_location(
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let text = mutations.iter().fold(EXAMPLE.to_string(), |text, m| apply(&text, m));
        let path = Path::new("config/synthex.yml");
        if let Err(error) = load_str_with_env(&text, path, &|_| Some("value".to_string())) {
            let message = error.to_string();
            prop_assert!(message.starts_with("config/synthex.yml"), "{message}");
            prop_assert!(is_located(&error), "not located: {message}\n--- config ---\n{text}");
        }
    }
}
