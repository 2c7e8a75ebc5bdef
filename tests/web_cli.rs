//! `--web.config.file` and the secured healthcheck on the real binary: a bad web config is
//! refused at start (exit 2, naming the file and the field), the shipped example passes
//! `promtool check web-config` and synthex alike, and `synthex healthcheck` gets through TLS,
//! mutual TLS and basic auth with its flags (and fails without them).

mod common;
mod web_support;

use std::path::Path;
use std::process::Command;

use common::{Proc, free_port, promtool_check, require_tool, synthex_bin, wait_until};
use web_support::{ALICE_HASH, ALICE_PASSWORD, Ca, write};

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(synthex_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A valid daemon config (its target never answers; these tests are about the web port).
fn daemon_config(dir: &Path) -> String {
    let path = write(
        dir,
        "synthex.yml",
        "targets:\n  - name: api\n    base_url: http://127.0.0.1:9\n    rate: 1/s\n    scenarios:\n      - {name: home, weight: 1, request: {path: /}}\n",
    );
    format!("--config.file={}", path.display())
}

/// `synthex run` with [`daemon_config`] on a free port behind the web config `web`.
fn secured_daemon(dir: &Path, web: &Path) -> (Proc, u16) {
    let port = free_port();
    let daemon = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &daemon_config(dir),
            &format!("--web.listen-address=127.0.0.1:{port}"),
            &format!("--web.config.file={}", web.display()),
        ],
        &dir.join("synthex.log"),
    );
    (daemon, port)
}

