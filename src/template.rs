//! Request templates: text that varies per send, so synthetic traffic does not hit one cache key
//! and a load test's users can log in as different people.
//!
//! Syntax: literal text with `{{ … }}` placeholders, one of
//! - `{{ int LO..HI }}`: a random integer in `LO..=HI`;
//! - `{{ choice [a, b, c] }}`: one of the listed words, uniformly;
//! - `{{ uuid }}`: a random version-4 UUID;
//! - `{{ random_string N }}`: `N` random letters and digits (`[A-Za-z0-9]`), 1 ≤ N ≤ 1048576;
//! - `{{ now }}`, `{{ now +1h }}`, `{{ now -30m "%Y-%m-%d" }}`: the time of the send (UTC),
//!   shifted by an optional signed duration (the units grammar, no spaces, up to 100d), written
//!   as RFC 3339 (`rfc3339`, the default, to the second), `unix` seconds, `unix_ms`
//!   milliseconds, or a quoted `strftime` pattern;
//! - `{{ counter }}`: the iteration number of the virtual user (1, 2, 3, …);
//! - `{{ var NAME }}`: a variable set by an earlier step of a flow (`extract:`);
//! - `{{ row.FIELD }}`: a field of the data row this iteration took from the scenario's `data:`.
//!
//! Templates are parsed once at config load. A render draws on a [`RenderContext`]: the
//! randomness, the variables, the row, the counter and the clock of one send. Rendering only
//! fails when the context lacks what the template names (a variable no step has set, a row
//! that could not be read); config loading refuses every case it can see in advance.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng, RngExt};
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::OwnedFormatItem;
use time::format_description::well_known::Rfc3339;

use crate::config::units::{format_duration, parse_duration};
use crate::data::Row;

/// Longest `{{ random_string N }}`: a 1 MiB body is as large as a synthetic upload needs.
pub const MAX_RANDOM_STRING: usize = 1 << 20;

/// Characters of `{{ random_string N }}`: safe unescaped in paths, headers, JSON and forms.
const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

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
    RandomString(usize),
    Now { offset: Offset, format: TimeFormat },
    Counter,
    Var(String),
    Row(String),
}

/// A signed shift of `{{ now }}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offset {
    negative: bool,
    by: Duration,
}

/// How `{{ now }}` is written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TimeFormat {
    /// `2026-12-02T01:45:38Z`.
    Rfc3339,
    /// Seconds since the epoch.
    Unix,
    /// Milliseconds since the epoch.
    UnixMs,
    /// A `strftime` pattern, as written and compiled.
    Strftime {
        pattern: String,
        items: OwnedFormatItem,
    },
}

/// Variables of one virtual user (or one daemon flow run), by name.
pub type Variables = HashMap<String, String>;

/// Everything a render draws on besides the template itself.
///
/// Built for each send, so `now` is the time the request goes out; `rng` is the caller's, so
/// a virtual user can use its own seeded generator and the probe the thread-local one.
pub struct RenderContext<'a, R: ?Sized> {
    /// Source of `int`, `choice`, `uuid` and `random_string`.
    pub rng: &'a mut R,
    /// Values of `{{ var NAME }}`.
    pub vars: &'a Variables,
    /// The iteration's data row, for `{{ row.FIELD }}`.
    pub row: Option<&'a Row>,
    /// Value of `{{ counter }}`.
    pub counter: u64,
    /// The clock of `{{ now }}`: a time given, or `None` until the send's first `{{ now }}`
    /// reads the wall clock (then kept for the rest of the send), so a request without one
    /// never reads it: the load test's hot path counts every clock read.
    pub now: Option<SystemTime>,
}

/// What one iteration of a virtual user (or one daemon slot) renders its requests with, apart
/// from the randomness and the clock: owned, so it can be held across the awaits of a flow.
#[derive(Debug, Clone, Default)]
pub struct Iteration {
    /// Variables set so far (by `extract:` of earlier steps).
    pub vars: Variables,
    /// The row taken from the scenario's data file, if it has one.
    pub row: Option<Row>,
    /// The iteration number, from 1.
    pub counter: u64,
}

