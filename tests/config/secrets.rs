//! Secrets: `${VAR}` from the environment lookup or the process environment, `*_file` reads,
//! and proof that no secret value reaches `describe`, `Debug` or an error message.

use std::path::Path;

use synthex::config::{describe, load, load_str_with_env};
use synthex::scenario::ProcessSelector;

/// A config whose secrets come from the environment lookup and from files in `dir`.
fn secret_config(dir: &Path) -> String {
    std::fs::write(dir.join("token"), "file-token-7f3a\n").unwrap();
    std::fs::write(dir.join("password"), "file-password-91c2\n").unwrap();
    r#"
targets:
  - name: env
    base_url: http://127.0.0.1:9
    rate: 1/s
    headers: {X-Api-Key: "key-${KEY}", Cookie: "session=literal-cookie-55aa"}
    bearer_token: "${TOKEN}"
    scenarios: [{name: a, request: {path: /}}]
  - name: files
    base_url: http://127.0.0.1:9
    rate: 1/s
    bearer_token_file: token
    scenarios: [{name: a, request: {path: /}}]
  - name: basic
    base_url: http://127.0.0.1:9
    rate: 1/s
    basic_auth: {username: probe, password_file: password}
    scenarios: [{name: a, request: {path: /}}]
"#
    .to_string()
}

const SECRETS: [&str; 5] = [
    "env-token-c0ffee",
    "env-key-b33f",
    "literal-cookie-55aa",
    "file-token-7f3a",
    "file-password-91c2",
];

#[test]
fn secrets_resolve_but_never_show_in_describe_or_debug() {
    let dir = tempfile::tempdir().unwrap();
    let text = secret_config(dir.path());
    let env = |name: &str| match name {
        "TOKEN" => Some("env-token-c0ffee".to_string()),
        "KEY" => Some("env-key-b33f".to_string()),
        _ => None,
    };
    let config = load_str_with_env(&text, &dir.path().join("synthex.yml"), &env).unwrap();
    let header = |t: usize, name: &str| {
        config.targets[t].headers[name]
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(header(0, "authorization"), "Bearer env-token-c0ffee");
    assert_eq!(header(0, "x-api-key"), "key-env-key-b33f");
    assert_eq!(header(1, "authorization"), "Bearer file-token-7f3a");
    // base64("probe:file-password-91c2")
    assert_eq!(
        header(2, "authorization"),
        "Basic cHJvYmU6ZmlsZS1wYXNzd29yZC05MWMy"
    );
    let shown = format!("{}\n{:?}", describe(&config), config);
    for secret in SECRETS.iter().chain(&["cHJvYmU6ZmlsZS1wYXNzd29yZC05MWMy"]) {
        assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
    }
    assert!(describe(&config).contains("authorization: <redacted>"));
}

#[test]
fn a_missing_variable_names_the_variable_and_field_without_leaking_others() {
    let dir = tempfile::tempdir().unwrap();
    let text = secret_config(dir.path());
    let env = |name: &str| (name == "TOKEN").then(|| "env-token-c0ffee".to_string());
    let source = dir.path().join("synthex.yml");
    let err = load_str_with_env(&text, &source, &env)
        .unwrap_err()
        .to_string();
    let expected = format!(
        "{}: targets[0].headers.x-api-key: environment variable KEY is not set",
        source.display()
    );
    assert_eq!(err, expected);
}

#[test]
fn a_secret_file_with_a_forbidden_character_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "line-one-9d9d\nline-two\n").unwrap();
    let text = "targets: [{name: a, base_url: 'http://127.0.0.1:9', rate: 1/s,\n  \
                bearer_token_file: token, scenarios: [{name: a, request: {path: /}}]}]\n";
    let source = dir.path().join("c.yml");
    let err = load_str_with_env(text, &source, &|_| None).unwrap_err();
    let message = format!("{err} {err:?}");
    assert!(!message.contains("line-one-9d9d"), "{message}");
    assert!(err.to_string().ends_with(
        "targets[0].bearer_token_file: invalid header value: expected visible ASCII characters, spaces and tabs only"
    ), "{err}");
}

#[test]
fn load_expands_from_the_process_environment() {
    let home = std::env::var("HOME").expect("HOME is set for the test run");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.yml");
    let text = "targets:\n  - name: a\n    base_url: http://127.0.0.1:9\n    rate: 1/s\n    \
                headers: {X-Home: \"${HOME}\"}\n    scenarios: [{name: a, request: {path: /}}]\n";
    std::fs::write(&path, text).unwrap();
    let config = load(&path).unwrap();
    assert_eq!(config.targets[0].headers["x-home"].to_str().unwrap(), home);
    assert!(config.targets[0].headers["x-home"].is_sensitive());
    let unset = text.replace("${HOME}", "${SYNTHEX_TEST_SURELY_UNSET_9F2C}");
    std::fs::write(&path, unset).unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert!(
        err.ends_with("environment variable SYNTHEX_TEST_SURELY_UNSET_9F2C is not set"),
        "{err}"
    );
}

#[test]
fn relative_files_resolve_against_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let text = secret_config(dir.path())
        .replace("${TOKEN}", "t")
        .replace("${KEY}", "k");
    let text = format!("{text}resources:\n  processes: [{{name: db, pid_file: run/db.pid}}]\n");
    let config = load_str_with_env(&text, &dir.path().join("c.yml"), &|_| None).unwrap();
    match &config.resources.processes[0].selector {
        ProcessSelector::PidFile(path) => assert_eq!(path, &dir.path().join("run/db.pid")),
        other => panic!("expected a pid file, got {other:?}"),
    }
}
