//! `--out` placeholders: `reports/{timestamp}_{profile}` gives every run its own directory, so
//! a nightly job never overwrites last night's report and `synthex report trend reports/` finds
//! them all.
//!
//! | placeholder | becomes |
//! |---|---|
//! | `{timestamp}` | the run's start, UTC, ISO 8601 basic format: `20261202T014500Z` (sorts by time) |
//! | `{profile}` | the profile name (`light`, a profile file's stem, `10-users` for `--users=10`; several joined with `-`) |
//! | `{revision}` | `$SYNTHEX_REVISION`, else `$GITHUB_SHA`, else `$CI_COMMIT_SHA` (a 40-digit hash is cut to 12) |
//!
//! Placeholders are filled in before the first request, when the directory is created and
//! proved writable; an unknown placeholder, or `{revision}` with none of the variables set, is
//! refused then.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Environment variables `{revision}` reads, first set wins.
pub const REVISION_VARIABLES: [&str; 3] = ["SYNTHEX_REVISION", "GITHUB_SHA", "CI_COMMIT_SHA"];

/// What the placeholders stand for in one run.
pub struct RunNames<'a> {
    /// When the run starts.
    pub started: SystemTime,
    /// The profile's name as the report records it.
    pub profile: &'a str,
    /// Looks up an environment variable (the process environment outside tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// `template` with its placeholders filled in; errors name the placeholder and what is known.
pub fn expand(template: &Path, names: &RunNames<'_>) -> Result<PathBuf, String> {
    let text = template.to_string_lossy();
    if !text.contains('{') {
        return Ok(template.to_path_buf());
    }
    let mut out = String::new();
    let mut rest = text.as_ref();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder at {:?}", &rest[open..]))?;
        out.push_str(&value(&after[..close], names)?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(PathBuf::from(out))
}

fn value(name: &str, names: &RunNames<'_>) -> Result<String, String> {
    match name {
        "timestamp" => Ok(timestamp(names.started)),
        "profile" => {
            // Several profiles (`light,profiles/big.yml`): each named, joined with `-`.
            let parts: Vec<&str> = names.profile.split(',').map(profile_name).collect();
            Ok(safe(&parts.join("-")))
        }
        "revision" => revision(names.env),
        other => Err(format!(
            "unknown placeholder {{{other}}}: expected {{timestamp}}, {{profile}} or {{revision}}"
        )),
    }
}

/// `20261202T014500Z`: RFC 3339 without the separators a file name can trip on.
fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace(['-', ':'], "")
}

/// A profile file's stem (`profiles/ramp-hold.yml` → `ramp-hold`), else the name itself.
fn profile_name(profile: &str) -> &str {
    let path = Path::new(profile);
    match path.extension().and_then(|e| e.to_str()) {
        Some("yml" | "yaml") => path.file_stem().and_then(|s| s.to_str()).unwrap_or(profile),
        _ => profile,
    }
}

fn revision(env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let found = REVISION_VARIABLES
        .iter()
        .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
        .ok_or_else(|| {
            format!(
                "{{revision}} needs one of {} set (e.g. SYNTHEX_REVISION=$(git rev-parse --short HEAD))",
                REVISION_VARIABLES.join(", ")
            )
        })?;
    let found = found.trim();
    let full_hash = found.len() == 40 && found.bytes().all(|b| b.is_ascii_hexdigit());
    Ok(safe(if full_hash { &found[..12] } else { found }))
}

/// Letters, digits, `.`, `_` and `-` kept; anything else (spaces, slashes) becomes `-`, so a
/// value never adds a directory level or escapes the template's directory.
fn safe(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' | '.' => c,
            _ => '-',
        })
        .collect();
    match cleaned.trim_matches('.') {
        "" => "-".to_string(),
        kept => kept.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn expand_with(template: &str, profile: &str, vars: &[(&str, &str)]) -> Result<String, String> {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let names = RunNames {
            // 2026-12-02T01:45:07Z
            started: UNIX_EPOCH + Duration::from_secs(1_796_175_907),
            profile,
            env: &env,
        };
        expand(Path::new(template), &names).map(|p| p.display().to_string())
    }

    #[test]
    fn placeholders_fill_in_file_name_safe_values() {
        assert_eq!(
            expand_with("reports/{timestamp}_{profile}", "light", &[]).unwrap(),
            "reports/20261202T014507Z_light"
        );
        assert_eq!(
            expand_with("r/{profile}", "config/profiles/ramp-hold.yml", &[]).unwrap(),
            "r/ramp-hold"
        );
        assert_eq!(
            expand_with("r/{profile}", "10 users", &[]).unwrap(),
            "r/10-users"
        );
        assert_eq!(expand_with("r/{profile}", "../..", &[]).unwrap(), "r/-");
        assert_eq!(
            expand_with("r/{profile}", "light,profiles/big.yml", &[]).unwrap(),
            "r/light-big"
        );
        assert_eq!(expand_with("plain/dir", "x", &[]).unwrap(), "plain/dir");
    }

    #[test]
    fn the_revision_comes_from_the_first_variable_set() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            expand_with("{revision}", "p", &[("GITHUB_SHA", sha)]).unwrap(),
            "0123456789ab"
        );
        assert_eq!(
            expand_with(
                "{revision}",
                "p",
                &[("GITHUB_SHA", sha), ("SYNTHEX_REVISION", "v1.2/rc")]
            )
            .unwrap(),
            "v1.2-rc"
        );
        let missing = expand_with("{revision}", "p", &[("SYNTHEX_REVISION", " ")]).unwrap_err();
        assert!(
            missing.contains("SYNTHEX_REVISION, GITHUB_SHA, CI_COMMIT_SHA"),
            "{missing}"
        );
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_refused() {
        let unknown = expand_with("r/{date}", "p", &[]).unwrap_err();
        assert_eq!(
            unknown,
            "unknown placeholder {date}: expected {timestamp}, {profile} or {revision}"
        );
        let unclosed = expand_with("r/{profile", "p", &[]).unwrap_err();
        assert!(unclosed.contains("unclosed placeholder"), "{unclosed}");
    }
}
