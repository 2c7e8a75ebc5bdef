//! Whether a panel query recomputes what a recording rule of `alerts/` already records.
//!
//! Both sides are normalised into tokens that ignore what does not change the computation:
//! spacing, number spelling (`0.5` = `0.50`), range lengths (`[5m]`, `[1h]` and
//! `[$__rate_interval]` are one range), the dashboard's variable matchers (`job=~"$job"`), and
//! references to other recording rules (expanded into their expressions). Aggregation clauses are
//! compared by what they keep: a rule's `sum without (scenario, code)` is recomputed by a
//! panel's `sum by (target)` (which drops both), not by `sum by (target, scenario, code)`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::promql::KEYWORDS;

/// One normalised token of a PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// Function, metric, keyword or operator.
    Word(String),
    /// A number, in Rust's shortest spelling.
    Number(String),
    /// The label matchers of a selector that do not hold a dashboard variable.
    Matchers(BTreeSet<String>),
    /// A range of any length.
    Range,
    /// An aggregation's grouping: the labels of `by (…)` (`without: false`; no clause is
    /// `by ()`) or of `without (…)`.
    Grouping {
        without: bool,
        labels: BTreeSet<String>,
    },
}

/// PromQL's aggregation operators (they take a grouping clause).
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

/// The recording rules of every rule file under `alerts/` (`*.rules.yml`, not their unit tests):
/// recorded name → normalised expression, with references to earlier rules expanded.
pub fn recording_rules(root: &Path) -> BTreeMap<String, Vec<Token>> {
    let dir = root.join("alerts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".rules.yml"))
        })
        .collect();
    files.sort();
    let mut recorded = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for group in yaml["groups"].as_sequence().expect("groups") {
            for rule in group["rules"].as_sequence().expect("rules") {
                let (Some(name), Some(expr)) = (rule["record"].as_str(), rule["expr"].as_str())
                else {
                    continue;
                };
                let tokens = expand(tokens(expr), &recorded);
                recorded.insert(name.to_string(), tokens);
            }
        }
    }
    assert!(!recorded.is_empty(), "no recording rules under alerts/");
    recorded
}

/// The recording rules whose expression `expr` recomputes.
pub fn recomputed<'r>(expr: &str, rules: &'r BTreeMap<String, Vec<Token>>) -> Vec<&'r str> {
    let panel = tokens(expr);
    rules
        .iter()
        .filter(|(_, rule)| panel.windows(rule.len()).any(|w| same(rule, w)))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// Replaces each recorded name (and its empty matchers) by the tokens of its rule.
fn expand(tokens: Vec<Token>, recorded: &BTreeMap<String, Vec<Token>>) -> Vec<Token> {
    let mut out = vec![];
    let mut iter = tokens.into_iter().peekable();
    while let Some(token) = iter.next() {
        match &token {
            Token::Word(name) if recorded.contains_key(name) => {
                out.extend(recorded[name].iter().cloned());
                if matches!(iter.peek(), Some(Token::Matchers(m)) if m.is_empty()) {
                    iter.next();
                }
            }
            _ => out.push(token),
        }
    }
    out
}

/// Whether panel tokens `panel` compute what rule tokens `rule` do.
fn same(rule: &[Token], panel: &[Token]) -> bool {
    rule.iter().zip(panel).all(|pair| match pair {
        (
            Token::Grouping {
                without: true,
                labels: dropped,
            },
            Token::Grouping { without, labels },
        ) => {
            if *without {
                dropped.is_subset(labels)
            } else {
                dropped.is_disjoint(labels)
            }
        }
        (
            Token::Grouping {
                without: false,
                labels: kept,
            },
            Token::Grouping {
                without: false,
                labels,
            },
        ) => labels.is_subset(kept),
        (a, b) => a == b,
    })
}

/// Normalised tokens of `expr` (see the module doc).
pub fn tokens(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let number = text.parse::<f64>().map_or(text, |n| n.to_string());
            out.push(Token::Number(number));
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = skip_spaces(&chars, i);
            if AGGREGATIONS.contains(&word.as_str()) {
                out.push(Token::Word(word));
                i = grouping(&chars, next, &mut out);
            } else if KEYWORDS.contains(&word.as_str()) || chars.get(next) == Some(&'(') {
                out.push(Token::Word(word));
            } else {
                out.push(Token::Word(word));
                let (matchers, end) = if chars.get(i) == Some(&'{') {
                    matchers(&chars, i)
                } else {
                    (BTreeSet::new(), i)
                };
                out.push(Token::Matchers(matchers));
                i = end;
            }
        } else if c == '{' {
            // A selector without a metric name.
            let (set, end) = matchers(&chars, i);
            out.push(Token::Matchers(set));
            i = end;
        } else if c == '[' {
            i = chars[i..].iter().position(|&c| c == ']').unwrap() + i + 1;
            out.push(Token::Range);
        } else if c == '"' || c == '\'' {
            let end = string_end(&chars, i);
            out.push(Token::Word(chars[i..end].iter().collect()));
            i = end;
        } else {
            // Operators: the longest of the two-character ones, else one character.
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = if ["==", "!=", ">=", "<="].contains(&two.as_str()) {
                two
            } else {
                c.to_string()
            };
            i += op.chars().count();
            out.push(Token::Word(op));
        }
    }
    out
}

/// Reads an aggregation's optional `by (…)` / `without (…)` clause at `at`; returns where the
/// expression goes on.
fn grouping(chars: &[char], at: usize, out: &mut Vec<Token>) -> usize {
    let rest: String = chars[at..].iter().take(8).collect();
    let without = rest.starts_with("without");
    let open = skip_spaces(chars, at + if without { 7 } else { 2 });
    if !(without || rest.starts_with("by")) || chars.get(open) != Some(&'(') {
        // No clause: everything is aggregated away.
        out.push(Token::Grouping {
            without: false,
            labels: BTreeSet::new(),
        });
        return at;
    }
    let close = chars[open..].iter().position(|&c| c == ')').unwrap() + open;
    let labels = chars[open + 1..close]
        .iter()
        .collect::<String>()
        .split(',')
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    out.push(Token::Grouping { without, labels });
    close + 1
}

/// The matchers of the `{…}` at `open`, without those holding a dashboard variable, and the
/// index after the closing brace.
fn matchers(chars: &[char], open: usize) -> (BTreeSet<String>, usize) {
    let mut set = BTreeSet::new();
    let mut current = String::new();
    let mut i = open + 1;
    while i < chars.len() && chars[i] != '}' {
        match chars[i] {
            '"' | '\'' => {
                let end = string_end(chars, i);
                current.extend(&chars[i..end]);
                i = end;
            }
            ',' => {
                set.insert(std::mem::take(&mut current));
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            c => {
                current.push(c);
                i += 1;
            }
        }
    }
    set.insert(current);
    set.retain(|m| !m.is_empty() && !m.contains('$'));
    (set, i + 1)
}

/// The index after the string literal starting at `open`.
fn string_end(chars: &[char], open: usize) -> usize {
    let quote = chars[open];
    let mut i = open + 1;
    while i < chars.len() && chars[i] != quote {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}