#[test]
fn a_bad_web_config_is_refused_at_start_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server = ca.server();
    let other = ca.server();
    write(dir.path(), "server.pem", &server.cert);
    write(dir.path(), "server.key", &server.key);
    write(dir.path(), "other.key", &other.key);
    write(dir.path(), "ca.pem", &ca.pem.cert);
    let tls = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key",
            "tls_server_config:\n  cert_fiel: server.pem\n".into(),
            "web.yml:2:3: tls_server_config: unknown field `cert_fiel`",
        ),
        (
            "unknown top-level key",
            "basic_auth_user: {}\n".into(),
            "unknown field `basic_auth_user`",
        ),
        (
            "unreadable certificate",
            "tls_server_config:\n  cert_file: missing.pem\n  key_file: server.key\n".into(),
            "tls_server_config.cert_file: cannot read",
        ),
        (
            "key of another certificate",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: other.key\n".into(),
            "tls_server_config.key_file: the key and certificate cannot be used together",
        ),
        (
            "no key",
            "tls_server_config:\n  cert_file: server.pem\n".into(),
            "tls_server_config.key_file: missing one of key or key_file",
        ),
        (
            "not a bcrypt hash",
            "basic_auth_users:\n  alice: secret\n".into(),
            "basic_auth_users.alice: not a bcrypt hash",
        ),
        (
            "header exporter-toolkit does not allow",
            "http_server_config:\n  headers:\n    X-Powered-By: synthex\n".into(),
            "http_server_config.headers.X-Powered-By: this header can not be configured",
        ),
        (
            "header value exporter-toolkit does not allow",
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(),
            "http_server_config.headers.X-Frame-Options: invalid value",
        ),
        (
            "TLS 1.0",
            format!("{tls}  min_version: TLS10\n"),
            "tls_server_config.min_version: TLS10 is not supported",
        ),
        (
            "a cipher suite rustls does not have",
            format!("{tls}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"),
            "tls_server_config.cipher_suites: \"TLS_RSA_WITH_AES_128_CBC_SHA\" is not available",
        ),
        (
            "a curve rustls does not have",
            format!("{tls}  curve_preferences: [CurveP521]\n"),
            "tls_server_config.curve_preferences: \"CurveP521\" is not available",
        ),
        (
            "client CA without a client_auth_type",
            format!("{tls}  client_ca_file: ca.pem\n"),
            "tls_server_config.client_ca_file: a client CA is configured without",
        ),
        (
            "verification without a CA",
            format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"),
            "tls_server_config.client_ca_file: verifying client certificates needs",
        ),
        (
            "unknown client_auth_type",
            format!("{tls}  client_auth_type: Sometimes\n"),
            "tls_server_config.client_auth_type: invalid \"Sometimes\"",
        ),
        (
            "a rate limit refusing everything",
            "rate_limit:\n  interval: 1s\n  burst: 0\n".into(),
            "rate_limit.burst",
        ),
    ];
    let config = daemon_config(dir.path());
    for (what, yaml, expected) in cases {
        let web = write(dir.path(), "web.yml", &yaml);
        let port = free_port();
        let (code, stderr) = run(&[
            "run",
            &config,
            &format!("--web.listen-address=127.0.0.1:{port}"),
            &format!("--web.config.file={}", web.display()),
        ]);
        assert_eq!(code, 2, "{what}: {stderr}");
        assert!(
            stderr.contains(&web.display().to_string()) && stderr.contains(expected),
            "{what}: expected the file and {expected:?} in:\n{stderr}"
        );
    }
    let missing = dir.path().join("absent.yml");
    let (code, stderr) = run(&[
        "demo",
        &format!("--web.config.file={}", missing.display()),
        "--web.listen-address=127.0.0.1:0",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("absent.yml: cannot read the config file"),
        "{stderr}"
    );
    let (code, stderr) = run(&[
        "load",
        &config,
        &format!("--web.config.file={}", missing.display()),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("needs --web.listen-address"), "{stderr}");
}

#[test]
fn the_shipped_example_passes_promtool_and_synthex() {
    let promtool = require_tool("promtool", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string("config/web-config.example.yml").unwrap();
    let ca = Ca::new("example CA");
    let server = ca.server();
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    write(dir.path(), "tls/tls.crt", &server.cert);
    write(dir.path(), "tls/tls.key", &server.key);
    let web = write(dir.path(), "web-config.yml", &example);
    promtool_check(&promtool, "web-config", &web);
    // synthex reads it the same way, and its documented password is the one hashed in it.
    let (mut daemon, port) = secured_daemon(dir.path(), &web);
    write(dir.path(), "ca.pem", &ca.pem.cert);
    write(dir.path(), "password", "change-me\n");
    let check = |password_file: &str| {
        healthcheck(
            dir.path(),
            &format!("https://localhost:{port}/-/healthy"),
            &[
                "--tls.ca-file=ca.pem",
                "--basic-auth.username=prometheus",
                &format!("--basic-auth.password-file={password_file}"),
            ],
        )
    };
    wait_until(
        || check("password").0 == 0,
        &mut daemon,
        &dir.path().join("synthex.log"),
    );
}

/// Runs `synthex healthcheck --url=URL ARGS` in `dir`: exit status and stderr.
fn healthcheck(dir: &Path, url: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(synthex_bin())
        .arg("healthcheck")
        .arg(format!("--url={url}"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn healthcheck_gets_through_mutual_tls_and_basic_auth_only_with_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server = ca.server();
    let client = ca.client("healthcheck");
    for (name, text) in [
        ("server.pem", &server.cert),
        ("server.key", &server.key),
        ("ca.pem", &ca.pem.cert),
        ("client.pem", &client.cert),
        ("client.key", &client.key),
    ] {
        write(dir.path(), name, text);
    }
    write(dir.path(), "password", &format!("{ALICE_PASSWORD}\n"));
    write(dir.path(), "wrong", "alice1234\n");
    let web = write(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\nbasic_auth_users:\n  alice: {ALICE_HASH}\n"
        ),
    );
    let (mut daemon, port) = secured_daemon(dir.path(), &web);
    let url = format!("https://localhost:{port}/-/healthy");
    let full = [
        "--tls.ca-file=ca.pem",
        "--tls.cert-file=client.pem",
        "--tls.key-file=client.key",
        "--basic-auth.username=alice",
        "--basic-auth.password-file=password",
    ];
    wait_until(
        || healthcheck(dir.path(), &url, &full).0 == 0,
        &mut daemon,
        &dir.path().join("synthex.log"),
    );
    let (code, stderr) = healthcheck(
        dir.path(),
        &url,
        &[&full[..4], &["--basic-auth.password-file=wrong"]].concat(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("status 401, expected 200"), "{stderr}");
    let (code, stderr) = healthcheck(dir.path(), &url, &[full[0], full[3], full[4]]);
    assert_eq!(code, 1, "no client certificate got through: {stderr}");
    let (code, stderr) = healthcheck(dir.path(), &url, &full[1..]);
    assert_eq!(code, 1, "an unknown CA was trusted: {stderr}");
    let (code, stderr) = healthcheck(
        dir.path(),
        &url,
        &[&full[..4], &["--basic-auth.password-file=absent"]].concat(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--basic-auth.password-file absent"),
        "{stderr}"
    );
}
