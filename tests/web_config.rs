//! `--web.config.file` on a real exporter over 127.0.0.1, driven by real TLS clients (reqwest
//! and curl): TLS with certificates the test made, basic auth against exporter-toolkit's own test
//! hash, mutual TLS in each `client_auth_type`, `client_allowed_sans`, TLS versions and cipher
//! suites, response headers, the rate limit, and certificate rotation without a restart.

mod web_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::{Certificate, Client, Identity, StatusCode};
use synthex::web::WebLayer;
use tempfile::TempDir;

use web_support::{
    ALICE_HASH, ALICE_PASSWORD, Ca, Exporter, Pem, der, self_signed_client, start_exporter, write,
};

/// An exporter with the web config `yaml` (written into `dir`).
async fn start(dir: &Path, yaml: &str) -> Exporter {
    let web = WebLayer::load(&write(dir, "web.yml", yaml)).unwrap();
    start_exporter(web, 64).await
}

/// A directory with a CA and a server certificate it signed (`ca.pem`, `server.pem`,
/// `server.key`).
fn pki() -> (TempDir, Ca) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("synthex test CA");
    let server = ca.server();
    write(dir.path(), "ca.pem", &ca.pem.cert);
    write(dir.path(), "server.pem", &server.cert);
    write(dir.path(), "server.key", &server.key);
    (dir, ca)
}

/// A reqwest client trusting only `ca`, presenting `identity` if given.
fn client(ca: &Ca, identity: Option<&Pem>) -> Client {
    let mut builder = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .tls_certs_only([Certificate::from_pem(ca.pem.cert.as_bytes()).unwrap()])
        .tls_info(true);
    if let Some(pem) = identity {
        let both = format!("{}{}", pem.cert, pem.key);
        builder = builder.identity(Identity::from_pem(both.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

const TLS: &str = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";

async fn get(
    client: &Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> reqwest::Result<reqwest::Response> {
    let mut request = client.get(url);
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await
}

/// The value of the sample `name` (no labels besides the global ones) in `metrics`.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|line| {
            line.starts_with(&format!("{name} ")) || line.starts_with(&format!("{name}{{"))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{metrics}"))
}

#[tokio::test]
async fn basic_auth_guards_every_endpoint_over_tls_and_counts_refusals() {
    let (dir, ca) = pki();
    let yaml = format!(
        "{TLS}basic_auth_users:\n  alice: {ALICE_HASH}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    Strict-Transport-Security: max-age=31536000\n"
    );
    let server = start(dir.path(), &yaml).await;
    let client = client(&ca, None);
    let base = format!("https://127.0.0.1:{}", server.port);
    let mut refused = 0;
    for path in ["/metrics", "/", "/-/healthy", "/-/ready", "/no-such-page"] {
        for auth in [
            None,
            Some(("alice", "wrong")),
            Some(("mallory", ALICE_PASSWORD)),
        ] {
            let response = get(&client, &format!("{base}{path}"), auth).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} {auth:?}"
            );
            assert_eq!(response.headers()["www-authenticate"], "Basic");
            assert_eq!(response.headers()["x-frame-options"], "deny");
            refused += 1;
        }
    }
    let good = Some(("alice", ALICE_PASSWORD));
    for (path, status) in [
        ("/-/healthy", StatusCode::OK),
        ("/-/ready", StatusCode::OK),
        ("/", StatusCode::OK),
        ("/no-such-page", StatusCode::NOT_FOUND),
    ] {
        let response = get(&client, &format!("{base}{path}"), good).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000"
        );
    }
    let metrics = get(&client, &format!("{base}/metrics"), good)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(&metrics, "synthex_exporter_requests_unauthorized_total"),
        f64::from(refused)
    );
    assert_eq!(
        sample(&metrics, "synthex_exporter_tls_handshake_failures_total"),
        0.0
    );
}

#[tokio::test]
async fn curl_scrapes_over_tls_with_basic_auth() {
    let (dir, _ca) = pki();
    let yaml = format!("{TLS}basic_auth_users:\n  alice: {ALICE_HASH}\n");
    let server = start(dir.path(), &yaml).await;
    let url = format!("https://localhost:{}/metrics", server.port);
    let good = format!("alice:{ALICE_PASSWORD}");
    let good = curl(dir.path(), &["-u", &good, &url]).await;
    let bad = curl(dir.path(), &["-u", "alice:nope", &url]).await;
    assert_eq!(good, (true, "200".to_string()));
    assert_eq!(bad, (true, "401".to_string()));
}