impl Iteration {
    /// The render context of one send of this iteration, at `now`.
    pub fn context<'a, R: ?Sized>(
        &'a self,
        rng: &'a mut R,
        now: SystemTime,
    ) -> RenderContext<'a, R> {
        RenderContext {
            now: Some(now),
            ..self.send_context(rng)
        }
    }

    /// The render context of one send of this iteration going out now: `{{ now }}` reads the
    /// wall clock when it is first rendered.
    pub fn send_context<'a, R: ?Sized>(&'a self, rng: &'a mut R) -> RenderContext<'a, R> {
        RenderContext {
            rng,
            vars: &self.vars,
            row: self.row.as_ref(),
            counter: self.counter,
            now: None,
        }
    }
}

/// Why a template was refused; the message names the placeholder and what was expected.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("template {template:?}: {problem}")]
pub struct TemplateError {
    template: String,
    problem: String,
}

/// Why a render could not complete: the context lacks what the template names. The request
/// is then not sent, and fails with this message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RenderError {
    /// `{{ var NAME }}` with no such variable set.
    #[error("variable {0:?} is not set: no earlier step extracted it")]
    UnsetVariable(String),
    /// `{{ row.FIELD }}` without a row, or with a row that lacks the field or could not be read.
    #[error("{{{{ row.{field} }}}}: {problem}")]
    Row {
        /// The field named.
        field: String,
        /// What is missing.
        problem: String,
    },
    /// `{{ now }}` shifted outside the representable dates, or a pattern that cannot format.
    #[error("{{{{ now }}}}: {0}")]
    Time(String),
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

    /// The variables named by `{{ var NAME }}`, in order of appearance.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The row fields named by `{{ row.FIELD }}`, in order of appearance.
    pub fn row_fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Row(field) => Some(field.as_str()),
            _ => None,
        })
    }

    /// One rendering, with fresh random values and what `ctx` holds.
    pub fn render<R: Rng + ?Sized>(
        &self,
        ctx: &mut RenderContext<'_, R>,
    ) -> Result<String, RenderError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Int { low, high } => {
                    out.push_str(&ctx.rng.random_range(*low..=*high).to_string())
                }
                Part::Choice(words) => out.push_str(&words[ctx.rng.random_range(0..words.len())]),
                Part::Uuid => out.push_str(&uuid_v4(ctx.rng.random())),
                Part::RandomString(length) => {
                    out.reserve(*length);
                    for _ in 0..*length {
                        let at = ctx.rng.random_range(0..ALPHANUMERIC.len());
                        out.push(char::from(ALPHANUMERIC[at]));
                    }
                }
                Part::Now { offset, format } => {
                    let now = *ctx.now.get_or_insert_with(SystemTime::now);
                    out.push_str(&format_time(now, *offset, format)?)
                }
                Part::Counter => out.push_str(&ctx.counter.to_string()),
                Part::Var(name) => match ctx.vars.get(name) {
                    Some(value) => out.push_str(value),
                    None => return Err(RenderError::UnsetVariable(name.clone())),
                },
                Part::Row(field) => {
                    let row = ctx.row.ok_or_else(|| RenderError::Row {
                        field: field.clone(),
                        problem: "this iteration has no data row".to_string(),
                    })?;
                    let value = row.get(field).map_err(|problem| RenderError::Row {
                        field: field.clone(),
                        problem,
                    })?;
                    out.push_str(value);
                }
            }
        }
        Ok(out)
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
                Part::RandomString(length) => write!(f, "{{{{ random_string {length} }}}}")?,
                Part::Now { offset, format } => {
                    f.write_str("{{ now")?;
                    if !offset.by.is_zero() {
                        let sign = if offset.negative { '-' } else { '+' };
                        write!(f, " {sign}{}", format_duration(offset.by).replace(' ', ""))?;
                    }
                    match format {
                        TimeFormat::Rfc3339 => {}
                        TimeFormat::Unix => f.write_str(" unix")?,
                        TimeFormat::UnixMs => f.write_str(" unix_ms")?,
                        TimeFormat::Strftime { pattern, .. } => {
                            let quote = if pattern.contains('"') { '\'' } else { '"' };
                            write!(f, " {quote}{pattern}{quote}")?
                        }
                    }
                    f.write_str(" }}")?
                }
                Part::Counter => f.write_str("{{ counter }}")?,
                Part::Var(name) => write!(f, "{{{{ var {name} }}}}")?,
                Part::Row(field) => write!(f, "{{{{ row.{field} }}}}")?,
            }
        }
        Ok(())
    }
}

const EXPECTED_PLACEHOLDERS: &str = "expected `int LO..HI`, `choice [a, b]`, `uuid`, \
    `random_string N`, `now`, `counter`, `var NAME` or `row.FIELD`";

fn parse_placeholder(body: &str) -> Result<Part, String> {
    let (function, argument) = match body.split_once(char::is_whitespace) {
        Some((f, a)) => (f, a.trim()),
        None => (body, ""),
    };
    let no_argument = |part: Part| match argument.is_empty() {
        true => Ok(part),
        false => Err(format!(
            "`{function}` takes no argument, found {argument:?}"
        )),
    };
    match function {
        "int" => parse_int_range(argument),
        "choice" => parse_choice(argument),
        "uuid" => no_argument(Part::Uuid),
        "random_string" => parse_random_string(argument),
        "now" => parse_now(argument),
        "counter" => no_argument(Part::Counter),
        "var" => parse_name(argument).map(Part::Var),
        "" => Err(format!(
            "empty placeholder `{{{{ }}}}`: {EXPECTED_PLACEHOLDERS}"
        )),
        other => match other.strip_prefix("row.") {
            Some(field) => {
                if field.is_empty() || field.contains(['{', '}']) {
                    return Err(format!(
                        "`row.` expects a field name such as `row.email`, found {other:?}"
                    ));
                }
                no_argument(Part::Row(field.to_string()))
            }
            None => Err(format!(
                "unknown placeholder {other:?}: {EXPECTED_PLACEHOLDERS}"
            )),
        },
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

fn parse_random_string(argument: &str) -> Result<Part, String> {
    let expected = || {
        format!(
            "`random_string` expects a length from 1 to {MAX_RANDOM_STRING}, found {argument:?}"
        )
    };
    let length: usize = argument.parse().map_err(|_| expected())?;
    match (1..=MAX_RANDOM_STRING).contains(&length) {
        true => Ok(Part::RandomString(length)),
        false => Err(expected()),
    }
}

/// `now [±DURATION] [rfc3339|unix|unix_ms|"PATTERN"]`.
fn parse_now(argument: &str) -> Result<Part, String> {
    let (offset, format) = match argument.strip_prefix(['+', '-']) {
        Some(after_sign) => {
            let (written, rest) = match after_sign.split_once(char::is_whitespace) {
                Some((d, rest)) => (d, rest.trim()),
                None => (after_sign, ""),
            };
            let by = parse_duration(written).map_err(|e| {
                format!("`now` offset: {e}; write it without spaces, as in `now +1h30m`")
            })?;
            let negative = argument.starts_with('-');
            (Offset { negative, by }, rest)
        }
        None => (
            Offset {
                negative: false,
                by: Duration::ZERO,
            },
            argument,
        ),
    };
    Ok(Part::Now {
        offset,
        format: parse_time_format(format)?,
    })
}

fn parse_time_format(text: &str) -> Result<TimeFormat, String> {
    let quoted = ['"', '\''].into_iter().find_map(|quote| {
        text.strip_prefix(quote)
            .and_then(|t| t.strip_suffix(quote))
            .filter(|inner| !inner.contains(quote))
    });
    match (text, quoted) {
        ("" | "rfc3339", _) => Ok(TimeFormat::Rfc3339),
        ("unix", _) => Ok(TimeFormat::Unix),
        ("unix_ms", _) => Ok(TimeFormat::UnixMs),
        (_, Some(pattern)) if !pattern.is_empty() => {
            let items = time::format_description::parse_strftime_owned(pattern)
                .map_err(|e| format!("`now` format {text}: {e}"))?;
            Ok(TimeFormat::Strftime {
                pattern: pattern.to_string(),
                items,
            })
        }
        _ => Err(format!(
            "`now` expects an optional offset such as `+1h` or `-30m`, then `rfc3339`, `unix`, \
             `unix_ms` or a quoted strftime pattern such as \"%Y-%m-%d\", found {text:?}"
        )),
    }
}

/// A variable name: a letter or `_`, then letters, digits and `_`.
fn parse_name(argument: &str) -> Result<String, String> {
    let mut chars = argument.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    match valid {
        true => Ok(argument.to_string()),
        false => Err(format!(
            "`var` expects a variable name such as `token` (letters, digits, _), found {argument:?}"
        )),
    }
}

/// `now` shifted by `offset`, written in `format` (UTC).
fn format_time(
    now: SystemTime,
    offset: Offset,
    format: &TimeFormat,
) -> Result<String, RenderError> {
    let since_epoch = |t: SystemTime| match t.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    };
    let shift = offset.by.as_nanos() as i128;
    let nanos = since_epoch(now) + if offset.negative { -shift } else { shift };
    match format {
        TimeFormat::Unix => Ok(nanos.div_euclid(1_000_000_000).to_string()),
        TimeFormat::UnixMs => Ok(nanos.div_euclid(1_000_000).to_string()),
        TimeFormat::Rfc3339 | TimeFormat::Strftime { .. } => {
            let at = OffsetDateTime::from_unix_timestamp_nanos(nanos)
                .map_err(|e| RenderError::Time(e.to_string()))?;
            let written = match format {
                TimeFormat::Strftime { items, .. } => at.format(items),
                // Whole seconds: `Rfc3339` writes a fraction whenever there is one.
                _ => at.truncate_to_second().format(&Rfc3339),
            };
            written.map_err(|e| RenderError::Time(e.to_string()))
        }
    }
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
    use std::process::Command;
    use std::sync::Arc;

    /// Renders `template` with `rng` and an otherwise empty context at `now`.
    fn render(
        template: &Template,
        rng: &mut StdRng,
        now: SystemTime,
    ) -> Result<String, RenderError> {
        let iteration = Iteration::default();
        template.render(&mut iteration.context(rng, now))
    }

    fn plain(source: &str, rng: &mut StdRng) -> String {
        render(&Template::parse(source).unwrap(), rng, SystemTime::now()).unwrap()
    }

    #[test]
    fn renders_every_placeholder_within_its_domain() {
        let t = Template::parse("/orders/{{ int 5..7 }}/{{choice [a, b]}}?id={{ uuid }}").unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let s = render(&t, &mut rng, SystemTime::now()).unwrap();
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
        for dynamic in ["{{ counter }}", "{{ now }}", "{{ var a }}", "{{ row.a }}"] {
            assert!(!Template::parse(dynamic).unwrap().is_static(), "{dynamic}");
        }
    }

    #[test]
    fn int_range_covers_both_ends() {
        let t = Template::parse("{{ int 1..3 }}").unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let seen: std::collections::BTreeSet<String> = (0..300)
            .map(|_| render(&t, &mut rng, SystemTime::now()).unwrap())
            .collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["1", "2", "3"]);
    }

    /// Length at both limits, and the alphabet: over enough draws every one of the 62
    /// characters shows up, and nothing else does.
    #[test]
    fn random_strings_have_their_length_and_the_whole_alphanumeric_alphabet() {
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(plain("{{ random_string 1 }}", &mut rng).len(), 1);
        let longest = plain(
            &format!("{{{{ random_string {MAX_RANDOM_STRING} }}}}"),
            &mut rng,
        );
        assert_eq!(longest.len(), MAX_RANDOM_STRING);
        let seen: std::collections::BTreeSet<char> = longest.chars().collect();
        let expected: std::collections::BTreeSet<char> =
            ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
        assert_eq!(seen, expected);
        let two = plain("{{ random_string 16 }}-{{ random_string 16 }}", &mut rng);
        let (a, b) = two.split_once('-').unwrap();
        assert_eq!((a.len(), b.len()), (16, 16));
        assert_ne!(a, b, "each placeholder draws its own string");
    }

    /// GNU `date` is the independent clock formatter: each pattern, shifted by each offset,
    /// must read as `date -u -d @SECONDS +PATTERN` does for the same instant.
    #[test]
    fn now_formats_and_offsets_agree_with_gnu_date() {
        let now = UNIX_EPOCH + Duration::from_millis(1_764_640_338_250); // 2025-12-02T01:52:18.25Z
        let mut rng = StdRng::seed_from_u64(0);
        let cases = [
            ("", 0i64),
            ("+1h", 3600),
            ("-30m", -1800),
            ("+1d12h", 129_600),
            ("-100d", -8_640_000),
        ];
        let patterns = [
            "%Y-%m-%d",
            "%H:%M:%S",
            "%a, %d %b %Y %T %z",
            "%j %U %s",
            "%FT%TZ",
        ];
        for (offset, shift) in cases {
            let at = 1_764_640_338 + shift;
            for pattern in patterns {
                let t = Template::parse(&format!("{{{{ now {offset} \"{pattern}\" }}}}")).unwrap();
                let expected = Command::new("date")
                    .args(["-u", "-d", &format!("@{at}"), &format!("+{pattern}")])
                    .output()
                    .unwrap();
                let expected = String::from_utf8(expected.stdout).unwrap();
                assert_eq!(
                    render(&t, &mut rng, now).unwrap(),
                    expected.trim_end(),
                    "now {offset} {pattern}"
                );
            }
            let rfc = Template::parse(&format!("{{{{ now {offset} }}}}")).unwrap();
            let expected = Command::new("date")
                .args(["-u", "-d", &format!("@{at}"), "+%Y-%m-%dT%H:%M:%SZ"])
                .output()
                .unwrap();
            let expected = String::from_utf8(expected.stdout).unwrap();
            assert_eq!(render(&rfc, &mut rng, now).unwrap(), expected.trim_end());
            let unix = Template::parse(&format!(
                "{{{{ now {offset} unix }}}}/{{{{ now {offset} unix_ms }}}}"
            ))
            .unwrap();
            assert_eq!(
                render(&unix, &mut rng, now).unwrap(),
                format!("{at}/{}", at * 1000 + 250)
            );
        }
    }

    #[test]
    fn a_send_context_reads_the_clock_at_its_first_now_and_keeps_it() {
        let t = Template::parse("{{ now unix_ms }}").unwrap();
        let iteration = Iteration::default();
        let mut rng = StdRng::seed_from_u64(0);
        let mut ctx = iteration.send_context(&mut rng);
        assert_eq!(ctx.now, None, "no clock read before a `now` is rendered");
        let before = SystemTime::now();
        let first = t.render(&mut ctx).unwrap();
        let read = ctx.now.expect("read at the first `now`");
        assert!(before <= read && read <= SystemTime::now());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            t.render(&mut ctx).unwrap(),
            first,
            "the same time for the whole send"
        );
    }

    #[test]
    fn counter_variables_and_rows_come_from_the_context() {
        let t = Template::parse("/u/{{ row.user }}?n={{ counter }}&t={{ var token }}").unwrap();
        let fields: Arc<[String]> = vec!["user".to_string()].into();
        let iteration = Iteration {
            vars: Variables::from([("token".to_string(), "abc".to_string())]),
            row: Some(Row::new(Arc::clone(&fields), vec!["ann".to_string()])),
            counter: 7,
        };
        let mut rng = StdRng::seed_from_u64(0);
        let mut ctx = iteration.context(&mut rng, SystemTime::now());
        assert_eq!(t.render(&mut ctx).unwrap(), "/u/ann?n=7&t=abc");
        assert_eq!(t.variables().collect::<Vec<_>>(), ["token"]);
        assert_eq!(t.row_fields().collect::<Vec<_>>(), ["user"]);

        let unset = Iteration {
            vars: Variables::new(),
            ..iteration.clone()
        };
        let mut ctx = unset.context(&mut rng, SystemTime::now());
        assert_eq!(
            t.render(&mut ctx).unwrap_err().to_string(),
            "variable \"token\" is not set: no earlier step extracted it"
        );
        let rowless = Iteration {
            row: None,
            ..iteration.clone()
        };
        let mut ctx = rowless.context(&mut rng, SystemTime::now());
        assert_eq!(
            t.render(&mut ctx).unwrap_err().to_string(),
            "{{ row.user }}: this iteration has no data row"
        );
        let broken = Iteration {
            row: Some(Row::unreadable(fields, "users.csv: row 3 changed".into())),
            ..iteration
        };
        let mut ctx = broken.context(&mut rng, SystemTime::now());
        assert_eq!(
            t.render(&mut ctx).unwrap_err().to_string(),
            "{{ row.user }}: users.csv: row 3 changed"
        );
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
            ("/a/{{ counter 4 }}", "`counter` takes no argument"),
            ("/a/{{ random }}", "unknown placeholder \"random\""),
            ("/a/{{ int 1..2", "unclosed `{{`"),
            ("/a/}}", "`}}` without an opening `{{`"),
            ("/a/{{}}", "empty placeholder"),
            (
                "/a/{{ random_string 0 }}",
                "`random_string` expects a length from 1 to 1048576, found \"0\"",
            ),
            (
                "/a/{{ random_string 1048577 }}",
                "`random_string` expects a length from 1 to 1048576, found \"1048577\"",
            ),
            (
                "/a/{{ random_string }}",
                "expects a length from 1 to 1048576",
            ),
            ("/a/{{ now +1x }}", "`now` offset: invalid duration \"1x\""),
            (
                "/a/{{ now +101d }}",
                "longer than the longest duration synthex reads, 100d",
            ),
            ("/a/{{ now +1h 30m }}", "`now` expects an optional offset"),
            ("/a/{{ now iso }}", "`now` expects an optional offset"),
            ("/a/{{ now \"%Y-%Q\" }}", "`now` format \"%Y-%Q\": "),
            (
                "/a/{{ now \"%Y\" unix }}",
                "`now` expects an optional offset",
            ),
            (
                "/a/{{ var }}",
                "`var` expects a variable name such as `token`",
            ),
            ("/a/{{ var 1a }}", "found \"1a\""),
            ("/a/{{ var a b }}", "found \"a b\""),
            (
                "/a/{{ row. }}",
                "`row.` expects a field name such as `row.email`",
            ),
            ("/a/{{ row.a b }}", "`row.a` takes no argument, found \"b\""),
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
        let source = "/p/{{ int 1..9 }}/{{ choice [x, y] }}/{{ uuid }}/{{ random_string 8 }}\
                      /{{ now }}/{{ now -1h30m \"%Y-%m-%d\" }}/{{ now +5s unix_ms }}\
                      /{{ now '%H:\"%M\"' }}/{{ counter }}/{{ var token }}/{{ row.e-mail }}";
        let t = Template::parse(source).unwrap();
        assert_eq!(t.to_string(), source);
        assert_eq!(Template::parse(&t.to_string()).unwrap(), t);
        // Written forms that mean the same come back in one spelling.
        let t = Template::parse("{{ now +90m rfc3339 }}{{ now +0s }}").unwrap();
        assert_eq!(t.to_string(), "{{ now +1h30m }}{{ now }}");
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
                    Just(" random_string ".to_string()),
                    Just(" now ".to_string()),
                    Just(" counter ".to_string()),
                    Just(" var ".to_string()),
                    Just(" row.".to_string()),
                    Just("+1h".to_string()),
                    Just("-5m".to_string()),
                    Just("%Y".to_string()),
                    Just(" unix".to_string()),
                    Just("..".to_string()),
                    Just("[".to_string()),
                    Just("]".to_string()),
                    Just(",".to_string()),
                    Just("\"".to_string()),
                    Just("'".to_string()),
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
                    let _ = render(&template, &mut rng, SystemTime::now());
                    prop_assert_eq!(Template::parse(&template.to_string()), Ok(template));
                }
            }

            #[test]
            fn choice_lists_round_trip(inner in "[\" a-z,\\]]{0,8}", seed in any::<u64>()) {
                if let Ok(template) = Template::parse(&format!("{{{{ choice [{inner}] }}}}")) {
                    let _ = render(&template, &mut StdRng::seed_from_u64(seed), SystemTime::now());
                    prop_assert_eq!(Template::parse(&template.to_string()), Ok(template));
                }
            }

            #[test]
            fn ints_stay_within_any_range(a in any::<i64>(), b in any::<i64>(), seed in any::<u64>()) {
                let (low, high) = (a.min(b), a.max(b));
                let t = Template::parse(&format!("{{{{ int {low}..{high} }}}}")).unwrap();
                let n: i64 = render(&t, &mut StdRng::seed_from_u64(seed), SystemTime::now())
                    .unwrap()
                    .parse()
                    .unwrap();
                prop_assert!((low..=high).contains(&n));
            }
        }
    }
}