#[tokio::test]
async fn mutual_tls_fails_the_handshake_without_a_certificate_the_ca_signed() {
    let (dir, ca) = pki();
    let yaml =
        format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n");
    let server = start(dir.path(), &yaml).await;
    let url = format!("https://127.0.0.1:{}/metrics", server.port);
    let signed = ca.client("prometheus");
    let response = get(&client(&ca, Some(&signed)), &url, None).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let error = get(&client(&ca, None), &url, None).await.unwrap_err();
    assert!(error.is_connect() || error.is_request(), "{error:?}");
    let stranger = self_signed_client("prometheus");
    assert!(
        get(&client(&ca, Some(&stranger)), &url, None)
            .await
            .is_err()
    );

    // curl too: with the signed certificate it gets in, without it the handshake fails.
    write(dir.path(), "client.pem", &signed.cert);
    write(dir.path(), "client.key", &signed.key);
    let url = format!("https://localhost:{}/-/healthy", server.port);
    let with = curl(
        dir.path(),
        &["--cert", "client.pem", "--key", "client.key", &url],
    )
    .await;
    let without = curl(dir.path(), &[&url]).await;
    assert_eq!(with, (true, "200".to_string()));
    assert!(
        !without.0,
        "curl without a client certificate got in: {without:?}"
    );

    let metrics = get(
        &client(&ca, Some(&signed)),
        &format!("https://127.0.0.1:{}/metrics", server.port),
        None,
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert_eq!(
        sample(&metrics, "synthex_exporter_tls_handshake_failures_total"),
        3.0
    );
}

#[tokio::test]
async fn each_client_auth_type_asks_for_what_go_asks_for() {
    let (dir, ca) = pki();
    let signed = ca.client("prometheus");
    let stranger = self_signed_client("prometheus");
    // (client_auth_type, with CA, [no cert, CA-signed cert, self-signed cert] admitted?)
    let cases = [
        ("NoClientCert", false, [true, true, true]),
        ("RequestClientCert", false, [true, true, true]),
        ("RequireAnyClientCert", false, [false, true, true]),
        ("VerifyClientCertIfGiven", true, [true, true, false]),
        ("RequireAndVerifyClientCert", true, [false, true, false]),
    ];
    for (kind, with_ca, expected) in cases {
        let ca_line = if with_ca {
            "  client_ca_file: ca.pem\n"
        } else {
            ""
        };
        let yaml = format!("{TLS}  client_auth_type: {kind}\n{ca_line}");
        let server = start(dir.path(), &yaml).await;
        let url = format!("https://127.0.0.1:{}/-/healthy", server.port);
        let mut admitted = [false; 3];
        for (at, identity) in [None, Some(&signed), Some(&stranger)]
            .into_iter()
            .enumerate()
        {
            admitted[at] = get(&client(&ca, identity), &url, None)
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
        }
        assert_eq!(admitted, expected, "{kind}: [none, signed, self-signed]");
    }
}

#[tokio::test]
async fn client_allowed_sans_admits_only_the_listed_names() {
    let (dir, ca) = pki();
    let yaml = format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [prometheus.monitoring.svc]\n"
    );
    let server = start(dir.path(), &yaml).await;
    let url = format!("https://127.0.0.1:{}/-/healthy", server.port);
    let listed = ca.client("prometheus.monitoring.svc");
    let other = ca.client("someone-else.example");
    assert_eq!(
        get(&client(&ca, Some(&listed)), &url, None)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(get(&client(&ca, Some(&other)), &url, None).await.is_err());
}

/// `curl ARGS` in `dir`, trusting `dir/ca.pem`: whether it succeeded, and the HTTP status.
async fn curl(dir: &Path, args: &[&str]) -> (bool, String) {
    let mut command = Command::new("curl");
    command
        .args([
            "-s",
            "--noproxy",
            "*",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
        ])
        .args(["-w", "%{http_code}", "--cacert", "ca.pem"])
        .args(args)
        .current_dir(dir);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("curl is installed (scripts/test.sh installs it)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn tls_versions_and_cipher_suites_are_honoured() {
    let (dir, _ca) = pki();
    let only13 = start(dir.path(), &format!("{TLS}  min_version: TLS13\n")).await;
    let suites = start(
        dir.path(),
        &format!(
            "{TLS}  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"
        ),
    )
    .await;
    let (p13, psuites) = (only13.port, suites.port);
    let ok = |(success, status): (bool, String)| success && status == "200";
    let v13 = format!("https://localhost:{p13}/-/healthy");
    let v12 = format!("https://localhost:{psuites}/-/healthy");
    let d = dir.path();
    let results = [
        ok(curl(d, &["--tls-max", "1.3", &v13]).await),
        ok(curl(d, &["--tls-max", "1.2", &v13]).await),
        ok(curl(
            d,
            &[
                "--tls-max",
                "1.2",
                "--ciphers",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                &v12,
            ],
        )
        .await),
        ok(curl(
            d,
            &[
                "--tls-max",
                "1.2",
                "--ciphers",
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                &v12,
            ],
        )
        .await),
    ];
    assert_eq!(
        results,
        [true, false, true, false],
        "[TLS13 server: 1.3 client, 1.2 client; AES128-only server: AES128 client, AES256 client]"
    );
}

#[tokio::test]
async fn rate_limit_answers_429_beyond_the_burst() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "rate_limit:\n  burst: 3\n  interval: 1h\n").await;
    let client = Client::builder().no_proxy().build().unwrap();
    let url = format!("http://127.0.0.1:{}/-/healthy", server.port);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(&client, &url, None).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn rotated_certificate_files_are_served_without_a_restart() {
    let (dir, ca) = pki();
    let server = start(dir.path(), TLS).await;
    let url = format!("https://127.0.0.1:{}/-/healthy", server.port);
    let peer = |response: &reqwest::Response| {
        response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate().map(<[u8]>::to_vec))
            .unwrap()
    };
    let first = std::fs::read_to_string(dir.path().join("server.pem")).unwrap();
    let response = get(&client(&ca, None), &url, None).await.unwrap();
    assert_eq!(peer(&response), der(&first));

    // A new key pair, written in place the way cert-manager does (certificate first).
    let next = ca.server();
    write(dir.path(), "server.pem", &next.cert);
    // Certificate and key do not match yet: the old pair keeps being served.
    let response = get(&client(&ca, None), &url, None).await.unwrap();
    assert_eq!(peer(&response), der(&first));
    write(dir.path(), "server.key", &next.key);
    let response = get(&client(&ca, None), &url, None).await.unwrap();
    assert_eq!(peer(&response), der(&next.cert));
    assert_ne!(der(&first), der(&next.cert));
}
